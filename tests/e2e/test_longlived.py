"""Long-lived sandboxes (issue 4): mags new, exec, runs on a live workspace,
idle sleep and wake, always-on, surviving a daemon restart, stop.

Real magsd, real sandboxes (busybox), the real CLI, with a 2 s idle timeout.
"""
import json
import os
import signal
import threading
import time
import urllib.request

import pytest

from conftest import TERMINAL, make_server, wait_until

IDLE = 2


@pytest.fixture(scope="module")
def ls(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "longlived",
                    conf={"idle_timeout": IDLE, "proxy_listen": "off", "ssh_listen": "off"})
    yield s
    stop_all(s)
    s.stop()


def stop_all(s):
    for user in ("alice", "bob"):
        r = s.api("GET", "/mags-jobs?page_size=100&status=accepted,running,sleeping", token=user)
        if r.status != 200:
            continue
        for j in r.json["jobs"]:
            s.api("POST", "/mags-jobs/%s/stop" % j["request_id"], token=user, timeout=60)


def status(s, ref, token="alice"):
    r = s.api("GET", "/mags-jobs/%s/status" % ref, token=token)
    assert r.status == 200, r
    return r.json


def wait_status(s, ref, want, timeout=20):
    st = wait_until(lambda: status(s, ref)["status"] in want and status(s, ref), timeout)
    assert st and st["status"] in want, (ref, status(s, ref))
    return st


def exec_(s, ref, command, token="alice", **kw):
    body = {"command": command}
    body.update(kw)
    return s.api("POST", "/mags-jobs/%s/exec" % ref, body, token=token, timeout=60)


def exec_stream(s, ref, command, **kw):
    body = {"command": command}
    body.update(kw)
    req = urllib.request.Request(s.url + "/api/v1/mags-jobs/%s/exec?stream=1" % ref,
                                 data=json.dumps(body).encode(), method="POST")
    req.add_header("Authorization", "Bearer " + s.tokens["alice"])
    req.add_header("Content-Type", "application/json")
    lines = []
    with urllib.request.urlopen(req, timeout=60) as r:
        assert r.headers["Content-Type"].startswith("application/x-ndjson")
        for raw in r:
            lines.append((time.time(), json.loads(raw)))
    return lines


def new(s, name, *flags):
    r = s.mags("new", name, *flags, timeout=60)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return r


def state_pid(s, job_id):
    """The runtime (supervisor) pid and init pid from the job's state file."""
    text = (s.data_dir / "run" / ("%s.state" % job_id)).read_text()
    sup = init = None
    for line in text.splitlines():
        if line.startswith("supervisor "):
            sup = int(line.split()[1])
        elif line.startswith("started "):
            init = int(line.split()[1])
    return sup, init


# ---- the user story --------------------------------------------------------

def test_new_exec_run_status_stop(ls):
    # its own idle time: on a loaded host the steps below may take longer
    # than the module's 2 s (sleeping and waking are tested further down)
    r = new(ls, "dev", "--idle-timeout", "600")
    lines = r.stdout.splitlines()
    assert lines[0] == "VM 'dev' created successfully (local disk)", r.stdout
    assert lines[1].startswith(" ID: ") and lines[2] == " SSH: mags ssh dev", r.stdout
    job_id = lines[1].split()[1]
    assert status(ls, "dev")["status"] == "running"
    assert status(ls, "dev")["request_id"] == job_id

    r = ls.mags("exec", "dev", "cd /root && echo hi > f && cat f")
    assert r.returncode == 0 and r.stdout == "hi\n", (r.stdout, r.stderr)
    r = ls.mags("exec", "dev", "sleep 1; echo gone >&2; exit 4")
    assert r.returncode == 4 and "gone" in r.stderr, (r.returncode, r.stdout, r.stderr)

    # a run on the live workspace executes inside that sandbox, as a new job
    r = ls.mags("run", "-w", "dev", "-p", "cat /root/f; hostname > /root/h; exit 3")
    assert r.returncode == 3 and "hi" in r.stdout, (r.returncode, r.stdout, r.stderr)
    jobs = ls.api("GET", "/mags-jobs?page_size=5").json["jobs"]
    run = [j for j in jobs if j["request_id"] != job_id][0]
    assert run["status"] == "completed" and run["exit_code"] == 3, run
    assert run["workspace_id"] == "dev"
    # same sandbox: what the run wrote is there for exec
    assert exec_(ls, "dev", "cat /root/h").json["exit_code"] == 0

    # a second sandbox on the same workspace: it is taken
    r = ls.api("POST", "/mags-jobs", {"script": "sleep infinity", "workspace_id": "dev",
                                      "persistent": True, "startup_command": "sleep infinity"})
    assert r.status == 409, r

    r = ls.mags("stop", "dev")
    assert r.returncode == 0, r.stderr
    assert status(ls, job_id)["status"] == "stopped"
    r = ls.api("POST", "/mags-jobs/%s/stop" % job_id)
    assert r.status == 200 and r.json["status"] == "stopped"
    # exec on a finished job: 409 with a message
    r = exec_(ls, job_id, "true")
    assert r.status == 409 and "sandbox" in r.json["error"], r


