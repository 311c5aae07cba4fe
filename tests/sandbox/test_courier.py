"""The Courier-IMAP test server (sandbox/courier.py): a real IMAP server without custom keywords and MOVE.

These tests write down what Courier-IMAP 5.0.13 (Debian 12) does, because Jicket's no-keywords mode is
built on exactly these facts: password LOGIN works, UIDPLUS and IDLE are there, MOVE is not,
PERMANENTFLAGS has no ``\\*`` and a keyword STORE is refused with NO, UID COPY + UID EXPUNGE remove one
mail only. No mocks: real imapd processes over TCP with TLS verified against the throwaway CA.
"""

from __future__ import annotations

import base64
import imaplib
import json
import smtplib
import socket
import ssl
import sys
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from sandbox.courier import FOLDER_PREFIX, CourierImapServer  # noqa: E402
from sandbox.imap_client import ImapError, ImapTestClient  # noqa: E402
from sandbox.mailserver import pid_alive, port_is_free  # noqa: E402
from sandbox.smtp_relay import SmtpRelay  # noqa: E402
from sandbox.stack import CUSTOMER, HELPDESK, SandboxStack  # noqa: E402

# A password with the characters a quoted IMAP string must escape.
USERS = {HELPDESK: 'help"desk\\pw', CUSTOMER: "customer-pw"}
HOST = "127.0.0.1"
SUCCESS = FOLDER_PREFIX + "jicket"


def _mail(subject: str, body: str = "Hello.\n", sender: str = CUSTOMER, to: str = HELPDESK) -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, to, subject
    msg["Message-ID"] = make_msgid(domain="example.test")
    msg.set_content(body)
    return msg


@pytest.fixture()
def courier(tmp_path):
    """A started server; afterwards none of its imapd processes lives and both ports are free."""
    server = CourierImapServer(tmp_path / "courier", USERS)
    server.start()
    try:
        yield server
    finally:
        server.stop()
    alive = {pid for pid in server.started_pids() if pid_alive(pid)}
    assert not alive, f"imapd processes still running after stop: {alive}"
    assert port_is_free(HOST, server.imap_port) and port_is_free(HOST, server.imaps_port)


def _client(server: CourierImapServer, user: str = HELPDESK, ssl_: bool = True) -> ImapTestClient:
    port = server.imaps_port if ssl_ else server.imap_port
    return ImapTestClient(server.host, port, user, USERS[user], server.ca_file, ssl=ssl_)


# ---------------------------------------------------------------------------------------------- login
@pytest.mark.parametrize("implicit_tls", [True, False], ids=["imaps", "starttls"])
def test_password_login_over_tls(courier, implicit_tls):
    with _client(courier, ssl_=implicit_tls) as client:
        assert client.select("INBOX") == 0
        assert client.imap.sock.version() in ("TLSv1.2", "TLSv1.3")
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        ImapTestClient(courier.host, courier.imaps_port, HELPDESK, "wrong", courier.ca_file)
    assert "LOGIN FAILED, user=helpdesk@example.test" in courier.log_text()


def test_authenticate_plain_and_user_names_ignore_case(courier):
    context = ssl.create_default_context(cafile=str(courier.ca_file))
    with imaplib.IMAP4_SSL(courier.host, courier.imaps_port, ssl_context=context, timeout=10) as imap:
        assert "AUTH=PLAIN" in imap.capabilities
        secret = f"\0{CUSTOMER.upper()}\0{USERS[CUSTOMER]}".encode()
        typ, _ = imap.authenticate("PLAIN", lambda _challenge: secret)
        assert typ == "OK"
        assert imap.select("INBOX")[0] == "OK"
        imap.logout()


