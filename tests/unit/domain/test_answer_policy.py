import pytest

from jicket_ops.domain.answer_policy import answer_verdict
from jicket_ops.domain.parsing import MailHeaders

HELPDESK = "support@company.com"


def verdict(**fields):
    return answer_verdict(MailHeaders(**{"from_address": "jane@customer.com", **fields}), HELPDESK)


def test_a_person_is_answered_even_with_auto_submitted_no():
    assert verdict().answer
    assert verdict(auto_submitted="no").answer


@pytest.mark.parametrize(("fields", "why"), [
    ({"auto_submitted": "auto-replied"}, "Auto-Submitted"),
    ({"auto_submitted": "auto-generated; foo"}, "Auto-Submitted"),
    ({"precedence": "bulk"}, "Precedence"),
    ({"precedence": "List"}, "Precedence"),
    ({"list_id": "<users.lists.example.org>"}, "List-Id"),
    ({"auto_response_suppress": "OOF, AutoReply"}, "X-Auto-Response-Suppress"),
    ({"return_path": "<>"}, "empty return path"),
    ({"from_address": "MAILER-DAEMON@mx.example.org"}, "mail system"),
    ({"from_address": "support@company.com"}, "helpdesk"),
    ({"from_address": ""}, "no sender"),
])
def test_machine_mail_is_never_answered(fields, why):
    result = verdict(**fields)
    assert not result.answer and why in result.reason


