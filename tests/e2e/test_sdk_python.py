"""The Python SDK (sdk/python, import ``mags``).

Against the real server (the ``srv`` fixture): run/run_and_wait, status,
logs, streaming, list_jobs, find_job, stop, errors and credential lookup,
plus the integration patterns of the original INTEGRATION.md that need only
what the server serves today.

Sandboxes and the rest (new, exec, exec_stream, url, enable_access,
update_job, sync, resize, upload_file(s), workspaces, URL aliases, cron,
usage) run against a second real server with its HTTP proxy and SSH
gateway on free ports (``wsrv``), with the INTEGRATION.md patterns that
need them (dev environments, live preview, scheduled tasks).

Every method is also checked for the request it sends (method, path,
query, JSON or multipart body) against a small stdlib HTTP server on
loopback (``fake``).
"""
import email
import json
import os
import random
import shlex
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import ROOT, free_port, make_server

SDK_SRC = ROOT / "sdk" / "python" / "src"
sys.path.insert(0, str(SDK_SRC))

import mags  # noqa: E402
from mags import Mags, MagsError  # noqa: E402

assert Path(mags.__file__).resolve().is_relative_to(SDK_SRC.resolve()), mags.__file__

NO_JOB = "00000000-0000-4000-8000-000000000000"


def uniq(prefix):
    return "%s-%d-%d" % (prefix, os.getpid(), random.randint(0, 10 ** 9))


@pytest.fixture
def env(monkeypatch, tmp_path):
    """No MAGS_* variables and an empty HOME (no ~/.mags/config.json)."""
    for k in list(os.environ):
        if k.startswith("MAGS_"):
            monkeypatch.delenv(k)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def m(srv, env):
    return Mags(api_token=srv.tokens["alice"], api_url=srv.url)


def write_config(home, **cfg):
    d = home / ".mags"
    d.mkdir(exist_ok=True)
    (d / "config.json").write_text(json.dumps(cfg))
    os.chmod(d / "config.json", 0o600)


def stdout_of(result):
    return [l["message"] for l in result["logs"] if l["source"] == "stdout"]


# ---- packaging --------------------------------------------------------------

def test_pip_install_without_network(tmp_path):
    """pip install --no-build-isolation works offline with Debian's setuptools,
    and the installed package is the import package ``mags``."""
    src = tmp_path / "src"
    subprocess.run(["cp", "-r", str(ROOT / "sdk" / "python"), str(src)], check=True)
    target = tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                        "--no-index", "--no-deps", "--target", str(target), str(src)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert list(target.glob("magpie_mags-*.dist-info")), list(target.iterdir())
    r = subprocess.run([sys.executable, "-c",
                        "import mags; from mags import Mags, MagsError; print(mags.__file__)"],
                       env={"PYTHONPATH": str(target), "PATH": os.environ["PATH"]},
                       capture_output=True, text=True, cwd=str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(target / "mags" / "__init__.py")
    assert (target / "mags" / "py.typed").exists()


def test_standard_library_only():
    """The SDK imports nothing outside the standard library."""
    code = ("import sys; sys.path.insert(0, %r); import mags; "
            "mods = {m.split('.')[0] for m in sys.modules}; "
            "std = set(sys.stdlib_module_names) | set(sys.builtin_module_names); "
            "print(sorted(m for m in mods - std if not m.startswith('_') and m != 'mags'))"
            % str(SDK_SRC))
    r = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"


def test_source_parses_as_python_3_8():
    import ast
    for f in (SDK_SRC / "mags").glob("*.py"):
        ast.parse(f.read_text(), str(f), feature_version=(3, 8))


def old_pythons():
    """Interpreters older than the one running the tests, if the machine has
    them (python3.8 on PATH, or pyenv's)."""
    import glob
    import shutil
    found = {}
    for v in ("3.8", "3.9"):
        cands = sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/%s*/bin/python%s"
                                                    % (v, v)))) + [shutil.which("python" + v)]
        for c in cands:
            # (pyenv's shims are no interpreter unless that version is selected)
            if c and "/shims/" not in c and os.access(c, os.X_OK):
                found[v] = c
                break
    return found


def test_runs_on_older_pythons(srv, env):
    """Under Python 3.8 (and 3.9) where installed: import, run_and_wait, a
    MagsError. (The AST check above covers 3.8 syntax everywhere.)"""
    code = textwrap.dedent("""
        import sys
        sys.path.insert(0, %r)
        from mags import Mags, MagsError
        m = Mags(api_token=%r, api_url=%r)
        r = m.run_and_wait("echo old-python; exit 2", timeout=60)
        try:
            m.status("00000000-0000-4000-8000-000000000000")
        except MagsError as e:
            code = e.status_code
        print(sys.version_info[:2], r["exit_code"], r["logs"][0]["message"], code)
    """) % (str(SDK_SRC), srv.tokens["alice"], srv.url)
    for v, exe in old_pythons().items():
        r = subprocess.run([exe, "-c", code], capture_output=True, text=True, timeout=120,
                           env={"PATH": os.environ["PATH"], "HOME": str(env)})
        assert r.returncode == 0, (exe, r.stderr)
        assert r.stdout.split(")", 1)[1].split() == ["2", "old-python", "404"], r.stdout


# ---- against the real server -----------------------------------------------

def test_run_returns_the_api_answer(m, srv):
    job = m.run("echo submitted")
    assert job["status"] == "accepted"
    assert isinstance(job["request_id"], str) and job["request_id"]
    st = srv.wait(job["request_id"])
    assert st["status"] == "completed"


def test_run_and_wait_output_and_exit_code(m):
    result = m.run_and_wait("echo hello; echo oops >&2; echo world; exit 3", timeout=60)
    assert result["status"] == "completed"
    assert result["exit_code"] == 3
    assert stdout_of(result) == ["hello", "world"]
    assert [l["message"] for l in result["logs"] if l["source"] == "stderr"] == ["oops"]
    assert isinstance(result["duration_ms"], int) and result["duration_ms"] >= 0
    assert result["request_id"]
    for log in result["logs"]:
        assert set(log) >= {"message", "source", "timestamp"}


def test_run_and_wait_is_the_status_dict_plus_logs(m, srv):
    result = m.run_and_wait("echo same", timeout=60)
    rid = result["request_id"]
    raw = srv.status(rid)
    logs = result.pop("logs")
    assert result == raw
    assert logs == srv.logs(rid)


def test_status_and_logs_are_the_api_json(m, srv):
    job = m.run("echo a; echo b >&2", name="sdk-status")
    srv.wait(job["request_id"])
    st = m.status(job["request_id"])
    assert st == srv.status(job["request_id"])
    for k in ("request_id", "name", "workspace_id", "status", "exit_code", "error_message",
              "created_at", "started_at", "finished_at", "duration_ms"):
        assert k in st, k
    assert st["name"] == "sdk-status"
    assert st["exit_code"] == 0
    assert m.logs(job["request_id"]) == {"logs": srv.logs(job["request_id"])}


def test_environment_reaches_the_script(m):
    result = m.run_and_wait('echo "$GREETING, $WHO"', environment={"GREETING": "hi", "WHO": "sdk"},
                            timeout=60)
    assert stdout_of(result) == ["hi, sdk"]


