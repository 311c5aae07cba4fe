"""domain.reply_text: quoted history and signatures are cut from replies; a bottom post is kept."""

from jicket_ops.domain.reply_text import cut_text, kept_lines


def test_reply_history_and_signature_are_cut_but_not_a_bottom_post():
    text = "Works now.\n\nBest regards,\nTom\n\nOn Mon, 1 Jan 2024, Help <h@x> wrote:\n> old\n"
    assert cut_text(text) == ("Works now.", True)
    assert cut_text("Am 1. Jan schrieb Help <h@x>:\n> alt\n\nNeu darunter\n")[1] is False
    assert kept_lines("single line") is None
