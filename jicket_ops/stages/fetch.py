"""fetch: list the mails this run handles, oldest first, with the headers routing needs (no bodies).

A rescan covers the whole folder, however large: it reads the folder in batches of JICKET_MAX_MAILS_PER_RUN
(or the run's ``max_mails``) headers, asks Jira which of each batch's mails it holds (by their markers), and hands
on only the mails Jira lacks, so memory and XCom stay bounded by one batch. Filtered mails and Jicket's own copies
are left out on the way: they never belong in Jira. When more mails are missing than one run takes, the run
imports the oldest of them and reports where it stopped; the next rescan finds those present and goes on.
"""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.domain.filters import evaluate
from jicket_ops.domain.routing import is_own_mail
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import InboxMail, describe, read_headers
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")


def fetch(settings: Settings, mailbox: Mailbox, request: RunRequest | None = None,
          jira: JiraWriter | None = None) -> dict:
    """Inbox mode: the mails not yet done. Rescan mode: of every mail of the folder received in the interval,
    those Jira lacks (its markers decide), except filtered ones and Jicket's own. ``jira``: the Jira a rescan
    asks (by default one from the settings' connection).
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
    if request.rescan:
        mails, report = rescan_missing(settings, mailbox, jira or _jira(settings), waiting, request, limit)
        log.info("rescan of %s (%s): %s", folder, request.describe_interval(), report)
        return {"folder": folder, "uidvalidity": uidvalidity, "progress": progress.mode.value,
                "mails": [m.as_dict() for m in mails], "request": request.as_dict(), "rescan": report}
    mails = []
    wanted = [item for item in mailbox.fetch_headers(waiting) if request.wants(item.received)]
    if len(wanted) > limit:
        log.info("more mails wait in %s; this run takes the oldest %d", folder, limit)
    parsed = read_headers(mailbox, wanted[:limit])
    for fetched in wanted[:limit]:
        headers = parsed[fetched.uid]
        mails.append(InboxMail(fetched.uid, fetched.size, fetched.flags, headers))
        log.info("fetched %s from=%s subject=%r size=%d", describe(fetched.uid, headers), headers.from_address,
                 headers.subject[:200], fetched.size)
    log.info("%s run on %s (%s): %d mail(s)%s", request.mode, folder, request.describe_interval(), len(mails),
             " [dry run: nothing will be written]" if request.dry_run else "")
    # Nothing waits, and nothing is left to confirm or move either (those mails are not listed): an idle run.
    idle = not mails and not request.dry_run and not mailbox.search("UNDELETED")
    if idle:
        log.info("the inbox is empty: nothing to do, the other tasks are skipped")
    return {"folder": folder, "uidvalidity": uidvalidity, "progress": progress.mode.value,
            "mails": [m.as_dict() for m in mails], "request": request.as_dict(), "idle": idle}


def _jira(settings: Settings) -> JiraWriter:
    """The Jira a rescan asks, from the settings' connection (the fetch task needs it only for a rescan)."""
    return JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type,
                      settings.jira_concurrency)


def rescan_missing(settings: Settings, mailbox: Mailbox, jira: JiraWriter, uids: list[int], request: RunRequest,
                   limit: int) -> tuple[list[InboxMail], dict]:
    """(the mails Jira lacks, at most ``limit``; a report of how far the rescan got), reading ``limit`` at a time.

    The report: ``total`` mails in the folder matching the search, ``checked`` of them (in UID order),
    ``present`` in Jira, ``skipped`` (outside the time range, filtered, Jicket's own), ``missing`` found,
    ``complete`` (every mail checked), ``next_uid`` (where the next rescan goes on, when not complete) and
    ``present_issues``, the keys of the issues holding the present mails (at most ``limit`` of them).
    """
    filters = settings.load_filters()
    report = {"total": len(uids), "checked": 0, "present": 0, "skipped": 0, "missing": 0, "batches": 0,
              "complete": True, "next_uid": None}
    missing: list[InboxMail] = []
    issues: list[str] = []
    for start in range(0, len(uids), limit):
        batch = uids[start:start + limit]
        report["batches"] += 1
        candidates: list[InboxMail] = []
        fetched_batch = mailbox.fetch_headers(batch)
        parsed = read_headers(mailbox, fetched_batch)
        for fetched in fetched_batch:
            headers = parsed[fetched.uid]
            if (not request.wants(fetched.received) or evaluate(filters, headers.from_address, headers.subject).filtered
                    or is_own_mail(headers, settings.ticket_address, settings.mail_secret)):
                continue
            candidates.append(InboxMail(fetched.uid, fetched.size, fetched.flags, headers))
        present = jira.find_markers([m.headers.mail_key() for m in candidates]) if candidates else {}
        stop_uid = None
        for mail in candidates:
            if mail.headers.mail_key() in present:
                continue
            if len(missing) == limit:  # this run is full: the next rescan goes on from this mail
                stop_uid = mail.uid
                break
            missing.append(mail)
            log.info("missing in Jira: %s from=%s subject=%r", describe(mail.uid, mail.headers),
                     mail.headers.from_address, mail.headers.subject[:200])
        done = set(batch if stop_uid is None else batch[:batch.index(stop_uid)])
        kept = {m.uid for m in candidates}
        report["checked"] += len(done)
        report["skipped"] += len(done - kept)
        report["present"] += sum(1 for m in candidates if m.uid in done and m.headers.mail_key() in present)
        for mail in candidates:  # the issues found, for the summary; at most one batch's worth (bounded XCom)
            issue = present.get(mail.headers.mail_key())
            if mail.uid in done and issue and issue not in issues and len(issues) < limit:
                issues.append(issue)
        if stop_uid is not None:
            report["complete"], report["next_uid"] = False, stop_uid
            break
    report["missing"] = len(missing)
    report["present_issues"] = issues
    return missing, report
