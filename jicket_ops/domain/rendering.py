"""Text Jicket writes: issue summary and description, comment bodies, the confirmation mail.

The thread template renders in a Jinja2 sandbox with HTML autoescape. Templates written for
jicket 0.6.2 (``%(subject)s``, ``%(ticketid)s``) are recognised and rendered with the same
escaping, so a subject cannot inject markup either way.
"""

from __future__ import annotations

import html
import re
import unicodedata
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, localtime
from functools import lru_cache

import html2text
from jinja2 import StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from jicket_ops.domain.header_safety import header_address, header_message_ids, header_text, verify_headers
from jicket_ops.domain.limits import ENVELOPE_CC_LIMIT, ENVELOPE_NAME_LIMIT, SUMMARY_LIMIT, TEXT_LIMIT
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.routing import SIGNATURE_HEADER, mail_signature, sent_message_id
from jicket_ops.domain.sender_key import sender_marker, sender_of
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.domain.wiki_markup import balance_macros, escape_line
from jicket_ops.errors import TemplateError

ATTACHMENT_LIST = "_Jicket attachments:_"
CUT_NOTE = "_[... cut: the text is longer than Jira allows ...]_"
_LEGACY_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_LINEBREAKS = re.compile(r"[\r\n\t\u2028\u2029\x85]+")
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|vs|antw|fwd?|wg)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_MARKER = re.compile(r"(?<!\\)\{anchor:(jicket-mail-[0-9a-f]{20})\}")
_LISTED = re.compile(r"\[\^([^\]\n]+)\]")
KIND_LINES = {
    "auto_reply": "_Jicket: an automatic reply (out of office or auto-responder); it was not answered "
                  "and reopened nothing._",
    "bounce": "_Jicket: a delivery failure report (bounce); it was not answered and reopened nothing._",
}


def single_line(text: str) -> str:
    """Text safe for a one-line field: no CR/LF (header injection), no control characters, and no invisible or
    direction-changing characters (a right-to-left override would make the summary read otherwise)."""
    text = _CONTROL.sub("", _LINEBREAKS.sub(" ", text or ""))
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def mail_marker(mail_key: str) -> str:
    """Invisible wiki-markup anchor that lets a retry recognise the issue or comment it wrote."""
    return f"{{anchor:jicket-mail-{mail_key}}}"


def markers_in(text: str) -> set[str]:
    """The mail markers Jicket wrote into a text (escaped look-alikes from a sender's text excluded)."""
    return {"{anchor:" + m + "}" for m in _MARKER.findall(text or "")}


def attachment_intent(text: str, mail_key: str) -> list[str] | None:
    """The attachment names the description/comment carrying this mail's marker announced (in order).

    None when the text does not carry the marker. Only Jicket's own list line counts: a sender's text
    is escaped, so it cannot start a line with the list's label.
    """
    if mail_marker(mail_key) not in markers_in(text):
        return None
    for line in reversed((text or "").split("\n")):
        if line.startswith(ATTACHMENT_LIST):
            return _LISTED.findall(line)
    return []


def issue_summary(ids: TicketIdScheme, ticket_id: str, subject: str) -> str:
    """``[#JI-ZOZ2P6] <subject>`` cut to Jira's 255 characters."""
    tag = ids.tag(ticket_id)
    clean = single_line(ids.strip_tag(subject)) or "(no subject)"
    summary = f"{tag} {clean}"
    if len(summary) > SUMMARY_LIMIT:
        summary = summary[: SUMMARY_LIMIT - 1] + "…"
    return summary


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:max(0, limit - len(CUT_NOTE) - 64)]  # room for the note and closing macros
    if "\n" in cut[-2000:]:
        cut = cut[: cut.rindex("\n")]
    return balance_macros(cut) + "\n\n" + CUT_NOTE


