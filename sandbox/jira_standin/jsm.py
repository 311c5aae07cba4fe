"""Jira Service Management in the stand-in: service desks, request types, customers, customer requests.

A customer request is an ordinary :class:`~.store.Issue` of the service desk's project that also records its
request type and participants, so the platform REST API (search, comments, attachments) sees the same issue.
Every method runs with ``store.lock`` held, like the store's own; errors are :class:`~.store.ApiError`, which the
HTTP layer renders in JSM's error shape for ``/rest/servicedeskapi`` routes.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .store import ISSUE_TYPES, STATUSES, ApiError, Comment, Issue, User, jira_time

if TYPE_CHECKING:
    from .store import Store

STATUS_CATEGORY = {"new": "NEW", "indeterminate": "INDETERMINATE", "done": "DONE"}
REQUEST_EXPANDS = ["participant", "status", "sla", "requestType", "serviceDesk", "attachment", "action", "comment"]
CREATE_FIELDS = {"summary", "description"}  # the fields every stand-in request type has


@dataclass
class RequestType:
    """A customer request type of one service desk (backed by an issue type)."""

    id: str
    name: str
    description: str
    help_text: str
    issue_type_id: str
    service_desk_id: str


@dataclass
class ServiceDesk:
    """A service desk: a project plus its request types and its customers (user keys)."""

    id: str
    project_key: str
    request_types: list[RequestType] = field(default_factory=list)
    customers: list[str] = field(default_factory=list)
    open_access: bool = False  # any existing account may raise requests (Cloud "anyone can ... send requests")


class Jsm:
    """The JSM part of the stand-in's state; ``store.jsm``."""

    def __init__(self, store: Store):
        self.store = store
        self.desks: dict[str, ServiceDesk] = {}
        self._seq = {"desk": 1, "requesttype": 1}

    # ------------------------------------------------------------------ admin

    def add_service_desk(
        self, project_key: str, request_types: list | None = None, *, open_access: bool = False
    ) -> ServiceDesk:
        """A service desk on ``project_key`` (created if missing); each request type is a name or
        ``{"name", "description"?, "helpText"?, "issueType"? (name or id, default "Service Request")}``."""
        project = self.store.add_project(project_key)
        project.type_key = "service_desk"
        desk = next((d for d in self.desks.values() if d.project_key == project.key), None)
        if desk is None:
            desk = ServiceDesk(str(self._next("desk")), project.key, open_access=open_access)
            self.desks[desk.id] = desk
        desk.open_access = open_access
        for spec in request_types if request_types is not None else ["Emailed request"]:
            spec = {"name": spec} if isinstance(spec, str) else dict(spec)
            if not spec.get("name"):
                raise ApiError(400, "a request type needs a 'name'")
            it = str(spec.get("issueType") or "Service Request")
            tid = (
                it
                if it in ISSUE_TYPES
                else next((k for k, v in ISSUE_TYPES.items() if v[0].lower() == it.lower()), None)
            )
            if tid is None:
                raise ApiError(400, f"unknown issue type {it!r}; known: {[v[0] for v in ISSUE_TYPES.values()]}")
            desk.request_types.append(
                RequestType(
                    str(self._next("requesttype")),
                    spec["name"],
                    spec.get("description") or spec["name"],
                    spec.get("helpText") or "",
                    tid,
                    desk.id,
                )
            )
        return desk

    def _next(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind] - 1

    # ------------------------------------------------------------------ lookups

    def desk(self, id_or_project: str) -> ServiceDesk:
        """A service desk by its id or by its project's key or id (JSM's "project identifier")."""
        s = str(id_or_project)
        if s in self.desks:
            return self.desks[s]
        for d in self.desks.values():
            p = self.store.projects[d.project_key]
            if s.upper() == p.key or s == p.id:
                return d
        raise ApiError(404, f"The service desk with id '{s}' does not exist.")

    def desk_of(self, issue: Issue) -> ServiceDesk | None:
        return next((d for d in self.desks.values() if d.project_key == issue.project.key), None)

    def request(self, id_or_key: str) -> tuple[Issue, ServiceDesk]:
        """The issue behind a customer request; 404 for issues outside every service desk, as JSM answers."""
        issue = self.store.issue(id_or_key)
        desk = self.desk_of(issue)
        if desk is None:
            raise ApiError(404, f"The issue '{id_or_key}' is not a customer request.")
        return issue, desk

    def user_refs(self, body: dict, *, what: str) -> list[User]:
        """Users named in ``accountIds`` (Cloud) or ``usernames`` (DC); any unknown one is a 400."""
        cloud = self.store.mode == "cloud"
        ids, names = body.get("accountIds") or [], body.get("usernames") or []
        if cloud and names:
            raise ApiError(400, "'usernames' is no longer supported; use 'accountIds'.")
        refs = ids if cloud else names + ids
        users, unknown = [], []
        for ref in refs:
            u = self.store.user_by_account(ref) if ref in ids else self.store.user_by_name(ref)
            (users if u is not None else unknown).append(u if u is not None else ref)
        if unknown:
            raise ApiError(400, f"The following {what} do not exist: {', '.join(map(str, unknown))}")
        return users

    # ------------------------------------------------------------------ customers

    def create_customer(self, body: dict, *, strict_conflict: bool) -> User:
        if not self.store.config.get("jsm_open_customer_signup"):
            raise ApiError(403, "You do not have permission to create customers (customer signup is off).")
        email = body.get("email")
        if not isinstance(email, str) or "@" not in email.strip("@"):
            raise ApiError(400, "The email address is missing or not valid.")
        if any(u.email.lower() == email.lower() for u in self.store.users.values()):
            raise ApiError(409 if strict_conflict else 400, f"An account already exists for this email: {email}")
        name = body.get("displayName") or body.get("fullName") or email
        spec: dict[str, Any] = {"name": email, "email": email, "displayName": name, "password": uuid.uuid4().hex}
        if self.store.mode == "cloud":
            spec["accountId"] = f"qm:{uuid.uuid4()}:{uuid.uuid4().hex[:24]}"
        user = self.store.add_user(spec)
        user.customer = True
        return user

    def add_customers(self, desk: ServiceDesk, body: dict) -> None:
        for u in self.user_refs(body, what="customers"):
            if u.key not in desk.customers:
                desk.customers.append(u.key)

    def may_raise_for(self, desk: ServiceDesk, user: User) -> bool:
        """Requests can be raised for the desk's customers, for agents (non-customer accounts), and on an
        open desk for any account."""
        return user.key in desk.customers or not user.customer or desk.open_access

    # ------------------------------------------------------------------ requests

    def create_request(self, body: dict, viewer: User) -> Issue:
        desk_id, rt_id = body.get("serviceDeskId"), body.get("requestTypeId")
        if not desk_id or not rt_id:
            raise ApiError(400, "serviceDeskId and requestTypeId are required.")
        try:
            desk = self.desk(desk_id)
        except ApiError:
            raise ApiError(400, f"The service desk '{desk_id}' does not exist.") from None
        rt = next((t for t in desk.request_types if t.id == str(rt_id)), None)
        if rt is None:
            raise ApiError(400, f"The request type '{rt_id}' does not belong to service desk '{desk.id}'.")
        values = body.get("requestFieldValues") or {}
        unknown = sorted(set(values) - CREATE_FIELDS)
        if unknown:
            raise ApiError(400, f"These fields are not valid for this request type: {', '.join(unknown)}")
        errors: dict[str, str] = {}
        vals = self.store._validate_fields(
            {k: v for k, v in values.items() if k in CREATE_FIELDS}, errors, creating=False
        )
        if "summary" not in values:
            errors["summary"] = "You must specify a summary of the issue."
        if errors:
            raise ApiError(400, [f"{k}: {v}" for k, v in errors.items()])
        reporter = viewer
        behalf = body.get("raiseOnBehalfOf")
        if behalf:
            reporter = self.store.user_ref(behalf)
            if reporter is None or not self.may_raise_for(desk, reporter):
                raise ApiError(
                    400, f"The user '{behalf}' is not a customer of service desk '{desk.id}' and cannot raise requests."
                )
        participants = self.user_refs(
            {"accountIds" if self.store.mode == "cloud" else "usernames": body.get("requestParticipants") or []},
            what="participants",
        )
        now = time.time()
        project = self.store.projects[desk.project_key]
        issue = Issue(
            id=self.store._next("issue"),
            project=project,
            num=project.next_num,
            summary=vals["summary"],
            description=vals.get("description"),
            issuetype=rt.issue_type_id,
            labels=[],
            reporter=reporter.key,
            creator=viewer.key,
            assignee=None,
            priority="3",
            created=now,
            updated=now,
            request_type_id=rt.id,
            participants=[u.key for u in participants if u.key != reporter.key],
        )
        project.next_num += 1
        if self.store.config["autowatch"]:
            issue.watchers.append(viewer.key)
        self.store.issues[issue.id] = issue
        self.store._snapshot(issue, now)
        return issue

    def add_comment(self, issue: Issue, body: dict, viewer: User) -> Comment:
        text, public = body.get("body"), body.get("public")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, "The comment body can not be empty.")
        if not isinstance(public, bool):
            raise ApiError(400, "The field 'public' is required: true for a reply, false for an internal note.")
        limit_error = self.store._text_limit_error(text)
        if limit_error:
            raise ApiError(400, limit_error)
        now = time.time()
        c = self.store._add_comment(issue, text, viewer, now)
        c.public = public
        self.store._snapshot(issue, now)
        return c

    def add_participants(self, issue: Issue, body: dict) -> None:
        for u in self.user_refs(body, what="participants"):
            if u.key not in issue.participants and u.key != issue.reporter:
                issue.participants.append(u.key)

    def remove_participants(self, issue: Issue, body: dict) -> None:
        users = self.user_refs(body, what="participants")
        for u in users:
            if u.key == issue.reporter:
                raise ApiError(400, "The reporter of a request cannot be removed as a participant.")
            if u.key not in issue.participants:
                raise ApiError(400, f"'{self.ref_of(u)}' is not a participant of {issue.key}.")
        for u in users:
            issue.participants.remove(u.key)

    def ref_of(self, u: User) -> str:
        return u.account_id if self.store.mode == "cloud" else u.name

    # ------------------------------------------------------------------ JSON

    @property
    def base(self) -> str:
        return f"{self.store.base_url}/rest/servicedeskapi"

    @staticmethod
    def date(ts: float) -> dict:
        d = datetime.fromtimestamp(ts, tz=UTC)
        return {
            "epochMillis": int(ts * 1000),
            "friendly": d.strftime("%d/%b/%y %I:%M %p"),
            "iso8601": d.strftime("%Y-%m-%dT%H:%M:%S+0000"),
            "jira": jira_time(ts),
        }

    def user(self, key: str | None) -> dict | None:
        """A ``UserDTO``: accountId on Cloud, key and name on Data Center."""
        if key is None or key not in self.store.users:
            return None
        u = self.store.users[key]
        if self.store.mode == "cloud":
            rest = f"{self.store.base_url}/rest/api/2/user?accountId={quote(u.account_id)}"
            d: dict[str, Any] = {"accountId": u.account_id}
        else:
            rest = f"{self.store.base_url}/rest/api/2/user?username={quote(u.name)}"
            d = {"key": u.key, "name": u.name}
        avatars = {
            s: f"{self.store.base_url}/secure/useravatar?size={s}&ownerId={quote(u.key)}"
            for s in ("16x16", "24x24", "32x32", "48x48")
        }
        d.update(
            {
                "emailAddress": u.email,
                "displayName": u.display_name,
                "active": u.active,
                "timeZone": "Etc/UTC",
                "_links": {"jiraRest": rest, "avatarUrls": avatars, "self": rest},
            }
        )
        return d

    def page(self, items: list, start: int, limit: int, path: str) -> dict:
        start, limit = max(0, start), max(1, min(limit, 100))
        chunk = items[start : start + limit]
        links: dict[str, Any] = {
            "base": self.base,
            "context": "",
            "self": f"{self.base}{path}?start={start}&limit={limit}",
        }
        if start + limit < len(items):
            links["next"] = f"{self.base}{path}?start={start + limit}&limit={limit}"
        if start > 0:
            links["prev"] = f"{self.base}{path}?start={max(0, start - limit)}&limit={limit}"
        return {
            "_expands": [],
            "size": len(chunk),
            "start": start,
            "limit": limit,
            "isLastPage": start + limit >= len(items),
            "_links": links,
            "values": chunk,
        }

    def desk_json(self, desk: ServiceDesk) -> dict:
        p = self.store.projects[desk.project_key]
        return {
            "id": desk.id,
            "projectId": p.id,
            "projectName": p.name,
            "projectKey": p.key,
            "_links": {"self": f"{self.base}/servicedesk/{desk.id}"},
        }

    def request_type_json(self, rt: RequestType) -> dict:
        icon = "10500"
        avatar = f"{self.store.base_url}/rest/api/2/universal_avatar/view/type/SD_REQTYPE/avatar/{icon}"
        return {
            "_expands": [],
            "id": rt.id,
            "_links": {"self": f"{self.base}/servicedesk/{rt.service_desk_id}/requesttype/{rt.id}"},
            "name": rt.name,
            "description": rt.description,
            "helpText": rt.help_text,
            "issueTypeId": rt.issue_type_id,
            "serviceDeskId": rt.service_desk_id,
            "portalId": rt.service_desk_id,
            "groupIds": [],
            "icon": {
                "id": icon,
                "_links": {
                    "iconUrls": {
                        s: f"{avatar}?size={n}"
                        for s, n in (("48x48", "large"), ("24x24", "small"), ("16x16", "xsmall"), ("32x32", "medium"))
                    }
                },
            },
        }

    def request_type_of(self, issue: Issue) -> RequestType | None:
        desk = self.desk_of(issue)
        if desk is None or issue.request_type_id is None:
            return None
        return next((t for t in desk.request_types if t.id == issue.request_type_id), None)

    def status_json(self, issue: Issue) -> dict:
        name, cat, _ = STATUSES[issue.status]
        return {"status": name, "statusCategory": STATUS_CATEGORY[cat], "statusDate": self.date(issue.updated)}

    def comment_json(self, issue: Issue, c: Comment) -> dict:
        return {
            "_expands": ["attachment", "renderedBody"],
            "id": str(c.id),
            "body": c.body,
            "public": c.public,
            "author": self.user(c.author),
            "created": self.date(c.created),
            "_links": {"self": f"{self.base}/request/{issue.id}/comment/{c.id}"},
        }

    def request_json(self, issue: Issue, desk: ServiceDesk, expand: set[str] | None = None) -> dict:
        expand = expand or set()
        fields = [{"fieldId": "summary", "label": "Summary", "value": issue.summary}]
        if issue.description is not None:
            fields.append({"fieldId": "description", "label": "Description", "value": issue.description})
        d: dict[str, Any] = {
            "_expands": list(REQUEST_EXPANDS),
            "issueId": str(issue.id),
            "issueKey": issue.key,
            "summary": issue.summary,
            "serviceDeskId": desk.id,
            "createdDate": self.date(issue.created),
            "reporter": self.user(issue.reporter),
            "requestFieldValues": fields,
            "currentStatus": self.status_json(issue),
            "_links": {
                "jiraRest": f"{self.store.base_url}/rest/api/2/issue/{issue.id}",
                "web": f"{self.store.base_url}/servicedesk/customer/portal/{desk.id}/{issue.key}",
                "agent": f"{self.store.base_url}/browse/{issue.key}",
                "self": f"{self.base}/request/{issue.id}",
            },
        }
        rt = self.request_type_of(issue)
        if rt is not None:
            d["requestTypeId"] = rt.id
            if "requestType" in expand:
                d["requestType"] = self.request_type_json(rt)
        if "serviceDesk" in expand:
            d["serviceDesk"] = self.desk_json(desk)
        path = f"/request/{issue.id}"
        if "participant" in expand:
            d["participants"] = self.page([self.user(k) for k in issue.participants], 0, 50, path + "/participant")
        if "comment" in expand:
            d["comments"] = self.page([self.comment_json(issue, c) for c in issue.comments], 0, 50, path + "/comment")
        if "status" in expand:
            d["status"] = self.page([self.status_json(issue)], 0, 50, path + "/status")
        if "action" in expand:
            allowed = {"allowed": True}
            d["actions"] = {k: allowed for k in ("addAttachment", "addComment", "addParticipant", "removeParticipant")}
        return d

    def request_type_field(self, issue: Issue) -> dict | None:
        """The issue's ``customfield_10010`` (Request Type) value as Jira Cloud shows it on the platform API."""
        rt = self.request_type_of(issue)
        if rt is None:
            return None
        desk = self.desk_of(issue)
        return {
            "_links": {
                "jiraRest": f"{self.store.base_url}/rest/api/2/issue/{issue.id}",
                "web": f"{self.store.base_url}/servicedesk/customer/portal/{desk.id if desk else ''}/{issue.key}",
                "self": f"{self.base}/request/{issue.id}",
            },
            "requestType": self.request_type_json(rt),
            "currentStatus": self.status_json(issue),
        }

    def state(self) -> list[dict]:
        return [
            dict(
                self.desk_json(d),
                requestTypes=[{"id": t.id, "name": t.name, "issueTypeId": t.issue_type_id} for t in d.request_types],
                customers=[self.ref_of(self.store.users[k]) for k in d.customers if k in self.store.users],
                openAccess=d.open_access,
            )
            for d in self.desks.values()
        ]
