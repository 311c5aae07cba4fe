#!/usr/bin/env bash
# Every check: ruff, the architecture contracts (import-linter, pyproject.toml), then all tests (unit, the real-server integration runs, Airflow, Ansible).
# Installs whatever is missing first (scripts/setup.sh: system packages, the venv; quick when nothing is), so this
# one command works on a fresh machine. Extra arguments go to pytest (e.g. scripts/test.sh -k confirm).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/lint-imports --no-cache --no-logo
# Every test, the integration runs on Dovecot (an IMAP server with custom keywords) ...
JICKET_TEST_IMAP_SERVERS=dovecot .venv/bin/python -m pytest -p no:cacheprovider "$@" tests
# ... then the integration runs again on Courier-IMAP (no custom keywords, no MOVE: folders mode), in a session of
# their own (own metadata DB; the two passes also fit one session since the SQLite lock fix of 4b5ac3a, which made
# later tests of such a session fail, but that was never run end to end).
JICKET_TEST_IMAP_SERVERS=courier exec .venv/bin/python -m pytest -p no:cacheprovider "$@" tests/integration -k courier
