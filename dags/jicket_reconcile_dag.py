"""
### Jicket reconciliation: prove that nothing was silently lost

Once a day (and whenever triggered by hand) this DAG asks the `jicket` DAG for a **rescan** run: every
mail in `JICKET_FOLDER_SUCCESS` is looked up in Jira by the marker Jicket writes into each issue and
comment, the whole folder in batches of `JICKET_MAX_MAILS_PER_RUN`. Mails Jira lacks are reported in the
run's summary and, unless `dry_run` is set, imported again (never confirmed, never moved). The rescan runs
inside the `jicket` DAG, so it never overlaps an import run (`max_active_runs=1`).

A rescan run imports at most `JICKET_MAX_MAILS_PER_RUN` missing mails. When more are missing, its summary says
where it stopped, and this DAG asks for another rescan (up to `rounds` in all); each round finds the mails
the last one imported present and goes on past them, until the folder is done.

Params: `dry_run` (report only; one round), `since` / `before` (limit to mails received in that range).
"""

from __future__ import annotations

import logging
from datetime import datetime

from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, task

ROUNDS = 10  # rescan runs at most per reconciliation: 10 x JICKET_MAX_MAILS_PER_RUN lost mails a day
IMPORT_DAG = "jicket"


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
    previous = None
    for round_ in range(1, ROUNDS + 1):
        rescan = TriggerDagRunOperator(
            task_id=f"rescan_{round_}",
            doc_md="Trigger a `jicket` run in rescan mode over the success folder and wait for its result.",
            trigger_dag_id=IMPORT_DAG,
            conf={"mode": "rescan", "dry_run": "{{ params.dry_run }}", "since": "{{ params.since }}",
                  "before": "{{ params.before }}"},
            wait_for_completion=True,
            poke_interval=5,
        )
        if previous is not None:
            previous >> rescan
        if round_ < ROUNDS:
            previous = rescan >> more_to_do.override(task_id=f"more_after_{round_}")(rescan.task_id)


@task.short_circuit
def more_to_do(rescan_task_id: str) -> bool:
    """Whether the rescan just finished stopped before the end of the folder (then the next round runs)."""
    from airflow.sdk import get_current_context

    context = get_current_context()
    ti = context["ti"]
    run_id = ti.xcom_pull(task_ids=rescan_task_id, key="trigger_run_id")
    summary = ti.xcom_pull(task_ids="summarize", dag_id=IMPORT_DAG, run_id=run_id) if run_id else None
    rescan = (summary or {}).get("rescan") or {}
    logging.getLogger("jicket").info("rescan run %s: %s", run_id, rescan or "no rescan report")
    if context["params"].get("dry_run"):
        return False  # a dry run imports nothing: another round would find the same mails missing
    return bool(rescan) and not rescan.get("complete", True)


DAG = jicket_reconcile()
