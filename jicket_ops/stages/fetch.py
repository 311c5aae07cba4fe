"""fetch: list the mails this run handles, oldest first, with the headers routing needs (no bodies)."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.parsing import parse_headers
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import InboxMail, describe
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")


def fetch(settings: Settings, mailbox: Mailbox, request: RunRequest | None = None) -> dict:
    """Inbox mode: the mails not yet done. Rescan mode: every mail of the folder received in the interval
    (already imported or not: Jira's markers decide), except filtered ones.
    """
    request = request or RunRequest()
    folder = request.folder_for(settings.folder_inbox, settings.folder_success)
    mailbox.require_folder(settings.folder_success, "JICKET_FOLDER_SUCCESS")
    setting = "param folder" if request.folder else ("JICKET_FOLDER_SUCCESS" if request.rescan
                                                     else "JICKET_FOLDER_INBOX")
    uidvalidity = mailbox.select(folder, setting, readonly=request.dry_run)
    progress = Progress.detect(settings, mailbox)
    log.info("progress of %s is kept in %s (JICKET_IMAP_PROGRESS=%s; the server %s custom keywords there)", folder,
             "IMAP keywords" if progress.keywords else "folders, system flags and Jira's markers",
             settings.imap_progress, {True: "stores", False: "does not store", None: "was not asked about"}[
                 mailbox.keywords_allowed])
    waiting = mailbox.search("UNDELETED", *progress.waiting_criteria(request.rescan), *request.imap_criteria())
    limit = request.max_mails or settings.max_mails_per_run
    mails = []
    for fetched in mailbox.fetch_headers(waiting):
        if not request.wants(fetched.received):
            continue
        if len(mails) == limit:
            log.info("more mails wait in %s; this run takes the oldest %d", folder, limit)
            break
        headers = parse_headers(fetched.header)
        mails.append(InboxMail(fetched.uid, fetched.size, fetched.flags, headers))
        log.info("fetched %s from=%s subject=%r size=%d", describe(fetched.uid, headers), headers.from_address,
                 headers.subject[:200], fetched.size)
    log.info("%s run on %s (%s): %d mail(s)%s", request.mode, folder, request.describe_interval(), len(mails),
             " [dry run: nothing will be written]" if request.dry_run else "")
    return {"folder": folder, "uidvalidity": uidvalidity, "progress": progress.mode.value,
            "mails": [m.as_dict() for m in mails], "request": request.as_dict()}
