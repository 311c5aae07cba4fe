"""OAuth 2.0 logins end to end (issue 11, item 2): full DAG runs against a mail system that refuses passwords.

The stack here is its own (module-scoped): a real authorization server (sandbox/oauth_server.py, authlib) issuing
tokens of ``LIFETIME`` seconds, Dovecot whose oauth2 passdb introspects every XOAUTH2/OAUTHBEARER token there and
refuses passwords, and the SMTP relay checking its AUTH XOAUTH2/OAUTHBEARER tokens the same way. Jicket renews a
token once half its lifetime is gone, so with ``LIFETIME`` shorter than twice a run, every run renews at least once.

Flavours: ``token_url`` (Google style: a refresh token redeemed at a token endpoint) and ``msal`` (Microsoft style:
client credentials with a tenant, through msal). The shared ``stack`` fixture is not used: it runs on Courier too,
which has no OAuth.
"""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from jicket_ops.adapters import oauth
from jicket_ops.adapters.imap import Mailbox
from jicket_ops.errors import OAuthError
from jicket_ops.orchestration.idle_trigger import ImapIdleTrigger
from sandbox.stack import CUSTOMER, HELPDESK, SandboxStack
from tests.support import OPS, TAG, deliver, load_dag, make_mail, messages, wait_for_messages

LIFETIME = 2  # seconds an access token lives; Jicket renews it once half of it is gone
# A slow Jira (the stand-in delays creating the issue) stretches write_to_jira past the token's lifetime, so the
# stages after it must log in with a renewed token whatever this machine's speed.
SLOW_CREATE = {"method": "POST", "path_regex": r"^/rest/api/2/issue$", "action": "delay", "delay_s": LIFETIME + 0.5}
RUN_DEFAULTS = {"mode": "inbox", "folder": "", "since": "", "before": "", "dry_run": False, "max_mails": None}


@pytest.fixture(scope="module")
def oauth_stack(tmp_path_factory):
    """Authorization server, OAuth-only Dovecot, OAuth relay and the Jira stand-in."""
    with SandboxStack(tmp_path_factory.mktemp("stack-oauth"), oauth=True, oauth_only=True,
                      token_lifetime=LIFETIME) as running:
        running.add_user(OPS, "opspw")  # the operators' mailbox, for alert mails
        yield running


@pytest.fixture()
def point_at(oauth_stack, airflow_db, monkeypatch):
    """A function that points Jicket at the OAuth stack with connections of one flavour (and SASL mechanism).

    Every test starts from empty mailboxes, an empty Jira, zeroed counters and no cached token (as a new worker
    process would).
    """
    oauth_stack.empty_mailboxes(HELPDESK, CUSTOMER, OPS)
    oauth_stack.jira.reset()
    oauth_stack.jira.clear_requests()
    oauth_stack.jira.clear_faults()
    oauth_stack.relay.clear()
    oauth_stack.oauth_server.reset_stats()
    oauth.forget_tokens()

    def configure(flavour: str, mechanism: str = "XOAUTH2", **imap_extra: object) -> SandboxStack:
        for name, value in oauth_stack.connection_env(flavour).items():
            if name in ("AIRFLOW_CONN_JICKET_IMAP", "AIRFLOW_CONN_JICKET_SMTP"):
                conn = json.loads(value)
                conn["extra"]["oauth_mechanism"] = mechanism
                if name == "AIRFLOW_CONN_JICKET_IMAP":
                    conn["extra"].update(imap_extra)
                value = json.dumps(conn)
            monkeypatch.setenv(name, value)
        return oauth_stack

    yield configure
    oauth.forget_tokens()
    assert oauth_stack.jira.violations() == [], "the Jira stand-in saw requests or responses that break the spec"


def run_dag(dag, conf: dict | None = None):
    """One run with dag.test() (in this process, as tests/integration/conftest.py's run_dag); the DagRun."""
    return dag.test(run_conf={**RUN_DEFAULTS, **(conf or {})})


def task_states(dagrun) -> dict[str, str]:
    """{task_id: state} of a finished run."""
    return {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}


@pytest.mark.parametrize(("flavour", "mechanism"), [("token_url", "XOAUTH2"), ("token_url", "OAUTHBEARER"),
                                                    ("msal", "XOAUTH2"), ("msal", "OAUTHBEARER")])
def test_full_run_on_an_oauth_only_mail_system_renews_the_token(point_at, dag, flavour, mechanism):
    stack = point_at(flavour, mechanism)
    idp = stack.oauth_server
    deliver(stack, make_mail(subject=f"Printer broken ({flavour}, {mechanism})"))
    stack.jira.inject_faults(SLOW_CREATE)

    dagrun = run_dag(dag)

    states = task_states(dagrun)
    assert str(dagrun.state) == "success", states
    issues = stack.jira.issues()
    assert [i["fields"]["summary"].split("] ", 1)[1] for i in issues] == [f"Printer broken ({flavour}, {mechanism})"]
    ticket = TAG.search(issues[0]["fields"]["summary"]).group(1)
    confirmations = wait_for_messages(stack, 1, user=CUSTOMER)
    assert len(confirmations) == 1 and ticket in confirmations[0].message["Subject"]
    assert [m.message["Subject"] for m in messages(stack, "jicket")] == [issues[0]["fields"]["summary"]
                                                                        .split("] ", 1)[1]]
    assert stack.relay.oauth_logins == [(mechanism, HELPDESK)], "the confirmation went out after one OAuth login"
    grant = "refresh_token" if flavour == "token_url" else "client_credentials"
    assert set(idp.stats.tokens_issued) == {grant}
    # IMAP and SMTP are two connections with a token each; SMTP logs in once (confirm): a third token is the IMAP
    # connection's renewal, after the first one had expired during the slow Jira write.
    assert [r for r in stack.jira.requests_log() if r.get("fault")], "the slow create happened"
    assert idp.stats.tokens_issued[grant] > 2, f"no token renewed during the run: {dict(idp.stats.tokens_issued)}"
    assert idp.stats.introspected_by["dovecot"] >= len(states) - 1, "each IMAP task logged in with a token"
    # Renewed before it expired, not after a refusal: every token the servers checked was still live.
    assert idp.stats.introspections == idp.stats.introspections_active


def test_wrong_client_secret_fails_the_first_task_at_once(point_at, capsys, monkeypatch):
    stack = point_at("msal", client_secret="not-the-secret")  # the IMAP connection's secret; SMTP's is right
    deliver(stack, make_mail(subject="Never imported"))
    monkeypatch.setenv("JICKET_ALERT_ADDRESS", OPS)
    alerting = load_dag()  # the DAG file reads JICKET_ALERT_ADDRESS when it is parsed

    dagrun = run_dag(alerting)

    states = task_states(dagrun)
    assert str(dagrun.state) == "failed"
    assert states["fetch"] == "failed"
    assert {states[t] for t in ("filter_mails", "route", "write_to_jira")} == {"upstream_failed"}
    # confirm and move run after any failure (ALL_DONE) and log in too: they fail the same way, also without a retry.
    assert states["confirm"] == states["move"] == "failed"
    tries = {ti.task_id: ti.try_number for ti in dagrun.get_task_instances() if str(ti.state) == "failed"}
    assert all(n == 1 for n in tries.values()), f"a refused client secret must not be retried: {tries}"
    logins = len({"fetch", "confirm", "move"})
    assert stack.oauth_server.stats.token_errors == {"invalid_client": logins}, "one token request per login"
    assert stack.oauth_server.stats.introspected_by["dovecot"] == 0, "no IMAP login was even tried"
    assert stack.jira.issues() == [] and len(messages(stack)) == 1, "the mail waits in the inbox"
    # The task log (dag.test writes it to stdout) carries the reason: the connection and the endpoint's error.
    logged = capsys.readouterr().out
    failure = next((line for line in logged.splitlines() if line.startswith("airflow.sdk.exceptions.AirflowFail")
                    and "fetch: configuration error" in line), "")
    assert "connection jicket_imap: token endpoint https://" in failure and "invalid_client" in failure, logged[-3000:]
    # The operators hear of it by mail, sent with the SMTP connection's OAuth token.
    alerts = wait_for_messages(stack, 1, user=OPS)
    fetch_alert = next(m.message for m in alerts if m.message["Subject"].startswith("[jicket] fetch failed in "))
    body = fetch_alert.get_body(("html", "plain")).get_content()
    assert "connection jicket_imap" in body and "invalid_client" in body
    assert ("XOAUTH2", HELPDESK) in stack.relay.oauth_logins


