"""The role's airflow_local_settings.py: the scheduler (and a Celery worker) import Jicket's task modules at
start, other Airflow components do not, and a module that cannot be imported never stops the process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.ansible.helpers import ANSIBLE_DIR

LOCAL_SETTINGS = ANSIBLE_DIR / "roles" / "jicket" / "files" / "airflow_local_settings.py"
ROOT = Path(__file__).resolve().parents[2]


def load_module():
    """The file as a module, without running its preload (argv is pytest's here)."""
    spec = importlib.util.spec_from_file_location("jicket_role_local_settings", LOCAL_SETTINGS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("argv", "forks"), [
    (["airflow", "scheduler"], True),
    (["/venv/lib/airflow/__main__.py", "scheduler", "--num-runs", "1"], True),
    (["airflow", "celery", "worker", "--queues", "default"], True),
    (["airflow", "api-server"], False),
    (["airflow", "dag-processor"], False),
    (["airflow", "triggerer"], False),
    (["airflow", "standalone"], False),
    (["airflow", "celery", "flower"], False),
    (["airflow"], False),
])
def test_only_processes_that_fork_tasks_preload(argv, forks):
    assert load_module()._forks_task_processes(argv) is forks


def test_a_module_that_fails_is_reported_and_skipped(caplog):
    module = load_module()
    failed = module.preload(("json", "jicket_ops.no_such_module", "email.message"))
    assert failed == ["jicket_ops.no_such_module"]
    assert "cannot import jicket_ops.no_such_module" in caplog.text


def test_every_listed_module_imports():
    assert load_module().preload() == []


def airflow_process(tmp_path: Path, component: str) -> set[str]:
    """Which of the preload modules a process titled ``airflow COMPONENT`` holds right after ``import airflow``
    with the file in $AIRFLOW_HOME/config (where Airflow looks for it)."""
    home = tmp_path / component
    (home / "config").mkdir(parents=True)
    (home / "config" / "airflow_local_settings.py").write_bytes(LOCAL_SETTINGS.read_bytes())
    script = (f"import sys; sys.argv = ['airflow', {component!r}]; import airflow, airflow_local_settings as s; "
              "print(' '.join(m for m in s.PRELOAD_MODULES if m in sys.modules))")
    env = {**os.environ, "AIRFLOW_HOME": str(home), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180,
                          cwd=home, stdin=subprocess.DEVNULL, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_airflow_imports_it_in_the_scheduler_only(tmp_path):
    expected = set(load_module().PRELOAD_MODULES)
    assert airflow_process(tmp_path, "scheduler") == expected
    assert not airflow_process(tmp_path, "api-server") & {"jicket_ops.adapters.jira", "jicket_ops.stages.fetch"}



# Loads the file (argv[1]) and asks SQLite whether a run stored 5 ms ago, as Airflow stores run_after there
# (text, UTC, six decimals), is due by ``run_after <= now()``. Printed: how now() is rendered, and the answer.
SQLITE_NOW_CHECK = """
import importlib.util, sys, time
from datetime import datetime, timezone
from sqlalchemy import create_engine, func, literal, select
from sqlalchemy.dialects import sqlite

spec = importlib.util.spec_from_file_location("role_local_settings", sys.argv[1])
spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(select(func.now()).compile(dialect=sqlite.dialect()))
with create_engine("sqlite://").connect() as connection:
    while datetime.now(timezone.utc).microsecond > 900_000:  # stay inside one whole second
        time.sleep(0.01)
    run_after = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    time.sleep(0.005)
    print("due" if connection.execute(select(literal(run_after) <= func.now())).scalar() else "waiting")
"""


def sqlite_now(**env: str) -> list[str]:
    done = subprocess.run([sys.executable, "-c", SQLITE_NOW_CHECK, str(LOCAL_SETTINGS)], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
                          check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-2:]


def test_sqlite_now_has_milliseconds_so_a_run_is_due_at_once():
    rendered, answer = sqlite_now()
    assert "strftime('%Y-%m-%d %H:%M:%f', 'now')" in rendered
    assert answer == "due"


def test_without_it_a_run_waits_for_the_next_whole_second():
    # What the file mends: CURRENT_TIMESTAMP has whole seconds, so a run stored 5 ms ago is not due yet.
    rendered, answer = sqlite_now(JICKET_SQLITE_PRECISE_NOW="false")
    assert "CURRENT_TIMESTAMP" in rendered
    assert answer == "waiting"
