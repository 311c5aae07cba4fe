"""Recording each mail's progress on the mailbox, in the run's mode (``domain.progress_mode``).

Every stage says what happened to its mails through one ``Progress``; it stores keywords where the server
keeps them, and otherwise uses system flags, folders and the failure reports in the quarantine folder.
"""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.imap_names import quote
from jicket_ops.domain.keywords import (
    CONFIRMING,
    CREATING,
    DONE,
    FILTERED,
    IMPORTED,
    QUARANTINE,
    TRYING,
    TRYING_ALONE,
    failed_keyword,
    failure_count,
)
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.progress_mode import ProgressMode, choose_mode
from jicket_ops.domain.quarantine_report import FAILURE_HEADER, failure_report, quarantine_report
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import describe

log = logging.getLogger("jicket")

SEEN = "\\Seen"
ANSWERED = "\\Answered"


class Progress:
    """What the stages record on the mails of the selected folder, in keyword or folders mode."""

    def __init__(self, settings: Settings, mailbox: Mailbox, mode: ProgressMode) -> None:
        self.settings = settings
        self.mailbox = mailbox
        self.mode = mode

    @classmethod
    def detect(cls, settings: Settings, mailbox: Mailbox) -> Progress:
        """The mode of the folder just selected (JICKET_IMAP_PROGRESS, else what PERMANENTFLAGS allows)."""
        return cls(settings, mailbox, choose_mode(settings.imap_progress, mailbox.keywords_allowed))

    @classmethod
    def of_run(cls, settings: Settings, mailbox: Mailbox, stage_input: dict) -> Progress:
        """The mode fetch chose for this run (recorded in the XCom every later stage receives)."""
        return cls(settings, mailbox, ProgressMode(stage_input.get("progress") or ProgressMode.KEYWORDS))

    @property
    def keywords(self) -> bool:
        return self.mode is ProgressMode.KEYWORDS

    # -- what a run reads ------------------------------------------------------------------------------------
    def waiting_criteria(self, rescan: bool) -> list[str]:
        """SEARCH criteria of the mails a run takes up (besides UNDELETED and the time range)."""
        if not self.keywords:
            return []  # done mails have left the inbox; a rescan applies the filters again
        return ["UNKEYWORD", FILTERED] if rescan else ["UNKEYWORD", DONE, "UNKEYWORD", QUARANTINE]

    def imported(self, flags: frozenset[str]) -> bool:
        """Whether a mail is known to be in Jira without asking Jira (only keywords tell)."""
        return self.keywords and IMPORTED in flags

    def may_be_created(self, flags: frozenset[str]) -> bool:
        """Whether an earlier attempt may have sent this mail's create request."""
        return (CREATING if self.keywords else SEEN) in flags

    def may_be_confirmed(self, flags: frozenset[str]) -> bool:
        """Whether an earlier attempt may have sent this mail's confirmation (then look for our copy)."""
        return (CONFIRMING if self.keywords else ANSWERED) in flags

    def killed_by(self, flags: frozenset[str]) -> bool:
        """Whether a mail written on its own was still being written when its process died: it killed it."""
        return self.keywords and TRYING_ALONE in flags

    def suspect(self, flags: frozenset[str]) -> bool:
        """Whether a mail's batch was being written when its process died (one of them may have killed it)."""
        return self.keywords and TRYING in flags

    # -- what the stages record ------------------------------------------------------------------------------
    def trying(self, uids: list[int], alone: bool = False) -> None:
        """Record, before a mail is touched, that it is being written: a process killed meanwhile (out of
        memory, SIGKILL) leaves the mark, and the next attempt counts it (only keyword mode can)."""
        if self.keywords and uids:
            self.mailbox.add_keywords(uids, TRYING_ALONE if alone else TRYING)

    def tried(self, uids: list[int]) -> None:
        if self.keywords and uids:
            self.mailbox.remove_keywords(uids, TRYING, TRYING_ALONE)

    def filtered(self, uids: list[int]) -> None:
        if self.keywords:
            self.mailbox.add_keywords(uids, FILTERED, DONE)

    def creating(self, uids: list[int]) -> None:
        self.mailbox.add_keywords(uids, CREATING if self.keywords else SEEN)

    def written(self, new_uids: list[int], reply_uids: list[int], rescan: bool) -> None:
        """Jira has these mails: new tickets await their confirmation, replies are done."""
        if not self.keywords:
            return  # Jira's markers say it; the move task takes the replies out of the inbox
        if rescan:
            self.mailbox.add_keywords(new_uids + reply_uids, IMPORTED)  # never confirmed, never moved
        else:
            self.mailbox.add_keywords(new_uids, IMPORTED)
            self.mailbox.add_keywords(reply_uids, IMPORTED, DONE)

    def confirming(self, uids: list[int]) -> None:
        self.mailbox.add_keywords(uids, CONFIRMING if self.keywords else ANSWERED)

    def done(self, uids: list[int]) -> None:
        """Nothing is left to do for these mails (in folders mode the move task moves them)."""
        if self.keywords:
            self.mailbox.add_keywords(uids, DONE)

    # -- failures and quarantine -----------------------------------------------------------------------------
    def record_failures(self, folder: str, failed: dict[int, str], flags: dict[int, frozenset[str]],
                        headers: dict[int, MailHeaders]) -> None:
        """Count a run's final failure on each mail; quarantine it after JICKET_POISON_AFTER runs."""
        limit = self.settings.poison_after
        for uid, reason in failed.items():
            count = self._failures_so_far(folder, flags.get(uid, frozenset()), headers.get(uid)) + 1
            if count >= limit:
                self.quarantine(folder, uid, headers.get(uid),
                                f"failed in {count} runs (JICKET_POISON_AFTER={limit}); last error: {reason}")
                continue
            self._record_failure(folder, uid, count, headers.get(uid), reason)
            log.warning("uid=%d failed in %d of %d allowed runs: %s", uid, count, limit, reason)

    def quarantine(self, folder: str, uid: int, headers: MailHeaders | None, reason: str) -> None:
        """Take a mail out of the way and file a report with the reason in the quarantine folder."""
        log.error("%s quarantined: %s", describe(uid, headers), reason)
        report = quarantine_report(uid=uid, mail_name=describe(uid, headers), folder=folder,
                                   quarantine_folder=self.settings.folder_quarantine,
                                   ticket_address=self.settings.ticket_address, headers=headers, reason=reason)
        self.mailbox.ensure_folder(self.settings.folder_quarantine)
        if self.keywords:
            self.mailbox.add_keywords([uid], QUARANTINE)  # the move task takes it there
            self.mailbox.append(self.settings.folder_quarantine, report, DONE)
        else:
            self.mailbox.append(self.settings.folder_quarantine, report, SEEN)
            self.mailbox.select(folder)
            self.mailbox.move([uid], self.settings.folder_quarantine)
        self.mailbox.select(folder)

    def _failures_so_far(self, folder: str, flags: frozenset[str], headers: MailHeaders | None) -> int:
        if self.keywords:
            return failure_count(flags)
        if headers is None:
            return 0
        self.mailbox.ensure_folder(self.settings.folder_quarantine)
        self.mailbox.select(self.settings.folder_quarantine, "JICKET_FOLDER_QUARANTINE", readonly=True)
        try:
            return len(self.mailbox.search("HEADER", FAILURE_HEADER, quote(headers.mail_key())))
        finally:
            self.mailbox.select(folder)

    def _record_failure(self, folder: str, uid: int, count: int, headers: MailHeaders | None, reason: str) -> None:
        if self.keywords:
            self.mailbox.add_keywords([uid], failed_keyword(count))
            return
        if headers is None:
            return  # nothing to count it by; the mail is retried until it succeeds or a person moves it
        self.mailbox.ensure_folder(self.settings.folder_quarantine)
        report = failure_report(uid=uid, mail_name=describe(uid, headers), count=count,
                                limit=self.settings.poison_after, ticket_address=self.settings.ticket_address,
                                headers=headers, reason=reason)
        self.mailbox.append(self.settings.folder_quarantine, report, SEEN)
        self.mailbox.select(folder)
