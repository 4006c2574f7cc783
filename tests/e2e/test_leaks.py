"""5,000 sandboxes created and destroyed at full speed leave nothing behind
(issue 8): no mount, cgroup, network namespace (its veth), loop device,
process or magsd fd of any of them.

16 clients, each with one keep-alive connection, submit one job after
another and follow its log to the end event. Of every 100 jobs: one is a
`mags new`-style sandbox on its own workspace (persistent, no sync: an
ext4 disk on a loop device, a control socket, a state file) that gets an
exec and is stopped; four run on a local workspace (a loop device too);
the rest are ephemeral `true`, one in ten without a network. Then every
workspace is deleted and the host is checked against what our own server
used, so other people's sandboxes on the same machine do not count: the
veths are the `mg<i>` links magsd logged for our jobs, the cgroups and
run files those named after our jobs, the mounts and loop devices those
under our data dir. magsd's warm pool (parked `mags-runtime run --pool`
members, at most pool_max) is not a leak.

MAGS_LEAK_RUNS (default 5000) changes the count.
"""
import glob
import http.client
import json
import os
import re
import threading
import time

from conftest import make_server, mounts_under, wait_until

RUNS = int(os.environ.get("MAGS_LEAK_RUNS", "5000"))
NETNS_KEEP = 64       # magsd's default netns_keep
POOL_MAX = 8          # and pool_max: parked members hold a namespace each
CLIENTS = 16
POOL_MAX = 8          # magsd's default pool_max
FD_SLACK = 4          # the store, MHD and the like may open a file lazily


class Client:
    def __init__(self, srv, token):
        self.srv = srv
        self.h = {"Authorization": "Bearer " + srv.tokens[token],
                  "Content-Type": "application/json"}
        self.conn = None

    def call(self, method, path, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.srv.port, timeout=120)
            try:
                self.conn.request(method, "/api/v1" + path,
                                  json.dumps(body) if body is not None else None, self.h)
                r = self.conn.getresponse()
                return r.status, r.read().decode("utf-8", "replace")
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise

    def follow_end(self, jid):
        st, body = self.call("GET", "/mags-jobs/%s/logs?follow=1" % jid)
        assert st == 200, (jid, st, body[:300])
        return json.loads(body.strip().splitlines()[-1])


def one_job(c, i, tag):
    """Run job i; returns (job id, workspace or None, problem or None)."""
    kind = i % 100
    if kind == 0:
        name = "%s-p%d" % (tag, i)
        st, body = c.call("POST", "/mags-jobs", {
            "script": "sleep infinity", "startup_command": "sleep infinity", "name": name,
            "workspace_id": name, "persistent": True, "no_sync": True})
        if st != 200:
            return None, name, "submit %d %s" % (st, body[:200])
        jid = json.loads(body)["request_id"]
        st, body = c.call("POST", "/mags-jobs/%s/exec" % jid, {"command": "echo hi"})
        if st != 200 or json.loads(body).get("stdout") != "hi\n":
            return jid, name, "exec %d %s" % (st, body[:200])
        st, body = c.call("POST", "/mags-jobs/%s/stop" % jid)
        if st != 200:
            return jid, name, "stop %d %s" % (st, body[:200])
        end = c.follow_end(jid)
        ok = end.get("status") == "stopped"
        return jid, name, None if ok else "end %r" % end
    if kind <= 4:
        name = "%s-w%d" % (tag, i)
        job = {"script": "echo %d > /root/f" % i, "workspace_id": name}
    else:
        name = None
        job = {"script": "true", "ephemeral": True}
        if kind % 10 == 5:
            job["network"] = "none"
    st, body = c.call("POST", "/mags-jobs", job)
    if st != 200:
        return None, name, "submit %d %s" % (st, body[:200])
    jid = json.loads(body)["request_id"]
    end = c.follow_end(jid)
    ok = end.get("status") == "completed" and end.get("exit_code") == 0
    return jid, name, None if ok else "end %r" % end


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def is_pool_member(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"\0--pool\0" in f.read()
    except OSError:
        return False


def job_processes(magsd_pid):
    """magsd's children but its parked pool members (and too many of those)."""
    kids = children(magsd_pid)
    pooled = [k for k in kids if is_pool_member(k)]
    others = [k for k in kids if k not in pooled]
    return others + (pooled if len(pooled) > POOL_MAX else [])


def fd_targets(pid):
    out = []
    for f in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, f)))
        except OSError:
            pass
    return out


def fd_count(pid):
    """magsd's fds but the network namespaces it keeps for reuse (counted
    on their own: kept_netns)."""
    return len([t for t in fd_targets(pid) if not t.startswith("net:[")])


def kept_netns(pid):
    return len([t for t in fd_targets(pid) if t.startswith("net:[")])


def loops_under(path):
    out = []
    for f in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(f) as fh:
                if fh.read().strip().startswith(str(path) + "/"):
                    out.append(f.split("/")[3])
        except OSError:
            pass
    return out


def cgroups_named(ids):
    found = []
    for base in glob.glob("/sys/fs/cgroup/*/mags*") + glob.glob("/sys/fs/cgroup/mags*"):
        for dirpath, dirnames, _ in os.walk(base):
            found += [os.path.join(dirpath, d) for d in dirnames if d in ids]
    return found


