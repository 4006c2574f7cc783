"""Running scripts: output, exit codes, streams, environment, live output,
timeout, stop and the log cap."""
import json
import random
import subprocess
import time
import urllib.request

from conftest import MAGS, host_pids_with_cmdline, wait_until


def marker():
    """A sleep duration no other process on the host uses."""
    return str(random.randint(300000, 399999))


def test_hello_world_through_the_cli(srv):
    r = srv.mags("run", "echo Hello World")
    assert r.returncode == 0, r
    assert r.stdout == "Hello World\n"


def test_hello_world_through_the_api(srv):
    st, out, err, logs = srv.run("echo Hello World")
    assert st["status"] == "completed"
    assert st["exit_code"] == 0
    assert out == "Hello World\n"
    assert err == ""
    assert logs[0]["source"] == "stdout"
    assert isinstance(logs[0]["timestamp"], (str, int, float))
    for k in ("request_id", "name", "status", "exit_code", "error_message",
              "created_at", "started_at", "finished_at", "duration_ms"):
        assert k in st, k
    assert st["finished_at"] and st["started_at"] and st["created_at"]
    assert isinstance(st["duration_ms"], int) and st["duration_ms"] >= 0


def test_exit_code_is_reported_and_returned(srv):
    st, _, _, _ = srv.run("exit 3")
    assert st["exit_code"] == 3
    assert st["status"] != "running"
    r = srv.mags("run", "exit 3")
    assert r.returncode == 3, r
    r = srv.mags("run", "exit 0")
    assert r.returncode == 0, r


def test_stdout_and_stderr_stay_apart(srv):
    script = "echo out; echo err >&2; exit 3"
    r = srv.mags("run", script)
    assert r.returncode == 3, r
    assert r.stdout == "out\n"
    assert "err\n" in r.stderr
    assert "out" not in r.stderr
    st, out, err, logs = srv.run(script)
    assert out == "out\n"
    assert err == "err\n"
    assert [l["source"] for l in logs if l["source"] != "system"] == ["stdout", "stderr"]


def test_output_order_is_kept_across_streams(srv):
    _, _, _, logs = srv.run("echo 1; echo 2 >&2; sleep 0.1; echo 3; echo 4 >&2")
    msgs = [l["message"] for l in logs if l["source"] in ("stdout", "stderr")]
    assert msgs == ["1", "2", "3", "4"]


def test_environment_variables_reach_the_script(srv):
    env = {"FOO": "bar baz", "EMPTY": "", "QUOTE": "it's \"x\""}
    st, out, _, _ = srv.run(
        'echo "$FOO"; echo "[$EMPTY]"; echo "$QUOTE"; echo "$HOME"; pwd; id -u',
        environment=env)
    assert st["exit_code"] == 0, st
    assert out.splitlines() == ["bar baz", "[]", "it's \"x\"", "/root", "/root", "0"]


def test_script_runs_as_root_in_root_home(srv):
    _, out, _, _ = srv.run("id -u; id -g; pwd; echo $HOME; hostname")
    assert out.splitlines() == ["0", "0", "/root", "/root", "mags-vm"]


def test_lines_arrive_live_through_the_cli(srv):
    p = subprocess.Popen([str(MAGS), "run", "for i in 1 2 3; do echo $i; sleep 1; done"],
                         env=srv.cli_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, bufsize=1)
    got = []
    try:
        for line in p.stdout:
            got.append((time.monotonic(), line.rstrip("\n")))
        rc = p.wait(30)
    finally:
        if p.poll() is None:
            p.kill()
    assert rc == 0, p.stderr.read()
    assert [l for _, l in got] == ["1", "2", "3"]
    gaps = [got[i + 1][0] - got[i][0] for i in range(2)]
    for g in gaps:
        assert 0.6 < g < 1.6, "lines should arrive ~1 s apart, gaps were %r" % gaps


def test_follow_streams_ndjson_live(srv):
    jid = srv.submit("for i in 1 2 3; do echo $i; sleep 1; done; echo bye >&2")
    req = urllib.request.Request(srv.url + "/api/v1/mags-jobs/%s/logs?follow=1" % jid,
                                 headers={"Authorization": "Bearer " + srv.tokens["alice"]})
    got = []
    with urllib.request.urlopen(req, timeout=30) as r:
        assert r.status == 200
        while True:
            line = r.readline()
            if not line:
                break
            if not line.strip():
                continue
            got.append((time.monotonic(), json.loads(line)))
    out = [(t, o["message"]) for t, o in got if o.get("source") == "stdout"]
    assert [m for _, m in out] == ["1", "2", "3"]
    assert 0.6 < out[1][0] - out[0][0] < 1.6
    assert 0.6 < out[2][0] - out[1][0] < 1.6
    assert any(o.get("source") == "stderr" and o["message"] == "bye" for _, o in got)
    end = got[-1][1]
    assert end.get("event") == "end", got[-1]
    assert end["status"] == "completed"
    assert end["exit_code"] == 0


