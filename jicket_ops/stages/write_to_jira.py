"""write_to_jira: one issue per new ticket and one comment per reply, exactly once; mark them imported.

A retried task, a re-run or a crash at any point repeats no write: every mail is planned from a fresh
lookup of what Jira holds (``domain.write_plan``), a mail whose create may already have reached Jira is
marked so before the request (``stages.progress``), and a mail is recorded as imported only once Jira has
it. In rescan mode every mail is first looked up by its marker and only the missing ones are written; a dry
run only reports its plan.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.jira import IssueDraft, JiraWriter
from jicket_ops.adapters.jsm import JsmWriter, set_fields
from jicket_ops.domain.answer_policy import WINDOW, RateLimit, over_hourly_limit, received_at
from jicket_ops.domain.content import ContentOptions, MailContent, mail_content
from jicket_ops.domain.parsing import MailHeaders, ParsedMail, parse_mail
from jicket_ops.domain.priority import mail_priority
from jicket_ops.domain.rendering import comment_body, issue_description, issue_summary, single_line
from jicket_ops.domain.routing import Route, RouteDecision, resolve_bounce
from jicket_ops.domain.sender_key import UNPARSABLE, sender_of
from jicket_ops.domain.settings import Settings
from jicket_ops.domain.tickets import Ticket, TicketLookup
from jicket_ops.domain.wiki_markup import escape_line
from jicket_ops.domain.write_plan import (
    WriteAction,
    WriteOutcome,
    WriteResult,
    follow_up_of,
    lookup_terms,
    plan_write,
    plans_create,
)
from jicket_ops.errors import JicketError, JiraError, MailProcessingError
from jicket_ops.stages.common import failures_for_xcom, select_same, stage_request
from jicket_ops.stages.progress import Progress

log = logging.getLogger("jicket")

# Bodies fetched per IMAP command, at most (one mail may exceed it). The next batch is fetched while the
# previous one is written, so about two batches are in memory at a time -- except beside a big mail.
BODY_BATCH_BYTES = 16 * 1024 * 1024
BODY_BATCH_MAILS = 50
# Parsing a mail takes several times its size in memory for a moment: mails larger than this are written
# one at a time (the small ones keep every Jira thread busy meanwhile).
BIG_MAIL_BYTES = 8 * 1024 * 1024


def write_to_jira(settings: Settings, mailbox: Mailbox, jira: JiraWriter, routed: dict, sizes: dict[int, int],
                  headers: dict[int, MailHeaders] | None = None, final_attempt: bool = True) -> dict:
    """Write every routed mail that Jira lacks; record progress on the mails even when some fail."""
    request = stage_request(routed)
    decisions = {d["uid"]: RouteDecision.from_dict(d) for d in routed["decisions"]}
    mail_keys = {int(uid): key for uid, key in (routed.get("mail_keys") or {}).items()}
    headers = headers or {}
    if not decisions:
        return {"results": [], "failed": {}, "request": request.as_dict()}
    select_same(mailbox, routed)
    progress = Progress.of_run(settings, mailbox, routed)
    # A retry must not redo what an earlier attempt finished.
    flags = mailbox.fetch_flags(decisions)
    gone = sorted(set(decisions) - set(flags))
    if gone:
        log.warning("uids %s left %s since fetch (moved by someone else); skipped", gone, routed["folder"])
    pending = [uid for uid in sorted(decisions)
               if uid in flags and (request.rescan or not progress.imported(flags[uid]))]
    results: list[WriteResult] = []
    if request.rescan:
        pending = _skip_present(jira, pending, mail_keys, results, request.dry_run)

    # Without keywords nothing on a mail says Jira has it: look each mail's own marker up too.
    own_keys = [] if progress.keywords else [mail_keys[uid] for uid in pending]
    tickets = lookup_tickets(jira, [decisions[uid] for uid in pending], own_keys)
    limited = {} if request.rescan else _over_rate_limit(settings, jira, pending, decisions, tickets, mail_keys,
                                                          headers)
    pending = [uid for uid in pending if uid not in limited]
    if request.dry_run:
        return _dry_run(settings, jira, pending, decisions, tickets, mail_keys, results, request.as_dict())
    if not request.rescan:
        uncertain = [uid for uid in pending if progress.may_be_created(flags[uid])]
        tickets = _settle_uncertain_creates(settings, jira, uncertain, decisions, tickets, mail_keys)
        policy = settings.resolved_policy
        creating = [uid for uid in pending if plans_create(decisions[uid], tickets, mail_keys[uid], policy)]
        progress.creating(creating)  # "a create may have reached Jira", for the next attempt

    # A mail that killed the process writing it alone is not written again: it fails (counted once per run, on
    # the task's final attempt) until it is quarantined. The mails of a batch that was being written when a
    # process died are written one at a time, to find the one that killed it.
    killed = {uid: "the process writing this mail on its own died (killed, or out of memory)"
              for uid in pending if progress.killed_by(flags[uid])}
    pending = [uid for uid in pending if uid not in killed]
    suspects = [uid for uid in pending if progress.suspect(flags[uid])]
    # A mail an earlier attempt may have created is created on its own: should its create keep failing, it fails
    # alone and not the bulk request of the mails around it.
    alone = {*suspects, *(uid for uid in pending if progress.may_be_created(flags[uid]))}
    failures: dict[int, str] = {}
    try:
        _write_all(settings, mailbox, jira, pending, suspects, alone, decisions, tickets, sizes, progress, results,
                   failures)
    finally:
        # Record progress even when a later mail failed; replies need nothing more.
        progress.written([r.uid for r in results if r.action.opened_ticket],
                         [r.uid for r in results if r.action.answered_ticket], request.rescan)
        if not request.rescan:
            for uid, reason in limited.items():
                progress.quarantine(routed["folder"], uid, headers.get(uid), reason)
            if final_attempt:
                progress.record_failures(routed["folder"], {**failures, **killed}, flags, headers)
    summary = {"results": [r.as_dict() for r in results], "failed": failures_for_xcom({**failures, **killed}),
               "jira_requests": jira.requests, "rate_limited": sorted(limited), "request": request.as_dict(),
               "folder": routed["folder"], "uidvalidity": routed["uidvalidity"]}
    if failures or killed:
        # The other mails' results still go to confirm and move (folders mode works from them).
        raise MailProcessingError("write_to_jira", {**failures, **killed}, partial=summary)
    return summary


def lookup_tickets(jira: JiraWriter, decisions: list[RouteDecision], own_mail_keys: list[str] = ()) -> TicketLookup:
    """One batched lookup of everything the mails refer to: ticket ids, issue keys, answered mails."""
    ticket_ids, issue_keys, thread_keys = lookup_terms(decisions, own_mail_keys)
    return jira.find_tickets(ticket_ids, issue_keys=issue_keys, mail_keys=thread_keys)


def _skip_present(jira: JiraWriter, pending: list[int], mail_keys: dict[int, str], results: list[WriteResult],
                  dry_run: bool) -> list[int]:
    """Rescan: the mails whose marker Jira lacks; the others are reported as present."""
    present = jira.find_markers([mail_keys[uid] for uid in pending])
    for uid in pending:
        if mail_keys[uid] in present:
            results.append(WriteResult(uid, WriteOutcome.PRESENT, "", present[mail_keys[uid]]))
    missing = [uid for uid in pending if mail_keys[uid] not in present]
    log.info("rescan: %d mail(s) already in Jira, %d missing%s", len(results), len(missing),
             "" if dry_run else " (importing them now)")
    return missing


def _dry_run(settings: Settings, jira: JiraWriter, pending: list[int], decisions: dict[int, RouteDecision],
             tickets: TicketLookup, mail_keys: dict[int, str], results: list[WriteResult], request: dict) -> dict:
    """Report what each mail would need, writing nothing."""
    failures: dict[int, str] = {}
    for uid in pending:
        try:
            plan = plan_write(decisions[uid], tickets, mail_keys[uid], settings.resolved_policy)
        except JicketError as exc:
            failures[uid] = str(exc)
            continue
        results.append(WriteResult(uid, WriteOutcome(f"would_{plan.action.value}"), plan.ticket_id,
                                   plan.ticket.key if plan.ticket else ""))
        log.info("uid=%d dry run: would %s (ticket %s)", uid, plan.action, settings.ids.prefixed(plan.ticket_id))
    return {"results": [r.as_dict() for r in results], "failed": failures_for_xcom(failures),
            "jira_requests": jira.requests, "request": request}


def _settle_uncertain_creates(settings: Settings, jira: JiraWriter, maybe_created: list[int],
                              decisions: dict[int, RouteDecision], tickets: TicketLookup,
                              mail_keys: dict[int, str]) -> TicketLookup:
    """Give an eventually consistent search time to show an issue an earlier attempt may have created.

    A mail whose create may have reached Jira but whose issue the search does not show yet may have been
    created by an attempt whose response was lost. Jira Cloud's search can lag behind a write, so before creating again
    the lookup is repeated for up to JICKET_JIRA_SEARCH_SETTLE seconds (default 30 on Cloud, 0 on DC).
    """
    uncertain = [uid for uid in maybe_created
                 if plans_create(decisions[uid], tickets, mail_keys[uid], settings.resolved_policy)]
    settle = settings.jira_search_settle if settings.jira_search_settle is not None else (
        30.0 if uncertain and jira.cloud else 0.0)
    if not uncertain or settle <= 0:
        return tickets
    deadline = time.monotonic() + settle
    while uncertain and time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        tickets = tickets.merged(lookup_tickets(jira, [decisions[uid] for uid in uncertain]))
        uncertain = [uid for uid in uncertain
                     if plans_create(decisions[uid], tickets, mail_keys[uid], settings.resolved_policy)]
    if uncertain:
        log.warning("uids %s: no issue became searchable within %.0f s after an earlier attempt; creating them",
                    uncertain, settle)
    return tickets


def _over_rate_limit(settings: Settings, jira: JiraWriter, pending: list[int], decisions: dict[int, RouteDecision],
                     tickets: TicketLookup, mail_keys: dict[int, str],
                     headers: dict[int, MailHeaders]) -> dict[int, str]:
    """New tickets over JICKET_LIMIT_NEW_PER_HOUR per sender (off by default): uid -> reason.

    Each mail counts at its own receive time (its Date), so a backlog received over days is not one burst;
    the tickets Jira shows the sender opened in the last hour count against mails received in that hour.
    """
    limit = RateLimit(new_per_hour=settings.limit_new_per_hour)
    if not limit.new_per_hour:
        return {}
    creating: dict[str, list[int]] = {}
    for uid in pending:
        sender = sender_of(headers[uid]) if uid in headers else UNPARSABLE
        if plans_create(decisions[uid], tickets, mail_keys[uid], settings.resolved_policy):
            creating.setdefault(sender, []).append(uid)
    if not creating:
        return {}
    recent = jira.count_recent_tickets(sorted(creating))
    now = datetime.now(UTC)
    # Jira says how many, not when: place them at the start of the last hour, where each counts for every
    # mail received in that hour and for none received earlier.
    opened_lately = now - WINDOW + timedelta(microseconds=1)
    limited: dict[int, str] = {}
    for sender, uids in creating.items():
        times = [received_at(headers[uid], now) for uid in uids]
        over = over_hourly_limit(times, limit.new_per_hour, [opened_lately] * recent.get(sender, 0))
        for index in over:
            limited[uids[index]] = (
                f"rate limit: {sender} opened more than {limit.new_per_hour} ticket(s) within an hour of "
                f"{times[index]:%Y-%m-%d %H:%M} UTC (JICKET_LIMIT_NEW_PER_HOUR={limit.new_per_hour}; "
                f"{recent.get(sender, 0)} in Jira from the last hour)")
    if limited:
        log.warning("%d new ticket(s) over JICKET_LIMIT_NEW_PER_HOUR=%d go to %s", len(limited), limit.new_per_hour,
                    settings.folder_quarantine)
    return limited


# -- writing the mails ---------------------------------------------------------------------------------------
def _write_all(settings: Settings, mailbox: Mailbox, jira: JiraWriter, pending: list[int], suspects: list[int],
               alone: set[int], decisions: dict[int, RouteDecision], tickets: TicketLookup, sizes: dict[int, int],
               progress: Progress, results: list[WriteResult], failures: dict[int, str]) -> None:
    """Fetch the bodies a batch at a time and write the mails over JICKET_JIRA_CONCURRENCY threads.

    Whatever goes wrong with one mail is recorded against that mail; the others are written. Each batch is
    marked as being written before its bodies are fetched, and the mark is cleared once it is written;
    ``suspects`` (mails whose batch was being written when a process died) are written first, one at a time.
    A batch's new issues are created together with Jira's bulk create, except those of the mails ``alone``.
    """
    big_mail = threading.Lock()

    def write(uid: int, raw: bytes) -> WriteResult | NewIssue:
        bulk = uid not in alone
        if max(sizes.get(uid, 0), len(raw)) <= BIG_MAIL_BYTES:
            return write_mail(settings, jira, decisions[uid], raw, tickets, draft_creates=bulk)
        with big_mail:
            return write_mail(settings, jira, decisions[uid], raw, tickets, draft_creates=bulk)

    def failed(uid: int, exc: Exception) -> None:
        failures[uid] = f"{type(exc).__name__}: {exc}" if not isinstance(exc, JicketError) else str(exc)
        log.error("uid=%d: %s", uid, failures[uid])

    def written(result: WriteResult) -> None:
        results.append(result)
        log.info("uid=%d %s %s (ticket %s)", result.uid, result.action, result.issue_key,
                 settings.ids.prefixed(result.ticket_id))

    def collect(batch: list[int], futures: dict[int, Future]) -> list[tuple[NewIssue, Future]]:
        """Take a batch's results, create its new issues; their completions (uploads, links) are left running."""
        new_issues: list[NewIssue] = []
        for uid in batch:
            if uid not in futures:
                failures[uid] = "the server returned no body"
                continue
            try:
                result = futures[uid].result()
            except Exception as exc:  # noqa: BLE001 - a failure while writing one mail stays with that mail
                failed(uid, exc)
                continue
            if isinstance(result, NewIssue):
                new_issues.append(result)
            else:
                written(result)
        return _create_together(settings, jira, pool, new_issues, failed) if new_issues else []

    def settle(batch: list[int], completing: list[tuple[NewIssue, Future]]) -> None:
        """Wait for a batch's completions; then it is written (its $JicketTrying mark goes)."""
        for new, future in completing:
            try:
                written(future.result())
            except Exception as exc:  # noqa: BLE001 - a failure while completing one issue stays with that mail
                failed(new.decision.uid, exc)
        progress.tried(batch)

    with ThreadPoolExecutor(max_workers=settings.jira_concurrency, thread_name_prefix="jira") as pool:
        for uid in suspects:
            progress.trying([uid], alone=True)
            bodies = dict(mailbox.fetch_raw([uid]))
            settle([uid], collect([uid], {uid: pool.submit(write, uid, bodies[uid])} if uid in bodies else {}))
        # Three batches overlap: this one's bodies are fetched while the previous one is written and the one
        # before completes its new issues (uploads), so the threads never wait for the next batch.
        def hand_on(written_batch: tuple[list[int], dict[int, Future]],
                    earlier: tuple[list[int], list[tuple[NewIssue, Future]]] | None,
                    ) -> tuple[list[int], list[tuple[NewIssue, Future]]]:
            """Collect a written batch (its new issues created), settle the one before: the returned batch is
            still completing."""
            collected = (written_batch[0], collect(*written_batch))
            if earlier is not None:
                settle(*earlier)
            return collected

        in_flight: tuple[list[int], dict[int, Future]] | None = None
        completing: tuple[list[int], list[tuple[NewIssue, Future]]] | None = None
        for batch in body_batches([uid for uid in pending if uid not in suspects], sizes):
            # Unless the previous batch holds a big mail: parsing it takes several times its size, so it is
            # written to the end before anything else is fetched.
            if in_flight is not None and any(sizes.get(uid, 0) > BIG_MAIL_BYTES for uid in in_flight[0]):
                settle(*hand_on(in_flight, completing))
                in_flight = completing = None
            progress.trying(batch)
            bodies = dict(mailbox.fetch_raw(batch))
            futures = {uid: pool.submit(write, uid, bodies[uid]) for uid in batch if uid in bodies}
            del bodies
            if in_flight is not None:
                completing = hand_on(in_flight, completing)
            in_flight = (batch, futures)
        if in_flight is not None:  # (no batch at all leaves nothing completing either)
            settle(*hand_on(in_flight, completing))


