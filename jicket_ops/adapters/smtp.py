"""SMTP adapter: sends the confirmation mails over the provider's SmtpHook session."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from airflow.providers.smtp.hooks.smtp import SmtpHook

from jicket_ops.adapters.defined_connections import FallbackConnection
from jicket_ops.adapters.oauth import mechanism, sasl_response, token_source
from jicket_ops.adapters.tls import SMTP_TLS, TLS_MODES, diagnose_tls_mode, greeting_timeout, smtp_tls_mode, ssl_context
from jicket_ops.errors import ConfigError, MailDeliveryError


class JicketSmtpHook(FallbackConnection, SmtpHook):
    """SmtpHook with Jicket's TLS modes, a fast greeting timeout, a private CA and renewable OAuth 2.0 tokens.

    Extras: the provider's ``disable_ssl``/``disable_tls``/``timeout``/``from_email``, or ``tls`` (``ssl`` |
    ``starttls`` | ``none``; without any of them: implicit TLS on 465, else STARTTLS); ``ca_file``;
    ``connect_timeout`` (connect, handshake and greeting, default 5 s); ``auth_type: "oauth2"`` with the
    extras of :mod:`jicket_ops.adapters.oauth` (SASL XOAUTH2, or ``oauth_mechanism: OAUTHBEARER``).
    """

    def _build_ssl_context(self) -> ssl.SSLContext | None:
        return ssl_context(self.conn.extra_dejson)

    def get_conn(self) -> JicketSmtpHook:
        """Connect and log in.

        Replaces the provider's ``get_conn``, which waits ``timeout`` for a greeting five times over
        (``retry_limit``), fetches OAuth tokens without renewing them and has no TLS mode of its own; the session
        is kept where the provider's ``send_email_smtp`` and ``__exit__`` look for it (``_smtp_client``).
        """
        if self._smtp_client is None:
            self.smtp_connection = self.get_connection(self.smtp_conn_id)
            client = self._connect()
            try:
                self._log_in(client)
            except BaseException:
                client.close()
                raise
            self._smtp_client = client
        return self

    def _connect(self) -> smtplib.SMTP:
        extra = self.conn.extra_dejson
        tls = smtp_tls_mode(self.conn.port, extra)
        if tls not in TLS_MODES:
            raise ConfigError("JICKET_SMTP_TLS", f"connection {self.smtp_conn_id}: extra 'tls' must be ssl, "
                                                 f"starttls or none, got {tls!r}")
        host, port = self.host, self.conn.port or (465 if tls == "ssl" else 587)
        try:
            if tls == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=greeting_timeout(extra),
                                                        context=ssl_context(extra))
            else:
                client = smtplib.SMTP(host, port, timeout=greeting_timeout(extra))
        except OSError as exc:  # smtplib's errors are OSErrors too
            mismatch = diagnose_tls_mode(SMTP_TLS, self.smtp_conn_id, host, port, tls, exc)
            if mismatch is not None:
                raise mismatch from exc
            raise
        client.sock.settimeout(self.timeout)  # commands (DATA of a big mail) may take longer than a greeting
        if tls == "starttls":
            client.starttls(context=ssl_context(extra))
        client.ehlo_or_helo_if_needed()
        return client

    def _log_in(self, client: smtplib.SMTP) -> None:
        extra = self.conn.extra_dejson
        if str(self.auth_type).strip().lower() != "oauth2":
            if self.smtp_user and self.smtp_password:
                client.login(self.smtp_user, self.smtp_password)
            return
        user = self.smtp_user or self.from_email or ""
        source = token_source(self.smtp_conn_id, extra, user)
        mech = mechanism(self.smtp_conn_id, extra)
        refusal = ""
        for renew in (False, True):  # a refused token is renewed once: it may have been revoked or expired early
            if renew and source.kind == "fixed":
                break
            initial = sasl_response(mech, user, source.token(renew=renew), self.host, int(self.conn.port or 587))
            try:
                # After a refusal the server sends its error as a challenge; an empty answer ends the exchange.
                client.auth(mech, lambda challenge=None, initial=initial: initial if challenge is None else "")
                return
            except smtplib.SMTPAuthenticationError as exc:
                refusal = f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}"
        raise source.refused("SMTP server", refusal)


class Mailer:
    """One SMTP session for a task. Use as a context manager."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._hook: JicketSmtpHook | None = None

    def __enter__(self) -> Mailer:
        try:
            self._hook = JicketSmtpHook(smtp_conn_id=self.conn_id)
            self._hook.get_conn()
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(f"connection {self.conn_id}: cannot log in to the SMTP server: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._hook is not None:
            try:
                self._hook.__exit__(None, None, None)
            except (OSError, smtplib.SMTPException):
                pass  # the session is gone either way

    def send(self, message: EmailMessage, sender: str, recipients: list[str], what: str) -> dict[str, tuple]:
        """Send; return the recipients the server refused while it accepted others (a partial success).

        Retrying cannot help a refused address, and the others already have the mail, so a partial
        refusal is reported, not raised; a mail no recipient accepted raises MailDeliveryError."""
        client = self._hook._smtp_client if self._hook else None  # noqa: SLF001 - the hook has no public client
        if client is None:
            raise MailDeliveryError(f"{what}: no SMTP session (use Mailer as a context manager)")
        try:
            refused = client.send_message(message, from_addr=sender, to_addrs=recipients)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailDeliveryError(f"{what}: the SMTP server refused the mail to {recipients}: {exc}") from exc
        return dict(refused or {})
