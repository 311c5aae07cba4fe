"""Several mailboxes from one deployment: two mailboxes on the same IMAP server (support@ and billing@) feed two
Jira projects, their DAGs (jicket_support, jicket_billing) run side by side as two `airflow dags test` processes,
and no ticket id, issue, comment or confirmation crosses from one mailbox to the other."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from sandbox.stack import CUSTOMER, HELPDESK
from tests.support import ROOT, deliver, make_mail, messages, stack_folder, wait_for_messages

BILLING = "billing@example.test"
TAGS = {"HD": re.compile(r"\[#SU-([A-Z0-9]+)\]"), "BILL": re.compile(r"\[#BI-([A-Z0-9]+)\]")}


@pytest.fixture()
def two_mailboxes(env, monkeypatch):
    """The stack's helpdesk as mailbox `support` (project HD, ids SU-) and billing@ as `billing` (BILL, BI-)."""
    if BILLING not in env.users:
        env.add_user(BILLING, "billingpw")
    env.empty_mailboxes(BILLING)
    with env.imap(BILLING) as client:
        if env.success_folder not in client.list_folders():
            client.create_folder(env.success_folder)
    env.jira.add_projects("BILL")
    for kind in ("IMAP", "SMTP"):
        conn = json.loads(os.environ[f"AIRFLOW_CONN_JICKET_{kind}"])
        conn.update(login=BILLING, password="billingpw")
        monkeypatch.setenv(f"AIRFLOW_CONN_JICKET_{kind}_BILLING", json.dumps(conn))
    monkeypatch.setenv("JICKET_MAILBOXES", json.dumps([
        {"name": "support", "project": "HD", "id_prefix": "SU-", "id_salt": "support-salt"},
        {"name": "billing", "project": "BILL", "id_prefix": "BI-", "id_salt": "billing-salt",
         "ticket_address": BILLING, "imap_conn_id": "jicket_imap_billing", "smtp_conn_id": "jicket_smtp_billing",
         "labels": ["billing"], "schedule": {"loop_mode": "singleshot"}},
    ]))
    return env


@pytest.fixture(scope="module")
def side_by_side_db(airflow_db):
    """A migrated metadata DB on the machine's PostgreSQL (127.0.0.1:5432, trust auth), for DAG runs of several
    processes at once: SQLite is one writer at a time (Airflow supports no concurrent runs on it), and was seen to
    end "malformed" when two `airflow dags test` processes wrote to it together."""
    import psycopg2

    name = f"jicket_side_by_side_{os.getpid()}"
    admin = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:5432/{name}"}
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    yield env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def run_side_by_side(db_url: str, *dag_ids: str) -> None:
    """`airflow dags test` of each DAG, all started at once on one PostgreSQL metadata DB; each must succeed."""
    env = {**os.environ, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": db_url}
    # The DAGs are registered once first: processes starting together on a DB that lacks a DAG (or the bundle)
    # would each insert it, and all but one fail on the unique key.
    result = subprocess.run([sys.executable, "-m", "airflow", "dags", "reserialize"], capture_output=True, text=True,
                            env=env, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    procs = [subprocess.Popen([sys.executable, "-m", "airflow", "dags", "test", dag_id], cwd=ROOT,
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for dag_id in dag_ids]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    for dag_id, proc, out in zip(dag_ids, procs, outputs, strict=True):
        assert proc.returncode == 0, f"{dag_id}:\n{out[-5000:]}"


def issues_by_project(stack) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for issue in stack.jira.issues():
        found.setdefault(issue["key"].split("-")[0], []).append(issue)
    return found


def test_two_mailboxes_run_side_by_side_and_ids_never_cross(two_mailboxes, side_by_side_db):
    stack = two_mailboxes
    for n in range(3):
        deliver(stack, make_mail(subject=f"Support question {n}"))
        deliver(stack, make_mail(subject=f"Invoice question {n}", to=BILLING,
                                 headers={"X-Priority": "1 (Highest)"}), user=BILLING)

    run_side_by_side(side_by_side_db, "jicket_support", "jicket_billing")

    issues = issues_by_project(stack)
    assert sorted(issues) == ["BILL", "HD"]
    for project, word in (("HD", "Support"), ("BILL", "Invoice")):
        summaries = sorted(i["fields"]["summary"] for i in issues[project])
        assert len(summaries) == 3 and all(word in s for s in summaries), summaries
        assert all(TAGS[project].search(s) for s in summaries), summaries  # each project's own prefix only
    assert all(i["fields"]["labels"] == ["billing"] for i in issues["BILL"])
    assert all(i["fields"]["labels"] == [] for i in issues["HD"])
    assert all(i["fields"]["priority"]["name"] == "Highest" for i in issues["BILL"])
    for user, project in ((HELPDESK, "HD"), (BILLING, "BILL")):
        # every customer mail left the inbox; what is there is the helpdesk's copy of its own confirmations
        left = [m.message["Subject"] for m in messages(stack, "INBOX", user)]
        assert all(TAGS[project].search(s) for s in left), left
        assert len(messages(stack, stack_folder(stack, "jicket"), user)) == 3

    confirmations = wait_for_messages(stack, 6, user=CUSTOMER)
    subjects = [m.message["Subject"] for m in confirmations]
    assert sum(bool(TAGS["HD"].search(s)) for s in subjects) == 3
    assert sum(bool(TAGS["BILL"].search(s)) for s in subjects) == 3

    # The customer answers one confirmation of each mailbox, each to its own address, and runs go side by side
    # again: each reply lands on its own project's issue, nothing new is created.
    support_conf = next(m.message for m in confirmations if TAGS["HD"].search(m.message["Subject"]))
    billing_conf = next(m.message for m in confirmations if TAGS["BILL"].search(m.message["Subject"]))
    deliver(stack, make_mail(subject="Re: " + support_conf["Subject"], body="support reply"))
    deliver(stack, make_mail(subject="Re: " + billing_conf["Subject"], body="billing reply", to=BILLING),
            user=BILLING)
    run_side_by_side(side_by_side_db, "jicket_billing", "jicket_support")

    issues = issues_by_project(stack)
    assert (len(issues["HD"]), len(issues["BILL"])) == (3, 3)
    for project, text in (("HD", "support reply"), ("BILL", "billing reply")):
        commented = [i for i in issues[project] if i["fields"]["comment"]["comments"]]
        assert len(commented) == 1, [i["key"] for i in commented]
        bodies = " ".join(c["body"] for c in commented[0]["fields"]["comment"]["comments"])
        assert text in bodies and ("billing reply" if project == "HD" else "support reply") not in bodies
