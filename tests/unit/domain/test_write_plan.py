"""domain.write_plan: what a routed mail needs in Jira, from a lookup of what Jira holds."""

from jicket_ops.domain.parsing import message_id_key
from jicket_ops.domain.tickets import TicketLookup
from jicket_ops.domain.write_plan import WriteAction, plan_write
from tests.support import make_ticket as ticket
from tests.support import route_in


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


def test_a_mail_jira_holds_under_another_uid_is_not_written_again():
    """Folders mode looks each mail's own marker up: a mail moved out and back (new UID, new fallback id)
    whose issue or comment Jira holds is only finished."""
    from jicket_ops.domain.rendering import mail_marker
    from jicket_ops.domain.tickets import TicketLookup
    from jicket_ops.domain.write_plan import WriteAction, plan_write
    from tests.support import make_ticket, route_in

    mail = "c" * 20
    decision = route_in(subject="Printer broken")
    opened = make_ticket("HD-7", "SEEDT7", mails=[mail], opening_markers=frozenset({mail_marker(mail)}))
    plan = plan_write(decision, TicketLookup(by_mail={mail: opened}), mail)
    assert (plan.action, plan.ticket_id, plan.ticket) == (WriteAction.ALREADY_CREATED, "SEEDT7", opened)
    commented = make_ticket("HD-8", "SEEDT8", mails=[mail])
    plan = plan_write(decision, TicketLookup(by_mail={mail: commented}), mail)
    assert plan.action is WriteAction.ALREADY_COMMENTED and plan.ticket is commented
    assert plan_write(decision, TicketLookup(), mail).action is WriteAction.CREATE
