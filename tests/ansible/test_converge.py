"""Converge the role on localhost into a scratch prefix (supervisor mode), then check what it left.

The first converge builds the shared virtualenv (a couple of minutes; later converges reuse it).
"""

from __future__ import annotations

import configparser
import json
import pwd
import shlex
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from tests.ansible.helpers import ROOT, SERVICE_USER, TEST_SECRETS, Deployment, tool

pytestmark = pytest.mark.timeout(1800)

# Given by the tests in place of the example vault's placeholder (which the role refuses).
EXAMPLE_IMAP_PASSWORD = TEST_SECRETS["vault_jicket_imap_password"]


PROBE_DIR = "include"


@pytest.fixture(scope="module")
def deployment(scratch) -> Deployment:
    # Files that test_project_changes_are_deployed changes and removes later.
    for name in ("upgrade-probe-kept.txt", "upgrade-probe-removed.txt"):
        (scratch.source / PROBE_DIR / name).write_text("version 1\n")
    deployed = scratch.deployment("converge")
    first = deployed.converge("first")
    assert first.rc == 0, first.describe()
    print(f"\nfirst converge: {first.seconds:.0f} s, {first.recap}")
    return deployed


def mode_owner(path: Path) -> tuple[str, str, str]:
    st = path.stat()
    return (oct(stat.S_IMODE(st.st_mode)), pwd.getpwuid(st.st_uid).pw_name, _group(st.st_gid))


