"""The web dashboard (issue 10) against a real magsd: static files and their
headers, browser sessions (cookie + CSRF), the tokens API, the jobs list
filters, and the pages themselves in headless Chromium.

The browser is Debian's /usr/bin/chromium driven by playwright-core from
the npm registry (tests/browser/package.json, installed once into
BUILD/browser; never a downloaded browser). Each browser scenario is one
`node tests/browser/dashboard.js PLAN` run; screenshots go to
BUILD/e2e/artifacts/.
"""
import http.server
import json
import os
import socket
import sqlite3
import threading
import time
import urllib.error
import urllib.request

import pytest

from conftest import browse, free_port, ROOT, make_server

WEB = ROOT / "web"


# ---- fixtures and helpers --------------------------------------------------

@pytest.fixture(scope="module")
def dash(session_dir, image_cache):
    """A magsd serving the dashboard from the source tree's web/."""
    # No sandbox network and no warm pool: each sandbox's veth coming or
    # going changes the host's addresses, and Chromium then fails requests
    # in flight with ERR_NETWORK_CHANGED (it watches the host's interfaces).
    s = make_server(session_dir, image_cache, "dash", conf={
        "web_dir": str(WEB), "proxy_listen": "127.0.0.1:%d" % free_port(),
        "network": "none", "pool_min": "0", "pool_max": "0"})
    yield s
    s.stop()


