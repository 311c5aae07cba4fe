"""domain.parsing: any bytes become a parsed mail (headers, text, segments, attachments) without raising;
charsets, boundaries and file names as real mail gets them wrong."""

import binascii

import pytest

from jicket_ops.domain.parsing import MailHeaders, decode_bytes, message_id_key, parse_headers, parse_mail

SIMPLE = (b"From: Customer <foo@customer.com>\r\nTo: support@company.com\r\nCc: boss@customer.com\r\n"
          b"Subject: Feature XY broken\r\nMessage-ID: <abc@customer.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n\r\nIt does not work.\r\n")


def test_plain_mail():
    mail = parse_mail(SIMPLE)
    assert mail.headers.from_address == "foo@customer.com"
    assert mail.headers.from_display == "Customer <foo@customer.com>"
    assert mail.headers.cc == ("boss@customer.com",)
    assert mail.headers.message_id == "<abc@customer.com>"
    assert mail.text == "It does not work."
    assert mail.defects == ()


def test_unknown_and_missing_charsets_do_not_raise():
    unknown = SIMPLE.replace(b"charset=utf-8", b"charset=x-unknown")
    unknown = unknown.replace(b"It does", "Es geht nicht, Grüße".encode())
    mail = parse_mail(unknown)
    assert "Grüße" in mail.text
    assert any("unknown charset" in d for d in mail.defects)
    latin = SIMPLE.replace(b"; charset=utf-8", b"").replace(b"It does", "Grüße".encode("latin-1"))
    assert "Grüße" in parse_mail(latin).text


def test_encoded_words_and_8bit_headers():
    raw = SIMPLE.replace(b"Subject: Feature XY broken", b"Subject: =?iso-8859-1?q?Gr=FC=DFe?= und mehr")
    assert parse_mail(raw).headers.subject == "Grüße und mehr"
    raw8 = SIMPLE.replace(b"Subject: Feature XY broken", "Subject: Ärger".encode())
    assert parse_headers(raw8.split(b"\r\n\r\n")[0]).subject == "Ärger"


def test_html_only_mail_becomes_text_and_attachments_are_kept():
    raw = (b"From: a@b.c\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>world</b></p><script>x()</script>\r\n"
           b"--XX\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; "
           b"filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n")
    mail = parse_mail(raw)
    assert "Hello" in mail.text and "world" in mail.text
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [("r.pdf", "application/pdf", b"%PDF-")]


def test_garbage_never_raises():
    for raw in (b"", b"\x00\xff\xfe garbage", b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
                b"From: \r\nFrom: \r\n\r\n"):
        mail = parse_mail(raw)
        assert mail.headers.from_address == ""


