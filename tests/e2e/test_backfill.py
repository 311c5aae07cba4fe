"""`airflow backfill create` over a date range, on a running Airflow: each backfill run re-scans the success
folder for the mails received in its day and imports exactly what Jira lacks; confirming nothing, moving
nothing, and changing nothing when the backfill is run again."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from sandbox.stack import CUSTOMER, SUCCESS_FOLDER
from tests.support import deliver, make_mail, messages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

DAG = "jicket"
KEYWORDS = ("$JicketImported", "$JicketConfirming", "$JicketDone", "$JicketFiltered")


def issue_summaries(stack) -> Counter:
    """Issue summaries without their `[#JI-…] ` tag, with how often each occurs."""
    return Counter(issue["fields"]["summary"].split("] ", 1)[1] for issue in stack.jira.issues())


def snapshot(stack, folder: str) -> dict[str, tuple[int, frozenset]]:
    """Subject -> (UID, flags) of every mail in a helpdesk folder (\\Recent is the server's, not ours)."""
    return {m.message["Subject"]: (m.uid, frozenset(m.flags - {"\\Recent"})) for m in messages(stack, folder)}


def backfill_runs(airflow, since: datetime) -> dict[str, dict]:
    """Backfill runs that ended after ``since``, by logical date (YYYY-MM-DD)."""
    runs = {}
    for run in airflow.dag_runs(DAG):
        if run["run_type"] == "backfill" and run["end_date"] and _when(run["end_date"]) > since:
            runs[run["logical_date"][:10]] = run
    return runs


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def run_backfill(airflow, first: str, last: str, *extra: str) -> tuple[dict, dict[str, dict]]:
    """Create a backfill with the CLI; wait until its three runs have finished; return it and its runs."""
    started = datetime.now(UTC)
    known = {b["id"] for b in airflow.backfills(DAG)}
    args = ("backfill", "create", "--dag-id", DAG, "--from-date", first, "--to-date", last, *extra)
    airflow.cli(*args, immediate=True)  # see tests/e2e/sqlite_settings.py
    created = [b for b in airflow.backfills(DAG) if b["id"] not in known]
    assert len(created) == 1, f"expected one new backfill, got {created}"
    backfill = created[0]

    def finished():
        found = backfill_runs(airflow, started)
        return found if len(found) == 3 and all(r["state"] in ("success", "failed") for r in found.values()) else None

    runs = airflow.wait_until(f"the runs of backfill {backfill['id']} to finish", finished, timeout=240, interval=2.0)
    for run in runs.values():
        assert run["state"] == "success", airflow.describe_run(DAG, run["dag_run_id"])
    return backfill, runs


def summary_of(airflow, run: dict) -> dict:
    return airflow.xcom(DAG, run["dag_run_id"], "summarize")


def test_backfill_imports_exactly_the_missing_mails_and_is_repeatable(clean, airflow):
    stack = clean
    d1 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=10)
    d2, d3, d4 = (d1 + timedelta(days=n) for n in (1, 2, 3))
    day = {d1: d1.date().isoformat(), d2: d2.date().isoformat(), d3: d3.date().isoformat()}

    # Day 2's mail is imported the normal way: an inbox run creates its issue, confirms it, moves it.
    deliver(stack, make_mail(subject="Day 2, imported"), received=d2 + timedelta(hours=10))
    run_id = airflow.trigger(DAG, {"mode": "inbox"})
    assert airflow.wait_for_run(DAG, run_id)["state"] == "success", airflow.describe_run(DAG, run_id)
    imported = airflow.xcom(DAG, run_id, "summarize")
    assert (imported["new"], imported["confirmations"], imported["moved"]) == (1, 1, 1), imported
    assert issue_summaries(stack) == Counter({"Day 2, imported": 1})

    # The others reached the success folder without Jira getting them (lost, or from before Jicket):
    # the first and the last second of the range, and one second on either side of it.
    for subject, received in (("Day 1, lost", d1), ("Day 3, lost", d4 - timedelta(seconds=1)),
                              ("Before the range", d1 - timedelta(seconds=1)), ("After the range", d4)):
        deliver(stack, make_mail(subject=subject), folder=SUCCESS_FOLDER, received=received)
    # A mail still waiting in the inbox is no backfill's business.
    deliver(stack, make_mail(subject="Waiting in the inbox"), received=d2 + timedelta(hours=12))
    inbox, success = snapshot(stack, "INBOX"), snapshot(stack, SUCCESS_FOLDER)
    assert "Waiting in the inbox" in inbox and len(success) == 5, (inbox, success)
    confirmations = len(messages(stack, user=CUSTOMER))
    assert confirmations == 1

    backfill, runs = run_backfill(airflow, day[d1], day[d3])
    assert sorted(runs) == sorted(day.values()), runs
    assert issue_summaries(stack) == Counter({"Day 1, lost": 1, "Day 2, imported": 1, "Day 3, lost": 1})
    by_day = {d: summary_of(airflow, runs[d]) for d in sorted(runs)}
    for d, summary in by_day.items():
        assert summary["mode"] == "rescan" and not summary["dry_run"], (d, summary)
        assert (summary["confirmations"], summary["moved"], summary["failed"]) == (0, 0, 0), (d, summary)
        assert summary["fetched"] == 1, (d, summary)  # its own day's mail, nothing from the day next to it
    assert [(s["new"], s["already_in_jira"]) for s in by_day.values()] == [(1, 0), (0, 1), (1, 0)], by_day
    assert by_day[day[d2]]["tickets"] == imported["tickets"]
    # Nothing confirmed, nothing moved: the mailboxes are as they were, except that the two mails now in
    # Jira carry $JicketImported.
    assert len(messages(stack, user=CUSTOMER)) == confirmations
    assert snapshot(stack, "INBOX") == inbox
    after = snapshot(stack, SUCCESS_FOLDER)
    assert {s: uid for s, (uid, _) in after.items()} == {s: uid for s, (uid, _) in success.items()}
    for subject, (_uid, flags) in after.items():
        gained = flags - success[subject][1]
        assert gained == ({"$JicketImported"} if subject.endswith(", lost") else set()), (subject, gained)
    issues = sorted((i["key"], i["fields"]["summary"]) for i in stack.jira.issues())

    # The same backfill again. Airflow by default skips the days that already have a run, which would test
    # nothing of Jicket; --reprocess-behavior completed re-runs all three against the same mailbox and Jira.
    airflow.wait_for_backfill(DAG, backfill["id"])  # one active backfill per DAG at a time
    _again, reruns = run_backfill(airflow, day[d1], day[d3], "--reprocess-behavior", "completed")
    assert sorted(reruns) == sorted(day.values())
    assert {d: r["dag_run_id"] for d, r in reruns.items()} == {d: r["dag_run_id"] for d, r in runs.items()}
    for d, run in reruns.items():
        summary = summary_of(airflow, run)
        assert (summary["fetched"], summary["new"], summary["already_in_jira"]) == (1, 0, 1), (d, summary)
    assert sorted((i["key"], i["fields"]["summary"]) for i in stack.jira.issues()) == issues
    assert len(messages(stack, user=CUSTOMER)) == confirmations
    assert snapshot(stack, "INBOX") == inbox
    assert snapshot(stack, SUCCESS_FOLDER) == after
