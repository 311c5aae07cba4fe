"""New issues created with Jira's bulk create (``POST /rest/api/2/issue/bulk``, 50 per request), on the stand-in
that validates every request against Atlassian's spec: the adapter's answers per element, its fallbacks, and
the write stage's exactly-once guarantees when a bulk request fails or its answer is lost."""

from __future__ import annotations

import pytest

from jicket_ops.adapters.jira import BULK_CREATE_MAX, IssueDraft, JiraWriter
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.errors import JiraError
from sandbox.stack import JIRA_PROJECT
from tests.support import CUSTOMER, TAG, deliver, make_mail, messages

BULK = {"method": "POST", "path_regex": r"^/rest/api/2/issue/bulk$"}
SINGLE = {"method": "POST", "path_regex": r"^/rest/api/2/issue$"}


def writer() -> JiraWriter:
    return JiraWriter("jicket_jira", JIRA_PROJECT, TicketIdScheme())


def summaries(jira) -> list[str]:
    return [issue["fields"]["summary"] for issue in sorted(jira.issues(), key=lambda i: int(i["id"]))]


def test_drafts_become_issues_in_order_with_one_request_per_fifty(env):
    drafts = [IssueDraft(f"Mail {n}", f"Body {n}") for n in range(BULK_CREATE_MAX + 7)]
    keys = writer().create_issues(drafts)
    assert all(isinstance(key, str) for key in keys), keys
    by_key = {issue["key"]: issue["fields"] for issue in env.jira.issues()}
    assert [by_key[key]["summary"] for key in keys] == [d.summary for d in drafts]
    assert [by_key[key]["description"] for key in keys] == [d.description for d in drafts]
    assert env.jira.count_requests("POST", BULK["path_regex"]) == 2
    assert env.jira.count_requests("POST", SINGLE["path_regex"]) == 0
    assert env.jira.violations() == []


def test_one_draft_goes_to_the_single_create(env):
    [key] = writer().create_issues([IssueDraft("Alone", "Body")])
    assert summaries(env.jira) == ["Alone"] and key.startswith(f"{JIRA_PROJECT}-")
    assert env.jira.count_requests("POST", BULK["path_regex"]) == 0


def test_an_element_jira_refuses_fails_alone(env):
    drafts = [IssueDraft("First", "a"), IssueDraft("x" * 300, "too long a summary"), IssueDraft("Third", "c")]
    first, refused, third = writer().create_issues(drafts)
    assert isinstance(refused, JiraError) and refused.status == 400 and not refused.transient
    assert "summary" in str(refused)
    assert isinstance(first, str) and isinstance(third, str)
    assert summaries(env.jira) == ["First", "Third"]
    assert env.jira.violations() == []


def test_a_refused_reporter_is_left_out_and_the_issue_created(env):
    drafts = [IssueDraft("Known", "a", reporter="nobody-such"), IssueDraft("Plain", "b")]
    keys = writer().create_issues(drafts)
    assert all(isinstance(key, str) for key in keys), keys
    assert sorted(summaries(env.jira)) == ["Known", "Plain"]


def test_a_request_refused_as_a_whole_is_created_one_at_a_time(env):
    env.jira.inject_faults({**BULK, "action": "status", "status": 404, "count": -1})  # a Jira without bulk create
    keys = writer().create_issues([IssueDraft("One", "1"), IssueDraft("Two", "2")])
    assert all(isinstance(key, str) for key in keys), keys
    assert summaries(env.jira) == ["One", "Two"]
    assert env.jira.count_requests("POST", SINGLE["path_regex"]) == 2


def test_a_server_error_raises_a_transient_error(env):
    env.jira.inject_faults({**BULK, "action": "status", "status": 503, "count": 1})
    with pytest.raises(JiraError) as info:
        writer().create_issues([IssueDraft("One", "1"), IssueDraft("Two", "2")])
    assert info.value.transient and info.value.status == 503
    assert env.jira.issues() == []


@pytest.mark.parametrize("fault", ["status", "drop_after_commit"])
def test_a_failed_or_lost_bulk_create_repeats_nothing(env, run_dag, fault):
    """The bulk request fails (503: nothing created) or its answer is lost after Jira created every issue: the
    task's retry creates exactly the missing issues, each mail gets one confirmation."""
    env.jira.inject_faults({**BULK, "action": fault, "count": 1, **({"status": 503} if fault == "status" else {})})
    subjects = ["Printer on fire", "VPN down", "Password reset"]
    for subject in subjects:
        deliver(env, make_mail(subject=subject))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert sorted(s.split("] ", 1)[1] for s in summaries(env.jira)) == sorted(subjects)
    assert env.jira.count_requests("POST", BULK["path_regex"]) == 1  # the retry creates each alone
    confirmations = [m.message for m in messages(env, user=CUSTOMER) if m.message["X-Jicket-HashID"]]
    assert len(confirmations) == len(subjects)
    assert {TAG.match(s).group(1) for s in summaries(env.jira)} == {str(m["X-Jicket-HashID"]) for m in confirmations}
    assert messages(env) == [] or all(m.message["X-Jicket-HashID"] for m in messages(env))


def test_a_batch_of_new_mails_is_one_bulk_request(env, run_dag):
    for n in range(5):
        deliver(env, make_mail(subject=f"New {n}"))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert sorted(s.split("] ", 1)[1] for s in summaries(env.jira)) == [f"New {n}" for n in range(5)]
    assert env.jira.count_requests("POST", BULK["path_regex"]) == 1
    assert env.jira.count_requests("POST", SINGLE["path_regex"]) == 0
    assert env.jira.violations() == []
