"""Make Atlassian's Jira DC 10.3 OpenAPI usable for validating real /rest/api/2 traffic.

Adapted from the project's reference script (shared/reference/jira/patch_spec.py). Regenerate with:

    python sandbox/jira_standin/spec/patch_spec.py \
        /work/shared/reference/jira/jira-software-dc-10.3-openapi.json \
        sandbox/jira_standin/spec/jira-dc-10.3-trimmed.json --trim

1. paths '/api/2/..' -> '/rest/api/2/..' (spec server url ends in /rest; tools match paths only)
2. relax the generated-contract defect: IssueUpdateBean.fields / IssueBean.fields values are
   declared 'object', but Jira accepts/returns strings, arrays, numbers, null.
3. query params typed as StringList (an object): Jira takes comma-separated strings.
4. multipart uploads are declared as one binary string; real requests are form objects.
5. collection endpoints typed as their item bean.
6. a transition id is accepted as a JSON number too (atlassian-python-api sends an int; Jira's
   Jackson binding coerces it) -- only in the request bean, responses keep the string.
7. 'date-time' formats (RFC 3339) replaced by the pattern of what Jira really sends
   ("2024-05-23T14:47:28.592+0000": the offset has no colon, so RFC 3339 validation rejects it).
8. optional --trim: keep only the operations an email importer uses (plus the stand-in's extras:
   transitions, issueLink, project, attachment metadata, the field list, bulk issue creation) and the schemas
   they reference.
"""

import copy
import json
import sys

KEEP = {
    "/api/2/issue",
    "/api/2/issue/bulk",  # POST only (the path has no other method): bulk issue creation
    "/api/2/issue/{issueIdOrKey}",
    "/api/2/search",
    "/api/2/issue/{issueIdOrKey}/comment",
    "/api/2/issue/{issueIdOrKey}/attachments",
    "/api/2/user/search",
    "/api/2/issue/{issueIdOrKey}/watchers",
    "/api/2/myself",
    "/api/2/serverInfo",
    "/api/2/issue/{issueIdOrKey}/transitions",
    "/api/2/issueLink",
    "/api/2/project/{projectIdOrKey}",
    "/api/2/attachment/{id}",
    "/api/2/field",  # GET only (ONLY_METHODS): the field list clients read at start (python jira's JIRA())
}
# paths of KEEP of which only these operations are kept (the stand-in serves no others)
ONLY_METHODS = {"/api/2/field": {"get"}}


def ops(paths):
    for path in paths.values():
        for op in path.values():
            if isinstance(op, dict):
                yield op


def main(argv):
    src, dst = argv[1], argv[2]
    trim = "--trim" in argv
    with open(src) as fh:
        d = json.load(fh)
    d["paths"] = {"/rest" + p: v for p, v in d["paths"].items() if not trim or p in KEEP}
    if trim:
        for p, methods in ONLY_METHODS.items():
            item = d["paths"]["/rest" + p]
            for method in [m for m in item if m in ("get", "put", "post", "delete", "patch") and m not in methods]:
                del item[method]
    d["servers"] = [{"url": "/"}]
    schemas = d["components"]["schemas"]
    schemas["IssueUpdateBean"]["properties"]["fields"]["additionalProperties"] = True
    schemas["IssueBean"]["properties"]["fields"]["additionalProperties"] = True
    for op in ops(d["paths"]):
        for prm in op.get("parameters", []):
            sch = json.dumps(prm.get("schema", {}))
            if prm.get("in") == "query" and "StringList" in sch:
                prm["schema"] = {"type": "string"}
            if prm.get("name") == "validateQuery":  # Jira 8+: strict|warn|none|true|false
                prm["schema"] = {"type": "string"}
    for op in ops(d["paths"]):
        mp = (op.get("requestBody") or {}).get("content", {}).get("multipart/form-data")
        if mp and mp.get("schema", {}).get("type") == "string":
            mp["schema"] = {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}
    for p, m, code in [
        ("/rest/api/2/user/search", "get", "200"),
        ("/rest/api/2/issue/{issueIdOrKey}/attachments", "post", "200"),
        ("/rest/api/2/field", "get", "200"),
    ]:
        if p not in d["paths"]:
            continue
        r = d["paths"][p][m]["responses"][code]["content"]["application/json"]
        r["schema"] = {"type": "array", "items": r["schema"]}
    req_transition = copy.deepcopy(schemas["TransitionBean"])
    req_transition["properties"]["id"] = {"oneOf": [{"type": "string"}, {"type": "integer"}]}
    schemas["TransitionRequestBean"] = req_transition
    schemas["IssueUpdateBean"]["properties"]["transition"] = {
        "$ref": "#/components/schemas/TransitionRequestBean"
    }
    fix_date_time(schemas)
    if trim:  # drop unreferenced schemas and the long prose
        d["info"]["description"] = "Patched and trimmed for the Jicket Jira stand-in; see patch_spec.py."
        d.pop("x-atlassian-narrative", None)
        used, todo = set(), [json.dumps(d["paths"])]
        while todo:
            s = todo.pop()
            for name in schemas:
                if name not in used and f'"#/components/schemas/{name}"' in s:
                    used.add(name)
                    todo.append(json.dumps(schemas[name]))
        d["components"]["schemas"] = {k: v for k, v in schemas.items() if k in used}
        for op in ops(d["paths"]):
            op.pop("description", None)
        for s in d["components"]["schemas"].values():
            strip_examples(s)
    with open(dst, "w") as fh:
        json.dump(d, fh, indent=None, separators=(",", ":"), sort_keys=True)
    print(dst, len(d["paths"]), "paths", len(d["components"]["schemas"]), "schemas")


JIRA_TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$"


def fix_date_time(node):
    if isinstance(node, dict):
        if node.get("format") == "date-time":
            del node["format"]
            node["pattern"] = JIRA_TIMESTAMP
        for v in node.values():
            fix_date_time(v)
    elif isinstance(node, list):
        for v in node:
            fix_date_time(v)


def strip_examples(node):
    if isinstance(node, dict):
        node.pop("example", None)
        for v in node.values():
            strip_examples(v)
    elif isinstance(node, list):
        for v in node:
            strip_examples(v)


if __name__ == "__main__":
    main(sys.argv)