def links_used(log_path, ids):
    """The veth names (mg<i>) magsd logged for these jobs."""
    pat = re.compile(r"job (\S+) (?:spawned|took pooled) runtime .*network 10\.200\.(\d+)\.(\d+)/30")
    out = set()
    with open(log_path, errors="replace") as f:
        for line in f:
            m = pat.search(line)
            if m and m.group(1) in ids:
                out.add("mg%d" % ((int(m.group(2)) * 256 + int(m.group(3))) // 4))
    return out


def test_nothing_left_after_5000_sandboxes(session_dir, image_cache):
    srv = make_server(session_dir, image_cache, "leaks",
                      conf={"unmount_idle": 1, "idle_timeout": 0})
    try:
        used = run_leak_test(srv)
    finally:
        srv.stop()
    # The namespaces magsd kept for reuse go with it (their links too).
    alive = lambda: sorted(used & set(os.listdir("/sys/class/net")))
    assert wait_until(lambda: not alive(), 60, step=0.5), \
        "%d veths left after magsd stopped, e.g. %r" % (len(alive()), alive()[:10])


def run_leak_test(srv):
    pid = srv.proc.pid
    tag = "lk%d" % os.getpid()
    # the pool fills up right after the start: let it settle first
    time.sleep(1)
    pool_before = len(children(pid)) - len(job_processes(pid))
    fds_before = fd_count(pid)

    results, lock, nxt = [], threading.Lock(), [0]

    def client():
        c = Client(srv, "alice")
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= RUNS:
                return
            try:
                r = one_job(c, i, tag)
            except (OSError, ValueError, AssertionError) as e:
                r = (None, None, "%s: %s" % (type(e).__name__, e))
            with lock:
                results.append(r)

    t0 = time.time()
    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.time() - t0
    bad = [r for r in results if r[2]]
    assert len(results) == RUNS
    assert not bad, "%d of %d jobs failed, e.g. %r" % (len(bad), RUNS, bad[:3])
    ids = {r[0] for r in results}
    workspaces = sorted({r[1] for r in results if r[1]})

    c = Client(srv, "alice")
    for name in workspaces:
        # a disk being unmounted (unmount_idle) answers 409 "try again"
        deadline = time.time() + 30
        while True:
            st, body = c.call("DELETE", "/mags-workspaces/%s" % name)
            if st != 409 or "try again" not in body or time.time() > deadline:
                break
            time.sleep(0.2)
        assert st == 200, (name, st, body[:300])
    st, body = c.call("GET", "/mags-jobs?page_size=100&status=accepted,running,sleeping")
    assert st == 200 and json.loads(body)["total"] == 0, body[:500]

    # Processes: only parked pool members stay.
    assert wait_until(lambda: not job_processes(pid), 30), \
        "processes left: %r" % job_processes(pid)[:20]
    # Mounts and loop devices: none under the data dir once the disks are
    # unmounted (unmount_idle 1 s) and deleted.
    assert wait_until(lambda: not mounts_under(srv.data_dir), 30), mounts_under(srv.data_dir)[:10]
    assert wait_until(lambda: not loops_under(srv.data_dir), 30), loops_under(srv.data_dir)
    ws_dirs = glob.glob(str(srv.data_dir / "workspaces" / "*" / (tag + "-*")))
    assert not ws_dirs, ws_dirs[:10]
    # Cgroups named after a job.
    assert wait_until(lambda: not cgroups_named(ids), 30), cgroups_named(ids)[:10]
    # Network namespaces: each sandbox's netns holds the peer of its
    # host-side veth, so a netns that outlived its sandbox keeps mg<i>.
    # magsd keeps at most netns_keep of them for reuse (plus those of
    # parked pool members); the kernel removes the rest in the background.
    used = links_used(srv.log_path, ids)
    assert len(used) >= 4, "only %d links logged" % len(used)
    alive = lambda: sorted(used & set(os.listdir("/sys/class/net")))
    assert wait_until(lambda: len(alive()) <= NETNS_KEEP + POOL_MAX, 60, step=0.5), \
        "%d veths of ended sandboxes left, e.g. %r" % (len(alive()), alive()[:10])
    # Runtime scratch files (run dir) named after a job.
    run_left = [f for f in os.listdir(srv.data_dir / "run") if f.split(".")[0] in ids]
    assert not run_left, run_left[:10]
    # magsd's fds: back to what it held before (each parked pool member
    # holds a few; the pool may have grown meanwhile).
    pool_after = len(children(pid)) - len(job_processes(pid))
    allowed = fds_before + FD_SLACK + 4 * max(0, pool_after - pool_before)
    assert wait_until(lambda: fd_count(pid) <= allowed, 10), \
        "magsd holds %d fds, %d before (%s)" % (fd_count(pid), fds_before,
                                                 sorted(fd_targets(pid))[:40])
    # ... and the network namespaces it keeps are bounded.
    assert kept_netns(pid) <= NETNS_KEEP + POOL_MAX, kept_netns(pid)

    print("%d sandboxes in %.1f s (%.0f/s, %d clients), %d workspaces"
          % (RUNS, elapsed, RUNS / elapsed, CLIENTS, len(workspaces)))
    return used
