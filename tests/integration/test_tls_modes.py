"""TLS modes as jicket 0.6.2 had them, and a wrong mode failing in seconds with the setting named (issue 11, item 4).

0.6.2 spoke implicit TLS (IMAP4_SSL) on whatever port JICKET_IMAP_PORT named. Its env.list with IMAPS on a custom
port must work unchanged (the sandbox IMAP server's implicit-TLS listener is on a random port, never 993). A client
in the other mode than the server's port must not wait a minute per try: it fails within the greeting timeout
(5 s) with a TlsModeError, a ConfigError, so the DAG fails the task at once instead of retrying it.
"""

from __future__ import annotations

import json
import os
import socket
import ssl
import threading
import time

import pytest

from jicket_ops.adapters.defined_connections import defined
from jicket_ops.adapters.imap import Mailbox
from jicket_ops.adapters.smtp import Mailer
from jicket_ops.errors import ConfigError, TlsModeError
from sandbox.stack import CUSTOMER, HELPDESK
from tests.support import deliver, make_mail, messages, wait_for_messages

MISMATCH_SECONDS = 10.0  # the issue's bound for a mismatched TLS mode to fail


def env_list_062(stack, **overrides: str) -> dict[str, str]:
    """A jicket 0.6.2 env.list for the sandbox: IMAPS on its random port, SMTP with STARTTLS, no *_TLS setting."""
    values = {
        "JICKET_IMAP_HOST": stack.host, "JICKET_IMAP_PORT": str(stack.mailserver.imaps_port),
        "JICKET_IMAP_USER": HELPDESK, "JICKET_IMAP_PASS": stack.users[HELPDESK],
        "JICKET_SMTP_HOST": stack.host, "JICKET_SMTP_PORT": str(stack.smtp_port),
        "JICKET_CA_FILE": str(stack.ca_file),
    }
    values.update(overrides)
    return values


def use_env_list(monkeypatch, values: dict[str, str]) -> None:
    # No Airflow connection: the task defines it from the variables, for this process's hooks only.
    monkeypatch.delenv("AIRFLOW_CONN_JICKET_IMAP", raising=False)
    monkeypatch.delenv("AIRFLOW_CONN_JICKET_SMTP", raising=False)
    monkeypatch.setattr("jicket_ops.adapters.defined_connections._defined", {})  # none left from other tests
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_062_env_list_with_imaps_on_a_non_993_port_works_unchanged(env, run_dag, monkeypatch):
    assert env.mailserver.imaps_port != 993
    use_env_list(monkeypatch, env_list_062(env))
    deliver(env, make_mail(subject="Old env.list, IMAPS on a custom port"))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert [i["fields"]["summary"].split("] ", 1)[1] for i in env.jira.issues()] == [
        "Old env.list, IMAPS on a custom port"]
    assert len(wait_for_messages(env, 1, user=CUSTOMER)) == 1, "the confirmation went out over the 0.6.2 SMTP setting"
    connection = defined("jicket_imap")  # defined for the task's hooks, never written to the environment
    assert "AIRFLOW_CONN_JICKET_IMAP" not in os.environ
    assert connection["extra"]["tls"] == "ssl" and connection["port"] == env.mailserver.imaps_port


def imap_conn(stack, port: int, tls: str) -> str:
    return json.dumps({"conn_type": "imap", "host": stack.host, "port": port, "login": HELPDESK,
                       "password": stack.users[HELPDESK], "extra": {"tls": tls, "ca_file": str(stack.ca_file)}})


@pytest.mark.parametrize(("listener", "tls", "fix"), [
    ("imap_port", "ssl", "JICKET_IMAP_TLS=starttls"),  # implicit TLS meets a plaintext greeting
    ("imaps_port", "starttls", "JICKET_IMAP_TLS=ssl"),  # a plaintext client meets a TLS port: no greeting
    ("imaps_port", "none", "JICKET_IMAP_TLS=ssl"),
])
def test_imap_tls_mismatch_fails_in_seconds_naming_the_setting(env, monkeypatch, listener, tls, fix):
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", imap_conn(env, getattr(env.mailserver, listener), tls))
    started = time.monotonic()
    with pytest.raises(TlsModeError) as info:
        with Mailbox("jicket_imap"):
            pass
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert elapsed < MISMATCH_SECONDS, f"took {elapsed:.1f} s"
    assert isinstance(info.value, ConfigError) and info.value.setting == "JICKET_IMAP_TLS"
    assert fix in message and '"tls":' in message and "connection jicket_imap" in message


