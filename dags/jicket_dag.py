"""
### Jicket: an IMAP mailbox as a Jira service desk

Each run reads the helpdesk inbox and, for every mail, exactly once:

1. **fetch**: lists waiting mails (oldest first, at most `JICKET_MAX_MAILS_PER_RUN`) with their headers;
   when the inbox holds no mail at all the run ends here and the other tasks are skipped.
2. **filter**: applies the black/whitelist of `JICKET_FILTER_CONFIG`; dropped mails are marked done.
3. **route**: a `[#JI-XXXXXX]` tag, an `X-Jicket-HashID` header or a thread reference makes a mail a
   reply; anything else opens a new ticket; Jicket's own confirmations are recognised and skipped.
4. **write_to_jira**: one issue per new ticket in `JICKET_JIRA_PROJECT`, one comment per reply.
5. **confirm**: one confirmation per new ticket, from `JICKET_THREAD_TEMPLATE`, to the customer and
   `JICKET_TICKET_ADDRESS`, so staff can answer with reply-all.
6. **move**: mails that are done go to `JICKET_FOLDER_SUCCESS`, quarantined ones to `JICKET_FOLDER_QUARANTINE`.
7. **summarize**: counts per outcome; fails the run if any stage failed.

Progress lives on the mails and in Jira (a marker on every issue and comment), never in Airflow: IMAP
keywords (`$JicketCreating`, `$JicketImported`, `$JicketConfirming`, `$JicketDone`, `$JicketFiltered`,
`$JicketQuarantine`, `$JicketFailedN`) where the server stores them, else folders, `\\Seen`/`\\Answered` and
Jira's markers (`JICKET_IMAP_PROGRESS`; Microsoft Exchange has no keywords). Wiping the metadata DB,
retrying a task or re-running a day never duplicates an issue, comment or confirmation, and no mail
leaves the inbox before Jira has it.

Connections: `jicket_imap`, `jicket_smtp`, `jicket_jira` (ids configurable with `JICKET_*_CONN_ID`;
jicket 0.6.2's `JICKET_IMAP_HOST` ... variables work as a fallback). Settings: Airflow Variables or
environment variables named as in jicket 0.6.2. Schedule: `JICKET_LOOPMODE` (dynamic, interval,
singleshot) and `JICKET_LOOPTIME` (seconds), read when the file is parsed. With a mailbox list
(`JICKET_MAILBOXES_FILE` or `JICKET_MAILBOXES`) the file builds one DAG per mailbox, `jicket_<name>`.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

# `task` comes from the standard provider, which airflow.sdk imports lazily. Naming the module lets the DAG
# processor import it once, before it forks a parser per file ([dag_processor] parsing_pre_import_modules).
import airflow.providers.standard.decorators.python  # noqa: F401
from airflow.sdk import (
    DeltaDataIntervalTimetable,
    DeltaTriggerTimetable,
    Param,
    TriggerRule,
    dag,
    get_current_context,
    task,
)

from jicket_ops.domain.settings import Lookup, Schedule, TaskPolicy, environment_lookup, load_schedule, load_task_policy
from jicket_ops.orchestration.tasks import TaskId

# Several mailboxes (JICKET_MAILBOXES_FILE or JICKET_MAILBOXES, from the environment only: a parse does no
# database or network I/O) make one DAG each, jicket_<name>; without them, the single `jicket` DAG of 0.6.2's
# env.list, importing nothing more than before. An invalid list fails the parse with the mailbox and key named
# (an import error in the UI).
MAILBOXES: tuple = ()
if environment_lookup()("JICKET_MAILBOXES_FILE") or environment_lookup()("JICKET_MAILBOXES"):
    from jicket_ops.orchestration.mailbox_config import configured_mailboxes

    MAILBOXES = configured_mailboxes(environment_lookup())
# Operators' address for failure mails, read when the file is parsed (JICKET_ALERT_ADDRESS).
ALERTS = bool(environment_lookup()("JICKET_ALERT_ADDRESS"))


def _schedule(setting: Schedule) -> object:
    """The DAG's schedule for JICKET_LOOPMODE / JICKET_LOOPTIME / JICKET_IMAP_IDLE."""
    if setting.loop_mode == "interval":
        # fixed cadence; interval= gives each run a real data interval, which backfill (rescan) runs need
        schedule: object = DeltaTriggerTimetable(setting.loop_time, interval=setting.loop_time)
    elif setting.loop_mode == "dynamic":
        schedule = DeltaDataIntervalTimetable(setting.loop_time)  # the next run follows the last one's interval
    else:
        schedule = None  # singleshot: only when triggered
    if setting.imap_idle:  # event-driven as well: a run as soon as IMAP IDLE on the triggerer reports new mail
        from airflow.sdk import AssetOrTimeSchedule

        from jicket_ops.orchestration.idle_trigger import inbox_asset

        inbox = inbox_asset(setting.imap_conn_id, setting.folder_inbox)
        schedule = AssetOrTimeSchedule(timetable=schedule, assets=[inbox]) if schedule is not None else [inbox]
    return schedule


