"""Turn raw RFC 5322 bytes into small immutable values; never raises on bad input.

Real-world mail lies about its charset, omits it, or names one Python does not know; boundaries
go missing; filenames come RFC 2047- or RFC 2231-encoded or as raw UTF-8 (RFC 6532); attachments
hide in uuencoded blocks or Outlook's winmail.dat. Every decode here falls back and records what
it did in ``defects`` instead of raising, so one odd mail cannot stop a run. A mail whose
structure cannot be read at all is still returned, marked ``unreadable``, so the pipeline can
import it with a note and the raw .eml attached.

``parse_mail`` keeps the body as an ordered list of ``Segment``s (plain text, HTML, an inline
image or file at its place, a forwarded message); ``content.mail_content`` turns them into the
text Jira gets.
"""

from __future__ import annotations

import binascii
import codecs
import email
import email.header
import email.utils
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.message import Message

import html2text

from jicket_ops.domain import mime_memory

# Headers the pipeline reads before it fetches a body (IMAP BODY.PEEK[HEADER.FIELDS (...)]).
ROUTING_HEADERS = (
    "From", "To", "Cc", "Reply-To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
    "X-Jicket-HashID", "X-Jicket-Initial-ReplyID", "Auto-Submitted", "Precedence", "List-Id",
    "X-Auto-Response-Suppress", "Return-Path", "Content-Type", "X-Autoreply", "X-Autorespond",
    "X-Failed-Recipients", "X-Jicket-Signature",
)
MAX_SUBJECT = 1000   # longer subjects are cut (Jira's summary holds 255 characters anyway)
MAX_HEADER_VALUE = 4000
MAX_DEPTH = 200     # MIME nesting (and forwarded-in-forwarded mails) deeper than this is not descended
MAX_PARTS = 500      # parts per mail read at most
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_WS = re.compile(r"\s+")
_UU_BEGIN = re.compile(r"^begin ([0-7]{3,4}) (\S.*?)\s*$")

# Charset names seen in the wild that Python does not know, or knows under a narrower meaning.
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8", "iso-8859-8-e": "iso-8859-8", "iso-8859-6-i": "iso-8859-6",
    "iso-8859-6-e": "iso-8859-6", "windows-874": "cp874", "tis-620": "cp874", "x-mac-roman": "mac-roman",
    "x-sjis": "cp932", "shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-euc-jp": "euc_jp",
    "x-gbk": "gbk", "gb2312": "gb18030", "gbk": "gb18030", "x-gb18030": "gb18030", "latin-9": "iso8859-15",
    "ks_c_5601-1987": "cp949", "euc-kr": "cp949", "x-windows-949": "cp949", "big5": "big5hkscs",
    "iso-8859-9": "cp1254", "latin5": "cp1254",
    # WHATWG rule, as every browser: these labels decode as windows-1252
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "iso8859-1": "cp1252", "l1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "ansi_x3.4-1968": "cp1252", "iso_8859-1": "cp1252",
}
_NO_CHARSET = {"", "unknown-8bit", "x-unknown", "unknown", "x-user-defined", "default", "none", "charset",
               "8bit", "7bit", "binary"}
_SINGLE_BYTE_WESTERN = {"cp1252", "cp1254", "iso8859-15", "mac-roman"}


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
    defects: tuple[str, ...] = ()
    content_type: str | None = None
    x_autoreply: str | None = None
    x_autorespond: str | None = None
    x_failed_recipients: str | None = None
    auto_response_suppress: str | None = None
    jicket_signature: str | None = None  # X-Jicket-Signature: Jicket's HMAC over its own Message-ID (routing)

    def mail_key(self) -> str:
        """A stable identity for this mail, written into Jira so a retry can recognise its own write."""
        if self.message_id:
            return message_id_key(self.message_id)
        basis = "|".join((self.date or "", self.from_address, self.subject, ",".join(self.to)))
        return hashlib.sha256(basis.encode("utf-8", "surrogatepass")).hexdigest()[:20]

    def as_dict(self) -> dict:
        return {name: (list(value) if isinstance(value, tuple) else value) for name, value in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: dict) -> MailHeaders:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in known.items()})


def message_id_key(message_id: str) -> str:
    """The mail key of the mail with this Message-ID (``MailHeaders.mail_key``)."""
    return hashlib.sha256(message_id.encode("utf-8", "surrogatepass")).hexdigest()[:20]


