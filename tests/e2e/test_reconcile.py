"""The `jicket_reconcile` DAG on a running Airflow covers a success folder larger than one run takes
(issue 14, item 2): with JICKET_MAX_MAILS_PER_RUN=5, 12 imported mails and their 12 confirmation copies in
the folder, and 7 of the issues deleted from Jira, one reconciliation brings every lost issue back (two
rescan rounds, the first stopping at 5 and saying so), confirms nothing and moves nothing."""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from sandbox.stack import CUSTOMER, SUCCESS_FOLDER
from tests.support import deliver, make_mail, messages, wait_for_messages

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

MAILS = 12
LIMIT = 5
LOST = 7  # more than one rescan run imports


def summaries(stack) -> Counter:
    return Counter(issue["fields"]["summary"].split("] ", 1)[1] for issue in stack.jira.issues())


def test_reconcile_brings_back_every_lost_issue_of_a_folder_larger_than_a_run(clean, airflow):
    stack = clean
    for n in range(MAILS):
        deliver(stack, make_mail(subject=f"Archived {n:02d}"))
    run_id = airflow.trigger("jicket", {"mode": "inbox"})
    assert airflow.wait_for_run("jicket", run_id)["state"] == "success", airflow.describe_run("jicket", run_id)
    wait_for_messages(stack, MAILS)  # the helpdesk's copies of the confirmations
    run_id = airflow.trigger("jicket", {"mode": "inbox"})  # moves the copies into the success folder too
    assert airflow.wait_for_run("jicket", run_id)["state"] == "success", airflow.describe_run("jicket", run_id)
    assert messages(stack) == [] and len(messages(stack, SUCCESS_FOLDER)) == 2 * MAILS
    assert summaries(stack) == Counter({f"Archived {n:02d}": 1 for n in range(MAILS)})
    confirmations = len(messages(stack, user=CUSTOMER))
    assert confirmations == MAILS

    # Someone deletes 7 issues in Jira: those of the 7 oldest mails, so the first rescan round fills up early.
    for issue in sorted(stack.jira.issues(), key=lambda i: i["fields"]["summary"].split("] ", 1)[1])[:LOST]:
        response = requests.delete(f"{stack.jira.url}/rest/api/2/issue/{issue['key']}", auth=stack.jira.auth,
                                   timeout=10)
        assert response.status_code == 204
    assert len(stack.jira.issues()) == MAILS - LOST

    airflow.api("POST", "/variables", json={"key": "JICKET_MAX_MAILS_PER_RUN", "value": str(LIMIT)})
    try:
        airflow.set_paused("jicket_reconcile", False)
        known = {r["dag_run_id"] for r in airflow.dag_runs("jicket")}
        reconcile = airflow.trigger("jicket_reconcile", {})
        run = airflow.wait_for_run("jicket_reconcile", reconcile, timeout=600)
        assert run["state"] == "success", airflow.describe_run("jicket_reconcile", reconcile)
    finally:
        airflow.api("DELETE", "/variables/JICKET_MAX_MAILS_PER_RUN", check=False)
        airflow.set_paused("jicket_reconcile", True)

    assert summaries(stack) == Counter({f"Archived {n:02d}": 1 for n in range(MAILS)}), "every lost one is back"
    rescans = sorted((r for r in airflow.dag_runs("jicket") if r["dag_run_id"] not in known),
                     key=lambda r: r["start_date"])
    reports = [airflow.xcom("jicket", r["dag_run_id"], "summarize") for r in rescans]
    assert [s["mode"] for s in reports] == ["rescan", "rescan"], reports
    first, second = (s["rescan"] for s in reports)
    assert (reports[0]["new"], first["missing"], first["complete"]) == (LIMIT, LIMIT, False), reports[0]
    assert (reports[1]["new"], second["missing"], second["complete"]) == (LOST - LIMIT, LOST - LIMIT, True)
    assert second["checked"] == second["total"] == 2 * MAILS and second["batches"] == 5, second
    assert second["skipped"] == MAILS, "the confirmation copies are Jicket's own: checked, never imported"
    line = airflow.xcom("jicket", rescans[0]["dag_run_id"], "summarize", key="summary")
    assert "incomplete: the next rescan goes on at UID" in line, line
    # Nothing confirmed, nothing moved.
    assert len(messages(stack, user=CUSTOMER)) == confirmations
    assert messages(stack) == [] and len(messages(stack, SUCCESS_FOLDER)) == 2 * MAILS
