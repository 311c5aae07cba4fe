"""``airflow standalone`` for the benchmarks: scheduler, DAG processor, triggerer and API server in one
command, LocalExecutor (one process per task), SQLite, with its own AIRFLOW_HOME and free ports.

Also a sampler of the task processes' peak RSS (``VmHWM``): every task runs in a process the
LocalExecutor forks, titled ``airflow worker -- <task instance id>``; the sampler reads each such
process's ``/proc/<pid>/status`` every few milliseconds, and afterwards the task instance ids are named
from the metadata DB.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from datetime import UTC
from pathlib import Path

import requests

from bench.common import PY, ROOT

HEALTH_KEYS = ("metadatabase", "scheduler", "dag_processor", "triggerer")

# What ansible/roles/jicket (defaults/main.yml, templates/airflow.cfg.j2) writes into airflow.cfg for a host
# with <= 4 vCPUs, as environment settings. Its SQLite database and its separate services (api-server,
# scheduler, dag-processor, triggerer) are what ``airflow standalone`` runs as well; its simple auth manager
# users are replaced by "all admins" here, so that the benchmark can trigger runs over the REST API.
ROLE_SETTINGS = {
    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
    "AIRFLOW__CORE__PARALLELISM": "4",
    "AIRFLOW__CORE__MAX_ACTIVE_TASKS_PER_DAG": "4",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__DEFAULT_TIMEZONE": "utc",
    "AIRFLOW__API__WORKERS": "2",
    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
    "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.2",
}


# The role's airflow_local_settings.py (installed when jicket_preload_task_modules is on, the default).
ROLE_LOCAL_SETTINGS = ROOT / "ansible" / "roles" / "jicket" / "files" / "airflow_local_settings.py"


def role_local_settings(env: dict[str, str]) -> Path:
    """The role's airflow_local_settings.py of the project tree whose DAGs ``env`` runs (``use_source``)."""
    dags = env.get("AIRFLOW__CORE__DAGS_FOLDER")
    candidate = Path(dags).parent / ROLE_LOCAL_SETTINGS.relative_to(ROOT) if dags else ROLE_LOCAL_SETTINGS
    return candidate if candidate.is_file() else ROLE_LOCAL_SETTINGS


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Standalone:
    """``with Standalone(home, env) as airflow: ...`` -- ``airflow standalone`` in its own process group."""

    def __init__(self, home: Path, env: dict[str, str], role_like: bool = False):
        self.home = Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = self.home / "standalone.log"
        self.db_path = self.home / "airflow.db"
        self.env = {
            **env,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.db_path}",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            # Paused until every component is up: a task started before the API server listens fails.
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "NO_COLOR": "1",
            # standalone starts each component as `airflow <component>` from PATH
            "PATH": os.pathsep.join([str(Path(PY).parent), env.get("PATH", os.defpath)]),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        }
        if role_like:
            self.env.update(ROLE_SETTINGS)
            # The role's airflow_local_settings.py as well (the scheduler imports Jicket's task modules once;
            # now() on SQLite with milliseconds), from the tree measured (``use_source``).
            (self.home / "config").mkdir(exist_ok=True)
            shutil.copyfile(role_local_settings(self.env), self.home / "config" / "airflow_local_settings.py")
        self.role_like = role_like
        self._token: str | None = None
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 300.0) -> Standalone:
        with open(self.log_path, "ab") as out:
            self.proc = subprocess.Popen([PY, "-m", "airflow", "standalone"], cwd=self.home, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)
        try:
            self.wait("a healthy Airflow", self._healthy, timeout)
            self.wait("the jicket DAG in the metadata DB", lambda: self.query(
                "select dag_id from dag where dag_id = 'jicket'"), timeout)
            self.cli("dags", "unpause", "jicket")
        except BaseException:
            self.stop()
            raise
        return self

    def warm_api_workers(self, requests_each: int = 8) -> float:
        """Request ``/execution/health`` from several connections at once, so that every API server worker
        (``[api] workers``) has built its Execution API, as in a deployment that has been running: the first
        request a worker answers there takes seconds, and would otherwise land in some task of the first
        measured run. Seconds taken."""
        from concurrent.futures import ThreadPoolExecutor

        workers = int(self.env.get("AIRFLOW__API__WORKERS", "1"))
        started = time.perf_counter()

        def health(_: int) -> int:
            return requests.get(f"{self.url}/execution/health", timeout=120).status_code

        with ThreadPoolExecutor(max_workers=requests_each * workers) as pool:
            list(pool.map(health, range(requests_each * workers)))
        return time.perf_counter() - started

    def cli(self, *args: str, timeout: float = 300.0) -> str:
        result = subprocess.run([PY, "-m", "airflow", *args], cwd=self.home, env=self.env, capture_output=True,
                                text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        if result.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)}: {result.stdout[-2000:]}{result.stderr[-2000:]}")
        return result.stdout

    def api(self, method: str, path: str, **kwargs) -> dict:
        """A request to the public REST API (``/api/v2`` + PATH) with a token of the "all admins" auth manager."""
        if self._token is None:
            response = requests.get(f"{self.url}/auth/token", timeout=30)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        response = requests.request(method, f"{self.url}/api/v2{path}", timeout=60,
                                    headers={"Authorization": f"Bearer {self._token}"}, **kwargs)
        response.raise_for_status()
        return response.json()

    def trigger(self) -> str:
        """Trigger a run of the jicket DAG now (as a user or an external system would); its run id."""
        return self.api("POST", "/dags/jicket/dagRuns", json={"logical_date": None})["dag_run_id"]

    def run_state(self, run_id: str) -> str | None:
        rows = self.query("select state from dag_run where dag_id = 'jicket' and run_id = ?", run_id)
        return rows[0][0] if rows else None

    def wait_run(self, run_id: str, timeout: float = 900.0, interval: float = 0.1) -> str:
        """Until the run has finished; its final state."""
        return self.wait(f"run {run_id}", lambda: (self.run_state(run_id) in ("success", "failed")
                                                   and self.run_state(run_id)), timeout, interval)

    def _healthy(self) -> bool:
        try:
            health = requests.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
        except (requests.RequestException, ValueError):
            return False
        return all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS)

    def wait(self, what: str, probe, timeout: float, interval: float = 0.5):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"airflow standalone exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                found = probe()
            except sqlite3.Error:
                found = None
            if found:
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}\n{self.tail()}")
            time.sleep(interval)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def query(self, sql: str, *args) -> list[tuple]:
        """A read-only query of the metadata DB."""
        if not self.db_path.exists():
            return []
        connection = sqlite3.connect(f"file:{self.db_path}?mode=ro", uri=True, timeout=10)
        try:
            return connection.execute(sql, args).fetchall()
        finally:
            connection.close()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM the process group standalone leads, then SIGKILL what is left of it."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        try:
            os.killpg(pgid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None

    def __enter__(self) -> Standalone:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what the runs did ---------------------------------------------------------------------------
    def runs(self) -> list[dict]:
        rows = self.query("select run_id, run_type, state, queued_at, start_date, end_date from dag_run "
                          "where dag_id = 'jicket' order by id")
        return [dict(zip(("run_id", "run_type", "state", "queued_at", "start_date", "end_date"), r, strict=True))
                for r in rows]

    def task_instances(self, run_id: str) -> dict[str, dict]:
        rows = self.query("select task_id, state, start_date, end_date, queued_dttm from task_instance "
                          "where dag_id = 'jicket' and run_id = ?", run_id)
        return {r[0]: {"state": r[1], "start": r[2], "end": r[3], "queued": r[4]} for r in rows}

    def asset_events(self) -> list[dict]:
        rows = self.query("select id, timestamp, extra from asset_event order by id")
        return [{"id": r[0], "timestamp": r[1], "extra": json.loads(r[2] or "{}")} for r in rows]

    def idle(self) -> bool:
        """No run of the jicket DAG is queued or running."""
        return not self.query("select 1 from dag_run where dag_id = 'jicket' and state in ('queued', 'running')")


def source_tree(revision: str) -> Path:
    """The project's files at a git REVISION, extracted once under var/bench-src/<commit> (``git archive``).

    Lets a benchmark measure a committed state while the working tree is being changed (the task processes
    import ``dags/`` and ``jicket_ops/`` from there)."""
    from bench.common import ROOT

    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], cwd=ROOT, check=True,
                            capture_output=True, text=True).stdout.strip()
    target = ROOT / "var" / "bench-src" / commit
    if not (target / "dags").exists():
        target.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def use_source(env: dict[str, str], revision: str | None) -> str:
    """Point an Airflow environment's DAGs and Python path at REVISION's files (None: the working tree);
    the commit measured, or "working tree"."""
    if not revision:
        return "working tree"
    tree = source_tree(revision)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(tree / "dags")
    env["PYTHONPATH"] = os.pathsep.join([str(tree), env.get("PYTHONPATH", "")])
    return tree.name


