from jicket_ops.parsing import parse_headers, parse_mail

SIMPLE = (b"From: Customer <foo@customer.com>\r\nTo: support@company.com\r\nCc: boss@customer.com\r\n"
          b"Subject: Feature XY broken\r\nMessage-ID: <abc@customer.com>\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
          b"Content-Type: text/plain; charset=utf-8\r\n\r\nIt does not work.\r\n")


def test_plain_mail():
    mail = parse_mail(SIMPLE)
    assert mail.headers.from_address == "foo@customer.com"
    assert mail.headers.from_display == "Customer <foo@customer.com>"
    assert mail.headers.cc == ("boss@customer.com",)
    assert mail.headers.message_id == "<abc@customer.com>"
    assert mail.text == "It does not work."
    assert mail.defects == ()


def test_unknown_and_missing_charsets_do_not_raise():
    unknown = SIMPLE.replace(b"charset=utf-8", b"charset=x-unknown")
    unknown = unknown.replace(b"It does", "Es geht nicht, Grüße".encode())
    mail = parse_mail(unknown)
    assert "Grüße" in mail.text
    assert any("unknown charset" in d for d in mail.defects)
    latin = SIMPLE.replace(b"; charset=utf-8", b"").replace(b"It does", "Grüße".encode("latin-1"))
    assert "Grüße" in parse_mail(latin).text


def test_encoded_words_and_8bit_headers():
    raw = SIMPLE.replace(b"Subject: Feature XY broken", b"Subject: =?iso-8859-1?q?Gr=FC=DFe?= und mehr")
    assert parse_mail(raw).headers.subject == "Grüße und mehr"
    raw8 = SIMPLE.replace(b"Subject: Feature XY broken", "Subject: Ärger".encode())
    assert parse_headers(raw8.split(b"\r\n\r\n")[0]).subject == "Ärger"


def test_html_only_mail_becomes_text_and_attachments_are_kept():
    raw = (b"From: a@b.c\r\nSubject: s\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n"
           b"--XX\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Hello <b>world</b></p><script>x()</script>\r\n"
           b"--XX\r\nContent-Type: application/pdf; name=\"r.pdf\"\r\nContent-Disposition: attachment; "
           b"filename=\"r.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--XX--\r\n")
    mail = parse_mail(raw)
    assert "Hello" in mail.text and "world" in mail.text
    assert [(a.filename, a.content_type, a.data) for a in mail.attachments] == [("r.pdf", "application/pdf", b"%PDF-")]


def test_garbage_never_raises():
    for raw in (b"", b"\x00\xff\xfe garbage", b"Subject: x\r\nContent-Type: multipart/mixed\r\n\r\nno boundary",
                b"From: \r\nFrom: \r\n\r\n"):
        mail = parse_mail(raw)
        assert mail.headers.from_address == ""


def test_mail_key_is_stable_and_distinct():
    a = parse_mail(SIMPLE).headers
    b = parse_headers(SIMPLE.split(b"\r\n\r\n")[0] + b"\r\n\r\n")
    assert a.mail_key() == b.mail_key()
    other = parse_mail(SIMPLE.replace(b"<abc@", b"<abd@")).headers
    assert other.mail_key() != a.mail_key()


def test_header_roundtrip_through_xcom_dict():
    headers = parse_mail(SIMPLE).headers
    assert type(headers).from_dict(headers.as_dict()) == headers
