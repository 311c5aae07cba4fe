"""Several helpdesk mailboxes from one deployment: the mailbox list (JSON) and each mailbox's settings.

The list is a JSON array of objects, one per mailbox. Each object names the mailbox (``name``: the suffix
of its DAG id ``jicket_<name>``) and overrides any JICKET_* setting, either by the setting's own name
(``"JICKET_JIRA_CONCURRENCY": 8``) or by one of the short keys of ``KEYS`` (``"project": "BILL"``).
A mailbox's settings are the deployment's JICKET_* values overridden by its entry, so what every
mailbox shares is set once.

Pure: parsing and validation only. Reading the file or Variable is orchestration's business.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from jicket_ops.domain.settings import Lookup
from jicket_ops.errors import ConfigError

# The setting that holds the list, and the one naming a file with it (read when the DAG file is parsed).
MAILBOXES_SETTING = "JICKET_MAILBOXES"
MAILBOXES_FILE_SETTING = "JICKET_MAILBOXES_FILE"
DAG_ID_PREFIX = "jicket_"
_NAME = re.compile(r"[a-z0-9_]{1,50}")
_SETTING_NAME = re.compile(r"JICKET_[A-Z0-9_]+")

# Short keys of a mailbox entry and the JICKET_* setting each one overrides.
KEYS: dict[str, str] = {
    "project": "JICKET_JIRA_PROJECT",
    "ticket_address": "JICKET_TICKET_ADDRESS",
    "issue_type": "JICKET_JIRA_ISSUETYPE",
    "service_desk": "JICKET_JSM_SERVICE_DESK",
    "request_type": "JICKET_JSM_REQUEST_TYPE",
    "id_prefix": "JICKET_ID_PREFIX",
    "id_salt": "JICKET_ID_SALT",
    "imap_conn_id": "JICKET_IMAP_CONN_ID",
    "smtp_conn_id": "JICKET_SMTP_CONN_ID",
    "jira_conn_id": "JICKET_JIRA_CONN_ID",
    "folder_inbox": "JICKET_FOLDER_INBOX",
    "folder_success": "JICKET_FOLDER_SUCCESS",
    "folder_quarantine": "JICKET_FOLDER_QUARANTINE",
    "template": "JICKET_THREAD_TEMPLATE",
    "filter_config": "JICKET_FILTER_CONFIG",
    "labels": "JICKET_JIRA_LABELS",
    "components": "JICKET_JIRA_COMPONENTS",
    "priorities": "JICKET_PRIORITY_MAP",
    "jsm_staff_domains": "JICKET_JSM_STAFF_DOMAINS",
    "jsm_staff_comments": "JICKET_JSM_STAFF_COMMENTS",
}
# The ``schedule`` object's keys.
SCHEDULE_KEYS: dict[str, str] = {
    "loop_mode": "JICKET_LOOPMODE",
    "loop_time": "JICKET_LOOPTIME",
    "imap_idle": "JICKET_IMAP_IDLE",
}
# Settings that only make sense once per deployment: a mailbox entry may not override them.
DEPLOYMENT_ONLY = frozenset({MAILBOXES_SETTING, MAILBOXES_FILE_SETTING, "JICKET_ALERT_ADDRESS", "JICKET_ALERT_FROM"})


class MailboxConfigError(ConfigError):
    """The mailbox list is not valid JSON, or an entry has a bad key or value; names the mailbox and the key."""

    def __init__(self, source: str, problem: str, mailbox: str | None = None, key: str | None = None) -> None:
        self.mailbox = mailbox
        self.key = key
        where = source + (f": mailbox {mailbox!r}" if mailbox else "") + (f", key {key!r}" if key else "")
        super().__init__(where, problem)


@dataclass(frozen=True)
class Mailbox:
    """One configured mailbox: its name and the JICKET_* settings its entry overrides (as strings)."""

    name: str
    overrides: Mapping[str, str]

    @property
    def dag_id(self) -> str:
        return DAG_ID_PREFIX + self.name

    def lookup(self, base: Lookup) -> Lookup:
        """A settings lookup: this mailbox's override of a name, else the deployment's value (``base``)."""
        overrides = dict(self.overrides)

        def lookup(name: str) -> str | None:
            return overrides[name] if name in overrides else base(name)

        return lookup


def _setting_text(source: str, mailbox: str, key: str, value: object) -> str:
    """A JSON value as the string a JICKET_* setting holds: lists comma-joined, objects as JSON."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    if isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool) for v in value):
        items = [str(v).strip() for v in value]
        if any("," in v for v in items):
            raise MailboxConfigError(source, "list items may not contain commas", mailbox, key)
        return ",".join(items)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    raise MailboxConfigError(source, f"must be a string, number, boolean, list of strings or object, "
                                     f"got {type(value).__name__}", mailbox, key)


