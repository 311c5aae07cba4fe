"""Adapters: IMAP, Jira and SMTP access wrapped around the Airflow provider hooks."""
