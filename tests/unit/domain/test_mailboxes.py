"""domain.mailboxes: the mailbox list (JSON), each mailbox's settings as overrides of the deployment's, and
validation errors that name the mailbox and the key."""

import json
from datetime import timedelta

import pytest

from jicket_ops.domain.mailboxes import Mailbox, MailboxConfigError, find_mailbox, parse_mailboxes
from jicket_ops.domain.settings import load_schedule, load_settings
from jicket_ops.errors import ConfigError
from tests.support import TEMPLATE

DEPLOYMENT = {"JICKET_TICKET_ADDRESS": "support@example.com", "JICKET_JIRA_CONCURRENCY": "6",
              "JICKET_LOOPTIME": "120"}
TWO = [
    {"name": "support", "project": "SUP", "id_prefix": "SU-", "id_salt": "s1", "imap_conn_id": "imap_support",
     "labels": ["mail", "support"], "schedule": {"loop_mode": "interval", "loop_time": 30}},
    {"name": "billing", "project": "BILL", "id_prefix": "BI-", "imap_conn_id": "imap_billing",
     "ticket_address": "billing@example.com", "JICKET_JIRA_CONCURRENCY": 2, "service_desk": "BILL",
     "request_type": "Emailed request", "jsm_staff_domains": ["example.com"]},
]


def test_each_mailbox_overrides_the_deployment_settings():
    support, billing = parse_mailboxes(json.dumps(TWO), base=DEPLOYMENT.get)
    assert (support.name, support.dag_id, billing.dag_id) == ("support", "jicket_support", "jicket_billing")
    s = load_settings(support.lookup(DEPLOYMENT.get), TEMPLATE)
    b = load_settings(billing.lookup(DEPLOYMENT.get), TEMPLATE)
    assert (s.jira_project, s.ids.prefix, s.ids.salt, s.imap_conn_id) == ("SUP", "SU-", "s1", "imap_support")
    assert (b.jira_project, b.ids.prefix, b.ids.salt, b.imap_conn_id) == ("BILL", "BI-", "JicketSalt", "imap_billing")
    assert s.ticket_address == "support@example.com" and b.ticket_address == "billing@example.com"
    assert (s.jira_concurrency, b.jira_concurrency) == (6, 2)  # the deployment's value unless overridden
    assert s.jira_labels == ("mail", "support") and b.jira_labels == ()
    assert (s.jsm_service_desk, b.jsm_service_desk, b.jsm_request_type) == (None, "BILL", "Emailed request")
    assert b.jsm_staff_domains == ("example.com",)
    assert load_schedule(support.lookup(DEPLOYMENT.get)).loop_mode == "interval"
    assert load_schedule(support.lookup(DEPLOYMENT.get)).loop_time == timedelta(seconds=30)
    assert load_schedule(billing.lookup(DEPLOYMENT.get)).loop_time == timedelta(seconds=120)
    assert find_mailbox((support, billing), "billing") is billing


@pytest.mark.parametrize(("entries", "mailbox", "key", "text"), [
    ([{"project": "A"}], None, "name", "'name' must be"),
    ([{"name": "Support", "project": "A"}], None, "name", "a-z, 0-9"),
    ([{"name": "a", "project": "A"}, {"name": "a", "project": "B", "id_prefix": "B-", "imap_conn_id": "x"}],
     "a", "name", "appears twice"),
    ([{"name": "a"}], "a", "project", "is required"),
    ([{"name": "a", "project": "A", "colour": "red"}], "a", "colour", "unknown key"),
    ([{"name": "a", "project": "A", "schedule": {"every": 5}}], "a", "schedule.every", "unknown schedule key"),
    ([{"name": "a", "project": "A", "schedule": "hourly"}], "a", "schedule", "must be an object"),
    ([{"name": "a", "project": "A", "request_type": "Emailed request"}], "a", "request_type", "service_desk"),
    ([{"name": "a", "project": "A", "template": None}], "a", "template", "must not be null"),
    ([{"name": "a", "project": "A", "labels": [["x"]]}], "a", "labels", "must be a string"),
    ([{"name": "a", "project": "A", "JICKET_ALERT_ADDRESS": "x@y"}], "a", "JICKET_ALERT_ADDRESS", "once per"),
    ([{"name": "a", "project": "A", "JICKET_JIRA_PROJECT": "B"}], "a", "JICKET_JIRA_PROJECT", "twice"),
    ([{"name": "a", "project": "A"}, {"name": "b", "project": "B", "id_prefix": "B-"}], "b", "imap_conn_id",
     "like mailbox 'a'"),
    ([{"name": "a", "project": "A", "imap_conn_id": "i1"}, {"name": "b", "project": "B", "imap_conn_id": "i2"}],
     "b", "id_prefix", "'JI-' like mailbox 'a'"),
])
def test_invalid_entries_name_the_mailbox_and_the_key(entries, mailbox, key, text):
    with pytest.raises(MailboxConfigError) as caught:
        parse_mailboxes(json.dumps(entries), "/etc/jicket/mailboxes.json", base={}.get)
    assert isinstance(caught.value, ConfigError)
    assert (caught.value.mailbox, caught.value.key) == (mailbox, key)
    assert text in str(caught.value) and "/etc/jicket/mailboxes.json" in str(caught.value)


@pytest.mark.parametrize(("text", "problem"), [("{", "not valid JSON"), ('{"name": "a"}', "must be a JSON list"),
                                               ('["a"]', "entry 0 must be an object")])
def test_malformed_lists_are_refused(text, problem):
    with pytest.raises(MailboxConfigError, match=problem):
        parse_mailboxes(text)


def test_the_same_folder_of_one_connection_may_serve_only_one_mailbox_but_folders_may_differ():
    entries = [{"name": "a", "project": "A", "id_prefix": "A-"},
               {"name": "b", "project": "B", "id_prefix": "B-", "folder_inbox": "INBOX.billing"}]
    assert [m.name for m in parse_mailboxes(json.dumps(entries), base={}.get)] == ["a", "b"]


def test_a_mailbox_setting_still_fails_validation_with_its_setting_named():
    (mailbox,) = parse_mailboxes(json.dumps([{"name": "a", "project": "not a key"}]))
    with pytest.raises(ConfigError, match="JICKET_JIRA_PROJECT"):
        load_settings(mailbox.lookup({"JICKET_TICKET_ADDRESS": "a@b.c"}.get), TEMPLATE)


def test_find_mailbox_names_the_known_ones():
    with pytest.raises(MailboxConfigError, match="no mailbox 'x' \\(known: a\\)"):
        find_mailbox((Mailbox("a", {}),), "x")
