"""Turn raw RFC 5322 bytes into small immutable values; never raises on bad input.

Real-world mail lies about its charset, omits it, or names one Python does not know. Every
decode here falls back (declared charset, UTF-8, then cp1252) and records what it did in
``defects`` instead of raising, so one odd mail cannot stop a run.
"""

from __future__ import annotations

import email
import email.header
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message

import html2text

# Headers the pipeline reads before it fetches a body (IMAP BODY.PEEK[HEADER.FIELDS (...)]).
ROUTING_HEADERS = (
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "X-Jicket-HashID", "X-Jicket-Initial-ReplyID", "Auto-Submitted", "Precedence", "List-Id",
    "X-Auto-Response-Suppress", "Return-Path", "Content-Type",
)
MAX_SUBJECT = 1000   # longer subjects are cut (Jira's summary holds 255 characters anyway)
MAX_HEADER_VALUE = 4000
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_WS = re.compile(r"\s+")


@dataclass(frozen=True)
class MailHeaders:
    """What routing needs to know about a mail, from its header only."""

    subject: str = ""
    from_address: str = ""
    from_display: str = ""
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    reply_to: tuple[str, ...] = ()
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    date: str | None = None
    jicket_hash_id: str | None = None
    jicket_initial_reply_id: str | None = None
    auto_submitted: str | None = None
    precedence: str | None = None
    list_id: str | None = None
    return_path: str | None = None
    auto_response_suppress: str | None = None
    defects: tuple[str, ...] = ()

    def mail_key(self) -> str:
        """A stable identity for this mail, written into Jira so a retry can recognise its own write."""
        basis = self.message_id or "|".join((self.date or "", self.from_address, self.subject, ",".join(self.to)))
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    def as_dict(self) -> dict:
        return {name: (list(value) if isinstance(value, tuple) else value) for name, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> MailHeaders:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in known.items()})


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False


@dataclass(frozen=True)
class ParsedMail:
    headers: MailHeaders
    text: str
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Decode with the declared charset, else UTF-8, else cp1252; note every fallback."""
    declared = (charset or "").strip().strip('"').lower() or None
    if declared:
        try:
            return data.decode(declared)
        except LookupError:
            defects.append(f"{where}: unknown charset {declared!r}")
        except UnicodeDecodeError:
            defects.append(f"{where}: bytes are not valid {declared!r}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        if declared is None:
            defects.append(f"{where}: no charset and not UTF-8; read as cp1252")
        return data.decode("cp1252", errors="replace")


def _header_text(message: Message, name: str, defects: list[str]) -> str | None:
    """A header's decoded, unfolded text (RFC 2047 words decoded); None when absent."""
    raw_values = message.get_all(name)
    if not raw_values:
        return None
    raw = raw_values[0]
    if len(raw_values) > 1 and name.lower() in ("from", "subject", "message-id"):
        defects.append(f"header {name} appears {len(raw_values)} times; the first is used")
    text = raw if isinstance(raw, str) else str(raw)
    try:
        # 8-bit bytes make compat32 hand back a Header in charset unknown-8bit: decode its bytes ourselves.
        parts = email.header.decode_header(raw if isinstance(raw, email.header.Header) else text)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the raw text
        defects.append(f"header {name}: malformed encoded words kept as they are")
        parts = [(text, None)]
    pieces = []
    for chunk, charset in parts:
        if isinstance(chunk, bytes):
            charset = None if charset == "unknown-8bit" else charset
            pieces.append(decode_bytes(chunk, charset, defects, f"header {name}"))
        else:
            pieces.append(chunk)
    value = _WS.sub(" ", "".join(pieces)).strip()
    # 8-bit headers (RFC 6532) arrive as surrogate escapes from the bytes parser.
    value = value.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return value[:MAX_HEADER_VALUE]


def _addresses(value: str | None) -> list[tuple[str, str]]:
    if not value:
        return []
    return [(name, addr) for name, addr in email.utils.getaddresses([value]) if addr and "@" in addr]


