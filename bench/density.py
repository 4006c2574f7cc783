#!/usr/bin/env python3
"""Density benchmark (figure 4 of bench/README.md), driven by bench/run.sh.

N live idle sandboxes at once, as `mags new` makes them (persistent job,
`sleep infinity`, its own workspace, no sync), created as fast as the API
takes them (a few keep-alive clients), then:
  - the time from the first request until every one is `running`;
  - host memory per sandbox: the drop of MemAvailable (/proc/meminfo)
    divided by N, and where it went (anon pages, slab, kernel stacks, page
    tables, page cache deltas);
  - magsd's RSS (VmRSS) with all N live;
  - exec round trip (`true`, API) on random ones while all N are live;
  - stopping them all, then what is left: magsd children, mounts under the
    data dir, cgroups named after the jobs, loop devices over the count
    before.
The peers in the same run: N idle `sleep infinity` under `unshare
-fpmiun --mount-proc` and `bwrap --unshare-all` (busybox rootfs), and
`runc run --detach` of a busybox bundle (BENCH_DENSITY_PEER_N of them: runc
is slow to create). Writes one JSON object to --out. Standard library only.
"""
import argparse
import glob
import http.client
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

MIN_FREE_DISK = 4 << 30
MEMINFO_KEYS = ("MemAvailable", "MemFree", "AnonPages", "Slab", "SUnreclaim",
                "KernelStack", "PageTables", "Shmem", "Cached")


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in MEMINFO_KEYS:
                out[k] = int(v.split()[0])
    return out


def settle():
    """Wait until MemAvailable holds still (within 4 MiB over 1 s, at most
    30 s): what the last part freed (network namespaces are cleaned up in
    the background, RCU-deferred objects) must be gone before a reading."""
    subprocess.run(["sync"])
    deadline = time.time() + 30
    last = meminfo()["MemAvailable"]
    while time.time() < deadline:
        time.sleep(1.0)
        now = meminfo()["MemAvailable"]
        if abs(now - last) < 4096:
            return
        last = now


def slabinfo():
    """Bytes held by each slab cache (active objects x object size)."""
    out = {}
    try:
        with open("/proc/slabinfo") as f:
            for line in f.readlines()[2:]:
                p = line.split()
                out[p[0]] = int(p[1]) * int(p[3])
    except OSError:
        pass
    return out


def slab_top(before, after, n, k=10):
    """The k slab caches that grew most, KiB per sandbox."""
    d = sorted(((after.get(c, 0) - before.get(c, 0)) / 1024 / n, c) for c in after)
    return {c: round(v, 1) for v, c in reversed(d[-k:])}


def mem_delta(before, after, n):
    """KiB per sandbox for each meminfo field (MemAvailable: the drop)."""
    d = {k: round((after[k] - before[k]) / n, 1) for k in MEMINFO_KEYS if k != "MemAvailable"}
    d["MemAvailable_drop"] = round((before["MemAvailable"] - after["MemAvailable"]) / n, 1)
    return d


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.4999)) - 1))]


