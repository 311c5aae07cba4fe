"""Attachment names and sizes: Jira-safe, collision-free names; human-readable sizes.

A name must survive Jira (no path separators or characters Windows refuses) and Jira's wiki markup
(``[^name]`` and ``!name!`` break on ``] | ! ^ { }``), and it must be unique on the issue: the
mail's attachments are named after what the issue already holds, ``report.pdf`` then
``report (2).pdf``. The names a mail gets are written into its description or comment (the
attachment list, see ``rendering``) before any upload, so a retry knows exactly which files it
still has to upload.

``MultipartBody`` is the upload request's body, streamed from the files' bytes as they are: a big
attachment costs no second and third copy while it is sent.
"""

from __future__ import annotations

import bisect
import mimetypes
import re
import unicodedata
from collections.abc import Iterable, Iterator

MAX_NAME = 180
BLOCK_BYTES = 256 * 1024  # what iterating over a MultipartBody yields at a time
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
    # Invisible and direction-changing characters (RLO makes "invoice\u202egnp.exe" read as "...exe.png").
    text = "".join("_" if unicodedata.category(ch) in ("Cf", "Co", "Cn") else ch for ch in text)
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


class MultipartBody:
    """A ``multipart/form-data`` body read from the files' own bytes, never joined into one copy.

    Framed as ``requests`` frames its ``files=`` uploads (part headers rendered by urllib3), but
    ``requests`` reads each file and builds the whole body in memory first; given this object as
    ``data``, it sends ``Content-Length: len(body)`` and urllib3 reads and sends it a block at a time.
    ``tell``/``seek`` let them rewind it for a resend.
    """

    def __init__(self, files: Iterable[tuple[str, str, str, bytes]], boundary: str) -> None:
        """``files``: (form field, filename, content type, data) each."""
        from urllib3.fields import RequestField

        self.boundary = boundary
        segments: list[memoryview] = []
        for field_name, filename, content_type, data in files:
            part = RequestField(name=field_name, data=b"", filename=filename)
            part.make_multipart(content_type=content_type)
            segments.append(memoryview(f"--{boundary}\r\n{part.render_headers()}".encode()))
            segments.append(memoryview(data).cast("B"))
            segments.append(memoryview(b"\r\n"))
        segments.append(memoryview(f"--{boundary}--\r\n".encode()))
        self._segments = [s for s in segments if s.nbytes]
        self._starts: list[int] = []
        total = 0
        for segment in self._segments:
            self._starts.append(total)
            total += segment.nbytes
        self._length = total
        self._position = 0

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return self._length

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._position, 2: self._length}[whence]
        self._position = min(max(0, base + offset), self._length)
        return self._position

    def read(self, size: int | None = -1) -> bytes:
        end = self._length if size is None or size < 0 else min(self._length, self._position + size)
        out: list[bytes] = []
        while self._position < end:
            index = bisect.bisect_right(self._starts, self._position) - 1
            segment, start = self._segments[index], self._starts[index]
            take = min(end, start + segment.nbytes) - self._position
            out.append(segment[self._position - start:self._position - start + take].tobytes())
            self._position += take
        return b"".join(out)

    def __iter__(self) -> Iterator[bytes]:
        while block := self.read(BLOCK_BYTES):
            yield block
