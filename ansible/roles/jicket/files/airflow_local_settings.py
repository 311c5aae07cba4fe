"""Airflow local settings of the Jicket deployment: the scheduler imports Jicket's task modules at start.

What this is: Airflow imports ``airflow_local_settings`` from ``$AIRFLOW_HOME/config`` in every one of its
processes. Here it only acts in the processes that fork task processes: the scheduler (the LocalExecutor
forks its workers from it, and every task process is forked from a worker) and a Celery worker.

Why: without it, every task process imports the IMAP, Jira and mail code itself (0.3-0.8 s of CPU per
task on a 2-core host, more under load; a run starts up to seven tasks). Imported once in the forking
process, the modules are inherited by every task process at no cost. The role restarts every component
when the project's code changes, so no task runs code older than the deployed one.

A module that fails to import is logged and skipped: the task that needs it imports it again and reports
the error where it belongs, and the scheduler starts regardless.
"""

from __future__ import annotations

import importlib
import logging
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


if _forks_task_processes(sys.argv):
    preload()
