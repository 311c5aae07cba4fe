"""ASGI application of the Jira stand-in: routing, auth, faults, spec validation, request log."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from . import validation
from .fields import field_list
from .store import ALL_FIELDS, REQUEST_TYPE_FIELD, ApiError, Issue, Store, User, jira_time

JSON_CT = "application/json;charset=UTF-8"
MAX_LOG = 50_000
FAULT_ACTIONS = {"status", "drop_after_commit", "drop_before", "delay"}
BULK_CREATE_LIMIT = 50  # issueUpdates per POST /rest/api/2/issue/bulk (Jira Cloud's documented limit)
GONE_MESSAGE = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)


@dataclass
class Ctx:
    request: Request
    params: dict[str, str]
    viewer: User
    body: bytes
    json: Any = None
    api_version: int = 2
    parts: list = field(default_factory=list)

    @property
    def query(self):
        return self.request.query_params


@dataclass
class Out:
    status: int
    payload: Any = None  # JSON-able, or bytes with content_type
    content_type: str = JSON_CT
    headers: dict = field(default_factory=dict)
    encoded: tuple[bytes, str] | None = field(default=None, repr=False)  # the body once encoded (validated, sent)


@dataclass
class Route:
    method: str
    template: str
    regex: re.Pattern
    handler: Callable[[Ctx], Out]
    kind: str  # 'spec' (DC spec), 'jsm' (JSM spec, JSM error shape), 'cloud' (hand-validated), 'plain' (not REST)
    modes: tuple[str, ...] = ("dc", "cloud")
    anonymous: bool = False
    multipart: bool = False


def _compile(template: str) -> re.Pattern:
    pattern = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(f"^{pattern}$")


class StandinApp:
    def __init__(
        self,
        store: Store,
        validator: validation.SpecValidator,
        jsm_validator: validation.SpecValidator | None = None,
    ):
        self.store = store
        self.validator = validator
        self.jsm_validator = jsm_validator or validation.jsm_validator()
        self.violations: list[dict] = []
        self.request_log: list[dict] = []
        self.faults: list[dict] = []
        self._seq = 0
        self.routes: list[Route] = []
        r = self._route
        r("GET", "/rest/api/2/serverInfo", self.server_info, anonymous=True)
        r("GET", "/rest/api/2/myself", self.myself)
        r("GET", "/rest/api/2/field", self.get_fields)
        r("GET", "/rest/api/2/project/{projectIdOrKey}", self.get_project)
        r("POST", "/rest/api/2/issue", self.create_issue)
        r("POST", "/rest/api/2/issue/bulk", self.create_issues)  # before issue/{issueIdOrKey}: "bulk" is no key
        r("GET", "/rest/api/2/issue/{issueIdOrKey}", self.get_issue)
        r("PUT", "/rest/api/2/issue/{issueIdOrKey}", self.edit_issue)
        r("DELETE", "/rest/api/2/issue/{issueIdOrKey}", self.delete_issue)
        r("GET", "/rest/api/2/issue/{issueIdOrKey}/comment", self.get_comments)
        r("POST", "/rest/api/2/issue/{issueIdOrKey}/comment", self.add_comment)
        r("POST", "/rest/api/2/issue/{issueIdOrKey}/attachments", self.add_attachments, multipart=True)
        r("GET", "/rest/api/2/issue/{issueIdOrKey}/transitions", self.get_transitions)
        r("POST", "/rest/api/2/issue/{issueIdOrKey}/transitions", self.do_transition)
        r("GET", "/rest/api/2/issue/{issueIdOrKey}/watchers", self.get_watchers)
        r("POST", "/rest/api/2/issue/{issueIdOrKey}/watchers", self.add_watcher)
        r("DELETE", "/rest/api/2/issue/{issueIdOrKey}/watchers", self.remove_watcher)
        r("POST", "/rest/api/2/issueLink", self.link_issues)
        r("GET", "/rest/api/2/attachment/{id}", self.get_attachment_meta)
        r("DELETE", "/rest/api/2/attachment/{id}", self.delete_attachment)
        r("GET", "/rest/api/2/search", self.search_dc, modes=("dc",))
        r("POST", "/rest/api/2/search", self.search_dc, modes=("dc",))
        r("GET", "/rest/api/2/user/search", self.user_search)
        # Jira Cloud only
        for v in ("2", "3"):
            r("GET", f"/rest/api/{v}/search", self.gone, kind="cloud", modes=("cloud",))
            r("POST", f"/rest/api/{v}/search", self.gone, kind="cloud", modes=("cloud",))
            r("GET", f"/rest/api/{v}/search/jql", self.search_jql, kind="cloud", modes=("cloud",))
            r("POST", f"/rest/api/{v}/search/jql", self.search_jql, kind="cloud", modes=("cloud",))
            r(
                "GET",
                f"/rest/api/{v}/attachment/content/{{id}}",
                self.attachment_content,
                kind="plain",
                modes=("cloud",),
            )
        r("GET", "/rest/api/3/user/search", self.user_search, kind="cloud", modes=("cloud",))
        r("GET", "/rest/api/3/myself", self.myself, kind="cloud", modes=("cloud",))
        r("GET", "/rest/api/3/serverInfo", self.server_info, kind="cloud", modes=("cloud",), anonymous=True)
        # Jira Service Management (both modes; validated against Atlassian's JSM spec)
        sd = "/rest/servicedeskapi"
        r("GET", f"{sd}/info", self.jsm_info, kind="jsm", anonymous=True)
        r("POST", f"{sd}/customer", self.jsm_create_customer, kind="jsm")
        r("GET", f"{sd}/servicedesk", self.jsm_desks, kind="jsm")
        r("GET", f"{sd}/servicedesk/{{serviceDeskId}}", self.jsm_desk, kind="jsm")
        r("GET", f"{sd}/servicedesk/{{serviceDeskId}}/customer", self.jsm_customers, kind="jsm")
        r("POST", f"{sd}/servicedesk/{{serviceDeskId}}/customer", self.jsm_add_customers, kind="jsm")
        r("GET", f"{sd}/servicedesk/{{serviceDeskId}}/requesttype", self.jsm_request_types, kind="jsm")
        r("POST", f"{sd}/request", self.jsm_create_request, kind="jsm")
        r("GET", f"{sd}/request/{{issueIdOrKey}}", self.jsm_request, kind="jsm")
        r("GET", f"{sd}/request/{{issueIdOrKey}}/comment", self.jsm_comments, kind="jsm")
        r("POST", f"{sd}/request/{{issueIdOrKey}}/comment", self.jsm_add_comment, kind="jsm")
        r("GET", f"{sd}/request/{{issueIdOrKey}}/comment/{{commentId}}", self.jsm_comment, kind="jsm")
        r("GET", f"{sd}/request/{{issueIdOrKey}}/participant", self.jsm_participants, kind="jsm")
        r("POST", f"{sd}/request/{{issueIdOrKey}}/participant", self.jsm_add_participants, kind="jsm")
        r("DELETE", f"{sd}/request/{{issueIdOrKey}}/participant", self.jsm_remove_participants, kind="jsm")
        # not REST: the attachment download servlet
        r("GET", "/secure/attachment/{id}/{filename}", self.attachment_content, kind="plain")

    def _route(
        self,
        method,
        template,
        handler,
        *,
        kind="spec",
        modes=("dc", "cloud"),
        anonymous=False,
        multipart=False,
    ):
        self.routes.append(Route(method, template, _compile(template), handler, kind, modes, anonymous, multipart))

    # ------------------------------------------------------------------------------------ ASGI

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        if scope["path"].startswith("/_standin"):
            resp = await self.admin(request)
            await resp(scope, receive, send)
            return
        await self.serve(request, scope, receive, send)

    def _match(self, method: str, path: str) -> tuple[Route | None, dict, list[str]]:
        allowed = []
        for route in self.routes:
            if self.store.mode not in route.modes:
                continue
            m = route.regex.match(path)
            if m:
                if route.method == method:
                    return route, {k: unquote(v) for k, v in m.groupdict().items()}, []
                allowed.append(route.method)
        return None, {}, allowed

    def _violation(self, kind: str, request: Request, status: int | None, detail: str, body: bytes = b"") -> None:
        self.violations.append(
            {
                "ts": time.time(),
                "kind": kind,
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "status": status,
                "detail": detail,
                "request_body": body[:1000].decode("utf-8", "replace"),
            }
        )

    def _take_fault(self, method: str, path: str) -> dict | None:
        for rule in self.faults:
            if rule["remaining"] == 0:
                continue
            if rule.get("method") and rule["method"].upper() != method:
                continue
            if not rule["_re"].search(path):
                continue
            if rule["skip"] > 0:
                rule["skip"] -= 1
                continue
            if rule["remaining"] > 0:
                rule["remaining"] -= 1
            rule["fired"] += 1
            return rule
        return None

    async def serve(self, request: Request, scope, receive, send) -> None:
        t0 = time.monotonic()
        method = request.method.upper()
        path = request.url.path
        if path.startswith("/rest/api/latest/"):
            path = "/rest/api/2/" + path[len("/rest/api/latest/") :]
        self._seq += 1
        entry = {
            "seq": self._seq,
            "ts": time.time(),
            "method": method,
            "path": path,
            "query": request.url.query,
            "status": None,
            "duration_ms": None,
            "fault": None,
            "user": None,
            "auth": None,  # scheme of the Authorization header: "basic", "bearer", ... (None: no header)
            "credential": None,  # what proved it: "password", "api_token", "pat"
            "auth_headers": 0,  # number of Authorization headers sent
        }
        self.request_log.append(entry)
        if len(self.request_log) > MAX_LOG:
            del self.request_log[: len(self.request_log) - MAX_LOG]

        def finish(status):
            entry["status"] = status
            entry["duration_ms"] = round((time.monotonic() - t0) * 1000, 2)

        with self.store.lock:
            rule = self._take_fault(method, path)
        if rule is not None:
            entry["fault"] = rule["action"]
            if rule["action"] == "delay":
                await asyncio.sleep(float(rule["delay_s"]))
            elif rule["action"] == "status":
                out = Out(
                    int(rule["status"]),
                    {"errorMessages": [rule["message"]], "errors": {}},
                    headers={"Retry-After": str(rule["retry_after"])} if rule.get("retry_after") else {},
                )
                await self._send(out, scope, receive, send)
                finish(out.status)
                return
            elif rule["action"] == "drop_before":
                await self._drop(receive, scope, send)
                finish(None)
                return
        latency = float(self.store.config.get("latency_ms") or 0)
        if latency > 0:
            await asyncio.sleep(latency / 1000.0)

        out, body, route, api_version = await self._process(request, method, path, entry)
        if route is not None and route.kind in ("spec", "jsm") and out.status != 401:
            problems = self._check_response(request, route, path, body, out)
            if problems:
                self._violation("response", request, out.status, "; ".join(problems), body)
                which = "JSM" if route.kind == "jsm" else "Jira DC"
                message = f"Jira stand-in bug: its response violates the {which} spec: " + "; ".join(problems)[:2000]
                out = (
                    _jsm_error(500, message)
                    if route.kind == "jsm"
                    else Out(500, {"errorMessages": [message], "errors": {}})
                )
        elif route is not None and route.kind == "cloud" and out.status < 400:
            problems = self._check_cloud_response(route, out)
            if problems:
                self._violation("response", request, out.status, "; ".join(problems), body)
                out = Out(500, {"errorMessages": ["Jira stand-in bug: " + "; ".join(problems)], "errors": {}})
        if rule is not None and rule["action"] == "drop_after_commit":
            await self._drop(receive, scope, send)
            finish(None)
            return
        await self._send(out, scope, receive, send)
        finish(out.status)

    async def _process(self, request: Request, method: str, path: str, entry: dict):
        route, params, allowed = self._match(method, path)
        if route is None:
            if allowed:
                self._violation("method_not_allowed", request, 405, f"{method} {path}; allowed: {allowed}")
                return (
                    Out(
                        405,
                        {"errorMessages": [f"Method {method} is not allowed here."], "errors": {}},
                        headers={"Allow": ", ".join(allowed)},
                    ),
                    b"",
                    None,
                    2,
                )
            self._violation("unknown_path", request, 404, f"no such resource in the {self.store.mode} stand-in")
            return Out(404, {"errorMessages": [f"null for uri: {request.url}"], "errors": {}}), b"", None, 2
        api_version = 3 if path.startswith("/rest/api/3/") else 2
        viewer = self._authenticate(request, entry)
        if isinstance(viewer, Out):
            if not (route.anonymous and request.headers.get("authorization") is None):
                return viewer, b"", route, api_version
            viewer = next(iter(self.store.users.values()))
        entry["user"] = viewer.name
        body = await request.body()
        if route.multipart and request.headers.get("x-atlassian-token", "").lower() != "no-check":
            return (
                Out(403, {"errorMessages": ["XSRF check failed"], "errors": {}}, content_type=JSON_CT),
                body,
                route,
                api_version,
            )
        ctx = Ctx(request, params, viewer, body, api_version=api_version)
        if route.kind in ("spec", "jsm"):
            validator = self.jsm_validator if route.kind == "jsm" else self.validator
            problems = validator.validate_request(
                method,
                path,
                request.query_params,
                request.headers,
                body,
                request.headers.get("content-type", ""),
            )
            if problems:
                detail = "; ".join(p for _, p in problems)
                media = any(k == "media" for k, _ in problems)
                status = 415 if media else 400
                self._violation("request", request, status, detail, body)
                if route.kind == "jsm":
                    msg = "Unsupported media type" if media else "The request does not match the JSM REST API"
                    return _jsm_error(status, f"{msg}: {detail}"[:4000]), body, route, 2
                msg = "Unsupported media type" if media else "The request does not match the Jira DC 10.3 API"
                return (
                    Out(status, {"errorMessages": [f"{msg}: {detail}"[:4000]], "errors": {}}),
                    body,
                    route,
                    2,
                )
        if body and not route.multipart:
            try:
                ctx.json = json.loads(body)
            except ValueError as e:
                self._violation("request", request, 400, f"body is not JSON: {e}", body)
                return (
                    Out(400, {"errorMessages": [f"Unexpected character: {e}"], "errors": {}}),
                    body,
                    route,
                    2,
                )
        if route.kind == "cloud":
            problems = self._check_cloud_request(route, ctx)
            if problems:
                self._violation("request", request, 400, "; ".join(problems), body)
                return Out(400, {"errorMessages": problems, "errors": {}}), body, route, api_version
        if route.multipart:
            try:
                form = await request.form(max_files=100, max_fields=100)
            except Exception as e:  # noqa: BLE001 - any parser failure is the client's malformed multipart
                self._violation("request", request, 400, f"multipart body not readable: {e}", body)
                return Out(400, {"errorMessages": [f"Bad multipart body: {e}"], "errors": {}}), body, route, 2
            for key, value in form.multi_items():
                if key == "file" and isinstance(value, UploadFile):
                    ctx.parts.append((value.filename or "attachment", value.content_type, await value.read()))
        try:
            with self.store.lock:
                out = route.handler(ctx)
        except ApiError as e:
            if route.kind == "jsm":  # JSM answers its own error shape
                texts = e.messages + [f"{k}: {v}" for k, v in e.errors.items()]
                out = _jsm_error(e.status, "; ".join(texts), headers=e.headers)
            else:
                out = Out(e.status, e.body(), headers=e.headers)
        except Exception:  # noqa: BLE001 - a stand-in bug: recorded as a violation and answered 500
            tb = traceback.format_exc()
            self._violation("crash", request, 500, tb, body)
            out = Out(500, {"errorMessages": ["Jira stand-in crashed: " + tb.splitlines()[-1]], "errors": {}})
        return out, body, route, api_version

    def _authenticate(self, request: Request, entry: dict) -> User | Out:
        """The user of the request's credentials: basic (password, or a Cloud API token) or a Data Center
        personal access token (Bearer). The request log records the scheme and the credential kind."""
        headers = request.headers.getlist("authorization")
        unauth = {
            "errorMessages": ["You are not authenticated. Authentication required to perform this operation."],
            "errors": {},
        }
        entry["auth_headers"] = len(headers)
        if not headers:
            return Out(401, unauth, headers={"WWW-Authenticate": 'Basic realm="protected-area"'})
        scheme, _, cred = headers[0].partition(" ")
        entry["auth"] = scheme.lower()
        user = None
        if len(headers) > 1:
            user = None  # two Authorization headers: ambiguous, refused
        elif scheme.lower() == "basic":
            try:
                login, _, secret = base64.b64decode(cred.strip()).decode("utf-8").partition(":")
                user, entry["credential"] = self.store.authenticate_basic(login, secret)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                user = None
        elif scheme.lower() == "bearer":
            user = self.store.authenticate_token(cred.strip())
            entry["credential"] = "pat" if user is not None else None
        if user is None:
            return Out(
                401,
                unauth,
                headers={
                    "WWW-Authenticate": 'Basic realm="protected-area"',
                    "X-Seraph-LoginReason": "AUTHENTICATED_FAILED",
                },
            )
        return user

    def _check_response(self, request: Request, route: Route, path: str, req_body: bytes, out: Out) -> list[str]:
        data, ct = self._encode(out)
        validator = self.jsm_validator if route.kind == "jsm" else self.validator
        status = out.status
        bulk_result = isinstance(out.payload, dict) and "issues" in out.payload
        if route.handler == self.create_issues and status == 400 and bulk_result:
            # no element created: Jira answers 400 with the IssuesCreateResponse of the 201, a body the DC spec
            # does not document for 400 (it gives that status no content), so the 201 schema checks it
            if out.payload["issues"]:
                return ["a bulk create answered 400 although it created issues"]
            status = 201
        try:
            return validator.validate_response(
                request.method,
                path,
                route.template,
                request.query_params,
                request.headers,
                req_body,
                request.headers.get("content-type", ""),
                status,
                data,
                ct,
            )
        except Exception as e:  # noqa: BLE001 - the validator itself failed: a violation, never hidden
            return [f"response validation failed: {type(e).__name__}: {e}"]

    def _check_cloud_request(self, route: Route, ctx: Ctx) -> list[str]:
        if route.handler == self.search_jql:
            return validation.check_search_jql_request(ctx.request.method, ctx.query, ctx.json)
        return []

    def _check_cloud_response(self, route: Route, out: Out) -> list[str]:
        if route.handler == self.search_jql:
            return validation.check_search_jql_response(out.payload)
        if route.handler == self.user_search:
            return validation.check_user_list_response(out.payload)
        return []

    @staticmethod
    def _encode(out: Out) -> tuple[bytes, str]:
        if out.encoded is None:
            if out.payload is None:
                out.encoded = b"", ""
            elif isinstance(out.payload, bytes):
                out.encoded = out.payload, out.content_type
            else:
                out.encoded = json.dumps(out.payload).encode(), out.content_type
        return out.encoded

    async def _send(self, out: Out, scope, receive, send) -> None:
        data, ct = self._encode(out)
        headers = dict(out.headers)
        if ct:
            headers["Content-Type"] = ct
        await Response(data, status_code=out.status, headers=headers)(scope, receive, send)

    @staticmethod
    async def _drop(receive, scope, send) -> None:
        """Close the connection without any response (a lost response or a dead server)."""
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        if transport is not None:
            transport.close()
            for _ in range(5):  # let uvicorn notice the disconnect, so it does not answer a 500
                await asyncio.sleep(0)
            return
        # unknown server: start a response that can never complete, then break it off
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-length", b"100000"), (b"content-type", b"application/json")],
            }
        )
        raise ConnectionAbortedError("Jira stand-in: dropped connection (fault injection)")

    # ------------------------------------------------------------------------------------ handlers

    def server_info(self, ctx: Ctx) -> Out:
        cloud = self.store.mode == "cloud"
        return Out(
            200,
            {
                "baseUrl": self.store.base_url,
                "version": "1001.0.0-SNAPSHOT" if cloud else "10.3.12",
                "versionNumbers": [1001, 0, 0] if cloud else [10, 3, 12],
                "deploymentType": "Cloud" if cloud else "Server",
                "buildNumber": 100270 if cloud else 10030012,
                "buildDate": "2025-10-01T00:00:00.000+0000",
                "serverTime": jira_time(time.time()),
                "scmInfo": "standin",
                "serverTitle": "Jira stand-in",
            },
        )

    def get_fields(self, ctx: Ctx) -> Out:
        """Every field (system, and JSM's Request Type once a service desk exists)."""
        desk_field = REQUEST_TYPE_FIELD if self.store.jsm.desks else None
        return Out(200, field_list(cloud=self.store.mode == "cloud", request_type_field=desk_field))

    def myself(self, ctx: Ctx) -> Out:
        return Out(200, self.store.user_json(ctx.viewer.key, full=True))

    def get_project(self, ctx: Ctx) -> Out:
        return Out(200, self.store.project_json(self.store.project(ctx.params["projectIdOrKey"])))

    def create_issue(self, ctx: Ctx) -> Out:
        issue = self.store.create_issue(ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(201, self._created(issue))

    def _created(self, issue: Issue) -> dict:
        """The IssueCreateResponse of a new issue."""
        return {"id": str(issue.id), "key": issue.key, "self": f"{self.store.base_url}/rest/api/2/issue/{issue.id}"}

    def create_issues(self, ctx: Ctx) -> Out:
        """Bulk create: each element as POST /rest/api/2/issue would create it, in order; a failing element is
        reported with its 0-based number and does not stop the others. 201 if any was created, else 400."""
        body = ctx.json
        if body is None:
            raise ApiError(400, "No content to map due to end-of-input")
        if not isinstance(body, dict):
            raise ApiError(400, f"Can not deserialize instance of IssuesUpdateBean out of {_json_token(body)} token")
        updates = body.get("issueUpdates")
        if updates is None:
            raise ApiError(400, "issueUpdates is missing: the list of the issues to create.")
        if not isinstance(updates, list):
            token = _json_token(updates)
            raise ApiError(400, f"Can not deserialize instance of java.util.ArrayList out of {token} token")
        if len(updates) > BULK_CREATE_LIMIT:
            raise ApiError(
                400,
                f"A bulk create takes at most {BULK_CREATE_LIMIT} issues per request; this one has {len(updates)}.",
            )
        created, failed = [], []
        for number, element in enumerate(updates):
            try:
                if not isinstance(element, dict):
                    raise ApiError(
                        400, f"Can not deserialize instance of IssueUpdateBean out of {_json_token(element)} token"
                    )
                issue = self.store.create_issue(element, ctx.viewer)
            except ApiError as e:
                failed.append({"status": e.status, "elementErrors": e.body(), "failedElementNumber": number})
                continue
            created.append(self._created(issue))
        return Out(201 if created else 400, {"issues": created, "errors": failed})

    def _issue(self, ctx: Ctx) -> Issue:
        return self.store.issue(ctx.params["issueIdOrKey"])

    @staticmethod
    def _fields_param(ctx: Ctx) -> list[str] | None:
        vals = ctx.query.getlist("fields")
        return vals or None

    def get_issue(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        fields = self.store.parse_fields(self._fields_param(ctx), "*all")
        expand = set((ctx.query.get("expand") or "").split(","))
        return Out(200, self.store.issue_json(issue, fields, ctx.viewer, expand=expand))

    def edit_issue(self, ctx: Ctx) -> Out:
        self.store.edit_issue(self._issue(ctx), ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(204)

    def delete_issue(self, ctx: Ctx) -> Out:
        self.store.delete_issue(self._issue(ctx))
        return Out(204)

    def get_comments(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        start = _int(ctx.query.get("startAt"), 0, "startAt")
        limit = _int(ctx.query.get("maxResults"), 50, "maxResults")
        comments = list(issue.comments)
        if (ctx.query.get("orderBy") or "").lstrip("+") == "-created":
            comments.reverse()
        page = comments[max(0, start) : max(0, start) + max(0, limit)]
        return Out(
            200,
            {
                "comments": [self.store.comment_json(issue, c) for c in page],
                "maxResults": limit,
                "total": len(comments),
                "startAt": start,
            },
        )

    def add_comment(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        c = self.store.add_comment(issue, ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(201, self.store.comment_json(issue, c))

    def add_attachments(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        if not ctx.parts:
            raise ApiError(400, "No file parts named 'file' were found in the request.")
        atts = self.store.add_attachments(issue, ctx.parts, ctx.viewer)
        return Out(200, [self.store.attachment_json(a) for a in atts])

    def get_attachment_meta(self, ctx: Ctx) -> Out:
        a = self._attachment(ctx)
        return Out(200, self.store.attachment_json(a))

    def delete_attachment(self, ctx: Ctx) -> Out:
        a = self._attachment(ctx)
        issue = self.store.issues.get(a.issue_id)
        if issue is not None:
            issue.attachments = [x for x in issue.attachments if x.id != a.id]
        del self.store.attachments[a.id]
        return Out(204)

    def _attachment(self, ctx: Ctx):
        aid = ctx.params["id"]
        a = self.store.attachments.get(int(aid)) if aid.isdigit() else None
        if a is None:
            raise ApiError(404, f"The attachment with id '{aid}' does not exist")
        return a

    def attachment_content(self, ctx: Ctx) -> Out:
        a = self._attachment(ctx)
        return Out(
            200,
            a.data,
            content_type=a.mime_type,
            headers={"Content-Disposition": f"attachment; filename*=UTF-8''{_quote(a.filename)}"},
        )

    def get_transitions(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        ts = self.store.transitions_for(issue)
        want = ctx.query.get("transitionId")
        if want:
            ts = [t for t in ts if t["id"] == want]
        return Out(200, {"expand": "transitions", "transitions": ts})

    def do_transition(self, ctx: Ctx) -> Out:
        self.store.transition(self._issue(ctx), ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(204)

    def get_watchers(self, ctx: Ctx) -> Out:
        return Out(200, self.store.watchers_json(self._issue(ctx), ctx.viewer))

    def add_watcher(self, ctx: Ctx) -> Out:
        issue = self._issue(ctx)
        who = ctx.query.get("userName") or ctx.query.get("accountId")
        if who is None and ctx.json is not None:
            if not isinstance(ctx.json, str):
                raise ApiError(400, "The watcher must be given as a JSON string.")
            who = ctx.json
        self.store.add_watcher(issue, who, ctx.viewer)
        return Out(204)

    def remove_watcher(self, ctx: Ctx) -> Out:
        q = ctx.query
        self.store.remove_watcher(self._issue(ctx), q.get("username") or q.get("userName") or q.get("accountId"))
        return Out(204)

    def link_issues(self, ctx: Ctx) -> Out:
        self.store.link(ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(201)

    def user_search(self, ctx: Ctx) -> Out:
        q = ctx.query
        start = _int(q.get("startAt"), 0, "startAt")
        limit = _int(q.get("maxResults"), 50, "maxResults")
        active = (q.get("includeActive") or "true").lower() != "false"
        inactive = (q.get("includeInactive") or "false").lower() == "true"
        if self.store.mode == "cloud":
            if q.get("username") is not None:
                raise ApiError(400, "The query parameter 'username' is not supported in GDPR strict mode.")
            if q.get("accountId"):
                u = self.store.user_by_account(q["accountId"])
                return Out(200, [self.store.user_json(u.key)] if u else [])
            if not q.get("query"):
                raise ApiError(400, "One of 'query', 'accountId' or 'property' query parameters must be provided.")
            return Out(
                200,
                self.store.search_users(
                    q["query"],
                    start_at=start,
                    max_results=limit,
                    include_active=active,
                    include_inactive=inactive,
                ),
            )
        if not q.get("username"):
            raise ApiError(400, "The username query parameter was not provided")
        return Out(
            200,
            self.store.search_users(
                q["username"],
                start_at=start,
                max_results=limit,
                include_active=active,
                include_inactive=inactive,
            ),
        )

    def gone(self, ctx: Ctx) -> Out:
        self._violation("gone", ctx.request, 410, "Jira Cloud removed this search API (CHANGE-2046)", ctx.body)
        return Out(410, {"errorMessages": [GONE_MESSAGE], "errors": {}})

    def search_dc(self, ctx: Ctx) -> Out:
        if ctx.request.method == "POST":
            b = ctx.json if isinstance(ctx.json, dict) else {}
            jql, start, limit = b.get("jql") or "", b.get("startAt") or 0, b.get("maxResults")
            fields = b.get("fields")
            expand = b.get("expand") or []
            validate = b.get("validateQuery")
            expand = set(expand if isinstance(expand, list) else str(expand).split(","))
        else:
            q = ctx.query
            jql = q.get("jql") or ""
            start = _int(q.get("startAt"), 0, "startAt")
            limit = _int(q.get("maxResults"), None, "maxResults")
            fields = self._fields_param(ctx)
            expand = set((q.get("expand") or "").split(","))
            validate = q.get("validateQuery")
        cap = int(self.store.config["search_max_results"])
        limit = 50 if limit is None or limit < 0 else min(int(limit), cap)
        start = max(0, int(start))
        strict = validate is None or str(validate).lower() in ("true", "strict")
        issues, warnings = self.store.run_jql(jql, ctx.viewer, strict_values=strict)
        fset = self.store.parse_fields(fields if fields is None or isinstance(fields, list) else [fields], "*navigable")
        page = issues[start : start + limit]
        body = {
            "expand": "names,schema",
            "startAt": start,
            "maxResults": limit,
            "total": len(issues),
            "issues": [self.store.issue_json(i, fset, ctx.viewer, expand=expand) for i in page],
        }
        if warnings and str(validate).lower() in ("false", "warn"):
            body["warningMessages"] = list(dict.fromkeys(warnings))
        return Out(200, body)

    def search_jql(self, ctx: Ctx) -> Out:
        if ctx.request.method == "POST":
            b = ctx.json if isinstance(ctx.json, dict) else {}
            jql, token, limit = b.get("jql") or "", b.get("nextPageToken"), b.get("maxResults")
            fields = b.get("fields")
            reconcile = {str(x) for x in b.get("reconcileIssues") or []}
            expand = set(str(b.get("expand") or "").split(","))
        else:
            q = ctx.query
            jql, token = q.get("jql") or "", q.get("nextPageToken")
            limit = _int(q.get("maxResults"), None, "maxResults")
            fields = self._fields_param(ctx)
            reconcile = {x.strip() for v in q.getlist("reconcileIssues") for x in v.split(",") if x.strip()}
            expand = set((q.get("expand") or "").split(","))
        issues, _ = self.store.run_jql(jql, ctx.viewer, reconcile=reconcile, require_bounded=True)
        fset = self.store.parse_fields(fields, "id") if fields else set()
        ids_only = not fset
        cap = 5000 if ids_only else int(self.store.config["cloud_max_results"])
        limit = 50 if limit is None else max(1, min(int(limit), cap))
        digest = hashlib.sha256(jql.encode()).hexdigest()[:16]
        offset = 0
        if token:
            try:
                decoded = json.loads(base64.urlsafe_b64decode(token.encode() + b"==").decode())
                offset, h = int(decoded["o"]), decoded["h"]
            except (ValueError, KeyError, TypeError, binascii.Error):
                raise ApiError(400, "The provided next page token is invalid.") from None
            if h != digest:
                raise ApiError(400, "The provided next page token is invalid for this query.")
        page = issues[offset : offset + limit]
        out_issues = []
        for i in page:
            if ids_only:
                out_issues.append({"id": str(i.id)})
            else:
                out_issues.append(
                    self.store.issue_json(i, fset, ctx.viewer, api_version=ctx.api_version, expand=expand)
                )
        body: dict[str, Any] = {"issues": out_issues}
        if offset + limit < len(issues):
            nxt = json.dumps({"o": offset + limit, "h": digest}).encode()
            body["nextPageToken"] = base64.urlsafe_b64encode(nxt).decode().rstrip("=")
            body["isLast"] = False
        else:
            body["isLast"] = True
        return Out(200, body)

    # ------------------------------------------------------------------------------------ JSM handlers

    def _page_args(self, ctx: Ctx) -> tuple[int, int]:
        return _int(ctx.query.get("start"), 0, "start"), _int(ctx.query.get("limit"), 50, "limit")

    @staticmethod
    def _expand(ctx: Ctx) -> set[str]:
        return {x.strip() for v in ctx.query.getlist("expand") for x in v.split(",") if x.strip()}

    def jsm_info(self, ctx: Ctx) -> Out:
        now = time.time()
        return Out(
            200,
            {
                "version": "10.3.12" if self.store.mode == "dc" else "1001.0.0-SNAPSHOT",
                "platformVersion": "10.3.12" if self.store.mode == "dc" else "1001.0.0-SNAPSHOT",
                "buildDate": self.store.jsm.date(now),
                "buildChangeSet": "standin",
                "isLicensedForUse": True,
                "_links": {"self": f"{self.store.jsm.base}/info"},
            },
        )

    def jsm_create_customer(self, ctx: Ctx) -> Out:
        strict = (ctx.query.get("strictConflictStatusCode") or "").lower() == "true"
        user = self.store.jsm.create_customer(ctx.json if isinstance(ctx.json, dict) else {}, strict_conflict=strict)
        return Out(201, self.store.jsm.user(user.key))

    def jsm_desks(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        start, limit = self._page_args(ctx)
        return Out(200, jsm.page([jsm.desk_json(d) for d in jsm.desks.values()], start, limit, "/servicedesk"))

    def jsm_desk(self, ctx: Ctx) -> Out:
        return Out(200, self.store.jsm.desk_json(self.store.jsm.desk(ctx.params["serviceDeskId"])))

    def jsm_customers(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        desk = jsm.desk(ctx.params["serviceDeskId"])
        q = (ctx.query.get("query") or "").lower()
        users = [self.store.users[k] for k in desk.customers if k in self.store.users]
        users = [u for u in users if not q or any(q in x.lower() for x in (u.display_name, u.name, u.email))]
        start, limit = self._page_args(ctx)
        return Out(200, jsm.page([jsm.user(u.key) for u in users], start, limit, f"/servicedesk/{desk.id}/customer"))

    def jsm_add_customers(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        jsm.add_customers(jsm.desk(ctx.params["serviceDeskId"]), ctx.json if isinstance(ctx.json, dict) else {})
        return Out(204)

    def jsm_request_types(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        desk = jsm.desk(ctx.params["serviceDeskId"])
        q = (ctx.query.get("searchQuery") or "").lower()
        types = [t for t in desk.request_types if not q or q in t.name.lower() or q in t.description.lower()]
        start, limit = self._page_args(ctx)
        values = [jsm.request_type_json(t) for t in types]
        return Out(200, jsm.page(values, start, limit, f"/servicedesk/{desk.id}/requesttype"))

    def jsm_create_request(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        issue = jsm.create_request(ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(201, jsm.request_json(issue, jsm.desk_of(issue)))

    def jsm_request(self, ctx: Ctx) -> Out:
        issue, desk = self.store.jsm.request(ctx.params["issueIdOrKey"])
        return Out(200, self.store.jsm.request_json(issue, desk, self._expand(ctx)))

    def jsm_comments(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        issue, _ = jsm.request(ctx.params["issueIdOrKey"])
        public = (ctx.query.get("public") or "true").lower() != "false"
        internal = (ctx.query.get("internal") or "true").lower() != "false"
        chosen = [c for c in issue.comments if (c.public and public) or (not c.public and internal)]
        start, limit = self._page_args(ctx)
        values = [jsm.comment_json(issue, c) for c in chosen]
        return Out(200, jsm.page(values, start, limit, f"/request/{issue.id}/comment"))

    def jsm_add_comment(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        issue, _ = jsm.request(ctx.params["issueIdOrKey"])
        c = jsm.add_comment(issue, ctx.json if isinstance(ctx.json, dict) else {}, ctx.viewer)
        return Out(201, jsm.comment_json(issue, c))

    def jsm_comment(self, ctx: Ctx) -> Out:
        jsm = self.store.jsm
        issue, _ = jsm.request(ctx.params["issueIdOrKey"])
        c = next((c for c in issue.comments if str(c.id) == ctx.params["commentId"]), None)
        if c is None:
            raise ApiError(404, f"The comment '{ctx.params['commentId']}' does not exist on {issue.key}.")
        return Out(200, jsm.comment_json(issue, c))

    def _participants_page(self, ctx: Ctx, issue: Issue) -> Out:
        jsm = self.store.jsm
        start, limit = self._page_args(ctx)
        values = [jsm.user(k) for k in issue.participants]
        return Out(200, jsm.page(values, start, limit, f"/request/{issue.id}/participant"))

    def jsm_participants(self, ctx: Ctx) -> Out:
        return self._participants_page(ctx, self.store.jsm.request(ctx.params["issueIdOrKey"])[0])

    def jsm_add_participants(self, ctx: Ctx) -> Out:
        issue, _ = self.store.jsm.request(ctx.params["issueIdOrKey"])
        self.store.jsm.add_participants(issue, ctx.json if isinstance(ctx.json, dict) else {})
        issue.updated = time.time()
        return self._participants_page(ctx, issue)

    def jsm_remove_participants(self, ctx: Ctx) -> Out:
        issue, _ = self.store.jsm.request(ctx.params["issueIdOrKey"])
        self.store.jsm.remove_participants(issue, ctx.json if isinstance(ctx.json, dict) else {})
        issue.updated = time.time()
        return self._participants_page(ctx, issue)

    # ------------------------------------------------------------------------------------ admin API

    async def admin(self, request: Request) -> Response:
        path, method = request.url.path.rstrip("/"), request.method.upper()
        try:
            payload = await request.json() if method in ("POST", "PUT") and await request.body() else None
        except ValueError as e:
            return _json_response(400, {"error": f"body is not JSON: {e}"})
        s = self.store
        try:
            with s.lock:
                if path == "/_standin/health":
                    return _json_response(200, {"ok": True, "mode": s.mode, "url": s.base_url})
                if path == "/_standin/state" and method == "GET":
                    return _json_response(200, s.state())
                if path == "/_standin/violations" and method == "GET":
                    return _json_response(200, self.violations)
                if path == "/_standin/violations/clear" and method == "POST":
                    self.violations.clear()
                    return _json_response(200, {"ok": True})
                if path == "/_standin/reset" and method == "POST":
                    s.reset()
                    self.violations.clear()
                    self.request_log.clear()
                    self.faults.clear()
                    return _json_response(200, {"ok": True})
                if path == "/_standin/users" and method == "POST":
                    specs = payload if isinstance(payload, list) else [payload]
                    users = [s.add_user(spec or {}) for spec in specs]
                    return _json_response(200, [s.user_json(u.key) for u in users])
                if path == "/_standin/projects" and method == "POST":
                    specs = payload if isinstance(payload, list) else [payload]
                    ps = [s.add_project(p["key"], p.get("name")) for p in specs]
                    return _json_response(200, [{"id": p.id, "key": p.key, "name": p.name} for p in ps])
                if path == "/_standin/tokens" and method == "POST":
                    specs = payload if isinstance(payload, list) else [payload]
                    users = [s.add_token(t["user"], t["token"]) for t in specs]
                    return _json_response(200, [{"user": u.name} for u in users])
                if path == "/_standin/servicedesks" and method == "POST":
                    p = payload or {}
                    desk = s.jsm.add_service_desk(
                        p["project"], p.get("request_types"), open_access=bool(p.get("open_access"))
                    )
                    return _json_response(200, next(d for d in s.jsm.state() if d["id"] == desk.id))
                if path == "/_standin/config":
                    if method == "POST":
                        return _json_response(200, s.configure(payload or {}))
                    return _json_response(200, dict(s.config, base_url=s.base_url))
                if path == "/_standin/faults":
                    if method == "POST":
                        rules = payload.get("rules", []) if isinstance(payload, dict) else (payload or [])
                        append = isinstance(payload, dict) and payload.get("append")
                        parsed = [_parse_fault(r) for r in rules]
                        self.faults = (self.faults if append else []) + parsed
                    elif method == "DELETE":
                        self.faults = []
                    return _json_response(200, [{k: v for k, v in r.items() if k != "_re"} for r in self.faults])
                if path == "/_standin/requests" and method == "GET":
                    return _json_response(200, self.request_log)
                if path == "/_standin/requests/clear" and method == "POST":
                    self.request_log.clear()
                    return _json_response(200, {"ok": True})
        except ApiError as e:
            return _json_response(e.status, {"error": "; ".join(e.messages) or str(e.errors)})
        except (KeyError, TypeError, ValueError, re.error) as e:
            return _json_response(400, {"error": f"{type(e).__name__}: {e}"})
        return _json_response(404, {"error": f"no admin endpoint {method} {path}"})


def _parse_fault(r: dict) -> dict:
    if not isinstance(r, dict):
        raise ValueError("a fault rule must be an object")
    action = r.get("action", "status")
    if action not in FAULT_ACTIONS:
        raise ValueError(f"unknown fault action {action!r}; known: {sorted(FAULT_ACTIONS)}")
    unknown = set(r) - {
        "method",
        "path_regex",
        "action",
        "status",
        "count",
        "delay_s",
        "skip",
        "message",
        "retry_after",
    }
    if unknown:
        raise ValueError(f"unknown fault rule keys: {sorted(unknown)}")
    count = r.get("count", 1)
    status = int(r.get("status", 503))
    return {
        "method": r.get("method"),
        "path_regex": r.get("path_regex", ".*"),
        "_re": re.compile(r.get("path_regex", ".*")),
        "action": action,
        "status": status,
        "count": count,
        "remaining": -1 if count is None or int(count) < 0 else int(count),
        "delay_s": float(r.get("delay_s", 1.0)),
        "skip": int(r.get("skip", 0)),
        "fired": 0,
        "message": r.get("message") or f"Injected fault: HTTP {status}",
        "retry_after": r.get("retry_after"),
    }


def _jsm_error(status: int, message: str, headers: dict | None = None) -> Out:
    """An error in JSM's ``ErrorResponse`` shape (not the platform's errorMessages/errors)."""
    return Out(
        status,
        {"errorMessage": message, "i18nErrorMessage": {"i18nKey": "sd.error", "parameters": []}},
        headers=headers or {},
    )


def _json_token(value) -> str:
    """The name Jackson gives the first token of a JSON value (in its "Can not deserialize" messages)."""
    if value is None:
        return "VALUE_NULL"
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int):
        return "VALUE_NUMBER_INT"
    if isinstance(value, float):
        return "VALUE_NUMBER_FLOAT"
    if isinstance(value, str):
        return "VALUE_STRING"
    return "START_ARRAY" if isinstance(value, list) else "START_OBJECT"


def _json_response(status: int, payload) -> Response:
    return Response(json.dumps(payload), status_code=status, media_type="application/json")


def _int(value, default, name):
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ApiError(400, f"The value '{value}' of parameter '{name}' is not a number.") from None


def _quote(s: str) -> str:
    from urllib.parse import quote

    return quote(s, safe="")


__all__ = ["StandinApp", "ALL_FIELDS"]
