"""The architecture rules of issue 13, as import-linter checks them (contracts in pyproject.toml), and the
package found as installed rather than through the repository root.

The negative cases run ``lint-imports`` on a copy of the package with one violating import added, so a contract
that stopped catching what it is meant to catch (a typo in a module name, external packages left out of the
graph) fails here, not only when the tree happens to break it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.support import ROOT

LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
IMPORTLINTER = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
CONTRACTS = [contract["name"] for contract in IMPORTLINTER["contracts"]]


def lint_imports(cwd: Path, path: Path) -> subprocess.CompletedProcess:
    """``lint-imports`` with the pyproject.toml in ``cwd``, importing ``jicket_ops`` from ``path``."""
    env = {**os.environ, "PYTHONPATH": str(path)}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache", "--no-logo"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_the_tree_keeps_every_contract():
    result = lint_imports(ROOT, ROOT)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in result.stdout
    assert len(CONTRACTS) >= 3


@pytest.mark.parametrize(("module", "line", "broken"), [
    ("domain/keywords.py", "import airflow.sdk", "jicket_ops.domain is not allowed to import airflow"),
    ("domain/settings.py", "from airflow.providers.imap.hooks.imap import ImapHook",
     "jicket_ops.domain is not allowed to import airflow"),
    ("domain/routing.py", "import imaplib", "jicket_ops.domain is not allowed to import imaplib"),
    ("domain/rendering.py", "import requests", "jicket_ops.domain is not allowed to import requests"),
    ("domain/tickets.py", "from jicket_ops.adapters import jira", "jicket_ops.domain is not allowed to import "
                                                                   "jicket_ops.adapters"),
    ("adapters/smtp.py", "from jicket_ops.stages import common", "jicket_ops.adapters is not allowed to import "
                                                                 "jicket_ops.stages"),
])
def test_a_violating_import_breaks_its_contract(tmp_path, module, line, broken):
    shutil.copytree(ROOT / "jicket_ops", tmp_path / "jicket_ops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "jicket_ops" / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{line}  # the violation under test\n")
    result = lint_imports(tmp_path, tmp_path)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert broken in result.stdout, result.stdout[-3000:]
    # the copy was analysed, not the installed tree: the report names the added line
    assert f"jicket_ops.{module[:-3].replace('/', '.')} ->" in result.stdout


PROBE = """
import json
from importlib.metadata import distribution

import jicket_ops
import jicket_ops.domain.routing

print(json.dumps({"package": jicket_ops.__file__, "module": jicket_ops.domain.routing.__file__,
                  "direct_url": json.loads(distribution("jicket-airflow").read_text("direct_url.json") or "{}")}))
"""


def test_jicket_ops_is_the_installed_editable_package_outside_the_repository():
    # From a folder that is not the repository and with no PYTHONPATH, only the installation can find it
    # (inside the repository the root's jicket_airflow.egg-info and the package folder would answer first).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", PROBE], cwd=Path(os.sep), env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found["direct_url"].get("dir_info", {}).get("editable") is True, found
    assert Path(found["direct_url"]["url"].removeprefix("file://")).resolve() == ROOT
    assert (found["package"], found["module"]) == (str(ROOT / "jicket_ops" / "__init__.py"),
                                                   str(ROOT / "jicket_ops" / "domain" / "routing.py"))
