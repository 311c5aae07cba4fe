"""In-memory state of the Jira stand-in: users, projects, issues, comments, attachments, links.

Every public method is called with ``store.lock`` held by the HTTP layer. Methods raise
:class:`ApiError` for answers Jira gives with an error body.
"""

from __future__ import annotations

import hashlib
import mimetypes
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from . import jql as jqlmod

DEFAULT_CONFIG: dict[str, Any] = {
    "latency_ms": 0,  # added to every REST request
    "search_delay_seconds": 0.0,  # eventual consistency of search (both modes)
    "text_field_limit": 32767,  # Jira's jira.text.field.character.limit
    "attachment_max_bytes": 10 * 1024 * 1024,  # Jira's default attachment size limit
    "autowatch": True,  # creator and commenters become watchers, as Jira's default user preference
    "search_max_results": 1000,  # DC: cap of maxResults on /search
    "cloud_max_results": 100,  # Cloud /search/jql: cap of maxResults when fields other than id are asked
    # basic auth with an account password (a Cloud API token as basic auth is always accepted): DC sites can turn
    # it off and leave only personal access tokens (Bearer); Jira Cloud refuses passwords altogether
    "basic_auth": True,
    "jsm_open_customer_signup": False,  # JSM: POST /rest/servicedeskapi/customer may create customers
}

STATUS_CATEGORIES = {
    "new": {"id": 2, "key": "new", "colorName": "blue-gray", "name": "To Do"},
    "indeterminate": {"id": 4, "key": "indeterminate", "colorName": "yellow", "name": "In Progress"},
    "done": {"id": 3, "key": "done", "colorName": "green", "name": "Done"},
}
STATUSES = {  # id: (name, category key, description)
    "1": ("Open", "new", "The issue is open and ready for the assignee to start work on it."),
    "3": (
        "In Progress",
        "indeterminate",
        "This issue is being actively worked on at the moment by the assignee.",
    ),
    "4": ("Reopened", "new", "This issue was once resolved, but the resolution was deemed incorrect."),
    "5": ("Resolved", "done", "A resolution has been taken, and it is awaiting verification by reporter."),
    "6": ("Closed", "done", "The issue is considered finished, the resolution is correct."),
}
TRANSITIONS = {  # id: (name, target status id)
    "4": ("Start Progress", "3"),
    "301": ("Stop Progress", "1"),
    "5": ("Resolve Issue", "5"),
    "2": ("Close Issue", "6"),
    "3": ("Reopen Issue", "4"),
}
WORKFLOW = {"1": ["4", "5", "2"], "3": ["301", "5", "2"], "4": ["4", "5", "2"], "5": ["2", "3"], "6": ["3"]}
ISSUE_TYPES = {  # id: (name, description)
    "10000": ("Epic", "A big user story that needs to be broken down."),
    "10001": ("Story", "Functionality or a feature expressed as a user goal."),
    "10002": ("Task", "A small, distinct piece of work."),
    "10004": ("Bug", "A problem or error."),
    "10005": ("Improvement", "An improvement or enhancement to an existing feature or task."),
    "10006": ("Service Request", "A request for help from a customer."),
}
PRIORITIES = {"1": "Highest", "2": "High", "3": "Medium", "4": "Low", "5": "Lowest"}
RESOLUTIONS = {
    "10000": ("Done", "Work has been completed on this issue."),
    "10001": ("Won't Do", "This issue won't be actioned."),
    "10002": ("Duplicate", "The problem is a duplicate of an existing issue."),
}
LINK_TYPES = {  # id: (name, inward, outward)
    "10000": ("Blocks", "is blocked by", "blocks"),
    "10001": ("Cloners", "is cloned by", "clones"),
    "10002": ("Duplicate", "is duplicated by", "duplicates"),
    "10003": ("Relates", "relates to", "relates to"),
}
SETTABLE_FIELDS = {
    "summary",
    "description",
    "issuetype",
    "project",
    "labels",
    "reporter",
    "priority",
    "assignee",
}
ALL_FIELDS = [
    "summary",
    "description",
    "issuetype",
    "project",
    "status",
    "labels",
    "reporter",
    "creator",
    "assignee",
    "priority",
    "created",
    "updated",
    "resolution",
    "resolutiondate",
    "comment",
    "attachment",
    "issuelinks",
    "watches",
]
NON_NAVIGABLE = {"comment", "attachment"}
REQUEST_TYPE_FIELD = "customfield_10010"  # JSM's "Request Type" field (Cloud's id; shown for customer requests only)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        messages: list[str] | str | None = None,
        errors: dict | None = None,
        headers: dict | None = None,
    ):
        if isinstance(messages, str):
            messages = [messages]
        super().__init__(f"{status}: {messages} {errors}")
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})
        self.headers = headers or {}

    def body(self) -> dict:
        return {"errorMessages": self.messages, "errors": self.errors}


def jira_time(ts: float | None) -> str | None:
    if ts is None:
        return None
    d = datetime.fromtimestamp(ts, tz=UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}+0000"


def to_adf(text: str | None) -> dict | None:
    """Plain text -> Atlassian Document Format, as Jira Cloud's v3 API returns rich text."""
    if text is None:
        return None
    content = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        if not para.strip():
            continue
        nodes: list[dict] = []
        for i, line in enumerate(para.split("\n")):
            if i:
                nodes.append({"type": "hardBreak"})
            if line:
                nodes.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": nodes})
    return {"type": "doc", "version": 1, "content": content}


@dataclass
class User:
    name: str
    password: str
    display_name: str
    email: str
    key: str
    account_id: str
    api_token: str | None = None
    active: bool = True
    customer: bool = False  # a JSM customer account (portal only, no Jira licence)


