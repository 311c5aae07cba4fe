"""Attachment names and sizes: Jira-safe, collision-free names; human-readable sizes.

A name must survive Jira (no path separators or characters Windows refuses) and Jira's wiki markup
(``[^name]`` and ``!name!`` break on ``] | ! ^ { }``), and it must be unique on the issue: the
mail's attachments are named after what the issue already holds, ``report.pdf`` then
``report (2).pdf``. The names a mail gets are written into its description or comment (the
attachment list, see ``rendering``) before any upload, so a retry knows exactly which files it
still has to upload.
"""

from __future__ import annotations

import mimetypes
import re
import unicodedata
from collections.abc import Iterable

MAX_NAME = 180
_REPLACE = {"[": "(", "]": ")", "{": "(", "}": ")"}
_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|!^~`]')
_EXTRA_EXTENSIONS = {
    "message/rfc822": ".eml", "application/ms-tnef": ".dat", "text/plain": ".txt", "image/jpeg": ".jpg",
    "application/octet-stream": ".bin", "text/calendar": ".ics", "text/html": ".html",
}


def extension_for(content_type: str) -> str:
    return _EXTRA_EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type or "") or ".bin"


def safe_filename(name: str | None, content_type: str, index: int) -> str:
    """A Jira- and markup-safe version of the name the sender gave (or one made from the type)."""
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(_REPLACE.get(ch, ch) for ch in text)
    text = _FORBIDDEN.sub("_", text)
    text = re.sub(r"\s+", " ", text).strip(" ._")
    if not text or set(text) <= {"_", "-", " ", "."}:
        text = f"attachment-{index}{extension_for(content_type)}"
    if len(text) > MAX_NAME:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            text = stem[: MAX_NAME - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:MAX_NAME].rstrip()
    return text


def _variant(name: str, number: int) -> str:
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > 10:
        return f"{name} ({number})"
    return f"{stem} ({number}).{ext}"


def unique_names(names: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """Each name made unique (case-insensitively) against ``taken`` and the names before it."""
    used = {t.lower() for t in taken}
    out: list[str] = []
    for name in names:
        candidate = name
        number = 2
        while candidate.lower() in used:
            candidate = _variant(name, number)
            number += 1
        used.add(candidate.lower())
        out.append(candidate)
    return out


def is_variant_of(stored: str, original: str) -> bool:
    """Whether ``stored`` is ``original`` or one of its ``(n)`` variants (tests and inspection)."""
    if stored == original:
        return True
    stem, dot, ext = original.rpartition(".")
    if dot and stem and len(ext) <= 10:
        pattern = re.escape(stem) + r" \(\d+\)\." + re.escape(ext)
    else:
        pattern = re.escape(original) + r" \(\d+\)"
    return re.fullmatch(pattern, stored) is not None


def format_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} bytes"


def parse_size(text: str) -> int:
    """``10485760``, ``10M``, ``512K``, ``1G`` (binary units); ValueError otherwise."""
    match = re.fullmatch(r"\s*(\d+)\s*([kmg]i?b?|b)?\s*", text.lower())
    if not match:
        raise ValueError(text)
    factor = {"": 1, "b": 1}.get(match.group(2) or "", None)
    if factor is None:
        factor = 1024 ** ("kmg".index(match.group(2)[0]) + 1)
    return int(match.group(1)) * factor
