"""Long-lived sandboxes (issue 4), continued: a job's own idle time
(idle_timeout on POST and PATCH, `mags new/run/set --idle-timeout`), a stop
that answers only once the workspace is free (stop then resize or a new run
at once), the user story's lines the first file drives through the API
only, and wake restoring a synced (-p) workspace.

Real magsd, real sandboxes (busybox), the real CLI. The server's own
idle_timeout is long (600 s) so that only a job's own setting can make it
sleep within a test.
"""
import subprocess
import time

import pytest

from conftest import MAGS, make_server, wait_until

SHORT = 2


@pytest.fixture(scope="module")
def ls(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "llidle",
                    conf={"idle_timeout": 600, "proxy_listen": "off", "ssh_listen": "off"})
    yield s
    s.stop()


def status(s, ref, token="alice"):
    r = s.api("GET", "/mags-jobs/%s/status" % ref, token=token)
    assert r.status == 200, r
    return r.json


def wait_status(s, ref, want, timeout=20):
    st = wait_until(lambda: status(s, ref)["status"] in want and status(s, ref), timeout)
    assert st and st["status"] in want, (ref, status(s, ref))
    return st


def exec_(s, ref, command, **kw):
    body = {"command": command}
    body.update(kw)
    return s.api("POST", "/mags-jobs/%s/exec" % ref, body, timeout=60)


def sandbox(s, name, **fields):
    body = dict(name=name, workspace_id=name, persistent=True, no_sync=True,
                startup_command="sleep infinity")
    body.update(fields)
    jid = s.submit("sleep infinity", **body)
    wait_status(s, jid, ("running",))
    return jid


def job_count(s):
    return s.api("GET", "/mags-jobs?page_size=1").json["total"]


# ---- idle_timeout ------------------------------------------------------------

def test_a_jobs_own_idle_timeout_puts_it_to_sleep(ls):
    short = sandbox(ls, "short", idle_timeout=SHORT)
    plain = sandbox(ls, "plain")
    assert status(ls, short)["idle_timeout"] == SHORT
    assert status(ls, plain)["idle_timeout"] is None          # the server's (600 s)
    assert exec_(ls, short, "echo kept > /root/f").json["exit_code"] == 0
    t0 = time.time()
    wait_status(ls, short, ("sleeping",), timeout=SHORT + 10)
    assert time.time() - t0 >= SHORT - 0.5
    # the other one follows the server's 600 s
    assert status(ls, plain)["status"] == "running"
    # waking keeps the job's setting, and the files
    r = exec_(ls, short, "cat /root/f")
    assert r.status == 200 and r.json["stdout"] == "kept\n", r
    assert status(ls, short)["idle_timeout"] == SHORT
    wait_status(ls, short, ("sleeping",), timeout=SHORT + 10)

    # PATCH: the plain one gets a short idle time and falls asleep ...
    r = ls.api("PATCH", "/mags-jobs/plain", {"idle_timeout": SHORT})
    assert r.status == 200 and r.json["idle_timeout"] == SHORT, r
    wait_status(ls, plain, ("sleeping",), timeout=SHORT + 10)
    # ... and null gives it the server's again (shown as null)
    r = ls.api("PATCH", "/mags-jobs/plain", {"idle_timeout": None})
    assert r.status == 200 and r.json["idle_timeout"] is None, r
    # a PATCH without the field keeps it
    r = ls.api("PATCH", "/mags-jobs/short", {"no_sleep": False})
    assert r.status == 200 and r.json["idle_timeout"] == SHORT, r
    # woken with the server's 600 s: it stays up
    assert exec_(ls, plain, "true").json["exit_code"] == 0
    time.sleep(SHORT * 2)
    assert status(ls, plain)["status"] == "running"
    for j in (short, plain):
        ls.api("POST", "/mags-jobs/%s/stop" % j)


