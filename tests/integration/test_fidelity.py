"""Real-world mail fidelity on the real stack: the whole corpus through one DAG run, on Jira DC and Cloud.

Each corpus mail must land where its manifest says (a new issue, a comment on a seeded issue, or
nowhere), with the expected text, and with every attachment on the issue exactly once. Then:
attachment uploads whose responses are lost are not repeated; replies to a resolved issue under
``JICKET_RESOLVED_POLICY=new`` open a linked issue; senders and CCs with Jira accounts become
reporter and watchers; an attachment Jira refuses leaves a visible note.
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import requests

from jicket_ops.domain.parsing import message_id_key, parse_mail
from jicket_ops.domain.rendering import attachment_intent, mail_marker, markers_in
from sandbox.stack import JIRA_PROJECT
from tests.corpus.expectations import MAILS, MANIFEST, raw_of, text_problems, upload_problems
from tests.corpus.generate import blob
from tests.support import CUSTOMER, HELPDESK, SUCCESS_FOLDER, deliver, make_mail, messages

TAG = re.compile(r"\[#JI-([A-Z0-9]+)\]")
SEARCH = re.compile(r"^/rest/api/[23]/search(/jql)?$")


def rest(jira, method: str, path: str, **kwargs):
    response = requests.request(method, jira.url + path, auth=jira.auth, timeout=30, **kwargs)
    assert response.status_code < 300, (path, response.status_code, response.text[:500])
    return response.json() if response.content else None


def seed(jira) -> dict[str, str]:
    """The seeded issues of the manifest (HD-1 .. HD-4): open, resolved, untagged, holding a customer mail."""
    keys: dict[str, str] = {}
    for name, spec in MANIFEST["seeds"].items():
        description = "Seeded by the test."
        if spec.get("answered_message_id"):
            description += "\n\n" + mail_marker(message_id_key(spec["answered_message_id"]))
        created = rest(jira, "POST", "/rest/api/2/issue", json={"fields": {
            "project": {"key": JIRA_PROJECT}, "summary": spec["summary"], "description": description,
            "issuetype": {"name": "Task"}}})
        keys[name] = created["key"]
        for filename, size in spec.get("attachments", []):
            rest(jira, "POST", f"/rest/api/2/issue/{created['key']}/attachments",
                 files={"file": (filename, blob(filename, size), "image/png")},
                 headers={"X-Atlassian-Token": "no-check"})
        if spec.get("resolved"):
            rest(jira, "POST", f"/rest/api/2/issue/{created['key']}/transitions", json={"transition": {"id": "5"}})
    assert keys["K"] == f"{JIRA_PROJECT}-3"
    return keys


def corpus_settings(monkeypatch, tmp_path) -> None:
    filters = tmp_path / "filters.json"
    filters.write_text(json.dumps(MANIFEST["filters"]))
    monkeypatch.setenv("JICKET_FILTER_CONFIG", str(filters))
    monkeypatch.setenv("JICKET_ATTACHMENT_MAX_BYTES", str(MANIFEST["attachment_limit"]))
    monkeypatch.setenv("JICKET_MAIL_SECRET", MANIFEST["mail_secret"])  # the own confirmation is signed with it


def deliver_corpus(stack) -> set[str]:
    """Deliver the corpus; the files the IMAP server stored as a different mail (their expectations lapse).

    Courier-IMAP cuts a MIME tree nested deeper than its limit when it stores the mail: Jicket then gets a
    readable mail where the corpus describes an unreadable one. (Line ends may change on any server; that
    changes no expectation, so only what the parser makes of the stored bytes is compared.)
    """
    altered: set[str] = set()
    with stack.imap(HELPDESK) as client:
        uids = {client.append("INBOX", raw_of(entry)): entry for entry in MAILS}
        client.select("INBOX")
        for uid, _meta, stored in client._fetch(",".join(map(str, uids)), "(UID BODY.PEEK[])"):
            sent, kept = parse_mail(raw_of(uids[uid])), parse_mail(stored or b"")
            if (sent.unreadable, len(sent.attachments)) != (kept.unreadable, len(kept.attachments)):
                altered.add(uids[uid]["file"])
    return altered


def texts_with(issues: list[dict], mail_key: str) -> list[tuple[dict, str, str]]:
    """(issue, "issue" | "comment", text) of every description/comment carrying the mail's marker."""
    marker = mail_marker(mail_key)
    found = [(i, "issue", i["fields"].get("description") or "") for i in issues
             if marker in markers_in(i["fields"].get("description") or "")]
    found += [(i, "comment", c["body"]) for i in issues for c in i["comments"] if marker in markers_in(c["body"])]
    return found


