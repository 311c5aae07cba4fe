"""The sandbox's real servers: a private Dovecot (IMAP, IMAPS, LMTP) and the aiosmtpd -> LMTP relay.

No mocks: every test talks to real processes over TCP with TLS verified against the throwaway CA.
"""

from __future__ import annotations

import base64
import email
import imaplib
import json
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.imap_client import ImapError, ImapTestClient  # noqa: E402
from sandbox.mailserver import DovecotServer, pid_alive, port_is_free, session_processes  # noqa: E402
from sandbox.smtp_relay import SmtpRelay  # noqa: E402
from sandbox.stack import CUSTOMER, HELPDESK, SandboxStack, _jira_standin_class  # noqa: E402

USERS = {HELPDESK: "helpdesk-pw", CUSTOMER: "customer-pw"}
HOST = "127.0.0.1"


@pytest.fixture(scope="module", autouse=True)
def _no_dovecot_left_behind():
    """Every Dovecot started in this module (each leads its own session): none of its processes survives."""
    sessions: list[int] = []
    original = DovecotServer.start

    def recording_start(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        sessions.append(self.master_pid)
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(DovecotServer, "start", recording_start)
        yield
    assert sessions, "no Dovecot was started"
    left = {sid: session_processes(sid) for sid in sessions if session_processes(sid)}
    assert not left, f"dovecot processes left running: {left}"


def _assert_gone(pids: set[int], ports: tuple[int, ...]) -> None:
    alive = {pid for pid in pids if pid_alive(pid)}
    assert not alive, f"dovecot processes still running after stop: {alive}"
    taken = [p for p in ports if not port_is_free(HOST, p)]
    assert not taken, f"ports still taken after stop: {taken}"


@pytest.fixture()
def dovecot(tmp_path):
    server = DovecotServer(tmp_path / "dovecot", USERS)
    server.start()
    pids: set[int] = set()
    try:
        yield server
        pids = server.pids()
        assert server.master_pid in pids
    finally:
        pids |= server.pids()
        ports = (server.imap_port, server.imaps_port, server.lmtp_port)
        server.stop()
    _assert_gone(pids, ports)


@pytest.fixture()
def relay(dovecot):
    with SmtpRelay(dovecot.host, dovecot.lmtp_port, USERS, dovecot.tls.cert, dovecot.tls.key) as r:
        yield r
    assert port_is_free(HOST, r.port)


def imap(server: DovecotServer, user: str = HELPDESK, ssl_: bool = True, **kw) -> ImapTestClient:
    port = server.imaps_port if ssl_ else server.imap_port
    return ImapTestClient(server.host, port, user, kw.pop("password", USERS[user]),
                          kw.pop("ca_file", server.ca_file), ssl=ssl_, **kw)


def sample_mail(subject: str, sender: str = CUSTOMER, to: str = HELPDESK) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(f"Body of {subject}\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


# ---------------------------------------------------------------------------------------- Dovecot

def test_start_stop_restart_keeps_mail_and_leaves_nothing_running(tmp_path):
    server = DovecotServer(tmp_path / "dc", USERS)
    t0 = time.monotonic()
    server.start()
    started = time.monotonic() - t0
    try:
        assert started < 1.5, f"dovecot start took {started:.2f} s"
        assert server.pid_file.exists()
        conf = server.conf_file.read_text()
        assert "/etc/dovecot" not in conf and "!include" not in conf
        for port in (server.imap_port, server.imaps_port, server.lmtp_port):
            socket.create_connection((HOST, port), timeout=2).close()
        with imap(server) as c:
            uid = c.append("INBOX", sample_mail("kept across restart"))
        pids, ports = server.pids(), (server.imap_port, server.imaps_port, server.lmtp_port)
        assert len(pids) >= 3  # master, log, config at least
        t0 = time.monotonic()
        server.stop()
        stopped = time.monotonic() - t0
        assert stopped < 5, f"dovecot stop took {stopped:.2f} s"
        _assert_gone(pids, ports)
        assert not server.running

        server.start()
        with imap(server) as c:
            assert c.uids("INBOX") == [uid]
            assert c.messages("INBOX")[0].message["Subject"] == "kept across restart"
    finally:
        pids = server.pids()
        server.stop()
    _assert_gone(pids, ())


def test_imaps_login_verifies_the_ca(dovecot):
    with imap(dovecot) as c:
        sock = c.imap.sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.getpeercert()["subjectAltName"]  # only filled in for a verified peer
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        assert {"MOVE", "UIDPLUS", "IDLE"} <= c.capabilities
        assert "INBOX" in c.list_folders()


def test_starttls_on_the_plain_port(dovecot):
    with imap(dovecot, ssl_=False) as c:
        assert isinstance(c.imap.sock, ssl.SSLSocket)
        assert {"MOVE", "UIDPLUS"} <= c.capabilities


class _ImapFrom127002(imaplib.IMAP4):
    """Dovecot treats loopback as secured; from 127.0.0.2 it enforces TLS as for a remote client."""

    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=("127.0.0.2", 0))


def test_plaintext_login_is_refused_from_a_non_local_address(dovecot):
    c = _ImapFrom127002(HOST, dovecot.imap_port, timeout=5)
    try:
        assert "STARTTLS" in c.capabilities and "LOGINDISABLED" in c.capabilities
        with pytest.raises(imaplib.IMAP4.error):
            c.login(HELPDESK, USERS[HELPDESK])
        c.starttls(ssl_context=ssl.create_default_context(cafile=str(dovecot.ca_file)))
        assert c.login(HELPDESK, USERS[HELPDESK])[0] == "OK"
    finally:
        c.logout()


@pytest.mark.parametrize("ssl_", [True, False], ids=["imaps", "starttls"])
def test_client_without_the_ca_is_refused(dovecot, ssl_):
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        imap(dovecot, ssl_=ssl_, ca_file=None)


def test_wrong_password_fails_fast_without_penalty(dovecot):
    # Dovecot's defaults: each failure answered after 2 s, then every login from 127.0.0.1 delayed 2-15 s.
    # Disabled here; Dovecot 2.3 still answers failures from a 500 ms timer.
    for _ in range(3):
        t0 = time.monotonic()
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            imap(dovecot, password="wrong")
        failed = time.monotonic() - t0
        assert failed < 1.0, f"a failed login took {failed:.2f} s"
    t0 = time.monotonic()
    with imap(dovecot) as c:
        assert c.list_folders()
    good = time.monotonic() - t0
    assert good < 1.0, f"the login after 3 failures took {good:.2f} s"


def test_append_fetch_and_keywords_survive_uid_move(dovecot):
    raw = sample_mail("Printer on floor 3 is on fire")
    with imap(dovecot) as c:
        assert "\\*" in c.permanent_flags("INBOX")
        c.create_folder("jicket")
        assert {"INBOX", "jicket"} <= set(c.list_folders())
        uid = c.append("INBOX", raw, flags=["\\Seen", "$Imported"])
        assert c.fetch("INBOX", uid) == raw
        assert c.flags("INBOX", uid) == {"\\Seen", "$Imported"}
        assert c.add_flags("INBOX", uid, "$Foo") == {"\\Seen", "$Imported", "$Foo"}
        assert c.uids("INBOX", 'SUBJECT "floor 3"') == [uid]
        assert c.uids("INBOX", "KEYWORD $Foo") == [uid]
        assert c.uids("INBOX", 'SUBJECT "no such thing"') == []
        message_id = email.message_from_bytes(raw)["Message-ID"]
        assert c.find("INBOX", "Message-ID", message_id) == [uid]
        assert c.find("INBOX", "Subject", 'floor "3"') == []  # quotes inside the value are escaped

        new_uid = c.move("INBOX", uid, "jicket")
        assert c.uids("INBOX") == []
        assert c.uids("jicket") == [new_uid]
        assert {"\\Seen", "$Imported", "$Foo"} <= c.flags("jicket", new_uid)
        assert c.fetch("jicket", new_uid) == raw
        [(got_uid, flags, msg)] = c.messages("jicket")
        assert got_uid == new_uid and "$Foo" in flags
        assert msg["Subject"] == "Printer on floor 3 is on fire"
        assert c.uidvalidity("INBOX") != c.uidvalidity("jicket")
        with pytest.raises(KeyError):
            c.fetch("jicket", new_uid + 100)
        with pytest.raises(ImapError):
            c.messages("No such folder")
        assert c.delete_all("jicket") == 1 and c.messages("jicket") == []


def test_keywords_persist_for_a_second_session(dovecot):
    with imap(dovecot) as c:
        uid = c.append("INBOX", sample_mail("one"))
        c.add_flags("INBOX", uid, "$Ticketed")
    with imap(dovecot) as c:
        assert "$Ticketed" in c.flags("INBOX", uid)
        assert "$Ticketed" in c.permanent_flags("INBOX")


def test_add_user_at_runtime(dovecot, relay):
    dovecot.add_user("late@example.test", "late-pw")
    relay.add_user("late@example.test", "late-pw")
    with ImapTestClient(HOST, dovecot.imaps_port, "late@example.test", "late-pw", dovecot.ca_file) as c:
        assert c.messages("INBOX") == []
        _send(dovecot, relay, "late@example.test", ["late@example.test"],
              sample_mail("welcome", HELPDESK, "late@example.test"), password="late-pw")
        assert [m.message["Subject"] for m in c.messages("INBOX")] == ["welcome"]


# ---------------------------------------------------------------------------------------- SMTP relay

def _smtp(relay: SmtpRelay, ca_file) -> smtplib.SMTP:
    s = smtplib.SMTP(HOST, relay.port, local_hostname="localhost", timeout=10)
    s.starttls(context=ssl.create_default_context(cafile=str(ca_file)))
    return s


def _send(dovecot: DovecotServer, relay: SmtpRelay, sender: str, rcpts: list[str], raw: bytes,
          password: str | None = None) -> dict:
    with _smtp(relay, dovecot.ca_file) as s:
        s.login(sender, password or USERS[sender])
        return s.sendmail(sender, rcpts, raw)


def test_smtp_requires_starttls_before_auth_and_auth_before_mail(dovecot, relay):
    with smtplib.SMTP(HOST, relay.port, local_hostname="localhost", timeout=10) as s:
        s.ehlo()
        assert s.has_extn("starttls") and not s.has_extn("auth")
        plain = base64.b64encode(f"\0{HELPDESK}\0{USERS[HELPDESK]}".encode()).decode()
        assert s.docmd("AUTH", f"PLAIN {plain}")[0] == 530
        assert s.mail(HELPDESK)[0] == 530
        s.rset()

        s.starttls(context=ssl.create_default_context(cafile=str(dovecot.ca_file)))
        s.ehlo()
        assert s.has_extn("auth") and {"PLAIN", "LOGIN"} <= set(s.esmtp_features["auth"].upper().split())
        code, text = s.mail(HELPDESK)
        assert code == 530 and b"Authentication required" in text
        s.rset()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            s.login(HELPDESK, "wrong")
        s.login(HELPDESK, USERS[HELPDESK])
        assert s.mail(HELPDESK)[0] == 250
        s.rset()
    assert relay.messages == [] and set(relay.auth_failures) == {HELPDESK}  # PLAIN, then LOGIN


def test_smtp_client_without_the_ca_is_refused(relay):
    with smtplib.SMTP(HOST, relay.port, local_hostname="localhost", timeout=10) as s:
        with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
            s.starttls(context=ssl.create_default_context())


def test_relay_delivers_into_both_inboxes_before_answering(dovecot, relay):
    raw = sample_mail("Re: [HD-1] printer", HELPDESK, CUSTOMER)
    refused = _send(dovecot, relay, HELPDESK, [CUSTOMER, HELPDESK, "someone@elsewhere.test"], raw)
    assert refused == {}
    # No waiting: the 250 came after LMTP had stored the mail.
    for user in (HELPDESK, CUSTOMER):
        with imap(dovecot, user) as c:
            [(_, _, msg)] = c.messages("INBOX")
            assert msg["Subject"] == "Re: [HD-1] printer"
            assert msg["Delivered-To"] == user
    [accepted] = relay.messages
    assert accepted.mail_from == HELPDESK and accepted.login == HELPDESK and accepted.data == raw
    assert accepted.delivered == [CUSTOMER, HELPDESK]
    assert [m.outbound for m in relay.outbound] == [["someone@elsewhere.test"]]


def test_relay_refuses_unknown_local_user(dovecot, relay):
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        _send(dovecot, relay, HELPDESK, ["nobody@example.test"], sample_mail("lost"))
    assert refused.value.recipients["nobody@example.test"][0] == 550
    assert relay.messages == []


# ---------------------------------------------------------------------------------------- stack and CLI

def test_stack_connection_env(tmp_path):
    with SandboxStack(tmp_path / "stack", jira=_jira_standin_class() is not None) as stack:
        env = stack.connection_env()
        imap_conn = json.loads(env["AIRFLOW_CONN_JICKET_IMAP"])
        smtp_conn = json.loads(env["AIRFLOW_CONN_JICKET_SMTP"])
        assert env["JICKET_TICKET_ADDRESS"] == HELPDESK and env["JICKET_JIRA_PROJECT"] == "HD"
        assert imap_conn["extra"] == {"tls": "ssl", "ca_file": str(stack.ca_file)}
        assert smtp_conn["extra"] == {"disable_ssl": True, "ca_file": str(stack.ca_file), "timeout": 30}
        with ImapTestClient(imap_conn["host"], imap_conn["port"], imap_conn["login"], imap_conn["password"],
                            imap_conn["extra"]["ca_file"]) as c:
            assert "jicket" in c.list_folders()
        if stack.jira is not None:
            jira_conn = json.loads(env["AIRFLOW_CONN_JICKET_JIRA"])
            assert jira_conn["host"] == stack.jira_url and jira_conn["extra"] == {"verify": True}
            import requests

            r = requests.get(f"{jira_conn['host']}/rest/api/2/myself",
                             auth=(jira_conn["login"], jira_conn["password"]), timeout=10)
            assert r.status_code == 200, r.text
        else:
            assert "AIRFLOW_CONN_JICKET_JIRA" not in env
        pids = stack.dovecot.pids()
    _assert_gone(pids, (imap_conn["port"], smtp_conn["port"]))


def test_cli_up_seed_and_clean_stop_on_sigterm(tmp_path):
    directory = tmp_path / "sbx"
    proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--dir", str(directory), "--no-jira"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (directory / "stack.json").exists():
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "stack.json did not appear"
            time.sleep(0.05)
        state = json.loads((directory / "stack.json").read_text())
        env_text = (directory / "stack.env").read_text()
        assert "export AIRFLOW_CONN_JICKET_IMAP=" in env_text
        assert "export AIRFLOW_CONN_JICKET_SMTP=" in env_text
        master = state["dovecot"]["master_pid"]
        assert pid_alive(master)

        seeded = subprocess.run([sys.executable, "-m", "sandbox", "seed", "--dir", str(directory)],
                                cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
        assert seeded.returncode == 0, seeded.stderr
        helpdesk_pw = state["users"][HELPDESK]
        with ImapTestClient(HOST, state["imaps_port"], HELPDESK, helpdesk_pw, state["ca_file"]) as c:
            [(_, _, msg)] = c.messages("INBOX")
            assert msg["Subject"] == "Printer on floor 3 is on fire"
            assert msg["From"].addresses[0].addr_spec == CUSTOMER
            assert "jicket" in c.list_folders()
        with smtplib.SMTP(HOST, state["smtp_port"], local_hostname="localhost", timeout=10) as s:
            s.starttls(context=ssl.create_default_context(cafile=state["ca_file"]))
            s.login(HELPDESK, helpdesk_pw)
            s.sendmail(HELPDESK, [CUSTOMER], sample_mail("ack", HELPDESK, CUSTOMER))
        customer_pw = state["users"][CUSTOMER]
        with ImapTestClient(HOST, state["imaps_port"], CUSTOMER, customer_pw, state["ca_file"]) as c:
            assert [m.message["Subject"] for m in c.messages("INBOX")] == ["ack"]

        pids = session_processes(master) | {master}
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=15)
        stopped = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, out
    assert "sandbox up in" in out and "sandbox stopped" in out
    assert stopped < 5, f"stopping took {stopped:.2f} s"
    assert not (directory / "stack.json").exists()
    _assert_gone(pids, (state["imap_port"], state["imaps_port"], state["lmtp_port"], state["smtp_port"]))
    assert not session_processes(master)
