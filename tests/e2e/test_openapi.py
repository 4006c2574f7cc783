"""The OpenAPI description (GET /api/v1/openapi.json, src/magsd/openapi.json)
against a real magsd and its route table (`magsd routes`).

- The document is served without a token, is valid JSON, is the source file
  byte for byte, has a sane OpenAPI 3.0 structure, and every $ref resolves.
- Every route of `magsd routes` is described, and every described path and
  method is a route: a request to it with alice's token never gets the
  router's own answers (404 "no route for ..." or 405 method_not_allowed),
  which are told apart from a handler's 404 ("job not found") by message.
- Every operation that needs a token answers 401 without one.
- Real answers (jobs, logs, workspaces, uploads, cron, usage, tokens,
  errors...) match the response schemas the document gives for their
  status, and carry no property the schema does not describe.

A route added to api.c without a description in openapi.json fails here
(and in tests/unit/test_openapi.c).
"""
import json
import re
import socket
import subprocess
import uuid

import pytest

from conftest import MAGSD, ROOT, Response, clean_env, free_port, make_server, need

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
PROBE = "openapi-probe"  # a path parameter value no resource has


def norm(path):
    """/mags-jobs/{request_id}/logs -> /mags-jobs/{}/logs"""
    return re.sub(r"\{[^}/]*\}", "{}", path)


def fill(path, value=PROBE):
    return re.sub(r"\{[^}/]*\}", value, path)


@pytest.fixture(scope="module")
def srv(session_dir, image_cache):
    """A server of our own (the probes create and delete things), with the
    URL proxy and the SSH gateway on free ports."""
    s = make_server(session_dir, image_cache, "openapi", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "127.0.0.1:%d" % free_port(),
    })
    yield s
    s.stop()


@pytest.fixture(scope="module")
def doc(srv):
    r = srv.api("GET", "/openapi.json", token=None)
    assert r.status == 200, r
    assert r.headers.get("Content-Type", "").startswith("application/json"), r.headers
    d = json.loads(r.body)
    assert isinstance(d, dict)
    return d


@pytest.fixture(scope="module")
def prefix(doc):
    return doc["servers"][0]["url"]


def operations(doc):
    for path, item in doc["paths"].items():
        for m in METHODS:
            if m in item:
                yield path, m, item[m]


def resolve(doc, ref):
    assert ref.startswith("#/"), "non-local $ref %r" % ref
    node = doc
    for tok in ref[2:].split("/"):
        tok = tok.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and tok in node, "unresolved $ref %r" % ref
        node = node[tok]
    return node


def deref(doc, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
        seen += 1
        assert seen < 20, "$ref loop"
    return node


# ---- a small JSON Schema (OpenAPI 3.0 dialect) validator ------------------

def props_of(doc, schema):
    """Every property name a schema describes (through $ref and allOf), and
    whether it allows others."""
    schema = deref(doc, schema)
    names, open_ = set(schema.get("properties", {})), "additionalProperties" in schema
    for sub in schema.get("allOf", []):
        n, o = props_of(doc, sub)
        names |= n
        open_ = open_ or o
    return names, open_


TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
}