def test_job_timeout_ends_the_job(m):
    result = m.run_and_wait("sleep 30", job_timeout=1, timeout=30)
    assert result["status"] == "error"
    assert "timed out" in result["error_message"]


def test_run_and_wait_timeout_raises_and_stops_the_job(m, srv):
    with pytest.raises(MagsError) as ei:
        m.run_and_wait("sleep 60", timeout=0.5, poll_interval=0.1)
    e = ei.value
    assert e.status_code is None
    assert e.request_id
    assert "still" in str(e)
    st = srv.wait(e.request_id, timeout=15)
    assert st["status"] == "stopped"


def test_run_stream_yields_lines_as_they_come(m):
    script = "for i in 1 2 3 4; do echo line$i; sleep 0.3; done; echo bad >&2; exit 4"
    seen = []
    with m.run_stream(script) as stream:
        assert stream.request_id
        for log in stream:
            seen.append((time.monotonic(), log))
    msgs = [(l["source"], l["message"]) for _, l in seen if l["source"] != "system"]
    assert msgs == [("stdout", "line1"), ("stdout", "line2"), ("stdout", "line3"),
                    ("stdout", "line4"), ("stderr", "bad")]
    # Live, not all at the end: the first line came well before the last.
    assert seen[-1][0] - seen[0][0] > 0.6
    assert stream.status == "completed"
    assert stream.exit_code == 4
    assert stream.end["event"] == "end"
    assert m.logs(stream.request_id)["logs"] == [l for _, l in seen]


def test_stream_logs_of_a_finished_job(m, srv):
    job = m.run("echo one; echo two")
    srv.wait(job["request_id"])
    stream = m.stream_logs(job["request_id"])
    assert [l["message"] for l in stream] == ["one", "two"]
    assert stream.exit_code == 0


def test_stream_logs_of_a_missing_job_is_404(m):
    with pytest.raises(MagsError) as ei:
        list(m.stream_logs(NO_JOB))
    assert ei.value.status_code == 404


def test_list_jobs(m, srv):
    name = uniq("sdk-list")
    rid = m.run("true", name=name)["request_id"]
    srv.wait(rid)
    res = m.list_jobs()
    assert set(res) >= {"jobs", "page", "page_size", "total"}
    assert rid in [j["request_id"] for j in res["jobs"]]
    raw = srv.api("GET", "/mags-jobs").json
    assert [j["request_id"] for j in res["jobs"]] == [j["request_id"] for j in raw["jobs"]]
    assert res["jobs"][0].keys() == raw["jobs"][0].keys()
    one = m.list_jobs(page=1, page_size=1)
    assert one["page_size"] == 1 and len(one["jobs"]) == 1
    assert one["jobs"][0]["request_id"] == res["jobs"][0]["request_id"]


def test_find_job_stop_by_name(m, srv):
    name = uniq("sdk-stop")
    rid = m.run("sleep 60", name=name)["request_id"]
    try:
        srv.wait(rid, timeout=15, states=("running",))
        found = m.find_job(name)
        assert found is not None and found["request_id"] == rid
        assert found["status"] == "running"
        assert m.find_job(rid)["request_id"] == rid
        stopped = m.stop(name)
        assert stopped["request_id"] == rid
        assert stopped["status"] == "stopped"
        assert m.status(rid)["status"] == "stopped"
        # A stopped job is no longer found by name, but still by ID.
        assert m.find_job(name) is None
        assert m.find_job(rid)["status"] == "stopped"
        # Like the CLI, stop by name falls back to the newest job of that
        # name: stopping a stopped job is a no-op.
        assert m.stop(name)["status"] == "stopped"
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % rid)


def test_stop_by_id(m, srv):
    rid = m.run("sleep 60")["request_id"]
    srv.wait(rid, timeout=15, states=("running",))
    assert m.stop(rid)["status"] == "stopped"


def test_find_job_unknown_is_none_and_stop_unknown_is_404(m):
    assert m.find_job(uniq("no-such-job")) is None
    assert m.find_job(NO_JOB) is None
    with pytest.raises(MagsError) as ei:
        m.stop(uniq("no-such-job"))
    assert ei.value.status_code == 404


def test_errors_401(srv, env):
    bad = Mags(api_token="not-a-token", api_url=srv.url)
    with pytest.raises(MagsError) as ei:
        bad.run("true")
    assert ei.value.status_code == 401
    assert str(ei.value) == "invalid API token"
    assert ei.value.code == "unauthorized"
    with pytest.raises(MagsError) as ei:
        bad.list_jobs()
    assert ei.value.status_code == 401


def test_errors_404(m, srv):
    for call in (lambda: m.status(NO_JOB), lambda: m.logs(NO_JOB)):
        with pytest.raises(MagsError) as ei:
            call()
        assert ei.value.status_code == 404
        assert ei.value.code == "not_found"
    # Another user's job is 404 too.
    rid = m.run("true")["request_id"]
    bob = Mags(api_token=srv.tokens["bob"], api_url=srv.url)
    with pytest.raises(MagsError) as ei:
        bob.status(rid)
    assert ei.value.status_code == 404
    assert bob.find_job(rid) is None


def test_errors_400_and_unreachable(m, srv, env):
    with pytest.raises(MagsError) as ei:
        m.run("")
    assert ei.value.status_code == 400
    with pytest.raises(MagsError) as ei:
        m.run("#" * (1400 * 1024))
    assert ei.value.status_code == 413
    assert ei.value.code == "too_large"
    dead = Mags(api_token="x", api_url="http://127.0.0.1:%d" % free_port(), timeout=5)
    with pytest.raises(MagsError) as ei:
        dead.status(NO_JOB)
    assert ei.value.status_code is None
    assert "cannot reach" in str(ei.value)


def test_whoami(m, srv):
    assert m.whoami()["user"] == "alice"


# ---- credentials (DECISIONS D6) ---------------------------------------------

def test_token_from_config_file(srv, env):
    write_config(env, api_token=srv.tokens["alice"], api_url=srv.url)
    m = Mags()
    assert m.api_url == srv.url
    assert m.whoami()["user"] == "alice"


def test_mags_token_beats_config(srv, env, monkeypatch):
    write_config(env, api_token=srv.tokens["alice"], api_url=srv.url)
    monkeypatch.setenv("MAGS_TOKEN", srv.tokens["bob"])
    assert Mags().whoami()["user"] == "bob"


def test_mags_api_token_beats_mags_token(srv, env, monkeypatch):
    write_config(env, api_token="from-config", api_url=srv.url)
    monkeypatch.setenv("MAGS_TOKEN", srv.tokens["bob"])
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])
    assert Mags().whoami()["user"] == "alice"


def test_argument_beats_environment(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])
    monkeypatch.setenv("MAGS_API_URL", "http://127.0.0.1:%d" % free_port())
    m = Mags(api_token=srv.tokens["bob"], api_url=srv.url)
    assert m.whoami()["user"] == "bob"


