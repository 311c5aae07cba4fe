"""Connections defined for this process from jicket 0.6.2's variables, where Airflow knows none of that id.

A 0.6.2 ``env.list`` names its servers with ``JICKET_IMAP_HOST`` ... instead of Airflow Connections. The task
builds those connections (``orchestration.connections``) and defines them here; the adapters' hooks ask Airflow
first and fall back to them. Nothing is written to the environment, so no other code (and no child process)
sees them.
"""

from __future__ import annotations

import json
import threading

_defined: dict[str, dict] = {}
_lock = threading.Lock()


def define(conn_id: str, connection: dict) -> None:
    """Make ``connection`` (``conn_type``, ``host``, ``port``, ``login``, ``password``, ``extra``) answer for
    ``conn_id`` in this process, unless Airflow defines that id itself."""
    with _lock:
        _defined[conn_id] = dict(connection)


def defined(conn_id: str) -> dict | None:
    """The connection defined for ``conn_id`` here, if any."""
    with _lock:
        return dict(_defined[conn_id]) if conn_id in _defined else None


class FallbackConnection:
    """Hook mixin: ``get_connection`` asks Airflow, then the connections defined here."""

    def get_connection(self, conn_id: str):  # type: ignore[override]
        from airflow.sdk import Connection
        from airflow.sdk.exceptions import AirflowNotFoundException

        try:
            return super().get_connection(conn_id)  # type: ignore[misc]
        except AirflowNotFoundException:
            with _lock:
                defined = _defined.get(conn_id)
            if defined is None:
                raise
            fields = {k: v for k, v in defined.items() if k != "extra" and v is not None}
            return Connection(conn_id=conn_id, extra=json.dumps(defined.get("extra") or {}), **fields)
