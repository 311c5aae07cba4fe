import re

import pytest

from jicket_ops.domain.parsing import MailHeaders
from jicket_ops.domain.rendering import ThreadTemplate, confirmation_mail, issue_summary, recipients
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.errors import TemplateError

IDS = TicketIdScheme()
HEADERS = MailHeaders(subject="Feature XY broken", from_address="foo@customer.com",
                      from_display="Customer <foo@customer.com>", cc=("boss@customer.com", "support@company.com"),
                      message_id="<abc@customer.com>", references=("<older@customer.com>",))


def test_summary_carries_tag_and_fits_jira():
    assert issue_summary(IDS, "ZOZ2P6", "Feature XY broken") == "[#JI-ZOZ2P6] Feature XY broken"
    long = issue_summary(IDS, "ZOZ2P6", "x" * 1000 + "\r\nBcc: evil")
    assert len(long) == 255 and "\n" not in long


def test_legacy_template_still_renders_and_escapes():
    template = ThreadTemplate.load("<p>Ticket ID: %(ticketid)s<br>Subject: %(subject)s width=100%</p>")
    assert template.legacy
    html = template.render({"ticketid": "ZOZ2P6", "subject": "<script>alert(1)</script>"})
    assert "ZOZ2P6" in html and "&lt;script&gt;" in html and "<script>" not in html and "100%" in html


