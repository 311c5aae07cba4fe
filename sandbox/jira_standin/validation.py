"""Validation of REST traffic against the patched Jira DC 10.3 OpenAPI spec and Atlassian's JSM spec (openapi-core),
plus hand-written checks for Cloud-only endpoints that the DC spec does not describe."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters

SPEC_PATH = Path(__file__).parent / "spec" / "jira-dc-10.3-trimmed.json"
JSM_SPEC_PATH = Path(__file__).parent / "spec" / "jsm-cloud-trimmed.json"


class _Req:
    def __init__(self, method: str, path: str, query, headers, body: bytes | None, content_type: str):
        self.method = method.lower()
        self.path = path
        self.host_url = "http://standin"
        self.body = body
        self.content_type = content_type
        self.parameters = RequestParameters(query=query, header=headers, cookie={})


class _Resp:
    def __init__(self, status: int, data: bytes, content_type: str):
        self.status_code = status
        self.data = data
        self.content_type = content_type
        self.headers = {"Content-Type": content_type}


def _describe(err: Exception) -> str:
    parts = [f"{type(err).__name__}: {err}"]
    cause = err.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts += [
                str(getattr(se, "message", se)) + f" at {list(getattr(se, 'absolute_path', []))}"
                for se in schema_errors
            ]
        else:
            parts.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__
    return "; ".join(parts)


class SpecValidator:
    """Checks requests and responses against the spec, parsed once (``OpenAPI`` keeps its schema caches).

    Validation only: openapi-core's validators run the same checks as its unmarshallers (security, then
    every parameter, then the body against its schema, with formats), but do not build unmarshalled
    copies of the values afterwards, which costs ~40x the validation itself for a page of search results.
    """

    def __init__(self, path: Path = SPEC_PATH, error_body_check=None):
        self.api = OpenAPI.from_file_path(str(path), config=Config(spec_validator_cls=None))
        with open(path) as fh:
            self.paths: dict[str, Any] = json.load(fh)["paths"]
        # undocumented error statuses are still checked for the API's error shape (platform or JSM)
        self.check_error_body = error_body_check or check_error_body

    def operation(self, template: str, method: str) -> dict | None:
        return (self.paths.get(template) or {}).get(method.lower())

    def validate_request(
        self, method: str, path: str, query, headers, body: bytes | None, content_type: str
    ) -> list[tuple[str, str]]:
        """Returns [(kind, description)]; kind 'media' for a content-type mismatch."""
        if body and content_type.lower().startswith("multipart/form-data"):
            body = opaque_parts(body)
        req = _Req(method, path, query, headers, body if body else None, content_type)
        out = []
        for e in self.api.iter_request_errors(req):
            if type(e).__name__ == "SecurityValidationError":
                continue  # credentials are checked by the stand-in itself, before validation (401)
            text = _describe(e)
            kind = "media" if "MediaTypeNotFound" in text else "request"
            out.append((kind, text))
        return out

    def validate_response(
        self,
        method: str,
        path: str,
        template: str,
        query,
        headers,
        req_body: bytes | None,
        req_ct: str,
        status: int,
        data: bytes,
        content_type: str,
    ) -> list[str]:
        op = self.operation(template, method) or {}
        responses = op.get("responses", {})
        if str(status) not in responses and "default" not in responses:
            if status >= 400:
                return self.check_error_body(data, content_type)
            return [
                f"status {status} is not documented for {method.upper()} {template} "
                f"(documented: {sorted(responses)})"
            ]
        declared = responses.get(str(status)) or responses.get("default") or {}
        if not declared.get("content"):
            if status >= 400:
                return self.check_error_body(data, content_type)
            if data:
                return [
                    f"status {status} of {method.upper()} {template} is documented without a body, "
                    f"but {len(data)} bytes were sent"
                ]
            return []
        req = _Req(method, path, query, headers, req_body if req_body else None, req_ct)
        return [_describe(e) for e in self.api.iter_response_errors(req, _Resp(status, data, content_type))]


_NESTED_PART_TYPE = re.compile(rb"(?im)^(content-type:[ \t]*)(?:message|multipart)/[^\r\n]*")


def opaque_parts(body: bytes) -> bytes:
    """A multipart/form-data body as the validator may read it: files are opaque to Jira, but openapi-core
    parses a part declared ``message/rfc822`` (a mail attached as .eml) or ``multipart/*`` as a nested
    message and then fails. Only this copy, used for validation, is changed; the upload keeps its bytes."""
    return _NESTED_PART_TYPE.sub(rb"\1application/octet-stream", body)


def check_error_body(data: bytes, content_type: str) -> list[str]:
    """Jira's error body: {"errorMessages": [str], "errors": {str: str}}."""
    if not data:
        return []
    if "json" not in content_type:
        return [f"error body has content type {content_type!r}, expected JSON"]
    try:
        body = json.loads(data)
    except ValueError as e:
        return [f"error body is not JSON: {e}"]
    problems = []
    if not isinstance(body, dict):
        return ["error body is not an object"]
    msgs = body.get("errorMessages")
    if not isinstance(msgs, list) or not all(isinstance(m, str) for m in msgs):
        problems.append("errorMessages must be a list of strings")
    errs = body.get("errors")
    if not isinstance(errs, dict) or not all(isinstance(v, str) for v in errs.values()):
        problems.append("errors must be an object of strings")
    return problems


def jsm_validator() -> SpecValidator:
    """The validator for ``/rest/servicedeskapi``: Atlassian's JSM spec, JSM's own error shape."""
    return SpecValidator(JSM_SPEC_PATH, error_body_check=check_jsm_error_body)


def check_jsm_error_body(data: bytes, content_type: str) -> list[str]:
    """JSM's error body (``ErrorResponse``): {"errorMessage": str, "i18nErrorMessage": {"i18nKey", "parameters"}}."""
    if not data:
        return []
    if "json" not in content_type:
        return [f"error body has content type {content_type!r}, expected JSON"]
    try:
        body = json.loads(data)
    except ValueError as e:
        return [f"error body is not JSON: {e}"]
    if not isinstance(body, dict):
        return ["error body is not an object"]
    problems = []
    if not isinstance(body.get("errorMessage"), str):
        problems.append("errorMessage must be a string")
    unknown = set(body) - {"errorMessage", "i18nErrorMessage"}
    if unknown:
        problems.append(f"unknown keys in a JSM error body: {sorted(unknown)}")
    i18n = body.get("i18nErrorMessage")
    if i18n is not None and (
        not isinstance(i18n, dict)
        or not isinstance(i18n.get("i18nKey"), str)
        or not all(isinstance(x, str) for x in i18n.get("parameters", []))
    ):
        problems.append("i18nErrorMessage must be {i18nKey: str, parameters: [str]}")
    return problems


# ------------------------------------------------------------------------------------------------
# Cloud-only endpoints (not in the DC spec): hand-written contracts

SEARCH_JQL_BODY = {
    "jql": str,
    "nextPageToken": str,
    "maxResults": int,
    "fields": list,
    "expand": str,
    "properties": list,
    "fieldsByKeys": bool,
    "failFast": bool,
    "reconcileIssues": list,
}


def check_search_jql_request(method: str, query, body: Any) -> list[str]:
    problems = []
    if method == "GET":
        for name in ("maxResults",):
            v = query.get(name)
            if v is not None and not _is_int(v):
                problems.append(f"query parameter {name}={v!r} is not an integer")
        for v in query.getlist("reconcileIssues"):
            if not all(_is_int(x) for x in str(v).split(",") if x.strip()):
                problems.append(f"reconcileIssues={v!r} must be issue ids (integers)")
        for v in query.getlist("failFast") + query.getlist("fieldsByKeys"):
            if v not in ("true", "false"):
                problems.append(f"boolean parameter has value {v!r}")
        return problems
    if not isinstance(body, dict):
        return ["request body must be a JSON object"]
    for k, v in body.items():
        want = SEARCH_JQL_BODY.get(k)
        if want is None:
            problems.append(f'Unrecognized field "{k}" in the search request')
        elif want is int and (not isinstance(v, int) or isinstance(v, bool)):
            problems.append(f"{k} must be an integer")
        elif want is not int and not isinstance(v, want):
            problems.append(f"{k} must be {want.__name__}")
    if isinstance(body.get("fields"), list) and not all(isinstance(x, str) for x in body["fields"]):
        problems.append("fields must be a list of strings")
    if isinstance(body.get("reconcileIssues"), list) and not all(
        isinstance(x, int) and not isinstance(x, bool) for x in body["reconcileIssues"]
    ):
        problems.append("reconcileIssues must be a list of issue ids (integers)")
    return problems


def check_search_jql_response(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["response is not an object"]
    problems = []
    if not isinstance(body.get("issues"), list):
        problems.append("issues must be a list")
    else:
        for i in body["issues"]:
            if not isinstance(i, dict) or not isinstance(i.get("id"), str):
                problems.append("each issue needs a string id")
                break
    if not isinstance(body.get("isLast"), bool):
        problems.append("isLast must be a boolean")
    if "nextPageToken" in body and not isinstance(body["nextPageToken"], str):
        problems.append("nextPageToken must be a string")
    if body.get("isLast") is False and "nextPageToken" not in body:
        problems.append("isLast is false but there is no nextPageToken")
    return problems


def check_user_list_response(body: Any) -> list[str]:
    if not isinstance(body, list):
        return ["user search must answer a list"]
    for u in body:
        if not isinstance(u, dict) or not isinstance(u.get("accountId"), str):
            return ["each Cloud user needs a string accountId"]
    return []


def _is_int(v) -> bool:
    try:
        int(str(v))
        return True
    except ValueError:
        return False
