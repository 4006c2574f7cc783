"""Workspaces (issue 3), server side, through the REST API against a real
magsd with real sandboxes: local and persistent workspaces on their own
ext4 disks, uploads in /root and /uploads, bases and forks, list, delete,
resize, disk full, one live job per workspace, expiry, restarts, and a
daemon killed during a sync.

Bases, forks and restores need the snapshot engine (src/magsd/snapshot.c);
without it those tests skip with that reason. The persistent ones run
against both object stores: the default directory and an S3-compatible
server the suite starts (tests/e2e/s3server.py).
"""
import os
import signal
import subprocess
import time

import pytest

import conftest
from conftest import BUILD, Server, make_server, mounts_under, need, wait_until

try:
    import s3server
except ImportError:  # pragma: no cover
    s3server = None


def error_shape(r, status):
    assert r.status == status, r
    assert r.json is not None, "error body is not JSON: %r" % r.body
    assert isinstance(r.json.get("error"), str) and r.json["error"], r
    assert isinstance(r.json.get("code"), str) and r.json["code"], r


def user_id(srv, who="alice"):
    return srv.api("GET", "/whoami", token=who).json["user_id"]


def ws_dir(srv, name, who="alice"):
    return srv.data_dir / "workspaces" / user_id(srv, who) / name


def loops_of(path):
    """Loop devices backed by files under path."""
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [l for l in out.splitlines() if str(path) in l]


def run_ok(srv, script, token="alice", **fields):
    st, out, err, _ = srv.run(script, token=token, **fields)
    # a persistent run keeps its sandbox: Server.wait stops it once its
    # script ended (issue 4)
    assert st["status"] in ("completed", "stopped") and st["exit_code"] == 0, (st, out, err)
    return out


def workspaces(srv, token="alice"):
    r = srv.api("GET", "/mags-workspaces", token=token)
    assert r.status == 200, r
    return {w["workspace_id"]: w for w in r.json["workspaces"]}


def sync(srv, job_id, token="alice"):
    r = srv.api("POST", "/mags-jobs/%s/sync" % job_id, token=token, timeout=120)
    if r.status == 503 and "not available" in r.body:
        need(False, "snapshot engine not in this build: " + r.json["error"])
    assert r.status == 200, r
    return r.json


def upload(srv, name, content, token="alice"):
    """POST /mags-files with one file (multipart by hand)."""
    boundary = "----magsboundary%d" % time.time_ns()
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name)).encode()
            + content + ("\r\n--%s--\r\n" % boundary).encode())
    return srv.api("POST", "/mags-files", raw=body, token=token,
                   headers={"Content-Type": "multipart/form-data; boundary=" + boundary})


# ---- servers -----------------------------------------------------------------

@pytest.fixture(scope="module")
def wsrv(session_dir, image_cache):
    """A server of its own (its workspaces and loop devices are checked)."""
    s = make_server(session_dir, image_cache, "ws", conf={"sync_interval": 2})
    yield s
    s.stop()


_s3 = {}


def _s3_server(session_dir):
    if "srv" not in _s3:
        if s3server is None:
            need(False, "tests/e2e/s3server.py is missing")
        try:
            _s3["srv"] = s3server.S3Server(BUILD / "s3rver-cache",
                                           workdir=session_dir / "s3rver-ws").start()
        except s3server.Unavailable as e:
            need(False, "no S3 test server: %s" % e)
    return _s3["srv"]


@pytest.fixture(scope="module", params=["dir", "s3"])
def psrv(request, session_dir, image_cache):
    """A server per object store, for the persistent-workspace tests."""
    conf = {"sync_interval": 2}
    if request.param == "s3":
        s3 = _s3_server(session_dir)
        conf.update({"object_store": "s3", "s3_endpoint": s3.endpoint,
                     "s3_bucket": s3.bucket, "s3_prefix": "ws/", "s3_region": s3.region,
                     "s3_access_key": s3.access_key, "s3_secret_key": s3.secret_key,
                     "s3_path_style": 1})
    s = make_server(session_dir, image_cache, "ws-" + request.param, conf=conf)
    s.store = request.param
    yield s
    s.stop()
    if request.param == "s3" and "srv" in _s3:
        _s3.pop("srv").stop()


