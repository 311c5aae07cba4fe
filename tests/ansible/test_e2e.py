"""End to end: converge against the local test stack, run the rendered supervisord configuration,
wait for a healthy Airflow, trigger the jicket DAG, see a mail become a Jira issue, stop cleanly.

Once with SQLite (the test starts supervisord) and once with PostgreSQL (the local server on
127.0.0.1:5432, a throwaway database; the role starts supervisord itself, and a second converge
with a changed airflow.cfg makes the handlers restart every running component).
"""

from __future__ import annotations

import json
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.ansible.helpers import ROOT, Deployment, Run, clean_env, run_logged, service_user_processes, tail, tool

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

ADMIN_PASSWORD = "e2e-" + secrets.token_hex(8)
NEEDED = [ROOT / "dags" / "jicket_dag.py", ROOT / "sandbox" / "stack.py"]


# ---------------------------------------------------------------------------------------- stack
@pytest.fixture(scope="module")
def stack(scratch):
    """``python -m sandbox up --dir DIR``: Dovecot, the SMTP relay and the Jira stand-in."""
    missing = [str(p.relative_to(ROOT)) for p in NEEDED if not p.exists()]
    if missing:
        pytest.skip(f"the end-to-end test needs {', '.join(missing)} (written concurrently; not there yet)")
    directory = scratch.root / "sandbox"
    directory.mkdir(mode=0o755)
    log = scratch.root / "sandbox.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "sandbox", "up", "--dir", str(directory)], cwd=ROOT,
                                env=clean_env(PYTHONPATH=str(ROOT)), stdout=out, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 90
        while not (directory / "stack.json").exists():
            assert proc.poll() is None, f"sandbox exited {proc.returncode}:\n{tail(log)}"
            assert time.monotonic() < deadline, f"sandbox not up after 90 s:\n{tail(log)}"
            time.sleep(0.2)
        env = {}
        for line in (directory / "stack.env").read_text().splitlines():
            words = shlex.split(line)
            if len(words) == 2 and words[0] == "export":
                name, value = words[1].split("=", 1)
                env[name] = value
        state = json.loads((directory / "stack.json").read_text())
        assert state.get("jira"), f"the sandbox runs without the Jira stand-in:\n{tail(log)}"
        yield {"dir": directory, "env": env, "state": state, "log": log}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def jicket_vars(stack: dict) -> dict:
    """The sandbox's connections and settings as the role's variables."""
    env = stack["env"]
    connections = {name[len("AIRFLOW_CONN_"):].lower(): json.loads(value)
                   for name, value in env.items() if name.startswith("AIRFLOW_CONN_")}
    settings = {name: value for name, value in env.items() if name.startswith("JICKET_")}
    settings.update({
        "JICKET_LOOPMODE": "singleshot",  # only the triggered run
        "JICKET_TASK_RETRIES": "0",
        "JICKET_RETRY_DELAY": "0",
    })
    return {
        "jicket_connections": connections,
        "jicket_settings": settings,
        "jicket_api_users": [{"name": "admin", "role": "admin", "password": ADMIN_PASSWORD}],
    }


def vault_encrypted_vars(deployment: Deployment, values: dict) -> tuple[Path, Path]:
    """Write ``values`` as an ansible-vault encrypted vars file with a throwaway password."""
    deployment.logs.mkdir(parents=True, exist_ok=True)
    password = deployment.logs / "e2e-vault-password"
    password.write_text(secrets.token_hex(16) + "\n")
    password.chmod(0o600)
    plain = deployment.logs / "e2e-secrets.yml"
    plain.write_text(json.dumps(values))
    result = run_logged([tool("ansible-vault"), "encrypt", "--vault-id", f"e2e@{password}", str(plain)],
                        deployment.logs / "vault.log", timeout=120)
    assert result.returncode == 0, tail(deployment.logs / "vault.log")
    assert plain.read_text().startswith("$ANSIBLE_VAULT;")
    return plain, password


