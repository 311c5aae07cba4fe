"""Target 5 of issue 7: mail-to-issue latency of the event-driven mode under ``airflow standalone``.

    .venv/bin/python -m bench.latency [--mails 12] [--gap 5]

The sandbox stack runs here; ``airflow standalone`` (scheduler, DAG processor, triggerer, API server,
LocalExecutor, SQLite) runs the ``jicket`` DAG with ``JICKET_IMAP_IDLE=true``: one DAG scheduled on the
inbox asset, whose AssetWatcher (``jicket_ops.orchestration.idle_trigger.ImapIdleTrigger``) holds IMAP IDLE on the
triggerer, or on its timetable (``JICKET_LOOPMODE=dynamic``, 60 s: the fallback), never two runs at once.

For each probe mail, appended to the inbox once the previous one is done (a quiet helpdesk): the time
until the Jira stand-in holds its issue (polled every 0.1 s). The metadata DB then splits it up: until
the trigger saw the mail (the event's ``detected_at``), until the scheduler queued the asset-triggered run,
until the run started, until write_to_jira finished. Printed: every probe, the median (target <= 10 s),
and the breakdown's medians.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from bench.common import add_set_option, airflow_env, machine, make_mail, save, set_settings, start_stack
from bench.standalone import Standalone, parse_ts, use_source

TO_ISSUE = ("fetch", "filter_mails", "route", "write_to_jira")  # the tasks between a mail and its issue


def inbox_empty(stack) -> bool:
    with stack.imap() as client:
        return not client.uids("INBOX")


def probe(stack, airflow: Standalone, n: int, timeout: float = 120.0) -> dict:
    subject = f"Latency probe {n} {uuid.uuid4().hex[:8]}"
    raw = make_mail(10_000 + n, subject=subject)
    with stack.imap() as client:
        sent = time.time()
        client.append("INBOX", raw)
        appended = time.time()
    issue_at = None
    while time.time() - appended < timeout:
        if any(subject in (i["fields"].get("summary") or "") for i in stack.jira.issues()):
            issue_at = time.time()
            break
        time.sleep(0.1)
    return {"n": n, "subject": subject, "sent": sent, "appended": appended, "issue_at": issue_at,
            "latency_s": round(issue_at - sent, 2) if issue_at else None, "load": round(os.getloadavg()[0], 2)}


def settle(stack, airflow: Standalone, timeout: float = 180.0) -> None:
    """Until no run is queued or running and the inbox is empty (the confirmation's copy moved too)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if airflow.idle() and inbox_empty(stack):
            time.sleep(1.0)
            if airflow.idle() and inbox_empty(stack):
                return
        time.sleep(0.5)
    raise TimeoutError("the inbox did not settle")


def breakdown(airflow: Standalone, probes: list[dict]) -> None:
    """Attach, per probe: the event that announced it, the run that took it, when write_to_jira ended.

    The run that took a probe is the first whose fetch started after the mail was in the inbox: usually the
    asset-triggered run its event queued, sometimes a scheduled run (the fallback timetable) that was about to
    start anyway; the event then queues a run that finds nothing.
    """
    events = airflow.asset_events()
    runs = [{**r, "tis": airflow.task_instances(r["run_id"])} for r in airflow.runs()]
    for p in probes:
        event = next((e for e in events if (e["extra"].get("payload") or {}).get("detected_at", 0) >= p["sent"]),
                     None)
        if event is not None:
            detected = event["extra"]["payload"]["detected_at"]
            p["idle_notice_s"] = round(detected - p["sent"], 2)
            p["event_recorded_s"] = round((parse_ts(event["timestamp"]) or detected) - p["sent"], 2)
        fetched = [r for r in runs if (parse_ts((r["tis"].get("fetch") or {}).get("start")) or 0) >= p["appended"]]
        run = min(fetched, key=lambda r: parse_ts(r["tis"]["fetch"]["start"]), default=None)
        if run is None:
            continue
        tis = run["tis"]
        p["run_type"] = run["run_type"]
        p["run_queued_s"] = round((parse_ts(run["queued_at"]) or 0) - p["sent"], 2)
        p["run_started_s"] = round((parse_ts(run["start_date"]) or 0) - p["sent"], 2)
        write = tis.get("write_to_jira") or {}
        if write.get("end"):
            p["write_done_s"] = round(parse_ts(write["end"]) - p["sent"], 2)
        p["task_s"] = {t: round((parse_ts(v["end"]) or 0) - (parse_ts(v["start"]) or 0), 2)
                       for t, v in tis.items() if v.get("end") and v.get("start")}
        # when each task was queued, started and ended, in seconds since the mail arrived: the gaps between
        # one task's end and the next one's start are the scheduler's and the executor's (a process per task)
        p["task_timeline_s"] = {t: {k: round(parse_ts(v[k]) - p["sent"], 2) for k in ("queued", "start", "end")
                                    if v.get(k)} for t, v in tis.items()}
        p["in_tasks_s"] = round(sum(p["task_s"].get(t, 0) for t in TO_ISSUE), 2)
        # the same span split by who spends it: the executor starting each task's process (queued -> start),
        # the scheduler between one task's end and the next one's queueing, the tasks' own work
        line = p["task_timeline_s"]
        steps = [line.get(t, {}) for t in TO_ISSUE]
        if all({"queued", "start", "end"} <= set(s) for s in steps):
            p["process_start_s"] = round(sum(s["start"] - s["queued"] for s in steps), 2)
            p["scheduling_between_tasks_s"] = round(
                sum(b["queued"] - a["end"] for a, b in zip(steps, steps[1:], strict=False)), 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=12)
    parser.add_argument("--gap", type=float, default=3.0,
                        help="seconds of quiet before each probe (plus 0-1 s at random)")
    parser.add_argument("--seed", type=int, default=16, help="of the random part of the gap")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--role-settings", action="store_true",
                        help="Airflow set up as the Ansible role sets it up (bench.standalone.ROLE_SETTINGS)")
    parser.add_argument("--source", default=None, metavar="REV", help="measure Jicket as committed at REV")
    parser.add_argument("--name", default="latency")
    add_set_option(parser)
    args = parser.parse_args(argv)
    extra = set_settings(args)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; load {info['load_at_start']}")
    work = Path(tempfile.mkdtemp(prefix="jicket-bench-latency-"))
    stack = start_stack(work / "stack")
    probes: list[dict] = []
    try:
        # rate limits off, explicitly (every probe has its own sender, but no default limit may shape a figure)
        env = airflow_env(work / "airflow", stack, JICKET_IMAP_IDLE="true", JICKET_LOOPMODE="dynamic",
                          JICKET_LOOPTIME="60", JICKET_TASK_RETRIES="1", JICKET_RETRY_DELAY="5",
                          JICKET_LIMIT_CONFIRMATIONS_PER_HOUR="0", JICKET_LIMIT_NEW_PER_HOUR="0", **extra)
        source = use_source(env, args.source)
        started = time.monotonic()
        with Standalone(work / "airflow", env, role_like=args.role_settings) as airflow:
            print(f"airflow standalone up in {time.monotonic() - started:.0f} s ({airflow.url}); "
                  f"log {airflow.log_path}")
            airflow.wait("the IDLE watcher on the triggerer", lambda: airflow.query(
                "select 1 from trigger where classpath = 'jicket_ops.orchestration.idle_trigger.ImapIdleTrigger'"), 180)
            warm = probe(stack, airflow, 0, timeout=240)  # the first run also parses and warms everything up
            print(f"warm-up mail: {warm['latency_s']} s")
            settle(stack, airflow)
            jitter = random.Random(args.seed)
            for n in range(1, args.mails + 1):
                # Plus up to 1 s at random: the triggerer reports events once a second, and a mail arriving at
                # the same point of that second every time (the settle loop polls every 0.5 s) would measure
                # the same share of that wait each time, 0.1 s in one run and 0.9 s in the next.
                time.sleep(args.gap + jitter.uniform(0.0, 1.0))
                result = probe(stack, airflow, n)
                probes.append(result)
                print(f"probe {n:2d}: {result['latency_s']} s", flush=True)
                settle(stack, airflow)
            breakdown(airflow, probes)
            runs = airflow.runs()
    finally:
        stack.stop()
    latencies = [p["latency_s"] for p in probes if p["latency_s"] is not None]
    median = statistics.median(latencies) if latencies else None
    parts = {}
    for key in ("idle_notice_s", "event_recorded_s", "run_queued_s", "run_started_s", "write_done_s", "in_tasks_s",
                "process_start_s", "scheduling_between_tasks_s"):
        values = [p[key] for p in probes if key in p]
        if values:
            parts[key] = round(statistics.median(values), 2)
    task_medians = {}
    for task in TO_ISSUE:
        values = [p["task_s"][task] for p in probes if task in p.get("task_s", {})]
        if values:
            task_medians[task] = round(statistics.median(values), 2)
    print(f"\n== mail-to-issue latency, event-driven mode, airflow standalone ({len(latencies)} mails)")
    print(f"   median {median} s (target <= 10 s); min {min(latencies, default=None)}, "
          f"max {max(latencies, default=None)}; all {latencies}")
    print(f"   medians since the mail arrived: trigger saw it {parts.get('idle_notice_s')} s, asset event "
          f"{parts.get('event_recorded_s')} s, run queued {parts.get('run_queued_s')} s, run started "
          f"{parts.get('run_started_s')} s, write_to_jira done {parts.get('write_done_s')} s")
    print(f"   task durations (median): {task_medians}; in those four tasks {parts.get('in_tasks_s')} s of the "
          f"{parts.get('write_done_s')} s, the rest is detection, scheduling and a process start per task")
    p95 = statistics.quantiles(latencies, n=20)[-1] if len(latencies) >= 2 else None
    print(f"   p95 {p95} s; over the four tasks: process starts {parts.get('process_start_s')} s, scheduler between "
          f"tasks {parts.get('scheduling_between_tasks_s')} s, work {parts.get('in_tasks_s')} s (medians)")
    print(f"   load average at the probes: {[p['load'] for p in probes]}")
    taken_by: dict[str, int] = {}
    for p in probes:
        taken_by[str(p.get("run_type"))] = taken_by.get(str(p.get("run_type")), 0) + 1
    print(f"   probes taken by runs of type {taken_by}")
    print(f"   runs: {len(runs)} ({', '.join(sorted({r['run_type'] for r in runs}))}); missing issues: "
          f"{sum(1 for p in probes if p['latency_s'] is None)}")
    path = save(args.name, {"machine": info, "probes": probes, "median_s": median, "latencies": latencies,
                            "p95_s": p95, "jicket_source": source, "role_settings": args.role_settings,
                            "breakdown_medians": parts, "task_medians": task_medians,
                            "runs": len(runs), "probes_taken_by_run_type": taken_by,
                            "mode": "airflow standalone, JICKET_IMAP_IDLE=true", "set": extra,
                            "gap_s": f"{args.gap} + uniform(0, 1), seed {args.seed}"})
    print(f"results: {path}  (work directory {work})")
    try:
        from bench.plot import draw

        print(f"plot: {draw()}")
    except ImportError as exc:  # matplotlib comes with requirements-dev.txt
        print(f"plot not drawn: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