# ---- validation ----------------------------------------------------------------

@pytest.mark.parametrize("extra", [
    {"workspace_id": "a/b"}, {"workspace_id": ".."}, {"workspace_id": "a..b"},
    {"workspace_id": "x" * 64}, {"workspace_id": ".hidden"}, {"workspace": "sp ace"},
    {"base_workspace_id": "../etc"}, {"ephemeral": True, "workspace_id": "x"},
    {"ephemeral": True, "persistent": True}, {"ephemeral": True, "base_workspace_id": "g"},
    {"no_sleep": True}, {"disk_gb": 0}, {"disk_gb": 10000}, {"file_ids": "f"},
])
def test_bad_workspace_requests_are_400(wsrv, extra):
    body = {"script": "true"}
    body.update(extra)
    error_shape(wsrv.api("POST", "/mags-jobs", body), 400)


def test_unknown_base_is_404(wsrv):
    r = wsrv.api("POST", "/mags-jobs", {"script": "true", "base_workspace_id": "nope"})
    error_shape(r, 404)
    assert "nope" in r.json["error"]


def test_longest_name_is_fine(wsrv):
    run_ok(wsrv, "true", workspace_id="w" * 63)


# ---- local workspaces and uploads --------------------------------------------------

def test_local_workspace_with_upload(wsrv):
    r = upload(wsrv, "data.csv", b"a,b\n1,2\n3,4\n")
    assert r.status == 200, r
    fid = r.json["file_id"]
    assert r.json["file_ids"] == [fid]
    out = run_ok(wsrv, "wc -l /root/data.csv /uploads/data.csv", workspace_id="analysis",
                 file_ids=[fid])
    assert "3 /root/data.csv" in out and "3 /uploads/data.csv" in out, out
    # the workspace stays for its next run (local: 10 minutes by default)
    run_ok(wsrv, "echo kept > /root/note", workspace_id="analysis")
    assert run_ok(wsrv, "cat /root/note", workspace_id="analysis") == "kept\n"
    assert "analysis" in workspaces(wsrv)
    # its layer is an ext4 disk of its own, loop-mounted nosuid,nodev
    d = ws_dir(wsrv, "analysis")
    assert (d / "disk.img").exists() and mounts_under(d) == [str(d / "mnt")]
    assert loops_of(d / "disk.img")
    with open("/proc/self/mountinfo") as f:
        line = [l for l in f if l.split()[4] == str(d / "mnt")][0]
    assert "nosuid" in line and "nodev" in line
    # the upper's root is the sandbox's "/": root's, 0755
    assert run_ok(wsrv, "stat -c %a:%u:%g / /root", workspace_id="analysis") == "755:0:0\n700:0:0\n"
    # a local workspace never reaches the object store
    assert not (wsrv.data_dir / "objects" / "heads" / user_id(wsrv) / "analysis").exists()


