"""Write the hostile-input corpus: ``tests/hostile/mails/*.eml`` and ``tests/hostile/manifest.json``.

Every mail is what an attacker writing to a public helpdesk address could send (issue 12): parser
bombs, header injection through encoded words, recipient amplification, machine mail that must never
be answered, sender-limit evasion, cost attacks, Jira wiki injection, invisible characters in file
names, malformed MIME and mails whose every header is unreadable. The bytes are built here, one by one,
from a fixed seed, so ``python -m tests.hostile.generate`` reproduces the committed files exactly.

Mails larger than ``COMMIT_LIMIT`` are not committed: the manifest marks them ``"generated": true``
and :func:`build` (or :func:`materialise`) produces them at test time, byte-identical each time (their
size and SHA-256 are in the manifest too).

Each manifest entry: ``id``, ``class`` (one of ``CLASSES``), ``description``, ``file`` (relative to
this directory; for generated mails the name :func:`materialise` writes), ``generated``, ``size``,
``sha256`` and ``expect``, the properties a behavioural test asserts, as data. Keys used in ``expect``:

- ``import``: ``"normal"`` (an issue with the text), ``"degraded"`` (an issue with a note and the raw
  ``.eml`` attached, within the caps of issue 12 item 3);
- ``answer``: whether a confirmation may be sent (false for machine mail);
- ``header_injection_probe``: a header name (``Bcc``) that must not appear in any header Jicket writes;
  ``field``, ``decodings`` (the decoding steps that reveal ``control``, the control characters);
- ``max_confirmation_recipients``, ``cc_count``, ``victim`` (an address that must receive nothing);
- ``machine_signal``: what marks the mail as machine mail (``{"header": name, "value": v}``,
  ``{"subject": s}``, ``{"from_local": part}``, ``{"content_type": t}``);
- ``sender_key``: the normalised sender the per-sender limit counts under (``"*unparsable*"`` = the
  shared bucket); ``sender_group``: mails of one group count together;
- ``wiki_probe``: text that must not take effect as Jira markup (``effect`` says which);
- ``forbidden_codepoints``: characters that must not survive in an attachment's name on the issue;
- ``nesting_depth``, ``encoded_words``, ``elements``, ``header_count``, ``longest_line``, ``name_length``:
  the size of a cost attack; ``max_seconds`` and ``max_rss_mb`` the budget per mail;
- ``defects``: defect classes of the standard ``email`` package the mail raises;
- ``distinct_from``: ids of mails whose headers are byte-identical but which are different mails
  (their mail keys must differ).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import random
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
MAILS = HERE / "mails"
MANIFEST = HERE / "manifest.json"
SEED = 12  # issue 12
COMMIT_LIMIT = 1_000_000  # bytes; larger mails are generated at test time
HELPDESK = "helpdesk@example.test"
DOMAIN = "example.test"
DATE = "Tue, 02 Dec 2025 10:00:00 +0000"
ATTACKER = "mallory@attacker.example"
VICTIM = "victim@other.example"
INJECTED = f"Bcc: {VICTIM}"
CONFIRMATION_CC_LIMIT = 10  # issue 12 item 4: the default of the configurable Cc limit
# Budget per mail (issue 12 item 3; the memory target of the performance issue: 300 MB + 3 x the mail).
MAX_SECONDS = 10

CLASSES = {
    "html_nesting": "deeply nested HTML (RecursionError in a recursive converter)",
    "header_injection": "CR, LF or NUL hidden in singly or doubly encoded words of headers and file names",
    "recipient_amplification": "huge Cc lists, Reply-To naming a victim in another domain",
    "machine_mail": "automatic mail that must be imported but never answered",
    "sender_limit_evasion": "one sender disguised as many, or as nobody",
    "cost": "work or memory out of proportion to the mail (huge, deep, long)",
    "wiki_injection": "Jira wiki markup and forged Jicket markers in the mail's text",
    "invisible_characters": "bidi controls, zero-width and other invisible characters in file names",
    "malformed_mime": "broken MIME structure, bad encodings, unknown charsets, 8-bit headers",
    "unreadable_headers": "every header unreadable, so nothing identifies the mail but its bytes",
}


@dataclass
class Mail:
    """One corpus mail: how to build its bytes, and what must happen to it."""

    id: str
    cls: str
    description: str
    make: Callable[[random.Random], bytes]
    expect: dict = field(default_factory=dict)

    def build(self) -> bytes:
        """The mail's bytes: the same on every call (the generator is seeded by the corpus seed and the id)."""
        rng = random.Random(f"{SEED}:{self.id}")
        return self.make(rng)


# --- Building blocks ---------------------------------------------------------------------------


def header_bytes(name: str, value: str | bytes) -> bytes:
    """One header line; a str value must be ASCII (encoded words are built by the callers)."""
    raw = value if isinstance(value, bytes) else value.encode("ascii")
    return name.encode("ascii") + b": " + raw + b"\r\n"


