"""Target 4 of issue 7: peak RSS of every task process with a 50 MB mail in the backlog.

    .venv/bin/python -m bench.memory [--mail-mb 50] [--others 20]

``airflow standalone`` runs the ``jicket`` DAG with the LocalExecutor, so every task is a process of its
own (titled ``airflow worker -- <task instance id>``). While one run drains an inbox holding one mail of
MAIL_MB megabytes (a random, incompressible attachment: the worst case for every copy made of it) and
OTHERS ordinary mails, a sampler reads each task process's ``VmHWM`` (the kernel's high-water mark of
its resident set) every 20 ms; the task instance ids are then named from the metadata DB. Only processes
below this benchmark's ``airflow standalone`` count (another Airflow may run on the machine).

The attachment is uploaded to Jira (JICKET_ATTACHMENT_MAX_BYTES and the stand-in's limit raised to
100 MB): fetching, parsing, and uploading it are all in the measured peak. RSS counts the pages a task
shares with the LocalExecutor worker it was forked from (the Airflow code both have loaded), which is
what the limit's 300 MB allows for. Limit: 300 MB + 3 x the mail's size.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from bench.common import (
    add_set_option,
    airflow_env,
    fill_backlog,
    machine,
    make_mail,
    save,
    seed_tickets,
    set_settings,
    start_stack,
)
from bench.standalone import Standalone, TaskRssSampler


def big_mail(mail_mb: float) -> bytes:
    attachment = random.Random(50).randbytes(int(mail_mb * 1024 * 1024 / 1.3703))  # base64 + line ends
    return make_mail(50_000, subject=f"Scan of the {mail_mb:.0f} MB contract", attachment=attachment)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mail-mb", type=float, default=50.0)
    parser.add_argument("--others", type=int, default=20)
    parser.add_argument("--role-settings", action="store_true",
                        help="the Ansible role's Airflow settings and airflow_local_settings.py (preloaded modules)")
    parser.add_argument("--name", default="memory", help="results file name under bench/results")
    add_set_option(parser)
    args = parser.parse_args(argv)
    extra = set_settings(args)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; load {info['load_at_start']}")
    work = Path(tempfile.mkdtemp(prefix="jicket-bench-memory-"))
    stack = start_stack(work / "stack")
    try:
        stack.jira.configure(attachment_max_bytes=100 * 1024 * 1024)
        raw = big_mail(args.mail_mb)
        mail_mb = len(raw) / 1024 / 1024
        existing = seed_tickets(stack, 3)
        stack.jira.configure(attachment_max_bytes=100 * 1024 * 1024)
        with stack.imap() as client:
            client.append("INBOX", raw)
        fill_backlog(stack, args.others, existing=existing)
        env = airflow_env(work / "airflow", stack, JICKET_ATTACHMENT_MAX_BYTES="100M", JICKET_TASK_RETRIES="1",
                          JICKET_RETRY_DELAY="5")
        with Standalone(work / "airflow", env, role_like=args.role_settings) as airflow:
            with TaskRssSampler(root=airflow.proc.pid) as sampler:
                started = time.monotonic()
                airflow.cli("dags", "trigger", "jicket")
                airflow.wait("the run to finish", lambda: [r for r in airflow.runs()
                                                          if r["state"] in ("success", "failed")], 900, interval=1.0)
                took = time.monotonic() - started
            peaks = sampler.by_task(airflow)
            supervisor = sampler.supervisors()
            runs = airflow.runs()
        issues = stack.jira.issues()
        uploaded = sum(a.get("size", 0) for i in issues for a in (i["fields"].get("attachment") or []))
    finally:
        stack.stop()
    limit = 300 + 3 * mail_mb
    worst = max(peaks.values()) if peaks else None
    print(f"\n== peak RSS per task process, one run with a {mail_mb:.1f} MB mail and {args.others} others "
          f"(airflow standalone, LocalExecutor; run {runs[-1]['state']} in {took:.0f} s)")
    for task, mb in sorted(peaks.items(), key=lambda kv: -kv[1]):
        print(f"   {task:14s} {mb:7.1f} MB")
    print(f"   limit 300 MB + 3 x {mail_mb:.1f} MB = {limit:.0f} MB; worst {worst:.1f} MB: "
          f"{'within' if worst is not None and worst <= limit else 'OVER'} the limit")
    print(f"   (the LocalExecutor worker processes that supervise the tasks peaked at {supervisor:.1f} MB)")
    print(f"   Jira received {uploaded / 1024 / 1024:.1f} MB of attachments")
    path = save(args.name, {"machine": info, "mail_mb": round(mail_mb, 1), "others": args.others,
                           "role_settings": args.role_settings, "jicket_settings": extra,
                           "peak_rss_mb": {k: round(v, 1) for k, v in peaks.items()}, "limit_mb": round(limit),
                           "supervisor_peak_rss_mb": round(supervisor, 1),
                           "worst_mb": round(worst, 1) if worst else None, "run_state": runs[-1]["state"],
                           "uploaded_mb": round(uploaded / 1024 / 1024, 1)})
    print(f"results: {path}  (work directory {work})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