def test_plaintext_login_needs_tls_from_another_address(courier):
    """As with Dovecot, only a client on the server's own address may log in without TLS."""
    with socket.create_connection((courier.host, courier.imap_port), timeout=10,
                                  source_address=("127.0.0.2", 0)) as sock:
        f = sock.makefile("rb")
        greeting = f.readline()
        assert b"STARTTLS" in greeting and b"LOGINDISABLED" in greeting
        sock.sendall(f'a LOGIN {CUSTOMER} "{USERS[CUSTOMER]}"\r\n'.encode())
        assert f.readline().startswith(b"a NO [PRIVACYREQUIRED]")
    with socket.create_connection((courier.host, courier.imap_port), timeout=10) as sock:  # 127.0.0.1 both ends
        f = sock.makefile("rb")
        assert b"LOGINDISABLED" not in f.readline()
        sock.sendall(f"a LOGIN {{{len(CUSTOMER)}}}\r\n".encode())  # a synchronizing literal, as clients may send
        assert f.readline().startswith(b"+")
        sock.sendall(f'{CUSTOMER} "{USERS[CUSTOMER]}"\r\n'.encode())
        assert f.readline() == b"a OK LOGIN Ok.\r\n"
        sock.sendall(b"b LOGOUT\r\n")
        assert f.readline().startswith(b"* BYE")


# ---------------------------------------------------------------------------------------------- facts
def test_capabilities_uidplus_and_idle_but_no_move(courier):
    with _client(courier) as client:
        caps = client.capabilities
        assert {"IMAP4REV1", "UIDPLUS", "IDLE", "NAMESPACE"} <= caps
        assert "MOVE" not in caps and "CONDSTORE" not in caps and "QRESYNC" not in caps
        uid = client.append("INBOX", _mail("move me").as_bytes())
        client.create_folder(SUCCESS)
        with pytest.raises(ImapError, match=r"UID MOVE .* NO"):  # not implemented: NO, the mail stays
            client._copy_or_move("MOVE", "INBOX", uid, SUCCESS)  # (client.move falls back to COPY + EXPUNGE)
        assert client.uids("INBOX") == [uid] and client.uids(SUCCESS) == []


def test_no_custom_keywords_store_is_refused_with_no(courier, tmp_path):
    with _client(courier) as client:
        flags = client.permanent_flags("INBOX")
        assert flags == {"\\Draft", "\\Answered", "\\Flagged", "\\Deleted", "\\Seen"}  # no \*
        uid = client.append("INBOX", _mail("keyword").as_bytes(), flags=["\\Seen"])
        # Refused, not silently ignored: STORE answers NO and the mail keeps its flags.
        with pytest.raises(ImapError, match=r"UID STORE .* failed: NO"):
            client.add_flags("INBOX", uid, "$JicketImported")
        assert client.flags("INBOX", uid) == {"\\Seen"}
        with pytest.raises(ImapError, match=r"APPEND .* failed: NO"):  # APPEND with a keyword: NO as well
            client.append("INBOX", _mail("keyword on append").as_bytes(), flags=["$JicketDone"])
        assert client.add_flags("INBOX", uid, "\\Flagged") == {"\\Seen", "\\Flagged"}  # system flags work

    # The same server with IMAP_KEYWORDS=1 keeps keywords: the switch, not the client, makes the difference.
    with CourierImapServer(tmp_path / "with-keywords", USERS, keywords=True) as with_keywords:
        with _client(with_keywords) as client:
            assert "\\*" in client.permanent_flags("INBOX")
            uid = client.append("INBOX", _mail("keyword").as_bytes())
            assert client.add_flags("INBOX", uid, "$JicketImported") == {"$JicketImported"}


def test_folders_live_under_inbox(courier):
    with _client(courier) as client:
        typ, data = client.imap.create("jicket")
        assert typ == "NO", data
        client.create_folder(SUCCESS)
        client.create_folder(SUCCESS)  # exist_ok: Courier says only "NO Cannot create this folder."
        assert client.list_folders() == ["INBOX", SUCCESS]
        typ, data = client.imap.namespace()
        assert typ == "OK" and data[0].startswith(b'(("INBOX." "."))')
    assert courier.folder("jicket") == SUCCESS and courier.folder("INBOX") == "INBOX"


def test_append_fetch_search(courier):
    mails = [_mail(f"Printer {n}", body=f"Floor {n} printer.\n") for n in range(3)]
    with _client(courier) as client:
        uids = [client.append("INBOX", m.as_bytes()) for m in mails]
        assert uids == sorted(uids) and len(set(uids)) == 3
        assert client.uids("INBOX") == uids
        assert client.fetch("INBOX", uids[1]) == mails[1].as_bytes().replace(b"\n", b"\r\n")
        assert client.find("INBOX", "Message-ID", mails[2]["Message-ID"]) == [uids[2]]
        assert client.uids("INBOX", 'SUBJECT "Printer 1"') == [uids[1]]
        assert client.flags("INBOX", uids[0]) == set()  # BODY.PEEK[] did not set \Seen
        assert [str(m.message["Subject"]) for m in client.messages("INBOX")] == [f"Printer {n}" for n in range(3)]
        validity = client.uidvalidity("INBOX")
    with _client(courier) as again:  # another imapd process, the same mailbox
        assert again.uidvalidity("INBOX") == validity and again.uids("INBOX") == uids


