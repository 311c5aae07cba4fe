"""Mail-loop protection: which mails Jicket must never answer (pure).

RFC 3834 asks automatic responders not to answer machine mail. Jicket still records such a mail where
it belongs (an issue or a comment); it only withholds the confirmation. Per-sender rate limits (the
confirmations and, when asked for, new tickets per hour) are counted from the helpdesk mailbox (Jicket's copies
of its confirmations) and from Jira, so they need no state of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from jicket_ops.domain.machine_mail import machine_signal
from jicket_ops.domain.parsing import MailHeaders


@dataclass(frozen=True)
class AnswerVerdict:
    answer: bool
    reason: str


def answer_verdict(headers: MailHeaders, ticket_address: str) -> AnswerVerdict:
    """Whether a confirmation may be sent in answer to this mail, and why not (``machine_mail`` lists the signals)."""
    signal = machine_signal(headers)
    if signal is not None:
        return AnswerVerdict(False, f"machine mail: {signal.reason}")
    sender = headers.from_address.lower()
    if not sender:
        return AnswerVerdict(False, "no sender address")
    if sender == ticket_address.lower():
        return AnswerVerdict(False, "sent from the helpdesk's own address")
    return AnswerVerdict(True, "a person's mail")


@dataclass(frozen=True)
class RateLimit:
    """Per-sender hourly limits (0 = unlimited).

    ``confirmations_per_hour`` (JICKET_LIMIT_CONFIRMATIONS_PER_HOUR, 20): automatic answers to one sender, the
    loop protection mature helpdesks apply by default; the mails themselves are all imported.
    ``new_per_hour`` (JICKET_LIMIT_NEW_PER_HOUR, off by default): new tickets one sender may open; mails over it
    are quarantined. Both count by each mail's own time (when it was received, or a confirmation sent), so a
    backlog spread over days is not one burst.
    """

    new_per_hour: int = 0
    confirmations_per_hour: int = 20


WINDOW = timedelta(hours=1)


def over_hourly_limit(times: list[datetime], limit: int, earlier: Sequence[datetime] = ()) -> list[int]:
    """Indexes of ``times`` over ``limit`` per sliding hour (pure).

    ``times``: when each of one sender's candidate mails arrived (any order); ``earlier``: times of what already
    counts (tickets opened, confirmations sent). A candidate is allowed when fewer than ``limit`` allowed or
    earlier events fall into the hour up to it; limited candidates do not count against later ones.
    """
    if limit <= 0:
        return []
    allowed: list[datetime] = sorted(earlier)
    limited: list[int] = []
    for index in sorted(range(len(times)), key=lambda i: times[i]):
        moment = times[index]
        in_window = sum(1 for t in allowed if moment - WINDOW < t <= moment)
        if in_window >= limit:
            limited.append(index)
        else:
            allowed.append(moment)
    return sorted(limited)


def received_at(headers: MailHeaders, fallback: datetime) -> datetime:
    """When a mail was received, as far as its header says (its Date), else ``fallback``; timezone-aware UTC."""
    try:
        moment = parsedate_to_datetime(headers.date) if headers.date else None
    except (TypeError, ValueError, IndexError):
        moment = None
    if moment is None:
        return fallback
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # A Date in the future (a wrong clock) must not let a burst escape the window: cap it at the fallback.
    return min(moment.astimezone(UTC), fallback)
