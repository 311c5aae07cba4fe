#!/usr/bin/env bash
# Every check: ruff, the architecture contracts (import-linter, pyproject.toml), then all tests (unit, the real-server integration runs, Airflow, Ansible).
# Installs whatever is missing first (scripts/setup.sh: system packages, the venv; quick when nothing is), so this
# one command works on a fresh machine. Extra arguments go to pytest (e.g. scripts/test.sh -k confirm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache --no-logo
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
