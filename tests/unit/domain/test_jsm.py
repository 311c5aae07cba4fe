"""domain.jsm: public or internal comments, request participants, the service-account note."""

import pytest

from jicket_ops.domain.jsm import comment_visibility, is_staff, participants_to_add, service_account_note

CUSTOMER = "ann@customer.example"
PARTICIPANT = "bob@customer.example"


@pytest.mark.parametrize(("sender", "staff_comments", "public", "why"), [
    (CUSTOMER, "internal", True, "is the customer"),
    ("ANN@Customer.Example", "internal", True, "is the customer"),
    (PARTICIPANT, "internal", True, "participant"),
    ("agent@corp.example", "internal", False, "is staff"),
    ("agent@eu.corp.example", "internal", False, "is staff"),  # subdomains of a staff domain are staff
    ("help@corp.example", "public", True, "is staff"),
    ("stranger@else.example", "internal", False, "neither the customer nor a participant"),
    ("stranger@else.example", "public", True, "neither"),
])
def test_comment_visibility(sender, staff_comments, public, why):
    seen = comment_visibility(sender, CUSTOMER, [PARTICIPANT], staff_domains=("corp.example",),
                              helpdesk="help@corp.example", staff_comments=staff_comments)
    assert seen.public is public and why in seen.reason


def test_staff_wins_over_participant_and_the_helpdesk_is_staff():
    assert not comment_visibility("agent@corp.example", CUSTOMER, ["agent@corp.example"],
                                  staff_domains=("@corp.example",)).public
    assert is_staff("support@x.example", (), helpdesk="Support@X.example")
    assert not is_staff("me@notcorp.example", ("corp.example",))


def test_a_request_raised_by_the_service_account_has_no_customer_to_match():
    assert not comment_visibility(CUSTOMER, None, []).public


def test_participants_are_the_ccd_customers():
    cc = ("Bob@Customer.example", CUSTOMER, "help@corp.example", "agent@corp.example", "bob@customer.example", "x")
    assert participants_to_add(cc, sender=CUSTOMER, helpdesk="help@corp.example",
                               staff_domains=("corp.example",)) == (PARTICIPANT,)


def test_service_account_note_names_the_sender():
    assert service_account_note(CUSTOMER, "signup closed") == f"raised by the service account for {CUSTOMER}: " \
                                                              "signup closed"
