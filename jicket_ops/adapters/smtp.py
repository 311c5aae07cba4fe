"""SMTP adapter: sends the confirmation mails over the provider's SmtpHook session."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from airflow.providers.smtp.hooks.smtp import SmtpHook

from jicket_ops.adapters.tls import ssl_context
from jicket_ops.errors import MailDeliveryError


class JicketSmtpHook(SmtpHook):
    """SmtpHook whose TLS context honours a private CA (extra ``ca_file``)."""

    def _build_ssl_context(self) -> ssl.SSLContext | None:
        return ssl_context(self.conn.extra_dejson)


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
