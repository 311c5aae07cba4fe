"""A private Dovecot (IMAP, IMAPS, LMTP) for tests and the local sandbox.

The instance reads only the ``dovecot.conf`` written here (nothing from /etc/dovecot), keeps its users
in a passwd-file (re-read by Dovecot whenever it changes, so users can be added while it runs) and its
mail in Maildir folders, and listens on free ports of 127.0.0.1:

* IMAP with STARTTLS (``ssl = yes``, not ``required``: Dovecot treats loopback as secured, so a
  plaintext login from 127.0.0.1 works; connect from 127.0.0.2 to see TLS enforced),
* IMAPS,
* LMTP (delivery into a user's INBOX; the SMTP relay uses it).

The per-IP auth penalty (a 2-15 s delay for every login from an address after a failed one) and the
2 s failure delay are disabled. A wrong password still takes up to 0.5 s: Dovecot 2.3.19's auth process
answers failures from a 500 ms timer whatever ``auth_failure_delay`` says (a passdb ``nodelay`` field
would skip it, but passwd-file drops its fields when the password does not match).

Dovecot runs as root, but its auth process runs as ``dovecot`` and mail processes as ``mail``: both
must be able to reach their files. When ``base_dir`` lies below a directory they cannot enter (pytest's
``tmp_path`` is under a 0700 directory) or is too long for Unix socket paths, the live tree is kept in
a fresh directory under the system temp directory instead; ``base_dir/dovecot-root`` then links to it,
and it is removed when the Python process exits (after stopping Dovecot).

OAuth 2.0 (``oauth2=DovecotOAuth2(...)``): a second passdb (``driver = oauth2``) serves the SASL
mechanisms XOAUTH2 and OAUTHBEARER; Dovecot POSTs each bearer token to the authorization server's RFC 7662
introspection endpoint (authenticating as a resource-server client) and accepts the login when the answer
is ``"active": true`` with ``username`` equal to the login user. With ``only=True`` password logins are
refused, as on Exchange Online and Google Workspace: the password passdb is replaced by a master-user
passdb, so the test harness (and only it) still reaches any mailbox with ``user*<master>`` and the master
password (:meth:`DovecotServer.harness_login`).
"""

from __future__ import annotations

import atexit
import errno
import imaplib
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sandbox.tls import TlsFiles, make_certificates

__all__ = ["DovecotServer", "DovecotError", "DovecotOAuth2", "free_port", "port_is_free", "wait_for_port",
           "pid_alive", "session_processes"]

_MAX_RUN_DIR = 70  # socket paths below base_dir must fit in sun_path (108 bytes)


class DovecotError(RuntimeError):
    pass


MASTER_SEPARATOR = "*"  # auth_master_user_separator: "user*master" logs in as user with the master's password


@dataclass(frozen=True)
class DovecotOAuth2:
    """How Dovecot checks OAuth 2.0 bearer tokens: RFC 7662 introspection at an authorization server."""

    introspection_url: str  # http(s)://... of the authorization server's introspection endpoint
    client_id: str = ""  # Dovecot's own client at that server (sent with every introspection)
    client_secret: str = ""
    ca_file: Path | str | None = None  # trust anchor for an https:// introspection URL
    only: bool = False  # OAuth-only: password logins are refused (the harness keeps a master user)

    def __post_init__(self) -> None:
        for value in (self.introspection_url, self.client_id, self.client_secret):
            if any(c in value for c in "\n\r\0"):
                raise ValueError(f"unusable value in a Dovecot settings file: {value!r}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind: TIME_WAIT is no obstacle
        try:
            s.bind((host, port))
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                return False
            raise
        return True


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing accepts connections on {host}:{port} after {timeout} s") \
                    from None
            time.sleep(0.01)


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name: [state, ppid, pgrp, session, ...]."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return raw[raw.rindex(")") + 2:].split()


