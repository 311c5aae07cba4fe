"""What writing one mail to Jira means, given what Jira already holds (pure).

Every write is planned from a fresh lookup of the ticket ids, issue keys and mail markers the mail refers
to, so a retried task, a re-run or a crash between two writes repeats nothing: a mail whose marker Jira
already holds is ``already_created`` / ``already_commented``, and only its unfinished uploads are left.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from jicket_ops.domain.routing import Route, RouteDecision
from jicket_ops.domain.tickets import Ticket, TicketLookup
from jicket_ops.errors import TicketIdCollisionError


class WriteAction(StrEnum):
    """What the write stage does with one mail."""

    CREATE = "create"  # a new issue of the mail's own
    COMMENT = "comment"  # a comment on the issue it belongs to
    ALREADY_CREATED = "already_created"  # an earlier attempt created it: finish its uploads
    ALREADY_COMMENTED = "already_commented"


class WriteOutcome(StrEnum):
    """What the write stage did with one mail (the ``action`` of each result in its XCom)."""

    CREATED = "created"
    COMMENTED = "commented"
    ALREADY_CREATED = "already_created"
    ALREADY_COMMENTED = "already_commented"
    PRESENT = "present"  # rescan: Jira held it already
    WOULD_CREATE = "would_create"  # dry runs
    WOULD_COMMENT = "would_comment"
    WOULD_ALREADY_CREATED = "would_already_created"
    WOULD_ALREADY_COMMENTED = "would_already_commented"

    @property
    def opened_ticket(self) -> bool:
        """The mail is a new ticket in Jira (it awaits a confirmation)."""
        return self in (WriteOutcome.CREATED, WriteOutcome.ALREADY_CREATED)

    @property
    def answered_ticket(self) -> bool:
        """The mail is a comment in Jira (nothing more to do for it)."""
        return self in (WriteOutcome.COMMENTED, WriteOutcome.ALREADY_COMMENTED)


@dataclass(frozen=True)
class WritePlan:
    action: WriteAction
    ticket_id: str
    ticket: Ticket | None  # the existing issue written to, None for a create


@dataclass(frozen=True)
class WriteResult:
    uid: int
    action: WriteOutcome
    ticket_id: str
    issue_key: str
    encrypted: bool = False  # the mail was encrypted: imported with its original, unread

    def as_dict(self) -> dict:
        return {"uid": self.uid, "action": self.action.value, "ticket_id": self.ticket_id, "issue_key": self.issue_key,
                **({"encrypted": True} if self.encrypted else {})}


def plan_write(decision: RouteDecision, tickets: TicketLookup, mail_key: str,
               resolved_policy: str = "reopen") -> WritePlan:
    """The write one mail needs.

    A new mail, a reply to a ticket Jira does not know, or a follow-up of a resolved issue under
    ``JICKET_RESOLVED_POLICY=new`` is a ``create`` (``follow_up_of`` names the resolved issue); a reply is a
    ``comment`` on the issue it belongs to (by ticket id, by issue key, or as the issue holding a mail it
    answers). Raises TicketIdCollisionError when the mail's own ticket id is taken by another issue.
    """
    own = tickets.by_id.get(decision.fallback_ticket_id)
    if own is not None and own.has_mail(mail_key):
        return WritePlan(WriteAction.ALREADY_CREATED, decision.fallback_ticket_id, own)
    held = tickets.by_mail.get(mail_key)  # Jira holds this very mail (its UID changed since: moved out and back)
    if held is not None:
        action = WriteAction.ALREADY_CREATED if held.opened_by(mail_key) else WriteAction.ALREADY_COMMENTED
        return WritePlan(action, held.ticket_id or "", held)
    target = target_issue(decision, tickets)
    if target is not None:
        ticket_id, ticket = target
        if ticket.has_mail(mail_key):
            return WritePlan(WriteAction.ALREADY_COMMENTED, ticket_id, ticket)
        if follow_up_of(decision, tickets, resolved_policy) is None:
            return WritePlan(WriteAction.COMMENT, ticket_id, ticket)
    if own is None:
        return WritePlan(WriteAction.CREATE, decision.fallback_ticket_id, None)
    raise TicketIdCollisionError(
        f"ticket id {decision.fallback_ticket_id} is already used by {own.key}, which was not created for this "
        "mail; check JICKET_ID_SALT / JICKET_ID_ALPHABET and whether another Jicket writes to this project")


def plans_create(decision: RouteDecision, tickets: TicketLookup, mail_key: str,
                 resolved_policy: str = "reopen") -> bool:
    """Whether the mail's write would create an issue (False when it cannot be planned at all)."""
    try:
        return plan_write(decision, tickets, mail_key, resolved_policy).action is WriteAction.CREATE
    except TicketIdCollisionError:
        return False


def target_issue(decision: RouteDecision, tickets: TicketLookup) -> tuple[str, Ticket] | None:
    """(ticket id, issue) of the existing issue a mail belongs to, if any."""
    if decision.route is not Route.NEW:
        if decision.ticket_id and decision.ticket_id in tickets.by_id:
            return decision.ticket_id, tickets.by_id[decision.ticket_id]
        ticket = tickets.by_key.get(decision.issue_key) if decision.issue_key else None
        if ticket is not None:
            return ticket.ticket_id or "", ticket
    for key in decision.thread_keys:  # it answers a mail Jira holds
        ticket = tickets.by_mail.get(key)
        if ticket is not None:
            return ticket.ticket_id or "", ticket
    return None


def follow_up_of(decision: RouteDecision, tickets: TicketLookup, resolved_policy: str) -> Ticket | None:
    """The resolved issue a person's reply follows up with a new issue (JICKET_RESOLVED_POLICY=new)."""
    if resolved_policy != "new" or decision.route in (Route.AUTO_REPLY, Route.BOUNCE):
        return None
    target = target_issue(decision, tickets)
    return target[1] if target is not None and target[1].resolved else None


def lookup_terms(decisions: list[RouteDecision],
                 own_mail_keys: list[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """(ticket ids, issue keys, mail keys) that one batched lookup must cover for these mails: the mails they
    answer, and ``own_mail_keys`` (the mails themselves, when nothing on the mailbox says whether Jira has them)."""
    wanted = {t for d in decisions for t in (d.ticket_id, d.fallback_ticket_id) if t}
    keys = {d.issue_key for d in decisions if d.issue_key and d.route is not Route.NEW}
    threads = {k for d in decisions for k in d.thread_keys} | set(own_mail_keys)
    return sorted(wanted), sorted(keys), sorted(threads)
