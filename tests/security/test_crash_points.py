"""Crash safety (issue 9): magsd killed with SIGKILL at every enumerated
point of job start, restore, sync and cron firing, then restarted.

`magsd crash-points` lists the points (src/magsd/crashpoint.c);
MAGS_CRASH_AT=NAME[@N] makes magsd die at the N-th time it reaches NAME.
For each point a fresh magsd gets acknowledged state first (a persistent
workspace whose data was synced, a cron entry), its workspace's local disk
is thrown away so the next run must restore it from the object store, then
it is started armed and driven through the API until it dies there. A
restarted magsd must then show:

- no job left in accepted or running without a live sandbox (bounded time);
- every acknowledged write intact: job records, the synced data (and the
  data of a sync whose POST answered 200 before the crash), the cron entry;
- the workspace usable again (a new run on it works: its lock is clear);
- a cron entry due at the crash fires after the restart;
- nothing left behind once every job ended: no mags-runtime of an ended
  job, no cgroup named after one of its jobs, no mount under the data dir
  but the workspaces' own disks (each once), no loop device onto a file of
  the data dir that is not mounted (held by nobody or by this server), no
  network namespace mount, no half-built snapshot, and a base snapshot
  materialises again.
"""
import glob
import http.client
import os
import re
import signal
import sqlite3
import subprocess
import time
import urllib.error

import pytest

from . import conftest as sec

e2e = sec.e2e
need = sec.need
Server = sec.Server
wait_until = sec.wait_until
MAGSD = sec.MAGSD
ROOT = sec.ROOT

CRASH_CALL = re.compile(r'\bcrashpoint\("([^"]+)"\)')


def listed_points():
    """The table, from the binary (empty if not built: the test then says so)."""
    try:
        out = subprocess.run([str(MAGSD), "crash-points"], capture_output=True, text=True,
                             timeout=10).stdout
    except OSError:
        return []
    return [line.split()[0] for line in out.splitlines() if line.strip()]


# Every point once, plus the second hit of points the trigger reaches on two
# paths (a workspace job after an ephemeral one) and the first writes of a
# sync. (Hits are counted per process: a point reached in forked workers is
# hit once in each, so the restore points are armed for the first restore;
# "/base": the local disk is kept, so the first restore is the base
# snapshot's materialisation.)
EXTRA = ["job-start:spawned@2", "job-start:running@2", "sync:write@2", "sync:write@3",
         "restore:blobs-fetched/base", "restore:tree-built/base"]
POINTS = listed_points()
CASES = POINTS + [p for p in EXTRA if re.split("[@/]", p)[0] in POINTS] or ["(magsd not built)"]

WS = "crashws"
CRON_SCRIPT = "echo cron-fired"


def test_every_crashpoint_call_is_listed():
    need(POINTS, "magsd not built (run make)")
    calls = set()
    for src in (ROOT / "src" / "magsd").glob("*.c"):
        calls |= set(CRASH_CALL.findall(src.read_text()))
    assert calls == set(POINTS), (sorted(calls - set(POINTS)), sorted(set(POINTS) - calls))
    assert len(POINTS) == len(set(POINTS))


# ---- harness -----------------------------------------------------------------

@pytest.fixture(scope="module")
def busybox_cache(sec_dir):
    missing = e2e._binaries_missing()
    need(not missing, "not built (run make): " + ", ".join(missing))
    need(os.geteuid() == 0, "sandboxes need root")
    cache = sec_dir / "crash-image"
    if not (cache / "images" / "busybox" / "rootfs" / "bin" / "sh").exists():
        Server(cache).admin("image", "build", "busybox")
    return cache


def call(s, method, path, body=None, timeout=30):
    """s.api, or None when magsd is gone (the connection broke)."""
    try:
        return s.api(method, path, body, timeout=timeout)
    except (OSError, http.client.HTTPException, urllib.error.URLError):
        return None


