"""orchestration.connections: a jicket 0.6.2 env.list becomes Airflow connections (TLS on); defined ones win."""

import os

import pytest

from jicket_ops.errors import ConfigError
from jicket_ops.orchestration.connections import ensure_connections, imap_connection, jira_connection, smtp_connection

ENV_LIST = {
    "JICKET_IMAP_HOST": "imap.example.com", "JICKET_IMAP_USER": "foo@example.com",
    "JICKET_IMAP_PASS": "correcthorsebatterystaple", "JICKET_SMTP_HOST": "smtp.example.com",
    "JICKET_JIRA_URL": "jira.example.com", "JICKET_JIRA_USER": "bot", "JICKET_JIRA_PASS": "pw",
}


def lookup(values):
    return lambda name: values.get(name)


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


@pytest.mark.parametrize(("port", "tls"), [("993", "ssl"), ("1993", "ssl"), ("10993", "ssl"), ("143", "starttls")])
def test_062_imap_port_other_than_143_means_implicit_tls_as_in_062(port, tls):
    # jicket 0.6.2 used IMAP4_SSL whatever the port: an IMAPS listener on a custom port must keep working.
    imap = imap_connection(lookup({**ENV_LIST, "JICKET_IMAP_PORT": port}), "jicket_imap")
    assert imap["port"] == int(port) and imap["extra"]["tls"] == tls
    forced = imap_connection(lookup({**ENV_LIST, "JICKET_IMAP_PORT": port, "JICKET_IMAP_TLS": "starttls"}), "x")
    assert forced["extra"]["tls"] == "starttls"


def test_062_jira_token_becomes_a_bearer_connection_without_user_or_password():
    env = {k: v for k, v in ENV_LIST.items() if k not in ("JICKET_JIRA_USER", "JICKET_JIRA_PASS")}
    jira = jira_connection(lookup({**env, "JICKET_JIRA_TOKEN": "pat-123"}), "jicket_jira")
    assert jira["extra"]["token"] == "pat-123" and "login" not in jira and "password" not in jira
    with pytest.raises(ConfigError) as info:
        jira_connection(lookup(env), "jicket_jira")
    assert info.value.setting == "JICKET_JIRA_USER"


def test_a_connection_from_062_variables_is_defined_for_the_hooks_not_the_environment(monkeypatch):
    from jicket_ops.adapters.defined_connections import defined
    from jicket_ops.adapters.imap import JicketImapHook

    monkeypatch.delenv("AIRFLOW_CONN_JICKET_IMAP", raising=False)
    monkeypatch.setattr("jicket_ops.adapters.defined_connections._defined", {})
    ensure_connections(lookup(ENV_LIST), {"imap": "jicket_imap"}, lambda conn_id: False)
    assert "AIRFLOW_CONN_JICKET_IMAP" not in os.environ
    assert defined("jicket_imap")["host"] == ENV_LIST["JICKET_IMAP_HOST"]
    connection = JicketImapHook(imap_conn_id="jicket_imap").get_connection("jicket_imap")
    assert (connection.host, connection.login, connection.extra_dejson["tls"]) == (
        ENV_LIST["JICKET_IMAP_HOST"], ENV_LIST["JICKET_IMAP_USER"], "ssl")
