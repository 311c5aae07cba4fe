"""A backlog is imported, not diverted; the hourly limits hold back answers, and say so (issue 14, item 5).

A jicket 0.6.2 ``env.list`` sets no limit: every customer mail becomes an issue, and only the automatic
answers are limited per customer and hour (JICKET_LIMIT_CONFIRMATIONS_PER_HOUR, 20). The new-ticket limit
(JICKET_LIMIT_NEW_PER_HOUR) is off unless set; then it counts each mail at its own Date, and a run that
quarantines mail for it says so in its summary line and mails JICKET_ALERT_ADDRESS.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from tests.support import CUSTOMER, HELPDESK, OPS, deliver, make_mail, messages, wait_for_messages

QUARANTINE = "jicket-quarantine"
DEFAULTS = {"mode": "inbox", "folder": "", "since": "", "before": "", "dry_run": False, "max_mails": None}


def run_with_summary(dag) -> tuple[str, str]:
    """Run the DAG once; (state, the summary line the summarize task pushed)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    dagrun = dag.test(run_conf=dict(DEFAULTS))
    with create_session() as session:
        row = session.scalars(XComModel.get_many(run_id=dagrun.run_id, key="summary", task_ids="summarize",
                                                 dag_ids=dag.dag_id)).first()
        line = XComModel.deserialize_value(row) if row is not None else ""
    return str(dagrun.state), line


def dated(subject: str, when: datetime) -> bytes:
    """A customer mail whose Date says when it was written (a backlog's mails are old)."""
    raw = make_mail(subject=subject)
    head, body = raw.split(b"\n\n", 1)
    lines = [line for line in head.split(b"\n") if not line.startswith(b"Date:")]
    return b"\n".join([*lines, f"Date: {format_datetime(when)}".encode()]) + b"\n\n" + body


def test_a_backlog_of_60_mails_from_one_customer_is_imported_and_20_are_answered(env, dag, monkeypatch):
    for name in ("JICKET_LIMIT_NEW_PER_HOUR", "JICKET_LIMIT_CONFIRMATIONS_PER_HOUR"):
        monkeypatch.delenv(name, raising=False)  # the 0.6.2 env.list knows neither
    for n in range(60):
        deliver(env, make_mail(subject=f"Backlog {n}"))
    state, line = run_with_summary(dag)
    assert state == "success", line
    assert len(env.jira.issues()) == 60, "every customer mail is imported"
    assert quarantined_mails(env) == [], "nothing diverted"
    assert "new 60" in line and "confirmations 20" in line, line
    assert "40 confirmation(s) withheld (JICKET_LIMIT_CONFIRMATIONS_PER_HOUR)" in line, line
    assert "RATE LIMITED" not in line
    assert len(wait_for_messages(env, 20, user=CUSTOMER)) == 20
    # The next run sees the 20 copies in the helpdesk mailbox: a new mail from the same customer within the
    # hour is imported, not answered; nothing is left in the inbox for it.
    deliver(env, make_mail(subject="One more"))
    state, line = run_with_summary(dag)
    assert state == "success", line
    assert len(env.jira.issues()) == 61
    assert "1 confirmation(s) withheld" in line, line
    assert len(messages(env, user=CUSTOMER)) == 20


def quarantined_mails(env) -> list[str]:
    """Subjects of the customer mails in the quarantine folder (its report mails left out; none if no folder)."""
    with env.imap(HELPDESK) as client:
        if not any(QUARANTINE in folder for folder in client.list_folders()):
            return []
    return sorted(m.message["Subject"] for m in messages(env, QUARANTINE)
                  if not m.message["Subject"].startswith("Jicket quarantined"))


def test_the_new_ticket_limit_counts_each_mail_at_its_own_date_and_says_when_it_quarantines(env, dag, monkeypatch):
    monkeypatch.setenv("JICKET_LIMIT_NEW_PER_HOUR", "3")
    monkeypatch.setenv("JICKET_ALERT_ADDRESS", OPS)
    now = datetime.now(UTC)
    # Six mails written two hours apart over the last half day (a backlog after an outage): no burst.
    for n in range(6):
        deliver(env, dated(f"Spread {n}", now - timedelta(hours=12 - 2 * n)))
    # Five written within the last few minutes: a burst, of which three pass.
    for n in range(5):
        deliver(env, dated(f"Burst {n}", now - timedelta(minutes=5 - n)))
    state, line = run_with_summary(dag)
    assert state == "success", line
    summaries = sorted(i["fields"]["summary"].split("] ", 1)[1] for i in env.jira.issues())
    assert summaries == sorted([f"Spread {n}" for n in range(6)] + ["Burst 0", "Burst 1", "Burst 2"])
    assert quarantined_mails(env) == ["Burst 3", "Burst 4"]
    assert "RATE LIMITED: 2 new ticket(s) quarantined (JICKET_LIMIT_NEW_PER_HOUR)" in line, line
    alerts = [m.message for m in wait_for_messages(env, 1, user=OPS)]
    assert any("rate limit" in (a["Subject"] or "") for a in alerts), [a["Subject"] for a in alerts]
    body = alerts[0].get_body(("html", "plain")).get_content()
    assert "RATE LIMITED: 2 new ticket(s)" in body
