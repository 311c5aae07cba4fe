"""Jira wiki markup from mail text: escaping, plain text, and HTML (parsed with BeautifulSoup).

Everything a sender wrote is escaped, so a mail cannot inject markup: no macros (``{anchor:...}``
markers included), links, mentions, tables or images except those Jicket itself writes. HTML is
walked as a tree (``html.parser``): paragraphs, line breaks, headings, lists, links, tables,
bold/italic/underline/strike, block quotes and preformatted text become wiki markup; scripts,
styles, hidden elements and remote images are dropped; ``cid:`` images become ``!filename!``.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

from bs4 import BeautifulSoup, Comment, Doctype, MarkupResemblesLocatorWarning, NavigableString, Tag

ZWSP = "\u200b"  # breaks a markup sequence without a visible character
LINE = "\x01"  # marks a converted block that joins its neighbours with a line break, not an empty line
_ALWAYS = set("{}[]|")
_BOUNDARY = set("*_+^~-")
_URL = re.compile(r"(?:https?://|ftp://|mailto:)[^\s<>\"]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)'\"]}"
_LINE_START_MARKUP = re.compile(r"^(\s*)(h[1-6]|bq)\.(\s)")
_WIKI_ESCAPE = re.compile(r"\\([{}\[\]|!*_+^~\-#?\\])")
_MACRO_BLOCKS = ("{quote}", "{noformat}", "{code}", "{panel}")

DROP_TAGS = {"script", "style", "head", "title", "meta", "link", "noscript", "template", "iframe", "object",
             "embed", "svg", "canvas", "audio", "video", "button", "input", "select", "textarea", "map", "xml",
             "base", "frame", "frameset", "applet", "param", "source", "track", "math"}
BLOCK_TAGS = {"p", "div", "section", "article", "header", "footer", "main", "aside", "nav", "center", "address",
              "figure", "figcaption", "form", "fieldset", "details", "summary", "dl", "dt", "dd", "body", "html",
              "legend", "caption", "hgroup"}
INLINE_MARKS = {"b": "*", "strong": "*", "i": "_", "em": "_", "cite": "_", "var": "_", "u": "+", "ins": "+",
                "s": "-", "strike": "-", "del": "-", "sup": "^", "sub": "~"}
MONO_TAGS = {"code", "tt", "kbd", "samp"}
URL_SCHEMES = ("http://", "https://", "mailto:", "ftp://")


# -- escaping ---------------------------------------------------------------------------------------------
def _escape_url(url: str) -> str:
    """A URL safe inside wiki markup: characters that would end or start markup are percent-encoded."""
    return "".join(quote(ch, safe="") if ch in "{}[]|!^*\\ " else ch for ch in url)


def _escape_plain(text: str, line_start: bool = True, counts: dict[str, int] | None = None) -> str:
    """Escape what could become markup. Emphasis marks (``* _ + ^ ~ -``) and ``!`` only when the line has
    another one that could close the pair; list and rule starts; ``--`` dashes; ``??`` citations."""
    out: list[str] = []
    n = len(text)
    counts = counts or {ch: text.count(ch) for ch in "*_+^~-!?"}
    leading = len(text) - len(text.lstrip()) if line_start else -1
    for i, ch in enumerate(text):
        prev = text[i - 1] if i else " "
        nxt = text[i + 1] if i + 1 < n else " "
        if ch in _ALWAYS:
            out.append("\\" + ch)
        elif i == leading and ch in "*-#":
            out.append("\\" + ch)  # a list item or a horizontal rule
        elif ch == "-" and (prev == "-" or nxt == "-"):
            out.append("\\-")  # -- and --- become dashes
        elif ch in _BOUNDARY and counts[ch] > 1 and not (prev.isalnum() and nxt.isalnum()):
            out.append("\\" + ch)
        elif ch == "!" and counts["!"] > 1 and not nxt.isspace():
            out.append("\\!")
        elif ch == "?" and (nxt == "?" or prev == "?"):
            out.append("\\?")
        elif ch == "\\":
            # A backslash before another or before markup would escape it, and \\ is a line break.
            out.append("\\" + ZWSP if nxt == "\\" or nxt in _ALWAYS or nxt in _BOUNDARY or nxt in "!?#" else "\\")
        else:
            out.append(ch)
    return "".join(out)


def escape_line(line: str) -> str:
    """One line of sender text as wiki markup that renders exactly that text."""
    pieces: list[str] = []
    pos = 0
    counts = {ch: line.count(ch) for ch in "*_+^~-!?"}
    for match in _URL.finditer(line):
        url = match.group(0)
        trailing = ""
        while url and url[-1] in _URL_TRAILING:
            trailing = url[-1] + trailing
            url = url[:-1]
        if len(url) < 8:
            continue
        before = _escape_plain(line[pos:match.start()], pos == 0, counts)
        if before.endswith("!") and not before.endswith("\\!"):
            before = before[:-1] + "\\!"  # ``!URL!`` would show a remote image (a tracking pixel)
        pieces.append(before)
        pieces.append(_escape_url(url))
        pos = match.start() + len(url)
    pieces.append(_escape_plain(line[pos:], pos == 0, counts))
    escaped = "".join(pieces)
    return _LINE_START_MARKUP.sub(lambda m: f"{m.group(1)}{m.group(2)[0]}{ZWSP}{m.group(2)[1:]}.{m.group(3)}",
                                  escaped)


def escape_text(text: str) -> str:
    """Sender text (any number of lines) as wiki markup that renders exactly that text."""
    return "\n".join(escape_line(line) for line in (text or "").split("\n"))


def unescape(wiki: str) -> str:
    """Roughly the text a reader sees (for reply detection on converted HTML): escapes and ZWSP removed."""
    return _WIKI_ESCAPE.sub(r"\1", wiki).replace(ZWSP, "")


def balance_macros(wiki: str) -> str:
    """Close a ``{quote}``/``{noformat}``/``{code}`` block left open by a cut."""
    for macro in _MACRO_BLOCKS:
        if wiki.count(macro) % 2:
            wiki = wiki.rstrip() + "\n" + macro
    return wiki


def tidy(wiki: str) -> str:
    """Trailing spaces off, at most one empty line in a row, no leading/trailing empty lines."""
    lines = [line.rstrip() for line in wiki.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:
        if not line.strip() and (not out or not out[-1].strip()):
            continue
        out.append(line if line.strip() else "")
    return "\n".join(out).strip("\n")


# -- plain text -------------------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"\[cid:([^\]\s]+)\]|\[image:\s*([^\]]+?)\s*\]", re.IGNORECASE)


def plain_to_wiki(text: str, images: Callable[[str], str | None] | None = None) -> str:
    """Plain mail text as wiki markup: escaped, line breaks kept, ``>`` quoted blocks as ``{quote}``.

    ``images`` maps a ``[cid:...]`` (Outlook) or ``[image: name]`` (Gmail) placeholder to wiki markup
    for the attachment it names, or None to keep the placeholder as text.
    """
    lines = (text or "").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    quoted: list[str] = []

    def flush_quote() -> None:
        if quoted:
            body = tidy("\n".join(quoted))
            if body:
                out.extend(["{quote}", body, "{quote}"])
            quoted.clear()

    for line in lines:
        if line.lstrip().startswith(">"):
            quoted.append(_line_to_wiki(re.sub(r"^\s*(>\s?)+", "", line), images))
            continue
        flush_quote()
        out.append(_line_to_wiki(line, images))
    flush_quote()
    return tidy("\n".join(out))


def _line_to_wiki(line: str, images: Callable[[str], str | None] | None) -> str:
    if images is None or "[" not in line:
        return escape_line(line)
    pieces: list[str] = []
    pos = 0
    for match in _PLACEHOLDER.finditer(line):
        wiki = images(match.group(1) or match.group(2))
        if wiki is None:
            continue
        pieces.append(escape_line(line[pos:match.start()]))
        pieces.append(wiki)
        pos = match.end()
    pieces.append(escape_line(line[pos:]))
    return "".join(pieces)


# -- HTML -------------------------------------------------------------------------------------------------
@dataclass
class DataImage:
    """An image embedded in the HTML as a data: URI; it becomes an attachment."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class _Context:
    images: Callable[[str], str | None]  # cid -> wiki markup (or None: not available)
    data_images: list[DataImage]
    name_data_image: Callable[[str, bytes], str]  # (content type, bytes) -> wiki markup
    in_quote: bool = False
    in_table: bool = False
    marks: frozenset[str] = frozenset()
    list_prefix: str = ""

    def inner(self, **changes) -> _Context:
        values = {**self.__dict__, **changes}
        return _Context(**values)


