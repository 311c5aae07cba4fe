"""stages.confirm, its pure part: which issues this run's write_to_jira result names for the confirmations."""

from jicket_ops.domain.write_plan import WriteOutcome, WriteResult
from jicket_ops.stages.confirm import written_issues

TICKET_OF = {5: "AAAAAA", 6: "BBBBBB", 7: "CCCCCC", 8: "DDDDDD"}


def written(*results: WriteResult, folder: str = "INBOX", uidvalidity: int = 1234) -> dict:
    """write_to_jira's XCom as confirm receives it."""
    return {"folder": folder, "uidvalidity": uidvalidity, "results": [r.as_dict() for r in results]}


def test_created_and_already_created_issues_are_named_by_uid():
    result = written(WriteResult(5, WriteOutcome.CREATED, "AAAAAA", "HD-1"),
                     WriteResult(6, WriteOutcome.ALREADY_CREATED, "BBBBBB", "HD-2"),
                     WriteResult(7, WriteOutcome.COMMENTED, "CCCCCC", "HD-3"))
    assert written_issues(result, "INBOX", 1234, TICKET_OF) == {5: "HD-1", 6: "HD-2"}


def test_nothing_is_taken_from_another_folder_another_uidvalidity_or_no_result():
    result = WriteResult(5, WriteOutcome.CREATED, "AAAAAA", "HD-1")
    assert written_issues(written(result, folder="archive"), "INBOX", 1234, TICKET_OF) == {}
    assert written_issues(written(result, uidvalidity=99), "INBOX", 1234, TICKET_OF) == {}
    assert written_issues(None, "INBOX", 1234, TICKET_OF) == {}
    assert written_issues({}, "INBOX", 1234, TICKET_OF) == {}


def test_a_result_whose_ticket_id_is_not_the_uids_own_or_has_no_key_is_looked_up_instead():
    # UID 8 now holds another mail than the one written (moved out and back): its id no longer matches.
    result = written(WriteResult(8, WriteOutcome.CREATED, "ZZZZZZ", "HD-4"),
                     WriteResult(5, WriteOutcome.CREATED, "AAAAAA", ""),
                     WriteResult(9, WriteOutcome.CREATED, "EEEEEE", "HD-5"))
    assert written_issues(result, "INBOX", 1234, TICKET_OF) == {}


def test_dry_run_outcomes_name_no_issue():
    result = written(WriteResult(5, WriteOutcome.WOULD_CREATE, "AAAAAA", "HD-1"))
    assert written_issues(result, "INBOX", 1234, TICKET_OF) == {}
