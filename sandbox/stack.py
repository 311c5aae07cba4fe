"""The local sandbox: an IMAP server + the SMTP relay (+ the Jira stand-in when present), wired for Jicket.

``SandboxStack(dir).start()`` brings up a helpdesk mailbox (``helpdesk@example.test``, with the success
folder ``jicket``) and a customer mailbox (``customer@example.test``); ``connection_env()`` gives the
``AIRFLOW_CONN_*`` variables (JSON form) and the Jicket settings that point Jicket at it.

``imap_server="dovecot"`` (default): a private Dovecot, the relay delivers over LMTP.
``imap_server="courier"``: a private Courier-IMAP without custom keywords and without MOVE, as on
Microsoft Exchange (see sandbox/courier.py); the relay writes into its Maildirs. Courier keeps folders
under ``INBOX.``, so the success folder is ``INBOX.jicket`` (``stack.success_folder``) and
``connection_env()`` then also sets ``JICKET_FOLDER_SUCCESS`` and ``JICKET_FOLDER_QUARANTINE``.
"""

from __future__ import annotations

import importlib
import json
import os
import secrets
import shlex
import warnings
from pathlib import Path
from typing import Any

from sandbox.courier import CourierImapServer
from sandbox.imap_client import ImapTestClient
from sandbox.mailserver import DovecotServer
from sandbox.smtp_relay import SmtpRelay

__all__ = ["SandboxStack", "HELPDESK", "CUSTOMER", "SUCCESS_FOLDER", "QUARANTINE_FOLDER", "JIRA_PROJECT",
           "IMAP_SERVERS", "load_state"]

HELPDESK = "helpdesk@example.test"
CUSTOMER = "customer@example.test"
SUCCESS_FOLDER = "jicket"
QUARANTINE_FOLDER = "jicket-quarantine"  # Jicket's default JICKET_FOLDER_QUARANTINE
IMAP_SERVERS = ("dovecot", "courier")
JIRA_PROJECT = "HD"
JIRA_USER = "jicket"
STATE_FILE = "stack.json"
ENV_FILE = "stack.env"


def _jira_standin_class() -> type | None:
    """``sandbox.jira_standin.JiraStandin`` when that module exists (imported only when asked for)."""
    try:
        module = importlib.import_module("sandbox.jira_standin")
    except ImportError as e:
        if not (isinstance(e, ModuleNotFoundError) and e.name == "sandbox.jira_standin"):
            warnings.warn(f"Jira stand-in skipped: importing sandbox.jira_standin failed: {e!r}",
                          stacklevel=2)
        return None
    return getattr(module, "JiraStandin", None)


