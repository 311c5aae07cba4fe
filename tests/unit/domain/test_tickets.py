"""domain.tickets: a Jira issue as Jicket reads it (markers, attachments, the files its texts announce)."""

from jicket_ops.domain.rendering import mail_marker
from jicket_ops.domain.tickets import Transition
from tests.support import make_ticket as ticket


def test_ticket_reads_the_attachment_list_of_its_texts():
    mail = "b" * 20
    text = f"From: x\n\nbody\n\n_Jicket attachments:_ [^a.pdf], [^b (2).png]\n\n{mail_marker(mail)}"
    t = ticket(texts=(text,), attachments=(("a.pdf", 10),),
               transitions=(Transition("3", "Reopen Issue", "new"),))
    assert t.intended_attachments(mail) == ["a.pdf", "b (2).png"]
    assert t.holds_attachment("a.pdf", 10) and not t.holds_attachment("a.pdf", 11)
    assert t.intended_attachments("c" * 20) is None