def _server_task(policy: TaskPolicy) -> dict:
    return {
        # One XCom per stage (return_value): a `-> dict` task would also push every key on its own,
        # doubling what is stored and crowding the XCom tab.
        "multiple_outputs": False,
        "retries": policy.retries,
        "retry_delay": policy.retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(minutes=30),
    }


# The deployment's mail templates live beside the DAG folder (include/templates), as in Astronomer's layout.
DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "include" / "templates" / "confirmation.html.j2"


def _run_stage(name: str, body, mailbox: str | None, connections: tuple[str, ...]):
    """Run one stage with the settings (of ``mailbox``, if several) and this run's request; configuration
    errors fail at once. ``connections``: the servers the stage talks to (the IMAP server always)."""
    from airflow.sdk.exceptions import AirflowFailException

    from jicket_ops.errors import ConfigError, MailProcessingError
    from jicket_ops.orchestration.runtime import task_request, task_settings

    try:
        settings = task_settings(DEFAULT_TEMPLATE, mailbox, connections)
        return body(settings, task_request(settings))
    except ConfigError as exc:
        raise AirflowFailException(f"{name}: configuration error: {exc}") from exc
    except MailProcessingError as exc:
        if exc.partial is not None:  # what the stage did with the other mails, for the tasks after it
            get_current_context()["ti"].xcom_push(key="return_value", value=exc.partial)
        raise


def _final_attempt() -> bool:
    """Whether this try is the task's last: only then does a mail's failure count towards quarantine."""
    ti = get_current_context()["ti"]
    return ti.try_number > ti.max_tries


def _alert_operator(context) -> None:
    """on_failure_callback: mail JICKET_ALERT_ADDRESS when a task has finally failed."""
    from jicket_ops.orchestration.alerts import send_failure_alert

    send_failure_alert(context)


PARAMS = {
    "mode": Param("inbox", enum=["inbox", "rescan"], title="Mode",
                  description="inbox: import waiting mails, confirm and move them (what the schedule does). "
                              "rescan: re-check every mail of a folder (the success folder by default) in the "
                              "time range against Jira and import only what Jira lacks; confirms and moves nothing."),
    "folder": Param("", type=["null", "string"], title="Folder",
                    description="IMAP folder to read instead of the mode's default, e.g. an archive. "
                                "Any folder other than the inbox implies rescan."),
    "since": Param("", type=["null", "string"], title="Received since",
                   description="Only mails received at or after this date (YYYY-MM-DD, UTC) or ISO date-time."),
    "before": Param("", type=["null", "string"], title="Received before",
                    description="Only mails received before this date (YYYY-MM-DD, UTC) or ISO date-time."),
    "dry_run": Param(False, type="boolean", title="Dry run",
                     description="Decide and log everything, write nothing anywhere: no Jira write, no mail, "
                                 "no keyword, no move."),
    "max_mails": Param(None, type=["null", "integer"], minimum=1, title="Max mails",
                       description="At most this many mails in this run (oldest first); "
                                   "default JICKET_MAX_MAILS_PER_RUN."),
}


