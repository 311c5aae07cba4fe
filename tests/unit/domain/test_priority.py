"""domain.priority: X-Priority / Importance / Priority headers to Jira priority names; unknown values noted."""

import pytest

from jicket_ops.domain.priority import DEFAULT_PRIORITY_MAP, mail_priority, parse_priority_map, split_names
from jicket_ops.errors import ConfigError


@pytest.mark.parametrize(("x_priority", "importance", "priority", "name"), [
    ("1 (Highest)", None, None, "Highest"),
    ("2 (High)", None, None, "High"),
    ("3 (Normal)", "high", None, None),  # X-Priority decides first: normal, nothing set
    ("4", None, None, "Low"),
    (" 5 (Lowest)", None, None, "Lowest"),
    (None, "High", None, "High"),
    (None, "low", None, "Low"),
    (None, "normal", "urgent", None),
    (None, None, "urgent", "High"),
    (None, None, "non-urgent", "Low"),
    (None, None, None, None),
])
def test_headers_map_to_jira_priorities(x_priority, importance, priority, name):
    choice = mail_priority(x_priority, importance, priority)
    assert choice.name == name and choice.note is None


def test_an_unknown_value_is_noted_and_the_next_header_decides():
    choice = mail_priority("urgent!!", "high", None)
    assert choice.name == "High" and choice.source == "Importance: high"
    assert "X-Priority 'urgent!!' not understood" in choice.note
    nothing = mail_priority("9", None, "whenever")
    assert nothing.name is None and "Jira's default" in nothing.note and "Priority 'whenever'" in nothing.note


def test_the_map_is_per_mailbox_and_a_level_may_set_nothing():
    mapping = parse_priority_map('{"highest": "Blocker", "low": ""}')
    assert mapping == {**DEFAULT_PRIORITY_MAP, "highest": "Blocker", "low": ""}
    assert mail_priority("1", None, None, mapping).name == "Blocker"
    assert mail_priority("4", None, None, mapping).name is None
    assert parse_priority_map(None) == DEFAULT_PRIORITY_MAP


@pytest.mark.parametrize("raw", ['["High"]', '{"urgent": "High"}', '{"high": 1}', "{"])
def test_a_bad_map_names_the_setting(raw):
    with pytest.raises(ConfigError, match="JICKET_PRIORITY_MAP"):
        parse_priority_map(raw)


def test_split_names():
    assert split_names(" a, b,,a ,c ") == ("a", "b", "c") and split_names(None) == ()
