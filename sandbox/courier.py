"""A private Courier-IMAP for tests: a real IMAP server WITHOUT custom keywords (like Microsoft Exchange).

What runs: Debian 12's Courier-IMAP 5.0.13 ``imapd``, one process per logged-in connection,
serving the user's Maildir with ``IMAP_KEYWORDS=0``. Measured facts (asserted in tests/sandbox/test_courier.py):

* CAPABILITY after login: ``IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=... SORT QUOTA IDLE ENABLE
  UTF8=ACCEPT`` -- UIDPLUS and IDLE yes, **no MOVE** (``UID MOVE`` is answered ``NO``), no CONDSTORE.
* ``PERMANENTFLAGS (\\Draft \\Answered \\Flagged \\Deleted \\Seen)``: no ``\\*``.
* ``STORE +FLAGS ($Keyword)`` is **refused** with ``NO`` (not silently ignored); so is APPEND with a keyword.
* Folders live in the ``INBOX.`` namespace with separator ``.`` (``CREATE jicket`` is refused,
  ``CREATE INBOX.jicket`` works): :data:`FOLDER_PREFIX`.
* IDLE with ``IMAP_ENHANCEDIDLE=0``: imapd re-checks the folder every ``IMAP_IDLE_TIMEOUT`` seconds (``idle_timeout``,
  2 here; Debian's 60 sent nothing within 30 s). Measured: ``* 1 EXISTS`` 1.5 s after a delivery.
  ``IMAP_ENHANCEDIDLE=1`` notifies in ~0.7 s through FAM but is off, to keep to plain polling. Either
  way libgamin starts a per-machine ``/usr/libexec/gam_server`` (not a child of this server, so stop()
  cannot end it); it exits by itself within about a minute after the last imapd. Pointing
  ``GAMIN_DEBUG_SERVER`` at ``/bin/false`` to prevent that makes imapd fail at login.
* A session sees mail added by others (APPEND elsewhere, delivery) only after its next command that
  checks the folder (NOOP, SELECT, ...), as IMAP allows.

How a login works (and why not Courier's own login chain): Courier's ``imaplogin`` authenticates through
courier-authlib's ``authdaemond``, whose socket and userdb paths are compiled in (``/run/courier/authdaemon``,
``/etc/courier/userdb``): one machine-wide instance, not a private one per test. So this module is the
login front-end instead: an asyncio server (in a background thread of the Python process) that listens
on two ports of 127.0.0.1 -- IMAP with STARTTLS and IMAPS (implicit TLS) -- speaks the not-authenticated
state itself (CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE PLAIN) against its own user table,
and after a successful login starts ``imapd MAILDIR`` (which, started without ``AUTH*`` variables,
greets ``* PREAUTH``: that line is swallowed and the client gets ``tag OK``) and relays bytes both ways
unchanged. Everything after login is Courier's. Plaintext login needs TLS unless the client's address
equals the server's (as Dovecot treats loopback): connect from 127.0.0.2 to see TLS enforced.

The binary comes from Debian's ``courier-imap`` package unpacked into /opt/courier-imap by
scripts/setup-system.sh, not installed: that package conflicts with ``dovecot-imapd`` (installing it
removes Dovecot's IMAP server). Its libraries (courier-authlib, libcourier-unicode4, libgamin0, libgdbm6,
libidn12) are ordinary packages.

No root needed: the Maildirs belong to the user running the tests, and so do the ``imapd`` processes.
There is no LMTP: :meth:`CourierImapServer.deliver` writes a mail into a Maildir the Maildir way
(``tmp/`` then a rename into ``new/``), which the SMTP relay uses as its delivery strategy.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import imaplib
import itertools
import os
import re
import signal
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from sandbox.mailserver import pid_alive, port_is_free
from sandbox.tls import TlsFiles, make_certificates

__all__ = ["CourierImapServer", "CourierError", "FOLDER_PREFIX", "DEFAULT_CAPABILITY", "imapd_binary"]

FOLDER_PREFIX = "INBOX."  # Courier's personal namespace: every folder but INBOX is INBOX.<name>
# Debian's /etc/courier/imapd IMAP_CAPABILITY without the AUTH= mechanisms (this front-end does the login).
DEFAULT_CAPABILITY = "IMAP4rev1 UIDPLUS CHILDREN NAMESPACE THREAD=ORDEREDSUBJECT THREAD=REFERENCES SORT QUOTA IDLE"
_MAX_LINE = 64 * 1024  # longest command line accepted before login
_LITERAL = re.compile(rb"\{(\d+)(\+?)\}$")


class CourierError(RuntimeError):
    pass


# Debian's courier-imap conflicts with dovecot-imapd (both provide imap-server), so scripts/setup-system.sh
# unpacks the package here instead of installing it: imapd needs nothing but libc.
COURIER_ROOT = Path(os.environ.get("JICKET_COURIER_ROOT", "/opt/courier-imap"))


# Where scripts/setup-system.sh unpacks Debian's courier-imap (not installed as a package: it conflicts
# with dovecot-imapd, both provide imap-server, so installing one removes the other).
UNPACKED_IMAPD = "/opt/courier-imap/usr/bin/imapd"


def imapd_binary() -> str:
    """Path of Courier's imapd: ``$JICKET_COURIER_IMAPD``, the unpacked copy, or an installed courier-imap."""
    candidates = [os.environ.get("JICKET_COURIER_IMAPD", ""), UNPACKED_IMAPD]
    if os.path.exists("/usr/lib/courier/imapd"):  # /usr/bin/imapd is Courier's only when the package is in
        candidates.append("/usr/bin/imapd")
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    raise CourierError(f"Courier's imapd not found at {UNPACKED_IMAPD}: run scripts/setup-system.sh")


