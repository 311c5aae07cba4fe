"""Folders mode: which mails a run finished (move) and which new tickets await a confirmation (confirm)."""

from __future__ import annotations

from jicket_ops.domain.write_plan import WriteOutcome
from jicket_ops.stages.confirm import awaiting_confirmation
from jicket_ops.stages.move import done_uids

FETCHED = {"folder": "INBOX", "uidvalidity": 7, "mails": []}


def result(uid: int, outcome: WriteOutcome) -> dict:
    return {"uid": uid, "action": outcome.value, "ticket_id": "", "issue_key": f"HD-{uid}"}


def test_done_uids_collects_what_every_stage_finished():
    written = {"results": [result(1, WriteOutcome.CREATED), result(2, WriteOutcome.COMMENTED),
                           result(3, WriteOutcome.ALREADY_COMMENTED), result(4, WriteOutcome.ALREADY_CREATED)]}
    confirmed = {"sent": [1], "already_sent": [4], "not_answered": [9]}
    done = done_uids(FETCHED, {"filtered": [5]}, {"own_mail": [6]}, written, confirmed)
    assert done == ("INBOX", 7, [1, 2, 3, 4, 5, 6, 9])


def test_a_new_ticket_without_its_confirmation_is_not_done():
    written = {"results": [result(1, WriteOutcome.CREATED), result(2, WriteOutcome.ALREADY_CREATED)]}
    assert done_uids(FETCHED, None, None, written, None) == ("INBOX", 7, [])
    assert done_uids(None, {"filtered": [5]}, None, written, None) is None, "nothing to go by without fetch"


def test_awaiting_confirmation_is_this_runs_new_tickets_in_the_same_folder():
    written = {"folder": "INBOX", "uidvalidity": 7, "results": [
        result(1, WriteOutcome.CREATED), result(2, WriteOutcome.ALREADY_CREATED), result(3, WriteOutcome.COMMENTED)]}
    assert awaiting_confirmation(written, "INBOX", 7) == {1: WriteOutcome.CREATED, 2: WriteOutcome.ALREADY_CREATED}
    assert awaiting_confirmation(written, "INBOX", 8) == {}, "renumbered UIDs are not trusted"
    assert awaiting_confirmation(written, "Archive", 7) == {}
    assert awaiting_confirmation(None, "INBOX", 7) == {}
