"""The IMAP keywords that record each mail's progress: Jicket's only state besides Jira's markers.

Keywords persist on a message and move with it (RFC 3501 2.3.2), so a mail's progress survives a retry,
a re-run, a wiped metadata DB and a move to another folder:

- ``$JicketCreating``: a create request for this mail may have reached Jira (settle before creating again).
- ``$JicketImported``: Jira has the mail (issue or comment).
- ``$JicketConfirming``: the confirmation is about to be sent (look for our own copy before sending again).
- ``$JicketDone``: nothing is left to do; the move task takes it out of the inbox.
- ``$JicketFiltered``: a filter rule dropped it.
- ``$JicketQuarantine``: the move task takes it to the quarantine folder.
- ``$JicketFailed1``, ``2`` ...: runs in which handling the mail failed for good (poison-mail count).
- ``$JicketTrying``: its batch is being written; still there next time, the process died meanwhile (a suspect).
- ``$JicketTryingAlone``: it is being written on its own; still there next time, it killed the process:
  it is not written again (remove the keyword to have it tried once more), and fails until quarantined.
"""

from __future__ import annotations

from collections.abc import Iterable

CREATING = "$JicketCreating"
IMPORTED = "$JicketImported"
CONFIRMING = "$JicketConfirming"
DONE = "$JicketDone"
FILTERED = "$JicketFiltered"
QUARANTINE = "$JicketQuarantine"
FAILED_PREFIX = "$JicketFailed"
TRYING = "$JicketTrying"
TRYING_ALONE = "$JicketTryingAlone"
KEYWORDS = (CREATING, IMPORTED, CONFIRMING, DONE, FILTERED, QUARANTINE, TRYING, TRYING_ALONE)


def failed_keyword(count: int) -> str:
    """The keyword that records the ``count``-th run in which a mail failed."""
    return f"{FAILED_PREFIX}{count}"


def failure_count(flags: Iterable[str]) -> int:
    """How many runs a mail has failed, from its ``$JicketFailedN`` keywords."""
    counts = [int(f[len(FAILED_PREFIX):]) for f in flags
              if f.startswith(FAILED_PREFIX) and f[len(FAILED_PREFIX):].isdigit()]
    return max(counts, default=0)
