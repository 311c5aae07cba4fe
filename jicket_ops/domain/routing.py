"""Decide what a mail is, from its header alone: a new ticket, a reply, Jicket's own mail, machine mail.

The ticket id comes, in this order, from an ``X-Jicket-HashID`` header, a ``[#JI-...]`` tag in the
subject (both as in jicket 0.6.2), or the Message-ID of a mail Jicket sent that the mail answers
(``In-Reply-To``/``References``: every mail Jicket sends names its ticket in its Message-ID, see
``sent_message_id``), so a reply whose subject lost the tag ("AW:", "VS:", "RE: RE:") still threads.
Failing those, a Jira issue key of the project in the subject (``[HD-123]``, ``HD-123``) names the
issue, and the mail keys of the Message-IDs it references let ``write_to_jira`` find an issue that
holds one of those mails (a colleague's reply-all to the customer's first mail).

Bounces and automatic replies (RFC 3834 ``Auto-Submitted``, ``X-Autoreply``, typical subjects)
that belong to a ticket become a comment marked as such; a bounce names its ticket in the returned
mail, which only the body holds (``bounce_ticket``).

Jicket's own mail (the helpdesk's copy of a confirmation) is recognised by what only Jicket writes: a
Message-ID of its form and an ``X-Jicket-Signature`` header holding an HMAC-SHA256 of that Message-ID
under the deployment's secret (``mail_signature``). The From address proves nothing: staff answering
from the shared mailbox ("Send As support@") write from the helpdesk address, and their answers are
imported like anyone's.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, replace
from enum import StrEnum

from jicket_ops.domain.machine_mail import BULK, machine_signal
from jicket_ops.domain.parsing import MailHeaders, ParsedMail, message_id_key
from jicket_ops.domain.ticket_ids import TicketIdScheme

MAX_THREAD_KEYS = 5  # nearest referenced mails looked up in Jira (in the batched search)



class Route(StrEnum):
    NEW = "new"
    REPLY = "reply"
    OWN_MAIL = "own_mail"
    FILTERED = "filtered"
    AUTO_REPLY = "auto_reply"
    BOUNCE = "bounce"


WRITE_ROUTES = frozenset({Route.NEW, Route.REPLY, Route.AUTO_REPLY, Route.BOUNCE})


@dataclass(frozen=True)
class RouteDecision:
    uid: int
    route: Route
    # NEW: the id the new ticket gets. REPLY/AUTO_REPLY/BOUNCE: the id the mail refers to ("" if none).
    ticket_id: str
    # Not NEW: the id to open a ticket with when Jira has no issue for the reference.
    fallback_ticket_id: str
    reasons: tuple[str, ...]
    issue_key: str | None = None  # a Jira issue key of the project named in the subject
    thread_keys: tuple[str, ...] = ()  # mail keys of the referenced Message-IDs, nearest first

    @property
    def writes_jira(self) -> bool:
        return self.route in WRITE_ROUTES

    @property
    def kind(self) -> str:
        """How the text is labelled in Jira: mail, auto_reply or bounce."""
        return str(self.route) if self.route in (Route.AUTO_REPLY, Route.BOUNCE) else "mail"

    def as_dict(self) -> dict:
        return {"uid": self.uid, "route": str(self.route), "ticket_id": self.ticket_id,
                "fallback_ticket_id": self.fallback_ticket_id, "reasons": list(self.reasons),
                "issue_key": self.issue_key, "thread_keys": list(self.thread_keys)}

    @classmethod
    def from_dict(cls, data: dict) -> RouteDecision:
        return cls(int(data["uid"]), Route(data["route"]), data["ticket_id"], data["fallback_ticket_id"],
                   tuple(data["reasons"]), data.get("issue_key"), tuple(data.get("thread_keys") or ()))


def sent_message_id(ids: TicketIdScheme, ticket_id: str, kind: str, domain: str) -> str:
    """The Message-ID of a mail Jicket sends: it names the ticket, so answers thread statelessly."""
    return f"<jicket.{ids.prefixed(ticket_id)}.{kind}@{domain}>"


def _id_from_message_ids(ids: TicketIdScheme, message_ids: tuple[str, ...]) -> str | None:
    pattern = re.compile(rf"^<jicket\.{re.escape(ids.prefix)}([A-Za-z0-9]+)\.[a-z]+@")
    for message_id in reversed(message_ids):  # the nearest ancestor is last
        match = pattern.match(message_id)
        if match and ids.is_well_formed(match.group(1)):
            return match.group(1)
    return None


SIGNATURE_HEADER = "X-Jicket-Signature"
_SIGNATURE_VERSION = "v1"
_SENT_MESSAGE_ID = re.compile(r"^<jicket\.[A-Za-z0-9-]+\.[a-z]+@[^<>\s@]+>$")


def mail_signature(secret: bytes, message_id: str) -> str:
    """The X-Jicket-Signature value of a mail Jicket sends: ``v1=`` and the HMAC-SHA256 of its Message-ID.

    Only who holds the secret (JICKET_MAIL_SECRET) can write it, so an outsider cannot make a mail of theirs
    look like Jicket's own and have it skipped.
    """
    digest = hmac.new(secret, message_id.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{_SIGNATURE_VERSION}={digest}"


def signed_by_jicket(headers: MailHeaders, secret: bytes) -> bool:
    """Whether the mail carries Jicket's Message-ID form and a valid signature of it under ``secret``."""
    if not secret or not headers.message_id or not headers.jicket_signature:
        return False
    if not _SENT_MESSAGE_ID.match(headers.message_id):
        return False
    expected = mail_signature(secret, headers.message_id)
    return hmac.compare_digest(headers.jicket_signature.strip().encode("ascii", "replace"), expected.encode("ascii"))