# ---------------------------------------------------------------------------------------- Airflow API
class Api:
    def __init__(self, port: int):
        self.base = f"http://127.0.0.1:{port}"
        self.token: str | None = None

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 60):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read() or b"null")

    def poll(self, path: str, timeout: float = 60):
        """GET for a polling loop: None while the server does not answer (starting, or slow on a busy host)."""
        try:
            return self.call("GET", path, timeout=timeout)
        except urllib.error.HTTPError:
            raise
        except (OSError, urllib.error.URLError, ValueError):
            return None

    def health(self) -> dict | None:
        return self.poll("/api/v2/monitor/health", timeout=15)

    def login(self, user: str, password: str) -> None:
        self.token = self.call("POST", "/auth/token", {"username": user, "password": password})["access_token"]


def wait_for(what: str, check, timeout: float, describe=lambda: "", interval: float = 1.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"{what} not reached after {timeout:.0f} s (last: {last!r})\n{describe()}")


# ---------------------------------------------------------------------------------------- supervisord
def supervisorctl(deployment: Deployment, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([str(deployment.venv / "bin" / "supervisorctl"), "-c", str(deployment.supervisor_config),
                           *args], capture_output=True, text=True, timeout=timeout, env=clean_env(), check=False)


def supervisord_pid(deployment: Deployment) -> int | None:
    try:
        pid = int(deployment.supervisor_pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def component_logs(deployment: Deployment) -> str:
    parts = []
    for log in sorted(deployment.log_dir.glob("*.log")):
        parts.append(f"--- {log}\n{tail(log, 2500)}")
    return "\n".join(parts)


def stop_supervisord(deployment: Deployment) -> float:
    """supervisorctl shutdown; wait until supervisord and every process of the service user are gone."""
    started = time.monotonic()
    pid = supervisord_pid(deployment)
    if pid is None:
        return 0.0
    supervisorctl(deployment, "shutdown")
    deadline = time.monotonic() + 240
    while (supervisord_pid(deployment) or service_user_processes()) and time.monotonic() < deadline:
        time.sleep(0.5)
    return time.monotonic() - started


# ---------------------------------------------------------------------------------------- the scenario
def program_pids(deployment: Deployment) -> dict[str, str]:
    """{program: pid} of the RUNNING programs, from ``supervisorctl status``."""
    pids = {}
    for line in supervisorctl(deployment, "status").stdout.splitlines():
        words = line.replace(",", " ").split()
        if len(words) >= 4 and words[1] == "RUNNING" and words[2] == "pid":
            pids[words[0]] = words[3]
    return pids


def run_end_to_end(deployment: Deployment, stack: dict, db_vars: dict, *, role_starts_supervisord: bool,
                   reconfigure: bool = False, inventories: tuple[Path, ...] = (), programs: int = 4) -> Run:
    """Converge, start, trigger, check the issue; with ``reconfigure``, converge a changed airflow.cfg into the
    running deployment and see the handlers restart every component; stop."""
    timings = {}
    secrets_file, password_file = vault_encrypted_vars(deployment, jicket_vars(stack))
    started = time.monotonic()

    def converge(label: str, **more_vars) -> Run:
        return deployment.converge(label, more_vars=db_vars | {"jicket_supervisor_start": role_starts_supervisord}
                                   | more_vars, vault_ids=(("e2e", password_file),), var_files=(secrets_file,),
                                   inventories=inventories)

    run = converge("e2e")
    timings["converge"] = run.seconds
    assert run.rc == 0, run.describe()
    passwords = [c["password"] for c in jicket_vars(stack)["jicket_connections"].values()] + [ADMIN_PASSWORD]
    log_text = run.log.read_text(errors="replace")
    assert not [p for p in passwords if p in log_text], f"a secret is in the play output: {run.log}"
    assert not service_user_processes() or role_starts_supervisord, service_user_processes()
    try:
        if not role_starts_supervisord:
            log = deployment.logs / "supervisord-start.log"
            result = run_logged([str(deployment.venv / "bin" / "supervisord"), "-c", str(deployment.supervisor_config)],
                                log, timeout=60, env=clean_env())
            assert result.returncode == 0, tail(log)
        assert supervisord_pid(deployment), "supervisord is not running"

        api = Api(deployment.api_port)

        def healthy():
            health = api.health()
            if health and all(part.get("status") == "healthy" for part in health.values()):
                return health
            return None

        wait_for("a healthy Airflow", healthy, 240, lambda: component_logs(deployment))
        timings["healthy"] = time.monotonic() - started
        api.login("admin", ADMIN_PASSWORD)
        dag = wait_for("the jicket DAG in the API", lambda: _get_dag(api), 180, lambda: component_logs(deployment))
        assert dag["is_paused"] is False, "jicket_dags_paused_at_creation is false by default"

        subject = f"E2E {deployment.name} {uuid.uuid4().hex[:8]}"
        seed_log = deployment.logs / "seed.log"
        seeded = run_logged([sys.executable, "-m", "sandbox", "seed", "--dir", str(stack["dir"]), "--subject", subject],
                            seed_log, timeout=60, env=clean_env(PYTHONPATH=str(ROOT)))
        assert seeded.returncode == 0, tail(seed_log)

        triggered = time.monotonic()
        dag_run = api.call("POST", "/api/v2/dags/jicket/dagRuns", {"logical_date": None})
        run_id = urllib.request.quote(dag_run["dag_run_id"], safe="")

        def finished():
            state = (api.poll(f"/api/v2/dags/jicket/dagRuns/{run_id}") or {}).get("state")
            return state if state in ("success", "failed") else None

        state = wait_for("the end of the DAG run", finished, 360, lambda: component_logs(deployment), interval=2)
        timings["dag_run"] = time.monotonic() - triggered
        tasks = api.call("GET", f"/api/v2/dags/jicket/dagRuns/{run_id}/taskInstances")["task_instances"]
        task_states = {t["task_id"]: t["state"] for t in tasks}
        assert state == "success", f"{task_states}\n{component_logs(deployment)}"
        assert set(task_states.values()) == {"success"}, task_states

        jira = stack["state"]["jira"]["url"]
        with urllib.request.urlopen(f"{jira}/_standin/state", timeout=30) as response:
            issues = json.loads(response.read())["issues"]
        summaries = [issue["fields"]["summary"] for issue in issues]
        assert any(subject in summary for summary in summaries), summaries

        if reconfigure:
            before = program_pids(deployment)
            assert len(before) == programs, supervisorctl(deployment, "status").stdout
            again = converge("e2e-reconfigure", jicket_airflow_config_extra={"logging": {"logging_level": "INFO"}})
            assert again.rc == 0, again.describe()
            assert again.task_results("Restart the components under supervisord") == ["changed: [localhost]"], \
                again.log
            after = program_pids(deployment)
            assert set(after) == set(before) and not set(after.values()) & set(before.values()), (before, after)
            wait_for("a healthy Airflow after the restart", healthy, 240, lambda: component_logs(deployment))
            timings["reconfigured"] = time.monotonic() - started
    finally:
        timings["stop"] = stop_supervisord(deployment)
    leftover = service_user_processes()
    assert not leftover, f"processes left after supervisorctl shutdown: {leftover}"
    assert supervisord_pid(deployment) is None
    print(f"\n{deployment.name}: {', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}")
    return run


def _get_dag(api: Api):
    try:
        return api.poll("/api/v2/dags/jicket")
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def test_end_to_end_sqlite(scratch, stack):
    deployment = scratch.deployment("e2e-sqlite")
    run_end_to_end(deployment, stack, {"jicket_db_backend": "sqlite"}, role_starts_supervisord=False)


def postmaster_start_time() -> str:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres")
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT pg_postmaster_start_time()")
            return str(cursor.fetchone()[0])
    finally:
        conn.close()


def test_end_to_end_postgresql(scratch, stack):
    suffix = uuid.uuid4().hex[:10]
    deployment = scratch.deployment("e2e-postgresql")
    db_vars = {
        "jicket_db_backend": "postgresql",
        "jicket_postgresql_install": True,  # Debian's package is installed and running: detected, left as is
        "jicket_postgresql_database": f"jicket_e2e_{suffix}",
        "jicket_postgresql_user": f"jicket_e2e_{suffix}",
    }
    server_started = postmaster_start_time()
    try:
        run = run_end_to_end(deployment, stack, db_vars, role_starts_supervisord=True, reconfigure=True)
        # The installed, running server was found and left as it was (the apt task may still add the
        # client metapackage, which a fresh machine lacks: "ok" or "changed", never "failed").
        assert [line.split(":")[0] for line in run.task_results("Install PostgreSQL")] in (["ok"], ["changed"]), run.log
        assert postmaster_start_time() == server_started, "the running PostgreSQL server was restarted"
        assert run.task_results("Start supervisord") == ["changed: [localhost]"], run.log
        # The role waited for the api-server's Execution API before handing over (first request is slow).
        assert run.task_results("Wait until the API server's Execution API answers") == ["ok: [localhost]"], run.log
        cfg = (deployment.config_dir / "airflow.cfg").read_text()
        assert f"@127.0.0.1:5432/jicket_e2e_{suffix}" in cfg
    finally:
        stop_supervisord(deployment)
        drop_database(deployment, f"jicket_e2e_{suffix}")


def drop_database(deployment: Deployment, name: str) -> None:
    """Drop a test's database and role (named alike) from the machine's PostgreSQL."""
    for sql in (f'DROP DATABASE IF EXISTS "{name}"', f'DROP ROLE IF EXISTS "{name}"'):
        run_logged(["runuser", "-u", "postgres", "--", "psql", "-X", "-d", "postgres", "-c", sql],
                   deployment.logs / "cleanup.log", timeout=60, cwd=Path("/"))


@pytest.mark.parametrize("broker", ["rabbitmq", "redis"])
def test_end_to_end_celery(scratch, stack, broker):
    """The production shape on one host: CeleryExecutor with the machine's RabbitMQ or Redis as the broker,
    PostgreSQL as the metadata DB and result backend, the host in jicket_workers too, so a Celery worker runs
    the DAG's tasks."""
    suffix = uuid.uuid4().hex[:10]
    deployment = scratch.deployment(f"e2e-celery-{broker}")
    inventory = deployment.prefix.parent / f"e2e-celery-{broker}-inventory.yml"
    inventory.write_text("all:\n  children:\n    jicket_workers:\n      hosts:\n        localhost:\n")
    vhost = f"jicket_e2e_{suffix}"
    if broker == "rabbitmq":
        rabbitmq(["add_vhost", vhost])
        rabbitmq(["set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"])
        broker_url = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    else:
        broker_url = "redis://127.0.0.1:6379/9"
    db_vars = {
        "jicket_executor": "CeleryExecutor",
        "jicket_celery_broker_url": broker_url,
        "jicket_db_backend": "postgresql",
        "jicket_postgresql_install": True,
        "jicket_postgresql_database": f"jicket_e2e_{suffix}",
        "jicket_postgresql_user": f"jicket_e2e_{suffix}",
    }
    try:
        run_end_to_end(deployment, stack, db_vars, role_starts_supervisord=True, inventories=(inventory,))
        worker_log = "\n".join(tail(log, 200000) for log in deployment.log_dir.glob("*celery*"))
        # The tasks ran on the Celery worker: it received and finished them.
        for task in ("fetch", "write_to_jira", "summarize"):
            assert f"'task_id': '{task}'" in worker_log or f"task_id={task}" in worker_log, worker_log[-4000:]
    finally:
        stop_supervisord(deployment)
        if broker == "rabbitmq":
            rabbitmq(["delete_vhost", vhost])
        drop_database(deployment, f"jicket_e2e_{suffix}")


def rabbitmq(args: list[str]) -> None:
    """rabbitmqctl (the machine's RabbitMQ, guest/guest)."""
    result = subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
