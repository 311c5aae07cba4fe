"""Settings: the JICKET_* names of jicket 0.6.2, read from Airflow Variables or the environment.

Every setting is looked up by its 0.6.2 name (``JICKET_JIRA_PROJECT`` ...): first as an Airflow
Variable of that name (so ``AIRFLOW_VAR_JICKET_...`` works too), then as a plain environment
variable, so a 0.6.2 ``env.list`` drives the DAG unchanged. Credentials live in Airflow
Connections; see ``connections.py`` for the JICKET_IMAP_HOST ... fallback.

Nothing here does I/O except reading the filter file when asked to.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from email.headerregistry import Address
from pathlib import Path
from typing import TYPE_CHECKING

from jicket_ops.errors import ConfigError, FilterConfigError

if TYPE_CHECKING:  # imported where used: the DAG file imports this module when it is parsed
    from jicket_ops.domain.filters import FilterConfig
    from jicket_ops.domain.ticket_ids import TicketIdScheme

Lookup = Callable[[str], "str | None"]

DEFAULT_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024  # Jira's default attachment size limit
DEFAULT_REPLY_LANGUAGES = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "pl")
LOOP_MODES = ("dynamic", "interval", "singleshot")
_PROJECT_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,49}")
_FOLDER_FORBIDDEN = re.compile(r'[\x00-\x1f\x7f"\\]')


@dataclass(frozen=True)
class Schedule:
    """When the DAG runs (JICKET_LOOPMODE, JICKET_LOOPTIME)."""

    loop_mode: str = "dynamic"
    loop_time: timedelta = timedelta(seconds=60)
    # JICKET_IMAP_IDLE: also run as soon as IMAP IDLE reports new mail (jicket_ops.orchestration.idle_trigger); the
    # watched connection and folder are read with the schedule, when the DAG file is parsed.
    imap_idle: bool = False
    imap_conn_id: str = "jicket_imap"
    folder_inbox: str = "INBOX"


def _ticket_id_scheme() -> TicketIdScheme:
    from jicket_ops.domain.ticket_ids import TicketIdScheme

    return TicketIdScheme()


@dataclass(frozen=True)
class Settings:
    jira_project: str
    ticket_address: str
    folder_inbox: str = "INBOX"
    folder_success: str = "jicket"
    thread_template: Path = Path("include/templates/confirmation.html.j2")
    filter_config_path: Path | None = None
    ids: TicketIdScheme = field(default_factory=_ticket_id_scheme)
    jira_issue_type: str = "Task"
    jira_concurrency: int = 4
    # 1,000: a backlog of 1,000 mails drains in one run (one scheduling and task-start overhead instead of two).
    # What a run keeps grows with its mails' headers only (bodies are read 50 at a time), so memory barely moves.
    max_mails_per_run: int = 1000
    imap_conn_id: str = "jicket_imap"
    smtp_conn_id: str = "jicket_smtp"
    jira_conn_id: str = "jicket_jira"
    # Reliability: a mail failing this many runs goes to the quarantine folder; per-sender limit of new tickets.
    poison_after: int = 3
    folder_quarantine: str = "jicket-quarantine"
    limit_new_per_hour: int = 0  # off: every customer mail is imported (JICKET_LIMIT_NEW_PER_HOUR)
    limit_confirmations_per_hour: int = 20  # automatic answers per sender and hour (loop protection)
    jira_search_settle: float | None = None  # None: 30 s on Jira Cloud, 0 on Data Center
    # Mail fidelity: attachments, reply cutting, replies to resolved issues, people.
    attachment_max_bytes: int = DEFAULT_ATTACHMENT_MAX_BYTES
    reply_strip_quotes: bool = True
    reply_attach_original: bool = False
    reply_languages: tuple[str, ...] = DEFAULT_REPLY_LANGUAGES
    resolved_policy: str = "reopen"
    resolved_link_type: str = "Relates"
    jira_set_reporter: bool = False
    jira_add_watchers: bool = False
    # Throughput: parallel SMTP sessions of the confirm task.
    smtp_concurrency: int = 4
    # Cc addresses of a customer's mail that also get the confirmation, at most (the rest are not mailed).
    confirmation_max_cc: int = 10
    # Where progress is recorded: auto (keywords where the server stores them), keywords, folders.
    imap_progress: str = "auto"
    # Fields from the mail (domain.priority): level -> Jira priority name; labels and components of new tickets.
    priority_map: dict[str, str] | None = None  # None: domain.priority.DEFAULT_PRIORITY_MAP
    jira_labels: tuple[str, ...] = ()
    jira_components: tuple[str, ...] = ()
    # Jira Service Management mode (domain.jsm): the service desk (id or project key) and request type (name or id).
    jsm_service_desk: str | None = None
    jsm_request_type: str = "Emailed request"
    jsm_staff_domains: tuple[str, ...] = ()
    jsm_staff_comments: str = "internal"
    mailbox: str | None = None  # the mailbox's name when several are configured (domain.mailboxes)
    # HMAC key that signs the Message-ID of every mail Jicket sends (``mail_secret``); never logged.
    mail_secret: bytes = field(default=b"", repr=False)

    def load_filters(self) -> FilterConfig:
        """Read and parse JICKET_FILTER_CONFIG (no filter when unset)."""
        from jicket_ops.domain.filters import NO_FILTERS, parse_filter_config

        if self.filter_config_path is None:
            return NO_FILTERS
        try:
            text = self.filter_config_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise FilterConfigError("JICKET_FILTER_CONFIG", f"cannot read {self.filter_config_path}: {exc}") from exc
        return parse_filter_config(text)


def environment_lookup(environ: Mapping[str, str] | None = None) -> Lookup:
    """Look a setting up as AIRFLOW_VAR_<NAME>, then <NAME>, in the process environment."""
    env = os.environ if environ is None else environ

    def lookup(name: str) -> str | None:
        value = env.get(f"AIRFLOW_VAR_{name}")
        return value if value is not None else env.get(name)

    return lookup


def _text(lookup: Lookup, name: str, default: str | None = None) -> str | None:
    value = lookup(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _required(lookup: Lookup, name: str, what: str) -> str:
    value = _text(lookup, name)
    if value is None:
        raise ConfigError(name, f"is required ({what})")
    return value


def _number(lookup: Lookup, name: str, default: float, kind: type, low: float, high: float) -> float:
    raw = _text(lookup, name)
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise ConfigError(name, f"must be {'an integer' if kind is int else 'a number'}, got {raw!r}") from None
    if not low <= value <= high:
        raise ConfigError(name, f"must be between {low} and {high}, got {raw!r}")
    return value


def load_schedule(lookup: Lookup) -> Schedule:
    """The schedule settings; read from the environment when the DAG file is parsed."""
    mode = (_text(lookup, "JICKET_LOOPMODE", "dynamic") or "dynamic").lower()
    if mode not in LOOP_MODES:
        raise ConfigError("JICKET_LOOPMODE", f"must be one of {', '.join(LOOP_MODES)}, got {mode!r}")
    seconds = _number(lookup, "JICKET_LOOPTIME", 60.0, float, 1.0, 7 * 24 * 3600.0)
    idle_raw = (_text(lookup, "JICKET_IMAP_IDLE", "false") or "false").lower()
    if idle_raw not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ConfigError("JICKET_IMAP_IDLE", f"must be true or false, got {idle_raw!r}")
    if idle_raw not in ("true", "1", "yes", "on"):
        return Schedule(mode, timedelta(seconds=seconds))
    return Schedule(mode, timedelta(seconds=seconds), imap_idle=True,
                    imap_conn_id=_text(lookup, "JICKET_IMAP_CONN_ID", "jicket_imap") or "jicket_imap",
                    folder_inbox=_folder(lookup, "JICKET_FOLDER_INBOX", "INBOX"))


def _folder(lookup: Lookup, name: str, default: str) -> str:
    folder = _text(lookup, name, default) or default
    if _FOLDER_FORBIDDEN.search(folder) or len(folder) > 200:
        raise ConfigError(name, f"is not a usable IMAP folder name: {folder!r}")
    return folder


def _address(lookup: Lookup, name: str) -> str:
    raw = _required(lookup, name, "the helpdesk's e-mail address, e.g. support@example.com")
    try:
        parsed = Address(addr_spec=raw)
    except (ValueError, IndexError) as exc:
        raise ConfigError(name, f"is not an e-mail address: {raw!r} ({exc})") from None
    if not parsed.domain:
        raise ConfigError(name, f"is not an e-mail address: {raw!r}")
    return parsed.addr_spec


def load_settings(lookup: Lookup, default_template: Path, *, require_template: bool = True) -> Settings:
    """All run-time settings, validated; the first problem raises ConfigError naming the setting.

    ``default_template``: the confirmation template used when JICKET_THREAD_TEMPLATE is unset (the deployment's
    ``include/templates/confirmation.html.j2``: the caller knows where the deployment keeps it).
    ``require_template=False`` for tools that send no mail (jicket-inspect).
    """
    from jicket_ops.domain.ticket_ids import (
        DEFAULT_ALPHABET,
        DEFAULT_MIN_LENGTH,
        DEFAULT_PREFIX,
        DEFAULT_SALT,
        TicketIdScheme,
    )

    project = _required(lookup, "JICKET_JIRA_PROJECT", "the Jira project key, e.g. SHD").upper()
    if not _PROJECT_KEY.fullmatch(project):
        raise ConfigError("JICKET_JIRA_PROJECT", f"is not a Jira project key (A-Z, 0-9, _): {project!r}")
    ids = TicketIdScheme(
        prefix=_text(lookup, "JICKET_ID_PREFIX", DEFAULT_PREFIX) or "",
        salt=lookup("JICKET_ID_SALT") if lookup("JICKET_ID_SALT") is not None else DEFAULT_SALT,
        alphabet=_text(lookup, "JICKET_ID_ALPHABET", DEFAULT_ALPHABET) or DEFAULT_ALPHABET,
        # 0.6.2 read JICKET_ID_MINLEN; its manual printed the name wrongly, accept the long form too.
        min_length=int(_number(lookup, "JICKET_ID_MINLEN", _number(
            lookup, "JICKET_ID_MINLENGTH", DEFAULT_MIN_LENGTH, int, 0, 32), int, 0, 32)),
    )
    for setting, problem in ids.problems():
        raise ConfigError(setting, problem)

    template_raw = _text(lookup, "JICKET_THREAD_TEMPLATE")
    template = Path(template_raw).expanduser() if template_raw else default_template
    if require_template and not template.is_file():
        raise ConfigError("JICKET_THREAD_TEMPLATE", f"template file {template} does not exist")
    filter_raw = _text(lookup, "JICKET_FILTER_CONFIG")
    filter_path = Path(filter_raw).expanduser() if filter_raw else None
    if filter_path is not None and not filter_path.is_file():
        raise ConfigError("JICKET_FILTER_CONFIG", f"filter file {filter_path} does not exist")

    inbox = _folder(lookup, "JICKET_FOLDER_INBOX", "INBOX")
    success = _folder(lookup, "JICKET_FOLDER_SUCCESS", "jicket")
    if success == inbox:
        raise ConfigError("JICKET_FOLDER_SUCCESS", f"must differ from JICKET_FOLDER_INBOX ({inbox!r})")
    quarantine = _folder(lookup, "JICKET_FOLDER_QUARANTINE", "jicket-quarantine")
    if quarantine in (inbox, success):
        raise ConfigError("JICKET_FOLDER_QUARANTINE", "must differ from the inbox and the success folder")

    return Settings(
        jira_project=project,
        ticket_address=_address(lookup, "JICKET_TICKET_ADDRESS"),
        folder_inbox=inbox,
        folder_success=success,
        thread_template=template,
        filter_config_path=filter_path,
        ids=ids,
        jira_issue_type=_text(lookup, "JICKET_JIRA_ISSUETYPE", "Task") or "Task",
        jira_concurrency=int(_number(lookup, "JICKET_JIRA_CONCURRENCY", 4, int, 1, 32)),
        max_mails_per_run=int(_number(lookup, "JICKET_MAX_MAILS_PER_RUN", 1000, int, 1, 100_000)),
        imap_conn_id=_text(lookup, "JICKET_IMAP_CONN_ID", "jicket_imap") or "jicket_imap",
        smtp_conn_id=_text(lookup, "JICKET_SMTP_CONN_ID", "jicket_smtp") or "jicket_smtp",
        jira_conn_id=_text(lookup, "JICKET_JIRA_CONN_ID", "jicket_jira") or "jicket_jira",
        poison_after=int(_number(lookup, "JICKET_POISON_AFTER", 3, int, 1, 100)),
        folder_quarantine=quarantine,
        limit_new_per_hour=int(_number(lookup, "JICKET_LIMIT_NEW_PER_HOUR", 0, int, 0, 100_000)),
        limit_confirmations_per_hour=int(_number(lookup, "JICKET_LIMIT_CONFIRMATIONS_PER_HOUR", 20, int, 0, 100_000)),
        jira_search_settle=(None if _text(lookup, "JICKET_JIRA_SEARCH_SETTLE") is None
                            else _number(lookup, "JICKET_JIRA_SEARCH_SETTLE", 0.0, float, 0.0, 600.0)),
        **_fidelity_settings(lookup),
        smtp_concurrency=int(_number(lookup, "JICKET_SMTP_CONCURRENCY", 4, int, 1, 16)),
        confirmation_max_cc=int(_number(lookup, "JICKET_CONFIRMATION_MAX_CC", 10, int, 0, 100)),
        imap_progress=_choice(lookup, "JICKET_IMAP_PROGRESS", "auto", ("auto", "keywords", "folders")),
        **_mail_field_settings(lookup),
    )


def _mail_field_settings(lookup: Lookup) -> dict:
    """Priority mapping, labels, components (domain.priority) and Jira Service Management (domain.jsm)."""
    from jicket_ops.domain.jsm import STAFF_COMMENT_MODES
    from jicket_ops.domain.priority import parse_priority_map, split_names

    labels = split_names(_text(lookup, "JICKET_JIRA_LABELS"))
    bad = [x for x in labels if re.search(r"\s", x) or len(x) > 255]
    if bad:
        raise ConfigError("JICKET_JIRA_LABELS", f"Jira labels have no spaces and at most 255 characters: {bad[0]!r}")
    desk = _text(lookup, "JICKET_JSM_SERVICE_DESK")
    return {
        "priority_map": parse_priority_map(_text(lookup, "JICKET_PRIORITY_MAP")),
        "jira_labels": labels,
        "jira_components": split_names(_text(lookup, "JICKET_JIRA_COMPONENTS")),
        "jsm_service_desk": desk,
        "jsm_request_type": _text(lookup, "JICKET_JSM_REQUEST_TYPE", "Emailed request") or "Emailed request",
        "jsm_staff_domains": split_names((_text(lookup, "JICKET_JSM_STAFF_DOMAINS") or "").lower()),
        "jsm_staff_comments": _choice(lookup, "JICKET_JSM_STAFF_COMMENTS", "internal", STAFF_COMMENT_MODES),
        "mailbox": _text(lookup, "JICKET_MAILBOX_NAME"),
    }


def mail_secret(lookup: Lookup, settings: Settings, imap_password: str | None) -> tuple[bytes, str]:
    """(HMAC key for Jicket's own mail, where it came from): JICKET_MAIL_SECRET, else derived.

    Not read by ``load_settings``: the first task publishes what that read as an XCom, and a secret has no
    place in the metadata DB. Without JICKET_MAIL_SECRET the key is derived from the IMAP password, which
    every Jicket task knows and an outsider does not (who knows it can read the mailbox anyway); changing
    the password then changes the key, so a confirmation copy sent before and still waiting in the inbox
    becomes a comment on its ticket (never a loop: comments are not answered). Without any password the key
    comes from settings an outsider may guess (JICKET_ID_SALT, the address): the source says "weak".
    """
    raw = lookup("JICKET_MAIL_SECRET")
    if raw is not None and raw.strip():
        if len(raw.strip()) < 16:
            raise ConfigError("JICKET_MAIL_SECRET", "must be at least 16 characters long")
        return raw.strip().encode("utf-8"), "JICKET_MAIL_SECRET"
    if imap_password:
        basis, source = f"imap-password\0{imap_password}", "derived from the IMAP connection's password"
    else:
        basis = f"weak\0{settings.ids.salt}\0{settings.ticket_address}\0{settings.jira_project}"
        source = "weak: derived from JICKET_ID_SALT and the ticket address (set JICKET_MAIL_SECRET)"
    key = hashlib.sha256(b"jicket-mail-secret-v1\0" + basis.encode("utf-8", "surrogatepass")).digest()
    return key, source


RESOLVED_POLICIES = ("reopen", "new", "comment")


def _choice(lookup: Lookup, name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = (_text(lookup, name, default) or default).lower()
    if value not in allowed:
        raise ConfigError(name, f"must be one of {', '.join(allowed)}, got {value!r}")
    return value


def _flag(lookup: Lookup, name: str, default: bool) -> bool:
    raw = (_text(lookup, name) or "").lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes", "on"):
        return True
    if raw in ("false", "0", "no", "off"):
        return False
    raise ConfigError(name, f"must be true or false, got {raw!r}")


def _fidelity_settings(lookup: Lookup) -> dict:
    """Settings of mail fidelity: attachment limit, reply cutting, resolved-issue policy, reporter/watchers."""
    from jicket_ops.domain.attachments import parse_size

    raw_size = _text(lookup, "JICKET_ATTACHMENT_MAX_BYTES")
    max_bytes = DEFAULT_ATTACHMENT_MAX_BYTES
    if raw_size is not None:
        try:
            max_bytes = parse_size(raw_size)
        except ValueError:
            raise ConfigError("JICKET_ATTACHMENT_MAX_BYTES",
                              f"must be a size in bytes (e.g. 10485760, 512K, 10M, 1G), got {raw_size!r}") from None
        if max_bytes > 2 * 1024 ** 3:
            raise ConfigError("JICKET_ATTACHMENT_MAX_BYTES", f"must be at most 2G, got {raw_size!r}")
    languages_raw = _text(lookup, "JICKET_REPLY_LANGUAGES")
    languages = DEFAULT_REPLY_LANGUAGES
    if languages_raw is not None:
        from jicket_ops.domain.reply_text import SUPPORTED_LANGUAGES

        languages = tuple(dict.fromkeys(x.strip().lower() for x in languages_raw.split(",") if x.strip()))
        unknown = [x for x in languages if x not in SUPPORTED_LANGUAGES]
        if unknown or not languages:
            raise ConfigError("JICKET_REPLY_LANGUAGES", f"must be a comma-separated list of "
                              f"{', '.join(SUPPORTED_LANGUAGES)}; unknown: {', '.join(unknown) or '(empty)'}")
    policy = (_text(lookup, "JICKET_RESOLVED_POLICY", "reopen") or "reopen").lower()
    if policy not in RESOLVED_POLICIES:
        raise ConfigError("JICKET_RESOLVED_POLICY", f"must be one of {', '.join(RESOLVED_POLICIES)}, got {policy!r}")
    link_type = _text(lookup, "JICKET_RESOLVED_LINK_TYPE", "Relates") or "Relates"
    if len(link_type) > 100 or any(ch in link_type for ch in "\r\n\"\\"):
        raise ConfigError("JICKET_RESOLVED_LINK_TYPE", f"is not a Jira issue link type name: {link_type!r}")
    return {
        "attachment_max_bytes": max_bytes,
        "reply_strip_quotes": _flag(lookup, "JICKET_REPLY_STRIP_QUOTES", True),
        "reply_attach_original": _flag(lookup, "JICKET_REPLY_ATTACH_ORIGINAL", False),
        "reply_languages": languages,
        "resolved_policy": policy,
        "resolved_link_type": link_type,
        "jira_set_reporter": _flag(lookup, "JICKET_JIRA_SET_REPORTER", False),
        "jira_add_watchers": _flag(lookup, "JICKET_JIRA_ADD_WATCHERS", False),
    }


@dataclass(frozen=True)
class TaskPolicy:
    """Retries of the tasks that talk to a server (JICKET_TASK_RETRIES, JICKET_RETRY_DELAY seconds)."""

    retries: int = 3
    retry_delay: timedelta = timedelta(seconds=30)


def load_task_policy(lookup: Lookup) -> TaskPolicy:
    retries = int(_number(lookup, "JICKET_TASK_RETRIES", 3, int, 0, 20))
    delay = _number(lookup, "JICKET_RETRY_DELAY", 30.0, float, 0.0, 3600.0)
    return TaskPolicy(retries, timedelta(seconds=delay))
