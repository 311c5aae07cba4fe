"""Issue 16, target 1: jicket 0.6.2 and Jicket side by side, on the same stack and the same backlog.

    .venv/bin/python -m bench.versus_062 [--mails 200 1000] [--latency-ms 50] [--concurrency 4]

jicket 0.6.2 is installed from PyPI into its own virtualenv (``var/jicket-0.6.2-venv``, once) and run as
its documentation says: the ``jicket`` console script, configured by ``JICKET_*`` environment variables,
``JICKET_LOOPMODE=singleshot``. Three adapters, all configuration, none of its code changed:

- it connects to IMAPS on port 993 whatever ``JICKET_IMAP_PORT`` says: a forwarder listens on
  127.0.0.1:993 and passes the bytes to the sandbox Dovecot's IMAPS port (TLS stays end to end);
- it verifies the server with the system's CAs: ``SSL_CERT_FILE`` names the sandbox CA;
- it only processes mails when a filter configuration is given (its ``process_mail`` does everything
  inside ``if self.mailfilter is not None``): an empty filter file (no rules) is given.

Jicket runs under ``airflow standalone`` with the LocalExecutor, set up as the Ansible role sets it up
(``bench.standalone.ROLE_SETTINGS``); runs are triggered over the REST API one after another, each as
soon as the previous one has finished, until no backlog mail is left in the inbox (not ``dag.test()``).

For each size: the stack is reset, Jira gets the tickets that replies answer, the inbox gets SIZE mails
(``bench.common.fill_backlog``, same seed for both: 70 % new, 30 % replies, every tenth with 100 KB),
the stand-in answers every request LATENCY ms late, and the clock runs from the first process start
(0.6.2) or the first trigger (Jicket) until the backlog has left the inbox. Then every issue, comment and
confirmation is checked. IMAP commands are counted in both by ``bench/_imap_count`` (every ``imaplib``
command of their processes), Jira requests by the stand-in.
"""

from __future__ import annotations

import argparse
import email
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from email import policy
from pathlib import Path

from bench._imap_count.sitecustomize import read_counts
from bench.common import (
    ROOT,
    add_set_option,
    airflow_env,
    fill_backlog,
    jira_request_kinds,
    machine,
    one_request_per_write,
    reset_stack,
    save,
    seed_tickets,
    set_settings,
    start_stack,
)
from bench.standalone import Standalone, parse_ts, use_source

LEGACY_VENV = ROOT / "var" / "jicket-0.6.2-venv"
LEGACY_VERSION = "0.6.2"
COUNT_PATH = str(ROOT / "bench" / "_imap_count")
LEGACY_SITE = str(ROOT / "bench" / "_legacy_site")
RATE_LIMITS_OFF = {"JICKET_LIMIT_CONFIRMATIONS_PER_HOUR": "0", "JICKET_LIMIT_NEW_PER_HOUR": "0"}
# Issue 16's targets: throughput as a multiple of 0.6.2's, by backlog size; measured / ideal at 1,000 mails.
TARGET_VS_062 = {200: 4.0, 1000: 10.0}
TARGET_OVER_IDEAL = {1000: 1.3}
TEMPLATE_062 = ("<html><body><p>Thank you for contacting the support.<br>Ticket ID: %(ticketid)s<br>"
                "Ticket Subject: %(subject)s</p></body></html>\n")


