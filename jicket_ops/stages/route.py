"""route: decide new ticket, reply, or Jicket's own mail for each mail; own mails are marked done."""

from __future__ import annotations

import logging

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.domain.keywords import IMPORTED
from jicket_ops.domain.routing import Route, RouteDecision, route_mail
from jicket_ops.domain.settings import Settings
from jicket_ops.stages.common import InboxMail, describe, select_same, stage_request
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")


def route(settings: Settings, mailbox: Mailbox, filtered: dict) -> dict:
    """Route every mail Jira does not have yet; hand on the decisions that write to Jira and the mail keys."""
    request = stage_request(filtered)
    decisions: list[RouteDecision] = []
    for data in filtered["mails"]:
        mail = InboxMail.from_dict(data)
        if IMPORTED in mail.flags and not request.rescan:
            continue  # Jira has it already; only confirm and move are left
        decision = route_mail(mail.headers, uid=mail.uid, uidvalidity=filtered["uidvalidity"], ids=settings.ids,
                              ticket_address=settings.ticket_address, project=settings.jira_project,
                              secret=settings.mail_secret)
        ticket = settings.ids.prefixed(decision.ticket_id) if decision.ticket_id else None
        log.info("%s routed %s: %s", describe(mail.uid, mail.headers, ticket), decision.route,
                 "; ".join(decision.reasons))
        decisions.append(decision)
    own = [d.uid for d in decisions if d.route is Route.OWN_MAIL]
    if own and not request.dry_run and not request.rescan:
        select_same(mailbox, filtered)
        Progress.of_run(settings, mailbox, filtered).done(own)
    to_write = [d for d in decisions if d.writes_jira]
    keys = {m["uid"]: InboxMail.from_dict(m).headers.mail_key() for m in filtered["mails"]}
    return {"folder": filtered["folder"], "uidvalidity": filtered["uidvalidity"],
            "progress": filtered.get("progress"), "decisions": [d.as_dict() for d in to_write], "own_mail": own,
            "mail_keys": {str(d.uid): keys[d.uid] for d in to_write}, "request": filtered.get("request") or {}}
