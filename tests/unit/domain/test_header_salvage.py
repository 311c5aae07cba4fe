"""Header salvage (issue 14, item 4): senders from broken addresses, a leading non-header line skipped, raw 8-bit
header bytes in legacy charsets decoded by detection, and mail keys unchanged for mails that parsed before."""

from __future__ import annotations

import pytest

from jicket_ops.domain.parsing import (
    _header_end,
    header_charset,
    message_id_key,
    parse_headers,
    parse_mail,
    skip_leading_junk,
)


def raw_mail(sender: bytes, subject: bytes = b"Help", content_type: bytes = b"text/plain; charset=utf-8",
             message_id: bytes = b"<salvage-1@customer.example>", lead: bytes = b"") -> bytes:
    return (lead + b"From: " + sender + b"\r\nTo: helpdesk@example.test\r\nSubject: " + subject
            + b"\r\nDate: Mon, 04 Mar 2024 09:15:00 +0100\r\nMessage-ID: " + message_id
            + b"\r\nContent-Type: " + content_type + b"\r\n\r\nBody text.\r\n")


# -- addresses -----------------------------------------------------------------------------------------------
def test_spaces_inside_angle_brackets_become_a_quoted_local_part():
    mail = parse_mail(raw_mail(b'"x" <power quadrant system@example.com>'))
    assert mail.headers.from_address == '"power quadrant system"@example.com'
    assert mail.headers.from_display == 'x <"power quadrant system"@example.com>'
    assert any("has spaces" in d for d in mail.headers.defects)


def test_address_without_brackets_after_a_name():
    headers = parse_mail(raw_mail(b"Jane Doe jane.doe@customer.example")).headers
    assert (headers.from_address, headers.from_display) == ("jane.doe@customer.example",
                                                            "Jane Doe <jane.doe@customer.example>")
    assert any("no angle brackets" in d for d in headers.defects)


@pytest.mark.parametrize("sender", [b"<<<>>>", b"x <no at sign here>", b"x <a b@bad domain.example>",
                                    b'"q" <"quoted" part@example.com>'])
def test_no_address_is_invented(sender):
    headers = parse_mail(raw_mail(sender)).headers
    assert headers.from_address == ""
    assert "no usable From address" in headers.defects


def test_every_recovered_address_is_made_of_the_header_text():
    for sender in (b'"x" <power quadrant  system@example.com>', b"A B  c@d.example", b"Joe <j o e@x.example>"):
        address = parse_mail(raw_mail(sender)).headers.from_address
        assert address.replace('"', "") in " ".join(sender.decode().split())


def test_addresses_that_parsed_before_are_unchanged():
    for sender, address in ((b"Customer <c@customer.example>", "c@customer.example"),
                            (b"c@customer.example (Customer)", "c@customer.example"),
                            (b"Joe <joe@example.com", "joe@example.com"),
                            (b'X <"fl[ood]"@attacker.example>', '"fl[ood]"@attacker.example')):
        assert parse_mail(raw_mail(sender)).headers.from_address == address


# -- leading non-header lines --------------------------------------------------------------------------------
@pytest.mark.parametrize("lead", [b"---------- Forwarded message ---------\r\n",
                                  b">From jane@customer.example Mon Mar  4 09:15:00 2024\r\n",
                                  b"junk one\r\njunk two\r\n"])
def test_leading_non_header_lines_are_skipped(lead):
    raw = raw_mail(b"Jane <jane@customer.example>", lead=lead)
    mail = parse_mail(raw)
    assert mail.headers.from_address == "jane@customer.example"
    assert mail.headers.subject == "Help" and mail.text == "Body text."
    assert mail.headers.mail_key() == parse_mail(raw_mail(b"Jane <jane@customer.example>")).headers.mail_key()
    assert any("before the header skipped" in d for d in mail.defects)
    assert mail.raw == raw  # the original keeps its first line
    # the header-only parse (as routing gets it) agrees
    assert parse_headers(raw[:_header_end(raw)]).mail_key() == mail.headers.mail_key()


def test_mbox_from_line_is_read_by_the_stdlib_without_a_defect():
    mail = parse_mail(raw_mail(b"Jane <jane@customer.example>", lead=b"From jane@customer.example Mon Mar 4\r\n"))
    assert mail.headers.from_address == "jane@customer.example" and mail.defects == ()


def test_skipping_is_bounded_and_stops_at_a_blank_line():
    block = raw_mail(b"Jane <jane@customer.example>")
    assert skip_leading_junk(b"x\r\n" * 6 + block)[1] == 0  # more lines than MAX_LEADING_JUNK
    assert skip_leading_junk(b"x\r\n" * 5 + block)[1] == 5
    # a blank line ends the header for the IMAP server too (Dovecot then returns no fields): nothing skipped
    assert skip_leading_junk(b"Forwarded message\r\n\r\n" + block)[1] == 0
    # one field line alone is no header block (a body starting "Note: ...")
    assert skip_leading_junk(b"Hello\r\nNote: see below\r\nmore text\r\n")[1] == 0