def test_uid_copy_then_uid_expunge_removes_only_that_mail(courier):
    """The no-MOVE way to move one mail, with another client's \\Deleted mail in the same folder."""
    with _client(courier) as client:
        client.create_folder(SUCCESS)
        done, other, foreign = (client.append("INBOX", _mail(s).as_bytes()) for s in ("done", "other", "foreign"))
        client.add_flags("INBOX", foreign, "\\Deleted")  # someone else's, not to be expunged by us
        copied = client.copy("INBOX", done, SUCCESS)  # COPYUID (UIDPLUS) names the copy
        client.add_flags("INBOX", done, "\\Deleted")
        client.select("INBOX", readonly=False)  # add_flags() ends with a read-only FETCH of the flags
        typ, data = client.imap.uid("EXPUNGE", str(done))
        assert typ == "OK", data
        assert client.uids("INBOX") == [other, foreign]
        assert client.flags("INBOX", foreign) == {"\\Deleted"}
        assert client.uids(SUCCESS) == [copied]
        assert str(client.messages(SUCCESS)[0].message["Subject"]) == "done"


# ---------------------------------------------------------------------------------------------- delivery
def test_deliver_writes_the_maildir_way(courier):
    raw = _mail("Delivered").as_bytes().replace(b"\n", b"\r\n")
    courier.deliver("sender@example.org", HELPDESK, raw)
    maildir = courier.maildir(HELPDESK)
    assert list((maildir / "tmp").iterdir()) == []
    [stored] = list((maildir / "new").iterdir())
    assert b"\r\n" not in stored.read_bytes()  # LF on disk; Courier sends CRLF
    with _client(courier) as client:
        [msg] = client.messages("INBOX")
        assert str(msg.message["Subject"]) == "Delivered"
        assert msg.message["Return-Path"] == "<sender@example.org>" and msg.message["Delivered-To"] == HELPDESK
    with pytest.raises(FileNotFoundError):
        courier.deliver("sender@example.org", "nobody@example.test", raw)