def build_dag(dag_id: str, lookup: Lookup, mailbox: str | None = None):
    """The Jicket DAG ``dag_id`` with the schedule and retries of ``lookup``; its tasks serve ``mailbox``."""
    SERVER_TASK = _server_task(load_task_policy(lookup))  # noqa: N806 - read like the constant it was
    tags = ["jicket", "helpdesk"] + ([f"mailbox:{mailbox}"] if mailbox else [])

    def _stage(name: str, body, connections: tuple[str, ...] = ("imap",)):  # bound to this DAG's mailbox
        return _run_stage(name, body, mailbox, connections)

    @dag(
        dag_id=dag_id,
        schedule=_schedule(load_schedule(lookup)),
        start_date=datetime(2024, 1, 1),
        catchup=False,
        max_active_runs=1,  # two runs on one inbox would race for the same mails
        doc_md=__doc__,
        params=PARAMS,
        tags=tags,
        default_args={"owner": "jicket", **({"on_failure_callback": _alert_operator} if ALERTS else {})},
    )
    def jicket():
        @task.short_circuit(task_id=TaskId.FETCH.value, **SERVER_TASK)
        def fetch() -> dict | bool:
            """List the mails this run handles (UID, UIDVALIDITY, routing headers; no bodies).

            Inbox mode: mails in JICKET_FOLDER_INBOX not yet done. Rescan mode (backfill runs, `mode=rescan`,
            or another `folder`): every mail of the folder received in the interval. When the inbox holds no
            mail at all, the run ends here and every other task is skipped: an idle run costs one task.
            """
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.stages.fetch import fetch

            def body(settings, request):
                with Mailbox(settings.imap_conn_id) as mailbox:
                    return fetch(settings, mailbox, request)

            fetched = _stage("fetch", body, ("imap", "smtp", "jira"))  # the first task checks every connection
            return False if fetched.get("idle") else fetched

        @task(task_id=TaskId.FILTER_MAILS.value, **SERVER_TASK)
        def filter_mails(fetched: dict) -> dict:
            """Apply JICKET_FILTER_CONFIG; blacklisted mails are marked $JicketFiltered and $JicketDone."""
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.stages.filter_mails import filter_mails

            def body(settings, request):
                with Mailbox(settings.imap_conn_id) as mailbox:
                    return filter_mails(settings, mailbox, fetched)

            return _stage("filter", body)

        @task(task_id=TaskId.ROUTE.value, **SERVER_TASK)
        def route(filtered: dict) -> dict:
            """Decide new ticket, reply, or Jicket's own mail; own mails are marked $JicketDone."""
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.stages.route import route

            def body(settings, request):
                with Mailbox(settings.imap_conn_id) as mailbox:
                    return route(settings, mailbox, filtered)

            return _stage("route", body)

        @task(task_id=TaskId.WRITE_TO_JIRA.value, **SERVER_TASK)
        def write_to_jira(routed: dict, fetched: dict) -> dict:
            """Create one issue per new ticket and one comment per reply, exactly once; mark $JicketImported.

            In rescan mode only mails whose marker Jira lacks are written. Settings: JICKET_JIRA_PROJECT,
            JICKET_JIRA_ISSUETYPE, JICKET_JIRA_CONCURRENCY, connection jicket_jira.
            """
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.adapters.jsm import jira_writer
            from jicket_ops.domain.parsing import MailHeaders
            from jicket_ops.stages.write_to_jira import write_to_jira

            sizes = {m["uid"]: m["size"] for m in fetched["mails"]}
            headers = {m["uid"]: MailHeaders.from_dict(m["headers"]) for m in fetched["mails"]}

            def body(settings, request):
                jira = jira_writer(settings)  # a JsmWriter when the mailbox is a JSM service desk
                with Mailbox(settings.imap_conn_id) as mailbox:
                    return write_to_jira(settings, mailbox, jira, routed, sizes, headers, _final_attempt())

            return _stage("write_to_jira", body, ("imap", "jira"))

        @task(task_id=TaskId.CONFIRM.value, trigger_rule=TriggerRule.ALL_DONE, **SERVER_TASK)
        def confirm() -> dict:
            """Send the confirmation of every imported new ticket not yet confirmed (from any run).

            Settings: JICKET_THREAD_TEMPLATE, JICKET_TICKET_ADDRESS, connection jicket_smtp. Not in rescan runs.
            """
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.adapters.jira import JiraWriter
            from jicket_ops.adapters.smtp import Mailer
            from jicket_ops.stages.confirm import confirm

            def body(settings, request):
                jira = JiraWriter(settings.jira_conn_id, settings.jira_project, settings.ids, settings.jira_issue_type,
                                  settings.jira_concurrency)
                with Mailbox(settings.imap_conn_id) as mailbox:
                    # This run's write results spare the Jira lookup of the issues just written (None if it failed).
                    written = get_current_context()["ti"].xcom_pull(task_ids=TaskId.WRITE_TO_JIRA.value)
                    return confirm(settings, mailbox, jira, lambda: Mailer(settings.smtp_conn_id), request,
                                   _final_attempt(), written)

            return _stage("confirm", body, ("imap", "smtp", "jira"))

        @task(task_id=TaskId.MOVE.value, trigger_rule=TriggerRule.ALL_DONE, **SERVER_TASK)
        def move() -> dict:
            """Take done mails out of the inbox: to JICKET_FOLDER_SUCCESS, quarantined ones to JICKET_FOLDER_QUARANTINE
            (not in rescan runs). With keywords, every mail marked $JicketDone; in folders mode, the mails this run's
            stages finished."""
            from jicket_ops.adapters.imap import Mailbox
            from jicket_ops.stages.move import done_uids, move

            ti = get_current_context()["ti"]
            done = done_uids(*(ti.xcom_pull(task_ids=stage.value) for stage in (
                TaskId.FETCH, TaskId.FILTER_MAILS, TaskId.ROUTE, TaskId.WRITE_TO_JIRA, TaskId.CONFIRM)))

            def body(settings, request):
                with Mailbox(settings.imap_conn_id) as mailbox:
                    return move(settings, mailbox, request, done)

            return _stage("move", body)

        @task(task_id=TaskId.SUMMARIZE.value, trigger_rule=TriggerRule.ALL_DONE, multiple_outputs=False)
        def summarize() -> dict:
            """Log and return what this run did (counts, ticket keys), emit metrics; fail if any stage failed."""
            from jicket_ops.orchestration.summary import summarize_run

            return summarize_run(get_current_context())

        fetched = fetch()
        routed = route(filter_mails(fetched))
        written = write_to_jira(routed, fetched)
        confirmed = confirm()
        moved = move()
        written >> confirmed >> moved >> summarize()

    return jicket()


if MAILBOXES:
    DAGS = {m.dag_id: build_dag(m.dag_id, m.lookup(environment_lookup()), m.name) for m in MAILBOXES}
    globals().update(DAGS)  # one module-level name per DAG, as the DAG processor looks for them
else:
    DAG = build_dag("jicket", environment_lookup())
    DAGS = {"jicket": DAG}
