"""Mail-loop protection: which mails Jicket must never answer (pure).

RFC 3834 asks automatic responders not to answer machine mail. Jicket still records such a mail where
it belongs (an issue or a comment); it only withholds the confirmation. Per-sender rate limits (new
tickets and confirmations per hour) are counted from Jira, so they need no state of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

from jicket_ops.domain.parsing import MailHeaders

_BULK_PRECEDENCE = {"bulk", "junk", "list", "auto_reply"}
_DAEMON_LOCALPARTS = {"mailer-daemon", "postmaster", "noreply", "no-reply", "donotreply", "do-not-reply"}


@dataclass(frozen=True)
class AnswerVerdict:
    answer: bool
    reason: str


def answer_verdict(headers: MailHeaders, ticket_address: str) -> AnswerVerdict:
    """Whether a confirmation may be sent in answer to this mail, and why not."""
    auto = (headers.auto_submitted or "").strip().lower()
    if auto and not auto.startswith("no"):
        return AnswerVerdict(False, f"Auto-Submitted: {auto} (RFC 3834)")
    precedence = (headers.precedence or "").strip().lower()
    if precedence in _BULK_PRECEDENCE:
        return AnswerVerdict(False, f"Precedence: {precedence}")
    if headers.list_id:
        return AnswerVerdict(False, "mailing-list mail (List-Id)")
    suppress = (headers.auto_response_suppress or "").lower()
    if any(word in suppress for word in ("all", "autoreply", "oof")):
        return AnswerVerdict(False, f"X-Auto-Response-Suppress: {headers.auto_response_suppress}")
    if headers.return_path is not None and headers.return_path.strip() in ("<>", ""):
        return AnswerVerdict(False, "empty return path (a bounce or other delivery report)")
    sender = headers.from_address.lower()
    if not sender:
        return AnswerVerdict(False, "no sender address")
    local = sender.split("@", 1)[0]
    if local in _DAEMON_LOCALPARTS or local.startswith("mailer-daemon"):
        return AnswerVerdict(False, f"sent by {sender}, a mail system address")
    if sender == ticket_address.lower():
        return AnswerVerdict(False, "sent from the helpdesk's own address")
    return AnswerVerdict(True, "a person's mail")


@dataclass(frozen=True)
class RateLimit:
    """JICKET_LIMIT_NEW_PER_HOUR: new tickets one sender may open per hour (0 = unlimited)."""

    new_per_hour: int = 20
