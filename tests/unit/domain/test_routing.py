"""domain.routing: new ticket, reply (by header, subject tag, thread reference or issue key), own mail,
automatic replies and bounces."""

from jicket_ops.domain.parsing import message_id_key, parse_mail
from jicket_ops.domain.routing import Route, bounce_ticket, sent_message_id
from tests.support import IDS, route_in

CONFIRM = sent_message_id(IDS, "KR532ELDTD", "confirm", "company.com")


def route(**fields):
    """Routing without a Jira project: issue keys in the subject are not looked for."""
    return route_in(None, **fields)


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


def test_hostile_header_id_is_not_trusted():
    decision = route(jicket_hash_id='") OR project = X', subject="plain")
    assert decision.route is Route.NEW


def test_auto_replies_belonging_to_a_ticket_are_marked_those_without_are_new():
    ooo = route_in(subject="Automatic reply: [#JI-KR532ELDTD] x", auto_submitted="auto-replied")
    assert (ooo.route, ooo.ticket_id, ooo.kind) == (Route.AUTO_REPLY, "KR532ELDTD", "auto_reply")
    assert route_in(subject="Abwesenheitsnotiz: x", x_autoreply="yes", in_reply_to=CONFIRM).route is Route.AUTO_REPLY
    assert route_in(subject="Out of Office", auto_submitted="auto-generated").route is Route.NEW
    assert route_in(subject="Automatic reply needed for my account").route is Route.NEW  # a person, no header
    assert route_in(subject="Re: x", auto_submitted="no", in_reply_to=CONFIRM).route is Route.REPLY


def test_bounces_are_recognised_and_name_their_ticket_from_the_returned_mail():
    dsn = route_in(subject="Undelivered Mail", from_address="MAILER-DAEMON@mx.example",
                   content_type="multipart/report; report-type=delivery-status; boundary=x")
    assert (dsn.route, dsn.ticket_id) == (Route.BOUNCE, "")
    raw = (b"From: MAILER-DAEMON@mx.example\r\nSubject: failure\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--B\r\n"
           b"Content-Type: message/rfc822\r\n\r\nMessage-ID: " + CONFIRM.encode()
           + b"\r\nSubject: x\r\n\r\nbody\r\n--B--\r\n")
    assert bounce_ticket(parse_mail(raw), IDS)[0] == "KR532ELDTD"
    assert bounce_ticket(parse_mail(b"From: postmaster@x\r\n\r\nnothing here\r\n"), IDS) is None


def test_issue_keys_of_the_project_and_answered_mails_route():
    assert route_in(subject="[HD-123] again").issue_key == "HD-123"
    assert route_in(subject="Re: HD-7 temperature").issue_key == "HD-7"
    assert route_in(subject="see XHD-7 and HD-07").issue_key is None
    assert route_in(subject="HD-5", project=None).issue_key is None
    new = route_in(references=("<a@x>", CONFIRM.replace("jicket.", "other.")), in_reply_to="<b@x>")
    assert new.route is Route.NEW and new.thread_keys[0] == message_id_key("<b@x>")
    assert route_in(subject="[#JI-KR532ELDTD] [HD-9]").issue_key is None  # the Jicket id wins
