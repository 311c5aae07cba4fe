"""Start-up adapter of the jicket 0.6.2 process in ``bench.versus_062`` (on its ``PYTHONPATH``; benchmarks only).

1. Counts its IMAP commands as ``bench/_imap_count`` does for Jicket (same file format, same directory).
2. Answers ``GET /rest/api/2/field`` locally: every ``jira.JIRA`` client (0.6.2 builds one per mail) reads
   the field list in its constructor, and the sandbox Jira stand-in does not serve that endpoint (404).
   The answer is Jira DC's system fields that JQL names; it waits ``BENCH_JIRA_LATENCY_MS`` as the stand-in
   waits for every request, and each call appends a line to ``BENCH_JIRA_FIELD_LOG`` so that it is counted
   as a Jira request. Nothing else of 0.6.2 or its libraries is changed.
"""

from __future__ import annotations

import importlib.util
import os
import time

# The IMAP command counter, loaded under its own name (this module is ``sitecustomize`` already).
_spec = importlib.util.spec_from_file_location(
    "bench_imap_count", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "_imap_count",
                                     "sitecustomize.py"))
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))

_FIELDS = [
    {"id": field, "name": field.capitalize(), "custom": False, "orderable": True, "navigable": True,
     "searchable": True, "clauseNames": [field], "schema": {"type": "string", "system": field}}
    for field in ("summary", "description", "comment", "project", "issuetype", "status", "labels", "reporter",
                  "created", "updated", "resolution")
]

if os.environ.get("BENCH_JIRA_FIELD_LOG"):
    import jira.client

    def _fields(self) -> list[dict]:
        time.sleep(int(os.environ.get("BENCH_JIRA_LATENCY_MS", "0")) / 1000)
        with open(os.environ["BENCH_JIRA_FIELD_LOG"], "a") as out:
            out.write("GET /rest/api/2/field\n")
        return [dict(f) for f in _FIELDS]

    jira.client.JIRA.fields = _fields
