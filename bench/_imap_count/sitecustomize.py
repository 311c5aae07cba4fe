"""Counts the IMAP commands a Python process sends, for the benchmarks only (imported at start-up by ``site``).

Put this directory on ``PYTHONPATH`` and set ``BENCH_IMAP_COUNT_DIR``: every ``imaplib`` command the
process sends (LOGIN, SELECT, UID FETCH, ...) appends one line ``<command>`` to ``<dir>/<pid>.log``.
Used the same way for jicket 0.6.2 and for Jicket's task processes, so their counts compare: a line per
command is written at once (a task process may end with ``os._exit``, which skips ``atexit``).
Without ``BENCH_IMAP_COUNT_DIR`` nothing is patched.
"""

from __future__ import annotations

import os

_DIR = os.environ.get("BENCH_IMAP_COUNT_DIR")

if _DIR:
    import imaplib

    _original_command = imaplib.IMAP4._command

    def _counting_command(self, name, *args):
        # Opened per write: a forked process (Airflow forks task processes) must not share its parent's file.
        with open(os.path.join(_DIR, f"{os.getpid()}.log"), "a") as out:
            out.write(f"{name}\n")
        return _original_command(self, name, *args)

    imaplib.IMAP4._command = _counting_command


def read_counts(directory: str) -> dict[str, int]:
    """Commands counted in DIRECTORY so far, by command name."""
    counts: dict[str, int] = {}
    for entry in os.scandir(directory):
        if entry.name.endswith(".log"):
            with open(entry.path) as lines:
                for line in lines:
                    name = line.strip()
                    counts[name] = counts.get(name, 0) + 1
    return counts
