"""The summary says at a glance what the rate limits held back and how far a rescan got (issue 14)."""

from __future__ import annotations

from jicket_ops.orchestration.summary import build_summary, summary_line

STATES_OK = {s: "success" for s in ("fetch", "filter_mails", "route", "write_to_jira", "confirm", "move")}


def test_rate_limited_mail_and_withheld_confirmations_are_named():
    outputs = {"fetch": {"mails": [{"uid": n} for n in range(1, 6)], "request": {"mode": "inbox"}},
               "write_to_jira": {"results": [{"uid": 1, "action": "created", "ticket_id": "A", "issue_key": "HD-1"}],
                                 "rate_limited": [4, 5]},
               "confirm": {"sent": [1], "rate_limited": [2, 3]}, "move": {"moved": [1], "quarantined": [4, 5]}}
    summary = build_summary(outputs, STATES_OK)
    assert (summary["rate_limited"], summary["confirmations_withheld"]) == (2, 2)
    line = summary_line(summary)
    assert "RATE LIMITED: 2 new ticket(s) quarantined (JICKET_LIMIT_NEW_PER_HOUR)" in line
    assert "2 confirmation(s) withheld (JICKET_LIMIT_CONFIRMATIONS_PER_HOUR)" in line


def test_no_limit_hit_keeps_the_line_as_it_was():
    summary = build_summary({"fetch": {"mails": [{"uid": 1}]}}, STATES_OK)
    assert "rate_limited" not in summary and "RATE" not in summary_line(summary)


def test_a_rescan_counts_present_mails_as_fetched_and_says_how_far_it_got():
    report = {"total": 12, "checked": 12, "present": 9, "missing": 3, "skipped": 0, "batches": 3,
              "complete": True, "next_uid": None, "present_issues": ["HD-9"]}
    outputs = {"fetch": {"folder": "jicket", "mails": [{"uid": 1}, {"uid": 2}, {"uid": 3}], "rescan": report,
                         "request": {"mode": "rescan"}},
               "write_to_jira": {"results": [{"uid": n, "action": "created", "ticket_id": str(n), "issue_key": ""}
                                             for n in (1, 2, 3)]}}
    summary = build_summary(outputs, STATES_OK)
    assert (summary["fetched"], summary["already_in_jira"], summary["new"]) == (12, 9, 3)
    assert summary["tickets"] == ["HD-9"], "the issues found present are named too"
    assert summary_line(summary).endswith(
        "; rescan checked 12 of 12 mail(s) in jicket (3 batch(es)): 9 in Jira, 3 missing, 0 skipped, complete"
        "; issues HD-9")
    partial = {**report, "checked": 7, "complete": False, "next_uid": 8}
    summary = build_summary({**outputs, "fetch": {**outputs["fetch"], "rescan": partial}}, STATES_OK)
    assert "checked 7 of 12" in summary_line(summary) and "the next rescan goes on at UID 8" in summary_line(summary)
