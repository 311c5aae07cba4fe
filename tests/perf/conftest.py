"""One sandbox stack (Dovecot, SMTP relay, Jira stand-in) for the throughput and event-mode tests.

The pipeline stages run directly here, each with its own ``Mailbox`` and ``JiraWriter`` as the DAG's
tasks have, so IMAP round trips (``Mailbox.round_trips``) and Jira requests (the stand-in's request log)
can be counted per stage without Airflow in between.
"""

from __future__ import annotations

import secrets

import pytest

from sandbox.stack import CUSTOMER, HELPDESK, JIRA_USER, SandboxStack
from tests.support import empty_stack


@pytest.fixture(scope="session")
def perf_stack(tmp_path_factory):
    # Passwords of letters and digits: a generated one starting with "-" would be read as an option
    # by the Jira stand-in's command line.
    passwords = {user: "p" + secrets.token_hex(8) for user in (HELPDESK, CUSTOMER, JIRA_USER)}
    with SandboxStack(tmp_path_factory.mktemp("perf-stack"), passwords=passwords) as stack:
        yield stack


@pytest.fixture()
def stack(perf_stack, monkeypatch):
    """The stack with empty mailboxes and Jira, and the environment pointing Jicket at it."""
    for name, value in perf_stack.connection_env().items():
        monkeypatch.setenv(name, value)
    empty_stack(perf_stack)
    yield perf_stack
    assert perf_stack.jira.violations() == []