def test_smtp_relay_delivers_into_the_courier_inbox(courier):
    with SmtpRelay(HOST, 0, USERS, courier.tls.cert, courier.tls.key, deliver=courier.deliver) as relay:
        context = ssl.create_default_context(cafile=str(courier.ca_file))
        with smtplib.SMTP(HOST, relay.port, local_hostname="localhost", timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login(CUSTOMER, USERS[CUSTOMER])
            msg = _mail("Via SMTP")
            smtp.send_message(msg, to_addrs=[HELPDESK, CUSTOMER, "someone@elsewhere.example"])
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail(CUSTOMER, ["nobody@example.test"], msg.as_bytes())
        [relayed] = relay.messages
        assert relayed.delivered == [HELPDESK, CUSTOMER] and relayed.outbound == ["someone@elsewhere.example"]
        assert "CourierImapServer.deliver" in repr(relay)
    for user in (HELPDESK, CUSTOMER):
        with _client(courier, user) as client:  # in the INBOX as soon as SMTP said 250
            assert [m.message["Message-ID"] for m in client.messages("INBOX")] == [msg["Message-ID"]]


def test_idle_reports_a_delivery_within_the_poll_interval(courier):
    """IDLE without Gamin: imapd looks at the folder every idle_timeout (2 s) seconds."""
    with _client(courier) as client:
        client.select("INBOX")
        imap = client.imap
        tag = imap._new_tag()
        imap.send(tag + b" IDLE\r\n")
        assert imap.readline().startswith(b"+")
        started = time.monotonic()
        courier.deliver(CUSTOMER, HELPDESK, _mail("wake up").as_bytes())
        imap.sock.settimeout(courier.idle_timeout + 3)
        assert imap.readline() == b"* 1 EXISTS\r\n"
        latency = time.monotonic() - started
        imap.send(b"DONE\r\n")
        while not (line := imap.readline()).startswith(tag):
            pass
        assert b"OK" in line
        imap.sock.settimeout(10)
    assert latency <= courier.idle_timeout + 1, latency


def test_stop_ends_open_sessions(tmp_path):
    server = CourierImapServer(tmp_path / "courier", USERS).start()
    client = _client(server)
    client.select("INBOX")
    pids = server.pids()
    assert len(pids) == 1
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 3
    assert not {pid for pid in pids if pid_alive(pid)}
    with pytest.raises((imaplib.IMAP4.abort, OSError)):
        client.imap.noop()
    client.close()
    server.stop()  # twice is fine


# ---------------------------------------------------------------------------------------------- the stack
def test_stack_runs_on_courier(tmp_path):
    dovecot_shape = SandboxStack(tmp_path / "shape", jira=False).state()
    with SandboxStack(tmp_path / "stack", jira=False, imap_server="courier") as stack:
        assert isinstance(stack.mailserver, CourierImapServer) and stack.dovecot is stack.mailserver
        assert stack.success_folder == SUCCESS
        env = stack.connection_env()
        assert env["JICKET_FOLDER_SUCCESS"] == SUCCESS
        assert env["JICKET_FOLDER_QUARANTINE"] == FOLDER_PREFIX + "jicket-quarantine"
        conn = json.loads(env["AIRFLOW_CONN_JICKET_IMAP"])
        assert conn["port"] == stack.mailserver.imaps_port
        state = stack.state()
        assert set(state) == set(dovecot_shape) and state["imap_server"] == "courier"
        assert state["success_folder"] == SUCCESS and state["lmtp_port"] == 0

        # A customer mail through the stack's SMTP relay lands in the helpdesk INBOX.
        context = ssl.create_default_context(cafile=str(stack.ca_file))
        with smtplib.SMTP(stack.host, stack.smtp_port, local_hostname="localhost", timeout=10) as smtp:
            smtp.starttls(context=context)
            smtp.login(CUSTOMER, stack.users[CUSTOMER])
            smtp.send_message(_mail("Through the stack"))
        with stack.imap(HELPDESK) as client:
            assert client.list_folders() == ["INBOX", SUCCESS]
            assert [str(m.message["Subject"]) for m in client.messages("INBOX")] == ["Through the stack"]
            client.copy("INBOX", client.uids("INBOX")[0], SUCCESS)
        with stack.imap(HELPDESK, ssl=False) as client:  # STARTTLS port, with Jicket's own LOGIN
            assert "MOVE" not in client.capabilities
        stack.empty_mailboxes(HELPDESK)
        with stack.imap(HELPDESK) as client:
            assert client.uids("INBOX") == [] and client.uids(SUCCESS) == []
        stack.add_user("staff@example.test", "staff-pw")
        with ImapTestClient(stack.host, stack.mailserver.imaps_port, "staff@example.test", "staff-pw",
                            stack.ca_file) as client:
            assert client.select("INBOX") == 0
    assert not stack.mailserver.running


def test_unknown_imap_server_is_refused(tmp_path):
    with pytest.raises(ValueError, match="imap_server"):
        SandboxStack(tmp_path, imap_server="exchange")


def test_authenticate_plain_rejects_garbage(courier):
    with socket.create_connection((courier.host, courier.imap_port), timeout=10) as sock:
        f = sock.makefile("rb")
        f.readline()
        sock.sendall(b"a AUTHENTICATE PLAIN " + base64.b64encode(b"no-separators") + b"\r\n")
        assert f.readline().startswith(b"a BAD")
        sock.sendall(b"b SELECT INBOX\r\n")  # not logged in
        assert f.readline().startswith(b"b BAD")


def test_append_is_not_slowed_by_the_front_end(courier):
    """imaplib writes an APPEND literal and its CRLF separately; without an immediate ACK from the front-end
    every APPEND waited for Linux's 40 ms delayed ACK (measured 46 ms each, imapd alone 3.7 ms)."""
    raw = _mail("timing").as_bytes()
    with _client(courier) as client:
        took = []
        for _ in range(30):
            started = time.monotonic()
            client.imap.append("INBOX", None, None, raw)
            took.append(time.monotonic() - started)
    took.sort()
    assert took[len(took) // 2] < 0.025, f"median APPEND {took[len(took) // 2] * 1000:.1f} ms"
