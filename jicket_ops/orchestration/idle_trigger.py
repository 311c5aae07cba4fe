"""Event-driven mode: an Airflow event trigger that holds IMAP IDLE (RFC 2177) on the helpdesk inbox.

With ``JICKET_IMAP_IDLE=true`` the ``jicket`` DAG is scheduled on the asset :func:`inbox_asset` as well
as on its timetable (``AssetOrTimeSchedule``). The asset's ``AssetWatcher`` runs
:class:`ImapIdleTrigger` on the triggerer: one IMAP session, asyncio streams, IDLE held open; when
the server reports new mail (``* n EXISTS`` with a higher count) the trigger fires one event, which
the scheduler turns into a DAG run. Bursts are coalesced (``debounce_seconds``). The trigger never
touches a mail (it EXAMINEs the folder read-only): all processing and all exactly-once guarantees
stay with the DAG's tasks, and ``max_active_runs=1`` keeps event-driven and scheduled runs from
overlapping, because they are runs of the same DAG.

The trigger holds no state that matters: after a restart or a lost connection it fires once if
mails are waiting (or if UIDNEXT moved while it was away), so nothing waits for the fallback
timetable. A server without IDLE is polled with NOOP every ``poll_seconds``.

imaplib has no ``idle()`` and blocks; this module speaks the few commands it needs itself
(CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE, EXAMINE, UID SEARCH, IDLE/DONE, NOOP, LOGOUT) over asyncio streams.
TLS is verified like everywhere else in Jicket (``jicket_ops.adapters.tls.ssl_context``: the system CAs or
the connection's ``ca_file`` extra, hostname checked).
"""

from __future__ import annotations

import asyncio
import base64
import re
import ssl
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote as url_quote

from airflow.triggers.base import BaseEventTrigger, TriggerEvent

from jicket_ops.adapters.imap_names import modified_utf7
from jicket_ops.adapters.oauth import mechanism, sasl_response, token_source, uses_oauth
from jicket_ops.adapters.tls import IMAP_TLS, diagnose_tls_mode, greeting_timeout, imap_tls_mode, ssl_context

DONE_KEYWORD = "$JicketDone"  # mailbox.DONE; not imported from there (it pulls in the IMAP provider)
CLASSPATH = "jicket_ops.orchestration.idle_trigger.ImapIdleTrigger"

_TAGGED = re.compile(rb"^(?P<tag>[A-Za-z0-9]+) (?P<status>OK|NO|BAD)\b ?(?P<text>.*)$", re.S)
_LITERAL = re.compile(rb"\{(\d+)\+?\}$")
_EXISTS = re.compile(rb"^\* (\d+) EXISTS\b", re.I)
_EXPUNGE = re.compile(rb"^\* (\d+) EXPUNGE\b", re.I)
_UIDNEXT = re.compile(rb"\[UIDNEXT (\d+)\]", re.I)
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.I)
_CAPABILITY = re.compile(rb"CAPABILITY ([^\]\r\n]*)", re.I)


class ImapIdleError(Exception):
    """The IMAP session failed (refused command, closed connection, protocol surprise)."""


def astring(text: str) -> bytes | tuple[bytes, bytes]:
    """An IMAP astring: a quoted string, or ``(b"{n}", data)`` for a literal when quoting cannot carry it."""
    raw = text.encode("utf-8")
    if raw.isascii() and not any(c in raw for c in b"\r\n\0"):
        return b'"' + raw.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    return b"{%d}" % len(raw), raw


