"""Issue 16, target 3: what a run that finds nothing costs under the scheduler.

    .venv/bin/python -m bench.idle [--runs 6] [--loop 20] [--base-seconds 40] [--source REV]

``airflow standalone`` with the Ansible role's LocalExecutor settings (``bench.standalone.ROLE_SETTINGS``)
runs the ``jicket`` DAG on its own schedule (``JICKET_LOOPMODE=dynamic``; ``--loop`` seconds instead of the
default 60 so that the measurement is short: what one idle run costs does not depend on the gap) against
an empty inbox. Measured, after a warm-up run:

1. Airflow's cost with the DAG paused (scheduler, DAG processor, triggerer, API server idling), CPU
   seconds per second, over ``--base-seconds``;
2. the same with the DAG unpaused over ``--runs`` idle runs; the difference per run is the idle run's cost;
3. per idle run, how many task instances started a process (reached running, success or failed) and how
   many were skipped without one, from the metadata DB.

CPU is user + system time of every process below ``airflow standalone`` (task processes included: a
process that has ended is counted in its parent's children times), read from ``/proc``. Printed: both
rates, CPU seconds per idle run and per day at the default 60 s loop, task processes per idle run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.common import airflow_env, machine, save, start_stack
from bench.standalone import Standalone, use_source

STARTED_STATES = ("running", "success", "failed", "up_for_retry")
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (own and reaped children's, user + system) of ROOT and every process below it."""
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = sum(int(x) for x in fields[11:15]) / TICK  # utime stime cutime cstime
    ours: dict[int, float] = {}
    for pid, seconds in cpu.items():
        current = pid
        while current > 1 and current != root:
            current = parents.get(current, 1)
        if current == root:
            ours[pid] = seconds
    return ours


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU the tree used between two readings: growth of every process alive at the second one (a process
    that started in between counts whole; one that ended is in its parent's children times)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def finished_runs(airflow: Standalone) -> list[str]:
    return [r[0] for r in airflow.query("select run_id from dag_run where dag_id = 'jicket' and state in "
                                        "('success', 'failed') order by id")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--loop", type=int, default=20, help="JICKET_LOOPTIME during the measurement")
    parser.add_argument("--base-seconds", type=float, default=40.0)
    parser.add_argument("--source", default=None, metavar="REV", help="measure Jicket as committed at REV")
    parser.add_argument("--name", default="idle")
    args = parser.parse_args(argv)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; load {info['load_at_start']}")
    work = Path(tempfile.mkdtemp(prefix="jicket-bench-idle-"))
    stack = start_stack(work / "stack")
    try:
        env = airflow_env(work / "airflow", stack, JICKET_LOOPMODE="dynamic", JICKET_LOOPTIME=str(args.loop))
        source = use_source(env, args.source)
        with Standalone(work / "airflow", env, role_like=True) as airflow:
            root = airflow.proc.pid
            airflow.wait("a first (warm-up) run", lambda: finished_runs(airflow), 600)
            airflow.api("PATCH", "/dags/jicket", json={"is_paused": True})
            airflow.wait("no run in flight", airflow.idle, 300)
            before, t0 = tree_cpu(root), time.monotonic()
            time.sleep(args.base_seconds)
            base_rate = cpu_between(before, tree_cpu(root)) / (time.monotonic() - t0)
            load_base = os.getloadavg()[0]
            print(f"DAG paused: {base_rate:.3f} CPU s per s (load {load_base:.2f})", flush=True)

            done = set(finished_runs(airflow))
            airflow.api("PATCH", "/dags/jicket", json={"is_paused": False})
            before, t0 = tree_cpu(root), time.monotonic()
            airflow.wait(f"{args.runs} idle runs", lambda: len(set(finished_runs(airflow)) - done) >= args.runs,
                         args.runs * (args.loop + 120), interval=0.2)
            window_cpu, window_s = cpu_between(before, tree_cpu(root)), time.monotonic() - t0
            load_runs = os.getloadavg()[0]
            measured = [r for r in finished_runs(airflow) if r not in done][: args.runs]
            per_run = []
            for run_id in measured:
                tis = airflow.task_instances(run_id)
                per_run.append({"run_id": run_id,
                                "started": sorted(t for t, v in tis.items() if v["state"] in STARTED_STATES),
                                "not_started": sorted(t for t, v in tis.items() if v["state"] not in STARTED_STATES),
                                "states": {t: v["state"] for t, v in tis.items()}})
    finally:
        stack.stop()
    per_idle_run = (window_cpu - base_rate * window_s) / args.runs
    processes = sum(len(r["started"]) for r in per_run) / max(1, len(per_run))
    result = {
        "machine": info, "jicket_source": source, "loop_s_measured": args.loop, "runs": args.runs,
        "base_cpu_s_per_s": round(base_rate, 4), "window_s": round(window_s, 1), "window_cpu_s": round(window_cpu, 2),
        "cpu_s_per_idle_run": round(per_idle_run, 2), "task_processes_per_idle_run": round(processes, 2),
        "cpu_s_per_day_runs_at_60s": round(per_idle_run * 1440), "cpu_s_per_day_airflow_base": round(base_rate * 86400),
        "task_processes_per_day_at_60s": round(processes * 1440), "load_base": round(load_base, 2),
        "load_runs": round(load_runs, 2), "per_run": per_run,
        "mode": "airflow standalone, LocalExecutor, bench.standalone.ROLE_SETTINGS, empty inbox",
    }
    print(f"\n== idle runs under the scheduler ({args.runs} runs, loop {args.loop} s; load {load_runs:.2f})")
    print(f"   task processes per idle run: {processes:.1f} (started: {per_run[0]['started'] if per_run else '-'}; "
          f"without a process: {per_run[0]['not_started'] if per_run else '-'})")
    print(f"   CPU per idle run: {per_idle_run:.2f} s (window {window_cpu:.1f} s CPU over {window_s:.0f} s, minus "
          f"Airflow's paused rate {base_rate:.3f} CPU s/s)")
    print(f"   per day at the default 60 s loop: {result['cpu_s_per_day_runs_at_60s']} CPU s in "
          f"{result['task_processes_per_day_at_60s']} task processes, plus {result['cpu_s_per_day_airflow_base']} "
          f"CPU s of Airflow's components idling")
    print(f"results: {save(args.name, result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