def compose(headers: list[tuple[str, str | bytes]], body: bytes | str, *, defaults: bool = True) -> bytes:
    """A mail from headers and a body (CRLF line ends). With ``defaults`` the usual headers are added
    where missing: From, To, Subject, Date, Message-ID, MIME-Version and a text/plain Content-Type."""
    names = {name.lower() for name, _ in headers}
    base: list[tuple[str, str | bytes]] = []
    if defaults:
        for name, value in (("From", f"Mallory <{ATTACKER}>"), ("To", HELPDESK), ("Subject", "Help needed"),
                            ("Date", DATE), ("Message-ID", "<{id}@attacker.example>"), ("MIME-Version", "1.0"),
                            ("Content-Type", 'text/plain; charset="utf-8"')):
            if name.lower() not in names:
                base.append((name, value))
    raw = body.encode("utf-8") if isinstance(body, str) else body
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return b"".join(header_bytes(n, v) for n, v in base + headers) + b"\r\n" + raw


def ew_b(text: str, charset: str = "utf-8") -> str:
    """An RFC 2047 encoded word, base64 form."""
    return f"=?{charset}?b?{base64.b64encode(text.encode(charset)).decode('ascii')}?="


def ew_q(text: str, charset: str = "utf-8") -> str:
    """An RFC 2047 encoded word, Q form (every byte that is not a letter or digit is =XX)."""
    encoded = "".join(chr(b) if chr(b).isalnum() and b < 128 else f"={b:02X}" for b in text.encode(charset))
    return f"=?{charset}?q?{encoded}?="


def pct(text: str) -> str:
    """RFC 2231 percent-encoding of UTF-8 text."""
    return "".join(chr(b) if (chr(b).isalnum() and b < 128) or chr(b) in "-._" else f"%{b:02X}"
                   for b in text.encode("utf-8"))


def multipart(parts: list[bytes], boundary: str, subtype: str = "mixed") -> tuple[str, bytes]:
    """A multipart body and its Content-Type value."""
    body = b"This is a multi-part message in MIME format.\r\n"
    for part in parts:
        body += f"--{boundary}\r\n".encode() + part + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return f'multipart/{subtype}; boundary="{boundary}"', body


def part(headers: list[tuple[str, str | bytes]], body: bytes | str) -> bytes:
    """A body part (headers, blank line, body)."""
    return compose(headers, body, defaults=False)


def attachment(filename_params: str, payload: bytes, ctype: str = "application/octet-stream") -> bytes:
    """A base64 attachment part; ``filename_params`` is the raw parameter text after ``attachment;``."""
    return part([("Content-Type", ctype), ("Content-Disposition", f"attachment; {filename_params}"),
                 ("Content-Transfer-Encoding", "base64")], base64.encodebytes(payload).decode("ascii"))


def with_attachment(headers: list[tuple[str, str | bytes]], text: str, filename_params: str,
                    payload: bytes = b"MZ\x90\x00not really a program", ctype: str = "application/octet-stream",
                    boundary: str = "hostile-boundary-1") -> bytes:
    """A mail with a text part and one attachment."""
    content_type, body = multipart([part([("Content-Type", 'text/plain; charset="utf-8"')], text),
                                    attachment(filename_params, payload, ctype)], boundary)
    return compose(headers + [("Content-Type", content_type)], body)


def filler_words(rng: random.Random, count: int) -> str:
    """Deterministic filler text."""
    words = ("printer", "invoice", "login", "error", "please", "urgent", "server", "account", "help", "again")
    return " ".join(rng.choice(words) for _ in range(count))


def mid(mail_id: str) -> str:
    """The Message-ID of a corpus mail."""
    return f"<{mail_id}@attacker.example>"


def fix_ids(mail_id: str, data: bytes) -> bytes:
    """Fill the default Message-ID placeholder with the mail's id."""
    return data.replace(b"<{id}@attacker.example>", mid(mail_id).encode())


# --- The corpus --------------------------------------------------------------------------------


def html_mails() -> list[Mail]:
    mails = []

    def nested(tags: list[str], depth: int, text: str) -> Callable[[random.Random], bytes]:
        def make(rng: random.Random) -> bytes:
            opening = "".join(f"<{tags[i % len(tags)]}>" for i in range(depth))
            closing = "".join(f"</{tags[i % len(tags)]}>" for i in reversed(range(depth)))
            html = f"<html><body>{opening}{text} {filler_words(rng, 5)}{closing}</body></html>"
            return compose([("Subject", f"Nested HTML {depth}"), ("Content-Type", 'text/html; charset="utf-8"')], html)
        return make

    for mail_id, tags, depth, what in (
        ("html-nest-div-300", ["div"], 300, "300 nested <div> (about 3.5 KB): enough for a recursive converter"),
        ("html-nest-inline-1000", ["b", "i", "u", "span", "font"], 1000, "1,000 nested inline tags, mixed"),
        ("html-nest-list-3000", ["ul", "li"], 3000, "3,000 levels of nested lists"),
        ("html-nest-table-2000", ["table", "tr", "td"], 2000, "2,000 levels of nested tables"),
        ("html-nest-blockquote-5000", ["blockquote"], 5000, "5,000 nested block quotes"),
        ("html-nest-b-100k", ["b"], 100_000, "100,000 nested <b> tags (about 700 KB)"),
    ):
        mails.append(Mail(mail_id, "html_nesting", what, nested(tags, depth, "Please help"),
                          {"import": "normal", "answer": True, "nesting_depth": depth, "text_contains": "Please help",
                           "max_seconds": MAX_SECONDS}))

    def unclosed(rng: random.Random) -> bytes:
        html = "<html><body>" + "<div><p><span>" * 2000 + "Still readable " + filler_words(rng, 3)
        return compose([("Subject", "Unclosed tags"), ("Content-Type", 'text/html; charset="utf-8"')], html)

    mails.append(Mail("html-nest-unclosed-6000", "html_nesting", "6,000 opened tags never closed", unclosed,
                      {"import": "normal", "answer": True, "nesting_depth": 6000, "text_contains": "Still readable",
                       "max_seconds": MAX_SECONDS}))
    return mails