def loop_devices(under):
    """Loop devices attached to a file under a directory."""
    out = []
    for p in glob.glob("/sys/block/loop*/loop/backing_file"):
        try:
            with open(p) as f:
                if f.read().strip().startswith(under.rstrip("/") + "/"):
                    out.append(p.split("/")[3])
        except OSError:
            pass
    return sorted(out)


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def is_pool_member(pid):
    """A parked member of magsd's warm pool (mags-runtime run --pool): it
    belongs to no job and stays when every job has ended."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return b"\0--pool\0" in f.read()
    except OSError:
        return False


def job_children(pid):
    """magsd's children but its pool's parked members."""
    return [c for c in children(pid) if not is_pool_member(c)]


class Api:
    def __init__(self, url, token):
        host, port = url.split("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)

    def call(self, method, path, body=None):
        for attempt in range(2):
            try:
                self.conn.request(method, "/api/v1" + path,
                                  json.dumps(body) if body is not None else None, self.h)
                r = self.conn.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt:
                    raise


def parallel(fn, items, workers):
    """fn(api_index, item) over items with `workers` threads; the results in order."""
    out = [None] * len(items)
    nxt = [0]
    lock = threading.Lock()

    def work(w):
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(items):
                return
            out[i] = fn(w, items[i])
    ts = [threading.Thread(target=work, args=(w,)) for w in range(workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def mags_density(a):
    apis = [Api(a.url, a.token) for _ in range(a.workers)]
    api = apis[0]
    tag = "dens%d" % os.getpid()
    names = ["%s-%d" % (tag, i) for i in range(a.n)]
    settle()
    m0, rss0, s0 = meminfo(), rss_kib(a.magsd_pid), slabinfo()
    errors = []

    def create(w, name):
        # every sandbox has a disk image: stop before the host's disk is full
        fs = os.statvfs(a.data)
        if fs.f_bavail * fs.f_frsize < MIN_FREE_DISK:
            errors.append("stopped creating: less than %d GiB free on %s"
                          % (MIN_FREE_DISK >> 30, a.data))
            return None
        if a.no_workspace:
            # a sandbox without a disk: a job without a workspace (every
            # persistent one has one) that sleeps until it is stopped
            job = {"script": "sleep infinity", "name": name, "network": a.network,
                   "timeout": 3600}
        else:
            job = {"script": "sleep infinity", "startup_command": "sleep infinity",
                   "name": name, "workspace_id": name, "persistent": True,
                   "no_sync": True, "network": a.network}
        st, body = apis[w].call("POST", "/mags-jobs", job)
        if st != 200:
            errors.append("POST /mags-jobs: %d %s" % (st, body[:200]))
            return None
        return json.loads(body)["request_id"]

    t0 = time.perf_counter()
    ids = [j for j in parallel(create, names, a.workers) if j]
    t_submitted = time.perf_counter() - t0
    pending, failed = set(ids), []
    deadline = time.time() + max(120, a.n * 0.5)
    while pending and time.time() < deadline:
        # one list call per round instead of one status call per job
        running = set()
        page = 1
        while True:
            st, body = api.call("GET", "/mags-jobs?page_size=100&page=%d&status=running,error,"
                                "completed,stopped" % page)
            js = json.loads(body)["jobs"] if st == 200 else []
            for j in js:
                if j["request_id"] in pending:
                    if j["status"] == "running":
                        running.add(j["request_id"])
                    else:
                        failed.append(j["request_id"])
            if len(js) < 100:
                break
            page += 1
        pending -= running
        pending -= set(failed)
        if pending:
            time.sleep(0.05)
    t_all_running = time.perf_counter() - t0
    live = len(ids) - len(pending) - len(failed)
    if pending:
        errors.append("%d sandboxes not running after %.0f s" % (len(pending), t_all_running))
    if failed:
        errors.append("%d sandboxes ended instead of running" % len(failed))

    settle()
    m1, rss1, s1 = meminfo(), rss_kib(a.magsd_pid), slabinfo()
    magsd_fds = len(os.listdir("/proc/%d/fd" % a.magsd_pid))

    # exec round trip on random live sandboxes, all N still live
    live_ids = [j for j in ids if j not in pending and j not in failed]
    lat = []
    rnd = random.Random(1)
    for _ in range(min(a.exec_n, 10 * max(1, len(live_ids)))):
        if not live_ids:
            break
        jid = rnd.choice(live_ids)
        t = time.perf_counter()
        st, body = api.call("POST", "/mags-jobs/%s/exec" % jid, {"command": "true"})
        dt = time.perf_counter() - t
        if st != 200 or json.loads(body).get("exit_code") != 0:
            errors.append("exec on %s: %d %s" % (jid, st, body[:200]))
            break
        lat.append(dt * 1000)

    # stop them all, then look for what is left
    t1 = time.perf_counter()
    parallel(lambda w, j: apis[w].call("POST", "/mags-jobs/%s/stop" % j), ids, a.workers)
    t_stop = time.perf_counter() - t1
    deadline = time.time() + 60
    def busy():
        kids = children(a.magsd_pid)
        pooled = [c for c in kids if is_pool_member(c)]
        return len(kids) - len(pooled) > 0 or len(pooled) > a.pool_max
    while busy() and time.time() < deadline:
        time.sleep(0.1)
    t_gone = time.perf_counter() - t1
    # idle disks are unmounted unmount_idle (5 s) after their job, one
    # task per disk: with 1,000 of them that takes a while
    deadline = time.time() + max(30, a.n * 0.15)
    while time.time() < deadline:
        left_loops = loop_devices(a.data)
        left_mounts = [l.split()[4] for l in open("/proc/self/mountinfo")
                       if " %s/" % a.data in l]
        if not left_loops and not left_mounts:
            break
        time.sleep(0.25)
    t_unmounted = time.perf_counter() - t1
    idset = set(ids)
    left_cgroups = [d for d in glob.glob("/sys/fs/cgroup/**/mags*/**/", recursive=True)
                    if any(part in idset for part in d.split("/"))]
    leftovers = {"processes": job_children(a.magsd_pid), "mounts": left_mounts,
                 "loop_devices": left_loops, "cgroups": left_cgroups[:20]}
    # the workspaces themselves (local disks) are deleted local_ttl after use;
    # delete them now so the disk space goes back
    parallel(lambda w, nm: apis[w].call("DELETE", "/mags-workspaces/%s" % nm), names, a.workers)

    return {
        "n": a.n, "live": live, "workers": a.workers, "network": a.network,
        "submit_s": round(t_submitted, 2), "create_all_s": round(t_all_running, 2),
        "mem_per_sandbox_kib": mem_delta(m0, m1, max(1, live)),
        "slab_top_kib_each": slab_top(s0, s1, max(1, live)),
        "magsd_rss_kib": {"before": rss0, "with_all_live": rss1},
        "magsd_fds_with_all_live": magsd_fds,
        "exec_ms": {"n": len(lat), "median_ms": round(statistics.median(lat), 2) if lat else None,
                    "p99_ms": round(pct(lat, 99), 2) if lat else None},
        "stop_all_s": round(t_stop, 2), "all_gone_s": round(t_gone, 2),
        "disks_unmounted_s": round(t_unmounted, 2),
        "leftovers": leftovers, "errors": errors[:10],
    }


def spawn_many(argvs, ready=None):
    """Start every argv (stdio on /dev/null, own session) and return the Popens."""
    procs = []
    for argv in argvs:
        procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True))
    return procs


def count_sleepers(procs):
    """How many of procs have a `sleep` descendant yet (the sandbox is up)."""
    n = 0
    for p in procs:
        stack, found = [p.pid], False
        while stack and not found:
            q = stack.pop()
            try:
                with open("/proc/%d/comm" % q) as f:
                    found = f.read().strip() == "sleep"
            except OSError:
                pass
            stack += children(q)
        n += found
    return n


def peer_density(name, argv, n):
    settle()
    m0 = meminfo()
    t0 = time.perf_counter()
    procs = spawn_many([argv] * n)
    deadline = time.time() + 120
    while count_sleepers(procs) < n and time.time() < deadline:
        time.sleep(0.1)
    up = count_sleepers(procs)
    t_up = time.perf_counter() - t0
    settle()
    m1 = meminfo()
    for p in procs:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for p in procs:
        p.wait()
    res = {"n": n, "live": up, "create_all_s": round(t_up, 2),
           "mem_per_sandbox_kib": mem_delta(m0, m1, max(1, up))}
    if up < n:
        res["errors"] = ["only %d of %d came up" % (up, n)]
    return res


def runc_density(rootfs, work, n):
    runc = shutil.which("runc")
    if not runc:
        return {"skipped": "runc not installed"}
    bundle = Path(tempfile.mkdtemp(prefix="runc-dens-", dir=work))
    r = subprocess.run([runc, "spec"], cwd=bundle, capture_output=True, text=True)
    if r.returncode != 0:
        return {"skipped": "runc spec: " + r.stderr.strip()}
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["process"]["args"] = ["sleep", "infinity"]
    cfg["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(cfg))
    root = bundle / "state"
    cids = ["dens-%d-%d" % (os.getpid(), i) for i in range(n)]
    settle()
    m0 = meminfo()
    t0 = time.perf_counter()
    errors = []

    def start(w, cid):
        # The detached container keeps the stdio it was given: a pipe here
        # would never reach EOF, so its stderr goes to a file.
        errf = bundle / ("err-" + cid)
        with open(errf, "wb") as ef:
            r = subprocess.run([runc, "--root", str(root), "run", "--detach", "--bundle",
                                str(bundle), cid], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=ef)
        if r.returncode != 0:
            errors.append(errf.read_text(errors="replace")[-200:])
            return False
        return True
    up = sum(1 for ok in parallel(start, cids, 4) if ok)
    t_up = time.perf_counter() - t0
    settle()
    m1 = meminfo()
    parallel(lambda w, cid: subprocess.run([runc, "--root", str(root), "delete", "--force", cid],
                                           capture_output=True), cids, 4)
    res = {"n": n, "live": up, "create_all_s": round(t_up, 2),
           "mem_per_sandbox_kib": mem_delta(m0, m1, max(1, up))}
    if errors:
        res["errors"] = errors[:3]
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--magsd-pid", type=int, required=True)
    ap.add_argument("--data", required=True, help="magsd's data dir")
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--peer-n", type=int, default=200, help="runc sandboxes")
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--exec-n", type=int, default=200)
    ap.add_argument("--network", default="nat", choices=("nat", "none"),
                    help="the sandboxes' network (none: to see what the network costs)")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--no-workspace", action="store_true",
                    help="sandboxes without a workspace disk (jobs without a "
                    "workspace, sleeping until stopped): to see what the disk costs")
    ap.add_argument("--pool-max", type=int, default=8,
                    help="magsd's pool_max: that many parked members may stay")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()

    sys.stderr.write("bench: density: %d mags sandboxes ...\n" % a.n)
    doc = {"mags": mags_density(a)}
    sys.stderr.write("bench: density: mags: %s\n" % json.dumps(doc["mags"]))
    if a.no_peers:
        Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
        return 0
    sys.stderr.write("bench: density: peers ...\n")
    doc["unshare"] = peer_density("unshare", ["unshare", "-fpmiun", "--mount-proc",
                                              "sleep", "infinity"], a.n)
    doc["bwrap"] = peer_density("bwrap", ["bwrap", "--unshare-all", "--ro-bind", a.rootfs, "/",
                                          "--proc", "/proc", "--dev", "/dev",
                                          "sleep", "infinity"], a.n)
    doc["runc"] = runc_density(a.rootfs, a.data, a.peer_n)
    for k in ("unshare", "bwrap", "runc"):
        sys.stderr.write("bench: density: %s: %s\n" % (k, json.dumps(doc[k])))
    Path(a.out).write_text(json.dumps(doc, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