def _group(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


def read_env_file(deployment: Deployment, *files: Path) -> dict[str, str]:
    """The environment the service user gets from the env files, as the wrapper's shell reads them."""
    script = "set -a; " + " ".join(f". {shlex.quote(str(f))};" for f in files) + " env -0"
    result = deployment.as_service_user(["/bin/sh", "-c", script])
    assert result.returncode == 0, result.stderr
    pairs = [item.split("=", 1) for item in result.stdout.split("\0") if "=" in item]
    return dict(pairs)


def test_first_converge_changed_things(deployment):
    assert deployment.runs[0].recap.get("changed", 0) > 0
    assert deployment.runs[0].recap.get("failed") == 0


def test_second_converge_changes_nothing(deployment):
    second = deployment.converge("second")
    assert second.rc == 0, second.describe()
    print(f"\nsecond converge: {second.seconds:.0f} s, {second.recap}")
    assert second.recap.get("changed") == 0, "\n".join(second.changed_tasks()) + "\n" + str(second.log)


def test_project_changes_are_deployed(scratch, deployment):
    """A new project version: changed, new and removed files reach the host (after the idempotency check)."""
    source, target = scratch.source / PROBE_DIR, deployment.project_dir / PROBE_DIR
    assert (target / "upgrade-probe-removed.txt").exists()
    (source / "upgrade-probe-removed.txt").unlink()
    (source / "upgrade-probe-kept.txt").write_text("version 2\n")
    (source / "upgrade-probe-new.txt").write_text("new\n")
    try:
        run = deployment.converge("upgrade")
        assert run.rc == 0, run.describe()
        assert run.recap.get("changed", 0) >= 2, run.describe()
        assert not (target / "upgrade-probe-removed.txt").exists()
        assert (target / "upgrade-probe-kept.txt").read_text() == "version 2\n"
        assert mode_owner(target / "upgrade-probe-new.txt") == ("0o644", "root", "root")
        assert mode_owner(target) == ("0o755", "root", "root")
    finally:
        for name in ("upgrade-probe-kept.txt", "upgrade-probe-new.txt"):
            (source / name).unlink(missing_ok=True)


def test_secrets_and_config_modes_and_owners(deployment):
    cfg = deployment.config_dir
    expected = {
        cfg: ("0o750", "root", SERVICE_USER),
        cfg / "connections.env": ("0o600", SERVICE_USER, SERVICE_USER),
        cfg / "settings.env": ("0o640", "root", SERVICE_USER),
        cfg / "airflow.cfg": ("0o640", "root", SERVICE_USER),
        cfg / "airflow.env": ("0o640", "root", SERVICE_USER),
        cfg / "api-passwords.json": ("0o600", SERVICE_USER, SERVICE_USER),
        deployment.airflow_home: ("0o750", SERVICE_USER, SERVICE_USER),
        deployment.wrapper: ("0o755", "root", "root"),
    }
    found = {path: mode_owner(path) for path in expected}
    assert found == expected


def test_code_is_not_writable_by_the_service_user(deployment):
    for path in (deployment.venv / "bin" / "airflow", deployment.project_dir / "dags",
                 deployment.project_dir / "jicket_ops" / "__init__.py"):
        st = path.stat()
        assert st.st_uid == 0 and not st.st_mode & 0o022, f"{path} is writable by others"
    assert not list(deployment.project_dir.rglob("__pycache__")), "byte code was copied from the controller"


def test_airflow_cfg(deployment):
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(deployment.config_dir / "airflow.cfg")
    port = deployment.api_port
    assert parser["core"]["executor"] == "LocalExecutor"
    assert parser["core"]["parallelism"] == "4"  # small host
    assert parser["core"]["load_examples"] == "False"
    assert parser["core"]["dags_folder"] == str(deployment.project_dir / "dags")
    assert parser["core"]["execution_api_server_url"] == f"http://127.0.0.1:{port}/execution/"
    assert parser["api"]["port"] == str(port)
    assert parser["database"]["sql_alchemy_conn"] == f"sqlite:///{deployment.airflow_home}/airflow.db"
    # Shared secrets are generated once on the controller and reused.
    assert parser["api_auth"]["jwt_secret"] == (deployment.controller_dir / "jwt_secret").read_text().strip()
    assert parser["api"]["secret_key"] == (deployment.controller_dir / "api_secret_key").read_text().strip()
    assert len(parser["core"]["fernet_key"]) == 44
    assert "celery" not in parser


def test_env_files_deliver_connections_and_variables(deployment):
    cfg = deployment.config_dir
    env = read_env_file(deployment, cfg / "airflow.env", cfg / "settings.env", cfg / "connections.env")
    imap = json.loads(env["AIRFLOW_CONN_JICKET_IMAP"])
    assert imap == {"conn_type": "imap", "host": "imap.example.com", "port": 993, "login": "helpdesk@example.com",
                    "password": EXAMPLE_IMAP_PASSWORD, "extra": {"tls": "ssl"}}
    assert json.loads(env["AIRFLOW_CONN_JICKET_JIRA"])["extra"] == {"verify": True}
    assert json.loads(env["AIRFLOW_CONN_JICKET_SMTP"])["port"] == 587
    assert env["AIRFLOW_VAR_JICKET_JIRA_PROJECT"] == "SHD"
    assert env["AIRFLOW_VAR_JICKET_LOOPTIME"] == "60"
    assert "PYTHONPATH" not in env, "the project is installed as a package, not put on PYTHONPATH"
    assert env["AIRFLOW_CONFIG"] == str(cfg / "airflow.cfg")
    # The switches of $AIRFLOW_HOME/config/airflow_local_settings.py, both on by default.
    assert (env["JICKET_PRELOAD_TASK_MODULES"], env["JICKET_SQLITE_PRECISE_NOW"]) == ("true", "true")
    # The installed package does not carry include/: the deployed template is named instead.
    template = Path(env["AIRFLOW_VAR_JICKET_THREAD_TEMPLATE"])
    assert template == deployment.project_dir / "include" / "templates" / "confirmation.html.j2"
    assert template.is_file()


def test_project_is_installed_as_a_package(scratch, deployment):
    """jicket_ops and every subpackage come from the virtualenv's site-packages, not from the project copy."""
    packages = sorted(str(p.parent.relative_to(scratch.source)).replace("/", ".")
                      for p in (scratch.source / "jicket_ops").rglob("__init__.py") if "__pycache__" not in p.parts)
    script = ("import importlib, sys\n"
              "for name in sys.argv[1:]:\n"
              "    print(name, importlib.util.find_spec(name).origin)\n")
    result = deployment.as_service_user([str(deployment.venv / "bin" / "python"), "-I", "-c",
                                         "import importlib.util\n" + script, *packages])
    assert result.returncode == 0, result.stderr[-3000:]
    origins = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert set(origins) == set(packages)
    for name, origin in origins.items():
        assert "/site-packages/" in origin and str(deployment.project_dir) not in origin, (name, origin)
    # Built from a copy: no build/ or *.egg-info left in the deployed project.
    assert not list(deployment.project_dir.glob("*.egg-info")) and not (deployment.project_dir / "build").exists()
    assert (deployment.venv / "jicket-project.sha256").is_file()


def test_secrets_stay_out_of_the_play_output(deployment):
    for run in deployment.runs:
        text = run.log.read_text(errors="replace")
        assert EXAMPLE_IMAP_PASSWORD not in text
        assert (deployment.controller_dir / "jwt_secret").read_text().strip() not in text


def test_systemd_units_verify_cleanly(deployment):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing: install Debian's 'systemd' package")
    units = deployment.units()
    names = {unit.name for unit in units}
    assert names == {f"jicket-airflow-{c}.service" for c in ("api-server", "scheduler", "dag-processor", "triggerer")} \
        | {"jicket-airflow.target"}
    result = subprocess.run([analyze, "verify", *map(str, units)], capture_output=True, text=True, timeout=120,
                            check=False)
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0 and output == "", output


def test_supervisor_runs_the_unit_commands(deployment):
    """supervisord's programs run what the units' ExecStart runs, through the environment wrapper."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(deployment.supervisor_config)
    programs = {s.split(":", 1)[1]: parser[s] for s in parser.sections() if s.startswith("program:")}
    assert set(programs) == {"api-server", "scheduler", "dag-processor", "triggerer"}
    for name, program in programs.items():
        unit = configparser.ConfigParser(interpolation=None, strict=False)
        unit.read(deployment.unit_dir / f"jicket-airflow-{name}.service")
        exec_start = shlex.split(unit["Service"]["ExecStart"])
        command = shlex.split(program["command"])
        assert exec_start[0] == str(deployment.venv / "bin" / "airflow")
        assert command[0] == str(deployment.wrapper)
        assert command[1:] == exec_start[1:]
        assert program["user"] == SERVICE_USER
    assert Path(tool("python")).exists()
    assert (deployment.venv / "bin" / "supervisord").exists(), "supervisor mode installs supervisord into the venv"


def test_database_is_migrated(deployment):
    result = deployment.as_service_user([str(deployment.wrapper), "db", "check-migrations", "-t", "0"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert mode_owner(deployment.airflow_home / "airflow.db")[1] == SERVICE_USER


def test_service_user_parses_the_dag(deployment):
    if not (ROOT / "dags" / "jicket_dag.py").exists():
        pytest.skip("dags/jicket_dag.py is not written yet")
    result = deployment.as_service_user([str(deployment.wrapper), "dags", "list", "--local", "-o", "json"])
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    listing = json.loads(result.stdout.strip().splitlines()[-1])
    assert "jicket" in [d["dag_id"] for d in listing], listing


def test_celery_worker_host(scratch, deployment):
    """The same host in jicket_workers too, CeleryExecutor: a Celery worker unit and program, broker settings."""
    celery = scratch.deployment("celery")
    inventory = celery.prefix.parent / "celery-inventory.yml"
    inventory.write_text("all:\n  children:\n    jicket_workers:\n      hosts:\n        localhost:\n")
    run = celery.converge("first", inventories=(inventory,), more_vars={
        "jicket_executor": "CeleryExecutor",
        "jicket_db_backend": "postgresql",
        "jicket_db_dsn": "postgresql+psycopg2://airflow:secret%2F@127.0.0.1:5432/airflow_not_used",
        "jicket_db_migrate": False,
        "jicket_celery_broker_url": "redis://127.0.0.1:6379/5",
    })
    assert run.rc == 0, run.describe()
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(celery.config_dir / "airflow.cfg")
    assert parser["core"]["executor"] == "CeleryExecutor"
    assert parser["celery"]["broker_url"] == "redis://127.0.0.1:6379/5"
    # A literal % is doubled for Airflow's configparser interpolation.
    assert parser["celery"]["result_backend"] == "db+postgresql+psycopg2://airflow:secret%%2F@127.0.0.1:5432/airflow_not_used"
    assert parser["api"]["host"] == "0.0.0.0"
    names = {unit.name for unit in celery.units()}
    assert "jicket-airflow-celery-worker.service" in names and len(names) == 6
    analyze = shutil.which("systemd-analyze")
    if analyze:
        result = subprocess.run([analyze, "verify", *map(str, celery.units())], capture_output=True, text=True,
                                timeout=120, check=False)
        assert result.returncode == 0 and (result.stdout + result.stderr).strip() == "", result.stdout + result.stderr
    worker = (celery.unit_dir / "jicket-airflow-celery-worker.service").read_text()
    assert "celery worker --queues default --concurrency 4" in worker