def check_corpus(jira, keys: dict[str, str], altered: frozenset[str] = frozenset()) -> dict:
    """Every corpus mail where the manifest says, with its text and files; the Jira requests it took.

    For ``altered`` mails (the server stored something else) only "written once, where it belongs" is checked.
    """
    issues = jira.state()["issues"]
    seeded = set(keys.values())
    problems: dict[str, list[str]] = {}
    with_uploads = 0
    for entry in MAILS:
        mail_key = parse_mail(raw_of(entry)).headers.mail_key()
        holders = texts_with(issues, mail_key)
        found: list[str] = []
        if entry["jira"] is None:
            if holders:
                found.append(f"written to {holders[0][0]['key']}, but it must not be imported")
        elif len(holders) != 1:
            found.append(f"{len(holders)} Jira texts carry its marker")
        else:
            issue, kind, text = holders[0]
            if entry["jira"] == "issue":
                if kind != "issue" or issue["key"] in seeded:
                    found.append(f"expected a new issue, found a {kind} on {issue['key']}")
                elif not TAG.match(issue["fields"]["summary"]):
                    found.append(f"summary without a ticket tag: {issue['fields']['summary']!r}")
            else:
                want = keys[entry["jira"].split(":", 1)[1]]
                if kind != "comment" or issue["key"] != want:
                    found.append(f"expected a comment on {want}, found a {kind} on {issue['key']}")
            if entry["file"] in altered:
                if found:
                    problems[entry["file"]] = found
                continue
            found += text_problems(entry, text)
            stored = {a["filename"]: a for a in issue["attachments"]}
            names = attachment_intent(text, mail_key) or []
            uploaded = [{"filename": n, "size": stored[n]["size"], "sha256": stored[n]["sha256"]} for n in names
                        if n in stored]
            found += [f"{n} announced but not on {issue['key']}" for n in names if n not in stored]
            found += upload_problems(entry, uploaded, in_jira=True)
            counts = Counter(a["filename"] for a in issue["attachments"])
            found += [f"{n} is {counts[n]} times on {issue['key']}" for n in names if counts[n] != 1]
            with_uploads += bool(names)
        if found:
            problems[entry["file"]] = found
    assert problems == {}, json.dumps(problems, indent=1, ensure_ascii=False)

    resolved = next(i for i in issues if i["key"] == keys["R"])
    assert resolved["statusCategory"] != "done", "a person's reply reopens a resolved issue"

    log = [r for r in jira.requests_log() if r["path"].startswith("/rest/")]
    kinds = Counter()
    uploads_per_issue = Counter()
    for request in log:
        path, method = request["path"], request["method"]
        if SEARCH.match(path):
            kinds["search"] += 1
        elif method == "POST" and path == "/rest/api/2/issue":
            kinds["create"] += 1
        elif method == "POST" and path == "/rest/api/2/issue/bulk":
            kinds["bulk_create"] += 1
        elif method == "POST" and path.endswith("/comment"):
            kinds["comment"] += 1
        elif method == "POST" and path.endswith("/attachments"):
            kinds["upload"] += 1
            uploads_per_issue[path.split("/")[-2]] += 1
        elif method == "POST" and path.endswith("/transitions"):
            kinds["transition"] += 1
        elif method == "GET" and re.fullmatch(r"/rest/api/2/issue/[A-Z]+-\d+", path):
            kinds["issue_lookup"] += 1
        else:
            kinds[f"{method} {path}"] += 1
    written = [e for e in MAILS if e["jira"]]
    new_issues = sum(1 for e in written if e["jira"] == "issue")
    assert len([i for i in issues if i["key"] not in seeded]) == new_issues
    # New issues are created in bulk, one request per body batch (50 mails) holding two or more of them.
    batches = math.ceil(len(MAILS) / 50)
    assert 1 <= kinds["bulk_create"] <= batches and kinds["create"] <= batches, kinds
    assert kinds["comment"] == sum(1 for e in written if e["jira"].startswith("comment:"))
    assert kinds["upload"] == with_uploads, "one multipart request per mail with attachments"
    assert all(count == 1 for key, count in uploads_per_issue.items() if key not in seeded)
    assert kinds["transition"] == 1 and kinds["issue_lookup"] == 1, kinds
    writes = kinds["create"] + kinds["bulk_create"] + kinds["comment"] + kinds["upload"] + kinds["transition"]
    return {"mails": len(MAILS), "written": len(written), "requests": dict(kinds),
            "writes_per_written_mail": round(writes / len(written), 2),
            "all_per_written_mail": round(sum(kinds.values()) / len(written), 2)}


