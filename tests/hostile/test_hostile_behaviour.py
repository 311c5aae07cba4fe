"""Every hostile mail through what Jicket does with a mail: parse, route, Jira text, answer policy and the
confirmation, with the budget per mail. Run in a child process, so a mail that exhausted the stack or the
memory would show as a crash of that process (and the figures are the process's own)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from jicket_ops.domain.limits import JIRA_TEXT_FIELD, SUMMARY_LIMIT
from tests.hostile import generate
from tests.support import ROOT

HELPDESK = generate.HELPDESK

RUNNER = r"""
import json, sys, time
from jicket_ops.domain.answer_policy import answer_verdict
from jicket_ops.domain.content import ContentOptions, mail_content
from jicket_ops.domain.parsing import parse_mail
from jicket_ops.domain.rendering import (ThreadTemplate, confirmation_mail, issue_description, issue_summary,
                                         markers_in, recipients)
from jicket_ops.domain.routing import route_mail
from jicket_ops.domain.ticket_ids import TicketIdScheme
from tests.hostile import generate

ids = TicketIdScheme()
template = ThreadTemplate.load(open(sys.argv[1], encoding="utf-8").read())
for entry in generate.load_manifest():
    raw = generate.build(entry["id"])
    started = time.perf_counter()
    mail = parse_mail(raw)
    headers = mail.headers
    decision = route_mail(headers, uid=1, uidvalidity=1, ids=ids, ticket_address=sys.argv[2], project="HD")
    content = mail_content(mail, options=ContentOptions(), as_comment=False, kind=decision.kind)
    text = issue_description(headers, content.body, content.notes, attachments=content.upload_names,
                             kind=decision.kind)
    summary = issue_summary(ids, decision.fallback_ticket_id, headers.subject)
    verdict = answer_verdict(headers, sys.argv[2])
    out = {"id": entry["id"], "answer": verdict.answer, "text_len": len(text), "summary": summary,
           "markers": sorted(markers_in(text)), "own_marker": "{anchor:jicket-mail-" + headers.mail_key() + "}",
           "text": text[:4000], "names": list(content.upload_names), "key": headers.mail_key(),
           "degraded": any(u.original_name == "original-message.eml" for u in content.uploads)
           or any(s.filename == "original-message.eml" for s in content.skipped)}
    message = confirmation_mail(headers=headers, ids=ids, ticket_id=decision.fallback_ticket_id,
                                ticket_address=sys.argv[2], template=template, issue_key="HD-1")
    out["confirmation_header"] = bytes(message).split(b"\n\n", 1)[0].decode("ascii", "replace")
    out["recipients"] = recipients(message)
    out["seconds"] = time.perf_counter() - started
    # VmHWM: this process's peak (ru_maxrss would carry over the pytest process it was forked from)
    status = open("/proc/self/status").read()
    out["rss_mb"] = int(status.split("VmHWM:")[1].split()[0]) / 1024
    print(json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def outcomes() -> dict[str, dict]:
    """What Jicket makes of every corpus mail, from one child process (id -> outcome)."""
    template = ROOT / "include" / "templates" / "confirmation.html.j2"
    result = subprocess.run([sys.executable, "-c", RUNNER, str(template), HELPDESK], capture_output=True,
                            text=True, timeout=900, cwd=ROOT)
    assert result.returncode == 0, f"the child crashed ({result.returncode}): {result.stderr[-3000:]}"
    rows = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    manifest = generate.load_manifest()
    assert len(rows) == len(manifest), "every mail was handled: no crash, no hang"
    return {row["id"]: row for row in rows}


def entries(cls: str | None = None, key: str | None = None) -> list[dict]:
    return [e for e in generate.load_manifest()
            if (cls is None or e["class"] == cls) and (key is None or key in e["expect"])]


HANG_SECONDS = 60  # no mail may take anywhere near this; the times themselves are figures, not a timed test


def test_no_mail_crashes_hangs_or_overruns_jiras_limits(outcomes):
    for entry in generate.load_manifest():
        row = outcomes[entry["id"]]
        assert row["seconds"] < HANG_SECONDS, (entry["id"], row["seconds"])
        assert row["text_len"] <= JIRA_TEXT_FIELD, (entry["id"], row["text_len"])
        assert len(row["summary"]) <= SUMMARY_LIMIT
    worst = max(outcomes.values(), key=lambda r: r["rss_mb"])
    assert worst["rss_mb"] <= max(e["expect"].get("max_rss_mb", 0) for e in entries("cost")), worst["id"]


@pytest.mark.parametrize("entry", entries(key="header_injection_probe"), ids=lambda e: e["id"])
def test_no_line_break_from_a_mail_reaches_a_header(outcomes, entry):
    row = outcomes[entry["id"]]
    header = row["confirmation_header"].replace("\r\n", "\n")
    names = {line.split(":", 1)[0].lower() for line in header.split("\n") if line and not line[0].isspace()}
    probe = entry["expect"]["header_injection_probe"]
    if probe:
        assert probe.lower() not in names, header
    assert "\x00" not in header and "\r" not in header.replace("\r\n", "")
    if entry["expect"].get("victim"):
        assert entry["expect"]["victim"].lower() not in [r.lower() for r in row["recipients"]]


@pytest.mark.parametrize("entry", entries("recipient_amplification"), ids=lambda e: e["id"])
def test_a_confirmation_goes_to_few_recipients_never_a_foreign_reply_to(outcomes, entry):
    row = outcomes[entry["id"]]
    assert len(row["recipients"]) <= entry["expect"]["max_confirmation_recipients"], row["recipients"]
    if entry["expect"].get("victim"):
        assert entry["expect"]["victim"].lower() not in [r.lower() for r in row["recipients"]]


@pytest.mark.parametrize("entry", entries(key="answer"), ids=lambda e: e["id"])
def test_machine_mail_is_never_answered_and_people_are(outcomes, entry):
    assert outcomes[entry["id"]]["answer"] is entry["expect"]["answer"]


@pytest.mark.parametrize("entry", entries("wiki_injection"), ids=lambda e: e["id"])
def test_mail_text_cannot_take_effect_as_jira_markup(outcomes, entry):
    row = outcomes[entry["id"]]
    probe, effect = entry["expect"]["wiki_probe"], entry["expect"]["effect"]
    assert row["markers"] == [row["own_marker"]], "only Jicket's own marker is recognised"
    text = row["text"]
    if effect == "remote_image":
        assert not any(line.lstrip().startswith("!http") or " !http" in line for line in text.split("\n")), text
        assert "!https://" not in text.replace("\\!https://", "")
    elif effect in ("macro", "mention"):
        assert probe not in text or "\\" + probe[0] in text or "{noformat}" in text, text
    elif effect == "javascript_link":
        assert "javascript:" not in text.lower()


@pytest.mark.parametrize("entry", entries(key="forbidden_codepoints"), ids=lambda e: e["id"])
def test_no_invisible_or_direction_changing_character_survives(outcomes, entry):
    row = outcomes[entry["id"]]
    for ch in entry["expect"]["forbidden_codepoints"]:
        assert all(ch not in name for name in row["names"]), (row["names"], ascii(ch))
        assert ch not in row["summary"], ascii(row["summary"])


def test_every_mail_has_its_own_key_even_when_no_header_is_readable(outcomes):
    for entry in entries(key="distinct_from"):
        for other in entry["expect"]["distinct_from"]:
            assert outcomes[entry["id"]]["key"] != outcomes[other]["key"], (entry["id"], other)


@pytest.mark.parametrize("entry", [e for e in entries(key="import") if e["expect"]["import"] == "degraded"],
                         ids=lambda e: e["id"])
def test_a_mail_beyond_the_caps_is_imported_degraded_with_its_original(outcomes, entry):
    assert outcomes[entry["id"]]["degraded"], outcomes[entry["id"]]["text"][:500]


def test_figures(outcomes, capsys):
    """Prints the worst time and memory per mail (README "Reliability")."""
    worst = max(outcomes.values(), key=lambda r: r["seconds"])
    figures = {"mails": len(outcomes), "classes": len({e["class"] for e in generate.load_manifest()}),
               "worst_seconds": round(worst["seconds"], 2), "worst_mail": worst["id"],
               "peak_rss_mb": round(max(r["rss_mb"] for r in outcomes.values()), 1)}
    with capsys.disabled():
        print("\nhostile corpus:", json.dumps(figures))
    assert figures["mails"] >= 60