def test_idle_timeout_is_checked(ls):
    before = job_count(ls)
    for bad in (0, -1, 2592001, "60", 1.5, True, [60]):
        r = ls.api("POST", "/mags-jobs", {"script": "true", "persistent": True,
                                          "workspace_id": "badidle", "idle_timeout": bad})
        assert r.status == 400 and "'idle_timeout'" in r.json["error"], (bad, r)
    r = ls.api("POST", "/mags-jobs", {"script": "true", "idle_timeout": 60})
    assert r.status == 400 and "requires 'persistent'" in r.json["error"], r
    assert job_count(ls) == before, "a job was created despite a bad idle_timeout"
    # the largest allowed
    jid = sandbox(ls, "bigidle", idle_timeout=2592000)
    assert status(ls, jid)["idle_timeout"] == 2592000
    for bad in (0, -5, "x", 2592001):
        r = ls.api("PATCH", "/mags-jobs/bigidle", {"idle_timeout": bad})
        assert r.status == 400 and "'idle_timeout'" in r.json["error"], (bad, r)
    assert status(ls, jid)["idle_timeout"] == 2592000
    ls.api("POST", "/mags-jobs/%s/stop" % jid)
    # a job that is not persistent cannot have one; one that ended is final
    other = ls.submit("true")
    wait_status(ls, other, ("completed",))
    assert ls.api("PATCH", "/mags-jobs/%s" % other, {"idle_timeout": 60}).status == 400
    assert ls.api("PATCH", "/mags-jobs/%s" % jid, {"idle_timeout": 60}).status == 409


def test_cli_idle_timeout_flags(ls):
    r = ls.mags("new", "clidle", "--idle-timeout", "120", timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert status(ls, "clidle")["idle_timeout"] == 120
    r = ls.mags("set", "clidle", "--idle-timeout", "3600")
    assert r.returncode == 0, r.stderr
    assert status(ls, "clidle")["idle_timeout"] == 3600
    r = ls.mags("set", "clidle", "--idle-timeout", "default")
    assert r.returncode == 0, r.stderr
    assert status(ls, "clidle")["idle_timeout"] is None
    r = ls.mags("set", "clidle", "--idle-timeout", "0")
    assert r.returncode != 0 and "--idle-timeout" in r.stderr, r
    r = ls.mags("set", "clidle", "--idle-timeout", str(SHORT))
    assert r.returncode == 0, r.stderr
    wait_status(ls, "clidle", ("sleeping",), timeout=SHORT + 10)
    assert ls.mags("stop", "clidle").returncode == 0

    before = job_count(ls)
    r = ls.mags("run", "--idle-timeout", "60", "true")
    assert r.returncode != 0 and "--idle-timeout requires -p" in r.stderr, r
    r = ls.mags("run", "-p", "--idle-timeout", "soon", "true")
    assert r.returncode != 0 and "--idle-timeout" in r.stderr, r
    assert job_count(ls) == before
    r = ls.mags("run", "-w", "clirun", "-p", "--idle-timeout", str(SHORT), "echo up", timeout=60)
    assert r.returncode == 0 and "up" in r.stdout, (r.stdout, r.stderr)
    assert status(ls, "clirun")["idle_timeout"] == SHORT
    wait_status(ls, "clirun", ("sleeping",), timeout=SHORT + 10)
    ls.api("POST", "/mags-jobs/clirun/stop", timeout=120)


# ---- stop answers once the workspace is free ------------------------------------

def test_stop_then_resize_and_new_at_once(ls):
    for i in range(3):
        name = "rz%d" % i
        jid = sandbox(ls, name)
        assert exec_(ls, name, "echo %d > /root/n" % i).json["exit_code"] == 0
        r = ls.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)
        assert r.status == 200 and r.json["status"] == "stopped", r
        # at once: no job holds the workspace any more (the race was a 409
        # "in use by job"). The kernel may still be letting go of the old
        # sandbox's mounts on a loaded host: resize says "try again" then.
        for _ in range(5):
            r = ls.api("POST", "/mags-workspaces/%s/resize" % name, {"disk_gb": 3}, timeout=60)
            assert "in use by job" not in r.body, r
            if r.status == 200 or "try the resize again" not in r.body:
                break
            time.sleep(1)
        assert r.status == 200, r
        r = ls.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)   # a no-op
        assert r.status == 200 and r.json["status"] == "stopped", r
        again = ls.submit("sleep infinity", name=name, workspace_id=name, persistent=True,
                          no_sync=True, startup_command="sleep infinity")
        wait_status(ls, again, ("running",))
        r = exec_(ls, again, "cat /root/n")
        assert r.json["stdout"] == "%d\n" % i, r
        # and a stop of the new one then a new job at once, again
        assert ls.api("POST", "/mags-jobs/%s/stop" % again, timeout=60).status == 200
        third = ls.submit("cat /root/n", workspace_id=name)
        st = ls.wait(third, timeout=60)
        assert st["status"] == "completed", st


