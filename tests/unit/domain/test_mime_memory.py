"""A big mail without extra copies: the sliced parse and base64 decode give exactly what the standard library
gives, the upload body is framed as ``requests`` frames ``files=`` and streamed with a Content-Length, and
the memory each takes stays a small multiple of the mail."""

from __future__ import annotations

import base64
import email
import random
import tracemalloc
from email import policy
from email.message import Message

import pytest
import requests
from urllib3 import encode_multipart_formdata
from urllib3.fields import RequestField

from jicket_ops.domain import mime_memory
from jicket_ops.domain.attachments import MultipartBody
from jicket_ops.domain.parsing import parse_mail
from tests.corpus.expectations import MAILS, raw_of


def shape(message: Message) -> list[tuple]:
    """Everything the parser decided, part by part."""
    return [(part.get_content_type(), part.items(), part.get_unixfrom(), part.preamble, part.epilogue,
             None if part.is_multipart() else part.get_payload(), [type(d).__name__ for d in part.defects])
            for part in message.walk()]


def b64_mail(data: bytes, *, newline: bytes = b"\r\n", wrap: int = 76, name: str = "scan.bin") -> bytes:
    encoded = base64.b64encode(data)
    lines = [encoded[i:i + wrap] for i in range(0, len(encoded), wrap)]
    return newline.join([
        b"From: Customer <c@customer.example>", b"To: help@example.com", b"Subject: scan",
        b"Message-ID: <big@customer.example>", b"MIME-Version: 1.0",
        b'Content-Type: multipart/mixed; boundary="BB"', b"", b"--BB", b"Content-Type: text/plain", b"",
        b"See the scan.", b"--BB", b"Content-Type: application/octet-stream",
        b'Content-Disposition: attachment; filename="' + name.encode() + b'"',
        b"Content-Transfer-Encoding: base64", b"", *lines, b"--BB--", b""])


HANDMADE = [
    b64_mail(random.Random(1).randbytes(5000)),
    b64_mail(random.Random(2).randbytes(4001), newline=b"\n"),
    b64_mail(random.Random(3).randbytes(3002), newline=b"\r"),
    b"Subject: \xc4rger\r\nContent-Type: text/plain; charset=latin-1\r\n\r\nGr\xfc\xdfe\r\n\r\n-- \r\nx\r",
    b"no header at all, just text\n",
    b"",
]


@pytest.mark.parametrize("feed_chars", [1, 3, 64, mime_memory.FEED_CHARS])
def test_sliced_parse_is_the_standard_parse(feed_chars):
    corpus = [raw_of(entry) for entry in MAILS]
    for raw in HANDMADE + corpus:
        ours = mime_memory.message_from_bytes(raw, policy=policy.compat32, feed_chars=feed_chars)
        theirs = email.message_from_bytes(raw, policy=policy.compat32)
        assert shape(ours) == shape(theirs), raw[:200]


@pytest.mark.parametrize("slice_chars", [4, 5, 7, 77, 1024, mime_memory.DECODE_CHARS])
def test_base64_bodies_decode_to_the_standard_bytes(slice_chars):
    rng = random.Random(slice_chars)
    for size in [0, 1, 2, 3, 4, 56, 57, 58, 59, 300, 1001]:
        data = rng.randbytes(size)
        for raw in (b64_mail(data), b64_mail(data, newline=b"\n", wrap=64), b64_mail(data, wrap=4)):
            part = list(email.message_from_bytes(raw, policy=policy.compat32).walk())[-1]
            assert mime_memory.decode_base64(part.get_payload(), slice_chars=slice_chars) == data
            assert part.get_payload(decode=True) == data and part.defects == []


