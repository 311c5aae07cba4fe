"""The thin shell between Airflow and the pipeline: settings and connections inside a task."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

from jicket_ops.domain.settings import Settings, load_settings, mail_secret
from jicket_ops.orchestration.connections import ensure_connections
from jicket_ops.orchestration.tasks import TaskId

log = logging.getLogger("jicket")


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


SNAPSHOT_TASK = TaskId.FETCH
SNAPSHOT_KEY = "jicket_settings"


def _run_lookup(base=airflow_lookup):
    """(lookup, publish) for this task's settings; ``base`` looks a name up (a mailbox's lookup, or Variables).

    Each setting is an Airflow Variable first, and each Variable lookup is a round trip to the API server
    (about 40 per task, most of them for Variables that do not exist). So the run's first task records
    what it read and publishes it as an XCom; the other tasks of the run read that snapshot with one
    request. A run therefore uses one consistent set of settings; a name the snapshot lacks is looked up.
    """
    try:
        from airflow.sdk import get_current_context

        ti = get_current_context()["ti"]
    except Exception:  # noqa: BLE001 - outside a task (jicket-inspect, tests): no run to share settings with
        return base, None
    if ti.task_id == SNAPSHOT_TASK:
        seen: dict[str, str | None] = {}

        def recording(name: str) -> str | None:
            seen[name] = base(name)
            return seen[name]

        return recording, lambda: ti.xcom_push(key=SNAPSHOT_KEY, value=seen)
    try:
        snapshot = ti.xcom_pull(task_ids=SNAPSHOT_TASK, key=SNAPSHOT_KEY)
    except Exception:  # noqa: BLE001 - no snapshot (the first task did not run): look everything up
        snapshot = None
    if not isinstance(snapshot, dict):
        return base, None
    return (lambda name: snapshot[name] if name in snapshot else base(name)), None


def task_settings(default_template: Path, mailbox: str | None = None) -> Settings:
    """Validated settings, with the three connections defined (from 0.6.2 variables if need be).

    ``default_template``: the deployment's confirmation template, used when JICKET_THREAD_TEMPLATE is unset.
    ``mailbox``: the configured mailbox this task serves (``domain.mailboxes``): its entry overrides the
    deployment's JICKET_* settings; None for the single ``jicket`` DAG.
    """
    base = airflow_lookup
    if mailbox is not None:
        from jicket_ops.orchestration.mailbox_config import mailbox_lookup

        base = mailbox_lookup(mailbox, airflow_lookup)
    lookup, publish = _run_lookup(base)
    settings = load_settings(lookup, default_template)
    if publish is not None:
        publish()
    ensure_connections(
        base,
        {"imap": settings.imap_conn_id, "smtp": settings.smtp_conn_id, "jira": settings.jira_conn_id},
        _connection_exists,
    )
    # Read beside the snapshot, never into it: the secret must not land in XCom.
    key, source = mail_secret(base, settings, _connection_password(settings.imap_conn_id))
    if source.startswith("weak"):
        log.warning("Jicket's own mail is signed with a key an outsider may guess (%s)", source)
    return replace(settings, mail_secret=key)


def _connection_password(conn_id: str) -> str | None:
    """The password of an Airflow connection (None when it has none or cannot be read)."""
    from airflow.sdk import BaseHook

    from jicket_ops.adapters.defined_connections import defined

    try:
        return BaseHook.get_connection(conn_id).password or None
    except Exception:  # noqa: BLE001 - not an Airflow connection: one defined from the 0.6.2 variables, or none
        return (defined(conn_id) or {}).get("password") or None


def task_request(settings: Settings):
    """What this run was asked to do: its Params, run type (backfill) and data interval."""
    from airflow.sdk import get_current_context

    from jicket_ops.domain.run_request import run_request

    context = get_current_context()
    dag_run = context["dag_run"]
    run_type = getattr(dag_run.run_type, "value", dag_run.run_type)
    interval = (context.get("data_interval_start"), context.get("data_interval_end"))
    return run_request(dict(context["params"]), run_type=str(run_type), interval=interval,
                       inbox=settings.folder_inbox)
