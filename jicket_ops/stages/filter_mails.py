"""filter_mails: apply JICKET_FILTER_CONFIG; blacklisted mails are marked filtered and done."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.filters import FilterConfig, FilterVerdict, evaluate
from jicket_ops.domain.keywords import IMPORTED
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import InboxMail, describe, select_same, stage_request
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")


def filter_mails(settings: Settings, mailbox: Mailbox, fetched: dict) -> dict:
    """Record blacklisted mails as filtered and done; pass the others on."""
    mails = [InboxMail.from_dict(m) for m in fetched["mails"]]
    verdicts = decide_filters(settings.load_filters(), mails)
    dropped = [uid for uid, verdict in verdicts.items() if verdict.filtered]
    for mail in mails:
        verdict = verdicts.get(mail.uid)
        if verdict and verdict.reasons:
            log.info("%s %s: %s", describe(mail.uid, mail.headers), "filtered" if verdict.filtered else "kept",
                     "; ".join(verdict.reasons))
    request = stage_request(fetched)
    if dropped and not request.dry_run and not request.rescan:
        select_same(mailbox, fetched)
        Progress.of_run(settings, mailbox, fetched).filtered(dropped)
    kept = [m.as_dict() for m in mails if m.uid not in dropped]
    return {**fetched, "mails": kept, "filtered": sorted(dropped)}


def decide_filters(config: FilterConfig, mails: list[InboxMail]) -> dict[int, FilterVerdict]:
    """The filter verdict of every mail not yet imported (pure)."""
    return {mail.uid: evaluate(config, mail.headers.from_address, mail.headers.subject)
            for mail in mails if IMPORTED not in mail.flags}
