"""
### Jicket: an IMAP mailbox as a Jira service desk

Each run reads the helpdesk inbox and, for every mail, exactly once:

1. **fetch**: lists waiting mails (oldest first, at most `JICKET_MAX_MAILS_PER_RUN`) with their headers.
2. **filter**: applies the black/whitelist of `JICKET_FILTER_CONFIG`; dropped mails are marked done.
3. **route**: a `[#JI-XXXXXX]` tag, an `X-Jicket-HashID` header or a thread reference makes a mail a
   reply; anything else opens a new ticket; Jicket's own confirmations are recognised and skipped.
4. **write_to_jira**: one issue per new ticket in `JICKET_JIRA_PROJECT`, one comment per reply.
5. **confirm**: one confirmation per new ticket, from `JICKET_THREAD_TEMPLATE`, to the customer and
   `JICKET_TICKET_ADDRESS`, so staff can answer with reply-all.
6. **move**: mails that are done go to `JICKET_FOLDER_SUCCESS`.
7. **summarize**: counts per outcome; fails the run if any stage failed.

Progress lives on the mails (IMAP keywords `$JicketImported`, `$JicketConfirming`, `$JicketDone`,
`$JicketFiltered`) and in Jira (a marker on every issue and comment), never in Airflow: wiping the
metadata DB, retrying a task or re-running a day never duplicates an issue, comment or confirmation,
and no mail leaves the inbox before Jira has it.

Connections: `jicket_imap`, `jicket_smtp`, `jicket_jira` (ids configurable with `JICKET_*_CONN_ID`;
jicket 0.6.2's `JICKET_IMAP_HOST` ... variables work as a fallback). Settings: Airflow Variables or
environment variables named as in jicket 0.6.2. Schedule: `JICKET_LOOPMODE` (dynamic, interval,
singleshot) and `JICKET_LOOPTIME` (seconds), read when the file is parsed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import DeltaDataIntervalTimetable, DeltaTriggerTimetable, TriggerRule, dag, get_current_context, task

from jicket_ops.config import environment_lookup, load_schedule, load_task_policy

SCHEDULE = load_schedule(environment_lookup())
POLICY = load_task_policy(environment_lookup())

if SCHEDULE.loop_mode == "interval":
    schedule: object = DeltaTriggerTimetable(SCHEDULE.loop_time)  # fixed cadence on the wall clock
elif SCHEDULE.loop_mode == "dynamic":
    schedule = DeltaDataIntervalTimetable(SCHEDULE.loop_time)  # the next run follows the last one's interval
else:
    schedule = None  # singleshot: only when triggered

SERVER_TASK = {
    "retries": POLICY.retries,
    "retry_delay": POLICY.retry_delay,
    "retry_exponential_backoff": 2.0,
    "max_retry_delay": timedelta(minutes=10),
    "execution_timeout": timedelta(minutes=30),
}


def _stage(name: str, body):
    """Run one stage; a configuration error fails at once (retrying cannot fix it)."""
    from airflow.sdk.exceptions import AirflowFailException

    from jicket_ops.errors import ConfigError
    from jicket_ops.runtime import task_settings

    try:
        return body(task_settings())
    except ConfigError as exc:
        raise AirflowFailException(f"{name}: configuration error: {exc}") from exc


@dag(
    dag_id="jicket",
    schedule=schedule,
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,  # two runs on one inbox would race for the same mails
    doc_md=__doc__,
    tags=["jicket", "helpdesk"],
    default_args={"owner": "jicket"},
)
def jicket():
    @task(**SERVER_TASK)
    def fetch() -> dict:
        """List the mails waiting in the inbox (UID, UIDVALIDITY, routing headers; no bodies)."""
        from jicket_ops import pipeline
        from jicket_ops.mailbox import Mailbox

        def body(settings):
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.fetch(settings, mailbox)

        return _stage("fetch", body)

    @task(**SERVER_TASK)
    def filter_mails(fetched: dict) -> dict:
        """Apply JICKET_FILTER_CONFIG; blacklisted mails are marked $JicketFiltered and $JicketDone."""
        from jicket_ops import pipeline
        from jicket_ops.mailbox import Mailbox

        def body(settings):
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.filter_mails(settings, mailbox, fetched)

        return _stage("filter", body)

    @task(**SERVER_TASK)
    def route(filtered: dict) -> dict:
        """Decide new ticket, reply, or Jicket's own mail; own mails are marked $JicketDone."""
        from jicket_ops import pipeline
        from jicket_ops.mailbox import Mailbox

        def body(settings):
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.route(settings, mailbox, filtered)

        return _stage("route", body)

    @task(**SERVER_TASK)
    def write_to_jira(routed: dict, fetched: dict) -> dict:
        """Create one issue per new ticket and one comment per reply, exactly once; mark $JicketImported."""
        from jicket_ops import pipeline
        from jicket_ops.jira_writer import JiraWriter
        from jicket_ops.mailbox import Mailbox

        sizes = {m["uid"]: m["size"] for m in fetched["mails"]}

        def body(settings):
            jira = JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type)
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.write_to_jira(settings, mailbox, jira, routed, sizes)

        return _stage("write_to_jira", body)

    @task(trigger_rule=TriggerRule.ALL_DONE, **SERVER_TASK)
    def confirm() -> dict:
        """Send the confirmation of every imported new ticket not yet confirmed (from any run)."""
        from jicket_ops import pipeline
        from jicket_ops.jira_writer import JiraWriter
        from jicket_ops.mailbox import Mailbox
        from jicket_ops.mailer import Mailer

        def body(settings):
            jira = JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type)
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.confirm(settings, mailbox, jira, lambda: Mailer(settings.smtp_conn_id))

        return _stage("confirm", body)

    @task(trigger_rule=TriggerRule.ALL_DONE, **SERVER_TASK)
    def move() -> dict:
        """Move every mail marked $JicketDone to JICKET_FOLDER_SUCCESS."""
        from jicket_ops import pipeline
        from jicket_ops.mailbox import Mailbox

        def body(settings):
            with Mailbox(settings.imap_conn_id) as mailbox:
                return pipeline.move(settings, mailbox)

        return _stage("move", body)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def summarize() -> dict:
        """Log what this run did; fail the run when any stage failed, so the UI shows it."""
        from jicket_ops.summary import summarize_run

        return summarize_run(get_current_context())

    fetched = fetch()
    routed = route(filter_mails(fetched))
    written = write_to_jira(routed, fetched)
    confirmed = confirm()
    moved = move()
    written >> confirmed >> moved >> summarize()


DAG = jicket()
