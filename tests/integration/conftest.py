"""The real stack for integration runs: Dovecot, the SMTP relay into it, the Jira stand-in, Airflow.

One stack and one metadata DB per test session; every test starts from empty mailboxes and an empty
Jira. Runs use ``dag.test()`` in this process (the in-process execution API is built once), and the
``airflow dags test`` CLI where the command line itself is under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.stack import CUSTOMER, HELPDESK, JIRA_PROJECT, JIRA_USER, SandboxStack
from tests.support import OPS, STAFF, load_dag

# Every integration test runs on Dovecot, which stores custom keywords (Jicket keeps progress in keywords), and on
# Courier-IMAP without keywords and without MOVE, as Microsoft Exchange (progress in folders, flags and Jira).
# JICKET_TEST_IMAP_SERVERS names the servers of this session (default: Dovecot); scripts/test.sh runs the Courier
# pass as a session of its own. (A session running both once failed its later tests: a test that read the SQLite DB's
# files in this process dropped the pooled connections' locks; see _close_pooled_db_connections.)
IMAP_SERVERS = [s for s in os.environ.get("JICKET_TEST_IMAP_SERVERS", "dovecot").split(",") if s]


@pytest.fixture(scope="session", params=IMAP_SERVERS)
def stack(request, tmp_path_factory):
    with SandboxStack(tmp_path_factory.mktemp(f"stack-{request.param}"), imap_server=request.param) as running:
        running.add_user(STAFF, "staffpw")
        running.add_user(OPS, "opspw")
        yield running


def _close_pooled_db_connections() -> None:
    """Close the SQLite connections Airflow's engines keep pooled in this process (if Airflow is loaded).

    Some tests read the metadata DB's files (airflow.db, -wal, -shm) in this process, and closing any file
    descriptor of a file drops every POSIX lock the process holds on it, SQLite's included. A pooled
    connection that lost its WAL locks lets the next ``airflow dags test`` subprocess treat itself as the only
    connection (reset the WAL index, checkpoint and remove the WAL on exit), after which this process reads
    "database disk image is malformed" on every later run. Without pooled connections between tests, each
    test's first query opens a fresh connection that takes its locks anew.
    """
    settings = sys.modules.get("airflow.settings")
    if settings is None:
        return
    for engine in (getattr(settings, "engine", None), getattr(getattr(settings, "async_engine", None),
                                                                   "sync_engine", None)):
        if engine is not None:
            engine.dispose()


@pytest.fixture(autouse=True)
def _no_db_connection_across_tests():
    _close_pooled_db_connections()
    yield
    _close_pooled_db_connections()


@pytest.fixture(scope="session")
def progress_mode(stack) -> str:
    """Where Jicket keeps progress on this stack's IMAP server: "keywords" or "folders"."""
    return "folders" if stack.imap_server == "courier" else "keywords"


@pytest.fixture(scope="session")
def airflow_db():
    """A migrated SQLite metadata DB (AIRFLOW_HOME was set by tests/conftest.py)."""
    result = subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], capture_output=True, text=True,
                            env=os.environ.copy(), timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return Path(os.environ["AIRFLOW_HOME"])


@pytest.fixture()
def env(stack, airflow_db, monkeypatch):
    """Point Jicket at the stack; empty mailboxes and Jira."""
    for name, value in stack.connection_env().items():
        monkeypatch.setenv(name, value)
    stack.empty_mailboxes(HELPDESK, CUSTOMER, STAFF, OPS)
    stack.jira.reset()
    stack.jira.clear_faults()
    stack.jira.clear_requests()
    yield stack
    assert stack.jira.violations() == [], "the Jira stand-in saw requests or responses that break the spec"


@pytest.fixture(scope="session")
def dag(airflow_db):
    return load_dag()


@pytest.fixture()
def run_dag(dag, env):
    """Run the DAG once with dag.test(); return (state, {task_id: state})."""
    defaults = {"mode": "inbox", "folder": "", "since": "", "before": "", "dry_run": False, "max_mails": None}

    def run(conf: dict | None = None) -> tuple[str, dict[str, str]]:
        # dag.test() keeps a run's conf in the DAG's params: always pass every Param.
        dagrun = dag.test(run_conf={**defaults, **(conf or {})})
        states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
        return str(dagrun.state), states
    return run


@pytest.fixture()
def cloud_jira(env, monkeypatch):
    """A Jira Cloud stand-in in place of the stack's Data Center one, for one test.

    Jicket signs in as Cloud wants it: the account's e-mail address and an API token.
    """
    from sandbox.jira_standin import JiraStandin

    with JiraStandin(mode="cloud", user=JIRA_USER, password=env.jira.password, project=JIRA_PROJECT,
                     host=env.host, port=0) as jira:
        account = next(u for u in jira.state()["users"] if u["name"] == JIRA_USER)
        token = "api-token-" + env.jira.password
        jira.add_users({"name": JIRA_USER, "email": account["email"], "password": jira.password, "api_token": token})
        monkeypatch.setenv("AIRFLOW_CONN_JICKET_JIRA", json.dumps({
            "conn_type": "jira", "host": jira.url, "login": account["email"], "password": token,
            "extra": {"cloud": True, "verify": True}}))
        yield jira
        assert jira.violations() == [], "the Cloud stand-in saw requests or responses that break the spec"


@pytest.fixture(params=["dc", "cloud"])
def jira_flavour(request, env):
    """Runs a test against Jira Data Center (the stack's stand-in) and Jira Cloud; ``env.jira`` is the one in use."""
    if request.param == "dc":
        yield "dc"
        return
    cloud = request.getfixturevalue("cloud_jira")
    data_center, env.jira = env.jira, cloud
    try:
        yield "cloud"
    finally:
        env.jira = data_center
    assert cloud.requests_log(), "Jicket never called the Cloud stand-in"
    assert data_center.requests_log() == [], "Jicket called the Data Center stand-in in a Cloud test"
