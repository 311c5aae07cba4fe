#!/usr/bin/env bash
# Set-up, step 2 of 2: the project's virtualenv (.venv) with the pinned Airflow, providers and test tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -r requirements-dev.txt -c constraints.txt
# The project itself, editable: its console script jicket-inspect (the DAG imports jicket_ops from the tree).
.venv/bin/python -m pip install -q --no-deps -e . 2>/dev/null
echo "virtualenv ready: $(.venv/bin/airflow version 2>/dev/null | tail -1) in .venv"
