"""Decide what a mail is, from its header alone: a new ticket, a reply, or Jicket's own mail.

The ticket id comes, in this order, from an ``X-Jicket-HashID`` header, a ``[#JI-...]`` tag in the
subject (both as in jicket 0.6.2), or the Message-ID of a mail Jicket sent that the mail answers
(``In-Reply-To``/``References``), so a reply whose subject lost the tag still threads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from jicket_ops.parsing import MailHeaders
from jicket_ops.ticket_ids import TicketIdScheme


class Route(StrEnum):
    NEW = "new"
    REPLY = "reply"
    OWN_MAIL = "own_mail"
    FILTERED = "filtered"


@dataclass(frozen=True)
class RouteDecision:
    uid: int
    route: Route
    # NEW: the id the new ticket gets. REPLY: the id the mail refers to.
    ticket_id: str
    # REPLY only: the id to open a ticket with when Jira has no issue for ``ticket_id``.
    fallback_ticket_id: str
    reasons: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"uid": self.uid, "route": str(self.route), "ticket_id": self.ticket_id,
                "fallback_ticket_id": self.fallback_ticket_id, "reasons": list(self.reasons)}

    @classmethod
    def from_dict(cls, data: dict) -> RouteDecision:
        return cls(int(data["uid"]), Route(data["route"]), data["ticket_id"], data["fallback_ticket_id"],
                   tuple(data["reasons"]))


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


def is_own_mail(headers: MailHeaders, ticket_address: str) -> str | None:
    """Why this mail was sent by Jicket (or from the helpdesk address itself), else None."""
    if headers.message_id and headers.message_id.startswith("<jicket.") and headers.jicket_hash_id:
        return "a confirmation sent by Jicket"
    if headers.jicket_initial_reply_id and headers.jicket_initial_reply_id == headers.in_reply_to:
        return "a confirmation sent by jicket 0.6.2"
    if headers.from_address.lower() == ticket_address.lower():
        return "sent from the ticket address itself"
    return None


def route_mail(headers: MailHeaders, *, uid: int, uidvalidity: int, ids: TicketIdScheme,
               ticket_address: str) -> RouteDecision:
    """Route one mail that passed the filters."""
    own_id = ids.new_id(uidvalidity, uid)
    own = is_own_mail(headers, ticket_address)
    if own:
        referenced = ids.from_header(headers.jicket_hash_id) or ids.find_in_subject(headers.subject) or ""
        return RouteDecision(uid, Route.OWN_MAIL, referenced, own_id, (own,))
    header_id = ids.from_header(headers.jicket_hash_id)
    if header_id:
        return RouteDecision(uid, Route.REPLY, header_id, own_id, ("X-Jicket-HashID header",))
    subject_id = ids.find_in_subject(headers.subject)
    if subject_id:
        return RouteDecision(uid, Route.REPLY, subject_id, own_id, (f"subject tag {ids.tag(subject_id)}",))
    thread_id = _id_from_message_ids(ids, tuple(filter(None, (*headers.references, headers.in_reply_to))))
    if thread_id:
        return RouteDecision(uid, Route.REPLY, thread_id, own_id, ("answers a mail Jicket sent (References)",))
    return RouteDecision(uid, Route.NEW, own_id, own_id, ("no ticket id in header, subject or thread",))