def validate(doc, schema, v, where="$", strict=True):
    """A list of problems (empty: v matches). strict: objects may not carry
    properties the schema does not describe (unless additionalProperties)."""
    schema = deref(doc, schema)
    errs = []
    if v is None:
        if schema.get("nullable") or not schema:
            return []
        if "allOf" in schema and all(deref(doc, s).get("nullable") for s in schema["allOf"]):
            return []
        return ["%s: null but not nullable" % where]
    if "allOf" in schema:
        for sub in schema["allOf"]:
            errs += validate(doc, sub, v, where, strict=False)
        if strict and isinstance(v, dict):
            names, open_ = props_of(doc, schema)
            if not open_:
                errs += ["%s: undocumented property %r" % (where, k) for k in v if k not in names]
        return errs
    if "oneOf" in schema:
        ok = [s for s in schema["oneOf"] if not validate(doc, s, v, where, strict)]
        if len(ok) != 1:
            errs.append("%s: matches %d of oneOf (want 1)" % (where, len(ok)))
        return errs
    if "anyOf" in schema:
        if all(validate(doc, s, v, where, strict) for s in schema["anyOf"]):
            errs.append("%s: matches none of anyOf" % where)
        return errs
    t = schema.get("type")
    if t and not TYPES[t](v):
        return ["%s: %r is not %s" % (where, v, t)]
    if "enum" in schema and v not in schema["enum"]:
        errs.append("%s: %r not in %r" % (where, v, schema["enum"]))
    if "minimum" in schema and isinstance(v, (int, float)) and v < schema["minimum"]:
        errs.append("%s: %r < minimum %r" % (where, v, schema["minimum"]))
    if "maximum" in schema and isinstance(v, (int, float)) and v > schema["maximum"]:
        errs.append("%s: %r > maximum %r" % (where, v, schema["maximum"]))
    if isinstance(v, dict):
        props = schema.get("properties", {})
        for k in schema.get("required", []):
            if k not in v:
                errs.append("%s: required property %r missing" % (where, k))
        addl = schema.get("additionalProperties")
        for k, x in v.items():
            if k in props:
                errs += validate(doc, props[k], x, "%s.%s" % (where, k), strict)
            elif isinstance(addl, dict):
                errs += validate(doc, addl, x, "%s.%s" % (where, k), strict)
            elif addl is False or (strict and t == "object" and addl is None):
                errs.append("%s: undocumented property %r" % (where, k))
    if isinstance(v, list) and "items" in schema:
        for n, x in enumerate(v):
            errs += validate(doc, schema["items"], x, "%s[%d]" % (where, n), strict)
    return errs


def described(doc, method, path):
    return any(m == method and norm(p) == norm(path) for p, m, _ in operations(doc))


def find_op(doc, method, path):
    """The operation for METHOD and a spec path template (e.g.
    "/mags-jobs/{id}/logs", parameter names ignored)."""
    for p, item in doc["paths"].items():
        if norm(p) == norm(path) and method.lower() in item:
            return item[method.lower()]
    raise AssertionError("%s %s is not described" % (method, path))


def check(doc, method, path, r, want=None):
    """Assert response r of METHOD path-template matches the document: its
    status is described (else 'default'), and its body the schema for its
    content type. want: the status expected. Returns r."""
    if want is not None:
        assert r.status == want, r
    op = find_op(doc, method, path)
    responses = op["responses"]
    key = str(r.status)
    if want is not None:
        assert key in responses, "%s %s: status %s not described" % (method, path, key)
    resp = deref(doc, responses.get(key) or responses.get("default"))
    assert resp, "%s %s: status %s not described and no default" % (method, path, key)
    content = resp.get("content")
    if not content:
        return r
    ctype = (r.headers.get("Content-Type") or "").split(";")[0].strip()
    assert ctype in content, "%s %s %d: content type %r not described (%s)" % (
        method, path, r.status, ctype, sorted(content))
    schema = content[ctype]["schema"]
    if ctype == "application/x-ndjson":
        lines = [l for l in r.body.split("\n") if l]
        assert lines, r
        for n, line in enumerate(lines):
            errs = validate(doc, schema, json.loads(line), "line %d" % (n + 1))
            assert not errs, "%s %s: %s" % (method, path, errs)
    else:
        errs = validate(doc, schema, json.loads(r.body))
        assert not errs, "%s %s %d: %s\n%s" % (method, path, r.status, errs, r.body[:2000])
    return r