def _envelope_lines(headers: MailHeaders) -> list[str]:
    sender = headers.from_display or "(unknown sender)"
    if len(sender) > ENVELOPE_NAME_LIMIT + len(headers.from_address) + 3:
        sender = f"{single_line(sender)[:ENVELOPE_NAME_LIMIT]}… <{headers.from_address}>"
    lines = [f"From: {sender}"]
    if headers.cc:
        more = len(headers.cc) - ENVELOPE_CC_LIMIT
        lines.append(f"Cc: {', '.join(headers.cc[:ENVELOPE_CC_LIMIT])}" + (f" and {more} more" if more > 0 else ""))
    if headers.date:
        lines.append(f"Date: {single_line(headers.date)[:200]}")
    return [escape_line(single_line(line)) for line in lines]


def jira_text(headers: MailHeaders, body: str, notes: tuple[str, ...] = (), *, attachments: tuple[str, ...] = (),
              kind: str = "mail", marker_prefix: str = "") -> str:
    """A description or comment: kind line, envelope, the mail's text (wiki markup), attachments, notes, marker.

    ``body`` is wiki markup already (``content.mail_content``); it is cut so the whole stays in Jira's limit.
    ``attachments`` are the names the mail's files get on the issue, in upload order: the record a retry
    reads to know which uploads are still missing.
    """
    head = ["\n".join(_envelope_lines(headers))]  # first line "From: ..." (the rate limit reads it)
    if kind in KIND_LINES:
        head.append(KIND_LINES[kind])
    tail: list[str] = []
    if attachments:
        tail.append(ATTACHMENT_LIST + " " + ", ".join(f"[^{name}]" for name in attachments))
    if notes:
        tail.append("\n".join(f"_Jicket: {escape_line(single_line(note)[:500])}_" for note in notes[:20]))
    tail.append(marker_prefix + mail_marker(headers.mail_key()))
    budget = TEXT_LIMIT - sum(len(p) + 2 for p in head + tail) - 2
    text = body.strip() or "_(the mail has no text)_"
    return "\n\n".join([*head, _cut(text, max(budget, 1000)), *tail])


def issue_description(headers: MailHeaders, text: str, notes: tuple[str, ...] = (), *,
                      attachments: tuple[str, ...] = (), kind: str = "mail") -> str:
    """A new ticket's description; it also carries the sender's marker, which the per-sender limit counts."""
    return jira_text(headers, text, notes, attachments=attachments, kind=kind,
                     marker_prefix=sender_marker(sender_of(headers)) + " ")


def comment_body(headers: MailHeaders, text: str, notes: tuple[str, ...] = (), *,
                 attachments: tuple[str, ...] = (), kind: str = "mail") -> str:
    return jira_text(headers, text, notes, attachments=attachments, kind=kind)


@dataclass(frozen=True)
class ThreadTemplate:
    source: str
    legacy: bool

    @classmethod
    def load(cls, source: str) -> ThreadTemplate:
        legacy = bool(_LEGACY_PLACEHOLDER.search(source)) and "{{" not in source and "{%" not in source
        template = cls(source, legacy)
        if not legacy:
            try:
                _compiled(source)
            except TemplateSyntaxError as exc:
                raise TemplateError("JICKET_THREAD_TEMPLATE", f"line {exc.lineno}: {exc.message}") from exc
        return template

    def render(self, variables: dict[str, str]) -> str:
        if self.legacy:
            def substitute(match: re.Match[str]) -> str:
                name = match.group(1)
                if name not in variables:
                    raise TemplateError("JICKET_THREAD_TEMPLATE", f"unknown variable %({name})s")
                return html.escape(variables[name])
            return _LEGACY_PLACEHOLDER.sub(substitute, self.source)
        try:
            return _compiled(self.source).render(**variables)
        except (UndefinedError, SecurityError) as exc:
            raise TemplateError("JICKET_THREAD_TEMPLATE", str(exc)) from exc


def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(autoescape=True, undefined=StrictUndefined)


@lru_cache(maxsize=8)
def _compiled(source: str) -> Template:
    """The template compiled once (compiling took ~3 ms, as long as building the rest of a confirmation);
    a compiled template renders in parallel threads without sharing state."""
    return _environment().from_string(source)


