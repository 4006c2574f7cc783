"""The mags CLI against a real server."""
import json
import os
import re
import stat
import subprocess

from conftest import MAGS, clean_env

ANSI = re.compile(r"\x1b\[")


def last_job_id(srv, token="alice"):
    return srv.api("GET", "/mags-jobs?page_size=1", token=token).json["jobs"][0]["request_id"]


def test_help(srv):
    for args in (["help"], ["--help"], ["-h"]):
        r = srv.mags(*args)
        assert r.returncode == 0, (args, r)
        text = r.stdout + r.stderr
        for cmd in ("run", "list", "status", "logs", "stop", "whoami", "login", "logout"):
            assert cmd in text, (args, cmd)
    r = srv.mags("run", "--help")
    assert r.returncode == 0, r
    assert "-e" in r.stdout + r.stderr
    r = srv.mags()
    assert "run" in r.stdout + r.stderr


def test_unknown_command_fails(srv):
    r = srv.mags("frobnicate")
    assert r.returncode != 0
    assert "frobnicate" in r.stderr


def test_version(srv):
    r = srv.mags("--version")
    assert r.returncode == 0, r
    assert re.search(r"\d+\.\d+", r.stdout), r


def test_whoami(srv):
    r = srv.mags("whoami")
    assert r.returncode == 0, r
    assert "alice" in r.stdout
    r = srv.mags("whoami", "--json")
    assert r.returncode == 0, r
    assert json.loads(r.stdout)["user"] == "alice"
    r = srv.mags("whoami", token="bad")
    assert r.returncode != 0
    assert r.stderr.strip()


def test_run_status_logs_list(srv):
    r = srv.mags("run", "echo from-cli; echo to-err >&2")
    assert r.returncode == 0, r
    jid = last_job_id(srv)

    r = srv.mags("status", jid)
    assert r.returncode == 0, r
    assert "completed" in r.stdout
    r = srv.mags("status", jid, "--json")
    st = json.loads(r.stdout)
    assert st["request_id"] == jid and st["status"] == "completed" and st["exit_code"] == 0

    r = srv.mags("logs", jid)
    assert r.returncode == 0, r
    assert "from-cli" in r.stdout
    assert "to-err" in r.stdout + r.stderr
    r = srv.mags("logs", jid, "--json")
    logs = json.loads(r.stdout)
    logs = logs["logs"] if isinstance(logs, dict) else logs
    assert {"message": "from-cli", "source": "stdout"}.items() <= logs[0].items()

    r = srv.mags("list")
    assert r.returncode == 0, r
    assert jid in r.stdout or jid[:8] in r.stdout
    r = srv.mags("list", "--json")
    data = json.loads(r.stdout)
    jobs = data["jobs"] if isinstance(data, dict) else data
    assert jobs[0]["request_id"] == jid


def test_stop(srv):
    jid = srv.submit("sleep 60")
    srv.wait(jid, timeout=10, states=("running",))
    r = srv.mags("stop", jid)
    assert r.returncode == 0, r
    assert srv.wait(jid, timeout=10)["status"] == "stopped"


def test_unknown_id_fails(srv):
    for cmd in ("status", "logs", "stop"):
        r = srv.mags(cmd, "00000000-0000-4000-8000-000000000000")
        assert r.returncode != 0, (cmd, r)
        assert r.stderr.strip()