class _Closed(Exception):
    """The client went away (or sent something this front-end refuses to parse) before logging in."""


class _Connection:
    """One client connection in the not-authenticated state; after login, a byte relay to its imapd."""

    def __init__(self, server: CourierImapServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 implicit_tls: bool):
        self.server, self.reader, self.writer = server, reader, writer
        self.tls = implicit_tls
        peer = writer.get_extra_info("peername") or ("", 0)
        local = writer.get_extra_info("sockname") or ("", 0)
        self.peer_ip, self.peer_port = peer[0], peer[1]
        # Like Dovecot: a connection whose two ends have the same address counts as secured.
        self.same_host = peer[0] == local[0]

    @property
    def secured(self) -> bool:
        return self.tls or self.same_host

    def capability(self) -> str:
        caps = ["IMAP4rev1"]
        if not self.tls and self.server.starttls_available:
            caps.append("STARTTLS")
        if self.secured:
            caps.append("AUTH=PLAIN")
        else:
            caps.append("LOGINDISABLED")
        return " ".join(caps)

    async def send(self, line: str) -> None:
        self.writer.write(line.encode() + b"\r\n")
        await self.writer.drain()

    async def read_line(self) -> bytes:
        try:
            line = await self.reader.readuntil(b"\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as e:
            raise _Closed from e
        return line.rstrip(b"\r\n")

    async def read_command(self) -> bytes:
        """One command line with its literals inlined as quoted strings (LOGIN may send literals)."""
        line = await self.read_line()
        out = b""
        while (m := _LITERAL.search(line)) is not None:
            size = int(m.group(1))
            if size > _MAX_LINE:
                raise _Closed
            if not m.group(2):  # synchronizing literal: the client waits for a continuation
                await self.send("+ OK")
            try:
                data = await self.reader.readexactly(size)
            except (asyncio.IncompleteReadError, ConnectionError) as e:
                raise _Closed from e
            out += line[:m.start()] + _quote(data)
            line = await self.read_line()
        return out + line

    async def run(self) -> None:
        try:
            await self.send(f"* OK [CAPABILITY {self.capability()}] Courier-IMAP (sandbox login front-end) ready.")
            while True:
                line = await self.read_command()
                tag, _, rest = line.partition(b" ")
                command, _, args = rest.partition(b" ")
                tag_s, cmd = tag.decode(errors="replace"), command.decode(errors="replace").upper()
                if not tag or not command:
                    await self.send(f"{tag_s or '*'} BAD Error in IMAP command received by server.")
                elif cmd == "CAPABILITY":
                    await self.send(f"* CAPABILITY {self.capability()}")
                    await self.send(f"{tag_s} OK CAPABILITY completed")
                elif cmd == "NOOP":
                    await self.send(f"{tag_s} OK NOOP completed")
                elif cmd == "LOGOUT":
                    await self.send("* BYE Courier-IMAP server shutting down")
                    await self.send(f"{tag_s} OK LOGOUT completed")
                    return
                elif cmd == "STARTTLS" and not self.tls and self.server.starttls_available:
                    await self.send(f"{tag_s} OK Begin SSL/TLS negotiation now.")
                    await self.writer.start_tls(self.server.tls_context)
                    self.tls = True
                elif cmd in ("LOGIN", "AUTHENTICATE"):
                    user = await self.login(tag_s, cmd, args)
                    if user is not None:
                        await self.serve_imapd(tag_s, user)
                        return
                else:
                    await self.send(f"{tag_s} BAD Error in IMAP command received by server.")
        except (_Closed, ConnectionError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            pass  # stop(): the server is going away; asyncio's stream callback would log a traceback
        finally:
            self.writer.close()

    async def login(self, tag: str, cmd: str, args: bytes) -> str | None:
        """Check LOGIN / AUTHENTICATE PLAIN; answers failures itself, returns the user on success."""
        if cmd == "LOGIN":
            words = _astrings(args)
            if len(words) != 2:
                await self.send(f"{tag} BAD LOGIN needs a user name and a password.")
                return None
            user, password = words
        else:
            mechanism, _, initial = args.partition(b" ")
            if mechanism.upper() != b"PLAIN":
                await self.send(f"{tag} NO Unsupported authentication mechanism.")
                return None
            if not initial:
                await self.send("+ ")
                initial = await self.read_line()
            if initial == b"*":
                await self.send(f"{tag} BAD AUTHENTICATE cancelled.")
                return None
            try:
                _authzid, user, password = base64.b64decode(initial, validate=True).split(b"\0")
            except ValueError:
                await self.send(f"{tag} BAD Invalid AUTHENTICATE PLAIN response.")
                return None
        if not self.secured:
            await self.send(f"{tag} NO [PRIVACYREQUIRED] Plaintext login needs STARTTLS first.")
            return None
        login = user.decode(errors="replace").lower()
        expected = self.server.users.get(login)
        if expected is None or not hmac.compare_digest(expected.encode(), password):
            self.server._log(f"front-end: LOGIN FAILED, user={login}, ip=[{self.peer_ip}]")
            await self.send(f"{tag} NO [AUTHENTICATIONFAILED] Login failed.")
            return None
        return login

    async def serve_imapd(self, tag: str, user: str) -> None:
        """Start imapd on USER's Maildir, swallow its PREAUTH greeting, answer OK, then relay bytes."""
        server = self.server
        env = server.imapd_environment(user, tls=self.tls, peer=(self.peer_ip, self.peer_port))
        with open(server.log_file, "ab") as log:
            proc = await asyncio.create_subprocess_exec(
                imapd_binary(), str(server.maildir(user)), stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=log, env=env, cwd=str(server.maildir(user)),
                start_new_session=True)
        server._children.add(proc)
        server._seen_pids.add(proc.pid)
        try:
            assert proc.stdout is not None and proc.stdin is not None
            try:
                greeting = await asyncio.wait_for(proc.stdout.readline(), 10)
            except TimeoutError:
                greeting = b""
            if not greeting.startswith(b"* PREAUTH"):
                server._log(f"front-end: imapd for {user} did not greet with PREAUTH: {greeting!r}")
                await self.send(f"{tag} NO [UNAVAILABLE] Mailbox not available.")
                return
            await self.send(f"{tag} OK LOGIN Ok.")
            await _relay(self.reader, self.writer, proc.stdout, proc.stdin)
        finally:
            if proc.returncode is None:
                try:
                    proc.stdin.close()  # imapd ends at end of input
                    await asyncio.wait_for(proc.wait(), 2)
                except (TimeoutError, OSError):
                    proc.kill()
                    await proc.wait()
            server._children.discard(proc)


async def _relay(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                 imapd_r: asyncio.StreamReader, imapd_w: asyncio.StreamWriter) -> None:
    """Copy bytes both ways until either side ends; then end the other."""

    client_sock = client_w.get_extra_info("socket")

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, ack: bool) -> None:
        try:
            while data := await src.read(65536):
                if ack and client_sock is not None:
                    # ACK what the client sent now: imaplib sends an APPEND literal and its closing CRLF in
                    # two writes with Nagle on, and the CRLF waited ~40 ms for Linux's delayed ACK (46 ms per
                    # APPEND against 3.4 ms on Dovecot and 3.7 ms on imapd alone).
                    client_sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                dst.write(data)
                await dst.drain()
        except (ConnectionError, ssl.SSLError):
            pass

    up = asyncio.ensure_future(pump(client_r, imapd_w, ack=True))
    down = asyncio.ensure_future(pump(imapd_r, client_w, ack=False))
    _done, pending = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)


