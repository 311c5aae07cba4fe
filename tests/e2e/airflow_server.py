"""A real Airflow for end-to-end tests: api-server, scheduler, dag-processor and triggerer on localhost.

Each component is started on its own (``python -m airflow <component>``, in its own process group, logging
to its own file) rather than through ``airflow standalone``: that way every component gets a log file of
its own, and a failure names the component. The deployment has its own AIRFLOW_HOME (SQLite metadata DB,
LocalExecutor), free ports for everything that listens, and the simple auth manager with one admin user
whose password the tests choose.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
HEALTH_KEYS = ("metadatabase", "scheduler", "dag_processor", "triggerer")
FINISHED = {"success", "failed"}
SIMPLE_AUTH = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text[-lines:])


class AirflowError(AssertionError):
    """Airflow did not do what a test waited for; the message carries the component logs."""


class AirflowServer:
    """``with AirflowServer(home, extra_env) as airflow: airflow.trigger("jicket", conf)``."""

    def __init__(self, home: Path, extra_env: dict[str, str], *, user: str = "admin"):
        self.home = Path(home).absolute()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir = self.home / "component-logs"
        self.log_dir.mkdir(exist_ok=True)
        self.user = user
        self.password = "e2e-" + secrets.token_urlsafe(12)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        self._cli_count = 0
        self.timings: dict[str, float] = {}
        self._token: str | None = None
        self._token_at = 0.0
        passwords = self.home / "simple_auth_manager_passwords.json"
        passwords.write_text(json.dumps({user: self.password}))
        self.env = self._environment(extra_env, passwords)

    # ------------------------------------------------------------------ environment
    def _environment(self, extra_env: dict[str, str], passwords: Path) -> dict[str, str]:
        """The components' environment, built explicitly: the test process's own Airflow settings (its
        AIRFLOW_HOME from tests/conftest.py, connections, JICKET_* variables) must not leak in."""
        base = {k: v for k, v in os.environ.items()
                if not k.startswith(("AIRFLOW", "JICKET_", "PYTEST_", "_AIRFLOW"))}
        base.pop("PYTHONPATH", None)
        env = {
            **base,
            "PYTHONPATH": str(ROOT),
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.home / 'airflow.db'}",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__AUTH_MANAGER": SIMPLE_AUTH,
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.user}:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(passwords),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            # Find the DAG files at once (look every 5 s), parse a file again only after a minute: the files
            # do not change during a test, and each parse costs CPU (and a write to the SQLite DB) on two cores.
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "60",
            "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
            "AIRFLOW__DAG_PROCESSOR__PRINT_STATS_INTERVAL": "0",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
            "NO_COLOR": "1",
        }
        env.update(extra_env)
        return env

    # ------------------------------------------------------------------ lifecycle
    def start(self, timeout: float = 240.0, dag_ids: tuple[str, ...] = ("jicket",)) -> AirflowServer:
        """Migrate the DB, start the components, wait until they are healthy and the DAGs are parsed."""
        started = time.monotonic()
        try:
            self.cli("db", "migrate", timeout=300)
            self.timings["db migrate"] = time.monotonic() - started
            for component in COMPONENTS:
                self._spawn(component)
            self.wait_healthy(timeout)
            self.timings["healthy"] = time.monotonic() - started
            self.timings["execution api warm-up"] = self.warm_up(timeout)
            for dag_id in dag_ids:
                self.wait_for_dag(dag_id, timeout)
            self.timings["started"] = time.monotonic() - started
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, component: str) -> None:
        args = [sys.executable, "-m", "airflow", component]
        if component == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        with (self.log_dir / f"{component}.log").open("ab") as out:
            self.procs[component] = subprocess.Popen(args, cwd=self.home, env=self.env, stdout=out,
                                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                     start_new_session=True)

    def stop(self, timeout: float = 30.0) -> list[str]:
        """SIGTERM every component's process group, SIGKILL what is left; returns what had to be killed."""
        killed: list[str] = []
        for proc in self.procs.values():
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for name, proc in self.procs.items():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                killed.append(name)
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(10)
        # Children of a component (task supervisors, the log server) share its process group.
        for proc in self.procs.values():
            if _group_alive(proc.pid):
                killed.append(f"group {proc.pid}")
                _signal_group(proc.pid, signal.SIGKILL)
        # Anything that still carries this deployment's AIRFLOW_HOME was started by it (setsid'd helpers).
        for pid in self.leftover_pids():
            killed.append(f"pid {pid}")
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.procs.clear()
        return killed

    def leftover_pids(self) -> list[int]:
        """Processes (not this one) whose environment names this deployment's AIRFLOW_HOME."""
        marker = f"AIRFLOW_HOME={self.home}".encode()
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                environ = (entry / "environ").read_bytes()
            except OSError:
                continue
            if marker in environ.split(b"\0"):
                found.append(int(entry.name))
        return found

    def __enter__(self) -> AirflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def logs(self, lines: int = 60) -> str:
        parts = []
        for component in COMPONENTS:
            path = self.log_dir / f"{component}.log"
            state = ""
            proc = self.procs.get(component)
            if proc is not None and proc.poll() is not None:
                state = f" (exited with {proc.returncode})"
            parts.append(f"----- {component}{state}: {path}\n{tail(path, lines)}")
        return "\n".join(parts)

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.procs.items() if p.poll() is not None}
        if dead:
            raise AirflowError(f"Airflow components exited: {dead}\n{self.logs()}")

    # ------------------------------------------------------------------ waiting
    def wait_until(self, what: str, probe: Callable[[], Any], timeout: float, interval: float = 1.0) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while True:
            self.check_alive()
            try:
                last = probe()
            except requests.RequestException as exc:
                last = exc
            else:
                if last:
                    return last
            if time.monotonic() > deadline:
                raise AirflowError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})\n"
                                   f"{self.logs()}")
            time.sleep(interval)

    def health(self) -> dict:
        return requests.get(f"{self.url}/api/v2/monitor/health", timeout=10).json()

    def wait_healthy(self, timeout: float) -> dict:
        def probe():
            health = self.health()
            return health if all((health.get(k) or {}).get("status") == "healthy" for k in HEALTH_KEYS) else None
        return self.wait_until("a healthy Airflow (/api/v2/monitor/health)", probe, timeout)

    def warm_up(self, timeout: float) -> float:
        """Make the api-server build its Execution API now; returns the seconds that took.

        The Execution API (a Cadwyn app) generates its versioned routes on its first request, on the
        api-server's event loop: every other request waits meanwhile. On two busy cores that takes 20-60 s,
        longer than a task's Execution API calls wait (``[workers] execution_api_timeout``, 5 s, a few
        retries), so the first task after a start could fail before it ran. Any request under /execution/
        does it; /execution/health needs no token."""
        started = time.monotonic()
        response = requests.get(f"{self.url}/execution/health", timeout=timeout)
        if response.status_code != 200:
            raise AirflowError(f"GET /execution/health: {response.status_code} {response.text[:500]}\n{self.logs()}")
        return time.monotonic() - started

    def wait_for_dag(self, dag_id: str, timeout: float) -> dict:
        def probe():
            response = self.api("GET", f"/dags/{dag_id}", check=False)
            if response.status_code == 200:
                return response.json()
            errors = self.api("GET", "/importErrors").json().get("import_errors") or []
            if errors:
                raise AirflowError(f"DAG files fail to import: {json.dumps(errors, indent=1)[:4000]}")
            return None
        return self.wait_until(f"DAG {dag_id} to be parsed", probe, timeout)

    # ------------------------------------------------------------------ REST API
    def token(self) -> str:
        """A JWT from the simple auth manager (POST /auth/token), renewed every 10 minutes."""
        if self._token is None or time.monotonic() - self._token_at > 600:
            response = requests.post(f"{self.url}/auth/token", json={"username": self.user,
                                                                     "password": self.password}, timeout=30)
            if response.status_code not in (200, 201):
                raise AirflowError(f"POST /auth/token: {response.status_code} {response.text[:500]}")
            self._token = response.json()["access_token"]
            self._token_at = time.monotonic()
        return self._token

    def api(self, method: str, path: str, *, check: bool = True, headers: dict | None = None,
            **kwargs) -> requests.Response:
        response = requests.request(method, f"{self.url}/api/v2{path}", timeout=30,
                                    headers={"Authorization": f"Bearer {self.token()}", **(headers or {})}, **kwargs)
        if check and response.status_code >= 400:
            raise AirflowError(f"{method} /api/v2{path}: {response.status_code} {response.text[:2000]}")
        return response

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        response = self.api("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return response.json()["dag_run_id"]

    def dag_run(self, dag_id: str, run_id: str) -> dict:
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{requests.utils.quote(run_id, safe='')}").json()

    def dag_runs(self, dag_id: str, **params) -> list[dict]:
        return self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 100, **params}).json()["dag_runs"]

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{requests.utils.quote(run_id, safe='')}/taskInstances").json()
        return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 180.0) -> dict:
        run = self.wait_until(f"run {run_id} of {dag_id} to finish",
                              lambda: (lambda r: r if r["state"] in FINISHED else None)(self.dag_run(dag_id, run_id)),
                              timeout)
        return run

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        quoted = requests.utils.quote(run_id, safe="")
        return self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/xcomEntries/{key}",
                        params={"deserialize": True}).json()["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        quoted = requests.utils.quote(run_id, safe="")
        response = self.api("GET", f"/dags/{dag_id}/dagRuns/{quoted}/taskInstances/{task_id}/logs/{try_number}",
                            headers={"Accept": "application/json"}, check=False)
        if response.status_code != 200:
            return f"(no log: {response.status_code} {response.text[:300]})"
        lines = []
        for item in response.json().get("content") or []:
            if isinstance(item, dict):
                lines.append(" ".join(str(item.get(k, "")) for k in ("timestamp", "level", "event")).strip())
            else:
                lines.append(str(item))
        return "\n".join(lines)

    def backfills(self, dag_id: str) -> list[dict]:
        data = self.api("GET", "/backfills", params={"dag_id": dag_id, "limit": 100}).json()
        return sorted(data["backfills"], key=lambda b: b["id"])

    def wait_for_backfill(self, dag_id: str, backfill_id: int, timeout: float = 120.0) -> dict:
        """Until the scheduler marks the backfill completed (it checks every 30 s, once no run is left)."""
        def probe():
            backfill = self.api("GET", f"/backfills/{backfill_id}").json()
            return backfill if backfill["completed_at"] else None
        return self.wait_until(f"backfill {backfill_id} of {dag_id} to complete", probe, timeout, interval=2.0)

    def describe_run(self, dag_id: str, run_id: str) -> str:
        """Task states and the tail of every failed task's log, for assertion messages."""
        states = self.task_states(dag_id, run_id)
        parts = [f"run {run_id}: {states}"]
        for task_id, state in states.items():
            if state not in ("success", "skipped"):
                parts.append(f"--- {task_id} ({state}):\n{self.task_log(dag_id, run_id, task_id)[-3000:]}")
        return "\n".join(parts)

    # ------------------------------------------------------------------ CLI
    def cli(self, *args: str, timeout: float = 120.0, check: bool = True,
            immediate: bool = False) -> subprocess.CompletedProcess:
        """``airflow ARGS`` against this deployment's metadata DB; its output is kept in the log folder.

        ``immediate``: its sessions begin their SQLite transactions IMMEDIATE (tests/e2e/sqlite_settings.py),
        for commands that write beside the running components and hold one session at a time."""
        self._cli_count += 1
        env = dict(self.env)
        if immediate:
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_SESSION_MAKER"] = "tests.e2e.sqlite_settings.immediate_sessions"
            env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS"] = "tests.e2e.sqlite_settings.CONNECT_ARGS"
        result = subprocess.run([sys.executable, "-m", "airflow", *args], cwd=self.home, env=env,
                                capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
        (self.log_dir / f"cli-{self._cli_count:02d}-{args[0]}.log").write_text(
            f"$ airflow {' '.join(args)}\n# exit {result.returncode}\n{result.stdout}\n{result.stderr}")
        if check and result.returncode != 0:
            raise AirflowError(f"airflow {' '.join(args)} exited {result.returncode}:\n"
                               f"{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
        return result


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