def _html_to_text(rendered: str) -> str:
    converter = html2text.HTML2Text()
    converter.body_width = 0
    return converter.handle(rendered).strip() + "\n"


def confirmation_mail(*, headers: MailHeaders, ids: TicketIdScheme, ticket_id: str, ticket_address: str,
                      template: ThreadTemplate, issue_key: str | None = None, secret: bytes = b"",
                      max_cc: int = 10) -> EmailMessage:
    """The mail that opens the thread: to the customer and the helpdesk, CCs kept, id in the subject.

    ``secret`` (JICKET_MAIL_SECRET) signs its Message-ID, so the helpdesk's copy is known as Jicket's own.
    It goes to ``confirmation_recipients``; every value taken from the mail is neutralised for the header
    (``header_safety``), and the serialized header is checked before the mail is handed back.
    """
    subject = header_text(headers.subject) or "(no subject)"
    variables = {
        "subject": subject,
        "ticketid": ticket_id,
        "ticket_tag": ids.tag(ticket_id),
        "prefixed_ticketid": ids.prefixed(ticket_id),
        "sender": header_text(headers.from_display, 300),
        "issue_key": issue_key or "",
    }
    rendered = template.render(variables)
    to, cc = confirmation_recipients(headers, ticket_address, max_cc)
    domain = ticket_address.rsplit("@", 1)[1]

    message = EmailMessage()
    message["From"] = Address(addr_spec=ticket_address)
    message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Subject"] = f"{ids.tag(ticket_id)} {ids.strip_tag(subject)}".strip()
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = sent_message_id(ids, ticket_id, "confirm", domain)
    if secret:
        message[SIGNATURE_HEADER] = mail_signature(secret, message["Message-ID"])
    thread = header_message_ids([*headers.references, *([headers.message_id] if headers.message_id else [])])
    if headers.message_id and thread and thread[-1] == headers.message_id:
        message["In-Reply-To"] = headers.message_id
    if thread:
        message["References"] = " ".join(_unique(thread)[-20:])
    message["X-Jicket-HashID"] = ticket_id
    message["Auto-Submitted"] = "auto-replied"
    message.set_content(_html_to_text(rendered))
    message.add_alternative(rendered, subtype="html")
    verify_headers(message)
    return message


def confirmation_recipients(headers: MailHeaders, ticket_address: str, max_cc: int) -> tuple[list[str], list[str]]:
    """(To, Cc) of a confirmation: the customer and the helpdesk; at most ``max_cc`` of the mail's Cc.

    The customer is the sender; Reply-To only when it is in the sender's own domain (a Reply-To elsewhere
    would let anyone aim the helpdesk's answer at a third party). Addresses that cannot safely stand in a
    header are left out.
    """
    helpdesk = ticket_address.lower()
    sender = headers.from_address if header_address(headers.from_address) else ""
    sender_domain = sender.rsplit("@", 1)[-1].lower() if sender else ""
    reply_to = next((a for a in headers.reply_to if header_address(a)
                     and a.rsplit("@", 1)[-1].lower() == sender_domain), "")
    customer = reply_to or sender
    to = _unique([a for a in (customer, ticket_address) if a])
    taken = {a.lower() for a in to} | {helpdesk}
    cc = [a for a in _unique(headers.cc) if header_address(a) and a.lower() not in taken][:max(0, max_cc)]
    return to, cc


def _unique(addresses: list[str] | tuple[str, ...]) -> list[str]:
    seen: dict[str, str] = {}
    for addr in addresses:
        if addr and addr.lower() not in seen:
            seen[addr.lower()] = addr
    return list(seen.values())


def recipients(message: EmailMessage) -> list[str]:
    """Envelope recipients of a mail built by ``confirmation_mail``."""
    pairs = getaddresses([message.get("To", ""), message.get("Cc", "")])
    return _unique([addr for _, addr in pairs if addr])
