"""confirm: one confirmation per new ticket, to the customer and the helpdesk; the mail is then done.

With keywords it works from the mailbox: every mail marked imported but not done is a new ticket awaiting
its confirmation, whichever run imported it. In folders mode it confirms the new tickets this run's
write_to_jira reported (a ticket an earlier run created is reported again, as ``already_created``, while its
mail is in the inbox). A mail is marked before sending; a mail so marked, or created by an earlier run, is
sent only if Jicket's own copy of the confirmation (it goes to the helpdesk too) is in neither folder.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from functools import partial

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.imap_names import quote
from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.adapters.smtp import Mailer
from jicket_ops.domain.answer_policy import WINDOW, RateLimit, answer_verdict, over_hourly_limit
from jicket_ops.domain.keywords import DONE, IMPORTED
from jicket_ops.domain.parsing import MailHeaders, parse_headers
from jicket_ops.domain.rendering import ThreadTemplate, confirmation_mail, confirmation_recipients, recipients
from jicket_ops.domain.routing import sent_message_id, signed_by_jicket
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.domain.sender_key import UNPARSABLE, sender_key
from jicket_ops.domain.settings import Settings
from jicket_ops.domain.write_plan import WriteOutcome
from jicket_ops.errors import JicketError, MailProcessingError
from jicket_ops.stages.common import describe, failures_for_xcom, read_headers
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")

MailerFactory = Callable[[], Mailer]
Confirmation = Callable[[], EmailMessage]  # renders one confirmation mail


def confirm(settings: Settings, mailbox: Mailbox, jira: JiraWriter, mailer_factory: MailerFactory,
            request: RunRequest | None = None, final_attempt: bool = True, written: dict | None = None) -> dict:
    """Send the confirmation of every imported new ticket not yet confirmed (from any run).

    ``written`` (this run's write_to_jira result, when it succeeded) only spares the Jira lookup of the
    issues it has just written; mails it does not name are looked up. Rescan runs confirm nothing; a dry
    run reports. Sending uses up to JICKET_SMTP_CONCURRENCY SMTP sessions.
    """
    request = request or RunRequest()
    if request.rescan:
        return {"sent": [], "failed": {}, "skipped": "rescan runs send no confirmations"}
    uidvalidity = mailbox.select(settings.folder_inbox, readonly=request.dry_run)
    progress = Progress.detect(settings, mailbox)
    earlier_runs: set[int] = set()  # folders mode: new tickets an earlier run may have confirmed already
    if progress.keywords:
        waiting = mailbox.search("UNDELETED", "KEYWORD", IMPORTED, "UNKEYWORD", DONE)
    else:
        awaiting = awaiting_confirmation(written, settings.folder_inbox, uidvalidity)
        waiting = sorted(awaiting)
        earlier_runs = {uid for uid, outcome in awaiting.items() if outcome is WriteOutcome.ALREADY_CREATED}
    if request.dry_run:
        log.info("dry run: %d confirmation(s) would be sent (uids %s)", len(waiting), waiting)
        return {"sent": [], "would_send": waiting, "failed": {}}
    if not waiting:
        return {"sent": [], "failed": {}}

    fetched = {f.uid: f for f in mailbox.fetch_headers(waiting)}
    headers = read_headers(mailbox, list(fetched.values()))
    ticket_of = {uid: settings.ids.new_id(uidvalidity, uid) for uid in fetched}
    known = written_issues(written, settings.folder_inbox, uidvalidity, ticket_of)
    tickets = jira.find_tickets(sorted({ticket_of[uid] for uid in fetched if uid not in known}))
    template = ThreadTemplate.load(settings.thread_template.read_text(encoding="utf-8"))
    domain = settings.ticket_address.rsplit("@", 1)[1]
    failures: dict[int, str] = {}
    already: list[int] = []
    suppressed: list[int] = []  # machine mail: imported, never answered (RFC 3834)
    to_send: dict[int, tuple[str, Confirmation]] = {}
    for uid, item in sorted(fetched.items()):
        ticket_id = ticket_of[uid]
        name = describe(uid, headers[uid], settings.ids.prefixed(ticket_id))
        issue_key = known.get(uid)
        ticket = tickets.by_id.get(ticket_id)
        if issue_key is None and (ticket is None or not ticket.has_mail(headers[uid].mail_key())):
            # The mail changed UID since import (moved out and back): find its issue by its marker.
            found = jira.find_by_mail(headers[uid].mail_key())
            if found is None:
                failures[uid] = "marked imported, but Jira has no issue carrying this mail's marker"
                log.error("%s: %s", name, failures[uid])
                continue
            ticket_id, ticket = found
            name = describe(uid, headers[uid], settings.ids.prefixed(ticket_id))
        issue_key = issue_key or ticket.key
        maybe_sent = progress.may_be_confirmed(item.flags) or uid in earlier_runs
        if maybe_sent and _confirmation_exists(settings, mailbox, ticket_id, domain):
            already.append(uid)  # sent by an attempt that died before it could record it
            continue
        verdict = answer_verdict(headers[uid], settings.ticket_address)
        if not verdict.answer:
            log.info("%s: no confirmation: %s", name, verdict.reason)
            suppressed.append(uid)
            continue
        # Rendered by the sending sessions, each just before it sends it: rendering (CPU) overlaps the sending.
        to_send[uid] = (name, partial(confirmation_mail, headers=headers[uid], ids=settings.ids, ticket_id=ticket_id,
                                      ticket_address=settings.ticket_address, template=template,
                                      issue_key=issue_key, secret=settings.mail_secret,
                                      max_cc=settings.confirmation_max_cc))

    limited = _over_confirmation_limit(settings, mailbox, to_send, headers)
    for uid, reason in limited.items():
        log.warning("%s: no confirmation: %s", to_send.pop(uid)[0], reason)
    if already or suppressed or limited:
        mailbox.select(settings.folder_inbox)
        progress.done(already + suppressed + sorted(limited))
    sent: list[int] = []
    if to_send:
        progress.confirming(list(to_send))
        try:
            send_all(settings, mailer_factory, to_send, sent, failures)
        finally:
            progress.done(sent)
    if failures and final_attempt:
        progress.record_failures(settings.folder_inbox, failures, {uid: fetched[uid].flags for uid in failures},
                                 headers)
    if failures:
        raise MailProcessingError("confirm", failures)
    return {"sent": sent, "already_sent": already, "not_answered": suppressed, "rate_limited": sorted(limited),
            "failed": failures_for_xcom(failures)}


def _customer(headers: MailHeaders) -> str:
    """Who a confirmation answers (as ``confirmation_mail`` addresses it), as a normalised sender key."""
    to, _ = confirmation_recipients(headers, "", 0)
    return sender_key(to[0]) if to else UNPARSABLE


def _over_confirmation_limit(settings: Settings, mailbox: Mailbox, to_send: dict[int, tuple[str, Confirmation]],
                             headers: dict[int, MailHeaders]) -> dict[int, str]:
    """Confirmations over JICKET_LIMIT_CONFIRMATIONS_PER_HOUR to one customer: uid -> reason (loop protection).

    The mails are imported all the same; only the automatic answer is withheld.
    """
    limit = RateLimit(confirmations_per_hour=settings.limit_confirmations_per_hour).confirmations_per_hour
    if not limit or not to_send:
        return {}
    customers = {uid: _customer(headers[uid]) for uid in to_send}
    sent_lately = confirmations_sent_lately(settings, mailbox, set(customers.values()))
    now = datetime.now(UTC)
    limited: dict[int, str] = {}
    for customer in sorted(set(customers.values())):
        uids = sorted(uid for uid, who in customers.items() if who == customer)
        earlier = sent_lately.get(customer, [])
        for index in over_hourly_limit([now] * len(uids), limit, earlier):
            limited[uids[index]] = (f"rate limit: {customer} got {limit} confirmation(s) within the last hour "
                                    f"(JICKET_LIMIT_CONFIRMATIONS_PER_HOUR={limit}); the mail is imported")
    return limited


def confirmations_sent_lately(settings: Settings, mailbox: Mailbox, customers: set[str]) -> dict[str, list[datetime]]:
    """customer -> when Jicket's confirmations to them reached the helpdesk mailbox in the last hour.

    Counted from Jicket's own copies (every confirmation goes to the helpdesk too) in the inbox and the success
    folder, known by their signature: no state of Jicket's own, and a mail forged to look like a confirmation
    cannot use up a customer's allowance. A copy still on its way (sent seconds ago) is not counted yet.
    """
    since = (datetime.now(UTC) - timedelta(days=1)).strftime("%d-%b-%Y")  # SINCE has a day's resolution
    cutoff = datetime.now(UTC) - WINDOW
    found: dict[str, list[datetime]] = {}
    for folder, setting in ((settings.folder_inbox, "JICKET_FOLDER_INBOX"),
                            (settings.folder_success, "JICKET_FOLDER_SUCCESS")):
        mailbox.select(folder, setting, readonly=True)
        uids = mailbox.search("SINCE", since, "HEADER", "X-Jicket-Signature", '""')
        for item in mailbox.fetch_headers(uids) if uids else []:
            copy = parse_headers(item.header)
            if item.received is None or item.received <= cutoff or not signed_by_jicket(copy, settings.mail_secret):
                continue
            for key in {sender_key(address) for address in copy.to}:
                if key in customers:
                    found.setdefault(key, []).append(item.received)
    mailbox.select(settings.folder_inbox)
    return found


def awaiting_confirmation(written: dict | None, folder: str, uidvalidity: int) -> dict[int, WriteOutcome]:
    """uid -> outcome of the new tickets this run's write_to_jira reported for this folder (folders mode; pure)."""
    if not written or written.get("folder") != folder or written.get("uidvalidity") != uidvalidity:
        return {}
    outcomes = {int(r["uid"]): WriteOutcome(r["action"]) for r in written.get("results") or []}
    return {uid: outcome for uid, outcome in outcomes.items() if outcome.opened_ticket}


def written_issues(written: dict | None, folder: str, uidvalidity: int, ticket_of: dict[int, str]) -> dict[int, str]:
    """uid -> issue key of the new tickets this run's write_to_jira wrote or found with the mail's marker (pure).

    Only for the same folder and UIDVALIDITY, and only where the ticket id is the one the mail's UID gives.
    """
    if not written or written.get("folder") != folder or written.get("uidvalidity") != uidvalidity:
        return {}
    return {int(r["uid"]): r["issue_key"] for r in written.get("results") or []
            if r.get("action") in (WriteOutcome.CREATED, WriteOutcome.ALREADY_CREATED) and r.get("issue_key")
            and ticket_of.get(int(r["uid"])) == r.get("ticket_id")}


def send_all(settings: Settings, mailer_factory: MailerFactory, to_send: dict[int, tuple[str, Confirmation]],
             sent: list[int], failures: dict[int, str]) -> None:
    """Render and send the confirmations over up to JICKET_SMTP_CONCURRENCY sessions; fill ``sent`` and ``failures``.

    ``sent`` grows as mails go out, so the caller records them even when a session fails midway; a
    session that cannot be opened or breaks off raises after the other sessions have finished. A
    confirmation that cannot be rendered fails its mail only.
    """
    queue = list(to_send.items())
    lock = threading.Lock()

    def fail(uid: int, name: str, why: str) -> None:
        with lock:
            failures[uid] = why
        log.error("%s: %s", name, why)

    def worker() -> None:
        with mailer_factory() as mailer:
            while True:
                with lock:
                    if not queue:
                        return
                    uid, (name, render) = queue.pop(0)
                try:
                    message = render()
                except (JicketError, ValueError) as exc:
                    fail(uid, name, f"cannot build the confirmation: {exc}")
                    continue
                try:
                    refused = mailer.send(message, settings.ticket_address, recipients(message), name)
                except JicketError as exc:
                    fail(uid, name, str(exc))
                    continue
                with lock:
                    sent.append(uid)
                log.info("%s confirmation sent to %s", name, ", ".join(recipients(message)))
                if refused:
                    log.warning("%s: the SMTP server refused %s (the others got the confirmation)", name,
                                ", ".join(f"{addr} ({code})" for addr, (code, _) in sorted(refused.items())))

    sessions = max(1, min(settings.smtp_concurrency, len(queue)))
    if sessions == 1:
        worker()
        return
    with ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="smtp") as pool:
        futures = [pool.submit(worker) for _ in range(sessions)]
    sent.sort()
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]


def _confirmation_exists(settings: Settings, mailbox: Mailbox, ticket_id: str, domain: str) -> bool:
    """Whether our own copy of the confirmation reached the helpdesk mailbox (inbox or success folder)."""
    message_id = sent_message_id(settings.ids, ticket_id, "confirm", domain)
    for folder, setting in ((settings.folder_inbox, "JICKET_FOLDER_INBOX"),
                            (settings.folder_success, "JICKET_FOLDER_SUCCESS")):
        mailbox.select(folder, setting, readonly=True)
        if mailbox.search("HEADER", "Message-ID", quote(message_id)):
            return True
    mailbox.select(settings.folder_inbox)
    return False
