"""``jicket-inspect FILE.eml...``: what the pipeline would do with each mail, as JSON; touches no server.

One JSON object per file (one per line; ``--indent`` for humans): subject, sender, Message-ID, the
route (new, reply, own_mail, filtered, auto_reply, bounce) with the reasons, the ticket id it
refers to, the text Jira would get and the attachments. It runs the DAG's own code (``parse_mail``,
the filter rules, ``route_mail``, ``content.mail_content``, ``rendering``) and imports no Airflow.
A new ticket's id depends on the mail's place in the mailbox, so it is shown as null; a reply is
shown as it would be written if Jira has its ticket.

Settings come from the environment as for the DAG (``JICKET_JIRA_PROJECT``, ``JICKET_TICKET_ADDRESS``,
``JICKET_FILTER_CONFIG``, ``JICKET_ATTACHMENT_MAX_BYTES``, ``JICKET_REPLY_*`` ...); options override
them, and missing required ones get placeholders. Exit status 0 when every file was inspected,
whatever the mails contain; 1 when a file could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from jicket_ops.domain import filters as filter_rules
from jicket_ops.domain.content import ContentOptions, mail_content
from jicket_ops.domain.parsing import parse_mail
from jicket_ops.domain.rendering import comment_body, issue_description, issue_summary
from jicket_ops.domain.routing import Route, resolve_bounce, route_mail
from jicket_ops.domain.settings import Settings, environment_lookup, load_settings, mail_secret
from jicket_ops.errors import ConfigError

PLACEHOLDER_PROJECT = "HD"
PLACEHOLDER_ADDRESS = "helpdesk@example.invalid"
MAX_FILE_BYTES = 200 * 1024 * 1024


def inspect_settings(project: str | None = None, ticket_address: str | None = None, filter_config: str | None = None,
                     environ: Mapping[str, str] | None = None) -> tuple[Settings, list[str]]:
    """The settings the DAG would use, with options applied; placeholders (and warnings) for missing ones."""
    env = dict(os.environ if environ is None else environ)
    if project:
        env["JICKET_JIRA_PROJECT"] = project
    if ticket_address:
        env["JICKET_TICKET_ADDRESS"] = ticket_address
    if filter_config:
        env["JICKET_FILTER_CONFIG"] = filter_config
    warnings: list[str] = []
    for name, placeholder in (("JICKET_JIRA_PROJECT", PLACEHOLDER_PROJECT),
                              ("JICKET_TICKET_ADDRESS", PLACEHOLDER_ADDRESS)):
        if not (env.get(name) or env.get(f"AIRFLOW_VAR_{name}") or "").strip():
            env[name] = placeholder
            warnings.append(f"{name} is not set; using {placeholder!r}")
    default_template = Path.cwd() / "include" / "templates" / "confirmation.html.j2"  # no mail is sent
    settings = load_settings(environment_lookup(env), default_template, require_template=False)
    # The DAG derives the key from the IMAP connection's password when JICKET_MAIL_SECRET is unset.
    key, _ = mail_secret(environment_lookup(env), settings, env.get("JICKET_IMAP_PASS"))
    return replace(settings, mail_secret=key), warnings


def inspect_mail(raw: bytes, settings: Settings, filters: filter_rules.FilterConfig, name: str = "") -> dict:
    """What the pipeline would do with one mail (pure)."""
    mail = parse_mail(raw)
    headers = mail.headers
    verdict = filter_rules.evaluate(filters, headers.from_address, headers.subject)
    decision = route_mail(headers, uid=1, uidvalidity=1, ids=settings.ids, ticket_address=settings.ticket_address,
                          project=settings.jira_project, secret=settings.mail_secret)
    reasons = list(decision.reasons)
    decision = resolve_bounce(decision, mail, settings.ids)
    reasons = list(decision.reasons)
    route = decision.route
    if verdict.filtered:
        route = Route.FILTERED
        reasons = list(verdict.reasons)
    elif verdict.reasons:
        reasons.extend(verdict.reasons)
    result: dict = {
        "file": name,
        "subject": headers.subject,
        "from": headers.from_display or headers.from_address or None,
        "to": list(headers.to),
        "cc": list(headers.cc),
        "date": headers.date,
        "message_id": headers.message_id,
        "mail_key": headers.mail_key(),
        "route": str(route),
        "reasons": reasons,
        "ticket_id": (settings.ids.prefixed(decision.ticket_id)
                      if decision.ticket_id and route is not Route.NEW else None),
        "issue_key": decision.issue_key,
        "unreadable": mail.unreadable,
        "defects": list(mail.defects),
    }
    if route in (Route.FILTERED, Route.OWN_MAIL):
        result.update({"jira": None, "notes": [], "attachments": [
            {"filename": a.filename, "content_type": a.content_type, "size": a.size, "inline": a.inline,
             "uploaded": False, "reason": f"the mail is not imported ({route})"} for a in mail.attachments]})
        return result
    as_comment = route is Route.REPLY or (route in (Route.AUTO_REPLY, Route.BOUNCE)
                                          and bool(decision.ticket_id or decision.issue_key))
    kind = decision.kind
    content = mail_content(mail, options=ContentOptions.from_settings(settings), as_comment=as_comment, kind=kind)
    render = comment_body if as_comment else issue_description
    text = render(headers, content.body, content.notes, attachments=content.upload_names, kind=kind)
    result["jira"] = {
        "as": "comment" if as_comment else "issue",
        "summary": None if as_comment else issue_summary(settings.ids, "…", headers.subject),
        "text": text,
        "quotes_cut": content.quotes_cut,
    }
    result["notes"] = list(content.notes)
    result["attachments"] = [
        {"filename": u.filename, "original_filename": u.original_name, "content_type": u.content_type,
         "size": u.size, "inline": u.inline, "uploaded": True} for u in content.uploads
    ] + [{"filename": s.filename, "size": s.size, "uploaded": False, "reason": s.reason} for s in content.skipped]
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="jicket-inspect", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", metavar="FILE.eml", help="mails as RFC 5322 files ('-' reads stdin)")
    parser.add_argument("--project", help="Jira project key (default: JICKET_JIRA_PROJECT)")
    parser.add_argument("--ticket-address", help="helpdesk address (default: JICKET_TICKET_ADDRESS)")
    parser.add_argument("--filter-config", help="filter JSON (default: JICKET_FILTER_CONFIG)")
    parser.add_argument("--indent", type=int, default=None, help="pretty-print with this indent")
    args = parser.parse_args(argv)
    try:
        settings, warnings = inspect_settings(args.project, args.ticket_address, args.filter_config)
        filters = settings.load_filters()
    except ConfigError as exc:
        print(f"jicket-inspect: configuration error: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"jicket-inspect: {warning}", file=sys.stderr)
    failed = 0
    for name in args.files:
        try:
            if name == "-":
                raw = sys.stdin.buffer.read(MAX_FILE_BYTES + 1)
            else:
                with Path(name).open("rb") as handle:
                    raw = handle.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                raise OSError(f"larger than {MAX_FILE_BYTES} bytes")
        except OSError as exc:
            failed += 1
            out = {"file": name, "error": f"cannot read: {exc}"}
        else:
            try:
                out = inspect_mail(raw, settings, filters, name)
            except Exception as exc:  # noqa: BLE001 - a bug must not hide the other files' results
                failed += 1
                out = {"file": name, "error": f"inspection failed: {type(exc).__name__}: {exc}"}
        print(json.dumps(out, ensure_ascii=False, indent=args.indent), flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
