"""The Jira stand-in's Jira Service Management API and token auth, over real HTTP, on Data Center and Cloud.

Driven through atlassian-python-api's ``ServiceDesk`` where it has a method, else plain requests. Every JSM
request and response is checked by the stand-in against Atlassian's JSM spec; ``violations()`` must stay empty
unless a test sends something malformed on purpose.
"""

from __future__ import annotations

import base64
import http.client
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from atlassian import Jira, ServiceDesk  # noqa: E402
from requests import HTTPError  # noqa: E402

from sandbox.jira_standin import JiraStandin, validation  # noqa: E402

SD = "/rest/servicedeskapi"
USERS = {"dc": ("agent", "agent-pw"), "cloud": ("bot@example.com", "api-token-1")}


@pytest.fixture(scope="module")
def servers():
    started: dict[str, JiraStandin] = {}
    try:
        for mode, (user, password) in USERS.items():
            started[mode] = JiraStandin(mode=mode, user=user, password=password, project="HD").start()
        yield started
    finally:
        for s in started.values():
            s.close()


@pytest.fixture(params=["dc", "cloud"])
def jira(request, servers):
    """A reset stand-in of one flavour with a service desk on HD (two request types) and an unrelated desk OPS."""
    server = servers[request.param]
    server.reset()
    server.desk = server.add_service_desk(
        "HD", ["Emailed request", {"name": "Report a bug", "issueType": "Bug", "description": "Something broke"}]
    )
    server.other_desk = server.add_service_desk("OPS")
    yield server
    server.reset()


def sd_client(server, **kw) -> ServiceDesk:
    return ServiceDesk(
        url=server.url, username=server.user, password=server.password, cloud=server.mode == "cloud", timeout=10, **kw
    )


def rest(server, method: str, path: str, **kw) -> requests.Response:
    kw.setdefault("auth", server.auth)
    kw.setdefault("timeout", 10)
    return requests.request(method, server.url + path, **kw)


def ref(server, user: dict) -> str:
    """How a client names a user on this flavour: accountId on Cloud, username on Data Center."""
    return user["accountId"] if server.mode == "cloud" else user["name"]


def refs_body(server, *users: dict) -> dict:
    key = "accountIds" if server.mode == "cloud" else "usernames"
    return {key: [ref(server, u) for u in users]}


def new_customer(server, name: str, desk: dict | None = None) -> dict:
    """A JSM customer created over the API (signup switched on), added to ``desk`` unless None."""
    server.configure(jsm_open_customer_signup=True)
    customer = sd_client(server).create_customer(name, f"{name.lower()}@customer.example")
    if desk is not None:
        r = rest(server, "POST", f"{SD}/servicedesk/{desk['id']}/customer", json=refs_body(server, customer))
        assert r.status_code == 204, r.text
    return customer


