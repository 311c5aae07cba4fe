"""The Jira stand-in, exercised through real HTTP and through atlassian-python-api's Jira client."""

from __future__ import annotations

import hashlib
import io
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from atlassian import Jira  # noqa: E402
from requests import HTTPError  # noqa: E402

from sandbox.jira_standin import JiraStandin  # noqa: E402
from sandbox.jira_standin import jql as jqlmod  # noqa: E402

PASSWORD = "s3cret"


@pytest.fixture(scope="module")
def dc_server():
    t0 = time.monotonic()
    with JiraStandin(mode="dc", user="helpdesk", password=PASSWORD, project=["HD", "OPS"]) as server:
        server.startup_seconds = time.monotonic() - t0
        yield server


@pytest.fixture()
def dc(dc_server):
    dc_server.reset()
    dc_server.add_users(
        {"name": "alice", "password": "alicepw", "email": "alice@example.com", "displayName": "Alice Liddell"}
    )
    yield dc_server


@pytest.fixture(scope="module")
def cloud_server():
    with JiraStandin(mode="cloud", user="bot@example.com", password="api-token-1", project="HD") as server:
        yield server


@pytest.fixture()
def cloud(cloud_server):
    cloud_server.reset()
    yield cloud_server


def client(server, **kw) -> Jira:
    return Jira(url=server.url, username=server.user, password=server.password, timeout=10, **kw)


def new_issue(jira: Jira, summary: str, **fields) -> dict:
    return jira.issue_create(
        fields={"project": {"key": "HD"}, "summary": summary, "issuetype": {"name": "Task"}, **fields}
    )


def rest(server, method: str, path: str, **kw) -> requests.Response:
    kw.setdefault("auth", server.auth)
    kw.setdefault("timeout", 10)
    return requests.request(method, server.url + path, **kw)


def keys(result: dict) -> list[str]:
    return sorted(i["key"] for i in result["issues"])


# ------------------------------------------------------------------------------------------ basics


def test_starts_with_a_password_that_looks_like_an_option():
    """secrets.token_urlsafe() starts with "-" one time in 64: the stand-in's command line must take it."""
    with JiraStandin(mode="dc", user="-admin", password="-Xy_leading-dash", project="HD", port=0) as server:
        response = requests.get(server.url + "/rest/api/2/myself", auth=("-admin", "-Xy_leading-dash"), timeout=10)
        assert response.status_code == 200 and response.json()["name"] == "-admin"


def test_starts_quickly_and_identifies_as_data_center(dc):
    # about 1.3 s on an idle 2-core machine; the bound leaves room for a loaded CI box
    assert dc.startup_seconds < 8.0, f"startup took {dc.startup_seconds:.2f}s"
    jira = client(dc)
    info = jira.get_server_info()
    assert info["deploymentType"] == "Server" and info["versionNumbers"][0] == 10
    assert jira.myself()["name"] == "helpdesk"
    anonymous = requests.get(dc.url + "/rest/api/2/serverInfo", timeout=10)
    assert anonymous.status_code == 200 and anonymous.json()["baseUrl"] == dc.url
    assert jira.get_project("HD")["key"] == "HD"
    with pytest.raises(HTTPError) as err:
        jira.get_project("NOPE")
    assert err.value.response.status_code == 404
    assert dc.violations() == []