def test_mags_api_url_beats_config_url(srv, env, monkeypatch):
    write_config(env, api_token=srv.tokens["alice"],
                 api_url="http://127.0.0.1:%d" % free_port())
    monkeypatch.setenv("MAGS_API_URL", srv.url + "/api/v1/")
    m = Mags()
    assert m.api_url == srv.url
    assert m.whoami()["user"] == "alice"


def test_defaults_and_missing_token(env):
    with pytest.raises(MagsError) as ei:
        Mags()
    assert "token" in str(ei.value)
    assert Mags(api_token="t").api_url == "http://127.0.0.1:8420"
    assert Mags(api_token="t").timeout == 30


def test_bad_config_file_is_an_error(env, monkeypatch):
    (env / ".mags").mkdir()
    (env / ".mags" / "config.json").write_text("{not json")
    with pytest.raises(MagsError) as ei:
        Mags()
    assert "config.json" in str(ei.value)
    # The file is not read when the environment says everything.
    monkeypatch.setenv("MAGS_API_TOKEN", "t")
    monkeypatch.setenv("MAGS_API_URL", "http://127.0.0.1:1")
    assert Mags().api_token == "t"


# ---- integration patterns (INTEGRATION.md), as written ---------------------

def test_pattern_code_execution_sandbox(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_URL", srv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])

    m = Mags()

    def execute_user_code(language, code, timeout=30):
        runners = {
            "python": f"python3 -c {shlex.quote(code)}",
            "javascript": f"node -e {shlex.quote(code)}",
            "bash": code,
        }
        script = runners.get(language)
        if not script:
            return {"error": f"Unsupported language: {language}"}
        try:
            result = m.run_and_wait(script, timeout=timeout)
            return {
                "exit_code": result["exit_code"],
                "output": [log["message"] for log in result["logs"]
                           if log["source"] in ("stdout", "stderr")],
            }
        except MagsError as e:
            return {"error": str(e)}

    # busybox has no python3: the shell stands in for it.
    assert execute_user_code("bash", "echo $((4950))") == {"exit_code": 0, "output": ["4950"]}
    assert execute_user_code("cobol", "x") == {"error": "Unsupported language: cobol"}


def test_pattern_error_handling(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_URL", srv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])
    m = Mags()
    result = m.run_and_wait("echo to-stderr >&2; exit 1", timeout=10)
    assert result["exit_code"] == 1
    assert [l["message"] for l in result["logs"] if l["source"] == "stderr"] == ["to-stderr"]

    monkeypatch.setenv("MAGS_API_TOKEN", "revoked-or-wrong")
    m = Mags()
    try:
        m.run_and_wait("exit 1", timeout=10)
        raise AssertionError("no MagsError")
    except MagsError as e:
        assert f"Mags error: {e}" == "Mags error: invalid API token"
        assert e.status_code == 401


def test_pattern_fire_and_forget(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_URL", srv.url)
    monkeypatch.setenv("MAGS_TOKEN", srv.tokens["alice"])
    m = Mags()

    def submit_job(script, name=None):
        result = m.run(script, name=name)
        return result["request_id"]

    def check_job(request_id):
        status = m.status(request_id)
        if status["status"] in ("completed", "error"):
            logs = m.logs(request_id)
            return {**status, "logs": logs.get("logs", [])}
        return status

    job_id = submit_job("sleep 1 && echo done", name="background-task")
    result = check_job(job_id)
    assert result["status"] in ("accepted", "running")
    deadline = time.time() + 30
    while result["status"] not in ("completed", "error") and time.time() < deadline:
        time.sleep(0.2)
        result = check_job(job_id)
    assert result["status"] == "completed"
    assert [l["message"] for l in result["logs"]] == ["done"]
    assert result["name"] == "background-task"


def test_pattern_parallel_matrix_polling(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_URL", srv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])
    m = Mags()
    jobs = {}
    for version in ["18", "20", "22"]:
        script = f"echo testing node {version}; test {version} != 20"
        result = m.run(script, name=f"test-node-{version}")
        jobs[version] = result["request_id"]
    results = {}
    pending = set(jobs.keys())
    deadline = time.time() + 60
    while pending and time.time() < deadline:
        for version in list(pending):
            status = m.status(jobs[version])
            if status["status"] in ("completed", "error"):
                results[version] = {"passed": status.get("exit_code") == 0,
                                    "status": status["status"]}
                pending.discard(version)
        if pending:
            time.sleep(0.2)
    assert results == {"18": {"passed": True, "status": "completed"},
                       "20": {"passed": False, "status": "completed"},
                       "22": {"passed": True, "status": "completed"}}


def test_pattern_ci_step_shape(srv, env, monkeypatch):
    monkeypatch.setenv("MAGS_API_URL", srv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", srv.tokens["alice"])
    m = Mags()
    result = m.run_and_wait("echo step1; echo step2", workspace_id=None, timeout=300)
    out = {"passed": result["exit_code"] == 0, "duration_ms": result["duration_ms"],
           "output": [l["message"] for l in result["logs"] if l["source"] == "stdout"]}
    assert out["passed"] and out["output"] == ["step1", "step2"]
    assert isinstance(out["duration_ms"], int)


# ---- sandboxes, files, workspaces, aliases, cron, usage: a real server ------

@pytest.fixture(scope="module")
def wsrv(session_dir, image_cache):
    """A server of its own with the HTTP proxy and the SSH gateway on free
    ports (sandboxes here outlive their script; the shared one is kept
    free of them)."""
    pport = free_port()
    s = make_server(session_dir, image_cache, "sdk-py-ws", conf={
        "proxy_listen": "127.0.0.1:%d" % pport, "ssh_listen": "127.0.0.1:%d" % free_port()})
    s.proxy_port = pport
    yield s
    s.stop()


@pytest.fixture
def wm(wsrv, env):
    return Mags(api_token=wsrv.tokens["alice"], api_url=wsrv.url)


def proxy_get(srv, url, timeout=5):
    """GET a http://<sub>.localhost:<port>/ URL through the proxy on
    127.0.0.1 (the resolver here does not know *.localhost)."""
    import http.client
    from urllib.parse import urlsplit
    u = urlsplit(url)
    assert u.hostname.endswith(".localhost") and u.port == srv.proxy_port, url
    c = http.client.HTTPConnection("127.0.0.1", u.port, timeout=timeout)
    try:
        c.request("GET", u.path or "/", headers={"Host": u.netloc})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def proxy_wait(srv, url, want, timeout=10):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = proxy_get(srv, url)
            if last[0] == 200 and want in last[1]:
                return last
        except OSError as e:
            last = e
        time.sleep(0.1)
    raise AssertionError("%s: %r" % (url, last))


def test_new_exec_and_stop(wm, wsrv):
    name = uniq("sdk-new")
    vm = wm.new(name, poll_interval=0.1)
    try:
        assert vm["status"] == "running"
        assert vm["name"] == name and vm["workspace_id"] == name
        assert vm["persistent"] is True and vm["no_sync"] is True
        assert wsrv.status(name)["request_id"] == vm["request_id"]
        r = wm.exec(name, "echo hi; echo err >&2; exit 3")
        assert r["exit_code"] == 3
        assert (r["stdout"], r["stderr"]) == ("hi\n", "err\n")
        assert r["output"] == "hi\nerr\n"
        assert isinstance(r["duration_ms"], int)
        # State persists between execs; env and timeout reach the server.
        assert wm.exec(vm["request_id"], "echo kept > /root/f")["exit_code"] == 0
        r = wm.exec(name, 'cat /root/f; echo "$X"', env={"X": "from-env"}, timeout=5)
        assert (r["exit_code"], r["stdout"]) == (0, "kept\nfrom-env\n")
        t0 = time.monotonic()
        r = wm.exec(name, "sleep 20", timeout=1)
        assert time.monotonic() - t0 < 10
        assert (r["exit_code"], r.get("timed_out")) == (124, True), r
        # The streaming form: chunks as they come, then the exit code.
        seen = []
        with wm.exec_stream(name, "echo a; sleep 0.5; echo b >&2; exit 2", env={"Z": "1"}) as s:
            for chunk in s:
                seen.append((time.monotonic(), chunk))
        assert [c for _, c in seen] == [{"stream": "stdout", "data": "a\n"},
                                        {"stream": "stderr", "data": "b\n"}]
        assert seen[1][0] - seen[0][0] > 0.3
        assert s.exit_code == 2 and isinstance(s.result["duration_ms"], int)
        # find_job sees the sandbox by name.
        assert wm.find_job(name)["request_id"] == vm["request_id"]
    finally:
        stopped = wm.stop(name)
    assert stopped["status"] == "stopped"
    with pytest.raises(MagsError) as ei:   # no sandbox any more
        wm.exec(vm["request_id"], "true")
    assert ei.value.status_code == 409, ei.value
    with pytest.raises(MagsError) as ei:
        wm.exec(uniq("no-such-box"), "true")
    assert ei.value.status_code == 404


def test_new_of_another_users_name_is_theirs_alone(wm, wsrv):
    name = uniq("sdk-mine")
    vm = wm.new(name, poll_interval=0.1)
    try:
        bob = Mags(api_token=wsrv.tokens["bob"], api_url=wsrv.url)
        assert bob.find_job(name) is None
        with pytest.raises(MagsError) as ei:
            bob.exec(vm["request_id"], "true")
        assert ei.value.status_code == 404
    finally:
        wm.stop(vm["request_id"])


def test_update_job_url_and_ssh_access(wm, wsrv):
    import socket
    name = uniq("sdk-web")
    vm = wm.new(name, poll_interval=0.1)
    rid = vm["request_id"]
    try:
        job = wm.update_job(rid, no_sleep=True, startup_command="httpd -f -p 8080 -h /www")
        assert job["request_id"] == rid
        st = wm.status(rid)
        assert st.get("no_sleep") is True, st
        assert st.get("startup_command") == "httpd -f -p 8080 -h /www", st
        r = wm.exec(name, "mkdir -p /www && echo sdk-page > /www/index.html && "
                          "(httpd -f -p 8080 -h /www >/dev/null 2>&1 &) ; echo started")
        assert r["exit_code"] == 0, r
        access = wm.url(name, port=8080)
        assert access["port"] == 8080 and access["url"].startswith("http://")
        assert proxy_wait(wsrv, access["url"], b"sdk-page")[1] == b"sdk-page\n"
        same = wm.enable_access(rid, port=8080)
        assert same["url"] == access["url"]
        ssh = wm.enable_access(rid, port=22)
        assert ssh["ssh_host"] and isinstance(ssh["ssh_port"], int)
        assert "PRIVATE KEY" in ssh["ssh_private_key"]
        with socket.create_connection((ssh["ssh_host"], ssh["ssh_port"]), 5) as c:
            c.settimeout(5)
            assert c.recv(64).startswith(b"SSH-2.0-")
    finally:
        wm.stop(rid)
    with pytest.raises(MagsError) as ei:
        wm.update_job(NO_JOB, no_sleep=True)
    assert ei.value.status_code == 404


def test_persistent_sync_resize_and_workspaces(wm, wsrv):
    name = uniq("sdk-ws")
    vm = wm.new(name, persistent=True, poll_interval=0.1)
    assert vm["no_sync"] is False
    assert wm.exec(name, "echo keep-me > /root/keep.txt")["exit_code"] == 0
    synced = wm.sync(vm["request_id"])
    assert synced["status"] == "synced" and synced["request_id"] == vm["request_id"]
    assert synced["snapshot"] and synced["synced_at"]
    ws = {w["workspace_id"]: w for w in wm.list_workspaces()["workspaces"]}
    assert ws[name]["persistent"] is True and ws[name]["job_count"] >= 1
    assert ws[name]["last_synced_at"]
    # resize: stops the sandbox, starts a new one on the same workspace.
    big = wm.resize(name, 3, poll_interval=0.1)
    assert big["status"] == "running" and big["request_id"] != vm["request_id"]
    assert wm.status(vm["request_id"])["status"] == "stopped"
    assert wm.exec(name, "cat /root/keep.txt")["stdout"] == "keep-me\n"
    ws = {w["workspace_id"]: w for w in wm.list_workspaces()["workspaces"]}
    assert ws[name]["disk_gb"] == 3, ws[name]
    size = wm.exec(name, "df -k /root | tail -1")["stdout"].split()[1]
    assert int(size) > 2.5 * 1024 * 1024, size
    with pytest.raises(MagsError) as ei:   # in use
        wm.delete_workspace(name)
    assert ei.value.status_code == 409
    wm.stop(name)
    assert wm.delete_workspace(name) == {"workspace_id": name, "deleted": True}
    assert name not in [w["workspace_id"] for w in wm.list_workspaces()["workspaces"]]
    with pytest.raises(MagsError) as ei:
        wm.delete_workspace(name)
    assert ei.value.status_code == 404


def test_upload_files_reach_the_job(wm, tmp_path):
    a = tmp_path / "data.csv"
    a.write_text("a,b\n1,2\n")
    b = tmp_path / "blob.bin"
    b.write_bytes(bytes(range(256)) * 4096)
    fid = wm.upload_file(str(a))
    assert isinstance(fid, str) and fid
    ids = wm.upload_files([str(a), str(b)])
    assert len(ids) == 2 and all(isinstance(i, str) for i in ids) and len(set(ids + [fid])) == 3
    r = wm.run_and_wait("cat /root/data.csv; wc -c < /root/blob.bin; md5sum /root/blob.bin",
                        file_ids=ids, timeout=30)
    import hashlib
    assert r["exit_code"] == 0, r
    out = stdout_of(r)
    assert out[:2] == ["a,b", "1,2"]
    assert out[2].strip() == str(256 * 4096)
    assert out[3].split()[0] == hashlib.md5(b.read_bytes()).hexdigest()
    # A missing local file is the OS's error, not an API one.
    with pytest.raises(FileNotFoundError):
        wm.upload_file(str(tmp_path / "missing"))


def test_url_aliases(wm, wsrv):
    ws = uniq("sdk-al")
    sub = ("al%d" % random.randint(0, 10 ** 9))
    vm = wm.new(ws, poll_interval=0.1)
    try:
        wm.exec(ws, "mkdir -p /www && echo via-alias > /www/index.html && "
                    "(httpd -f -p 8080 -h /www >/dev/null 2>&1 &)")
        a = wm.url_alias_create(sub, ws)
        assert (a["subdomain"], a["workspace_id"]) == (sub, ws)
        assert a["url"].startswith("http://%s." % sub)
        assert a in wm.url_alias_list()["aliases"]
        assert proxy_wait(wsrv, a["url"], b"via-alias")[1] == b"via-alias\n"
        with pytest.raises(MagsError) as ei:
            wm.url_alias_create(sub, ws)
        assert ei.value.status_code == 409
        bob = Mags(api_token=wsrv.tokens["bob"], api_url=wsrv.url)
        assert sub not in [x["subdomain"] for x in bob.url_alias_list()["aliases"]]
        wm.url_alias_delete(sub)
        assert sub not in [x["subdomain"] for x in wm.url_alias_list()["aliases"]]
        with pytest.raises(MagsError) as ei:
            wm.url_alias_delete(sub)
        assert ei.value.status_code == 404
    finally:
        wm.stop(vm["request_id"])


def test_cron_round_trip(wm, wsrv):
    cron = wm.cron_create(name=uniq("sdk-cron"), cron_expression="*/5 * * * *",
                          script="echo tick")
    cid = cron["id"]
    assert cron["enabled"] is True and cron["cron_expression"] == "*/5 * * * *"
    assert cron["next_run_at"]
    assert cid in [c["id"] for c in wm.cron_list()["cron_jobs"]]
    off = wm.cron_update(cid, enabled=False)
    assert off["enabled"] is False and off["id"] == cid
    assert wm.cron_get(cid)["enabled"] is False
    bob = Mags(api_token=wsrv.tokens["bob"], api_url=wsrv.url)
    with pytest.raises(MagsError) as ei:
        bob.cron_get(cid)
    assert ei.value.status_code == 404
    with pytest.raises(MagsError) as ei:
        wm.cron_create(name="bad", cron_expression="not a cron", script="true")
    assert ei.value.status_code == 400
    wm.cron_delete(cid)
    assert cid not in [c["id"] for c in wm.cron_list()["cron_jobs"]]
    with pytest.raises(MagsError) as ei:
        wm.cron_delete(cid)
    assert ei.value.status_code == 404


def test_usage(wm):
    before = wm.usage(window_days=7)
    assert before["window_days"] == 7
    assert isinstance(before["total_jobs"], int)
    assert isinstance(before["vm_seconds"], (int, float))
    wm.run_and_wait("sleep 0.3", timeout=30)
    after = wm.usage(window_days=7)
    assert after["total_jobs"] == before["total_jobs"] + 1
    assert after["vm_seconds"] >= before["vm_seconds"] + 0.2
    assert wm.usage()["window_days"] == 30


def test_pattern_dev_environment(wsrv, env, monkeypatch):
    """Pattern 4 as written; busybox has no apk: the shell stands in for
    the template commands."""
    import socket
    monkeypatch.setenv("MAGS_API_URL", wsrv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", wsrv.tokens["alice"])
    m = Mags()

    def create_dev_environment(user_id, template="python"):
        templates = {
            "python": "mkdir -p /root/proj && echo py > /root/proj/tool && sleep 3600",
            "node": "mkdir -p /root/proj && echo node > /root/proj/tool && sleep 3600",
        }
        workspace_id = f"dev-{user_id}"
        setup_script = templates.get(template, templates["python"])
        job = m.run(
            setup_script,
            workspace_id=workspace_id,
            persistent=True,
            startup_command=templates[template].split("&&")[-1].strip(),
        )
        request_id = job["request_id"]
        for _ in range(30):
            status = m.status(request_id)
            if status["status"] == "running":
                break
            time.sleep(1)
        ssh = m.enable_access(request_id, port=22)
        return {
            "request_id": request_id,
            "workspace_id": workspace_id,
            "ssh_host": ssh["ssh_host"],
            "ssh_port": ssh["ssh_port"],
            "ssh_command": (
                f"ssh -p {ssh['ssh_port']} "
                f"-o StrictHostKeyChecking=no "
                f"root@{ssh['ssh_host']}"
            ),
        }

    user = "u%d" % random.randint(0, 10 ** 9)
    dev = create_dev_environment(user, "node")
    try:
        assert dev["workspace_id"] == "dev-" + user
        assert dev["ssh_command"] == "ssh -p %d -o StrictHostKeyChecking=no root@%s" % (
            dev["ssh_port"], dev["ssh_host"])
        with socket.create_connection((dev["ssh_host"], dev["ssh_port"]), 5) as c:
            c.settimeout(5)
            assert c.recv(64).startswith(b"SSH-2.0-")
        out = wait_exec(m, dev["workspace_id"], "cat /root/proj/tool", "node\n")
        assert out == "node\n"
        assert m.status(dev["request_id"])["status"] == "running"
    finally:
        m.stop(dev["request_id"])
    ws = [w["workspace_id"] for w in m.list_workspaces()["workspaces"]]
    assert dev["workspace_id"] in ws
    m.delete_workspace(dev["workspace_id"])


def wait_exec(m, who, cmd, want, timeout=10):
    deadline = time.time() + timeout
    while True:
        out = m.exec(who, cmd)["stdout"]
        if out == want or time.time() > deadline:
            return out
        time.sleep(0.1)


def test_pattern_live_preview(wsrv, env, monkeypatch):
    """Pattern 7 as written, busybox httpd standing in for python3's."""
    monkeypatch.setenv("MAGS_API_URL", wsrv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", wsrv.tokens["alice"])
    m = Mags()

    def deploy_preview(user_id, html_content):
        script = f"""
mkdir -p /root/site
cat > /root/site/index.html << 'HTMLEOF'
{html_content}
HTMLEOF
cd /root/site && httpd -f -p 8080
"""
        job = m.run(
            script,
            workspace_id=f"preview-{user_id}",
            persistent=True,
            startup_command="cd /root/site && httpd -f -p 8080",
        )
        for _ in range(15):
            status = m.status(job["request_id"])
            if status["status"] == "running":
                break
            time.sleep(1)
        access = m.enable_access(job["request_id"], port=8080)
        return {
            "request_id": job["request_id"],
            "url": access.get("url"),
            "status": "live",
        }

    user = "u%d" % random.randint(0, 10 ** 9)
    preview = deploy_preview(user, "<h1>My App</h1>")
    try:
        assert preview["status"] == "live"
        assert preview["url"].startswith("http://") and ".localhost:" in preview["url"]
        assert proxy_wait(wsrv, preview["url"], b"My App")[1] == b"<h1>My App</h1>\n"
    finally:
        m.stop(preview["request_id"])
    m.delete_workspace("preview-" + user)


def test_pattern_agent_tool_use_with_a_workspace(wsrv, env, monkeypatch, tmp_path):
    """Pattern 2 as written: agent_tool_execute and the multi-turn
    AgentSandbox (files persist between calls on the workspace;
    upload_and_run). The shell stands in for pip/python3."""
    monkeypatch.setenv("MAGS_API_URL", wsrv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", wsrv.tokens["alice"])
    m = Mags()

    def agent_tool_execute(code, workspace_id="agent-workspace"):
        result = m.run_and_wait(
            code,
            workspace_id=workspace_id,
            timeout=60,
        )
        stdout = "\n".join(log["message"] for log in result["logs"] if log["source"] == "stdout")
        stderr = "\n".join(log["message"] for log in result["logs"] if log["source"] == "stderr")
        return {
            "success": result["exit_code"] == 0,
            "stdout": stdout,
            "stderr": stderr,
        }

    class AgentSandbox:
        def __init__(self, session_id):
            self.m = Mags()
            self.workspace_id = f"agent-{session_id}"

        def execute(self, code):
            return self.m.run_and_wait(
                code,
                workspace_id=self.workspace_id,
                timeout=60,
            )

        def upload_and_run(self, file_path, command):
            file_ids = self.m.upload_files([file_path])
            return self.m.run_and_wait(
                command,
                workspace_id=self.workspace_id,
                file_ids=file_ids,
                timeout=60,
            )

    tool_ws = uniq("agent-workspace")
    assert agent_tool_execute("echo out; echo err >&2", tool_ws) == {
        "success": True, "stdout": "out", "stderr": "err"}
    assert agent_tool_execute("echo 1.0 > /root/pkg; false", tool_ws)["success"] is False
    assert agent_tool_execute("cat /root/pkg", tool_ws) == {
        "success": True, "stdout": "1.0", "stderr": ""}

    session = "user-%d-conv-456" % random.randint(0, 10 ** 9)
    sandbox = AgentSandbox(session_id=session)
    sandbox.execute("mkdir -p /root/lib && echo 3.8.0 > /root/lib/matplotlib")
    r = sandbox.execute("cat /root/lib/matplotlib")
    assert r["exit_code"] == 0 and stdout_of(r) == ["3.8.0"]
    data = tmp_path / "input.csv"
    data.write_text("x,y\n1,2\n3,4\n")
    r = sandbox.upload_and_run(str(data), "wc -l < /root/input.csv; cat /root/lib/matplotlib")
    assert r["exit_code"] == 0 and [s.strip() for s in stdout_of(r)] == ["3", "3.8.0"]
    for ws in (tool_ws, "agent-" + session):
        m.delete_workspace(ws)


def test_pattern_background_job_in_a_workspace(wsrv, env, monkeypatch):
    """Pattern 3's run_data_pipeline shape: run_and_wait on a named
    workspace keeps what the previous run left there."""
    monkeypatch.setenv("MAGS_API_URL", wsrv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", wsrv.tokens["alice"])
    m = Mags()
    workspace_id = uniq("etl-pipeline")

    def run_data_pipeline(line, workspace_id=workspace_id):
        script = f"""
echo '{line}' >> /root/data.db
cat /root/data.db
"""
        return m.run_and_wait(script, workspace_id=workspace_id, timeout=120)

    assert stdout_of(run_data_pipeline("row1")) == ["row1"]
    r = run_data_pipeline("row2")
    assert r["exit_code"] == 0 and stdout_of(r) == ["row1", "row2"]
    assert r["workspace_id"] == workspace_id
    m.delete_workspace(workspace_id)


def test_pattern_scheduled_tasks(wsrv, env, monkeypatch):
    """Pattern 6 as written, against the server."""
    monkeypatch.setenv("MAGS_API_URL", wsrv.url)
    monkeypatch.setenv("MAGS_API_TOKEN", wsrv.tokens["alice"])
    m = Mags()
    cron = m.cron_create(
        name="health-check",
        cron_expression="*/5 * * * *",
        script='curl -sf https://myapp.com/health || echo "ALERT: health check failed"',
    )
    backup = m.cron_create(
        name="db-backup",
        cron_expression="0 2 * * *",
        script="pg_dump $DATABASE_URL | gzip > /root/backup-$(date +%F).sql.gz",
        workspace_id="backups",
    )
    try:
        crons = m.cron_list()
        lines = [f"{job['name']}: {job['cron_expression']} (enabled={job['enabled']})"
                 for job in crons.get("cron_jobs", []) if job["id"] in (cron["id"], backup["id"])]
        assert sorted(lines) == ["db-backup: 0 2 * * * (enabled=True)",
                                 "health-check: */5 * * * * (enabled=True)"]
        assert backup["workspace_id"] == "backups"
        m.cron_update(cron["id"], enabled=False)
        assert m.cron_get(cron["id"])["enabled"] is False
    finally:
        m.cron_delete(cron["id"])
        m.cron_delete(backup["id"])


# ---- request shapes, against a local fake server ---------------------------

class Fake:
    """A stdlib HTTP server on loopback that records requests and answers
    from a table of (method, path) -> (status, JSON)."""

    def __init__(self):
        self.requests = []
        self.routes = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                path, _, query = self.path.partition("?")
                rec = {"method": self.command, "path": path, "query": query,
                       "headers": {k.lower(): v for k, v in self.headers.items()},
                       "raw": body, "json": None}
                if body and "json" in (self.headers.get("Content-Type") or ""):
                    rec["json"] = json.loads(body)
                fake.requests.append(rec)
                status, answer, ctype = fake.routes.get((self.command, path),
                                                        (200, {"ok": True}, "application/json"))
                if isinstance(answer, bytes):
                    data = answer
                else:
                    data = json.dumps(answer).encode() if answer is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def route(self, method, path, answer, status=200, ctype="application/json"):
        self.routes[(method, "/api/v1" + path)] = (status, answer, ctype)

    def last(self):
        return self.requests[-1]

    def calls(self):
        return [(r["method"], r["path"]) for r in self.requests]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake(env):
    f = Fake()
    yield f
    f.close()


@pytest.fixture
def fm(fake):
    return Mags(api_token="tok-123", api_url=fake.url)


RUNNING = {"request_id": "job-1", "name": "box", "workspace_id": "box", "status": "running"}


def test_shape_auth_header_and_run_payload(fake, fm):
    fake.route("POST", "/mags-jobs", {"request_id": "job-1", "status": "accepted"})
    assert fm.run("echo hi") == {"request_id": "job-1", "status": "accepted"}
    r = fake.last()
    assert (r["method"], r["path"]) == ("POST", "/api/v1/mags-jobs")
    assert r["headers"]["authorization"] == "Bearer tok-123"
    assert r["headers"]["content-type"] == "application/json"
    assert r["json"] == {"script": "echo hi", "type": "inline"}
    fm.run("s", name="n", workspace_id="ws", base_workspace_id="base", persistent=True,
           no_sleep=True, startup_command="serve", environment={"A": "1"}, file_ids=["f1"],
           disk_gb=5, no_sync=True, job_timeout=60)
    assert fake.last()["json"] == {
        "script": "s", "type": "inline", "name": "n", "workspace_id": "ws",
        "base_workspace_id": "base", "persistent": True, "no_sleep": True,
        "startup_command": "serve", "environment": {"A": "1"}, "file_ids": ["f1"],
        "disk_gb": 5, "no_sync": True, "timeout": 60}
    fm.run("s", workspace_id="ws", ephemeral=True)
    assert fake.last()["json"] == {"script": "s", "type": "inline", "ephemeral": True}


def test_shape_new_polls_until_running(fake, fm):
    fake.route("POST", "/mags-jobs", {"request_id": "job-1", "status": "accepted"})
    fake.route("GET", "/mags-jobs/job-1/status", RUNNING)
    assert fm.new("box", poll_interval=0.05) == RUNNING
    assert fake.requests[0]["json"] == {
        "script": "sleep infinity", "type": "inline", "name": "box", "workspace_id": "box",
        "persistent": True, "no_sync": True}
    assert fake.calls()[1] == ("GET", "/api/v1/mags-jobs/job-1/status")
    fm.new("box", persistent=True, base_workspace_id="golden", disk_gb=4)
    assert fake.requests[2]["json"] == {
        "script": "sleep infinity", "type": "inline", "name": "box", "workspace_id": "box",
        "persistent": True, "base_workspace_id": "golden", "disk_gb": 4}


def test_shape_new_raises_when_the_vm_fails(fake, fm):
    fake.route("POST", "/mags-jobs", {"request_id": "job-1", "status": "accepted"})
    fake.route("GET", "/mags-jobs/job-1/status",
               {"request_id": "job-1", "status": "error", "error_message": "no space"})
    with pytest.raises(MagsError) as ei:
        fm.new("box")
    assert "no space" in str(ei.value)


def test_shape_exec(fake, fm):
    fake.route("GET", "/mags-jobs/box/status", {"error": "job not found", "code": "not_found"}, 404)
    fake.route("GET", "/mags-jobs", {"jobs": [
        {"request_id": "old", "name": "box", "workspace_id": "box", "status": "completed"},
        RUNNING], "page": 1, "page_size": 100, "total": 2})
    answer = {"exit_code": 0, "output": "hi\n", "stdout": "hi\n", "stderr": "", "duration_ms": 3}
    fake.route("POST", "/mags-jobs/job-1/exec", answer)
    assert fm.exec("box", "echo hi") == answer
    assert fake.last()["json"] == {"command": "echo hi"}
    assert fake.calls() == [("GET", "/api/v1/mags-jobs/box/status"), ("GET", "/api/v1/mags-jobs"),
                            ("POST", "/api/v1/mags-jobs/job-1/exec")]
    assert "page_size=100" in fake.requests[1]["query"]
    fm.exec("box", "env", timeout=5, env={"X": "y"})
    assert fake.last()["json"] == {"command": "env", "timeout": 5, "env": {"X": "y"}}


def test_shape_exec_stream(fake, fm):
    fake.route("GET", "/mags-jobs/job-1/status", RUNNING)
    nd = b"".join(json.dumps(o).encode() + b"\n" for o in (
        {"stream": "stdout", "data": "hel"}, {"stream": "stdout", "data": "lo\n"},
        {"stream": "stderr", "data": "warn\n"}, {"exit_code": 2, "duration_ms": 7}))
    fake.route("POST", "/mags-jobs/job-1/exec", nd, ctype="application/x-ndjson")
    with fm.exec_stream("job-1", "echo hello; echo warn >&2; exit 2", timeout=9) as s:
        chunks = list(s)
    assert chunks == [{"stream": "stdout", "data": "hel"}, {"stream": "stdout", "data": "lo\n"},
                      {"stream": "stderr", "data": "warn\n"}]
    assert s.exit_code == 2 and s.result == {"exit_code": 2, "duration_ms": 7}
    r = fake.last()
    assert (r["method"], r["path"], r["query"]) == ("POST", "/api/v1/mags-jobs/job-1/exec", "stream=1")
    assert r["json"] == {"command": "echo hello; echo warn >&2; exit 2", "timeout": 9}
    # A server that only knows the plain form.
    plain = {"exit_code": 0, "output": "a\nb\n", "stdout": "a\n", "stderr": "b\n", "duration_ms": 1}
    fake.route("POST", "/mags-jobs/job-1/exec", plain)
    s = fm.exec_stream("job-1", "x")
    assert list(s) == [{"stream": "stdout", "data": "a\n"}, {"stream": "stderr", "data": "b\n"}]
    assert s.result == plain
    # A stream cut before the exit code is an error.
    fake.route("POST", "/mags-jobs/job-1/exec", b'{"stream": "stdout", "data": "x"}\n',
               ctype="application/x-ndjson")
    with pytest.raises(MagsError):
        list(fm.exec_stream("job-1", "x"))


def test_shape_url_and_enable_access(fake, fm):
    fake.route("GET", "/mags-jobs/job-1/status", RUNNING)
    fake.route("POST", "/mags-jobs/job-1/access", {"url": "http://abc.localhost:8421"})
    assert fm.url("job-1") == {"url": "http://abc.localhost:8421"}
    assert fake.last()["json"] == {"port": 8080}
    fm.url("job-1", port=3000)
    assert fake.last()["json"] == {"port": 3000}
    ssh = {"ssh_host": "h", "ssh_port": 2222, "ssh_private_key": "KEY"}
    fake.route("POST", "/mags-jobs/job-1/access", ssh)
    assert fm.enable_access("job-1", port=22) == ssh
    assert fake.last()["json"] == {"port": 22}
    assert fake.last()["path"] == "/api/v1/mags-jobs/job-1/access"


def test_shape_resize_stops_resizes_then_creates(fake, fm, monkeypatch):
    fake.route("GET", "/mags-jobs/box/status", {"error": "job not found"}, 404)
    fake.route("GET", "/mags-jobs", {"jobs": [dict(RUNNING, persistent=True, no_sync=True)],
                                     "page": 1, "page_size": 100, "total": 1})
    fake.route("POST", "/mags-jobs", {"request_id": "job-2", "status": "accepted"})
    fake.route("GET", "/mags-jobs/job-2/status", dict(RUNNING, request_id="job-2"))
    fake.route("POST", "/mags-workspaces/box/resize", {"workspace_id": "box", "disk_gb": 10})
    slept = []
    monkeypatch.setattr(time, "sleep", lambda s: slept.append(s))
    r = fm.resize("box", 10)
    assert r["request_id"] == "job-2"
    calls = fake.calls()
    stop = calls.index(("POST", "/api/v1/mags-jobs/job-1/stop"))
    resize = calls.index(("POST", "/api/v1/mags-workspaces/box/resize"))
    create = calls.index(("POST", "/api/v1/mags-jobs"))
    assert stop < resize < create
    assert fake.requests[resize]["json"] == {"disk_gb": 10}
    assert 1 in slept
    # Started again as it was: local disk only (no_sync).
    assert fake.requests[create]["json"] == {
        "script": "sleep infinity", "type": "inline", "name": "box", "workspace_id": "box",
        "persistent": True, "no_sync": True, "disk_gb": 10}


def test_shape_resize_without_the_endpoint_is_new_persistent(fake, fm, monkeypatch):
    fake.route("GET", "/mags-jobs/box/status", {"error": "job not found"}, 404)
    fake.route("GET", "/mags-jobs", {"jobs": [], "page": 1, "page_size": 100, "total": 0})
    fake.route("POST", "/mags-jobs", {"request_id": "job-2", "status": "accepted"})
    fake.route("GET", "/mags-jobs/job-2/status", dict(RUNNING, request_id="job-2"))
    fake.route("POST", "/mags-workspaces/box/resize", {"error": "not found"}, 404)
    monkeypatch.setattr(time, "sleep", lambda s: None)
    assert fm.resize("box", 10)["request_id"] == "job-2"
    assert ("POST", "/api/v1/mags-jobs/job-1/stop") not in fake.calls()
    assert fake.last()["path"] == "/api/v1/mags-jobs/job-2/status"
    create = [q for q in fake.requests if q["method"] == "POST" and q["path"] == "/api/v1/mags-jobs"]
    assert create[0]["json"] == {"script": "sleep infinity", "type": "inline", "name": "box",
                                 "workspace_id": "box", "persistent": True, "disk_gb": 10}
    fake.route("POST", "/mags-workspaces/box/resize", {"error": "disk busy"}, 409)
    with pytest.raises(MagsError) as ei:
        fm.resize("box", 10)
    assert ei.value.status_code == 409


def test_shape_job_settings_and_sync(fake, fm):
    fm.update_job("job-1", no_sleep=True, startup_command="serve")
    assert (fake.last()["method"], fake.last()["path"]) == ("PATCH", "/api/v1/mags-jobs/job-1")
    assert fake.last()["json"] == {"no_sleep": True, "startup_command": "serve"}
    fm.sync("job-1")
    assert (fake.last()["method"], fake.last()["path"]) == ("POST", "/api/v1/mags-jobs/job-1/sync")


def test_shape_upload_is_multipart(fake, fm, tmp_path):
    f = tmp_path / "data.csv"
    content = b"a,b\n1,2\n" + bytes(range(256)) * 100
    f.write_bytes(content)
    fake.route("POST", "/mags-files", {"file_id": "file-1"})
    assert fm.upload_file(str(f)) == "file-1"
    r = fake.last()
    assert (r["method"], r["path"]) == ("POST", "/api/v1/mags-files")
    ct = r["headers"]["content-type"]
    assert ct.startswith("multipart/form-data; boundary=")
    assert int(r["headers"]["content-length"]) == len(r["raw"])
    msg = email.message_from_bytes(b"Content-Type: " + ct.encode() + b"\r\n\r\n" + r["raw"])
    parts = msg.get_payload()
    assert len(parts) == 1
    assert parts[0].get_param("name", header="content-disposition") == "file"
    assert parts[0].get_filename() == "data.csv"
    assert parts[0].get_payload(decode=True) == content

    g = tmp_path / "model.pkl"
    g.write_bytes(b"x")
    fake.route("POST", "/mags-files", {"file_ids": ["file-2"]})
    assert fm.upload_files([str(f), str(g)]) == ["file-2", "file-2"]
    fake.route("POST", "/mags-files", {"file_ids": [{"file_id": "file-3"}]})
    assert fm.upload_file(str(g)) == "file-3"
    assert fake.calls()[-2:] == [("POST", "/api/v1/mags-files")] * 2


def test_shape_workspaces_and_aliases(fake, fm):
    ws = {"workspaces": [{"workspace_id": "w", "job_count": 2}]}
    fake.route("GET", "/mags-workspaces", ws)
    assert fm.list_workspaces() == ws
    fm.delete_workspace("old ws")
    assert (fake.last()["method"], fake.last()["path"]) == ("DELETE", "/api/v1/mags-workspaces/old%20ws")
    fm.url_alias_create("myapp", "w")
    assert (fake.last()["method"], fake.last()["path"]) == ("POST", "/api/v1/mags-url-aliases")
    assert fake.last()["json"] == {"subdomain": "myapp", "workspace_id": "w"}
    fake.route("GET", "/mags-url-aliases", {"aliases": []})
    assert fm.url_alias_list() == {"aliases": []}
    fm.url_alias_delete("myapp")
    assert (fake.last()["method"], fake.last()["path"]) == ("DELETE", "/api/v1/mags-url-aliases/myapp")


def test_shape_cron_as_in_pattern_6(fake, fm):
    fake.route("POST", "/mags-cron", {"id": "cron-1", "name": "health-check"})
    fake.route("GET", "/mags-cron", {"cron_jobs": [
        {"id": "cron-1", "name": "health-check", "cron_expression": "*/5 * * * *", "enabled": True}]})
    m = fm
    cron = m.cron_create(name="health-check", cron_expression="*/5 * * * *",
                         script='curl -sf https://myapp.com/health || echo "ALERT: health check failed"')
    assert fake.last()["json"] == {
        "name": "health-check", "cron_expression": "*/5 * * * *",
        "script": 'curl -sf https://myapp.com/health || echo "ALERT: health check failed"'}
    m.cron_create(name="db-backup", cron_expression="0 2 * * *",
                  script="pg_dump $DATABASE_URL | gzip > /root/backup-$(date +%F).sql.gz",
                  workspace_id="backups")
    assert fake.last()["json"]["workspace_id"] == "backups"
    crons = m.cron_list()
    lines = [f"{job['name']}: {job['cron_expression']} (enabled={job['enabled']})"
             for job in crons.get("cron_jobs", [])]
    assert lines == ["health-check: */5 * * * * (enabled=True)"]
    m.cron_update(cron["id"], enabled=False)
    assert (fake.last()["method"], fake.last()["path"], fake.last()["json"]) == (
        "PATCH", "/api/v1/mags-cron/cron-1", {"enabled": False})
    m.cron_get("cron-1")
    assert (fake.last()["method"], fake.last()["path"]) == ("GET", "/api/v1/mags-cron/cron-1")
    m.cron_delete(cron["id"])
    assert (fake.last()["method"], fake.last()["path"]) == ("DELETE", "/api/v1/mags-cron/cron-1")


def test_shape_usage(fake, fm):
    fake.route("GET", "/mags-usage", {"total_jobs": 3, "vm_seconds": 12.5})
    usage = fm.usage(window_days=7)
    assert f"Jobs: {usage['total_jobs']}, VM seconds: {usage['vm_seconds']:.0f}" == \
        "Jobs: 3, VM seconds: 12"
    assert fake.last()["query"] == "window_days=7"


def test_shape_error_mapping(fake, fm):
    for status, code in ((401, "unauthorized"), (404, "not_found"), (409, "conflict"),
                         (413, "too_large"), (500, "internal")):
        fake.route("DELETE", "/mags-workspaces/w", {"error": "msg %d" % status, "code": code}, status)
        with pytest.raises(MagsError) as ei:
            fm.delete_workspace("w")
        assert ei.value.status_code == status
        assert str(ei.value) == "msg %d" % status
        assert ei.value.code == code
    fake.route("DELETE", "/mags-workspaces/w", None, 409)
    with pytest.raises(MagsError) as ei:
        fm.delete_workspace("w")
    assert ei.value.status_code == 409 and "409" in str(ei.value)


def test_shape_empty_answer_is_an_empty_dict(fake, fm):
    fake.route("DELETE", "/mags-cron/c", None, 204)
    assert fm.cron_delete("c") == {}
