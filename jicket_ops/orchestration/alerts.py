"""Failure mail to the operators (JICKET_ALERT_ADDRESS), through the SMTP provider's notifier."""

from __future__ import annotations

from functools import cached_property

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from jicket_ops.adapters.smtp import JicketSmtpHook
from jicket_ops.orchestration.connections import ensure_connections
from jicket_ops.orchestration.runtime import airflow_lookup, connection_exists

SUBJECT = "[jicket] {{ ti.task_id }} failed in {{ run_id }}"
BODY = (
    "<p>The Jicket task <b>{{ ti.task_id }}</b> of DAG <b>{{ ti.dag_id }}</b> failed for good "
    "(try {{ ti.try_number }}) in run <b>{{ run_id }}</b>.</p>"
    "<p>Error:</p><pre>{{ exception | string | e }}</pre>"
    "<p>Mails that failed stay in the inbox; the next run tries them again. The task log has the details.</p>"
)


class JicketSmtpNotifier(SmtpNotifier):
    """The provider's notifier over Jicket's SMTP hook (which honours the connection's ca_file)."""

    @cached_property
    def hook(self) -> JicketSmtpHook:
        return JicketSmtpHook(smtp_conn_id=self.smtp_conn_id, auth_type=self.auth_type)


def send_failure_alert(context) -> None:
    """Mail JICKET_ALERT_ADDRESS about a task that has finally failed."""
    _send_alert(context, SUBJECT, BODY)


def _send_alert(context, subject: str, body: str) -> None:
    """Mail JICKET_ALERT_ADDRESS (nothing when unset), from JICKET_ALERT_FROM or the helpdesk address."""
    address = airflow_lookup("JICKET_ALERT_ADDRESS")
    if not address:
        return
    sender = airflow_lookup("JICKET_ALERT_FROM") or airflow_lookup("JICKET_TICKET_ADDRESS") or address
    smtp_conn_id = airflow_lookup("JICKET_SMTP_CONN_ID") or "jicket_smtp"
    # A task defines only the connections it uses: the SMTP server may be known from 0.6.2's variables alone.
    ensure_connections(airflow_lookup, {"smtp": smtp_conn_id}, connection_exists)
    notifier = JicketSmtpNotifier(
        to=address,
        from_email=sender,
        smtp_conn_id=smtp_conn_id,
        subject=subject,
        html_content=body,
        custom_headers={"Auto-Submitted": "auto-generated"},
    )
    notifier(context)


RATE_LIMIT_SUBJECT = "[jicket] mail quarantined by the rate limit in {{ run_id }}"
RATE_LIMIT_BODY = (
    "<p>Run <b>{{ run_id }}</b> of DAG <b>{{ ti.dag_id }}</b> moved mail to the quarantine folder because a sender "
    "opened more new tickets per hour than <code>JICKET_LIMIT_NEW_PER_HOUR</code> allows. The run itself "
    "succeeded.</p><p>{{ jicket_summary_line | e }}</p>"
    "<p>To import such a mail after all, move it back to the inbox (and remove its <code>$Jicket*</code> "
    "keywords); the report mail beside it in the quarantine folder names the reason.</p>"
)


def send_rate_limit_alert(context, line: str) -> None:
    """Mail JICKET_ALERT_ADDRESS that a run quarantined mail for the new-ticket rate limit (nothing when unset)."""
    _send_alert({**context, "jicket_summary_line": line}, RATE_LIMIT_SUBJECT, RATE_LIMIT_BODY)
