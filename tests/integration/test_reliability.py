"""Poison mail, mail loops and rate limits, on the real stack."""

from __future__ import annotations

from tests.support import CUSTOMER, HELPDESK, TAG, deliver, make_mail, messages, only_issue, wait_for_messages

QUARANTINE = "jicket-quarantine"


def test_poison_mail_is_quarantined_after_the_configured_runs_and_never_blocks(env, run_dag, monkeypatch,
                                                                                progress_mode):
    monkeypatch.setenv("JICKET_POISON_AFTER", "2")
    deliver(env, make_mail(subject="First"))
    assert run_dag()[0] == "success"
    key = only_issue(env)["key"]
    ticket_id = TAG.match(only_issue(env)["fields"]["summary"]).group(1)
    env.jira.inject_faults({"method": "POST", "path_regex": rf"/issue/{key}/comment$", "action": "status",
                            "status": 400, "count": -1})
    deliver(env, make_mail(subject=f"RE: [#JI-{ticket_id}] First", body="poison"))
    state, tasks = run_dag()
    assert state == "failed"
    poison = [m for m in messages(env) if "poison" in m.message.get_content()]
    assert len(poison) == 1
    if progress_mode == "keywords":
        assert "$JicketFailed1" in poison[0].flags
    else:  # the failed attempt is counted by a report in the quarantine folder
        reports = messages(env, QUARANTINE)
        assert len(reports) == 1 and reports[0].message["X-Jicket-Failed"], reports

    deliver(env, make_mail(subject="Healthy"))
    state, tasks = run_dag()
    assert state == "failed", "the run still reports the failure"
    assert [i["fields"]["summary"].split("] ", 1)[1] for i in env.jira.issues()] == ["First", "Healthy"]
    inbox_subjects = [m.message["Subject"] for m in messages(env)]
    assert f"RE: [#JI-{ticket_id}] First" not in inbox_subjects, "the poison mail left the inbox"
    quarantined = [m for m in messages(env, QUARANTINE) if not m.message["X-Jicket-Failed"]]  # folders mode's count
    subjects = sorted(m.message["Subject"] for m in quarantined)
    assert subjects == [f"Jicket quarantined: RE: [#JI-{ticket_id}] First", f"RE: [#JI-{ticket_id}] First"]
    report = next(m for m in quarantined if m.message["Subject"].startswith("Jicket quarantined"))
    assert "failed in 2 runs" in report.message.get_content() and "HTTP 400" in report.message.get_content()

    env.jira.clear_faults()
    assert run_dag()[0] == "success", "nothing is left to fail"
    assert only_comment_count(env, key) == 0


def only_comment_count(env, key):
    return len(next(i for i in env.jira.issues() if i["key"] == key)["fields"]["comment"]["comments"])


def confirmations(env) -> list:
    return [m for m in messages(env, user=CUSTOMER) if m.message["X-Jicket-HashID"]]


def test_rfc3834_autoresponder_is_recorded_but_never_answered(env, run_dag):
    deliver(env, make_mail(subject="Out of office", body="I am away.", headers={"Auto-Submitted": "auto-replied"}))
    assert run_dag()[0] == "success"
    assert only_issue(env)["fields"]["summary"].endswith("Out of office"), "machine mail is still recorded"
    assert confirmations(env) == []
    assert messages(env) == []


def test_naive_autoresponder_pointed_at_the_helpdesk_does_not_loop(env, run_dag, monkeypatch):
    """A robot without RFC 3834 headers answers every mail with a fresh subject: the rate limit ends it."""
    monkeypatch.setenv("JICKET_LIMIT_NEW_PER_HOUR", "2")
    deliver(env, make_mail(subject="Hello"))
    answered = 0
    for round_ in range(4):
        assert run_dag()[0] == "success"
        received = len(confirmations(env))
        for n in range(answered, received):
            deliver(env, make_mail(subject=f"Thank you for your mail ({round_}.{n})", body="Robot here."))
        answered = received
    assert answered == 2, "two tickets, two confirmations, then the sender is over its hourly limit"
    assert len(env.jira.issues()) == 2
    quarantined = [m.message["Subject"] for m in messages(env, QUARANTINE)
                   if not m.message["Subject"].startswith("Jicket quarantined")]
    assert len(quarantined) == 1 and quarantined[0].startswith("Thank you for your mail")
    assert [m for m in messages(env) if not m.message["X-Jicket-HashID"]] == []


def test_person_with_precedence_bulk_is_imported_but_not_answered(env, run_dag):
    deliver(env, make_mail(subject="Newsletter-ish but a person", headers={"Precedence": "bulk"}))
    assert run_dag()[0] == "success"
    only_issue(env)
    assert messages(env, user=CUSTOMER) == []


def test_sender_over_the_hourly_limit_is_quarantined_not_dropped(env, run_dag, monkeypatch):
    monkeypatch.setenv("JICKET_LIMIT_NEW_PER_HOUR", "2")
    for n in range(4):
        deliver(env, make_mail(subject=f"Flood {n}"))
    assert run_dag()[0] == "success"
    assert sorted(i["fields"]["summary"].split("] ", 1)[1] for i in env.jira.issues()) == ["Flood 0", "Flood 1"]
    quarantined = sorted(m.message["Subject"] for m in messages(env, "jicket-quarantine"))
    assert "Flood 2" in quarantined and "Flood 3" in quarantined
    assert len(wait_for_messages(env, 2, user=CUSTOMER)) == 2
    # A later mail from another sender is not affected.
    deliver(env, make_mail(sender="Other <other@example.test>", subject="Unrelated"))
    assert run_dag()[0] == "success"
    assert any(i["fields"]["summary"].endswith("Unrelated") for i in env.jira.issues())
    assert HELPDESK
