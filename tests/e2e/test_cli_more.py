"""The rest of the mags CLI: new, exec, ssh, sync, resize, url, set,
workspace, cron, usage, browser, setup-claude, and run's -f/--url/--ssh/-p.

Commands whose endpoints the server does not have yet are checked against
FakeApi: a stdlib http.server on loopback (real HTTP) that records each
request's method, path and body and answers with the shapes documented in
docs/ARCHITECTURE.md. What the real server already serves (name
resolution, --json on the read commands) runs against it.
"""
import http.server
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from email.parser import BytesParser
from email.policy import HTTP

import pytest

from conftest import MAGS, clean_env, need

JOB = "11111111-2222-4333-8444-555555555555"
JOB2 = "66666666-7777-4888-9999-aaaaaaaaaaaa"


class Stream:
    """A chunked NDJSON answer, one chunk per line."""

    def __init__(self, lines, status=200):
        self.lines = lines
        self.status = status


class FakeApi:
    """Records requests; answers from self.on[(METHOD, path)].

    A value is (status, obj), a Stream, a callable(req) returning either, or
    a list of those consumed in order (the last one repeats)."""

    def __init__(self):
        self.requests = []
        self.on = {("GET", "/mags-jobs"): (200, {"jobs": [], "page": 1,
                                                  "page_size": 100, "total": 0})}
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def handle_any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                u = urllib.parse.urlsplit(self.path)
                req = {"method": self.command, "path": u.path,
                       "query": dict(urllib.parse.parse_qsl(u.query)),
                       "headers": dict(self.headers), "raw": body}
                try:
                    req["json"] = json.loads(body) if body else None
                except ValueError:
                    req["json"] = None
                fake.requests.append(req)
                ans = fake.answer(req)
                if isinstance(ans, Stream):
                    self.send_response(ans.status)
                    self.send_header("Content-Type", "application/x-ndjson")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for line in ans.lines:
                        data = (json.dumps(line) + "\n").encode()
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                        self.wfile.flush()
                    self.wfile.write(b"0\r\n\r\n")
                    return
                status, obj = ans
                data = json.dumps(obj).encode() if obj is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = handle_any

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, req):
        key = (req["method"], req["path"].replace("/api/v1", "", 1))
        val = self.on.get(key)
        if val is None:
            return 404, {"error": "not found: %s %s" % key, "code": "not_found"}
        if isinstance(val, list):
            val = val.pop(0) if len(val) > 1 else val[0]
        if callable(val):
            val = val(req)
        return val

    def job(self, jid, name, status="running", **extra):
        """A job the server knows by id (status) and by name (list)."""
        obj = dict(request_id=jid, name=name, workspace_id=name, status=status,
                   persistent=True, exit_code=None, **extra)
        self.on[("GET", "/mags-jobs/%s/status" % jid)] = (200, obj)
        jobs = self.on[("GET", "/mags-jobs")][1]["jobs"]
        jobs.insert(0, obj)
        self.on[("GET", "/mags-jobs")] = (200, {"jobs": jobs, "page": 1,
                                                 "page_size": 100, "total": len(jobs)})
        return obj

    def sent(self, method, path):
        """The requests made to METHOD /api/v1<path>."""
        return [r for r in self.requests
                if r["method"] == method and r["path"] == "/api/v1" + path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake():
    f = FakeApi()
    yield f
    f.close()


@pytest.fixture
def mags(fake, tmp_path):
    need(os.access(MAGS, os.X_OK), "mags not built (run make)")
    home = tmp_path / "home"
    home.mkdir()

    def run(*args, env=None, timeout=30, input=None):
        e = clean_env({"HOME": str(home), "MAGS_API_URL": fake.url,
                       "MAGS_API_TOKEN": "tok-test", "MAGS_POLL_INTERVAL_MS": "50"})
        e.update(env or {})
        return subprocess.run([str(MAGS), *args], env=e, capture_output=True,
                              text=True, timeout=timeout, input=input)
    run.home = home
    return run


# ---- new -------------------------------------------------------------------

NEW_PAYLOAD = {"script": "sleep infinity", "type": "inline", "persistent": True,
               "name": "myvm", "workspace_id": "myvm",
               "startup_command": "sleep infinity", "no_sync": True}


def test_new_local_disk_sends_the_documented_payload_and_lines(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = [
        (200, {"request_id": JOB, "status": "accepted"}),
        (200, {"request_id": JOB, "status": "running"})]
    r = mags("new", "myvm")
    assert r.returncode == 0, r
    [sub] = fake.sent("POST", "/mags-jobs")
    assert sub["json"] == NEW_PAYLOAD
    assert list(sub["json"]) == list(NEW_PAYLOAD)  # key order as in 1.8.12
    assert sub["headers"]["Authorization"] == "Bearer tok-test"
    assert len(fake.sent("GET", "/mags-jobs/%s/status" % JOB)) == 2
    assert r.stdout.splitlines() == [
        "VM 'myvm' created successfully (local disk)",
        " ID: %s" % JOB,
        " SSH: mags ssh myvm",
        " Data is on local disk only. Use -p flag for S3 persistence."]


def test_new_persistent_with_base_and_disk(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    r = mags("new", "myvm", "-p", "--base", "golden", "--disk", "5", "--no-sleep")
    assert r.returncode == 0, r
    want = dict(NEW_PAYLOAD, no_sync=False, base_workspace_id="golden", disk_gb=5,
                no_sleep=True)
    assert fake.sent("POST", "/mags-jobs")[0]["json"] == want
    assert r.stdout.splitlines() == [
        "VM 'myvm' created successfully (persistent)", " ID: %s" % JOB,
        " SSH: mags ssh myvm"]


def test_new_startup_command_and_url(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (
        200, {"url": "http://abc.localhost:8421/", "port": 3000})
    r = mags("new", "web", "--url", "--port", "3000",
             "--startup-command", "python3 -m http.server 3000")
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-jobs")[0]["json"]["startup_command"] == \
        "python3 -m http.server 3000"
    assert fake.sent("POST", "/mags-jobs/%s/access" % JOB)[0]["json"] == {"port": 3000}
    assert " URL: http://abc.localhost:8421/" in r.stdout.splitlines()


def test_new_without_a_name(fake, mags):
    r = mags("new")
    assert r.returncode == 1, r
    out = r.stdout + r.stderr
    assert "Error: Name required" in out
    assert "Usage: mags new <name> [-p] [--base <workspace>] [--disk <GB>]" in out
    assert " -p, --persistent Enable S3 data persistence" in out
    assert fake.requests == []


def test_new_that_fails(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (
        200, {"status": "error", "error_message": "no space left"})
    r = mags("new", "myvm")
    assert r.returncode == 1, r
    assert "VM creation failed: no space left" in r.stderr
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "error"})
    r = mags("new", "myvm")
    assert "VM creation failed: Unknown error" in r.stderr


def test_new_gives_up_after_the_wait(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "accepted"})
    t = time.time()
    r = mags("new", "slow", "--wait", "1")
    assert r.returncode == 1, r
    assert "timed out" in r.stderr
    assert time.time() - t < 10
    r = mags("new", "slow", env={"MAGS_NEW_TIMEOUT": "1"})
    assert r.returncode == 1 and "timed out after 1s" in r.stderr


def test_new_rejected_by_the_server(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (400, {"error": "workspace support is not available yet"})
    r = mags("new", "myvm")
    assert r.returncode == 1
    assert "workspace support is not available yet" in r.stderr


# ---- exec ------------------------------------------------------------------

def test_exec_streams_stdout_and_stderr_and_exits_with_the_code(fake, mags):
    fake.job(JOB, "myvm")
    fake.on[("POST", "/mags-jobs/%s/exec" % JOB)] = Stream([
        {"stream": "stdout", "data": "one\n"},
        {"stream": "stderr", "data": "warn\n"},
        {"stream": "stdout", "data": "two\n"},
        {"exit_code": 3, "duration_ms": 7}])
    r = mags("exec", "myvm", "ls -la")
    assert r.returncode == 3, r
    assert r.stdout == "one\ntwo\n"
    assert r.stderr == "warn\n"
    [req] = fake.sent("POST", "/mags-jobs/%s/exec" % JOB)
    assert req["query"] == {"stream": "1"}
    assert req["json"] == {"command": "ls -la"}


def test_exec_plain_answer_timeout_env_and_json(fake, mags):
    fake.job(JOB, "myvm", status="sleeping")
    fake.on[("POST", "/mags-jobs/%s/exec" % JOB)] = (200, {
        "exit_code": 0, "stdout": "hi\n", "stderr": "", "output": "hi\n", "duration_ms": 4})
    r = mags("exec", "--timeout", "9", "--env", "A=1", "--env", "B=x=y", JOB, "echo", "hi")
    assert r.returncode == 0, r
    assert r.stdout == "hi\n"
    assert fake.sent("POST", "/mags-jobs/%s/exec" % JOB)[0]["json"] == {
        "command": "echo hi", "timeout": 9, "env": {"A": "1", "B": "x=y"}}
    r = mags("exec", "--json", "myvm", "echo hi")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["stdout"] == "hi\n"


def test_exec_json_of_a_streamed_answer(fake, mags):
    fake.job(JOB, "myvm")
    fake.on[("POST", "/mags-jobs/%s/exec" % JOB)] = Stream([
        {"stream": "stdout", "data": "a"}, {"stream": "stderr", "data": "b"},
        {"exit_code": 1, "duration_ms": 2}])
    r = mags("exec", "--json", "myvm", "x")
    assert r.returncode == 1, r
    d = json.loads(r.stdout)
    assert d["stdout"] == "a" and d["stderr"] == "b" and d["exit_code"] == 1


def test_exec_prefers_the_live_job_of_a_name(fake, mags):
    fake.job(JOB2, "myvm", status="completed")
    fake.job(JOB, "myvm", status="running")
    # make the completed one newest: the live one must still win
    lst = fake.on[("GET", "/mags-jobs")][1]["jobs"]
    lst.reverse()
    fake.on[("POST", "/mags-jobs/%s/exec" % JOB)] = (200, {"exit_code": 0, "stdout": "ok\n"})
    r = mags("exec", "myvm", "true")
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-jobs/%s/exec" % JOB)


def test_exec_errors(fake, mags):
    r = mags("exec", "myvm")
    assert r.returncode == 2 and "missing <command>" in r.stderr
    r = mags("exec", "nosuch", "ls")
    assert r.returncode == 1 and "nosuch" in r.stderr
    fake.job(JOB, "ended", status="completed")
    r = mags("exec", "ended", "ls")
    assert r.returncode == 1 and "not running" in r.stderr
    fake.job(JOB2, "busy")
    fake.on[("POST", "/mags-jobs/%s/exec" % JOB2)] = (409, {"error": "sandbox is stopping"})
    r = mags("exec", "busy", "ls")
    assert r.returncode == 1 and "sandbox is stopping" in r.stderr


# ---- run additions -----------------------------------------------------------

def end_stream(status="completed", code=0, lines=()):
    recs = [{"message": m, "source": "stdout", "timestamp": "2026-11-27T09:00:00.000Z"}
            for m in lines]
    return Stream(recs + [{"event": "end", "status": status, "exit_code": code,
                           "error_message": None}])


def test_run_uploads_files_as_multipart_then_sends_file_ids(fake, mags, tmp_path):
    f1 = tmp_path / "data.csv"
    f1.write_bytes(b"a,b\n1,2\n")
    f2 = tmp_path / "blob.bin"
    f2.write_bytes(bytes(range(256)) * 1000)
    ids = iter(["file-1", "file-2"])
    fake.on[("POST", "/mags-files")] = lambda req: (200, {"file_id": next(ids)})
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/logs" % JOB)] = end_stream(lines=["done"])
    r = mags("run", "-f", str(f1), "--file", str(f2), "wc -l /root/data.csv")
    assert r.returncode == 0, r
    assert r.stdout == "done\n"
    ups = fake.sent("POST", "/mags-files")
    assert len(ups) == 2
    for up, f in zip(ups, (f1, f2)):
        ctype = up["headers"]["Content-Type"]
        assert ctype.startswith("multipart/form-data; boundary=")
        msg = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + up["raw"])
        [part] = list(msg.iter_parts())
        assert part.get_param("name", header="content-disposition") == "file"
        assert part.get_filename() == f.name
        assert part.get_payload(decode=True) == f.read_bytes()
    sub = fake.sent("POST", "/mags-jobs")[0]["json"]
    assert sub["file_ids"] == ["file-1", "file-2"]
    assert sub["script"] == "wc -l /root/data.csv"


def test_run_upload_errors_stop_before_the_job(fake, mags, tmp_path):
    r = mags("run", "-f", str(tmp_path / "missing"), "true")
    assert r.returncode == 1 and "missing" in r.stderr
    f = tmp_path / "x"
    f.write_text("x")
    fake.on[("POST", "/mags-files")] = (413, {"error": "file larger than 100 MiB"})
    r = mags("run", "-f", str(f), "true")
    assert r.returncode == 1 and "larger than 100 MiB" in r.stderr
    assert fake.sent("POST", "/mags-jobs") == []


def test_run_persistent_with_url_returns_when_the_script_ends(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = [
        (200, {"request_id": JOB, "status": "accepted"}),
        (200, {"request_id": JOB, "status": "running"})]
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (200, {"url": "http://xyz.localhost:8421/"})
    fake.on[("GET", "/mags-jobs/%s/logs" % JOB)] = end_stream("running", 0, ["serving"])
    r = mags("run", "-w", "webapp", "-p", "--url", "--port", "8080", "python3 -m http.server")
    assert r.returncode == 0, r
    assert r.stdout == "serving\n"
    assert fake.sent("POST", "/mags-jobs/%s/access" % JOB)[0]["json"] == {"port": 8080}
    assert "URL: http://xyz.localhost:8421/" in r.stderr
    assert "Sandbox 'webapp' keeps running" in r.stderr
    # access was asked for only once the sandbox ran
    order = [(q["method"], q["path"]) for q in fake.requests]
    first_running = [i for i, q in enumerate(fake.requests)
                     if q["path"].endswith("/status")][1]
    assert order.index(("POST", "/api/v1/mags-jobs/%s/access" % JOB)) > first_running


def test_run_ssh_enables_port_22_and_prints_the_hint(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (
        200, {"ssh_host": "127.0.0.1", "ssh_port": 2222, "ssh_private_key": "K"})
    fake.on[("GET", "/mags-jobs/%s/logs" % JOB)] = end_stream("running", 4)
    r = mags("run", "-w", "box", "-p", "--ssh", "exit 4")
    assert r.returncode == 4, r
    assert fake.sent("POST", "/mags-jobs/%s/access" % JOB)[0]["json"] == {"port": 22}
    assert "SSH: mags ssh box" in r.stderr


# ---- ssh ---------------------------------------------------------------------

FAKE_SSH = r'''#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
key = args[args.index("-i") + 1]
out = {"args": args, "mode": oct(os.stat(key).st_mode & 0o777), "key": open(key).read()}
json.dump(out, open(os.environ["SSH_RECORD"], "w"))
sys.exit(int(os.environ.get("SSH_EXIT", "0")))
'''


@pytest.fixture
def fake_ssh(tmp_path):
    p = tmp_path / "fake-ssh"
    p.write_text(FAKE_SSH)
    p.chmod(0o755)
    rec = tmp_path / "ssh-record.json"
    return {"MAGS_SSH": str(p), "SSH_RECORD": str(rec), "TMPDIR": str(tmp_path)}, rec


def test_ssh_into_a_running_sandbox(fake, mags, fake_ssh, tmp_path):
    env, rec = fake_ssh
    fake.job(JOB, "myvm")
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (200, {
        "ssh_host": "10.0.0.5", "ssh_port": 2201,
        "ssh_private_key": "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----"})
    r = mags("ssh", "myvm", "--", "uname", "-a", env=dict(env, SSH_EXIT="7"))
    assert r.returncode == 7, r
    assert fake.sent("POST", "/mags-jobs/%s/access" % JOB)[0]["json"] == {"port": 22}
    got = json.loads(rec.read_text())
    a = got["args"]
    assert a[:1] == ["-i"] and a[2:] == [
        "-p", "2201", "-o", "StrictHostKeyChecking=no", "-o",
        "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "root@10.0.0.5",
        "uname", "-a"]
    assert got["mode"] == "0o600"
    assert got["key"].endswith("-----END OPENSSH PRIVATE KEY-----\n")
    assert not os.path.exists(a[1]), "the key file was left behind"
    assert fake.sent("POST", "/mags-jobs") == []


def test_ssh_starts_a_missing_sandbox_like_new(fake, mags, fake_ssh):
    env, rec = fake_ssh
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (200, {
        "ssh_host": "h", "ssh_port": "22", "ssh_private_key": "KEY\n"})
    r = mags("ssh", "fresh", env=env)
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-jobs")[0]["json"] == dict(
        NEW_PAYLOAD, name="fresh", workspace_id="fresh")
    assert json.loads(rec.read_text())["args"][-1] == "root@h"


def test_ssh_restarts_a_stopped_persistent_workspace_persistent(fake, mags, fake_ssh):
    env, rec = fake_ssh
    fake.job(JOB2, "proj", status="stopped")
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = (200, {
        "ssh_host": "h", "ssh_port": 22, "ssh_private_key": "KEY\n"})
    r = mags("ssh", "proj", env=env)
    assert r.returncode == 0, r
    sub = fake.sent("POST", "/mags-jobs")[0]["json"]
    assert sub["workspace_id"] == "proj" and sub["no_sync"] is False


# ---- sync, resize, set ---------------------------------------------------------

def test_sync(fake, mags):
    fake.job(JOB, "golden")
    fake.on[("POST", "/mags-jobs/%s/sync" % JOB)] = (200, {"status": "synced"})
    r = mags("sync", "golden")
    assert r.returncode == 0, r
    assert "Workspace 'golden' synced" in r.stdout
    assert len(fake.sent("POST", "/mags-jobs/%s/sync" % JOB)) == 1
    r = mags("sync", "golden", "--json")
    assert json.loads(r.stdout) == {"status": "synced"}


def test_resize_without_the_endpoint_stops_waits_and_recreates_persistent(fake, mags):
    fake.job(JOB2, "proj", status="running")
    fake.on[("POST", "/mags-jobs/%s/stop" % JOB2)] = (200, {"request_id": JOB2, "status": "stopped"})
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    t = time.time()
    r = mags("resize", "proj", "--disk", "5")
    assert r.returncode == 0, r
    assert time.time() - t >= 1.0
    assert len(fake.sent("POST", "/mags-jobs/%s/stop" % JOB2)) == 1
    assert fake.sent("POST", "/mags-jobs")[0]["json"] == dict(
        NEW_PAYLOAD, name="proj", workspace_id="proj", no_sync=False, disk_gb=5)
    assert "VM 'proj' created successfully (persistent)" in r.stdout
    r = mags("resize", "proj")
    assert r.returncode == 2 and "--disk" in r.stderr


def test_resize_through_the_servers_endpoint(fake, mags):
    fake.job(JOB2, "proj", status="running", no_sync=True)
    fake.on[("POST", "/mags-jobs/%s/stop" % JOB2)] = (200, {"request_id": JOB2, "status": "stopped"})
    fake.on[("POST", "/mags-workspaces/proj/resize")] = lambda req: (
        200, {"workspace_id": "proj", "disk_gb": req["json"]["disk_gb"]})
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = (200, {"status": "running"})
    r = mags("resize", "proj", "--disk", "7")
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-workspaces/proj/resize")[0]["json"] == {"disk_gb": 7}
    stop = fake.requests.index(fake.sent("POST", "/mags-jobs/%s/stop" % JOB2)[0])
    resize = fake.requests.index(fake.sent("POST", "/mags-workspaces/proj/resize")[0])
    assert stop < resize
    assert "Workspace 'proj' resized to 7 GB" in r.stdout
    # the sandbox comes back as it was: local disk, with the new size
    assert fake.sent("POST", "/mags-jobs")[0]["json"] == dict(
        NEW_PAYLOAD, name="proj", workspace_id="proj", no_sync=True, disk_gb=7)


def test_resize_of_an_idle_workspace_starts_nothing(fake, mags):
    fake.on[("POST", "/mags-workspaces/idle/resize")] = (200, {"workspace_id": "idle"})
    r = mags("resize", "idle", "--disk", "3")
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-jobs") == []
    fake.on[("POST", "/mags-workspaces/idle/resize")] = (409, {"error": "workspace is in use"})
    r = mags("resize", "idle", "--disk", "3")
    assert r.returncode == 1 and "in use" in r.stderr


def test_set_sleep_and_no_sleep(fake, mags):
    fake.job(JOB, "worker")
    fake.on[("PATCH", "/mags-jobs/%s" % JOB)] = lambda req: (200, dict(req["json"], request_id=JOB))
    r = mags("set", "worker", "--no-sleep")
    assert r.returncode == 0, r
    r = mags("set", "worker", "--sleep", "--startup-command", "python3 w.py")
    assert r.returncode == 0, r
    bodies = [q["json"] for q in fake.sent("PATCH", "/mags-jobs/%s" % JOB)]
    assert bodies == [{"no_sleep": True},
                      {"no_sleep": False, "startup_command": "python3 w.py"}]
    r = mags("set", "worker")
    assert r.returncode == 2


# ---- url and aliases -----------------------------------------------------------

def test_url_enables_access_and_prints_it(fake, mags):
    fake.job(JOB, "webapp")
    fake.on[("POST", "/mags-jobs/%s/access" % JOB)] = lambda req: (
        200, {"url": "http://j1.localhost:8421/", "port": req["json"]["port"]})
    r = mags("url", "webapp")
    assert r.returncode == 0, r
    assert "URL: http://j1.localhost:8421/" in r.stdout
    r = mags("url", "webapp", "3000", "--json")
    assert json.loads(r.stdout)["port"] == 3000
    ports = [q["json"]["port"] for q in fake.sent("POST", "/mags-jobs/%s/access" % JOB)]
    assert ports == [8080, 3000]
    r = mags("url", "webapp", "99999")
    assert r.returncode == 2


def test_url_aliases(fake, mags):
    fake.on[("POST", "/mags-url-aliases")] = lambda req: (
        200, dict(req["json"], url="http://myapp.localhost:8421/"))
    fake.on[("GET", "/mags-url-aliases")] = (200, {"aliases": [
        {"subdomain": "myapp", "workspace_id": "webapp", "url": "http://myapp.localhost:8421/",
         "created_at": "2026-11-27T09:00:00.000Z"}]})
    fake.on[("DELETE", "/mags-url-aliases/myapp")] = (200, {"deleted": True})
    r = mags("url", "alias", "myapp", "webapp")
    assert r.returncode == 0, r
    assert fake.sent("POST", "/mags-url-aliases")[0]["json"] == {
        "subdomain": "myapp", "workspace_id": "webapp"}
    assert "http://myapp.localhost:8421/" in r.stdout
    r = mags("url", "alias", "list")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0].split() == ["SUBDOMAIN", "WORKSPACE", "URL", "CREATED"]
    assert lines[1].split()[:3] == ["myapp", "webapp", "http://myapp.localhost:8421/"]
    r = mags("url", "alias", "list", "--json")
    assert json.loads(r.stdout)["aliases"][0]["subdomain"] == "myapp"
    r = mags("url", "alias", "remove", "myapp")
    assert r.returncode == 0, r
    assert len(fake.sent("DELETE", "/mags-url-aliases/myapp")) == 1
    fake.on[("POST", "/mags-url-aliases")] = (409, {"error": "alias 'myapp' is taken"})
    r = mags("url", "alias", "myapp", "other")
    assert r.returncode == 1 and "is taken" in r.stderr


# ---- workspaces ------------------------------------------------------------------

def test_workspace_list_and_delete(fake, mags):
    fake.on[("GET", "/mags-workspaces")] = (200, {"workspaces": [
        {"workspace_id": "golden", "persistent": True, "size_bytes": 3 * 1024 * 1024,
         "last_synced_at": "2026-11-27T08:00:00.000Z", "base_workspace_id": None,
         "job_count": 4},
        {"workspace_id": "fork-1", "persistent": False, "size_bytes": 512,
         "last_synced_at": None, "base": "golden", "job_count": 1}]})
    fake.on[("DELETE", "/mags-workspaces/golden")] = (200, {"deleted": True})
    r = mags("workspace", "list")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "WORKSPACE", "PERSISTENT", "SIZE", "LAST SYNCED", "BASE", "JOBS"]
    assert re.split(r"\s{2,}", lines[1].strip()) == [
        "golden", "yes", "3.0 MiB", "2026-11-27 08:00:00", "-", "4"]
    assert re.split(r"\s{2,}", lines[2].strip()) == [
        "fork-1", "no", "512 B", "-", "golden", "1"]
    r = mags("workspace", "list", "--json")
    assert len(json.loads(r.stdout)["workspaces"]) == 2
    r = mags("workspace", "delete", "golden")
    assert r.returncode == 0, r
    assert "Workspace 'golden' deleted" in r.stdout
    assert len(fake.sent("DELETE", "/mags-workspaces/golden")) == 1
    r = mags("workspace", "delete", "nope")
    assert r.returncode == 1 and "not found" in r.stderr


# ---- cron ------------------------------------------------------------------------

def test_cron_add_list_enable_disable_remove(fake, mags):
    fake.on[("POST", "/mags-cron")] = lambda req: (200, dict(
        req["json"], id="cron_1", next_run_at="2026-11-28T00:00:00.000Z"))
    fake.on[("GET", "/mags-cron")] = (200, {"cron_jobs": [
        {"id": "cron_1", "name": "daily-backup", "cron_expression": "0 0 * * *",
         "enabled": True, "next_run_at": "2026-11-28T00:00:00.000Z",
         "last_run_at": "2026-11-27T00:00:00.000Z", "last_status": "completed"}]})
    fake.on[("PATCH", "/mags-cron/cron_1")] = lambda req: (200, dict(req["json"], id="cron_1"))
    fake.on[("DELETE", "/mags-cron/cron_1")] = (200, {"deleted": True})

    r = mags("cron", "add", "--name", "daily-backup", "--schedule", "0 0 * * *",
             "tar czf /root/backup.tar.gz /root/data")
    assert r.returncode == 0, r
    assert "cron_1" in r.stdout and "2026-11-28 00:00:00" in r.stdout
    r = mags("cron", "add", "-n", "hc", "-s", "*/5 * * * *", "-w", "monitors", "-p",
             "curl -sf https://myapp.com/health")
    assert r.returncode == 0, r
    r = mags("cron", "create", "0 2 * * *", "echo nightly")
    assert r.returncode == 0, r
    bodies = [q["json"] for q in fake.sent("POST", "/mags-cron")]
    assert bodies[0] == {"name": "daily-backup", "cron_expression": "0 0 * * *",
                         "script": "tar czf /root/backup.tar.gz /root/data", "enabled": True}
    assert bodies[1] == {"name": "hc", "cron_expression": "*/5 * * * *",
                         "script": "curl -sf https://myapp.com/health",
                         "workspace_id": "monitors", "persistent": True, "enabled": True}
    assert bodies[2]["cron_expression"] == "0 2 * * *" and bodies[2]["script"] == "echo nightly"
    assert re.fullmatch(r"cron-[0-9a-f]{8}", bodies[2]["name"])

    r = mags("cron", "list")
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert re.split(r"\s{2,}", lines[0].strip()) == [
        "ID", "NAME", "SCHEDULE", "ENABLED", "NEXT RUN", "LAST RUN"]
    assert re.split(r"\s{2,}", lines[1].strip()) == [
        "cron_1", "daily-backup", "0 0 * * *", "yes", "2026-11-28 00:00:00",
        "2026-11-27 00:00:00 (completed)"]
    r = mags("cron", "list", "--json")
    assert json.loads(r.stdout)["cron_jobs"][0]["id"] == "cron_1"

    assert mags("cron", "disable", "cron_1").returncode == 0
    assert mags("cron", "enable", "cron_1").returncode == 0
    assert [q["json"] for q in fake.sent("PATCH", "/mags-cron/cron_1")] == [
        {"enabled": False}, {"enabled": True}]
    assert mags("cron", "remove", "cron_1").returncode == 0
    assert mags("cron", "delete", "cron_1").returncode == 0
    assert len(fake.sent("DELETE", "/mags-cron/cron_1")) == 2


def test_cron_misuse(fake, mags):
    r = mags("cron", "add", "--schedule", "* * * * *", "ls")
    assert r.returncode == 2 and "--name is required" in r.stderr
    r = mags("cron", "add", "--name", "x", "ls")
    assert r.returncode == 2 and "--schedule is required" in r.stderr
    r = mags("cron", "frob")
    assert r.returncode == 2
    fake.on[("POST", "/mags-cron")] = (400, {"error": "cron expression: minute field '61': value out of range 0-59"})
    r = mags("cron", "add", "-n", "x", "-s", "61 * * * *", "ls")
    assert r.returncode == 1 and "out of range" in r.stderr
    assert fake.requests and all(q["path"] == "/api/v1/mags-cron" for q in fake.requests)


# ---- usage, browser, setup-claude, help ---------------------------------------------

def test_usage(fake, mags):
    fake.on[("GET", "/mags-usage")] = lambda req: (200, {
        "window_days": int(req["query"].get("window_days", 30)),
        "total_jobs": 42, "vm_seconds": 7200.0})
    r = mags("usage", "--days", "7")
    assert r.returncode == 0, r
    assert fake.requests[-1]["query"] == {"window_days": "7"}
    assert "last 7 days" in r.stdout
    assert re.search(r"Jobs:\s+42", r.stdout)
    assert re.search(r"VM time:\s+7200 s \(2.0 h\)", r.stdout)
    r = mags("usage", "--json")
    assert fake.requests[-1]["query"] == {}
    assert json.loads(r.stdout)["total_jobs"] == 42


def test_browser_is_not_available(fake, mags):
    r = mags("browser", "x")
    assert r.returncode == 1
    assert "not available in self-hosted mags" in r.stderr
    assert fake.requests == []


def test_setup_claude(fake, mags):
    skill = mags.home / ".claude" / "skills" / "mags" / "SKILL.md"
    r = mags("setup-claude")
    assert r.returncode == 0, r
    text = skill.read_text()
    assert text.startswith("---\nname: mags\n")
    assert "mags run" in text and "mags exec <name> '<command>'" in text
    r = mags("setup-claude")
    assert r.returncode == 0 and "up to date" in r.stdout
    skill.write_text("my edits\n")
    r = mags("setup-claude")
    assert r.returncode == 1, r
    assert "SKILL.md.new" in r.stderr
    assert skill.read_text() == "my edits\n"
    assert (skill.parent / "SKILL.md.new").read_text() == text
    r = mags("setup-claude", "--force")
    assert r.returncode == 0, r
    assert skill.read_text() == text
    assert (skill.parent / "SKILL.md.bak").read_text() == "my edits\n"
    r = mags("setup-claude", "--print")
    assert r.stdout == text
    assert fake.requests == []


COMMANDS = ["login", "logout", "whoami", "new", "run", "ssh", "exec", "list", "logs",
            "status", "stop", "sync", "resize", "url", "url alias", "set",
            "workspace list", "workspace delete", "cron add", "cron list", "cron remove",
            "cron enable", "cron disable", "usage", "browser", "setup-claude"]


def test_help_lists_every_command_with_the_examples(mags):
    r = mags("help")
    assert r.returncode == 0, r
    listed = [l.strip().split("  ")[0] for l in r.stdout.splitlines() if l.startswith("  ")]
    for cmd in COMMANDS:
        assert any(l == cmd or l.startswith(cmd + " ") for l in listed), cmd
    ex = r.stdout[r.stdout.index("Examples:"):]
    seq = ["mags login", "mags new myvm ", "# Create VM (local disk only)",
           "mags new myvm -p ", "# Create VM with S3 persistence",
           "mags ssh myvm ", "# SSH (auto-starts if needed)",
           "mags exec myvm 'ls -la' ", "# Run command on existing VM",
           "mags run 'echo Hello World'"]
    pos = 0
    for s in seq:
        pos = ex.index(s, pos)
    assert "Cron Options:" in r.stdout
    for cmd in ("new", "exec", "ssh", "sync", "resize", "url", "set", "workspace",
                "cron", "usage", "browser", "setup-claude"):
        r = mags(cmd, "--help")
        assert r.returncode == 0, (cmd, r)
        assert r.stdout.startswith("Usage: mags " + cmd), (cmd, r.stdout)


# ---- against the real server ------------------------------------------------------

def test_names_resolve_to_the_live_job_on_the_real_server(srv):
    done = srv.submit("true", name="resolve-me")
    srv.wait(done)
    live = srv.submit("sleep 60", name="resolve-me")
    srv.wait(live, timeout=10, states=("running",))
    newer_done = srv.submit("true", name="resolve-me")
    srv.wait(newer_done)
    r = srv.mags("status", "resolve-me", "--json")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["request_id"] == live
    r = srv.mags("stop", "resolve-me")
    assert r.returncode == 0, r
    assert srv.wait(live, timeout=10)["status"] == "stopped"
    # nothing live any more: the newest job of that name
    r = srv.mags("status", "resolve-me", "--json")
    assert json.loads(r.stdout)["request_id"] == newer_done


def test_read_commands_have_json_on_the_real_server(srv):
    jid = srv.submit("echo j", name="json-check")
    srv.wait(jid)
    for args in (["list", "--json"], ["status", "json-check", "--json"],
                 ["logs", "json-check", "--json"], ["whoami", "--json"]):
        r = srv.mags(*args)
        assert r.returncode == 0, (args, r)
        json.loads(r.stdout)


def test_exec_on_an_ended_job_of_the_real_server(srv):
    jid = srv.submit("true", name="exec-ended")
    srv.wait(jid)
    r = srv.mags("exec", "exec-ended", "ls")
    assert r.returncode == 1, r
    assert "not running" in r.stderr


def test_cron_lifecycle_on_the_real_server(srv):
    r = srv.mags("cron", "add", "--name", "cli-nightly", "--schedule", "0 3 * * *",
                 "echo nightly")
    assert r.returncode == 0, r
    m = re.search(r"ID: (\S+)\)", r.stdout)
    assert m, r.stdout
    cid = m.group(1)
    r = srv.mags("cron", "list")
    assert r.returncode == 0, r
    row = [l for l in r.stdout.splitlines() if l.startswith(cid)]
    assert row and "cli-nightly" in row[0] and "0 3 * * *" in row[0] and " yes " in row[0]
    assert srv.mags("cron", "disable", cid).returncode == 0
    got = srv.api("GET", "/mags-cron/%s" % cid).json
    assert got["enabled"] is False
    assert srv.mags("cron", "enable", cid).returncode == 0
    assert srv.api("GET", "/mags-cron/%s" % cid).json["enabled"] is True
    r = srv.mags("cron", "add", "-n", "bad", "-s", "61 * * * *", "true")
    assert r.returncode == 1 and "61" in r.stderr
    assert srv.mags("cron", "remove", cid).returncode == 0
    assert srv.api("GET", "/mags-cron/%s" % cid).status == 404


def test_usage_on_the_real_server(srv):
    srv.run("true")
    r = srv.mags("usage", "--days", "7", "--json")
    assert r.returncode == 0, r
    u = json.loads(r.stdout)
    assert u["total_jobs"] >= 1 and "vm_seconds" in u
    r = srv.mags("usage")
    assert r.returncode == 0, r
    assert re.search(r"Jobs:\s+\d+", r.stdout)


def test_run_uploads_a_file_on_the_real_server(srv, tmp_path):
    f = tmp_path / "data.csv"
    f.write_text("a,b\n1,2\n3,4\n")
    r = srv.mags("run", "-f", str(f), "wc -l < /root/data.csv; cat /uploads/data.csv | head -1")
    assert r.returncode == 0, r
    assert r.stdout == "3\na,b\n"


def test_run_persistent_polls_when_the_stream_ends_before_the_script(fake, mags):
    fake.on[("POST", "/mags-jobs")] = (200, {"request_id": JOB, "status": "accepted"})
    fake.on[("GET", "/mags-jobs/%s/logs" % JOB)] = lambda req: (
        Stream([{"event": "end", "status": "accepted", "exit_code": None}])
        if req["query"].get("follow") else
        (200, {"logs": [{"message": "done", "source": "stdout"},
                        {"message": "later", "source": "stdout"}]}))
    fake.on[("GET", "/mags-jobs/%s/status" % JOB)] = [
        (200, {"request_id": JOB, "status": "running", "persistent": True, "exit_code": None}),
        (200, {"request_id": JOB, "status": "running", "persistent": True, "exit_code": 5})]
    r = mags("run", "-w", "pw", "-p", "echo done; echo later; exit 5")
    assert r.returncode == 5, r
    assert r.stdout == "done\nlater\n"
    assert "Sandbox 'pw' keeps running" in r.stderr


def test_new_resize_and_workspaces_on_the_real_server(srv):
    r = srv.mags("new", "cli-box", timeout=90)
    assert r.returncode == 0, r
    lines = r.stdout.splitlines()
    assert lines[0] == "VM 'cli-box' created successfully (local disk)"
    assert re.fullmatch(r" ID: [0-9a-f-]{36}", lines[1])
    assert lines[2] == " SSH: mags ssh cli-box"
    first = lines[1].split()[1]
    st = json.loads(srv.mags("status", "cli-box", "--json").stdout)
    assert st["request_id"] == first and st["status"] == "running"
    ws = json.loads(srv.mags("workspace", "list", "--json").stdout)["workspaces"]
    assert "cli-box" in [w["workspace_id"] for w in ws]

    r = srv.mags("resize", "cli-box", "--disk", "3", timeout=90)
    assert r.returncode == 0, r
    assert "Workspace 'cli-box' resized to 3 GB" in r.stdout
    assert srv.status(first)["status"] == "stopped"
    st = json.loads(srv.mags("status", "cli-box", "--json").stdout)
    assert st["request_id"] != first and st["status"] == "running"
    assert st["disk_gb"] == 3

    assert srv.mags("stop", "cli-box").returncode == 0
    srv.wait(st["request_id"], timeout=30)
    for _ in range(50):
        r = srv.mags("workspace", "delete", "cli-box")
        if r.returncode == 0 or "in use" not in r.stderr:
            break
        time.sleep(0.2)
    assert r.returncode == 0, r
    ws = json.loads(srv.mags("workspace", "list", "--json").stdout)["workspaces"]
    assert "cli-box" not in [w["workspace_id"] for w in ws]