def _msg_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def headers_from_message(message: Message, defects: list[str] | None = None) -> MailHeaders:
    defects = [] if defects is None else defects
    text = {name: _header_text(message, name, defects) for name in ROUTING_HEADERS}
    senders = _addresses(text["From"]) or _addresses(text["Reply-To"])
    if not senders:
        defects.append("no usable From address")
    from_name, from_addr = senders[0] if senders else ("", "")
    message_ids = _msg_ids(text["Message-ID"])
    in_reply_to = _msg_ids(text["In-Reply-To"])
    subject = text["Subject"] or ""
    if len(subject) > MAX_SUBJECT:
        defects.append(f"subject of {len(subject)} characters cut to {MAX_SUBJECT}")
        subject = subject[:MAX_SUBJECT]
    return MailHeaders(
        subject=subject,
        from_address=from_addr,
        from_display=email.utils.formataddr((from_name, from_addr)) if from_addr else "",
        to=tuple(addr for _, addr in _addresses(text["To"])),
        cc=tuple(addr for _, addr in _addresses(text["Cc"])),
        reply_to=tuple(addr for _, addr in _addresses(text["Reply-To"])),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_msg_ids(text["References"]),
        date=text["Date"],
        jicket_hash_id=text["X-Jicket-HashID"],
        jicket_initial_reply_id=text["X-Jicket-Initial-ReplyID"],
        auto_submitted=text["Auto-Submitted"],
        precedence=text["Precedence"],
        list_id=text["List-Id"],
        return_path=text["Return-Path"],
        auto_response_suppress=text["X-Auto-Response-Suppress"],
        defects=tuple(defects),
    )


def parse_headers(raw_header: bytes) -> MailHeaders:
    """Parse a header block (as IMAP returns for BODY.PEEK[HEADER.FIELDS ...])."""
    message = email.message_from_bytes(raw_header, policy=policy.compat32)
    return headers_from_message(message)


def _html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    return converter.handle(html).strip()


def _part_text(part: Message, defects: list[str]) -> str:
    try:
        payload = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - a broken transfer encoding must not stop the mail
        defects.append(f"body part {part.get_content_type()}: cannot decode ({exc})")
        return ""
    if payload is None:
        raw = part.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    return decode_bytes(payload, part.get_content_charset(), defects, f"body part {part.get_content_type()}")


def _filename(part: Message, index: int, defects: list[str]) -> str:
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        name = None
        defects.append(f"attachment {index}: unreadable filename")
    if name:
        try:
            parts = email.header.decode_header(name)
            name = "".join(
                decode_bytes(chunk, cs, defects, "attachment filename") if isinstance(chunk, bytes) else chunk
                for chunk, cs in parts
            )
        except Exception:  # noqa: BLE001 - keep the filename as the email package gave it
            defects.append(f"attachment {index}: malformed encoded filename kept as it is")
    name = (name or "").replace("/", "_").replace("\\", "_").strip().strip(".") or ""
    if not name:
        subtype = part.get_content_subtype() or "bin"
        name = f"attachment-{index}.{subtype}"
    return name[:200]


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse a whole mail: header, readable text (plain preferred, HTML converted), attachments."""
    defects: list[str] = []
    message = email.message_from_bytes(raw, policy=policy.compat32)
    headers = headers_from_message(message, defects)
    for defect in getattr(message, "defects", []):
        defects.append(f"MIME: {type(defect).__name__}")
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    for index, part in enumerate(message.walk()):
        if part.is_multipart():
            continue
        disposition = (part.get("Content-Disposition") or "").split(";")[0].strip().lower()
        content_type = part.get_content_type()
        is_body_text = content_type in ("text/plain", "text/html") and disposition != "attachment" and (
            not part.get_filename()
        )
        if is_body_text:
            (plain if content_type == "text/plain" else html).append(_part_text(part, defects))
            continue
        try:
            data = part.get_payload(decode=True) or b""
        except Exception:  # noqa: BLE001
            data = b""
            defects.append(f"attachment {index}: undecodable payload")
        content_id = (part.get("Content-ID") or "").strip() or None
        attachments.append(Attachment(
            filename=_filename(part, index, defects),
            content_type=content_type,
            data=data,
            content_id=content_id,
            inline=disposition == "inline",
        ))
    if plain:
        text = "\n\n".join(t.strip() for t in plain if t.strip())
    elif html:
        text = "\n\n".join(_html_to_text(t) for t in html)
    else:
        text = ""
    return ParsedMail(headers=headers, text=text.replace("\r\n", "\n"), attachments=tuple(attachments),
                      defects=tuple(dict.fromkeys(defects)))

