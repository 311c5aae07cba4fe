"""Helpers for the tests of the Ansible deployment (ansible/): converge the role on this machine.

Every deployment lives under one scratch directory (``prefix``): project copy, AIRFLOW_HOME, env
files, units, supervisord files, logs. The virtualenv is built once per session and shared (set
JICKET_TEST_VENV to keep one across sessions); JICKET_TEST_PIP_CACHE points pip at a wheel cache.
Output of every step goes to a log file under the scratch directory; a failing assertion shows the
end of that log and its path. JICKET_TEST_KEEP=1 keeps the scratch directory.

The tests converge as root on localhost, like CI does, creating a service user ``jicketci<hex>`` of
their own that is removed at the end of the session (JICKET_TEST_SERVICE_USER names one to use and keep).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSIBLE_DIR = ROOT / "ansible"
VENV_BIN = ROOT / ".venv" / "bin"
INVENTORY = ANSIBLE_DIR / "inventory" / "localhost" / "hosts.yml"
EXAMPLE_VAULT_PASSWORD = ANSIBLE_DIR / "inventory" / "example-vault-password.txt"
# A service user of its own per test session (removed at its end): sessions running at the same
# time (developers' runs beside CI's) must not flip each other's user or see each other's processes.
SERVICE_USER = os.environ.get("JICKET_TEST_SERVICE_USER") or f"jicketci{secrets.token_hex(3)}"
OWN_SERVICE_USER = not os.environ.get("JICKET_TEST_SERVICE_USER")
SYSTEM_PYTHON = Path("/usr/bin/python3")
SOURCE_DIRS = ("dags", "jicket_ops", "include")  # the role's jicket_source_paths
SOURCE_FILES = ("requirements.txt", "constraints.txt", "pyproject.toml")  # the role's jicket_source_files
# The example inventories' vaults hold change-me-* placeholders, which the role refuses: the tests give
# the vault_* variables values of their own (extra vars win over group_vars), fresh per session.
TEST_SECRETS = {name: f"ci-{secrets.token_hex(12)}" for name in (
    "vault_jicket_imap_password", "vault_jicket_smtp_password", "vault_jicket_jira_password", "vault_jicket_id_salt",
    "vault_jicket_api_admin_password")}

RECAP = re.compile(r"^(?P<host>\S+)\s*:\s*ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
                   r"\s+failed=(?P<failed>\d+)\s+skipped=(?P<skipped>\d+)", re.M)


def tool(name: str) -> str:
    return str(VENV_BIN / name)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for ansible and the deployed services: nothing of the test process's Airflow set-up."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "JICKET_", "ANSIBLE_", "PYTHON", "VIRTUAL_ENV", "PIP_REQUIRE"))}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                   "/sbin", "/bin"])
    env.update({
        "ANSIBLE_CONFIG": str(ANSIBLE_DIR / "ansible.cfg"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
    })
    env.update(extra)
    return env


def tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return text[-limit:]


def run_logged(argv: list[str], log: Path, *, timeout: float, cwd: Path = ROOT,
               env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run a command with its output in ``log`` (never on the console)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.run(argv, cwd=cwd, env=env or clean_env(), stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Run:
    """One ansible-playbook run."""

    rc: int
    log: Path
    seconds: float
    recap: dict[str, int] = field(default_factory=dict)

    def describe(self) -> str:
        return f"ansible-playbook exited {self.rc} after {self.seconds:.0f} s; log {self.log}:\n{tail(self.log)}"

    def task_results(self, task: str) -> list[str]:
        """The result lines ('ok: ...', 'changed: ...', 'skipping: ...') of the task named ``task``."""
        results, current = [], None
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].split("]")[0].split(" : ", 1)[-1]
            elif current == task and line.split(":", 1)[0] in ("ok", "changed", "skipping", "fatal", "failed"):
                results.append(line)
        return results

    def changed_tasks(self) -> list[str]:
        """'TASK [...]' headers followed by a 'changed:' line."""
        found, task = [], None
        for line in self.log.read_text(errors="replace").splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                task = line.split("]")[0] + "]"
            elif line.startswith("changed:") and task:
                found.append(f"{task} {line}")
        return found


@dataclass
class Deployment:
    """A deployment of the role on this machine under ``prefix``."""

    name: str
    prefix: Path
    venv: Path
    controller_dir: Path
    extra_vars: dict = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)

    @property
    def logs(self) -> Path:
        return self.prefix.parent / f"{self.name}-logs"

    # Paths of the rendered deployment (the role's defaults under jicket_prefix).
    @property
    def config_dir(self) -> Path:
        return self.prefix / "etc" / "jicket"

    @property
    def airflow_home(self) -> Path:
        return self.prefix / "var" / "lib" / "jicket" / "airflow"

    @property
    def project_dir(self) -> Path:
        return self.prefix / "opt" / "jicket" / "app"

    @property
    def wrapper(self) -> Path:
        return self.prefix / "opt" / "jicket" / "bin" / "jicket-airflow"

    @property
    def unit_dir(self) -> Path:
        return self.prefix / "etc" / "systemd" / "system"

    @property
    def log_dir(self) -> Path:
        return self.prefix / "var" / "log" / "jicket"

    @property
    def supervisor_config(self) -> Path:
        return self.config_dir / "supervisord.conf"

    @property
    def supervisor_pidfile(self) -> Path:
        return self.prefix / "var" / "lib" / "jicket-supervisor" / "supervisord.pid"

    @property
    def api_port(self) -> int:
        return int(self.vars()["jicket_api_port"])

    def vars(self) -> dict:
        base = {
            "jicket_prefix": str(self.prefix),
            "jicket_venv_dir": str(self.venv),
            "jicket_controller_secrets_dir": str(self.controller_dir),
            "jicket_service_manager": "supervisor",
            "jicket_supervisor_start": False,
            "jicket_user": SERVICE_USER,
            "jicket_group": SERVICE_USER,
            "jicket_api_workers": 1,
            **TEST_SECRETS,
        }
        if not Path("/usr/bin/sudo").exists():
            # No sudo yet (the role installs it): root becomes the service user with su, with a shell that
            # works for a nologin account.
            base.update({"ansible_become_method": "su", "ansible_become_flags": "-s /bin/sh"})
        cache = os.environ.get("JICKET_TEST_PIP_CACHE")
        if cache:
            base["jicket_pip_cache_dir"] = cache
        base.update(self.extra_vars)
        return base

    def converge(self, label: str, *, more_vars: dict | None = None, inventories: tuple[Path, ...] = (),
                 vault_ids: tuple[tuple[str, Path], ...] = (), var_files: tuple[Path, ...] = (),
                 timeout: float = 1500) -> Run:
        self.logs.mkdir(parents=True, exist_ok=True)
        values = self.vars() | (more_vars or {})
        vars_file = self.logs / f"{label}.vars.json"
        vars_file.write_text(json.dumps(values, indent=2))
        vars_file.chmod(0o600)
        argv = [tool("ansible-playbook"), "-i", str(INVENTORY)]
        for inventory in inventories:
            argv += ["-i", str(inventory)]
        argv += ["--vault-id", f"example@{EXAMPLE_VAULT_PASSWORD}"]
        for vault_id, password_file in vault_ids:
            argv += ["--vault-id", f"{vault_id}@{password_file}"]
        argv += ["-e", f"@{vars_file}"]
        for var_file in var_files:
            argv += ["-e", f"@{var_file}"]
        argv.append(str(ANSIBLE_DIR / "site.yml"))
        log = self.logs / f"{label}.log"
        started = time.monotonic()
        result = run_logged(argv, log, timeout=timeout, cwd=ANSIBLE_DIR)
        text = log.read_text(errors="replace")
        recaps = [m.groupdict() for m in RECAP.finditer(text)]
        recap = {k: int(v) for k, v in recaps[-1].items() if k != "host"} if recaps else {}
        run = Run(result.returncode, log, time.monotonic() - started, recap)
        self.runs.append(run)
        return run

    def units(self) -> list[Path]:
        return sorted(self.unit_dir.glob("*.service")) + sorted(self.unit_dir.glob("*.target"))

    def as_service_user(self, argv: list[str], timeout: float = 180) -> subprocess.CompletedProcess:
        """Run a command as the service user (clean environment), output captured."""
        return subprocess.run(["runuser", "-u", SERVICE_USER, "--", *argv], cwd=str(self.airflow_home),
                              env=clean_env(HOME=str(self.prefix / "var" / "lib" / "jicket")), capture_output=True,
                              text=True, timeout=timeout, check=False)


def requirements_missing() -> str | None:
    if os.geteuid() != 0:
        return "converging the role needs root (it creates a service user and chowns files), as in CI"
    for path in (tool("ansible-playbook"), str(SYSTEM_PYTHON)):
        if not Path(path).exists():
            return f"{path} is missing (ansible: requirements-dev.txt; /usr/bin/python3: Debian's python3)"
    return None


class Scratch:
    """The session's scratch directory, readable by the service user."""

    def __init__(self) -> None:
        base = os.environ.get("JICKET_TEST_TMP")
        if base:
            Path(base).mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix="jicket-ansible-", dir=base or "/tmp"))
        self.root.chmod(0o755)
        shared = os.environ.get("JICKET_TEST_VENV")
        self.venv = Path(shared) if shared else self.root / "venv"
        self.keep = bool(os.environ.get("JICKET_TEST_KEEP"))
        # A snapshot of the project to deploy (jicket_source_dir): files edited while the tests run
        # must not make a converge report changes.
        self.source = self.root / "source"
        self.source.mkdir()
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")
        for name in SOURCE_DIRS:
            if (ROOT / name).is_dir():
                shutil.copytree(ROOT / name, self.source / name, ignore=ignore)
        for name in SOURCE_FILES:
            shutil.copy2(ROOT / name, self.source / name)

    def deployment(self, name: str, **extra_vars) -> Deployment:
        prefix = self.root / name
        prefix.mkdir(mode=0o755)
        prefix.chmod(0o755)
        extra_vars.setdefault("jicket_api_port", free_port())
        extra_vars.setdefault("jicket_source_dir", str(self.source))
        return Deployment(name=name, prefix=prefix, venv=self.venv, controller_dir=self.root / f"{name}-controller",
                          extra_vars=extra_vars)


def service_user_processes() -> list[str]:
    """Processes running as the service user (none may be left once a deployment is stopped)."""
    try:
        import pwd

        uid = pwd.getpwnam(SERVICE_USER).pw_uid
    except KeyError:
        return []
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != uid:
                continue
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        found.append(f"{proc.name} {cmdline}")
    return found


def remove_service_user() -> None:
    """Remove the session's service user and its group (best effort)."""
    if not OWN_SERVICE_USER:
        return
    subprocess.run(["userdel", SERVICE_USER], capture_output=True, check=False, timeout=60)
    subprocess.run(["groupdel", SERVICE_USER], capture_output=True, check=False, timeout=60)
