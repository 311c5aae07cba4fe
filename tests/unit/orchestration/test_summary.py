"""build_summary: a run's counts from its stages' XCom values."""

from __future__ import annotations

from jicket_ops.orchestration.summary import build_summary, summary_line

STATES_OK = {s: "success" for s in ("fetch", "filter_mails", "route", "write_to_jira", "confirm", "move")}


def test_counts_every_outcome_and_names_the_tickets():
    outputs = {
        "fetch": {"mails": [{"uid": n} for n in range(1, 8)], "request": {"mode": "inbox", "dry_run": False}},
        "filter_mails": {"filtered": [7]},
        "route": {"own_mail": [6]},
        "write_to_jira": {"results": [
            {"uid": 1, "action": "created", "ticket_id": "ZOZ2P6", "issue_key": "HD-1"},
            {"uid": 2, "action": "commented", "ticket_id": "ZOZ2P6", "issue_key": "HD-1"},
            {"uid": 3, "action": "already_created", "ticket_id": "KR532E", "issue_key": "HD-2"},
        ], "failed": {"4": "boom"}},
        "confirm": {"sent": ["ZOZ2P6"], "failed": {}},
        "move": {"moved": [1, 2, 3, 6, 7], "quarantined": [5]},
    }
    summary = build_summary(outputs, STATES_OK)
    assert summary == {
        "mode": "inbox", "dry_run": False, "fetched": 7, "new": 1, "replies": 1, "already_in_jira": 1,
        "would_write": 0, "encrypted": 0, "failed": 1, "filtered": 1, "own_mail": 1, "confirmations": 1, "moved": 5,
        "quarantined": 1, "tickets": ["HD-1", "HD-2"], "ticket_ids": ["KR532E", "ZOZ2P6"], "failed_stages": [],
    }


def test_a_stage_without_output_counts_nothing_and_is_named_when_failed():
    states = {**STATES_OK, "write_to_jira": "failed", "confirm": "upstream_failed"}
    summary = build_summary({"fetch": {"mails": [{"uid": 1}]}, "write_to_jira": None}, states)
    assert summary["new"] == 0 and summary["fetched"] == 1 and summary["quarantined"] == 0
    assert summary["failed_stages"] == ["confirm", "write_to_jira"]


def test_summary_line_reads_at_a_glance():
    summary = build_summary({"fetch": {"mails": [{"uid": 1}], "request": {"mode": "rescan", "dry_run": True}},
                             "write_to_jira": {"results": [
                                 {"uid": 1, "action": "would_create", "ticket_id": "ZOZ2P6", "issue_key": ""}]}},
                            {**STATES_OK, "move": "failed"})
    assert summary_line(summary) == (
        "dry run (rescan): fetched 1, new 0, replies 0, already in Jira 0, would write 1, filtered 0, own mail 0, "
        "confirmations 0, moved 0, quarantined 0, failed 0; FAILED stages move")
    assert summary_line(build_summary({"write_to_jira": {"results": [
        {"uid": 1, "action": "created", "ticket_id": "A", "issue_key": "HD-7"}]}}, STATES_OK)).endswith(
        "; issues HD-7")