def test_exec_api_forms(ls):
    jid = ls.submit("sleep infinity", name="apiforms", workspace_id="apiforms",
                    persistent=True, no_sync=True, startup_command="sleep infinity")
    wait_status(ls, jid, ("running",))
    r = exec_(ls, "apiforms", "echo out; echo err >&2; exit 3")
    assert r.status == 200, r
    j = r.json
    assert j["exit_code"] == 3 and j["stdout"] == "out\n" and j["stderr"] == "err\n"
    assert sorted(j["output"].splitlines()) == ["err", "out"]
    assert isinstance(j["duration_ms"], int)

    r = exec_(ls, "apiforms", "echo $A-$B; pwd", env={"A": "1", "B": "two"}, cwd="/tmp")
    assert r.json["stdout"] == "1-two\n/tmp\n", r

    # streaming: chunks as written, then the exit line
    lines = exec_stream(ls, "apiforms", "for i in 1 2 3; do echo $i; sleep 0.3; done; echo é")
    data = [l for _, l in lines if "stream" in l]
    assert "".join(l["data"] for l in data) == "1\n2\n3\né\n"
    assert lines[-1][1]["exit_code"] == 0 and "duration_ms" in lines[-1][1]
    assert lines[-2][0] - lines[0][0] > 0.5, "output was not streamed as it came"

    # timeout: 124 and timed_out
    lines = exec_stream(ls, "apiforms", "echo a; sleep 10", timeout=1)
    assert lines[-1][1]["exit_code"] == 124 and lines[-1][1]["timed_out"] is True
    r = exec_(ls, "apiforms", "sleep 10", timeout=1)
    assert r.json["exit_code"] == 124 and r.json["timed_out"] is True

    # a client that hangs up: its exec is killed
    import http.client
    for stream in ("?stream=1", ""):
        c = http.client.HTTPConnection("127.0.0.1", ls.port, timeout=10)
        c.request("POST", "/api/v1/mags-jobs/apiforms/exec" + stream,
                  json.dumps({"command": "sleep 321"}),
                  {"Authorization": "Bearer " + ls.tokens["alice"]})
        time.sleep(0.5)
        assert "sleep 321" in exec_(ls, "apiforms", "ps").json["stdout"]
        c.close()
        assert wait_until(lambda: "sleep 321" not in exec_(ls, "apiforms", "ps").json["stdout"], 5)

    # bad requests
    assert exec_(ls, "apiforms", "").status == 400
    assert ls.api("POST", "/mags-jobs/apiforms/exec", {"command": "x", "env": {"1x": "y"}}).status == 400
    # another user's job looks missing
    assert exec_(ls, jid, "true", token="bob").status == 404
    assert exec_(ls, "apiforms", "true", token="bob").status == 404
    assert exec_(ls, "no-such-job", "true").status == 404

    # 50 concurrent execs each get their own output
    results = {}

    def one(i):
        results[i] = exec_(ls, "apiforms", "sleep 0.2; echo n%d" % i)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    for i in range(50):
        assert results[i].status == 200 and results[i].json["stdout"] == "n%d\n" % i, results[i]
    ls.api("POST", "/mags-jobs/%s/stop" % jid)


def test_persistent_run_keeps_its_sandbox(ls):
    r = ls.mags("run", "-w", "prun", "-p", "echo from-script > /root/s; echo done; exit 5",
                timeout=60)
    assert r.returncode == 5 and "done" in r.stdout, (r.returncode, r.stdout, r.stderr)
    st = status(ls, "prun")
    assert st["status"] in ("running", "sleeping") and st["exit_code"] == 5, st
    r = exec_(ls, "prun", "cat /root/s")
    assert r.json["stdout"] == "from-script\n", r
    ls.api("POST", "/mags-jobs/prun/stop", timeout=120)


