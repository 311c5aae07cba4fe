#!/usr/bin/env bash
# Runs the jicket DAG once on Airflow's embedded default (SQLite metadata DB under var/airflow), after installing
# whatever is missing on this machine (scripts/setup.sh).
# With no real servers configured (no AIRFLOW_CONN_JICKET_IMAP and no JICKET_IMAP_HOST) it first starts the
# local sandbox stack (Dovecot, SMTP relay, Jira stand-in), seeds a sample mail, and afterwards shows the Jira
# issue it became and the confirmation the customer got.
#   bash scripts/run.sh            one run (airflow dags test jicket)
#   bash scripts/run.sh --serve    airflow standalone: scheduler + UI on :8080, the DAG runs on its schedule
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh  # installs what is missing (system packages, the venv); quick when nothing is
ROOT="$(pwd)"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/var/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM="${AIRFLOW__CORE__PARALLELISM:-4}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
PY="$ROOT/.venv/bin/python"
mkdir -p "$AIRFLOW_HOME" "$ROOT/var"

echo "== Airflow metadata DB: $AIRFLOW_HOME (SQLite)"
"$PY" -m airflow db migrate >"$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }

SANDBOX_DIR=""
if [ -z "${AIRFLOW_CONN_JICKET_IMAP:-}" ] && [ -z "${JICKET_IMAP_HOST:-}" ]; then
  SANDBOX_DIR="$ROOT/var/sandbox"
  mkdir -p "$SANDBOX_DIR"
  rm -f "$SANDBOX_DIR/stack.json"
  echo "== No IMAP server configured: starting the local sandbox stack in $SANDBOX_DIR"
  "$PY" -m sandbox up --dir "$SANDBOX_DIR" >"$SANDBOX_DIR/stack.log" 2>&1 &
  SANDBOX_PID=$!
  trap 'kill -TERM $SANDBOX_PID 2>/dev/null; wait $SANDBOX_PID 2>/dev/null || true' EXIT
  for _ in $(seq 1 300); do
    [ -f "$SANDBOX_DIR/stack.json" ] && break
    kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$SANDBOX_DIR/stack.log"; exit 1; }
    sleep 0.1
  done
  [ -f "$SANDBOX_DIR/stack.json" ] || { echo "sandbox did not come up"; cat "$SANDBOX_DIR/stack.log"; exit 1; }
  # shellcheck disable=SC1091
  source "$SANDBOX_DIR/stack.env"
  "$PY" -m sandbox seed --dir "$SANDBOX_DIR"
fi

if [ "${1:-}" = "--serve" ]; then
  # The Ansible role's airflow_local_settings.py, as a deployment has it: the scheduler imports the task modules
  # once for every task process, and SQL now() on SQLite has milliseconds (else every run waits for the next
  # whole second before it starts; bench/README.md).
  mkdir -p "$AIRFLOW_HOME/config"
  cp "$ROOT/ansible/roles/jicket/files/airflow_local_settings.py" "$AIRFLOW_HOME/config/airflow_local_settings.py"
  echo "== airflow standalone (UI on http://localhost:8080; the admin password is in $AIRFLOW_HOME)"
  # standalone starts each component as `airflow <component>` from PATH: the virtualenv's, not whatever else is there
  PATH="$ROOT/.venv/bin:$PATH" "$PY" -m airflow standalone
  exit $?
fi

echo "== airflow dags test jicket (task logs: $AIRFLOW_HOME/run.log)"
status=0
"$PY" -m airflow dags test jicket >"$AIRFLOW_HOME/run.log" 2>&1 || status=$?
grep -E "run summary|DagRun Finished" "$AIRFLOW_HOME/run.log" | sed -e 's/^.*\(run summary\)/\1/' -e 's/^.*\(DagRun Finished\)/\1/' | cut -c1-300
if [ -n "$SANDBOX_DIR" ]; then
  "$PY" scripts/show_sandbox.py "$SANDBOX_DIR"
fi
exit $status
