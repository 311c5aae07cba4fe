"""Parsing a big mail without the standard library's extra copies of it (pure, no I/O).

``email.message_from_bytes`` decodes the whole mail to one ``str`` and reads it through an
``io.StringIO``, which stores four bytes per character: a 50 MB mail costs about 300 MB before the
parser has produced anything. ``message_from_bytes`` here feeds the same parser the same characters
in slices, as ``email.parser.Parser`` itself does with the text it reads (each byte decodes to one
character, so a slice boundary cannot split one): the resulting message is the same.

``Message.get_payload(decode=True)`` turns a base64 body into bytes, splits them into lines, joins the
lines and decodes the result: three transient copies of the encoded text. ``decode_base64`` decodes a
valid base64 body slice by slice instead, and declines (None) anything the standard library would
have to repair, which then takes the standard path with its defects.
"""

from __future__ import annotations

import binascii
import io
import re
from email import policy as email_policy
from email.feedparser import FeedParser
from email.message import Message
from email.policy import Policy

FEED_CHARS = 64 * 1024
DECODE_CHARS = 1024 * 1024  # encoded characters decoded at a time (what is left of a 4-character group waits)
_B64_BODY = re.compile(r"[A-Za-z0-9+/]*")
_B64_LAST = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PADDING_AND_LINE_ENDS = re.compile(r"[=\r\n]*")


def message_from_bytes(raw: bytes, policy: Policy = email_policy.compat32, *, feed_chars: int = FEED_CHARS) -> Message:
    """``email.message_from_bytes(raw, policy=policy)``, without a whole-mail ``str`` or ``StringIO``."""
    parser = FeedParser(policy=policy)
    view = memoryview(raw)
    for start in range(0, len(raw), feed_chars):
        parser.feed(str(view[start:start + feed_chars], "ascii", "surrogateescape"))
    return parser.close()


def decode_base64(text: str, *, slice_chars: int = DECODE_CHARS) -> bytes | None:
    """The bytes of a base64 body (line ends ignored), or None unless it is strictly valid base64.

    Strictly valid: only the base64 alphabet besides CR and LF, padding only at the very end, a length
    that is a multiple of 4 -- exactly the input ``email`` decodes without recording a defect, and to
    the same bytes.
    """
    out = io.BytesIO()
    carry = ""
    for start in range(0, len(text), slice_chars):
        end = start + slice_chars
        piece = carry + text[start:end].replace("\r", "").replace("\n", "")
        if "=" in piece:  # padding: the end of the body (only more padding and line ends may follow)
            if not _PADDING_AND_LINE_ENDS.fullmatch(text, end):
                return None
            piece += "=" * text.count("=", end)
            if len(piece) % 4 or not _B64_LAST.fullmatch(piece):
                return None
            out.write(binascii.a2b_base64(piece))
            return out.getvalue()
        if not _B64_BODY.fullmatch(piece):
            return None
        usable = len(piece) - len(piece) % 4
        out.write(binascii.a2b_base64(piece[:usable]))
        carry = piece[usable:]
    return None if carry else out.getvalue()


def base64_payload(part: Message) -> bytes | None:
    """A leaf part's body decoded, when it is base64 that ``decode_base64`` takes; else None."""
    payload = part.get_payload()
    if part.is_multipart() or not isinstance(payload, str):
        return None
    if str(part.get("content-transfer-encoding", "")).lower() != "base64":
        return None
    return decode_base64(payload)