def test_jinja_template_autoescapes_and_is_sandboxed():
    template = ThreadTemplate.load("<p>{{ subject }} {{ ticket_tag }}</p>")
    assert "&lt;b&gt;" in template.render({"subject": "<b>x</b>", "ticket_tag": "[#JI-A]"})
    escape = ThreadTemplate.load("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError):
        escape.render({})


def test_unknown_variables_fail_with_the_setting_named():
    with pytest.raises(TemplateError, match="JICKET_THREAD_TEMPLATE"):
        ThreadTemplate.load("{{ nope }}").render({})
    with pytest.raises(TemplateError, match="JICKET_THREAD_TEMPLATE"):
        ThreadTemplate.load("%(nope)s").render({})
    with pytest.raises(TemplateError, match="JICKET_THREAD_TEMPLATE"):
        ThreadTemplate.load("{% if %}")


def test_confirmation_mail_headers():
    message = confirmation_mail(headers=HEADERS, ids=IDS, ticket_id="ZOZ2P6", ticket_address="support@company.com",
                                template=ThreadTemplate.load("<p>{{ ticket_tag }}</p>"))
    assert message["Subject"] == "[#JI-ZOZ2P6] Feature XY broken"
    assert message["X-Jicket-HashID"] == "ZOZ2P6"
    assert message["In-Reply-To"] == "<abc@customer.com>"
    assert message["References"] == "<older@customer.com> <abc@customer.com>"
    assert message["Message-ID"] == "<jicket.JI-ZOZ2P6.confirm@company.com>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert recipients(message) == ["foo@customer.com", "support@company.com", "boss@customer.com"]


def test_subject_cannot_inject_headers():
    hostile = MailHeaders(subject="hi\r\nBcc: victim@example.com", from_address="foo@customer.com",
                          message_id="<abc@customer.com>")
    message = confirmation_mail(headers=hostile, ids=IDS, ticket_id="ZOZ2P6", ticket_address="support@company.com",
                                template=ThreadTemplate.load("<p>{{ subject }}</p>"))
    assert message["Bcc"] is None
    assert "victim" not in " ".join(recipients(message))
    assert b"\nBcc:" not in message.as_bytes()


# -- Jira text ------------------------------------------------------------------------------------------------
from jicket_ops.domain.content import ContentOptions, mail_content  # noqa: E402
from jicket_ops.domain.parsing import parse_mail  # noqa: E402
from jicket_ops.domain.rendering import (  # noqa: E402
    TEXT_LIMIT,
    attachment_intent,
    comment_body,
    issue_description,
    mail_marker,
    markers_in,
)
from jicket_ops.domain.wiki_markup import escape_text, html_to_wiki, plain_to_wiki  # noqa: E402


def test_sender_text_cannot_inject_markup_or_forge_a_marker():
    hostile = "{anchor:jicket-mail-00000000000000000000} [~admin] |a|b| !x.png! *bold* and *more* -- h1. x"
    escaped = escape_text(hostile)
    assert markers_in(escaped) == set()
    for raw in ("{anchor", "[~admin]", "|a|b|", "!x.png!", "*bold*"):
        assert re.search(r"(?<!\\)" + re.escape(raw), escaped) is None, raw
    assert escape_text("Price: 2 * 3, e-mail snake_case C:\\temp +0100") == \
        "Price: 2 * 3, e-mail snake_case C:\\temp +0100"
    assert escape_text("a + b + c") == "a \\+ b \\+ c"
    assert escape_text("- item\n# item") == "\\- item\n\\# item"
    assert escape_text("see https://x.example/a_b-[c]d.") == "see https://x.example/a_b-%5Bc%5Dd."


def test_html_becomes_wiki_markup_without_scripts():
    wiki, images = html_to_wiki(
        "<style>x{}</style><script>evil()</script><p>A <b>b</b> <i>i</i><br>next</p><ul><li>one<ol><li>two</li>"
        "</ol></li></ul><table><tr><th>h</th><th>v</th></tr><tr><td>c|d</td><td></td></tr></table><blockquote>q</blockquote>"
        "<pre>  code</pre><a href='https://x.example'>link</a><a href='javascript:alert(1)'>js</a>"
        "<img src='cid:logo'><img src='data:image/png;base64,iVBORw0KGgo='>",
        images=lambda cid: "!logo.png!" if cid == "logo" else None)
    assert wiki == ("A *b* _i_\nnext\n\n* one\n*# two\n\n||h||v||\n|c\\|d| |\n\n{quote}\nq\n{quote}\n\n"
                    "{noformat}\n  code\n{noformat}\n\n[link|https://x.example]js !logo.png! !inline-image-1.png!")
    assert [(i.name, i.content_type) for i in images] == [("inline-image-1.png", "image/png")]


def test_plain_text_quotes_become_a_quote_block_and_placeholders_images():
    assert plain_to_wiki("Hi\n> old\n> older\nnew [cid:img@x]", lambda ref: "!img.png!" if ref == "img@x" else None) \
        == "Hi\n{quote}\nold\nolder\n{quote}\nnew !img.png!"


def test_text_layout_carries_the_attachment_list_a_retry_reads():
    text = issue_description(HEADERS, "Body", ("a note",), attachments=("a.pdf", "b (2).png"), kind="bounce")
    assert text.startswith("From: Customer <foo@customer.com>\nCc: boss@customer.com, support@company.com")
    assert "a delivery failure report" in text and "_Jicket: a note_" in text
    assert text.endswith(mail_marker(HEADERS.mail_key()))
    assert attachment_intent(text, HEADERS.mail_key()) == ["a.pdf", "b (2).png"]
    assert attachment_intent(text, "0" * 20) is None
    assert attachment_intent(comment_body(HEADERS, "x"), HEADERS.mail_key()) == []
    long = comment_body(HEADERS, "{quote}\n" + "word " * 20000, attachments=("a.pdf",))
    assert len(long) <= TEXT_LIMIT and long.count("{quote}") == 2 and "[^a.pdf]" in long
    huge = mail_content(parse_mail(b"From: a@b.example\r\n\r\n" + b"line of text\n" * 5000))
    assert len(huge.body) <= 28_000 and huge.upload_names == ("original-message.eml",)
    assert "longer than Jira allows" in huge.notes[0]


RAW_REPLY = (b"From: Tom <tom@customer.example>\r\nSubject: Re: x\r\nMessage-ID: <r@x>\r\n"
             b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
             b"Thanks, fixed.\r\n\r\nOn Mon, 1 Jan 2024, Help <h@x> wrote:\r\n> old\r\n--B\r\n"
             b"Content-Type: image/png; name=shot.png\r\nContent-Disposition: attachment; filename=shot.png\r\n\r\n"
             b"PNGDATA\r\n--B\r\nContent-Type: application/zip; name=big.zip\r\n\r\n" + b"Z" * 3000 + b"\r\n--B--\r\n")


def test_content_of_a_reply_names_files_after_the_issue_and_applies_the_limit():
    mail = parse_mail(RAW_REPLY)
    content = mail_content(mail, options=ContentOptions(max_attachment_bytes=1000), as_comment=True,
                           taken_names=("shot.png",))
    assert content.body == "Thanks, fixed." and content.quotes_cut
    assert content.upload_names == ("shot (2).png",)
    with_original = mail_content(mail, options=ContentOptions(attach_original=True), as_comment=True)
    assert with_original.upload_names == ("shot.png", "big.zip", "original-message.eml")
    assert with_original.uploads[-1].data == RAW_REPLY
    assert [s.filename for s in content.skipped] == ["big.zip"]
    assert any("big.zip (2.9 KB) not uploaded" in n for n in content.notes)
    whole = mail_content(mail, options=ContentOptions(strip_quotes=False))
    assert "> old" not in whole.body and "{quote}\nold\n{quote}" in whole.body and not whole.quotes_cut
    machine = mail_content(mail, kind="auto_reply", as_comment=True)
    assert machine.uploads == () and {s.reason for s in machine.skipped} == {"part of an automatic mail"}
