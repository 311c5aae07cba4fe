"""stages.filter_mails, its pure part: which mails the filter JSON judges, and its verdicts."""

import json

from jicket_ops.domain.filters import NO_FILTERS, parse_filter_config
from jicket_ops.domain.keywords import IMPORTED
from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.stages.common import InboxMail
from jicket_ops.stages.filter_mails import decide_filters

CONFIG = parse_filter_config(json.dumps({
    "blacklist": [{"description": "spam domain", "addresspattern": ".*@spam\\.example"}],
    "whitelist": [{"description": "the boss", "addresspattern": "boss@spam\\.example"}],
}))


def inbox_mail(uid: int, sender: str, subject: str = "hello", flags: frozenset[str] = frozenset()) -> InboxMail:
    return InboxMail(uid, 100, flags, MailHeaders(from_address=sender, subject=subject))


def test_blacklisted_mails_are_filtered_and_whitelisted_ones_kept_with_reasons():
    verdicts = decide_filters(CONFIG, [inbox_mail(1, "a@spam.example"), inbox_mail(2, "boss@spam.example"),
                                       inbox_mail(3, "c@customer.example")])
    assert sorted(verdicts) == [1, 2, 3]
    assert verdicts[1].filtered and verdicts[1].reasons == ("BLACKLISTED: spam domain",)
    assert not verdicts[2].filtered
    assert verdicts[2].reasons == ("BLACKLISTED: spam domain", "WHITELISTED: the boss")
    assert not verdicts[3].filtered and verdicts[3].reasons == ()


def test_imported_mails_are_not_judged_again():
    # Only mails not yet imported are judged: one that Jira already has is past filtering.
    verdicts = decide_filters(CONFIG, [inbox_mail(1, "a@spam.example", flags=frozenset({IMPORTED})),
                                       inbox_mail(2, "b@spam.example")])
    assert list(verdicts) == [2] and verdicts[2].filtered


def test_without_filters_nothing_is_filtered():
    verdicts = decide_filters(NO_FILTERS, [inbox_mail(1, "a@spam.example"), inbox_mail(2, "")])
    assert [v.filtered for v in verdicts.values()] == [False, False]