def run_corpus(stack_jira, stack, run_dag, monkeypatch, tmp_path) -> dict:
    corpus_settings(monkeypatch, tmp_path)
    keys = seed(stack_jira)
    stack_jira.clear_requests()
    altered = deliver_corpus(stack)
    assert len(altered) <= 1, f"the server changed {sorted(altered)}"
    state, tasks = run_dag()
    assert state == "success", tasks
    metrics = check_corpus(stack_jira, keys, frozenset(altered))
    # Nothing is lost or left behind: every corpus mail left the inbox.
    inbox = messages(stack)
    assert all(m.message["X-Jicket-HashID"] for m in inbox), [m.message["Subject"] for m in inbox]
    assert len(messages(stack, SUCCESS_FOLDER)) == len(MAILS)
    # Machine mail is never answered.
    assert not [m for m in stack.relay.messages if any("mailer-daemon" in r.lower() or "postmaster" in r.lower()
                                                       for r in m.rcpt_tos)]
    print(f"\ncorpus metrics ({stack_jira.state()['mode']}): {json.dumps(metrics)}")
    return metrics


def test_corpus_through_the_dag_on_jira_data_center(env, run_dag, monkeypatch, tmp_path):
    run_corpus(env.jira, env, run_dag, monkeypatch, tmp_path)


def test_corpus_through_the_dag_on_jira_cloud(env, cloud_jira, run_dag, monkeypatch, tmp_path):
    metrics = run_corpus(cloud_jira, env, run_dag, monkeypatch, tmp_path)
    assert metrics["requests"].get("GET /rest/api/3/search", 0) == 0
    assert env.jira.requests_log() == [], "the Data Center stand-in was not used"