def start_armed(s, point):
    """Start s with the point armed (one attempt: Server.start retries when
    its log says "in use", and a retry would run past the point). True once
    it answers; False if it died first (a cron point can fire at once)."""
    s.port = e2e.free_port()
    s.url = "http://127.0.0.1:%d" % s.port
    s.log = open(s.log_path, "ab")
    s.proc = subprocess.Popen(
        [str(MAGSD), "serve", "--data-dir", str(s.data_dir),
         "--listen", "127.0.0.1:%d" % s.port, "--image", s.image],
        env=e2e.clean_env({"MAGS_CRASH_AT": point}), stdin=subprocess.DEVNULL,
        stdout=s.log, stderr=s.log, start_new_session=True)
    Server.all.append(s)
    deadline = time.time() + 15
    while time.time() < deadline and s.proc.poll() is None:
        r = call(s, "GET", "/whoami")
        if r is not None and r.status == 200:
            return True
        time.sleep(0.05)
    return False


def dead(s):
    return s.proc.poll() is not None


def job_status(s, jid):
    r = call(s, "GET", "/mags-jobs/%s/status" % jid)
    return r.json if r is not None and r.status == 200 else None


def ws_dir(s):
    hits = list((s.data_dir / "workspaces").glob("*/" + WS))
    assert len(hits) == 1, hits
    return hits[0]


def drop_local_disk(s):
    """With magsd down: unmount and delete the workspace's local disk, so
    the next run on it restores from the object store."""
    d = ws_dir(s)
    for m in reversed(e2e.mounts_under(d)):
        subprocess.run(["umount", m], check=True)
    subprocess.run(["rm", "-rf", str(d)], check=True)


def set_cron_due(s, cid):
    db = sqlite3.connect(str(s.data_dir / "mags.db"))
    with db:
        db.execute("UPDATE cron_jobs SET next_run_at = ? WHERE id = ?",
                   (int(time.time() * 1000) - 1000, cid))
    db.close()


def trigger(s, acked):
    """Drive every step the points sit on, until magsd dies. Records what
    the API acknowledged before that in acked."""
    # an ephemeral job that outlives the crash (its runtime must not outlive
    # its record)
    r = call(s, "POST", "/mags-jobs", {"script": "echo eph; sleep 60"})
    if r is None:
        return
    assert r.status == 200, r
    eph = r.json["request_id"]
    acked["jobs"].append(eph)
    wait_until(lambda: dead(s) or (job_status(s, eph) or {}).get("status") == "running", 20)
    # a persistent run on the workspace: restore, start, sync
    r = call(s, "POST", "/mags-jobs", {"script": "cat /root/acked; echo v2 > /root/new",
                                       "workspace_id": WS, "persistent": True})
    if r is None:
        return
    assert r.status == 200, r
    pj = r.json["request_id"]
    acked["jobs"].append(pj)
    wait_until(lambda: dead(s) or (job_status(s, pj) or {}).get("exit_code") is not None, 60)
    r = call(s, "POST", "/mags-jobs/%s/sync" % pj, timeout=60)
    if r is not None and r.status == 200:
        acked["new"] = True
    call(s, "POST", "/mags-jobs/%s/stop" % pj, timeout=60)
    call(s, "POST", "/mags-jobs/%s/stop" % eph, timeout=60)
    # a base snapshot materialised for a job without a workspace
    r = call(s, "POST", "/mags-jobs", {"script": "cat /root/acked", "base_workspace_id": WS})
    if r is not None and r.status == 200:
        acked["jobs"].append(r.json["request_id"])
        bj = r.json["request_id"]
        wait_until(lambda: dead(s) or (job_status(s, bj) or {}).get("status")
                   in e2e.TERMINAL, 60)


def runtime_pids_of(ids):
    """mags-runtime processes whose --id is one of ids."""
    out = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if not argv or not argv[0].endswith(b"mags-runtime"):
            continue
        for i, a in enumerate(argv[:-1]):
            if a == b"--id" and argv[i + 1].decode() in ids:
                out[int(p)] = argv[i + 1].decode()
    return out