def get(srv, path, headers=None):
    req = urllib.request.Request(srv.url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def raw(srv, request):
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(request)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out
            out += b


def open_session(srv, user="alice", headers=None):
    """Sign in like the page does: (cookie header value, csrf token, response)."""
    r = srv.api("POST", "/session", {"token": srv.tokens[user]}, token=None,
                headers=headers)
    assert r.status == 200, r
    cookie = r.headers["Set-Cookie"].split(";")[0]
    assert cookie.startswith("mags_session=")
    return cookie, r.json["csrf_token"], r


def with_cookie(srv, method, path, cookie, csrf=None, body=None, ctype="application/json",
                raw_body=None):
    headers = {"Cookie": cookie}
    if csrf:
        headers["X-CSRF-Token"] = csrf
    data = raw_body if raw_body is not None else (
        json.dumps(body).encode() if body is not None else None)
    if data is not None and ctype:
        headers["Content-Type"] = ctype
    return srv.api(method, path, token=None, raw=data, headers=headers)


def job_count(srv, user="alice"):
    return srv.api("GET", "/mags-jobs?page_size=1", token=user).json["total"]


# ---- static files ------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/index.html", "/dashboard", "/usage.html", "/login.html"])
def test_app_paths_serve_the_page_with_strict_headers(dash, path):
    status, h, body = get(dash, path)
    assert status == 200
    assert h["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="/app.js"' in body
    csp = h["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY"
    assert h["Cache-Control"] == "no-cache"
    assert h["Referrer-Policy"] == "no-referrer"


def test_assets_have_their_types_and_revalidate(dash):
    for path, ctype in (("/app.js", "text/javascript; charset=utf-8"),
                        ("/app.css", "text/css; charset=utf-8"),
                        ("/favicon.svg", "image/svg+xml")):
        status, h, body = get(dash, path)
        assert status == 200 and h["Content-Type"] == ctype, (path, status, h)
        assert body == (WEB / path[1:]).read_bytes()
        status2, h2, body2 = get(dash, path, {"If-None-Match": h["ETag"]})
        assert status2 == 304 and body2 == b"", path
    # HEAD: headers, no body
    out = raw(dash, b"HEAD /app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""


def test_the_page_loads_nothing_from_elsewhere():
    # no CDN fonts or scripts: every reference in the files is local
    for f in WEB.iterdir():
        text = f.read_text()
        for bad in ('src="http', "src='http", 'href="http', "url(http", "@import", "//cdn",
                    "fonts.googleapis"):
            assert bad not in text, (f.name, bad)


def test_unknown_files_are_404_and_other_methods_need_auth(dash):
    assert get(dash, "/nope.js")[0] == 404
    assert get(dash, "/app.js/")[0] == 404
    status, h, body = get(dash, "/nope.js")
    assert h["X-Content-Type-Options"] == "nosniff" and "Content-Security-Policy" in h
    # only GET/HEAD reach the files; anything else is the API's (401 first)
    out = raw(dash, b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
                    b"Connection: close\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 401"), out[:200]
    # /api itself is never a file
    assert get(dash, "/api/v1/whoami")[0] == 401


TRAVERSALS = [
    b"/../../../../etc/passwd", b"/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    b"/%2e%2e%2f%2e%2e%2fetc%2fpasswd", b"/..%2f..%2f..%2fetc%2fpasswd",
    b"/.%2e/.%2e/etc/passwd", b"/app.js/../../../../etc/passwd", b"//etc/passwd",
    b"/%252e%252e/%252e%252e/etc/passwd", b"/..\\..\\..\\etc\\passwd",
    b"/%c0%ae%c0%ae/%c0%ae%c0%ae/etc/passwd", b"/.git/config", b"/nope%00/../etc/passwd",
    b"/etc/passwd", b"/proc/self/environ", b"/./index.html",
]


@pytest.mark.parametrize("path", TRAVERSALS, ids=[p.decode() for p in TRAVERSALS])
def test_path_traversal_is_impossible(dash, path):
    out = raw(dash, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    status = int(out.split(b" ", 2)[1])
    assert status in (400, 404), out[:300]
    assert b"root:" not in out and b"PATH=" not in out


def test_a_nul_byte_cannot_change_what_is_served(dash):
    # libmicrohttpd decodes %00 and hands over the path up to it: the
    # result is at most the file before the NUL, with that file's type
    out = raw(dash, b"GET /app.js%00.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404") or (
        b"text/javascript" in head and body == (WEB / "app.js").read_bytes())


@pytest.fixture(scope="module")
def sym_srv(session_dir, image_cache, tmp_path_factory):
    """A magsd whose web dir holds symlinks, a directory and a fifo."""
    d = tmp_path_factory.mktemp("webdir")
    (d / "index.html").write_text("<!doctype html><p>ok</p>")
    (d / "ok.txt").write_text("fine\n")
    os.symlink("/etc/passwd", d / "passwd.txt")
    os.symlink("/etc", d / "etc")
    os.symlink("ok.txt", d / "inner-link.txt")
    (d / "sub").mkdir()
    os.mkfifo(d / "fifo.txt")
    s = make_server(session_dir, image_cache, "dashsym", conf={"web_dir": str(d)})
    yield s
    s.stop()


def test_only_regular_files_under_the_dir_are_served(sym_srv):
    assert get(sym_srv, "/ok.txt")[:1] == (200,)
    for path in ("/passwd.txt", "/etc/passwd", "/etc/hostname", "/inner-link.txt", "/sub",
                 "/fifo.txt"):
        status, _, body = get(sym_srv, path)
        assert status == 404 and b"root:" not in body, (path, status)


# ---- sessions ----------------------------------------------------------------

def test_sign_in_sets_a_strict_httponly_cookie(dash):
    cookie, csrf, r = open_session(dash)
    sc = r.headers["Set-Cookie"]
    attrs = [a.strip() for a in sc.split(";")]
    assert "HttpOnly" in attrs and "SameSite=Strict" in attrs and "Path=/" in attrs
    assert "Secure" not in attrs   # plain http on loopback
    assert r.json["user"] == "alice" and len(csrf) == 64
    secret = cookie.split("=", 1)[1]
    assert len(secret) == 64 and secret not in dash.tokens["alice"]
    assert r.headers["Cache-Control"] == "no-store"
    # behind a TLS proxy the cookie is Secure
    _, _, r2 = open_session(dash, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in [a.strip() for a in r2.headers["Set-Cookie"].split(";")]
    # the session works, and GET /session gives the CSRF token back
    r = with_cookie(dash, "GET", "/session", cookie)
    assert r.status == 200 and r.json["csrf_token"] == csrf and r.json["user"] == "alice"
    assert with_cookie(dash, "GET", "/whoami", cookie).json["user"] == "alice"


def test_sessions_are_stored_hashed(dash):
    cookie, csrf, _ = open_session(dash)
    secret = cookie.split("=", 1)[1]
    db = sqlite3.connect(str(dash.data_dir / "mags.db"))
    try:
        rows = db.execute("SELECT hash FROM sessions").fetchall()
    finally:
        db.close()
    assert rows and all(len(h) == 64 for (h,) in rows)
    blob = b"".join(p.read_bytes() for p in dash.data_dir.glob("mags.db*"))
    assert secret.encode() not in blob and csrf.encode() not in blob


@pytest.mark.parametrize("case", ["unknown", "malformed", "empty", "no-token", "text-plain",
                                  "form", "revoked"])
def test_sign_in_refusals(dash, case):
    if case == "revoked":
        tok = dash.admin("token", "create", "--user", "alice").stdout.strip()
        dash.admin("token", "revoke", tok)
        r = dash.api("POST", "/session", {"token": tok}, token=None)
        assert r.status == 401, r
    elif case in ("text-plain", "form"):
        ctype = "text/plain" if case == "text-plain" else "application/x-www-form-urlencoded"
        r = dash.api("POST", "/session", token=None,
                     raw=json.dumps({"token": dash.tokens["alice"]}).encode(),
                     headers={"Content-Type": ctype})
        assert r.status == 403, r
    else:
        body = {"unknown": {"token": "mags_" + "0" * 40}, "malformed": {"token": "x"},
                "empty": None, "no-token": {"tok": 1}}[case]
        r = dash.api("POST", "/session", body, token=None,
                     raw=b"" if body is None else None,
                     headers={"Content-Type": "application/json"})
        assert r.status == (401 if case in ("unknown", "malformed") else 400), r
    assert "Set-Cookie" not in r.headers
    assert r.json["code"] in ("unauthorized", "forbidden", "bad_request")


def test_cookie_requests_that_change_state_need_the_csrf_header(dash):
    cookie, csrf, _ = open_session(dash)
    before = job_count(dash)
    body = {"script": "echo csrf"}
    # no header, a wrong one, the right one with a form's content type
    assert with_cookie(dash, "POST", "/mags-jobs", cookie, body=body).status == 403
    assert with_cookie(dash, "POST", "/mags-jobs", cookie, csrf="0" * 64, body=body).status == 403
    assert with_cookie(dash, "POST", "/mags-jobs", cookie, csrf=csrf[:-1], body=body).status == 403
    for ctype in ("text/plain", "application/x-www-form-urlencoded",
                  "multipart/form-data; boundary=x", "application/jsonx"):
        r = with_cookie(dash, "POST", "/mags-jobs", cookie, csrf=csrf, body=body, ctype=ctype)
        assert r.status == 403, (ctype, r)
    # another session's CSRF token does not fit this one
    _, other_csrf, _ = open_session(dash)
    assert with_cookie(dash, "POST", "/mags-jobs", cookie, csrf=other_csrf, body=body).status == 403
    assert job_count(dash) == before
    r = with_cookie(dash, "POST", "/mags-jobs", cookie, csrf=csrf, body=body)
    assert r.status == 200, r
    dash.wait(r.json["request_id"])
    assert job_count(dash) == before + 1
    # bodyless state changes too: stop, delete, sign out
    jid = dash.submit("sleep 30")
    r = with_cookie(dash, "POST", "/mags-jobs/%s/stop" % jid, cookie)
    assert r.status == 403 and dash.status(jid)["status"] != "stopped"
    r = with_cookie(dash, "POST", "/mags-jobs/%s/stop" % jid, cookie, csrf=csrf)
    assert r.status == 200 and r.json["status"] == "stopped"
    assert with_cookie(dash, "DELETE", "/session", cookie).status == 403
    assert with_cookie(dash, "GET", "/whoami", cookie).status == 200
    # reads need no CSRF; Bearer requests never do
    assert with_cookie(dash, "GET", "/mags-jobs", cookie).status == 200
    assert dash.api("POST", "/mags-jobs/%s/stop" % jid).status == 200


def test_bearer_wins_over_a_cookie(dash):
    cookie, _, _ = open_session(dash, "alice")
    r = dash.api("GET", "/whoami", token="bob", headers={"Cookie": cookie})
    assert r.json["user"] == "bob"
    # a bad Bearer is 401 even with a good cookie: no fallback
    r = dash.api("GET", "/whoami", token="mags_" + "1" * 40, headers={"Cookie": cookie})
    assert r.status == 401


def test_sign_out_ends_the_session(dash):
    cookie, csrf, _ = open_session(dash)
    r = with_cookie(dash, "DELETE", "/session", cookie, csrf=csrf)
    assert r.status == 200 and r.json == {"signed_out": True}
    sc = r.headers["Set-Cookie"]
    assert sc.startswith("mags_session=;") and "Max-Age=0" in sc
    assert with_cookie(dash, "GET", "/whoami", cookie).status == 401
    assert with_cookie(dash, "GET", "/session", cookie).status == 401


def test_revoking_the_token_ends_its_sessions(dash):
    r = dash.api("POST", "/tokens", {"name": "short-lived"})
    tok, tid = r.json["token"], r.json["id"]
    s = dash.api("POST", "/session", {"token": tok}, token=None)
    cookie = s.headers["Set-Cookie"].split(";")[0]
    assert with_cookie(dash, "GET", "/whoami", cookie).json["token_id"] == tid
    assert dash.api("DELETE", "/tokens/" + tid).status == 200
    assert with_cookie(dash, "GET", "/whoami", cookie).status == 401
    assert dash.api("GET", "/whoami", token=tok).status == 401


def test_expired_and_forged_sessions_are_401(dash):
    cookie, _, _ = open_session(dash)
    secret = cookie.split("=", 1)[1]
    for bad in ("mags_session=" + "0" * 64, "mags_session=" + secret.upper(),
                "mags_session=" + secret[:-1], "mags_session=", "other=" + secret,
                "mags_session=" + dash.tokens["alice"]):
        assert with_cookie(dash, "GET", "/whoami", bad).status == 401, bad
    # several cookies: ours is found
    assert with_cookie(dash, "GET", "/whoami", "a=b; " + cookie + "; c=d").status == 200
    db = sqlite3.connect(str(dash.data_dir / "mags.db"), timeout=10)
    try:
        db.execute("UPDATE sessions SET expires_at = 1")
        db.commit()
    finally:
        db.close()
    assert with_cookie(dash, "GET", "/whoami", cookie).status == 401


# ---- tokens API ----------------------------------------------------------------

def test_tokens_create_list_revoke(dash):
    r = dash.api("POST", "/tokens", {"name": "laptop ☕"})
    assert r.status == 200, r
    t = r.json
    assert t["name"] == "laptop ☕" and t["token"].startswith("mags_") and t["id"].startswith("tok_")
    assert dash.api("GET", "/whoami", token=t["token"]).json["token_id"] == t["id"]
    lst = dash.api("GET", "/tokens").json["tokens"]
    mine = {x["id"]: x for x in lst}
    assert mine[t["id"]]["name"] == "laptop ☕" and mine[t["id"]]["revoked"] is False
    assert mine[t["id"]]["last_used_at"] is not None
    assert all("token" not in x and "hash" not in x for x in lst)
    assert sum(1 for x in lst if x["current"]) == 1
    r = dash.api("DELETE", "/tokens/" + t["id"])
    assert r.status == 200 and r.json["revoked"] is True and r.json["revoked_at"]
    assert dash.api("GET", "/whoami", token=t["token"]).status == 401
    assert dash.api("DELETE", "/tokens/" + t["id"]).status == 200   # idempotent
    assert dash.api("DELETE", "/tokens/tok_000000000000").status == 404
    r = dash.api("POST", "/tokens", raw=b"", headers={"Content-Type": "application/json"})
    assert r.status == 200 and r.json["name"] == ""


@pytest.mark.parametrize("body", [{"name": "a" * 65}, {"name": 5}, {"name": "a\nb"},
                                  {"name": "a\u0000b"}, [1], "x"])
def test_bad_token_names_are_400(dash, body):
    r = dash.api("POST", "/tokens", body)
    assert r.status == 400, r


def test_live_tokens_are_limited(dash):
    dash.admin("user", "add", "carol")
    tok = dash.admin("token", "create", "--user", "carol").stdout.strip()
    for i in range(99):
        assert dash.api("POST", "/tokens", {"name": "t%d" % i}, token=tok).status == 200
    r = dash.api("POST", "/tokens", {"name": "one-too-many"}, token=tok)
    assert r.status == 409 and "limit" in r.json["error"], r
    victim = dash.api("GET", "/tokens", token=tok).json["tokens"][0]["id"]
    dash.api("DELETE", "/tokens/" + victim, token=tok)
    assert dash.api("POST", "/tokens", {"name": "after"}, token=tok).status == 200


def test_users_never_see_each_others_tokens(dash):
    a = dash.api("POST", "/tokens", {"name": "alice-only"}).json
    bob_list = dash.api("GET", "/tokens", token="bob").json["tokens"]
    assert a["id"] not in {t["id"] for t in bob_list}
    assert all(t["name"] != "alice-only" for t in bob_list)
    r = dash.api("DELETE", "/tokens/" + a["id"], token="bob")
    assert r.status == 404 and r.json["error"] == "token not found"
    assert dash.api("GET", "/whoami", token=a["token"]).status == 200
    # bob's session cannot reach it either
    cookie, csrf, _ = open_session(dash, "bob")
    assert with_cookie(dash, "DELETE", "/tokens/" + a["id"], cookie, csrf=csrf).status == 404


# ---- jobs list filters -------------------------------------------------------

def test_jobs_list_filters_by_status_and_name(dash):
    ok = dash.submit("true", name="flt-ok-1")
    bad = dash.submit("exit 3", name="flt-bad_1")
    dash.wait(ok)
    dash.wait(bad)
    r = dash.api("GET", "/mags-jobs?q=flt-&page_size=100").json
    assert {j["request_id"] for j in r["jobs"]} == {ok, bad} and r["total"] == 2
    # '_' and '%' are literal, not wildcards
    r = dash.api("GET", "/mags-jobs?q=flt-bad_").json
    assert [j["request_id"] for j in r["jobs"]] == [bad]
    assert dash.api("GET", "/mags-jobs?q=flt%25").json["total"] == 0
    assert dash.api("GET", "/mags-jobs?q=FLT-OK").json["total"] == 1
    assert dash.api("GET", "/mags-jobs?q=" + ok[:13]).json["jobs"][0]["request_id"] == ok
    r = dash.api("GET", "/mags-jobs?status=completed&q=flt-").json
    assert {j["request_id"] for j in r["jobs"]} == {ok, bad}   # exit 3 still completed
    r = dash.api("GET", "/mags-jobs?status=error,stopped&q=flt-").json
    assert r["total"] == 0
    r = dash.api("GET", "/mags-jobs?status=completed&page_size=1&q=flt-").json
    assert r["total"] == 2 and len(r["jobs"]) == 1
    assert dash.api("GET", "/mags-jobs?status=bogus").status == 400
    assert dash.api("GET", "/mags-jobs?q=" + "x" * 129).status == 400
    # bob's filters see none of alice's jobs
    assert dash.api("GET", "/mags-jobs?q=flt-", token="bob").json["total"] == 0


# ---- in the browser ----------------------------------------------------------

def test_browser_sign_in_jobs_filters_and_cookie(dash, browser_env):
    jid = dash.submit("echo hi", name="dash-first")
    other = dash.submit("exit 1", name="dash-second")
    dash.wait(jid)
    dash.wait(other)
    r = browse(browser_env, "login", dash.url, dash.tokens["alice"], expect_job=jid,
               search="dash-first", status_filter="completed")
    assert "not valid" in r["bad_token_message"]
    assert any(row["id"] == jid and "dash-first" in row["text"] for row in r["rows"])
    # the session cookie is invisible to page scripts
    assert "mags_session" not in r["document_cookie"]
    c = [c for c in r["cookies"] if c["name"] == "mags_session"]
    assert c and c[0]["httpOnly"] is True and c[0]["sameSite"] == "Strict" and c[0]["path"] == "/"
    assert r["who"] == "Signed in as alice"
    assert r["after_reload_signed_in"] is True
    assert r["search_rows"] == [jid]
    assert jid in r["status_rows"] and other in r["status_rows"]
    assert set(r["status_badges"]) == {"completed"}
    assert "status=completed" in r["hash_after_filter"]
    assert "mags_session" not in r["cookies_after_logout"]
    assert r["nav_visible_before_login"] is False
    assert "mags_session" not in r["cookies_after_logout_param"]
    assert r["after_next"] == "/usage.html"
    assert r["after_bad_next"].startswith(dash.url + "/")
    assert os.path.getsize(r["jobs_shot"]) > 10000


def test_browser_live_output_and_stop(dash, browser_env):
    jid = dash.submit('i=0; while [ $i -lt 120 ]; do i=$((i+1)); echo "tick $i"; sleep 1; done',
                      name="ticker", timeout=300)
    dash.wait(jid, states=("running",))
    acc = dash.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
    assert acc.status == 200, acc
    r = browse(browser_env, "live", dash.url, dash.tokens["alice"], job=jid,
               expect_lines=["tick %d" % i for i in range(1, 13)])
    # the job page links its public URL
    assert r["public_url"] == acc.json["url"], (r["public_url"], acc.json)
    at = {s["line"]: s["at_ms"] for s in r["seen"]}
    # the browser attached a few seconds in: the first lines were there at
    # once, the later ones arrived while it watched, a second apart
    assert at["tick 12"] - at["tick 9"] >= 2500, r["seen"]
    assert r["live_visible"] is True
    assert r["live_visible_after_stop"] is False
    assert r["status_after_stop"] == "stopped"
    assert dash.status(jid)["status"] == "stopped"
    assert "tick 1\n" in r["log_text"]


def test_browser_tokens_create_shown_once_and_revoke(dash, browser_env):
    r = browse(browser_env, "tokens", dash.url, dash.tokens["alice"], name="browser-made")
    assert r["token"].startswith("mags_") and r["whoami_with_new"] == 200
    assert r["whoami_after_revoke"] == 401
    assert dash.api("GET", "/whoami", token=r["token"]).status == 401
    t = {x["id"]: x for x in dash.api("GET", "/tokens").json["tokens"]}[r["token_id"]]
    assert t["revoked"] is True and t["name"] == "browser-made"
    assert r["token_in_page_after_reload"] is False   # shown once


def test_browser_workspace_delete(dash, browser_env):
    jid = dash.submit("echo data > /root/f", workspace_id="dash-ws")
    assert dash.wait(jid)["status"] == "completed"
    r = dash.api("GET", "/mags-workspaces")
    if r.status == 404:   # no workspaces API on this server: the page says so
        res = browse(browser_env, "workspaces", dash.url, dash.tokens["alice"])
        assert res["unavailable"] is True
        return
    assert "dash-ws" in {w["workspace_id"] for w in r.json["workspaces"]}
    res = browse(browser_env, "workspaces", dash.url, dash.tokens["alice"], delete="dash-ws")
    assert "dash-ws" in res["names"] and "cannot be undone" in res["dialog_text"]
    assert res["still_there_after_cancel"] is True and res["deleted"] is True
    names = {w["workspace_id"] for w in dash.api("GET", "/mags-workspaces").json["workspaces"]}
    assert "dash-ws" not in names


def test_browser_cron_disable_enable_remove(dash, browser_env):
    r = dash.api("POST", "/mags-cron", {"name": "dash-cron", "cron_expression": "0 3 * * *",
                                         "script": "true"})
    if r.status == 404:
        res = browse(browser_env, "cron", dash.url, dash.tokens["alice"], cron_id="none")
        assert res["unavailable"] is True
        return
    cid = r.json["id"]
    res = browse(browser_env, "cron", dash.url, dash.tokens["alice"], cron_id=cid)
    assert "dash-cron" in res["row_text"] and "0 3 * * *" in res["row_text"]
    assert "disabled" in res["disabled_text"]
    assert res["removed"] is True
    assert dash.api("GET", "/mags-cron/" + cid).status == 404


def test_browser_usage_chart(dash, browser_env):
    dash.wait(dash.submit("sleep 1", name="usage-a"))
    r = dash.api("GET", "/mags-usage?window_days=7")
    res = browse(browser_env, "usage", dash.url, dash.tokens["alice"])
    if r.status == 404:
        assert res["unavailable"] is True
        return
    assert res["path"].startswith("/dashboard")   # the original's link opens usage
    assert res["bars7"] == 7 and res["bars30"] == 30
    # the chart draws what the API says
    assert res["values7"] == [d["jobs"] for d in r.json["days"]]
    assert res["values7"][-1] >= 1 and res["seconds7"][-1] >= 1
    assert int(res["total_jobs"]) == r.json["total_jobs"]
    assert res["phone_overflow"] <= 0 and res["phone_jobs_overflow"] <= 0


def test_browser_pages_without_their_api_say_so(dash, browser_env):
    r = browse(browser_env, "unavailable", dash.url, dash.tokens["alice"])
    assert set(r["pages"]) == {"workspaces", "cron", "usage"}
    for text in r["pages"].values():
        assert "not available on this server" in text


def test_browser_keyboard_only(dash, browser_env):
    r = browse(browser_env, "keyboard", dash.url, dash.tokens["alice"])
    assert r["focused_on_load"] == "token"
    assert r["focused_after_login"] == "Jobs"
    assert r["tab_order"][0].startswith("A:Skip to content"), r["tab_order"]
    assert any(s.startswith("A:Jobs") for s in r["tab_order"]), r["tab_order"]
    assert r["hash"] == "#/tokens"


class _AttackHandler(http.server.BaseHTTPRequestHandler):
    target = None

    def do_GET(self):
        if self.path.startswith("/form.html"):
            # the classic JSON-through-text/plain form, submitted at once
            body = ("<!doctype html><form id=f method=POST enctype=text/plain "
                    "action='%s/api/v1/mags-jobs'><input type=hidden "
                    "name='{\"script\":\"echo pwned\",\"x\":\"' value='\"}'></form>"
                    "<script>document.getElementById('f').submit()</script>" % self.target)
        else:
            body = "<!doctype html><p>blank</p>"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *a):
        pass


def test_browser_cross_site_form_post_is_rejected(dash, browser_env):
    handler = type("H", (_AttackHandler,), {"target": dash.url})
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=evil.serve_forever, daemon=True)
    t.start()
    try:
        port = evil.server_address[1]
        before = job_count(dash)
        # 127.0.0.1:other is same-site (the cookie goes along: CSRF must
        # stop it); localhost:other is cross-site (SameSite=Strict keeps
        # the cookie home)
        pages = ["http://127.0.0.1:%d/form.html" % port, "http://localhost:%d/form.html" % port]
        r = browse(browser_env, "cross_site", dash.url, dash.tokens["alice"], attack_pages=pages,
                   allowed_origins=["http://127.0.0.1:%d" % port, "http://localhost:%d" % port])
    finally:
        evil.shutdown()
    same, cross = r["attacks"]
    assert same["form_status"] == 403 and "X-CSRF-Token" in same["form_body"], same
    assert cross["form_status"] == 401, cross
    for a in (same, cross):
        assert a["fetch"].startswith("blocked"), a
    time.sleep(0.5)
    assert job_count(dash) == before
    jobs = dash.api("GET", "/mags-jobs?q=pwned").json
    assert jobs["total"] == 0


def test_browser_other_user_sees_none_of_alices_objects(dash, browser_env):
    jid = dash.submit("echo secret", name="alice-private-job")
    dash.wait(jid)
    a_tok = dash.api("POST", "/tokens", {"name": "alice-private-token"}).json["id"]
    r = browse(browser_env, "isolation", dash.url, dash.tokens["bob"], other_job=jid)
    assert jid not in r["rows"] and "alice-private-job" not in r["page_text"]
    assert "Job not found" in r["other_job_page"] and "secret" not in r["other_job_page"]
    assert a_tok not in r["token_ids"]
    assert "dash-ws" not in r["ws_text"]
