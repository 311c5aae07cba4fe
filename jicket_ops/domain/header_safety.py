"""Text from a mail made safe for the headers Jicket writes (confirmations, quarantine and failure reports).

A sender controls the Subject, the Message-IDs and the names; hidden behind one or more rounds of RFC 2047
encoding they can carry CR, LF or NUL. Some Python versions decode encoded words again when a string is
assigned to a header of an ``EmailMessage``, so neutralising the decoded text once is not enough: every
round is decoded here and what is left of the encoded-word syntax is broken up, then every control
character goes. As a last guard, ``verify_headers`` checks the serialized message: it must hold exactly the
headers Jicket wrote, whatever the library underneath did.
"""

from __future__ import annotations

import email.header
import re
from email.message import EmailMessage

from jicket_ops.errors import HeaderInjectionError

MAX_ROUNDS = 5  # decoding rounds, at most (each round must shrink the text, so this is bounded anyway)
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,75}\?[bBqQ]\?[^?]*\?=")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
_SPACES = re.compile(r"\s+")
_MSGID = re.compile(r"<[!#$%&'*+\-/0-9=A-Z^_`a-z{|}~.@\[\]]{3,250}>")
_ADDRESS = re.compile(r"[^\s<>()\[\],;:\"\\=?]{1,64}@[A-Za-z0-9.\-\[\]:]{1,255}")
_HEADER_NAME = re.compile(rb"^([!-9;-~]+):")


def _decode_round(text: str) -> str:
    """One round of RFC 2047 decoding; text that is not a valid encoded word is kept as it is."""
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
    except Exception:  # noqa: BLE001 - malformed words: nothing more to decode
        return text
    out = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            out.append(chunk)
            continue
        try:
            out.append(chunk.decode(charset or "ascii", "replace"))
        except LookupError:
            out.append(chunk.decode("utf-8", "replace"))
    return "".join(out)


def header_text(value: str | None, limit: int = 900) -> str:
    """One line of plain text for a header: every encoded-word round decoded, controls gone, cut to ``limit``."""
    text = value or ""
    for _ in range(MAX_ROUNDS):
        decoded = _decode_round(text)
        if decoded == text:
            break
        text = decoded
    text = _CONTROL.sub(" ", text)
    text = _ENCODED_WORD.sub(lambda m: m.group(0).replace("=?", "= ?"), text)  # would be decoded once more
    text = text.replace("=?", "= ?")
    return _SPACES.sub(" ", text).strip()[:limit]


def header_message_ids(message_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The Message-IDs that may go into In-Reply-To/References: plain ``<...>`` ids without encoded words."""
    return [mid for mid in message_ids if _MSGID.fullmatch(mid) and "=?" not in mid]


def header_address(address: str) -> bool:
    """Whether an address from a mail may be a recipient Jicket writes into To or Cc."""
    return bool(_ADDRESS.fullmatch(address or ""))


def verify_headers(message: EmailMessage) -> bytes:
    """The message as it will be sent, after checking that its header holds exactly the fields set on it.

    Raises HeaderInjectionError when serializing made a line that starts a header Jicket did not write (a CR
    or LF that slipped through) or a NUL appears anywhere in the header.
    """
    data = bytes(message)
    head = data.split(b"\n\n", 1)[0].replace(b"\r\n", b"\n")
    written = {name.lower() for name in message.keys()}
    written |= {name.lower() for part in message.walk() for name in part.keys()}
    for line in head.split(b"\n"):
        if not line or line[:1] in (b" ", b"\t"):
            continue
        match = _HEADER_NAME.match(line)
        name = match.group(1).decode("ascii").lower() if match else ""
        if name not in written:
            raise HeaderInjectionError(f"the mail's header would contain a line Jicket did not write: {line[:80]!r}")
    if b"\x00" in head:
        raise HeaderInjectionError("the mail's header would contain a NUL byte")
    return data