# -- jicket 0.6.2 ---------------------------------------------------------------------------------------------
def install_legacy(venv: Path = LEGACY_VENV) -> Path:
    """The ``jicket`` console script of 0.6.2 in its own virtualenv (created and installed from PyPI once)."""
    script = venv / "bin" / "jicket"
    python = venv / "bin" / "python"
    if script.exists():
        probe = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('jicket'))"],
                               capture_output=True, text=True)
        if probe.stdout.strip() == LEGACY_VERSION:
            return script
    base = getattr(sys, "_base_executable", None) or shutil.which("python3")
    subprocess.run([base, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", f"jicket=={LEGACY_VERSION}"], check=True)
    return script


class PortForward:
    """Listens on (HOST, PORT) and passes every connection's bytes both ways to TARGET (one thread each way).

    0.6.2 dials port 993 whatever it is told; the sandbox Dovecot listens elsewhere."""

    def __init__(self, host: str, port: int, target: tuple[str, int]):
        self.target = target
        self.server = socket.create_server((host, port), reuse_port=False)
        self.server.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> PortForward:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                for sock in (a, b):
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def legacy_env(stack, work: Path, count_dir: Path) -> dict[str, str]:
    """0.6.2's configuration (its environment variables) pointing at the sandbox stack."""
    from sandbox.stack import HELPDESK, JIRA_PROJECT

    template, filters = work / "threadtemplate.html", work / "filter.json"
    template.write_text(TEMPLATE_062)
    filters.write_text(json.dumps({"blacklist": [], "whitelist": []}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JICKET_", "AIRFLOW", "PYTHON"))}
    env.update({
        "JICKET_IMAP_HOST": stack.host, "JICKET_IMAP_PORT": "993",
        "JICKET_IMAP_USER": HELPDESK, "JICKET_IMAP_PASS": stack.users[HELPDESK],
        "JICKET_SMTP_HOST": stack.host, "JICKET_SMTP_PORT": str(stack.smtp_port),
        "JICKET_JIRA_URL": stack.jira.url, "JICKET_JIRA_USER": stack.jira.user,
        "JICKET_JIRA_PASS": stack.jira.password, "JICKET_JIRA_PROJECT": JIRA_PROJECT,
        "JICKET_THREAD_TEMPLATE": str(template), "JICKET_TICKET_ADDRESS": HELPDESK,
        "JICKET_FILTER_CONFIG": str(filters), "JICKET_LOOPMODE": "singleshot",
        "SSL_CERT_FILE": str(stack.ca_file),
        "PYTHONPATH": LEGACY_SITE, "BENCH_IMAP_COUNT_DIR": str(count_dir),
    })
    return env


def backlog_left(stack) -> int:
    """Backlog mails (Message-ID ``<bench-...>``) still in the helpdesk inbox."""
    with stack.imap() as client:
        return len(client.find("INBOX", "Message-ID", "bench-"))


def drain_legacy(stack, work: Path, max_runs: int = 5) -> dict:
    """Run 0.6.2 (singleshot) until the backlog has left the inbox; wall time from the first start."""
    script = install_legacy()
    count_dir = work / "imap-062"
    count_dir.mkdir(parents=True, exist_ok=True)
    env = legacy_env(stack, work, count_dir)
    runs = []
    with PortForward(stack.host, 993, (stack.host, stack.dovecot.imaps_port)):
        t0 = time.perf_counter()
        for number in range(1, max_runs + 1):
            started = time.perf_counter()
            log = work / f"jicket-062-run{number}.log"
            with open(log, "w") as out:
                code = subprocess.run([str(script)], env=env, stdout=out, stderr=subprocess.STDOUT,
                                      timeout=3600, cwd=work).returncode
            left = backlog_left(stack)
            runs.append({"run": number, "wall_s": round(time.perf_counter() - started, 2), "exit": code,
                         "backlog_left": left, "load": round(os.getloadavg()[0], 2)})
            print(f"   0.6.2 run {number}: {runs[-1]['wall_s']} s, exit {code}, backlog left {left}", flush=True)
            if code != 0:
                print(log.read_text()[-3000:])
                break
            if left == 0:
                break
        wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "runs": runs, "imap_commands": read_counts(str(count_dir)),
            "drained": bool(runs) and runs[-1]["backlog_left"] == 0}


# -- Jicket under the scheduler -------------------------------------------------------------------------------
def run_figures(airflow: Standalone, run_id: str) -> dict:
    """One DAG run from the metadata DB: queued -> end, its tasks' durations, the rest (Airflow's own)."""
    row = airflow.query("select queued_at, start_date, end_date, state from dag_run where run_id = ?", run_id)[0]
    queued, start, end = (parse_ts(v) for v in row[:3])
    tis = airflow.task_instances(run_id)
    durations = {t: round(parse_ts(v["end"]) - parse_ts(v["start"]), 2) for t, v in tis.items()
                 if v.get("start") and v.get("end")}
    first_start = min((parse_ts(v["start"]) for v in tis.values() if v.get("start")), default=None)
    return {"run_id": run_id, "state": row[3], "queued_to_end_s": round(end - queued, 2) if end and queued else None,
            "queued_to_first_task_s": round(first_start - queued, 2) if first_start and queued else None,
            "task_s": durations, "in_tasks_s": round(sum(durations.values()), 2),
            "states": {t: v["state"] for t, v in tis.items()}, "start": start}


def drain_jicket(airflow: Standalone, stack, max_runs: int = 10) -> dict:
    """Trigger runs back to back until the backlog has left the inbox; wall time from the first trigger."""
    runs = []
    t0 = time.perf_counter()
    for _ in range(max_runs):
        started = time.perf_counter()
        run_id = airflow.trigger()
        state = airflow.wait_run(run_id)
        left = backlog_left(stack)
        runs.append({**run_figures(airflow, run_id), "wall_s": round(time.perf_counter() - started, 2),
                     "backlog_left": left, "load": round(os.getloadavg()[0], 2)})
        print(f"   Jicket run {len(runs)}: {runs[-1]['wall_s']} s ({state}), in tasks {runs[-1]['in_tasks_s']} s, "
              f"backlog left {left}", flush=True)
        if state != "success" or left == 0:
            break
    wall = time.perf_counter() - t0
    return {"wall_s": round(wall, 2), "runs": runs, "drained": bool(runs) and runs[-1]["backlog_left"] == 0}


def cleanup_jicket(airflow: Standalone, stack, max_runs: int = 3) -> dict:
    """Runs until the inbox is empty (the confirmations' helpdesk copies that came back are moved)."""
    t0, runs = time.perf_counter(), 0
    while runs < max_runs:
        with stack.imap() as client:
            if not client.uids("INBOX"):
                break
        airflow.wait_run(airflow.trigger())
        runs += 1
    return {"runs": runs, "wall_s": round(time.perf_counter() - t0, 2)}


# -- checks ---------------------------------------------------------------------------------------------------
def msg_id(value) -> str:
    """The ``<...>`` of a Message-ID or In-Reply-To header, without the folding whitespace around it.

    A header line over 78 characters is folded before a long id (``In-Reply-To:`` CRLF SP ``<id>``: legal
    RFC 5322, and what Python's email package writes), and the parsed value then keeps a leading space: a
    plain string comparison missed every confirmation of a mail numbered 100 or more (71 of 140 "found")."""
    found = _MSG_ID.search(str(value or ""))
    return found.group(0) if found else ""


_MSG_ID = re.compile(r"<[^<>\s]+>")


def check(stack, backlog) -> dict:
    """Every new mail has exactly one issue and one confirmation to its sender; every reply one comment."""
    with stack.imap() as client:
        moved = [m.message for m in client.messages("jicket")]
        inbox_left = len(client.uids("INBOX"))
    customer_mails = [m for m in moved if "customers.example.org" in str(m["From"])]
    new_ids = {msg_id(m["Message-ID"]) for m in customer_mails if not str(m["Subject"]).startswith("Re:")}
    confirmations: dict[str, int] = {}
    for relayed in stack.relay.messages:
        message = email.message_from_bytes(relayed.data, policy=policy.default)
        replying_to = msg_id(message["In-Reply-To"])
        if replying_to in new_ids and relayed.outbound:
            confirmations[replying_to] = confirmations.get(replying_to, 0) + 1
    issues = stack.jira.issues()
    seeded = set(backlog.existing_tickets.values())
    created = [i for i in issues if i["key"] not in seeded]
    subjects = [i["fields"]["summary"] for i in created]
    comments = sum(len((i["fields"].get("comment") or {}).get("comments") or []) for i in issues if i["key"] in seeded)
    result = {
        "backlog_mails_moved": len(customer_mails), "issues_created": len(created),
        "distinct_issue_subjects": len({s.split("] ", 1)[-1] for s in subjects}),
        "comments_on_existing": comments, "confirmations": sum(confirmations.values()),
        "new_mails_confirmed_once": sum(1 for v in confirmations.values() if v == 1),
        "inbox_left": inbox_left, "violations": len(stack.jira.violations()),
    }
    result["ok"] = (result["backlog_mails_moved"] == backlog.total and result["issues_created"] == backlog.new
                    and result["distinct_issue_subjects"] == backlog.new and comments == backlog.replies
                    and result["new_mails_confirmed_once"] == backlog.new == len(new_ids)
                    and result["confirmations"] == backlog.new)
    return result


# -- one size -------------------------------------------------------------------------------------------------
def prepare(stack, size: int, latency_ms: int):
    reset_stack(stack)
    stack.relay.messages.clear()
    stack.relay.outbound.clear()
    existing = seed_tickets(stack, max(1, round(size * 0.3 / 3)))
    backlog = fill_backlog(stack, size, existing=existing)
    stack.jira.configure(latency_ms=latency_ms)
    stack.jira.clear_requests()
    return backlog


def figures(name: str, size: int, wall: float, kinds: dict, imap: dict, latency_ms: int, concurrency: int,
            new_issues: int) -> dict:
    """One side's figures. Two ideals: of the requests it made, and issue 16's (``ideal_s``, the target's): one
    request per new issue, per comment, per upload and per search made, whether or not issues were created in
    bulk (``POST /issue/bulk``, 50 issues per request), so that fewer requests count as the gain they are."""
    made = sum(kinds.values())
    ideal = one_request_per_write(kinds, new_issues) * latency_ms / 1000 / concurrency
    ideal_made = made * latency_ms / 1000 / concurrency
    return {"implementation": name, "mails": size, "wall_s": wall, "mails_per_s": round(size / wall, 2),
            "jira_requests": kinds, "jira_requests_per_mail": round(made / size, 2),
            "imap_commands": imap, "imap_commands_per_mail": round(sum(imap.values()) / size, 2),
            "ideal_s": round(ideal, 2), "ideal_of_requests_made_s": round(ideal_made, 2),
            "concurrency": concurrency,
            "measured_over_ideal": round(wall / ideal, 2) if ideal else None,
            "measured_over_ideal_of_requests_made": round(wall / ideal_made, 2) if ideal_made else None}


def one_size(stack, airflow: Standalone, work: Path, size: int, latency_ms: int, concurrency: int,
             earlier_062: dict | None = None) -> dict:
    """Both implementations on the same backlog of SIZE mails; with ``earlier_062`` (0.6.2's figures of an
    earlier run at this size), only Jicket runs and its ratio is taken against those."""
    print(f"\n== {size} mails, Jira +{latency_ms} ms per request (load {os.getloadavg()[0]:.2f})", flush=True)
    if earlier_062 is not None:
        old = {**earlier_062, "from_earlier_run": True}
    else:
        backlog = prepare(stack, size, latency_ms)
        legacy = drain_legacy(stack, work / f"062-{size}")
        kinds = jira_request_kinds(stack.jira.requests_log())
        stack.jira.configure(latency_ms=0)
        legacy_check = check(stack, backlog)
        old = {**figures(f"jicket {LEGACY_VERSION}", size, legacy["wall_s"], kinds, legacy["imap_commands"],
                         latency_ms, 1, backlog.new),
               "runs": legacy["runs"], "drained": legacy["drained"], "check": legacy_check}

    backlog = prepare(stack, size, latency_ms)
    count_dir = Path(airflow.env["BENCH_IMAP_COUNT_DIR"])
    for entry in count_dir.iterdir():
        entry.unlink()
    drained = drain_jicket(airflow, stack)
    kinds = jira_request_kinds(stack.jira.requests_log())
    imap = read_counts(str(count_dir))
    stack.jira.configure(latency_ms=0)
    cleanup = cleanup_jicket(airflow, stack)
    new = {**figures("Jicket (scheduler, LocalExecutor)", size, drained["wall_s"], kinds, imap, latency_ms,
                     concurrency, backlog.new),
           "runs": drained["runs"], "drained": drained["drained"], "cleanup": cleanup, "check": check(stack, backlog)}
    new["throughput_vs_062"] = round(new["mails_per_s"] / old["mails_per_s"], 2)
    return {"size": size, "new": backlog.new, "replies": backlog.replies, "attachments": backlog.attachments,
            "jicket_062": old, "jicket": new}


def print_table(results: list[dict], latency_ms: int) -> None:
    print(f"\n{'':36s} {'mails':>5s} {'runs':>4s} {'seconds':>8s} {'mails/s':>8s} {'Jira/mail':>9s} "
          f"{'IMAP/mail':>9s} {'x 0.6.2':>7s} {'ideal s':>8s} {'meas/ideal':>10s} {'load':>5s} {'checked':>7s}")
    for r in results:
        for key in ("jicket_062", "jicket"):
            f = r[key]
            loads = [run["load"] for run in f["runs"]]
            print(f"{f['implementation']:36s} {f['mails']:5d} {len(f['runs']):4d} {f['wall_s']:8.1f} "
                  f"{f['mails_per_s']:8.2f} {f['jira_requests_per_mail']:9.2f} {f['imap_commands_per_mail']:9.2f} "
                  f"{f.get('throughput_vs_062', 1.0):7.2f} {f['ideal_s']:8.1f} {f['measured_over_ideal'] or 0:10.2f} "
                  f"{max(loads, default=0):5.2f} {str(f['check']['ok']):>7s}")
    print(f"(ideal = one Jira request per new issue, comment, upload and search x {latency_ms} ms / concurrency: "
          "1 for 0.6.2, JICKET_JIRA_CONCURRENCY for Jicket, as issue 16 defines it; load = highest 1-min load "
          "average seen after a run)")
    for r in results:
        f = r["jicket"]
        print(f"Jicket at {f['mails']} mails made {sum(f['jira_requests'].values())} Jira requests "
              f"({f['jira_requests']}): ideal of those {f['ideal_of_requests_made_s']} s, measured / that ideal "
              f"{f['measured_over_ideal_of_requests_made']}")
    for r in results:
        for name, (measured, target, met) in targets(r).items():
            print(f"target at {r['size']} mails: {name} {measured} (target {target}): {'met' if met else 'NOT met'}")


def targets(result: dict) -> dict:
    """Issue 16's targets that apply to one size: name -> (measured, target, met)."""
    size, jicket = result["size"], result["jicket"]
    out = {}
    if size in TARGET_VS_062 and jicket.get("throughput_vs_062") is not None:
        out["throughput_vs_062"] = (jicket["throughput_vs_062"], TARGET_VS_062[size],
                                    jicket["throughput_vs_062"] >= TARGET_VS_062[size])
    if size in TARGET_OVER_IDEAL and jicket.get("measured_over_ideal") is not None:
        out["measured_over_ideal"] = (jicket["measured_over_ideal"], TARGET_OVER_IDEAL[size],
                                      jicket["measured_over_ideal"] <= TARGET_OVER_IDEAL[size])
    return out


def document(info: dict, source: str | None, args: argparse.Namespace, results: list[dict]) -> dict:
    """The results file: the machine, how each side ran, every size's figures and checks, the targets."""
    return {"machine": info, "jicket_source": source, "latency_ms": args.latency_ms, "concurrency": args.concurrency,
            "jicket": "airflow standalone, LocalExecutor, bench.standalone.ROLE_SETTINGS; runs triggered over the "
                      "REST API back to back; JICKET_LIMIT_CONFIRMATIONS_PER_HOUR=0 and JICKET_LIMIT_NEW_PER_HOUR=0",
            "jicket_062": "PyPI jicket 0.6.2, singleshot, own venv; IMAPS via a forwarder on 127.0.0.1:993, "
                          "SSL_CERT_FILE, an empty filter file (0.6.2 has no rate limits)",
            "jicket_settings": dict(item.split("=", 1) for item in getattr(args, "set", [])),
            "jicket_062_from": getattr(args, "jicket_only", None),
            "results": [{**r, "targets": targets(r)} for r in results]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--name", default="versus_062")
    parser.add_argument("--source", default=None, metavar="REV",
                        help="measure Jicket as committed at this git revision (default: the working tree)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--jicket-only", metavar="RESULTS", default=None,
                        help="run only Jicket; 0.6.2's figures come from this earlier results file (same sizes)")
    add_set_option(parser)
    args = parser.parse_args(argv)
    earlier: dict[int, dict] = {}
    if args.jicket_only:
        earlier = {r["size"]: r["jicket_062"] for r in json.loads(Path(args.jicket_only).read_text())["results"]}
        missing = [size for size in args.mails if size not in earlier]
        if missing:
            parser.error(f"{args.jicket_only} has no 0.6.2 figures for {missing} mails")
    extra = set_settings(args)
    info = machine()
    print(f"machine: {info['cpu']}, {info['cores']} cores, {info['memory_gb']} GB; load {info['load_at_start']}")
    if not args.jicket_only:
        install_legacy()
    work = Path(tempfile.mkdtemp(prefix="jicket-bench-versus-"))
    stack = start_stack(work / "stack")
    results = []
    source = None
    try:
        count_dir = work / "imap-jicket"
        count_dir.mkdir()
        # Rate limits off, explicitly: the backlog is a load test, not a mail loop (every mail has its own
        # sender today, but a default per-sender limit must never be what a figure measures).
        env = airflow_env(work / "airflow", stack, JICKET_JIRA_CONCURRENCY=str(args.concurrency),
                          BENCH_IMAP_COUNT_DIR=str(count_dir), **{**RATE_LIMITS_OFF, **extra})
        source = use_source(env, args.source)
        env["PYTHONPATH"] = os.pathsep.join([COUNT_PATH, env["PYTHONPATH"]])
        started = time.monotonic()
        with Standalone(work / "airflow", env, role_like=True) as airflow:
            print(f"airflow standalone (role settings) up in {time.monotonic() - started:.0f} s; "
                  f"log {airflow.log_path}")
            warm = time.perf_counter()
            airflow.wait_run(airflow.trigger())  # a deployment has run before: its first run warms everything
            print(f"warm-up run on the empty inbox: {time.perf_counter() - warm:.1f} s; every API worker "
                  f"warmed in {airflow.warm_api_workers():.1f} s")
            for size in args.mails:
                results.append(one_size(stack, airflow, work, size, args.latency_ms, args.concurrency,
                                        earlier.get(size)))
                print_table(results[-1:], args.latency_ms)
                save(args.name, document(info, source, args, results))  # kept if a later size fails
    finally:
        stack.stop()
    print_table(results, args.latency_ms)
    path = save(args.name, document(info, source, args, results))
    print(f"\nresults: {path}  (work directory {work}{'' if args.keep else ', removed'})")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