def test_run_of_a_job_that_does_not_complete_exits_nonzero(srv):
    p = subprocess.Popen([str(MAGS), "run", "echo begun; sleep 30"], env=srv.cli_env(),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline() == "begun\n"
        srv.api("POST", "/mags-jobs/%s/stop" % last_job_id(srv))
        out, err = p.communicate(timeout=15)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode != 0
    assert "stop" in err.lower(), err


def test_run_timeout_flag_ends_in_error(srv):
    r = srv.mags("run", "--timeout", "1", "echo start; sleep 20", timeout=30)
    assert r.returncode != 0, r
    assert r.stdout == "start\n"
    assert "timed out" in r.stderr.lower(), r


def test_status_of_a_timed_out_job(srv):
    jid = srv.submit("sleep 10", timeout=1)
    srv.wait(jid, timeout=20)
    r = srv.mags("status", jid)
    assert r.returncode == 0, r
    assert "error" in r.stdout
    assert "timed out" in (r.stdout + r.stderr).lower()


def test_constraint_errors(srv):
    before = last_job_id(srv)
    for args in (["-e", "-w", "x"], ["-e", "-p"], ["-e", "--base", "g"],
                 ["--no-sleep"], ["--url"]):
        r = srv.mags("run", *args, "true")
        assert r.returncode != 0, (args, r)
        assert r.stderr.strip(), args
    r = srv.mags("run")
    assert r.returncode != 0
    assert last_job_id(srv) == before, "a job was created despite bad flags"


def test_run_ephemeral_flag(srv):
    r = srv.mags("run", "-e", "echo eph")
    assert r.returncode == 0, r
    assert r.stdout == "eph\n"


def test_run_a_script_file(srv, tmp_path):
    f = tmp_path / "s.sh"
    f.write_text("echo from-file\nexit 4\n")
    r = srv.mags("run", str(f))
    assert r.returncode == 4, r
    assert r.stdout == "from-file\n"


def test_login_whoami_logout(srv, home):
    env_no_token = {"MAGS_API_TOKEN": "", "MAGS_API_URL": ""}
    r = srv.mags("login", "--url", srv.url, "--token", srv.tokens["bob"],
                 token=None, home=home, env=env_no_token)
    assert r.returncode == 0, r
    cfg = home / ".mags" / "config.json"
    assert cfg.exists()
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    data = json.loads(cfg.read_text())
    assert srv.tokens["bob"] in json.dumps(data)

    env = clean_env({"HOME": str(home)})
    r = subprocess.run([str(MAGS), "whoami"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert "bob" in r.stdout
    # MAGS_API_TOKEN wins over the saved login.
    env2 = dict(env, MAGS_API_TOKEN=srv.tokens["alice"], MAGS_API_URL=srv.url)
    r = subprocess.run([str(MAGS), "whoami"], env=env2, capture_output=True, text=True, timeout=30)
    assert "alice" in r.stdout, r

    r = subprocess.run([str(MAGS), "logout"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    r = subprocess.run([str(MAGS), "whoami"], env=env, capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert "bob" not in r.stdout


def test_login_with_a_bad_token_saves_nothing(srv, home):
    r = srv.mags("login", "--url", srv.url, "--token", "wrong", token=None, home=home,
                 env={"MAGS_API_TOKEN": ""})
    assert r.returncode != 0, r
    assert not (home / ".mags" / "config.json").exists()


def test_login_token_on_stdin(srv, home):
    r = srv.mags("login", "--url", srv.url, token=None, home=home,
                 env={"MAGS_API_TOKEN": ""}, input=srv.tokens["alice"] + "\n")
    assert r.returncode == 0, r
    assert (home / ".mags" / "config.json").exists()


def test_no_colour_when_piped_or_no_color(srv):
    for extra in ({}, {"NO_COLOR": "1"}):
        for args in (["whoami"], ["list"], ["run", "exit 2"], ["status", "nope"]):
            r = srv.mags(*args, env=extra)
            assert not ANSI.search(r.stdout + r.stderr), (args, r)


def test_no_server_is_a_clear_error(srv):
    r = srv.mags("whoami", env={"MAGS_API_URL": "http://127.0.0.1:9"})
    assert r.returncode != 0
    assert r.stderr.strip()
    assert len(r.stderr) < 2000


def test_logs_follow(srv):
    jid = srv.submit("for i in 1 2 3; do echo $i; sleep 0.5; done")
    r = srv.mags("logs", jid, "-f", timeout=30)
    assert r.returncode == 0, r
    assert r.stdout.split() == ["1", "2", "3"], r
    assert srv.status(jid)["status"] == "completed"
