"""Corpus expectations, shared by the inspector tests and the DAG runs into the Jira stand-in."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from jicket_ops.domain.attachments import is_variant_of

HERE = Path(__file__).resolve().parent
MANIFEST = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))
MAILS = MANIFEST["mails"]


def raw_of(entry: dict) -> bytes:
    return (HERE / "mails" / entry["file"]).read_bytes()


def text_problems(entry: dict, text: str) -> list[str]:
    problems = [f"missing {want!r}" for want in entry["contains"] if want not in text]
    problems += [f"should not contain {unwanted!r}" for unwanted in entry["absent"] if unwanted in text]
    return problems


def upload_problems(entry: dict, uploaded: list[dict], *, in_jira: bool) -> list[str]:
    """``uploaded``: [{"filename", "size", "sha256"?}] in upload order (the text's attachment list)."""
    wanted = entry["attachments"]
    if len(uploaded) != len(wanted):
        return [f"expected {len(wanted)} uploads, got {[u['filename'] for u in uploaded]}"]
    problems = []
    for want, got in zip(wanted, uploaded, strict=True):
        name = want.get("stored_as", want["name"]) if in_jira else want["name"]
        if not (got["filename"] == name or is_variant_of(got["filename"], want["name"])):
            problems.append(f"upload named {got['filename']!r}, expected {name!r}")
        if want.get("original"):
            size = len(raw_of(entry))
            if got["size"] != size:
                problems.append(f"original .eml has {got['size']} bytes, the mail {size}")
        elif "size" in want and got["size"] != want["size"]:
            problems.append(f"{got['filename']}: {got['size']} bytes, expected {want['size']}")
        if "sha256" in want and got.get("sha256") and got["sha256"] != want["sha256"]:
            problems.append(f"{got['filename']}: content differs")
    return problems


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
