"""A stateful Jira stand-in over HTTP (Data Center REST v2, optionally Jira Cloud behaviour).

Run it: ``python -m sandbox.jira_standin --host 127.0.0.1 --port 0 --ready-file /tmp/jira.url``.
From tests: ``with JiraStandin() as jira: ... jira.url ... jira.violations()``.
Importing this package does not import the server (starlette, uvicorn, openapi-core).
"""

from .harness import AdminClient, JiraStandin

__all__ = ["AdminClient", "JiraStandin"]
