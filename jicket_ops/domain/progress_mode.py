"""Where a mail's progress is recorded: IMAP keywords, or folders, system flags and Jira's markers (pure).

Keywords (``$JicketImported`` ...) need a server that stores custom keywords (PERMANENTFLAGS with ``\\*``).
Microsoft Exchange and some others do not, so every guarantee also holds in *folders* mode, which uses only
what every IMAP server offers:

- Jira's markers are the truth for "Jira has this mail": each run plans every mail still in the inbox afresh,
  and a mail Jira already holds is only finished (``already_created`` / ``already_commented``).
- ``\\Seen`` before a create: "a create may have reached Jira" (Jicket itself never sets it otherwise: it
  reads with BODY.PEEK). A person reading the mail sets it too; that only costs a search settle on Cloud.
- ``\\Answered`` before a confirmation is sent: "look for our own copy before sending again".
- A mail is done when it leaves the inbox; a quarantined mail is moved at once; the failures of a mail are
  counted by the failure reports filed in the quarantine folder (``X-Jicket-Failed`` header).
"""

from __future__ import annotations

from enum import StrEnum

from jicket_ops.errors import ConfigError

SETTING = "JICKET_IMAP_PROGRESS"


class ProgressMode(StrEnum):
    KEYWORDS = "keywords"
    FOLDERS = "folders"


def choose_mode(setting: str, keywords_allowed: bool | None) -> ProgressMode:
    """The mode a run uses on a folder: forced by JICKET_IMAP_PROGRESS, else what the server allows.

    ``keywords_allowed`` is None when the folder was selected read-only (a dry run): keywords are assumed,
    since a dry run stores nothing either way.
    """
    if setting == "folders":
        return ProgressMode.FOLDERS
    if setting == "keywords":
        if keywords_allowed is False:
            raise ConfigError(SETTING, "is 'keywords', but the server does not store custom keywords in this folder "
                                       "(PERMANENTFLAGS lacks \\*); use 'auto' or 'folders'")
        return ProgressMode.KEYWORDS
    return ProgressMode.FOLDERS if keywords_allowed is False else ProgressMode.KEYWORDS
