"""
### Jicket reconciliation: prove that nothing was silently lost

Once a day (and whenever triggered by hand) this DAG asks the `jicket` DAG (with several mailboxes: every
`jicket_<name>` DAG, side by side) for a **rescan** run: every
mail in `JICKET_FOLDER_SUCCESS` is looked up in Jira by the marker Jicket writes into each issue and
comment. Mails Jira lacks are reported in the run's summary and, unless `dry_run` is set, imported
again (never confirmed, never moved). The rescan runs inside the `jicket` DAG, so it never overlaps
an import run (`max_active_runs=1`).

Params: `dry_run` (report only), `since` / `before` (limit to mails received in that range).
"""

from __future__ import annotations

from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag


@dag(
    dag_id="jicket_reconcile",
    schedule="@daily",
    start_date=datetime(2024, 1, 1),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # dry_run reaches the jicket DAG as a boolean
    doc_md=__doc__,
    tags=["jicket", "helpdesk"],
    params={
        "dry_run": Param(False, type="boolean", title="Dry run",
                         description="Only report mails Jira lacks; import nothing."),
        "since": Param("", type=["null", "string"], title="Received since",
                       description="Only mails received at or after this date (YYYY-MM-DD, UTC)."),
        "before": Param("", type=["null", "string"], title="Received before",
                        description="Only mails received before this date (YYYY-MM-DD, UTC)."),
    },
)
def jicket_reconcile():
    # Several mailboxes (JICKET_MAILBOXES_FILE / JICKET_MAILBOXES, as dags/jicket_dag.py reads them): one rescan
    # per mailbox DAG, side by side; else the single `jicket` DAG's. Task ids keep the single DAG's name.
    for dag_id in _jicket_dag_ids():
        suffix = "" if dag_id == "jicket" else "_" + dag_id.removeprefix("jicket_")
        TriggerDagRunOperator(
            task_id=f"rescan_success_folder{suffix}",
            doc_md=f"Trigger a `{dag_id}` run in rescan mode over the success folder and wait for its result.",
            trigger_dag_id=dag_id,
            conf={"mode": "rescan", "dry_run": "{{ params.dry_run }}", "since": "{{ params.since }}",
                  "before": "{{ params.before }}"},
            wait_for_completion=True,
            poke_interval=10,
        )


def _jicket_dag_ids() -> list[str]:
    """The import DAGs this deployment has: jicket_<name> per configured mailbox, else `jicket`."""
    import os

    if not (os.environ.get("JICKET_MAILBOXES_FILE") or os.environ.get("AIRFLOW_VAR_JICKET_MAILBOXES")
            or os.environ.get("JICKET_MAILBOXES")):
        return ["jicket"]
    from jicket_ops.domain.settings import environment_lookup
    from jicket_ops.orchestration.mailbox_config import configured_mailboxes

    return [m.dag_id for m in configured_mailboxes(environment_lookup())]


DAG = jicket_reconcile()
