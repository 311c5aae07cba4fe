"""Jira adapter: find tickets by id, create issues, add comments; recognise its own earlier writes.

Creating an issue is not idempotent in Jira, so every write carries a marker (``rendering.mail_marker``)
and is preceded by a lookup of the ticket ids concerned. JQL is built only from validated ids and
the project key; a ``summary ~`` search is word-based, so results are checked for the exact tag.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass, replace

import requests
from airflow.providers.atlassian.jira.hooks.jira import JiraHook
from atlassian import Jira

from jicket_ops.adapters.defined_connections import FallbackConnection
from jicket_ops.adapters.tls import truthy
from jicket_ops.domain.attachments import MultipartBody
from jicket_ops.domain.rendering import mail_marker, markers_in
from jicket_ops.domain.sender_key import sender_token, sender_tokens_in
from jicket_ops.domain.ticket_ids import TicketIdScheme
from jicket_ops.domain.tickets import Ticket, TicketLookup, Transition
from jicket_ops.errors import ConfigError, JiraError

log = logging.getLogger("jicket")

IDS_PER_SEARCH = 40
PAGE_SIZE = 100
SEARCH_FIELDS = ["summary", "status", "description", "comment", "created", "attachment", "issuelinks"]
# Issues per bulk create request, at most: Jira Cloud's limit (Data Center sets none).
BULK_CREATE_MAX = 50
UPLOAD_BATCH_BYTES = 64 * 1024 * 1024  # files per multipart request, at most (one file may exceed it)
_ISSUE_KEY = re.compile(r"[A-Z][A-Z0-9_]{0,49}-[1-9][0-9]{0,8}")


def jql_string(text: str) -> str:
    """A JQL string literal."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ticket_search_jql(project: str, ids: TicketIdScheme, ticket_ids: list[str], mail_keys: list[str] = ()) -> str:
    """``project = "HD" AND (summary ~ "\\"JI-A\\"" OR ... OR text ~ "<mail key>")``.

    Ids are alphabet-only by construction, mail keys hex-only; anything else is refused.
    """
    for ticket_id in ticket_ids:
        if not ids.is_well_formed(ticket_id):
            raise ValueError(f"not a ticket id: {ticket_id!r}")
    for mail_key in mail_keys:
        if not re.fullmatch(r"[0-9a-f]{8,64}", mail_key):
            raise ValueError(f"not a mail key: {mail_key!r}")
    phrases = [f"summary ~ {jql_string(chr(34) + ids.prefixed(t) + chr(34))}" for t in ticket_ids]
    phrases += [f"text ~ {jql_string(k)}" for k in mail_keys]
    return f"project = {jql_string(project)} AND ({' OR '.join(phrases)}) ORDER BY created ASC"


def _adf_text(node) -> str:
    """The text of an Atlassian Document Format node (Cloud v3 bodies), for marker lookups."""
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text") or "")
        if node.get("type") == "hardBreak":
            return "\n"
        inner = "".join(_adf_text(child) for child in node.get("content") or [])
        return inner + ("\n\n" if node.get("type") in ("paragraph", "heading") else "")
    if isinstance(node, list):
        return "".join(_adf_text(child) for child in node)
    return ""


def _texts(fields: dict) -> list[str]:
    description = fields.get("description")
    texts = [description if isinstance(description, str) else _adf_text(description)] if description else []
    comments = (fields.get("comment") or {}).get("comments") or []
    for comment in comments:
        body = comment.get("body")
        texts.append(body if isinstance(body, str) else _adf_text(body))
    return texts


def _markers(fields: dict) -> frozenset[str]:
    found: set[str] = set()
    for text in _texts(fields):
        found |= markers_in(text)
    return frozenset(found)


def _jira_error(what: str, exc: Exception) -> JiraError:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    transient = status is None or status >= 500 or status == 429
    detail = str(exc)
    response = getattr(exc, "response", None)
    if response is not None:
        detail = f"HTTP {status}: {response.text[:500]}"
    return JiraError(f"Jira {what} failed: {detail}", status=status, transient=transient)


