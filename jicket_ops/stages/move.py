"""move: mails that are done go to the success folder, quarantined ones to the quarantine folder."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.keywords import DONE, QUARANTINE
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.domain.settings import Settings

log = logging.getLogger("jicket")


def move(settings: Settings, mailbox: Mailbox, request: RunRequest | None = None) -> dict:
    """Move every mail marked ``$JicketDone`` from the inbox to JICKET_FOLDER_SUCCESS and every mail marked
    ``$JicketQuarantine`` to JICKET_FOLDER_QUARANTINE (not in rescan runs)."""
    request = request or RunRequest()
    if request.rescan:
        return {"moved": [], "skipped": "rescan runs move nothing"}
    mailbox.select(settings.folder_inbox, readonly=request.dry_run)
    done = mailbox.search("UNDELETED", "KEYWORD", DONE)
    if request.dry_run:
        log.info("dry run: %d mail(s) would move to %s", len(done), settings.folder_success)
        return {"moved": [], "would_move": done}
    mailbox.move(done, settings.folder_success)
    quarantined = mailbox.search("UNDELETED", "KEYWORD", QUARANTINE)
    if quarantined:
        mailbox.ensure_folder(settings.folder_quarantine)
        mailbox.move(quarantined, settings.folder_quarantine)
        log.warning("moved %d mail(s) to %s: uids %s", len(quarantined), settings.folder_quarantine, quarantined)
    if done:
        log.info("moved %d mail(s) to %s: uids %s", len(done), settings.folder_success, done)
    return {"moved": done, "quarantined": quarantined}