@dataclass
class Project:
    id: str
    key: str
    name: str
    lead: str  # user key
    next_num: int = 1
    type_key: str = "software"  # "service_desk" once a JSM service desk is added on it


@dataclass
class Comment:
    id: int
    author: str
    body: str
    created: float
    updated: float
    visibility: dict | None = None
    public: bool = True  # JSM: shared with the customer (false: an internal note)


@dataclass
class Attachment:
    id: int
    issue_id: int
    filename: str
    mime_type: str
    data: bytes
    author: str
    created: float

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


@dataclass
class Link:
    id: int
    type_id: str
    source: int  # issue id (the request's inwardIssue): shows the outward description
    target: int  # issue id (the request's outwardIssue)


@dataclass
class Issue:
    id: int
    project: Project
    num: int
    summary: str
    description: str | None
    issuetype: str
    labels: list[str]
    reporter: str | None
    creator: str
    assignee: str | None
    priority: str
    status: str = "1"
    resolution: str | None = None
    resolutiondate: float | None = None
    created: float = 0.0
    updated: float = 0.0
    comments: list[Comment] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    watchers: list[str] = field(default_factory=list)
    snapshots: list[tuple[float, dict]] = field(default_factory=list)
    request_type_id: str | None = None  # JSM: the customer request type it was raised with
    participants: list[str] = field(default_factory=list)  # JSM: request participants (user keys)

    @property
    def key(self) -> str:
        return f"{self.project.key}-{self.num}"


