"""What becomes of mails that failed: a count on each mail, and quarantine after JICKET_POISON_AFTER runs."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.keywords import DONE, QUARANTINE, failed_keyword, failure_count
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.quarantine_report import quarantine_report
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import describe

log = logging.getLogger("jicket")


def record_failures(settings: Settings, mailbox: Mailbox, folder: str, failed: dict[int, str],
                    flags: dict[int, frozenset[str]], headers: dict[int, MailHeaders]) -> None:
    """Count a run's final failure on each mail (``$JicketFailedN``); quarantine it after JICKET_POISON_AFTER."""
    for uid, reason in failed.items():
        count = failure_count(flags.get(uid, frozenset())) + 1
        mailbox.add_keywords([uid], failed_keyword(count))
        if count >= settings.poison_after:
            quarantine(settings, mailbox, folder, uid, headers.get(uid),
                       f"failed in {count} runs (JICKET_POISON_AFTER={settings.poison_after}); last error: {reason}")
        else:
            log.warning("uid=%d failed in %d of %d allowed runs: %s", uid, count, settings.poison_after, reason)


def quarantine(settings: Settings, mailbox: Mailbox, folder: str, uid: int, headers: MailHeaders | None,
               reason: str) -> None:
    """Mark a mail for the quarantine folder and file a report with the reason beside it."""
    mailbox.add_keywords([uid], QUARANTINE)
    log.error("%s quarantined: %s", describe(uid, headers), reason)
    report = quarantine_report(uid=uid, mail_name=describe(uid, headers), folder=folder,
                               quarantine_folder=settings.folder_quarantine, ticket_address=settings.ticket_address,
                               headers=headers, reason=reason)
    mailbox.ensure_folder(settings.folder_quarantine)
    mailbox.append(settings.folder_quarantine, report, DONE)
    mailbox.select(folder)