@dataclass(frozen=True)
class Attachment:
    filename: str  # decoded, as the sender named it (``attachments.safe_filename`` makes it Jira-safe)
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None  # without the angle brackets
    inline: bool = False
    origin: str = "part"  # part, uuencode, tnef, message, original

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class Segment:
    """One piece of the body, in reading order.

    kind ``plain`` / ``html``: ``text``; ``attachment``: ``ref`` indexes ``ParsedMail.attachments``
    (an inline image or a uuencoded file at its place); ``message``: a forwarded mail, ``message``.
    """

    kind: str
    text: str = ""
    ref: int | None = None
    message: ForwardedMail | None = None


@dataclass(frozen=True)
class ForwardedMail:
    """A message/rfc822 part: its header and readable body (its own attachments stay in the .eml)."""

    headers: MailHeaders
    segments: tuple[Segment, ...]
    attachment_names: tuple[str, ...]
    ref: int | None  # the .eml in ParsedMail.attachments


@dataclass(frozen=True)
class ParsedMail:
    headers: MailHeaders
    segments: tuple[Segment, ...] = ()
    attachments: tuple[Attachment, ...] = ()
    defects: tuple[str, ...] = ()
    unreadable: str | None = None  # why the structure could not be read; the raw mail then goes along
    embedded_headers: tuple[MailHeaders, ...] = ()  # of forwarded/returned mails (bounces name their ticket)
    delivery_status: str = ""  # message/delivery-status text of a bounce
    raw: bytes = field(default=b"", repr=False)

    @property
    def text(self) -> str:
        """The readable text: plain parts as they are, HTML-only parts converted to text."""
        plain = [s.text.strip() for s in self.segments if s.kind == "plain" and s.text.strip()]
        if plain:
            return "\n\n".join(plain)
        html = [_html_to_text(s.text) for s in self.segments if s.kind == "html"]
        return "\n\n".join(t for t in html if t)


# -- charsets ---------------------------------------------------------------------------------------------
def _codec(charset: str | None) -> str | None:
    """Python's codec for a declared charset; None when it names no charset or one nobody knows."""
    name = (charset or "").strip().strip("\"'").lower()
    if not name:
        return None
    if name in _NO_CHARSET:
        return ""
    candidates = [name, _CHARSET_ALIASES.get(name, "")]
    if name.startswith("x-"):
        candidates.append(_CHARSET_ALIASES.get(name[2:], name[2:]))
    candidates.append(re.sub(r"^(cp|windows|ibm)[-_ ]?(\d+)$", r"cp\2", name))
    for candidate in candidates:
        if not candidate:
            continue
        try:
            codec = codecs.lookup(_CHARSET_ALIASES.get(candidate, candidate)).name
        except LookupError:
            continue
        return "cp1252" if codec in ("ascii", "latin-1", "iso8859-1") else codec
    return ""