def _is_hidden(tag: Tag) -> bool:
    if tag.has_attr("hidden"):
        return True
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return "display:none" in style or "mso-hide:all" in style or "visibility:hidden" in style


def _collapse(text: str) -> str:
    return re.sub(r"[ \t\r\n\f\v\u00a0]+", " ", text)


class _Converter:
    def __init__(self, ctx: _Context) -> None:
        self.root_ctx = ctx

    # blocks: a list of wiki blocks (each possibly multi-line), joined by empty lines
    def blocks(self, node: Tag, ctx: _Context) -> list[str]:
        out: list[str] = []
        inline: list[str] = []

        def flush() -> None:
            text = "".join(inline)
            inline.clear()
            text = "\n".join(re.sub(r"(?<=\S)  +(?=\S)", " ", part.strip()) for part in text.split("\n"))
            if text.strip():
                out.append(text.strip("\n"))

        for child in node.children:
            if isinstance(child, (Comment, Doctype)) or not isinstance(child, (NavigableString, Tag)):
                continue
            if isinstance(child, NavigableString):
                if type(child) is not NavigableString:  # CData, ProcessingInstruction, Declaration
                    continue
                inline.append(self.text(str(child), ctx))
                continue
            name = child.name.lower() if child.name else ""
            if name in DROP_TAGS or _is_hidden(child):
                continue
            if self.is_block(child):
                flush()
                out.extend(b for b in self.block(child, ctx) if b.strip())
            else:
                inline.append(self.inline(child, ctx))
        flush()
        return out

    def is_block(self, tag: Tag) -> bool:
        name = tag.name.lower()
        if name in BLOCK_TAGS or name in ("ul", "ol", "table", "blockquote", "pre", "hr", "li", "tr", "td", "th",
                                          "thead", "tbody", "tfoot"):
            return True
        return bool(re.fullmatch(r"h[1-6]", name))

    def block(self, tag: Tag, ctx: _Context) -> list[str]:
        name = tag.name.lower()
        if re.fullmatch(r"h[1-6]", name):
            text = self.inline_content(tag, ctx).replace("\n", " ").strip()
            return [f"{name}. {text}"] if text and not ctx.in_table else ([f"*{text}*"] if text else [])
        if name == "hr":
            return ["----"]
        if name == "pre":
            return [self.pre(tag)]
        if name == "blockquote":
            inner = self.blocks(tag, ctx.inner(in_quote=True))
            if not inner:
                return []
            if ctx.in_quote or ctx.in_table:
                return inner
            return ["{quote}\n" + join_blocks(inner) + "\n{quote}"]
        if name in ("ul", "ol"):
            return self.list_block(tag, ctx)
        if name == "table":
            return self.table(tag, ctx)
        if name == "p" and "msonormal" in " ".join(tag.get("class") or []).lower():
            # Outlook writes every line as <p class=MsoNormal>: keep them as lines, not paragraphs
            text = self.inline_content(tag, ctx)
            return [LINE + ("\n".join(part.strip() for part in text.split("\n")).strip("\n") or " ")]
        return self.blocks(tag, ctx)

    def pre(self, tag: Tag) -> str:
        text = tag.get_text().replace("\r\n", "\n").strip("\n")
        text = text.replace("{noformat}", "{ noformat}")
        # Shown verbatim, so no backslash: a zero-width space keeps a sender's "{anchor:jicket-mail-...}" from
        # reading as the marker Jicket writes (and recognises its own writes by).
        text = text.replace("{anchor", "{" + ZWSP + "anchor")
        return "{noformat}\n" + text + "\n{noformat}" if text.strip() else ""

    def list_block(self, tag: Tag, ctx: _Context) -> list[str]:
        prefix = ctx.list_prefix + ("#" if tag.name.lower() == "ol" else "*")
        lines: list[str] = []
        for item in tag.find_all(recursive=False):
            if not isinstance(item, Tag) or item.name.lower() in DROP_TAGS or _is_hidden(item):
                continue
            if item.name.lower() in ("ul", "ol"):
                lines.extend(self.list_block(item, ctx.inner(list_prefix=prefix)))
                continue
            text_parts: list[str] = []
            nested: list[str] = []
            for child in item.children:
                if isinstance(child, Tag) and child.name and child.name.lower() in ("ul", "ol"):
                    nested.extend(self.list_block(child, ctx.inner(list_prefix=prefix)))
                elif isinstance(child, Tag) and child.name and self.is_block(child):
                    flat = " ".join(self.block(child, ctx.inner(in_table=True))).replace(LINE, "")
                    text_parts.append(f" {flat} ")
                elif isinstance(child, Tag):
                    text_parts.append(self.inline(child, ctx))
                elif type(child) is NavigableString:
                    text_parts.append(self.text(str(child), ctx))
            text = re.sub(r"\s*\n\s*", " \\\\\\\\ ", "".join(text_parts).strip())
            text = re.sub(r"\s+", " ", text).strip()
            if text:
                lines.append(f"{prefix} {text}")
            lines.extend(nested)
        if ctx.list_prefix:
            return lines
        return ["\n".join(lines)] if lines else []

    def table(self, tag: Tag, ctx: _Context) -> list[str]:
        rows = [tr for tr in tag.find_all("tr") if tr.find_parent("table") is tag]
        layout = (tag.find("table") is not None or str(tag.get("role") or "").lower() == "presentation"
                  or ctx.in_table or all(len(self.cells(tr)) <= 1 for tr in rows))
        if layout:  # a table used for layout: its cells as blocks
            out: list[str] = []
            for tr in rows:
                for cell in self.cells(tr):
                    out.extend(self.blocks(cell, ctx.inner(in_table=ctx.in_table)))
            return out
        lines: list[str] = []
        for tr in rows:
            cells = self.cells(tr)
            if not cells:
                continue
            line = ""
            for cell in cells:
                sep = "||" if cell.name.lower() == "th" else "|"
                content = self.cell_text(cell, ctx)
                line += f"{sep}{content or ' '}"
            line += "||" if cells[-1].name.lower() == "th" else "|"
            lines.append(line)
        return ["\n".join(lines)] if lines else []

    @staticmethod
    def cells(tr: Tag) -> list[Tag]:
        return [c for c in tr.find_all(["td", "th"], recursive=False) if not _is_hidden(c)]

    def cell_text(self, cell: Tag, ctx: _Context) -> str:
        blocks = self.blocks(cell, ctx.inner(in_table=True))
        text = " \\\\ ".join(b.replace(LINE, "").replace("\n", " \\\\ ") for b in blocks if b.strip(LINE + " "))
        return re.sub(r"[ \t]+", " ", text).strip()

    # inline: wiki text with "\n" for line breaks
    def inline_content(self, tag: Tag, ctx: _Context) -> str:
        parts: list[str] = []
        for child in tag.children:
            if isinstance(child, Tag):
                name = child.name.lower() if child.name else ""
                if name in DROP_TAGS or _is_hidden(child):
                    continue
                if self.is_block(child):
                    parts.append("\n" + "\n".join(self.block(child, ctx)).replace(LINE, "") + "\n")
                else:
                    parts.append(self.inline(child, ctx))
            elif type(child) is NavigableString:
                parts.append(self.text(str(child), ctx))
        return "".join(parts)

    def inline(self, tag: Tag, ctx: _Context) -> str:
        name = tag.name.lower() if tag.name else ""
        if name in DROP_TAGS or _is_hidden(tag):
            return ""
        if name == "br":
            return "\n"
        if name == "img":
            return self.image(tag, ctx)
        if name == "a":
            return self.link(tag, ctx)
        if name in MONO_TAGS:
            text = _collapse(tag.get_text()).strip()
            return "{{" + escape_line(text) + "}}" if text else ""
        if name in INLINE_MARKS:
            mark = INLINE_MARKS[name]
            if mark in ctx.marks:
                return self.inline_content(tag, ctx)
            inner = self.inline_content(tag, ctx.inner(marks=ctx.marks | {mark}))
            return _wrap(inner, mark)
        return self.inline_content(tag, ctx)

    def text(self, text: str, ctx: _Context) -> str:
        return escape_line(_collapse(text))

    def image(self, tag: Tag, ctx: _Context) -> str:
        src = str(tag.get("src") or "").strip()
        alt = _collapse(str(tag.get("alt") or "")).strip()
        if src.lower().startswith("cid:"):
            wiki = ctx.images(unquote(src[4:]).strip("<>"))
            if wiki is not None:
                return f" {wiki} " if wiki else ""  # an image needs a word boundary on both sides
        elif src.lower().startswith("data:"):
            decoded = _data_uri(src)
            if decoded is not None:
                wiki = ctx.name_data_image(*decoded)
                return f" {wiki} " if wiki else ""
        return f"({escape_line(alt)})" if alt and not ctx.in_quote else ""

    def link(self, tag: Tag, ctx: _Context) -> str:
        href = str(tag.get("href") or "").strip()
        text = self.inline_content(tag, ctx).replace("\n", " ").strip()
        if not href.lower().startswith(URL_SCHEMES):
            return text
        url = _escape_url(href)
        plain = unescape(text)
        if not text or plain == href or plain == href.removeprefix("mailto:"):
            return f"[{url}]"
        if "!" in text and re.search(r"(?<!\\)!", text):  # an image inside a link: keep the image, then the link
            return f"{text} [{url}]"
        return f"[{text}|{url}]"