# -- raw 8-bit headers in legacy charsets --------------------------------------------------------------------
SAMPLES = [  # (charset, subject, display name): what real clients of each region write
    ("shift_jis", "プリンターが動きません（至急）", "山田 太郎"),
    ("shift_jis", "会議室の予約について", "佐藤 花子"),
    ("gbk", "打印机无法连接网络，请尽快处理", "王小明"),
    ("gbk", "关于发票的问题", "李华"),
    ("windows-1250", "Tiskárna nefunguje, prosím o pomoc", "Jiří Dvořák"),
    ("windows-1250", "Drukarka nie działa, proszę o pomoc", "Łukasz Wójcik"),
    ("koi8-r", "Не работает принтер", "Иван Петров"),
    ("koi8-r", "Счёт на оплату за март", "Ольга Смирнова"),
    ("windows-1251", "Не работает принтер", "Иван Петров"),
    ("windows-1252", "Problème avec l’imprimante", "François Müller"),
    ("windows-1252", "Señal débil en la oficina", "José Muñoz"),
]


def test_hungarian_needs_the_body_charset():
    """Known limit: Hungarian "ő" read as cp1252 is Portuguese-looking "õ", a tie that keeps cp1252; the body's
    declared charset (which Hungarian clients write) decides."""
    raw = raw_mail("Kovács Győző <k@customer.example>".encode("cp1250"), "Nyomtató hiba az irodában".encode("cp1250"),
                   b"text/plain; charset=windows-1250")
    assert parse_mail(raw).headers.from_display == "Kovács Győző <k@customer.example>"


@pytest.mark.parametrize("with_hint", [True, False], ids=["body-charset", "detected"])
@pytest.mark.parametrize(("charset", "subject", "name"), SAMPLES)
def test_legacy_8bit_subject_and_name_read_right(charset, subject, name, with_hint):
    content_type = f"text/plain; charset={charset}" if with_hint else "text/plain"
    raw = raw_mail(name.encode(charset) + b" <sender@customer.example>", subject.encode(charset),
                   content_type.encode())
    headers = parse_mail(raw).headers
    assert headers.subject == subject
    assert headers.from_display == f"{name} <sender@customer.example>"
    assert headers.from_address == "sender@customer.example"
    assert parse_headers(raw[:_header_end(raw)]) == headers  # routing's header-only parse agrees


def test_one_detection_per_mail_over_all_header_bytes():
    """A short name alone is ambiguous; with the subject beside it the mail's one charset is found."""
    raw = raw_mail("Иван".encode("koi8-r") + b" <i@customer.example>", "Не работает принтер".encode("koi8-r"),
                   b"text/plain")
    headers = parse_mail(raw).headers
    assert headers.from_display == "Иван <i@customer.example>"
    assert sum("read as koi8-r" in d for d in headers.defects) == 1


def test_utf8_headers_stay_utf8_beside_a_legacy_one():
    raw = raw_mail("Jürgen <j@customer.example>".encode(), "Problème à résoudre".encode("cp1252"), b"text/plain")
    headers = parse_mail(raw).headers
    assert headers.from_display == "Jürgen <j@customer.example>"
    assert headers.subject == "Problème à résoudre"


def test_address_with_legacy_bytes_is_refused_but_the_name_is_kept():
    raw = raw_mail("Jiří <jiří@customer.example>, Petr <petr@customer.example>".encode("cp1250"),
                   "Tiskárna nefunguje, prosím".encode("cp1250"), b"text/plain")
    headers = parse_mail(raw).headers
    assert headers.from_address == "petr@customer.example"  # never a guessed address
    assert any("is not valid UTF-8; ignored" in d for d in headers.defects)


def test_header_charset_prefers_the_hint_and_falls_back_to_cp1252():
    data = "Škoda".encode("cp1250")
    assert header_charset(data, "windows-1250") == ("cp1250", "the body's charset")
    assert header_charset(data, "us-ascii")[1] == "detected"  # an ASCII body says nothing about the header
    # a tie (French read as cp1250 is Slovak-looking "Problčme ŕ") keeps cp1252, as such headers were read before
    assert header_charset("Problème à résoudre".encode("cp1252")) == ("cp1252", "detected")


def test_mail_keys_without_message_id_unchanged_for_mails_that_parsed_before():
    """Keys issued before (the markers in Jira that threading and retries look up) must not move. The values
    were computed with the parser as it was before the salvage (commit ca31df3~1)."""
    pinned = {
        raw_mail(b"Customer <c@customer.example>", message_id=b""): "2807293412e878b1dc30",
        raw_mail("Jörg <j@customer.example>".encode(), "Überweisung".encode(), message_id=b""): "76111db2ff1e095f2399",
        raw_mail(b"Jane <jane@customer.example>", lead=b"From jane@customer.example Mon Mar 4\r\n",
                 message_id=b""): "4fc386416734e87ff197",
    }
    for raw, key in pinned.items():
        assert parse_mail(raw).headers.mail_key() == key
        assert parse_headers(raw[:_header_end(raw)]).mail_key() == key


def test_mail_key_with_message_id_is_the_message_id_hash():
    headers = parse_mail(raw_mail("Jörg <j@customer.example>".encode("cp1252"), "Größe".encode("cp1252"))).headers
    assert headers.mail_key() == message_id_key("<salvage-1@customer.example>")
