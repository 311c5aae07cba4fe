"""Every corpus mail through ``jicket-inspect`` (the DAG's parse/filter/route/render code, no servers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from jicket_ops.domain.parsing import parse_mail
from jicket_ops.inspect import inspect_mail, inspect_settings, main
from tests.corpus import generate
from tests.corpus.expectations import HERE, MAILS, MANIFEST, raw_of, text_problems, upload_problems
from tests.corpus.legacy_062 import crashes

ROOT = HERE.parent.parent


@pytest.fixture(scope="module")
def inspected(tmp_path_factory):
    filters = tmp_path_factory.mktemp("corpus") / "filters.json"
    filters.write_text(json.dumps(MANIFEST["filters"]))
    settings, _ = inspect_settings(environ={
        "JICKET_JIRA_PROJECT": MANIFEST["project"], "JICKET_TICKET_ADDRESS": MANIFEST["helpdesk"],
        "JICKET_FILTER_CONFIG": str(filters), "JICKET_ATTACHMENT_MAX_BYTES": str(MANIFEST["attachment_limit"]),
        "JICKET_MAIL_SECRET": MANIFEST["mail_secret"]})
    config = settings.load_filters()
    return {entry["file"]: inspect_mail(raw_of(entry), settings, config, entry["file"]) for entry in MAILS}


def test_corpus_is_big_and_reproducible():
    assert len(MAILS) >= 60
    corpus = generate.build()
    assert [e["file"] for e in corpus.entries] == [e["file"] for e in MAILS]
    for name, raw in corpus.files.items():
        assert (HERE / "mails" / name).read_bytes() == raw, f"{name} differs from the generator: regenerate"
    committed = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
    assert committed["mails"] == corpus.entries


@pytest.mark.parametrize("entry", MAILS, ids=[e["file"] for e in MAILS])
def test_inspect(entry, inspected):
    result = inspected[entry["file"]]
    assert "error" not in result
    assert result["route"] == entry["route"], result["reasons"]
    seed = MANIFEST["seeds"].get(entry["ticket"] or "")
    if seed and entry["route"] not in ("new", "own_mail"):
        if seed["ticket_id"]:
            assert result["ticket_id"] == f"JI-{seed['ticket_id']}", result["reasons"]
        else:
            assert result["issue_key"] == "HD-3", result["reasons"]
    assert bool(result["unreadable"]) == entry["unreadable"]
    if entry["jira"] is None:
        assert result["jira"] is None
        return
    text = result["jira"]["text"]
    assert result["jira"]["as"] == ("comment" if entry["route"] in ("reply", "auto_reply")
                                    or (entry["route"] == "bounce" and entry["ticket"]) else "issue")
    assert text_problems(entry, text) == []
    assert upload_problems(entry, [a for a in result["attachments"] if a["uploaded"]], in_jira=False) == []
    skipped = {a["filename"] for a in result["attachments"] if not a["uploaded"]}
    assert set(entry["skipped"]) <= skipped
    notes = " | ".join(result["notes"] + result["defects"])
    for note in entry["notes"]:
        assert note in notes
    assert len(text) < 32_767
    assert text.count("{anchor:jicket-mail-") == 1 + text.count("\\{anchor:jicket-mail-")


def test_the_062_style_parser_crashed_on_a_quarter_now_none_do():
    raws = [raw_of(entry) for entry in MAILS]
    crashed = [e["file"] for e, raw in zip(MAILS, raws, strict=True) if crashes(raw)]
    assert len(crashed) >= 20, crashed
    for raw in raws:
        parse_mail(raw)


def test_parser_survives_truncated_and_mangled_corpus_mails():
    for entry in MAILS:
        raw = raw_of(entry)
        for cut in (1, len(raw) // 3, len(raw) // 2, len(raw) - 7):
            parse_mail(raw[:cut])
        mangled = bytearray(raw)
        for i in range(0, len(mangled), 97):
            mangled[i] = (mangled[i] * 31 + 7) % 256
        parse_mail(bytes(mangled))


def test_cli_prints_one_object_per_file_and_imports_no_airflow(tmp_path):
    files = [str(HERE / "mails" / e["file"]) for e in MAILS]
    code = ("import sys, runpy; sys.argv = ['jicket-inspect', *sys.argv[1:]]\n"
            "try:\n    runpy.run_module('jicket_ops.inspect', run_name='__main__')\n"
            "except SystemExit as exit:\n"
            "    assert not [m for m in sys.modules if m.split('.')[0] == 'airflow'], 'airflow imported'\n"
            "    raise\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JICKET_", "AIRFLOW_VAR_JICKET"))}
    result = subprocess.run([sys.executable, "-c", code, *files, str(tmp_path / "missing.eml")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == len(files) + 1
    assert lines[-1]["error"].startswith("cannot read")
    assert result.returncode == 1, result.stderr[-2000:]
    assert "JICKET_JIRA_PROJECT is not set" in result.stderr
    assert all("route" in line for line in lines[:-1])


def test_console_script_is_installed_and_inspects(tmp_path):
    """`jicket-inspect` as scripts/setup-venv.sh installs it (pyproject's [project.scripts])."""
    script = Path(sys.executable).with_name("jicket-inspect")
    assert script.exists(), f"{script} is missing: scripts/setup-venv.sh installs the project"
    entry = MAILS[0]
    result = subprocess.run([str(script), str(HERE / "mails" / entry["file"]), "--project", "HD",
                             "--ticket-address", "help@example.test"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout)["subject"] == "Drucker druckt nicht"


def test_main_exit_zero_when_every_file_was_inspected(capsys):
    entry = MAILS[0]
    assert main([str(HERE / "mails" / entry["file"]), "--project", "HD", "--ticket-address", "help@example.test",
                 "--indent", "1"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["subject"] == "Drucker druckt nicht" and out["jira"]["as"] == "issue"