def is_own_mail(headers: MailHeaders, ticket_address: str, secret: bytes = b"") -> str | None:
    """Why this mail was sent by Jicket itself, else None (never because of its From address alone).

    jicket 0.6.2 signed nothing; its confirmations still waiting after an upgrade are recognised by its
    ``X-Jicket-Initial-ReplyID`` equal to ``In-Reply-To`` together with the helpdesk address as sender.
    """
    if signed_by_jicket(headers, secret):
        return "a confirmation sent by Jicket (signed Message-ID)"
    if (headers.jicket_initial_reply_id and headers.jicket_initial_reply_id == headers.in_reply_to
            and headers.from_address.lower() == ticket_address.lower()):
        return "a confirmation sent by jicket 0.6.2"
    return None


def machine_mail(headers: MailHeaders) -> tuple[str, str] | None:
    """("bounce" | "auto_reply", why) for a delivery report or an automatic reply, else None.

    Other machine mail (lists, newsletters, no-reply senders) is routed as any mail; it is only never answered.
    """
    signal = machine_signal(headers)
    if signal is None or signal.kind == BULK:
        return None
    return signal.kind, signal.reason

def issue_key_in(subject: str, project: str | None) -> str | None:
    """``HD-123`` when the subject names an issue of the project (``[HD-123]`` or ``HD-123``)."""
    if not project:
        return None
    match = re.search(rf"(?<![A-Za-z0-9_-]){re.escape(project)}-([1-9][0-9]{{0,8}})(?![0-9A-Za-z])", subject or "")
    return f"{project}-{match.group(1)}" if match else None


def thread_keys(headers: MailHeaders) -> tuple[str, ...]:
    """Mail keys of the mails this one answers (nearest first), except mails Jicket sent."""
    refs = [*headers.references, *([headers.in_reply_to] if headers.in_reply_to else [])]
    keys: list[str] = []
    for ref in reversed(refs):
        if ref.startswith("<jicket."):
            continue
        key = message_id_key(ref)
        if key not in keys:
            keys.append(key)
    return tuple(keys[:MAX_THREAD_KEYS])