class AsyncImap:
    """A minimal asyncio IMAP4rev1 client: one command at a time, untagged responses collected."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timeout: float) -> None:
        self.reader = reader
        self.writer = writer
        self.timeout = timeout
        self.capabilities: set[str] = set()
        self.round_trips = 0
        self._tag = 0

    @classmethod
    async def connect(cls, host: str, port: int, tls: str, context: ssl.SSLContext | None,
                      timeout: float) -> AsyncImap:
        if tls not in ("ssl", "starttls", "none"):
            raise ImapIdleError(f"extra 'tls' must be ssl, starttls or none, got {tls!r}")
        implicit = context if tls == "ssl" else None
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=implicit, server_hostname=host if implicit else None),
            timeout)
        client = cls(reader, writer, timeout)
        try:
            greeting = await client.read_response(timeout)
            if not greeting.startswith(b"* OK") and not greeting.startswith(b"* PREAUTH"):
                raise ImapIdleError(f"unexpected greeting {greeting[:200]!r}")
            client._note_capabilities(greeting)
            if tls == "starttls":
                await client.command("STARTTLS")
                await asyncio.wait_for(writer.start_tls(context, server_hostname=host), timeout)
                client.capabilities = set()  # RFC 3501 6.2.1: forget what was said before TLS
        except BaseException:
            writer.close()
            raise
        return client

    def _note_capabilities(self, line: bytes) -> None:
        match = _CAPABILITY.search(line)
        if match:
            self.capabilities = set(match.group(1).decode(errors="replace").upper().split())

    async def read_response(self, timeout: float | None = None) -> bytes:
        """One response line (CRLF stripped), with any literals it announces appended to it."""
        parts: list[bytes] = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), timeout if timeout is not None else self.timeout)
            if not line:
                raise ImapIdleError("the server closed the connection")
            line = line.rstrip(b"\r\n")
            parts.append(line)
            literal = _LITERAL.search(line)
            if not literal:
                return b"\r\n".join(parts)
            parts.append(await asyncio.wait_for(self.reader.readexactly(int(literal.group(1))), self.timeout))

    def _next_tag(self) -> bytes:
        self._tag += 1
        return b"J%04d" % self._tag

    async def _send(self, data: bytes) -> None:
        self.writer.write(data)
        await asyncio.wait_for(self.writer.drain(), self.timeout)

    async def command(self, name: str, *args: bytes | tuple[bytes, bytes]) -> list[bytes]:
        """Send a command, wait for its tagged OK; return the untagged responses. NO/BAD raise."""
        tag = self._next_tag()
        line = tag + b" " + name.encode()
        for arg in args:
            if isinstance(arg, tuple):  # a synchronizing literal: wait for the server's "+"
                await self._send(line + b" " + arg[0] + b"\r\n")
                while not (reply := await self.read_response()).startswith(b"+"):
                    self._check_tagged(tag, reply, name)
                line = arg[1]
            else:
                line += b" " + arg
        await self._send(line + b"\r\n")
        self.round_trips += 1
        untagged: list[bytes] = []
        while True:
            response = await self.read_response()
            if response.startswith(tag + b" "):
                self._check_tagged(tag, response, name)
                self._note_capabilities(response)
                return untagged
            if response.startswith(b"* BYE"):
                raise ImapIdleError(f"the server said goodbye: {response[:200]!r}")
            self._note_capabilities(response)
            untagged.append(response)

    @staticmethod
    def _check_tagged(tag: bytes, response: bytes, name: str) -> None:
        match = _TAGGED.match(response)
        if match and match.group("tag") == tag and match.group("status") != b"OK":
            raise ImapIdleError(f"IMAP {name} refused: {response[len(tag) + 1:][:300].decode(errors='replace')}")

    async def login(self, user: str, password: str) -> None:
        await self.command("LOGIN", astring(user), astring(password))
        if not self.capabilities or "IMAP4REV1" not in self.capabilities:
            await self.command("CAPABILITY")

    async def authenticate(self, mech: str, initial_response: str) -> None:
        """AUTHENTICATE with a SASL mechanism whose initial response says everything (XOAUTH2, OAUTHBEARER).

        The response is sent after the server's first continuation (no SASL-IR needed); a second continuation
        carries the server's error, answered with an empty line so that the server ends with NO.
        """
        tag = self._next_tag()
        await self._send(tag + b" AUTHENTICATE " + mech.encode() + b"\r\n")
        self.round_trips += 1
        answered = False
        while True:
            response = await self.read_response()
            if response.startswith(b"+"):
                payload = b"" if answered else base64.b64encode(initial_response.encode())
                answered = True
                await self._send(payload + b"\r\n")
            elif response.startswith(tag + b" "):
                self._check_tagged(tag, response, "AUTHENTICATE")
                self._note_capabilities(response)
                break
            else:
                self._note_capabilities(response)
        if not self.capabilities or "IMAP4REV1" not in self.capabilities:
            await self.command("CAPABILITY")

    async def examine(self, folder: str) -> dict[str, int]:
        """EXAMINE (read-only SELECT): ``{"exists", "uidvalidity", "uidnext"}``."""
        found = {"exists": 0, "uidvalidity": 0, "uidnext": 0}
        for line in await self.command("EXAMINE", astring(modified_utf7(folder))):
            if match := _EXISTS.match(line):
                found["exists"] = int(match.group(1))
            elif match := _UIDVALIDITY.search(line):
                found["uidvalidity"] = int(match.group(1))
            elif match := _UIDNEXT.search(line):
                found["uidnext"] = int(match.group(1))
        return found

    async def search(self, *criteria: str) -> list[int]:
        uids: list[int] = []
        for line in await self.command("UID SEARCH", *(c.encode() for c in criteria)):
            if line.upper().startswith(b"* SEARCH"):
                uids.extend(int(t) for t in line[8:].split())
        return sorted(uids)

    async def idle_start(self) -> bytes:
        """Send IDLE and wait for the continuation; returns the tag to end it with :meth:`idle_done`."""
        tag = self._next_tag()
        await self._send(tag + b" IDLE\r\n")
        self.round_trips += 1
        while True:
            response = await self.read_response()
            if response.startswith(b"+"):
                return tag
            self._check_tagged(tag, response, "IDLE")
            if response.startswith(tag + b" "):
                raise ImapIdleError("IDLE ended before it began")
            if response.startswith(b"* BYE"):
                raise ImapIdleError(f"the server said goodbye: {response[:200]!r}")

    async def idle_done(self, tag: bytes) -> list[bytes]:
        await self._send(b"DONE\r\n")
        untagged: list[bytes] = []
        while True:
            response = await self.read_response()
            if response.startswith(tag + b" "):
                self._check_tagged(tag, response, "IDLE")
                return untagged
            untagged.append(response)

    async def close(self) -> None:
        try:
            if not self.writer.is_closing():
                self.writer.write(self._next_tag() + b" LOGOUT\r\n")
                await asyncio.wait_for(self.writer.drain(), 2)
        except (TimeoutError, OSError, ssl.SSLError):
            pass  # closing anyway
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 2)
        except (TimeoutError, OSError, ssl.SSLError):
            pass


def tls_mode(port: int | None, extra: dict) -> str:
    """The same choice as ``adapters.imap.JicketImapHook``: extra ``tls``, else implicit TLS unless port 143."""
    return imap_tls_mode(port, extra)


class ImapIdleTrigger(BaseEventTrigger):
    """Fires an event whenever new mail arrives in ``folder`` of the IMAP connection ``conn_id``.

    Event payload: ``{"folder", "exists", "uidvalidity", "reason" ("new_mail" | "waiting"),
    "detected_at" (epoch seconds)}``.
    """

    def __init__(self, conn_id: str = "jicket_imap", folder: str = "INBOX", debounce_seconds: float = 0.2,
                 renew_seconds: float = 1500.0, poll_seconds: float = 30.0, max_backoff_seconds: float = 300.0,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id
        self.folder = folder
        self.debounce_seconds = float(debounce_seconds)
        self.renew_seconds = float(renew_seconds)  # RFC 2177: re-issue IDLE at least every 29 minutes
        self.poll_seconds = float(poll_seconds)
        self.max_backoff_seconds = float(max_backoff_seconds)
        self._uidnext: int | None = None  # UIDNEXT of the last session: what a new session compares to
        self._client: AsyncImap | None = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return CLASSPATH, {"conn_id": self.conn_id, "folder": self.folder, "debounce_seconds": self.debounce_seconds,
                           "renew_seconds": self.renew_seconds, "poll_seconds": self.poll_seconds,
                           "max_backoff_seconds": self.max_backoff_seconds}

    # -- the connection ------------------------------------------------------------------------------
    async def connection(self) -> dict[str, Any]:
        """host, port, login, password, extra of the IMAP connection (0.6.2 variables as a fallback)."""
        import os

        try:
            from airflow.sdk.bases.hook import BaseHook

            conn = await BaseHook.aget_connection(self.conn_id)
        except Exception:  # noqa: BLE001 - not defined anywhere: try jicket 0.6.2's variables, as tasks do
            if not os.environ.get("JICKET_IMAP_HOST"):
                raise
            from jicket_ops.domain.settings import environment_lookup
            from jicket_ops.orchestration.connections import imap_connection

            return imap_connection(environment_lookup(), self.conn_id)
        return {"host": conn.host, "port": conn.port, "login": conn.login, "password": conn.password,
                "extra": conn.extra_dejson}

    async def open_session(self) -> AsyncImap:
        conn = await self.connection()
        extra = conn.get("extra") or {}
        tls = tls_mode(conn.get("port"), extra)
        port = int(conn.get("port") or (993 if tls == "ssl" else 143))
        context = ssl_context(extra) if tls != "none" else None
        try:
            client = await asyncio.wait_for(
                AsyncImap.connect(conn["host"], port, tls, context, float(extra.get("timeout", 60))),
                greeting_timeout(extra))
        except (TimeoutError, OSError, ImapIdleError) as exc:  # the other TLS mode? a second look says
            mismatch = await asyncio.to_thread(diagnose_tls_mode, IMAP_TLS, self.conn_id, conn["host"], port, tls,
                                               exc)
            if mismatch is not None:
                raise mismatch from exc
            raise
        try:
            if uses_oauth(extra):
                await self._log_in_oauth(client, conn, port)
            else:
                await client.login(conn.get("login") or "", conn.get("password") or "")
        except BaseException:
            await client.close()
            raise
        return client

    async def _log_in_oauth(self, client: AsyncImap, conn: dict[str, Any], port: int) -> None:
        """SASL XOAUTH2/OAUTHBEARER with the process's token for this connection, renewed when it is about to
        expire (each reconnect after hours gets a live token) and once more if the server refuses it."""
        extra = conn.get("extra") or {}
        user = conn.get("login") or ""
        source = token_source(self.conn_id, extra, user)
        mech = mechanism(self.conn_id, extra)
        for renew in (False, True):
            token = await asyncio.to_thread(source.token, renew)  # an HTTP request at most: not on the loop
            try:
                await client.authenticate(mech, sasl_response(mech, user, token, conn["host"], port))
                return
            except ImapIdleError as exc:
                if renew or source.kind == "fixed":
                    raise source.refused("IMAP server", str(exc)) from exc

    # -- the watch -----------------------------------------------------------------------------------
    def _event(self, reason: str, exists: int, uidvalidity: int) -> TriggerEvent:
        return TriggerEvent({"folder": self.folder, "reason": reason, "exists": exists, "uidvalidity": uidvalidity,
                             "detected_at": time.time()})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        backoff = 1.0
        while True:
            try:
                async for event in self.watch():
                    backoff = 1.0
                    yield event
            except asyncio.CancelledError:
                raise
            except (TimeoutError, OSError, ssl.SSLError, ImapIdleError, EOFError, asyncio.IncompleteReadError) as exc:
                self.log.warning("IMAP IDLE on %s (connection %s) lost: %s; reconnecting in %.0f s",
                                 self.folder, self.conn_id, exc, backoff)
            except Exception as exc:  # noqa: BLE001 - a watcher must outlive a bad setting until it is fixed
                self.log.error("IMAP IDLE on %s (connection %s) failed: %s; retrying in %.0f s",
                               self.folder, self.conn_id, exc, backoff)
            finally:
                await self.cleanup()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff_seconds)

    async def watch(self) -> AsyncIterator[TriggerEvent]:
        """One session: catch up, then IDLE (or NOOP polling) until the connection fails."""
        self._client = client = await self.open_session()
        state = await client.examine(self.folder)
        exists, uidvalidity = state["exists"], state["uidvalidity"]
        moved = self._uidnext is not None and state["uidnext"] != self._uidnext
        waiting = await client.search("UNDELETED", "UNKEYWORD", DONE_KEYWORD) if self._uidnext is None or moved \
            else []
        self._uidnext = state["uidnext"]
        self.log.info("watching %s (connection %s): %d mails, %d waiting, IDLE %s", self.folder, self.conn_id,
                      exists, len(waiting), "yes" if "IDLE" in client.capabilities else "no (polling)")
        if waiting or moved:
            yield self._event("waiting", exists, uidvalidity)
        if "IDLE" not in client.capabilities:
            async for event in self._poll(client, exists, uidvalidity):
                yield event
            return
        loop = asyncio.get_running_loop()
        while True:
            tag = await client.idle_start()
            renew_at = loop.time() + self.renew_seconds
            fire_at: float | None = None
            while True:
                deadline = min(renew_at, fire_at) if fire_at is not None else renew_at
                try:
                    line = await client.read_response(max(0.0, deadline - loop.time()))
                except TimeoutError:
                    line = None
                if line is not None:
                    new_exists = self._track(line, exists)
                    if new_exists > exists and fire_at is None:
                        fire_at = loop.time() + self.debounce_seconds
                    exists = new_exists
                    continue
                if fire_at is not None and loop.time() >= fire_at:
                    fire_at = None
                    yield self._event("new_mail", exists, uidvalidity)  # IDLE stays open meanwhile
                if loop.time() >= renew_at:
                    break
            for line in await client.idle_done(tag):
                new_exists = self._track(line, exists)
                if new_exists > exists:
                    yield self._event("new_mail", new_exists, uidvalidity)
                exists = new_exists

    async def _poll(self, client: AsyncImap, exists: int, uidvalidity: int) -> AsyncIterator[TriggerEvent]:
        while True:
            await asyncio.sleep(self.poll_seconds)
            seen = exists
            for line in await client.command("NOOP"):
                exists = self._track(line, exists)
            if exists > seen:
                yield self._event("new_mail", exists, uidvalidity)

    @staticmethod
    def _track(line: bytes, exists: int) -> int:
        """The message count after one untagged response."""
        if line.startswith(b"* BYE"):
            raise ImapIdleError(f"the server said goodbye: {line[:200]!r}")
        if match := _EXISTS.match(line):
            return int(match.group(1))
        if _EXPUNGE.match(line):
            return max(0, exists - 1)
        return exists

    async def cleanup(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.close()


def inbox_asset(conn_id: str = "jicket_imap", folder: str = "INBOX", **trigger_kwargs: Any):
    """The helpdesk inbox as an Airflow asset, watched by :class:`ImapIdleTrigger`."""
    from airflow.sdk import Asset, AssetWatcher

    return Asset(
        name=f"jicket_inbox__{conn_id}__{folder}",
        uri=f"x-jicket-imap://{url_quote(conn_id, safe='')}/{url_quote(folder, safe='')}",  # x-: no URI handler
        group="jicket",
        watchers=[AssetWatcher(name=f"jicket_imap_idle__{conn_id}__{folder}",
                               trigger=ImapIdleTrigger(conn_id=conn_id, folder=folder, **trigger_kwargs))],
    )