def magsd_routes():
    r = subprocess.run([str(MAGSD), "routes"], env=clean_env(), capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r
    out = []
    for line in r.stdout.splitlines():
        method, path = line.split(" ")
        out.append((method, path))
    assert len(out) > 10, r.stdout
    return out


# ---- the document -----------------------------------------------------------

def test_document_is_public_and_is_the_source_file(srv, doc):
    src = (ROOT / "src" / "magsd" / "openapi.json").read_text()
    for tok in (None, "alice", "not-a-token"):
        r = srv.api("GET", "/openapi.json", token=tok)
        assert r.status == 200, (tok, r)
        assert r.body == src, "served document differs from src/magsd/openapi.json (rebuild?)"
    # only that: the rest still needs a token, and other methods are routed
    assert srv.api("GET", "/whoami", token=None).status == 401
    r = srv.api("POST", "/openapi.json", body={}, token=None)
    assert r.status == 401, r


def test_structure_is_openapi_3_0(doc):
    assert re.match(r"^3\.0\.\d+$", doc["openapi"]), doc["openapi"]
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"][0]["url"] == "/api/v1"
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert {"bearerAuth": []} in doc["security"]
    for name in ("Error", "Job", "JobList", "LogRecord", "LogList"):
        assert name in doc["components"]["schemas"], name
    err = doc["components"]["schemas"]["Error"]
    assert set(err["required"]) == {"error", "code"}
    ids = set()
    for path, m, op in operations(doc):
        assert path.startswith("/") and not path.startswith("/api/"), path
        assert op.get("operationId") and op["operationId"] not in ids, (path, m)
        ids.add(op["operationId"])
        assert op.get("summary"), (path, m)
        assert op.get("tags"), (path, m)
        responses = op["responses"]
        assert any(k in responses for k in ("200", "201")), (path, m)
        for code, resp in responses.items():
            assert code == "default" or re.match(r"^[1-5]\d\d$", code), (path, m, code)
            assert deref(doc, resp).get("description"), (path, m, code)
        # every {param} of the path is declared as a path parameter
        declared = set()
        for p in doc["paths"][path].get("parameters", []) + op.get("parameters", []):
            p = deref(doc, p)
            assert p["in"] in ("path", "query", "header", "cookie"), p
            assert "schema" in p, p
            if p["in"] == "path":
                assert p.get("required") is True, p
                declared.add(p["name"])
        assert declared == set(re.findall(r"\{([^}/]+)\}", path)), (path, m, declared)
        if "requestBody" in op:
            assert deref(doc, op["requestBody"])["content"], (path, m)
        if op.get("security") != []:
            assert "401" in responses, "%s %s needs a token but lists no 401" % (m, path)
        if "x-mags-alias-of" in op:
            target = op["x-mags-alias-of"]
            assert m in doc["paths"].get(target, {}), "%s %s: alias of nothing" % (m, path)
            assert "x-mags-alias-of" not in doc["paths"][target][m], (m, path)


def test_every_ref_resolves(doc):
    count = 0

    def walk(node):
        nonlocal count
        if isinstance(node, dict):
            if "$ref" in node:
                count += 1
                resolve(doc, node["$ref"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(doc)
    assert count > 50


def test_error_responses_are_described(doc):
    for code, name in (("400", "BadRequest"), ("401", "Unauthorized"), ("404", "NotFound"),
                       ("409", "Conflict"), ("413", "TooLarge"), ("429", "TooManyRequests")):
        resp = doc["components"]["responses"][name]
        assert resp["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        assert any(op["responses"].get(code) == {"$ref": "#/components/responses/" + name}
                   for _, _, op in operations(doc)), code


def test_the_003_alias_paths_are_marked(doc):
    aliases = {(m, norm(p)) for p, m, op in operations(doc) if "x-mags-alias-of" in op}
    for m, p in (("get", "/mags-jobs/{}"), ("get", "/workspaces"), ("delete", "/workspaces/{}"),
                 ("post", "/cron-jobs"), ("get", "/cron-jobs"), ("patch", "/cron-jobs/{}"),
                 ("delete", "/cron-jobs/{}"), ("post", "/url-aliases"), ("get", "/url-aliases"),
                 ("delete", "/url-aliases/{}")):
        assert (m, p) in aliases, (m, p)
    assert ("get", "/mags-jobs/{}/status") not in aliases


# ---- the document and the route table ---------------------------------------

def test_every_route_is_described(doc, prefix):
    described = {(m.upper(), norm(prefix + p)) for p, m, _ in operations(doc)}
    missing = ["%s %s" % r for r in magsd_routes() if (r[0], norm(r[1])) not in described]
    assert not missing, "routes not described in src/magsd/openapi.json: %s" % missing


def test_every_description_is_a_route(doc, prefix):
    routes = {(m, norm(p)) for m, p in magsd_routes()}
    stray = ["%s %s" % (m.upper(), p) for p, m, _ in operations(doc)
             if (m.upper(), norm(prefix + p)) not in routes]
    assert not stray, "described but not routes: %s" % stray


def router_miss(r):
    """True if r is the router's own answer: no such path, or not this method."""
    if r.status == 405:
        return True
    return r.status == 404 and (r.json or {}).get("error", "").startswith("no route for")


def test_router_misses_are_told_from_handler_404s(srv):
    r = srv.api("GET", "/no-such-thing")
    assert r.status == 404 and r.json["code"] == "not_found", r
    assert router_miss(r), r
    r = srv.api("DELETE", "/whoami")
    assert r.status == 405 and r.json["code"] == "method_not_allowed", r
    assert router_miss(r)
    r = srv.api("GET", "/mags-jobs/%s/status" % PROBE)
    assert r.status == 404 and r.json == {"error": "job not found", "code": "not_found"}, r
    assert not router_miss(r)


def test_every_described_operation_is_served(srv, doc):
    """With alice's token, each described METHOD PATH reaches a handler.
    Bodies are '[]' (not an object): every handler refuses it before doing
    anything, so the probe changes nothing."""
    missing = []
    for path, m, op in operations(doc):
        body = b"[]" if m in ("post", "put", "patch") else None
        r = srv.api(m.upper(), fill(path), raw=body, token="alice",
                    headers={"Content-Type": "application/json"} if body else None)
        if router_miss(r):
            missing.append("%s %s -> %r" % (m.upper(), path, r))
        assert r.status != 401, (m, path, r)
        assert r.json is not None or (r.status == 200 and path == "/openapi.json"), (m, path, r)
    assert not missing, "described but not served: %s" % missing


def test_operations_that_need_a_token_answer_401_without(srv, doc):
    for path, m, op in operations(doc):
        r = srv.api(m.upper(), fill(path), token=None)
        if op.get("security") == []:
            assert r.status != 401, (m, path, r)
        else:
            assert r.status == 401, (m, path, r)
            check(doc, m, path, r)


# ---- real answers match the schemas ----------------------------------------

def too_large(srv, path):
    """POST path announcing a body far over max_body: the server answers 413
    from the headers alone."""
    s = socket.create_connection(("127.0.0.1", srv.port), 5)
    s.settimeout(10)
    try:
        s.sendall(("POST /api/v1%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
                   "Content-Length: 100000000\r\n\r\n" % (path, srv.tokens["alice"])).encode())
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < int(
                re.search(rb"(?i)content-length: *(\d+)", data).group(1)):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    finally:
        s.close()
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = dict(l.split(": ", 1) for l in lines[1:])
    return Response(int(lines[0].split(" ")[1]), body.decode(), headers)


def test_job_answers_match_the_schemas(srv, doc):
    r = check(doc, "post", "/mags-jobs", srv.api("POST", "/mags-jobs", {
        "script": "echo out; echo err >&2; exit 3", "name": "openapi-job",
        "environment": {"A": "1"}}), 200)
    jid = r.json["request_id"]
    srv.wait(jid)
    st = check(doc, "get", "/mags-jobs/{id}/status",
               srv.api("GET", "/mags-jobs/%s/status" % jid), 200).json
    assert st["status"] == "completed" and st["exit_code"] == 3, st
    check(doc, "get", "/mags-jobs/{id}", srv.api("GET", "/mags-jobs/%s" % jid), 200)
    logs = check(doc, "get", "/mags-jobs/{id}/logs",
                 srv.api("GET", "/mags-jobs/%s/logs" % jid), 200).json["logs"]
    assert {"message": "out", "source": "stdout"}.items() <= logs[0].items() or any(
        l["message"] == "out" for l in logs), logs
    r = check(doc, "get", "/mags-jobs/{id}/logs",
              srv.api("GET", "/mags-jobs/%s/logs?follow=1" % jid), 200)
    assert json.loads(r.body.strip().split("\n")[-1])["event"] == "end", r
    check(doc, "get", "/mags-jobs", srv.api("GET", "/mags-jobs?page=1&page_size=5"), 200)
    check(doc, "get", "/mags-jobs", srv.api("GET", "/mags-jobs?status=completed&q=openapi"), 200)
    check(doc, "post", "/mags-jobs/{id}/stop", srv.api("POST", "/mags-jobs/%s/stop" % jid), 200)
    # errors
    check(doc, "post", "/mags-jobs", srv.api("POST", "/mags-jobs", {}), 400)
    check(doc, "post", "/mags-jobs", srv.api("POST", "/mags-jobs", {"script": "x", "ephemeral": True,
                                                                    "persistent": True}), 400)
    check(doc, "get", "/mags-jobs", srv.api("GET", "/mags-jobs?page=0"), 400)
    check(doc, "get", "/mags-jobs/{id}/status", srv.api("GET", "/mags-jobs/nope/status"), 404)
    check(doc, "get", "/mags-jobs/{id}/status", srv.api("GET", "/mags-jobs/%s/status" % jid,
                                                          token="bob"), 404)
    check(doc, "get", "/whoami", srv.api("GET", "/whoami", token="nope"), 401)
    check(doc, "post", "/mags-jobs", too_large(srv, "/mags-jobs"), 413)


def test_access_answers_match_the_schemas(srv, doc):
    jid = srv.submit("sleep 30", persistent=True, no_sync=True,
                     workspace_id="openapi-acc-%s" % uuid.uuid4().hex[:6])
    try:
        srv.wait(jid, states=("running", "error", "completed"), timeout=60)
        r = srv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
        check(doc, "post", "/mags-jobs/{id}/access", r, 200)
        assert "url" in r.json, r
        r = srv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 22})
        check(doc, "post", "/mags-jobs/{id}/access", r, 200)
        assert "ssh_private_key" in r.json, r
        check(doc, "post", "/mags-jobs/{id}/access",
              srv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 0}), 400)
        if described(doc, "post", "/mags-jobs/{}/exec"):
            r = check(doc, "post", "/mags-jobs/{id}/exec", srv.api(
                "POST", "/mags-jobs/%s/exec" % jid, {"command": "echo hi; echo oops >&2; exit 4"}), 200)
            assert r.json["exit_code"] == 4 and r.json["stdout"] == "hi\n", r
            check(doc, "post", "/mags-jobs/{id}/exec", srv.api(
                "POST", "/mags-jobs/%s/exec?stream=1" % jid, {"command": "echo hi"}), 200)
            check(doc, "post", "/mags-jobs/{id}/exec",
                  srv.api("POST", "/mags-jobs/%s/exec" % jid, {}), 400)
        if described(doc, "patch", "/mags-jobs/{}"):
            check(doc, "patch", "/mags-jobs/{id}", srv.api(
                "PATCH", "/mags-jobs/%s" % jid, {"startup_command": "echo up"}), 200)
    finally:
        check(doc, "post", "/mags-jobs/{id}/stop", srv.api("POST", "/mags-jobs/%s/stop" % jid), 200)
    check(doc, "post", "/mags-jobs/{id}/access",
          srv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080}), 409)


