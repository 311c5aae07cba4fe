"""Jicket's own mail is known by its signed Message-ID, never by the From address (issue 14, item 1).

A confirmation Jicket sent carries a Message-ID of Jicket's form and ``X-Jicket-Signature``, an HMAC-SHA256
of that Message-ID under the deployment's secret. Staff answering from the shared helpdesk address are
imported like anyone else; a forged or replayed-looking header from outside hides nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from email import policy
from email.parser import BytesParser

import pytest

from jicket_ops.domain.answer_policy import answer_verdict
from jicket_ops.domain.parsing import MailHeaders, parse_headers
from jicket_ops.domain.rendering import ThreadTemplate, confirmation_mail
from jicket_ops.domain.routing import Route, is_own_mail, mail_signature, route_mail, sent_message_id
from jicket_ops.domain.settings import environment_lookup, load_settings, mail_secret
from jicket_ops.errors import ConfigError
from tests.support import COMPANY_HELPDESK, IDS, TEMPLATE

SECRET = b"unit-test-secret-0123456789abcdef"
CONFIRM = sent_message_id(IDS, "KR532ELDTD", "confirm", "company.com")


def routed(secret: bytes = SECRET, **fields):
    headers = MailHeaders(**{"from_address": "foo@customer.com", "subject": "Feature XY broken", **fields})
    return route_mail(headers, uid=7, uidvalidity=1234, ids=IDS, ticket_address=COMPANY_HELPDESK, project="HD",
                      secret=secret)


def test_signature_is_hmac_sha256_of_the_message_id():
    expected = hmac.new(SECRET, CONFIRM.encode(), hashlib.sha256).hexdigest()
    assert mail_signature(SECRET, CONFIRM) == f"v1={expected}"
    assert mail_signature(b"another secret", CONFIRM) != mail_signature(SECRET, CONFIRM)


def test_the_confirmation_jicket_renders_comes_back_as_own_mail():
    customer = MailHeaders(from_address="foo@customer.com", from_display="Foo <foo@customer.com>",
                           subject="Printer broken", message_id="<first@customer.com>")
    message = confirmation_mail(headers=customer, ids=IDS, ticket_id="KR532ELDTD", ticket_address=COMPANY_HELPDESK,
                                template=ThreadTemplate.load(TEMPLATE.read_text()), secret=SECRET)
    assert message["X-Jicket-Signature"] == mail_signature(SECRET, message["Message-ID"])
    # The helpdesk's copy, as IMAP returns its header block.
    back = parse_headers(message.as_bytes(policy=policy.SMTP).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")
    decision = route_mail(back, uid=9, uidvalidity=1234, ids=IDS, ticket_address=COMPANY_HELPDESK, secret=SECRET)
    assert decision.route is Route.OWN_MAIL
    assert decision.ticket_id == "KR532ELDTD"
    # Without a secret the same renderer signs nothing.
    unsigned = confirmation_mail(headers=customer, ids=IDS, ticket_id="KR532ELDTD", ticket_address=COMPANY_HELPDESK,
                                 template=ThreadTemplate.load(TEMPLATE.read_text()))
    assert unsigned["X-Jicket-Signature"] is None


def test_staff_reply_from_the_shared_address_is_a_comment_not_own_mail():
    decision = routed(from_address=COMPANY_HELPDESK, from_display=f"Jane Doe via Support <{COMPANY_HELPDESK}>",
                      subject="RE: [#JI-KR532ELDTD] Printer broken", message_id="<staff.1@company.com>",
                      in_reply_to=CONFIRM, references=(CONFIRM,))
    assert (decision.route, decision.ticket_id) == (Route.REPLY, "KR532ELDTD")
    assert is_own_mail(MailHeaders(from_address=COMPANY_HELPDESK, message_id="<x@company.com>"),
                       COMPANY_HELPDESK, SECRET) is None


def test_staff_mail_from_the_shared_address_opening_a_ticket_is_imported_but_never_answered():
    headers = MailHeaders(from_address=COMPANY_HELPDESK, subject="Server room too warm", message_id="<s@company.com>")
    decision = route_mail(headers, uid=7, uidvalidity=1234, ids=IDS, ticket_address=COMPANY_HELPDESK, secret=SECRET)
    assert decision.route is Route.NEW
    verdict = answer_verdict(headers, COMPANY_HELPDESK.upper())
    assert not verdict.answer and "helpdesk's own address" in verdict.reason


@pytest.mark.parametrize("fields", [
    # a customer copying Jicket's headers without knowing the secret
    {"message_id": CONFIRM, "jicket_hash_id": "KR532ELDTD", "jicket_signature": "v1=" + "0" * 64},
    {"message_id": CONFIRM, "jicket_hash_id": "KR532ELDTD", "jicket_signature": mail_signature(b"guess", CONFIRM)},
    {"message_id": CONFIRM, "jicket_hash_id": "KR532ELDTD"},  # the Message-ID form alone proves nothing
    # a valid signature pasted onto a mail whose Message-ID is not Jicket's form
    {"message_id": "<mine@customer.com>", "jicket_signature": mail_signature(SECRET, "<mine@customer.com>")},
    # the old rule: the helpdesk's address as sender
    {"from_address": COMPANY_HELPDESK, "message_id": CONFIRM, "jicket_hash_id": "KR532ELDTD"},
    # jicket 0.6.2's header from an outsider
    {"jicket_initial_reply_id": "<a@b>", "in_reply_to": "<a@b>", "jicket_hash_id": "ZOZ2P6"},
])
def test_forged_jicket_headers_do_not_hide_a_mail(fields):
    decision = routed(subject="[#JI-KR532ELDTD] please help", **fields)
    assert decision.route is not Route.OWN_MAIL
    assert decision.writes_jira


def test_an_empty_secret_recognises_nothing():
    signed = {"message_id": CONFIRM, "jicket_hash_id": "KR532ELDTD", "jicket_signature": mail_signature(b"", CONFIRM)}
    assert routed(secret=b"", **signed).route is Route.REPLY


def test_a_062_confirmation_from_the_helpdesk_address_is_still_own_mail():
    decision = routed(from_address=COMPANY_HELPDESK, jicket_initial_reply_id="<a@b>", in_reply_to="<a@b>",
                      jicket_hash_id="ZOZ2P6")
    assert decision.route is Route.OWN_MAIL


def test_mail_secret_from_the_setting_or_derived_from_the_imap_password():
    env = {"JICKET_JIRA_PROJECT": "HD", "JICKET_TICKET_ADDRESS": COMPANY_HELPDESK}
    settings = load_settings(environment_lookup(env), TEMPLATE)
    assert "topsecret" not in repr(replace(settings, mail_secret=b"topsecret-value"))  # never in a log line
    explicit = mail_secret(environment_lookup({**env, "JICKET_MAIL_SECRET": "s" * 20}), settings, "pw")
    assert explicit == (b"s" * 20, "JICKET_MAIL_SECRET")
    derived, source = mail_secret(environment_lookup(env), settings, "imap-password")
    assert source.startswith("derived") and len(derived) == 32
    assert mail_secret(environment_lookup(env), settings, "imap-password")[0] == derived  # stable across tasks
    assert mail_secret(environment_lookup(env), settings, "other-password")[0] != derived
    weak, source = mail_secret(environment_lookup(env), settings, None)
    assert source.startswith("weak") and weak not in (derived, b"")
    with pytest.raises(ConfigError, match="JICKET_MAIL_SECRET"):
        mail_secret(environment_lookup({**env, "JICKET_MAIL_SECRET": "short"}), settings, None)


def test_the_signature_survives_a_real_header_round_trip():
    raw = (f"From: Support <{COMPANY_HELPDESK}>\r\nMessage-ID: {CONFIRM}\r\nX-Jicket-HashID: KR532ELDTD\r\n"
           f"X-Jicket-Signature: {mail_signature(SECRET, CONFIRM)}\r\nSubject: x\r\n\r\n").encode()
    assert BytesParser(policy=policy.default).parsebytes(raw)["X-Jicket-Signature"].startswith("v1=")
    assert is_own_mail(parse_headers(raw), COMPANY_HELPDESK, SECRET)
    assert is_own_mail(parse_headers(raw), COMPANY_HELPDESK, b"rotated-secret") is None
