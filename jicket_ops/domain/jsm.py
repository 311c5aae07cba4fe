"""Jira Service Management mode: the decisions about people (who is the customer, who may read a comment).

In JSM mode (JICKET_JSM_SERVICE_DESK set) a new mail becomes a customer request raised on behalf of the
sender, Cc'd people become request participants, and a reply becomes a comment that is public (the
customer sees it in the portal and is notified) when it comes from the customer or a participant, and
internal when it comes from staff. Staff are the addresses of JICKET_JSM_STAFF_DOMAINS, plus anyone who is
neither the customer nor a participant (a stranger's reply is not shown to the customer unasked).
JICKET_JSM_STAFF_COMMENTS=public makes staff replies public as well (for desks where staff answer by mail).

Pure: the adapter (``adapters.jsm``) asks Jira who the customer and participants are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

STAFF_COMMENT_MODES = ("internal", "public")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].strip().lower()


def is_staff(address: str, staff_domains: Iterable[str], helpdesk: str = "") -> bool:
    """Whether a mail from ``address`` comes from staff: the helpdesk itself or a staff domain (or a subdomain)."""
    address = address.strip().lower()
    if helpdesk and address == helpdesk.strip().lower():
        return True
    domain = _domain(address)
    return any(domain == d or domain.endswith("." + d) for d in (s.strip().lower().lstrip("@") for s in staff_domains)
               if d)


@dataclass(frozen=True)
class CommentVisibility:
    """Whether a reply becomes a public comment, and why (logged)."""

    public: bool
    reason: str


def comment_visibility(sender: str, requester: str | None, participants: Iterable[str], *,
                       staff_domains: Iterable[str] = (), helpdesk: str = "",
                       staff_comments: str = "internal") -> CommentVisibility:
    """Public for the customer and the participants, internal for staff unless ``staff_comments`` is public.

    ``requester`` and ``participants`` are e-mail addresses as Jira reports them (None: unknown, e.g. a
    request raised by the service account, whose customer is then only named in the text).
    """
    sender = sender.strip().lower()
    staff_public = staff_comments == "public"
    if is_staff(sender, staff_domains, helpdesk):
        return CommentVisibility(staff_public, f"{sender} is staff (JICKET_JSM_STAFF_DOMAINS / helpdesk address)")
    if requester and sender == requester.strip().lower():
        return CommentVisibility(True, f"{sender} is the customer")
    if sender in {p.strip().lower() for p in participants}:
        return CommentVisibility(True, f"{sender} is a request participant")
    return CommentVisibility(staff_public, f"{sender} is neither the customer nor a participant: treated as staff")


def participants_to_add(cc: Iterable[str], *, sender: str, helpdesk: str,
                        staff_domains: Iterable[str] = ()) -> tuple[str, ...]:
    """The Cc'd addresses that become request participants: not the sender, not the helpdesk, not staff."""
    staff_domains = tuple(staff_domains)
    sender = sender.strip().lower()
    out = []
    for address in cc:
        address = address.strip().lower()
        if address and "@" in address and address != sender and not is_staff(address, staff_domains, helpdesk):
            out.append(address)
    return tuple(dict.fromkeys(out))


def service_account_note(sender: str, why: str) -> str:
    """The note on a request raised by the service account: who the customer really is, and why."""
    return f"raised by the service account for {sender}: {why}"
