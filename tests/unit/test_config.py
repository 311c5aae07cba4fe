from datetime import timedelta

import pytest

from jicket_ops.domain.settings import environment_lookup, load_schedule, load_settings
from jicket_ops.errors import ConfigError
from jicket_ops.orchestration.connections import ensure_connections, imap_connection, jira_connection, smtp_connection
from tests.support import TEMPLATE

BASE = {"JICKET_JIRA_PROJECT": "SHD", "JICKET_TICKET_ADDRESS": "support@example.com"}


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


ENV_LIST = {
    "JICKET_IMAP_HOST": "imap.example.com", "JICKET_IMAP_USER": "foo@example.com",
    "JICKET_IMAP_PASS": "correcthorsebatterystaple", "JICKET_SMTP_HOST": "smtp.example.com",
    "JICKET_JIRA_URL": "jira.example.com", "JICKET_JIRA_USER": "bot", "JICKET_JIRA_PASS": "pw",
}


def test_062_env_list_becomes_connections_with_tls_on():
    imap = imap_connection(lookup(ENV_LIST), "jicket_imap")
    assert imap["port"] == 993 and imap["extra"]["tls"] == "ssl"
    smtp = smtp_connection(lookup(ENV_LIST), "jicket_smtp")
    # SMTP credentials default to IMAP's; 587 means STARTTLS
    assert smtp["login"] == "foo@example.com" and smtp["password"] == "correcthorsebatterystaple"
    assert smtp["port"] == 587 and smtp["extra"]["disable_ssl"] is True and smtp["extra"]["disable_tls"] is False
    jira = jira_connection(lookup(ENV_LIST), "jicket_jira")
    assert jira["host"] == "https://jira.example.com" and jira["extra"]["verify"] is True
    plain = imap_connection(lookup({**ENV_LIST, "JICKET_IMAP_PORT": "143"}), "jicket_imap")
    assert plain["extra"]["tls"] == "starttls"


def test_missing_connection_and_variables_name_both(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_JICKET_IMAP", raising=False)
    with pytest.raises(ConfigError) as info:
        ensure_connections(lookup({}), {"imap": "jicket_imap"}, lambda conn_id: False)
    assert info.value.setting == "JICKET_IMAP_HOST" and "jicket_imap" in str(info.value)


def test_defined_connections_are_left_alone(monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_JICKET_IMAP", raising=False)
    assert ensure_connections(lookup(ENV_LIST), {"imap": "jicket_imap"}, lambda conn_id: True) == []
    assert ensure_connections(lookup(ENV_LIST), {"imap": "jicket_imap"}, lambda conn_id: False) == ["jicket_imap"]