# ---- the user story's CLI lines ---------------------------------------------------

def test_user_story_through_the_cli(ls):
    # mags new dev2 -p --base golden
    golden = ls.submit("echo gold > /root/g", workspace_id="golden", persistent=True)
    assert ls.wait(golden, timeout=120)["status"] in ("completed", "stopped")
    r = ls.mags("new", "dev2", "-p", "--base", "golden", timeout=120)
    assert r.returncode == 0, (r.stdout, r.stderr)
    r = ls.mags("exec", "dev2", "cat /root/g")
    assert r.returncode == 0 and r.stdout == "gold\n", (r.stdout, r.stderr)
    # mags exec dev 'sleep 2; exit 4'; echo $?  -> 4
    r = ls.mags("exec", "dev2", "sleep 2; exit 4")
    assert r.returncode == 4, (r.returncode, r.stdout, r.stderr)
    # mags status dev -> running
    r = ls.mags("status", "dev2")
    assert r.returncode == 0 and "running" in r.stdout, r.stdout
    assert ls.mags("stop", "dev2", timeout=120).returncode == 0
    r = ls.mags("status", "dev2")
    assert "stopped" in r.stdout, r.stdout
    # stop of a stopped job is a no-op
    assert ls.mags("stop", "dev2", timeout=60).returncode == 0

    # mags run -w web -p --no-sleep --startup-command '<server>' '<server>':
    # the CLI follows the server's output; the job stays running
    server = "mkdir -p /www && echo hi > /www/index.html && exec httpd -f -p 8080 -h /www"
    p = subprocess.Popen([str(MAGS), "run", "-w", "web", "-p", "--no-sleep",
                          "--startup-command", server, server],
                         env=ls.cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        st = wait_until(lambda: ls.api("GET", "/mags-jobs/web/status").status == 200 and
                        status(ls, "web")["status"] == "running" and status(ls, "web"), 60)
        assert st and st["no_sleep"] is True and st["startup_command"] == server, st
        r = wait_until(lambda: exec_(ls, "web", "wget -q -O - http://127.0.0.1:8080/")
                       .json.get("stdout") == "hi\n", 10)
        assert r, exec_(ls, "web", "wget -q -O - http://127.0.0.1:8080/").json
    finally:
        p.kill()
        p.wait(10)
    # the CLI going away does not stop the server
    r = exec_(ls, "web", "true")
    assert r.status == 200 and r.json["exit_code"] == 0, r
    assert status(ls, "web")["status"] == "running"
    assert ls.mags("stop", "web", timeout=120).returncode == 0


def test_wake_restores_a_synced_workspace(ls):
    jid = ls.submit("sleep infinity", name="synced", workspace_id="synced", persistent=True,
                    startup_command="sleep infinity", idle_timeout=SHORT)
    wait_status(ls, jid, ("running",))
    r = exec_(ls, jid, "mkdir -p /root/d && for i in 1 2 3 4 5; do echo $i > /root/d/$i; done;"
              " md5sum /root/d/* | md5sum")
    assert r.json["exit_code"] == 0, r
    want = r.json["stdout"]
    wait_status(ls, jid, ("sleeping",), timeout=SHORT + 30)
    r = exec_(ls, jid, "md5sum /root/d/* | md5sum")
    assert r.status == 200 and r.json["stdout"] == want, r
    assert status(ls, jid)["status"] == "running"
    r = ls.api("POST", "/mags-jobs/%s/stop" % jid, timeout=120)
    assert r.status == 200 and r.json["status"] == "stopped", r


def test_python_sdk_passes_the_idle_timeout(ls):
    import sys
    from conftest import ROOT
    sys.path.insert(0, str(ROOT / "sdk" / "python" / "src"))
    from mags import Mags
    m = Mags(api_url=ls.url, api_token=ls.tokens["alice"])
    st = m.new("sdkidle", job_idle_timeout=77)
    rid = st["request_id"]
    assert m.status(rid)["idle_timeout"] == 77
    assert m.update_job(rid, idle_timeout=None)["idle_timeout"] is None
    assert m.update_job(rid, idle_timeout=SHORT)["idle_timeout"] == SHORT
    wait_status(ls, rid, ("sleeping",), timeout=SHORT + 10)
    m.stop(rid)