def _quote(data: bytes) -> bytes:
    return b'"' + data.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'


def _astrings(args: bytes) -> list[bytes]:
    """IMAP atoms and quoted strings of ARGS (literals were inlined as quoted strings already)."""
    words, i = [], 0
    while i < len(args):
        if args[i:i + 1] == b" ":
            i += 1
        elif args[i:i + 1] == b'"':
            word, i = bytearray(), i + 1
            while i < len(args) and args[i:i + 1] != b'"':
                if args[i:i + 1] == b"\\":
                    i += 1
                word += args[i:i + 1]
                i += 1
            words.append(bytes(word))
            i += 1
        else:
            end = args.find(b" ", i)
            end = len(args) if end < 0 else end
            words.append(args[i:end])
            i = end
    return words


class CourierImapServer:
    """``with CourierImapServer(dir, {"a@example.test": "pw"}) as c: ...`` -- IMAP (STARTTLS) and IMAPS.

    The same surface as :class:`sandbox.mailserver.DovecotServer` where the stack and tests use it
    (``host``, ``imap_port``, ``imaps_port``, ``tls``, ``ca_file``, ``add_user``, ``maildir``, ``start``,
    ``stop``, ``running``, ``pids``, ``log_text``), except LMTP (``lmtp_port`` stays 0): deliver with
    :meth:`deliver`. ``keywords=True`` turns Courier's custom keywords back on (for comparison).
    """

    kind = "courier"
    folder_prefix = FOLDER_PREFIX

    def __init__(self, base_dir: Path | str, users: Mapping[str, str], host: str = "127.0.0.1",
                 tls: TlsFiles | None = None, *, keywords: bool = False, capability: str = DEFAULT_CAPABILITY,
                 idle_timeout: int = 2):
        self.base_dir = Path(base_dir).absolute()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.root = self.base_dir
        self.host = host
        self.keywords = keywords
        self.capability = capability
        self.idle_timeout = idle_timeout
        self.users: dict[str, str] = {}
        self.imap_port = self.imaps_port = 0
        self.lmtp_port = 0  # no LMTP: see deliver()
        self.tls = tls or make_certificates(self.root / "tls")
        self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls_context.load_cert_chain(str(self.tls.cert), str(self.tls.key))
        self.tls_context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.starttls_available = True
        (self.root / "mail").mkdir(exist_ok=True)
        for addr, pw in users.items():
            self._set_user(addr, pw)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._servers: list[asyncio.base_events.Server] = []
        self._children: set[asyncio.subprocess.Process] = set()
        self._seen_pids: set[int] = set()
        self._log_lock = threading.Lock()
        self._deliveries = itertools.count()

    # ------------------------------------------------------------------ paths and properties
    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    @property
    def log_file(self) -> Path:
        return self.root / "courier.log"

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def master_pid(self) -> int | None:
        """The process that accepts connections (this one: the front-end runs in a thread), when running."""
        return os.getpid() if self.running else None

    def maildir(self, user: str) -> Path:
        local, _, domain = user.lower().partition("@")
        return self.root / "mail" / domain / local / "Maildir"

    def folder(self, name: str) -> str:
        """The IMAP name of folder NAME in Courier's namespace (``jicket`` -> ``INBOX.jicket``)."""
        return name if name.upper() == "INBOX" or name.startswith(FOLDER_PREFIX) else FOLDER_PREFIX + name

    def pids(self) -> set[int]:
        """The imapd processes serving logged-in connections right now (not zombies)."""
        return {p.pid for p in list(self._children) if pid_alive(p.pid)}

    def started_pids(self) -> set[int]:
        """Every imapd process this server has started (to check that none outlives stop())."""
        return set(self._seen_pids)

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _log(self, text: str) -> None:
        with self._log_lock, open(self.log_file, "a") as f:
            f.write(text + "\n")

    # ------------------------------------------------------------------ users and mail
    def _set_user(self, addr: str, password: str) -> None:
        if "@" not in addr or any(c.isspace() for c in addr) or "/" in addr or addr.startswith("."):
            raise ValueError(f"unusable user name: {addr!r}")
        self.users[addr.lower()] = password
        maildir = self.maildir(addr)
        for sub in ("cur", "new", "tmp"):
            (maildir / sub).mkdir(parents=True, exist_ok=True)

    def add_user(self, addr: str, password: str) -> None:
        """Add (or change the password of) a user and create the Maildir; takes effect at once."""
        self._set_user(addr, password)

    def deliver(self, mail_from: str, rcpt: str, data: bytes, mail_options: Iterable[str] = ()) -> None:
        """Put DATA into RCPT's INBOX as a local delivery agent does: write ``tmp/``, fsync, rename into
        ``new/``. Adds ``Return-Path`` and ``Delivered-To`` on top as Dovecot's LMTP does, and stores
        LF line ends (the Maildir convention; Courier sends CRLF)."""
        user = rcpt.lower()
        if user not in self.users:
            raise FileNotFoundError(f"no mailbox for {rcpt}")  # an OSError: the relay answers 451
        maildir = self.maildir(user)
        body = data.replace(b"\r\n", b"\n")
        text = f"Return-Path: <{mail_from}>\nDelivered-To: {rcpt}\n".encode() + body
        now = time.time()
        name = (f"{int(now)}.M{int(now * 1e6) % 1000000}P{os.getpid()}Q{next(self._deliveries)}"
                f".{socket.gethostname().replace('/', '_').replace(':', '_')},S={len(text)}")
        tmp = maildir / "tmp" / name
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, text)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.rename(tmp, maildir / "new" / name)

    # ------------------------------------------------------------------ imapd
    def imapd_environment(self, user: str, *, tls: bool, peer: tuple[str, int]) -> dict[str, str]:
        """The environment Courier's start script would export from /etc/courier/imapd (not read here)."""
        caps = self.capability
        return {
            "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
            "HOME": str(self.maildir(user).parent),
            "IMAP_CAPABILITY": caps,
            "IMAP_CAPABILITY_TLS": caps,
            "IMAP_TLS": "1" if tls else "0",
            "IMAP_KEYWORDS": "1" if self.keywords else "0",
            "IMAP_ACL": "0",  # Exchange has no ACL extension either
            "IMAP_IDLE_TIMEOUT": str(self.idle_timeout),
            "IMAP_USELOCKS": "1",
            "IMAP_ENHANCEDIDLE": "0",  # 1: instant IDLE through FAM (gam_server); see the module docstring
            "IMAP_MAILBOX_SANITY_CHECK": "1",
            "IMAP_UMASK": "022",
            "IMAP_ULIMITD": "131072",
            "IMAP_DISABLETHREADSORT": "0",
            "IMAP_CHECK_ALL_FOLDERS": "0",
            "IMAP_OBSOLETE_CLIENT": "0",
            "IMAP_TRASHFOLDERNAME": "Trash",
            "IMAP_EMPTYTRASH": "",  # never purge anything by itself
            "IMAP_MOVE_EXPUNGE_TO_TRASH": "0",
            "IMAP_SHAREDINDEXFILE": str(self.root / "shared-index"),  # absent: no shared folders
            "SENDMAIL": "/bin/false",  # imapd's outbox feature must not send anything
            "TCPREMOTEIP": peer[0],
            "TCPREMOTEPORT": str(peer[1]),
            "MAILDIRPATH": "Maildir",
        }

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> CourierImapServer:
        """Start the front-end (both ports bound by the kernel's pick, so no race) in a background thread."""
        if self.running:
            return self
        imapd_binary()
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                plain = loop.run_until_complete(asyncio.start_server(
                    lambda r, w: _Connection(self, r, w, implicit_tls=False).run(), self.host, 0,
                    limit=_MAX_LINE))
                implicit = loop.run_until_complete(asyncio.start_server(
                    lambda r, w: _Connection(self, r, w, implicit_tls=True).run(), self.host, 0,
                    ssl=self.tls_context, limit=_MAX_LINE))
                self._servers = [plain, implicit]
                self.imap_port = plain.sockets[0].getsockname()[1]
                self.imaps_port = implicit.sockets[0].getsockname()[1]
            except BaseException as e:  # noqa: BLE001 - handed to start()
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._shutdown())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"courier-front-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise CourierError("Courier front-end did not start")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    async def _shutdown(self) -> None:
        for srv in self._servers:
            srv.close()
        for proc in list(self._children):  # end of input first: imapd finishes a LOGOUT in progress cleanly
            if proc.stdin is not None:
                proc.stdin.close()
        if self._children:
            await asyncio.wait([asyncio.ensure_future(p.wait()) for p in self._children], timeout=1)
        for proc in list(self._children):  # imapd processes: each leads its own session
            if proc.returncode is not None:
                continue
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for srv in self._servers:
            await srv.wait_closed()
        for proc in list(self._children):
            try:
                await asyncio.wait_for(proc.wait(), 5)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        self._children.clear()
        self._servers = []

    def stop(self, timeout: float = 10.0) -> None:
        """Stop accepting, end every imapd, wait until the ports are free; safe to call twice."""
        if self._thread is None:
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise CourierError("Courier front-end thread did not stop")
        self._thread = None
        self._loop = None
        deadline = time.monotonic() + timeout
        for port in (self.imap_port, self.imaps_port):
            while port and not port_is_free(self.host, port):
                if time.monotonic() > deadline:
                    raise CourierError(f"port {port} still taken after the Courier front-end stopped")
                time.sleep(0.01)

    def wait_login_works(self, addr: str, password: str) -> None:
        """Log in once over IMAPS (a start-up check for callers that want one)."""
        context = ssl.create_default_context(cafile=str(self.ca_file))
        with imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=10) as client:
            client.login(addr, password)
            client.logout()

    def __enter__(self) -> CourierImapServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"CourierImapServer({str(self.root)!r}, imap={self.imap_port}, imaps={self.imaps_port}, "
                f"keywords={self.keywords}, running={self.running})")