def assert_jsm_error(r: requests.Response, status: int, text: str) -> None:
    """JSM answers errors as {"errorMessage", "i18nErrorMessage"}, not the platform's errorMessages/errors."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) <= {"errorMessage", "i18nErrorMessage"} and text in body["errorMessage"], body


# ------------------------------------------------------------------------------------------ lookups


def test_service_desks_and_request_types(jira):
    sd = sd_client(jira)
    desks = sd.get_service_desks()
    assert [(d["id"], d["projectKey"]) for d in desks] == [(jira.desk["id"], "HD"), (jira.other_desk["id"], "OPS")]
    assert sd.get_service_desk_by_id(jira.desk["id"])["projectKey"] == "HD"
    assert sd.get_service_desk_by_id("HD")["id"] == jira.desk["id"]  # a project identifier works too
    types = sd.get_request_types(jira.desk["id"])["values"]
    assert [(t["name"], t["issueTypeId"]) for t in types] == [("Emailed request", "10006"), ("Report a bug", "10004")]
    assert all(t["serviceDeskId"] == jira.desk["id"] for t in types)
    found = rest(jira, "GET", f"{SD}/servicedesk/{jira.desk['id']}/requesttype", params={"searchQuery": "broke"})
    assert [t["name"] for t in found.json()["values"]] == ["Report a bug"]
    assert_jsm_error(rest(jira, "GET", f"{SD}/servicedesk/999"), 404, "does not exist")
    project = rest(jira, "GET", "/rest/api/2/project/HD").json()
    assert project["projectTypeKey"] == "service_desk"
    assert jira.violations() == []


# ------------------------------------------------------------------------------------------ customers


def test_creating_customers_needs_the_signup_setting(jira):
    sd = sd_client(jira)
    with pytest.raises(HTTPError):
        sd.create_customer("Fred Flint", "fred@customer.example")
    assert_jsm_error(
        rest(jira, "POST", f"{SD}/customer", json={"displayName": "Fred", "email": "fred@customer.example"}),
        403,
        "permission",
    )
    jira.configure(jsm_open_customer_signup=True)
    fred = sd.create_customer("Fred Flint", "fred@customer.example")
    assert fred["displayName"] == "Fred Flint" and fred["emailAddress"] == "fred@customer.example"
    if jira.mode == "cloud":
        assert fred["accountId"].startswith("qm:") and "name" not in fred
    else:
        assert fred["name"] == "fred@customer.example" and "accountId" not in fred
    again = {"displayName": "Fred", "email": "FRED@customer.example"}
    assert_jsm_error(rest(jira, "POST", f"{SD}/customer", json=again), 400, "already exists")
    conflict = rest(jira, "POST", f"{SD}/customer", params={"strictConflictStatusCode": "true"}, json=again)
    assert_jsm_error(conflict, 409, "already exists")
    assert_jsm_error(rest(jira, "POST", f"{SD}/customer", json={"displayName": "No mail"}), 400, "email")
    # a customer account is portal-only: it cannot log in to the REST API with anything
    assert rest(jira, "GET", "/rest/api/2/myself", auth=("fred@customer.example", "x")).status_code == 401

    desk = jira.desk["id"]
    assert rest(jira, "GET", f"{SD}/servicedesk/{desk}/customer").json()["values"] == []
    assert rest(jira, "POST", f"{SD}/servicedesk/{desk}/customer", json=refs_body(jira, fred)).status_code == 204
    listed = rest(jira, "GET", f"{SD}/servicedesk/{desk}/customer", params={"query": "flint"}).json()["values"]
    assert [ref(jira, u) for u in listed] == [ref(jira, fred)]
    unknown = {"accountIds" if jira.mode == "cloud" else "usernames": ["nobody-at-all"]}
    assert_jsm_error(rest(jira, "POST", f"{SD}/servicedesk/{desk}/customer", json=unknown), 400, "nobody-at-all")
    assert jira.violations() == []


# ------------------------------------------------------------------------------------------ requests


def test_request_raised_on_behalf_of_a_customer_is_an_issue(jira):
    fred = new_customer(jira, "Fred", jira.desk)
    wilma = new_customer(jira, "Wilma", jira.desk)
    bug_type = jira.desk["requestTypes"][1]["id"]
    created = sd_client(jira).create_customer_request(
        jira.desk["id"],
        bug_type,
        {"summary": "[#JI-ZOZ2P6] Printer on fire", "description": "It is on fire.\nSend help."},
        raise_on_behalf_of=ref(jira, fred),
        request_participants=[ref(jira, wilma)],
    )
    key = created["issueKey"]
    assert key.startswith("HD-") and created["requestTypeId"] == bug_type
    assert ref(jira, created["reporter"]) == ref(jira, fred)
    assert {f["fieldId"]: f["value"] for f in created["requestFieldValues"]} == {
        "summary": "[#JI-ZOZ2P6] Printer on fire",
        "description": "It is on fire.\nSend help.",
    }
    assert created["currentStatus"]["statusCategory"] == "NEW"

    got = rest(jira, "GET", f"{SD}/request/{key}", params={"expand": "requestType,serviceDesk,participant"}).json()
    assert got["requestType"]["name"] == "Report a bug" and got["serviceDesk"]["projectKey"] == "HD"
    assert [ref(jira, u) for u in got["participants"]["values"]] == [ref(jira, wilma)]
    assert rest(jira, "GET", f"{SD}/request/{created['issueId']}").json()["issueKey"] == key  # by id too

    # the same issue through the platform API: reporter, creator, issue type, request type field
    issue = rest(jira, "GET", f"/rest/api/2/issue/{key}").json()["fields"]
    who = "accountId" if jira.mode == "cloud" else "name"
    assert issue["reporter"][who] == ref(jira, fred)
    assert issue["creator"][who] == rest(jira, "GET", "/rest/api/2/myself").json()[who]  # the agent who called
    assert issue["issuetype"]["name"] == "Bug" and issue["project"]["projectTypeKey"] == "service_desk"
    assert issue["customfield_10010"]["requestType"]["id"] == bug_type
    state = {i["key"]: i for i in jira.issues()}
    assert state[key]["requestTypeId"] == bug_type and len(state[key]["participants"]) == 1
    # the platform API still serves it as an ordinary issue: search finds it
    jql = f'key = "{key}"'
    if jira.mode == "cloud":
        hits = rest(jira, "GET", "/rest/api/3/search/jql", params={"jql": jql}).json()["issues"]
    else:
        hits = rest(jira, "GET", "/rest/api/2/search", params={"jql": jql}).json()["issues"]
    assert [h["id"] for h in hits] == [created["issueId"]]
    assert jira.violations() == []


def test_raising_on_behalf_of_someone_who_is_not_a_customer_fails(jira):
    stranger = new_customer(jira, "Stranger", jira.other_desk)  # a customer, but of OPS
    desk, rt = jira.desk["id"], jira.desk["requestTypes"][0]["id"]
    base = {"serviceDeskId": desk, "requestTypeId": rt, "requestFieldValues": {"summary": "hello"}}
    for who in (ref(jira, stranger), "no-such-account"):
        r = rest(jira, "POST", f"{SD}/request", json=dict(base, raiseOnBehalfOf=who))
        assert_jsm_error(r, 400, "not a customer")
    assert_jsm_error(rest(jira, "POST", f"{SD}/request", json=dict(base, requestTypeId="999")), 400, "request type")
    no_summary = dict(base, requestFieldValues={"description": "only text"})
    assert_jsm_error(rest(jira, "POST", f"{SD}/request", json=no_summary), 400, "summary")
    wrong_field = dict(base, requestFieldValues={"summary": "x", "labels": ["a"]})
    assert_jsm_error(rest(jira, "POST", f"{SD}/request", json=wrong_field), 400, "labels")
    assert jira.issues() == []
    # once a customer of HD, the same person can be the reporter; an open desk takes any account
    rest(jira, "POST", f"{SD}/servicedesk/{desk}/customer", json=refs_body(jira, stranger))
    ok = rest(jira, "POST", f"{SD}/request", json=dict(base, raiseOnBehalfOf=ref(jira, stranger)))
    assert ok.status_code == 201, ok.text
    assert jira.violations() == []


def test_public_replies_and_internal_notes(jira):
    fred = new_customer(jira, "Fred", jira.desk)
    sd = sd_client(jira)
    key = sd.create_customer_request(
        jira.desk["id"], jira.desk["requestTypes"][0]["id"], {"summary": "hi"}, raise_on_behalf_of=ref(jira, fred)
    )["issueKey"]
    reply = sd.create_request_comment(key, "We are on it.", public=True)
    note = sd.create_request_comment(key, "Customer sounds upset", public=False)
    assert reply["public"] is True and note["public"] is False
    both = sd.get_request_comments(key)
    assert [(c["body"], c["public"]) for c in both] == [("We are on it.", True), ("Customer sounds upset", False)]
    assert [c["body"] for c in sd.get_request_comments(key, internal=False)] == ["We are on it."]
    internal_only = rest(jira, "GET", f"{SD}/request/{key}/comment", params={"public": "false", "internal": "true"})
    assert [c["body"] for c in internal_only.json()["values"]] == ["Customer sounds upset"]
    assert rest(jira, "GET", f"{SD}/request/{key}/comment/{note['id']}").json()["public"] is False
    # JSM requires the visibility to be stated
    assert_jsm_error(rest(jira, "POST", f"{SD}/request/{key}/comment", json={"body": "x"}), 400, "public")
    # the platform API sees both comments; Cloud marks the internal one with jsdPublic=false
    platform = rest(jira, "GET", f"/rest/api/2/issue/{key}/comment").json()["comments"]
    assert [c["body"] for c in platform] == ["We are on it.", "Customer sounds upset"]
    if jira.mode == "cloud":
        assert [c["jsdPublic"] for c in platform] == [True, False]
    assert [c["public"] for c in jira.issues()[0]["comments"]] == [True, False]
    # an issue outside every service desk is no customer request
    plain = Jira(url=jira.url, username=jira.user, password=jira.password, cloud=jira.mode == "cloud").issue_create(
        fields={"project": {"key": "HD"}, "summary": "x", "issuetype": {"name": "Task"}}
    )
    jira.add_projects("PLAIN")
    other = rest(
        jira,
        "POST",
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "PLAIN"}, "summary": "y", "issuetype": {"name": "Task"}}},
    ).json()
    assert rest(jira, "GET", f"{SD}/request/{plain['key']}").status_code == 200  # HD is a service desk
    assert_jsm_error(rest(jira, "GET", f"{SD}/request/{other['key']}"), 404, "not a customer request")
    assert jira.violations() == []


def test_participants(jira):
    fred = new_customer(jira, "Fred", jira.desk)
    barney = new_customer(jira, "Barney", jira.desk)
    betty = new_customer(jira, "Betty", jira.desk)
    sd = sd_client(jira)
    key = sd.create_customer_request(
        jira.desk["id"], jira.desk["requestTypes"][0]["id"], {"summary": "cc test"}, raise_on_behalf_of=ref(jira, fred)
    )["issueKey"]
    assert sd.get_request_participants(key) == []
    body = refs_body(jira, barney, betty)
    added = rest(jira, "POST", f"{SD}/request/{key}/participant", json=body).json()
    assert [ref(jira, u) for u in added["values"]] == [ref(jira, barney), ref(jira, betty)]
    rest(jira, "POST", f"{SD}/request/{key}/participant", json=body)  # adding again changes nothing
    if jira.mode == "cloud":
        listed = sd.get_request_participants(key)
    else:  # the library's own call on DC: usernames
        sd.add_request_participants(key, users_list=[barney["name"]])
        listed = sd.get_request_participants(key)
    assert [ref(jira, u) for u in listed] == [ref(jira, barney), ref(jira, betty)]
    left = rest(jira, "DELETE", f"{SD}/request/{key}/participant", json=refs_body(jira, barney)).json()
    assert [ref(jira, u) for u in left["values"]] == [ref(jira, betty)]
    assert_jsm_error(
        rest(jira, "DELETE", f"{SD}/request/{key}/participant", json=refs_body(jira, fred)), 400, "reporter"
    )
    assert_jsm_error(
        rest(jira, "DELETE", f"{SD}/request/{key}/participant", json=refs_body(jira, barney)), 400, "not a participant"
    )
    unknown = {"accountIds" if jira.mode == "cloud" else "usernames": ["ghost"]}
    assert_jsm_error(rest(jira, "POST", f"{SD}/request/{key}/participant", json=unknown), 400, "ghost")
    if jira.mode == "cloud":  # Cloud no longer takes usernames
        r = rest(jira, "POST", f"{SD}/request/{key}/participant", json={"usernames": ["betty"]})
        assert_jsm_error(r, 400, "accountIds")
    assert jira.violations() == []


# ------------------------------------------------------------------------------------------ validation


def test_malformed_jsm_requests_are_spec_violations(jira):
    desk, rt = jira.desk["id"], jira.desk["requestTypes"][0]["id"]
    # requestFieldValues is a map of field id -> value; a list of {fieldId, value} (the response's shape) is wrong
    as_list = {"serviceDeskId": desk, "requestTypeId": rt, "requestFieldValues": [{"fieldId": "summary", "value": "x"}]}
    r = rest(jira, "POST", f"{SD}/request", json=as_list)
    assert_jsm_error(r, 400, "does not match the JSM REST API")
    # an unknown top-level property (the platform API's "fields") and a non-boolean "public"
    rest(jira, "POST", f"{SD}/request", json={"serviceDeskId": desk, "requestTypeId": rt, "fields": {"summary": "x"}})
    rest(jira, "POST", f"{SD}/request/HD-1/comment", json={"body": "x", "public": "yes"})
    rest(jira, "GET", f"{SD}/servicedesk", params={"limit": "many"})
    violations = jira.violations()
    assert [v["kind"] for v in violations] == ["request"] * 4, violations
    assert "requestFieldValues" in violations[0]["detail"]
    assert "fields" in violations[1]["detail"] and "public" in violations[2]["detail"]
    assert jira.issues() == []


def test_response_validation_catches_a_broken_jsm_response():
    """The JSM validator rejects a response that breaks the spec (a number where a string id belongs, an unknown
    property, a platform-shaped error body), so the stand-in's own JSM responses are really being checked."""
    v = validation.jsm_validator()
    path, template = f"{SD}/request/HD-1", f"{SD}/request/{{issueIdOrKey}}"
    good = b'{"issueId": "10000", "issueKey": "HD-1", "serviceDeskId": "1"}'
    assert v.validate_response("GET", path, template, {}, {}, None, "", 200, good, "application/json") == []
    for broken in (b'{"issueId": 10000}', b'{"issueKey": "HD-1", "fields": {}}'):
        assert v.validate_response("GET", path, template, {}, {}, None, "", 200, broken, "application/json")
    platform_error = b'{"errorMessages": ["x"], "errors": {}}'
    assert v.validate_response("GET", path, template, {}, {}, None, "", 404, platform_error, "application/json")
    undocumented = v.validate_response(
        "GET", f"{SD}/servicedesk", f"{SD}/servicedesk", {}, {}, None, "", 404, platform_error, "application/json"
    )
    assert undocumented and "errorMessage" in undocumented[0]


