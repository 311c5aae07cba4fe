"""Airflow local settings of the Jicket deployment: the scheduler imports Jicket's task modules at start, and
``now()`` on SQLite is as precise as the timestamps Airflow stores there.

What this is: Airflow imports ``airflow_local_settings`` from ``$AIRFLOW_HOME/config`` in every one of its
processes. Each part can be switched off with an environment variable the role writes (``airflow.env``):

``JICKET_PRELOAD_TASK_MODULES`` acts only in the processes that fork task processes: the scheduler (the
LocalExecutor forks its workers from it, and every task process is forked from a worker) and a Celery worker.
Without it, every task process imports the IMAP, Jira and mail code itself (0.3-0.8 s of CPU per
task on a 2-core host, more under load; a run starts up to seven tasks). Imported once in the forking
process, the modules are inherited by every task process at no cost. The role restarts every component
when the project's code changes, so no task runs code older than the deployed one.

A module that fails to import is logged and skipped: the task that needs it imports it again and reports
the error where it belongs, and the scheduler starts regardless.

``JICKET_SQLITE_PRECISE_NOW`` acts in every process: see ``precise_sqlite_now``.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

# What the tasks of dags/jicket_dag.py import beyond the DAG file itself (IMAP, Jira, SMTP, the stages).
PRELOAD_MODULES = (
    "jicket_ops.orchestration.runtime",
    "jicket_ops.adapters.imap",
    "jicket_ops.adapters.jira",
    "jicket_ops.adapters.jsm",
    "jicket_ops.adapters.smtp",
    "jicket_ops.stages.fetch",
    "jicket_ops.stages.filter_mails",
    "jicket_ops.stages.route",
    "jicket_ops.stages.write_to_jira",
    "jicket_ops.stages.confirm",
    "jicket_ops.stages.move",
    "jicket_ops.orchestration.summary",
)


def _forks_task_processes(argv: list[str]) -> bool:
    """Whether this Airflow process is one whose children run tasks (scheduler, Celery worker)."""
    args = [a for a in argv[1:] if not a.startswith("-")]
    return args[:1] == ["scheduler"] or args[:2] == ["celery", "worker"]


def preload(modules: tuple[str, ...] = PRELOAD_MODULES) -> list[str]:
    """Import ``modules``; the names that failed (each logged, never raised)."""
    failed = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a broken module must not stop the scheduler; its task reports it
            logging.getLogger(__name__).warning("jicket preload: cannot import %s", name, exc_info=True)
            failed.append(name)
    return failed


def precise_sqlite_now() -> None:
    """Render SQL ``now()`` on SQLite with milliseconds (``JICKET_SQLITE_PRECISE_NOW``).

    SQLAlchemy renders ``func.now()`` as CURRENT_TIMESTAMP on SQLite: whole seconds, as text. Airflow stores
    timestamps there as text with six decimals and lets the scheduler create or start a run once
    ``run_after <= now()``; as text, '12:00:00.000001' sorts after '12:00:00', so on SQLite every run (asset
    event, trigger or timetable) waits for the next whole second: 0.5 s on average, about a sixth of the event
    mode's mail-to-issue time (bench/README.md). With milliseconds a run waits at most 1 ms. Airflow 3.3 uses
    ``func.now()`` only in such comparisons (no column default), and other databases are left as they are.
    """
    from sqlalchemy.ext.compiler import compiles
    from sqlalchemy.sql.functions import now

    @compiles(now, "sqlite")
    def _sqlite_now(element, compiler, **kw) -> str:  # noqa: ARG001 - SQLAlchemy's compiler signature
        # In parentheses: also valid where SQLite wants a constant expression (a DEFAULT clause).
        return "(strftime('%Y-%m-%d %H:%M:%f', 'now'))"


def _enabled(variable: str) -> bool:
    """A part is on unless the role's environment switches it off (the file alone: everything on)."""
    return os.environ.get(variable, "true").strip().lower() not in ("false", "0", "no", "off")


if _enabled("JICKET_SQLITE_PRECISE_NOW"):
    precise_sqlite_now()
if _enabled("JICKET_PRELOAD_TASK_MODULES") and _forks_task_processes(sys.argv):
    preload()
