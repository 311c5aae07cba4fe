"""Jicket: turn an IMAP mailbox into a Jira service desk.

The logic of the Airflow DAG in ``dags/jicket_dag.py``. Pure modules (``ticket_ids``, ``filters``,
``parsing``, ``routing``, ``rendering``, ``config``) import neither Airflow nor any network
library; adapters (``mailbox``, ``jira_writer``, ``mailer``) wrap the provider hooks; ``pipeline``
holds the body of each DAG task.
"""