@pytest.mark.parametrize("body", [
    "QUI", "QUJD\r\nRA", "QU!JD", "QU JD", "QQ==QUJD", "QQ==\r\nQUJD", "QUJ=\r\n=", "Q===", "QUJD\u00e4", "QUJD\udcc4",
])
def test_what_the_standard_library_repairs_takes_its_path(body):
    assert mime_memory.decode_base64(body, slice_chars=4) is None
    assert mime_memory.decode_base64(body) is None
    raw = (b"Subject: s\r\nContent-Type: application/pdf; name=a.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           + body.encode("utf-8", "surrogateescape") + b"\r\n")
    part = email.message_from_bytes(raw, policy=policy.compat32)
    expected = part.get_payload(decode=True)
    expected_defects = [type(d).__name__ for d in part.defects]
    mail = parse_mail(raw)
    assert mail.attachments[0].data == expected
    assert all(any(d.endswith(name) for d in mail.defects) for name in expected_defects)


def test_parsing_a_big_mail_takes_a_small_multiple_of_it():
    """The standard path took about 9x the mail (a whole-mail str, a 4-bytes-a-character StringIO, the
    base64 text split into lines and joined again); the feedparser's own list of lines is what is left."""
    data = random.Random(5).randbytes(6 * 1024 * 1024)
    raw = b64_mail(data)
    tracemalloc.start()
    try:
        mail = parse_mail(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert mail.attachments[0].data == data
    assert peak < 3.2 * len(raw), f"parse_mail took {peak / len(raw):.1f}x the mail"


FILES = [("file", 'Vertrag M\u00fcller "final"\r\n.pdf', "application/pdf", b"%PDF-1.4 " + bytes(range(256)) * 40),
         ("file", "empty.txt", "text/plain", b""),
         ("file", "mail.eml", "message/rfc822", b"Subject: x\r\n\r\nbody\r\n")]


def requests_framing(files, boundary: str) -> bytes:
    """The body ``requests`` builds for ``files=[(field, (name, data, type)), ...]`` (its ``_encode_files``)."""
    fields = []
    for field, name, ctype, data in files:
        rf = RequestField(name=field, data=data, filename=name)
        rf.make_multipart(content_type=ctype)
        fields.append(rf)
    return encode_multipart_formdata(fields, boundary=boundary)[0]


def test_upload_body_is_framed_as_requests_frames_files():
    body = MultipartBody(FILES, boundary="b0undary")
    whole = body.read()
    assert whole == requests_framing(FILES, "b0undary")
    assert len(body) == len(whole) and body.content_type == "multipart/form-data; boundary=b0undary"


def test_upload_body_reads_in_any_blocks_and_rewinds():
    body = MultipartBody(FILES, boundary="x")
    whole = requests_framing(FILES, "x")
    sizes = random.Random(9).choices([1, 2, 7, 100, 5000], k=10_000)
    pieces = []
    for size in sizes:
        pieces.append(body.read(size))
        assert body.tell() == sum(map(len, pieces))
    assert b"".join(pieces) == whole and body.read(10) == b""
    assert body.seek(0) == 0 and b"".join(body) == whole
    body.seek(-5, 2)
    assert body.read() == whole[-5:]


def test_requests_sends_it_streamed_with_a_content_length():
    body = MultipartBody(FILES, boundary="x")
    prepared = requests.Request("POST", "https://jira.example.com/rest/api/2/issue/HD-1/attachments", data=body,
                                headers={"Content-Type": body.content_type}).prepare()
    assert prepared.body is body, "the body object itself goes to urllib3, which reads it a block at a time"
    assert prepared.headers["Content-Length"] == str(len(requests_framing(FILES, "x")))
    assert "Transfer-Encoding" not in prepared.headers


def test_the_upload_body_copies_no_file():
    data = random.Random(4).randbytes(8 * 1024 * 1024)
    tracemalloc.start()
    try:
        body = MultipartBody([("file", "scan.bin", "application/octet-stream", data)], boundary="x")
        sent = 0
        for block in body:
            sent += len(block)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sent == len(body) > len(data)
    assert peak < 2 * 1024 * 1024, f"streaming an 8 MB file allocated {peak / 1024 / 1024:.1f} MB at once"