@dataclass(frozen=True)
class IssueDraft:
    """A new issue's text: summary, description (wiki markup) and the reporter's user (None: Jicket's)."""

    summary: str
    description: str
    reporter: str | None = None


def _refused_reporter(draft: IssueDraft, exc: JiraError) -> bool:
    """Jira refused only the reporter (no permission, or not on the create screen): nothing was created."""
    return bool(draft.reporter) and exc.status == 400 and "reporter" in str(exc)


class JicketJiraHook(FallbackConnection, JiraHook):
    """JiraHook that also signs in with a Data Center personal access token (``Authorization: Bearer``).

    Connection: ``login``/``password`` sign in with basic auth, which is also how Jira Cloud takes an API token
    (the account's e-mail address as login, the token as password). A personal access token goes in the extra
    ``token``, or in the password with the extra ``auth_type: "pat"``; then no basic auth is sent at all.
    """

    def get_conn(self) -> Jira:
        """The atlassian-python-api client (the provider's ``get_conn`` knows only user and password)."""
        if self.client is None:
            conn = self.get_connection(self.jira_conn_id)
            extra = conn.extra_dejson
            auth = str(extra.get("auth_type") or ("pat" if extra.get("token") else "basic")).strip().lower()
            common = {"url": conn.host or "", "verify_ssl": extra.get("verify", True), "proxies": self.proxies,
                      "api_version": self.api_version, "api_root": self.api_root}
            where = f"connection {self.jira_conn_id}"
            if auth == "pat":
                token = extra.get("token") or conn.password
                if not token:
                    raise ConfigError(where, "auth_type 'pat' needs the personal access token as the password or "
                                             "in the extra 'token'")
                if truthy(extra.get("cloud"), default=False):
                    raise ConfigError(where, "Jira Cloud has no personal access tokens: log in with the account's "
                                             "e-mail address and an API token as the password (auth_type basic)")
                self.client = Jira(token=str(token), **common)
            elif auth in ("basic", "api_token"):
                self.client = Jira(username=conn.login, password=conn.password, **common)
            else:
                raise ConfigError(where, f"extra 'auth_type' must be basic, api_token or pat, got {auth!r}")
        return self.client