def injection_mails() -> list[Mail]:
    """CR/LF/NUL behind one or two layers of encoding, in each header Jicket reads and copies."""
    mails = []
    payload = f"Printer broken\r\n{INJECTED}\r\n\r\nAttacker-written body"

    def layered(text: str, depth: int, form: str) -> str:
        """``text`` encoded ``depth`` times as encoded words (b or q form)."""
        for _ in range(depth):
            text = ew_b(text) if form == "b" else ew_q(text)
        return text

    fields = {
        "Subject": lambda v: [("Subject", v)],
        "Message-ID": lambda v: [("Message-ID", f"<{v}@attacker.example>")],
        "From": lambda v: [("From", f"{v} <{ATTACKER}>")],
        "Reply-To": lambda v: [("Reply-To", f"{v} <{ATTACKER}>")],
        "In-Reply-To": lambda v: [("In-Reply-To", f"<{v}@attacker.example>")],
        "References": lambda v: [("References", f"<first@attacker.example> <{v}@attacker.example>")],
    }
    for name, headers in fields.items():
        for depth, form in ((1, "b"), (2, "b"), (2, "q")):
            value = layered(payload, depth, form)
            mail_id = f"inject-{name.lower()}-{form}{depth}"

            def make(rng: random.Random, headers=headers, value=value, mail_id=mail_id) -> bytes:
                return fix_ids(mail_id, compose(headers(value), f"Hello,\n{filler_words(rng, 12)}\n"))

            mails.append(Mail(mail_id, "header_injection",
                              f"CR/LF and a Bcc header in {name}, encoded {depth}x ({form} form)", make,
                              {"import": "normal", "answer": True, "field": name,
                               "decodings": ["rfc2047"] * depth, "control": ["\r", "\n"],
                               "header_injection_probe": "Bcc", "victim": VICTIM}))

    # NUL and a bare CR / bare LF.
    for mail_id, text, control in (
        ("inject-subject-nul-b2", "Printer\x00broken", ["\x00"]),
        ("inject-subject-bare-cr-b2", f"Printer broken\r{INJECTED}", ["\r"]),
        ("inject-subject-bare-lf-q2", f"Printer broken\n{INJECTED}", ["\n"]),
        ("inject-from-nul-q1", "Mallory\x00Admin", ["\x00"]),
    ):
        depth, form = int(mail_id[-1]), mail_id[-2]
        header = "From" if "-from-" in mail_id else "Subject"
        value = layered(text, depth, form)
        headers = [("From", f"{value} <{ATTACKER}>")] if header == "From" else [("Subject", value)]
        mails.append(Mail(mail_id, "header_injection", f"{control!r} in {header}, encoded {depth}x ({form} form)",
                          lambda rng, headers=headers, mail_id=mail_id: fix_ids(
                              mail_id, compose(headers, f"Hi\n{filler_words(rng, 8)}\n")),
                          {"import": "normal", "answer": True, "field": header, "decodings": ["rfc2047"] * depth,
                           "control": control, "header_injection_probe": "Bcc" if "Bcc" in text else None,
                           "victim": VICTIM}))

    # Attachment file names: RFC 2231 (percent-encoded), RFC 2047 in the quoted name, and both stacked.
    name_payload = f"report.pdf\r\n{INJECTED}"
    for mail_id, params, decodings, what in (
        ("inject-filename-rfc2231", f"filename*=utf-8''{pct(name_payload)}", ["rfc2231"],
         "CR/LF in an RFC 2231 file name"),
        ("inject-filename-rfc2047-b2", f'filename="{layered(name_payload, 2, "b")}"', ["rfc2047", "rfc2047"],
         "CR/LF in a file name encoded twice as RFC 2047 words"),
        ("inject-filename-rfc2231-rfc2047", f"filename*=utf-8''{pct(ew_b(name_payload))}", ["rfc2231", "rfc2047"],
         "an RFC 2047 word inside an RFC 2231 file name, hiding CR/LF"),
    ):
        mails.append(Mail(mail_id, "header_injection", what,
                          lambda rng, params=params, mail_id=mail_id: fix_ids(mail_id, with_attachment(
                              [("Subject", "Report attached")], f"See attached.\n{filler_words(rng, 6)}\n", params)),
                          {"import": "normal", "answer": True, "field": "filename", "decodings": decodings,
                           "control": ["\r", "\n"], "header_injection_probe": "Bcc", "victim": VICTIM}))
    return mails


