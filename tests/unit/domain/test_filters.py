import json

import pytest

from jicket_ops.domain.filters import evaluate, parse_filter_config
from jicket_ops.errors import FilterConfigError

MANUAL_EXAMPLE = {
    "blacklist": [{"description": "Deny mails from domain test.com", "addresspattern": ".*@test\\.com"}],
    "whitelist": [
        {"description": "Allow foo@test.com", "addresspattern": "foo@test\\.com"},
        {"description": "Allow because of magic word 'sesame' in subject", "subjectpattern": "sesame"},
    ],
}


def test_manual_example():
    config = parse_filter_config(json.dumps(MANUAL_EXAMPLE))
    assert evaluate(config, "bar@test.com", "hello").filtered
    assert not evaluate(config, "foo@test.com", "hello").filtered
    assert not evaluate(config, "bar@test.com", "open sesame").filtered
    assert not evaluate(config, "bar@example.com", "hello").filtered
    verdict = evaluate(config, "foo@test.com", "hello")
    assert verdict.reasons == ("BLACKLISTED: Deny mails from domain test.com", "WHITELISTED: Allow foo@test.com")


def test_ignorecase():
    config = parse_filter_config(json.dumps({"blacklist": [
        {"description": "spam", "subjectpattern": "buy my spam", "ignorecase": True}], "whitelist": []}))
    assert evaluate(config, "a@b.c", "BUY MY SPAM now").filtered
    strict = parse_filter_config(json.dumps({"blacklist": [
        {"description": "spam", "subjectpattern": "buy my spam"}], "whitelist": []}))
    assert not evaluate(strict, "a@b.c", "BUY MY SPAM now").filtered


@pytest.mark.parametrize(("text", "fragment"), [
    ("{not json", "not valid JSON"),
    ('{"blacklist": [{"description": "x", "addresspattern": "("}]}', "blacklist[0] ('x')"),
    ('{"blacklist": [{"addresspattern": "a"}]}', "needs a 'description'"),
    ('{"blacklist": [{"description": "x"}]}', "needs an addresspattern or a subjectpattern"),
    ('{"blacklist": {}}', "'blacklist' must be a list"),
    ('{"blacklist": [{"description": "x", "addresspattern": "a", "ignorecase": "yes"}]}', "'ignorecase'"),
    ('{"blacklist": [], "greylist": []}', "unknown top-level keys"),
])
def test_broken_filter_config_names_the_problem(text, fragment):
    with pytest.raises(FilterConfigError) as info:
        parse_filter_config(text)
    assert "JICKET_FILTER_CONFIG" in str(info.value)
    assert fragment in str(info.value)