def pid_alive(pid: int) -> bool:
    """True while PID exists and is not a zombie (exited daemons are reaped slowly here)."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def session_processes(sid: int) -> set[int]:
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _proc_stat(int(entry))
            if fields is not None and int(fields[3]) == sid and fields[0] not in ("Z", "X"):
                found.add(int(entry))
    return found


def _reachable_by_others(path: Path) -> bool:
    """Every existing directory from / down to PATH can be entered by other users (o+x)."""
    path = path.resolve()
    for p in [*reversed(path.parents), path]:
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            return True  # created below with the default mode (0755 with umask 022)
        if not mode & stat.S_IXOTH:
            return False
    return True


def _dovecot_binary() -> str:
    found = shutil.which("dovecot") or shutil.which("dovecot", path="/usr/sbin:/usr/local/sbin:/sbin")
    if not found:
        raise DovecotError("dovecot is not installed (apt-get install dovecot-imapd dovecot-lmtpd)")
    return found


class DovecotServer:
    """A private Dovecot instance: ``with DovecotServer(dir, {"a@example.test": "pw"}) as d: ...``."""

    def __init__(self, base_dir: Path | str, users: Mapping[str, str], host: str = "127.0.0.1",
                 tls: TlsFiles | None = None, oauth2: DovecotOAuth2 | None = None):
        self.base_dir = Path(base_dir).absolute()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.users: dict[str, str] = {}
        for addr, pw in users.items():
            self._check_user(addr, pw)
            self.users[addr.lower()] = pw
        self.imap_port = self.imaps_port = self.lmtp_port = 0
        # OAuth 2.0 logins; may be set until start() (e.g. once the authorization server's port is known).
        self.oauth2 = oauth2
        self.master_user = "sandbox-harness"
        self.master_password = secrets.token_urlsafe(18)
        self._proc: subprocess.Popen | None = None
        self._fallback: Path | None = None
        if _reachable_by_others(self.base_dir) and len(str(self.base_dir / "run")) <= _MAX_RUN_DIR:
            self.root = self.base_dir
        else:
            self._fallback = Path(tempfile.mkdtemp(prefix="jicket-dovecot-"))
            os.chmod(self._fallback, 0o755)
            self.root = self._fallback
            link = self.base_dir / "dovecot-root"
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(self._fallback)
            atexit.register(self._cleanup_fallback)
        self.tls = tls or make_certificates(self.root / "tls")
        (self.root / "mail").mkdir(exist_ok=True)
        shutil.chown(self.root / "mail", "mail", "mail")
        self._write_passwd()

    # ------------------------------------------------------------------ paths and properties
    @property
    def conf_file(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def pid_file(self) -> Path:
        return self.run_dir / "master.pid"

    @property
    def log_file(self) -> Path:
        return self.root / "dovecot.log"

    @property
    def passwd_file(self) -> Path:
        return self.root / "passwd"

    @property
    def ca_file(self) -> Path:
        return self.tls.ca

    @property
    def master_pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    @property
    def running(self) -> bool:
        return self.master_pid is not None

    def maildir(self, user: str) -> Path:
        local, _, domain = user.lower().partition("@")
        return self.root / "mail" / domain / local / "Maildir"

    def pids(self) -> set[int]:
        """The master and every process it started (they share the master's session), not zombies."""
        if self._proc is None:
            return set()
        return session_processes(self._proc.pid)

    def log_text(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    # ------------------------------------------------------------------ users
    @staticmethod
    def _check_user(addr: str, pw: str) -> None:
        if "@" not in addr or any(c in addr + pw for c in ":\n\r\0") or any(c.isspace() for c in addr):
            raise ValueError(f"unusable user or password for a passwd-file: {addr!r}")

    def _write_passwd(self) -> None:
        lines = "".join(f"{addr}:{{PLAIN}}{pw}\n" for addr, pw in sorted(self.users.items()))
        tmp = self.passwd_file.with_name("passwd.tmp")
        tmp.write_text(lines)
        os.chmod(tmp, 0o644)  # the auth process runs as user dovecot
        os.replace(tmp, self.passwd_file)

    def add_user(self, addr: str, password: str) -> None:
        """Add (or change the password of) a user; works while Dovecot runs (passwd-file is re-read)."""
        self._check_user(addr, password)
        self.users[addr.lower()] = password
        self._write_passwd()
        if self.running and not self.oauth_only:  # OAuth-only: the passwd-file is not consulted at all
            self._wait_login_works(addr, password)

    @property
    def oauth_only(self) -> bool:
        return self.oauth2 is not None and self.oauth2.only

    def harness_login(self, user: str) -> tuple[str, str]:
        """(login, password) with which the test harness opens USER's mailbox: the user's own password,
        or in OAuth-only mode the master user (``user*master``), since passwords are refused there."""
        if self.oauth_only:
            return f"{user}{MASTER_SEPARATOR}{self.master_user}", self.master_password
        return user, self.users[user.lower()]

    @property
    def oauth2_file(self) -> Path:
        return self.root / "dovecot-oauth2.conf.ext"

    @property
    def master_passwd_file(self) -> Path:
        return self.root / "master-passwd"

    def _write_private(self, path: Path, text: str) -> None:
        """A file only Dovecot's auth process (user dovecot) and root can read: it holds secrets."""
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        shutil.chown(tmp, "dovecot", "dovecot")
        os.replace(tmp, path)

    def _write_oauth2_files(self) -> None:
        oauth2 = self.oauth2
        assert oauth2 is not None
        lines = [
            "# Written by sandbox/mailserver.py: the oauth2 passdb checks tokens by RFC 7662 introspection.",
            "introspection_mode = post",
            f"introspection_url = {oauth2.introspection_url}",
            f"client_id = {oauth2.client_id}",
            f"client_secret = {oauth2.client_secret}",
            "username_attribute = username",
            "active_attribute = active",
            "active_value = true",
            # Without it Dovecot may take the user from a token-info answer and skip the "active" check.
            "force_introspection = yes",
            "timeout_msecs = 10000",
        ]
        if oauth2.ca_file:
            lines.append(f"tls_ca_cert_file = {Path(oauth2.ca_file).absolute()}")
        self._write_private(self.oauth2_file, "\n".join(lines) + "\n")
        if oauth2.only:
            self._write_private(self.master_passwd_file, f"{self.master_user}:{{PLAIN}}{self.master_password}\n")

    def _userdb_extra(self) -> str:
        # A static userdb confirms a user (LMTP delivery) by a passdb lookup; OAuth-only has no passdb that
        # can answer one (the oauth2 passdb needs a token, the deny passdb refuses), so every user exists.
        # The relay still refuses unknown local recipients at RCPT.
        return " allow_all_users=yes" if self.oauth_only else ""

    def _auth_config(self) -> str:
        """auth_mechanisms and the passdbs: passwords only (the default), or passwords and OAuth 2.0, or
        OAuth 2.0 with a master user for the harness."""
        password_passdb = f"""passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%Lu {self.passwd_file}
}}"""
        if self.oauth2 is None:
            return f"auth_mechanisms = plain login\n{password_passdb}\n"
        oauth_passdb = f"""passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {self.oauth2_file}
}}"""
        if self.oauth2.only:
            return f"""auth_mechanisms = plain login xoauth2 oauthbearer
auth_master_user_separator = {MASTER_SEPARATOR}
passdb {{
  driver = passwd-file
  master = yes
  mechanisms = plain login
  args = scheme=PLAIN {self.master_passwd_file}
}}
passdb {{
  # Every password login fails as a plain authentication failure; with no passdb for PLAIN/LOGIN at
  # all, Dovecot answers [UNAVAILABLE] (a temporary failure, which clients retry) instead.
  driver = static
  deny = yes
  mechanisms = plain login
}}
{oauth_passdb}
"""
        # Restricted to plain/login, or the password passdb would also be asked to check bearer tokens.
        return f"""auth_mechanisms = plain login xoauth2 oauthbearer
passdb {{
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%Lu {self.passwd_file}
}}
{oauth_passdb}
"""

    def _wait_login_works(self, addr: str, password: str, timeout: float = 5.0) -> None:
        # Dovecot stats the passwd-file at most once a second: a change can take up to ~1 s to show.
        deadline = time.monotonic() + timeout
        while True:
            try:
                with imaplib.IMAP4(self.host, self.imap_port, timeout=5) as client:
                    client.login(addr, password)  # plaintext is allowed on loopback (treated as secured)
                    client.logout()
                return
            except imaplib.IMAP4.error:
                if time.monotonic() > deadline:
                    raise DovecotError(f"dovecot refuses the new login {addr} after {timeout} s") from None
                time.sleep(0.05)

    # ------------------------------------------------------------------ config
    def _config(self) -> str:
        r = self.root
        return f"""\
# Written by sandbox/mailserver.py: the whole configuration of a private test instance.
instance_name = jicket-sandbox-{os.getpid()}-{id(self):x}
base_dir = {self.run_dir}
state_dir = {r / "state"}
log_path = {self.log_file}
info_log_path = {self.log_file}
debug_log_path = {self.log_file}
auth_verbose = yes
protocols = imap lmtp
listen = {self.host}
hostname = localhost
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
first_valid_uid = 8
last_valid_uid = 0

ssl = yes
ssl_cert = <{self.tls.cert}
ssl_key = <{self.tls.key}
ssl_min_protocol = TLSv1.2

disable_plaintext_auth = yes
auth_failure_delay = 0
auth_cache_size = 0
{self._auth_config()}userdb {{
  driver = static
  args = uid=mail gid=mail home={r / "mail"}/%Ld/%Ln{self._userdb_extra()}
}}

mail_location = maildir:~/Maildir
mail_fsync = never
namespace inbox {{
  inbox = yes
  separator = /
}}
protocol imap {{
  mail_max_userip_connections = 200
}}
protocol lmtp {{
  postmaster_address = postmaster@example.test
}}

service imap-login {{
  inet_listener imap {{
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = {self.host}
    port = {self.lmtp_port}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service stats {{
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> DovecotServer:
        """Start Dovecot and wait until master.pid exists and every port accepts connections."""
        if self.running:
            return self
        last_error = ""
        for _ in range(3):  # a port picked as free can be taken before Dovecot binds it
            self.imap_port, self.imaps_port, self.lmtp_port = self._three_free_ports()
            self.conf_file.write_text(self._config())
            os.chmod(self.conf_file, 0o600)
            if self.oauth2 is not None:
                self._write_oauth2_files()
            if self.pid_file.exists():
                self.pid_file.unlink()
            out = open(self.root / "dovecot.stdout", "ab")
            try:
                self._proc = subprocess.Popen([_dovecot_binary(), "-F", "-c", str(self.conf_file)],
                                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True)
            finally:
                out.close()
            try:
                self._wait_ready(timeout)
                return self
            except DovecotError as e:
                last_error = str(e)
                self._terminate()
                if "Address already in use" not in last_error:
                    break
        raise DovecotError(last_error)

    def _three_free_ports(self) -> tuple[int, int, int]:
        socks = []
        try:
            for _ in range(3):  # held open together, so the three differ
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind((self.host, 0))
                socks.append(s)
            return tuple(s.getsockname()[1] for s in socks)  # type: ignore[return-value]
        finally:
            for s in socks:
                s.close()

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        deadline = time.monotonic() + timeout
        pending = [self.imap_port, self.imaps_port, self.lmtp_port]
        while True:
            if self._proc.poll() is not None:
                raise DovecotError(f"dovecot exited with status {self._proc.returncode}:\n{self._tail()}")
            if self.pid_file.exists():
                while pending:
                    try:
                        with socket.create_connection((self.host, pending[0]), timeout=1):
                            pending.pop(0)
                    except OSError:
                        break
                if not pending:
                    return
            if time.monotonic() > deadline:
                raise DovecotError(f"dovecot not ready after {timeout} s:\n{self._tail()}")
            time.sleep(0.01)

    def _tail(self) -> str:
        text = self.log_text()
        try:
            text += (self.root / "dovecot.stdout").read_text(errors="replace")
        except FileNotFoundError:
            pass
        return "\n".join(text.splitlines()[-20:])

    def _terminate(self, timeout: float = 10.0) -> None:
        """SIGTERM to the whole process group, repeated for processes that ignored it while starting up
        (without that the master waits ~6 s for them), SIGKILL after TIMEOUT. Children are reparented,
        not ours to wait for: watch /proc, where zombies count as gone (they are reaped slowly here)."""
        proc = self._proc
        if proc is None:
            return
        members = self.pids() | {proc.pid}
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        start = last = time.monotonic()
        while True:
            proc.poll()  # reap the master, our own child
            members = {pid for pid in members | session_processes(proc.pid) if pid_alive(pid)}
            if not members:
                break
            now = time.monotonic()
            if now - last >= 0.1:
                sig = signal.SIGKILL if now - start > timeout else signal.SIGTERM
                for pid in members - ({proc.pid} if sig == signal.SIGTERM else set()):
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                last = now
            time.sleep(0.01)
        proc.wait()
        self._proc = None

    def stop(self, timeout: float = 10.0) -> None:
        """Stop Dovecot, wait until none of its processes lives and its ports are free."""
        self._terminate(timeout)
        deadline = time.monotonic() + timeout
        for port in (self.imap_port, self.imaps_port, self.lmtp_port):
            while port and not port_is_free(self.host, port):
                if time.monotonic() > deadline:
                    raise DovecotError(f"port {port} still taken after dovecot stopped")
                time.sleep(0.01)

    def _cleanup_fallback(self) -> None:
        try:
            self.stop()
        finally:
            if self._fallback is not None:
                shutil.rmtree(self._fallback, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return (f"DovecotServer({str(self.root)!r}, imap={self.imap_port}, imaps={self.imaps_port}, "
                f"lmtp={self.lmtp_port}, running={self.running})")