def recipient_mails() -> list[Mail]:
    mails = []
    limit = 1 + 1 + CONFIRMATION_CC_LIMIT  # sender, helpdesk, at most 10 Cc

    def cc_list(count: int, domain: str = "cc.example") -> str:
        return ",\r\n ".join(f"person{i:05d}@{domain}" for i in range(count))

    for count in (1_000, 20_000):
        mail_id = f"cc-{count}"
        mails.append(Mail(mail_id, "recipient_amplification",
                          f"{count:,} addresses in Cc and a victim in Reply-To: a spam cannon through the confirmation",
                          lambda rng, count=count, mail_id=mail_id: fix_ids(mail_id, compose(
                              [("Subject", "Buy cheap watches"), ("Reply-To", VICTIM), ("Cc", cc_list(count))],
                              f"Spam text {filler_words(rng, 10)}\n")),
                          {"import": "normal" if count <= 1000 else "degraded", "answer": True, "cc_count": count,
                           "max_confirmation_recipients": limit, "victim": VICTIM, "reply_to_foreign": True}))
    mails.append(Mail("replyto-foreign-victim", "recipient_amplification",
                      "Reply-To names a victim in another domain than the sender's: only the sender is answered",
                      lambda rng: fix_ids("replyto-foreign-victim", compose(
                          [("Subject", "You won"), ("Reply-To", f"Victim <{VICTIM}>")], "Click here\n")),
                      {"import": "normal", "answer": True, "cc_count": 0, "max_confirmation_recipients": 2,
                       "victim": VICTIM, "reply_to_foreign": True}))
    mails.append(Mail("replyto-same-domain", "recipient_amplification",
                      "Reply-To in the sender's own domain (a colleague): may receive the confirmation",
                      lambda rng: fix_ids("replyto-same-domain", compose(
                          [("Subject", "Printer"), ("Reply-To", "Team <team@attacker.example>")], "Printer jams\n")),
                      {"import": "normal", "answer": True, "cc_count": 0, "max_confirmation_recipients": 3,
                       "reply_to_foreign": False}))
    mails.append(Mail("replyto-many", "recipient_amplification",
                      "Reply-To with 500 addresses, the victim among them",
                      lambda rng: fix_ids("replyto-many", compose(
                          [("Subject", "Offer"), ("Reply-To", cc_list(499, "other.example") + f",\r\n {VICTIM}")],
                          "Offer\n")),
                      {"import": "normal", "answer": True, "cc_count": 0, "max_confirmation_recipients": 2,
                       "victim": VICTIM, "reply_to_foreign": True}))
    mails.append(Mail("to-and-cc-mixed", "recipient_amplification",
                      "300 addresses in To besides the helpdesk, 300 in Cc",
                      lambda rng: fix_ids("to-and-cc-mixed", compose(
                          [("To", HELPDESK + ",\r\n " + cc_list(300, "to.example")), ("Cc", cc_list(300))],
                          "Hello all\n")),
                      {"import": "normal", "answer": True, "cc_count": 300, "max_confirmation_recipients": limit}))
    return mails


def machine_mails() -> list[Mail]:
    mails = []
    expect = {"import": "normal", "answer": False}

    def simple(mail_id: str, what: str, headers: list[tuple[str, str]], signal: dict, body: str = "Automatic text\n",
               machine: bool = True) -> None:
        mails.append(Mail(mail_id, "machine_mail", what,
                          lambda rng: fix_ids(mail_id, compose(headers, body)),
                          {**expect, "answer": not machine, "machine_mail": machine, "machine_signal": signal}))

    for value in ("auto-replied", "auto-generated", "auto-notified"):
        simple(f"auto-submitted-{value}", f"Auto-Submitted: {value} (RFC 3834)",
               [("Auto-Submitted", value), ("Subject", "Re: your request")],
               {"header": "Auto-Submitted", "value": value})
    for name, value in (("X-Autoreply", "yes"), ("X-Autorespond", "Vacation"), ("X-Auto-Response-Suppress", "All"),
                        ("X-Failed-Recipients", "gone@other.example"), ("X-Autogenerated", "Reply"),
                        ("Precedence", "bulk"), ("Precedence", "junk"), ("Precedence", "list"),
                        ("Precedence", "bulk (x)"), ("List-Id", "Announcements <announce.lists.example>"),
                        ("List-Unsubscribe", "<mailto:unsubscribe@lists.example>")):
        slug = f"{name.lower()}-{value.split()[0].split('@')[0].lower()}" + ("-x" if "(x)" in value else "")
        simple(slug, f"{name}: {value} alone", [(name, value), ("Subject", "Notification")],
               {"header": name, "value": value})
    for slug, subject in (("en", "Out of Office: back on Monday"), ("en-auto", "Automatic reply: Help needed"),
                          ("de", "Abwesenheitsnotiz: Ihre Anfrage"), ("fr", "Réponse automatique : absent"),
                          ("es", "Respuesta automática: fuera de la oficina"), ("nl", "Afwezig: tot maandag")):
        encoded = subject if subject.isascii() else ew_q(subject)
        simple(f"ooo-subject-{slug}", f"out-of-office subject alone ({slug}), no machine header",
               [("Subject", encoded)], {"subject": subject})
    for local in ("noreply+ticket-4711", "no-reply", "bounces", "mailer-daemon", "postmaster"):
        simple(f"from-{local.split('+')[0]}", f"sent from {local}@ alone",
               [("From", f"System <{local}@service.example>"), ("Subject", "Your account")], {"from_local": local})

    def report(rng: random.Random) -> bytes:
        status = ("Reporting-MTA: dns; mx.other.example\r\n\r\nFinal-Recipient: rfc822; gone@other.example\r\n"
                  "Action: failed\r\nStatus: 5.1.1\r\n")
        original = part([("From", HELPDESK), ("Subject", "[#JI-ABC123] Your request"),
                         ("Message-ID", "<jicket.JI-ABC123.confirm@example.test>")], "Your ticket\r\n")
        content_type, body = multipart([
            part([("Content-Type", "text/plain")], "Delivery failed.\r\n"),
            part([("Content-Type", "message/delivery-status")], status),
            part([("Content-Type", "message/rfc822")], original),
        ], "dsn-boundary", "report")
        return fix_ids("dsn-not-daemon", compose([("From", "Helpful Admin <admin@other.example>"),
                                                  ("Subject", "Undeliverable: Your request"),
                                                  ("Content-Type", content_type + "; report-type=delivery-status")],
                                                 body))

    mails.append(Mail("dsn-not-daemon", "machine_mail",
                      "a multipart/report delivery report not sent from a daemon address", report,
                      {**expect, "machine_mail": True, "machine_signal": {"content_type": "multipart/report"}}))
    simple("auto-submitted-no", "negative control: Auto-Submitted: no is a person's mail",
           [("Auto-Submitted", "no"), ("Subject", "Real question")], {"header": "Auto-Submitted", "value": "no"},
           machine=False)
    return mails