class SandboxStack:
    """``with SandboxStack(dir) as stack: os.environ.update(stack.connection_env())``."""

    def __init__(self, base_dir: Path | str, *, jira: bool = True, jira_mode: str = "dc",
                 passwords: dict[str, str] | None = None, imap_server: str = "dovecot"):
        if imap_server not in IMAP_SERVERS:
            raise ValueError(f"imap_server must be one of {IMAP_SERVERS}, not {imap_server!r}")
        self.base_dir = Path(base_dir).absolute()
        self.base_dir.mkdir(parents=True, exist_ok=True)
        passwords = passwords or {}
        self.users = {addr: passwords.get(addr) or secrets.token_urlsafe(12) for addr in (HELPDESK, CUSTOMER)}
        self.jira_password = passwords.get(JIRA_USER) or secrets.token_urlsafe(12)
        self.want_jira = jira
        self.jira_mode = jira_mode
        self.imap_server = imap_server
        self.mailserver: DovecotServer | CourierImapServer
        if imap_server == "courier":
            self.mailserver = CourierImapServer(self.base_dir / "courier", self.users)
            self.success_folder = self.mailserver.folder(SUCCESS_FOLDER)
            self.quarantine_folder = self.mailserver.folder(QUARANTINE_FOLDER)
        else:
            self.mailserver = DovecotServer(self.base_dir / "dovecot", self.users)
            self.success_folder, self.quarantine_folder = SUCCESS_FOLDER, QUARANTINE_FOLDER
        self.relay: SmtpRelay | None = None
        self.jira: Any = None  # a started sandbox.jira_standin.JiraStandin, or None

    @property
    def dovecot(self) -> DovecotServer | CourierImapServer:
        """The IMAP server, whichever kind (the name predates ``imap_server``; ``mailserver`` is the same)."""
        return self.mailserver

    @property
    def host(self) -> str:
        return self.mailserver.host

    @property
    def ca_file(self) -> Path:
        return self.mailserver.ca_file

    @property
    def smtp_port(self) -> int:
        return self.relay.port if self.relay else 0

    @property
    def jira_url(self) -> str | None:
        return self.jira.url if self.jira is not None else None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> SandboxStack:
        try:
            self.mailserver.start()
            tls = self.mailserver.tls
            deliver = self.mailserver.deliver if isinstance(self.mailserver, CourierImapServer) else None
            self.relay = SmtpRelay(self.host, self.mailserver.lmtp_port, self.users, tls.cert, tls.key,
                                   host=self.host, deliver=deliver).start()
            with self.imap(HELPDESK) as client:
                client.create_folder(self.success_folder)
            standin = _jira_standin_class() if self.want_jira else None
            if standin is not None:
                self.jira = standin(mode=self.jira_mode, user=JIRA_USER, password=self.jira_password,
                                    project=JIRA_PROJECT, host=self.host, port=0,
                                    log_path=self.base_dir / "jira-standin.log")
                self.jira.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop everything that runs (Jira stand-in, relay, IMAP server); safe to call twice."""
        errors: list[BaseException] = []
        if self.jira is not None:
            try:
                (getattr(self.jira, "close", None) or self.jira.stop)()
            except Exception as e:  # noqa: BLE001 - stop the rest, then raise
                errors.append(e)
            self.jira = None
        if self.relay is not None:
            try:
                self.relay.stop()
            except Exception as e:  # noqa: BLE001
                errors.append(e)
            self.relay = None
        self.mailserver.stop()
        if errors:
            raise errors[0]

    def __enter__(self) -> SandboxStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------------ use
    def add_user(self, addr: str, password: str) -> None:
        """A new mailbox (the IMAP server and the relay both learn it)."""
        self.mailserver.add_user(addr, password)
        self.users[addr.lower()] = password
        if self.relay is not None:
            self.relay.add_user(addr, password)

    def empty_mailboxes(self, *users: str) -> None:
        """Delete every mail in every folder of these users' mailboxes (between tests)."""
        for user in users:
            with self.imap(user) as client:
                for folder in client.list_folders():
                    client.delete_all(folder)

    def imap(self, user: str = HELPDESK, ssl: bool = True) -> ImapTestClient:
        port = self.mailserver.imaps_port if ssl else self.mailserver.imap_port
        return ImapTestClient(self.host, port, user, self.users[user.lower()], self.ca_file, ssl=ssl)

    def connection_env(self) -> dict[str, str]:
        """Environment variables defining Airflow connections (JSON form) and Jicket's settings."""
        ca = str(self.ca_file)
        env = {
            "AIRFLOW_CONN_JICKET_IMAP": json.dumps({
                "conn_type": "imap", "host": self.host, "port": self.mailserver.imaps_port,
                "login": HELPDESK, "password": self.users[HELPDESK],
                "extra": {"tls": "ssl", "ca_file": ca}}),
            "AIRFLOW_CONN_JICKET_SMTP": json.dumps({
                "conn_type": "smtp", "host": self.host, "port": self.smtp_port,
                "login": HELPDESK, "password": self.users[HELPDESK],
                "extra": {"disable_ssl": True, "ca_file": ca, "timeout": 30}}),
            "JICKET_TICKET_ADDRESS": HELPDESK,
            "JICKET_JIRA_PROJECT": JIRA_PROJECT,
        }
        if self.success_folder != SUCCESS_FOLDER:  # Courier: Jicket's defaults name folders it refuses
            env["JICKET_FOLDER_SUCCESS"] = self.success_folder
            env["JICKET_FOLDER_QUARANTINE"] = self.quarantine_folder
        if self.jira is not None:
            url = self.jira.url
            env["AIRFLOW_CONN_JICKET_JIRA"] = json.dumps({
                "conn_type": "jira", "host": url, "login": self.jira.user, "password": self.jira.password,
                "extra": {"verify": True if url.startswith("http:") else ca}})
        return env

    def state(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "host": self.host,
            "imap_server": self.imap_server,
            "imap_port": self.mailserver.imap_port,
            "imaps_port": self.mailserver.imaps_port,
            "lmtp_port": self.mailserver.lmtp_port,  # 0 for Courier (no LMTP; the relay writes Maildirs)
            "smtp_port": self.smtp_port,
            "ca_file": str(self.ca_file),
            "users": dict(self.users),
            "helpdesk": HELPDESK,
            "customer": CUSTOMER,
            "success_folder": self.success_folder,
            "jira": ({"url": self.jira.url, "user": self.jira.user, "password": self.jira.password,
                      "project": JIRA_PROJECT} if self.jira is not None else None),
            # the IMAP server's process, files and log, whichever kind (the key predates imap_server)
            "dovecot": {"master_pid": self.mailserver.master_pid, "root": str(self.mailserver.root),
                        "log": str(self.mailserver.log_file)},
        }

    def write_state(self, directory: Path | str | None = None) -> tuple[Path, Path]:
        """Write DIR/stack.env (``export`` lines) and DIR/stack.json (the latter last, atomically)."""
        directory = Path(directory) if directory is not None else self.base_dir
        env_lines = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in self.connection_env().items())
        env_path, json_path = directory / ENV_FILE, directory / STATE_FILE
        for path, text in ((env_path, env_lines), (json_path, json.dumps(self.state(), indent=2) + "\n")):
            tmp = path.with_name(path.name + ".tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds passwords
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        return env_path, json_path


def load_state(directory: Path | str) -> dict[str, Any]:
    """The stack.json written by ``python -m sandbox up --dir DIR``."""
    path = Path(directory) / STATE_FILE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} not found: is `python -m sandbox up --dir {directory}` running?") \
            from None