class JiraWriter:
    """Jira access for one task: one HTTP session (keep-alive connections pooled), shared by its threads.

    ``concurrency``: the chunks of one batched lookup are searched in parallel by up to this many threads
    (JICKET_JIRA_CONCURRENCY).
    """

    def __init__(self, conn_id: str, project: str, ids: TicketIdScheme, issue_type: str = "Task",
                 concurrency: int = 1) -> None:
        self.conn_id = conn_id
        self.project = project
        self.ids = ids
        self.issue_type = issue_type
        self._shared_client = None
        self._lock = threading.Lock()
        self.requests = 0
        self.concurrency = max(1, concurrency)
        self._users: dict[str, str | None] = {}
        self._issue_locks: dict[str, threading.Lock] = {}
        self._claimed: dict[str, set[str]] = {}
        self._done: set[str] = set()

    def _client(self):
        client = self._shared_client
        if client is None:
            with self._lock:
                if self._shared_client is None:
                    hook = JicketJiraHook(jira_conn_id=self.conn_id)
                    created = hook.get_conn()
                    extra = hook.get_connection(self.conn_id).extra_dejson
                    created.timeout = float(extra.get("timeout", 30))
                    created.cloud = truthy(extra.get("cloud"), default=False)
                    self._shared_client = created
                client = self._shared_client
        return client

    def _each(self, search, chunks: list) -> list:
        """``search(chunk)`` for every chunk, in parallel up to ``concurrency``; results in chunk order."""
        if self.concurrency <= 1 or len(chunks) <= 1:
            return [search(chunk) for chunk in chunks]
        from concurrent.futures import ThreadPoolExecutor

        workers = min(self.concurrency, len(chunks))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="jira-search") as pool:
            return list(pool.map(search, chunks))

    def _call(self, what: str, method, *args, **kwargs):
        with self._lock:
            self.requests += 1
        try:
            return method(*args, **kwargs)
        except (requests.RequestException, ValueError) as exc:
            raise _jira_error(what, exc) from exc

    def find_tickets(self, ticket_ids: list[str], *, issue_keys: list[str] | tuple[str, ...] = (),
                     mail_keys: list[str] | tuple[str, ...] = ()) -> TicketLookup:
        """The issue of each ticket id that has one (the oldest, when several carry the same tag), each of
        ``issue_keys`` that exists (one GET each: JQL refuses a search naming a missing key), and the issue
        holding the mail with each of ``mail_keys`` (its marker), found in the same batched searches as the ids.
        """
        wanted = sorted({t for t in ticket_ids if t})
        mails = sorted({k for k in mail_keys if k and re.fullmatch(r"[0-9a-f]{20}", k)})
        terms = [("id", t) for t in wanted] + [("mail", k) for k in mails]
        found = TicketLookup()
        client = self._client() if terms or issue_keys else None

        def search(chunk: list[tuple[str, str]]) -> tuple[list[str], list[str], list[dict]]:
            ids_chunk = [t for kind, t in chunk if kind == "id"]
            mails_chunk = [k for kind, k in chunk if kind == "mail"]
            jql = ticket_search_jql(self.project, self.ids, ids_chunk, mails_chunk)
            return ids_chunk, mails_chunk, self._search(client, jql, expand="transitions")

        chunks = [terms[start:start + IDS_PER_SEARCH] for start in range(0, len(terms), IDS_PER_SEARCH)]
        for ids_chunk, mails_chunk, issues in self._each(search, chunks):
            for issue in issues:
                summary = (issue.get("fields") or {}).get("summary") or ""
                ticket = None
                for ticket_id in ids_chunk:
                    if self.ids.tag(ticket_id) in summary and ticket_id not in found.by_id:
                        ticket = ticket or self._ticket(issue)
                        found.by_id[ticket_id] = ticket
                for mail_key in mails_chunk:
                    if mail_key not in found.by_mail:
                        ticket = ticket or self._ticket(issue)
                        if ticket.has_mail(mail_key):
                            found.by_mail[mail_key] = ticket
        for key in sorted(set(issue_keys)):
            ticket = self.get_ticket(key)
            if ticket is not None:
                found.by_key[key] = ticket
        return found

    def _search(self, client, jql: str, expand: str | None = None) -> list[dict]:
        issues: list[dict] = []
        if client.cloud:
            # Cloud's v3 search returns rich-text (ADF) bodies; v2 keeps wiki markup, where the markers live.
            token = None
            while True:
                params = {"jql": jql, "fields": ",".join(SEARCH_FIELDS), "maxResults": PAGE_SIZE}
                if expand:
                    params["expand"] = expand
                if token:
                    params["nextPageToken"] = token
                page = self._call("search", client.get, "rest/api/2/search/jql", params=params)
                issues.extend(page.get("issues") or [])
                token = page.get("nextPageToken")
                if page.get("isLast", True) or not token:
                    return issues
        start = 0
        while True:
            page = self._call("search", client.jql, jql, fields=SEARCH_FIELDS, start=start, limit=PAGE_SIZE,
                              expand=expand)
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
        """New tickets each sender (a normalised sender key) opened in the last ``minutes``, found by the
        sender marker in their descriptions (an exact token, whatever the address holds)."""
        wanted = sorted(set(senders))
        tokens = {sender_token(sender): sender for sender in wanted}
        counts = dict.fromkeys(wanted, 0)
        client = self._client()

        def search(chunk: list[str]) -> list[dict]:
            terms = " OR ".join(f"description ~ {jql_string(token)}" for token in chunk)
            jql = (f"project = {jql_string(self.project)} AND created >= \"-{int(minutes)}m\" AND ({terms}) "
                   "ORDER BY created ASC")
            return self._search(client, jql)

        ordered = sorted(tokens)
        chunks = [ordered[start:start + IDS_PER_SEARCH] for start in range(0, len(ordered), IDS_PER_SEARCH)]
        for issues in self._each(search, chunks):
            for issue in issues:
                description = (issue.get("fields") or {}).get("description")
                for token in sender_tokens_in(description if isinstance(description, str) else ""):
                    if token in tokens:
                        counts[tokens[token]] += 1
        return counts

    def _ticket(self, issue: dict) -> Ticket:
        fields = issue.get("fields") or {}
        status = fields.get("status") or {}
        summary = fields.get("summary") or ""
        links = set()
        for link in fields.get("issuelinks") or []:
            for side in ("inwardIssue", "outwardIssue"):
                if isinstance(link.get(side), dict) and link[side].get("key"):
                    links.add(link[side]["key"])
        transitions = tuple(
            Transition(str(t.get("id")), str(t.get("name") or ""),
                       str(((t.get("to") or {}).get("statusCategory") or {}).get("key") or ""))
            for t in issue.get("transitions") or [] if isinstance(t, dict))
        return Ticket(
            key=issue["key"],
            issue_id=int(issue["id"]),
            summary=summary,
            status_category=(status.get("statusCategory") or {}).get("key", ""),
            markers=_markers(fields),
            opening_markers=frozenset(markers_in(fields["description"]))
            if isinstance(fields.get("description"), str) else frozenset(),
            status_name=status.get("name") or "",
            attachments=tuple((str(a.get("filename") or ""), int(a.get("size") or 0))
                              for a in fields.get("attachment") or [] if isinstance(a, dict)),
            texts=tuple(_texts(fields)),
            links=frozenset(links),
            transitions=transitions,
            ticket_id=self.ids.find_in_subject(summary),
        )

    def get_ticket(self, issue_key: str) -> Ticket | None:
        """One issue by key, read directly (consistent, unlike search); None when it does not exist."""
        if not _ISSUE_KEY.fullmatch(issue_key):
            raise ValueError(f"not an issue key: {issue_key!r}")
        client = self._client()
        try:
            issue = self._call(f"lookup of {issue_key}", client.get, f"rest/api/2/issue/{issue_key}",
                               params={"fields": ",".join(SEARCH_FIELDS), "expand": "transitions"})
        except JiraError as exc:
            if exc.status == 404:
                return None
            raise
        return self._ticket(issue) if isinstance(issue, dict) and issue.get("key") else None

    @property
    def cloud(self) -> bool:
        return bool(self._client().cloud)

    def _issue_fields(self, draft: IssueDraft) -> dict:
        fields = {
            "project": {"key": self.project},
            "summary": draft.summary,
            "description": draft.description,
            "issuetype": {"name": self.issue_type},
        }
        if draft.reporter:
            fields["reporter"] = {"accountId": draft.reporter} if self.cloud else {"name": draft.reporter}
        return fields

    def create_issue(self, summary: str, description: str, reporter: str | None = None) -> str:
        draft = IssueDraft(summary, description, reporter)
        try:
            result = self._call(f"create issue {summary[:80]!r}", self._client().issue_create,
                                self._issue_fields(draft))
        except JiraError as exc:
            if not _refused_reporter(draft, exc):
                raise
            # No permission to set the reporter (or not on the screen): nothing was created; without it.
            log.warning("Jira refused reporter %s (%s); the issue is created without it", reporter, exc)
            result = self._call(f"create issue {summary[:80]!r}", self._client().issue_create,
                                self._issue_fields(replace(draft, reporter=None)))
        return result["key"]

    def create_issues(self, drafts: list[IssueDraft]) -> list[str | JiraError]:
        """New issues with Jira's bulk create, up to BULK_CREATE_MAX per request: per draft, in order, its issue
        key or the JiraError of the element Jira refused (the others are created all the same).

        A request that fails as a whole raises (a transient failure may have created some: the caller marked
        every draft's mail as possibly created before). One draft goes to the single create.
        """
        if len(drafts) == 1:
            return self._create_each(drafts)
        results: list[str | JiraError] = []
        for start in range(0, len(drafts), BULK_CREATE_MAX):
            results += self._bulk_create(drafts[start:start + BULK_CREATE_MAX])
        return results

    def _bulk_create(self, drafts: list[IssueDraft]) -> list[str | JiraError]:
        what = f"bulk create of {len(drafts)} issues"
        payload = {"issueUpdates": [{"fields": self._issue_fields(d)} for d in drafts]}
        response = self._call(what, self._client().post, "rest/api/2/issue/bulk", data=payload, advanced_mode=True)
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        errors = body.get("errors") if isinstance(body, dict) else None
        if status >= 500 or status == 429:
            raise JiraError(f"Jira {what} failed: HTTP {status}: {response.text[:500]}", status=status,
                            transient=True)
        if status >= 400 and not (status == 400 and isinstance(errors, list) and errors):
            # Refused as a whole (not element by element): nothing was created; each on its own instead, so
            # whatever one draft holds fails that draft only.
            log.warning("Jira refused the %s (HTTP %d: %s); creating them one at a time", what, status,
                        response.text[:300])
            return self._create_each(drafts)
        failed: dict[int, JiraError] = {}
        for error in errors or []:
            index = error.get("failedElementNumber") if isinstance(error, dict) else None
            if isinstance(index, int) and 0 <= index < len(drafts):
                element_status = error.get("status") if isinstance(error.get("status"), int) else 400
                failed[index] = JiraError(
                    f"Jira create issue {drafts[index].summary[:80]!r} failed: HTTP {element_status}: "
                    f"{str(error.get('elementErrors'))[:500]}", status=element_status,
                    transient=element_status >= 500 or element_status == 429)
        created = [issue.get("key") for issue in (body or {}).get("issues") or [] if isinstance(issue, dict)]
        if len(created) + len(failed) != len(drafts) or not all(isinstance(key, str) for key in created):
            raise JiraError(f"Jira {what} answered {len(created)} created and {len(failed)} failed for "
                            f"{len(drafts)} (HTTP {status}); cannot tell which is which", status=status,
                            transient=True)
        keys = iter(created)  # Jira lists the created issues in request order
        results: list[str | JiraError] = [failed[i] if i in failed else next(keys) for i in range(len(drafts))]
        retry = [i for i, result in enumerate(results)
                 if isinstance(result, JiraError) and _refused_reporter(drafts[i], result)]
        if retry:
            log.warning("Jira refused the reporter of %d issue(s); they are created without it", len(retry))
            again = self.create_issues([replace(drafts[i], reporter=None) for i in retry])
            for index, result in zip(retry, again, strict=True):
                results[index] = result
        return results

    def _create_each(self, drafts: list[IssueDraft]) -> list[str | JiraError]:
        """One create request per draft: its key, or the JiraError of a refusal (a transient failure raises)."""
        results: list[str | JiraError] = []
        for draft in drafts:
            try:
                results.append(self.create_issue(draft.summary, draft.description, draft.reporter))
            except JiraError as exc:
                if exc.transient:
                    raise
                results.append(exc)
        return results

    def add_comment(self, issue_key: str, body: str) -> None:
        self._call(f"comment on {issue_key}", self._client().issue_add_comment, issue_key, body)

    def upload_attachments(self, issue_key: str, files: list[tuple[str, str, bytes]]) -> None:
        """Attach files to an issue: one multipart request (several ``file`` parts) per 64 MiB."""
        batch: list[tuple[str, str, bytes]] = []
        size = 0
        for item in files:
            if batch and size + len(item[2]) > UPLOAD_BATCH_BYTES:
                self._call(f"upload of {len(batch)} attachment(s) to {issue_key}", self._post_files, issue_key, batch)
                batch, size = [], 0
            batch.append(item)
            size += len(item[2])
        if batch:
            self._call(f"upload of {len(batch)} attachment(s) to {issue_key}", self._post_files, issue_key, batch)

    def _post_files(self, issue_key: str, batch: list[tuple[str, str, bytes]]):
        client = self._client()
        url = client.url_joiner(client.url, f"rest/api/2/issue/{issue_key}/attachments")
        # Streamed with a Content-Length (``files=`` would make requests build the body in memory).
        body = MultipartBody([("file", name, ctype or "application/octet-stream", data) for name, ctype, data in batch],
                             boundary=secrets.token_hex(16))
        response = client._session.request(
            "POST", url, data=body,
            headers={"X-Atlassian-Token": "no-check", "Accept": "application/json", "Content-Type": body.content_type},
            timeout=client.timeout, verify=client.verify_ssl, proxies=client.proxies, cert=client.cert)
        client.raise_for_status(response)
        return response.json()

    def find_user(self, address: str) -> str | None:
        """The Jira user with exactly this e-mail address: username (Data Center) or accountId (Cloud).

        Cached for the task; None when there is none (or the address is ambiguous or hidden).
        """
        address = address.strip().lower()
        with self._lock:
            if address in self._users:
                return self._users[address]
        client = self._client()
        if client.cloud:
            found = self._call(f"user search {address}", client.get, "rest/api/3/user/search",
                               params={"query": address, "maxResults": 20})
            ident = "accountId"
        else:
            found = self._call(f"user search {address}", client.get, "rest/api/2/user/search",
                               params={"username": address, "maxResults": 20})
            ident = "name"
        matches = [u for u in found or [] if isinstance(u, dict) and u.get("active", True)
                   and str(u.get("emailAddress") or "").lower() == address and u.get(ident)]
        user = matches[0][ident] if len(matches) == 1 else None
        with self._lock:
            self._users[address] = user
        return user

    def add_watcher(self, issue_key: str, user: str) -> None:
        """Make a user (username on Data Center, accountId on Cloud) watch an issue; idempotent in Jira."""
        client = self._client()
        # the client JSON-encodes data: the body is the user as a JSON string, as Jira wants it
        self._call(f"watcher {user} on {issue_key}", client.post, f"rest/api/2/issue/{issue_key}/watchers",
                   data=user)

    def transition(self, issue_key: str, transition_id: str) -> None:
        client = self._client()
        self._call(f"transition {transition_id} of {issue_key}", client.post,
                   f"rest/api/2/issue/{issue_key}/transitions", data={"transition": {"id": str(transition_id)}})

    def link_issues(self, inward_key: str, outward_key: str, link_type: str) -> None:
        """``inward_key`` <link type> ``outward_key`` (e.g. the follow-up "relates to" the resolved issue)."""
        client = self._client()
        self._call(f"link {inward_key} -> {outward_key}", client.post, "rest/api/2/issueLink",
                   data={"type": {"name": link_type}, "inwardIssue": {"key": inward_key},
                         "outwardIssue": {"key": outward_key}})

    def issue_lock(self, issue_key: str) -> threading.Lock:
        """One lock per issue for this task: mails of one run that write to the same issue take turns."""
        with self._lock:
            return self._issue_locks.setdefault(issue_key, threading.Lock())

    def first_time(self, what: str) -> bool:
        """True the first time this task asks about ``what`` (e.g. reopening one issue), False after."""
        with self._lock:
            if what in self._done:
                return False
            self._done.add(what)
            return True

    def claimed_names(self, issue_key: str) -> set[str]:
        """Attachment names given to files on this issue during this task (hold ``issue_lock``)."""
        with self._lock:
            return self._claimed.setdefault(issue_key, set())