def sender_mails() -> list[Mail]:
    mails = []

    def flood(mail_id: str, what: str, from_value: str | bytes | None, key: str) -> None:
        headers: list[tuple[str, str | bytes]] = [("Subject", f"Flood {mail_id}")]
        if from_value is not None:
            headers.append(("From", from_value))

        def make(rng: random.Random) -> bytes:
            data = compose(headers, f"Flood {filler_words(rng, 4)}\n", defaults=True)
            if from_value is None:  # no From at all
                data = data.replace(f"From: Mallory <{ATTACKER}>\r\n".encode(), b"")
            return fix_ids(mail_id, data)

        mails.append(Mail(mail_id, "sender_limit_evasion", what, make,
                          {"import": "normal", "answer": key != "*unparsable*", "sender_key": key,
                           "sender_group": "unparsable" if key == "*unparsable*" else "flood",
                           "sender_parsable": key != "*unparsable*"}))

    key = "flood@attacker.example"
    flood("sender-plain", "the flooding sender, plain", f"Flood <{key}>", key)
    for tag in ("1", "a-b", "x.y"):
        flood(f"sender-plus-{tag.replace('.', '')}", f"plus-addressed flood+{tag}@",
              f"Flood <flood+{tag}@attacker.example>", key)
    flood("sender-case", "the same address in capitals", "FLOOD <FLOOD@ATTACKER.EXAMPLE>", key)
    flood("sender-case-plus", "capitals and a plus tag", "Flood <Flood+Promo@Attacker.Example>", key)
    for slug, local in (("star", "fl*ood"), ("underscore", "fl_ood"), ("brace", "fl{ood}"), ("bracket", "fl[ood]"),
                        ("pipe", "fl|ood"), ("dash-dash", "fl--ood")):
        addr = f'"{local}"@attacker.example' if any(c in local for c in "[]") else f"{local}@attacker.example"
        flood(f"sender-wiki-{slug}", f"an address with {local!r}, which wiki escaping changes", f"X <{addr}>",
              addr.replace('"', "").lower())
    flood("sender-unparsable-brackets", "From that is no address", "<<<>>>", "*unparsable*")
    flood("sender-unparsable-missing", "no From header", None, "*unparsable*")
    flood("sender-unparsable-group", "From as an empty group", "undisclosed-recipients:;", "*unparsable*")
    flood("sender-unparsable-garbage", "From of 8-bit garbage", b"\xff\xfe\x00garbage", "*unparsable*")
    return mails


