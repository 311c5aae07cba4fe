"""Jicket: turn an IMAP mailbox into a Jira service desk (the logic of the DAG in ``dags/jicket_dag.py``).

Layers, each importing only those below it (checked by import-linter, see pyproject.toml):

- ``orchestration``: the Airflow glue -- settings and connections inside a task, alerts, the run summary,
  the IMAP IDLE trigger, the DAG's task ids.
- ``stages``: one module per DAG task (fetch, filter_mails, route, write_to_jira, confirm, move), reading
  top to bottom like the task.
- ``adapters``: IMAP, Jira and SMTP over the provider hooks.
- ``domain``: the pure core -- parsing, content, ticket ids, routing and the answer policy, filters,
  rendering, the write plan, typed settings; no Airflow, no network library.
"""