def test_full_importer_flow_with_atlassian_client(dc, tmp_path):
    jira = client(dc)
    created = new_issue(
        jira,
        "Printer on fire [JI-ZOZ2P6]",
        description="Mail body\n\nSecond paragraph",
        labels=["jicket", "mail"],
        reporter={"name": "alice"},
    )
    assert created["key"] == "HD-1" and created["id"].isdigit() and created["self"].startswith(dc.url)
    second = jira.create_issue(
        fields={"project": {"key": "HD"}, "summary": "Second", "issuetype": {"id": "10004"}}
    )
    assert second["key"] == "HD-2"

    comment = jira.issue_add_comment("HD-1", "A reply from the customer")
    assert comment["body"] == "A reply from the customer" and comment["author"]["name"] == "helpdesk"

    payload = bytes(range(256)) * 10
    blob = io.BytesIO(payload)
    blob.name = "dump.bin"
    beans = jira.add_attachment_object("HD-1", blob)
    assert beans[0]["filename"] == "dump.bin" and beans[0]["size"] == len(payload)
    on_disk = tmp_path / "résumé.txt"
    on_disk.write_text("héllo", encoding="utf-8")
    beans2 = jira.add_attachment("HD-1", str(on_disk))
    assert beans2[0]["filename"] == "résumé.txt" and beans2[0]["mimeType"] == "text/plain"
    content = requests.get(beans[0]["content"], auth=dc.auth, timeout=10)
    assert content.status_code == 200 and content.content == payload

    assert {t["to"] for t in jira.get_issue_transitions("HD-1")} == {"In Progress", "Resolved", "Closed"}
    jira.set_issue_status("HD-1", "In Progress")
    jira.issue_transition("HD-1", "Resolved")
    issue = jira.issue("HD-1")
    f = issue["fields"]
    assert f["status"]["name"] == "Resolved" and f["status"]["statusCategory"]["key"] == "done"
    assert f["resolution"]["name"] == "Done"
    assert f["summary"] == "Printer on fire [JI-ZOZ2P6]" and f["labels"] == ["jicket", "mail"]
    assert f["reporter"]["name"] == "alice" and f["creator"]["name"] == "helpdesk"
    assert f["comment"]["total"] == 1 and f["comment"]["comments"][0]["body"] == "A reply from the customer"
    assert [a["filename"] for a in f["attachment"]] == ["dump.bin", "résumé.txt"]

    jira.issue_add_watcher("HD-1", "alice")
    jira.create_issue_link(
        {"type": {"name": "Relates"}, "inwardIssue": {"key": "HD-1"}, "outwardIssue": {"key": "HD-2"}}
    )
    issue = jira.issue("HD-1")
    assert issue["fields"]["watches"]["watchCount"] == 2  # the creator autowatches, as in Jira
    link = issue["fields"]["issuelinks"][0]
    assert link["type"]["name"] == "Relates" and link["outwardIssue"]["key"] == "HD-2"
    assert jira.issue("HD-2")["fields"]["issuelinks"][0]["inwardIssue"]["key"] == "HD-1"

    found = jira.jql('project = HD AND summary ~ "\\"JI-ZOZ2P6\\""', fields="summary,comment,status")
    assert keys(found) == ["HD-1"]
    hit = found["issues"][0]["fields"]
    assert set(hit) == {"summary", "comment", "status"} and hit["comment"]["total"] == 1

    users = jira.user_find_by_user_string(username="ali")
    assert [u["name"] for u in users] == ["alice"]
    assert [u["name"] for u in jira.user_find_by_user_string(username="alice@EXAMPLE")] == ["alice"]

    state = dc.state()
    st = {i["key"]: i for i in state["issues"]}
    assert st["HD-1"]["status"] == "Resolved" and st["HD-1"]["watchers"] == ["helpdesk", "alice"]
    assert st["HD-1"]["attachments"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert st["HD-1"]["links"] == [
        {"id": st["HD-1"]["links"][0]["id"], "type": "Relates", "inward": "HD-1", "outward": "HD-2"}
    ]
    assert dc.violations() == [], dc.violations()


def test_jira_field_rules_give_400_with_field_errors(dc):
    jira = client(dc)
    cases = [
        ({"summary": "x", "issuetype": {"name": "Task"}}, "project"),
        ({"project": {"key": "HD"}, "issuetype": {"name": "Task"}}, "summary"),
        ({"project": {"key": "HD"}, "summary": "x"}, "issuetype"),
        ({"project": {"key": "NOPE"}, "summary": "x", "issuetype": {"name": "Task"}}, "project"),
        ({"project": {"key": "HD"}, "summary": "x", "issuetype": {"name": "Nonsense"}}, "issuetype"),
        ({"project": {"key": "HD"}, "summary": "x" * 256, "issuetype": {"name": "Task"}}, "summary"),
        ({"project": {"key": "HD"}, "summary": "two\nlines", "issuetype": {"name": "Task"}}, "summary"),
        (
            {
                "project": {"key": "HD"},
                "summary": "x",
                "issuetype": {"name": "Task"},
                "labels": ["has space"],
            },
            "labels",
        ),
        (
            {
                "project": {"key": "HD"},
                "summary": "x",
                "issuetype": {"name": "Task"},
                "reporter": {"name": "ghost"},
            },
            "reporter",
        ),
        (
            {"project": {"key": "HD"}, "summary": "x", "issuetype": {"name": "Task"}, "customfield_1": "v"},
            "customfield_1",
        ),
    ]
    for fields, bad in cases:
        r = rest(dc, "POST", "/rest/api/2/issue", json={"fields": fields})
        assert r.status_code == 400, (fields, r.text)
        body = r.json()
        assert body["errorMessages"] == [] and bad in body["errors"], (fields, body)
    with pytest.raises(HTTPError, match="You must specify a summary of the issue"):
        jira.issue_create(fields={"project": {"key": "HD"}, "summary": "", "issuetype": {"name": "Task"}})
    # exactly 255 characters is fine
    ok = rest(
        dc,
        "POST",
        "/rest/api/2/issue",
        json={"fields": {"project": {"key": "HD"}, "summary": "y" * 255, "issuetype": {"name": "Task"}}},
    )
    assert ok.status_code == 201
    assert [i["key"] for i in dc.issues()] == ["HD-1"]
    assert dc.violations() == []  # Jira's own rules, not spec violations


def test_text_fields_have_jiras_length_limit(dc):
    jira = client(dc)
    new_issue(jira, "limit")
    r = rest(dc, "POST", "/rest/api/2/issue/HD-1/comment", json={"body": "x" * 32768})
    assert r.status_code == 400 and "too long" in r.json()["errors"]["comment"]
    r = rest(
        dc,
        "POST",
        "/rest/api/2/issue",
        json={
            "fields": {
                "project": {"key": "HD"},
                "summary": "big",
                "issuetype": {"name": "Task"},
                "description": "d" * 32768,
            }
        },
    )
    assert r.status_code == 400 and "description" in r.json()["errors"]


def test_authentication_is_required(dc):
    for auth in (None, ("helpdesk", "wrong"), ("nobody", PASSWORD)):
        r = requests.get(dc.url + "/rest/api/2/myself", auth=auth, timeout=10)
        assert r.status_code == 401, auth
        assert r.json()["errorMessages"]
    r = requests.post(dc.url + "/rest/api/2/issue", json={"fields": {}}, timeout=10)
    assert r.status_code == 401
    with pytest.raises(HTTPError):
        Jira(url=dc.url, username="helpdesk", password="wrong").myself()
    assert rest(dc, "GET", "/rest/api/2/myself", auth=("alice", "alicepw")).json()["name"] == "alice"
    assert dc.issues() == []


def test_attachments_need_the_xsrf_header(dc):
    new_issue(client(dc), "attach")
    files = {"file": ("a.txt", b"abc", "text/plain")}
    r = rest(dc, "POST", "/rest/api/2/issue/HD-1/attachments", files=files)
    assert r.status_code == 403
    r = rest(
        dc,
        "POST",
        "/rest/api/2/issue/HD-1/attachments",
        files=files,
        headers={"X-Atlassian-Token": "nocheck"},
    )
    assert r.status_code == 403
    r = rest(
        dc,
        "POST",
        "/rest/api/2/issue/HD-1/attachments",
        headers={"X-Atlassian-Token": "no-check"},
        files=[("file", ("a.txt", b"abc", "text/plain")), ("file", ("b.png", b"\x89PNG..", "image/png"))],
    )
    assert r.status_code == 200, r.text
    assert [(a["filename"], a["size"], a["mimeType"]) for a in r.json()] == [
        ("a.txt", 3, "text/plain"),
        ("b.png", 6, "image/png"),
    ]
    assert [a["filename"] for a in dc.issues()[0]["attachments"]] == ["a.txt", "b.png"]
    assert dc.violations() == []


# ------------------------------------------------------------------------------------------ search


def _seed_phrases(jira):
    new_issue(jira, "Re: [JI-ABC123] printer broken")  # HD-1
    new_issue(jira, "JI ABC123 spelled apart")  # HD-2: same words, adjacent -> matches the phrase
    new_issue(jira, "ABC123 JI reversed")  # HD-3: both words, wrong order
    new_issue(jira, "[JI-ABC1234] longer id")  # HD-4: different word
    new_issue(jira, "unrelated", description="mentions JI-ABC123 in the body")  # HD-5


def test_phrase_search_is_word_based(dc):
    jira = client(dc)
    _seed_phrases(jira)
    assert keys(jira.jql('summary ~ "\\"JI-ABC123\\""')) == ["HD-1", "HD-2"]
    # the client must check the exact id itself: only HD-1 really carries it
    exact = [
        i["key"]
        for i in jira.jql('summary ~ "\\"JI-ABC123\\""')["issues"]
        if "[JI-ABC123]" in i["fields"]["summary"]
    ]
    assert exact == ["HD-1"]
    assert keys(jira.jql('summary ~ "ABC123 JI"')) == ["HD-1", "HD-2", "HD-3"]
    assert keys(jira.jql('summary ~ "\\"ABC123 JI\\""')) == ["HD-3"]
    assert keys(jira.jql("summary ~ 'ABC12*'")) == ["HD-1", "HD-2", "HD-3", "HD-4"]
    assert keys(jira.jql('text ~ "\\"JI-ABC123\\""')) == ["HD-1", "HD-2", "HD-5"]
    assert keys(jira.jql('description ~ "\\"JI-ABC123\\""')) == ["HD-5"]
    assert keys(jira.jql('summary ~ "JI\\\\-ABC123"')) == ["HD-1", "HD-2"]  # Lucene escape
    assert keys(jira.jql('summary !~ "printer"')) == ["HD-2", "HD-3", "HD-4", "HD-5"]
    # a "-" inside a term continues the term (Lucene's classic grammar): the same two adjacent words
    assert keys(jira.jql('summary ~ "JI-ABC123"')) == ["HD-1", "HD-2"]
    # an unescaped Lucene operator character outside a phrase is invalid, as in Jira ("[" opens a range)
    r = rest(dc, "GET", "/rest/api/2/search", params={"jql": 'summary ~ "[JI-ABC123]"'})
    assert r.status_code == 400 and "is not valid" in r.json()["errorMessages"][0]
    assert dc.violations() == []


def test_comments_are_searchable_and_returned_on_request(dc):
    jira = client(dc)
    new_issue(jira, "first")
    new_issue(jira, "second")
    jira.issue_add_comment("HD-2", "Customer wrote: the VPN token expired")
    assert keys(jira.jql('comment ~ "vpn token"')) == ["HD-2"]
    assert keys(jira.jql('text ~ "expired"')) == ["HD-2"]
    res = jira.jql("project = HD ORDER BY key ASC", fields="comment")
    assert [i["key"] for i in res["issues"]] == ["HD-1", "HD-2"]
    assert res["issues"][1]["fields"]["comment"]["comments"][0]["body"].endswith("expired")
    default = jira.jql("key = HD-2", fields=None)["issues"][0]["fields"]
    assert "comment" not in default and "summary" in default  # *navigable excludes comments


def test_jql_operators_and_ordering(dc):
    jira = client(dc)
    new_issue(jira, "a", labels=["mail", "vip"])
    new_issue(jira, "b", labels=["mail"])
    new_issue(jira, "c")
    jira.issue_create(
        fields={
            "project": {"key": "OPS"},
            "summary": "ops one",
            "issuetype": {"name": "Bug"},
            "reporter": {"name": "alice"},
        }
    )
    jira.set_issue_status("HD-2", "Closed")
    q = {
        "project = HD": ["HD-1", "HD-2", "HD-3"],
        "project in (HD, OPS) AND labels = mail": ["HD-1", "HD-2"],
        "labels is EMPTY": ["HD-3", "OPS-1"],
        "labels is not EMPTY AND labels != vip": ["HD-2"],
        "labels not in (vip)": ["HD-2"],
        "statusCategory = Done": ["HD-2"],
        "statusCategory != done AND project = HD": ["HD-1", "HD-3"],
        'status = "Closed" OR reporter = alice': ["HD-2", "OPS-1"],
        "reporter = currentUser()": ["HD-1", "HD-2", "HD-3"],
        "NOT (project = HD) ": ["OPS-1"],
        "key in (HD-1, OPS-1)": ["HD-1", "OPS-1"],
        "issuekey > HD-1 AND project = HD": ["HD-2", "HD-3"],
        "created >= -1d AND created <= now()": ["HD-1", "HD-2", "HD-3", "OPS-1"],
        'created < "2000/01/01"': [],
        "resolution = Unresolved": ["HD-1", "HD-3", "OPS-1"],
        "issuetype = Bug": ["OPS-1"],
        "project = HD && (labels = vip || labels is EMPTY)": ["HD-1", "HD-3"],
    }
    for query, expected in q.items():
        assert keys(jira.jql(query)) == expected, query
    ordered = jira.jql("project = HD ORDER BY key DESC", fields="summary")
    assert [i["key"] for i in ordered["issues"]] == ["HD-3", "HD-2", "HD-1"]
    page = jira.jql("project = HD ORDER BY created ASC", start=1, limit=1)
    assert page["total"] == 3 and page["startAt"] == 1 and [i["key"] for i in page["issues"]] == ["HD-2"]
    post = rest(
        dc,
        "POST",
        "/rest/api/2/search",
        json={"jql": "project = HD", "maxResults": 5000, "fields": ["summary"]},
    )
    assert post.status_code == 200 and post.json()["maxResults"] == 1000 and post.json()["total"] == 3
    assert dc.violations() == []


@pytest.mark.parametrize(
    "query",
    [
        "foo = bar",
        "summary = printer",
        "project = HD AND",
        "project = HD garbage",
        "project in (HD",
        "issue.property[x].y = 1",
        "cf[10000] = 1",
        "status was Open",
        "project = NOPE",
        "key = HD-999",
        "key = nonsense",
        "created > yesterdayish",
        'summary ~ "*abc"',
        'summary ~ "a OR b"',
        'summary ~ "(a)"',
        'summary ~ ""',
        "summary ~ 'unterminated",
        'summary ~ "bad \\x escape"',
        "labels = mail ORDER BY priority",
        "reporter in membersOf(admins)",
        "text = x",
        "ORDER BY",
    ],
)
def test_jql_that_is_not_understood_is_a_400(dc, query):
    new_issue(client(dc), "something")
    r = rest(dc, "GET", "/rest/api/2/search", params={"jql": query})
    assert r.status_code == 400, (query, r.text)
    body = r.json()
    assert body["errors"] == {} and len(body["errorMessages"]) == 1 and body["errorMessages"][0], body
    with pytest.raises(HTTPError):
        client(dc).jql(query)


def test_unknown_values_only_warn_when_validation_is_off(dc):
    new_issue(client(dc), "something")
    r = rest(dc, "GET", "/rest/api/2/search", params={"jql": "project = NOPE", "validateQuery": "warn"})
    assert r.status_code == 200 and r.json()["total"] == 0 and r.json()["warningMessages"]
    r = rest(
        dc,
        "GET",
        "/rest/api/2/search",
        params={"jql": "project = NOPE OR project = HD", "validateQuery": "false"},
    )
    assert r.json()["total"] == 1


def test_jql_parser_and_text_query_units():
    q = jqlmod.parse(
        'project = HD AND (summary ~ "\\"a b\\"" OR NOT labels in (x, "y z")) ORDER BY created DESC'
    )
    assert q.order[0].field == "created" and q.order[0].desc
    assert isinstance(q.where, jqlmod.BoolNode) and q.where.op == "and"
    tq = jqlmod.TextQuery.parse('"ji abc" x*', "summary")
    assert tq.matches([jqlmod.tokenize_words("[JI-ABC] xylophone")])
    assert not tq.matches([jqlmod.tokenize_words("abc ji xylophone")])
    assert not tq.matches([jqlmod.tokenize_words("[JI-ABC] yak")])
    # phrases never span two values of a multi-valued field (two comments)
    assert not jqlmod.TextQuery.parse('"ji abc"', "comment").matches([["x", "ji"], ["abc"]])
    assert jqlmod.TextQuery.parse("ji abc", "comment").matches([["x", "ji"], ["abc"]])
    for bad in ["a:b", "a+b", "[x]", "a/b", "?x", "x^2", "-x", "!x", "*"]:
        with pytest.raises(jqlmod.JqlError):
            jqlmod.TextQuery.parse(bad, "summary")
    for bad in ["summary ~", "= x", "project = HD ORDER created", "(project = HD", "project == HD"]:
        with pytest.raises(jqlmod.JqlError):
            jqlmod.parse(bad)


# ------------------------------------------------------------------------------------------ validation


def test_spec_violations_are_recorded(dc):
    new_issue(client(dc), "valid")
    assert dc.violations() == []
    r = rest(dc, "POST", "/rest/api/2/issue", json={"fields": "not an object"})
    assert r.status_code == 400 and r.json()["errorMessages"]
    r = rest(dc, "POST", "/rest/api/2/issue/HD-1/comment", json={"body": 42})
    assert r.status_code == 400
    r = rest(dc, "GET", "/rest/api/2/search", params={"jql": "project = HD", "maxResults": "lots"})
    assert r.status_code == 400
    r = rest(dc, "POST", "/rest/api/2/issue", data=b"{broken", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    r = rest(dc, "GET", "/rest/api/2/issue/HD-1/remotelink")
    assert r.status_code == 404
    r = rest(dc, "PATCH", "/rest/api/2/issue/HD-1", json={})
    assert r.status_code == 405
    kinds = [(v["kind"], v["method"], v["path"]) for v in dc.violations()]
    assert kinds == [
        ("request", "POST", "/rest/api/2/issue"),
        ("request", "POST", "/rest/api/2/issue/HD-1/comment"),
        ("request", "GET", "/rest/api/2/search"),
        ("request", "POST", "/rest/api/2/issue"),
        ("unknown_path", "GET", "/rest/api/2/issue/HD-1/remotelink"),
        ("method_not_allowed", "PATCH", "/rest/api/2/issue/HD-1"),
    ]
    assert len(dc.issues()) == 1
    dc.clear_violations()
    assert dc.violations() == []


def test_response_validation_catches_a_broken_response():
    from sandbox.jira_standin.validation import SpecValidator

    v = SpecValidator()
    good = b'{"id": "10000", "key": "HD-1", "self": "http://x/rest/api/2/issue/10000"}'
    args = (
        "POST",
        "/rest/api/2/issue",
        "/rest/api/2/issue",
        {},
        {"Authorization": "Basic eDp5"},
        b"{}",
        "application/json",
    )
    assert v.validate_response(*args, 201, good, "application/json;charset=UTF-8") == []
    assert v.validate_response(*args, 201, b'{"id": 10000}', "application/json;charset=UTF-8")
    assert v.validate_response(*args, 200, good, "application/json;charset=UTF-8")  # undocumented status
    assert v.validate_response(*args, 400, b'{"errors": []}', "application/json;charset=UTF-8")
    att = (
        "POST",
        "/rest/api/2/issue/HD-1/attachments",
        "/rest/api/2/issue/{issueIdOrKey}/attachments",
        {},
        {},
        b"",
        "multipart/form-data; boundary=x",
    )
    assert (
        v.validate_response(
            *att, 200, b'[{"id": "1", "created": "2024-05-23T14:47:28.592+0000"}]', "application/json"
        )
        == []
    )
    assert v.validate_response(*att, 200, b'[{"id": "1", "created": "yesterday"}]', "application/json")


# ------------------------------------------------------------------------------------------ faults


def test_fault_injection(dc):
    jira = client(dc)
    dc.inject_faults(
        {"method": "POST", "path_regex": r"/rest/api/2/issue$", "action": "status", "status": 503, "count": 1}
    )
    with pytest.raises(HTTPError) as err:
        new_issue(jira, "first try")
    assert err.value.response.status_code == 503
    assert dc.issues() == []
    new_issue(jira, "second try")  # the rule fired once
    assert [i["key"] for i in dc.issues()] == ["HD-1"]

    # a lost response: the write happens, the client only sees a broken connection
    dc.inject_faults({"method": "POST", "path_regex": r"/rest/api/2/issue$", "action": "drop_after_commit"})
    with pytest.raises(requests.exceptions.ConnectionError):
        new_issue(jira, "lost response [JI-LOST01]")
    assert [i["fields"]["summary"] for i in dc.issues()] == ["second try", "lost response [JI-LOST01]"]
    assert keys(jira.jql('summary ~ "\\"JI-LOST01\\""')) == ["HD-2"]

    dc.inject_faults({"method": "POST", "path_regex": "/comment$", "action": "drop_before", "count": 1})
    with pytest.raises(requests.exceptions.ConnectionError):
        jira.issue_add_comment("HD-1", "never stored")
    assert dc.issues()[0]["comments"] == []

    dc.inject_faults({"path_regex": "/myself$", "action": "delay", "delay_s": 0.8, "skip": 1})
    t0 = time.monotonic()
    jira.myself()
    fast = time.monotonic() - t0
    t0 = time.monotonic()
    jira.myself()
    slow = time.monotonic() - t0
    assert fast < 0.6 and slow >= 0.8

    log = dc.requests_log()
    dropped = [e for e in log if e["fault"] in ("drop_after_commit", "drop_before")]
    assert [(e["method"], e["status"]) for e in dropped] == [("POST", None), ("POST", None)]
    assert dc.count_requests("POST", r"/rest/api/2/issue$") == 3
    dc.clear_requests()
    assert dc.requests_log() == []
    assert dc.violations() == []


def test_latency_setting(dc):
    dc.configure(latency_ms=150)
    t0 = time.monotonic()
    client(dc).myself()
    assert time.monotonic() - t0 >= 0.15
    dc.configure(latency_ms=0)
    with pytest.raises(RuntimeError):
        dc.configure(no_such_setting=1)


def test_concurrent_clients_get_distinct_keys(dc):
    errors: list[Exception] = []
    made: list[str] = []

    def worker(n: int) -> None:
        jira = client(dc)
        try:
            for k in range(8):
                made.append(new_issue(jira, f"worker {n} issue {k}")["key"])
                jira.jql(f'summary ~ "\\"worker {n}\\""', fields="summary")
        except Exception as e:  # noqa: BLE001 - collected and asserted below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(made, key=lambda k: int(k.split("-")[1])) == [f"HD-{n}" for n in range(1, 65)]
    assert dc.violations() == []


def test_transitions_follow_the_classic_workflow(dc):
    jira = client(dc)
    new_issue(jira, "flow")
    jira.set_issue_status("HD-1", "Closed")
    assert jira.issue("HD-1")["fields"]["status"]["statusCategory"]["key"] == "done"
    assert [t["to"] for t in jira.get_issue_transitions("HD-1")] == ["Reopened"]
    jira.set_issue_status("HD-1", "Reopened")
    st = jira.issue("HD-1")["fields"]
    assert st["status"]["name"] == "Reopened" and st["status"]["statusCategory"]["key"] == "new"
    assert st["resolution"] is None
    r = rest(dc, "POST", "/rest/api/2/issue/HD-1/transitions", json={"transition": {"id": "3"}})
    assert r.status_code == 400 and "not valid" in r.json()["errorMessages"][0]
    r = rest(
        dc,
        "POST",
        "/rest/api/2/issue/HD-1/transitions",
        json={"transition": {"id": "5"}, "update": {"comment": [{"add": {"body": "fixed"}}]}},
    )
    assert r.status_code == 204
    assert dc.issues()[0]["comments"][0]["body"] == "fixed"
    assert dc.violations() == []


# ------------------------------------------------------------------------------------------ cloud


def test_cloud_old_search_is_gone_and_new_search_paginates(cloud):
    jira = client(cloud, cloud=True)
    for n in range(5):
        new_issue(jira, f"cloud issue {n}")
    for path in ("/rest/api/2/search", "/rest/api/3/search"):
        assert rest(cloud, "GET", path, params={"jql": "project = HD"}).status_code == 410
        assert rest(cloud, "POST", path, json={"jql": "project = HD"}).status_code == 410
    assert [v["kind"] for v in cloud.violations()] == ["gone"] * 4
    cloud.clear_violations()

    seen, token, pages = [], None, 0
    while True:
        body = {"jql": "project = HD ORDER BY key ASC", "maxResults": 2, "fields": ["summary"]}
        if token:
            body["nextPageToken"] = token
        page = rest(cloud, "POST", "/rest/api/3/search/jql", json=body).json()
        pages += 1
        seen += [i["key"] for i in page["issues"]]
        if page["isLast"]:
            assert "nextPageToken" not in page
            break
        token = page["nextPageToken"]
    assert pages == 3 and seen == [f"HD-{n}" for n in range(1, 6)]

    got = rest(cloud, "GET", "/rest/api/3/search/jql", params={"jql": "project = HD", "maxResults": 2}).json()
    assert set(got["issues"][0]) == {"id"}  # Cloud's new search returns only ids unless fields are asked
    res = jira.jql('summary ~ "cloud"', fields="summary,description")  # the client's enhanced_jql path
    assert len(res["issues"]) == 5 and res["isLast"] is True
    r = rest(cloud, "GET", "/rest/api/3/search/jql", params={"jql": "order by created"})
    assert r.status_code == 400 and "Unbounded" in r.json()["errorMessages"][0]
    r = rest(cloud, "GET", "/rest/api/3/search/jql", params={"jql": "project = HD", "nextPageToken": "junk"})
    assert r.status_code == 400
    r = rest(cloud, "POST", "/rest/api/3/search/jql", json={"jql": "project = HD", "maxResult": 5})
    assert r.status_code == 400
    assert [v["kind"] for v in cloud.violations()] == ["request"]


def test_cloud_users_have_account_ids_and_tokens(cloud):
    [alice] = cloud.add_users(
        {"name": "alice", "email": "alice@example.com", "api_token": "tok-a", "displayName": "Alice Liddell"}
    )
    assert "accountId" in alice and "name" not in alice
    me = rest(cloud, "GET", "/rest/api/2/myself", auth=("alice@example.com", "tok-a"))
    assert me.status_code == 200 and me.json()["accountId"] == alice["accountId"]
    assert rest(cloud, "GET", "/rest/api/2/myself", auth=("alice@example.com", "nope")).status_code == 401
    found = rest(cloud, "GET", "/rest/api/3/user/search", params={"query": "alice"}).json()
    assert [u["accountId"] for u in found] == [alice["accountId"]]
    assert rest(cloud, "GET", "/rest/api/3/user/search", params={"username": "alice"}).status_code == 400
    jira = client(cloud, cloud=True)
    created = new_issue(jira, "for alice", reporter={"accountId": alice["accountId"]})
    r = rest(
        cloud,
        "POST",
        "/rest/api/2/issue",
        json={
            "fields": {
                "project": {"key": "HD"},
                "summary": "x",
                "issuetype": {"name": "Task"},
                "reporter": {"name": "alice"},
            }
        },
    )
    assert r.status_code == 400 and "reporter" in r.json()["errors"]
    jira.issue_add_watcher(created["key"], alice["accountId"])
    issue = jira.issue(created["key"])
    assert issue["fields"]["reporter"]["accountId"] == alice["accountId"]
    assert issue["fields"]["watches"]["watchCount"] == 2
    v3 = rest(
        cloud,
        "GET",
        "/rest/api/3/search/jql",
        params={"jql": f'reporter = "{alice["accountId"]}"', "fields": "description,summary"},
    ).json()
    assert [i["key"] for i in v3["issues"]] == [created["key"]]
    assert v3["issues"][0]["fields"]["description"] is None
    jira.issue_add_comment(created["key"], "first line\nsecond line")
    comment_query = {"jql": f"key = {created['key']}", "fields": "comment"}
    adf = rest(cloud, "GET", "/rest/api/3/search/jql", params=comment_query).json()
    body = adf["issues"][0]["fields"]["comment"]["comments"][0]["body"]
    assert body["type"] == "doc" and body["content"][0]["content"][0]["text"] == "first line"  # ADF in v3
    plain = rest(cloud, "GET", "/rest/api/2/search/jql", params=comment_query).json()
    assert plain["issues"][0]["fields"]["comment"]["comments"][0]["body"] == "first line\nsecond line"
    assert cloud.violations() == []


def test_cloud_search_is_eventually_consistent(cloud):
    cloud.configure(search_delay_seconds=1.5)
    jira = client(cloud, cloud=True)
    created = new_issue(jira, "fresh [JI-FRESH1]")
    query = 'summary ~ "\\"JI-FRESH1\\""'
    body = {"jql": query, "fields": ["summary"]}
    assert rest(cloud, "POST", "/rest/api/3/search/jql", json=body).json()["issues"] == []
    rec = rest(
        cloud, "POST", "/rest/api/3/search/jql", json={**body, "reconcileIssues": [int(created["id"])]}
    )
    assert [i["key"] for i in rec.json()["issues"]] == [created["key"]]
    rec_get = rest(
        cloud,
        "GET",
        "/rest/api/3/search/jql",
        params={"jql": query, "reconcileIssues": created["id"], "fields": "summary"},
    )
    assert [i["key"] for i in rec_get.json()["issues"]] == [created["key"]]
    # the issue itself is readable at once; only search lags
    assert jira.issue(created["key"])["fields"]["summary"] == "fresh [JI-FRESH1]"
    time.sleep(1.6)
    jira.issue_add_comment(created["key"], "late comment with zebra")
    hits = rest(cloud, "POST", "/rest/api/3/search/jql", json=body).json()["issues"]
    assert [i["key"] for i in hits] == [created["key"]]
    zebra = {"jql": 'comment ~ "zebra"', "fields": ["summary"]}
    assert rest(cloud, "POST", "/rest/api/3/search/jql", json=zebra).json()["issues"] == []
    time.sleep(1.6)
    assert len(rest(cloud, "POST", "/rest/api/3/search/jql", json=zebra).json()["issues"]) == 1
    assert cloud.violations() == []


# ------------------------------------------------------------------------------------------ bulk create

BULK = "/rest/api/2/issue/bulk"


def bulk_element(summary: str | None, project: str = "HD", **fields) -> dict:
    """One IssueUpdateBean of a bulk create; summary None leaves the required summary out."""
    f = {"project": {"key": project}, "issuetype": {"name": "Task"}, **fields}
    if summary is not None:
        f["summary"] = summary
    return {"fields": f}


def test_bulk_create_makes_the_issues_in_order_as_sent(dc):
    jira = client(dc)
    elements = [
        bulk_element("First [JI-BULK01]", description="body one", labels=["jicket"]),
        bulk_element("Second [JI-BULK02]", description="body two", reporter={"name": "alice"}),
        bulk_element("Third [JI-BULK03]", labels=["mail", "bulk"], priority={"name": "High"}),
    ]
    result = jira.create_issues(elements)  # atlassian-python-api's POST /rest/api/2/issue/bulk
    assert result["errors"] == []
    assert [i["key"] for i in result["issues"]] == ["HD-1", "HD-2", "HD-3"]
    for created in result["issues"]:
        assert created["id"].isdigit() and created["self"] == f"{dc.url}/rest/api/2/issue/{created['id']}"
    for created, element in zip(result["issues"], elements, strict=True):
        sent = element["fields"]
        got = jira.issue(created["key"])["fields"]
        assert got["summary"] == sent["summary"]
        assert got["description"] == sent.get("description")
        assert got["labels"] == sent.get("labels", [])
        assert got["issuetype"]["name"] == "Task" and got["project"]["key"] == "HD"
        assert got["reporter"]["name"] == sent.get("reporter", {}).get("name", "helpdesk")
        assert got["priority"]["name"] == sent.get("priority", {}).get("name", "Medium")
    assert keys(jira.jql('summary ~ "\\"JI-BULK02\\""')) == ["HD-2"]
    # the next single create continues the sequence
    assert new_issue(jira, "after the bulk")["key"] == "HD-4"
    assert dc.violations() == []


def test_bulk_create_reports_failed_elements_and_creates_the_others(dc):
    elements = [
        bulk_element("kept one"),
        bulk_element(None),  # no summary
        bulk_element("kept two"),
        bulk_element("unknown project", project="NOPE"),
    ]
    r = rest(dc, "POST", BULK, json={"issueUpdates": elements})
    assert r.status_code == 201, r.text
    body = r.json()
    assert [i["key"] for i in body["issues"]] == ["HD-1", "HD-2"]
    assert [(e["failedElementNumber"], e["status"]) for e in body["errors"]] == [(1, 400), (3, 400)]
    assert set(body["errors"][0]["elementErrors"]["errors"]) == {"summary"}
    assert set(body["errors"][1]["elementErrors"]["errors"]) == {"project"}
    assert [(i["key"], i["fields"]["summary"]) for i in dc.issues()] == [("HD-1", "kept one"), ("HD-2", "kept two")]
    # each element fails exactly as the single create of the same bean does
    for error in body["errors"]:
        single = rest(dc, "POST", "/rest/api/2/issue", json=elements[error["failedElementNumber"]])
        assert single.status_code == error["status"] and single.json() == error["elementErrors"]
    assert len(dc.issues()) == 2
    assert dc.violations() == []


def test_bulk_create_where_nothing_is_created_is_a_400(dc):
    r = rest(dc, "POST", BULK, json={"issueUpdates": [bulk_element(None), bulk_element("x", project="NOPE")]})
    assert r.status_code == 400, r.text
    body = r.json()
    assert body["issues"] == []
    assert [e["failedElementNumber"] for e in body["errors"]] == [0, 1]
    assert all(e["status"] == 400 and e["elementErrors"]["errors"] for e in body["errors"])
    empty = rest(dc, "POST", BULK, json={"issueUpdates": []})
    assert empty.status_code == 400 and empty.json() == {"issues": [], "errors": []}
    assert dc.issues() == []
    # the 400 body is Jira's IssuesCreateResponse, checked against the spec's schema: no stand-in violation
    assert dc.violations() == []


def test_bulk_create_takes_at_most_50_issues(dc):
    r = rest(dc, "POST", BULK, json={"issueUpdates": [bulk_element(f"issue {n}") for n in range(51)]})
    assert r.status_code == 400
    assert r.json()["errorMessages"] and r.json()["errors"] == {}
    assert dc.issues() == []
    r = rest(dc, "POST", BULK, json={"issueUpdates": [bulk_element(f"issue {n}") for n in range(50)]})
    assert r.status_code == 201 and len(r.json()["issues"]) == 50 and r.json()["errors"] == []
    assert len(dc.issues()) == 50
    assert dc.violations() == []


def test_bulk_create_malformed_bodies_are_refused_like_the_single_create(dc):
    for bad in ([bulk_element("in a list")], {"issueUpdates": bulk_element("not a list")}, {"issueUpdates": [7]}):
        r = rest(dc, "POST", BULK, json=bad)
        assert r.status_code == 400 and r.json()["errorMessages"], bad
        single = rest(dc, "POST", "/rest/api/2/issue", json=[bulk_element("in a list")])
        assert single.status_code == 400 and single.json()["errors"] == r.json()["errors"] == {}
    assert dc.issues() == []
    kinds = [(v["kind"], v["method"], v["path"]) for v in dc.violations()]
    assert kinds == [("request", "POST", BULK), ("request", "POST", "/rest/api/2/issue")] * 3


@pytest.mark.parametrize("mode", ["dc", "cloud"])
def test_bulk_create_passes_spec_validation(mode, request):
    server = request.getfixturevalue(mode)
    r = rest(server, "POST", BULK, json={"issueUpdates": [bulk_element("valid"), bulk_element(None)]})
    assert r.status_code == 201, r.text
    r = rest(server, "POST", "/rest/api/latest/issue/bulk", json={"issueUpdates": [bulk_element(None)]})
    assert r.status_code == 400 and r.json()["issues"] == []
    assert server.violations() == []
    assert [(e["method"], e["path"], e["status"]) for e in server.requests_log()] == [
        ("POST", BULK, 201),
        ("POST", BULK, 400),
    ]
    # validation does run on this path: a body outside IssuesUpdateBean is a recorded violation
    r = rest(server, "POST", BULK, json={"issueUpdates": [{"fields": {"summary": "x"}, "update": []}]})
    assert r.status_code == 400 and "does not match the Jira DC 10.3 API" in r.json()["errorMessages"][0]
    assert [(v["kind"], v["path"]) for v in server.violations()] == [("request", BULK)]
    assert [i["fields"]["summary"] for i in server.issues()] == ["valid"]


def test_bulk_create_faults(dc):
    # the single create's rule ("issue$") does not match the bulk path
    dc.inject_faults({"method": "POST", "path_regex": r"/rest/api/2/issue$", "action": "status", "status": 503})
    assert rest(dc, "POST", BULK, json={"issueUpdates": [bulk_element("not faulted")]}).status_code == 201
    assert dc.admin.faults()[0]["fired"] == 0

    dc.inject_faults({"method": "POST", "path_regex": r"/issue/bulk$", "action": "status", "status": 503})
    r = rest(dc, "POST", BULK, json={"issueUpdates": [bulk_element("refused")]})
    assert r.status_code == 503
    assert [i["fields"]["summary"] for i in dc.issues()] == ["not faulted"]

    # a lost response: every element is committed before the connection drops
    dc.inject_faults({"method": "POST", "path_regex": r"/issue/bulk$", "action": "drop_after_commit"})
    lost = [bulk_element(f"lost response {n} [JI-LOST0{n}]") for n in range(3)] + [bulk_element(None)]
    with pytest.raises(requests.exceptions.ConnectionError):
        rest(dc, "POST", BULK, json={"issueUpdates": lost})
    assert [(i["key"], i["fields"]["summary"]) for i in dc.issues()] == [("HD-1", "not faulted")] + [
        (f"HD-{n + 2}", f"lost response {n} [JI-LOST0{n}]") for n in range(3)
    ]
    assert keys(client(dc).jql('summary ~ "\\"JI-LOST02\\""')) == ["HD-4"]
    log = [(e["method"], e["path"], e["status"], e["fault"]) for e in dc.requests_log() if e["path"] == BULK]
    assert log == [
        ("POST", BULK, 201, None),
        ("POST", BULK, 503, "status"),
        ("POST", BULK, None, "drop_after_commit"),
    ]
    assert dc.count_requests("POST", r"/issue/bulk$") == 3
    assert dc.violations() == []
