"""The scenarios of the pipeline issue, each a full DAG run against the real stack."""

from __future__ import annotations

import json

import pytest

from tests.support import (
    CUSTOMER,
    HELPDESK,
    STAFF,
    SUCCESS_FOLDER,
    TAG,
    deliver,
    make_mail,
    messages,
    only_issue,
    wait_for_messages,
)

# Every scenario runs against Jira Data Center and Jira Cloud.
pytestmark = pytest.mark.usefixtures("jira_flavour")


def test_customer_mail_becomes_one_issue_and_one_confirmation(env, run_dag):
    deliver(env, make_mail(subject="Printer broken", body="The printer on floor 3 is broken.",
                           cc="Boss <boss@elsewhere.example>"))
    state, tasks = run_dag()
    assert state == "success", tasks

    issue = only_issue(env)
    summary = issue["fields"]["summary"]
    ticket_id = TAG.match(summary).group(1)
    assert summary == f"[#JI-{ticket_id}] Printer broken"
    assert "The printer on floor 3 is broken." in issue["fields"]["description"]
    assert CUSTOMER in issue["fields"]["description"]

    confirmation = wait_for_messages(env, 1, user=CUSTOMER)
    assert len(confirmation) == 1
    mail = confirmation[0].message
    assert mail["Subject"] == f"[#JI-{ticket_id}] Printer broken"
    assert mail["X-Jicket-HashID"] == ticket_id
    assert mail["Auto-Submitted"] == "auto-replied"
    assert "boss@elsewhere.example" in mail["Cc"]
    assert HELPDESK in mail["To"] and CUSTOMER in mail["To"]
    assert env.relay is not None and any("boss@elsewhere.example" in m.outbound for m in env.relay.outbound)

    # The customer's mail has moved; the helpdesk's copy of the confirmation waits in the inbox.
    inbox = messages(env)
    assert [m.message["Message-ID"] for m in inbox] == [mail["Message-ID"]]
    assert [m.message["Subject"] for m in messages(env, SUCCESS_FOLDER)] == ["Printer broken"]

    # The next run recognises the copy as Jicket's own mail and moves it without importing it.
    state, tasks = run_dag()
    assert state == "success", tasks
    assert messages(env) == []
    assert len(messages(env, SUCCESS_FOLDER)) == 2
    issue = only_issue(env)
    assert issue["fields"]["comment"]["comments"] == []
    assert len(messages(env, user=CUSTOMER)) == 1


def open_ticket(env, run_dag) -> tuple[str, dict]:
    deliver(env, make_mail())
    state, tasks = run_dag()
    assert state == "success", tasks
    issue = only_issue(env)
    return TAG.match(issue["fields"]["summary"]).group(1), issue


def test_staff_reply_all_becomes_one_comment(env, run_dag):
    ticket_id, issue = open_ticket(env, run_dag)
    confirmation = wait_for_messages(env, 1)[0].message
    deliver(env, make_mail(sender=f"Fred <{STAFF}>", to=f"{CUSTOMER}, {HELPDESK}",
                           subject=f"RE: {confirmation['Subject']}", body="We are on it.",
                           headers={"In-Reply-To": confirmation["Message-ID"]}))
    state, tasks = run_dag()
    assert state == "success", tasks
    issue = only_issue(env)
    comments = issue["fields"]["comment"]["comments"]
    assert len(comments) == 1
    assert "We are on it." in comments[0]["body"] and STAFF in comments[0]["body"]
    assert len(messages(env, user=CUSTOMER)) == 1, "a reply gets no confirmation"
    assert messages(env) == []


def test_reply_with_only_the_hashid_header_becomes_one_comment(env, run_dag):
    ticket_id, _ = open_ticket(env, run_dag)
    deliver(env, make_mail(subject="about my printer", body="Any news?", headers={"X-Jicket-HashID": ticket_id}))
    state, tasks = run_dag()
    assert state == "success", tasks
    comments = only_issue(env)["fields"]["comment"]["comments"]
    assert len(comments) == 1 and "Any news?" in comments[0]["body"]


def test_blacklisted_sender_is_moved_and_whitelisted_exception_imported(env, run_dag, tmp_path, monkeypatch,
                                                                        progress_mode):
    rules = tmp_path / "filter.json"
    rules.write_text(json.dumps({
        "blacklist": [{"description": "Deny spam domain", "addresspattern": ".*@spam\\.example"}],
        "whitelist": [{"description": "Allow the magic word", "subjectpattern": "sesame", "ignorecase": True}],
    }))
    monkeypatch.setenv("JICKET_FILTER_CONFIG", str(rules))
    deliver(env, make_mail(sender="Spammer <buy@spam.example>", subject="Cheap pills"))
    deliver(env, make_mail(sender="Friend <friend@spam.example>", subject="Open SESAME please"))
    state, tasks = run_dag()
    assert state == "success", tasks
    issue = only_issue(env)
    assert issue["fields"]["summary"].endswith("Open SESAME please")
    moved = {m.message["Subject"]: m.flags for m in messages(env, SUCCESS_FOLDER)}
    if progress_mode == "keywords":
        assert "$JicketFiltered" in moved["Cheap pills"]
        assert "$JicketFiltered" not in moved["Open SESAME please"]
    else:
        assert set(moved) == {"Cheap pills", "Open SESAME please"}
    # The only confirmation went to the whitelisted sender (the relay records mail for other domains).
    outbound = [m for m in env.relay.outbound if "buy@spam.example" in m.rcpt_tos]
    assert outbound == []
