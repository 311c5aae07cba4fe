"""Writes ``jsm-cloud-trimmed.json``: the part of Atlassian's Jira Service Management REST API spec the stand-in serves.

Source: Atlassian's published OpenAPI 3.0.1 document "Service Management Public REST API", version
``1001.0.0-SNAPSHOT-350e7d5a3ea46c7b7dd875b9439a1b0467131186`` (the Cloud JSM spec behind
developer.atlassian.com/cloud/jira/service-desk/rest; its paths already carry the ``/rest/servicedeskapi`` prefix).
The copy read was the one stored as ``schemas/jsm.v3.json`` in the public repository SemanS/digital-spiral at commit
624961eed8cb94da7340799e59fcacfc9ea18dc3 (351,985 characters, keys sorted). That copy could only be read, not
downloaded, so this script holds the transcribed subset as data rather than trimming a downloaded file:

Trimmed (nothing else is changed):
  - only the operations in ``PATHS`` (what Jicket's JSM mode and the stand-in's tests use) and the schemas they
    reference; every schema keeps its properties, types, formats, enums, ``required`` and ``additionalProperties``;
  - descriptions, examples, summaries, tags, ``x-atlassian-*`` extensions and the OAuth2 scope lists are dropped.

Patched (each one also named where it is applied below):
  P1. ``security`` removed: the stand-in checks credentials itself before validation (basic, API token, PAT).
  P2. ``FormAnswer.adf`` referenced ``JsonNode``, a listing of the getters of Jackson's Java node class, not the
      JSON an ADF answer is: relaxed to any value (``{}``). ``JsonNode`` is therefore not included.
  P3. ``servers`` set to ``/`` (the paths are absolute).

Data Center: Atlassian publishes no OpenAPI document for the JSM Data Center REST API (its reference is HTML only).
The Cloud spec is used for both modes; its ``UserDTO`` still lists the DC fields ``key`` and ``name``, and its
``RequestParticipantUpdateDTO``/``ServiceDeskCustomerDTO`` still list ``usernames``, which is what DC uses.

Regenerate: ``python sandbox/jira_standin/spec/jsm_spec.py`` (writes the JSON next to this file).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT = Path(__file__).with_name("jsm-cloud-trimmed.json")

STR: dict[str, Any] = {"type": "string"}
BOOL: dict[str, Any] = {"type": "boolean"}
INT32: dict[str, Any] = {"format": "int32", "type": "integer"}
INT64: dict[str, Any] = {"format": "int64", "type": "integer"}
URI: dict[str, Any] = {"format": "uri", "type": "string"}
STR_LIST: dict[str, Any] = {"items": {"type": "string"}, "type": "array"}


def ref(name: str) -> dict:
    """A plain ``$ref`` to a component schema."""
    return {"$ref": f"#/components/schemas/{name}"}


def via(name: str) -> dict:
    """A property typed by a component through ``allOf`` (the spec's way of attaching a description)."""
    return {"allOf": [ref(name)]}


def obj(props: dict, *, extra: bool = False, required: list[str] | None = None) -> dict:
    """An object schema; the spec sets ``additionalProperties`` explicitly on every DTO."""
    d: dict[str, Any] = {"additionalProperties": extra, "properties": props, "type": "object"}
    if required:
        d["required"] = required
    return d


def paged(item: str) -> dict:
    """Atlassian's ``PagedDTO<item>`` envelope (identical for every item type)."""
    return obj(
        {
            "_expands": STR_LIST,
            "_links": via("PagedLinkDTO"),
            "isLastPage": BOOL,
            "limit": INT32,
            "size": INT32,
            "start": INT32,
            "values": {"items": ref(item), "type": "array"},
        }
    )


SCHEMAS: dict[str, dict] = {
    "AttachmentDTO": obj(
        {
            "_links": via("AttachmentLinkDTO"),
            "author": via("UserDTO"),
            "created": via("DateDTO"),
            "filename": STR,
            "mimeType": STR,
            "size": INT64,
        }
    ),
    "AttachmentLinkDTO": obj({"content": URI, "jiraRest": URI, "self": URI, "thumbnail": URI}),
    "CommentCreateDTO": obj({"body": STR, "public": BOOL}),
    "CommentDTO": obj(
        {
            "_expands": STR_LIST,
            "_links": via("SelfLinkDTO"),
            "attachments": via("PagedDTOAttachmentDTO"),
            "author": via("UserDTO"),
            "body": STR,
            "created": via("DateDTO"),
            "id": STR,
            "public": BOOL,
            "renderedBody": via("RenderedValueDTO"),
        }
    ),
    "CustomerCreateDTO": obj({"displayName": STR, "email": STR, "fullName": STR}),
    "CustomerRequestActionDTO": obj({"allowed": BOOL}),
    "CustomerRequestActionsDTO": obj(
        {
            "addAttachment": via("CustomerRequestActionDTO"),
            "addComment": via("CustomerRequestActionDTO"),
            "addParticipant": via("CustomerRequestActionDTO"),
            "removeParticipant": via("CustomerRequestActionDTO"),
        }
    ),
    "CustomerRequestCreateMetaDTO": obj(
        {
            "canAddRequestParticipants": BOOL,
            "canRaiseOnBehalfOf": BOOL,
            "requestTypeFields": {"items": ref("RequestTypeFieldDTO"), "type": "array"},
        }
    ),
    "CustomerRequestDTO": obj(
        {
            "_expands": STR_LIST,
            "_links": via("CustomerRequestLinkDTO"),
            "actions": via("CustomerRequestActionsDTO"),
            "attachments": via("PagedDTOAttachmentDTO"),
            "comments": via("PagedDTOCommentDTO"),
            "createdDate": via("DateDTO"),
            "currentStatus": via("CustomerRequestStatusDTO"),
            "issueId": STR,
            "issueKey": STR,
            "participants": via("PagedDTOUserDTO"),
            "reporter": via("UserDTO"),
            "requestFieldValues": {"items": ref("CustomerRequestFieldValueDTO"), "type": "array"},
            "requestType": via("RequestTypeDTO"),
            "requestTypeId": STR,
            "serviceDesk": via("ServiceDeskDTO"),
            "serviceDeskId": STR,
            "sla": via("PagedDTOSlaInformationDTO"),
            "status": via("PagedDTOCustomerRequestStatusDTO"),
            "summary": STR,
        }
    ),
    "CustomerRequestFieldValueDTO": obj(
        {"fieldId": STR, "label": STR, "renderedValue": {"type": "object"}, "value": {}}
    ),
    "CustomerRequestLinkDTO": obj({"agent": URI, "jiraRest": URI, "self": URI, "web": URI}),
    "CustomerRequestStatusDTO": obj(
        {
            "status": STR,
            "statusCategory": {"enum": ["UNDEFINED", "NEW", "INDETERMINATE", "DONE"], "type": "string"},
            "statusDate": via("DateDTO"),
        }
    ),
    "DateDTO": obj({"epochMillis": INT64, "friendly": STR, "iso8601": STR, "jira": STR}),
    "DurationDTO": obj({"friendly": STR, "millis": INT64}),
    "ErrorResponse": obj({"errorMessage": STR, "i18nErrorMessage": ref("I18nErrorMessage")}),
    "Form": obj({"answers": {"additionalProperties": ref("FormAnswer"), "type": "object"}}, extra=True),
    "FormAnswer": obj(
        {
            "adf": {},  # P2: was {"allOf": [JsonNode]}, Jackson's Java class, not the ADF JSON
            "choices": STR_LIST,
            "date": STR,
            "files": STR_LIST,
            "text": STR,
            "time": STR,
            "users": STR_LIST,
        }
    ),
    "I18nErrorMessage": obj({"i18nKey": STR, "parameters": STR_LIST}),
    "JsonTypeBean": obj(
        {
            "configuration": {"additionalProperties": {"readOnly": True}, "readOnly": True, "type": "object"},
            "custom": {"readOnly": True, "type": "string"},
            "customId": {"format": "int64", "readOnly": True, "type": "integer"},
            "items": {"readOnly": True, "type": "string"},
            "system": {"readOnly": True, "type": "string"},
            "type": {"readOnly": True, "type": "string"},
        },
        required=["type"],
    ),
    "PagedDTOAttachmentDTO": paged("AttachmentDTO"),
    "PagedDTOCommentDTO": paged("CommentDTO"),
    "PagedDTOCustomerRequestStatusDTO": paged("CustomerRequestStatusDTO"),
    "PagedDTORequestTypeDTO": paged("RequestTypeDTO"),
    "PagedDTOServiceDeskDTO": paged("ServiceDeskDTO"),
    "PagedDTOSlaInformationDTO": paged("SlaInformationDTO"),
    "PagedDTOUserDTO": paged("UserDTO"),
    "PagedLinkDTO": obj({"base": URI, "context": STR, "next": URI, "prev": URI, "self": URI}),
    "RenderedValueDTO": obj({"html": STR}),
    "RequestCreateDTO": obj(
        {
            "channel": STR,
            "form": via("Form"),
            "isAdfRequest": BOOL,
            "raiseOnBehalfOf": STR,
            "requestFieldValues": {"additionalProperties": {}, "type": "object"},
            "requestParticipants": STR_LIST,
            "requestTypeId": STR,
            "serviceDeskId": STR,
        }
    ),
    "RequestParticipantUpdateDTO": obj({"accountIds": STR_LIST, "usernames": STR_LIST}),
    "RequestTypeDTO": obj(
        {
            "_expands": STR_LIST,
            "_links": via("SelfLinkDTO"),
            "canCreateRequest": BOOL,
            "description": STR,
            "fields": via("CustomerRequestCreateMetaDTO"),
            "groupIds": STR_LIST,
            "helpText": STR,
            "icon": via("RequestTypeIconDTO"),
            "id": STR,
            "issueTypeId": STR,
            "name": STR,
            "portalId": STR,
            "practice": STR,
            "restrictionStatus": {"enum": ["OPEN", "RESTRICTED"], "type": "string"},
            "serviceDeskId": STR,
        }
    ),
    "RequestTypeFieldDTO": obj(
        {
            "defaultValues": {"items": ref("RequestTypeFieldValueDTO"), "type": "array"},
            "description": STR,
            "fieldId": STR,
            "jiraSchema": via("JsonTypeBean"),
            "name": STR,
            "presetValues": STR_LIST,
            "required": BOOL,
            "validValues": {"items": ref("RequestTypeFieldValueDTO"), "type": "array"},
            "visible": BOOL,
        }
    ),
    "RequestTypeFieldValueDTO": obj(
        {"children": {"items": ref("RequestTypeFieldValueDTO"), "type": "array"}, "label": STR, "value": STR}
    ),
    "RequestTypeIconDTO": obj({"_links": via("RequestTypeIconLinkDTO"), "id": STR}),
    "RequestTypeIconLinkDTO": obj({"iconUrls": {"additionalProperties": URI, "type": "object"}}),
    "SelfLinkDTO": obj({"self": URI}),
    "ServiceDeskCustomerDTO": obj(
        {
            "accountIds": {"items": {"type": "string"}, "type": "array", "uniqueItems": True},
            "usernames": {"items": {"type": "string"}, "type": "array", "uniqueItems": True},
        }
    ),
    "ServiceDeskDTO": obj(
        {
            "_links": via("SelfLinkDTO"),
            "id": STR,
            "projectId": STR,
            "projectKey": STR,
            "projectName": STR,
            "projectTypeKey": STR,
        }
    ),
    "SlaInformationCompletedCycleDTO": obj(
        {
            "breachTime": via("DateDTO"),
            "breached": BOOL,
            "elapsedTime": via("DurationDTO"),
            "goalDuration": via("DurationDTO"),
            "remainingTime": via("DurationDTO"),
            "startTime": via("DateDTO"),
            "stopTime": via("DateDTO"),
        }
    ),
    "SlaInformationDTO": obj(
        {
            "_links": via("SelfLinkDTO"),
            "completedCycles": {"items": ref("SlaInformationCompletedCycleDTO"), "type": "array"},
            "id": STR,
            "name": STR,
            "ongoingCycle": via("SlaInformationOngoingCycleDTO"),
            "slaDisplayFormat": STR,
        }
    ),
    "SlaInformationOngoingCycleDTO": obj(
        {
            "breachTime": via("DateDTO"),
            "breached": BOOL,
            "elapsedTime": via("DurationDTO"),
            "goalDuration": via("DurationDTO"),
            "paused": BOOL,
            "remainingTime": via("DurationDTO"),
            "startTime": via("DateDTO"),
            "withinCalendarHours": BOOL,
        }
    ),
    "SoftwareInfoDTO": obj(
        {
            "_links": via("SelfLinkDTO"),
            "buildChangeSet": STR,
            "buildDate": via("DateDTO"),
            "isLicensedForUse": BOOL,
            "platformVersion": STR,
            "version": STR,
        }
    ),
    "UserDTO": obj(
        {
            "_links": via("UserLinkDTO"),
            "accountId": STR,
            "active": BOOL,
            "displayName": STR,
            "emailAddress": STR,
            "key": STR,
            "name": STR,
            "timeZone": STR,
        }
    ),
    "UserLinkDTO": obj({"avatarUrls": {"additionalProperties": STR, "type": "object"}, "jiraRest": URI, "self": URI}),
}


def param(name: str, where: str, schema: dict, *, required: bool = False) -> dict:
    d: dict[str, Any] = {"in": where, "name": name, "schema": schema}
    if required or where == "path":
        d["required"] = True
    return d


def body(schema_name: str) -> dict:
    return {"content": {"application/json": {"schema": ref(schema_name)}}, "required": True}


def responses(ok: str, ok_schema: str | None, *errors: str) -> dict:
    """The success status (with its body schema, or none) and the error statuses, all typed ErrorResponse."""
    out: dict[str, Any] = {ok: {"description": ok}}
    if ok_schema:
        out[ok]["content"] = {"application/json": {"schema": ref(ok_schema)}}
    for code in errors:
        out[code] = {"content": {"application/json": {"schema": ref("ErrorResponse")}}, "description": code}
    return out


def op(operation_id: str, resp: dict, *, params: list | None = None, request_body: dict | None = None) -> dict:
    d: dict[str, Any] = {"operationId": operation_id, "responses": resp}
    if params:
        d["parameters"] = params
    if request_body:
        d["requestBody"] = request_body
    return d


START = param("start", "query", INT32)
LIMIT = param("limit", "query", INT32)
EXPAND = param("expand", "query", {"items": {"default": "", "type": "string"}, "type": "array"})
ISSUE = param("issueIdOrKey", "path", STR)
DESK = param("serviceDeskId", "path", STR)

P = "/rest/servicedeskapi"
PATHS: dict[str, dict] = {
    f"{P}/info": {"get": op("getInfo", responses("200", "SoftwareInfoDTO", "500"))},
    f"{P}/customer": {
        "post": op(
            "createCustomer",
            responses("201", "UserDTO", "400", "401", "403", "409", "500"),
            params=[param("strictConflictStatusCode", "query", BOOL)],
            request_body=body("CustomerCreateDTO"),
        )
    },
    f"{P}/request": {
        "post": op(
            "createCustomerRequest",
            responses("201", "CustomerRequestDTO", "400", "401", "403", "500"),
            request_body=body("RequestCreateDTO"),
        )
    },
    f"{P}/request/{{issueIdOrKey}}": {
        "get": op(
            "getCustomerRequestByIdOrKey",
            responses("200", "CustomerRequestDTO", "401", "403", "404", "500"),
            params=[ISSUE, EXPAND],
        )
    },
    f"{P}/request/{{issueIdOrKey}}/comment": {
        "get": op(
            "getRequestComments",
            responses("200", "PagedDTOCommentDTO", "401", "404", "500"),
            params=[ISSUE, param("public", "query", BOOL), param("internal", "query", BOOL), EXPAND, START, LIMIT],
        ),
        "post": op(
            "createRequestComment",
            responses("201", "CommentDTO", "400", "401", "403", "404", "500"),
            params=[ISSUE],
            request_body=body("CommentCreateDTO"),
        ),
    },
    f"{P}/request/{{issueIdOrKey}}/comment/{{commentId}}": {
        "get": op(
            "getRequestCommentById",
            responses("200", "CommentDTO", "401", "403", "404", "500"),
            params=[ISSUE, param("commentId", "path", INT64), EXPAND],
        )
    },
    f"{P}/request/{{issueIdOrKey}}/participant": {
        "delete": op(
            "removeRequestParticipants",
            responses("200", "PagedDTOUserDTO", "400", "401", "403", "404", "500"),
            params=[ISSUE],
            request_body=body("RequestParticipantUpdateDTO"),
        ),
        "get": op(
            "getRequestParticipants",
            responses("200", "PagedDTOUserDTO", "401", "403", "404", "500"),
            params=[ISSUE, START, LIMIT],
        ),
        "post": op(
            "addRequestParticipants",
            responses("200", "PagedDTOUserDTO", "400", "401", "403", "404", "500"),
            params=[ISSUE],
            request_body=body("RequestParticipantUpdateDTO"),
        ),
    },
    f"{P}/servicedesk": {
        "get": op("getServiceDesks", responses("200", "PagedDTOServiceDeskDTO", "401", "500"), params=[START, LIMIT])
    },
    f"{P}/servicedesk/{{serviceDeskId}}": {
        "get": op("getServiceDeskById", responses("200", "ServiceDeskDTO", "401", "403", "404", "500"), params=[DESK])
    },
    f"{P}/servicedesk/{{serviceDeskId}}/customer": {
        "get": op(
            "getCustomers",
            responses("200", "PagedDTOUserDTO", "401", "403", "404", "500"),
            params=[DESK, param("query", "query", STR), START, LIMIT],
        ),
        "post": op(
            "addCustomers",
            responses("204", None, "400", "401", "403", "404", "500"),
            params=[DESK],
            request_body=body("ServiceDeskCustomerDTO"),
        ),
    },
    f"{P}/servicedesk/{{serviceDeskId}}/requesttype": {
        "get": op(
            "getRequestTypes",
            responses("200", "PagedDTORequestTypeDTO", "401", "403", "404", "500"),
            params=[
                DESK,
                param("groupId", "query", INT32),
                EXPAND,
                param("searchQuery", "query", STR),
                START,
                LIMIT,
                param("includeHiddenRequestTypesInSearch", "query", {"default": False, "type": "boolean"}),
                param("restrictionStatus", "query", STR),
            ],
        )
    },
}


def build() -> dict:
    """The trimmed, patched spec as a dict; unreferenced schemas are an error (the subset must be closed)."""
    doc = {
        "components": {"schemas": SCHEMAS},  # P1: no securitySchemes
        "info": {
            "description": "Trimmed for the Jicket Jira stand-in; see jsm_spec.py.",
            "title": "Service Management Public REST API",
            "version": "1001.0.0-SNAPSHOT-350e7d5a3ea46c7b7dd875b9439a1b0467131186",
        },
        "openapi": "3.0.1",
        "paths": PATHS,
        "servers": [{"url": "/"}],  # P3
    }
    text = json.dumps(doc)
    for name in SCHEMAS:
        if f'"#/components/schemas/{name}"' not in text.replace(f'"{name}": {{', "", 1):
            raise SystemExit(f"schema {name} is not referenced")
    for target in {s.split("/")[-1] for s in text.split('"$ref": "')[1:] for s in [s.split('"')[0]]}:
        if target not in SCHEMAS:
            raise SystemExit(f"schema {target} is referenced but missing")
    return doc


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else OUT
    doc = build()
    out.write_text(json.dumps(doc, indent=None, separators=(",", ":"), sort_keys=True))
    print(out, len(doc["paths"]), "paths", len(doc["components"]["schemas"]), "schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
