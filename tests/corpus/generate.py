"""Write the real-world-style mail corpus: ``tests/corpus/mails/*.eml`` and ``manifest.json``.

Every mail is built here byte by byte (nothing is downloaded or copied), deterministic, so running
``python -m tests.corpus.generate`` reproduces the committed files exactly (a unit test checks it).
Each manifest entry says what ``jicket-inspect`` must report and where the mail must land in Jira:

- ``route``: the header-level route (new, reply, own_mail, filtered, auto_reply, bounce);
- ``ticket``: the seeded ticket the mail refers to (``A`` open, ``R`` resolved, ``K`` issue key
  without a Jicket tag, ``T`` holds the customer mail the mail answers), or null;
- ``jira``: ``issue`` (a new issue), ``comment:<seed>``, or null (nothing written);
- ``contains`` / ``absent``: text the Jira text must / must not hold;
- ``attachments``: files uploaded (name as sent, size, sha256); ``skipped``: names noted, not uploaded;
- ``unreadable``: the raw mail goes along as original-message.eml.

Seeds (created by the tests before a run, in this order: HD-1 .. HD-4): see ``SEEDS``.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import hashlib
import hmac
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAILS = HERE / "mails"
HELPDESK = "helpdesk@example.test"
DOMAIN = "example.test"
DATE = "Mon, 04 Mar 2024 09:15:00 +0100"
SEEDS = {
    "A": {"summary": "[#JI-SEEDA1] Printer on floor 2 jams", "ticket_id": "SEEDA1",
          "attachments": [["screenshot.png", 1000]]},
    "R": {"summary": "[#JI-SEEDR1] VPN drops every hour", "ticket_id": "SEEDR1", "resolved": True},
    "K": {"summary": "Server room temperature alarm", "ticket_id": None},
    "T": {"summary": "[#JI-SEEDT1] Invoice question", "ticket_id": "SEEDT1",
          "answered_message_id": "<original-7@customer.example>"},
}
CONFIRM_A = f"<jicket.JI-SEEDA1.confirm@{DOMAIN}>"
CONFIRM_R = f"<jicket.JI-SEEDR1.confirm@{DOMAIN}>"
# JICKET_MAIL_SECRET of corpus runs: Jicket's own mail carries an HMAC-SHA256 of its Message-ID under it.
MAIL_SECRET = "corpus-mail-secret-0123456789"
CONFIRM_A_SIGNATURE = "v1=" + hmac.new(MAIL_SECRET.encode(), CONFIRM_A.encode(), hashlib.sha256).hexdigest()
ATTACHMENT_LIMIT = 200 * 1024  # JICKET_ATTACHMENT_MAX_BYTES for corpus runs
FILTERS = {"blacklist": [{"description": "spam domain", "addresspattern": r".*@spam\.example"}]}


def blob(seed: str, size: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


PNG = b"\x89PNG\r\n\x1a\n" + blob("png", 600)
PNG2 = b"\x89PNG\r\n\x1a\n" + blob("png2", 300)
PDF = b"%PDF-1.4\n" + blob("pdf", 2000) + b"\n%%EOF\n"
DOCX = b"PK\x03\x04" + blob("docx", 1500)


def b64(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def crlf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\n", "\r\n")


def att(name: str, data: bytes, **extra) -> dict:
    return {"name": name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(), **extra}


class Corpus:
    def __init__(self) -> None:
        self.entries: list[dict] = []
        self.files: dict[str, bytes] = {}

    def add(self, slug: str, raw: bytes | str, *, route: str = "new", ticket: str | None = None,
            jira: str | None = "issue", contains: list[str] = (), absent: list[str] = (),
            attachments: list[dict] = (), skipped: list[str] = (), unreadable: bool = False,
            case: str = "", notes: list[str] = ()) -> None:
        number = len(self.entries) + 1
        name = f"{number:03d}-{slug}.eml"
        if isinstance(raw, str):
            raw = crlf(raw).encode("utf-8")
        self.files[name] = raw
        self.entries.append({"file": name, "case": case or slug.replace("-", " "), "route": route, "ticket": ticket,
                             "jira": jira, "contains": list(contains), "absent": list(absent),
                             "attachments": list(attachments), "skipped": list(skipped),
                             "unreadable": unreadable, "notes": list(notes)})


def head(n: int, subject: str | None = "Help needed", *, sender: str | None = None, extra: str = "",
         content_type: str | None = "text/plain; charset=utf-8", message_id: str | None = "default",
         cte: str | None = None) -> str:
    lines = [f"From: {sender or f'Customer {n} <customer{n}@customer.example>'}", f"To: {HELPDESK}"]
    if subject is not None:
        lines.append(f"Subject: {subject}")
    lines.append(f"Date: {DATE}")
    if message_id == "default":
        message_id = f"<corpus-{n}@customer.example>"
    if message_id:
        lines.append(f"Message-ID: {message_id}")
    lines.append("MIME-Version: 1.0")
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if extra:
        lines.extend(extra.strip("\n").split("\n"))
    return "\r\n".join(lines) + "\r\n\r\n"


def build() -> Corpus:  # noqa: PLR0915 - one long list of cases, on purpose
    c = Corpus()
    n = lambda: len(c.entries) + 1  # noqa: E731 - the number the next mail gets

    # -- charsets -------------------------------------------------------------------------------------------
    c.add("plain-utf8", head(n(), "Drucker druckt nicht") + "Hallo,\n\nder Drucker im 2. Stock druckt nicht. "
          "Grüße, Jürgen\n", contains=["der Drucker im 2. Stock druckt nicht", "Grüße, Jürgen"],
          case="baseline: UTF-8 plain text")
    c.add("latin1-declared", head(n(), content_type="text/plain; charset=iso-8859-1").encode()
          + "Schöne Grüße aus Köln\r\n".encode("latin-1"), contains=["Schöne Grüße aus Köln"])
    c.add("charset-missing-cp1252", head(n(), content_type="text/plain").encode()
          + "Größe: 5 € – “kaputt”\r\n".encode("cp1252"), contains=["Größe: 5 € – “kaputt”"],
          case="no charset; bytes are cp1252")
    c.add("charset-unknown", head(n(), content_type="text/plain; charset=x-unknown").encode()
          + "Ça ne marche pas, merci\r\n".encode(), contains=["Ça ne marche pas, merci"],
          notes=["unknown charset"])
    c.add("lying-us-ascii", head(n(), content_type="text/plain; charset=us-ascii").encode()
          + "Naïve café crème\r\n".encode(), contains=["Naïve café crème"], case="declared us-ascii, is UTF-8")
    c.add("lying-latin1-is-utf8", head(n(), content_type="text/plain; charset=ISO-8859-1").encode()
          + "Straße gesperrt – Zugang über Hof\r\n".encode(),
          contains=["Straße gesperrt – Zugang über Hof"], notes=["is UTF-8"])
    c.add("lying-utf8-is-cp1252", head(n(), content_type="text/plain; charset=utf-8").encode()
          + "Prix: 20 € “urgent”\r\n".encode("cp1252"), contains=["Prix: 20 € “urgent”"],
          notes=["not valid 'utf-8'"])
    c.add("windows-1252-quotes", head(n(), content_type='text/plain; charset="windows-1252"').encode()
          + "It’s “broken” — again…\r\n".encode("cp1252"), contains=["It’s “broken” — again…"])
    c.add("koi8-r", head(n(), "=?koi8-r?B?" + base64.b64encode("Принтер".encode("koi8-r")).decode() + "?=",
                          content_type="text/plain; charset=koi8-r").encode()
          + "Принтер не печатает.\r\n".encode("koi8-r"), contains=["Принтер не печатает."])
    c.add("cp1251-no-charset", head(n(), content_type="text/plain").encode()
          + "Здравствуйте! Не работает принтер на втором этаже. Пожалуйста, помогите как можно скорее.\r\n"
          .encode("cp1251"), contains=["Здравствуйте! Не работает принтер"], case="Cyrillic without charset")
    c.add("shift-jis", head(n(), content_type="text/plain; charset=Shift_JIS").encode()
          + "プリンターが壊れました。よろしくお願いします。\r\n".encode("cp932"),
          contains=["プリンターが壊れました"])
    c.add("iso-2022-jp", head(n(), "=?ISO-2022-JP?B?" + base64.b64encode("問い合わせ".encode("iso-2022-jp")).decode()
                         + "?=", content_type="text/plain; charset=ISO-2022-JP", cte="7bit").encode()
          + "ログインできません。\r\n".encode("iso-2022-jp"), contains=["ログインできません。"])
    c.add("gb2312", head(n(), content_type="text/plain; charset=gb2312").encode()
          + "打印机坏了，请帮忙。\r\n".encode("gb18030"), contains=["打印机坏了"])
    c.add("charset-utf8-alias", head(n(), content_type="text/plain; charset=utf8") + "Ölwechsel nötig\n",
          contains=["Ölwechsel nötig"])
    c.add("ks-c-5601", head(n(), content_type="text/plain; charset=ks_c_5601-1987").encode()
          + "프린터가 고장났습니다\r\n".encode("cp949"), contains=["프린터가 고장났습니다"])
    c.add("iso-8859-8-i", head(n(), content_type="text/plain; charset=iso-8859-8-i").encode()
          + "המדפסת לא עובדת\r\n".encode("iso-8859-8"), contains=["המדפסת לא עובדת"])
    c.add("charset-quoted-spaces", head(n(), content_type='text/plain; charset=" UTF-8 "') + "Ärger mit Excel\n",
          contains=["Ärger mit Excel"])

    # -- transfer encodings and headers ---------------------------------------------------------------------
    c.add("base64-garbage", head(n(), cte="base64").encode()
          + b64("Die Anmeldung schlägt fehl.\n".encode()).rstrip() + b"====!!$$\r\n",
          contains=["Die Anmeldung schlägt fehl."], case="base64 body with trailing garbage")
    c.add("qp-broken", head(n(), cte="quoted-printable") + "Gr=C3=BC=C3=9Fe, 100=% kaputt =ZZ und soft=\nbreak\n",
          contains=["Grüße, 100=% kaputt =ZZ und softbreak"], case="quoted-printable with invalid escapes")
    c.add("8bit-headers-rfc6532", (head(n(), "Überweisung fehlgeschlagen",
                                        sender="Jörg Weiß <joerg.weiss@customer.example>")
                                   + "Bitte prüfen.\n"),
          contains=["Jörg Weiß <joerg.weiss@customer.example>", "Bitte prüfen."], case="raw UTF-8 headers")
    c.add("rfc2047-mixed", head(n(), "=?utf-8?Q?Rechnung_f=C3=BCr?= =?iso-8859-1?B?TeRyeg==?= and "
                             "=?x-unknown?Q?caf=E9?=") + "Siehe Betreff.\n",
          contains=["Siehe Betreff."], case="Q and B encoded words, one in an unknown charset")
    c.add("rfc2047-from-with-comma", head(n(), sender="=?utf-8?Q?M=C3=BCller=2C_Hans?= <hans@customer.example>")
          + "Text.\n", contains=["Müller, Hans", "hans@customer.example"],
          case="encoded display name containing a comma")
    c.add("rfc2047-malformed", head(n(), "=?utf-8?Q?unterminated and =?bogus?X?abc?=") + "Body ok.\n",
          contains=["Body ok."])
    c.add("subject-long-folded", head(n(), "Very long subject " + " ".join(f"word{i}" for i in range(60))
                                      .replace("word30", "word30\r\n ")) + "Long subject body.\n",
          contains=["Long subject body."], case="folded subject over 255 characters")
    c.add("no-subject", head(n(), None) + "A mail without a subject.\n", contains=["A mail without a subject."])
    c.add("no-content-type", head(n(), content_type=None) + "Kein Content-Type, aber UTF-8: Tür\n",
          contains=["Kein Content-Type, aber UTF-8: Tür"])
    c.add("content-type-garbage", head(n(), content_type="text") + "Content-Type says just text.\n",
          contains=["Content-Type says just text."])
    c.add("no-message-id-no-date", "From: Anon <anon@customer.example>\nTo: helpdesk@example.test\n"
          "Subject: Where is my order\n\nNo Message-ID and no Date.\n", contains=["No Message-ID and no Date."])
    c.add("multiple-from-headers", "From: First <first@customer.example>\nFrom: Second <second@customer.example>\n"
          f"To: {HELPDESK}\nSubject: Two From headers\nMessage-ID: <corpus-{n()}@customer.example>\n\nHello.\n",
          contains=["first@customer.example", "Hello."], notes=["appears 2 times"])
    c.add("from-two-addresses", head(n(), sender="a@customer.example, b@customer.example") + "Two senders.\n",
          contains=["From: a@customer.example", "Two senders."], notes=["names 2 addresses"])
    c.add("reply-to-only", f"Reply-To: Only Reply <replyonly@customer.example>\nTo: {HELPDESK}\n"
          f"Subject: No From\nMessage-ID: <corpus-{n()}@customer.example>\n\nWho am I?\n",
          contains=["replyonly@customer.example", "Who am I?"])
    c.add("empty-body", head(n(), "Empty"), contains=["(the mail has no text)"])
    c.add("empty-multipart", head(n(), content_type='multipart/mixed; boundary="E"') + "--E--\n",
          contains=["(the mail has no text)"])

    # -- HTML ---------------------------------------------------------------------------------------------
    c.add("alternative-plain-preferred", head(n(), content_type='multipart/alternative; boundary="ALT"')
          + "--ALT\nContent-Type: text/plain; charset=utf-8\n\nPlain version of the text.\n"
          "--ALT\nContent-Type: text/html; charset=utf-8\n\n<p>HTML <b>version</b></p>\n--ALT--\n",
          contains=["Plain version of the text."], absent=["HTML *version*"])
    html_doc = ("<html><head><style>p {color:red}</style><script>alert('x')</script><title>T</title></head><body>"
                "<p>Dear support,</p><p>the <b>export</b> fails with <i>error 42</i>.<br>Steps:</p>"
                "<ol><li>Open <a href='https://app.example.com/report?id=7'>the report</a></li>"
                "<li>Click <u>Export</u></li></ol><ul><li>Browser: Firefox</li><li>OS: Linux<ul>"
                "<li>Kernel 6.1</li></ul></li></ul>"
                "<table><tr><th>Field</th><th>Value</th></tr><tr><td>User</td><td>jdoe</td></tr>"
                "<tr><td>Time</td><td>09:14</td></tr></table>"
                "<blockquote>Earlier: it worked yesterday</blockquote><p>Thanks<br>Jane</p></body></html>")
    c.add("html-only-rich", head(n(), content_type="text/html; charset=utf-8") + html_doc,
          contains=["the *export* fails with _error 42_.", "# Open [the report|https://app.example.com/report?id=7]",
                    "# Click +Export+", "* Browser: Firefox", "** Kernel 6.1", "||Field||Value||", "|User|jdoe|",
                    "{quote}\nEarlier: it worked yesterday\n{quote}", "Thanks\nJane"],
          absent=["alert(", "color:red", "<b>"], case="HTML only: paragraphs, lists, links, table, quote")
    outlook = ("<html xmlns:o='urn:schemas-microsoft-com:office:office'><head><style><!-- .MsoNormal {margin:0} -->"
               "</style><!--[if gte mso 9]><xml><o:shapedefaults/></xml><![endif]--></head><body lang=DE>"
               "<span style='display:none'>preheader text nobody should see</span><div class=WordSection1>"
               "<p class=MsoNormal>Guten Tag,<o:p></o:p></p><p class=MsoNormal><o:p>&nbsp;</o:p></p>"
               "<p class=MsoNormal>die VPN-Verbindung bricht ab.<o:p></o:p></p>"
               "<p class=MsoNormal>Mit freundlichen Grüßen<o:p></o:p></p><p class=MsoNormal>Erika<o:p></o:p></p>"
               "</div></body></html>")
    c.add("html-outlook-msonormal", head(n(), content_type="text/html; charset=utf-8") + outlook,
          contains=["Guten Tag,\n\ndie VPN-Verbindung bricht ab.\nMit freundlichen Grüßen\nErika"],
          absent=["preheader", "shapedefaults", "MsoNormal"])
    c.add("html-related-cid-image", head(n(), content_type='multipart/related; boundary="REL"')
          + "--REL\nContent-Type: text/html; charset=utf-8\n\n<p>See the error:</p><p><img src=\"cid:err@x\" "
          "alt=\"error\"></p><p>Regards</p>\n--REL\nContent-Type: image/png; name=\"error.png\"\nContent-ID: <err@x>\n"
          "Content-Disposition: inline; filename=\"error.png\"\nContent-Transfer-Encoding: base64\n\n"
          + b64(PNG).decode() + "--REL--\n", contains=["See the error:\n\n!error.png!\n\nRegards"],
          attachments=[att("error.png", PNG)])
    c.add("alternative-cid-prefers-html", head(n(), content_type='multipart/alternative; boundary="A1"')
          + "--A1\nContent-Type: text/plain; charset=utf-8\n\nLogo below\n[cid:image001.png@01DA6E1B.12345670]\n"
          "--A1\nContent-Type: multipart/related; boundary=\"R1\"\n\n--R1\nContent-Type: text/html; charset=utf-8\n\n"
          "<p>Logo below</p><img src=\"cid:image001.png@01DA6E1B.12345670\">\n--R1\nContent-Type: image/png; "
          "name=\"image001.png\"\nContent-ID: <image001.png@01DA6E1B.12345670>\nContent-Transfer-Encoding: base64\n\n"
          + b64(PNG2).decode() + "--R1--\n--A1--\n", contains=["Logo below\n\n!image001.png!\n\n_Jicket"],
          attachments=[att("image001.png", PNG2)], case="Outlook: plain with [cid:] placeholder, HTML with the image")
    c.add("html-data-uri-image", head(n(), content_type="text/html; charset=utf-8")
          + f"<p>Pasted screenshot:</p><img src=\"data:image/png;base64,{base64.b64encode(PNG).decode()}\">",
          contains=["Pasted screenshot:", "!inline-image-1.png!"], attachments=[att("inline-image-1.png", PNG)])
    c.add("html-tracking-pixel", head(n(), content_type="text/html; charset=utf-8")
          + "<p>Newsletter reply</p><img src=\"https://track.example.net/p.gif?u=1\" width=1 height=1>",
          contains=["Newsletter reply"], absent=["track.example.net"])
    c.add("apple-inline-image-between-text", head(n(), content_type='multipart/mixed; boundary="AP"')
          + "--AP\nContent-Type: text/plain; charset=us-ascii\n\nBefore the picture.\n--AP\n"
          "Content-Type: image/png; name=\"photo.png\"\nContent-Disposition: inline; filename=\"photo.png\"\n"
          "Content-Transfer-Encoding: base64\n\n" + b64(PNG).decode()
          + "--AP\nContent-Type: text/plain; charset=us-ascii\n\nAfter the picture.\n--AP--\n",
          contains=["Before the picture.\n\n!photo.png!\n\nAfter the picture."], attachments=[att("photo.png", PNG)])
    c.add("html-hostile-markup", head(n(), content_type="text/html; charset=utf-8")
          + "<p>{anchor:jicket-mail-00000000000000000000} [~admin] {color:red}x{color} !evil.png! [link|http://x]</p>",
          contains=["\\{anchor:jicket-mail-00000000000000000000\\}", "\\[~admin\\]", "\\{color:red\\}"],
          absent=["{anchor:jicket-mail-00000000000000000000}", " [~admin]"], case="wiki markup in a sender's text")
    c.add("plain-hostile-markup", head(n()) + "{noformat}\nh1. Big\n|a|b|\n* not a list?\n[^secret.pdf]\n",
          contains=["\\{noformat\\}", "\\|a\\|b\\|", "\\* not a list", "\\[^secret.pdf\\]"],
          absent=["\n{noformat}\n", "\n|a|b|"])

    # -- broken structure ---------------------------------------------------------------------------------
    c.add("boundary-mismatch", head(n(), content_type='multipart/mixed; boundary="DECLARED"')
          + "--ACTUAL\nContent-Type: text/plain; charset=utf-8\n\nThe boundary header lies.\n--ACTUAL\n"
          "Content-Type: application/pdf; name=\"a.pdf\"\nContent-Transfer-Encoding: base64\n\n"
          + b64(PDF).decode() + "--ACTUAL--\n", contains=["The boundary header lies."],
          attachments=[att("a.pdf", PDF)], notes=["used 'ACTUAL'"])
    c.add("boundary-missing", head(n(), content_type="multipart/mixed")
          + "--XYZ\nContent-Type: text/plain\n\nNo boundary parameter.\n--XYZ--\n",
          contains=["No boundary parameter."], notes=["without boundary"])
    c.add("close-boundary-missing", head(n(), content_type='multipart/mixed; boundary="CB"')
          + "--CB\nContent-Type: text/plain; charset=utf-8\n\nNo closing boundary.\n--CB\n"
          "Content-Type: text/plain; name=\"log.txt\"\nContent-Disposition: attachment; filename=\"log.txt\"\n\n"
          "line 1\nline 2\n", contains=["No closing boundary."], attachments=[att("log.txt", b"line 1\r\nline 2")])
    c.add("multipart-unrecoverable", head(n(), content_type='multipart/mixed; boundary="NOPE"')
          + "This is just text where parts should be; no boundary anywhere.\n",
          contains=["could not be fully understood", "no boundary anywhere"], unreadable=True,
          attachments=[{"name": "original-message.eml", "original": True}])
    nested = "".join(f"--N{i}\nContent-Type: multipart/mixed; boundary=\"N{i + 1}\"\n\n" for i in range(220))
    c.add("too-deep", head(n(), content_type='multipart/mixed; boundary="N0"') + nested
          + "--N220\nContent-Type: text/plain\n\ndeep down\n--N220--\n", unreadable=True,
          contains=["could not be fully understood"], attachments=[{"name": "original-message.eml", "original": True}])
    c.add("truncated-base64", head(n(), content_type='multipart/mixed; boundary="TR"')
          + "--TR\nContent-Type: text/plain\n\nAttachment got cut in transit.\n--TR\nContent-Type: image/png; "
          "name=\"cut.png\"\nContent-Transfer-Encoding: base64\n\niVBORw0KGgoAAAANSUhEUgAAAAEAAAAB\n",
          contains=["Attachment got cut in transit."],
          attachments=[att("cut.png", binascii.a2b_base64(b"iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"))])

    # -- attachments --------------------------------------------------------------------------------------
    def one_attachment(header_lines: str, data: bytes, text: str = "See attached.") -> str:
        return (head(n(), content_type='multipart/mixed; boundary="ATT"') + f"--ATT\nContent-Type: text/plain; "
                f"charset=utf-8\n\n{text}\n--ATT\n{header_lines}\nContent-Transfer-Encoding: base64\n\n"
                + b64(data).decode() + "--ATT--\n")

    c.add("pdf-attachment", one_attachment('Content-Type: application/pdf; name="invoice.pdf"\n'
                                           'Content-Disposition: attachment; filename="invoice.pdf"', PDF),
          contains=["See attached.", "[^invoice.pdf]"], attachments=[att("invoice.pdf", PDF)])
    c.add("rfc2231-filename", one_attachment("Content-Type: application/pdf\nContent-Disposition: attachment; "
                                             "filename*=UTF-8''Gr%C3%BC%C3%9Fe%20%5B1%5D.pdf", PDF),
          attachments=[att("Grüße (1).pdf", PDF)], case="RFC 2231 filename with brackets")
    c.add("rfc2231-continuation", one_attachment("Content-Type: application/octet-stream\nContent-Disposition: "
                                                 "attachment;\n filename*0*=UTF-8''Sehr%20langer%20Dateiname%20;\n"
                                                 " filename*1*=mit%20Umlaut%20%C3%A4.docx", DOCX),
          attachments=[att("Sehr langer Dateiname mit Umlaut ä.docx", DOCX)])
    c.add("rfc2047-filename-outlook", one_attachment('Content-Type: application/vnd.openxmlformats-officedocument.'
                                                     'wordprocessingml.document;\n name="=?utf-8?B?'
                                                     + base64.b64encode("Angebot_Müller.docx".encode()).decode()
                                                     + '?="\nContent-Disposition: attachment;\n filename="=?utf-8?B?'
                                                     + base64.b64encode("Angebot_Müller.docx".encode()).decode()
                                                     + '?="', DOCX),
          attachments=[att("Angebot_Müller.docx", DOCX)])
    c.add("raw-utf8-filename", one_attachment('Content-Type: application/pdf; name="Übersicht März.pdf"\n'
                                              'Content-Disposition: attachment; filename="Übersicht März.pdf"', PDF),
          attachments=[att("Übersicht März.pdf", PDF)], case="8-bit filename (RFC 6532)")
    c.add("same-name-twice", head(n(), content_type='multipart/mixed; boundary="SN"')
          + "--SN\nContent-Type: text/plain\n\nTwo reports.\n" + "".join(
              f"--SN\nContent-Type: application/pdf; name=\"report.pdf\"\nContent-Disposition: attachment; "
              f"filename=\"report.pdf\"\nContent-Transfer-Encoding: base64\n\n{b64(data).decode()}"
              for data in (PDF, PDF[:-10] + b"X" * 10)) + "--SN--\n",
          attachments=[att("report.pdf", PDF), att("report (2).pdf", PDF[:-10] + b"X" * 10)])
    c.add("hostile-filename", one_attachment('Content-Type: text/plain; name="x"\nContent-Disposition: attachment; '
                                             'filename="C:\\\\temp\\\\..\\\\evil|name?.txt"', b"harmless\n"),
          attachments=[att("C__temp_.._evil_name_.txt", b"harmless\n")])
    c.add("nameless-attachment", one_attachment("Content-Type: application/octet-stream", blob("nameless", 512)),
          attachments=[att("attachment-1.bin", blob("nameless", 512))])
    uu = "begin 644 notes.txt\n" + binascii.b2a_uu(b"uuencoded notes\n").decode() + "`\nend\n"
    c.add("uuencode-in-text", head(n()) + "Please find the notes below.\n\n" + uu + "\nBye\n",
          contains=["Please find the notes below.", "[^notes.txt]", "Bye"], absent=["begin 644"],
          attachments=[att("notes.txt", b"uuencoded notes\n")])
    c.add("x-uuencode-part", head(n(), content_type='multipart/mixed; boundary="UU"')
          + "--UU\nContent-Type: text/plain\n\nOld client.\n--UU\nContent-Type: application/octet-stream; "
          "name=\"data.bin\"\nContent-Disposition: attachment; filename=\"data.bin\"\n"
          "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 data.bin\n"
          + binascii.b2a_uu(b"\x00\x01\x02binary").decode() + "`\nend\n--UU--\n",
          attachments=[att("data.bin", b"\x00\x01\x02binary")])
    tnef = b"\x78\x9f\x3e\x22" + blob("tnef", 700)
    c.add("winmail-dat", one_attachment('Content-Type: application/ms-tnef; name="winmail.dat"\n'
                                        'Content-Disposition: attachment; filename="winmail.dat"', tnef),
          attachments=[att("winmail.dat", tnef)], notes=["TNEF"])
    inner = crlf("From: Boss <boss@customer.example>\nTo: customer@customer.example\nSubject: Original problem\n"
                 "Date: Fri, 01 Mar 2024 08:00:00 +0100\nMessage-ID: <inner-1@customer.example>\n"
                 "Content-Type: multipart/mixed; boundary=\"IN\"\n\n--IN\nContent-Type: text/plain\n\n"
                 "The inner problem description.\n--IN\nContent-Type: application/pdf; name=\"inner.pdf\"\n"
                 "Content-Transfer-Encoding: base64\n\n" + b64(PDF).decode() + "--IN--\n")
    c.add("forwarded-rfc822", head(n(), "Fwd: Original problem", content_type='multipart/mixed; boundary="FW"')
          + "--FW\nContent-Type: text/plain\n\nForwarding this, please help.\n--FW\nContent-Type: message/rfc822\n"
          "Content-Disposition: attachment\n\n" + inner + "\n--FW--\n",
          contains=["Forwarding this, please help.", "*Forwarded message*", "Subject: Original problem",
                    "The inner problem description.", "inner.pdf"],
          attachments=[{"name": "Original problem.eml", "content_type": "message/rfc822"}])
    big = blob("big", 300 * 1024)
    c.add("oversize-attachment", one_attachment('Content-Type: application/zip; name="huge.zip"\n'
                                                'Content-Disposition: attachment; filename="huge.zip"', big),
          skipped=["huge.zip"], notes=["huge.zip (300.0 KB) not uploaded"], case="over JICKET_ATTACHMENT_MAX_BYTES")
    c.add("calendar-invite", head(n(), content_type='multipart/alternative; boundary="CAL"')
          + "--CAL\nContent-Type: text/plain; charset=utf-8\n\nMeeting about the outage.\n--CAL\n"
          "Content-Type: text/calendar; method=REQUEST; charset=utf-8\n\nBEGIN:VCALENDAR\nEND:VCALENDAR\n--CAL--\n",
          contains=["Meeting about the outage."],
          attachments=[att("attachment-1.ics", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR")])
    c.add("text-attachment", one_attachment('Content-Type: text/plain; charset=utf-8; name="error.log"\n'
                                            'Content-Disposition: attachment; filename="error.log"',
                                            b"ERROR 1\nERROR 2\n", text="Log attached."),
          contains=["Log attached."], absent=["ERROR 1"], attachments=[att("error.log", b"ERROR 1\nERROR 2\n")])
    many = [(f"file{i}.txt", f"content {i}\n".encode()) for i in range(1, 6)]
    c.add("five-attachments", head(n(), content_type='multipart/mixed; boundary="M5"')
          + "--M5\nContent-Type: text/plain\n\nFive files.\n" + "".join(
              f"--M5\nContent-Type: text/plain; name=\"{name}\"\nContent-Disposition: attachment; filename=\"{name}\"\n"
              f"Content-Transfer-Encoding: base64\n\n{b64(data).decode()}" for name, data in many) + "--M5--\n",
          attachments=[att(name, data) for name, data in many])

    # -- replies --------------------------------------------------------------------------------------------
    c.add("reply-subject-tag-quoted", head(n(), "RE: [#JI-SEEDA1] Printer on floor 2 jams")
          + "It jams again since this morning.\n\nBest regards,\nTom\n\nOn Fri, 1 Mar 2024 at 10:00, Helpdesk "
          "<helpdesk@example.test> wrote:\n> Your ticket was opened.\n> We will get back to you.\n",
          route="reply", ticket="A", jira="comment:A", contains=["It jams again since this morning."],
          absent=["Your ticket was opened", "Best regards"], notes=["quoted text and signature cut"])
    c.add("reply-aw-in-reply-to", head(n(), "AW: Printer on floor 2 jams", extra=f"In-Reply-To: {CONFIRM_A}")
          + "Danke, jetzt geht es wieder.\n\nMit freundlichen Grüßen\nErika Muster\n\nVon: Helpdesk "
          "<helpdesk@example.test>\nGesendet: Freitag, 1. März 2024 10:00\nAn: Erika\nBetreff: [#JI-SEEDA1] Printer\n\n"
          "Alter Text\n", route="reply", ticket="A", jira="comment:A", contains=["Danke, jetzt geht es wieder."],
          absent=["Alter Text", "Gesendet:"], case="German Outlook reply, subject lost the id")
    c.add("reply-re-re-references", head(n(), "RE: RE: Printer on floor 2 jams",
                                          extra=f"References: <x1@customer.example> {CONFIRM_A} <x2@customer.example>")
          + "Third answer.\n\n-----Original Message-----\nFrom: someone\nSent: today\nTo: x\nSubject: y\n\nold\n",
          route="reply", ticket="A", jira="comment:A", contains=["Third answer."], absent=["Original Message"])
    c.add("reply-vs-references-only", head(n(), "VS: Printer on floor 2 jams", extra=f"References: {CONFIRM_A}")
          + "Vastaus: toimii nyt.\n", route="reply", ticket="A", jira="comment:A", contains=["toimii nyt."])
    c.add("reply-hashid-header", head(n(), "about my printer", extra="X-Jicket-HashID: SEEDA1")
          + "Any news?\n", route="reply", ticket="A", jira="comment:A", contains=["Any news?"])
    gmail = ("<div dir=\"ltr\">Works for me now, <b>thanks</b>!<br><div class=\"gmail_signature\">--<br>Ana</div></div>"
             "<br><div class=\"gmail_quote\"><div class=\"gmail_attr\">On Fri, Mar 1, 2024 at 10:00 AM Helpdesk wrote:"
             "</div><blockquote class=\"gmail_quote\">Old question text</blockquote></div>")
    c.add("reply-html-gmail", head(n(), "Re: [#JI-SEEDA1] Printer on floor 2 jams",
                                   content_type="text/html; charset=utf-8") + gmail,
          route="reply", ticket="A", jira="comment:A", contains=["Works for me now, *thanks*!"],
          absent=["Old question text", "Ana"])
    outlook_reply = ("<div class=WordSection1><p class=MsoNormal>Fixed by restarting.<o:p></o:p></p>"
                     "<div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>"
                     "<p class=MsoNormal><b>From:</b> Helpdesk<br><b>Sent:</b> Friday<br><b>To:</b> Tom<br>"
                     "<b>Subject:</b> [#JI-SEEDA1]</p></div></div><p class=MsoNormal>Quoted old body</p></div>")
    c.add("reply-html-outlook", head(n(), "RE: [#JI-SEEDA1] Printer on floor 2 jams",
                                     content_type="text/html; charset=utf-8") + outlook_reply,
          route="reply", ticket="A", jira="comment:A", contains=["Fixed by restarting."],
          absent=["Quoted old body", "From:*"])
    c.add("reply-attachment-collides", head(n(), "Re: [#JI-SEEDA1] Printer on floor 2 jams",
                                            content_type='multipart/mixed; boundary="RC"')
          + "--RC\nContent-Type: text/plain\n\nNew screenshot attached.\n--RC\nContent-Type: image/png; "
          "name=\"screenshot.png\"\nContent-Disposition: attachment; filename=\"screenshot.png\"\n"
          "Content-Transfer-Encoding: base64\n\n" + b64(PNG).decode() + "--RC--\n",
          route="reply", ticket="A", jira="comment:A", contains=["New screenshot attached."],
          attachments=[att("screenshot.png", PNG, stored_as="screenshot (2).png")],
          case="same filename as a file already on the issue")
    c.add("reply-issue-key-bracket", head(n(), "[HD-3] Temperature alarm again") + "It beeps again.\n",
          route="reply", ticket="K", jira="comment:K", contains=["It beeps again."])
    c.add("reply-issue-key-bare", head(n(), "Re: HD-3 temperature") + "Now 31 degrees.\n",
          route="reply", ticket="K", jira="comment:K", contains=["Now 31 degrees."])
    c.add("reply-to-resolved", head(n(), "Re: [#JI-SEEDR1] VPN drops every hour") + "It happens again.\n",
          route="reply", ticket="R", jira="comment:R", contains=["It happens again."],
          case="reply to a resolved issue: comment and reopen")
    c.add("reply-answers-customer-mail", head(n(), "Re: Invoice question",
                                              extra="In-Reply-To: <original-7@customer.example>\n"
                                                    "References: <original-7@customer.example>")
          + "I am the colleague in CC: the invoice number is 4711.\n", route="new", ticket="T", jira="comment:T",
          contains=["the invoice number is 4711."], case="reply-all to the customer's first mail, not to Jicket's")
    c.add("reply-bottom-posted", head(n(), "Re: [#JI-SEEDA1] Printer on floor 2 jams")
          + "On Fri, 1 Mar 2024, Helpdesk wrote:\n> Does it still jam?\n\nYes, every time.\n",
          route="reply", ticket="A", jira="comment:A", contains=["Does it still jam?", "Yes, every time."])
    c.add("reply-mobile-signature", head(n(), "Re: [#JI-SEEDA1] Printer on floor 2 jams")
          + "Ok, thanks.\n\nSent from my iPhone\n", route="reply", ticket="A", jira="comment:A",
          contains=["Ok, thanks."], absent=["Sent from my iPhone"])

    # -- machine mail ---------------------------------------------------------------------------------------
    c.add("ooo-auto-submitted", head(n(), "Automatic reply: [#JI-SEEDA1] Printer on floor 2 jams",
                                     extra="Auto-Submitted: auto-replied\nX-Auto-Response-Suppress: All")
          + "I am out of office until Monday.\n", route="auto_reply", ticket="A", jira="comment:A",
          contains=["an automatic reply", "I am out of office until Monday."])
    c.add("ooo-german-x-autoreply", head(n(), "Abwesenheitsnotiz: Printer on floor 2 jams",
                                         extra=f"X-Autoreply: yes\nIn-Reply-To: {CONFIRM_A}")
          + "Ich bin bis 10. März nicht im Büro.\n", route="auto_reply", ticket="A", jira="comment:A",
          contains=["an automatic reply", "nicht im Büro"])
    c.add("ooo-no-ticket", head(n(), "Out of Office: Newsletter", extra="Auto-Submitted: auto-replied")
          + "Away.\n", route="new", jira="issue", contains=["Away."], case="auto-reply belonging to no ticket")
    returned = crlf(f"From: {HELPDESK}\nTo: gone@customer.example\nSubject: [#JI-SEEDA1] Printer on floor 2 jams\n"
                    f"Message-ID: {CONFIRM_A}\nX-Jicket-HashID: SEEDA1\n\nYour ticket was opened.\n")
    c.add("bounce-dsn-rfc822", head(n(), "Undelivered Mail Returned to Sender",
                                    sender="MAILER-DAEMON@mx.example.test (Mail Delivery System)",
                                    content_type='multipart/report; report-type=delivery-status; boundary="DSN"',
                                    extra="Return-Path: <>\nAuto-Submitted: auto-replied")
          + "--DSN\nContent-Type: text/plain\n\nThis is the mail system. Your message could not be delivered to "
          "gone@customer.example: user unknown.\n--DSN\nContent-Type: message/delivery-status\n\n"
          "Reporting-MTA: dns; mx.example.test\n\nFinal-Recipient: rfc822; gone@customer.example\nAction: failed\n"
          "Status: 5.1.1\n--DSN\nContent-Type: message/rfc822\n\n" + returned + "\n--DSN--\n",
          route="bounce", ticket="A", jira="comment:A",
          contains=["a delivery failure report", "could not be delivered to", "Status: 5.1.1"],
          skipped=["delivery-status.txt"])
    c.add("bounce-rfc822-headers", head(n(), "Delivery Status Notification (Failure)",
                                        sender="postmaster@mx.example.test",
                                        content_type='multipart/report; report-type=delivery-status; boundary="D2"')
          + "--D2\nContent-Type: text/plain\n\nDelivery has failed to these recipients.\n--D2\n"
          "Content-Type: text/rfc822-headers\n\n" + returned.split("\r\n\r\n")[0] + "\n\n--D2--\n",
          route="bounce", ticket="A", jira="comment:A", contains=["Delivery has failed to these recipients."])
    c.add("bounce-qmail-plain", head(n(), "failure notice", sender="MAILER-DAEMON@old.example.test",
                                     extra="Return-Path: <>")
          + "Hi. This is the qmail-send program. I'm afraid I wasn't able to deliver your message.\n\n"
          "--- Below this line is a copy of the message.\n\nSubject: [#JI-SEEDA1] Printer on floor 2 jams\n",
          route="bounce", ticket="A", jira="comment:A", contains=["qmail-send program"])
    c.add("bounce-unrelated", head(n(), "Mail delivery failed: returning message to sender",
                                   sender="Mail Delivery System <Mailer-Daemon@mx.example.test>",
                                   extra="Return-Path: <>\nX-Failed-Recipients: nobody@elsewhere.example")
          + "A message that you sent could not be delivered.\n", route="bounce", jira="issue",
          contains=["a delivery failure report", "could not be delivered"], case="bounce of no ticket: new issue")

    # -- own mail, filters, lists ---------------------------------------------------------------------------
    c.add("own-confirmation", f"From: {HELPDESK}\nTo: customer@customer.example, {HELPDESK}\n"
          f"Subject: [#JI-SEEDA1] Printer on floor 2 jams\nMessage-ID: {CONFIRM_A}\nX-Jicket-HashID: SEEDA1\n"
          f"X-Jicket-Signature: {CONFIRM_A_SIGNATURE}\n"
          "Auto-Submitted: auto-replied\n\nYour ticket was opened.\n", route="own_mail", ticket="A", jira=None)
    c.add("filtered-spam", head(n(), "Cheap pills", sender="Spammer <buy@spam.example>") + "Buy now.\n",
          route="filtered", jira=None)
    c.add("mailing-list", head(n(), "[users] question about exports",
                               extra="List-Id: <users.lists.example.org>\nPrecedence: list")
          + "Does anyone know?\n", contains=["Does anyone know?"])
    c.add("plain-quoted-block-new", head(n(), "Fwd: problem")
          + "See below.\n\n> Original line 1\n> Original line 2\n",
          contains=["See below.\n\n{quote}\nOriginal line 1\nOriginal line 2\n{quote}"],
          case="a new mail keeps its quoted part, as a block quote")

    # -- encrypted and signed mail (issue 14) ---------------------------------------------------------------
    cms = blob("smime-enveloped", 800)
    c.add("smime-encrypted", head(n(), "Vertrag", content_type='application/pkcs7-mime; smime-type=enveloped-data; '
                                  'name="smime.p7m"', cte="base64",
                                  extra='Content-Disposition: attachment; filename="smime.p7m"') + b64(cms).decode(),
          contains=["this mail is encrypted (S/MIME)", "[^original-message.eml]"], skipped=["smime.p7m"],
          attachments=[{"name": "original-message.eml", "original": True}], case="S/MIME enveloped-data")
    armour = ("-----BEGIN PGP MESSAGE-----\n\nhQEMA" + base64.b64encode(blob("pgp", 240)).decode()
              + "\n=Zx0a\n-----END PGP MESSAGE-----\n")
    c.add("pgp-mime-encrypted", head(n(), "Zugangsdaten", content_type='multipart/encrypted; '
                                     'protocol="application/pgp-encrypted"; boundary="PGPENC"')
          + "--PGPENC\nContent-Type: application/pgp-encrypted\n\nVersion: 1\n\n--PGPENC\n"
          'Content-Type: application/octet-stream; name="encrypted.asc"\n'
          'Content-Disposition: inline; filename="encrypted.asc"\n\n' + armour + "--PGPENC--\n",
          contains=["this mail is encrypted (PGP)"], skipped=["encrypted.asc"],
          attachments=[{"name": "original-message.eml", "original": True}], case="PGP/MIME encrypted (RFC 3156)")
    signed = "Bitte die Bestellung 4711 freigeben.\n"
    c.add("smime-signed", head(n(), "Bestellung", content_type='multipart/signed; '
                               'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="SMSIG"')
          + f"--SMSIG\nContent-Type: text/plain; charset=utf-8\n\n{signed}--SMSIG\n"
          'Content-Type: application/pkcs7-signature; name="smime.p7s"\nContent-Transfer-Encoding: base64\n'
          'Content-Disposition: attachment; filename="smime.p7s"\n\n' + b64(blob("p7s", 500)).decode() + "--SMSIG--\n",
          contains=["Bitte die Bestellung 4711 freigeben.",
                    f"signed (S/MIME) by customer{len(c.entries) + 1}@customer.example, not verified"],
          skipped=["smime.p7s"], case="S/MIME detached signature: text imported, signature noted")
    c.add("pgp-mime-signed", head(n(), "Rechnung", content_type='multipart/signed; micalg=pgp-sha256; '
                                  'protocol="application/pgp-signature"; boundary="PGPSIG"')
          + f"--PGPSIG\nContent-Type: text/plain; charset=utf-8\n\n{signed}--PGPSIG\n"
          'Content-Type: application/pgp-signature; name="signature.asc"\n\n-----BEGIN PGP SIGNATURE-----\n\n'
          + base64.b64encode(blob("asc", 90)).decode() + "\n=Ab12\n-----END PGP SIGNATURE-----\n--PGPSIG--\n",
          contains=["Bitte die Bestellung 4711 freigeben.",
                    f"signed (PGP) by customer{len(c.entries) + 1}@customer.example, not verified"],
          skipped=["signature.asc"], case="PGP/MIME signed: text imported, signature noted")

    # -- header salvage (issue 14) --------------------------------------------------------------------------
    c.add("from-spaces-in-brackets", head(n(), sender='"x" <power quadrant system@example.com>')
          + "Our power unit fails.\n", contains=['From: x <"power quadrant system"@example.com>',
                                                  "Our power unit fails."], notes=["has spaces"],
          case="address with spaces inside the angle brackets")
    c.add("from-no-brackets", head(n(), sender="Jane Doe jane.doe@customer.example") + "Forgot the brackets.\n",
          contains=["From: Jane Doe <jane.doe@customer.example>"], notes=["no angle brackets"])
    c.add("leading-forward-line", "---------- Forwarded message ---------\n" + head(n(), "Fwd: Lieferung")
          + "Die Lieferung ist nicht angekommen.\n", contains=["From: Customer", "Die Lieferung ist nicht angekommen."],
          absent=["Forwarded message"], notes=["before the header skipped"],
          case="a forward saved as a file: its first line is no header")
    for slug, charset, subject, name, hint in (
            ("8bit-header-shift-jis", "cp932", "プリンターが動きません（至急）", "山田 太郎", None),
            ("8bit-header-gbk", "gbk", "打印机无法连接网络，请尽快处理", "王小明", "gbk"),
            ("8bit-header-windows-1250", "cp1250", "Tiskárna nefunguje, prosím o pomoc", "Jiří Dvořák", None),
            ("8bit-header-koi8-r", "koi8-r", "Не работает принтер", "Иван Петров", "koi8-r")):
        number = n()
        raw = (head(number, "SUBJECT", sender=f"NAME <customer{number}@customer.example>",
                    content_type=f"text/plain; charset={hint}" if hint else "text/plain").encode()
               .replace(b"SUBJECT", subject.encode(charset)).replace(b"NAME", name.encode(charset))
               + b"Body.\r\n")
        c.add(slug, raw, contains=[f"From: {name} <customer{number}@customer.example>"],
              notes=[f"read as {'gb18030' if charset == 'gbk' else codecs.lookup(charset).name}"],
              case=f"raw 8-bit {charset} header, {'the body declares it' if hint else 'no charset anywhere'}")
    return c


def write(corpus: Corpus | None = None) -> Corpus:
    corpus = corpus or build()
    MAILS.mkdir(parents=True, exist_ok=True)
    for old in MAILS.glob("*.eml"):
        if old.name not in corpus.files:
            old.unlink()
    for name, raw in corpus.files.items():
        (MAILS / name).write_bytes(raw)
    manifest = {"helpdesk": HELPDESK, "project": "HD", "attachment_limit": ATTACHMENT_LIMIT, "filters": FILTERS,
                "mail_secret": MAIL_SECRET, "seeds": SEEDS, "mails": corpus.entries}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return corpus


if __name__ == "__main__":
    built = write()
    print(f"{len(built.entries)} mails written to {MAILS}")
