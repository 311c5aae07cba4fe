"""Start-up hook of the jicket 0.6.2 process in ``bench.versus_062`` (on its ``PYTHONPATH``; benchmarks only).

Counts its IMAP commands as ``bench/_imap_count`` does for Jicket (same file format, same directory), so
that the two compare. Nothing of 0.6.2 or its libraries is changed: the Jira stand-in serves everything
0.6.2's ``jira`` library asks for (``GET /rest/api/2/field`` included).
"""

from __future__ import annotations

import importlib.util
import os

# The IMAP command counter, loaded under its own name (this module is ``sitecustomize`` already).
_spec = importlib.util.spec_from_file_location(
    "bench_imap_count", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "_imap_count",
                                     "sitecustomize.py"))
_spec.loader.exec_module(importlib.util.module_from_spec(_spec))