def _entry(source: str, index: int, raw: object) -> Mailbox:
    if not isinstance(raw, dict):
        raise MailboxConfigError(source, f"entry {index} must be an object, got {type(raw).__name__}")
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise MailboxConfigError(source, f"entry {index}: 'name' must be 1-50 characters of a-z, 0-9, _ "
                                         f"(it becomes the DAG id jicket_<name>), got {name!r}", key="name")
    overrides: dict[str, str] = {}

    def put(key: str, setting: str, value: object) -> None:
        if setting in DEPLOYMENT_ONLY:
            raise MailboxConfigError(source, f"{setting} is set once per deployment, not per mailbox", name, key)
        if setting in overrides:
            raise MailboxConfigError(source, f"sets {setting} twice (as a short key and by name)", name, key)
        if value is None:
            raise MailboxConfigError(source, "must not be null (leave the key out for the default)", name, key)
        overrides[setting] = _setting_text(source, name, key, value)

    for key, value in raw.items():
        if key == "name":
            continue
        if key == "schedule":
            if not isinstance(value, dict):
                raise MailboxConfigError(source, "must be an object with loop_mode, loop_time, imap_idle", name, key)
            for sub, sub_value in value.items():
                if sub not in SCHEDULE_KEYS:
                    raise MailboxConfigError(source, f"unknown schedule key (known: {', '.join(SCHEDULE_KEYS)})",
                                             name, f"schedule.{sub}")
                put(f"schedule.{sub}", SCHEDULE_KEYS[sub], sub_value)
        elif key in KEYS:
            put(key, KEYS[key], value)
        elif _SETTING_NAME.fullmatch(key):
            put(key, key, value)
        else:
            raise MailboxConfigError(source, "unknown key (use a JICKET_* setting name or one of: "
                                             f"{', '.join(['schedule', *KEYS])})", name, key)
    if "JICKET_JIRA_PROJECT" not in overrides:
        raise MailboxConfigError(source, "is required: each mailbox feeds its own Jira project", name, "project")
    if "JICKET_JSM_REQUEST_TYPE" in overrides and "JICKET_JSM_SERVICE_DESK" not in overrides:
        raise MailboxConfigError(source, "needs 'service_desk' as well", name, "request_type")
    return Mailbox(name, overrides)


def parse_mailboxes(text: str, source: str = MAILBOXES_SETTING, base: Lookup | None = None) -> tuple[Mailbox, ...]:
    """The mailboxes of a JSON list, validated; the first problem raises MailboxConfigError.

    ``source`` names where the text came from in error messages (the file, or the setting). With ``base``
    (the deployment's settings), checks that need a mailbox's effective value are made too: two mailboxes
    may not read the same folder of the same connection (their runs would race for the same mails), nor
    share a ticket id prefix (a reply to one would be looked up in the other's project too).
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise MailboxConfigError(source, f"is not valid JSON: {exc}") from None
    if not isinstance(data, list):
        raise MailboxConfigError(source, f"must be a JSON list of mailbox objects, got {type(data).__name__}")
    mailboxes = tuple(_entry(source, i, raw) for i, raw in enumerate(data))
    seen: dict[str, str] = {}
    for mailbox in mailboxes:
        if mailbox.name in seen:
            raise MailboxConfigError(source, "appears twice", mailbox.name, "name")
        seen[mailbox.name] = mailbox.name
    if base is not None:
        _check_distinct(source, mailboxes, base)
    return mailboxes


def _check_distinct(source: str, mailboxes: tuple[Mailbox, ...], base: Lookup) -> None:
    inboxes: dict[tuple[str, str], str] = {}
    prefixes: dict[str, str] = {}
    for mailbox in mailboxes:
        lookup = mailbox.lookup(base)
        inbox = ((lookup("JICKET_IMAP_CONN_ID") or "jicket_imap").strip(),
                 (lookup("JICKET_FOLDER_INBOX") or "INBOX").strip())
        if inbox in inboxes:
            raise MailboxConfigError(source, f"reads folder {inbox[1]!r} of connection {inbox[0]!r} like mailbox "
                                             f"{inboxes[inbox]!r}: give each mailbox its own connection or folder",
                                     mailbox.name, "imap_conn_id")
        inboxes[inbox] = mailbox.name
        prefix = lookup("JICKET_ID_PREFIX")
        prefix = "JI-" if prefix is None or not prefix.strip() else prefix.strip()
        if prefix.upper() in prefixes:
            raise MailboxConfigError(source, f"uses the ticket id prefix {prefix!r} like mailbox "
                                             f"{prefixes[prefix.upper()]!r}: give each mailbox its own id_prefix",
                                     mailbox.name, "id_prefix")
        prefixes[prefix.upper()] = mailbox.name


def find_mailbox(mailboxes: tuple[Mailbox, ...], name: str, source: str = MAILBOXES_SETTING) -> Mailbox:
    """The mailbox called ``name``; MailboxConfigError when the list no longer has it."""
    for mailbox in mailboxes:
        if mailbox.name == name:
            return mailbox
    raise MailboxConfigError(source, f"has no mailbox {name!r} (known: {', '.join(m.name for m in mailboxes)})")
