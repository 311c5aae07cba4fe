"""domain.content: the text and files Jira gets for one parsed mail."""

import base64

from jicket_ops.domain.content import MAX_ATTACHMENTS, ORIGINAL_NAME, ContentOptions, mail_content
from jicket_ops.domain.parsing import parse_mail

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake").decode()

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


def test_inline_and_data_images_stand_where_the_html_showed_them():
    raw = ("From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/related; boundary=R\r\n\r\n"
           "--R\r\nContent-Type: text/html\r\n\r\n<p>Look <img src=\"cid:logo@x\"> here</p>"
           "<img src=\"data:image/png;base64," + PNG + "\">\r\n--R\r\nContent-Type: image/png; name=logo.png\r\n"
           "Content-ID: <logo@x>\r\nContent-Disposition: inline; filename=logo.png\r\n"
           "Content-Transfer-Encoding: base64\r\n\r\n" + PNG + "\r\n--R--\r\n").encode()
    content = mail_content(parse_mail(raw))
    assert content.body == "Look !logo.png! here\n\n!inline-image-1.png!"
    assert [(u.filename, u.content_type, u.inline) for u in content.uploads] == \
        [("logo.png", "image/png", True), ("inline-image-1.png", "image/png", True)]
    assert content.uploads[0].data == base64.b64decode(PNG) and content.notes == ()


def test_files_beyond_the_per_mail_maximum_are_skipped_with_a_note():
    parts = "".join(f"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=f{i}.pdf"
                    "\r\n\r\nx\r\n" for i in range(MAX_ATTACHMENTS + 1))
    mail = parse_mail(("From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"
                       "--B\r\nContent-Type: text/plain\r\n\r\nhi\r\n" + parts + "--B--\r\n").encode())
    content = mail_content(mail)
    assert content.upload_names == tuple(f"f{i}.pdf" for i in range(MAX_ATTACHMENTS))
    assert [(s.filename, s.reason) for s in content.skipped] == \
        [(f"f{MAX_ATTACHMENTS}.pdf", f"more than {MAX_ATTACHMENTS} files in one mail")]
    assert content.notes == (f"attachment f{MAX_ATTACHMENTS}.pdf (1 bytes) not uploaded: "
                             f"more than {MAX_ATTACHMENTS} files in one mail",)


def test_a_bounce_shows_its_delivery_status_and_uploads_nothing():
    raw = (b"From: MAILER-DAEMON@mx.example\r\nSubject: failure\r\nContent-Type: multipart/report; "
           b"report-type=delivery-status; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
           b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
           b"Final-Recipient: rfc822; x@y\r\nAction: failed\r\nStatus: 5.1.1\r\n--B\r\n"
           b"Content-Type: message/rfc822\r\n\r\nMessage-ID: <c@x>\r\nSubject: x\r\n\r\nbody\r\n--B--\r\n")
    content = mail_content(parse_mail(raw), kind="bounce", as_comment=True)
    assert content.kind == "bounce" and content.uploads == ()
    assert content.body.startswith("failed\n\n{quote}\n*Forwarded message*\nSubject: x\n\nbody\n")
    assert content.body.endswith("*Delivery status*\n{noformat}\nReporting-MTA: dns; mx.example\n\n"
                                 "Final-Recipient: rfc822; x@y\nAction: failed\nStatus: 5.1.1\n{noformat}")
    assert {s.reason for s in content.skipped} == {"part of an automatic mail"}
    assert all(note.endswith("not uploaded: part of an automatic mail") for note in content.notes)


def test_an_unreadable_mail_says_so_first_and_goes_along_as_the_original():
    raw = b"From: a@b.example\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\njust text, no parts\r\n"
    content = mail_content(parse_mail(raw))
    assert content.body == "just text, no parts"
    assert content.upload_names == (ORIGINAL_NAME,) and content.uploads[0].data == raw
    assert content.notes[0].startswith("this mail could not be fully understood (")
    assert any(note.startswith("mail defect: ") for note in content.notes[1:])


def test_only_a_persons_reply_loses_its_quotes_and_unknown_kinds_are_mail():
    mail = parse_mail(b"From: a@b.example\r\nSubject: Re: x\r\n\r\nThanks.\r\n\r\n"
                      b"On Mon, 1 Jan 2024, Help <h@x> wrote:\r\n> old\r\n")
    whole = "Thanks.\n\nOn Mon, 1 Jan 2024, Help <h@x> wrote:\n{quote}\nold\n{quote}"
    assert mail_content(mail, as_comment=True).body == "Thanks."
    machine = mail_content(mail, as_comment=True, kind="auto_reply")
    assert (machine.body, machine.quotes_cut) == (whole, False)
    assert mail_content(mail, as_comment=False).body == whole  # a new issue keeps the whole text
    assert mail_content(mail, kind="newsletter").kind == "mail"