def test_idle_sleep_wake_and_startup_command(ls):
    jid = ls.submit("echo booted >> /root/boots; sleep infinity", name="sleepy",
                    workspace_id="sleepy", persistent=True, no_sync=True,
                    startup_command="echo woke >> /root/boots; sleep infinity")
    wait_status(ls, jid, ("running",))
    assert exec_(ls, jid, "echo state > /root/f").json["exit_code"] == 0
    wait_status(ls, jid, ("sleeping",), timeout=IDLE + 10)
    t0 = time.time()
    r = exec_(ls, "sleepy", "cat /root/f; cat /root/boots")
    assert r.status == 200, r
    assert r.json["stdout"].startswith("state\nbooted\n"), r.json
    assert status(ls, jid)["status"] == "running"
    assert time.time() - t0 < 10
    # the startup_command ran on wake
    assert wait_until(lambda: "woke" in exec_(ls, jid, "cat /root/boots").json["stdout"], 5)
    # an exec streaming keeps it awake; so do API calls
    wait_status(ls, jid, ("sleeping",), timeout=IDLE + 10)
    lines = exec_stream(ls, jid, "echo x")
    assert lines[-1][1]["exit_code"] == 0
    ls.api("POST", "/mags-jobs/%s/stop" % jid)


def test_busy_sandbox_does_not_sleep(ls):
    jid = ls.submit("sleep infinity", name="busy", workspace_id="busy", persistent=True,
                    no_sync=True, startup_command="sleep infinity")
    wait_status(ls, jid, ("running",))
    # setsid: an exec's own process group ends with the exec
    r = exec_(ls, jid, "setsid sh -c 'echo $$ > /root/pid; while :; do :; done' "
              ">/dev/null 2>&1 </dev/null &")
    assert r.json["exit_code"] == 0
    time.sleep(IDLE * 3)
    assert status(ls, jid)["status"] == "running"
    exec_(ls, jid, "kill $(cat /root/pid)")
    wait_status(ls, jid, ("sleeping",), timeout=IDLE + 10)
    ls.api("POST", "/mags-jobs/%s/stop" % jid)


def test_set_no_sleep_and_sleep(ls):
    new(ls, "setme")
    r = ls.mags("set", "setme", "--no-sleep")
    assert r.returncode == 0, r.stderr
    assert status(ls, "setme")["no_sleep"] is True
    time.sleep(IDLE * 2.5)
    assert status(ls, "setme")["status"] == "running"
    r = ls.api("PATCH", "/mags-jobs/setme", {"startup_command": "sleep 1000"})
    assert r.status == 200 and r.json["startup_command"] == "sleep 1000", r
    r = ls.mags("set", "setme", "--sleep")
    assert r.returncode == 0, r.stderr
    assert status(ls, "setme")["no_sleep"] is False
    wait_status(ls, "setme", ("sleeping",), timeout=IDLE + 10)
    # stop of a sleeping sandbox, then of a stopped one: no-op
    assert ls.mags("stop", "setme").returncode == 0
    assert status(ls, "setme")["status"] == "stopped"
    assert ls.mags("stop", "setme").returncode == 0
    assert ls.api("PATCH", "/mags-jobs/setme", {"no_sleep": True}).status == 409
    jid = ls.submit("true")
    assert ls.api("PATCH", "/mags-jobs/%s" % jid, {"no_sleep": True}).status == 400


def test_always_on_restarts_its_command(ls):
    jid = ls.submit("echo run >> /root/runs", name="always", workspace_id="always",
                    persistent=True, no_sync=True, no_sleep=True,
                    startup_command="echo run >> /root/runs; sleep 1")
    wait_status(ls, jid, ("running",))
    # the script ended at once; the startup_command is started again, with back-off
    assert wait_until(lambda: exec_(ls, jid, "wc -l < /root/runs").json["stdout"].strip()
                      not in ("", "1", "2"), 15), exec_(ls, jid, "cat /root/runs").json
    assert status(ls, jid)["status"] == "running"
    ls.api("POST", "/mags-jobs/%s/stop" % jid)


# ---- daemon restarts --------------------------------------------------------

@pytest.fixture
def rs(session_dir, image_cache):
    """A server of its own: these tests kill it."""
    name = "rs%d" % (time.time_ns() % 1000000)   # control socket paths are short
    s = make_server(session_dir, image_cache, name,
                    conf={"idle_timeout": 600, "proxy_listen": "off", "ssh_listen": "off"})
    yield s
    if not s.proc or s.proc.poll() is not None:
        s.start()
    stop_all(s)
    s.stop()


def counter_lines(s, jid):
    return [int(l["message"]) for l in s.logs(jid) if l["source"] == "stdout"
            and l["message"].isdigit()]