class Store(jqlmod.Catalog):
    def __init__(
        self,
        *,
        mode: str = "dc",
        user: str = "admin",
        password: str = "admin",
        projects: list[str] | None = None,
        base_url: str = "http://127.0.0.1",
    ):
        self.lock = threading.RLock()
        self.mode = mode
        self.base_url = base_url
        self._initial = (user, password, list(projects or ["HD"]))
        self.viewer: User | None = None  # the authenticated user of the request being served
        self.reset()

    # ---------------------------------------------------------------- lifecycle

    def reset(self) -> None:
        user, password, projects = self._initial
        self.config = dict(DEFAULT_CONFIG)
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.issues: dict[int, Issue] = {}
        self.links: dict[int, Link] = {}
        self.attachments: dict[int, Attachment] = {}
        self.tokens: dict[str, str] = {}  # Data Center personal access token -> user key
        from .jsm import Jsm  # late: jsm builds on this module

        self.jsm = Jsm(self)
        self._seq = {
            "issue": 10000,
            "comment": 10000,
            "attachment": 10000,
            "link": 10000,
            "user": 10000,
            "project": 10000,
        }
        admin = self.add_user({"name": user, "password": password, "api_token": password})
        for key in projects:
            self.add_project(key, lead=admin.key)

    def _next(self, kind: str) -> int:
        self._seq[kind] += 1
        return self._seq[kind] - 1

    def configure(self, cfg: dict) -> dict:
        unknown = set(cfg) - set(DEFAULT_CONFIG) - {"base_url"}
        if unknown:
            raise ApiError(400, f"unknown config keys: {sorted(unknown)}; known: {sorted(DEFAULT_CONFIG)}")
        for k, v in cfg.items():
            if k == "base_url":
                self.base_url = str(v).rstrip("/")
            else:
                self.config[k] = v
        return dict(self.config, base_url=self.base_url)

    # ---------------------------------------------------------------- users and projects

    def add_user(self, spec: dict) -> User:
        name = spec.get("name") or spec.get("username")
        if not name or not isinstance(name, str):
            raise ApiError(400, "a user needs a 'name'")
        n = self._next("user")
        email = (
            spec.get("email") or spec.get("emailAddress") or (name if "@" in name else f"{name}@example.test")
        )
        u = User(
            name=name,
            password=spec.get("password") or name,
            display_name=spec.get("displayName") or spec.get("display_name") or name,
            email=email,
            key=f"JIRAUSER{n}",
            account_id=spec.get("accountId") or f"712020:{uuid.uuid5(uuid.NAMESPACE_URL, 'standin:' + name)}",
            api_token=spec.get("api_token") or spec.get("apiToken"),
            active=spec.get("active", True),
        )
        for other in list(self.users.values()):
            if other.name.lower() == name.lower():
                u.key, u.account_id = other.key, spec.get("accountId") or other.account_id
                del self.users[other.key]
        self.users[u.key] = u
        return u

    def add_project(self, key: str, name: str | None = None, lead: str | None = None) -> Project:
        key = key.upper()
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{0,49}", key):
            raise ApiError(400, f"invalid project key {key!r}")
        if key not in self.projects:
            pid = str(self._next("project"))
            lead_key = lead or next(iter(self.users))
            self.projects[key] = Project(pid, key, name or f"{key} Service Desk", lead_key)
        return self.projects[key]

    def authenticate(self, login: str, secret: str) -> User | None:
        return self.authenticate_basic(login, secret)[0]

    def authenticate_basic(self, login: str, secret: str) -> tuple[User | None, str | None]:
        """The user of a basic-auth login and how it was proved: ``"api_token"`` or ``"password"``.
        Passwords count only while ``basic_auth`` is on; Cloud takes the e-mail address as login too."""
        for u in self.users.values():
            if not u.active or u.customer:
                continue
            names = {u.name.lower()}
            if self.mode == "cloud":
                names.add(u.email.lower())
            if login.lower() not in names:
                continue
            if self.mode == "cloud" and u.api_token is not None and secret == u.api_token:
                return u, "api_token"
            if secret == u.password:
                return (u, "password") if self.config.get("basic_auth", True) else (None, "password")
        return None, None

    def add_token(self, user: str, token: str) -> User:
        """Registers a Data Center personal access token for ``user`` (sent as ``Authorization: Bearer``)."""
        if self.mode == "cloud":
            raise ApiError(400, "Jira Cloud has no personal access tokens: give the user an api_token instead")
        u = self.user_by_name(user)
        if u is None or not token:
            raise ApiError(400, f"unknown user {user!r} or empty token")
        self.tokens[token] = u.key
        return u

    def authenticate_token(self, token: str) -> User | None:
        key = self.tokens.get(token) if self.mode == "dc" else None
        u = self.users.get(key) if key else None
        return u if u is not None and u.active else None

    def user_by_name(self, name: str) -> User | None:
        for u in self.users.values():
            if u.name.lower() == str(name).lower():
                return u
        return None

    def user_by_account(self, account_id: str) -> User | None:
        for u in self.users.values():
            if u.account_id == account_id:
                return u
        return None

    def user_ref(self, value: str) -> User | None:
        """A user as a client names it: username (DC) or accountId (Cloud)."""
        return self.user_by_account(value) if self.mode == "cloud" else self.user_by_name(value)

    def user_json(self, key: str | None, *, full: bool = False) -> dict | None:
        if key is None or key not in self.users:
            return None
        u = self.users[key]
        avatars = {
            s: f"{self.base_url}/secure/useravatar?size={n}&ownerId={quote(u.name)}"
            for s, n in (("48x48", "large"), ("24x24", "small"), ("16x16", "xsmall"), ("32x32", "medium"))
        }
        if self.mode == "cloud":
            d = {
                "self": f"{self.base_url}/rest/api/2/user?accountId={u.account_id}",
                "accountId": u.account_id,
                "accountType": "atlassian",
                "emailAddress": u.email,
                "avatarUrls": avatars,
                "displayName": u.display_name,
                "active": u.active,
                "timeZone": "Etc/UTC",
            }
            if full:
                d.update(
                    {
                        "locale": "en_US",
                        "groups": {"size": 1, "items": []},
                        "applicationRoles": {"size": 1, "items": []},
                        "expand": "groups,applicationRoles",
                    }
                )
            return d
        d = {
            "self": f"{self.base_url}/rest/api/2/user?username={quote(u.name)}",
            "key": u.key,
            "name": u.name,
            "emailAddress": u.email,
            "avatarUrls": avatars,
            "displayName": u.display_name,
            "active": u.active,
            "timeZone": "Etc/UTC",
        }
        if full:
            d.update(
                {
                    "deleted": False,
                    "locale": "en_US",
                    "groups": {"size": 1, "items": []},
                    "applicationRoles": {"size": 1, "items": []},
                    "expand": "groups,applicationRoles",
                }
            )
        return d

    def search_users(
        self,
        query: str,
        *,
        start_at: int = 0,
        max_results: int = 50,
        include_active: bool = True,
        include_inactive: bool = False,
    ) -> list[dict]:
        q = query.lower().strip()
        out = []
        for u in self.users.values():
            if (u.active and not include_active) or (not u.active and not include_inactive):
                continue
            hay = [u.email.lower(), u.display_name.lower(), *u.display_name.lower().split()]
            if self.mode != "cloud":
                hay.append(u.name.lower())
            if q == "." or any(h.startswith(q) or (len(q) >= 3 and q in h) for h in hay):
                out.append(self.user_json(u.key))
        return out[start_at : start_at + max(0, min(max_results, 1000))]

    def project(self, id_or_key: str) -> Project:
        for p in self.projects.values():
            if p.key == str(id_or_key).upper() or p.id == str(id_or_key):
                return p
        raise ApiError(404, f"No project could be found with key '{id_or_key}'.")

    def project_json(self, p: Project) -> dict:
        return {
            "expand": "description,lead,url,projectKeys",
            "self": f"{self.base_url}/rest/api/2/project/{p.id}",
            "id": p.id,
            "key": p.key,
            "description": "",
            "lead": self.user_json(p.lead),
            "components": [],
            "issueTypes": [self.issuetype_json(i) for i in ISSUE_TYPES],
            "assigneeType": "UNASSIGNED",
            "versions": [],
            "name": p.name,
            "roles": {},
            "avatarUrls": {"48x48": f"{self.base_url}/secure/projectavatar?pid={p.id}"},
            "projectKeys": [p.key],
            "projectTypeKey": p.type_key,
            "archived": False,
        }

    # ---------------------------------------------------------------- JSON of small beans

    def issuetype_json(self, tid: str) -> dict:
        name, desc = ISSUE_TYPES[tid]
        return {
            "self": f"{self.base_url}/rest/api/2/issuetype/{tid}",
            "id": tid,
            "description": desc,
            "iconUrl": f"{self.base_url}/images/icons/issuetypes/{name.lower().replace(' ', '')}.svg",
            "name": name,
            "subtask": False,
        }

    def status_json(self, sid: str) -> dict:
        name, cat, desc = STATUSES[sid]
        c = STATUS_CATEGORIES[cat]
        return {
            "self": f"{self.base_url}/rest/api/2/status/{sid}",
            "description": desc,
            "iconUrl": f"{self.base_url}/images/icons/statuses/{name.lower().replace(' ', '')}.png",
            "name": name,
            "id": sid,
            "statusCategory": {"self": f"{self.base_url}/rest/api/2/statuscategory/{c['id']}", **c},
        }

    def priority_json(self, pid: str) -> dict:
        name = PRIORITIES[pid]
        return {
            "self": f"{self.base_url}/rest/api/2/priority/{pid}",
            "iconUrl": f"{self.base_url}/images/icons/priorities/{name.lower()}.svg",
            "name": name,
            "id": pid,
        }

    def resolution_json(self, rid: str | None) -> dict | None:
        if rid is None:
            return None
        name, desc = RESOLUTIONS[rid]
        return {
            "self": f"{self.base_url}/rest/api/2/resolution/{rid}",
            "id": rid,
            "description": desc,
            "name": name,
        }

    def link_type_json(self, tid: str) -> dict:
        name, inward, outward = LINK_TYPES[tid]
        return {
            "id": tid,
            "name": name,
            "inward": inward,
            "outward": outward,
            "self": f"{self.base_url}/rest/api/2/issueLinkType/{tid}",
        }

    # ---------------------------------------------------------------- issues

    def issue(self, id_or_key: str) -> Issue:
        s = str(id_or_key).strip()
        if s.isdigit() and int(s) in self.issues:
            return self.issues[int(s)]
        m = re.fullmatch(r"([A-Za-z][A-Za-z0-9_]*)-(\d+)", s)
        if m:
            for i in self.issues.values():
                if i.project.key == m.group(1).upper() and i.num == int(m.group(2)):
                    return i
        raise ApiError(404, "Issue Does Not Exist")

    def _text_limit_error(self, value: str | None) -> str | None:
        limit = int(self.config["text_field_limit"])
        if value is not None and len(value) > limit:
            return f"The entered text is too long. It exceeds the allowed limit of {limit:,} characters."
        return None

    def _validate_fields(self, fields: dict, errors: dict, *, creating: bool) -> dict:
        """Jira's own rules for settable fields; returns normalised values."""
        out: dict[str, Any] = {}
        for name in fields:
            if name not in SETTABLE_FIELDS:
                errors[name] = (
                    f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
                )
        if creating or "project" in fields:
            p = fields.get("project")
            if not p:
                errors["project"] = "project is required"
            elif not isinstance(p, dict) or not (p.get("key") or p.get("id")):
                errors["project"] = "project is required"
            else:
                try:
                    out["project"] = self.project(p.get("key") or p.get("id"))
                except ApiError:
                    errors["project"] = "valid project is required"
        if creating or "issuetype" in fields:
            t = fields.get("issuetype")
            if not t:
                errors["issuetype"] = "issue type is required"
            elif not isinstance(t, dict) or not (t.get("id") or t.get("name")):
                errors["issuetype"] = "issue type is required"
            else:
                tid = self._lookup(ISSUE_TYPES, t.get("id"), t.get("name"), lambda v: v[0])
                if tid is None:
                    errors["issuetype"] = "The issue type selected is invalid."
                else:
                    out["issuetype"] = tid
        if creating or "summary" in fields:
            s = fields.get("summary")
            if s is None or (isinstance(s, str) and not s.strip()):
                errors["summary"] = "You must specify a summary of the issue."
            elif not isinstance(s, str):
                errors["summary"] = "Operation value must be a string"
            elif "\n" in s or "\r" in s:
                errors["summary"] = "The summary is invalid because it contains newline characters."
            elif len(s) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
            else:
                out["summary"] = s
        if "description" in fields:
            d = fields["description"]
            if d is not None and not isinstance(d, str):
                errors["description"] = "Operation value must be a string"
            elif self._text_limit_error(d):
                errors["description"] = self._text_limit_error(d)
            else:
                out["description"] = d if d else None
        if "labels" in fields:
            labels = fields["labels"]
            if labels is None:
                labels = []
            if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
                errors["labels"] = "data was not an array"
            else:
                problem = self._label_problem(labels)
                if problem:
                    errors["labels"] = problem
                else:
                    out["labels"] = list(dict.fromkeys(labels))
        for role in ("reporter", "assignee"):
            if role in fields:
                ref = fields[role]
                if ref is None:
                    out[role] = None
                    continue
                u = self._user_from_ref(ref)
                if u is None:
                    errors[role] = (
                        "The reporter specified is not a user."
                        if role == "reporter"
                        else f"User '{self._ref_text(ref)}' does not exist."
                    )
                else:
                    out[role] = u.key
        if "priority" in fields:
            pr = fields["priority"]
            pid = self._lookup(
                PRIORITIES,
                (pr or {}).get("id") if isinstance(pr, dict) else None,
                (pr or {}).get("name") if isinstance(pr, dict) else None,
                lambda v: v,
            )
            if pid is None:
                errors["priority"] = "The priority selected is invalid."
            else:
                out["priority"] = pid
        return out

    @staticmethod
    def _lookup(table: dict, want_id, want_name, name_of) -> str | None:
        if want_id is not None and str(want_id) in table:
            return str(want_id)
        if want_name is not None:
            for k, v in table.items():
                if name_of(v).lower() == str(want_name).lower():
                    return k
        return None

    @staticmethod
    def _label_problem(labels: list[str]) -> str | None:
        for label in labels:
            if not label.strip():
                return "The label must not be empty."
            if re.search(r"\s", label):
                return f"The label '{label}' contains spaces which is invalid."
            if len(label) > 255:
                return (
                    f"The label '{label[:20]}...' exceeds the maximum length "
                    "for a single label of 255 characters."
                )
        return None

    def _ref_text(self, ref) -> str:
        if isinstance(ref, dict):
            return str(ref.get("accountId") or ref.get("name") or ref.get("id") or ref)
        return str(ref)

    def _user_from_ref(self, ref) -> User | None:
        if not isinstance(ref, dict):
            return None
        if self.mode == "cloud":
            acc = ref.get("accountId") or ref.get("id")
            return self.user_by_account(acc) if isinstance(acc, str) else None
        if isinstance(ref.get("name"), str):
            return self.user_by_name(ref["name"])
        if isinstance(ref.get("key"), str):
            return self.users.get(ref["key"])
        return None

    def create_issue(self, body: dict, viewer: User) -> Issue:
        fields = body.get("fields")
        if fields is None:
            fields = {}
        if not isinstance(fields, dict):
            raise ApiError(
                400, "Can not deserialize instance of java.util.LinkedHashMap out of START_ARRAY token"
            )
        errors: dict[str, str] = {}
        vals = self._validate_fields(fields, errors, creating=True)
        update = body.get("update") or {}
        ops = self._validate_update(update, errors)
        if errors:
            raise ApiError(400, [], errors)
        now = time.time()
        p: Project = vals["project"]
        issue = Issue(
            id=self._next("issue"),
            project=p,
            num=p.next_num,
            summary=vals["summary"],
            description=vals.get("description"),
            issuetype=vals["issuetype"],
            labels=vals.get("labels", []),
            reporter=vals.get("reporter", viewer.key),
            creator=viewer.key,
            assignee=vals.get("assignee"),
            priority=vals.get("priority", "3"),
            created=now,
            updated=now,
        )
        p.next_num += 1
        if self.config["autowatch"]:
            issue.watchers.append(viewer.key)
        self.issues[issue.id] = issue
        self._apply_update(issue, ops, viewer, now)
        self._snapshot(issue, now)
        return issue

    def _validate_update(self, update, errors: dict) -> list[tuple[str, str, Any]]:
        if not isinstance(update, dict):
            errors["update"] = "data was not an object"
            return []
        ops: list[tuple[str, str, Any]] = []
        for fname, items in update.items():
            if fname not in ("labels", "comment"):
                errors[fname] = (
                    f"Field '{fname}' cannot be set. It is not on the appropriate screen, or unknown."
                )
                continue
            for item in items if isinstance(items, list) else []:
                for verb, arg in (item or {}).items():
                    if fname == "labels" and verb in ("add", "remove", "set"):
                        arg_list = arg if verb == "set" else [arg]
                        if not isinstance(arg_list, list) or not all(isinstance(x, str) for x in arg_list):
                            errors["labels"] = "data was not an array"
                        elif self._label_problem(arg_list) and verb != "remove":
                            errors["labels"] = self._label_problem(arg_list)
                        else:
                            ops.append((fname, verb, arg))
                    elif fname == "comment" and verb == "add" and isinstance(arg, dict):
                        b = arg.get("body")
                        if not isinstance(b, str) or not b.strip():
                            errors["comment"] = "Comment body can not be empty!"
                        elif self._text_limit_error(b):
                            errors["comment"] = self._text_limit_error(b)
                        else:
                            ops.append((fname, verb, arg))
                    else:
                        errors[fname] = f"Operation '{verb}' is not supported for field '{fname}'."
        return ops

    def _apply_update(self, issue: Issue, ops, viewer: User, now: float) -> None:
        for fname, verb, arg in ops:
            if fname == "labels":
                if verb == "add" and arg not in issue.labels:
                    issue.labels.append(arg)
                elif verb == "remove" and arg in issue.labels:
                    issue.labels.remove(arg)
                elif verb == "set":
                    issue.labels = list(dict.fromkeys(arg))
            elif fname == "comment":
                self._add_comment(issue, arg["body"], viewer, now, arg.get("visibility"))

    def edit_issue(self, issue: Issue, body: dict, viewer: User) -> None:
        fields = body.get("fields") or {}
        if not isinstance(fields, dict):
            raise ApiError(
                400, "Can not deserialize instance of java.util.LinkedHashMap out of START_ARRAY token"
            )
        errors: dict[str, str] = {}
        if "project" in fields:
            errors["project"] = (
                "Field 'project' cannot be set. It is not on the appropriate screen, or unknown."
            )
        vals = self._validate_fields(
            {k: v for k, v in fields.items() if k != "project"}, errors, creating=False
        )
        ops = self._validate_update(body.get("update") or {}, errors)
        if errors:
            raise ApiError(400, [], errors)
        now = time.time()
        for k, v in vals.items():
            setattr(issue, k, v)
        self._apply_update(issue, ops, viewer, now)
        issue.updated = now
        self._snapshot(issue, now)

    def delete_issue(self, issue: Issue) -> None:
        del self.issues[issue.id]
        for a in issue.attachments:
            self.attachments.pop(a.id, None)
        for lid in [lid for lid, link in self.links.items() if issue.id in (link.source, link.target)]:
            del self.links[lid]

    def _add_comment(self, issue: Issue, body: str, viewer: User, now: float, visibility=None) -> Comment:
        c = Comment(self._next("comment"), viewer.key, body, now, now, visibility)
        issue.comments.append(c)
        issue.updated = now
        if self.config["autowatch"] and viewer.key not in issue.watchers:
            issue.watchers.append(viewer.key)
        return c

    def add_comment(self, issue: Issue, body: dict, viewer: User) -> Comment:
        text = body.get("body")
        if not isinstance(text, str) or not text.strip():
            raise ApiError(400, [], {"comment": "Comment body can not be empty!"})
        if self._text_limit_error(text):
            raise ApiError(400, [], {"comment": self._text_limit_error(text)})
        vis = body.get("visibility")
        if vis is not None and (
            not isinstance(vis, dict) or vis.get("type") not in ("group", "role") or not vis.get("value")
        ):
            raise ApiError(
                400,
                [],
                {
                    "commentLevel": "You are currently not a member of the project role: "
                    f"{(vis or {}).get('value')}."
                },
            )
        now = time.time()
        c = self._add_comment(issue, text, viewer, now, vis)
        self._snapshot(issue, now)
        return c

    def comment_json(self, issue: Issue, c: Comment, api_version: int = 2) -> dict:
        d = {
            "self": f"{self.base_url}/rest/api/{api_version}/issue/{issue.id}/comment/{c.id}",
            "id": str(c.id),
            "author": self.user_json(c.author),
            "body": to_adf(c.body) if api_version == 3 else c.body,
            "updateAuthor": self.user_json(c.author),
            "created": jira_time(c.created),
            "updated": jira_time(c.updated),
        }
        if c.visibility:
            d["visibility"] = c.visibility
        if self.mode == "cloud":
            d["jsdPublic"] = c.public
        return d

    def add_attachments(self, issue: Issue, parts: list[tuple[str, str | None, bytes]], viewer: User) -> list:
        limit = int(self.config["attachment_max_bytes"])
        for filename, _, data in parts:
            if len(data) > limit:
                raise ApiError(
                    404,
                    f"The file '{filename}' is too large to attach: it has {len(data)} bytes and "
                    f"the configured maximum is {limit} bytes.",
                )
        now = time.time()
        out = []
        for filename, ctype, data in parts:
            mime = (ctype or "").split(";")[0].strip().lower()
            if not mime or mime == "application/octet-stream":
                mime = mimetypes.guess_type(filename)[0] or "application/octet-stream"
            a = Attachment(self._next("attachment"), issue.id, filename, mime, data, viewer.key, now)
            issue.attachments.append(a)
            self.attachments[a.id] = a
            out.append(a)
        issue.updated = now
        self._snapshot(issue, now)
        return out

    def attachment_json(self, a: Attachment) -> dict:
        content = (
            f"{self.base_url}/rest/api/2/attachment/content/{a.id}"
            if self.mode == "cloud"
            else f"{self.base_url}/secure/attachment/{a.id}/{quote(a.filename)}"
        )
        d = {
            "self": f"{self.base_url}/rest/api/2/attachment/{a.id}",
            "id": str(a.id),
            "filename": a.filename,
            "author": self.user_json(a.author),
            "created": jira_time(a.created),
            "size": len(a.data),
            "mimeType": a.mime_type,
            "content": content,
        }
        if a.mime_type.startswith("image/"):
            d["thumbnail"] = f"{self.base_url}/secure/thumbnail/{a.id}/_thumb_{a.id}.png"
        return d

    def transitions_for(self, issue: Issue) -> list[dict]:
        out = []
        for tid in WORKFLOW[issue.status]:
            name, target = TRANSITIONS[tid]
            out.append(
                {
                    "id": tid,
                    "name": name,
                    "to": self.status_json(target),
                    "hasScreen": False,
                    "isGlobal": False,
                    "isInitial": False,
                    "isConditional": False,
                }
            )
        return out

    def transition(self, issue: Issue, body: dict, viewer: User) -> None:
        t = body.get("transition")
        tid = t.get("id") if isinstance(t, dict) else None
        if tid is None:
            raise ApiError(400, "Missing 'transition' identifier")
        tid = str(tid)
        if tid not in WORKFLOW[issue.status]:
            raise ApiError(400, f"Transition id '{tid}' is not valid for this issue.")
        errors: dict[str, str] = {}
        fields = body.get("fields") or {}
        resolution = None
        for k, v in fields.items() if isinstance(fields, dict) else []:
            if k == "resolution" and STATUSES[TRANSITIONS[tid][1]][1] == "done":
                resolution = self._lookup(
                    RESOLUTIONS, (v or {}).get("id"), (v or {}).get("name"), lambda x: x[0]
                )
                if resolution is None:
                    errors["resolution"] = "The resolution selected is invalid."
            else:
                errors[k] = f"Field '{k}' cannot be set. It is not on the appropriate screen, or unknown."
        ops = self._validate_update(body.get("update") or {}, errors)
        if errors:
            raise ApiError(400, [], errors)
        now = time.time()
        target = TRANSITIONS[tid][1]
        issue.status = target
        if STATUSES[target][1] == "done":
            issue.resolution = resolution or issue.resolution or "10000"
            issue.resolutiondate = issue.resolutiondate or now
        else:
            issue.resolution = None
            issue.resolutiondate = None
        self._apply_update(issue, ops, viewer, now)
        issue.updated = now
        self._snapshot(issue, now)

    def link(self, body: dict, viewer: User) -> Link:
        t = body.get("type") or {}
        tid = (
            self._lookup(LINK_TYPES, t.get("id"), t.get("name"), lambda v: v[0])
            if isinstance(t, dict)
            else None
        )
        if tid is None:
            raise ApiError(
                404, f"No issue link type with name '{t.get('name') if isinstance(t, dict) else t}' found."
            )
        refs = []
        for side in ("inwardIssue", "outwardIssue"):
            ref = body.get(side)
            if not isinstance(ref, dict) or not (ref.get("key") or ref.get("id")):
                raise ApiError(400, [], {"issueLinks": f"The {side} is required."})
            try:
                refs.append(self.issue(ref.get("key") or ref.get("id")))
            except ApiError:
                raise ApiError(404, f"Issue Does Not Exist: {ref.get('key') or ref.get('id')}") from None
        src, dst = refs
        now = time.time()
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body"):
            self._add_comment(src, comment["body"], viewer, now, comment.get("visibility"))
        link = Link(self._next("link"), tid, src.id, dst.id)
        self.links[link.id] = link
        for i in (src, dst):
            i.updated = now
            self._snapshot(i, now)
        return link

    def links_json(self, issue: Issue) -> list[dict]:
        out = []
        for link in self.links.values():
            if issue.id not in (link.source, link.target):
                continue
            other_id, side = (
                (link.target, "outwardIssue") if link.source == issue.id else (link.source, "inwardIssue")
            )
            other = self.issues.get(other_id)
            if other is None:
                continue
            out.append(
                {
                    "id": str(link.id),
                    "self": f"{self.base_url}/rest/api/2/issueLink/{link.id}",
                    "type": self.link_type_json(link.type_id),
                    side: {
                        "id": str(other.id),
                        "key": other.key,
                        "self": f"{self.base_url}/rest/api/2/issue/{other.id}",
                        "fields": {
                            "summary": other.summary,
                            "status": self.status_json(other.status),
                            "priority": self.priority_json(other.priority),
                            "issuetype": self.issuetype_json(other.issuetype),
                        },
                    },
                }
            )
        return out

    def add_watcher(self, issue: Issue, who: str | None, viewer: User) -> None:
        u = viewer if not who else self.user_ref(who)
        if u is None:
            raise ApiError(404, f'The user "{who}" does not exist.')
        if u.key not in issue.watchers:
            issue.watchers.append(u.key)

    def remove_watcher(self, issue: Issue, who: str | None) -> None:
        if not who:
            raise ApiError(400, "A user name query parameter is required.")
        u = self.user_ref(who)
        if u is None:
            raise ApiError(404, f'The user "{who}" does not exist.')
        if u.key in issue.watchers:
            issue.watchers.remove(u.key)

    def watchers_json(self, issue: Issue, viewer: User) -> dict:
        return {
            "self": f"{self.base_url}/rest/api/2/issue/{issue.key}/watchers",
            "isWatching": viewer.key in issue.watchers,
            "watchCount": len(issue.watchers),
            "watchers": [self.user_json(k) for k in issue.watchers],
        }

    # ---------------------------------------------------------------- rendering

    @staticmethod
    def parse_fields(values: list[str] | None, default: str) -> set[str]:
        items: list[str] = []
        for v in values or [default]:
            items += [x.strip() for x in str(v).split(",") if x.strip()]
        if not items:
            items = [default]
        chosen: set[str] = set()
        removed: set[str] = set()
        for it in items:
            if it == "*all":
                chosen |= set(ALL_FIELDS) | {REQUEST_TYPE_FIELD}
            elif it == "*navigable":
                chosen |= (set(ALL_FIELDS) - NON_NAVIGABLE) | {REQUEST_TYPE_FIELD}
            elif it == REQUEST_TYPE_FIELD:
                chosen.add(it)
            elif it.startswith("-"):
                removed.add(it[1:])
            elif it in ALL_FIELDS:
                chosen.add(it)
        return chosen - removed

    def issue_json(
        self,
        issue: Issue,
        fields: set[str],
        viewer: User,
        *,
        api_version: int = 2,
        expand: set[str] | None = None,
    ) -> dict:
        f: dict[str, Any] = {}
        rich = (lambda s: to_adf(s)) if api_version == 3 else (lambda s: s)
        values = {
            "summary": lambda: issue.summary,
            "description": lambda: rich(issue.description),
            "issuetype": lambda: self.issuetype_json(issue.issuetype),
            "project": lambda: {
                "self": f"{self.base_url}/rest/api/2/project/{issue.project.id}",
                "id": issue.project.id,
                "key": issue.project.key,
                "name": issue.project.name,
                "projectTypeKey": issue.project.type_key,
            },
            "status": lambda: self.status_json(issue.status),
            "labels": lambda: list(issue.labels),
            "reporter": lambda: self.user_json(issue.reporter),
            "creator": lambda: self.user_json(issue.creator),
            "assignee": lambda: self.user_json(issue.assignee),
            "priority": lambda: self.priority_json(issue.priority),
            "created": lambda: jira_time(issue.created),
            "updated": lambda: jira_time(issue.updated),
            "resolution": lambda: self.resolution_json(issue.resolution),
            "resolutiondate": lambda: jira_time(issue.resolutiondate),
            "comment": lambda: {
                "comments": [self.comment_json(issue, c, api_version) for c in issue.comments],
                "maxResults": len(issue.comments),
                "total": len(issue.comments),
                "startAt": 0,
            },
            "attachment": lambda: [self.attachment_json(a) for a in issue.attachments],
            "issuelinks": lambda: self.links_json(issue),
            "watches": lambda: {
                "self": f"{self.base_url}/rest/api/2/issue/{issue.key}/watchers",
                "watchCount": len(issue.watchers),
                "isWatching": viewer.key in issue.watchers,
            },
        }
        for name in ALL_FIELDS:
            if name in fields:
                f[name] = values[name]()
        if REQUEST_TYPE_FIELD in fields and issue.request_type_id is not None:
            f[REQUEST_TYPE_FIELD] = self.jsm.request_type_field(issue)  # JSM's "Request Type" field
        d: dict[str, Any] = {
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": str(issue.id),
            "self": f"{self.base_url}/rest/api/{api_version}/issue/{issue.id}",
            "key": issue.key,
            "fields": f,
        }
        expand = expand or set()
        if "names" in expand:
            d["names"] = {n: n.capitalize() for n in f}
        if "transitions" in expand:
            d["transitions"] = self.transitions_for(issue)
        return d

    def state(self) -> dict:
        viewer = next(iter(self.users.values()))
        issues = []
        for i in sorted(self.issues.values(), key=lambda x: x.id):
            d = self.issue_json(i, set(ALL_FIELDS), viewer)
            d["status"] = STATUSES[i.status][0]
            d["statusCategory"] = STATUSES[i.status][1]
            d["comments"] = [
                {
                    "id": str(c.id),
                    "author": self.users[c.author].name,
                    "body": c.body,
                    "created": jira_time(c.created),
                    "public": c.public,
                }
                for c in i.comments
            ]
            d["requestTypeId"] = i.request_type_id
            d["participants"] = [self.users[k].name for k in i.participants if k in self.users]
            d["attachments"] = [
                {
                    "id": str(a.id),
                    "filename": a.filename,
                    "mimeType": a.mime_type,
                    "size": len(a.data),
                    "sha256": a.sha256,
                    "author": self.users[a.author].name,
                }
                for a in i.attachments
            ]
            d["watchers"] = [self.users[k].name for k in i.watchers if k in self.users]
            d["links"] = [
                {
                    "id": str(link.id),
                    "type": LINK_TYPES[link.type_id][0],
                    "inward": self.issues[link.source].key,
                    "outward": self.issues[link.target].key,
                }
                for link in self.links.values()
                if i.id in (link.source, link.target)
                and link.source in self.issues
                and link.target in self.issues
            ]
            issues.append(d)
        return {
            "mode": self.mode,
            "base_url": self.base_url,
            "config": dict(self.config),
            "projects": [{"id": p.id, "key": p.key, "name": p.name} for p in self.projects.values()],
            "users": [
                {
                    "name": u.name,
                    "key": u.key,
                    "accountId": u.account_id,
                    "email": u.email,
                    "displayName": u.display_name,
                    "active": u.active,
                    "customer": u.customer,
                }
                for u in self.users.values()
            ],
            "serviceDesks": self.jsm.state(),
            "issues": issues,
        }

    # ---------------------------------------------------------------- search

    def _doc(self, issue: Issue) -> dict:
        return {
            "id": str(issue.id),
            "key_tuple": (issue.project.key, issue.num),
            "project": issue.project.id,
            "words": {
                "summary": [jqlmod.tokenize_words(issue.summary)],
                "description": [jqlmod.tokenize_words(issue.description)] if issue.description else [],
                "comment": [jqlmod.tokenize_words(c.body) for c in issue.comments],
            },
            "summary_sort": issue.summary.lower(),
            "labels": list(issue.labels),
            "status": issue.status,
            "statusCategory": STATUSES[issue.status][1],
            "issuetype": issue.issuetype,
            "resolution": issue.resolution,
            "reporter": issue.reporter,
            "created": datetime.fromtimestamp(issue.created, tz=UTC),
            "updated": datetime.fromtimestamp(issue.updated, tz=UTC),
        }

    def _snapshot(self, issue: Issue, now: float) -> None:
        issue.snapshots.append((now, self._doc(issue)))
        delay = float(self.config["search_delay_seconds"] or 0)
        # keep the newest snapshot already visible plus everything newer
        visible = [k for k, (t, _) in enumerate(issue.snapshots) if t + delay <= now]
        if visible:
            del issue.snapshots[: visible[-1]]

    def _indexed_doc(self, issue: Issue, now: float, reconcile: set[str]) -> dict | None:
        delay = float(self.config["search_delay_seconds"] or 0)
        if delay <= 0 or str(issue.id) in reconcile:
            return issue.snapshots[-1][1] if issue.snapshots else self._doc(issue)
        doc = None
        for t, d in issue.snapshots:
            if t + delay <= now:
                doc = d
        return doc

    def run_jql(
        self,
        text: str,
        viewer: User,
        *,
        strict_values: bool = True,
        reconcile: set[str] | None = None,
        require_bounded: bool = False,
    ) -> tuple[list[Issue], list[str]]:
        try:
            q = jqlmod.parse(text or "")
            self.viewer = viewer
            cq = jqlmod.compile_query(q, self, now=datetime.now(UTC), strict_values=strict_values)
        except jqlmod.JqlError as e:
            raise ApiError(400, e.message) from None
        if require_bounded and not cq.bounded:
            raise ApiError(
                400,
                "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.",
            )
        now = time.time()
        hits = []
        for issue in self.issues.values():
            doc = self._indexed_doc(issue, now, reconcile or set())
            if doc is not None and cq.predicate(doc):
                hits.append((issue, doc))
        hits.sort(key=lambda h: -h[0].id)  # no ORDER BY: newest first
        for sk in reversed(cq.order):
            keyf = {
                "created": lambda h: (h[1]["created"], h[0].id),
                "updated": lambda h: (h[1]["updated"], h[0].id),
                "key": lambda h: h[1]["key_tuple"],
                "summary": lambda h: h[1]["summary_sort"],
            }[sk.field]
            hits.sort(key=keyf, reverse=sk.desc)
        return [h[0] for h in hits], cq.warnings

    # Catalog for the JQL compiler -------------------------------------------------------

    def project_ids(self, value: str) -> set[str]:
        v = value.lower()
        return {p.id for p in self.projects.values() if v in (p.key.lower(), p.id, p.name.lower())}

    def status_ids(self, value: str) -> set[str]:
        v = value.lower()
        return {sid for sid, (name, _, _) in STATUSES.items() if v in (sid, name.lower())}

    def status_category_keys(self, value: str) -> set[str]:
        v = value.lower()
        return {k for k, c in STATUS_CATEGORIES.items() if v in (k, str(c["id"]), c["name"].lower())}

    def issuetype_ids(self, value: str) -> set[str]:
        v = value.lower()
        return {tid for tid, (name, _) in ISSUE_TYPES.items() if v in (tid, name.lower())}

    def resolution_ids(self, value: str) -> set[str]:
        v = value.lower()
        if v == "unresolved":
            return {"__none__"}
        return {rid for rid, (name, _) in RESOLUTIONS.items() if v in (rid, name.lower())}

    def user_ids(self, value: str) -> set[str]:
        v = value.lower()
        if self.mode == "cloud":
            return {u.key for u in self.users.values() if u.account_id.lower() == v}
        return {
            u.key
            for u in self.users.values()
            if v in (u.name.lower(), u.email.lower(), u.display_name.lower())
        }

    def issue_exists(self, key_or_id: str) -> bool:
        try:
            self.issue(key_or_id)
            return True
        except ApiError:
            return False

    def current_user_id(self) -> str:
        return self.viewer.key if self.viewer else ""