def cost_mails() -> list[Mail]:
    mails = []

    def subject_words(rng: random.Random) -> bytes:
        words = "\r\n ".join(ew_q("a") for _ in range(300_000))
        return fix_ids("cost-subject-300k-words", compose([("Subject", words)], "Short body\n"))

    mails.append(Mail("cost-subject-300k-words", "cost", "a Subject of 300,000 encoded words (quadratic decoding)",
                      subject_words, {"import": "degraded", "answer": True, "encoded_words": 300_000,
                                      "max_seconds": MAX_SECONDS}))

    def big_html(rng: random.Random) -> bytes:
        cells = "".join(f"<p><i>{i}</i></p>" for i in range(600_000))  # 1.2 million elements
        html = f"<html><body>{cells}</body></html>"
        headers = [("Subject", "Big HTML"), ("Content-Type", 'text/html; charset="utf-8"')]
        return fix_ids("cost-html-10mb", compose(headers, html.replace("</p>", "</p>\n")))

    mails.append(Mail("cost-html-10mb", "cost", "a 10 MB HTML body of 1.2 million elements", big_html,
                      {"import": "degraded", "answer": True, "elements": 1_200_000, "min_size": 10_000_000,
                       "max_seconds": MAX_SECONDS, "max_rss_mb": 300 + 3 * 11}))

    def big_name(rng: random.Random) -> bytes:
        name = "A" * 5_000_000
        return fix_ids("cost-sender-name-5mb", compose([("From", f'"{name}" <{ATTACKER}>')], "Hi\n"))

    mails.append(Mail("cost-sender-name-5mb", "cost", "a 5 MB sender name (description far over 32,767 characters)",
                      big_name, {"import": "degraded", "answer": True, "name_length": 5_000_000,
                                 "max_seconds": MAX_SECONDS, "jira_text_limit": 32_767}))

    def deep_mime(mail_id: str, depth: int, subject: str, sender: str) -> Callable[[random.Random], bytes]:
        def make(rng: random.Random) -> bytes:
            inner = part([("Content-Type", 'text/plain; charset="utf-8"')], f"Deepest text {filler_words(rng, 3)}\r\n")
            for level in reversed(range(1, depth)):
                content_type, body = multipart([inner], f"deep-{level}")
                inner = part([("Content-Type", content_type)], body)
            content_type, body = multipart([inner], "deep-0")
            return fix_ids(mail_id, compose([("From", sender), ("Subject", subject), ("Content-Type", content_type)],
                                            body))
        return make

    for mail_id, subject, sender in (("cost-mime-2000-a", "Deep A", "Anna <anna@customer.example>"),
                                     ("cost-mime-2000-b", "Deep B", "Bert <bert@customer.example>")):
        mails.append(Mail(mail_id, "cost", f"MIME nested 2,000 deep ({subject}, from {sender})",
                          deep_mime(mail_id, 2000, subject, sender),
                          {"import": "degraded", "answer": True, "nesting_depth": 2000, "subject": subject,
                           "sender": sender.split("<")[1].rstrip(">"), "max_seconds": MAX_SECONDS,
                           "distinct_from": ["cost-mime-2000-b" if mail_id.endswith("a") else "cost-mime-2000-a"]}))

    def many_headers(rng: random.Random) -> bytes:
        headers = [(f"X-Filler-{i % 50}", f"value {i}") for i in range(100_000)]
        return fix_ids("cost-headers-100k", compose(headers + [("Subject", "Many headers")], "Body\n"))

    mails.append(Mail("cost-headers-100k", "cost", "100,000 header lines", many_headers,
                      {"import": "degraded", "answer": True, "header_count": 100_000, "max_seconds": MAX_SECONDS}))

    def long_body_line(rng: random.Random) -> bytes:
        return fix_ids("cost-line-4mb", compose([("Subject", "One long line")], "x" * 4_000_000 + "\n"))

    mails.append(Mail("cost-line-4mb", "cost", "a body that is one line of 4 MB", long_body_line,
                      {"import": "degraded", "answer": True, "longest_line": 4_000_000, "max_seconds": MAX_SECONDS}))

    def long_header_line(rng: random.Random) -> bytes:
        return fix_ids("cost-header-line-200k", compose([("Subject", "S" * 200_000)], "Body\n"))

    mails.append(Mail("cost-header-line-200k", "cost", "a Subject that is one unfolded line of 200,000 characters",
                      long_header_line, {"import": "normal", "answer": True, "longest_line": 200_000,
                                         "max_seconds": MAX_SECONDS, "jira_summary_limit": 255}))

    def many_parts(rng: random.Random) -> bytes:
        parts = [attachment(f'filename="f{i}.txt"', b"x", "text/plain") for i in range(5_000)]
        content_type, body = multipart(parts, "many-parts")
        return fix_ids("cost-parts-5000", compose([("Subject", "5000 files"), ("Content-Type", content_type)], body))

    mails.append(Mail("cost-parts-5000", "cost", "5,000 tiny attachments", many_parts,
                      {"import": "degraded", "answer": True, "parts": 5_000, "max_seconds": MAX_SECONDS}))
    return mails


def wiki_mails() -> list[Mail]:
    mails = []
    forged = "{anchor:jicket-mail-0123456789abcdef0123456789abcdef}"

    def plain(mail_id: str, what: str, text: str, probe: str, effect: str) -> None:
        mails.append(Mail(mail_id, "wiki_injection", what,
                          lambda rng: fix_ids(mail_id, compose([("Subject", "Question")], text)),
                          {"import": "normal", "answer": True, "wiki_probe": probe, "effect": effect}))

    def html(mail_id: str, what: str, markup: str, probe: str, effect: str) -> None:
        mails.append(Mail(mail_id, "wiki_injection", what,
                          lambda rng: fix_ids(mail_id, compose(
                              [("Subject", "Question"), ("Content-Type", 'text/html; charset="utf-8"')],
                              f"<html><body>{markup}</body></html>")),
                          {"import": "normal", "answer": True, "wiki_probe": probe, "effect": effect}))

    plain("wiki-remote-image", "a remote image (tracking pixel) written as wiki markup in plain text",
          "Look: !https://tracker.example/x.png!\n", "!https://tracker.example/x.png!", "remote_image")
    plain("wiki-remote-image-params", "a remote image with parameters",
          "!https://tracker.example/p.gif|width=1,height=1!\n", "!https://tracker.example/p.gif|width=1,height=1!",
          "remote_image")
    plain("wiki-anchor-plain", "Jicket's marker forged in plain text", f"Already imported {forged}\n", forged,
          "forged_marker")
    html("wiki-anchor-pre", "Jicket's marker forged inside <pre>", f"<pre>{forged}</pre>", forged, "forged_marker")
    html("wiki-anchor-code", "Jicket's marker inside <code> and <tt>", f"<p><code>{forged}</code><tt>{forged}</tt></p>",
         forged, "forged_marker")
    plain("wiki-html-macro", "the {html} macro", "{html}<script>alert(1)</script>{html}\n", "{html}", "macro")
    plain("wiki-mention", "user mentions that notify staff", "Ping [~admin] and [~jira-administrators]\n", "[~admin]",
          "mention")
    plain("wiki-color", "colour macro", "{color:red}URGENT{color}\n", "{color:red}", "macro")
    plain("wiki-noformat-breakout", "closing {noformat} early to break out of a quoted block",
          "{noformat}\n{anchor:jicket-mail-feedface}\n{noformat}\n", "{noformat}", "macro")
    html("wiki-html-link-js", "an HTML link to javascript:", '<a href="javascript:alert(1)">click</a>',
         "javascript:", "link")
    html("wiki-html-img-remote", "a remote <img> in HTML (tracking pixel)",
         '<p>Hi</p><img src="https://tracker.example/pixel.gif" width="1" height="1">',
         "https://tracker.example/pixel.gif", "remote_image")
    return mails


