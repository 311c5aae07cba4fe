"""A small test-side IMAP client over imaplib, with TLS verified against a private CA.

Everything addresses messages by UID. Folder names are encoded (modified UTF-7) and quoted here;
search criteria are passed through as written, so quote string arguments with :func:`quote`
(imaplib does not). Every command that fails raises :class:`ImapError`.
"""

from __future__ import annotations

import base64
import email
import imaplib
import re
import ssl as _ssl
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import NamedTuple

__all__ = ["ImapTestClient", "ImapMessage", "ImapError", "quote", "encode_folder", "decode_folder"]


class ImapError(Exception):
    pass


class ImapMessage(NamedTuple):
    uid: int
    flags: set[str]
    message: EmailMessage


def quote(text: str) -> str:
    """An IMAP quoted string (ASCII only: imaplib sends commands as ASCII)."""
    if any(c in text for c in "\r\n\0") or not text.isascii():
        raise ValueError(f"cannot send as an IMAP quoted string: {text!r}")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def encode_folder(name: str) -> str:
    """Folder name to IMAP's modified UTF-7 (RFC 3501 section 5.1.3)."""
    out, pending = [], []

    def flush() -> None:
        if pending:
            b64 = base64.b64encode("".join(pending).encode("utf-16-be")).decode().rstrip("=")
            out.append("&" + b64.replace("/", ",") + "-")
            pending.clear()

    for c in name:
        if 0x20 <= ord(c) <= 0x7E:
            flush()
            out.append("&-" if c == "&" else c)
        else:
            pending.append(c)
    flush()
    return "".join(out)


def decode_folder(name: str) -> str:
    def repl(m: re.Match) -> str:
        b64 = m.group(1)
        if not b64:
            return "&"
        b64 = b64.replace(",", "/")
        return base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be")

    return re.sub(r"&([A-Za-z0-9+,]*)-", repl, name)


def _mailbox(name: str) -> str:
    return quote(encode_folder(name))


def _unquote(token: str) -> str:
    if len(token) >= 2 and token[0] == token[-1] == '"':
        return re.sub(r"\\(.)", r"\1", token[1:-1])
    return token


_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_UID = re.compile(rb"UID (\d+)")


