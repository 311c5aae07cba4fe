"""End-to-end tests against a running Airflow (api-server, scheduler, dag-processor, triggerer) that runs
the real dags/ folder on the sandbox stack (Dovecot, the SMTP relay, the Jira stand-in).

One Airflow and one stack for the tests of this folder (starting Airflow takes about a minute on two cores;
package scope stops it when they are done, not at the end of a longer test session); every test starts
from empty mailboxes and an empty Jira. Component logs are printed when Airflow does not come up
or a wait times out, and copied to tests/e2e/artifacts/airflow-logs/ at the end of the session.
"""

from __future__ import annotations

import shutil
import time

import pytest

from sandbox.stack import CUSTOMER, HELPDESK, SandboxStack
from tests.e2e.airflow_server import AirflowServer
from tests.support import E2E_ARTIFACTS

AIRFLOW_SETTINGS = {
    # The DAG needs a periodic schedule: `airflow backfill create` refuses a DAG without one
    # (JICKET_LOOPMODE=singleshot parses to schedule=None, "a non-periodic schedule that does not support
    # backfills"). `dynamic` with a one-day JICKET_LOOPTIME gives DeltaDataIntervalTimetable(1 day) from the
    # DAG's midnight start_date, so a backfill over D1..D3 is three runs and each run re-scans exactly one
    # calendar day (UTC) of mail; with the default 60 s it would be 1440 runs a day.
    "JICKET_LOOPMODE": "dynamic",
    "JICKET_LOOPTIME": "86400",
    # ... and nothing runs on that schedule: the scheduler creates no scheduled runs at all, so the only
    # runs are the ones a test triggers or backfills (what JICKET_LOOPMODE=singleshot would give).
    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
    # A failing task fails its run at once: a test waits for the verdict, not for retries.
    "JICKET_TASK_RETRIES": "0",
    "JICKET_RETRY_DELAY": "0",
}


@pytest.fixture(scope="package")
def e2e_stack(tmp_path_factory):
    with SandboxStack(tmp_path_factory.mktemp("e2e-stack")) as running:
        yield running
        stopping = time.monotonic()
    print(f"\nsandbox stack stopped in {time.monotonic() - stopping:.0f} s")


@pytest.fixture(scope="package")
def airflow(e2e_stack, tmp_path_factory):
    """A started Airflow with the jicket DAG parsed and unpaused (a paused DAG runs nothing, not even a
    backfill). Stopped by process group after the last test here; leftover processes fail the teardown."""
    server = AirflowServer(tmp_path_factory.mktemp("e2e-airflow-home"),
                           {**e2e_stack.connection_env(), **AIRFLOW_SETTINGS})
    server.start()
    print("\nAirflow up: " + ", ".join(f"{k} {v:.0f} s" for k, v in server.timings.items()))
    try:
        server.set_paused("jicket", False)
        yield server
    finally:
        stopping = time.monotonic()
        killed = server.stop()
        print(f"\nAirflow stopped in {time.monotonic() - stopping:.0f} s")
        deadline = time.monotonic() + 10
        while (leftovers := server.leftover_pids()) and time.monotonic() < deadline:
            time.sleep(0.2)
        target = E2E_ARTIFACTS / "airflow-logs"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(server.log_dir, target)
        assert not leftovers, f"Airflow processes survived the shutdown: {leftovers}"
        if killed:
            print(f"\nAirflow components had to be killed: {killed}")


@pytest.fixture()
def clean(e2e_stack, airflow):
    """Empty mailboxes and Jira; afterwards, no request or response may have broken the Jira spec."""
    e2e_stack.empty_mailboxes(HELPDESK, CUSTOMER)
    e2e_stack.jira.reset()
    e2e_stack.jira.clear_faults()
    e2e_stack.jira.clear_requests()
    e2e_stack.jira.clear_violations()
    yield e2e_stack
    assert e2e_stack.jira.violations() == [], "the Jira stand-in saw requests or responses that break the spec"
