"""The body of each DAG task: fetch, filter, route, write_to_jira, confirm, move.

Each function takes the settings and an open adapter, does its stage for a whole batch with
batched IMAP commands, and returns a small JSON-able dict for XCom (UIDs, decisions, counts; never
mail bodies). Per-mail failures are logged with the mail named and collected, so one bad mail never
blocks the others; the task then fails with MailProcessingError listing them, and Airflow retries.

Exactly once: a mail's progress is recorded on the mail (IMAP keywords, see ``mailbox``) and in
Jira (the ``{anchor:jicket-mail-...}`` marker of each issue and comment). Every write is preceded
by a lookup of both, so a retried task, a re-run or a crash at any point repeats no write. A mail
leaves the inbox only once it is marked ``$JicketDone``.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

from jicket_ops import filters as filter_rules
from jicket_ops.content import ContentOptions, MailContent, mail_content
from jicket_ops.errors import JicketError, JiraError, MailProcessingError, TicketIdCollisionError
from jicket_ops.jira_writer import JiraWriter, Ticket
from jicket_ops.loops import RateLimit, answer_verdict
from jicket_ops.mailbox import (
    CONFIRMING,
    CREATING,
    DONE,
    FAILED_PREFIX,
    FILTERED,
    IMPORTED,
    QUARANTINE,
    Mailbox,
    failure_count,
    quote,
)
from jicket_ops.parsing import MailHeaders, ParsedMail, parse_headers, parse_mail
from jicket_ops.rendering import (
    ThreadTemplate,
    comment_body,
    confirmation_mail,
    issue_description,
    issue_summary,
    recipients,
    single_line,
)
from jicket_ops.routing import Route, RouteDecision, bounce_ticket, route_mail, sent_message_id
from jicket_ops.run_request import RunRequest
from jicket_ops.wiki_markup import escape_line

log = logging.getLogger("jicket")

# Bodies fetched per IMAP command, at most (one mail may exceed it). The next batch is fetched while the
# previous one is written, so about two batches are in memory at a time -- except beside a big mail.
BODY_BATCH_BYTES = 16 * 1024 * 1024
BODY_BATCH_MAILS = 50
# Parsing a mail takes several times its size in memory for a moment: mails larger than this are written
# one at a time (the small ones keep every Jira thread busy meanwhile).
BIG_MAIL_BYTES = 8 * 1024 * 1024


def describe(uid: int, headers: MailHeaders | None = None, ticket: str | None = None) -> str:
    """How logs name a mail."""
    parts = [f"uid={uid}"]
    if headers is not None:
        parts.append(f"message_id={headers.message_id or '-'}")
    if ticket:
        parts.append(f"ticket={ticket}")
    return " ".join(parts)


@dataclass(frozen=True)
class InboxMail:
    uid: int
    size: int
    flags: frozenset[str]
    headers: MailHeaders

    def as_dict(self) -> dict:
        return {"uid": self.uid, "size": self.size, "flags": sorted(self.flags), "headers": self.headers.as_dict()}

    @classmethod
    def from_dict(cls, data: dict) -> InboxMail:
        return cls(int(data["uid"]), int(data["size"]), frozenset(data["flags"]),
                   MailHeaders.from_dict(data["headers"]))


# -- fetch ------------------------------------------------------------------------------------------------
def fetch(settings, mailbox: Mailbox, request: RunRequest | None = None) -> dict:
    """List the mails a run handles, oldest first, with the headers routing needs (no bodies).

    Inbox mode: the mails not yet done. Rescan mode: every mail of the folder received in the interval
    (already imported or not: Jira's markers decide), except filtered ones.
    """
    request = request or RunRequest()
    folder = request.folder_for(settings.folder_inbox, settings.folder_success)
    mailbox.require_folder(settings.folder_success, "JICKET_FOLDER_SUCCESS")
    setting = "param folder" if request.folder else ("JICKET_FOLDER_SUCCESS" if request.rescan
                                                     else "JICKET_FOLDER_INBOX")
    uidvalidity = mailbox.select(folder, setting, readonly=request.dry_run)
    skip = ["UNKEYWORD", FILTERED] if request.rescan else ["UNKEYWORD", DONE, "UNKEYWORD", QUARANTINE]
    waiting = mailbox.search("UNDELETED", *skip, *request.imap_criteria())
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
    log.info("%s run on %s (%s): %d mail(s)%s", request.mode, folder, describe_interval(request), len(mails),
             " [dry run: nothing will be written]" if request.dry_run else "")
    return {"folder": folder, "uidvalidity": uidvalidity, "mails": [m.as_dict() for m in mails],
            "request": request.as_dict()}


def describe_interval(request: RunRequest) -> str:
    if request.received_from is None and request.received_before is None:
        return "any time"
    start = request.received_from.isoformat() if request.received_from else "the beginning"
    end = request.received_before.isoformat() if request.received_before else "now"
    return f"received from {start} to {end}"


def _request(stage_input: dict) -> RunRequest:
    return RunRequest.from_dict(stage_input.get("request") or {})


# -- filter -----------------------------------------------------------------------------------------------
def decide_filters(config: filter_rules.FilterConfig, mails: list[InboxMail]) -> dict[int, filter_rules.FilterVerdict]:
    """The filter verdict of every mail not yet imported (pure)."""
    return {
        mail.uid: filter_rules.evaluate(config, mail.headers.from_address, mail.headers.subject)
        for mail in mails if IMPORTED not in mail.flags
    }


def filter_mails(settings, mailbox: Mailbox, fetched: dict) -> dict:
    """Mark blacklisted mails ``$JicketFiltered $JicketDone``; pass the others on."""
    config = settings.load_filters()
    mails = [InboxMail.from_dict(m) for m in fetched["mails"]]
    verdicts = decide_filters(config, mails)
    dropped = [uid for uid, verdict in verdicts.items() if verdict.filtered]
    for mail in mails:
        verdict = verdicts.get(mail.uid)
        if verdict and verdict.reasons:
            log.info("%s %s: %s", describe(mail.uid, mail.headers), "filtered" if verdict.filtered else "kept",
                     "; ".join(verdict.reasons))
    request = _request(fetched)
    if dropped and not request.dry_run and not request.rescan:
        _select_same(mailbox, fetched)
        mailbox.add_keywords(dropped, FILTERED, DONE)
    kept = [m.as_dict() for m in mails if m.uid not in dropped]
    return {**fetched, "mails": kept, "filtered": sorted(dropped)}


def _select_same(mailbox: Mailbox, fetched: dict) -> None:
    """Select the folder fetch listed, refusing to act if its UIDs were renumbered since."""
    uidvalidity = mailbox.select(fetched["folder"], readonly=_request(fetched).dry_run)
    if uidvalidity != fetched["uidvalidity"]:
        raise JicketError(
            f"UIDVALIDITY of {fetched['folder']!r} changed from {fetched['uidvalidity']} to {uidvalidity} "
            "during the run; nothing was written, the next run starts afresh")


# -- route ------------------------------------------------------------------------------------------------
def route(settings, mailbox: Mailbox, filtered: dict) -> dict:
    """Decide new ticket / reply / Jicket's own mail for each mail; own mails are marked done."""
    request = _request(filtered)
    decisions: list[RouteDecision] = []
    for data in filtered["mails"]:
        mail = InboxMail.from_dict(data)
        if IMPORTED in mail.flags and not request.rescan:
            continue  # Jira has it already; only confirm and move are left
        decision = route_mail(mail.headers, uid=mail.uid, uidvalidity=filtered["uidvalidity"], ids=settings.ids,
                              ticket_address=settings.ticket_address, project=settings.jira_project)
        log.info("%s routed %s: %s", describe(mail.uid, mail.headers, settings.ids.prefixed(decision.ticket_id)
                                              if decision.ticket_id else None), decision.route,
                 "; ".join(decision.reasons))
        decisions.append(decision)
    own = [d.uid for d in decisions if d.route is Route.OWN_MAIL]
    if own and not request.dry_run and not request.rescan:
        _select_same(mailbox, filtered)
        mailbox.add_keywords(own, DONE)
    to_write = [d.as_dict() for d in decisions if d.writes_jira]
    keys = {m["uid"]: MailHeaders.from_dict(m["headers"]).mail_key() for m in filtered["mails"]}
    return {"folder": filtered["folder"], "uidvalidity": filtered["uidvalidity"], "decisions": to_write,
            "own_mail": own, "mail_keys": {str(d["uid"]): keys[d["uid"]] for d in to_write},
            "request": filtered.get("request") or {}}


# -- write_to_jira ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WriteResult:
    uid: int
    action: str  # created, commented, already_created, already_commented
    ticket_id: str
    issue_key: str


def plan_write(decision: RouteDecision, tickets: dict[str, Ticket], mail_key: str,
               resolved_policy: str = "reopen") -> tuple[str, str, Ticket | None]:
    """(action, ticket id, existing issue) for one mail, given what Jira already holds (pure).

    Actions: ``create`` (a ticket of the mail's own), ``comment`` (on the issue it belongs to: by ticket
    id, by issue key, or as the issue holding a mail it answers), ``already_created`` /
    ``already_commented`` (an earlier attempt wrote it: only unfinished uploads are left). A reply to a
    resolved issue under ``JICKET_RESOLVED_POLICY=new`` is a ``create`` (``follow_up_of`` names the issue).
    """
    own = tickets.get(decision.fallback_ticket_id)
    if own is not None and own.has_mail(mail_key):
        return "already_created", decision.fallback_ticket_id, own
    target = target_issue(decision, tickets)
    if target is not None:
        ticket_id, ticket = target
        if ticket.has_mail(mail_key):
            return "already_commented", ticket_id, ticket
        if follow_up_of(decision, tickets, resolved_policy) is None:
            return "comment", ticket_id, ticket
    # A new mail, a reply to a ticket Jira does not know, or a follow-up: a ticket of the mail's own.
    ticket_id = decision.fallback_ticket_id
    if own is None:
        return "create", ticket_id, None
    raise TicketIdCollisionError(
        f"ticket id {ticket_id} is already used by {own.key}, which was not created for this mail; "
        "check JICKET_ID_SALT / JICKET_ID_ALPHABET and whether another Jicket writes to this project")


def target_issue(decision: RouteDecision, tickets: dict[str, Ticket]) -> tuple[str, Ticket] | None:
    """(ticket id, issue) of the existing issue a mail belongs to, if any (pure)."""
    if decision.route is not Route.NEW:
        if decision.ticket_id and decision.ticket_id in tickets:
            return decision.ticket_id, tickets[decision.ticket_id]
        ticket = tickets.get(f"key:{decision.issue_key}") if decision.issue_key else None
        if ticket is not None:
            return ticket.ticket_id or "", ticket
    for key in decision.thread_keys:  # it answers a mail Jira holds
        ticket = tickets.get(f"mail:{key}")
        if ticket is not None:
            return ticket.ticket_id or "", ticket
    return None


def follow_up_of(decision: RouteDecision, tickets: dict[str, Ticket], resolved_policy: str) -> Ticket | None:
    """The resolved issue a person's reply follows up with a new issue (JICKET_RESOLVED_POLICY=new)."""
    if resolved_policy != "new" or decision.route is Route.AUTO_REPLY or decision.route is Route.BOUNCE:
        return None
    target = target_issue(decision, tickets)
    return target[1] if target is not None and target[1].resolved else None


def lookup_tickets(jira: JiraWriter, decisions: list[RouteDecision]) -> dict[str, Ticket]:
    """One batched lookup of everything the mails refer to: ticket ids, issue keys, answered mails."""
    wanted = {t for d in decisions for t in (d.ticket_id, d.fallback_ticket_id) if t}
    keys = sorted({d.issue_key for d in decisions if d.issue_key and d.route is not Route.NEW})
    threads = sorted({k for d in decisions for k in d.thread_keys})
    return jira.find_tickets(sorted(wanted), issue_keys=keys, mail_keys=threads)


def _write_one(settings, jira: JiraWriter, decision: RouteDecision, raw: bytes,
               tickets: dict[str, Ticket]) -> WriteResult:
    mail = parse_mail(raw)
    headers = mail.headers
    mail_key = headers.mail_key()
    if decision.route is Route.BOUNCE and not decision.ticket_id:
        found = bounce_ticket(mail, settings.ids)
        if found is not None:
            decision = replace(decision, ticket_id=found[0], reasons=(*decision.reasons, found[1]))
            if found[0] not in tickets:
                tickets = {**tickets, **jira.find_tickets([found[0]])}
    policy = getattr(settings, "resolved_policy", "reopen")
    action, ticket_id, ticket = plan_write(decision, tickets, mail_key, policy)
    options = ContentOptions.from_settings(settings)
    kind = decision.kind
    if action in ("comment", "already_commented"):
        with jira.issue_lock(ticket.key):
            if action == "comment":
                claimed = jira.claimed_names(ticket.key)
                content = mail_content(mail, options=options, as_comment=True, kind=kind,
                                       taken_names=(*ticket.attachment_names, *sorted(claimed)))
                claimed.update(content.upload_names)
                jira.add_comment(ticket.key, comment_body(headers, content.body, content.notes,
                                                          attachments=content.upload_names, kind=kind))
                _upload(jira, ticket.key, content, headers)
            else:
                _resume_uploads(jira, ticket, mail, mail_key, options, True, kind, headers)
            if policy == "reopen" and decision.route is Route.REPLY and ticket.resolved:
                _reopen(jira, ticket)
        _add_watchers(settings, jira, ticket.key, headers)
        return WriteResult(decision.uid, "commented" if action == "comment" else action, ticket_id, ticket.key)
    previous = follow_up_of(decision, tickets, policy)
    if action == "create":
        content = mail_content(mail, options=options, as_comment=False, kind=kind)
        notes = content.notes
        if previous is not None:
            notes = (f"follows up {previous.key}, which is resolved (JICKET_RESOLVED_POLICY=new)", *notes)
        reporter = None
        if getattr(settings, "jira_set_reporter", False) and headers.from_address:
            reporter = jira.find_user(headers.from_address)
        key = jira.create_issue(issue_summary(settings.ids, ticket_id, headers.subject),
                                issue_description(headers, content.body, notes, attachments=content.upload_names,
                                                  kind=kind), reporter)
        _upload(jira, key, content, headers)
        if previous is not None:
            jira.link_issues(key, previous.key, getattr(settings, "resolved_link_type", "Relates"))
        _add_watchers(settings, jira, key, headers)
        return WriteResult(decision.uid, "created", ticket_id, key)
    # already_created: an earlier attempt created the issue; finish what it may have left
    _resume_uploads(jira, ticket, mail, mail_key, options, False, kind, headers)
    if previous is not None and previous.key not in ticket.links:
        jira.link_issues(ticket.key, previous.key, getattr(settings, "resolved_link_type", "Relates"))
    _add_watchers(settings, jira, ticket.key, headers)
    return WriteResult(decision.uid, action, ticket_id, ticket.key)


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


def _resume_uploads(jira: JiraWriter, ticket: Ticket, mail: ParsedMail, mail_key: str, options: ContentOptions,
                    as_comment: bool, kind: str, headers: MailHeaders) -> None:
    """Upload the files an earlier attempt announced in its text but did not (all) upload."""
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
        _upload(jira, ticket.key, content, headers, missing)


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


def _add_watchers(settings, jira: JiraWriter, issue_key: str, headers: MailHeaders) -> None:
    """CC'd people with a Jira account watch the issue (JICKET_JIRA_ADD_WATCHERS)."""
    if not getattr(settings, "jira_add_watchers", False):
        return
    helpdesk = settings.ticket_address.lower()
    for address in dict.fromkeys(a.lower() for a in headers.cc):
        if address == helpdesk or not jira.first_time(f"watch:{issue_key}:{address}"):
            continue
        user = jira.find_user(address)
        if user:
            jira.add_watcher(issue_key, user)


def _body_batches(uids: list[int], sizes: dict[int, int]) -> list[list[int]]:
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


def _holds_big_mail(batch: list[int], sizes: dict[int, int]) -> bool:
    return any(sizes.get(uid, 0) > BIG_MAIL_BYTES for uid in batch)


def write_to_jira(settings, mailbox: Mailbox, jira: JiraWriter, routed: dict, sizes: dict[int, int],
                  headers: dict[int, MailHeaders] | None = None, final_attempt: bool = True) -> dict:
    """Create an issue per new mail and a comment per reply, exactly once; mark them ``$JicketImported``.

    In rescan mode every mail is first looked up in Jira by its marker, and only missing ones are written.
    A dry run looks everything up and reports what it would write.
    """
    request = _request(routed)
    decisions = {d["uid"]: RouteDecision.from_dict(d) for d in routed["decisions"]}
    mail_keys = {int(uid): key for uid, key in (routed.get("mail_keys") or {}).items()}
    if not decisions:
        return {"results": [], "failed": {}, "request": request.as_dict()}
    jira.concurrency = max(jira.concurrency, settings.jira_concurrency)  # batched lookups search in parallel
    _select_same(mailbox, routed)
    # A retry must not redo what an earlier attempt finished.
    flags = mailbox.fetch_flags(decisions)
    gone = sorted(set(decisions) - set(flags))
    if gone:
        log.warning("uids %s left %s since fetch (moved by someone else); skipped", gone, routed["folder"])
    pending = [uid for uid in sorted(decisions) if uid in flags and (request.rescan or IMPORTED not in flags[uid])]
    results: list[WriteResult] = []
    if request.rescan:
        present = jira.find_markers([mail_keys[uid] for uid in pending])
        for uid in pending:
            if mail_keys[uid] in present:
                results.append(WriteResult(uid, "present", "", present[mail_keys[uid]]))
        pending = [uid for uid in pending if mail_keys[uid] not in present]
        log.info("rescan: %d mail(s) already in Jira, %d missing%s", len(results), len(pending),
                 "" if request.dry_run else " (importing them now)")
    tickets = lookup_tickets(jira, [decisions[uid] for uid in pending])
    failures: dict[str, str] = {}
    headers = headers or {}
    limited = {} if request.rescan else _over_rate_limit(settings, jira, pending, decisions, tickets, mail_keys,
                                                          headers)
    pending = [uid for uid in pending if uid not in limited]
    if not request.dry_run and not request.rescan:
        tickets = _settle_uncertain_creates(settings, jira, pending, decisions, tickets, mail_keys, flags)
        creating = [uid for uid in pending if _plans_create(decisions[uid], tickets, mail_keys[uid])]
        mailbox.add_keywords(creating, CREATING)  # "a create may have reached Jira" for the next attempt
    if request.dry_run:
        for uid in pending:
            try:
                action, ticket_id, ticket = plan_write(decisions[uid], tickets, mail_keys[uid])
            except JicketError as exc:
                failures[f"uid={uid}"] = str(exc)
                continue
            results.append(WriteResult(uid, f"would_{action}", ticket_id, ticket.key if ticket else ""))
            log.info("uid=%d dry run: would %s (ticket %s)", uid, action, settings.ids.prefixed(ticket_id))
        return {"results": [r.__dict__ for r in results], "failed": failures, "jira_requests": jira.requests,
                "request": request.as_dict()}

    big_mail = threading.Lock()

    def write_one(uid: int, raw: bytes) -> WriteResult:
        if sizes.get(uid, len(raw)) <= BIG_MAIL_BYTES and len(raw) <= BIG_MAIL_BYTES:
            return _write_one(settings, jira, decisions[uid], raw, tickets)
        with big_mail:
            return _write_one(settings, jira, decisions[uid], raw, tickets)

    def collect(batch: list[int], futures: dict) -> None:
        for uid in batch:
            if uid not in futures:
                failures[f"uid={uid}"] = "the server returned no body"
                continue
            try:
                result = futures[uid].result()
            except JicketError as exc:
                failures[f"uid={uid}"] = str(exc)
                log.error("uid=%d: %s", uid, exc)
                continue
            results.append(result)
            log.info("uid=%d %s %s (ticket %s)", uid, result.action, result.issue_key,
                     settings.ids.prefixed(result.ticket_id))

    try:
        with ThreadPoolExecutor(max_workers=settings.jira_concurrency, thread_name_prefix="jira") as pool:
            in_flight: tuple[list[int], dict] | None = None
            for batch in _body_batches(pending, sizes):
                # Fetch this batch while the previous one is being written, then collect the previous one;
                # unless that holds a big mail: parsing it takes several times its size, fetch nothing beside.
                if in_flight is not None and _holds_big_mail(in_flight[0], sizes):
                    collect(*in_flight)
                    in_flight = None
                bodies = dict(mailbox.fetch_raw(batch))
                futures = {uid: pool.submit(write_one, uid, bodies[uid]) for uid in batch if uid in bodies}
                del bodies
                if in_flight is not None:
                    collect(*in_flight)
                in_flight = (batch, futures)
            if in_flight is not None:
                collect(*in_flight)
    finally:
        # Record progress even when a later mail failed; replies need nothing more.
        new_uids = [r.uid for r in results if r.action in ("created", "already_created")]
        reply_uids = [r.uid for r in results if r.action in ("commented", "already_commented")]
        if request.rescan:
            mailbox.add_keywords(new_uids + reply_uids, IMPORTED)  # never confirmed, never moved
        else:
            mailbox.add_keywords(new_uids, IMPORTED)
            mailbox.add_keywords(reply_uids, IMPORTED, DONE)
            for uid, reason in limited.items():
                quarantine(settings, mailbox, routed["folder"], uid, headers.get(uid), reason)
            if final_attempt:
                record_failures(settings, mailbox, routed["folder"], {
                    uid: why for uid, why in ((int(k.split("=")[1]), v) for k, v in failures.items())
                }, flags, headers)
    summary = {"results": [r.__dict__ for r in results], "failed": failures, "jira_requests": jira.requests,
               "rate_limited": sorted(limited), "request": request.as_dict(),
               "folder": routed["folder"], "uidvalidity": routed["uidvalidity"]}
    if failures:
        raise MailProcessingError("write_to_jira", failures)
    return summary


def _plans_create(decision: RouteDecision, tickets: dict[str, Ticket], mail_key: str) -> bool:
    try:
        return plan_write(decision, tickets, mail_key)[0] == "create"
    except JicketError:
        return False


def _settle_uncertain_creates(settings, jira: JiraWriter, pending: list[int], decisions: dict[int, RouteDecision],
                              tickets: dict[str, Ticket], mail_keys: dict[int, str],
                              flags: dict[int, frozenset[str]]) -> dict[str, Ticket]:
    """Give an eventually consistent search time to show an issue an earlier attempt may have created.

    A mail marked $JicketCreating whose issue the search does not show yet may have been created by an
    attempt whose response was lost. Jira Cloud's search can lag behind a write, so before creating again
    the lookup is repeated for up to JICKET_JIRA_SEARCH_SETTLE seconds (default 30 on Cloud, 0 on DC).
    """
    uncertain = [uid for uid in pending if CREATING in flags.get(uid, frozenset())
                 and _plans_create(decisions[uid], tickets, mail_keys[uid])]
    settle = settings.jira_search_settle if settings.jira_search_settle is not None else (
        30.0 if uncertain and jira.cloud else 0.0)
    if not uncertain or settle <= 0:
        return tickets
    deadline = time.monotonic() + settle
    while uncertain and time.monotonic() < deadline:
        time.sleep(min(2.0, max(0.0, deadline - time.monotonic())))
        tickets = {**tickets, **lookup_tickets(jira, [decisions[uid] for uid in uncertain])}
        uncertain = [uid for uid in uncertain if _plans_create(decisions[uid], tickets, mail_keys[uid])]
    if uncertain:
        log.warning("uids %s: no issue became searchable within %.0f s after an earlier attempt; creating them",
                    uncertain, settle)
    return tickets


def _over_rate_limit(settings, jira: JiraWriter, pending: list[int], decisions: dict[int, RouteDecision],
                     tickets: dict[str, Ticket], mail_keys: dict[int, str],
                     headers: dict[int, MailHeaders]) -> dict[int, str]:
    """New tickets over JICKET_LIMIT_NEW_PER_HOUR per sender (counted in Jira): uid -> reason."""
    limit = RateLimit(settings.limit_new_per_hour)
    if not limit.new_per_hour:
        return {}
    creating: dict[str, list[int]] = {}
    for uid in pending:
        sender = headers[uid].from_address.lower() if uid in headers else ""
        try:
            action = plan_write(decisions[uid], tickets, mail_keys[uid])[0]
        except JicketError:
            continue  # write_to_jira reports it
        if action == "create" and sender:
            creating.setdefault(sender, []).append(uid)
    if not creating:
        return {}
    recent = jira.count_recent_tickets(sorted(creating))
    limited: dict[int, str] = {}
    for sender, uids in creating.items():
        allowed = max(0, limit.new_per_hour - recent.get(sender, 0))
        for uid in uids[allowed:]:
            limited[uid] = (f"rate limit: {sender} opened {recent.get(sender, 0)} ticket(s) in the last hour "
                            f"(JICKET_LIMIT_NEW_PER_HOUR={limit.new_per_hour}); {len(uids)} more arrived")
    return limited


def record_failures(settings, mailbox: Mailbox, folder: str, failed: dict[int, str],
                    flags: dict[int, frozenset[str]], headers: dict[int, MailHeaders]) -> None:
    """Count a run's final failure on each mail ($JicketFailedN); quarantine it after JICKET_POISON_AFTER."""
    for uid, reason in failed.items():
        count = failure_count(flags.get(uid, frozenset())) + 1
        mailbox.add_keywords([uid], f"{FAILED_PREFIX}{count}")
        if count >= settings.poison_after:
            quarantine(settings, mailbox, folder, uid, headers.get(uid),
                       f"failed in {count} runs (JICKET_POISON_AFTER={settings.poison_after}); last error: {reason}")
        else:
            log.warning("uid=%d failed in %d of %d allowed runs: %s", uid, count, settings.poison_after, reason)


def quarantine(settings, mailbox: Mailbox, folder: str, uid: int, headers: MailHeaders | None, reason: str) -> None:
    """Mark a mail for the quarantine folder and file a report with the reason beside it."""
    mailbox.add_keywords([uid], QUARANTINE)
    log.error("%s quarantined: %s", describe(uid, headers), reason)
    report = quarantine_report(settings, uid, folder, headers, reason)
    mailbox.ensure_folder(settings.folder_quarantine)
    mailbox.append(settings.folder_quarantine, report, DONE)
    mailbox.select(folder)


def quarantine_report(settings, uid: int, folder: str, headers: MailHeaders | None, reason: str) -> bytes:
    """A short mail, stored in the quarantine folder, saying why a mail was quarantined (pure)."""
    from email.message import EmailMessage
    from email.utils import format_datetime, localtime

    from jicket_ops.rendering import single_line

    report = EmailMessage()
    report["From"] = settings.ticket_address
    report["To"] = settings.ticket_address
    subject = single_line(headers.subject)[:150] if headers else f"uid {uid}"
    report["Subject"] = f"Jicket quarantined: {subject}"
    report["Date"] = format_datetime(localtime())
    report["Auto-Submitted"] = "auto-generated"
    if headers and headers.message_id:
        report["X-Jicket-Quarantined"] = headers.message_id
    report.set_content(
        f"Jicket moved a mail to {settings.folder_quarantine} instead of importing it.\n\n"
        f"Reason: {single_line(reason)}\n"
        f"Mail: {describe(uid, headers)} (in {folder} when quarantined)\n"
        f"From: {headers.from_display if headers else '?'}\n"
        f"Date: {headers.date if headers else '?'}\n\n"
        "To import it after all, move it back to the inbox and remove its $Jicket* keywords.\n")
    return bytes(report)


# -- confirm ----------------------------------------------------------------------------------------------
def confirm(settings, mailbox: Mailbox, jira: JiraWriter, mailer_factory,
            request: RunRequest | None = None, final_attempt: bool = True, written: dict | None = None) -> dict:
    """Send one confirmation per new ticket; the mail is then ``$JicketDone``.

    Works from the mailbox, not from XCom: every mail marked imported but not done is a new ticket
    awaiting its confirmation, whichever run imported it. Rescan runs confirm nothing; a dry run reports.
    ``written`` (this run's write_to_jira result, when it succeeded) only spares the Jira lookup of the
    issues it has just written; mails it does not name are looked up. Sending uses up to
    JICKET_SMTP_CONCURRENCY SMTP sessions.
    """
    request = request or RunRequest()
    if request.rescan:
        return {"sent": [], "failed": {}, "skipped": "rescan runs send no confirmations"}
    uidvalidity = mailbox.select(settings.folder_inbox, readonly=request.dry_run)
    waiting = mailbox.search("UNDELETED", "KEYWORD", IMPORTED, "UNKEYWORD", DONE)
    if request.dry_run:
        log.info("dry run: %d confirmation(s) would be sent (uids %s)", len(waiting), waiting)
        return {"sent": [], "would_send": waiting, "failed": {}}
    if not waiting:
        return {"sent": [], "failed": {}}
    fetched = {f.uid: f for f in mailbox.fetch_headers(waiting)}
    ticket_of = {uid: settings.ids.new_id(uidvalidity, uid) for uid in fetched}
    known = written_issues(written, settings.folder_inbox, uidvalidity, ticket_of)
    jira.concurrency = max(jira.concurrency, settings.jira_concurrency)
    tickets = jira.find_tickets(sorted({ticket_of[uid] for uid in fetched if uid not in known}))
    template = ThreadTemplate.load(settings.thread_template.read_text(encoding="utf-8"))
    domain = settings.ticket_address.rsplit("@", 1)[1]
    failures: dict[str, str] = {}
    already: list[int] = []
    suppressed: list[int] = []  # machine mail: imported, never answered (RFC 3834)
    to_send: dict[int, tuple] = {}
    for uid, item in sorted(fetched.items()):
        headers = parse_headers(item.header)
        ticket_id = ticket_of[uid]
        name = describe(uid, headers, settings.ids.prefixed(ticket_id))
        issue_key = known.get(uid)
        ticket = tickets.get(ticket_id)
        if issue_key is None and (ticket is None or not ticket.has_mail(headers.mail_key())):
            # The mail changed UID since import (moved out and back): find its issue by its marker.
            found = jira.find_by_mail(headers.mail_key())
            if found is None:
                failures[name] = "marked imported, but Jira has no issue carrying this mail's marker"
                continue
            ticket_id, ticket = found
            name = describe(uid, headers, settings.ids.prefixed(ticket_id))
        issue_key = issue_key or ticket.key
        if CONFIRMING in item.flags and _confirmation_exists(settings, mailbox, ticket_id, domain):
            already.append(uid)  # sent by an attempt that died before it could record it
            continue
        verdict = answer_verdict(headers, settings.ticket_address)
        if not verdict.answer:
            log.info("%s: no confirmation: %s", name, verdict.reason)
            suppressed.append(uid)
            continue
        try:
            message = confirmation_mail(headers=headers, ids=settings.ids, ticket_id=ticket_id,
                                        ticket_address=settings.ticket_address, template=template,
                                        issue_key=issue_key)
        except (JicketError, ValueError) as exc:
            failures[name] = f"cannot build the confirmation: {exc}"
            continue
        to_send[uid] = (name, message)
    if already or suppressed:
        mailbox.select(settings.folder_inbox)
        mailbox.add_keywords(already + suppressed, DONE)
    sent: list[int] = []
    if to_send:
        mailbox.add_keywords(to_send, CONFIRMING)
        try:
            send_all(settings, mailer_factory, to_send, sent, failures)
        finally:
            mailbox.add_keywords(sent, DONE)
    if failures and final_attempt:
        failed = {int(name.split()[0].split("=")[1]): why for name, why in failures.items()}
        parsed = {uid: parse_headers(fetched[uid].header) for uid in failed if uid in fetched}
        record_failures(settings, mailbox, settings.folder_inbox, failed,
                        {uid: fetched[uid].flags for uid in failed if uid in fetched}, parsed)
    if failures:
        raise MailProcessingError("confirm", failures)
    return {"sent": sent, "already_sent": already, "not_answered": suppressed, "failed": failures}


def written_issues(written: dict | None, folder: str, uidvalidity: int, ticket_of: dict[int, str]) -> dict[int, str]:
    """uid -> issue key of the new tickets this run's write_to_jira wrote or found with the mail's marker (pure).

    Only for the same folder and UIDVALIDITY, and only where the ticket id is the one the mail's UID gives.
    """
    if not written or written.get("folder") != folder or written.get("uidvalidity") != uidvalidity:
        return {}
    return {int(r["uid"]): r["issue_key"] for r in written.get("results") or []
            if r.get("action") in ("created", "already_created") and r.get("issue_key")
            and ticket_of.get(int(r["uid"])) == r.get("ticket_id")}


def send_all(settings, mailer_factory, to_send: dict[int, tuple], sent: list[int], failures: dict[str, str]) -> None:
    """Send the confirmations over up to JICKET_SMTP_CONCURRENCY sessions; fill ``sent`` and ``failures``.

    ``sent`` grows as mails go out, so the caller records them even when a session fails midway; a
    session that cannot be opened or breaks off raises after the other sessions have finished.
    """
    queue = list(to_send.items())
    lock = threading.Lock()

    def worker() -> None:
        with mailer_factory() as mailer:
            while True:
                with lock:
                    if not queue:
                        return
                    uid, (name, message) = queue.pop(0)
                try:
                    refused = mailer.send(message, settings.ticket_address, recipients(message), name)
                except JicketError as exc:
                    with lock:
                        failures[name] = str(exc)
                    log.error("%s: %s", name, exc)
                    continue
                with lock:
                    sent.append(uid)
                log.info("%s confirmation sent to %s", name, ", ".join(recipients(message)))
                if refused:
                    log.warning("%s: the SMTP server refused %s (the others got the confirmation)", name,
                                ", ".join(f"{addr} ({code})" for addr, (code, _) in sorted(refused.items())))

    sessions = max(1, min(getattr(settings, "smtp_concurrency", 1), len(queue)))
    if sessions == 1:
        worker()
        return
    with ThreadPoolExecutor(max_workers=sessions, thread_name_prefix="smtp") as pool:
        futures = [pool.submit(worker) for _ in range(sessions)]
    sent.sort()
    errors = [f.exception() for f in futures if f.exception() is not None]
    if errors:
        raise errors[0]


def _confirmation_exists(settings, mailbox: Mailbox, ticket_id: str, domain: str) -> bool:
    """Whether our own copy of the confirmation reached the helpdesk mailbox (inbox or success folder)."""
    message_id = sent_message_id(settings.ids, ticket_id, "confirm", domain)
    for folder, setting in ((settings.folder_inbox, "JICKET_FOLDER_INBOX"),
                            (settings.folder_success, "JICKET_FOLDER_SUCCESS")):
        mailbox.select(folder, setting, readonly=True)
        if mailbox.search("HEADER", "Message-ID", quote(message_id)):
            return True
    mailbox.select(settings.folder_inbox)
    return False


# -- move -------------------------------------------------------------------------------------------------
def move(settings, mailbox: Mailbox, request: RunRequest | None = None) -> dict:
    """Move every mail marked ``$JicketDone`` from the inbox to the success folder (not in rescan runs)."""
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
