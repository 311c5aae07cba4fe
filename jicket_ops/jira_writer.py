"""Jira adapter: find tickets by id, create issues, add comments; recognise its own earlier writes.

Creating an issue is not idempotent in Jira, so every write carries a marker (``rendering.mail_marker``)
and is preceded by a lookup of the ticket ids concerned. JQL is built only from validated ids and
the project key; a ``summary ~`` search is word-based, so results are checked for the exact tag.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import requests
from airflow.providers.atlassian.jira.hooks.jira import JiraHook

from jicket_ops.errors import JiraError
from jicket_ops.rendering import mail_marker
from jicket_ops.ticket_ids import TicketIdScheme
from jicket_ops.tls import truthy

IDS_PER_SEARCH = 40
PAGE_SIZE = 100
SEARCH_FIELDS = ["summary", "status", "description", "comment", "created"]


@dataclass(frozen=True)
class Ticket:
    """A Jira issue that carries a ticket id, with the mail markers found on it."""

    key: str
    issue_id: int
    summary: str
    status_category: str
    markers: frozenset[str]

    def has_mail(self, mail_key: str) -> bool:
        return mail_marker(mail_key) in self.markers


def jql_string(text: str) -> str:
    """A JQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ticket_search_jql(project: str, ids: TicketIdScheme, ticket_ids: list[str]) -> str:
    """``project = "HD" AND (summary ~ "\\"JI-A\\"" OR ...)``; ids are alphabet-only by construction."""
    for ticket_id in ticket_ids:
        if not ids.is_well_formed(ticket_id):
            raise ValueError(f"not a ticket id: {ticket_id!r}")
    phrases = " OR ".join(f"summary ~ {jql_string(chr(34) + ids.prefixed(t) + chr(34))}" for t in ticket_ids)
    return f"project = {jql_string(project)} AND ({phrases}) ORDER BY created ASC"


def _markers(fields: dict) -> frozenset[str]:
    description = fields.get("description")
    texts = [description] if isinstance(description, str) else []
    comments = (fields.get("comment") or {}).get("comments") or []
    texts.extend(c["body"] for c in comments if isinstance(c.get("body"), str))
    found = set()
    for text in texts:
        start = text.find("{anchor:jicket-mail-")
        while start != -1:
            end = text.find("}", start)
            if end == -1:
                break
            found.add(text[start:end + 1])
            start = text.find("{anchor:jicket-mail-", end)
    return frozenset(found)


def _jira_error(what: str, exc: Exception) -> JiraError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    transient = status is None or status >= 500 or status == 429
    detail = str(exc)
    response = getattr(exc, "response", None)
    if response is not None:
        detail = f"HTTP {status}: {response.text[:500]}"
    return JiraError(f"Jira {what} failed: {detail}", status=status, transient=transient)


