#!/usr/bin/python3
"""Checks GET /api/openapi.json against the running server and the route table.

Usage: web_openapi_check.py BASE_URL AUTH_HEADER ROUTER_C BATCH_UID IMAGE_ID

- every /api and /metrics route of lib/http/router.c is documented, with its
  method, and every documented operation is a route;
- every documented query parameter is accepted (200), an undocumented one is
  refused with a documented 400;
- real answers (200, 400, 401, 404, 405, 409) have a documented status and a
  body that validates against the documented schema;
- without credentials every operation answers its documented 401.

Prints one "ok - ..." or "not ok - ..." line per check (as lib.sh does) and
exits 1 when any failed. A small validator for the subset of JSON Schema that
OpenAPI 3.0 uses (type, nullable, enum, required, properties,
additionalProperties, items, allOf, $ref) keeps it free of extra packages.
"""
import json
import re
import sys
import urllib.error
import urllib.request

BASE, AUTH, ROUTER, BATCH, IMAGE = sys.argv[1:6]
failures = 0


def report(ok, what):
    global failures
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failures += 1


def call(method, path, auth=True):
    req = urllib.request.Request(BASE + path, method=method)
    if auth:
        name, value = AUTH.split(": ", 1)
        req.add_header(name, value)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read()


status, _, raw = call("GET", "/api/openapi.json")
report(status == 200, "GET /api/openapi.json answers 200")
spec = json.loads(raw)
report(spec.get("openapi", "").startswith("3."), "the document is OpenAPI 3")


def resolve(schema):
    while "$ref" in schema:
        node = spec
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def validate(value, schema, where="$"):
    """Returns a list of problems (empty when value fits schema)."""
    schema = resolve(schema)
    problems = []
    for sub in schema.get("allOf", []):
        problems += validate(value, sub, where)
    if value is None:
        return problems if schema.get("nullable") or "type" not in schema else problems + [
            where + ": null but not nullable"]
    kind = schema.get("type")
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
    }
    if kind and not checks[kind](value):
        return problems + ["%s: %r is not %s" % (where, value, kind)]
    if "enum" in schema and value not in schema["enum"]:
        problems.append("%s: %r not in %s" % (where, value, schema["enum"]))
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                problems.append("%s: missing %s" % (where, key))
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                problems += validate(item, props[key], where + "." + key)
            elif isinstance(extra, dict):
                problems += validate(item, extra, where + "." + key)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += validate(item, schema["items"], "%s[%d]" % (where, i))
    return problems


def operation(method, template):
    return spec["paths"].get(template, {}).get(method.lower())


def check_answer(method, template, path, expect, auth=True):
    op = operation(method, template)
    status, ctype, raw = call(method, path, auth)
    what = "%s %s answers %s" % (method, path, expect)
    report(status == expect, what + ("" if status == expect else " (got %d: %s)" % (status, raw[:200])))
    doc = (op or {}).get("responses", {}).get(str(status))
    report(doc is not None, "%s %s: status %d is documented" % (method, template, status))
    if doc is None:
        return
    doc = resolve(doc)
    media = doc.get("content", {})
    if "application/json" in media:
        report(ctype.startswith("application/json"), "%s %s %d: JSON as documented" % (method, path, status))
        try:
            body = json.loads(raw)
        except ValueError:
            report(False, "%s %s %d: the body is JSON" % (method, path, status))
            return
        problems = validate(body, media["application/json"]["schema"])
        report(not problems, "%s %s %d: the body fits the schema%s" % (
            method, path, status, "" if not problems else ": " + "; ".join(problems[:5])))
    elif "text/plain" in media:
        report(ctype.startswith("text/plain"), "%s %s %d: text as documented" % (method, path, status))


# 1. The route table and the document list the same operations.
with open(ROUTER) as f:
    routes = set(re.findall(r'\{"(GET|POST)", "(/(?:api|metrics)[^"]*)"', f.read()))
documented = set()
for template, item in spec["paths"].items():
    for method in item:
        documented.add((method.upper(), template))
report(routes == documented, "router.c and the document have the same API operations%s" % (
    "" if routes == documented else ": only in router.c %s, only documented %s" % (
        sorted(routes - documented), sorted(documented - routes))))

# 2. Documented query parameters are accepted; an undocumented one is not.
samples = {
    "page": "1", "page_size": "5", "status": None, "uid": BATCH[:3].lower(), "batch": BATCH,
    "PatientID": "PAT001", "StudyInstanceUID": "1.2.3", "Modality": "CT",
    "date_from": "2000-01-01", "date_to": "2999-12-31",
}
for template, item in spec["paths"].items():
    for method, op in item.items():
        params = [resolve(p) for p in op.get("parameters", [])]
        query = [p for p in params if p["in"] == "query"]
        if method != "get" or "{" in template:
            continue
        for p in query:
            value = samples.get(p["name"])
            if value is None:
                value = p["schema"].get("enum", ["x"])[0]
            check_answer("GET", template, "%s?%s=%s" % (template, p["name"], value), 200)
        if template != "/api/openapi.json":
            check_answer("GET", template, template + "?no_such_parameter=1", 400)

# 3. Real answers against their documented schemas.
for method, template, path, expect in [
    ("GET", "/api/status", "/api/status", 200),
    ("GET", "/api/batches", "/api/batches?page_size=2", 200),
    ("GET", "/api/batches", "/api/batches?page=999", 404),
    ("GET", "/api/batches", "/api/batches?page=0", 400),
    ("GET", "/api/batches", "/api/batches?date_from=2024-02-30", 400),
    ("GET", "/api/batches/{uid}", "/api/batches/" + BATCH, 200),
    ("GET", "/api/batches/{uid}", "/api/batches/NO_SUCH_BATCH", 404),
    ("POST", "/api/batches/{uid}/retry", "/api/batches/NO_SUCH_BATCH/retry", 404),
    ("POST", "/api/batches/{uid}/retry", "/api/batches/%s/retry" % BATCH, 409),
    ("GET", "/api/images", "/api/images?page_size=3&page=2", 200),
    ("GET", "/api/images", "/api/images?page_size=1001", 400),
    ("GET", "/api/images", "/api/images?status=LOST", 400),
    ("GET", "/api/images", "/api/images?page=100000", 404),
    ("GET", "/api/images/{id}", "/api/images/" + IMAGE, 200),
    ("GET", "/api/images/{id}", "/api/images/abc", 400),
    ("GET", "/api/images/{id}", "/api/images/987654321", 404),
    ("GET", "/api/openapi.json", "/api/openapi.json", 200),
    ("GET", "/metrics", "/metrics", 200),
]:
    check_answer(method, template, path, expect)

# 4. Every operation needs credentials.
for template, item in spec["paths"].items():
    for method in item:
        path = template.replace("{uid}", BATCH).replace("{id}", IMAGE)
        check_answer(method.upper(), template, path, 401, auth=False)

sys.exit(1 if failures else 0)