def multipart(name, data):
    b = "----openapi%s" % uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n" % (b, name)).encode()
    body += data + ("\r\n--%s--\r\n" % b).encode()
    return body, "multipart/form-data; boundary=" + b


def test_workspace_and_file_answers_match_the_schemas(srv, doc):
    body, ctype = multipart("hello.txt", b"hello\n")
    r = check(doc, "post", "/mags-files",
              srv.api("POST", "/mags-files", raw=body, headers={"Content-Type": ctype}), 200)
    fid = r.json["file_id"]
    ws = "openapi-ws-%s" % uuid.uuid4().hex[:6]
    st, out, err, _ = srv.run("cat /root/hello.txt", workspace_id=ws, file_ids=[fid])
    need(st["status"] == "completed", "workspaces do not work here: %r %s" % (st, err))
    assert out == "hello\n", (st, out, err)
    for p in ("/mags-workspaces", "/workspaces"):
        r = check(doc, "get", p, srv.api("GET", p), 200)
        assert ws in [w["workspace_id"] for w in r.json["workspaces"]], r
    check(doc, "post", "/mags-workspaces/{id}/resize",
          srv.api("POST", "/mags-workspaces/%s/resize" % ws, {"disk_gb": 0}), 400)
    r = srv.api("POST", "/mags-workspaces/%s/resize" % ws, {"disk_gb": 3})
    check(doc, "post", "/mags-workspaces/{id}/resize", r, 200)
    assert r.json["disk_gb"] == 3, r
    check(doc, "post", "/mags-jobs/{id}/sync", srv.api("POST", "/mags-jobs/%s/sync" % st["request_id"]))
    check(doc, "delete", "/workspaces/{id}", srv.api("DELETE", "/workspaces/%s" % ws), 200)
    check(doc, "delete", "/mags-workspaces/{id}", srv.api("DELETE", "/mags-workspaces/%s" % ws), 404)


