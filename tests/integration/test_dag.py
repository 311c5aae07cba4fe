"""The DAG file itself: imports cleanly and cheaply, wires the stages, schedules by JICKET_LOOPMODE,
and the `airflow dags test` command line runs it (and names a broken setting)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT, deliver, load_dag, make_mail, messages

STAGES = {"fetch", "filter_mails", "route", "write_to_jira", "confirm", "move", "summarize"}


def test_dagbag_has_no_import_errors():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["jicket"]
    assert set(dag.task_ids) == STAGES
    assert dag.max_active_runs == 1 and not dag.catchup
    assert dag.doc_md and "exactly once" in dag.doc_md
    for task in dag.tasks:
        assert task.doc_md or task.doc, f"task {task.task_id} has no docstring"
        # `-> dict` would otherwise push every key of a stage's result as an XCom of its own, too.
        assert task.multiple_outputs is False, f"task {task.task_id} unrolls its result into XComs"


def test_stage_order():
    dag = load_dag()
    assert dag.get_task("filter_mails").upstream_task_ids == {"fetch"}
    assert dag.get_task("route").upstream_task_ids == {"filter_mails"}
    assert dag.get_task("write_to_jira").upstream_task_ids == {"route", "fetch"}
    assert dag.get_task("confirm").upstream_task_ids == {"write_to_jira"}
    assert dag.get_task("move").upstream_task_ids == {"confirm"}
    assert dag.get_task("summarize").upstream_task_ids == {"move"}
    assert dag.get_task("write_to_jira").retries == int(os.environ["JICKET_TASK_RETRIES"])


@pytest.mark.parametrize(("mode", "expected"), [("dynamic", "DeltaDataIntervalTimetable"),
                                                 ("interval", "DeltaTriggerTimetable"),
                                                 ("singleshot", "NullTimetable")])
def test_schedule_follows_loopmode(monkeypatch, mode, expected):
    monkeypatch.setenv("JICKET_LOOPMODE", mode)
    monkeypatch.setenv("JICKET_LOOPTIME", "120")
    dag = load_dag()
    assert type(dag.timetable).__name__ == expected
    if mode != "singleshot":
        assert "delta=datetime.timedelta(seconds=120)" in repr(dag.timetable)


def airflow_cli(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "airflow", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, cwd=ROOT)


def test_cli_dags_test_runs_the_pipeline(env, airflow_db):
    deliver(env, make_mail(subject="Via the command line"))
    result = airflow_cli("dags", "test", "jicket", env=os.environ.copy())
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    issues = env.jira.issues()
    assert [i["fields"]["summary"].split("] ", 1)[1] for i in issues] == ["Via the command line"]
    assert [m.message["Subject"] for m in messages(env, "jicket")] == ["Via the command line"]


def test_cli_run_with_a_broken_setting_fails_at_once_naming_it(env, airflow_db):
    broken = {**os.environ, "JICKET_FOLDER_SUCCESS": "does-not-exist"}
    result = airflow_cli("dags", "test", "jicket", env=broken)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "JICKET_FOLDER_SUCCESS: IMAP folder 'does-not-exist' does not exist" in output
    assert output.count("Task failed with exception") <= 4, "a configuration error must not be retried"

    missing = {k: v for k, v in os.environ.items() if k != "JICKET_JIRA_PROJECT"}
    result = airflow_cli("dags", "test", "jicket", env=missing)
    assert result.returncode != 0
    assert "JICKET_JIRA_PROJECT: is required" in result.stdout + result.stderr


def test_dag_file_imports_nothing_heavy():
    code = ("import sys, time; sys.path.insert(0, {!r}); import airflow.sdk; t = time.perf_counter(); "
            "import importlib.util as u; s = u.spec_from_file_location('d', {!r}); m = u.module_from_spec(s); "
            "s.loader.exec_module(m); print(sorted(n for n in sys.modules if n.startswith(('jicket_ops', "
            "'atlassian', 'imaplib', 'html2text', 'hashids.x'))))").format(
        str(ROOT), str(ROOT / "dags" / "jicket_dag.py"))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                            timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = eval(result.stdout.strip().splitlines()[-1])  # noqa: S307 - our own printed list
    assert not [m for m in loaded if not m.startswith("jicket_ops")], loaded
    assert set(loaded) <= {"jicket_ops", "jicket_ops.domain", "jicket_ops.domain.settings", "jicket_ops.errors",
                           "jicket_ops.domain.filters", "jicket_ops.domain.ticket_ids", "jicket_ops.orchestration",
                           "jicket_ops.orchestration.tasks"}


def test_celery_executor_loads_with_the_pinned_celery():
    """The production executor imports with constraints.txt's celery (5.7 broke apache-airflow-providers-celery)."""
    from airflow.providers.celery.executors import celery_executor_utils
    from airflow.providers.celery.executors.celery_executor import CeleryExecutor

    assert CeleryExecutor.__name__ == "CeleryExecutor" and celery_executor_utils.app is not None
