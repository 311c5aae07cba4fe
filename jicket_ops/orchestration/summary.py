"""The last task of a run: one summary of what every stage did, and the run's verdict."""

from __future__ import annotations

import logging

from jicket_ops.domain.write_plan import WriteOutcome
from jicket_ops.orchestration.tasks import STAGES, TaskId

log = logging.getLogger("jicket")

FAILED_STATES = {"failed", "upstream_failed"}


def build_summary(outputs: dict[str, dict | None], states: dict[str, str]) -> dict:
    """Counts per outcome from the stages' XCom values (pure)."""
    fetched = outputs.get(TaskId.FETCH) or {}
    filtered = outputs.get(TaskId.FILTER_MAILS) or {}
    routed = outputs.get(TaskId.ROUTE) or {}
    written = outputs.get(TaskId.WRITE_TO_JIRA) or {}
    confirmed = outputs.get(TaskId.CONFIRM) or {}
    moved = outputs.get(TaskId.MOVE) or {}
    results = written.get("results") or []
    outcomes = [WriteOutcome(r["action"]) for r in results]
    request = fetched.get("request") or {}
    # A rescan hands on only the mails Jira lacks; those it found present were fetched and checked all the same.
    rescan = fetched.get("rescan") or {}
    present = int(rescan.get("present") or 0)
    summary = {
        "mode": request.get("mode", "inbox"),
        "dry_run": bool(request.get("dry_run", False)),
        "fetched": len(fetched.get("mails") or []) + present,
        "new": outcomes.count(WriteOutcome.CREATED),
        "replies": outcomes.count(WriteOutcome.COMMENTED),
        "already_in_jira": present + sum(1 for o in outcomes if o in (
            WriteOutcome.ALREADY_CREATED, WriteOutcome.ALREADY_COMMENTED, WriteOutcome.PRESENT)),
        "would_write": sum(1 for o in outcomes if o.value.startswith("would_")),
        "encrypted": sum(1 for r in results if r.get("encrypted")),
        "failed": len(written.get("failed") or {}) + len(confirmed.get("failed") or {}),
        "filtered": len(filtered.get("filtered") or []),
        "own_mail": len(routed.get("own_mail") or []),
        "confirmations": len(confirmed.get("sent") or []),
        "moved": len(moved.get("moved") or []),
        "quarantined": len(moved.get("quarantined") or []),
        "tickets": sorted({r["issue_key"] for r in results if r["issue_key"]}
                          | set(rescan.get("present_issues") or [])),
        "ticket_ids": sorted({r["ticket_id"] for r in results if r.get("ticket_id")}),
        "failed_stages": sorted(stage for stage, state in states.items() if state in FAILED_STATES),
    }
    # Rate limits: new tickets quarantined (JICKET_LIMIT_NEW_PER_HOUR), confirmations withheld (loop protection).
    limited = len(written.get("rate_limited") or [])
    withheld = len(confirmed.get("rate_limited") or [])
    if limited or withheld:
        summary.update(rate_limited=limited, confirmations_withheld=withheld)
    if rescan:
        summary["rescan"] = {key: rescan.get(key) for key in (
            "total", "checked", "present", "missing", "skipped", "batches", "complete", "next_uid")}
        summary["rescan"]["folder"] = fetched.get("folder")
    return summary