def test_imap_right_modes_on_both_listeners_log_in(env, monkeypatch):
    for listener, tls in (("imaps_port", "ssl"), ("imap_port", "starttls")):
        monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", imap_conn(env, getattr(env.mailserver, listener), tls))
        with Mailbox("jicket_imap") as mailbox:
            assert mailbox.select("INBOX") > 0


def test_dag_with_a_mismatched_062_env_list_fails_its_first_task_at_once(env, run_dag, monkeypatch):
    use_env_list(monkeypatch, env_list_062(env, JICKET_IMAP_TLS="starttls"))
    deliver(env, make_mail(subject="Never read"))
    started = time.monotonic()
    state, tasks = run_dag()
    elapsed = time.monotonic() - started
    assert state == "failed" and tasks["fetch"] == "failed", tasks
    assert elapsed < 60, f"a TLS mismatch must not be retried (took {elapsed:.0f} s)"
    assert env.jira.issues() == [] and len(messages(env)) == 1


class ImplicitTlsSmtp:
    """An SMTP server behind implicit TLS (as on port 465) that greets and answers EHLO, then QUIT."""

    def __init__(self, stack) -> None:
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.context.load_cert_chain(str(stack.mailserver.tls.cert), str(stack.mailserver.tls.key))
        self.server = socket.create_server((stack.host, 0))
        self.port = self.server.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while True:
            try:
                raw, _ = self.server.accept()
            except OSError:
                return
            try:
                with self.context.wrap_socket(raw, server_side=True) as tls:
                    tls.settimeout(10)
                    tls.sendall(b"220 localhost ESMTP implicit TLS\r\n")
                    for line in tls.makefile("rb"):
                        if line[:4].upper() in (b"EHLO", b"HELO"):
                            tls.sendall(b"250 localhost\r\n")
                        else:
                            tls.sendall(b"221 bye\r\n")
                            return
            except OSError:
                pass  # the client gave up or spoke plaintext: what the test provokes
            finally:
                raw.close()

    def __enter__(self) -> ImplicitTlsSmtp:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.close()


def smtp_conn(stack, port: int, extra: dict) -> str:
    return json.dumps({"conn_type": "smtp", "host": stack.host, "port": port, "login": HELPDESK,
                       "password": stack.users[HELPDESK], "extra": {"ca_file": str(stack.ca_file), **extra}})


@pytest.mark.parametrize(("extra", "fix"), [
    ({"tls": "ssl"}, "JICKET_SMTP_TLS=starttls"),
    ({"disable_tls": True}, "JICKET_SMTP_TLS=starttls"),  # the provider's flags: implicit TLS, no STARTTLS
])
def test_smtp_implicit_tls_against_a_starttls_port_fails_in_seconds(env, monkeypatch, extra, fix):
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_SMTP", smtp_conn(env, env.smtp_port, extra))
    started = time.monotonic()
    with pytest.raises(TlsModeError) as info:
        with Mailer("jicket_smtp"):
            pass
    assert time.monotonic() - started < MISMATCH_SECONDS
    assert info.value.setting == "JICKET_SMTP_TLS" and fix in str(info.value) and "220" in str(info.value)


def test_smtp_starttls_against_an_implicit_tls_port_fails_in_seconds(env, monkeypatch):
    with ImplicitTlsSmtp(env) as server:
        monkeypatch.setenv("AIRFLOW_CONN_JICKET_SMTP", smtp_conn(env, server.port, {"disable_ssl": True}))
        started = time.monotonic()
        with pytest.raises(TlsModeError) as info:
            with Mailer("jicket_smtp"):
                pass
        elapsed = time.monotonic() - started
        assert elapsed < MISMATCH_SECONDS, f"took {elapsed:.1f} s"
        assert info.value.setting == "JICKET_SMTP_TLS" and "JICKET_SMTP_TLS=ssl" in str(info.value)
        # In the right mode the same server is reached: TLS, greeting, EHLO (it offers no AUTH, so no login).
        monkeypatch.setenv("AIRFLOW_CONN_JICKET_SMTP", json.dumps({
            "conn_type": "smtp", "host": env.host, "port": server.port,
            "extra": {"tls": "ssl", "ca_file": str(env.ca_file)}}))
        with Mailer("jicket_smtp") as mailer:
            assert mailer._hook._smtp_client.sock.version().startswith("TLS")
