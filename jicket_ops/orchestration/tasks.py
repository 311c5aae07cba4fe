"""The jicket DAG's task ids, spelled once: the DAG, the settings snapshot and the run summary use these."""

from __future__ import annotations

from enum import StrEnum


class TaskId(StrEnum):
    FETCH = "fetch"
    FILTER_MAILS = "filter_mails"
    ROUTE = "route"
    WRITE_TO_JIRA = "write_to_jira"
    CONFIRM = "confirm"
    MOVE = "move"
    SUMMARIZE = "summarize"


STAGES = (TaskId.FETCH, TaskId.FILTER_MAILS, TaskId.ROUTE, TaskId.WRITE_TO_JIRA, TaskId.CONFIRM, TaskId.MOVE)
