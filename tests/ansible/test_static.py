"""The playbook parses, and ansible-lint's production profile passes (offline: no Galaxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.ansible.helpers import ANSIBLE_DIR, EXAMPLE_VAULT_PASSWORD, clean_env, tool

INVENTORIES = sorted((ANSIBLE_DIR / "inventory").glob("*/hosts.yml"))


def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ANSIBLE_DIR, env=clean_env(), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module", autouse=True)
def ansible_installed():
    if not Path(tool("ansible-playbook")).exists():
        pytest.skip("ansible-core is not installed in .venv (requirements-dev.txt)")


def test_inventories_exist():
    names = {path.parent.name for path in INVENTORIES}
    assert {"localhost", "celery"} <= names


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.parent.name)
def test_syntax_check(inventory):
    result = run([tool("ansible-playbook"), "--syntax-check", "-i", str(inventory),
                  "--vault-id", f"example@{EXAMPLE_VAULT_PASSWORD}", "site.yml"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize("inventory", INVENTORIES, ids=lambda p: p.parent.name)
def test_example_inventory_resolves(inventory):
    """The example group_vars decrypt with the example vault and give the role what it asserts on."""
    result = run([tool("ansible-inventory"), "-i", str(inventory), "--vault-id", f"example@{EXAMPLE_VAULT_PASSWORD}",
                  "--list", "--export"])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "jicket_airflow" in result.stdout


def test_ansible_lint_production_profile():
    lint = Path(tool("ansible-lint"))
    if not lint.exists():
        pytest.skip("ansible-lint is not installed in .venv (requirements-dev.txt)")
    result = run([str(lint), "--offline", "--profile", "production", "--nocolor"], timeout=600)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert "Profile 'production' was required, and it passed" in output, output[-3000:]
