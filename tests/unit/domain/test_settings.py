"""domain.settings: jicket 0.6.2's settings, their defaults, the fidelity settings, the schedule; every invalid
value names its setting."""

from datetime import timedelta

import pytest

from jicket_ops.domain.settings import environment_lookup, load_schedule, load_settings
from jicket_ops.errors import ConfigError
from tests.support import TEMPLATE

BASE = {"JICKET_JIRA_PROJECT": "SHD", "JICKET_TICKET_ADDRESS": "support@example.com"}
FIDELITY_BASE = {"JICKET_JIRA_PROJECT": "HD", "JICKET_TICKET_ADDRESS": "help@example.com"}


def lookup(values):
    return lambda name: values.get(name)


def test_defaults_are_those_of_jicket_062():
    settings = load_settings(lookup(BASE), TEMPLATE)
    assert settings.folder_inbox == "INBOX"
    assert settings.folder_success == "jicket"
    assert settings.ids.prefix == "JI-" and settings.ids.salt == "JicketSalt" and settings.ids.min_length == 6
    assert settings.imap_conn_id == "jicket_imap"


def test_minlen_uses_the_real_062_name_and_the_documented_alias():
    assert load_settings(lookup({**BASE, "JICKET_ID_MINLEN": "8"}), TEMPLATE).ids.min_length == 8
    assert load_settings(lookup({**BASE, "JICKET_ID_MINLENGTH": "9"}), TEMPLATE).ids.min_length == 9


@pytest.mark.parametrize(("values", "setting"), [
    ({"JICKET_TICKET_ADDRESS": "a@b.c"}, "JICKET_JIRA_PROJECT"),
    ({**BASE, "JICKET_JIRA_PROJECT": "not a key!"}, "JICKET_JIRA_PROJECT"),
    ({**BASE, "JICKET_TICKET_ADDRESS": "nobody"}, "JICKET_TICKET_ADDRESS"),
    ({**BASE, "JICKET_FOLDER_SUCCESS": "INBOX"}, "JICKET_FOLDER_SUCCESS"),
    ({**BASE, "JICKET_THREAD_TEMPLATE": "/nonexistent/t.html"}, "JICKET_THREAD_TEMPLATE"),
    ({**BASE, "JICKET_FILTER_CONFIG": "/nonexistent/f.json"}, "JICKET_FILTER_CONFIG"),
    ({**BASE, "JICKET_ID_MINLEN": "six"}, "JICKET_ID_MINLEN"),
    ({**BASE, "JICKET_ID_ALPHABET": "ABC"}, "JICKET_ID_ALPHABET"),
    ({**BASE, "JICKET_JIRA_CONCURRENCY": "0"}, "JICKET_JIRA_CONCURRENCY"),
])
def test_invalid_settings_name_the_setting(values, setting):
    with pytest.raises(ConfigError) as info:
        load_settings(lookup(values), TEMPLATE)
    assert info.value.setting == setting


def test_schedule():
    assert load_schedule(lookup({})).loop_mode == "dynamic"
    schedule = load_schedule(lookup({"JICKET_LOOPMODE": "Interval", "JICKET_LOOPTIME": "120"}))
    assert schedule.loop_mode == "interval" and schedule.loop_time == timedelta(seconds=120)
    with pytest.raises(ConfigError, match="JICKET_LOOPMODE"):
        load_schedule(lookup({"JICKET_LOOPMODE": "sometimes"}))
    with pytest.raises(ConfigError, match="JICKET_LOOPTIME"):
        load_schedule(lookup({"JICKET_LOOPTIME": "-1"}))


def test_airflow_variable_environment_wins_over_plain_environment():
    read = environment_lookup({"AIRFLOW_VAR_JICKET_LOOPTIME": "5", "JICKET_LOOPTIME": "7"})
    assert read("JICKET_LOOPTIME") == "5"


def test_fidelity_settings_defaults_and_values():
    settings = load_settings(FIDELITY_BASE.get, TEMPLATE)
    assert (settings.attachment_max_bytes, settings.reply_strip_quotes, settings.reply_attach_original,
            settings.resolved_policy, settings.jira_set_reporter, settings.jira_add_watchers) == \
        (10 * 1024 * 1024, True, False, "reopen", False, False)
    custom = load_settings({**FIDELITY_BASE, "JICKET_ATTACHMENT_MAX_BYTES": "2M", "JICKET_REPLY_LANGUAGES": "de, en",
                            "JICKET_RESOLVED_POLICY": "NEW", "JICKET_JIRA_ADD_WATCHERS": "yes"}.get, TEMPLATE)
    assert (custom.attachment_max_bytes, custom.reply_languages, custom.resolved_policy, custom.jira_add_watchers) \
        == (2 * 1024 * 1024, ("de", "en"), "new", True)


@pytest.mark.parametrize(("name", "value"), [
    ("JICKET_ATTACHMENT_MAX_BYTES", "ten megs"), ("JICKET_ATTACHMENT_MAX_BYTES", "3G"),
    ("JICKET_REPLY_STRIP_QUOTES", "maybe"), ("JICKET_REPLY_ATTACH_ORIGINAL", "2"),
    ("JICKET_REPLY_LANGUAGES", "en,xx"), ("JICKET_RESOLVED_POLICY", "ignore"),
    ("JICKET_RESOLVED_LINK_TYPE", 'a"b'), ("JICKET_JIRA_SET_REPORTER", "sure"), ("JICKET_JIRA_ADD_WATCHERS", "-"),
])
def test_invalid_fidelity_settings_name_the_setting(name, value):
    with pytest.raises(ConfigError, match=name):
        load_settings({**FIDELITY_BASE, name: value}.get, TEMPLATE)