class ImapTestClient:
    """``with ImapTestClient(host, port, user, pw, ca_file) as c: c.append("INBOX", raw)``.

    ``ssl=True``: IMAPS (implicit TLS); ``ssl=False``: the plain port with STARTTLS (required).
    The CA in ``ca_file`` is the only trust anchor; hostname checking stays on.
    """

    def __init__(self, host: str, port: int, user: str, password: str, ca_file: Path | str | None,
                 ssl: bool = True, timeout: float = 10.0):
        self.user = user
        context = _ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
        if ssl:
            self.imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(host, port, ssl_context=context, timeout=timeout)
        else:
            self.imap = imaplib.IMAP4(host, port, timeout=timeout)
            try:
                self.imap.starttls(ssl_context=context)
            except BaseException:
                self._abandon()
                raise
        try:
            self.imap.login(user, password)
        except BaseException:
            self._abandon()
            raise
        # imaplib keeps the capabilities of the greeting; the server announces more after login.
        announced = self._ok(self.imap.capability(), "CAPABILITY")[-1]
        self.capabilities = frozenset(announced.decode().upper().split())
        self.selected: str | None = None

    # ------------------------------------------------------------------ plumbing
    @staticmethod
    def _ok(response: tuple[str, list], what: str) -> list:
        typ, data = response
        if typ != "OK":
            raise ImapError(f"{what} failed: {typ} {data!r}")
        return data

    def select(self, folder: str, readonly: bool = True) -> int:
        """SELECT (or EXAMINE when readonly) FOLDER; returns the number of messages."""
        data = self._ok(self.imap.select(_mailbox(folder), readonly), f"SELECT {folder!r}")
        self.selected = folder
        return int(data[0] or 0)

    def permanent_flags(self, folder: str) -> set[str]:
        self.select(folder, readonly=False)
        raw = self.imap.untagged_responses.get("PERMANENTFLAGS", [b"()"])[-1]
        return set(raw.decode().strip("()").split())

    def _uid(self, command: str, *args: str) -> list:
        return self._ok(self.imap.uid(command, *args), f"UID {command} {' '.join(args)}")

    # ------------------------------------------------------------------ folders
    def create_folder(self, folder: str, exist_ok: bool = True) -> None:
        typ, data = self.imap.create(_mailbox(folder))
        if typ != "OK":
            # Dovecot says [ALREADYEXISTS]; Courier only "NO Cannot create this folder.": ask LIST then.
            exists = exist_ok and (b"ALREADYEXISTS" in b" ".join(d for d in data if d)
                                   or folder in self.list_folders())
            if not exists:
                raise ImapError(f"CREATE {folder!r} failed: {typ} {data!r}")
        self.imap.subscribe(_mailbox(folder))

    def list_folders(self) -> list[str]:
        data = self._ok(self.imap.list(), "LIST")
        names = []
        for item in data:
            if item is None:
                continue
            if isinstance(item, tuple):  # the name came as a literal
                names.append(item[1].decode())
                continue
            m = re.match(r'\((?P<attrs>[^)]*)\) (?P<sep>"(?:[^"\\]|\\.)*"|NIL) (?P<name>.+)$', item.decode())
            if m is None:
                raise ImapError(f"unexpected LIST response {item!r}")
            names.append(_unquote(m.group("name")))
        return sorted(decode_folder(n) for n in names)

    def uidvalidity(self, folder: str) -> int:
        data = self._ok(self.imap.status(_mailbox(folder), "(UIDVALIDITY)"), f"STATUS {folder!r}")
        m = re.search(rb"UIDVALIDITY (\d+)", b" ".join(d for d in data if isinstance(d, bytes)))
        if m is None:
            raise ImapError(f"no UIDVALIDITY in {data!r}")
        return int(m.group(1))

    # ------------------------------------------------------------------ messages
    def append(self, folder: str, raw: bytes, flags: Iterable[str] = (), date: datetime | None = None) -> int:
        """APPEND a message; returns its UID (from APPENDUID, UIDPLUS)."""
        flag_list = " ".join(flags)
        date_time = imaplib.Time2Internaldate(date) if date is not None else None
        data = self._ok(self.imap.append(_mailbox(folder), f"({flag_list})" if flag_list else None,
                                         date_time, raw), f"APPEND {folder!r}")
        m = re.search(rb"APPENDUID \d+ (\d+)", b" ".join(d for d in data if isinstance(d, bytes)))
        if m is None:
            raise ImapError(f"no APPENDUID in {data!r}")
        return int(m.group(1))

    def uids(self, folder: str, criteria: str = "ALL") -> list[int]:
        """UID SEARCH with CRITERIA as written (quote strings with :func:`quote`)."""
        self.select(folder)
        data = self._uid("SEARCH", criteria)
        return sorted(int(u) for u in b" ".join(d for d in data if d).split())

    def find(self, folder: str, header: str, value: str) -> list[int]:
        """UIDs whose HEADER contains VALUE (``UID SEARCH HEADER "name" "value"``, quoted here)."""
        return self.uids(folder, f"HEADER {quote(header)} {quote(value)}")

    def _fetch(self, uid_set: str, items: str) -> list[tuple[int, bytes, bytes | None]]:
        """(uid, metadata, literal) per FETCH response carrying a UID."""
        data = self._uid("FETCH", uid_set, items)
        out: list[tuple[int, bytes, bytes | None]] = []
        i = 0
        while i < len(data):
            item = data[i]
            i += 1
            if item is None:
                continue
            if isinstance(item, tuple):
                meta, literal = item[0], item[1]
                while i < len(data) and isinstance(data[i], bytes):  # the rest after the literal: b')' ...
                    meta += b" " + data[i]
                    i += 1
            else:
                meta, literal = item, None
            m = _UID.search(meta)
            if m is not None:
                out.append((int(m.group(1)), meta, literal))
        return out

    @staticmethod
    def _flags(meta: bytes) -> set[str]:
        m = _FLAGS.search(meta)
        return set(m.group(1).decode().split()) if m else set()

    def fetch(self, folder: str, uid: int) -> bytes:
        """The raw message (BODY.PEEK[]: \\Seen is not set)."""
        self.select(folder)
        for got, _meta, literal in self._fetch(str(uid), "(UID BODY.PEEK[])"):
            if got == uid and literal is not None:
                return literal
        raise KeyError(f"no message with UID {uid} in {folder!r}")

    def flags(self, folder: str, uid: int) -> set[str]:
        self.select(folder)
        for got, meta, _literal in self._fetch(str(uid), "(UID FLAGS)"):
            if got == uid:
                return self._flags(meta)
        raise KeyError(f"no message with UID {uid} in {folder!r}")

    def messages(self, folder: str) -> list[ImapMessage]:
        """Every message of FOLDER, by UID, parsed with ``policy.default``; one UID FETCH for all."""
        if self.select(folder) == 0:
            return []
        found: dict[int, ImapMessage] = {}
        for uid, meta, literal in self._fetch("1:*", "(UID FLAGS BODY.PEEK[])"):
            if literal is not None:
                msg = email.message_from_bytes(literal, policy=policy.default)
                found[uid] = ImapMessage(uid, self._flags(meta), msg)  # type: ignore[arg-type]
        return [found[u] for u in sorted(found)]

    def store(self, folder: str, uid: int, flags: Iterable[str], mode: str = "+") -> set[str]:
        """UID STORE with MODE '+' (add), '-' (remove) or '' (replace); returns the flags afterwards."""
        if mode not in ("+", "-", ""):
            raise ValueError("mode must be '+', '-' or ''")
        self.select(folder, readonly=False)
        self._uid("STORE", str(uid), f"{mode}FLAGS", f"({' '.join(flags)})")
        return self.flags(folder, uid)

    def add_flags(self, folder: str, uid: int, *flags: str) -> set[str]:
        return self.store(folder, uid, flags, "+")

    def remove_flags(self, folder: str, uid: int, *flags: str) -> set[str]:
        return self.store(folder, uid, flags, "-")

    def _copy_or_move(self, command: str, folder: str, uid: int, dest: str) -> int:
        self.select(folder, readonly=False)
        self.imap.untagged_responses.pop("COPYUID", None)
        data = self._uid(command, str(uid), _mailbox(dest))
        # MOVE: "* OK [COPYUID v src dst]" (imaplib files it under COPYUID); COPY: in the tagged OK.
        codes = [b"COPYUID " + c for c in self.imap.untagged_responses.pop("COPYUID", []) if c]
        for code in codes + [d for d in data if isinstance(d, bytes)]:
            m = re.search(rb"COPYUID \d+ \S+ (\d+)", code)
            if m is not None:
                return int(m.group(1))
        raise ImapError(f"UID {command} {uid} to {dest!r}: no COPYUID, is UID {uid} in {folder!r}?")

    def move(self, folder: str, uid: int, dest: str) -> int:
        """UID MOVE (RFC 6851), or COPY + \\Deleted + UID EXPUNGE where the server has no MOVE (Courier);
        returns the UID in DEST (COPYUID)."""
        typ, data = self.imap.capability()
        if b"MOVE" in (data[0] or b"").upper().split():
            return self._copy_or_move("MOVE", folder, uid, dest)
        new_uid = self._copy_or_move("COPY", folder, uid, dest)
        self._uid("STORE", str(uid), "+FLAGS.SILENT", r"(\Deleted)")
        self._uid("EXPUNGE", str(uid))
        return new_uid

    def copy(self, folder: str, uid: int, dest: str) -> int:
        return self._copy_or_move("COPY", folder, uid, dest)

    def delete_all(self, folder: str) -> int:
        """Flag every message \\Deleted and expunge; returns how many there were."""
        count = self.select(folder, readonly=False)
        if count:
            self._uid("STORE", "1:*", "+FLAGS.SILENT", r"(\Deleted)")
            self._ok(self.imap.expunge(), "EXPUNGE")
        return count

    def wait_for(self, folder: str, predicate: Callable[[list[ImapMessage]], object], timeout: float = 10.0,
                 interval: float = 0.05) -> list[ImapMessage]:
        """Poll ``messages(folder)`` until ``predicate(messages)`` is true; return those messages."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.messages(folder)
            if predicate(msgs):
                return msgs
            if time.monotonic() > deadline:
                subjects = [str(m.message.get("Subject")) for m in msgs]
                raise TimeoutError(f"{folder!r} of {self.user}: condition not met after {timeout} s; "
                                   f"{len(msgs)} messages, subjects {subjects}")
            time.sleep(interval)

    # ------------------------------------------------------------------ lifecycle
    def _abandon(self) -> None:
        try:
            self.imap.shutdown()
        except OSError:
            pass  # a failed TLS handshake already closed the socket

    def close(self) -> None:
        try:
            self.imap.logout()
        except (imaplib.IMAP4.error, OSError):
            self._abandon()

    def __enter__(self) -> ImapTestClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