def _looks_utf8(data: bytes) -> bool:
    if not any(b > 0x7F for b in data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _guess(data: bytes) -> str | None:
    """A charset guess for undeclared non-UTF-8 text that is mostly non-Latin (Cyrillic, Greek, CJK ...)."""
    high = sum(1 for b in data[:4000] if b > 0x7F)
    if high < 8 or high / max(1, min(len(data), 4000)) < 0.2:
        return None
    try:
        from charset_normalizer import from_bytes

        best = from_bytes(data[:20000]).best()
    except Exception:  # noqa: BLE001 - a guess that fails is no guess
        return None
    return best.encoding if best is not None else None


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Decode text bytes: the declared charset, unless it lies; UTF-8; a guess; cp1252. Never raises."""
    declared = (charset or "").strip().strip("\"'").lower() or None
    codec = _codec(declared)
    if codec == "":
        defects.append(f"{where}: unknown charset {declared!r}")
        codec = None
    if codec:
        if codec in _SINGLE_BYTE_WESTERN and _looks_utf8(data):
            defects.append(f"{where}: declared {declared!r} but is UTF-8")
            return data.decode("utf-8")
        try:
            return data.decode(codec)
        except UnicodeDecodeError:
            defects.append(f"{where}: bytes are not valid {declared!r}")
        except (LookupError, ValueError):  # a codec that exists but cannot decode (e.g. a text transform)
            defects.append(f"{where}: unknown charset {declared!r}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    guessed = _guess(data)
    if guessed:
        try:
            text = data.decode(guessed)
        except (UnicodeDecodeError, LookupError):
            text = None
        if text is not None:
            if declared is None:
                defects.append(f"{where}: no charset and not UTF-8; read as {guessed}")
            return text
    if declared is None:
        defects.append(f"{where}: no charset and not UTF-8; read as cp1252")
    return data.decode("cp1252", errors="replace")


def _unescape_8bit(text: str, defects: list[str], where: str) -> str:
    """Raw 8-bit header bytes (RFC 6532 UTF-8, or legacy charsets) arrive as surrogate escapes."""
    if not any("\udc80" <= ch <= "\udcff" for ch in text):
        return text
    return decode_bytes(text.encode("utf-8", "surrogateescape"), None, defects, where)


def _decode_words(value: str, defects: list[str], where: str) -> str:
    """RFC 2047 encoded words decoded; malformed ones kept as they are."""
    try:
        parts = email.header.decode_header(value)
    except Exception:  # noqa: BLE001 - malformed encoded words: keep the raw text
        defects.append(f"{where}: malformed encoded words kept as they are")
        return value
    pieces = []
    for chunk, charset in parts:
        if isinstance(chunk, str):
            pieces.append(chunk)
        elif charset is None:  # the text between encoded words, which decode_header escaped
            pieces.append(chunk.decode("raw-unicode-escape", errors="replace"))
        else:
            pieces.append(decode_bytes(chunk, None if charset == "unknown-8bit" else charset, defects, where))
    return "".join(pieces)


# -- headers ----------------------------------------------------------------------------------------------
def _raw_header(message: Message, name: str, defects: list[str]) -> str | None:
    raw_values = message.get_all(name)
    if not raw_values:
        return None
    if len(raw_values) > 1 and name.lower() in ("from", "subject", "message-id", "content-type"):
        defects.append(f"header {name} appears {len(raw_values)} times; the first is used")
    raw = raw_values[0]
    if isinstance(raw, email.header.Header):  # 8-bit bytes: compat32 hands back a Header in unknown-8bit
        text = "".join(
            decode_bytes(chunk, None, defects, f"header {name}") if isinstance(chunk, bytes) else chunk
            for chunk, _ in email.header.decode_header(raw)
        )
    else:
        text = _unescape_8bit(str(raw), defects, f"header {name}")
    return text


def _header_text(message: Message, name: str, defects: list[str]) -> str | None:
    """A header's decoded, unfolded text (RFC 2047 words decoded); None when absent."""
    raw = _raw_header(message, name, defects)
    if raw is None:
        return None
    value = _WS.sub(" ", _decode_words(raw, defects, f"header {name}")).strip()
    return value[:MAX_HEADER_VALUE]


def _address_header(message: Message, name: str) -> str | None:
    """An address header with raw 8-bit bytes read as UTF-8 only (RFC 6532): bytes that are not UTF-8
    become U+FFFD, so a mangled address is refused rather than guessed (mail cannot be sent to a guess)."""
    values = message.get_all(name)
    if not values:
        return None
    raw = values[0]
    if isinstance(raw, email.header.Header):
        return "".join(chunk.decode("utf-8", "replace") if isinstance(chunk, bytes) else chunk
                       for chunk, _ in email.header.decode_header(raw))
    text = str(raw)
    if any("\udc80" <= ch <= "\udcff" for ch in text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return text


def _addresses(raw: str | None, defects: list[str], where: str) -> list[tuple[str, str]]:
    """(display name, address) pairs; names decoded after splitting, so an encoded comma cannot split."""
    if not raw:
        return []
    try:
        pairs = email.utils.getaddresses([_WS.sub(" ", raw)])
    except Exception:  # noqa: BLE001 - a pathological address list
        defects.append(f"header {where}: unreadable address list")
        return []
    out = []
    for name, addr in pairs:
        addr = addr.strip()
        if not addr or "@" not in addr or any(ch.isspace() or ch in "<>,;\ufffd" for ch in addr):
            if "\ufffd" in addr:
                defects.append(f"header {where}: address {addr!r} is not valid UTF-8; ignored")
            continue
        out.append((_WS.sub(" ", _decode_words(name, defects, f"header {where}")).strip(), addr))
    return out


def display_address(name: str, address: str) -> str:
    """``Name <address>`` in readable Unicode (not RFC 2047), quoted where the name needs it."""
    if not address:
        return ""
    name = _WS.sub(" ", name or "").strip()
    if not name:
        return address
    if any(ch in name for ch in ',;:<>@()[]"\\'):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{address}>"


def _msg_ids(value: str | None) -> tuple[str, ...]:
    return tuple(_MSGID.findall(value or ""))


def headers_from_message(message: Message, defects: list[str] | None = None) -> MailHeaders:
    defects = [] if defects is None else defects
    text = {name: _header_text(message, name, defects) for name in ROUTING_HEADERS}
    raw = {name: _address_header(message, name) for name in ("From", "To", "Cc", "Reply-To")}
    senders = _addresses(raw["From"], defects, "From")
    if len(senders) > 1:
        defects.append(f"header From names {len(senders)} addresses; the first is the sender")
    senders = senders or _addresses(raw["Reply-To"], defects, "Reply-To")
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
        from_display=display_address(from_name, from_addr),
        to=tuple(addr for _, addr in _addresses(raw["To"], defects, "To")),
        cc=tuple(addr for _, addr in _addresses(raw["Cc"], defects, "Cc")),
        reply_to=tuple(addr for _, addr in _addresses(raw["Reply-To"], defects, "Reply-To")),
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=in_reply_to[0] if in_reply_to else None,
        references=_msg_ids(text["References"])[-50:],
        date=text["Date"],
        jicket_hash_id=text["X-Jicket-HashID"],
        jicket_initial_reply_id=text["X-Jicket-Initial-ReplyID"],
        auto_submitted=text["Auto-Submitted"],
        precedence=text["Precedence"],
        list_id=text["List-Id"],
        return_path=text["Return-Path"],
        defects=tuple(dict.fromkeys(defects)),
        content_type=text["Content-Type"],
        x_autoreply=text["X-Autoreply"],
        x_autorespond=text["X-Autorespond"],
        x_failed_recipients=text["X-Failed-Recipients"],
        auto_response_suppress=text["X-Auto-Response-Suppress"],
        jicket_signature=text["X-Jicket-Signature"],
    )


def parse_headers(raw_header: bytes) -> MailHeaders:
    """Parse a header block (as IMAP returns for BODY.PEEK[HEADER.FIELDS ...])."""
    try:
        message = email.message_from_bytes(raw_header, policy=policy.compat32)
        return headers_from_message(message)
    except Exception as exc:  # noqa: BLE001 - never raise on input
        return MailHeaders(defects=(f"header unreadable: {type(exc).__name__}",))


def _html_to_text(html: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    converter.ignore_images = True
    try:
        return converter.handle(html).strip()
    except Exception:  # noqa: BLE001 - html2text on hostile markup
        return ""


# -- body -------------------------------------------------------------------------------------------------
def _content_type(part: Message) -> str:
    try:
        ctype = part.get_content_type()
    except Exception:  # noqa: BLE001
        return "text/plain"
    if "/" not in ctype or not re.fullmatch(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+", ctype):
        return "text/plain"
    return ctype


def _param(part: Message, name: str, header: str = "content-type") -> str | None:
    try:
        value = part.get_param(name, None, header)
    except Exception:  # noqa: BLE001
        return None
    if isinstance(value, tuple):  # RFC 2231 (charset, language, value)
        value = email.utils.collapse_rfc2231_value(value)
    return str(value) if value is not None else None


def _disposition(part: Message) -> str:
    raw = part.get("Content-Disposition")
    return str(raw or "").split(";")[0].strip().lower()


def _filename(part: Message, defects: list[str], where: str) -> str | None:
    """The decoded filename: RFC 2231 (filename*=), RFC 2047 (Outlook's quoted words), raw 8-bit."""
    name = None
    try:
        name = part.get_filename()
    except Exception:  # noqa: BLE001
        defects.append(f"{where}: unreadable filename")
    if not name:
        name = _param(part, "name")
    if name and "\ufffd" in str(name):
        name = _filename_8bit(part, defects, where) or name
    if not name:
        return None
    name = _unescape_8bit(str(name), defects, f"{where} filename")
    if "=?" in name:
        name = _decode_words(name, defects, f"{where} filename")
    name = _WS.sub(" ", name).strip()
    return name or None


def _filename_8bit(part: Message, defects: list[str], where: str) -> str | None:
    """A filename written as raw 8-bit bytes (RFC 6532), which compat32 turns into U+FFFD: decode it ourselves."""
    for header, value in part.raw_items():
        if header.lower() not in ("content-disposition", "content-type") or not isinstance(value, str):
            continue
        probe = Message()
        probe[header] = _unescape_8bit(value, defects, f"{where} filename")
        found = probe.get_filename() or probe.get_param("name")
        if isinstance(found, tuple):
            found = email.utils.collapse_rfc2231_value(found)
        if found and "\ufffd" not in str(found):
            return str(found)
    return None


def _payload_bytes(part: Message, defects: list[str], where: str) -> bytes:
    try:
        data = mime_memory.base64_payload(part)  # a big attachment without the standard path's copies
        if data is None:
            data = part.get_payload(decode=True)
    except Exception as exc:  # noqa: BLE001 - a broken transfer encoding must not stop the mail
        defects.append(f"{where}: cannot decode the transfer encoding ({type(exc).__name__})")
        data = None
    if data is None:
        raw = part.get_payload()
        data = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
    for defect in getattr(part, "defects", []):
        name = type(defect).__name__
        if not any(d.endswith(name) for d in defects):
            defects.append(f"{where}: {name}")
    return data


def _message_bytes(message: Message) -> bytes:
    try:
        return message.as_bytes(policy=policy.compat32)
    except Exception:  # noqa: BLE001 - fall back to the text form
        try:
            return message.as_string(policy=policy.compat32).encode("utf-8", "surrogateescape")
        except Exception:  # noqa: BLE001
            return b""


def _uudecode(lines: list[str]) -> bytes | None:
    out = bytearray()
    for line in lines:
        if not line or line in ("`", " "):
            continue
        try:
            out += binascii.a2b_uu(line)
        except binascii.Error:
            # Some encoders pad lines wrongly: decode only the bytes the length character announces.
            count = (((ord(line[0]) - 32) & 63) * 4 + 5) // 3
            try:
                out += binascii.a2b_uu(line[:count])
            except binascii.Error:
                return None
    return bytes(out)


def _split_uuencoded(text: str) -> list[tuple[str, str | tuple[str, bytes]]]:
    """Plain text with ``begin 644 name ... end`` blocks cut out as (name, bytes), in order."""
    if "begin " not in text:
        return [("text", text)]
    lines = text.split("\n")
    out: list[tuple[str, str | tuple[str, bytes]]] = []
    kept: list[str] = []
    i = 0
    while i < len(lines):
        match = _UU_BEGIN.match(lines[i].rstrip("\r"))
        if match:
            end = next((j for j in range(i + 1, len(lines)) if lines[j].strip() == "end"), None)
            data = _uudecode([ln.rstrip("\r") for ln in lines[i + 1:end]]) if end is not None else None
            if data is not None:
                out.append(("text", "\n".join(kept)))
                out.append(("file", (match.group(2), data)))
                kept = []
                i = end + 1
                continue
        kept.append(lines[i])
        i += 1
    out.append(("text", "\n".join(kept)))
    return out


class _Walker:
    """Depth-first over the MIME tree, collecting body segments and attachments."""

    def __init__(self, defects: list[str]) -> None:
        self.defects = defects
        self.attachments: list[Attachment] = []
        self.embedded: list[MailHeaders] = []
        self.delivery_status: list[str] = []
        self.parts = 0
        self.unreadable: str | None = None

    def attach(self, attachment: Attachment) -> int:
        self.attachments.append(attachment)
        return len(self.attachments) - 1

    def walk(self, part: Message, depth: int = 0) -> list[Segment]:
        self.parts += 1
        if self.parts > MAX_PARTS:
            if self.parts == MAX_PARTS + 1:
                self.defects.append(f"more than {MAX_PARTS} MIME parts; the rest is only in the original")
                self.unreadable = self.unreadable or f"more than {MAX_PARTS} MIME parts"
            return []
        if depth > MAX_DEPTH:
            self.defects.append(f"MIME nesting deeper than {MAX_DEPTH}; the rest is only in the original")
            self.unreadable = self.unreadable or f"MIME nesting deeper than {MAX_DEPTH}"
            return []
        ctype = _content_type(part)
        if ctype == "message/rfc822" or (ctype.startswith("message/") and part.is_multipart()
                                         and ctype != "message/delivery-status"):
            return self.forwarded(part, depth)
        if ctype == "message/delivery-status":
            return self.delivery(part)
        if part.is_multipart():
            children = part.get_payload()
            if not isinstance(children, list):
                children = []
            if ctype == "multipart/alternative":
                return self.alternative(children, depth)
            segments: list[Segment] = []
            for child in children:
                segments.extend(self.walk(child, depth + 1))
            if ctype == "multipart/related":  # its images belong where the HTML references them (cid:)
                segments = [s for s in segments if s.kind != "attachment" or s.ref is None
                            or not self.attachments[s.ref].content_id]
            return segments
        if ctype.startswith("multipart/"):
            body = part.get_payload()
            if isinstance(body, str) and re.fullmatch(r"\s*(--\S+--)?\s*", body):
                self.defects.append(f"{ctype} without parts")
                return []
            recovered = _recover_multipart(part, self.defects)
            if recovered is not None:
                return self.walk(recovered, depth + 1)
            self.defects.append(f"{ctype} without a usable boundary; its body is shown as text")
            self.unreadable = self.unreadable or f"{ctype} without a usable boundary"
            return self.text_part(part, "text/plain", depth)
        return self.leaf(part, ctype, depth)

    def alternative(self, children: list, depth: int) -> list[Segment]:
        options: list[list[Segment]] = []
        for child in children:
            options.append(self.walk(child, depth + 1))
        def has(kind: str, segments: list[Segment]) -> bool:
            return any(s.kind == kind and s.text.strip() for s in segments)
        plain = next((o for o in options if has("plain", o)), None)
        html = next((o for o in reversed(options) if has("html", o)), None)
        if html is not None and (plain is None or any("cid:" in s.text.lower() for s in html if s.kind == "html")):
            return html  # HTML places the inline images, or there is no plain text
        if plain is not None:
            return plain
        return next((o for o in reversed(options) if o), [])

    def forwarded(self, part: Message, depth: int) -> list[Segment]:
        payload = part.get_payload()
        inner = payload[0] if isinstance(payload, list) and payload else None
        if not isinstance(inner, Message):
            data = _payload_bytes(part, self.defects, "message/rfc822 part")
            inner = mime_memory.message_from_bytes(data, policy=policy.compat32)
        raw = _message_bytes(inner)
        nested_defects: list[str] = []
        headers = headers_from_message(inner, nested_defects)
        self.embedded.append(headers)
        nested = _Walker(nested_defects)
        nested.parts = self.parts
        segments = nested.walk(inner, depth + 1)
        self.parts = nested.parts
        self.embedded.extend(nested.embedded)
        self.delivery_status.extend(nested.delivery_status)
        stem = (headers.subject or "forwarded message").strip()[:80]
        ref = self.attach(Attachment(filename=_filename(part, self.defects, "message/rfc822 part") or f"{stem}.eml",
                                     content_type="message/rfc822", data=raw, origin="message"))
        return [Segment("message", message=ForwardedMail(headers, tuple(segments),
                                                         tuple(a.filename for a in nested.attachments), ref))]

    def delivery(self, part: Message) -> list[Segment]:
        payload = part.get_payload()
        if isinstance(payload, list):
            text = "\n\n".join(
                "\n".join(f"{k}: {_unescape_8bit(str(v), self.defects, 'delivery status')}" for k, v in block.items())
                for block in payload if isinstance(block, Message))
        else:
            text = decode_bytes(_payload_bytes(part, self.defects, "delivery status"), None, self.defects,
                                "delivery status")
        self.delivery_status.append(text)
        self.attach(Attachment("delivery-status.txt", "text/plain", text.encode("utf-8"), origin="part"))
        return []

    def text_part(self, part: Message, ctype: str, depth: int) -> list[Segment]:
        where = f"body part {ctype}"
        text = decode_bytes(_payload_bytes(part, self.defects, where), _param(part, "charset"), self.defects, where)
        text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
        if ctype == "text/html":
            return [Segment("html", text)]
        segments: list[Segment] = []
        for kind, value in _split_uuencoded(text):
            if kind == "text":
                if value.strip():
                    segments.append(Segment("plain", value))
            else:
                name, data = value
                self.defects.append(f"uuencoded file {name} found in the text")
                segments.append(Segment("attachment", ref=self.attach(
                    Attachment(name, "application/octet-stream", data, origin="uuencode"))))
        return segments

    def leaf(self, part: Message, ctype: str, depth: int) -> list[Segment]:
        disposition = _disposition(part)
        where = f"part {ctype}"
        name = _filename(part, self.defects, where)
        if ctype in ("text/plain", "text/html") and disposition != "attachment" and not name:
            return self.text_part(part, ctype, depth)
        if ctype == "text/rfc822-headers":
            data = _payload_bytes(part, self.defects, where)
            self.embedded.append(parse_headers(data))
            self.attach(Attachment(name or "original-headers.txt", "text/plain", data))
            return []
        data = _payload_bytes(part, self.defects, where)
        content_id = str(part.get("Content-ID") or "").strip().strip("<>").strip() or None
        tnef = ctype == "application/ms-tnef" or (name or "").lower() == "winmail.dat"
        if tnef:
            self.defects.append("Outlook TNEF (winmail.dat) kept as it is; open it with a TNEF reader")
        inline = disposition == "inline" or (disposition == "" and content_id is not None)
        ref = self.attach(Attachment(filename=name or "", content_type=ctype, data=data, content_id=content_id,
                                     inline=inline and ctype.startswith("image/"),
                                     origin="tnef" if tnef else "part"))
        if inline and ctype.startswith("image/"):
            return [Segment("attachment", ref=ref)]  # shown at its place unless HTML places it by cid
        return []


def _recover_multipart(part: Message, defects: list[str]) -> Message | None:
    """A multipart whose boundary is missing or wrong: find the boundary its body really uses."""
    body = part.get_payload()
    if not isinstance(body, str):
        return None
    data = body.encode("utf-8", "surrogateescape")
    declared = _param(part, "boundary")
    for line in data.split(b"\n")[:2000]:
        line = line.rstrip(b"\r")
        if line.startswith(b"--") and 1 < len(line) <= 72 and not line.strip(b"-").isspace() and b" " not in line:
            guess = line[2:]
            if guess.endswith(b"--") and data.count(b"--" + guess[:-2]) > 1:
                guess = guess[:-2]
            if not guess:
                continue
            try:
                boundary = guess.decode("ascii")
            except UnicodeDecodeError:
                continue
            header = f'Content-Type: {_content_type(part)}; boundary="{boundary}"\r\n\r\n'.encode()
            recovered = email.message_from_bytes(header + data, policy=policy.compat32)
            if recovered.is_multipart():
                defects.append(f"multipart boundary {declared!r} not found; used {boundary!r} found in the body"
                               if declared else f"multipart without boundary; used {boundary!r} found in the body")
                return recovered
    return None


def parse_mail(raw: bytes) -> ParsedMail:
    """Parse a whole mail: header, body segments in order, attachments. Never raises."""
    defects: list[str] = []
    try:
        message = mime_memory.message_from_bytes(raw, policy=policy.compat32)  # no whole-mail str copies
        headers = headers_from_message(message, defects)
    except Exception as exc:  # noqa: BLE001 - never raise on input
        return _unreadable(raw, f"the header cannot be read ({type(exc).__name__})", defects)
    for defect in getattr(message, "defects", []):
        defects.append(f"MIME: {type(defect).__name__}")
    walker = _Walker(defects)
    try:
        segments = walker.walk(message)
    except RecursionError:
        return _unreadable(raw, "MIME structure nested too deeply", defects, headers)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not block the mail: import it raw
        return _unreadable(raw, f"the MIME structure cannot be read ({type(exc).__name__}: {exc})", defects, headers)
    unreadable = walker.unreadable
    has_text = any(s.kind in ("plain", "html") and s.text.strip() for s in segments)
    body_start = raw.find(b"\n\n")
    if unreadable is None and not has_text and not walker.attachments and not headers.from_address \
            and not headers.subject and raw.strip():
        unreadable = "no header, no text and no attachment could be read"
    elif body_start == -1 and not has_text and not walker.attachments and raw.strip() and not headers.subject:
        unreadable = "no header/body separation"
    return ParsedMail(headers=headers, segments=tuple(segments), attachments=tuple(walker.attachments),
                      defects=tuple(dict.fromkeys(defects)), unreadable=unreadable,
                      embedded_headers=tuple(walker.embedded), delivery_status="\n\n".join(walker.delivery_status),
                      raw=raw)


def _unreadable(raw: bytes, why: str, defects: list[str], headers: MailHeaders | None = None) -> ParsedMail:
    text = decode_bytes(raw[:20000], None, [], "raw mail")
    return ParsedMail(headers=headers or MailHeaders(defects=(why,)), segments=(Segment("plain", text),),
                      defects=tuple(dict.fromkeys([*defects, why])), unreadable=why, raw=raw)