@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_daemon_restart_keeps_the_sandbox(rs, how):
    jid = rs.submit("i=0; while :; do echo $i; i=$((i+1)); sleep 0.1; done", name="web",
                    workspace_id="web", persistent=True, no_sync=True, no_sleep=True,
                    startup_command="sleep infinity")
    wait_status(rs, jid, ("running",))
    assert exec_(rs, "web", "echo kept > /root/k").json["exit_code"] == 0
    sup, init = state_pid(rs, jid)
    assert os.path.exists("/proc/%d" % init)
    assert wait_until(lambda: len(counter_lines(rs, jid)) > 5, 30)
    last = max(counter_lines(rs, jid))

    if how == "kill9":
        rs.proc.kill()
        rs.proc.wait(10)
    else:
        rs.stop(keep_sandboxes=True)
    time.sleep(1)
    assert os.path.exists("/proc/%d" % sup) and os.path.exists("/proc/%d" % init)
    rs.start()
    assert status(rs, jid)["status"] == "running"
    r = exec_(rs, "web", "cat /root/k")
    assert r.status == 200 and r.json["stdout"] == "kept\n", r
    assert state_pid(rs, jid) == (sup, init)
    # the log has no gap: the counter went on while no daemon ran (what
    # init wrote then is there), and goes on
    before = len(counter_lines(rs, jid))
    assert max(counter_lines(rs, jid)) > last + 1
    assert wait_until(lambda: len(counter_lines(rs, jid)) > before + 5, 30)
    seq = counter_lines(rs, jid)
    assert len(seq) > 10 and seq == list(range(seq[0], seq[0] + len(seq))), seq[-30:]
    # stop works on the re-attached sandbox
    r = rs.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)
    assert r.status == 200
    wait_status(rs, jid, ("stopped",))
    assert wait_until(lambda: not os.path.exists("/proc/%d" % sup), 15)


def test_ephemeral_jobs_still_end_with_the_daemon(rs):
    jid = rs.submit("sleep 1000")
    wait_status(rs, jid, ("running",))
    rs.stop(keep_sandboxes=True)
    rs.start()
    assert status(rs, jid)["status"] in ("stopped", "error")


def test_always_on_sandbox_that_vanished_is_started_again(rs):
    """A host restart (or a killed runtime) while no daemon ran: the
    always-on job is started again with its startup_command; another
    persistent job ends error with the reason."""
    jid = rs.submit("echo first >> /root/ups; sleep infinity", name="aon", workspace_id="aon",
                    persistent=True, no_sync=True, no_sleep=True,
                    startup_command="echo again >> /root/ups; sleep infinity")
    other = rs.submit("sleep infinity", name="plain", workspace_id="plain", persistent=True,
                      no_sync=True, startup_command="sleep infinity")
    wait_status(rs, jid, ("running",))
    wait_status(rs, other, ("running",))
    sups = [state_pid(rs, j)[0] for j in (jid, other)]
    rs.proc.kill()
    rs.proc.wait(10)
    for p in sups:
        os.kill(p, signal.SIGTERM)      # the sandboxes go, tearing down
    assert wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in sups), 15)
    rs.start()
    st = wait_status(rs, jid, ("running",))
    assert wait_until(lambda: exec_(rs, jid, "cat /root/ups").json.get("stdout") == "first\nagain\n",
                      10), exec_(rs, jid, "cat /root/ups").json
    st = status(rs, other)
    assert st["status"] == "error" and "lost" in st["error_message"], st


def test_a_proxied_request_wakes_a_sleeping_sandbox(session_dir, image_cache):
    from conftest import free_port
    import http.client
    s = make_server(session_dir, image_cache, "llproxy", conf={
        "idle_timeout": IDLE, "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "off", "proxy_connect_wait": "10"})
    try:
        port = int(s.conf["proxy_listen"].rsplit(":", 1)[1])
        server = ("mkdir -p /www && echo hello-$(cat /root/n 2>/dev/null || echo 0) > "
                  "/www/index.html && exec httpd -f -p 8080 -h /www")
        jid = s.submit(server, name="site", workspace_id="site", persistent=True,
                       no_sync=True, startup_command="echo 1 > /root/n; " + server)
        wait_status(s, jid, ("running",))
        r = s.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
        assert r.status == 200, r
        host = r.json["url"].split("//", 1)[1].rstrip("/")

        def get():
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
            c.request("GET", "/", headers={"Host": host})
            resp = c.getresponse()
            out = resp.status, resp.read()
            c.close()
            return out

        first = get()
        assert first == (200, b"hello-0\n"), first
        wait_status(s, jid, ("sleeping",), timeout=IDLE + 10)
        # the next visitor wakes it: startup_command runs, the page loads
        assert get() == (200, b"hello-1\n")
        assert status(s, jid)["status"] == "running"
    finally:
        s.stop()
