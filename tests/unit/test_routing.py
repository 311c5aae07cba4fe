from jicket_ops.parsing import MailHeaders
from jicket_ops.routing import Route, route_mail, sent_message_id
from jicket_ops.ticket_ids import TicketIdScheme

IDS = TicketIdScheme()
HELPDESK = "support@company.com"


def route(**fields):
    headers = MailHeaders(**{"from_address": "foo@customer.com", "subject": "Feature XY broken", **fields})
    return route_mail(headers, uid=7, uidvalidity=1234, ids=IDS, ticket_address=HELPDESK)


def test_new_mail_gets_an_id_from_uidvalidity_and_uid():
    decision = route()
    assert decision.route is Route.NEW
    assert decision.ticket_id == IDS.new_id(1234, 7)


def test_reply_by_subject_tag_legacy_id():
    decision = route(subject="RE: RE: [#JI-ZOZ2P6] Feature XY broken")
    assert (decision.route, decision.ticket_id) == (Route.REPLY, "ZOZ2P6")
    assert decision.fallback_ticket_id == IDS.new_id(1234, 7)


def test_reply_by_header_only():
    decision = route(subject="no tag", jicket_hash_id="ZOZ2P6")
    assert (decision.route, decision.ticket_id) == (Route.REPLY, "ZOZ2P6")


def test_reply_by_thread_reference_when_subject_lost_the_tag():
    ref = sent_message_id(IDS, "KR532ELDTD", "confirm", "company.com")
    decision = route(subject="AW: Feature XY broken", references=("<x@y>", ref))
    assert (decision.route, decision.ticket_id) == (Route.REPLY, "KR532ELDTD")


def test_own_confirmation_and_legacy_threadstarter_are_recognised():
    ref = sent_message_id(IDS, "KR532ELDTD", "confirm", "company.com")
    own = route(from_address=HELPDESK, message_id=ref, jicket_hash_id="KR532ELDTD", subject="[#JI-KR532ELDTD] x")
    assert own.route is Route.OWN_MAIL
    legacy = route(jicket_initial_reply_id="<a@b>", in_reply_to="<a@b>", jicket_hash_id="ZOZ2P6")
    assert legacy.route is Route.OWN_MAIL


def test_hostile_header_id_is_not_trusted():
    decision = route(jicket_hash_id='") OR project = X', subject="plain")
    assert decision.route is Route.NEW
