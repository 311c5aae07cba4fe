"""Who a per-sender limit counts a mail against (pure).

An address is normalised (lower case, ``+tag`` dropped) so one sender cannot pass as many, and every mail
without a readable sender falls into one shared bucket, so an unparsable From is no way round the limit.
The key goes into the issue as a hex token (``sender_marker``), which Jira's word search matches exactly,
whatever characters the address holds (the wiki escaping of the From line does not touch it).
"""

from __future__ import annotations

import hashlib
import re

from jicket_ops.domain.parsing import MailHeaders

UNPARSABLE = "*unparsable*"
_MARKER = re.compile(r"\{anchor:jicket-sender-([0-9a-f]{20})\}")


def sender_key(address: str) -> str:
    """The normalised sender: ``Jane.Doe+promo@Example.COM`` -> ``jane.doe@example.com``."""
    address = (address or "").strip().lower()
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain or any(ch.isspace() or ch in "<>,;" for ch in address):
        return UNPARSABLE
    return f"{local.split('+', 1)[0] or local}@{domain}"


def sender_of(headers: MailHeaders) -> str:
    return sender_key(headers.from_address)


def sender_token(key: str) -> str:
    """The hex token a sender key is written and searched as."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def sender_marker(key: str) -> str:
    """Invisible wiki anchor carrying the sender's token in the description of every new ticket."""
    return f"{{anchor:jicket-sender-{sender_token(key)}}}"


def sender_tokens_in(text: str) -> set[str]:
    return set(_MARKER.findall(text or ""))
