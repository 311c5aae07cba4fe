"""The local sandbox: an IMAP server + the SMTP relay (+ the Jira stand-in when present), wired for Jicket.

``SandboxStack(dir).start()`` brings up a helpdesk mailbox (``helpdesk@example.test``, with the success
folder ``jicket``) and a customer mailbox (``customer@example.test``); ``connection_env()`` gives the
``AIRFLOW_CONN_*`` variables (JSON form) and the Jicket settings that point Jicket at it.

``imap_server="dovecot"`` (default): a private Dovecot, the relay delivers over LMTP.
``imap_server="courier"``: a private Courier-IMAP without custom keywords and without MOVE, as on
Microsoft Exchange (see sandbox/courier.py); the relay writes into its Maildirs. Courier keeps folders
under ``INBOX.``, so the success folder is ``INBOX.jicket`` (``stack.success_folder``) and
``connection_env()`` then also sets ``JICKET_FOLDER_SUCCESS`` and ``JICKET_FOLDER_QUARANTINE``.

``oauth=True`` (Dovecot only): an OAuth 2.0 authorization server (sandbox/oauth_server.py) starts first;
Dovecot and the relay then also accept XOAUTH2/OAUTHBEARER tokens, checked by introspection there, and
``connection_env()`` describes OAuth connections (:meth:`SandboxStack.connection_env`). ``oauth_only=True``
also refuses passwords, as Exchange Online and Google Workspace do (``stack.imap()`` then logs in as
Dovecot's master user). ``token_lifetime`` (seconds) is the access tokens' lifetime.
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
from sandbox.mailserver import DovecotOAuth2, DovecotServer
from sandbox.oauth_server import OAuthServer
from sandbox.smtp_oauth import RelayOAuth
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
OAUTH_CLIENT = "jicket"  # generic OAuth client (Google style): a refresh token per mailbox, from token_url
OAUTH_MSAL_CLIENT = "jicket-msal"  # Microsoft style: client credentials (msal), tokens act for HELPDESK
# What the SMTP provider asks msal for by default, and the IMAP counterpart (Exchange Online's resources).
OAUTH_SCOPES = {"imap": "https://outlook.office365.com/.default", "smtp": "https://outlook.office.com/.default"}
OAUTH_FLAVOURS = ("token_url", "msal", "access_token")
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
                 passwords: dict[str, str] | None = None, imap_server: str = "dovecot", oauth: bool = False,
                 oauth_only: bool = False, token_lifetime: int = 3600):
        if imap_server not in IMAP_SERVERS:
            raise ValueError(f"imap_server must be one of {IMAP_SERVERS}, not {imap_server!r}")
        if (oauth or oauth_only) and imap_server != "dovecot":
            raise ValueError("OAuth 2.0 logins are wired for Dovecot only")
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
        self.oauth_only = oauth_only
        self.oauth_server: OAuthServer | None = None
        self.refresh_tokens: dict[str, str] = {}  # mailbox -> refresh token of OAUTH_CLIENT (as after consent)
        if oauth or oauth_only:
            self._set_up_oauth(token_lifetime)

    def _set_up_oauth(self, token_lifetime: int) -> None:
        """The authorization server (started by start()) with the mail servers and Jicket as its clients."""
        idp = OAuthServer(self.mailserver.tls, host=self.mailserver.host, token_lifetime=token_lifetime)
        # The mail servers are resource servers: they may introspect tokens, never obtain any.
        idp.add_client("dovecot", introspect=True, grant_types=())
        idp.add_client("smtp-relay", introspect=True, grant_types=())
        idp.add_client(OAUTH_CLIENT, grant_types=("refresh_token",))
        idp.add_client(OAUTH_MSAL_CLIENT, grant_types=("client_credentials",), mailbox=HELPDESK)
        self.refresh_tokens = {user: idp.issue_refresh_token(user, OAUTH_CLIENT) for user in self.users}
        self.oauth_server = idp

    @property
    def oauth(self) -> bool:
        return self.oauth_server is not None

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
            relay_oauth = None
            if self.oauth_server is not None:  # first: Dovecot's configuration names its port
                idp = self.oauth_server.start()
                dovecot, relay = idp.clients["dovecot"], idp.clients["smtp-relay"]
                self.mailserver.oauth2 = DovecotOAuth2(idp.introspection_url, dovecot.client_id,
                                                       dovecot.client_secret, idp.ca_file, only=self.oauth_only)
                relay_oauth = RelayOAuth(idp.introspection_url, relay.client_id, relay.client_secret, idp.ca_file,
                                         only=self.oauth_only)
            self.mailserver.start()
            tls = self.mailserver.tls
            deliver = self.mailserver.deliver if isinstance(self.mailserver, CourierImapServer) else None
            self.relay = SmtpRelay(self.host, self.mailserver.lmtp_port, self.users, tls.cert, tls.key,
                                   host=self.host, deliver=deliver, oauth=relay_oauth).start()
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
        if self.oauth_server is not None:
            self.oauth_server.stop()
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
        if self.oauth_server is not None:
            self.refresh_tokens[addr.lower()] = self.oauth_server.issue_refresh_token(addr, OAUTH_CLIENT)

    def empty_mailboxes(self, *users: str) -> None:
        """Delete every mail in every folder of these users' mailboxes (between tests)."""
        for user in users:
            with self.imap(user) as client:
                for folder in client.list_folders():
                    client.delete_all(folder)

    def imap(self, user: str = HELPDESK, ssl: bool = True) -> ImapTestClient:
        port = self.mailserver.imaps_port if ssl else self.mailserver.imap_port
        login, password = user, self.users[user.lower()]
        if self.oauth_only:  # passwords are refused: the harness logs in as Dovecot's master user
            login, password = self.mailserver.harness_login(user)
        return ImapTestClient(self.host, port, login, password, self.ca_file, ssl=ssl)

    def oauth_extras(self, service: str, flavour: str = "token_url") -> dict[str, Any]:
        """Connection extras with which Jicket logs in to SERVICE ("imap" | "smtp") with OAuth 2.0.

        ``token_url``: Google style, a refresh token for the helpdesk mailbox redeemed at ``token_url``.
        ``msal``: Microsoft style, client credentials through msal (``tenant_id``, plus ``authority``, the
        sandbox's stand-in for ``https://login.microsoftonline.com/<tenant_id>``). ``access_token``: a fixed
        token minted now (it expires after ``token_lifetime``)."""
        idp = self.oauth_server
        if idp is None:
            raise RuntimeError("OAuth is off: SandboxStack(..., oauth=True)")
        if flavour == "token_url":
            client = idp.clients[OAUTH_CLIENT]
            return {"auth_type": "oauth2", "token_url": idp.token_url, "client_id": client.client_id,
                    "client_secret": client.client_secret, "refresh_token": self.refresh_tokens[HELPDESK]}
        if flavour == "msal":
            client = idp.clients[OAUTH_MSAL_CLIENT]
            return {"auth_type": "oauth2", "client_id": client.client_id, "client_secret": client.client_secret,
                    "tenant_id": idp.tenant, "authority": idp.authority, "scope": OAUTH_SCOPES[service]}
        if flavour == "access_token":
            return {"auth_type": "oauth2",
                    "access_token": idp.issue_access_token(HELPDESK, OAUTH_MSAL_CLIENT, OAUTH_SCOPES[service])}
        raise ValueError(f"oauth flavour must be one of {OAUTH_FLAVOURS}, not {flavour!r}")

    def connection_env(self, oauth_flavour: str = "token_url") -> dict[str, str]:
        """Environment variables defining Airflow connections (JSON form) and Jicket's settings.

        With OAuth on, the IMAP and SMTP connections carry no password but OAuth extras of OAUTH_FLAVOUR
        (see :meth:`oauth_extras`)."""
        ca = str(self.ca_file)
        imap: dict[str, Any] = {"conn_type": "imap", "host": self.host, "port": self.mailserver.imaps_port,
                                "login": HELPDESK, "password": self.users[HELPDESK],
                                "extra": {"tls": "ssl", "ca_file": ca}}
        smtp: dict[str, Any] = {"conn_type": "smtp", "host": self.host, "port": self.smtp_port,
                                "login": HELPDESK, "password": self.users[HELPDESK],
                                "extra": {"disable_ssl": True, "ca_file": ca, "timeout": 30}}
        if self.oauth_server is not None:
            for service, conn in (("imap", imap), ("smtp", smtp)):
                del conn["password"]
                conn["extra"].update(self.oauth_extras(service, oauth_flavour))
        env = {
            "AIRFLOW_CONN_JICKET_IMAP": json.dumps(imap),
            "AIRFLOW_CONN_JICKET_SMTP": json.dumps(smtp),
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
            "oauth": self._oauth_state(),
            "jira": ({"url": self.jira.url, "user": self.jira.user, "password": self.jira.password,
                      "project": JIRA_PROJECT} if self.jira is not None else None),
            # the IMAP server's process, files and log, whichever kind (the key predates imap_server)
            "dovecot": {"master_pid": self.mailserver.master_pid, "root": str(self.mailserver.root),
                        "log": str(self.mailserver.log_file)},
        }

    def _oauth_state(self) -> dict[str, Any] | None:
        idp = self.oauth_server
        if idp is None:
            return None
        return {"only": self.oauth_only, "token_url": idp.token_url, "authority": idp.authority,
                "tenant": idp.tenant, "introspection_url": idp.introspection_url,
                "token_lifetime": idp.token_lifetime,
                "clients": {c.client_id: c.client_secret for c in idp.clients.values()},
                "refresh_tokens": dict(self.refresh_tokens)}

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
