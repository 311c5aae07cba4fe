"""Black- and whitelist rules from the filter JSON of jicket 0.6.2 (JICKET_FILTER_CONFIG).

A rule matches when its ``addresspattern`` matches the sender address or its ``subjectpattern``
matches the subject (``re.search``). A mail is filtered when a blacklist rule matches and no
whitelist rule does, exactly as in 0.6.2.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from jicket_ops.errors import FilterConfigError

_SETTING = "JICKET_FILTER_CONFIG"
# Patterns run against attacker-controlled text: bound the text a pattern sees.
_MAX_MATCH_TEXT = 4096


@dataclass(frozen=True)
class FilterRule:
    description: str
    address_pattern: re.Pattern[str] | None
    subject_pattern: re.Pattern[str] | None

    def matches(self, address: str, subject: str) -> bool:
        if self.subject_pattern is not None and self.subject_pattern.search(subject[:_MAX_MATCH_TEXT]):
            return True
        return self.address_pattern is not None and bool(self.address_pattern.search(address[:_MAX_MATCH_TEXT]))


@dataclass(frozen=True)
class FilterConfig:
    blacklist: tuple[FilterRule, ...] = ()
    whitelist: tuple[FilterRule, ...] = ()


@dataclass(frozen=True)
class FilterVerdict:
    filtered: bool
    reasons: tuple[str, ...]


NO_FILTERS = FilterConfig()


def _rule(entry: object, where: str) -> FilterRule:
    if not isinstance(entry, dict):
        raise FilterConfigError(_SETTING, f"{where} must be an object, got {type(entry).__name__}")
    unknown = set(entry) - {"description", "addresspattern", "subjectpattern", "ignorecase"}
    if unknown:
        raise FilterConfigError(_SETTING, f"{where} has unknown properties {sorted(unknown)}")
    description = entry.get("description")
    if not isinstance(description, str) or not description:
        raise FilterConfigError(_SETTING, f"{where} needs a 'description' string")
    ignorecase = entry.get("ignorecase", False)
    if not isinstance(ignorecase, bool):
        raise FilterConfigError(_SETTING, f"{where} ({description!r}): 'ignorecase' must be true or false")
    flags = re.IGNORECASE if ignorecase else 0
    compiled: dict[str, re.Pattern[str] | None] = {}
    for key in ("addresspattern", "subjectpattern"):
        pattern = entry.get(key)
        if pattern is None:
            compiled[key] = None
            continue
        if not isinstance(pattern, str):
            raise FilterConfigError(_SETTING, f"{where} ({description!r}): {key!r} must be a string")
        try:
            compiled[key] = re.compile(pattern, flags)
        except re.error as exc:
            problem = f"{where} ({description!r}): {key!r} is not a valid regex: {exc}"
            raise FilterConfigError(_SETTING, problem) from exc
    if compiled["addresspattern"] is None and compiled["subjectpattern"] is None:
        raise FilterConfigError(_SETTING, f"{where} ({description!r}) needs an addresspattern or a subjectpattern")
    return FilterRule(description, compiled["addresspattern"], compiled["subjectpattern"])


def parse_filter_config(text: str) -> FilterConfig:
    """Parse the filter JSON; every problem raises FilterConfigError naming the rule."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FilterConfigError(_SETTING, f"not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise FilterConfigError(_SETTING, "the root must be an object with 'blacklist' and 'whitelist' lists")
    unknown = set(data) - {"blacklist", "whitelist"}
    if unknown:
        raise FilterConfigError(_SETTING, f"unknown top-level keys {sorted(unknown)}")
    lists: dict[str, tuple[FilterRule, ...]] = {}
    for name in ("blacklist", "whitelist"):
        entries = data.get(name, [])
        if not isinstance(entries, list):
            raise FilterConfigError(_SETTING, f"'{name}' must be a list")
        lists[name] = tuple(_rule(entry, f"{name}[{i}]") for i, entry in enumerate(entries))
    return FilterConfig(blacklist=lists["blacklist"], whitelist=lists["whitelist"])


def evaluate(config: FilterConfig, address: str, subject: str) -> FilterVerdict:
    """Apply the rules to one mail's sender address and subject."""
    reasons = [f"BLACKLISTED: {rule.description}" for rule in config.blacklist if rule.matches(address, subject)]
    if not reasons:
        return FilterVerdict(False, ())
    allowed = [f"WHITELISTED: {rule.description}" for rule in config.whitelist if rule.matches(address, subject)]
    return FilterVerdict(not allowed, tuple(reasons + allowed))
