"""Cut quoted history and signatures from replies, so a comment holds only what is new.

Text: mail-parser-reply (``mailparser_reply``) finds the "On ... wrote:" / "From: ... Sent: ..."
headers of quoted mails and the signatures, in many languages. Its result is mapped back to
*line numbers* of the input, so the cut can be applied to a parallel rendering with the same lines
(the wiki markup of a converted HTML mail) without the library's whitespace normalisation.

HTML: the quote containers mail clients mark (Gmail's ``gmail_quote``, Apple/Thunderbird
``blockquote type=cite``, Outlook's ``divRplyFwdMsg`` and border-top header block, Yahoo's
``yahoo_quoted``) and signature blocks are removed from the tree before conversion.
"""

from __future__ import annotations

import logging
import re

from bs4 import BeautifulSoup, Tag
from mailparser_reply.constants import MAIL_LANGUAGES
from mailparser_reply.parser import EmailMessage

from jicket_ops.domain.settings import DEFAULT_REPLY_LANGUAGES

log = logging.getLogger("jicket")

SUPPORTED_LANGUAGES = tuple(sorted(MAIL_LANGUAGES))
MAX_ANALYSED = 60_000  # characters handed to the reply parser; longer mails are cut in their first part only
_QUOTED = re.compile(r"^\s*>")
_HEADER_BLOCK = re.compile(r"\b(From|Von|De|Van|Från|Fra|Od|Da|Sent|Gesendet|Envoyé|Enviado|Date|Datum)\s*:",
                           re.IGNORECASE)


def kept_lines(text: str, languages: tuple[str, ...] = DEFAULT_REPLY_LANGUAGES) -> int | None:
    """How many leading lines of ``text`` are the new reply; None when nothing should be cut."""
    if not text.strip():
        return None
    analysed = text[:MAX_ANALYSED]
    try:
        message = EmailMessage(text=analysed, languages=list(languages), keep_hyphen_lists=True).read()
    except Exception as exc:  # noqa: BLE001 - the library on odd input: keep the whole text
        log.warning("reply parser failed (%s); the reply is kept whole", exc)
        return None
    if not message.replies:
        return None
    first = message.replies[0]
    if first.headers:
        return None  # nothing above the first quote header: a bottom-posted or inline reply, keep it
    body = first.body
    if not body.strip():
        return None
    normalised = [line.strip() for line in analysed.replace("\r\n", "\n").split("\n")]
    body_lines = body.split("\n")
    start = next((i for i, line in enumerate(normalised) if line), 0)
    end = None
    if normalised[start:start + len(body_lines)] == body_lines:
        end = start + len(body_lines)
    else:  # the library also removed something inside (a disclaimer): cut after its last kept line
        last = body_lines[-1].strip()
        for i in range(start, len(normalised)):
            if normalised[i] == last:
                end = i + 1
                break
    if end is None:
        return None
    lines = text.replace("\r\n", "\n").split("\n")
    # a quote without a header line ("> ...") at the very end is history too
    while end > 0 and (not lines[end - 1].strip() or _QUOTED.match(lines[end - 1])):
        end -= 1
    if end <= 0:
        return None
    total = len(lines)
    while total > 0 and not lines[total - 1].strip():
        total -= 1
    return end if end < total else None


def cut_text(text: str, languages: tuple[str, ...] = DEFAULT_REPLY_LANGUAGES) -> tuple[str, bool]:
    """(the new part of a plain-text reply, whether anything was cut)."""
    keep = kept_lines(text, languages)
    if keep is None:
        return text, False
    return "\n".join(text.replace("\r\n", "\n").split("\n")[:keep]).rstrip(), True


# -- HTML -------------------------------------------------------------------------------------------------
_QUOTE_SELECTORS = (
    "div.gmail_quote", "blockquote.gmail_quote", "div.gmail_quote_container", "div.yahoo_quoted",
    "div[id^=yahoo_quoted]", "blockquote[type=cite]", "div.moz-cite-prefix",
    "div#mail-editor-reference-message-container",
    "div.OutlookMessageHeader", "div.zmail_extra", "div[data-marker=__QUOTED_TEXT__]",
)
_SIGNATURE_SELECTORS = (
    "div.gmail_signature", "[data-smartmail=gmail_signature]", "div#Signature", "div.moz-signature",
    "div#signature", "div.signature", "div#ms-outlook-mobile-signature", "div#divtagdefaultwrapper-signature",
)
_CUT_REST_SELECTORS = ("div#divRplyFwdMsg", "div#appendonsend", "hr#stopSpelling")


def _remove_rest(tag: Tag) -> None:
    """Remove ``tag`` and everything after it in document order (the quoted mail that follows)."""
    node: Tag | None = tag
    while node is not None and node.name not in ("body", "html", "[document]"):
        for sibling in list(node.next_siblings):
            sibling.extract()
        parent = node.parent
        if node is tag:
            node.extract()
        node = parent


def _outlook_header_block(soup: BeautifulSoup) -> Tag | None:
    """Outlook desktop: a div with a top border holding "From: ... Sent: ..." starts the quoted mail."""
    for div in soup.find_all(["div", "p"]):
        style = str(div.get("style") or "").replace(" ", "").lower()
        if "border-top:solid" in style and "border:none" in style:
            if len(_HEADER_BLOCK.findall(div.get_text(" ")[:600])) >= 2:
                return div
    return None


def cut_html(soup: BeautifulSoup) -> bool:
    """Remove quoted history and signatures from a parsed HTML reply, in place; whether anything went."""
    removed = False
    for selector in _CUT_REST_SELECTORS:
        found = soup.select_one(selector)
        if found is not None:
            _remove_rest(found)
            removed = True
    header = _outlook_header_block(soup)
    if header is not None:
        _remove_rest(header)
        removed = True
    for selector in _QUOTE_SELECTORS + _SIGNATURE_SELECTORS:
        for found in soup.select(selector):
            if found.parent is not None:
                found.extract()
                removed = True
    return removed