def _create_together(settings: Settings, jira: JiraWriter, pool: ThreadPoolExecutor, new_issues: list[NewIssue],
                     failed: Callable[[int, Exception], None]) -> list[tuple[NewIssue, Future]]:
    """Create a batch's new issues with one bulk request (per 50); their completions, submitted to the pool.

    Every one of these mails was marked as possibly created before (``Progress.creating``): should the request
    fail as a whole, the next attempt looks each of them up and creates only what Jira lacks, one at a time.
    """
    try:
        keys = jira.create_issues([new.draft for new in new_issues])
    except Exception as exc:  # noqa: BLE001 - the request failed: each of its mails fails, the others go on
        for new in new_issues:
            failed(new.decision.uid, exc)
        return []
    completing: list[tuple[NewIssue, Future]] = []
    for new, key in zip(new_issues, keys, strict=True):
        if isinstance(key, Exception):
            failed(new.decision.uid, key)
        else:
            completing.append((new, pool.submit(_complete_issue, settings, jira, new, key)))
    return completing


def body_batches(uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
    """UIDs in fetch batches of at most BODY_BATCH_MAILS mails and BODY_BATCH_BYTES (one mail may exceed it)."""
    batches: list[list[int]] = []
    current: list[int] = []
    current_bytes = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if current and (current_bytes + size > BODY_BATCH_BYTES or len(current) >= BODY_BATCH_MAILS):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(uid)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def write_mail(settings: Settings, jira: JiraWriter, decision: RouteDecision, raw: bytes,
               tickets: TicketLookup, *, draft_creates: bool = False) -> WriteResult | NewIssue:
    """Write one mail as its plan says: a comment, a new issue, or the rest of an earlier attempt's work.

    ``draft_creates``: a new issue is not created here but returned as a NewIssue, for a bulk create.
    """
    mail = parse_mail(raw)
    bounced = resolve_bounce(decision, mail, settings.ids)
    if bounced.ticket_id != decision.ticket_id and bounced.ticket_id not in tickets.by_id:
        tickets = tickets.merged(jira.find_tickets([bounced.ticket_id]))
    decision = bounced
    plan = plan_write(decision, tickets, mail.headers.mail_key(), settings.resolved_policy)
    if plan.action in (WriteAction.COMMENT, WriteAction.ALREADY_COMMENTED):
        result = _write_comment(settings, jira, decision, mail, plan.action, plan.ticket_id, plan.ticket)
    else:
        previous = follow_up_of(decision, tickets, settings.resolved_policy)
        if plan.action is WriteAction.CREATE:
            new = _new_issue(settings, jira, decision, mail, plan.ticket_id, previous)
            if draft_creates and not isinstance(jira, JsmWriter):
                return new
            result = _complete_issue(settings, jira, new, _new_ticket(jira, new))
        else:
            result = _finish_created(settings, jira, decision, mail, plan.ticket_id, plan.ticket, previous)
    return replace(result, encrypted=True) if mail.encryption else result


def _write_comment(settings: Settings, jira: JiraWriter, decision: RouteDecision, mail: ParsedMail,
                   action: WriteAction, ticket_id: str, ticket: Ticket) -> WriteResult:
    headers = mail.headers
    options = ContentOptions.from_settings(settings)
    with jira.issue_lock(ticket.key):
        if action is WriteAction.COMMENT:
            claimed = jira.claimed_names(ticket.key)
            content = mail_content(mail, options=options, as_comment=True, kind=decision.kind,
                                   taken_names=(*ticket.attachment_names, *sorted(claimed)))
            claimed.update(content.upload_names)
            _add_reply(jira, ticket.key, comment_body(headers, content.body, content.notes,
                                                      attachments=content.upload_names, kind=decision.kind), headers)
            _upload(jira, ticket.key, content, headers)
        else:
            _resume_uploads(jira, ticket, mail, options, as_comment=True, kind=decision.kind)
        if settings.resolved_policy == "reopen" and decision.route is Route.REPLY and ticket.resolved:
            _reopen(jira, ticket)
    _add_watchers(settings, jira, ticket.key, headers)
    outcome = WriteOutcome.COMMENTED if action is WriteAction.COMMENT else WriteOutcome.ALREADY_COMMENTED
    return WriteResult(decision.uid, outcome, ticket_id, ticket.key)


@dataclass(frozen=True)
class NewIssue:
    """A new issue for one mail, ready to be created: its text, and what follows the create."""

    decision: RouteDecision
    ticket_id: str
    draft: IssueDraft
    headers: MailHeaders
    content: MailContent
    fields: dict
    previous: Ticket | None
    encrypted: bool


def _new_issue(settings: Settings, jira: JiraWriter, decision: RouteDecision, mail: ParsedMail, ticket_id: str,
               previous: Ticket | None) -> NewIssue:
    headers = mail.headers
    content = mail_content(mail, options=ContentOptions.from_settings(settings), as_comment=False,
                           kind=decision.kind)
    fields, field_notes = _mail_fields(settings, headers)
    notes = (*content.notes, *field_notes)
    if previous is not None:
        notes = (f"follows up {previous.key}, which is resolved (JICKET_RESOLVED_POLICY=new)", *notes)
    reporter = (jira.find_user(headers.from_address) if settings.jira_set_reporter and headers.from_address
                and not isinstance(jira, JsmWriter) else None)
    draft = IssueDraft(issue_summary(settings.ids, ticket_id, headers.subject),
                       issue_description(headers, content.body, notes, attachments=content.upload_names,
                                         kind=decision.kind), reporter)
    return NewIssue(decision, ticket_id, draft, headers, content, fields, previous, bool(mail.encryption))


def _complete_issue(settings: Settings, jira: JiraWriter, new: NewIssue, key: str) -> WriteResult:
    """What follows the create of a mail's issue: its fields, its files, the link to the issue it follows up."""
    if new.fields:
        set_fields(jira, key, new.fields)
    _upload(jira, key, new.content, new.headers)
    if new.previous is not None:
        jira.link_issues(key, new.previous.key, settings.resolved_link_type)
    _add_watchers(settings, jira, key, new.headers)
    return WriteResult(new.decision.uid, WriteOutcome.CREATED, new.ticket_id, key, encrypted=new.encrypted)


def _finish_created(settings: Settings, jira: JiraWriter, decision: RouteDecision, mail: ParsedMail,
                    ticket_id: str, ticket: Ticket, previous: Ticket | None) -> WriteResult:
    """An earlier attempt created the issue: finish what it may have left (uploads, link, watchers)."""
    _resume_uploads(jira, ticket, mail, ContentOptions.from_settings(settings), as_comment=False, kind=decision.kind)
    if previous is not None and previous.key not in ticket.links:
        jira.link_issues(ticket.key, previous.key, settings.resolved_link_type)
    _add_watchers(settings, jira, ticket.key, mail.headers)
    return WriteResult(decision.uid, WriteOutcome.ALREADY_CREATED, ticket_id, ticket.key)


def _failure_marker_key(mail_key: str) -> str:
    """The mail key of the note that says a mail's attachments could not be uploaded."""
    return hashlib.sha256(f"attachments-failed:{mail_key}".encode()).hexdigest()[:20]


def _upload(jira: JiraWriter, issue_key: str, content: MailContent, headers: MailHeaders,
            files: list[tuple[str, str, bytes]] | None = None) -> None:
    """Upload a mail's files; a permanent refusal (4xx) becomes a visible note instead of a stuck mail."""
    files = files if files is not None else [(u.filename, u.content_type, u.data) for u in content.uploads]
    if not files:
        return
    try:
        jira.upload_attachments(issue_key, files)
    except JiraError as exc:
        if exc.transient:
            raise  # the task fails; the retry finds the text and uploads what is missing
        log.error("%s: Jira refused the attachments of %s: %s", issue_key, headers.message_id, exc)
        text = (f"_Jicket: Jira refused the attachments {', '.join(name for name, _, _ in files)} of the mail "
                f"from {escape_line(single_line(headers.from_display))}: "
                f"{escape_line(single_line(str(exc))[:300])}_\n\n"
                f"{{anchor:jicket-mail-{_failure_marker_key(headers.mail_key())}}}")
        jira.add_comment(issue_key, text)


def _resume_uploads(jira: JiraWriter, ticket: Ticket, mail: ParsedMail, options: ContentOptions, *,
                    as_comment: bool, kind: str) -> None:
    """Upload the files an earlier attempt announced in its text but did not (all) upload."""
    mail_key = mail.headers.mail_key()
    intended = ticket.intended_attachments(mail_key)
    if not intended or ticket.has_mail(_failure_marker_key(mail_key)):
        return
    fresh = jira.get_ticket(ticket.key) or ticket  # read directly: search may lag behind the lost upload
    if fresh.has_mail(_failure_marker_key(mail_key)):
        return
    intended = fresh.intended_attachments(mail_key) or intended
    content = mail_content(mail, options=options, as_comment=as_comment, kind=kind)
    if len(content.uploads) != len(intended):
        log.warning("%s: the mail now yields %d file(s), its text announced %d (settings changed?)",
                    ticket.key, len(content.uploads), len(intended))
    missing = [(name, upload.content_type, upload.data) for name, upload in zip(intended, content.uploads, strict=False)
               if not fresh.holds_attachment(name, upload.size)]
    if missing:
        log.info("%s: uploading %d attachment(s) an earlier attempt did not finish", ticket.key, len(missing))
        _upload(jira, ticket.key, content, mail.headers, missing)


def _reopen(jira: JiraWriter, ticket: Ticket) -> None:
    """Reopen a resolved issue a person answered (JICKET_RESOLVED_POLICY=reopen), once per task."""
    if not jira.first_time(f"reopen:{ticket.key}"):
        return
    candidates = [t for t in ticket.transitions if t.to_category and t.to_category != "done"]
    candidates.sort(key=lambda t: (0 if "reopen" in t.name.lower() else 1, t.to_category != "new"))
    if not candidates:
        log.warning("%s is resolved but offers no transition out of done; the reply is only a comment", ticket.key)
        return
    try:
        jira.transition(ticket.key, candidates[0].id)
    except JiraError as exc:
        if exc.transient:
            raise
        log.warning("%s: reopening with %r failed: %s; the reply is a comment", ticket.key, candidates[0].name, exc)
        return
    log.info("%s reopened (%s) for a reply", ticket.key, candidates[0].name)


def _add_watchers(settings: Settings, jira: JiraWriter, issue_key: str, headers: MailHeaders) -> None:
    """CC'd people with a Jira account watch the issue (JICKET_JIRA_ADD_WATCHERS)."""
    if not settings.jira_add_watchers:
        return
    helpdesk = settings.ticket_address.lower()
    for address in dict.fromkeys(a.lower() for a in headers.cc):
        if address == helpdesk or not jira.first_time(f"watch:{issue_key}:{address}"):
            continue
        user = jira.find_user(address)
        if user:
            jira.add_watcher(issue_key, user)


# -- Jira Service Management and fields from the mail -----------------------------------------------------------
def _new_ticket(jira: JiraWriter, new: NewIssue) -> str:
    """A new issue; in JSM mode a customer request raised for the sender, with the Cc'd people as participants."""
    if isinstance(jira, JsmWriter):
        headers = new.headers
        return jira.create_request(new.draft.summary, new.draft.description, headers.from_address,
                                   headers.from_display, headers.cc)
    return jira.create_issue(new.draft.summary, new.draft.description, new.draft.reporter)


def _add_reply(jira: JiraWriter, issue_key: str, body: str, headers: MailHeaders) -> None:
    """A reply as a comment; in JSM mode public or internal by who wrote it (``domain.jsm``)."""
    if isinstance(jira, JsmWriter):
        jira.add_reply(issue_key, body, headers.from_address, headers.cc)
    else:
        jira.add_comment(issue_key, body)


def _mail_fields(settings: Settings, headers: MailHeaders) -> tuple[dict, tuple[str, ...]]:
    """(fields to set on a new issue, notes for its description): the mail's priority (``domain.priority``), the
    mailbox's labels and components. A header that is not understood becomes a note, not a failure."""
    choice = mail_priority(headers.x_priority, headers.importance, headers.priority, settings.priority_map)
    fields: dict = {}
    if choice.name:
        fields["priority"] = {"name": choice.name}
    if settings.jira_labels:
        fields["labels"] = list(settings.jira_labels)
    if settings.jira_components:
        fields["components"] = [{"name": name} for name in settings.jira_components]
    return fields, ((f"{choice.note} (JICKET_PRIORITY_MAP)",) if choice.note else ())
