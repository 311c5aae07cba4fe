"""A real process death (SIGKILL) at the worst moments: right after Jira, the SMTP server or the IMAP
server acted and before Jicket recorded it, or while a Jira request is in flight. No ``finally`` or
exception handler runs, the dead run's task stays "running" in the metadata DB. The next runs must still
end with exactly one issue per new mail, one comment per reply, one confirmation per ticket, and every
mail moved out of the inbox, never before Jira has it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import CUSTOMER, ROOT, SUCCESS_FOLDER, TAG, deliver, make_mail, messages

HOOK_DIR = Path(__file__).parent / "crash_hook"

KILL_POINTS = {
    # name: JICKET_TEST_KILL_AT (module:Class.method:N[:during])
    # the run's three new mails are created with one bulk request
    "after Jira bulk-created the issues": "jicket_ops.adapters.jira:JiraWriter.create_issues:1",
    "while Jira bulk-creates the issues": "jicket_ops.adapters.jira:JiraWriter.create_issues:1:during",
    "after Jira added the 1st comment": "jicket_ops.adapters.jira:JiraWriter.add_comment:1",
    "after the 2nd confirmation was accepted": "jicket_ops.adapters.smtp:Mailer.send:2",
    "after the 1st IMAP keyword store": "jicket_ops.adapters.imap:Mailbox.add_keywords:1",
    "after the 3rd IMAP keyword store": "jicket_ops.adapters.imap:Mailbox.add_keywords:3",
    "after the IMAP move": "jicket_ops.adapters.imap:Mailbox.move:1",
}
NEW = ["Printer on fire", "VPN down", "Password reset"]


def killed_run(kill_at: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JICKET_TEST_KILL_AT": kill_at,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK_DIR), str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "jicket"], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_sigkill_then_exactly_once(env, run_dag, point, progress_mode):
    if progress_mode == "folders" and point == "after the 3rd IMAP keyword store":
        pytest.skip("folders mode stores two flags in such a run (\\Seen, \\Answered): the 1st store is the case")
    deliver(env, make_mail(subject="Existing"))
    assert run_dag()[0] == "success"
    run_dag()  # moves the confirmation's copy out of the inbox
    ticket_id = TAG.match(env.jira.issues()[0]["fields"]["summary"]).group(1)
    confirmations_before = len(messages(env, user=CUSTOMER))
    for subject in NEW:
        deliver(env, make_mail(subject=subject))
    deliver(env, make_mail(subject=f"RE: [#JI-{ticket_id}] Existing", body="A reply."))
    if "during" in KILL_POINTS[point]:
        env.jira.configure(latency_ms=1000)

    result = killed_run(KILL_POINTS[point])
    assert result.returncode == -signal.SIGKILL and "crash_hook: SIGKILL" in result.stderr, (
        f"the run was not killed at {point}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
    env.jira.configure(latency_ms=0)
    # Nothing may leave the inbox before Jira has it.
    issues = env.jira.issues()
    in_jira = {i["fields"]["summary"].split("] ", 1)[1] for i in issues}
    existing = next(i for i in issues if i["fields"]["summary"].endswith("Existing"))
    for moved in messages(env, SUCCESS_FOLDER):
        subject = str(moved.message["Subject"])
        if subject in NEW:
            assert subject in in_jira, f"{subject!r} left the inbox before Jira had it"
        if subject.startswith("RE: "):
            assert existing["fields"]["comment"]["comments"], "the reply left the inbox before Jira had it"

    assert run_dag()[0] == "success"
    run_dag()  # moves the confirmations' copies out of the inbox

    issues = env.jira.issues()
    assert sorted(i["fields"]["summary"].split("] ", 1)[1] for i in issues) == sorted(["Existing", *NEW])
    existing = next(i for i in issues if i["fields"]["summary"].endswith("Existing"))
    assert len(existing["fields"]["comment"]["comments"]) == 1
    confirmations = [m.message for m in messages(env, user=CUSTOMER)][confirmations_before:]
    assert len(confirmations) == len(NEW), [str(m["Subject"]) for m in confirmations]
    assert len({str(m["X-Jicket-HashID"]) for m in confirmations}) == len(NEW)
    assert messages(env) == []
    moved = sorted(str(m.message["Subject"]) for m in messages(env, SUCCESS_FOLDER)
                   if not m.message["X-Jicket-HashID"])
    assert moved == sorted(["Existing", *NEW, f"RE: [#JI-{ticket_id}] Existing"])


def killed_on_mail(text: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "JICKET_TEST_KILL_ON_MAIL": text,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HOOK_DIR), str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "airflow", "dags", "test", "jicket"], capture_output=True,
                          text=True, env=env, timeout=300, cwd=ROOT)


def test_a_mail_that_kills_its_worker_is_counted_and_quarantined(env, run_dag, progress_mode, monkeypatch):
    """A mail whose parsing kills the process (as one exhausting memory would), beside good mails: the good
    mails are written, and the bad one is quarantined after JICKET_POISON_AFTER runs it killed."""
    if progress_mode == "folders":
        pytest.skip("a killed process leaves no mark without keywords: folders mode retries such a mail")
    monkeypatch.setenv("JICKET_POISON_AFTER", "2")
    for subject in ("Before", "Poison pill", "After"):
        deliver(env, make_mail(subject=subject, body="KILL-ME-NOW" if subject == "Poison pill" else "Fine."))
    with env.imap() as client:
        client.create_folder(env.quarantine_folder, exist_ok=True)
    outcomes = []
    for _ in range(6):  # (a killed ``dags test`` has no retries left: each kill ends the run)
        result = killed_on_mail("KILL-ME-NOW")
        outcomes.append(result.returncode)
        if "Poison pill" in {str(m.message["Subject"]) for m in messages(env, "jicket-quarantine")}:
            break
    # The batch holding the poison dies, then the poison written alone; after that it is counted, never written
    # again, and quarantined once the second run counts it.
    assert outcomes == [-signal.SIGKILL, -signal.SIGKILL, 1, 1], outcomes  # 1: the run reports the failed mail
    quarantined = sorted(str(m.message["Subject"]) for m in messages(env, "jicket-quarantine"))
    assert "Poison pill" in quarantined, (outcomes, quarantined)
    report = next(m for m in messages(env, "jicket-quarantine") if str(m.message["Subject"]).startswith("Jicket"))
    assert "died" in report.message.get_content() and "failed in 2 runs" in report.message.get_content()
    # Only the poison was counted: the good mails became issues, exactly once, and left the inbox.
    assert sorted(i["fields"]["summary"].split("] ", 1)[1] for i in env.jira.issues()) == ["After", "Before"]
    run_dag()
    assert [str(m.message["Subject"]) for m in messages(env) if not m.message["X-Jicket-HashID"]] == []
