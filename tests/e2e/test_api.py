"""REST API: authentication, ownership, input validation, error shapes."""
import socket

import pytest


def error_shape(r, status):
    assert r.status == status, r
    assert r.json is not None, "error body is not JSON: %r" % r.body
    assert isinstance(r.json.get("error"), str) and r.json["error"], r
    assert isinstance(r.json.get("code"), str) and r.json["code"], r


# ---- authentication ---------------------------------------------------------

@pytest.mark.parametrize("method,path", [
    ("GET", "/whoami"), ("GET", "/mags-jobs"), ("POST", "/mags-jobs"),
    ("GET", "/mags-jobs/00000000-0000-4000-8000-000000000000/status"),
])
def test_no_token_is_401(srv, method, path):
    r = srv.api(method, path, {"script": "true"} if method == "POST" else None, token=None)
    error_shape(r, 401)


def test_bad_token_is_401(srv):
    error_shape(srv.api("GET", "/whoami", token="not-a-token"), 401)
    error_shape(srv.api("GET", "/whoami", token=srv.tokens["alice"] + "x"), 401)
    r = srv.api("GET", "/whoami", token=None,
                headers={"Authorization": "Basic " + srv.tokens["alice"]})
    error_shape(r, 401)


def test_whoami_names_the_user(srv):
    r = srv.api("GET", "/whoami")
    assert r.status == 200, r
    assert r.json["user"] == "alice"
    assert r.json["user_id"] and r.json["token_id"]
    r = srv.api("GET", "/whoami", token="bob")
    assert r.json["user"] == "bob"


def test_revoked_token_is_401(srv):
    tok = srv.admin("token", "create", "--user", "alice").stdout.strip()
    r = srv.api("GET", "/whoami", token=tok)
    assert r.status == 200, r
    srv.admin("token", "revoke", str(r.json["token_id"]))
    error_shape(srv.api("GET", "/whoami", token=tok), 401)
    # Other tokens of alice keep working.
    assert srv.api("GET", "/whoami").status == 200


def test_tokens_are_not_stored_in_clear(srv):
    db = (srv.data_dir / "mags.db").read_bytes()
    for name in ("alice", "bob"):
        assert srv.tokens[name].encode() not in db
    for suffix in ("-wal",):
        p = srv.data_dir / ("mags.db" + suffix)
        if p.exists():
            assert srv.tokens["alice"].encode() not in p.read_bytes()


def test_another_users_job_is_404(srv):
    st, _, _, _ = srv.run("echo alice-only")
    jid = st["request_id"]
    for method, path in (("GET", "/mags-jobs/%s/status"), ("GET", "/mags-jobs/%s"),
                         ("GET", "/mags-jobs/%s/logs"), ("POST", "/mags-jobs/%s/stop")):
        error_shape(srv.api(method, path % jid, token="bob"), 404)
        assert srv.api(method, path % jid, token="alice").status == 200
    ids = [j["request_id"] for j in srv.api("GET", "/mags-jobs?page_size=100", token="bob").json["jobs"]]
    assert jid not in ids


def test_bob_cannot_stop_alices_running_job(srv):
    jid = srv.submit("sleep 30")
    try:
        srv.wait(jid, timeout=10, states=("running",))
        error_shape(srv.api("POST", "/mags-jobs/%s/stop" % jid, token="bob"), 404)
        assert srv.status(jid)["status"] == "running"
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % jid)
    srv.wait(jid, timeout=10)


# ---- listing ----------------------------------------------------------------

def test_list_is_newest_first_and_paginated(srv):
    ids = [srv.submit("true", token="bob") for _ in range(3)]
    for i in ids:
        srv.wait(i, token="bob")
    r = srv.api("GET", "/mags-jobs?page=1&page_size=2", token="bob")
    assert r.status == 200, r
    assert r.json["page"] == 1 and r.json["page_size"] == 2
    assert r.json["total"] >= 3
    got = [j["request_id"] for j in r.json["jobs"]]
    assert got == [ids[2], ids[1]]
    r = srv.api("GET", "/mags-jobs?page=2&page_size=2", token="bob")
    assert r.json["jobs"][0]["request_id"] == ids[0]
    assert r.json["jobs"][0]["status"] == "completed"


def test_get_job_alias_matches_status(srv):
    st, _, _, _ = srv.run("true")
    r = srv.api("GET", "/mags-jobs/%s" % st["request_id"])
    assert r.status == 200
    assert r.json["request_id"] == st["request_id"]
    assert r.json["status"] == st["status"]


# ---- bad input --------------------------------------------------------------

def test_malformed_json_is_400(srv):
    for raw in (b"{", b"not json", b"[]", b'"script"', b'{"script": "x",}'):
        error_shape(srv.api("POST", "/mags-jobs", raw=raw), 400)


def test_missing_or_wrong_fields_are_400(srv):
    for body in ({}, {"script": ""}, {"script": 42}, {"script": None},
                 {"script": "true", "environment": "FOO=1"},
                 {"script": "true", "environment": {"FOO": 1}},
                 {"script": "true", "environment": {"BAD=KEY": "x"}},
                 {"script": "true", "timeout": "soon"},
                 {"script": "true", "timeout": -1},
                 {"script": "true", "type": "docker"},
                 {"script": "true", "name": 7}):
        error_shape(srv.api("POST", "/mags-jobs", body), 400)


def test_bad_workspace_fields_are_400(srv):
    # (the workspace tests themselves are in test_workspaces.py)
    for extra in ({"workspace_id": "a/b"}, {"workspace_id": ".."}, {"workspace": "x y"},
                  {"ephemeral": True, "workspace_id": "ws"}, {"no_sleep": True},
                  {"ephemeral": True, "persist": True}, {"disk_gb": 0}):
        body = {"script": "true"}
        body.update(extra)
        error_shape(srv.api("POST", "/mags-jobs", body), 400)


def raw_http(port, head, body=b"", read_timeout=10):
    """Send a request by hand (the server may close before reading all of
    the body) and return (status, response bytes)."""
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.settimeout(read_timeout)
    try:
        s.sendall(head)
        for i in range(0, len(body), 65536):
            try:
                s.sendall(body[i:i + 65536])
            except OSError:
                break
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and len(data) > 2000:
                break
    finally:
        s.close()
    status = int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/") else 0
    return status, data


def test_oversized_body_is_413(srv):
    body = b'{"script": "' + b"x" * (8 * 1024 * 1024) + b'"}'
    head = ("POST /api/v1/mags-jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nConnection: close\r\n\r\n"
            % (srv.tokens["alice"], len(body))).encode()
    status, data = raw_http(srv.port, head, body)
    assert status == 413, data[:500]
    # The server is fine afterwards.
    assert srv.api("GET", "/whoami").status == 200


def test_unknown_job_is_404(srv):
    for path in ("/mags-jobs/00000000-0000-4000-8000-000000000000/status",
                 "/mags-jobs/nope/logs", "/mags-jobs/nope"):
        error_shape(srv.api("GET", path), 404)
    error_shape(srv.api("POST", "/mags-jobs/nope/stop"), 404)


def test_unknown_path_is_404(srv):
    error_shape(srv.api("GET", "/no-such-thing"), 404)


def test_big_but_allowed_script_runs(srv):
    script = "true\n" + "# " + "y" * 200000 + "\necho big"
    st, out, _, _ = srv.run(script)
    assert out == "big\n", st