def test_mail_key_is_stable_and_distinct():
    a = parse_mail(SIMPLE).headers
    b = parse_headers(SIMPLE.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    assert a.mail_key() == b.mail_key()
    other = parse_mail(SIMPLE.replace(b"<abc@", b"<abd@")).headers
    assert other.mail_key() != a.mail_key()


def test_header_roundtrip_through_xcom_dict():
    headers = parse_mail(SIMPLE).headers
    assert type(headers).from_dict(headers.as_dict()) == headers


def test_xcom_dict_leaves_unset_fields_out_and_keeps_set_empty_looking_ones():
    """A run's XComs carry every mail's headers: only what is set travels, and comes back the same."""
    headers = MailHeaders(subject="Printer", from_address="a@example.org", cc=("b@example.org",), precedence="")
    data = headers.as_dict()
    assert data == {"subject": "Printer", "from_address": "a@example.org", "cc": ["b@example.org"],
                    "precedence": ""}, "an empty Precedence differs from an absent one (None) and is kept"
    assert MailHeaders.from_dict(data) == headers
    assert MailHeaders().as_dict() == {} and MailHeaders.from_dict({}) == MailHeaders()


@pytest.mark.parametrize(("data", "charset", "text", "defect"), [
    ("Grüße".encode("cp1252"), None, "Grüße", "read as cp1252"),
    ("Grüße".encode(), "iso-8859-1", "Grüße", "is UTF-8"),
    ("Grüße".encode("cp1252"), "utf-8", "Grüße", "not valid"),
    ("Grüße".encode(), "x-unknown", "Grüße", "unknown charset"),
    ("עברית".encode("iso-8859-8"), "iso-8859-8-i", "עברית", None),
    ("한국어".encode("cp949"), "ks_c_5601-1987", "한국어", None),
    ("5 €".encode("cp1252"), "windows-1252", "5 €", None),
    (b"ok", '" UTF-8 "', "ok", None),
])
def test_charsets_fall_back_and_say_so(data, charset, text, defect):
    defects: list[str] = []
    assert decode_bytes(data, charset, defects, "x") == text
    assert (defect is None and defects == []) or any(defect in d for d in defects)


def mime(body: bytes, content_type: bytes = b"multipart/mixed; boundary=B") -> bytes:
    return b"From: a@b.example\r\nSubject: s\r\nContent-Type: " + content_type + b"\r\n\r\n" + body


def test_boundary_that_lies_is_recovered_and_one_that_is_missing_marks_the_mail_unreadable():
    mail = parse_mail(mime(b"--REAL\r\nContent-Type: text/plain\r\n\r\nhello\r\n--REAL--\r\n"))
    assert mail.text == "hello" and not mail.unreadable
    assert any("'REAL'" in d for d in mail.defects)
    broken = parse_mail(mime(b"just text, no parts\r\n"))
    assert broken.unreadable and "just text" in broken.text and broken.raw.endswith(b"no parts\r\n")


def test_filenames_rfc2231_rfc2047_and_raw_utf8():
    def name(disposition: bytes) -> str:
        part = b"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; " + disposition
        return parse_mail(mime(part + b"\r\n\r\nxx\r\n--B--\r\n")).attachments[0].filename
    assert name(b"filename*=UTF-8''Gr%C3%BC%C3%9Fe.pdf") == "Grüße.pdf"
    assert name(b'filename="=?utf-8?B?R3LDvMOfZS5wZGY=?="') == "Grüße.pdf"
    assert name('filename="Grüße.pdf"'.encode()) == "Grüße.pdf"
    assert name(b"filename*0*=UTF-8''a%20b; filename*1=c.pdf") == "a bc.pdf"


def test_uuencoded_block_becomes_an_attachment_in_place():
    body = "Before\n\nbegin 644 a.txt\n" + binascii.b2a_uu(b"data!").decode() + "`\nend\n\nAfter\n"
    mail = parse_mail(b"From: a@b.example\r\nSubject: s\r\n\r\n" + body.encode())
    assert [(a.filename, a.data, a.origin) for a in mail.attachments] == [("a.txt", b"data!", "uuencode")]
    assert [s.kind for s in mail.segments] == ["plain", "attachment", "plain"]


def test_forwarded_mail_is_kept_as_eml_and_its_headers_are_known():
    inner = b"From: x@y.example\r\nSubject: Inner\r\nMessage-ID: <in@y>\r\n\r\ninner text\r\n"
    mail = parse_mail(mime(b"--B\r\nContent-Type: text/plain\r\n\r\nouter\r\n--B\r\n"
                           b"Content-Type: message/rfc822\r\n\r\n" + inner + b"--B--\r\n"))
    assert [a.filename for a in mail.attachments] == ["Inner.eml"]
    assert mail.embedded_headers[0].message_id == "<in@y>"
    forwarded = [s.message for s in mail.segments if s.kind == "message"][0]
    assert forwarded.segments[0].text.strip() == "inner text"


def test_addresses_encoded_names_and_mangled_bytes():
    headers = parse_headers(b"From: =?utf-8?Q?M=C3=BCller=2C_Hans?= <h@x.example>\r\n"
                            b"Cc: a@x.example, bad\xff@x.example\r\n")
    assert headers.from_display == '"Müller, Hans" <h@x.example>' and headers.from_address == "h@x.example"
    assert headers.cc == ("a@x.example",) and any("not valid UTF-8" in d for d in headers.defects)
    assert parse_headers(b"From: a@x.example, b@x.example\r\n").from_address == "a@x.example"


def test_mail_key_of_a_message_id_is_the_mail_key_of_that_mail():
    assert message_id_key("<abc@customer.com>") == parse_mail(SIMPLE).headers.mail_key()