def test_lost_attachment_responses_do_not_upload_twice(env, run_dag, monkeypatch):
    """The upload's response is lost (or a 503 comes back): the retry uploads only what is missing."""
    keys = seed(env.jira)
    env.jira.clear_requests()
    pdf, png = blob("lost-pdf", 3000), blob("lost-png", 800)
    new = make_mail(subject="Lost upload", body="Two files.")
    new_mail = parse_mail(new)
    raw_new = _with_attachments(new, [("report.pdf", pdf), ("photo.png", png)])
    raw_reply = _with_attachments(make_mail(subject="Re: [#JI-SEEDA1] Printer on floor 2 jams", body="One more."),
                                  [("screenshot.png", png)])
    env.jira.inject_faults(
        {"method": "POST", "path_regex": r"/attachments$", "action": "drop_after_commit", "count": 1},
        {"method": "POST", "path_regex": r"/attachments$", "action": "status", "status": 503, "count": 1})
    deliver(env, raw_new)
    deliver(env, raw_reply)
    state, tasks = run_dag()
    assert state == "success", tasks
    issues = env.jira.state()["issues"]
    created = [i for i in issues if i["key"] not in keys.values()]
    assert len(created) == 1 and "Two files." in created[0]["fields"]["description"]
    assert sorted((a["filename"], a["size"]) for a in created[0]["attachments"]) == [("photo.png", 800),
                                                                                   ("report.pdf", 3000)]
    seed_a = next(i for i in issues if i["key"] == keys["A"])
    assert sorted(a["filename"] for a in seed_a["attachments"]) == ["screenshot (2).png", "screenshot.png"]
    assert len([c for c in seed_a["comments"] if "One more." in c["body"]]) == 1
    assert env.jira.count_requests("POST", r"/attachments$") == 2 + 1  # two attempts lost or refused, one retry
    confirmations = [m for m in messages(env, user=CUSTOMER) if m.message["X-Jicket-HashID"]]
    assert len(confirmations) == 1 and confirmations[0].message["In-Reply-To"] == new_mail.headers.message_id


def _with_attachments(raw: bytes, files: list[tuple[str, bytes]]) -> bytes:
    from email import message_from_bytes, policy

    message = message_from_bytes(raw, policy=policy.default)
    for name, data in files:
        maintype, subtype = ("image", "png") if name.endswith(".png") else ("application", "pdf")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return bytes(message)


def test_follow_up_policy_people_and_refused_attachments(env, run_dag, monkeypatch):
    """JICKET_RESOLVED_POLICY=new, reporter and watchers from Jira accounts, a file Jira refuses."""
    monkeypatch.setenv("JICKET_RESOLVED_POLICY", "new")
    monkeypatch.setenv("JICKET_JIRA_SET_REPORTER", "true")
    monkeypatch.setenv("JICKET_JIRA_ADD_WATCHERS", "true")
    keys = seed(env.jira)
    env.jira.add_users({"name": "jane", "email": "jane@customer.example", "displayName": "Jane Customer"},
                       {"name": "bob", "email": "bob@customer.example", "displayName": "Bob Boss"})
    env.jira.configure(attachment_max_bytes=1000)  # Jira's own limit, below Jicket's
    deliver(env, make_mail(sender="Jane <jane@customer.example>", cc="Bob <bob@customer.example>, x@nowhere.example",
                           subject="Re: [#JI-SEEDR1] VPN drops every hour", body="The VPN drops again."))
    deliver(env, _with_attachments(make_mail(subject="Big scan", body="Scan attached."),
                                   [("scan.pdf", blob("scan", 5000))]))
    state, tasks = run_dag()
    assert state == "success", tasks
    state_now = env.jira.state()
    issues = {i["key"]: i for i in state_now["issues"]}
    follow_up = next(i for i in issues.values() if "The VPN drops again." in (i["fields"]["description"] or ""))
    assert follow_up["key"] not in keys.values()
    assert "follows up HD-2" in follow_up["fields"]["description"]
    assert any(link["type"] == "Relates" and {link["inward"], link["outward"]} == {follow_up["key"], keys["R"]}
               for link in follow_up["links"])
    assert issues[keys["R"]]["statusCategory"] == "done" and issues[keys["R"]]["comments"] == []
    assert follow_up["fields"]["reporter"]["name"] == "jane"
    assert "bob" in follow_up["watchers"]
    scan = next(i for i in issues.values() if "Scan attached." in (i["fields"]["description"] or ""))
    assert scan["attachments"] == []
    assert any("Jira refused the attachments scan.pdf" in c["body"] for c in scan["comments"])
    confirmed = {m.message["X-Jicket-HashID"] for m in messages(env, user=CUSTOMER) if m.message["X-Jicket-HashID"]}
    assert TAG.match(scan["fields"]["summary"]).group(1) in confirmed
