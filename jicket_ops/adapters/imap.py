"""IMAP adapter: the helpdesk mailbox, with batched UID commands.

Jicket records each mail's progress as IMAP keywords on the mail (``jicket_ops.domain.keywords``); this
adapter stores and searches them, and moves mails with UID MOVE or COPY + UID EXPUNGE of exactly those UIDs.
"""

from __future__ import annotations

import imaplib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from airflow.providers.imap.hooks.imap import ImapHook

from jicket_ops.adapters.defined_connections import FallbackConnection
from jicket_ops.adapters.imap_names import modified_utf7, quote
from jicket_ops.adapters.oauth import mechanism, sasl_response, token_source, uses_oauth
from jicket_ops.adapters.tls import IMAP_TLS, TLS_MODES, diagnose_tls_mode, greeting_timeout, imap_tls_mode, ssl_context
from jicket_ops.domain.parsing import ROUTING_HEADERS
from jicket_ops.errors import ConfigError, FolderMissingError, MailboxCapabilityError, MailboxError

UID_BATCH = 500  # UIDs per command; keeps command lines short for every server
_FETCH_META = re.compile(rb"UID (\d+)")
_FLAGS = re.compile(rb"FLAGS \(([^)]*)\)")
_SIZE = re.compile(rb"RFC822\.SIZE (\d+)")
_INTERNALDATE = re.compile(rb'INTERNALDATE "\s?([^"]+)"')


class JicketImapHook(FallbackConnection, ImapHook):
    """ImapHook plus TLS modes, a fast greeting timeout, a private CA and OAuth 2.0 (connection extras).

    Extras: ``tls`` = ``ssl`` (implicit TLS, the default unless the port is 143, as jicket 0.6.2 did) |
    ``starttls`` (the default on port 143) | ``none`` (plaintext, explicit only); ``use_ssl`` (the provider's
    flag) when ``tls`` is absent; ``ca_file``; ``timeout`` (seconds per command, default 60);
    ``connect_timeout`` (connect, handshake and greeting, default 5); ``ssl_context: none`` turns certificate
    verification off. ``auth_type: "oauth2"`` logs in with SASL XOAUTH2 (or ``oauth_mechanism: OAUTHBEARER``)
    and a token from :mod:`jicket_ops.adapters.oauth` instead of LOGIN.
    """

    def get_conn(self) -> JicketImapHook:
        """Connect and log in (the provider's ``get_conn`` knows only LOGIN and IMAP4_SSL)."""
        if not self.mail_client:
            conn = self.get_connection(self.imap_conn_id)
            client = self._build_client(conn)
            try:
                self._log_in(client, conn)
            except BaseException:
                try:
                    client.shutdown()
                except OSError:
                    pass  # closing a session that failed anyway
                raise
            self.mail_client = client
        return self

    def _build_client(self, conn) -> imaplib.IMAP4:  # type: ignore[override]
        """The connected, not yet authenticated client; a server in the other TLS mode fails in seconds.

        Overrides the provider's builder, which has neither STARTTLS nor timeouts; only ``get_conn`` above calls it.
        """
        extra = conn.extra_dejson
        tls = imap_tls_mode(conn.port, extra)
        if tls not in TLS_MODES:
            raise ConfigError("JICKET_IMAP_TLS", f"connection {self.imap_conn_id}: extra 'tls' must be ssl, "
                                                 f"starttls or none, got {tls!r}")
        host, port = conn.host or "", conn.port or (993 if tls == "ssl" else 143)
        try:
            if tls == "ssl":
                client = imaplib.IMAP4_SSL(host, port, ssl_context=ssl_context(extra),
                                           timeout=greeting_timeout(extra))
            else:
                client = imaplib.IMAP4(host, port, timeout=greeting_timeout(extra))
        except (OSError, imaplib.IMAP4.error) as exc:
            mismatch = diagnose_tls_mode(IMAP_TLS, self.imap_conn_id, host, port, tls, exc)
            if mismatch is not None:
                raise mismatch from exc
            raise
        client.socket().settimeout(float(extra.get("timeout", 60)))  # commands may take longer than a greeting
        if tls == "starttls":
            client.starttls(ssl_context=ssl_context(extra))
        return client

    def _log_in(self, client: imaplib.IMAP4, conn) -> None:
        extra = conn.extra_dejson
        if not uses_oauth(extra):
            if conn.login and conn.password:
                client.login(conn.login, conn.password)
            return
        source = token_source(self.imap_conn_id, extra, conn.login)
        mech = mechanism(self.imap_conn_id, extra)
        refusal = ""
        for renew in (False, True):  # a refused token is renewed once: it may have been revoked or expired early
            if renew and source.kind == "fixed":
                break
            response = sasl_response(mech, conn.login or "", source.token(renew=renew), conn.host or "",
                                     int(conn.port or 993))
            server_said: list[bytes] = []

            def answer(challenge: bytes, response: str = response, server_said: list = server_said) -> bytes:
                if challenge:  # the server's error (JSON) after a refusal: an empty line ends the exchange
                    server_said.append(challenge)
                    return b""
                return response.encode()

            try:
                client.authenticate(mech, answer)
                return
            except imaplib.IMAP4.error as exc:
                refusal = str(exc) + "".join(f" {s.decode(errors='replace')}" for s in server_said[:1])
        raise source.refused("IMAP server", refusal)