# ------------------------------------------------------------------------------------------ token auth


def _auth_of_last(server, path: str) -> dict:
    entry = [e for e in server.requests_log() if e["path"] == path][-1]
    return {k: entry[k] for k in ("auth", "credential", "auth_headers", "status")}


def test_data_center_personal_access_token(servers):
    dc = servers["dc"]
    dc.reset()
    dc.add_service_desk("HD")
    dc.add_users({"name": "bot", "password": "bot-pw"})
    dc.add_token("bot", "NjQ2MzU4OTY4OTQ3OmbotPAT")
    dc.clear_requests()
    me = Jira(url=dc.url, token="NjQ2MzU4OTY4OTQ3OmbotPAT", timeout=10).myself()
    assert me["name"] == "bot"
    assert _auth_of_last(dc, "/rest/api/2/myself") == {
        "auth": "bearer",
        "credential": "pat",
        "auth_headers": 1,
        "status": 200,
    }
    desks = ServiceDesk(url=dc.url, token="NjQ2MzU4OTY4OTQ3OmbotPAT", timeout=10).get_service_desks()
    assert [d["projectKey"] for d in desks] == ["HD"]
    assert _auth_of_last(dc, f"{SD}/servicedesk")["auth"] == "bearer"
    bad = rest(dc, "GET", "/rest/api/2/myself", auth=None, headers={"Authorization": "Bearer wrong"})
    assert bad.status_code == 401
    assert _auth_of_last(dc, "/rest/api/2/myself") == {
        "auth": "bearer",
        "credential": None,
        "auth_headers": 1,
        "status": 401,
    }
    # a site that turned basic auth off: passwords are refused, the token still works
    assert rest(dc, "GET", "/rest/api/2/myself", auth=("bot", "bot-pw")).status_code == 200
    dc.configure(basic_auth=False)
    assert rest(dc, "GET", "/rest/api/2/myself", auth=("bot", "bot-pw")).status_code == 401
    assert _auth_of_last(dc, "/rest/api/2/myself")["auth"] == "basic"
    assert Jira(url=dc.url, token="NjQ2MzU4OTY4OTQ3OmbotPAT", timeout=10).myself()["name"] == "bot"
    with pytest.raises(HTTPError):
        Jira(url=dc.url, username="bot", password="bot-pw", timeout=10).myself()
    assert dc.violations() == []
    dc.reset()


