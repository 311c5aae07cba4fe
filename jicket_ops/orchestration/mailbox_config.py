"""Where the mailbox list comes from: the file JICKET_MAILBOXES_FILE, else the setting JICKET_MAILBOXES.

Both are read from the process environment only (``AIRFLOW_VAR_JICKET_MAILBOXES`` counts: Airflow puts
environment Variables there), never from the metadata database: the DAG file reads the list when it is
parsed, to know which DAGs exist, and a parse must not wait on a database or the network. The tasks read the
same list the same way, so a task and the DAG it belongs to always agree on the mailbox.
"""

from __future__ import annotations

from pathlib import Path

from jicket_ops.domain.mailboxes import (
    MAILBOXES_FILE_SETTING,
    MAILBOXES_SETTING,
    Mailbox,
    MailboxConfigError,
    find_mailbox,
    parse_mailboxes,
)
from jicket_ops.domain.settings import Lookup, environment_lookup


def configured_mailboxes(env_lookup: Lookup | None = None) -> tuple[Mailbox, ...]:
    """The configured mailboxes, validated; () when none are configured (the single ``jicket`` DAG)."""
    env_lookup = env_lookup or environment_lookup()
    path = (env_lookup(MAILBOXES_FILE_SETTING) or "").strip()
    if path:
        file = Path(path).expanduser()
        try:
            text = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise MailboxConfigError(f"{MAILBOXES_FILE_SETTING} ({file})", f"cannot be read: {exc}") from None
        source = str(file)
    else:
        text = (env_lookup(MAILBOXES_SETTING) or "").strip()
        source = MAILBOXES_SETTING
        if not text:
            return ()
    mailboxes = parse_mailboxes(text, source, base=env_lookup)
    if not mailboxes:
        raise MailboxConfigError(source, "lists no mailbox (unset it for the single jicket DAG)")
    return mailboxes


def mailbox_lookup(name: str, base: Lookup, env_lookup: Lookup | None = None) -> Lookup:
    """The settings lookup of mailbox ``name``: its entry's overrides over ``base``, and its name."""
    mailboxes = configured_mailboxes(env_lookup)
    source = (env_lookup or environment_lookup())(MAILBOXES_FILE_SETTING) or MAILBOXES_SETTING
    inner = find_mailbox(mailboxes, name, source).lookup(base)

    def lookup(setting: str) -> str | None:
        return name if setting == "JICKET_MAILBOX_NAME" else inner(setting)

    return lookup
