"""The Jira stand-in serves what jicket 0.6.2 and its ``jira`` library (2.0) send, over real HTTP.

Two things 0.6.2 needs that other clients did not: ``GET /rest/api/2/field`` (the ``jira`` library reads the
field list in every ``JIRA(...)`` constructor) and its ticket search ``summary~'\\\\[\\\\#JI-XXXXXX\\\\]'``,
whose text term carries a ``-`` inside it (Lucene's classic grammar continues a term over an inner ``-``;
only a leading ``-`` is the prohibit operator). Both are checked against the stand-in's spec validation:
``violations()`` stays empty.
"""

from __future__ import annotations

import pytest
import requests

from sandbox.jira_standin import JiraStandin
from sandbox.jira_standin import jql as jqlmod

USERS = {"dc": ("helpdesk", "s3cret"), "cloud": ("bot@example.com", "api-token-1")}


@pytest.fixture(scope="module")
def servers():
    started: dict[str, JiraStandin] = {}
    try:
        for mode, (user, password) in USERS.items():
            started[mode] = JiraStandin(mode=mode, user=user, password=password, project="HD").start()
        yield started
    finally:
        for server in started.values():
            server.stop()


@pytest.fixture(params=["dc", "cloud"])
def jira(request, servers):
    server = servers[request.param]
    server.reset()
    yield server


@pytest.fixture()
def dc(servers):
    servers["dc"].reset()
    yield servers["dc"]


def get(server, path: str, **kw) -> requests.Response:
    kw.setdefault("auth", server.auth)
    return requests.get(server.url + path, timeout=10, **kw)


def legacy_search(project: str, ticket: str) -> str:
    """jicket 0.6.2's JQL (jiraintegration.JiraIntegration.findIssue), built as it builds it."""
    return "project = %s AND summary~'\\\\[\\\\#%s\\\\]'" % (project, ticket)  # noqa: UP031 - as 0.6.2 has it


# -- GET /rest/api/2/field ----------------------------------------------------------------------------------
def test_field_list_has_the_system_fields_in_jiras_shape(jira):
    response = get(jira, "/rest/api/2/field")
    assert response.status_code == 200, response.text
    fields = {f["id"]: f for f in response.json()}
    assert {"issuekey", "summary", "description", "issuetype", "project", "status", "labels", "reporter",
            "created", "updated", "comment", "attachment"} <= set(fields)
    summary = fields["summary"]
    assert summary["name"] == "Summary" and summary["custom"] is False and summary["searchable"] is True
    assert summary["clauseNames"] == ["summary"] and summary["schema"] == {"type": "string", "system": "summary"}
    assert "key" in fields["issuekey"]["clauseNames"] and "schema" not in fields["issuekey"]
    assert fields["comment"]["navigable"] is False  # search results leave it out unless asked
    assert all(not f["custom"] for f in fields.values())  # no service desk yet: no JSM field
    assert jira.violations() == []  # the response matched the spec's FieldBean list


def test_field_list_names_the_cloud_keys_only_on_cloud(servers):
    for mode, server in servers.items():
        server.reset()
        fields = get(server, "/rest/api/2/field").json()
        has_keys = [("key" in f and "untranslatedName" in f) for f in fields]
        assert all(has_keys) if mode == "cloud" else not any(has_keys), mode
        assert server.violations() == [], mode


def test_field_list_needs_a_login_and_lists_the_request_type_of_a_service_desk(jira):
    assert requests.get(jira.url + "/rest/api/2/field", timeout=10).status_code == 401
    jira.add_service_desk("HD")
    fields = {f["id"]: f for f in get(jira, "/rest/api/2/field").json()}
    request_type = fields["customfield_10010"]
    assert request_type["custom"] is True and request_type["name"] == "Request Type"
    assert request_type["schema"]["customId"] == 10010
    assert jira.violations() == []


def test_field_list_is_a_spec_operation_not_an_unknown_path(dc):
    # creating a custom field is not served: a POST is a wrong method, recorded as such (not an unknown path)
    response = requests.post(dc.url + "/rest/api/2/field", json={"name": "x"}, auth=dc.auth, timeout=10)
    assert response.status_code == 405
    assert [v["kind"] for v in dc.violations()] == ["method_not_allowed"]


# -- 0.6.2's ticket search -----------------------------------------------------------------------------------
def test_jicket_062_ticket_search_finds_its_issue(dc):
    session = requests.Session()
    session.auth = dc.auth
    for summary in ("[#JI-AB12CD] Printer prints blank pages", "[#JI-ZZ99YY] Another mail",
                    "AB12CD JI words in the wrong order"):
        created = session.post(dc.url + "/rest/api/2/issue", timeout=10, json={"fields": {
            "project": {"key": "HD"}, "summary": summary, "issuetype": {"name": "Task"}}})
        assert created.status_code == 201, created.text
    # as jira 2.0's search_issues sends it
    response = get(dc, "/rest/api/2/search", params={"jql": legacy_search("HD", "JI-AB12CD"), "startAt": 0,
                                                     "validateQuery": True, "fields": "*all", "maxResults": 50})
    assert response.status_code == 200, response.text
    assert [i["fields"]["summary"] for i in response.json()["issues"]] == ["[#JI-AB12CD] Printer prints blank pages"]
    response = get(dc, "/rest/api/2/search", params={"jql": legacy_search("HD", "JI-00NONE")})
    assert response.status_code == 200 and response.json()["issues"] == []
    assert dc.violations() == []


@pytest.mark.parametrize("term, words", [
    ("JI-AB12CD", ["ji", "ab12cd"]),
    ("\\[\\#JI-AB12CD\\]", ["ji", "ab12cd"]),
    ("a-b-c", ["a", "b", "c"]),
    ("x\\-y", ["x", "y"]),
])
def test_a_dash_inside_a_term_continues_it(term, words):
    query = jqlmod.TextQuery.parse(term, "summary")
    assert [t.words for t in query.terms] == [words]
    assert query.matches([jqlmod.tokenize_words(" ".join(words) + " tail")])
    assert not query.matches([jqlmod.tokenize_words(" ".join(reversed(words)) + " tail")])


@pytest.mark.parametrize("term", ["-JI", "ok -JI", "-", "a -"])
def test_a_leading_dash_is_still_an_operator_the_stand_in_refuses(term):
    with pytest.raises(jqlmod.JqlError):
        jqlmod.TextQuery.parse(term, "summary")