class JiraWriter:
    """Jira access for one task. Thread-safe: each worker thread gets its own HTTP session."""

    def __init__(self, conn_id: str, project: str, ids: TicketIdScheme, issue_type: str = "Task") -> None:
        self.conn_id = conn_id
        self.project = project
        self.ids = ids
        self.issue_type = issue_type
        self._local = threading.local()
        self._lock = threading.Lock()
        self.requests = 0

    def _client(self):
        client = getattr(self._local, "client", None)
        if client is None:
            hook = JiraHook(jira_conn_id=self.conn_id)
            client = hook.get_conn()
            extra = hook.get_connection(self.conn_id).extra_dejson
            client.timeout = float(extra.get("timeout", 30))
            client.cloud = truthy(extra.get("cloud"), default=False)
            self._local.client = client
        return client

    def _call(self, what: str, method, *args, **kwargs):
        with self._lock:
            self.requests += 1
        try:
            return method(*args, **kwargs)
        except (requests.RequestException, ValueError) as exc:
            raise _jira_error(what, exc) from exc

    def check_access(self) -> None:
        """Fail early, naming the connection, when Jira or the project cannot be reached."""
        client = self._client()
        self._call(f"project lookup of {self.project} (connection {self.conn_id})", client.project, self.project)

    def find_tickets(self, ticket_ids: list[str]) -> dict[str, Ticket]:
        """The issue of each ticket id that has one (the oldest, when several carry the same tag)."""
        wanted = sorted({t for t in ticket_ids if t})
        found: dict[str, Ticket] = {}
        client = self._client()
        for start in range(0, len(wanted), IDS_PER_SEARCH):
            chunk = wanted[start:start + IDS_PER_SEARCH]
            jql = ticket_search_jql(self.project, self.ids, chunk)
            for issue in self._search(client, jql):
                fields = issue.get("fields") or {}
                summary = fields.get("summary") or ""
                for ticket_id in chunk:
                    if self.ids.tag(ticket_id) in summary and ticket_id not in found:
                        found[ticket_id] = self._ticket(issue)
        return found

    def _search(self, client, jql: str) -> list[dict]:
        issues: list[dict] = []
        if client.cloud:
            # Cloud's v3 search returns rich-text (ADF) bodies; v2 keeps wiki markup, where the markers live.
            token = None
            while True:
                params = {"jql": jql, "fields": ",".join(SEARCH_FIELDS), "maxResults": PAGE_SIZE}
                if token:
                    params["nextPageToken"] = token
                page = self._call("search", client.get, "rest/api/2/search/jql", params=params)
                issues.extend(page.get("issues") or [])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return issues
        start = 0
        while True:
            page = self._call("search", client.jql, jql, fields=SEARCH_FIELDS, start=start, limit=PAGE_SIZE)
            batch = page.get("issues") or []
            issues.extend(batch)
            start += len(batch)
            if not batch or start >= int(page.get("total", 0)):
                return issues

    def find_by_mail(self, mail_key: str) -> tuple[str, Ticket] | None:
        """The issue created for a mail, found by its marker (when the mail's UID no longer gives its id)."""
        if not all(ch in "0123456789abcdef" for ch in mail_key):
            raise ValueError(f"not a mail key: {mail_key!r}")
        jql = f"project = {jql_string(self.project)} AND description ~ {jql_string(mail_key)} ORDER BY created ASC"
        for issue in self._search(self._client(), jql):
            fields = issue.get("fields") or {}
            ticket_id = self.ids.find_in_subject(fields.get("summary") or "")
            description = fields.get("description") or ""
            if ticket_id and isinstance(description, str) and mail_marker(mail_key) in description:
                return ticket_id, self._ticket(issue)
        return None

    def find_markers(self, mail_keys: list[str]) -> dict[str, str]:
        """Which of these mails Jira already holds (as issue or comment): mail key -> issue key."""
        wanted = sorted(set(mail_keys))
        for key in wanted:
            if not key or not all(ch in "0123456789abcdef" for ch in key):
                raise ValueError(f"not a mail key: {key!r}")
        found: dict[str, str] = {}
        client = self._client()
        for start in range(0, len(wanted), IDS_PER_SEARCH):
            chunk = wanted[start:start + IDS_PER_SEARCH]
            terms = " OR ".join(f"text ~ {jql_string(key)}" for key in chunk)
            jql = f"project = {jql_string(self.project)} AND ({terms}) ORDER BY created ASC"
            for issue in self._search(client, jql):
                markers = _markers(issue.get("fields") or {})
                for key in chunk:
                    if mail_marker(key) in markers and key not in found:
                        found[key] = issue["key"]
        return found

    def count_recent_tickets(self, senders: list[str], minutes: int = 60) -> dict[str, int]:
        """New tickets each sender opened in the last ``minutes`` (from the From line Jicket writes)."""
        wanted = sorted({s.lower() for s in senders if s})
        counts = dict.fromkeys(wanted, 0)
        client = self._client()
        for start in range(0, len(wanted), IDS_PER_SEARCH):
            chunk = wanted[start:start + IDS_PER_SEARCH]
            terms = " OR ".join(f"description ~ {jql_string(chr(34) + sender + chr(34))}" for sender in chunk)
            jql = (f"project = {jql_string(self.project)} AND created >= \"-{int(minutes)}m\" AND ({terms}) "
                   "ORDER BY created ASC")
            for issue in self._search(client, jql):
                description = (issue.get("fields") or {}).get("description")
                first = description.split("\n", 1)[0].lower() if isinstance(description, str) else ""
                for sender in chunk:
                    if first.startswith("from:") and (f"<{sender}>" in first or first.endswith(f" {sender}")):
                        counts[sender] += 1
        return counts

    def _ticket(self, issue: dict) -> Ticket:
        fields = issue.get("fields") or {}
        return Ticket(
            key=issue["key"],
            issue_id=int(issue["id"]),
            summary=fields.get("summary") or "",
            status_category=((fields.get("status") or {}).get("statusCategory") or {}).get("key", ""),
            markers=_markers(fields),
        )

    def create_issue(self, summary: str, description: str) -> str:
        fields = {
            "project": {"key": self.project},
            "summary": summary,
            "description": description,
            "issuetype": {"name": self.issue_type},
        }
        result = self._call(f"create issue {summary[:80]!r}", self._client().issue_create, fields)
        return result["key"]

    def add_comment(self, issue_key: str, body: str) -> None:
        self._call(f"comment on {issue_key}", self._client().issue_add_comment, issue_key, body)
