from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.routing import Route, route_mail, sent_message_id
from jicket_ops.domain.ticket_ids import TicketIdScheme

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


# -- machine mail, issue keys, answered mails, bounces ------------------------------------------------------------
import pytest  # noqa: E402

from jicket_ops.domain.parsing import message_id_key, parse_mail  # noqa: E402
from jicket_ops.domain.rendering import mail_marker  # noqa: E402
from jicket_ops.domain.routing import bounce_ticket  # noqa: E402
from jicket_ops.domain.settings import load_settings  # noqa: E402
from jicket_ops.domain.tickets import Ticket, TicketLookup, Transition  # noqa: E402
from jicket_ops.domain.write_plan import WriteAction, plan_write  # noqa: E402
from jicket_ops.errors import ConfigError  # noqa: E402
from tests.support import TEMPLATE  # noqa: E402

CONFIRM = sent_message_id(IDS, "KR532ELDTD", "confirm", "company.com")


def route_in(project="HD", **fields):
    headers = MailHeaders(**{"from_address": "foo@customer.com", "subject": "Feature XY broken", **fields})
    return route_mail(headers, uid=7, uidvalidity=1234, ids=IDS, ticket_address=HELPDESK, project=project)


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


def ticket(key="HD-1", ticket_id="KR532ELDTD", category="new", mails=(), **extra):
    return Ticket(key=key, issue_id=1, summary=f"[#JI-{ticket_id}] x", status_category=category,
                  markers=frozenset(mail_marker(m) for m in mails), ticket_id=ticket_id, **extra)


def plan(decision, mail, policy="reopen", by_id=None, by_key=None, by_mail=None):
    found = plan_write(decision, TicketLookup(by_id or {}, by_key or {}, by_mail or {}), mail, policy)
    return found.action, found.ticket_id, found.ticket


def test_plan_write_by_id_key_answered_mail_and_resolved_policy():
    reply = route_in(subject="Re: [#JI-KR532ELDTD] x")
    own_id = reply.fallback_ticket_id
    mail = "a" * 20
    assert plan(reply, mail, by_id={"KR532ELDTD": ticket()})[0] is WriteAction.COMMENT
    assert plan(reply, mail, by_id={"KR532ELDTD": ticket(mails=[mail])})[0] is WriteAction.ALREADY_COMMENTED
    assert plan(reply, mail) == (WriteAction.CREATE, own_id, None)
    resolved = {"KR532ELDTD": ticket(category="done")}
    assert plan(reply, mail, "reopen", by_id=resolved)[0] is WriteAction.COMMENT
    assert plan(reply, mail, "new", by_id=resolved)[0] is WriteAction.CREATE
    followed = {**resolved, own_id: ticket("HD-9", own_id, mails=[mail])}
    assert plan(reply, mail, "new", by_id=followed)[:2] == (WriteAction.ALREADY_CREATED, own_id)
    by_key = route_in(subject="[HD-3] x")
    untagged = ticket("HD-3", None)
    assert plan(by_key, mail, by_key={"HD-3": untagged}) == (WriteAction.COMMENT, "", untagged)
    answering = route_in(in_reply_to="<first@customer>")
    holder = ticket("HD-4", "SEEDT1")
    assert plan(answering, mail, by_mail={message_id_key("<first@customer>"): holder}) == \
        (WriteAction.COMMENT, "SEEDT1", holder)
    ooo = route_in(subject="Automatic reply: [#JI-KR532ELDTD]", auto_submitted="auto-replied")
    assert plan(ooo, mail, "new", by_id=resolved)[0] is WriteAction.COMMENT  # machine mail never opens a follow-up


def test_ticket_reads_the_attachment_list_of_its_texts():
    mail = "b" * 20
    text = f"From: x\n\nbody\n\n_Jicket attachments:_ [^a.pdf], [^b (2).png]\n\n{mail_marker(mail)}"
    t = ticket(texts=(text,), attachments=(("a.pdf", 10),),
               transitions=(Transition("3", "Reopen Issue", "new"),))
    assert t.intended_attachments(mail) == ["a.pdf", "b (2).png"]
    assert t.holds_attachment("a.pdf", 10) and not t.holds_attachment("a.pdf", 11)
    assert t.intended_attachments("c" * 20) is None


BASE = {"JICKET_JIRA_PROJECT": "HD", "JICKET_TICKET_ADDRESS": "help@example.com"}


def test_fidelity_settings_defaults_and_values():
    settings = load_settings(BASE.get, TEMPLATE)
    assert (settings.attachment_max_bytes, settings.reply_strip_quotes, settings.reply_attach_original,
            settings.resolved_policy, settings.jira_set_reporter, settings.jira_add_watchers) == \
        (10 * 1024 * 1024, True, False, "reopen", False, False)
    custom = load_settings({**BASE, "JICKET_ATTACHMENT_MAX_BYTES": "2M", "JICKET_REPLY_LANGUAGES": "de, en",
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
        load_settings({**BASE, name: value}.get, TEMPLATE)
