"""Failure mail to the operators (JICKET_ALERT_ADDRESS), through the SMTP provider's notifier."""

from __future__ import annotations

from functools import cached_property

from airflow.providers.smtp.notifications.smtp import SmtpNotifier

from jicket_ops.adapters.smtp import JicketSmtpHook
from jicket_ops.orchestration.runtime import airflow_lookup

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
    address = airflow_lookup("JICKET_ALERT_ADDRESS")
    if not address:
        return
    sender = airflow_lookup("JICKET_ALERT_FROM") or airflow_lookup("JICKET_TICKET_ADDRESS") or address
    notifier = JicketSmtpNotifier(
        to=address,
        from_email=sender,
        smtp_conn_id=airflow_lookup("JICKET_SMTP_CONN_ID") or "jicket_smtp",
        subject=SUBJECT,
        html_content=BODY,
        custom_headers={"Auto-Submitted": "auto-generated"},
    )
    notifier(context)