def invisible_mails() -> list[Mail]:
    mails = []
    for mail_id, name, codepoints, encode, what in (
        ("filename-rlo", "invoice\u202egnp.exe", ["\u202e"], "rfc2231", "RIGHT-TO-LEFT OVERRIDE: exe reads as png"),
        ("filename-rlo-rfc2047", "photo\u202egpj.scr", ["\u202e"], "rfc2047", "RLO in an RFC 2047 file name"),
        ("filename-zero-width", "in\u200bvoice\u200d.pdf\u2060.exe", ["\u200b", "\u200d", "\u2060"], "rfc2231",
         "zero-width space, joiner and word joiner"),
        ("filename-isolates", "a\u2066b\u2067c\u2068d\u2069.txt", ["\u2066", "\u2067", "\u2068", "\u2069"], "rfc2231",
         "bidi isolates"),
        ("filename-bom-tags", "\ufeffreport\U000e0041\U000e0042.pdf", ["\ufeff", "\U000e0041", "\U000e0042"],
         "rfc2231", "byte order mark and Unicode tag characters"),
        ("filename-controls", "a\x07b\x1bc\x7f.txt", ["\x07", "\x1b", "\x7f"], "rfc2231", "C0 controls and DEL"),
    ):
        params = f"filename*=utf-8''{pct(name)}" if encode == "rfc2231" else f'filename="{ew_b(name)}"'
        mails.append(Mail(mail_id, "invisible_characters", what,
                          lambda rng, params=params, mail_id=mail_id: fix_ids(mail_id, with_attachment(
                              [("Subject", "File attached")], "See the file.\n", params)),
                          {"import": "normal", "answer": True, "filename": name, "decodings": [encode],
                           "forbidden_codepoints": codepoints}))
    subject = "Pay \u202eputni\u202c now\u200b"
    mails.append(Mail("subject-bidi", "invisible_characters", "bidi override and zero-width space in the Subject",
                      lambda rng: fix_ids("subject-bidi", compose([("Subject", ew_b(subject))], "Hi\n")),
                      {"import": "normal", "answer": True, "subject": subject, "decodings": ["rfc2047"],
                       "forbidden_codepoints": ["\u202e", "\u202c", "\u200b"], "field": "Subject"}))
    return mails


def malformed_mails() -> list[Mail]:
    mails = []
    text_part = part([("Content-Type", "text/plain")], "Readable text\r\n")

    def add(mail_id: str, what: str, make: Callable[[random.Random], bytes], defects: list[str], **more) -> None:
        mails.append(Mail(mail_id, "malformed_mime", what, lambda rng: fix_ids(mail_id, make(rng)),
                          {"import": "normal", "answer": True, "defects": defects, **more}))

    add("mime-missing-close", "the closing boundary is missing",
        lambda rng: compose([("Content-Type", 'multipart/mixed; boundary="b1"')], b"--b1\r\n" + text_part),
        ["CloseBoundaryNotFoundDefect"])
    add("mime-boundary-absent", "the declared boundary never occurs",
        lambda rng: compose([("Content-Type", 'multipart/mixed; boundary="declared"')], b"--other\r\n" + text_part
                            + b"--other--\r\n"), ["StartBoundaryNotFoundDefect"])
    add("mime-no-boundary-param", "multipart without a boundary parameter",
        lambda rng: compose([("Content-Type", "multipart/mixed")], b"--x\r\n" + text_part + b"--x--\r\n"),
        ["NoBoundaryInMultipartDefect"])
    add("mime-bad-base64-chars", "base64 with characters outside the alphabet",
        lambda rng: compose([("Content-Transfer-Encoding", "base64")], "SGVsbG8g!!!d29ybGQ*&^%\n"),
        ["InvalidBase64CharactersDefect"])
    add("mime-bad-base64-padding", "base64 with wrong padding",
        lambda rng: compose([("Content-Transfer-Encoding", "base64")], "SGVsbG8gd29ybGQ\n"),
        ["InvalidBase64PaddingDefect"])
    add("mime-unknown-charset", "an unknown charset",
        lambda rng: compose([("Content-Type", 'text/plain; charset="x-unknown-42"')], b"Caf\xe9 cr\xe8me\r\n"),
        [], charset="x-unknown-42")
    add("mime-8bit-headers", "raw 8-bit (Latin-1) bytes in Subject and From",
        lambda rng: compose([("Subject", b"Probl\xe8me \xe0 r\xe9soudre"),
                             ("From", b"J\xfcrgen <juergen@attacker.example>")], "Text\n"), [], eight_bit_headers=True)
    add("mime-lying-cte", "Content-Transfer-Encoding quoted-printable over a body with broken escapes",
        lambda rng: compose([("Content-Transfer-Encoding", "quoted-printable")], "Broken =ZZ escape =\n=4"), [])
    add("mime-header-no-colon", "a header line without a colon in the middle of the headers",
        lambda rng: b"From: Mallory <" + ATTACKER.encode() + b">\r\nThis is not a header\r\nSubject: Hi\r\n"
        + b"Message-ID: <{id}@attacker.example>\r\n\r\nBody\r\n", ["MissingHeaderBodySeparatorDefect"])
    return mails


