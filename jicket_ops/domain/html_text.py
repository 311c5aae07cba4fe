"""Bounded work on a mail's HTML: its shape measured and its text read in one linear, iterative pass (pure).

The tree converter (``wiki_markup.html_to_wiki``) walks the parsed HTML recursively and BeautifulSoup
takes many times the HTML's size in memory; a sender can nest tags thousands deep or send megabytes of
markup. HTML beyond these limits is read by ``flat_text`` instead (no recursion, no tree), and the mail is
imported degraded: its text as plain text, with a note, and the original attached.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

MAX_HTML_CHARS = 1_000_000  # HTML longer than this is not converted as a tree
MAX_HTML_DEPTH = 120  # nor HTML nested deeper (a recursive walk needs a frame or more per level)
MAX_HTML_ELEMENTS = 40_000  # nor HTML with more elements
MAX_FLAT_CHARS = 200_000  # text read from HTML, at most (Jira takes 32,767 characters per field anyway)

_TAG = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9:-]{0,40})[^>]*?(/?)>")
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
                   "track", "wbr", "p", "li", "td", "th", "tr", "option"})  # (the last: often left open)
_BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table",
                    "ul", "ol", "section", "article", "hr"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})


def html_shape(html: str) -> tuple[int, int]:
    """(deepest nesting, number of elements), measured by a linear scan of the tags (no parse tree)."""
    depth = deepest = elements = 0
    for match in _TAG.finditer(html):
        closing, name, self_closing = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            depth = max(0, depth - 1)
            continue
        elements += 1
        if not self_closing and name not in _VOID:
            depth += 1
            deepest = max(deepest, depth)
    return deepest, elements


def too_complex(html: str) -> str | None:
    """Why this HTML is not converted as a tree, or None when it may be."""
    if len(html) > MAX_HTML_CHARS:
        return f"its HTML is {len(html):,} characters long (limit {MAX_HTML_CHARS:,})"
    depth, elements = html_shape(html)
    if depth > MAX_HTML_DEPTH:
        return f"its HTML is nested {depth} levels deep (limit {MAX_HTML_DEPTH})"
    if elements > MAX_HTML_ELEMENTS:
        return f"its HTML has {elements:,} elements (limit {MAX_HTML_ELEMENTS:,})"
    return None


class _FlatText(HTMLParser):
    def __init__(self, limit: int) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIP:
            self.skipping += 1
        elif tag in _BLOCK:
            self._add("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK:
            self._add("\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self._add(data)

    def _add(self, text: str) -> None:
        if self.size < self.limit:
            self.parts.append(text[: self.limit - self.size])
            self.size += len(self.parts[-1])


def flat_text(html: str, limit: int = MAX_FLAT_CHARS) -> str:
    """The readable text of any HTML, however nested or large, in one pass; at most ``limit`` characters."""
    parser = _FlatText(limit)
    # Fed in pieces, stopping once enough text is read: the cost stays linear in what is read.
    step = 65536
    for start in range(0, len(html), step):
        parser.feed(html[start:start + step])
        if parser.size >= limit:
            break
    parser.close()
    text = "".join(parser.parts)
    lines = (re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
