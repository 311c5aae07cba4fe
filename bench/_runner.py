"""Runs the real ``jicket`` DAG with ``dag.test()`` until the benchmark's backlog has left the inbox.

Started by the benchmarks as a child process with the benchmark's Airflow environment; imports Airflow
and the DAG once, then runs one DAG run after another (each a real DAG run: metadata DB, task runner,
XCom through the execution API, all seven tasks) and writes one JSON document to ``--out``.

Instrumentation, for measuring only (nothing it patches changes what a task does):
``Mailbox.round_trips`` and ``JiraWriter.requests`` are recorded per task when each task's session ends.
"""

from __future__ import annotations

import argparse
import imaplib
import json
import os
import ssl
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def waiting_backlog(marker: str) -> tuple[int, int]:
    """(backlog mails still in the inbox, all mails in the inbox), read over IMAP."""
    conn = json.loads(os.environ["AIRFLOW_CONN_JICKET_IMAP"])
    context = ssl.create_default_context(cafile=conn["extra"]["ca_file"])
    client = imaplib.IMAP4_SSL(conn["host"], conn["port"], ssl_context=context)
    try:
        client.login(conn["login"], conn["password"])
        client.select("INBOX", readonly=True)
        _, data = client.uid("SEARCH", "UNDELETED", "HEADER", "Message-ID", f'"{marker}"')
        backlog = len(data[0].split()) if data and data[0] else 0
        _, data = client.uid("SEARCH", "UNDELETED")
        total = len(data[0].split()) if data and data[0] else 0
        return backlog, total
    finally:
        client.logout()


def instrument(per_task: dict) -> None:
    from airflow.sdk import get_current_context

    from jicket_ops import jira_writer, mailbox

    def task_id() -> str:
        try:
            return get_current_context()["ti"].task_id
        except Exception:  # noqa: BLE001 - outside a task
            return "?"

    original_exit = mailbox.Mailbox.__exit__

    def mailbox_exit(self, *exc_info):
        entry = per_task.setdefault(task_id(), {})
        entry["imap_round_trips"] = entry.get("imap_round_trips", 0) + self.round_trips
        entry["imap_sessions"] = entry.get("imap_sessions", 0) + 1
        return original_exit(self, *exc_info)

    mailbox.Mailbox.__exit__ = mailbox_exit

    original_call = jira_writer.JiraWriter._call

    def jira_call(self, what, method, *args, **kwargs):
        entry = per_task.setdefault(task_id(), {})
        entry["jira_requests"] = entry.get("jira_requests", 0) + 1
        return original_call(self, what, method, *args, **kwargs)

    jira_writer.JiraWriter._call = jira_call


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--marker", default="bench-", help="Message-ID text of the backlog's mails")
    parser.add_argument("--max-runs", type=int, default=20)
    parser.add_argument("--cleanup", action="store_true", help="after draining, run until the inbox is empty")
    parser.add_argument("--runs", type=int, default=0, help="exactly this many runs (0: until drained)")
    args = parser.parse_args()

    started = time.perf_counter()
    import importlib.util

    spec = importlib.util.spec_from_file_location("jicket_dag_bench", ROOT / "dags" / "jicket_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.DAG
    per_task_all: list[dict] = []
    per_task: dict = {}
    instrument(per_task)
    setup_s = time.perf_counter() - started

    runs = []
    phase = "drain"
    for number in range(1, args.max_runs + 1):
        per_task.clear()
        t0 = time.perf_counter()
        dagrun = dag.test()
        elapsed = time.perf_counter() - t0
        tis = {}
        for ti in dagrun.get_task_instances():
            duration = (ti.end_date - ti.start_date).total_seconds() if ti.end_date and ti.start_date else None
            tis[ti.task_id] = {"state": str(ti.state), "duration_s": duration}
        for task, counts in per_task.items():
            tis.setdefault(task, {}).update(counts)
        backlog, total = waiting_backlog(args.marker)
        runs.append({"run": number, "phase": phase, "state": str(dagrun.state), "wall_s": elapsed,
                     "tasks": tis, "backlog_left": backlog, "inbox_left": total, "load": os.getloadavg()[0],
                     "start": t0 - started, "end": t0 - started + elapsed})
        per_task_all.append(dict(per_task))
        print(f"run {number} ({phase}): {elapsed:.2f} s, state {dagrun.state}, backlog left {backlog}, "
              f"inbox {total}", flush=True)
        if str(dagrun.state) != "success" and "success" not in str(dagrun.state):
            break
        if args.runs and number >= args.runs:
            break
        if not args.runs and backlog == 0:
            if not args.cleanup or total == 0:
                break
            phase = "cleanup"
    Path(args.out).write_text(json.dumps({"setup_s": setup_s, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
