"""Staff answering from the shared helpdesk address are imported; Jicket's own copies are not (issue 14, item 1).

Jicket knows its own mail by the signed Message-ID it writes, never by the From address. Runs on the real stack
(Dovecot with keywords and Courier-IMAP without), with the key derived from the IMAP connection's password.
"""

from __future__ import annotations

import hashlib
import hmac

from tests.support import (
    CUSTOMER,
    HELPDESK,
    SUCCESS_FOLDER,
    TAG,
    deliver,
    make_mail,
    messages,
    only_issue,
    wait_for_messages,
)


def open_ticket(env, run_dag) -> tuple[str, object]:
    """A customer's mail becomes an issue; (ticket id, the helpdesk's copy of the confirmation)."""
    deliver(env, make_mail(subject="Printer broken"))
    state, tasks = run_dag()
    assert state == "success", tasks
    ticket_id = TAG.match(only_issue(env)["fields"]["summary"]).group(1)
    copies = [m.message for m in wait_for_messages(env, 1) if m.message["Message-ID"].startswith("<jicket.")]
    assert len(copies) == 1, "the helpdesk's copy of the confirmation is in the inbox"
    return ticket_id, copies[0]


def comments(env) -> list[str]:
    return [c["body"] for c in only_issue(env)["fields"]["comment"]["comments"]]


def test_confirmation_copy_is_skipped_and_a_staff_reply_from_the_shared_address_is_imported_once(env, run_dag):
    ticket_id, copy = open_ticket(env, run_dag)
    assert copy["From"].endswith(HELPDESK) or HELPDESK in copy["From"]
    assert str(copy["X-Jicket-Signature"]).strip().startswith("v1=")
    # Jane answers the customer from the shared mailbox ("Send As"), reply-all: the helpdesk gets a copy.
    deliver(env, make_mail(sender=f"Jane Doe via Support <{HELPDESK}>", to=CUSTOMER,
                           subject=f"RE: [#JI-{ticket_id}] Printer broken", body="We sent a technician.",
                           headers={"In-Reply-To": copy["Message-ID"], "References": copy["Message-ID"],
                                    "Cc": HELPDESK}))
    state, tasks = run_dag()
    assert state == "success", tasks
    bodies = comments(env)
    assert len(bodies) == 1, bodies
    assert "We sent a technician." in bodies[0]
    assert "Jane Doe via Support" in bodies[0], "the comment names the staff member"
    assert not any("Your ticket" in b or "ticket has been" in b for b in bodies), "the confirmation is no comment"
    # Nothing left over, nothing twice, and no answer to the staff reply.
    assert messages(env) == []
    assert len(messages(env, SUCCESS_FOLDER)) == 3
    assert run_dag()[0] == "success"
    assert len(comments(env)) == 1
    assert len(messages(env, user=CUSTOMER)) == 1, "only the first mail was confirmed"


def test_a_staff_member_opening_a_ticket_from_the_shared_address_gets_no_confirmation(env, run_dag):
    deliver(env, make_mail(sender=f"Jane Doe via Support <{HELPDESK}>", subject="Server room too warm"))
    state, tasks = run_dag()
    assert state == "success", tasks
    assert only_issue(env)["fields"]["summary"].endswith("Server room too warm")
    assert run_dag()[0] == "success"
    confirmations = [m for m in messages(env, SUCCESS_FOLDER) + messages(env)
                     if (m.message["Message-ID"] or "").startswith("<jicket.")]
    assert confirmations == [], "the helpdesk's own address is never answered"


def test_a_forged_jicket_header_from_outside_does_not_hide_a_customer_mail(env, run_dag):
    ticket_id, copy = open_ticket(env, run_dag)
    # The customer (who has seen the confirmation) copies its headers onto a new mail, without the secret.
    forged_id = f"<jicket.JI-{ticket_id}.confirm@customer.example.test>"
    guessed = "v1=" + hmac.new(b"JicketSalt", forged_id.encode(), hashlib.sha256).hexdigest()
    deliver(env, make_mail(subject=f"[#JI-{ticket_id}] still broken", body="Still broken, please hurry.",
                           message_id=forged_id,
                           headers={"X-Jicket-HashID": ticket_id, "X-Jicket-Signature": guessed,
                                    "Auto-Submitted": "no"}))
    # And a mail carrying the real confirmation's signature under another Message-ID.
    real_signature = str(copy["X-Jicket-Signature"]).strip()
    deliver(env, make_mail(subject=f"[#JI-{ticket_id}] one more thing", body="One more thing.",
                           headers={"X-Jicket-HashID": ticket_id, "X-Jicket-Signature": real_signature}))
    state, tasks = run_dag()
    assert state == "success", tasks
    bodies = comments(env)
    assert any("Still broken, please hurry." in b for b in bodies), bodies
    assert any("One more thing." in b for b in bodies), bodies
    assert len(bodies) == 2
