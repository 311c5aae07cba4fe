"""A new ticket's Jira priority, from the mail's X-Priority, Importance or Priority header.

Mail clients say how urgent a mail is in one of three headers; each value is read as one of four levels
(highest, high, low, lowest) or as "normal" (no priority set: Jira's default applies):

| header | values | level |
| --- | --- | --- |
| ``X-Priority`` (Outlook, Thunderbird) | ``1``..``5``, often with a word | highest, high, normal, low, lowest |
| ``Importance`` (RFC 2156) | ``high`` / ``normal`` / ``low`` | high / normal / low |
| ``Priority`` (RFC 2156) | ``urgent`` / ``normal`` / ``non-urgent`` | high / normal / low |

The first header present and understood decides. Each level maps to a Jira priority name per mailbox
(JICKET_PRIORITY_MAP, a JSON object; default: Highest, High, Low, Lowest, Jira's own names); a level mapped
to ``""`` sets nothing. A value that is not understood is ignored with a note, never an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from jicket_ops.errors import ConfigError

LEVELS = ("highest", "high", "low", "lowest")
DEFAULT_PRIORITY_MAP: dict[str, str] = {"highest": "Highest", "high": "High", "low": "Low", "lowest": "Lowest"}
_X_PRIORITY = {"1": "highest", "2": "high", "3": None, "4": "low", "5": "lowest"}
_IMPORTANCE = {"high": "high", "normal": None, "low": "low"}
_PRIORITY = {"urgent": "high", "normal": None, "non-urgent": "low"}
_LEADING_DIGIT = re.compile(r"\s*([0-9])\b")


@dataclass(frozen=True)
class PriorityChoice:
    """The Jira priority name to set (None: leave Jira's default) and why, or a note on an ignored header."""

    name: str | None = None
    source: str | None = None  # the header that decided, e.g. "X-Priority: 1 (Highest)"
    note: str | None = None  # a header that was present but not understood


def parse_priority_map(raw: str | None, setting: str = "JICKET_PRIORITY_MAP") -> dict[str, str]:
    """JICKET_PRIORITY_MAP: a JSON object from levels to Jira priority names, over the default map."""
    if raw is None or not raw.strip():
        return dict(DEFAULT_PRIORITY_MAP)
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(setting, f"must be a JSON object such as {{\"highest\": \"Blocker\"}}: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(setting, f"must be a JSON object from levels ({', '.join(LEVELS)}) to priority names")
    mapping = dict(DEFAULT_PRIORITY_MAP)
    for level, name in data.items():
        if level not in LEVELS:
            raise ConfigError(setting, f"unknown level {level!r} (levels: {', '.join(LEVELS)})")
        if not isinstance(name, str) or len(name) > 60 or any(ch in name for ch in "\r\n"):
            raise ConfigError(setting, f"level {level!r} must map to a Jira priority name or \"\", got {name!r}")
        mapping[level] = name.strip()
    return mapping


def _level(header: str, value: str) -> tuple[bool, str | None]:
    """(understood, level) of one header value; level None means normal."""
    text = value.strip().lower()
    if header == "X-Priority":
        match = _LEADING_DIGIT.match(text)
        if match and match.group(1) in _X_PRIORITY:
            return True, _X_PRIORITY[match.group(1)]
        return False, None
    table = _IMPORTANCE if header == "Importance" else _PRIORITY
    if text in table:
        return True, table[text]
    return False, None


def mail_priority(x_priority: str | None, importance: str | None, priority: str | None,
                  mapping: dict[str, str] | None = None) -> PriorityChoice:
    """The Jira priority a mail asks for: the first of its three headers that is present and understood."""
    mapping = DEFAULT_PRIORITY_MAP if mapping is None else mapping
    notes: list[str] = []
    for header, value in (("X-Priority", x_priority), ("Importance", importance), ("Priority", priority)):
        if value is None or not value.strip():
            continue
        understood, level = _level(header, value)
        if not understood:
            notes.append(f"{header} {value.strip()[:40]!r} not understood")
            continue
        source = f"{header}: {value.strip()[:40]}"
        name = mapping.get(level) if level is not None else None
        return PriorityChoice(name or None, source, "; ".join(notes) or None)
    return PriorityChoice(None, None, ("; ".join(notes) + "; priority left to Jira's default") if notes else None)


def split_names(raw: str | None) -> tuple[str, ...]:
    """A comma-separated list (JICKET_JIRA_LABELS, JICKET_JIRA_COMPONENTS) without blanks or repeats."""
    return tuple(dict.fromkeys(item.strip() for item in (raw or "").split(",") if item.strip()))
