"""How IMAP spells folder names (pure; shared by the IMAP adapter and the IDLE trigger, which must not
import the IMAP provider on the triggerer)."""

from __future__ import annotations

import base64


def modified_utf7(name: str) -> str:
    """A folder name in modified UTF-7 (RFC 3501 5.1.3), unquoted: printable ASCII stays, ``&`` becomes ``&-``,
    runs of other characters become ``&`` + base64 of their UTF-16 (``,`` for ``/``, no padding) + ``-``."""
    out: list[str] = []
    pending: list[str] = []

    def flush() -> None:
        if pending:
            utf16 = "".join(pending).encode("utf-16-be")
            out.append("&" + base64.b64encode(utf16).decode().rstrip("=").replace("/", ",") + "-")
            pending.clear()

    for ch in name:
        if 0x20 <= ord(ch) <= 0x7E:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            pending.append(ch)
    flush()
    return "".join(out)


def quote(text: str) -> str:
    """An IMAP quoted string (folder names, search keys)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
