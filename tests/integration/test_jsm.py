"""Jira Service Management mode end to end, on Data Center and Cloud stand-ins (both check every JSM request
against Atlassian's JSM spec): a new mail becomes a customer request raised on behalf of the sender (created as
a customer when the desk allows it, else raised by the service account with the sender named), Cc'd people become
participants, the customer's reply is a public comment and staff's an internal one."""

from __future__ import annotations

import pytest
import requests

from sandbox.stack import CUSTOMER
from tests.support import OPS, STAFF, TAG, deliver, make_mail, wait_for_messages

SD = "/rest/servicedeskapi"


def sd_get(jira, path: str, **params) -> dict:
    response = requests.get(jira.url + SD + path, params=params, auth=jira.auth, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture()
def jsm(env, jira_flavour, monkeypatch):
    """The stand-in in use (DC or Cloud) with project HD as a service desk; Jicket in JSM mode on it."""
    desk = env.jira.add_service_desk("HD", ["Emailed request", {"name": "Report a bug", "issueType": "Bug"}])
    monkeypatch.setenv("JICKET_JSM_SERVICE_DESK", "HD")
    monkeypatch.setenv("JICKET_JSM_REQUEST_TYPE", "emailed request")
    env.jira.desk = desk
    return env.jira


def test_mail_becomes_a_customer_request_with_participants_and_comments(env, jsm, run_dag):
    jsm.configure(jsm_open_customer_signup=True)
    deliver(env, make_mail(subject="VPN is down", cc=f"Ops <{OPS}>", headers={"Importance": "high"}))
    state, tasks = run_dag()
    assert state == "success", tasks

    (issue,) = jsm.issues()
    request = sd_get(jsm, f"/request/{issue['key']}", expand="participant,requestType")
    assert request["requestType"]["name"] == "Emailed request"
    assert request["reporter"]["emailAddress"] == CUSTOMER  # raised on behalf of the sender, a new customer
    assert [p["emailAddress"] for p in request["participants"]["values"]] == [OPS]
    customers = sd_get(jsm, f"/servicedesk/{jsm.desk['id']}/customer")["values"]
    assert CUSTOMER in [c["emailAddress"] for c in customers]
    assert issue["fields"]["priority"]["name"] == "High"

    confirmation = wait_for_messages(env, 1, user=CUSTOMER)[0].message
    tag = TAG.search(confirmation["Subject"]).group(0)
    deliver(env, make_mail(subject=f"Re: {tag} VPN is down", body="Still down this morning."))
    deliver(env, make_mail(sender=f"Agent <{STAFF}>", subject=f"Re: {tag} VPN is down",
                           body="Router restarted, watching it."))
    state, tasks = run_dag()
    assert state == "success", tasks

    comments = sd_get(jsm, f"/request/{issue['key']}/comment")["values"]
    by_text = {("Still down" in c["body"]): c["public"] for c in comments}
    assert by_text == {True: True, False: False}, comments  # the customer's is public, staff's internal
    assert len(jsm.issues()) == 1


def test_closed_signup_raises_the_request_as_the_service_account_naming_the_sender(env, jsm, run_dag):
    jsm.configure(jsm_open_customer_signup=False)
    deliver(env, make_mail(subject="Cannot log in"))
    state, tasks = run_dag()
    assert state == "success", tasks

    (issue,) = jsm.issues()
    request = sd_get(jsm, f"/request/{issue['key']}")
    assert request["reporter"]["emailAddress"] != CUSTOMER
    description = issue["fields"]["description"]
    text = description if isinstance(description, str) else str(description)
    assert f"raised by the service account for {CUSTOMER}" in text
