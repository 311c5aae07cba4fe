"""Target 1-3 of issue 7: drain a backlog against a slow Jira; IMAP round trips and Jira requests per mail.

    .venv/bin/python -m bench.backlog [--sizes 100,300,1000] [--latency-ms 50] [--concurrency 4]

For each size: the real ``jicket`` DAG runs with ``dag.test()`` in a child process (``bench/_runner.py``:
Airflow, its metadata DB on SQLite, the task runner and XCom included), first twice on the empty inbox
(warm-up: Airflow is up before the backlog arrives; the second shows the fixed cost of a run). Then a
fresh inbox gets SIZE mails (70 % new, 30 % replies to tickets that were in Jira before, every tenth
mail with a 100 KB attachment), the Jira stand-in answers every request 50 ms late, and the DAG runs
one run after another until no backlog mail is left in the inbox. Measured: the wall time of those runs.
Ideal: Jira requests made x latency / JICKET_JIRA_CONCURRENCY. Printed: both, their ratio (target <= 2.0),
Jira requests per new mail and per reply, and IMAP round trips per task and run. Afterwards the
confirmations that came back into the inbox (Jicket's own mail) are cleared by further runs, measured apart.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    PY,
    ROOT,
    airflow_env,
    fill_backlog,
    jira_request_kinds,
    machine,
    migrate,
    one_request_per_write,
    reset_stack,
    save,
    seed_tickets,
    start_stack,
)

TASK_FIGURES = ("duration_s", "imap_round_trips", "jira_requests", "jira_mean_in_flight", "jira_request_s_sum",
                "jira_first_request_s", "first_write_s", "last_write_end_s", "jira_last_response_s")


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def runner_command(out: Path, *, cleanup: bool = False, max_runs: int = 20, warmup_runs: int = 0,
                   handshake: tuple[Path, Path] | None = None, profile: Path | None = None) -> list[str]:
    cmd = [PY, str(ROOT / "bench" / "_runner.py"), "--out", str(out), "--max-runs", str(max_runs),
           "--warmup-runs", str(warmup_runs)]
    if cleanup:
        cmd.append("--cleanup")
    if handshake is not None:
        cmd += ["--ready-file", str(handshake[0]), "--go-file", str(handshake[1])]
    if profile is not None:
        cmd += ["--profile", str(profile)]
    return cmd


def finish_runner(proc: subprocess.Popen, out: Path, log: Path, timeout: float = 3600) -> dict:
    returncode = proc.wait(timeout)
    if returncode != 0 or not out.exists():
        raise RuntimeError(f"runner failed ({returncode}); see {log}:\n{log.read_text()[-4000:]}")
    return json.loads(out.read_text())


def run_dag_until_drained(env: dict, out: Path, cleanup: bool = False) -> dict:
    log = out.with_suffix(".log")
    with open(log, "w") as handle:
        proc = subprocess.Popen(runner_command(out, cleanup=cleanup), env=env, stdout=handle,
                                stderr=subprocess.STDOUT, cwd=ROOT)
    return finish_runner(proc, out, log)


def wait_for(path: Path, proc: subprocess.Popen, log: Path, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"runner did not get ready ({proc.returncode}); see {log}:\n{log.read_text()[-4000:]}")
        time.sleep(0.1)


def one_size(stack, work: Path, size: int, latency_ms: int, concurrency: int, profile: Path | None = None) -> dict:
    """Airflow warms up on the empty inbox (its runner process is up before the backlog arrives), the backlog is
    appended, then the runs that drain it are measured."""
    reset_stack(stack)
    existing = seed_tickets(stack, max(1, round(size * 0.3 / 3)))
    env = airflow_env(work / "airflow", stack, JICKET_JIRA_CONCURRENCY=str(concurrency))
    out, ready, go = work / f"drain-{size}.json", work / f"ready-{size}", work / f"go-{size}"
    log = out.with_suffix(".log")
    with open(log, "w") as handle:
        proc = subprocess.Popen(
            runner_command(out, warmup_runs=2, handshake=(ready, go),
                           profile=profile / f"runner-drain-{size}.prof" if profile else None),
            env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
    try:
        wait_for(ready, proc, log)
        t0 = time.perf_counter()
        backlog = fill_backlog(stack, size, existing=existing)
        fill_s = time.perf_counter() - t0
        stack.jira.configure(latency_ms=latency_ms)
        stack.jira.clear_requests()
        standin_cpu0 = process_cpu_s(stack.jira.proc.pid)
        go.write_text("go\n")
        drained = finish_runner(proc, out, log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    standin_cpu = process_cpu_s(stack.jira.proc.pid) - standin_cpu0
    log = stack.jira.requests_log()
    kinds = jira_request_kinds(log)
    stack.jira.clear_requests()
    cleaned = run_dag_until_drained(env, work / f"cleanup-{size}.json", cleanup=True)
    cleanup_requests = sum(jira_request_kinds(stack.jira.requests_log()).values())
    stack.jira.configure(latency_ms=0)

    issues = stack.jira.issues()
    created = [i for i in issues if i["key"] not in set(existing.values())]
    comments = sum(len((i["fields"].get("comment") or {}).get("comments") or []) for i in issues)
    attachments_in_jira = sum(len(i["fields"].get("attachment") or []) for i in issues)
    violations = stack.jira.violations()
    with stack.imap() as client:
        moved = len(client.uids("jicket"))

    runs = drained["runs"]
    warmup = drained.get("warmup") or []
    wall = sum(r["wall_s"] for r in runs)
    made = sum(kinds.values())
    # the ideals count one request per new issue, also where issues were created in bulk (50 per request)
    writes = backlog.new + kinds.get("comment", 0)
    uploads = kinds.get("attachment", 0)
    ideal = one_request_per_write(kinds, backlog.new) * latency_ms / 1000 / concurrency
    ideal_min = (writes + uploads) * latency_ms / 1000 / concurrency
    server_ms = [e["duration_ms"] for e in log if e["duration_ms"] is not None and not e["path"].startswith("/_")]
    server_by_kind: dict[str, list[float]] = {}
    for e in log:
        if e["duration_ms"] is not None and not e["path"].startswith("/_"):
            kind = next(iter(jira_request_kinds([e])))
            server_by_kind.setdefault(kind, []).append(e["duration_ms"])
    per_task: dict[str, list] = {}
    for r in runs:
        for task, info in r["tasks"].items():
            per_task.setdefault(task, []).append({k: info.get(k) for k in TASK_FIGURES if k in info})
    return {
        "size": size, "new": backlog.new, "replies": backlog.replies, "attachments": backlog.attachments,
        "fill_s": round(fill_s, 2), "runner_setup_s": round(drained["setup_s"], 2),
        "warmup_run_wall_s": [round(r["wall_s"], 2) for r in warmup],
        "empty_run_wall_s": round(warmup[-1]["wall_s"], 2) if len(warmup) > 1 else None,
        "runs": len(runs), "wall_s": round(wall, 2), "run_wall_s": [round(r["wall_s"], 2) for r in runs],
        "mails_per_s": round(size / wall, 1),
        "jira_requests": kinds, "jira_requests_total": made,
        "jira_server_ms_mean": round(sum(server_ms) / max(1, len(server_ms)), 1),
        "jira_server_ms_by_kind": {k: round(sum(v) / len(v), 1) for k, v in server_by_kind.items()},
        "load_per_run": [round(r.get("load", 0), 2) for r in runs],
        "runner_cpu_s_per_run": [r.get("runner_cpu_s") for r in runs],
        "standin_cpu_s": round(standin_cpu, 2),
        "airflow_overhead_s_per_run": [
            round(r["wall_s"] - sum(t.get("duration_s") or 0 for t in r["tasks"].values()), 2) for r in runs],
        "requests_per_new_mail": round((kinds.get("create", 0) + kinds.get("bulk create", 0)) / max(1, backlog.new), 3),
        "requests_per_reply": round(kinds.get("comment", 0) / max(1, backlog.replies), 3),
        "searches_per_mail": round(kinds.get("search", 0) / size, 3),
        "attachments_uploaded": uploads, "attachments_in_jira": attachments_in_jira,
        "ideal_s": round(ideal, 2), "ideal_writes_only_s": round(ideal_min, 2),
        "ratio": round(wall / ideal, 2) if ideal else None,
        "ratio_writes_only": round(wall / ideal_min, 2) if ideal_min else None,
        "per_task": per_task,
        "cleanup_runs": len(cleaned["runs"]), "cleanup_wall_s": round(sum(r["wall_s"] for r in cleaned["runs"]), 2),
        "cleanup_jira_requests": cleanup_requests,
        "check": {"issues_created": len(created), "comments": comments, "moved_to_success": moved,
                  "violations": len(violations),
                  "exactly_once": len(created) == backlog.new and comments == backlog.replies},
    }


def report(result: dict, latency_ms: int, concurrency: int) -> None:
    r = result
    print(f"\n== backlog of {r['size']} mails ({r['new']} new, {r['replies']} replies, {r['attachments']} with a "
          f"100 KB attachment); Jira +{latency_ms} ms per request, concurrency {concurrency}")
    print(f"   runs to drain: {r['runs']} ({', '.join(f'{s:.1f}' for s in r['run_wall_s'])} s); "
          f"wall time {r['wall_s']:.1f} s = {r['mails_per_s']} mails/s  [dag.test(), Airflow included]")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["jira_requests"].items()))
    by_kind = ", ".join(f"{k} {v}" for k, v in sorted(r["jira_server_ms_by_kind"].items()))
    print(f"   Jira requests: {r['jira_requests_total']} ({kinds}); stand-in time per request "
          f"{r['jira_server_ms_mean']} ms incl. the {latency_ms} ms latency ({by_kind}); "
          f"load average during the runs {r['load_per_run']}")
    print(f"   ideal = {r['jira_requests_total']} requests x {latency_ms} ms / {concurrency} = {r['ideal_s']:.1f} s;"
          f"  measured / ideal = {r['ratio']}  (target <= 2.0)")
    print(f"   (writes and uploads alone: ideal {r['ideal_writes_only_s']:.1f} s, ratio {r['ratio_writes_only']})")
    if r["attachments_uploaded"] == 0:
        print(f"   attachments: {r['attachments']} in the backlog, 0 uploaded -- write_to_jira does not upload "
              "attachments yet (another change adds it); the figures count the requests that exist today")
    else:
        print(f"   attachments: {r['attachments']} in the backlog, {r['attachments_uploaded']} uploads")
    print(f"   Jira requests per new mail: {r['requests_per_new_mail']} create (+ searches {r['searches_per_mail']}"
          f" per mail, batched 40 ids per search); per reply: {r['requests_per_reply']} comment")
    for task, entries in r["per_task"].items():
        trips = [e["imap_round_trips"] for e in entries if e.get("imap_round_trips") is not None]
        durations = [e["duration_s"] for e in entries if e.get("duration_s") is not None]
        print(f"   {task:14s} duration per run {', '.join(f'{d:.2f}' for d in durations)} s;"
              f" IMAP round trips per run {trips or '-'}")
    for n, entry in enumerate(r["per_task"].get("write_to_jira") or [], start=1):
        if entry.get("jira_mean_in_flight") is not None:
            print(f"   write_to_jira run {n}: first Jira request at {entry['jira_first_request_s']} s, first write at "
                  f"{entry.get('first_write_s')} s, last response at {entry['jira_last_response_s']} s of "
                  f"{entry['duration_s']:.2f} s; mean requests in flight {entry['jira_mean_in_flight']} "
                  f"(allowed {concurrency})")
    print(f"   before the backlog arrived: warm-up runs on the empty inbox {r['warmup_run_wall_s']} s (the first pays "
          f"what the first run of a process pays); a run with nothing to do: {r['empty_run_wall_s']} s")
    print(f"   Airflow's own time per run (run wall time minus its tasks' durations): "
          f"{r['airflow_overhead_s_per_run']} s; CPU seconds per run of the Airflow process "
          f"{r['runner_cpu_s_per_run']}; of the Jira stand-in over the drain {r['standin_cpu_s']}")
    print(f"   then {r['cleanup_runs']} run(s), {r['cleanup_wall_s']:.1f} s, moved the confirmations that came back "
          f"into the inbox ({r['cleanup_jira_requests']} Jira requests)")
    c = r["check"]
    print(f"   check: {c['issues_created']} issues created, {c['comments']} comments, {c['moved_to_success']} mails "
          f"in the success folder, {c['violations']} spec violations, exactly once: {c['exactly_once']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile-runner", type=Path, default=None, metavar="DIR",
                        help="cProfile the drain runs (the tasks run in the runner's main thread) into DIR")
    parser.add_argument("--name", default="backlog",
                        help="results file bench/results/NAME.json (the plot reads backlog.json)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; load {info['load_at_start']}")
    work = Path(tempfile.mkdtemp(prefix="jicket-bench-backlog-"))
    stack = start_stack(work / "stack")
    results = []
    try:
        env = airflow_env(work / "airflow", stack)
        migrate(env)
        for size in sizes:
            result = one_size(stack, work, size, args.latency_ms, args.concurrency, args.profile_runner)
            report(result, args.latency_ms, args.concurrency)
            results.append(result)
    finally:
        stack.stop()
    info["load_at_end"] = list(os.getloadavg())
    path = save(args.name, {"machine": info, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
                            "runner": "dag.test() in a child process (bench/_runner.py)", "results": results})
    try:
        from bench.plot import draw

        print(f"plot: {draw()}")
    except ImportError as exc:  # matplotlib comes with requirements-dev.txt
        print(f"plot not drawn: {exc}")
    print(f"\nresults: {path}  (work directory {work}{'' if args.keep else ', removed'})")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
