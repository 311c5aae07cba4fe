"""Test-wide set-up. Airflow reads its configuration when first imported, so the test process gets
its own AIRFLOW_HOME (SQLite metadata DB in a temporary folder) before any test imports Airflow."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="jicket-airflow-home-"))
os.environ.update({
    "AIRFLOW_HOME": str(_AIRFLOW_HOME),
    "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    # Fast retries in tests; production defaults are 3 retries, 30 s apart, exponential.
    "JICKET_TASK_RETRIES": "2",
    "JICKET_RETRY_DELAY": "0",
})
for name in list(os.environ):
    if name.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_JICKET", "JICKET_IMAP", "JICKET_SMTP", "JICKET_JIRA")):
        del os.environ[name]
