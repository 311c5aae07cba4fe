"""Ticket ids: ``[#JI-ZOZ2P6]`` in subjects, ``X-Jicket-HashID`` in headers.

Jicket 0.6.2 hashed the bare IMAP UID (``hashids.encode(uid)``), so two mailboxes, or one mailbox
whose UIDVALIDITY changed, issued the same id twice. New ids hash the pair (UIDVALIDITY, UID), which
names a message uniquely (RFC 3501 2.3.1.1). Hashids decodes both forms with the same salt and
alphabet, so ids issued by 0.6.2 keep threading: routing only needs the id text, never the number.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from hashids import Hashids

DEFAULT_PREFIX = "JI-"
DEFAULT_SALT = "JicketSalt"
DEFAULT_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ1234567890"
DEFAULT_MIN_LENGTH = 6

# Characters an id may contain must be safe in an IMAP atom, a Message-ID and a JQL phrase.
_SAFE_ID_CHAR = re.compile(r"[A-Za-z0-9]")
_SAFE_PREFIX = re.compile(r"[A-Za-z0-9_.-]*")
_MAX_ID_LENGTH = 64


@dataclass(frozen=True)
class TicketIdScheme:
    """How ticket ids are made and recognised (JICKET_ID_PREFIX/_SALT/_ALPHABET/_MINLEN)."""

    prefix: str = DEFAULT_PREFIX
    salt: str = DEFAULT_SALT
    alphabet: str = DEFAULT_ALPHABET
    min_length: int = DEFAULT_MIN_LENGTH

    def problems(self) -> list[tuple[str, str]]:
        """Return (setting, problem) pairs; empty when the scheme is usable."""
        found: list[tuple[str, str]] = []
        if not _SAFE_PREFIX.fullmatch(self.prefix):
            found.append(("JICKET_ID_PREFIX", "may only contain letters, digits, '.', '_' and '-'"))
        if len(set(self.alphabet)) != len(self.alphabet):
            found.append(("JICKET_ID_ALPHABET", "characters must be unique"))
        if len(self.alphabet) < 16:
            found.append(("JICKET_ID_ALPHABET", "needs at least 16 characters (a hashids rule)"))
        if not all(_SAFE_ID_CHAR.fullmatch(ch) for ch in self.alphabet):
            found.append(("JICKET_ID_ALPHABET", "may only contain letters and digits"))
        if not 0 <= self.min_length <= 32:
            found.append(("JICKET_ID_MINLEN", "must be between 0 and 32"))
        return found

    @cached_property
    def _hashids(self) -> Hashids:
        return Hashids(salt=self.salt, alphabet=self.alphabet, min_length=self.min_length)

    @cached_property
    def _subject_pattern(self) -> re.Pattern[str]:
        chars = re.escape(self.alphabet)
        return re.compile(rf"\[#{re.escape(self.prefix)}([{chars}]{{{max(self.min_length, 1)},{_MAX_ID_LENGTH}}})\]")

    def new_id(self, uidvalidity: int, uid: int) -> str:
        """The id of a new ticket opened by the message (uidvalidity, uid)."""
        if uidvalidity <= 0 or uid <= 0:
            raise ValueError(f"UIDVALIDITY and UID must be positive, got {uidvalidity}/{uid}")
        return self._hashids.encode(uidvalidity, uid)

    def legacy_id(self, uid: int) -> str:
        """The id jicket 0.6.2 gave the message with this UID."""
        return self._hashids.encode(uid)

    def decode(self, ticket_id: str) -> tuple[int, ...]:
        """(uid,) for a 0.6.2 id, (uidvalidity, uid) for a new one, () when it is not ours."""
        if not self.is_well_formed(ticket_id):
            return ()
        return tuple(self._hashids.decode(ticket_id))

    def is_well_formed(self, ticket_id: str) -> bool:
        return (
            max(self.min_length, 1) <= len(ticket_id) <= _MAX_ID_LENGTH
            and all(ch in self.alphabet for ch in ticket_id)
        )

    def prefixed(self, ticket_id: str) -> str:
        """``JI-ZOZ2P6``"""
        return f"{self.prefix}{ticket_id}"

    def tag(self, ticket_id: str) -> str:
        """``[#JI-ZOZ2P6]``, as it stands in subjects and issue summaries."""
        return f"[#{self.prefix}{ticket_id}]"

    def find_in_subject(self, subject: str) -> str | None:
        """The first ticket id tagged in a subject, or None."""
        match = self._subject_pattern.search(subject or "")
        return match.group(1) if match else None

    def from_header(self, value: str | None) -> str | None:
        """The id in an X-Jicket-HashID header, if it is one this scheme could have issued."""
        candidate = (value or "").strip()
        if candidate.startswith(self.prefix) and not self.is_well_formed(candidate):
            candidate = candidate[len(self.prefix):]
        return candidate if self.is_well_formed(candidate) else None

    def strip_tag(self, subject: str) -> str:
        """The subject without its ticket tags (for readable summaries)."""
        return re.sub(r"\s{2,}", " ", self._subject_pattern.sub("", subject or "")).strip()
