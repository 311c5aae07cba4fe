"""Shared pieces of the benchmarks: the sandbox stack, an Airflow home, backlog mails, machine facts, results.

The stack (Dovecot, the SMTP relay, the Jira stand-in) runs in the benchmark's own process, as
``sandbox.stack.SandboxStack``; Airflow runs in child processes (``bench/_runner.py`` for
``dag.test()`` runs, ``airflow standalone`` for the event-driven latency), so what Airflow costs is
measured in the processes that pay it.
"""

from __future__ import annotations

import json
import os
import platform
import random
import secrets
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PY = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable

if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


# -- machine ------------------------------------------------------------------------------------------------
def loadavg() -> tuple[float, float, float]:
    return os.getloadavg()


def machine() -> dict:
    """What the figures were measured on."""
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gb = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    try:
        airflow_version = version("apache-airflow")  # not `import airflow`: it would configure logging here
    except PackageNotFoundError:
        airflow_version = "?"
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gb": round(mem_gb, 1),
            "python": platform.python_version(), "airflow": airflow_version,
            "kernel": platform.release(), "load_at_start": [round(x, 2) for x in loadavg()]}


# -- the stack ----------------------------------------------------------------------------------------------
def _password() -> str:
    # Letters and digits only: a token starting with "-" would be read as an option by the stand-in's CLI.
    return "p" + secrets.token_hex(10)


def start_stack(base_dir: Path, jira: bool = True):
    import logging

    from sandbox.stack import CUSTOMER, HELPDESK, JIRA_USER, SandboxStack

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd: one line per SMTP command otherwise

    stack = SandboxStack(base_dir, jira=jira,
                         passwords={HELPDESK: _password(), CUSTOMER: _password(), JIRA_USER: _password()})
    return stack.start()