def encode_folder(name: str) -> str:
    """A folder name as IMAP commands take it: modified UTF-7, quoted."""
    return quote(modified_utf7(name))


def uid_sets(uids: Iterable[int], batch: int = UID_BATCH) -> Iterator[str]:
    """Compact UID sets (``1:5,9``) of at most ``batch`` UIDs each."""
    ordered = sorted(set(uids))
    for start in range(0, len(ordered), batch):
        chunk = ordered[start:start + batch]
        ranges: list[str] = []
        first = prev = chunk[0]
        for uid in chunk[1:]:
            if uid != prev + 1:
                ranges.append(f"{first}:{prev}" if first != prev else str(first))
                first = uid
            prev = uid
        ranges.append(f"{first}:{prev}" if first != prev else str(first))
        yield ",".join(ranges)


def _internaldate(meta: bytes) -> datetime | None:
    match = _INTERNALDATE.search(meta)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1).decode(), "%d-%b-%Y %H:%M:%S %z").astimezone(UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class FetchedHeader:
    uid: int
    flags: frozenset[str]
    size: int
    header: bytes
    received: datetime | None = None  # INTERNALDATE, UTC


class Mailbox:
    """One IMAP session on the helpdesk mailbox. Use as a context manager."""

    def __init__(self, conn_id: str) -> None:
        self.conn_id = conn_id
        self._hook: JicketImapHook | None = None
        self.selected: str | None = None
        self.uidvalidity: int = 0
        self.keywords_allowed: bool | None = None  # of the selected folder; None when selected read-only
        self.round_trips = 0

    def __enter__(self) -> Mailbox:
        try:
            self._hook = JicketImapHook(imap_conn_id=self.conn_id).get_conn()
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"connection {self.conn_id}: cannot log in to the IMAP server: {exc}") from exc
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._hook and self._hook.mail_client:
            try:
                self._hook.mail_client.logout()
            except (OSError, imaplib.IMAP4.error):
                pass  # the session is gone either way

    @property
    def client(self) -> imaplib.IMAP4:
        assert self._hook is not None and self._hook.mail_client is not None, "use Mailbox as a context manager"
        return self._hook.mail_client

    def _ok(self, what: str, typ: str, data: list) -> list:
        self.round_trips += 1
        if typ != "OK":
            detail = b" ".join(d for d in data if isinstance(d, bytes)).decode(errors="replace")
            raise MailboxError(f"IMAP {what} failed: {typ} {detail}")
        return data

    def _uid(self, command: str, *args: str) -> list:
        try:
            typ, data = self.client._simple_command("UID", command, *args)  # noqa: SLF001 - MOVE is not in imaplib
            if command in ("FETCH", "SEARCH", "STORE"):
                typ, data = self.client._untagged_response(typ, data, command)  # noqa: SLF001
        except (OSError, imaplib.IMAP4.abort) as exc:
            raise MailboxError(f"IMAP UID {command}: connection lost: {exc}") from exc
        except imaplib.IMAP4.error as exc:
            raise MailboxError(f"IMAP UID {command} refused: {exc}") from exc
        return self._ok(f"UID {command}", typ, data)

    # -- folders -----------------------------------------------------------------------------------------
    def select(self, folder: str, setting: str = "JICKET_FOLDER_INBOX", readonly: bool = False) -> int:
        """Select a folder and return its UIDVALIDITY; a missing folder raises FolderMissingError."""
        try:
            typ, data = self.client.select(encode_folder(folder), readonly=readonly)
        except imaplib.IMAP4.error as exc:
            raise FolderMissingError(setting, folder) from exc
        self.round_trips += 1
        if typ != "OK":
            raise FolderMissingError(setting, folder)
        uidvalidity = self.client.response("UIDVALIDITY")[1]
        permanent = self.client.response("PERMANENTFLAGS")[1]
        self.selected = folder
        self.uidvalidity = int(uidvalidity[0]) if uidvalidity and uidvalidity[0] else 0
        if not self.uidvalidity:
            raise MailboxCapabilityError(f"folder {folder!r}: the server reported no UIDVALIDITY")
        # PERMANENTFLAGS with \* (RFC 3501 7.1): new keywords can be stored. A read-only select reports no
        # permanent flags at all, so it tells nothing (None).
        if readonly:
            self.keywords_allowed = None
        else:
            self.keywords_allowed = bool(permanent and permanent[0] is not None and b"\\*" in permanent[0])
        return self.uidvalidity

    def require_folder(self, folder: str, setting: str) -> None:
        typ, data = self.client.list('""', encode_folder(folder))
        self.round_trips += 1
        if typ != "OK" or not [d for d in data if d]:
            raise FolderMissingError(setting, folder)

    def capabilities(self) -> set[str]:
        typ, data = self.client.capability()
        self._ok("CAPABILITY", typ, data)
        return set(data[0].decode().upper().split()) if data and data[0] else set()

    # -- reading -----------------------------------------------------------------------------------------
    def search(self, *criteria: str) -> list[int]:
        data = self._uid("SEARCH", *criteria)
        found: list[int] = []
        for line in data:
            if line:
                found.extend(int(token) for token in line.split())
        return sorted(found)

    def _fetch(self, uids: Iterable[int], items: str) -> Iterator[tuple[int, bytes, bytes | None]]:
        for uid_set in uid_sets(uids):
            for entry in self._uid("FETCH", uid_set, items):
                if isinstance(entry, tuple):
                    meta, literal = entry[0], entry[1]
                elif isinstance(entry, bytes) and b"UID" in entry:
                    meta, literal = entry, None
                else:
                    continue
                match = _FETCH_META.search(meta)
                if match:
                    yield int(match.group(1)), meta, literal

    def fetch_headers(self, uids: Iterable[int]) -> list[FetchedHeader]:
        fields = " ".join(ROUTING_HEADERS).upper()
        found = []
        items = f"(UID FLAGS RFC822.SIZE INTERNALDATE BODY.PEEK[HEADER.FIELDS ({fields})])"
        for uid, meta, literal in self._fetch(uids, items):
            flags = _FLAGS.search(meta)
            size = _SIZE.search(meta)
            found.append(FetchedHeader(
                uid=uid,
                flags=frozenset(flags.group(1).decode().split()) if flags else frozenset(),
                size=int(size.group(1)) if size else 0,
                header=literal or b"",
                received=_internaldate(meta),
            ))
        return found

    def fetch_flags(self, uids: Iterable[int]) -> dict[int, frozenset[str]]:
        flags: dict[int, frozenset[str]] = {}
        for uid, meta, _ in self._fetch(uids, "(UID FLAGS)"):
            match = _FLAGS.search(meta)
            flags[uid] = frozenset(match.group(1).decode().split()) if match else frozenset()
        return flags

    def fetch_raw(self, uids: Iterable[int]) -> Iterator[tuple[int, bytes]]:
        """Whole messages, a batch at a time (BODY.PEEK so nothing is marked \\Seen)."""
        for uid, _meta, literal in self._fetch(uids, "(UID BODY.PEEK[])"):
            yield uid, literal or b""

    def fetch_bodies(self, uids: Iterable[int]) -> dict[int, bytes]:
        """The bodies (BODY.PEEK[TEXT]: everything after the header) of a few mails."""
        return {uid: literal or b"" for uid, _meta, literal in self._fetch(uids, "(UID BODY.PEEK[TEXT])")}

    # -- writing -----------------------------------------------------------------------------------------
    def add_keywords(self, uids: Iterable[int], *keywords: str) -> None:
        """Store keywords, or system flags such as ``\\Seen``, on these mails (STORE +FLAGS.SILENT)."""
        uids = list(uids)
        if not uids:
            return
        for uid_set in uid_sets(uids):
            self._uid("STORE", uid_set, "+FLAGS.SILENT", f"({' '.join(keywords)})")

    def remove_keywords(self, uids: Iterable[int], *keywords: str) -> None:
        """Remove keywords from these mails (STORE -FLAGS.SILENT)."""
        for uid_set in uid_sets(uids):
            self._uid("STORE", uid_set, "-FLAGS.SILENT", f"({' '.join(keywords)})")

    def ensure_folder(self, folder: str) -> None:
        """Create a folder Jicket owns (the quarantine) if it does not exist yet."""
        typ, data = self.client.list('""', encode_folder(folder))
        self.round_trips += 1
        if typ == "OK" and [d for d in data if d]:
            return
        typ, data = self.client.create(encode_folder(folder))
        self._ok(f"CREATE {folder}", typ, data)

    def append(self, folder: str, raw: bytes, *flags: str) -> None:
        flag_list = f"({' '.join(flags)})" if flags else None
        try:
            typ, data = self.client.append(encode_folder(folder), flag_list, None, raw)
        except (OSError, imaplib.IMAP4.error) as exc:
            raise MailboxError(f"IMAP APPEND to {folder!r} failed: {exc}") from exc
        self._ok(f"APPEND {folder}", typ, data)

    def move(self, uids: Iterable[int], folder: str) -> None:
        """UID MOVE (RFC 6851), else COPY + STORE \\Deleted + UID EXPUNGE of exactly these UIDs."""
        uids = list(uids)
        if not uids:
            return
        caps = self.capabilities()
        for uid_set in uid_sets(uids):
            if "MOVE" in caps:
                self._uid("MOVE", uid_set, encode_folder(folder))
            elif "UIDPLUS" in caps:
                self._uid("COPY", uid_set, encode_folder(folder))
                self._uid("STORE", uid_set, "+FLAGS.SILENT", "(\\Deleted)")
                self._uid("EXPUNGE", uid_set)
            else:
                raise MailboxCapabilityError(
                    "the IMAP server supports neither MOVE nor UIDPLUS; Jicket will not run a plain EXPUNGE, "
                    "which would also remove other clients' deleted mail")