def unreadable_mails() -> list[Mail]:
    mails = []
    garbage_headers: list[tuple[str, str | bytes]] = [
        ("From", "=?x-bogus?b?!!!?="), ("To", "=?x-bogus?q?=ZZ?="), ("Subject", "=?utf-8?b?////?="),
        ("Message-ID", "=?x-bogus?b?bm9uZQ==?="), ("Date", "not a date"), ("Content-Type", "garbage/;;;=")]
    for mail_id, other in (("unreadable-a", "unreadable-b"), ("unreadable-b", "unreadable-a")):
        mails.append(Mail(mail_id, "unreadable_headers",
                          "every header unreadable; the same headers as its twin, another body",
                          lambda rng, mail_id=mail_id: compose(garbage_headers,
                                                               f"Body of {mail_id}: {filler_words(rng, 6)}\n",
                                                               defaults=False),
                          {"import": "degraded", "answer": False, "distinct_from": [other], "readable_headers": 0}))
    binary = [("From", b"\x00\x01\x02\xff"), ("Subject", b"\xc3\x28\xa0\xa1"), ("Message-ID", b"\xfe\xff")]
    for mail_id, other in (("unreadable-binary-a", "unreadable-binary-b"),
                           ("unreadable-binary-b", "unreadable-binary-a")):
        mails.append(Mail(mail_id, "unreadable_headers", "headers of binary junk; twin of another with the same junk",
                          lambda rng, mail_id=mail_id: compose(binary, f"Body {mail_id} {filler_words(rng, 4)}\n",
                                                               defaults=False),
                          {"import": "degraded", "answer": False, "distinct_from": [other], "readable_headers": 0}))
    mails.append(Mail("no-headers", "unreadable_headers", "no header at all, only a body",
                      lambda rng: b"\r\nJust a body " + filler_words(rng, 5).encode() + b"\r\n",
                      {"import": "degraded", "answer": False, "distinct_from": [], "readable_headers": 0}))
    return mails


def corpus() -> list[Mail]:
    """Every mail of the corpus, in manifest order."""
    mails = (html_mails() + injection_mails() + recipient_mails() + machine_mails() + sender_mails() + cost_mails()
             + wiki_mails() + invisible_mails() + malformed_mails() + unreadable_mails())
    ids = [mail.id for mail in mails]
    duplicates = {i for i in ids if ids.count(i) > 1}
    if duplicates:
        raise ValueError(f"duplicate ids: {sorted(duplicates)}")
    return mails


def by_id(mail_id: str) -> Mail:
    """The corpus mail with this id."""
    for mail in corpus():
        if mail.id == mail_id:
            return mail
    raise KeyError(mail_id)


def build(mail_id: str) -> bytes:
    """The bytes of one corpus mail (committed or generated at test time)."""
    return by_id(mail_id).build()


def materialise(directory: Path) -> dict[str, Path]:
    """Write every mail generated at test time into ``directory``; returns their paths by id.
    The committed mails are in ``MAILS``; the manifest's ``file`` names the file in either place."""
    directory.mkdir(parents=True, exist_ok=True)
    written = {}
    for entry in load_manifest():
        if entry["generated"]:
            path = directory / Path(entry["file"]).name
            path.write_bytes(build(entry["id"]))
            written[entry["id"]] = path
    return written


def load_manifest(path: Path = MANIFEST) -> list[dict]:
    """The manifest's entries."""
    return json.loads(path.read_text())["mails"]


def write(out: Path = HERE) -> list[dict]:
    """Write the committed mails into ``out/mails`` and the manifest into ``out/manifest.json``."""
    mails_dir = out / "mails"
    mails_dir.mkdir(parents=True, exist_ok=True)
    for old in mails_dir.glob("*.eml"):
        old.unlink()
    entries = []
    for mail in corpus():
        data = mail.build()
        generated = len(data) > COMMIT_LIMIT
        if not generated:
            (mails_dir / f"{mail.id}.eml").write_bytes(data)
        entries.append({"id": mail.id, "class": mail.cls, "description": mail.description,
                        "file": f"mails/{mail.id}.eml", "generated": generated, "size": len(data),
                        "sha256": hashlib.sha256(data).hexdigest(), "expect": mail.expect})
    manifest = {"seed": SEED, "commit_limit": COMMIT_LIMIT, "helpdesk": HELPDESK, "victim": VICTIM,
                "confirmation_cc_limit": CONFIRMATION_CC_LIMIT, "classes": CLASSES, "mails": entries}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=True) + "\n")
    return entries


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, default=HERE, help="directory for mails/ and manifest.json")
    parser.add_argument("--materialise", type=Path, help="also write the mails generated at test time here")
    args = parser.parse_args(argv)
    entries = write(args.out)
    if args.materialise:
        materialise_from = {e["id"]: e for e in entries}
        args.materialise.mkdir(parents=True, exist_ok=True)
        for mail_id, entry in materialise_from.items():
            if entry["generated"]:
                (args.materialise / f"{mail_id}.eml").write_bytes(build(mail_id))
    committed = sum(e["size"] for e in entries if not e["generated"])
    print(f"{len(entries)} mails ({sum(e['generated'] for e in entries)} generated at test time), "
          f"{committed / 1e6:.1f} MB committed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
