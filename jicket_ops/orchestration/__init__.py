"""Airflow glue: settings and connections at run time, alerts, the IDLE trigger, the run summary, task ids."""