def cgroups_of(ids):
    found = []
    for base in glob.glob("/sys/fs/cgroup/*/mags") + glob.glob("/sys/fs/cgroup/mags"):
        for d in os.listdir(base):
            if d in ids:
                found.append(os.path.join(base, d))
    return found


def loops_into(path):
    """{loop device: backing file} for loop devices onto files under path."""
    out = {}
    for bf in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            f = open(bf).read().strip()
        except OSError:
            continue
        if f.startswith(str(path) + "/"):
            out[bf.split("/")[3]] = f
    return out


def holders(loops):
    """{loop device: {pid: command line}} of the processes whose mount
    namespace has it mounted: what keeps a loop device busy."""
    out = {dev: {} for dev in loops}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            text = open("/proc/%s/mountinfo" % p).read()
            cmd = open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ")[:120]
        except OSError:
            continue
        for dev in loops:
            if "/dev/%s " % dev in text:
                out[dev][int(p)] = cmd.decode("utf-8", "replace")
    return out


def all_jobs(s):
    r = s.api("GET", "/mags-jobs?page_size=100")
    assert r.status == 200, r
    return r.json["jobs"]


def no_stuck_jobs(s):
    """Every job is terminal or sleeping, or running with a sandbox that
    answers an exec."""
    for j in all_jobs(s):
        if j["status"] == "accepted":
            return False
        if j["status"] == "running":
            r = call(s, "POST", "/mags-jobs/%s/exec" % j["request_id"], {"command": "true"})
            if r is None or r.status != 200 or r.json.get("exit_code") != 0:
                return False
    return True


# ---- the test ------------------------------------------------------------------