def test_follow_on_a_finished_job_replays_and_ends(srv):
    st, _, _, _ = srv.run("echo done")
    req = urllib.request.Request(
        srv.url + "/api/v1/mags-jobs/%s/logs?follow=1" % st["request_id"],
        headers={"Authorization": "Bearer " + srv.tokens["alice"]})
    with urllib.request.urlopen(req, timeout=10) as r:
        lines = [json.loads(l) for l in r.read().splitlines() if l.strip()]
    assert lines[0]["message"] == "done"
    assert lines[-1]["event"] == "end"


def test_timeout_kills_everything_and_says_so(srv):
    bg, fg = marker(), marker()
    t0 = time.time()
    jid = srv.submit("(sleep %s &); sleep %s" % (bg, fg), timeout=3)
    assert wait_until(lambda: host_pids_with_cmdline("sleep", bg), 3), \
        "the double-forked sleep never ran"
    st = srv.wait(jid, timeout=20)
    assert st["status"] == "error", st
    assert "timed out" in (st["error_message"] or "").lower(), st
    assert time.time() - t0 < 12
    gone = wait_until(lambda: not host_pids_with_cmdline("sleep", bg)
                      and not host_pids_with_cmdline("sleep", fg), 5)
    assert gone, "sleep processes outlived the timeout"


def test_what_a_finished_script_left_running_is_killed(srv):
    """The script ends while a double-forked child (now init's) still
    holds its stdout: the job completes at once, and the child is gone.
    Init skips the kill only when it has no child left at all."""
    bg = marker()
    t0 = time.time()
    st, out, _, _ = srv.run("(sleep %s &); echo done" % bg, timeout=60)
    assert st["status"] == "completed" and out == "done\n", (st, out)
    assert time.time() - t0 < 15, "the job waited for its background child"
    assert wait_until(lambda: not host_pids_with_cmdline("sleep", bg), 5), \
        "the background sleep outlived its job"


def test_stop_ends_a_running_job(srv):
    bg, fg = marker(), marker()
    jid = srv.submit("echo started; (sleep %s &); sleep %s" % (bg, fg))
    srv.wait(jid, timeout=10, states=("running",))
    assert wait_until(lambda: host_pids_with_cmdline("sleep", bg)
                      and host_pids_with_cmdline("sleep", fg), 5)
    r = srv.api("POST", "/mags-jobs/%s/stop" % jid)
    assert r.status == 200, r
    st = srv.wait(jid, timeout=10)
    assert st["status"] == "stopped", st
    assert st["finished_at"]
    assert wait_until(lambda: not host_pids_with_cmdline("sleep", bg)
                      and not host_pids_with_cmdline("sleep", fg), 5), \
        "processes outlived stop"
    # Stopping a finished job is a no-op that still answers with the job.
    r = srv.api("POST", "/mags-jobs/%s/stop" % jid)
    assert r.status == 200, r
    assert r.json["status"] == "stopped"
    assert "started" in [l["message"] for l in srv.logs(jid)]


def test_default_timeout_is_not_tiny(srv):
    st, out, _, _ = srv.run("sleep 2; echo ok", timeout=30)
    assert st["status"] == "completed" and out == "ok\n", st


def test_log_is_capped_with_a_marker(small_log_srv):
    s = small_log_srv
    line = "x" * 100
    st, out, _, logs = s.run(
        'i=0; while [ $i -lt 3000 ]; do echo "%s $i"; i=$((i+1)); done; echo end >&2' % line,
        timeout=60)
    assert st["status"] in ("completed", "error"), st
    total = sum(len(l["message"]) + 1 for l in logs)
    assert total <= 65536, total
    assert total > 30000, "log is much smaller than its cap: %d" % total
    last = logs[-1]
    assert last["source"] == "system", last
    assert "truncated" in last["message"], last
    assert "end" not in [l["message"] for l in logs if l["source"] == "stderr"]
    # On disk too.
    path = s.data_dir / "jobs" / st["request_id"] / "log"
    if path.exists():
        assert path.stat().st_size <= 65536 + 256
    # Below the cap nothing is marked.
    st, out, _, logs = s.run("echo small")
    assert [l["message"] for l in logs] == ["small"]
