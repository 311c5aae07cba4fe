"""Jira tokens instead of passwords (issue 11, item 3), on stand-ins that refuse passwords (``basic_auth=False``).

Data Center: a personal access token, sent as ``Authorization: Bearer`` (connection extra ``token``, or the token
as password with ``auth_type: "pat"``, or 0.6.2-style ``JICKET_JIRA_TOKEN``). Cloud: the account's e-mail and an
API token over basic auth. The stand-ins' request logs show which header every request carried.
"""

from __future__ import annotations

import json

import pytest

from jicket_ops.adapters.jira import JiraWriter
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.errors import ConfigError, JiraError
from sandbox.stack import JIRA_PROJECT, JIRA_USER
from tests.support import deliver, make_mail, only_issue

PAT = "pat-" + "7" * 40


def assert_every_request(jira, auth: str, credential: str) -> int:
    """Every request the stand-in saw carried exactly one Authorization header of this kind; their number."""
    log = jira.requests_log()
    assert log, "Jicket never called Jira"
    kinds = {(entry["auth"], entry["credential"], entry["auth_headers"]) for entry in log}
    assert kinds == {(auth, credential, 1)}, kinds
    assert all(entry["status"] is not None and entry["status"] < 400 for entry in log), log
    return len(log)


@pytest.mark.parametrize("style", ["extra_token", "auth_type_pat", "env_062"])
def test_data_center_personal_access_token_sends_bearer_only(env, run_dag, monkeypatch, style):
    env.jira.configure(basic_auth=False)
    env.jira.add_token(JIRA_USER, PAT)
    verify = True
    if style == "env_062":
        monkeypatch.delenv("AIRFLOW_CONN_JICKET_JIRA")
        monkeypatch.setenv("JICKET_JIRA_URL", env.jira.url)
        monkeypatch.setenv("JICKET_JIRA_TOKEN", PAT)
    else:
        connection = {"conn_type": "jira", "host": env.jira.url, "extra": {"verify": verify, "token": PAT}}
        if style == "auth_type_pat":  # the login stays for the record; no basic auth may be built from it
            connection = {"conn_type": "jira", "host": env.jira.url, "login": JIRA_USER, "password": PAT,
                          "extra": {"verify": verify, "auth_type": "pat"}}
        monkeypatch.setenv("AIRFLOW_CONN_JICKET_JIRA", json.dumps(connection))
    deliver(env, make_mail(subject="Signed in with a PAT"))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert only_issue(env)["fields"]["summary"].endswith("Signed in with a PAT")
    assert_every_request(env.jira, "bearer", "pat")


def test_password_is_refused_when_basic_auth_is_off(env, monkeypatch):
    """The control: the stand-in's switch is effective, so the test above proves the token was used."""
    env.jira.configure(basic_auth=False)
    writer = JiraWriter("jicket_jira", JIRA_PROJECT, TicketIdScheme())
    with pytest.raises(JiraError) as info:
        writer.get_ticket(f"{JIRA_PROJECT}-1")
    assert info.value.status == 401


def test_cloud_api_token_is_basic_email_and_token(env, cloud_jira, run_dag):
    cloud_jira.configure(basic_auth=False)  # real Cloud refuses account passwords
    deliver(env, make_mail(subject="Signed in with an API token"))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert [i["fields"]["summary"].split("] ", 1)[1] for i in cloud_jira.issues()] == ["Signed in with an API token"]
    assert_every_request(cloud_jira, "basic", "api_token")
    assert env.jira.requests_log() == []


def test_personal_access_token_on_cloud_is_a_configuration_error(env, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_JICKET_JIRA", json.dumps({
        "conn_type": "jira", "host": env.jira.url, "extra": {"cloud": True, "token": PAT}}))
    with pytest.raises(ConfigError, match="Jira Cloud has no personal access tokens"):
        JiraWriter("jicket_jira", JIRA_PROJECT, TicketIdScheme()).get_ticket(f"{JIRA_PROJECT}-1")