@pytest.mark.parametrize("point", CASES)
def test_kill_at_crash_point_loses_nothing_acknowledged(sec_dir, busybox_cache, point):
    need(POINTS, "magsd not built (run make)")
    # short: the control sockets' paths must fit in sun_path
    d = sec_dir / ("k%d" % CASES.index(point))
    e2e.remove_tree(d)
    s = Server(d)
    s.build_image(cache=busybox_cache)
    s.start()
    s.add_user("alice")
    magsd_pids = [s.proc.pid]
    try:
        # acknowledged state: synced data, a job record, a cron entry
        jid = s.submit("echo v1 > /root/acked", workspace_id=WS, persistent=True)
        assert wait_until(lambda: s.status(jid).get("exit_code") is not None
                          or s.status(jid)["status"] in e2e.TERMINAL, 60), s.status(jid)
        st = s.status(jid)
        assert st["exit_code"] == 0, (st["status"], st["error_message"])
        r = s.api("POST", "/mags-jobs/%s/sync" % jid, timeout=60)
        assert r.status == 200, r
        assert s.wait(jid, timeout=60)["status"] == "stopped"
        r = s.api("POST", "/mags-cron", {"name": "c", "cron_expression": "0 0 1 1 *",
                                          "script": CRON_SCRIPT})
        assert r.status == 201, r
        cron = r.json
        acked = {"jobs": [jid], "new": False}
        s.stop()
        armed = point.split("/")[0]
        if not point.endswith("/base"):
            drop_local_disk(s)
        cron_point = point.startswith("cron:")
        if cron_point:
            set_cron_due(s, cron["id"])

        # armed: drive it until it dies at the point
        armed_up = start_armed(s, armed)
        magsd_pids.append(s.proc.pid)
        if armed_up and not cron_point:
            trigger(s, acked)
        assert wait_until(lambda: dead(s), 60), "magsd never reached '%s':\n%s" % (
            point, s.log_tail(40))
        assert s.proc.returncode == -signal.SIGKILL, s.proc.returncode
        assert "crash point '%s'" % armed.split("@")[0] in s.log_tail(), s.log_tail()
        Server.all.remove(s) if s in Server.all else None

        # restarted, unarmed
        s.start()
        magsd_pids.append(s.proc.pid)
        assert wait_until(lambda: no_stuck_jobs(s), 60), all_jobs(s)
        for j in acked["jobs"]:
            assert job_status(s, j) is not None, "acknowledged job %s is gone" % j
        r = s.api("GET", "/mags-cron/" + cron["id"])
        assert r.status == 200, r
        assert r.json["script"] == CRON_SCRIPT and r.json["cron_expression"] == "0 0 1 1 *"
        if cron_point:
            # the due firing happens (again) after the restart and ends
            assert wait_until(lambda: s.api("GET", "/mags-cron/" + cron["id"]).json
                              .get("last_job_id"), 30), s.log_tail()
            c = s.api("GET", "/mags-cron/" + cron["id"]).json
            last = s.wait(c["last_job_id"], timeout=60)
            assert c["run_count"] >= 1
            if point == "cron:recorded":
                # the firing was recorded; its sandbox died with the daemon
                assert last["status"] == "completed" or \
                    "daemon restarted" in (last["error_message"] or ""), last
            else:
                # not recorded: it fires again after the restart
                assert last["status"] == "completed", last
        # the workspace is usable, with every acknowledged byte
        s.stop_live_jobs()
        st, out, err, _ = s.run("cat /root/acked; cat /root/new 2>/dev/null || echo no-new",
                                timeout=120, workspace_id=WS, persistent=True)
        assert st["status"] in ("completed", "stopped") and st.get("exit_code") == 0, (st, err)
        lines = out.splitlines()
        assert lines[0] == "v1", (out, err)
        if acked["new"]:
            assert lines[1] == "v2", out
        # a base snapshot materialises again, with nothing half-built left
        st, out, err, _ = s.run("cat /root/acked", timeout=120, base_workspace_id=WS)
        assert st["status"] == "completed" and out == "v1\n", (st, out, err)
        assert not list((s.data_dir / "snapshots").glob(".tmp-*"))
        # nothing left behind once every job ended
        s.stop_live_jobs()
        ids = {j["request_id"] for j in all_jobs(s)}
        assert all(j["status"] in e2e.TERMINAL for j in all_jobs(s)), all_jobs(s)
        assert wait_until(lambda: not runtime_pids_of(ids), 20), \
            "runtimes of ended jobs: %r\n%s" % (runtime_pids_of(ids), s.log_tail(80))
        assert wait_until(lambda: not cgroups_of(ids), 10), cgroups_of(ids)
        s.stop()
        mounts = e2e.mounts_under(s.data_dir)
        allowed = str(ws_dir(s) / "mnt")
        assert all(m == allowed for m in mounts) and len(mounts) <= 1, mounts
        # (a loop device goes a moment after its unmount). A loop device
        # whose mount only another daemon's process still holds (a copy
        # taken by a parked pool member of a runtime built before
        # mounts_make_slave) is theirs to release: ours are the loop
        # devices nobody holds, or one of this server's processes.
        want = [str(ws_dir(s) / "disk.img")] if mounts else []

        def ours():
            loops = loops_into(s.data_dir)
            held = holders(loops)
            mine = ["pool-%d-" % p for p in magsd_pids] + list(ids)
            return sorted(f for dev, f in loops.items()
                          if not held.get(dev) or any(any(m in cmd for m in mine)
                                                      for cmd in held[dev].values()))
        assert wait_until(lambda: ours() == want, 10), \
            (loops_into(s.data_dir), mounts, holders(loops_into(s.data_dir)))
        nsfs = [l for l in open("/proc/self/mountinfo") if str(s.data_dir) in l
                and " nsfs " in l]
        assert not nsfs, nsfs
    finally:
        if s.proc and s.proc.poll() is None:
            s.stop()
        # keep the host clean for the next case
        for m in reversed(e2e.mounts_under(d)):
            subprocess.run(["umount", "-l", m])
        e2e.remove_tree(d)
