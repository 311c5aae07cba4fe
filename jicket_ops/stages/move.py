"""move: mails that are done go to the success folder, quarantined ones to the quarantine folder."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.keywords import DONE, QUARANTINE
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.domain.settings import Settings
from jicket_ops.domain.write_plan import WriteOutcome
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")


def move(settings: Settings, mailbox: Mailbox, request: RunRequest | None = None,
         done_in_run: tuple[str, int, list[int]] | None = None) -> dict:
    """Take done mails out of the inbox (not in rescan runs).

    With keywords: every mail marked ``$JicketDone`` goes to JICKET_FOLDER_SUCCESS and every mail marked
    ``$JicketQuarantine`` to JICKET_FOLDER_QUARANTINE, whichever run marked them. In folders mode the stages of
    this run say which mails are done (``done_in_run``: folder, UIDVALIDITY and UIDs, see ``done_uids``);
    quarantined mails were moved when they were quarantined, and whatever a failed run left in the inbox is
    taken up again by the next run.
    """
    request = request or RunRequest()
    if request.rescan:
        return {"moved": [], "skipped": "rescan runs move nothing"}
    uidvalidity = mailbox.select(settings.folder_inbox, readonly=request.dry_run)
    progress = Progress.detect(settings, mailbox)
    if progress.keywords:
        done = mailbox.search("UNDELETED", "KEYWORD", DONE)
    elif done_in_run and done_in_run[0] == settings.folder_inbox and done_in_run[1] == uidvalidity:
        done = sorted(set(done_in_run[2]) & set(mailbox.search("UNDELETED")))
    else:
        done = []
    if request.dry_run:
        log.info("dry run: %d mail(s) would move to %s", len(done), settings.folder_success)
        return {"moved": [], "would_move": done}
    mailbox.move(done, settings.folder_success)
    quarantined = mailbox.search("UNDELETED", "KEYWORD", QUARANTINE) if progress.keywords else []
    if quarantined:
        mailbox.ensure_folder(settings.folder_quarantine)
        mailbox.move(quarantined, settings.folder_quarantine)
        log.warning("moved %d mail(s) to %s: uids %s", len(quarantined), settings.folder_quarantine, quarantined)
    if done:
        log.info("moved %d mail(s) to %s: uids %s", len(done), settings.folder_success, done)
    return {"moved": done, "quarantined": quarantined}


def done_uids(fetched: dict | None, filtered: dict | None, routed: dict | None, written: dict | None,
              confirmed: dict | None) -> tuple[str, int, list[int]] | None:
    """(folder, UIDVALIDITY, UIDs) of the mails this run's stages finished, from their XCom values (pure).

    Filtered mails, Jicket's own mails, replies Jira has, and new tickets whose confirmation was sent, found
    already sent, or not due (machine mail). None when fetch left nothing to go by.
    """
    if not fetched:
        return None
    done = set((filtered or {}).get("filtered") or []) | set((routed or {}).get("own_mail") or [])
    done |= {int(r["uid"]) for r in (written or {}).get("results") or [] if WriteOutcome(r["action"]).answered_ticket}
    for key in ("sent", "already_sent", "not_answered"):
        done |= set((confirmed or {}).get(key) or [])
    return fetched["folder"], int(fetched["uidvalidity"]), sorted(done)
