"""Operating the DAG: trigger Params (dry run, rescan of a folder or interval, max_mails), the
reconciliation DAG's rescan, failure alerts to the operators, metrics."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import UTC, datetime

import requests

from tests.support import (
    CUSTOMER,
    OPS,
    ROOT,
    SUCCESS_FOLDER,
    deliver,
    load_dag,
    make_mail,
    messages,
    stack_folder,
    wait_for_messages,
)


def subjects(stack, folder="INBOX", user=None):
    kwargs = {"user": user} if user else {}
    return sorted(m.message["Subject"] for m in messages(stack, folder, **kwargs))


def summaries(stack):
    return sorted(i["fields"]["summary"].split("] ", 1)[1] for i in stack.jira.issues())


def test_dry_run_decides_everything_and_writes_nothing(env, run_dag):
    deliver(env, make_mail(subject="Would be a ticket"))
    deliver(env, make_mail(subject="RE: [#JI-ZOZ2P6] would be a reply to an unknown ticket"))
    before = [(m.uid, m.flags - {"\\Recent"}) for m in messages(env)]
    state, tasks = run_dag({"dry_run": True})
    assert state == "success", tasks
    assert [(m.uid, m.flags - {"\\Recent"}) for m in messages(env)] == before
    assert env.jira.issues() == []
    assert env.jira.count_requests("POST") == 0
    assert messages(env, user=CUSTOMER) == []
    assert messages(env, SUCCESS_FOLDER) == []


def test_max_mails_limits_a_run_to_the_oldest(env, run_dag):
    for n in range(3):
        deliver(env, make_mail(subject=f"Mail {n}"))
    assert run_dag({"max_mails": 2})[0] == "success"
    assert summaries(env) == ["Mail 0", "Mail 1"]
    assert "Mail 2" in subjects(env)


def test_rescan_of_an_archive_imports_exactly_the_interval_and_is_repeatable(env, run_dag):
    for day in (1, 2, 3):
        deliver(env, make_mail(subject=f"Archived {day}"), folder="Archive",
                received=datetime(2026, 11, day, 12, tzinfo=UTC))
    archive = stack_folder(env, "Archive")
    state, tasks = run_dag({"folder": archive, "since": "2026-11-02", "before": "2026-11-03"})
    assert state == "success", tasks
    assert summaries(env) == ["Archived 2"]
    assert run_dag({"folder": archive, "since": "2026-11-02", "before": "2026-11-03"})[0] == "success"
    assert summaries(env) == ["Archived 2"]
    assert run_dag({"folder": archive, "since": "2026-11-01", "before": "2026-11-04"})[0] == "success"
    assert summaries(env) == ["Archived 1", "Archived 2", "Archived 3"]
    # An archive import never confirms and never moves.
    assert messages(env, user=CUSTOMER) == []
    assert subjects(env, "Archive") == ["Archived 1", "Archived 2", "Archived 3"]


def test_rescan_of_the_success_folder_repairs_what_jira_lost(env, run_dag):
    deliver(env, make_mail(subject="Kept"))
    deliver(env, make_mail(subject="Lost"))
    assert run_dag()[0] == "success"
    assert summaries(env) == ["Kept", "Lost"]
    confirmations = len(wait_for_messages(env, 2, user=CUSTOMER))
    lost = next(i for i in env.jira.issues() if i["fields"]["summary"].endswith("Lost"))
    # Someone deletes an issue in Jira: the mail sits in the success folder, its issue is gone.
    response = requests.delete(f"{env.jira.url}/rest/api/2/issue/{lost['key']}", auth=env.jira.auth, timeout=10)
    assert response.status_code == 204
    assert summaries(env) == ["Kept"]

    state, tasks = run_dag({"mode": "rescan", "dry_run": True})
    assert state == "success", tasks
    assert summaries(env) == ["Kept"], "a dry run repairs nothing"

    state, tasks = run_dag({"mode": "rescan"})
    assert state == "success", tasks
    assert summaries(env) == ["Kept", "Lost"]
    assert len(messages(env, user=CUSTOMER)) == confirmations, "a repair sends no second confirmation"
    assert run_dag({"mode": "rescan"})[0] == "success"
    assert summaries(env) == ["Kept", "Lost"]


def test_rescan_finds_mails_no_header_identifies(env, run_dag):
    """Two mails whose headers are identical and unreadable (no Message-ID, no sender) are told apart by their
    bodies, in the import and in a rescan of the success folder alike: the rescan finds both in Jira."""
    head = b"From: =?x-bogus?b?!!!?=\r\nSubject: =?utf-8?b?////?=\r\nDate: not a date\r\n\r\n"
    for body in (b"First body, about the printer.\r\n", b"Second body, about the VPN.\r\n"):
        deliver(env, head + body)
    assert run_dag()[0] == "success"
    assert len(env.jira.issues()) == 2
    assert run_dag({"mode": "rescan"})[0] == "success"
    assert len(env.jira.issues()) == 2, "a rescan recognises both mails by their markers"


def test_final_failure_mails_the_operator(env, dag, monkeypatch):
    monkeypatch.setenv("JICKET_ALERT_ADDRESS", OPS)
    monkeypatch.setenv("JICKET_TASK_RETRIES", "0")
    alerting = load_dag()
    monkeypatch.setenv("JICKET_FOLDER_SUCCESS", "no-such-folder")
    dagrun = alerting.test()
    assert str(dagrun.state) == "failed"
    alerts = wait_for_messages(env, 1, user=OPS)
    assert len(alerts) >= 1
    mail = alerts[0].message
    assert mail["Subject"].startswith("[jicket] fetch failed in ")
    body = mail.get_body(("html", "plain")).get_content()
    assert "JICKET_FOLDER_SUCCESS" in body and "no-such-folder" in body


def test_metrics_reach_statsd(env, airflow_db):
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    receiver.settimeout(0.5)
    deliver(env, make_mail(subject="Counted"))
    run_env = {**os.environ, "AIRFLOW__METRICS__STATSD_ON": "True", "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
               "AIRFLOW__METRICS__STATSD_PORT": str(receiver.getsockname()[1]),
               "AIRFLOW__METRICS__STATSD_PREFIX": "airflow"}
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "jicket"], capture_output=True,
                            text=True, env=run_env, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    packets = []
    try:
        while True:
            packets.append(receiver.recv(65535).decode())
    except TimeoutError:
        pass
    finally:
        receiver.close()
    lines = "\n".join(packets)
    assert "airflow.jicket.mails.new:1|c" in lines, lines[-2000:]
    assert "airflow.jicket.mails.imported:1|c" in lines
