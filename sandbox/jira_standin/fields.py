"""The field list the stand-in serves at ``GET /rest/api/2/field`` (Jira's "Get all fields, both System and Custom").

Clients read it to map field names to ids: the ``jira`` library (used by jicket 0.6.2) fetches it in every
``JIRA(...)`` constructor. Each entry has Data Center's ``FieldBean`` shape (``id``, ``name``, ``custom``,
``orderable``, ``navigable``, ``searchable``, ``clauseNames``, ``schema``); Cloud adds ``key`` and
``untranslatedName``. The system fields are the ones the stand-in stores on an issue (``store.ALL_FIELDS``)
plus ``issuekey``; JSM's "Request Type" custom field is listed once a service desk exists, as Jira lists
a field only when the app that provides it is installed.
"""

from __future__ import annotations

# id -> (name, JQL clause names, schema, orderable, navigable, searchable), as Jira DC 10 describes its system
# fields. ``orderable`` means "can be set on a screen"; comment and attachment are not navigable (search
# results leave them out unless asked), issuekey has no schema.
SYSTEM_FIELDS: dict[str, tuple[str, list[str], dict | None, bool, bool, bool]] = {
    "issuekey": ("Key", ["id", "issue", "issuekey", "key"], None, False, True, False),
    "summary": ("Summary", ["summary"], {"type": "string", "system": "summary"}, True, True, True),
    "description": ("Description", ["description"], {"type": "string", "system": "description"}, True, True, True),
    "issuetype": ("Issue Type", ["issuetype", "type"], {"type": "issuetype", "system": "issuetype"},
                  True, True, True),
    "project": ("Project", ["project"], {"type": "project", "system": "project"}, False, True, True),
    "status": ("Status", ["status"], {"type": "status", "system": "status"}, False, True, True),
    "labels": ("Labels", ["labels"], {"type": "array", "items": "string", "system": "labels"}, True, True, True),
    "reporter": ("Reporter", ["reporter"], {"type": "user", "system": "reporter"}, True, True, True),
    "creator": ("Creator", ["creator"], {"type": "user", "system": "creator"}, False, True, True),
    "assignee": ("Assignee", ["assignee"], {"type": "user", "system": "assignee"}, True, True, True),
    "priority": ("Priority", ["priority"], {"type": "priority", "system": "priority"}, True, True, True),
    "created": ("Created", ["created", "createdDate"], {"type": "datetime", "system": "created"}, False, True, True),
    "updated": ("Updated", ["updated", "updatedDate"], {"type": "datetime", "system": "updated"}, False, True, True),
    "resolution": ("Resolution", ["resolution"], {"type": "resolution", "system": "resolution"}, True, True, True),
    "resolutiondate": ("Resolved", ["resolutiondate", "resolved"], {"type": "datetime", "system": "resolutiondate"},
                       False, True, True),
    "comment": ("Comment", ["comment"], {"type": "comments-page", "system": "comment"}, True, False, True),
    "attachment": ("Attachment", ["attachments"], {"type": "array", "items": "attachment", "system": "attachment"},
                   True, False, True),
    "issuelinks": ("Linked Issues", ["issueLink"], {"type": "array", "items": "issuelinks", "system": "issuelinks"},
                   True, True, True),
    "watches": ("Watchers", ["watchers"], {"type": "watches", "system": "watches"}, False, True, True),
}

# JSM's "Request Type" field (the stand-in uses Cloud's id in both modes, see store.REQUEST_TYPE_FIELD).
REQUEST_TYPE = ("Request Type", {"type": "sd-customerrequesttype",
                                 "custom": "com.atlassian.servicedesk:vp-origin", "customId": 10010})


def field_list(*, cloud: bool, request_type_field: str | None) -> list[dict]:
    """The answer of ``GET /rest/api/2/field``: every system field, and REQUEST_TYPE_FIELD if given."""
    out = []
    for field_id, (name, clauses, schema, orderable, navigable, searchable) in SYSTEM_FIELDS.items():
        entry = {"id": field_id, "name": name, "custom": False, "orderable": orderable, "navigable": navigable,
                 "searchable": searchable, "clauseNames": list(clauses)}
        if schema is not None:
            entry["schema"] = dict(schema)
        out.append(entry)
    if request_type_field:
        name, schema = REQUEST_TYPE
        number = schema["customId"]
        out.append({"id": request_type_field, "name": name, "custom": True, "orderable": True, "navigable": True,
                    "searchable": True, "clauseNames": [f"cf[{number}]", name], "schema": dict(schema)})
    if cloud:
        for entry in out:
            entry["key"] = entry["id"]
            entry["untranslatedName"] = entry["name"]
    return out
