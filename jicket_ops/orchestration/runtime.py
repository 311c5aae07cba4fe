"""The thin shell between Airflow and the pipeline: settings and connections inside a task."""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from jicket_ops.domain.settings import Lookup, Settings, load_settings, mail_secret
from jicket_ops.orchestration.connections import ensure_connections
from jicket_ops.orchestration.tasks import TaskId

log = logging.getLogger("jicket")


def airflow_variable(name: str) -> str | None:
    """The Airflow Variable of that name (None when there is none)."""
    from airflow.sdk import Variable

    try:
        return Variable.get(name, default=None)
    except Exception:  # noqa: BLE001 - outside a task (jicket-inspect, tests) there is no Variable store
        return None


def airflow_lookup(name: str) -> str | None:
    """A setting: the Airflow Variable of that name, else the environment variable."""
    value = airflow_variable(name)
    return value if value is not None else os.environ.get(name)


def variable_lookup(get: Lookup, stored: Callable[[], frozenset[str] | None],
                    environ: Mapping[str, str] = os.environ) -> Lookup:
    """``airflow_lookup`` that asks Airflow only for the Variables that can exist.

    ``get`` asks Airflow for one Variable (a round trip to the API server). ``stored`` lists the Variables
    the metadata DB holds, in one round trip, or None when any name may exist (a secrets backend such as
    Vault is configured, or the list cannot be had). A name the DB lacks can still be a Variable from the
    environment (``AIRFLOW_VAR_<NAME>``), which ``get`` reads without a round trip. Most JICKET_* names are
    not Variables at all (the role sets them in the environment), so this spares a task about 40 requests.
    """
    listing = functools.cache(stored)  # asked when first needed: a task that reads no setting asks nothing

    def lookup(name: str) -> str | None:
        known = listing()
        value = None
        if known is None or name in known or f"AIRFLOW_VAR_{name.upper()}" in environ:
            value = get(name)
        return value if value is not None else environ.get(name)

    return lookup


def stored_jicket_variables() -> frozenset[str] | None:
    """The JICKET_* Variables in the metadata DB, or None when a Variable may live elsewhere or the list
    cannot be had (outside a task, an API server that does not list keys): then every name is asked for."""
    try:
        from airflow.sdk import Variable
        from airflow.sdk.configuration import conf

        # A custom secrets backend (workers' own, else the deployment's) may hold any name; Variable.keys
        # lists the metadata DB only.
        if conf.get("workers", "secrets_backend", fallback="") or conf.get("secrets", "backend", fallback=""):
            return None
        return frozenset(Variable.keys(prefix="JICKET_"))
    except Exception:  # noqa: BLE001 - no Variable store here, or an older API: look each name up
        return None


def task_variables() -> Lookup:
    """The settings lookup of one task: Variables first, else the environment, in few round trips."""
    return variable_lookup(airflow_variable, stored_jicket_variables)


class _Connections:
    """This task's Airflow connections, each asked for once (a round trip to the API server per id)."""

    def __init__(self) -> None:
        self._seen: dict[str, object | None] = {}

    def get(self, conn_id: str):
        """The connection, or None when Airflow knows no connection of that id."""
        if conn_id not in self._seen:
            from airflow.sdk import BaseHook

            try:
                self._seen[conn_id] = BaseHook.get_connection(conn_id)
            except Exception:  # noqa: BLE001 - AirflowNotFoundException's import path differs across versions
                self._seen[conn_id] = None
        return self._seen[conn_id]

    def exists(self, conn_id: str) -> bool:
        return self.get(conn_id) is not None


def connection_exists(conn_id: str) -> bool:
    """Whether Airflow knows a connection of that id."""
    return _Connections().exists(conn_id)


SNAPSHOT_TASK = TaskId.FETCH
SNAPSHOT_KEY = "jicket_settings"


def _run_lookup(base=airflow_lookup):
    """(lookup, publish) for this task's settings; ``base`` looks a name up (a mailbox's lookup, or Variables).

    Each setting is an Airflow Variable first, and Variable lookups are round trips to the API server. So the
    run's first task records what it read and publishes it as an XCom; the other tasks of the run read that
    snapshot with one request. A run therefore uses one consistent set of settings; a name the snapshot lacks
    is looked up.
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


ALL_CONNECTIONS = ("imap", "smtp", "jira")


def task_settings(default_template: Path, mailbox: str | None = None,
                  connections: tuple[str, ...] = ALL_CONNECTIONS) -> Settings:
    """Validated settings, with the three connections defined (from 0.6.2 variables if need be).

    ``default_template``: the deployment's confirmation template, used when JICKET_THREAD_TEMPLATE is unset.
    ``mailbox``: the configured mailbox this task serves (``domain.mailboxes``): its entry overrides the
    deployment's JICKET_* settings; None for the single ``jicket`` DAG.
    ``connections``: the kinds of server this task talks to, each checked (and defined from the 0.6.2
    variables if Airflow lacks it); the run's first task checks all three, so a missing one fails early.
    """
    base = variables = task_variables()
    if mailbox is not None:
        from jicket_ops.orchestration.mailbox_config import mailbox_lookup

        base = mailbox_lookup(mailbox, variables)
    lookup, publish = _run_lookup(base)
    settings = load_settings(lookup, default_template)
    if publish is not None:
        publish()
    ids = {"imap": settings.imap_conn_id, "smtp": settings.smtp_conn_id, "jira": settings.jira_conn_id}
    known = _Connections()
    needed = {kind: conn_id for kind, conn_id in ids.items() if kind == "imap" or kind in connections}
    ensure_connections(base, needed, known.exists)
    # Read beside the snapshot, never into it: the secret must not land in XCom.
    key, source = mail_secret(base, settings, _connection_password(known, settings.imap_conn_id))
    if source.startswith("weak"):
        log.warning("Jicket's own mail is signed with a key an outsider may guess (%s)", source)
    return replace(settings, mail_secret=key)


def _connection_password(known: _Connections, conn_id: str) -> str | None:
    """The password of a connection (None when it has none): Airflow's, else one defined from the 0.6.2
    variables."""
    from jicket_ops.adapters.defined_connections import defined

    connection = known.get(conn_id)
    if connection is not None:
        return getattr(connection, "password", None) or None
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
