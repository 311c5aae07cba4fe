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
import resource
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

    from jicket_ops.adapters import imap as mailbox
    from jicket_ops.adapters import jira as jira_writer

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
        started = time.time()
        try:
            return original_call(self, what, method, *args, **kwargs)
        finally:
            entry.setdefault("_jira_calls", []).append((started, time.time()))

    jira_writer.JiraWriter._call = jira_call

    from jicket_ops.stages import write_to_jira

    original_write_one = write_to_jira.write_mail

    def write_one(*args, **kwargs):
        started = time.time()
        try:
            return original_write_one(*args, **kwargs)
        finally:
            per_task.setdefault(task_id(), {}).setdefault("_writes", []).append((started, time.time()))

    write_to_jira.write_mail = write_one


def jira_timeline(entry: dict, start: float | None, end: float | None) -> dict:
    """What the Jira calls of one task did with its time: how many were in flight on average while any
    was, when the first write began, and how long the task held fewer than the allowed requests."""
    calls = sorted(entry.pop("_jira_calls", []))
    writes = sorted(entry.pop("_writes", []))
    out: dict = {}
    if not calls or start is None or end is None:
        return out
    busy = sum(b - a for a, b in calls)
    # the union of the calls' intervals: time with at least one request in flight
    covered, (lo, hi) = 0.0, calls[0]
    for a, b in calls[1:]:
        if a > hi:
            covered += hi - lo
            lo, hi = a, b
        else:
            hi = max(hi, b)
    covered += hi - lo
    out["jira_mean_in_flight"] = round(busy / covered, 2) if covered else None
    out["jira_request_s_sum"] = round(busy, 2)
    out["jira_first_request_s"] = round(calls[0][0] - start, 2)
    out["jira_last_response_s"] = round(calls[-1][1] - start, 2)
    if writes:
        out["first_write_s"] = round(writes[0][0] - start, 2)
        out["last_write_end_s"] = round(writes[-1][1] - start, 2)
    out["task_s"] = round(end - start, 2)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--marker", default="bench-", help="Message-ID text of the backlog's mails")
    parser.add_argument("--max-runs", type=int, default=20)
    parser.add_argument("--cleanup", action="store_true", help="after draining, run until the inbox is empty")
    parser.add_argument("--runs", type=int, default=0, help="exactly this many runs (0: until drained)")
    parser.add_argument("--warmup-runs", type=int, default=0, help="runs on the (empty) inbox before measuring")
    parser.add_argument("--ready-file", help="after the warm-up, write this file and wait for --go-file")
    parser.add_argument("--go-file")
    parser.add_argument("--profile", default=None,
                        help="write a cProfile of the main thread (where dag.test() runs the tasks) to this file")
    args = parser.parse_args()
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
        try:
            return run(args)
        finally:
            profiler.disable()
            profiler.dump_stats(args.profile)
    return run(args)


def one_run(dag, per_task: dict, marker: str, started: float) -> dict:
    """One DAG run with dag.test(): its wall time, its tasks' figures, what is left in the inbox."""
    per_task.clear()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    dagrun = dag.test()
    elapsed = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    instances = {ti.task_id: ti for ti in dagrun.get_task_instances()}
    tis = {}
    for task_id, ti in instances.items():
        duration = (ti.end_date - ti.start_date).total_seconds() if ti.end_date and ti.start_date else None
        tis[task_id] = {"state": str(ti.state), "duration_s": duration}
    for task, counts in per_task.items():
        ti = instances.get(task)
        span = (ti.start_date.timestamp(), ti.end_date.timestamp()) if ti and ti.start_date and ti.end_date \
            else (None, None)
        counts.update(jira_timeline(counts, *span))
        tis.setdefault(task, {}).update(counts)
    backlog, total = waiting_backlog(marker)
    return {"state": str(dagrun.state), "wall_s": elapsed, "tasks": tis, "backlog_left": backlog,
            "inbox_left": total, "load": os.getloadavg()[0],
            "runner_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime, 2),
            "start": t0 - started, "end": t0 - started + elapsed}


def succeeded(run: dict) -> bool:
    return "success" in run["state"]


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    import importlib.util

    spec = importlib.util.spec_from_file_location("jicket_dag_bench", ROOT / "dags" / "jicket_dag.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    dag = module.DAG
    per_task: dict = {}
    instrument(per_task)
    setup_s = time.perf_counter() - started

    # Warm-up: runs on an empty inbox before the backlog arrives, as a deployment's Airflow has run before.
    # They pay what only the first run of a process pays (dag.test() builds its in-process execution API,
    # the task modules are imported) and show the fixed cost of a run that finds nothing to do.
    warmup = []
    for _ in range(args.warmup_runs):
        warmup.append(one_run(dag, per_task, args.marker, started))
        print(f"warm-up run on the empty inbox: {warmup[-1]['wall_s']:.2f} s", flush=True)
    if args.ready_file:
        Path(args.ready_file).write_text("ready\n")
        while not Path(args.go_file).exists():  # the benchmark fills the inbox meanwhile
            time.sleep(0.05)

    runs = []
    phase = "drain"
    for number in range(1, args.max_runs + 1):
        result = {"run": number, "phase": phase, **one_run(dag, per_task, args.marker, started)}
        runs.append(result)
        print(f"run {number} ({phase}): {result['wall_s']:.2f} s, state {result['state']}, backlog left "
              f"{result['backlog_left']}, inbox {result['inbox_left']}", flush=True)
        if not succeeded(result):
            break
        if args.runs and number >= args.runs:
            break
        if not args.runs and result["backlog_left"] == 0:
            if not args.cleanup or result["inbox_left"] == 0:
                break
            phase = "cleanup"
    Path(args.out).write_text(json.dumps({"setup_s": setup_s, "warmup": warmup, "runs": runs}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
