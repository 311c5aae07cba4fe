"""SQLite settings for the `airflow` commands the end-to-end tests run beside the running components
(``AirflowServer.cli(..., immediate=True)``), through ``[database]`` options.

SQLite lets one connection write at a time, and pysqlite begins no transaction for a SAVEPOINT: SQLite then
starts a deferred one there, whose read snapshot goes stale as soon as another process commits.
`airflow backfill create` creates each run inside ``session.begin_nested()`` (reads, then writes), so once
the scheduler has started the first run, or a component has written a heartbeat, the next write fails at
once with "database is locked", whatever the busy timeout. Such a command therefore begins every
transaction with BEGIN IMMEDIATE (the pysqlite recipe in SQLAlchemy's documentation): it takes the write
lock first, waiting up to a minute for it, and its snapshot cannot go stale. The components keep Airflow's
defaults (a long busy timeout there turns a lock held by a slow writer into stalled task API calls).
"""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.orm import sessionmaker

CONNECT_ARGS = {"timeout": 60}  # ``[database] sql_alchemy_connect_args``: wait up to 60 s for the lock


def immediate_sessions(engine):
    """``[database] sql_alchemy_session_maker``: Airflow's session factory, on SQLite transactions that
    begin IMMEDIATE."""
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _no_implicit_begin(dbapi_connection, _record):
            dbapi_connection.isolation_level = None  # pysqlite emits no BEGIN of its own

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection):
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return sessionmaker(engine, autocommit=False, autoflush=False, expire_on_commit=False)
