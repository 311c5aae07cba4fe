"""How jicket 0.6.2 read a mail, reconstructed for comparison (not used by Jicket itself).

0.6.2 parsed with the ``email`` package's defaults and decoded the text part with the charset the
mail declared: ``payload.decode(part.get_content_charset())``; the subject with
``make_header(decode_header(...))``; it uploaded no attachments. A missing charset (``None``), an
unknown one (``LookupError``) or bytes that lie about theirs (``UnicodeDecodeError``) raised, and
the mail stayed in the inbox, blocking it. The design notes measured 37 crashes in a public corpus
of 103 real-world mails with the original; this reconstruction follows the same calls.
"""

from __future__ import annotations

import email
import email.utils
from email.header import decode_header, make_header

import html2text


def legacy_parse(raw: bytes) -> tuple[str, str, str]:
    """(subject, sender, text) as 0.6.2 got them; raises where 0.6.2 crashed."""
    message = email.message_from_bytes(raw)
    subject = str(make_header(decode_header(message["Subject"])))
    sender = email.utils.parseaddr(message["From"])[1]
    for wanted in ("text/plain", "text/html"):
        for part in message.walk():
            if part.get_content_type() == wanted and not part.get_filename():
                text = part.get_payload(decode=True).decode(part.get_content_charset())
                return subject, sender, html2text.html2text(text) if wanted == "text/html" else text
    return subject, sender, ""


def crashes(raw: bytes) -> str | None:
    """The exception 0.6.2's parsing raises on this mail, or None."""
    try:
        legacy_parse(raw)
    except Exception as exc:  # noqa: BLE001 - counting them is the point
        return f"{type(exc).__name__}: {exc}"[:200]
    return None
