"""Helpers shared by the test modules (one place; no test module imports another)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The deployment's confirmation template, as the DAG passes it to the settings.
TEMPLATE = ROOT / "include" / "templates" / "confirmation.html.j2"
