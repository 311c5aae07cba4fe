"""One module per DAG task, named after it: fetch, filter_mails, route, write_to_jira, confirm, move.

Each stage takes the typed settings and open adapters, does its work for a whole batch with batched IMAP
commands, and returns a small JSON-able dict for XCom (UIDs, decisions, counts; never mail bodies).
A failure while handling one mail stays with that mail: it is logged with the mail named and collected,
the others go on, and the task then fails with MailProcessingError so that Airflow retries.
"""