def parse_ts(value: str | None) -> float | None:
    """A metadata-DB timestamp (UTC, text in SQLite) as epoch seconds."""
    if not value:
        return None
    from datetime import datetime

    text = value.replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text[:26], fmt).replace(tzinfo=UTC).timestamp()
        except ValueError:
            continue
    return None


class TaskRssSampler:
    """Peak RSS (VmHWM) of every task process (``airflow worker -- <ti id>``) while it runs.

    A task process is forked by a LocalExecutor worker (titled ``airflow worker -- LocalExecutor...``, the
    supervisor) and renames itself once it starts; titles are therefore read again at every sample, and
    a process counts as the task's once it carries the task instance id.

    ``root``: only processes descending from this one (the ``airflow standalone`` process) count -- another
    Airflow on the same machine (a concurrent benchmark or CI run) has ``airflow worker`` processes too.
    """

    def __init__(self, interval: float = 0.02, root: int | None = None):
        self.interval = interval
        self.root = root
        self.peaks: dict[int, dict] = {}
        self._ours: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TaskRssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        while not self._stop.is_set():
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                try:
                    title = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
                    if not title.startswith(b"airflow worker -- ") or not self._descends(pid):
                        continue
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                known = self.peaks.setdefault(pid, {"ti_id": None, "supervisor": None, "hwm_kb": 0})
                rest = title.split(b"-- ", 1)[1].decode(errors="replace")
                if rest.startswith("LocalExecutor"):
                    known["supervisor"] = rest
                else:
                    known["ti_id"] = rest.split()[0]
                for line in status.splitlines():
                    if line.startswith("VmHWM:"):
                        known["hwm_kb"] = max(known["hwm_kb"], int(line.split()[1]))
                        break
            self._stop.wait(self.interval)

    def _descends(self, pid: int) -> bool:
        """Whether ``pid`` is ``root`` or below it (remembered: a process keeps its ancestry)."""
        if self.root is None:
            return True
        if pid not in self._ours:
            chain: list[int] = []
            current, ours = pid, False
            while current > 1 and current not in self._ours:
                if current == self.root:
                    ours = True
                    break
                chain.append(current)
                try:
                    stat = Path(f"/proc/{current}/stat").read_text()
                except OSError:
                    break
                current = int(stat.rsplit(")", 1)[1].split()[1])  # the field after the state: the parent
            else:
                ours = self._ours.get(current, False)
            for known in chain:
                self._ours[known] = ours
            self._ours[pid] = ours
        return self._ours[pid]

    def by_task(self, airflow: Standalone) -> dict[str, float]:
        """Peak RSS in MB per task id (the highest over its runs and tries)."""
        names = {str(r[0]).replace("-", ""): r[1] for r in airflow.query("select id, task_id from task_instance")}
        out: dict[str, float] = {}
        for peak in self.peaks.values():
            if peak["ti_id"] is None:
                continue  # a LocalExecutor worker (supervisor) that never became a task process
            task = names.get(peak["ti_id"].replace("-", ""), peak["ti_id"])
            out[task] = max(out.get(task, 0.0), peak["hwm_kb"] / 1024)
        return out

    def supervisors(self) -> float:
        """The highest peak RSS of a LocalExecutor worker process (the task supervisor), MB."""
        return max((p["hwm_kb"] / 1024 for p in self.peaks.values() if p["ti_id"] is None), default=0.0)