def test_password_login_is_refused_by_the_oauth_only_mail_system(oauth_stack, point_at, monkeypatch):
    conn = json.loads(oauth_stack.connection_env()["AIRFLOW_CONN_JICKET_IMAP"])
    conn["password"] = oauth_stack.users[HELPDESK]
    conn["extra"] = {"tls": "ssl", "ca_file": str(oauth_stack.ca_file)}  # no auth_type: a password login
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", json.dumps(conn))
    with pytest.raises(Exception, match="AUTHENTICATIONFAILED"):
        with Mailbox("jicket_imap"):
            pass


def test_wrong_client_secret_is_reported_in_seconds(point_at):
    point_at("token_url", client_secret="not-the-secret")
    started = time.monotonic()
    with pytest.raises(OAuthError) as refused:
        with Mailbox("jicket_imap"):
            pass
    elapsed = time.monotonic() - started
    message = str(refused.value)
    assert message.startswith("connection jicket_imap: token endpoint https://") and "invalid_client" in message
    assert elapsed < 5, f"took {elapsed:.1f} s"


def test_event_mode_idle_trigger_logs_in_with_oauth_and_renews_on_reconnect(point_at, dag):
    stack = point_at("msal", "OAUTHBEARER")
    idp = stack.oauth_server

    async def watch() -> list[dict]:
        trigger = ImapIdleTrigger(debounce_seconds=0.2, max_backoff_seconds=0.2)
        events: list[dict] = []

        async def consume() -> None:
            async for event in trigger.run():
                events.append(event.payload)

        task = asyncio.create_task(consume())
        try:
            await until(lambda: trigger._client is not None and trigger._uidnext is not None)
            first = trigger._client
            assert idp.stats.access_tokens == 1
            await asyncio.sleep(0.3)  # in IDLE now
            await asyncio.to_thread(deliver, stack, make_mail(subject="Seen by IDLE"))
            await until(lambda: len(events) == 1)
            assert events[0]["reason"] == "new_mail"
            await asyncio.sleep(LIFETIME / 2 + 0.2)  # the token is due for renewal
            first.writer.transport.abort()  # the network drops the session; the trigger reconnects
            await until(lambda: len(events) == 2)  # the new session's catch-up: UIDNEXT moved meanwhile
            assert trigger._client is not first
            assert idp.stats.access_tokens == 2, "the reconnect presented a renewed token"
            await asyncio.sleep(0.3)
            await asyncio.to_thread(deliver, stack, make_mail(subject="Seen after the reconnect"))
            await until(lambda: any(e["exists"] == 2 for e in events))
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        return events

    events = asyncio.run(watch())
    # new mail in IDLE; on reconnect, the catch-up sees UIDNEXT moved (mail 1 still waits); then new mail in IDLE
    assert [(e["reason"], e["exists"]) for e in events] == [("new_mail", 1), ("waiting", 1), ("new_mail", 2)]
    # The event's run (the asset-triggered DAG run) imports both mails with the same OAuth connections.
    dagrun = run_dag(dag)
    assert str(dagrun.state) == "success", task_states(dagrun)
    assert sorted(i["fields"]["summary"].split("] ", 1)[1] for i in stack.jira.issues()) == [
        "Seen after the reconnect", "Seen by IDLE"]
    assert stack.relay.oauth_logins and all(m == "OAUTHBEARER" for m, _ in stack.relay.oauth_logins)


async def until(predicate, timeout: float = 10.0) -> None:
    """Wait (on the event loop) until ``predicate()`` holds; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
