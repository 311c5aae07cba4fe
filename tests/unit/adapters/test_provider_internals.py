"""Pins for the few private behaviours of the providers and the standard library that Jicket's adapters rely on.

Each adapter method that reaches past a public API says why in its docstring; this file fails loudly, naming the
behaviour, when an upgrade of Airflow's providers, atlassian-python-api or Python changes one of them.
"""

from __future__ import annotations

import imaplib
import inspect
import smtplib

from airflow.providers.atlassian.jira.hooks.jira import JiraHook
from airflow.providers.imap.hooks.imap import ImapHook
from airflow.providers.smtp.hooks.smtp import SmtpHook
from atlassian import Jira

from jicket_ops.adapters.imap import JicketImapHook
from jicket_ops.adapters.jira import JicketJiraHook
from jicket_ops.adapters.smtp import JicketSmtpHook


# -- IMAP: JicketImapHook.get_conn replaces the provider's; Mailbox._uid sends UID MOVE through imaplib internals --
def test_imap_hook_enters_through_get_conn_and_keeps_the_session_in_mail_client():
    # `with hook:` must reach our get_conn (TLS modes, OAuth), and Mailbox reads the session from mail_client.
    assert "self.get_conn()" in inspect.getsource(ImapHook.__enter__)
    assert JicketImapHook(imap_conn_id="x").mail_client is None
    assert JicketImapHook.get_conn is not ImapHook.get_conn


def test_imaplib_simple_command_and_untagged_response_as_mailbox_uses_them():
    # imaplib's public uid() refuses commands it does not know (MOVE, RFC 6851); _simple_command("UID", ...) does not.
    assert "MOVE" not in imaplib.Commands or "SELECTED" in imaplib.Commands["MOVE"]
    assert "SELECTED" in imaplib.Commands["UID"]
    assert list(inspect.signature(imaplib.IMAP4._simple_command).parameters) == ["self", "name", "args"]
    assert list(inspect.signature(imaplib.IMAP4._untagged_response).parameters) == ["self", "typ", "dat", "name"]
    # the greeting timeout is lowered to the command timeout through the public socket() after connecting
    assert callable(imaplib.IMAP4.socket)


def test_imaplib_authenticate_passes_the_decoded_challenge_and_sends_an_empty_answer():
    # JicketImapHook answers the server's error challenge with b"" (an empty line) to end a refused exchange.
    authenticator = imaplib._Authenticator(lambda challenge: b"" if challenge else b"user=a\x01\x01")
    assert authenticator.process(b"") == b"dXNlcj1hAQE="
    assert authenticator.process(b"eyJzdGF0dXMiOiI0MDEifQ==") == b""


# -- SMTP: JicketSmtpHook.get_conn replaces the provider's and keeps the session where the provider reads it -------
def test_smtp_hook_session_lives_in_smtp_client_and_connection_in_smtp_connection():
    hook = JicketSmtpHook(smtp_conn_id="x")
    assert hook._smtp_client is None and hook.smtp_connection is None
    assert "self.get_conn()" in inspect.getsource(SmtpHook.__enter__)
    # send_email_smtp (the alerts' notifier) sends over _smtp_client; conn (and every property) reads smtp_connection
    assert "self._smtp_client" in inspect.getsource(SmtpHook.send_email_smtp)
    assert "self.smtp_connection" in inspect.getsource(SmtpHook.conn.func)
    assert "self.conn.extra_dejson" in inspect.getsource(SmtpHook.auth_type.fget)


def test_smtp_hook_exit_closes_and_forgets_the_session():
    hook = JicketSmtpHook(smtp_conn_id="x")
    hook._smtp_client = smtplib.SMTP()  # not connected: close() is harmless
    hook.__exit__(None, None, None)
    assert hook._smtp_client is None


def test_smtplib_auth_calls_the_authobject_without_then_with_a_challenge():
    # JicketSmtpHook's authobject sends the initial response when called without a challenge, "" after an error.
    source = inspect.getsource(smtplib.SMTP.auth)
    assert "authobject() if initial_response_ok" in source and "authobject(challenge)" in source
    assert hasattr(smtplib.SMTP(), "sock")


# -- Jira: JicketJiraHook.get_conn builds the client; JiraWriter._post_files streams through the client's session --
def test_jira_hook_builds_its_client_in_init_through_get_conn():
    assert "self.get_conn()" in inspect.getsource(JiraHook.__init__)
    assert "if not self.client" in inspect.getsource(JiraHook.get_conn)
    assert JicketJiraHook.get_conn is not JiraHook.get_conn


def test_jira_token_means_one_bearer_header_and_no_basic_auth():
    client = Jira(url="https://jira.example.com", token="pat-1")
    assert client._session.headers["Authorization"] == "Bearer pat-1"
    assert not isinstance(client._session.auth, tuple)  # a token auth object, never (user, password)
    basic = Jira(url="https://jira.example.com", username="bot", password="pw")
    assert basic._session.auth == ("bot", "pw") and "Authorization" not in basic._session.headers


def test_jira_client_attributes_the_streamed_upload_uses():
    client = Jira(url="https://jira.example.com", username="bot", password="pw")
    for name in ("_session", "url", "verify_ssl", "proxies", "cert", "timeout"):
        assert hasattr(client, name), name
    assert client.url_joiner(client.url, "rest/api/2/issue/HD-1/attachments") == \
        "https://jira.example.com/rest/api/2/issue/HD-1/attachments"
    assert callable(client.raise_for_status)