def test_cron_answers_match_the_schemas(srv, doc):
    r = check(doc, "post", "/mags-cron", srv.api("POST", "/mags-cron", {
        "name": "openapi-cron", "cron_expression": "0 0 1 1 *", "script": "echo hi"}), 201)
    cid = r.json["id"]
    try:
        check(doc, "get", "/mags-cron", srv.api("GET", "/mags-cron"), 200)
        check(doc, "get", "/cron-jobs", srv.api("GET", "/cron-jobs"), 200)
        check(doc, "get", "/mags-cron/{id}", srv.api("GET", "/mags-cron/%s" % cid), 200)
        r = check(doc, "patch", "/cron-jobs/{id}",
                  srv.api("PATCH", "/cron-jobs/%s" % cid, {"enabled": False}), 200)
        assert r.json["enabled"] is False and r.json["next_run_at"] is None, r
        check(doc, "patch", "/mags-cron/{id}",
              srv.api("PATCH", "/mags-cron/%s" % cid, {"cron_expression": "61 * * * *"}), 400)
        r = check(doc, "post", "/mags-cron/{id}/run", srv.api("POST", "/mags-cron/%s/run" % cid), 200)
        srv.wait(r.json["request_id"])
        check(doc, "post", "/mags-cron", srv.api("POST", "/mags-cron", {"name": "x"}), 400)
    finally:
        check(doc, "delete", "/mags-cron/{id}", srv.api("DELETE", "/mags-cron/%s" % cid), 200)
    check(doc, "get", "/mags-cron/{id}", srv.api("GET", "/mags-cron/%s" % cid), 404)