def test_cloud_takes_api_tokens_as_basic_auth_and_has_no_pats(servers):
    cloud = servers["cloud"]
    cloud.reset()
    cloud.add_users({"name": "alice", "email": "alice@example.com", "password": "alice-pw", "api_token": "tok-a"})
    with pytest.raises(RuntimeError, match="no personal access tokens"):
        cloud.add_token("alice", "some-pat")
    cloud.configure(basic_auth=False)
    cloud.clear_requests()
    me = Jira(url=cloud.url, username="alice@example.com", password="tok-a", cloud=True, timeout=10).myself()
    assert me["emailAddress"] == "alice@example.com"
    assert _auth_of_last(cloud, "/rest/api/2/myself") == {
        "auth": "basic",
        "credential": "api_token",
        "auth_headers": 1,
        "status": 200,
    }
    assert rest(cloud, "GET", "/rest/api/2/myself", auth=("alice@example.com", "alice-pw")).status_code == 401
    assert (
        rest(cloud, "GET", "/rest/api/2/myself", auth=None, headers={"Authorization": "Bearer tok-a"}).status_code
        == 401
    )
    cloud.configure(basic_auth=True)
    assert rest(cloud, "GET", "/rest/api/2/myself", auth=("alice@example.com", "alice-pw")).status_code == 200
    assert _auth_of_last(cloud, "/rest/api/2/myself")["credential"] == "password"
    cloud.reset()


def test_two_authorization_headers_are_refused(servers):
    dc = servers["dc"]
    dc.reset()
    dc.add_token(dc.user, "pat-1")
    # requests folds a list into one header; http.client can send the header twice
    u = urlsplit(dc.url)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    conn.putrequest("GET", "/rest/api/2/myself")
    conn.putheader("Authorization", "Bearer pat-1")
    conn.putheader("Authorization", "Basic " + base64.b64encode(b"agent:agent-pw").decode())
    conn.endheaders()
    assert conn.getresponse().status == 401
    conn.close()
    assert _auth_of_last(dc, "/rest/api/2/myself")["auth_headers"] == 2
    dc.reset()
