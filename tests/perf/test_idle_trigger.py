"""The IMAP IDLE event trigger against the real Dovecot: fires on new mail within seconds, coalesces
bursts, catches up after a restart, survives a lost connection, verifies TLS; and the DAG wiring of the
event-driven mode (one DAG, asset or timetable, never two runs at once)."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import ssl
import time
from contextlib import asynccontextmanager

import pytest

from jicket_ops.errors import ConfigError
from jicket_ops.orchestration.idle_trigger import CLASSPATH, AsyncImap, ImapIdleTrigger, astring, inbox_asset
from tests.support import ROOT

MAIL = b"From: Customer <c1@customers.example.org>\r\nTo: helpdesk@example.test\r\nSubject: Hello\r\n\r\nbody\r\n"


def append(stack, count: int = 1, flags: tuple[str, ...] = ()) -> None:
    with stack.imap() as client:
        for _ in range(count):
            client.append("INBOX", MAIL, flags)


@asynccontextmanager
async def running(trigger: ImapIdleTrigger):
    """Run the trigger as the triggerer does; yield the list its events are appended to."""
    events: list = []

    async def consume() -> None:
        async for event in trigger.run():
            events.append(event.payload)

    task = asyncio.create_task(consume())
    try:
        yield events
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        assert trigger._client is None, "cleanup closes the IMAP session"


async def until(predicate, timeout: float = 10.0) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def session_ready(trigger: ImapIdleTrigger) -> None:
    await until(lambda: trigger._client is not None and trigger._uidnext is not None)
    await asyncio.sleep(0.3)  # IDLE is entered right after the catch-up


def test_fires_within_seconds_of_new_mail_and_coalesces_a_burst(stack):
    async def scenario():
        trigger = ImapIdleTrigger(debounce_seconds=0.3)
        async with running(trigger) as events:
            await session_ready(trigger)
            assert events == [], "an empty inbox fires nothing"
            await asyncio.to_thread(append, stack)
            took = await until(lambda: len(events) == 1, timeout=5)
            assert took < 3.0
            assert events[0]["reason"] == "new_mail" and events[0]["exists"] == 1
            assert events[0]["folder"] == "INBOX" and events[0]["detected_at"] <= time.time()
            await asyncio.to_thread(append, stack, 5)
            await until(lambda: events[-1]["exists"] == 6, timeout=5)
            await asyncio.sleep(0.5)
            assert len(events) <= 3, f"a burst of 5 mails fired {len(events) - 1} events"

    asyncio.run(scenario())


def test_catches_up_at_start_only_when_mail_waits(stack):
    append(stack, 1, ("$JicketDone",))

    async def nothing_waits():
        trigger = ImapIdleTrigger()
        async with running(trigger) as events:
            await session_ready(trigger)
            await asyncio.sleep(0.5)
            assert events == [], "mails marked $JicketDone are not waiting"

    asyncio.run(nothing_waits())
    append(stack, 1)

    async def one_waits():
        trigger = ImapIdleTrigger()
        async with running(trigger) as events:
            await until(lambda: len(events) == 1, timeout=5)
            assert events[0]["reason"] == "waiting" and events[0]["exists"] == 2

    asyncio.run(one_waits())


def test_a_lost_connection_reconnects_without_a_spurious_event(stack):
    async def scenario():
        trigger = ImapIdleTrigger(max_backoff_seconds=0.2)
        async with running(trigger) as events:
            await session_ready(trigger)
            first = trigger._client
            first.writer.transport.abort()  # the network drops the session
            await until(lambda: trigger._client is not None and trigger._client is not first, timeout=10)
            await session_ready(trigger)
            assert events == [], "nothing arrived meanwhile: no event"
            await asyncio.to_thread(append, stack)
            await until(lambda: len(events) == 1, timeout=5)

    asyncio.run(scenario())


def test_mail_arriving_while_disconnected_fires_on_reconnect(stack):
    async def scenario():
        trigger = ImapIdleTrigger(max_backoff_seconds=0.5)
        async with running(trigger) as events:
            await session_ready(trigger)
            trigger._client.writer.transport.abort()
            await asyncio.to_thread(append, stack)  # UIDNEXT moves while the trigger reconnects
            await until(lambda: len(events) >= 1, timeout=10)
            assert events[0]["reason"] in ("waiting", "new_mail")

    asyncio.run(scenario())


def test_idle_is_renewed(stack):
    async def scenario():
        trigger = ImapIdleTrigger(renew_seconds=0.3)
        async with running(trigger) as events:
            await session_ready(trigger)
            tag_before = trigger._client._tag
            await asyncio.sleep(1.0)
            assert trigger._client._tag >= tag_before + 2, "DONE and a new IDLE every renew_seconds"
            await asyncio.to_thread(append, stack)
            await until(lambda: len(events) == 1, timeout=5)

    asyncio.run(scenario())


def test_starttls_on_the_plain_port_and_certificate_verification(stack, monkeypatch):
    import json

    conn = json.loads(stack.connection_env()["AIRFLOW_CONN_JICKET_IMAP"])
    conn.update(port=stack.dovecot.imap_port, extra={"tls": "starttls", "ca_file": str(stack.ca_file)})
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", json.dumps(conn))

    async def starttls():
        client = await ImapIdleTrigger().open_session()
        try:
            assert "IDLE" in client.capabilities
            state = await client.examine("INBOX")
            assert state["uidvalidity"] > 0
        finally:
            await client.close()

    asyncio.run(starttls())

    conn.update(port=stack.dovecot.imaps_port, extra={"tls": "ssl"})  # system CAs only: the sandbox CA is unknown
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", json.dumps(conn))
    with pytest.raises(ssl.SSLCertVerificationError):
        asyncio.run(ImapIdleTrigger().open_session())


def test_login_quotes_what_needs_quoting(stack, monkeypatch):
    import json

    password = 'pa"ss\\wo rd'
    stack.add_user("idle@example.test", password)
    conn = json.loads(stack.connection_env()["AIRFLOW_CONN_JICKET_IMAP"])
    conn.update(login="idle@example.test", password=password)
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", json.dumps(conn))
    assert astring(password) == b'"pa\\"ss\\\\wo rd"'

    async def login():
        client = await ImapIdleTrigger().open_session()
        await client.close()

    asyncio.run(login())


class FakeWriter:
    def __init__(self):
        self.sent = b""

    def write(self, data):
        self.sent += data

    async def drain(self):
        pass


def test_a_non_ascii_password_goes_as_a_literal_after_the_continuation():
    secret = "pässwörd"
    assert astring(secret) == (b"{10}", secret.encode())

    async def scenario():
        reader = asyncio.StreamReader()
        writer = FakeWriter()
        client = AsyncImap(reader, writer, timeout=1)
        login = asyncio.create_task(client.command("LOGIN", astring("u"), astring(secret)))
        await asyncio.sleep(0.05)
        assert writer.sent == b'J0001 LOGIN "u" {10}\r\n', "the literal waits for the server's go-ahead"
        reader.feed_data(b"+ OK\r\n")
        await asyncio.sleep(0.05)
        assert writer.sent.endswith(secret.encode() + b"\r\n")
        reader.feed_data(b"J0001 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n")
        assert await login == []
        assert {"IMAP4REV1", "IDLE"} <= client.capabilities

    asyncio.run(scenario())


def test_a_refused_login_names_the_command():
    async def scenario():
        reader = asyncio.StreamReader()
        reader.feed_data(b"J0001 NO [AUTHENTICATIONFAILED] Authentication failed.\r\n")
        client = AsyncImap(reader, FakeWriter(), timeout=1)
        with pytest.raises(Exception, match="IMAP LOGIN refused: NO \\[AUTHENTICATIONFAILED\\]"):
            await client.login("u", "p")

    asyncio.run(scenario())


def test_serializes_for_the_triggerer():
    trigger = ImapIdleTrigger(conn_id="imap2", folder="Support/Eingang", debounce_seconds=0.5)
    classpath, kwargs = trigger.serialize()
    assert classpath == CLASSPATH
    module, name = classpath.rsplit(".", 1)
    again = getattr(importlib.import_module(module), name)(**kwargs)
    assert again.serialize() == (classpath, kwargs)
    asset = inbox_asset("imap2", "Support/Eingang")
    assert asset.uri == "x-jicket-imap://imap2/Support%2FEingang"
    assert asset.watchers[0].trigger.serialize() == ImapIdleTrigger(conn_id="imap2",
                                                                      folder="Support/Eingang").serialize()


def load_dag():
    spec = importlib.util.spec_from_file_location("jicket_dag_idle_test", ROOT / "dags" / "jicket_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.DAG


@pytest.mark.parametrize("mode", ["dynamic", "interval", "singleshot"])
def test_event_mode_is_one_dag_on_the_asset_or_the_timetable(monkeypatch, mode):
    monkeypatch.setenv("JICKET_LOOPMODE", mode)
    monkeypatch.delenv("JICKET_IMAP_IDLE", raising=False)
    assert "Asset" not in type(load_dag().timetable).__name__, "the scheduled mode stays the default"

    monkeypatch.setenv("JICKET_IMAP_IDLE", "true")
    monkeypatch.setenv("JICKET_FOLDER_INBOX", "Support")
    dag = load_dag()
    assert dag.dag_id == "jicket" and dag.max_active_runs == 1, "event and scheduled runs never overlap"
    timetable = dag.timetable
    if mode == "singleshot":
        assert type(timetable).__name__ == "AssetTriggeredTimetable"
        condition = timetable.asset_condition
    else:
        assert type(timetable).__name__ == "AssetOrTimeSchedule"
        assert type(timetable.timetable).__name__ == ("DeltaTriggerTimetable" if mode == "interval"
                                                      else "DeltaDataIntervalTimetable")
        condition = timetable.asset_condition
    assets = list(getattr(condition, "objects", [condition]))
    watcher = assets[0].watchers[0]
    assert watcher.trigger.serialize() == (CLASSPATH, ImapIdleTrigger(folder="Support").serialize()[1])


def test_a_bad_idle_setting_is_named(monkeypatch):
    from jicket_ops.domain.settings import environment_lookup, load_schedule

    with pytest.raises(ConfigError, match="JICKET_IMAP_IDLE"):
        load_schedule(environment_lookup({"JICKET_IMAP_IDLE": "sometimes"}))
    assert load_schedule(environment_lookup({})).imap_idle is False