def test_account_usage_and_alias_answers_match_the_schemas(srv, doc):
    check(doc, "get", "/whoami", srv.api("GET", "/whoami"), 200)
    for p in ("/mags-usage", "/usage"):
        check(doc, "get", p, srv.api("GET", p + "?window_days=3"), 200)
    check(doc, "get", "/mags-usage", srv.api("GET", "/mags-usage?window_days=0"), 400)
    check(doc, "get", "/tokens", srv.api("GET", "/tokens"), 200)
    r = check(doc, "post", "/tokens", srv.api("POST", "/tokens", {"name": "openapi"}), 200)
    check(doc, "delete", "/tokens/{id}", srv.api("DELETE", "/tokens/%s" % r.json["id"]), 200)
    check(doc, "delete", "/tokens/{id}", srv.api("DELETE", "/tokens/%s" % PROBE), 404)
    check(doc, "get", "/session", srv.api("GET", "/session"), 200)
    check(doc, "post", "/session", srv.api("POST", "/session", {"token": "bad"}, token=None), 401)
    check(doc, "post", "/session", srv.api("POST", "/session", raw=b"x", token=None,
                                           headers={"Content-Type": "text/plain"}), 403)
    for p in ("/mags-url-aliases", "/url-aliases"):
        check(doc, "get", p, srv.api("GET", p), 200)
    check(doc, "post", "/mags-url-aliases",
          srv.api("POST", "/mags-url-aliases", {"subdomain": "-bad-", "workspace_id": "w"}), 400)
    check(doc, "post", "/url-aliases", srv.api("POST", "/url-aliases", {
        "subdomain": "openapi-%s" % uuid.uuid4().hex[:6], "workspace_id": "no-such-ws"}), 404)
    check(doc, "delete", "/mags-url-aliases/{subdomain}",
          srv.api("DELETE", "/mags-url-aliases/%s" % PROBE), 404)
    check(doc, "get", "/openapi.json", srv.api("GET", "/openapi.json", token=None), 200)


def test_the_validator_catches_mismatches(doc):
    """The schema check above can fail: wrong types, missing or extra keys."""
    job = doc["components"]["schemas"]["Job"]
    assert validate(doc, {"$ref": "#/components/schemas/Error"}, {"error": "x", "code": "not_found"}) == []
    assert validate(doc, {"$ref": "#/components/schemas/Error"}, {"error": "x"})
    assert validate(doc, {"$ref": "#/components/schemas/Error"}, {"error": "x", "code": "nope"})
    assert validate(doc, {"$ref": "#/components/schemas/Error"},
                    {"error": "x", "code": "not_found", "extra": 1})
    assert validate(doc, job, {"request_id": 5})
    assert validate(doc, {"$ref": "#/components/schemas/CronRun"}, {"request_id": "x"})