def summary_line(summary: dict) -> str:
    """The summary as one line an operator reads at a glance in the XCom tab (pure)."""
    counts = ", ".join(f"{label} {summary[key]}" for key, label in (
        ("fetched", "fetched"), ("new", "new"), ("replies", "replies"), ("already_in_jira", "already in Jira"),
        ("would_write", "would write"), ("filtered", "filtered"), ("own_mail", "own mail"),
        ("confirmations", "confirmations"), ("moved", "moved"), ("quarantined", "quarantined"),
        ("failed", "failed")))
    line = f"{'dry run' if summary['dry_run'] else 'run'} ({summary['mode']}): {counts}"
    if summary.get("encrypted"):
        line += f"; {summary['encrypted']} encrypted mail(s) imported unread, with the original attached"
    if summary.get("rate_limited"):
        line += (f"; RATE LIMITED: {summary['rate_limited']} new ticket(s) quarantined "
                 "(JICKET_LIMIT_NEW_PER_HOUR)")
    if summary.get("confirmations_withheld"):
        line += (f"; {summary['confirmations_withheld']} confirmation(s) withheld "
                 "(JICKET_LIMIT_CONFIRMATIONS_PER_HOUR)")
    if summary.get("rescan"):
        line += "; rescan " + rescan_line(summary["rescan"], summary["rescan"].get("folder") or "the folder")
    if summary["tickets"]:
        line += "; issues " + ", ".join(summary["tickets"])
    if summary["failed_stages"]:
        line += "; FAILED stages " + ", ".join(summary["failed_stages"])
    return line


def rescan_line(report: dict, folder: str) -> str:
    """How far a rescan got, in words (pure): a rescan's report from fetch, for the summary line."""
    line = (f"checked {report['checked']} of {report['total']} mail(s) in {folder} ({report['batches']} batch(es)): "
            f"{report['present']} in Jira, {report['missing']} missing, {report['skipped']} skipped")
    if report["complete"]:
        return line + ", complete"
    return line + f"; incomplete: the next rescan goes on at UID {report['next_uid']}"


def summarize_run(context) -> dict:
    from airflow.sdk.exceptions import AirflowException

    ti = context["ti"]
    outputs = {stage: ti.xcom_pull(task_ids=stage.value) for stage in STAGES}
    states: dict[str, str] = {}
    try:
        by_run = ti.get_task_states(dag_id=ti.dag_id, task_ids=[stage.value for stage in STAGES], run_ids=[ti.run_id])
        states = {task: str(state) for task, state in (by_run.get(ti.run_id) or {}).items()}
    except Exception as exc:  # noqa: BLE001 - fall back to "a stage without output failed"
        log.warning("cannot read task states (%s); judging stages by their output", exc)
        states = {stage: ("success" if outputs[stage] is not None else "failed") for stage in STAGES}
    summary = build_summary(outputs, states)
    log.info("run summary: %s", summary)
    # Beside the return value (a JSON object the XCom tab shows folded): the same as one readable line.
    ti.xcom_push(key="summary", value=summary_line(summary))
    emit_metrics(summary)
    if summary.get("rate_limited") and not summary["dry_run"]:
        from jicket_ops.orchestration.alerts import send_rate_limit_alert

        try:
            send_rate_limit_alert(context, summary_line(summary))
        except Exception as exc:  # noqa: BLE001 - the run's verdict does not depend on the alert mail
            log.warning("cannot mail the rate-limit alert: %s", exc)
    if summary["failed_stages"]:
        raise AirflowException(f"stages failed: {', '.join(summary['failed_stages'])}; summary: {summary}")
    return summary


def emit_metrics(summary: dict) -> None:
    """Counters through Airflow's metrics (StatsD or OpenTelemetry, as configured in [metrics])."""
    from airflow.sdk.observability.stats import Stats

    if summary["dry_run"]:
        return
    Stats.incr("jicket.mails.imported", count=summary["new"] + summary["replies"])
    Stats.incr("jicket.mails.new", count=summary["new"])
    Stats.incr("jicket.mails.replies", count=summary["replies"])
    Stats.incr("jicket.mails.filtered", count=summary["filtered"])
    Stats.incr("jicket.mails.failed", count=summary["failed"])
    Stats.incr("jicket.confirmations.sent", count=summary["confirmations"])
    Stats.incr("jicket.mails.rate_limited", count=summary.get("rate_limited", 0))
    Stats.incr("jicket.confirmations.withheld", count=summary.get("confirmations_withheld", 0))
    Stats.gauge("jicket.run.fetched", summary["fetched"])
