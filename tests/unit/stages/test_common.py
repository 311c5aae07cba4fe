"""stages.common: how a mail is named in logs, the mail list fetch hands on (as XCom JSON), the run's request."""

import json
from datetime import UTC, datetime

from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.run_request import RunRequest
from jicket_ops.stages.common import InboxMail, describe, failures_for_xcom, stage_request


def test_describe_names_uid_message_id_and_ticket():
    headers = MailHeaders(message_id="<m@x>")
    assert describe(7) == "uid=7"
    assert describe(7, headers) == "uid=7 message_id=<m@x>"
    assert describe(7, MailHeaders(), "JI-ZOZ2P6") == "uid=7 message_id=- ticket=JI-ZOZ2P6"


def test_inbox_mail_survives_the_xcom_json_round_trip():
    mail = InboxMail(12, 3456, frozenset({"\\Seen", "$JicketImported"}),
                     MailHeaders(from_address="a@b.example", subject="Grüße", references=("<r@x>",)))
    data = json.loads(json.dumps(mail.as_dict()))
    assert data["flags"] == ["$JicketImported", "\\Seen"]  # sorted: the same mail gives the same XCom
    assert InboxMail.from_dict(data) == mail


def test_failures_become_string_keys_in_uid_order():
    assert failures_for_xcom({10: "b", 2: "a"}) == {"2": "a", "10": "b"}
    assert list(failures_for_xcom({10: "b", 2: "a"})) == ["2", "10"]


def test_stage_request_reads_what_fetch_recorded_or_defaults_to_an_inbox_run():
    request = RunRequest(mode="rescan", received_from=datetime(2024, 1, 1, tzinfo=UTC), dry_run=True)
    assert stage_request({"request": request.as_dict()}) == request
    assert stage_request({}) == RunRequest()
    assert stage_request({"request": None}) == RunRequest()
