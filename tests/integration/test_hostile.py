"""Hostile and broken input: each gets a clear outcome and loses nothing. Secrets never leak; TLS is verified."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from email.message import EmailMessage

import pytest

from jicket_ops.adapters.imap import Mailbox
from jicket_ops.errors import MailboxError
from tests.support import CUSTOMER, HELPDESK, ROOT, SUCCESS_FOLDER, deliver, make_mail, messages


def nested_mime(depth: int) -> bytes:
    inner = b"Content-Type: text/plain; charset=utf-8\r\n\r\ndeep inside\r\n"
    for level in range(depth):
        boundary = f"b{level}".encode()
        inner = (b"Content-Type: multipart/mixed; boundary=" + boundary + b"\r\n\r\n--" + boundary + b"\r\n"
                 + inner + b"\r\n--" + boundary + b"--\r\n")
    return (b"From: Deep <deep@example.test>\r\nTo: " + HELPDESK.encode() + b"\r\nSubject: Nested 100 deep\r\n"
            b"Message-ID: <deep@example.test>\r\nMIME-Version: 1.0\r\n" + inner)


def huge_header() -> bytes:
    lines = b"".join(b"X-Trace-%d: hop %d\r\n" % (n, n) for n in range(10_000))
    return (b"From: Many Hops <hops@example.test>\r\nTo: " + HELPDESK.encode() + b"\r\nSubject: Ten thousand "
            b"header lines\r\nMessage-ID: <hops@example.test>\r\n" + lines + b"Content-Type: text/plain\r\n\r\nhi\r\n")


def invalid_utf8() -> bytes:
    return (b"From: =?utf-8?b?/w==?= <bad\xff@example.test>\r\nTo: " + HELPDESK.encode() + b"\r\n"
            b"Subject: broken \xff\xfe bytes \xc3\r\nMessage-ID: <bad-utf8@example.test>\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n\r\nbody \xff\xfe\xc3 still here\r\n")


def big_mail(megabytes: int) -> bytes:
    message = EmailMessage()
    message["From"] = f"Big <{CUSTOMER}>"
    message["To"] = HELPDESK
    message["Subject"] = "A 50 MB mail"
    message["Message-ID"] = "<big@example.test>"
    message.set_content("See the attached dump.")
    message.add_attachment(os.urandom(megabytes * 1024 * 1024), maintype="application", subtype="octet-stream",
                           filename="dump.bin")
    return bytes(message)


def test_hostile_mails_all_get_a_clear_outcome(env, run_dag):
    deliver(env, make_mail(subject='x" OR project != HD OR summary ~ "y', body="jql injection in the subject",
                           headers={"X-Jicket-HashID": '") OR 1=1 OR ("'}))
    deliver(env, make_mail(subject="=?utf-8?q?hi=0D=0ABcc:_victim@evil.example?=", body="crlf"))
    deliver(env, make_mail(subject="<script>alert(1)</script> {{ 7*7 }} %(subject)s",
                           body="<img src=x onerror=alert(1)> {{ config }}"))
    deliver(env, nested_mime(100))
    deliver(env, huge_header())
    deliver(env, invalid_utf8())
    deliver(env, big_mail(50))
    state, tasks = run_dag()
    assert state == "success", tasks

    summaries = sorted(i["fields"]["summary"] for i in env.jira.issues())
    assert len(summaries) == 7, summaries
    joined = "\n".join(summaries)
    assert 'x" OR project != HD OR summary ~ "y' in joined
    assert "Nested 100 deep" in joined and "Ten thousand header lines" in joined and "A 50 MB mail" in joined
    assert all("\n" not in s and "\r" not in s for s in summaries)
    deep = next(i for i in env.jira.issues() if "Nested" in i["fields"]["summary"])
    assert "deep inside" in deep["fields"]["description"]
    broken = next(i for i in env.jira.issues() if "broken" in i["fields"]["summary"])
    assert "still here" in broken["fields"]["description"]

    # The confirmations: no injected header, no executed markup.
    assert all("victim@evil.example" not in m.outbound for m in env.relay.messages)
    assert all("victim@evil.example" not in m.rcpt_tos for m in env.relay.messages)
    for message in env.relay.messages:
        assert b"\nBcc:" not in message.data
    scripted = [email.message_from_bytes(m.data, policy=email.policy.default) for m in env.relay.messages
                if b"alert(1)" in m.data]
    assert scripted
    for mail in scripted:
        html = mail.get_body(("html",)).get_content()
        assert "<script>alert(1)</script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
        assert "{{ 7*7 }}" in html, "the subject is data, never template code"

    # Nothing lost: every mail reached the success folder; the inbox holds only confirmation copies.
    def ours(m):
        return str(m.message["Message-ID"] or "").startswith("<jicket.")

    assert len([m for m in messages(env, SUCCESS_FOLDER) if not ours(m)]) == 7
    assert all(ours(m) for m in messages(env))


def test_passwords_never_reach_logs_xcom_or_the_metadata_db(env, airflow_db):
    deliver(env, make_mail(subject="Secret keeping"))
    passwords = [json.loads(env.connection_env()[name])["password"]
                 for name in ("AIRFLOW_CONN_JICKET_IMAP", "AIRFLOW_CONN_JICKET_SMTP", "AIRFLOW_CONN_JICKET_JIRA")]
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "jicket"], capture_output=True,
                            text=True, env=os.environ.copy(), timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "run summary" in result.stdout + result.stderr
    output = (result.stdout + result.stderr).encode()
    # The files of AIRFLOW_HOME are read by another process: closing a handle on the SQLite DB in this one would
    # drop the locks of the connections Airflow keeps pooled here (POSIX locks belong to the process), and the
    # next Airflow process would then corrupt this process's view of the DB.
    search = ("import json, pathlib, sys\n"
              "home, words = pathlib.Path(sys.argv[1]), [w.encode() for w in json.loads(sys.argv[2])]\n"
              "files = [p for p in home.rglob('*') if p.is_file() and p.stat().st_size < 200 * 1024 * 1024]\n"
              "print(json.dumps({'files': [str(p) for p in files], 'leaks': {str(p): [w.decode() for w in words "
              "if w in p.read_bytes()] for p in files}}))\n")
    found = json.loads(subprocess.run([sys.executable, "-c", search, str(airflow_db), json.dumps(passwords)],
                                      capture_output=True, text=True, check=True, timeout=120).stdout)
    assert any(name.endswith(".db") for name in found["files"]), "the SQLite metadata DB (XCom, task fields) is checked"
    for password in passwords:
        assert len(password) >= 8
        leaks = [name for name, words in found["leaks"].items() if password in words]
        leaks += ["cli output"] if password.encode() in output else []
        assert leaks == [], f"a password appears in {leaks}"


@pytest.mark.parametrize("with_ca", [False, True])
def test_self_signed_imap_server_is_refused_unless_its_ca_is_configured(env, monkeypatch, with_ca):
    connection = json.loads(env.connection_env()["AIRFLOW_CONN_JICKET_IMAP"])
    if not with_ca:
        connection["extra"].pop("ca_file")
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_IMAP", json.dumps(connection))
    if with_ca:
        with Mailbox("jicket_imap") as mailbox:
            assert mailbox.select("INBOX") > 0
    else:
        with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
            with Mailbox("jicket_imap"):
                pass


def test_self_signed_smtp_server_is_refused_unless_its_ca_is_configured(env, monkeypatch):
    from jicket_ops.adapters.smtp import Mailer
    from jicket_ops.errors import MailDeliveryError

    connection = json.loads(env.connection_env()["AIRFLOW_CONN_JICKET_SMTP"])
    connection["extra"].pop("ca_file")
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_SMTP", json.dumps(connection))
    with pytest.raises((MailDeliveryError, Exception), match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        with Mailer("jicket_smtp"):
            pass