def ticket_reference(headers: MailHeaders, ids: TicketIdScheme) -> tuple[str, str] | None:
    """(ticket id, why) from the header, the subject tag or the thread; None when there is none."""
    header_id = ids.from_header(headers.jicket_hash_id)
    if header_id:
        return header_id, "X-Jicket-HashID header"
    subject_id = ids.find_in_subject(headers.subject)
    if subject_id:
        return subject_id, f"subject tag {ids.tag(subject_id)}"
    thread_id = _id_from_message_ids(ids, tuple(filter(None, (*headers.references, headers.in_reply_to))))
    if thread_id:
        return thread_id, "answers a mail Jicket sent (In-Reply-To/References)"
    return None


def route_mail(headers: MailHeaders, *, uid: int, uidvalidity: int, ids: TicketIdScheme,
               ticket_address: str, project: str | None = None, secret: bytes = b"") -> RouteDecision:
    """Route one mail that passed the filters; ``secret`` verifies Jicket's own mail (JICKET_MAIL_SECRET)."""
    own_id = ids.new_id(uidvalidity, uid)
    own = is_own_mail(headers, ticket_address, secret)
    if own:
        referenced = ids.from_header(headers.jicket_hash_id) or ids.find_in_subject(headers.subject) or ""
        return RouteDecision(uid, Route.OWN_MAIL, referenced, own_id, (own,))
    machine = machine_mail(headers)
    reference = ticket_reference(headers, ids)
    key = None if reference else issue_key_in(headers.subject, project)
    threads = thread_keys(headers)
    reasons: list[str] = []
    if machine:
        reasons.append(machine[1])
    if reference:
        reasons.append(reference[1])
    elif key:
        reasons.append(f"Jira issue key {key} in the subject")
    ticket_id = reference[0] if reference else ""
    if machine and machine[0] == "bounce":
        if not reference and not key:
            reasons.append("the returned mail in the body names the ticket, if any")
        return RouteDecision(uid, Route.BOUNCE, ticket_id, own_id, tuple(reasons), key, threads)
    if reference or key:
        route = Route.AUTO_REPLY if machine else Route.REPLY
        return RouteDecision(uid, route, ticket_id, own_id, tuple(reasons), key, threads)
    if machine:
        reasons.append("belongs to no ticket: imported as a new ticket, never answered")
    else:
        reasons.append("no ticket id in header, subject or thread")
    if threads:
        reasons.append("becomes a comment if Jira holds a mail it answers")
    return RouteDecision(uid, Route.NEW, own_id, own_id, tuple(reasons), None, threads)


def bounce_ticket(mail: ParsedMail, ids: TicketIdScheme) -> tuple[str, str] | None:
    """(ticket id, why) named by the mail a bounce returns (its headers, or the report's text)."""
    for headers in mail.embedded_headers:
        found = ticket_reference(headers, ids)
        if found:
            return found[0], f"the returned mail: {found[1]}"
        if headers.message_id:
            thread_id = _id_from_message_ids(ids, (headers.message_id,))
            if thread_id:
                return thread_id, "the returned mail was sent by Jicket"
    texts = [s.text for s in mail.segments if s.kind in ("plain", "html")] + [mail.delivery_status]
    for text in texts:
        ticket_id = ids.find_in_subject(text)
        if ticket_id:
            return ticket_id, f"the report quotes {ids.tag(ticket_id)}"
        ticket_id = _id_from_message_ids(ids, tuple(re.findall(r"<jicket\.[^<>\s]+>", text)))
        if ticket_id:
            return ticket_id, "the report quotes a Message-ID Jicket sent"
    return None


def resolve_bounce(decision: RouteDecision, mail: ParsedMail, ids: TicketIdScheme) -> RouteDecision:
    """A bounce of one of Jicket's own mails, with the ticket named in the returned original (if any)."""
    if decision.route is not Route.BOUNCE or decision.ticket_id:
        return decision
    found = bounce_ticket(mail, ids)
    if found is None:
        return decision
    return replace(decision, ticket_id=found[0], reasons=(*decision.reasons, found[1]))
