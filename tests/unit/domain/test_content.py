"""domain.content: the text and files Jira gets for one parsed mail."""

from jicket_ops.domain.content import ContentOptions, mail_content
from jicket_ops.domain.parsing import parse_mail

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
