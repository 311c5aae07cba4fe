"""The thin shell between Airflow and the pipeline: settings and connections inside a task."""

from __future__ import annotations

import os

from jicket_ops.config import Settings, load_settings
from jicket_ops.connections import ensure_connections


def airflow_lookup(name: str) -> str | None:
    """A setting: the Airflow Variable of that name, else the environment variable."""
    from airflow.sdk import Variable

    try:
        value = Variable.get(name, default=None)
    except Exception:  # noqa: BLE001 - outside a task (jicket-inspect, tests) there is no Variable store
        value = None
    return value if value is not None else os.environ.get(name)


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - AirflowNotFoundException's import path differs across versions
        return False
    return True


def task_settings() -> Settings:
    """Validated settings, with the three connections defined (from 0.6.2 variables if need be)."""
    settings = load_settings(airflow_lookup)
    ensure_connections(
        airflow_lookup,
        {"imap": settings.imap_conn_id, "smtp": settings.smtp_conn_id, "jira": settings.jira_conn_id},
        _connection_exists,
    )
    return settings


def task_request(settings: Settings):
    """What this run was asked to do: its Params, run type (backfill) and data interval."""
    from airflow.sdk import get_current_context

    from jicket_ops.run_request import run_request

    context = get_current_context()
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    interval = (context.get("data_interval_start"), context.get("data_interval_end"))
    return run_request(dict(context["params"]), run_type=str(run_type), interval=interval,
                       inbox=settings.folder_inbox)
