#!/usr/bin/env bash
# Every check: ruff, then all tests (unit, the real-server integration runs, Airflow, Ansible).
# Extra arguments go to pytest (e.g. scripts/test.sh -k confirm).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