def test_upload_names_are_sanitised_and_many_files_work(wsrv):
    boundary = "b0undary"
    parts = b""
    for name, data in (("../../etc/evil", b"x"), ("sub/dir/ok.txt", b"ok"), ("a:b", b"c")):
        parts += ("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                  "\r\n" % (boundary, name)).encode() + data + b"\r\n"
    parts += ("--%s--\r\n" % boundary).encode()
    r = wsrv.api("POST", "/mags-files", raw=parts,
                 headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
    assert r.status == 200, r
    assert len(r.json["file_ids"]) == 3 and "file_id" not in r.json
    out = run_ok(wsrv, "ls /uploads; cat /uploads/ok.txt", file_ids=r.json["file_ids"])
    assert "evil\n" in out and "a_b\n" in out and "ok.txt\n" in out, out
    files = wsrv.data_dir / "files"
    assert not [p for p in files.rglob("*") if p.name == "etc"]


def test_upload_over_100_mib_is_413_and_leaves_nothing(wsrv):
    files = wsrv.data_dir / "files"
    before = set(files.rglob("*")) if files.exists() else set()
    r = upload(wsrv, "big.bin", b"\0" * (101 * 1024 * 1024), token="alice")
    error_shape(r, 413)
    after = set(files.rglob("*")) if files.exists() else set()
    assert not [p for p in after - before if p.is_file()], after - before


def test_upload_needs_multipart(wsrv):
    error_shape(wsrv.api("POST", "/mags-files", {"file": "x"}), 400)


def test_other_users_cannot_see_use_or_delete(wsrv):
    fid = upload(wsrv, "secret.txt", b"alice only").json["file_id"]
    run_ok(wsrv, "echo mine > /root/f", workspace_id="private")
    assert "private" not in workspaces(wsrv, token="bob")
    error_shape(wsrv.api("DELETE", "/mags-workspaces/private", token="bob"), 404)
    error_shape(wsrv.api("POST", "/mags-workspaces/private/resize", {"disk_gb": 3},
                         token="bob"), 404)
    r = wsrv.api("POST", "/mags-jobs", {"script": "true", "file_ids": [fid]}, token="bob")
    error_shape(r, 404)
    r = wsrv.api("POST", "/mags-jobs", {"script": "true", "base_workspace_id": "private"},
                 token="bob")
    error_shape(r, 404)
    # bob's own "private" is another workspace
    assert run_ok(wsrv, "cat /root/f 2>/dev/null || echo empty", token="bob",
                  workspace_id="private") == "empty\n"
    assert run_ok(wsrv, "cat /root/f", workspace_id="private") == "mine\n"


# ---- one live job per workspace -----------------------------------------------------

def test_second_job_on_a_busy_workspace_is_409(wsrv):
    jid = wsrv.submit("sleep 30", workspace_id="busy")
    wsrv.wait(jid, states=("running",))
    error_shape(wsrv.api("POST", "/mags-jobs", {"script": "true", "workspace_id": "busy"}), 409)
    error_shape(wsrv.api("DELETE", "/mags-workspaces/busy"), 409)
    error_shape(wsrv.api("POST", "/mags-workspaces/busy/resize", {"disk_gb": 3}), 409)
    # another workspace is not affected
    run_ok(wsrv, "true", workspace_id="not-busy")
    assert wsrv.api("POST", "/mags-jobs/%s/stop" % jid).status == 200
    wsrv.wait(jid)
    assert wait_until(lambda: wsrv.api("POST", "/mags-jobs",
                                       {"script": "true", "workspace_id": "busy"}).status == 200)


# ---- disk size -------------------------------------------------------------------------

def test_disk_full_fails_inside_only_and_resize_grows(wsrv):
    st, out, err, _ = wsrv.run("dd if=/dev/zero of=/root/x bs=1M count=2048 && echo wrote",
                               workspace_id="big", persistent=False, disk_gb=1)
    assert st["status"] == "completed" and st["exit_code"] != 0, (st, out, err)
    assert "No space left on device" in err and "wrote" not in out, err
    # the host and other workspaces are fine
    run_ok(wsrv, "dd if=/dev/zero of=/root/y bs=1M count=16", workspace_id="small")
    assert workspaces(wsrv)["big"]["disk_gb"] == 1
    run_ok(wsrv, "rm /root/x", workspace_id="big")

    r = wsrv.api("POST", "/mags-workspaces/big/resize", {"disk_gb": 3})
    assert r.status == 200, r
    assert r.json["disk_gb"] == 3 and workspaces(wsrv)["big"]["disk_gb"] == 3
    out = run_ok(wsrv, "df -k / | tail -1", workspace_id="big")
    size_kb = int(out.split()[1])
    assert size_kb > 2 * 1024 * 1024, out
    run_ok(wsrv, "dd if=/dev/zero of=/root/x bs=1M count=1500", workspace_id="big")
    # cannot shrink below what is used
    error_shape(wsrv.api("POST", "/mags-workspaces/big/resize", {"disk_gb": 1}), 409)
    error_shape(wsrv.api("POST", "/mags-workspaces/big/resize", {"disk_gb": 0}), 400)
    error_shape(wsrv.api("POST", "/mags-workspaces/nope/resize", {"disk_gb": 2}), 404)
    assert os.path.getsize(ws_dir(wsrv, "big") / "disk.img") == 3 * 1024 ** 3


# ---- list and delete ---------------------------------------------------------------------

def test_list_and_delete(wsrv):
    run_ok(wsrv, "echo 1 > /root/one", workspace_id="todelete")
    run_ok(wsrv, "true", workspace_id="todelete")
    w = workspaces(wsrv)["todelete"]
    for k in ("workspace_id", "job_count", "size_bytes", "persistent", "last_synced_at",
              "base", "disk_gb"):
        assert k in w, w
    assert w["job_count"] == 2 and w["persistent"] is False and w["disk_gb"] == 2
    assert w["size_bytes"] > 0 and w["base"] is None
    r = wsrv.api("GET", "/workspaces")
    assert r.status == 200 and any(x["workspace_id"] == "todelete" for x in r.json["workspaces"])
    d = ws_dir(wsrv, "todelete")
    r = wsrv.api("DELETE", "/mags-workspaces/todelete")
    assert r.status == 200, r
    assert "todelete" not in workspaces(wsrv)
    assert not d.exists() and not mounts_under(d) and not loops_of(d)
    error_shape(wsrv.api("DELETE", "/mags-workspaces/todelete"), 404)
    error_shape(wsrv.api("DELETE", "/workspaces/never-existed"), 404)
    # the name can be used again, empty
    assert run_ok(wsrv, "ls /root/one 2>/dev/null || echo gone",
                  workspace_id="todelete") == "gone\n"


# ---- expiry and shutdown -----------------------------------------------------------------

def test_local_workspace_expires_and_shutdown_leaves_no_mounts(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "ws-ttl", conf={"local_ttl": 2, "file_ttl": 1})
    try:
        # an upload unused for file_ttl is gone
        fid = upload(s, "old.txt", b"x").json["file_id"]
        fdir = s.data_dir / "files" / user_id(s) / fid
        assert fdir.is_dir()
        assert wait_until(lambda: not fdir.exists(), timeout=10)
        error_shape(s.api("POST", "/mags-jobs", {"script": "true", "file_ids": [fid]}), 404)
        run_ok(s, "echo x > /root/x", workspace_id="brief")
        d = ws_dir(s, "brief")
        assert mounts_under(d)
        assert wait_until(lambda: "brief" not in workspaces(s), timeout=15)
        assert wait_until(lambda: not d.exists(), timeout=5)
        assert not mounts_under(d) and not loops_of(d)
        assert run_ok(s, "cat /root/x 2>/dev/null || echo gone",
                      workspace_id="brief") == "gone\n"
        # persistent ones do not expire
        run_ok(s, "echo p > /root/p", workspace_id="kept", persistent=True)
        time.sleep(3)
        assert "kept" in workspaces(s)
    finally:
        s.stop()
    assert not mounts_under(s.data_dir / "workspaces")
    # a loop device detaches once its last mount is gone (the kernel may
    # take a moment on a loaded host)
    assert wait_until(lambda: not loops_of(s.data_dir), 10), loops_of(s.data_dir)


# ---- persistent workspaces (both object stores) -----------------------------------------

def test_persistent_files_and_software_persist(psrv):
    run_ok(psrv, "echo v1 > /root/state; mkdir -p /usr/local/bin; "
           "printf '#!/bin/sh\\necho tool\\n' > /usr/local/bin/tool; "
           "chmod +x /usr/local/bin/tool", workspace_id="myproject", persistent=True)
    out = run_ok(psrv, "cat /root/state; tool", workspace_id="myproject", persistent=True)
    assert out == "v1\ntool\n", out
    # [003] names
    out = run_ok(psrv, "cat /root/state", workspace="myproject", persist=True)
    assert out == "v1\n"
    assert workspaces(psrv)["myproject"]["persistent"] is True


def test_persistent_without_a_name_gets_one(psrv):
    jid = psrv.submit("echo hi > /root/x", persistent=True)
    st = psrv.wait(jid)
    assert st["status"] in ("completed", "stopped") and st["exit_code"] == 0, st
    assert st["workspace_id"] == jid, st


def test_restart_keeps_persistent_data(psrv):
    run_ok(psrv, "echo survived > /root/s", workspace_id="restart-me", persistent=True)
    psrv.stop()
    assert not mounts_under(psrv.data_dir / "workspaces")
    psrv.start()
    assert run_ok(psrv, "cat /root/s", workspace_id="restart-me", persistent=True) == "survived\n"


def test_sync_endpoint(psrv):
    jid = psrv.submit("echo a > /root/a", workspace_id="synced", persistent=True)
    psrv.wait(jid)
    r = sync(psrv, jid)
    assert r["request_id"] == jid and r["status"] == "synced"
    assert len(r["snapshot"]) == 64 and r["synced_at"], r
    w = workspaces(psrv)["synced"]
    assert w["last_synced_at"] and w["snapshot"] == r["snapshot"]
    # a local workspace is never synced
    jl = psrv.submit("true", workspace_id="local-only")
    psrv.wait(jl)
    error_shape(psrv.api("POST", "/mags-jobs/%s/sync" % jl), 400)
    error_shape(psrv.api("POST", "/mags-jobs/%s/sync" % jid, token="bob"), 404)


def test_running_persistent_job_syncs_periodically(psrv):
    # the server syncs every 2 s (sync_interval) while the job runs
    jid = psrv.submit("echo tick > /root/t; sleep 8", workspace_id="ticking", persistent=True)
    psrv.wait(jid, states=("running",))
    assert wait_until(lambda: workspaces(psrv)["ticking"]["last_synced_at"], timeout=6), \
        "no sync while the job ran"
    assert psrv.status(jid)["status"] == "running"
    psrv.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)


def test_stop_waits_for_the_final_sync(psrv):
    jid = psrv.submit("echo before-stop > /root/f; sleep 60", workspace_id="stopper",
                      persistent=True)
    psrv.wait(jid, states=("running",))
    time.sleep(0.3)
    r = psrv.api("POST", "/mags-jobs/%s/stop" % jid, timeout=120)
    assert r.status == 200 and r.json["status"] == "stopped", r
    w = workspaces(psrv)["stopper"]
    if w["last_synced_at"] is None:
        need(False, "snapshot engine not in this build (no sync happened)")
    # the disk is gone from this host: the run restores the synced head
    d = ws_dir(psrv, "stopper")
    psrv.stop()
    subprocess.run(["rm", "-rf", str(d)], check=True)
    psrv.start()
    assert run_ok(psrv, "cat /root/f", workspace_id="stopper",
                  persistent=True) == "before-stop\n"


def test_base_and_fork(psrv):
    jid = psrv.submit("mkdir -p /opt/tool && echo gold > /opt/tool/v; echo motd > /etc/motd",
                      workspace_id="golden", persistent=True)
    psrv.wait(jid)
    run_ok(psrv, "rm /etc/motd", workspace_id="golden", persistent=True)
    jid = psrv.submit("true", workspace_id="golden", persistent=True)
    psrv.wait(jid)
    sync(psrv, jid)
    # read-only base: the change is discarded
    out = run_ok(psrv, "cat /opt/tool/v; echo x > /opt/tool/v; cat /opt/tool/v",
                 base_workspace_id="golden")
    assert out == "gold\nx\n", out
    assert run_ok(psrv, "cat /opt/tool/v", base_workspace_id="golden") == "gold\n"
    # fork: gold + its own change; a deletion in the base stays deleted
    run_ok(psrv, "echo fork >> /opt/tool/v; test ! -e /etc/motd",
           base_workspace_id="golden", workspace_id="fork-1", persistent=True)
    assert run_ok(psrv, "cat /opt/tool/v", workspace_id="fork-1",
                  persistent=True) == "gold\nfork\n"
    assert run_ok(psrv, "rm /opt/tool/v; test ! -e /opt/tool/v && echo gone",
                  workspace_id="fork-1", persistent=True) == "gone\n"
    assert run_ok(psrv, "test ! -e /opt/tool/v && echo still-gone",
                  workspace_id="fork-1", persistent=True) == "still-gone\n"
    # golden is unchanged
    assert run_ok(psrv, "cat /opt/tool/v", workspace_id="golden",
                  persistent=True) == "gold\n"
    w = workspaces(psrv)
    assert w["fork-1"]["base"] == "golden"
    # a fork of the fork sees the whole chain
    jf = psrv.submit("echo deeper > /opt/tool/d", workspace_id="fork-1", persistent=True)
    psrv.wait(jf)
    sync(psrv, jf)
    out = run_ok(psrv, "cat /opt/tool/d; test ! -e /opt/tool/v && echo v-gone; "
                 "test ! -e /etc/motd && echo motd-gone", base_workspace_id="fork-1")
    assert out == "deeper\nv-gone\nmotd-gone\n", out
    # deleting a fork leaves golden usable as a base
    assert psrv.api("DELETE", "/mags-workspaces/fork-1").status == 200
    assert run_ok(psrv, "cat /opt/tool/v", base_workspace_id="golden") == "gold\n"


def test_delete_removes_the_head_and_collects_garbage(psrv):
    jid = psrv.submit("head -c 100000 /dev/urandom > /root/noise", workspace_id="garbage",
                      persistent=True)
    psrv.wait(jid)
    snap = sync(psrv, jid)["snapshot"]
    if psrv.store == "dir":
        objects = psrv.data_dir / "objects"
        assert (objects / "manifests" / snap).exists()
    assert psrv.api("DELETE", "/mags-workspaces/garbage").status == 200
    assert "garbage" not in workspaces(psrv)
    if psrv.store == "dir":
        uid = user_id(psrv)
        assert not (objects / "heads" / uid / "garbage").exists()
        assert wait_until(lambda: not (objects / "manifests" / snap).exists(), timeout=30)
    # a new workspace of that name starts empty (nothing restored)
    assert run_ok(psrv, "ls /root/noise 2>/dev/null || echo empty", workspace_id="garbage",
                  persistent=True) == "empty\n"


def test_delete_right_after_a_persistent_run_waits_for_its_sync(psrv):
    for i in range(3):
        jid = psrv.submit("head -c 20000000 /dev/urandom > /root/r", workspace_id="quick-del",
                          persistent=True)
        psrv.wait(jid)
        # the job's final sync may still run: the delete goes after it
        r = psrv.api("DELETE", "/mags-workspaces/quick-del", timeout=120)
        assert r.status == 200, r
        assert "quick-del" not in workspaces(psrv)


def test_base_without_a_snapshot_is_409(psrv):
    run_ok(psrv, "true", workspace_id="never-synced-local")
    error_shape(psrv.api("POST", "/mags-jobs", {"script": "true",
                                                "base_workspace_id": "never-synced-local"}), 409)


@pytest.mark.parametrize("crash_at", [1, 2, 3, 4])
def test_kill_during_sync_restores_old_or_new(psrv, monkeypatch, crash_at):
    name = "crashy-%d" % crash_at
    jid = psrv.submit("echo old > /root/v; echo keep > /root/k", workspace_id=name,
                      persistent=True)
    psrv.wait(jid)
    old = sync(psrv, jid)["snapshot"]
    # restart with the sync children dying before their crash_at-th write
    psrv.stop()
    real_env = conftest.clean_env
    monkeypatch.setattr(conftest, "clean_env", lambda extra=None: dict(
        real_env(extra), MAGS_SYNC_CRASH_AT=str(crash_at)))
    psrv.start()
    monkeypatch.setattr(conftest, "clean_env", real_env)
    jid = psrv.submit("echo new > /root/v; rm /root/k", workspace_id=name, persistent=True)
    psrv.wait(jid)
    # the job-end sync died at the crash point; this one dies too or, with
    # the blobs already there, gets through (fewer writes)
    r = psrv.api("POST", "/mags-jobs/%s/sync" % jid, timeout=60)
    assert r.status == 200 or r.status >= 500, r
    # and the daemon dies too, without any clean-up
    os.killpg(psrv.proc.pid, signal.SIGKILL)
    psrv.proc.wait(10)
    Server.all.remove(psrv) if psrv in Server.all else None
    d = ws_dir_from_disk(psrv, name)
    for m in reversed(mounts_under(d)):
        subprocess.run(["umount", m], check=True)
    subprocess.run(["rm", "-rf", str(d)], check=True)
    psrv.start()
    out = run_ok(psrv, "cat /root/v; cat /root/k 2>/dev/null || echo no-k",
                 workspace_id=name, persistent=True)
    assert out in ("old\nkeep\n", "new\nno-k\n"), out
    if r.status == 200:
        assert out == "new\nno-k\n", out


def ws_dir_from_disk(srv, name):
    """The workspace dir without asking the (dead) daemon."""
    hits = list((srv.data_dir / "workspaces").glob("*/" + name))
    assert len(hits) == 1, hits
    return hits[0]
