"""domain.rendering: issue summaries, the confirmation mail from the thread template, and the layout of the
texts Jicket writes to Jira (envelope, notes, attachment list, marker)."""

import pytest

from jicket_ops.domain.content import mail_content
from jicket_ops.domain.parsing import MailHeaders, parse_mail
from jicket_ops.domain.rendering import (
    TEXT_LIMIT,
    ThreadTemplate,
    attachment_intent,
    comment_body,
    confirmation_mail,
    issue_description,
    issue_summary,
    mail_marker,
    recipients,
)
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
