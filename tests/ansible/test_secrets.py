"""Secrets in the role: never on a command line, and the example vaults' placeholders are refused.

The refusal is checked by running the role's own checks (``tasks_from: assert``) against the example
inventories: they are action plugins that run on the controller, so no host is contacted and each run
takes a few seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.ansible.helpers import ANSIBLE_DIR, EXAMPLE_VAULT_PASSWORD, TEST_SECRETS, clean_env, tool

ROLE = ANSIBLE_DIR / "roles" / "jicket"
INVENTORIES = {path.parent.name: path for path in (ANSIBLE_DIR / "inventory").glob("*/hosts.yml")}
# Variables holding secrets, or values built from them (a DSN or broker URL carries a password).
SECRET_REFERENCE = re.compile(r"password|secret|fernet|_dsn|broker_url|result_backend|vault_|jicket_connections\b",
                              re.I)
COMMAND_MODULES = {"ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw", "ansible.builtin.script",
                   "command", "shell", "raw", "script"}


def role_tasks() -> list[tuple[str, dict]]:
    """Every task of the role (blocks flattened, handlers included), with the file it is in."""
    found: list[tuple[str, dict]] = []

    def walk(items: list, where: str) -> None:
        for task in items or []:
            found.append((where, task))
            for key in ("block", "rescue", "always"):
                walk(task.get(key), where)

    for path in sorted((ROLE / "tasks").glob("*.yml")) + [ROLE / "handlers" / "main.yml"]:
        walk(yaml.safe_load(path.read_text()), path.name)
    return found


def test_role_tasks_are_found():
    names = [task.get("name", "") for _, task in role_tasks()]
    assert "Create the Airflow database role" in names and "Log in as the Airflow database role" in names


def test_no_secret_on_a_command_line():
    """No command's arguments (visible to every user in ps) or environment refer to a secret."""
    offenders = []
    for where, task in role_tasks():
        module = next((key for key in task if key in COMMAND_MODULES), None)
        if module is None:
            continue
        args = task[module]
        argv = json.dumps(args.get("argv", args.get("cmd", "")) if isinstance(args, dict) else args)
        environment = json.dumps(task.get("environment", {}))
        for label, text in (("arguments", argv), ("environment", environment)):
            if SECRET_REFERENCE.search(text):
                offenders.append(f"{where}: {task.get('name')}: {label} {text}")
    assert not offenders, "\n".join(offenders)


def test_no_password_variable_or_environment_in_the_role():
    """The old leaks stay gone: psql -v password=..., PGPASSWORD."""
    text = "\n".join(path.read_text() for path in ROLE.rglob("*") if path.is_file())
    assert not re.search(r"-v,?\s*\"?password=", text)
    assert "PGPASSWORD" not in text


def test_tasks_handling_secrets_have_no_log():
    """A task whose arguments carry a secret (stdin, content) hides them from the output."""
    missing = []
    for where, task in role_tasks():
        if "block" in task:
            continue
        body = {k: v for k, v in task.items() if k not in ("name", "when", "no_log", "register", "notify", "loop")}
        if re.search(r"password_(value|sql)|jwt_secret_value|secret_key_value|fernet_key_value", json.dumps(body)) \
                and task.get("no_log") is not True:
            missing.append(f"{where}: {task.get('name')}")
    assert not missing, missing


def run_role_checks(inventory: str, tmp_path: Path, extra_vars: dict | None = None) -> subprocess.CompletedProcess:
    """Run the role's variable checks (tasks/assert.yml) against an example inventory and its vault."""
    playbook = tmp_path / "checks.yml"
    playbook.write_text(yaml.safe_dump([{
        "name": "Only the role's checks",
        "hosts": "jicket_airflow:jicket_workers",
        "gather_facts": False,
        "tasks": [{"name": "Check", "ansible.builtin.include_role": {"name": "jicket", "tasks_from": "assert"}}],
    }]))
    argv = [tool("ansible-playbook"), "-i", str(INVENTORIES[inventory]), "--vault-id",
            f"example@{EXAMPLE_VAULT_PASSWORD}", str(playbook)]
    if extra_vars is not None:
        values = tmp_path / "vars.json"
        values.write_text(json.dumps(extra_vars))
        argv[1:1] = ["-e", f"@{values}"]
    env = clean_env(ANSIBLE_ROLES_PATH=str(ANSIBLE_DIR / "roles"))
    return subprocess.run(argv, cwd=ANSIBLE_DIR, env=env, capture_output=True, text=True, timeout=300,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module", autouse=True)
def ansible_installed():
    if not Path(tool("ansible-playbook")).exists():
        pytest.skip("ansible-core is not installed in .venv (requirements-dev.txt)")


def test_example_vault_placeholders_are_refused(tmp_path):
    result = run_role_checks("localhost", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "Refusing to deploy with these secrets" in output, output[-3000:]
    for name in ("jicket_connections.jicket_imap.password", "jicket_connections.jicket_smtp.password",
                 "jicket_connections.jicket_jira.password", "jicket_settings.JICKET_ID_SALT",
                 "jicket_api_users[admin].password"):
        assert f"{name} is an example placeholder" in output, (name, output[-3000:])
    assert "change-me-imap" not in output, "a secret value reached the output"


def test_celery_example_placeholders_are_refused(tmp_path):
    """Also the shared secrets, the Fernet key of the example and a password inside the broker URL."""
    result = run_role_checks("celery", tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    for name in ("jicket_jwt_secret", "jicket_api_secret_key", "jicket_fernet_key", "jicket_postgresql_password",
                 "jicket_celery_broker_url"):
        assert f"{name} is an example placeholder" in output, (name, output[-3000:])
    assert "bXVzdC1iZS0zMi1ieXRlcy1yZXBsYWNlLW1lLW5vdyE=" not in output and "change-me-redis" not in output


def test_real_secrets_pass_the_checks(tmp_path):
    result = run_role_checks("localhost", tmp_path, TEST_SECRETS)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def test_empty_required_secret_is_refused(tmp_path):
    result = run_role_checks("localhost", tmp_path, TEST_SECRETS | {"vault_jicket_jira_password": ""})
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert "jicket_connections.jicket_jira.password is empty" in output, output[-3000:]
    assert "jicket_connections.jicket_imap.password" not in output