def join_blocks(blocks: list[str]) -> str:
    """Blocks separated by an empty line; Outlook's line paragraphs (``LINE``) by a line break."""
    out = ""
    previous_line = False
    for block in blocks:
        is_line = block.startswith(LINE)
        text = block.replace(LINE, "")
        if out:
            out += "\n" if is_line and previous_line else "\n\n"
        out += text
        previous_line = is_line
    return out


def _wrap(inner: str, mark: str) -> str:
    """``*text*``, with surrounding spaces outside (Jira needs the marks next to the text)."""
    if not inner.strip() or "\n" in inner.strip():
        return inner
    lead = inner[: len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()):]
    return f"{lead}{mark}{inner.strip()}{mark}{trail}"


def _data_uri(src: str) -> tuple[str, bytes] | None:
    match = re.match(r"data:([\w/+.-]+)?((?:;[\w-]+=[^;,]*)*)(;base64)?,(.*)", src, re.IGNORECASE | re.DOTALL)
    if not match or not (match.group(1) or "").lower().startswith("image/"):
        return None
    payload = match.group(4)
    try:
        data = base64.b64decode(re.sub(r"\s+", "", payload), validate=False) if match.group(3) \
            else unquote(payload).encode("latin-1", "replace")
    except (binascii.Error, ValueError):
        return None
    return match.group(1).lower(), data


def html_to_wiki(html: str, images: Callable[[str], str | None] | None = None,
                 name_data_image: Callable[[str, bytes], str] | None = None,
                 prepare: Callable[[BeautifulSoup], None] | None = None) -> tuple[str, list[DataImage]]:
    """HTML as Jira wiki markup, and the data: URI images it embeds.

    ``images`` maps a ``cid:`` reference to wiki markup (None: not available); ``name_data_image``
    names an embedded data: image and returns its markup (default: ``!inline-image-N.ext!``);
    ``prepare`` may edit the parsed tree first (e.g. cut quoted history).
    """
    data_images: list[DataImage] = []

    def default_name(content_type: str, data: bytes) -> str:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        name = f"inline-image-{len(data_images) + 1}{ext}"
        data_images.append(DataImage(name, content_type, data))
        return f"!{name}!"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html or "", "html.parser")
    if prepare is not None:
        prepare(soup)
    ctx = _Context(images=images or (lambda cid: None), data_images=data_images,
                   name_data_image=name_data_image or default_name)
    root = soup.body or soup
    blocks = _Converter(ctx).blocks(root, ctx)
    return tidy(join_blocks(blocks)), data_images