def airflow_env(home: Path, stack, **extra: str) -> dict[str, str]:
    """Environment of every Airflow process of a benchmark: own AIRFLOW_HOME (SQLite), the stack's connections."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW_VAR_", "JICKET_", "AIRFLOW__", "PYTHONDONTWRITEBYTECODE"))}
    env.update({
        # A bytecode cache, as any deployment has (this sandbox sets PYTHONDONTWRITEBYTECODE=1, which makes
        # every task process compile the project's modules again). Kept between benchmark runs, under var/
        # (git-ignored), as a deployment keeps the .pyc files pip wrote at install time: with a fresh one the
        # first measured run compiled ~500 modules (~1 s).
        "PYTHONPYCACHEPREFIX": str(ROOT / "var" / "bench-pycache"),
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "JICKET_TASK_RETRIES": "0",
        "JICKET_LOOPMODE": "singleshot",
    })
    env.update(stack.connection_env())
    env.update(extra)
    return env


def migrate(env: dict[str, str]) -> None:
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    result = subprocess.run([PY, "-m", "airflow", "db", "migrate"], env=env, capture_output=True, text=True,
                            timeout=600)
    if result.returncode != 0:
        raise RuntimeError("airflow db migrate failed:\n" + result.stdout[-3000:] + result.stderr[-3000:])


# -- mails --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Backlog:
    """What a generated backlog holds."""

    total: int
    new: int
    replies: int
    attachments: int
    attachment_bytes: int
    existing_tickets: dict[str, str]  # ticket id -> issue key, created in Jira before the backlog


TEXT = ("Hello helpdesk,\n\nsince this morning the printer on floor {floor} prints only blank pages. "
        "We restarted it twice and replaced the toner, without success. Could someone have a look?\n\n"
        "Order number {n}, asset tag PR-{floor}{n:05d}.\n\nThanks,\nCustomer {n}\n")


def make_mail(n: int, *, subject: str, reply_to: tuple[str, str] | None = None,
              attachment: bytes | None = None, sender: str | None = None) -> bytes:
    from sandbox.stack import HELPDESK

    message = EmailMessage()
    # One sender per mail (a backlog comes from many customers; per-sender rate limits must not bite).
    message["From"] = sender or f"Customer {n} <customer{n}@customers.example.org>"
    message["To"] = HELPDESK
    message["Subject"] = subject
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = f"<bench-{n}-{uuid.uuid4().hex}@customer.example.test>"
    if reply_to:
        message["In-Reply-To"] = reply_to[1]
        message["References"] = reply_to[1]
    message.set_content(TEXT.format(floor=n % 7, n=n) * 3)
    if attachment is not None:
        message.add_attachment(attachment, maintype="application", subtype="octet-stream",
                               filename=f"scan-{n}.bin")
    return bytes(message)


def seed_tickets(stack, count: int) -> dict[str, str]:
    """Issues that existed before the backlog (an earlier mailbox's tickets), for replies to answer."""
    import requests

    from jicket_ops.domain.rendering import issue_summary
    from jicket_ops.domain.ticket_ids import TicketIdScheme

    ids = TicketIdScheme()
    session = requests.Session()
    session.auth = (stack.jira.user, stack.jira.password)
    found: dict[str, str] = {}
    for k in range(1, count + 1):
        ticket_id = ids.new_id(1, k)  # UIDVALIDITY 1: not the benchmark mailbox's
        response = session.post(f"{stack.jira.url}/rest/api/2/issue", timeout=30, json={"fields": {
            "project": {"key": "HD"}, "summary": issue_summary(ids, ticket_id, f"Earlier problem {k}"),
            "description": f"Opened before the backlog ({k}).", "issuetype": {"name": "Task"}}})
        response.raise_for_status()
        found[ticket_id] = response.json()["key"]
    return found


def fill_backlog(stack, total: int, *, new_share: float = 0.7, attachment_share: float = 0.1,
                 attachment_bytes: int = 100 * 1024, seed: int = 7, existing: dict[str, str] | None = None,
                 folder: str = "INBOX") -> Backlog:
    """Append TOTAL mails to the helpdesk inbox: NEW_SHARE new, the rest replies to existing tickets;
    every 1/ATTACHMENT_SHARE-th mail carries an attachment of ATTACHMENT_BYTES (random, incompressible)."""
    from jicket_ops.domain.ticket_ids import TicketIdScheme

    rng = random.Random(seed)
    ids = TicketIdScheme()
    existing = existing if existing is not None else seed_tickets(stack, max(1, round(total * (1 - new_share) / 3)))
    targets = sorted(existing)
    n_new = round(total * new_share)
    kinds = ["new"] * n_new + ["reply"] * (total - n_new)
    rng.shuffle(kinds)
    every = round(1 / attachment_share) if attachment_share else 0
    attachments = 0
    with stack.imap() as client:
        for n, kind in enumerate(kinds, start=1):
            blob = rng.randbytes(attachment_bytes) if every and n % every == 0 else None
            attachments += blob is not None
            if kind == "new":
                raw = make_mail(n, subject=f"Printer {n} prints blank pages", attachment=blob)
            else:
                ticket_id = targets[n % len(targets)]
                raw = make_mail(n, subject=f"Re: {ids.tag(ticket_id)} Earlier problem",
                                reply_to=(ticket_id, f"<earlier-{ticket_id}@customer.example.test>"), attachment=blob)
            client.append(folder, raw)
    return Backlog(total, n_new, total - n_new, attachments, attachment_bytes, existing)


def reset_stack(stack) -> None:
    """Empty every mailbox and Jira (between benchmark rounds)."""
    from sandbox.stack import CUSTOMER, HELPDESK

    stack.empty_mailboxes(HELPDESK, CUSTOMER)
    if stack.jira is not None:
        stack.jira.reset()
        stack.jira.clear_requests()


# -- results ------------------------------------------------------------------------------------------------
def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {**data, "measured_at": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
            "load_at_end": [round(x, 2) for x in loadavg()]}
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def add_set_option(parser) -> None:
    """``--set NAME=VALUE`` (repeatable): a Jicket setting for the measurement, in the Airflow processes'
    environment; ``set_settings(args)`` reads them."""
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="a Jicket setting for this measurement (environment), e.g. JICKET_IMAP_PROGRESS=folders")


def set_settings(args) -> dict[str, str]:
    """The ``--set`` settings of ``add_set_option``."""
    return dict(item.split("=", 1) for item in args.set)


def one_request_per_write(kinds: dict[str, int], new_issues: int) -> int:
    """The requests of ``kinds`` (``jira_request_kinds``) counted as issue 16's ideal counts them: one per new
    issue, also where issues were created in bulk (50 per request), and one per every other request made."""
    return sum(kinds.values()) - kinds.get("create", 0) - kinds.get("bulk create", 0) + new_issues


def jira_request_kinds(log: list[dict]) -> dict[str, int]:
    """Count the stand-in's request log by kind (admin calls excluded)."""
    import re

    kinds: dict[str, int] = {}
    for entry in log:
        path, method = entry["path"], entry["method"]
        if path.startswith("/_standin"):
            continue
        if re.search(r"/issue/[^/]+/attachments$", path):
            kind = "attachment"
        elif re.search(r"/issue/[^/]+/comment$", path) and method == "POST":
            kind = "comment"
        elif re.search(r"/issue$", path) and method == "POST":
            kind = "create"
        elif re.search(r"/issue/bulk$", path) and method == "POST":
            kind = "bulk create"
        elif "/search" in path:
            kind = "search"
        else:
            kind = f"{method} {re.sub(r'/[A-Z]+-[0-9]+', '/{key}', path)}"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds
