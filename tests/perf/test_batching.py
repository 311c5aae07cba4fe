"""Batching, counted on the real servers: IMAP round trips per stage do not grow with the number of mails
(except the chunked body fetch), Jira requests per mail stay within budget, one HTTP session per task,
and the confirmations go out over parallel SMTP sessions without losing track of what was sent."""

from __future__ import annotations

import math
import threading

import pytest

from bench.common import fill_backlog, jira_request_kinds, seed_tickets
from jicket_ops.adapters import jira as jira_writer_module
from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.adapters.smtp import Mailer
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.settings import environment_lookup, load_settings
from jicket_ops.errors import MailDeliveryError
from jicket_ops.stages import write_to_jira as write_stage
from jicket_ops.stages.confirm import confirm, send_all, written_issues
from jicket_ops.stages.fetch import fetch
from jicket_ops.stages.filter_mails import filter_mails
from jicket_ops.stages.move import move
from jicket_ops.stages.route import route
from tests.support import TEMPLATE, empty_stack

STAGES = ("fetch", "filter_mails", "route", "write_to_jira", "confirm", "move")


def run_stages(stack, settings) -> dict[str, dict]:
    """One run's stages, each with its own IMAP session and Jira writer as in the DAG; what each cost."""
    cost: dict[str, dict] = {}
    outputs: dict[str, dict] = {}

    def stage(name, body, jira: JiraWriter | None = None):
        stack.jira.clear_requests()
        with Mailbox(settings.imap_conn_id) as mailbox:
            outputs[name] = body(mailbox)
            trips = mailbox.round_trips
        cost[name] = {"imap": trips, "jira": jira_request_kinds(stack.jira.requests_log()),
                      "sessions": len({id(jira._shared_client)}) if jira and jira._shared_client else 0}

    def writer() -> JiraWriter:
        return JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type,
                      settings.jira_concurrency)

    stage("fetch", lambda mb: fetch(settings, mb))
    stage("filter_mails", lambda mb: filter_mails(settings, mb, outputs["fetch"]))
    stage("route", lambda mb: route(settings, mb, outputs["filter_mails"]))
    mails = outputs["fetch"]["mails"]
    sizes = {m["uid"]: m["size"] for m in mails}
    headers = {m["uid"]: MailHeaders.from_dict(m["headers"]) for m in mails}
    jira = writer()
    stage("write_to_jira", lambda mb: write_stage.write_to_jira(settings, mb, jira, outputs["route"], sizes, headers),
          jira)
    jira = writer()
    stage("confirm", lambda mb: confirm(settings, mb, jira, lambda: Mailer(settings.smtp_conn_id),
                                                 written=outputs["write_to_jira"]), jira)
    stage("move", lambda mb: move(settings, mb))
    cost["outputs"] = outputs
    return cost


def fresh_backlog(stack, size: int):
    empty_stack(stack)
    existing = seed_tickets(stack, 3)
    stack.jira.clear_requests()
    return fill_backlog(stack, size, existing=existing)


@pytest.fixture()
def settings(stack):
    return load_settings(environment_lookup(), TEMPLATE)


def test_imap_round_trips_per_stage_do_not_grow_with_the_number_of_mails(stack, settings):
    trips: dict[int, dict[str, int]] = {}
    for size in (4, 30, 60):
        backlog = fresh_backlog(stack, size)
        cost = run_stages(stack, settings)
        assert len(cost["outputs"]["move"]["moved"]) == size, "every mail went through"
        assert backlog.total == size
        trips[size] = {stage: cost[stage]["imap"] for stage in STAGES}
    for stage in STAGES:
        extra_body_batches = {size: 3 * (math.ceil(size / write_stage.BODY_BATCH_MAILS) - 1) for size in trips}
        if stage == "write_to_jira":  # bodies come in chunks of BODY_BATCH_MAILS: a fetch, and the chunk's mark
            # ($JicketTrying) stored before it and removed after it: three commands each
            assert {size: trips[size][stage] - extra_body_batches[size] for size in trips} == \
                {size: trips[4][stage] for size in trips}, trips
        else:
            assert {size: trips[size][stage] for size in trips} == {size: trips[4][stage] for size in trips}, trips
    # confirm also counts each customer's recent confirmations in the inbox and the success folder (the
    # per-customer limit): five commands more, whatever the number of mails.
    budget = {stage: 10 if stage == "confirm" else 8 for stage in STAGES}
    assert all(trips[4][stage] <= budget[stage] for stage in STAGES), sorted(trips[4].items())


def test_jira_requests_per_mail_and_one_session_per_task(stack, settings, monkeypatch):
    sessions = []
    real = jira_writer_module.JicketJiraHook.get_conn

    def counting(self):
        sessions.append(threading.current_thread().name)
        return real(self)

    monkeypatch.setattr(jira_writer_module.JicketJiraHook, "get_conn", counting)
    backlog = fresh_backlog(stack, 30)  # 21 new, 9 replies, every tenth mail with an attachment
    cost = run_stages(stack, settings)
    write, confirm = cost["write_to_jira"]["jira"], cost["confirm"]["jira"]
    # The 30 mails are one body batch: its new issues are one bulk create (up to 50 each).
    assert write.get("bulk create") == 1 and "create" not in write, write
    assert len(stack.jira.issues()) == 3 + backlog.new
    assert write.get("comment") == backlog.replies
    assert write.get("attachment") == backlog.attachments, "one upload request per mail with attachments"
    assert confirm == {}, "confirm names the issues write_to_jira reported: no second lookup"
    total = sum(write.values()) + sum(confirm.values())
    budget = 2 * backlog.new + backlog.attachments + 2 * backlog.replies
    assert total <= budget, (write, confirm)
    # Searches are batched: a handful for the whole run, whatever the number of mails.
    assert write.get("search", 0) <= math.ceil((2 * backlog.total) / jira_writer_module.IDS_PER_SEARCH) + \
        math.ceil(backlog.new / jira_writer_module.IDS_PER_SEARCH)
    assert len(sessions) == 2, f"one HTTP session per task (write_to_jira, confirm), got {sessions}"


class FakeMailer:
    opened: list[str] = []

    def __init__(self, fail_to_open: bool = False):
        self.fail_to_open = fail_to_open
        self.sent: list[str] = []

    def __enter__(self):
        if self.fail_to_open:
            raise MailDeliveryError("connection jicket_smtp: cannot log in")
        FakeMailer.opened.append(threading.current_thread().name)
        return self

    def __exit__(self, *exc):
        return False

    def send(self, message, sender, recipients, what):
        if "poison" in what:
            raise MailDeliveryError(f"{what}: refused")
        self.sent.append(what)
        return {}


class Plan:
    smtp_concurrency = 3
    ticket_address = "helpdesk@example.test"


def confirmations(count: int) -> dict[int, tuple]:
    from email.message import EmailMessage

    out = {}
    for uid in range(1, count + 1):
        message = EmailMessage()
        message["To"] = f"c{uid}@customers.example.org"
        out[uid] = ("poison" if uid == 4 else f"uid={uid}", lambda message=message: message)
    return out


def test_confirmations_go_out_over_parallel_sessions():
    FakeMailer.opened = []
    sent: list[int] = []
    failures: dict[int, str] = {}
    send_all(Plan(), FakeMailer, confirmations(10), sent, failures)
    assert len(FakeMailer.opened) == 3, "three SMTP sessions"
    assert sent == [1, 2, 3, 5, 6, 7, 8, 9, 10] and list(failures) == [4]


def test_a_confirmation_that_cannot_be_rendered_fails_its_mail_only():
    """Each session renders a confirmation just before sending it: a rendering error stays with that mail."""
    FakeMailer.opened = []
    plan = confirmations(5)

    def broken():
        raise ValueError("an address that cannot stand in a header")

    plan[2] = ("uid=2", broken)
    sent: list[int] = []
    failures: dict[int, str] = {}
    send_all(Plan(), FakeMailer, plan, sent, failures)
    assert sent == [1, 3, 5] and sorted(failures) == [2, 4]
    assert failures[2].startswith("cannot build the confirmation: an address")


def test_a_session_that_cannot_open_leaves_the_work_to_the_others_then_fails():
    attempts = iter([True, False, False])
    lock = threading.Lock()

    def factory():
        with lock:
            return FakeMailer(fail_to_open=next(attempts, False))

    sent: list[int] = []
    with pytest.raises(MailDeliveryError, match="cannot log in"):
        send_all(Plan(), factory, confirmations(6), sent, {})
    assert sent == [1, 2, 3, 5, 6], "what went out is known, so it is marked done before the retry"


def test_written_issues_only_trusts_the_same_folder_and_uidvalidity():
    written = {"folder": "INBOX", "uidvalidity": 7, "results": [
        {"uid": 1, "action": "created", "ticket_id": "AAA", "issue_key": "HD-1"},
        {"uid": 2, "action": "already_created", "ticket_id": "BBB", "issue_key": "HD-2"},
        {"uid": 3, "action": "commented", "ticket_id": "CCC", "issue_key": "HD-3"},
        {"uid": 4, "action": "created", "ticket_id": "OTHER", "issue_key": "HD-4"}]}
    ticket_of = {1: "AAA", 2: "BBB", 3: "CCC", 4: "DDD"}
    assert written_issues(written, "INBOX", 7, ticket_of) == {1: "HD-1", 2: "HD-2"}
    assert written_issues(written, "INBOX", 8, ticket_of) == {}
    assert written_issues(written, "Archive", 7, ticket_of) == {}
    assert written_issues(None, "INBOX", 7, ticket_of) == {}
