"""A stateful Jira stand-in over HTTP (Data Center REST v2, optionally Jira Cloud behaviour).

Run it: ``python -m sandbox.jira_standin --host 127.0.0.1 --port 0 --ready-file /tmp/jira.url``.
From tests: ``with JiraStandin() as jira: ... jira.url ... jira.violations()``.
Importing this package imports neither the server (starlette, uvicorn, openapi-core) nor, until
``JiraStandin`` or ``AdminClient`` is used, the helper (requests): the server process starts faster.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["AdminClient", "JiraStandin"]

if TYPE_CHECKING:
    from .harness import AdminClient, JiraStandin


def __getattr__(name: str):
    if name in __all__:
        from . import harness

        return getattr(harness, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
