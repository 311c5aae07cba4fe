"""An SMTP submission server (aiosmtpd) that delivers local recipients into Dovecot over LMTP.

The delivery strategy is pluggable: by default each local recipient goes to Dovecot's LMTP; pass
``deliver=`` (a :data:`Delivery`, e.g. ``CourierImapServer.deliver``, which writes into the recipient's
Maildir the Maildir way) to deliver somewhere else with the same guarantees.

STARTTLS is required before anything else, AUTH (PLAIN/LOGIN) is offered only after STARTTLS and is
required before MAIL. Each accepted local recipient is handed to Dovecot's LMTP (one recipient per
LMTP transaction) before the server answers 250, so when ``sendmail`` returns, the mail is already in
the recipient's INBOX. Recipients in a domain that has no local user are accepted and only recorded in
``relay.outbound`` (nothing leaves the machine). An unknown user of a local domain is refused at RCPT
(550 5.1.1), as a real MTA with local delivery does.

If LMTP fails for one local recipient, the whole message is answered 451 (temporary failure), even
when it already reached another recipient: a retry can then deliver twice. Good enough for tests.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import smtplib
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from sandbox.smtp_oauth import OAuthAuthMixin, OAuthIdentity, RelayOAuth

__all__ = ["SmtpRelay", "RelayedMessage", "Delivery"]

# deliver(mail_from, rcpt, data, mail_options): put DATA into RCPT's INBOX before returning, or raise
# OSError / smtplib.SMTPException (the SMTP client then gets 451). Called in a worker thread.
Delivery = Callable[[str, str, bytes, Sequence[str]], None]

# aiosmtpd itself sets the deprecated Session.login_data on every AUTH and warns about it each time.
logging.getLogger("mail.log").addFilter(lambda record: "login_data is deprecated" not in record.getMessage())


@dataclass
class RelayedMessage:
    mail_from: str  # envelope sender ("" for a bounce)
    rcpt_tos: list[str]  # all accepted recipients
    data: bytes  # the message as received (CRLF line ends)
    login: str | None = None  # the authenticated user
    delivered: list[str] = field(default_factory=list)  # local recipients, delivered (LMTP or deliver=)
    outbound: list[str] = field(default_factory=list)  # recipients in other domains, only recorded


def _domain(addr: str) -> str:
    return addr.rpartition("@")[2].lower()


class _Handler:
    def __init__(self, relay: SmtpRelay):
        self.relay = relay

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          rcpt_options: list[str]) -> str:
        relay = self.relay
        if _domain(address) in relay.local_domains and address.lower() not in relay.users:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        relay = self.relay
        data = envelope.original_content or b""
        login = None
        if isinstance(session.auth_data, (LoginPassword, OAuthIdentity)):
            login = session.auth_data.login.decode(errors="replace")
        message = RelayedMessage(mail_from=envelope.mail_from or "", rcpt_tos=list(envelope.rcpt_tos),
                                 data=data, login=login)
        local = [r for r in envelope.rcpt_tos if _domain(r) in relay.local_domains]
        message.outbound = [r for r in envelope.rcpt_tos if r not in local]
        options = [o for o in envelope.mail_options if o.upper().startswith("BODY=")]
        loop = asyncio.get_running_loop()
        for rcpt in local:
            try:
                await loop.run_in_executor(None, relay.deliver, message.mail_from, rcpt, data, options)
            except (OSError, smtplib.SMTPException) as e:
                relay.errors.append(f"{relay.delivery_name} delivery to {rcpt} failed: {e!r}")
                return f"451 4.3.0 Local delivery to <{rcpt}> failed, try again later"
            message.delivered.append(rcpt)
        with relay.lock:
            relay.messages.append(message)
            if message.outbound:
                relay.outbound.append(message)
        return "250 2.0.0 OK: queued"


class _OAuthHandler(OAuthAuthMixin, _Handler):
    """The handler with AUTH XOAUTH2 and OAUTHBEARER (aiosmtpd offers a handler's auth_<NAME> methods)."""


class SmtpRelay:
    """``with SmtpRelay(lmtp_host, lmtp_port, users, cert, key) as relay: smtplib.SMTP(..., relay.port)``.

    ``deliver=None`` delivers over LMTP to ``lmtp_host:lmtp_port``; any other :data:`Delivery` replaces
    that (the LMTP address is then unused).
    """

    def __init__(self, lmtp_host: str, lmtp_port: int, users: Mapping[str, str], cert: Path | str,
                 key: Path | str, host: str = "127.0.0.1", port: int = 0, hostname: str = "localhost",
                 deliver: Delivery | None = None, oauth: RelayOAuth | None = None):
        self.lmtp_host, self.lmtp_port = lmtp_host, lmtp_port
        self.oauth = oauth  # OAuth 2.0 logins (XOAUTH2, OAUTHBEARER); oauth.only drops PLAIN and LOGIN
        self.deliver: Delivery = deliver or self.deliver_lmtp
        self.delivery_name = "LMTP" if deliver is None else getattr(deliver, "__qualname__", "local")
        self.users: dict[str, str] = {a.lower(): p for a, p in users.items()}
        self.host, self.port, self.hostname = host, port, hostname
        self._requested_port = port
        self.tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls_context.load_cert_chain(str(cert), str(key))
        self.lock = threading.Lock()
        self.messages: list[RelayedMessage] = []  # every accepted message, in order
        self.outbound: list[RelayedMessage] = []  # accepted messages with recipients in non-local domains
        self.errors: list[str] = []  # delivery failures (the client got 451)
        self.auth_failures: list[str] = []  # logins refused
        self.oauth_logins: list[tuple[str, str]] = []  # (mechanism, user) of each accepted OAuth login
        self.oauth_errors: list[str] = []  # token checks that could not be made (the client got 454)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._protocols: weakref.WeakSet[SMTP] = weakref.WeakSet()

    @property
    def local_domains(self) -> set[str]:
        return {_domain(a) for a in self.users}

    def add_user(self, addr: str, password: str) -> None:
        self.users[addr.lower()] = password

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()
            self.outbound.clear()
            self.errors.clear()
            self.auth_failures.clear()
            self.oauth_logins.clear()
            self.oauth_errors.clear()

    # ------------------------------------------------------------------ SMTP side
    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: object) -> AuthResult:
        if isinstance(auth_data, LoginPassword):
            login = auth_data.login.decode(errors="replace").lower()
            expected = self.users.get(login)
            if expected is not None and hmac.compare_digest(expected.encode(), auth_data.password):
                return AuthResult(success=True, auth_data=auth_data)
            self.auth_failures.append(login)
        return AuthResult(success=False, handled=False)

    def _make_protocol(self) -> SMTP:
        handler = _Handler(self) if self.oauth is None else _OAuthHandler(self)
        excluded = ["PLAIN", "LOGIN"] if self.oauth is not None and self.oauth.only else []
        protocol = SMTP(handler, hostname=self.hostname, tls_context=self.tls_context,
                        require_starttls=True, auth_required=True, auth_require_tls=True,
                        authenticator=self._authenticate, auth_exclude_mechanism=excluded, loop=self._loop)
        self._protocols.add(protocol)
        return protocol

    def deliver_lmtp(self, mail_from: str, rcpt: str, data: bytes, mail_options: list[str] = ()) -> None:
        """One LMTP transaction for one recipient (smtplib.LMTP reads a single reply after DATA)."""
        with smtplib.LMTP(self.lmtp_host, self.lmtp_port, local_hostname="localhost", timeout=30) as lmtp:
            refused = lmtp.sendmail(mail_from, [rcpt], data, mail_options=list(mail_options))
            if refused:
                raise smtplib.SMTPRecipientsRefused(refused)

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 10.0) -> SmtpRelay:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._make_protocol, self.host, self._requested_port))
                self.port = self._server.sockets[0].getsockname()[1]
            except BaseException as e:  # noqa: BLE001 - handed to start()
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                self._server.close()
                for protocol in list(self._protocols):  # drop open client connections
                    if protocol.transport is not None:
                        protocol.transport.close()
                pending = asyncio.all_tasks(loop)
                for task in pending:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        self._thread = threading.Thread(target=run, name=f"smtp-relay-{id(self):x}", daemon=True)
        self._thread.start()
        if not ready.wait(timeout):
            raise TimeoutError("SMTP relay did not start")
        if failure:
            self._thread.join()
            self._thread = None
            raise failure[0]
        return self

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread is None:
            return
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise TimeoutError("SMTP relay thread did not stop")
        self._thread = None
        self._loop = self._server = None

    def wait_for_messages(self, count: int, timeout: float = 10.0) -> list[RelayedMessage]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.messages)} of {count} messages relayed after {timeout} s")
            time.sleep(0.01)
        return list(self.messages)

    def __enter__(self) -> SmtpRelay:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        if self.deliver == self.deliver_lmtp:
            return f"SmtpRelay({self.host}:{self.port} -> LMTP {self.lmtp_host}:{self.lmtp_port})"
        return f"SmtpRelay({self.host}:{self.port} -> {self.delivery_name})"
