#!/usr/bin/python3
"""Load: N concurrent clients submitting jobs and streaming their logs to
the end (issue 9).

Each client is a thread with one keep-alive HTTP connection, in a loop
until the duration is over: POST /mags-jobs (a small script printing
LINES lines), then GET /mags-jobs/{id}/logs?follow=1 read to its end
event; the job must be `completed`, exit 0, with every line in order.
Anything else (an error status, a refused or broken connection, a
missing line, a job that did not complete) counts as a failed request.

magsd's limit of connections per client address (128, a slowloris
guard in src/magsd/http.c) is below 200: like real clients, ours come
from several addresses, 127.0.0.2 .. 127.0.0.(1+ADDRS), all on loopback.

Figures: requests, jobs, failures, requests/s, p50/p99 of the submit and
of a job's whole round trip (submit to end event), magsd's peak RSS
(VmHWM from /proc/<pid>/status), its RSS and fds before and after. Then
what is left behind once every job ended: live jobs, mags-runtime
processes and cgroups of the jobs, mounts under the data dir, and the fds
magsd holds compared to before (less 2 per parked warm-pool member: the
pool grows with demand by design).

Standalone (starts its own magsd on a fresh data dir):
    make B=/tmp/x/build -j2
    MAGS_BUILD_DIR=/tmp/x/build bench/load.py [--clients 200] [--duration 180]
prints the figures as one JSON object (and a summary on stderr).
tests/security/test_load.py runs run_load() for ~60 s and checks them.
"""
import argparse
import glob
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINES = 5
ADDRS = 8


def script_for(n):
    return ("echo start; i=0; while [ $i -lt %d ]; do echo line $i; i=$((i+1)); done"
            % n)


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * (len(xs) - 1)))))
    return xs[k]


def proc_status(pid):
    d = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                d[k] = v.strip()
    except OSError:
        pass
    return d


def kib(v):
    return int(v.split()[0]) if v else 0


# fds magsd may open lazily once (as tests/e2e/test_leaks.py allows): a
# leak per job would be thousands at the load's 14,000 jobs
FD_SLACK = 4
# magsd's default netns_keep (spare namespaces) plus pool_max (parked
# members hold one each)
NETNS_KEEP_MAX = 64 + 8


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def pool_members(pid):
    """magsd's parked warm-pool runtimes (children run with --pool)."""
    n = 0
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid == pid and b"\0--pool\0" in open("/proc/%s/cmdline" % p, "rb").read():
                n += 1
        except (OSError, ValueError, IndexError):
            pass
    return n


def netns_fds(pid):
    """magsd's fds of network namespaces it keeps for reuse (netns_keep:
    bounded, reported on their own)."""
    n = 0
    try:
        for f in os.listdir("/proc/%d/fd" % pid):
            try:
                n += os.readlink("/proc/%d/fd/%s" % (pid, f)).startswith("net:[")
            except OSError:
                pass
    except OSError:
        return -1
    return n


def own_fds(pid):
    """magsd's fds less the 2 of each pool member (its status pipe and
    job socket): the pool grows and shrinks with demand, by design; and
    less the network namespaces it keeps (netns_fds, bounded)."""
    n = fd_count(pid)
    return n - 2 * pool_members(pid) - max(0, netns_fds(pid)) if n >= 0 else n


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.requests = 0
        self.jobs = 0
        self.failures = 0
        self.errors = {}
        self.submit_ms = []
        self.job_ms = []
        self.ids = []

    def fail(self, what):
        with self.lock:
            self.failures += 1
            self.errors[what] = self.errors.get(what, 0) + 1


def client(host, port, token, src, deadline, stats, body_extra, lines):
    conn = None
    hdr = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    body = dict(body_extra, script=script_for(lines))
    want = ["start"] + ["line %d" % i for i in range(lines)]
    while time.time() < deadline:
        try:
            if conn is None:
                conn = http.client.HTTPConnection(host, port, timeout=120,
                                                  source_address=(src, 0))
            t0 = time.time()
            conn.request("POST", "/api/v1/mags-jobs", json.dumps(body), hdr)
            r = conn.getresponse()
            data = r.read()
            t1 = time.time()
            with stats.lock:
                stats.requests += 1
            if r.status != 200:
                stats.fail("submit %d %s" % (r.status, data[:120].decode("utf-8", "replace")))
                continue
            jid = json.loads(data)["request_id"]
            with stats.lock:
                stats.submit_ms.append((t1 - t0) * 1000)
                stats.ids.append(jid)
            conn.request("GET", "/api/v1/mags-jobs/%s/logs?follow=1" % jid,
                         headers={"Authorization": "Bearer " + token})
            r = conn.getresponse()
            text = r.read().decode("utf-8", "replace")
            t2 = time.time()
            with stats.lock:
                stats.requests += 1
            if r.status != 200:
                stats.fail("follow %d" % r.status)
                continue
            recs = [json.loads(l) for l in text.splitlines() if l.strip()]
            out = [x["message"] for x in recs if x.get("source") == "stdout"]
            end = recs[-1] if recs else {}
            if end.get("event") != "end" or end.get("status") != "completed" \
                    or end.get("exit_code") != 0:
                stats.fail("job ended %s/%s: %s" % (end.get("status"), end.get("exit_code"),
                                                   end.get("error_message")))
                continue
            if out != want:
                stats.fail("output %r" % out[:3])
                continue
            with stats.lock:
                stats.jobs += 1
                stats.job_ms.append((t2 - t0) * 1000)
        except (OSError, http.client.HTTPException, ValueError) as e:
            stats.fail("%s: %s" % (type(e).__name__, str(e)[:80]))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def run_load(url, token, magsd_pid, clients=200, duration=60, body_extra=None,
             lines=LINES, sample_every=0.5):
    """Run the load against a live magsd; returns the figures (a dict)."""
    host, port = url.split("//", 1)[1].split(":")
    port = int(port)
    stats = Stats()
    before = proc_status(magsd_pid)
    fds_before = own_fds(magsd_pid)
    deadline = time.time() + duration
    threads = []
    for i in range(clients):
        src = "127.0.0.%d" % (2 + i % ADDRS)
        t = threading.Thread(target=client, args=(host, port, token, src, deadline, stats,
                                                  body_extra or {}, lines), daemon=True)
        threads.append(t)
    t0 = time.time()
    for t in threads:
        t.start()
    rss_max = 0
    while any(t.is_alive() for t in threads):
        st = proc_status(magsd_pid)
        rss_max = max(rss_max, kib(st.get("VmRSS")))
        time.sleep(sample_every)
        if time.time() > deadline + 300:
            stats.fail("clients still running 300 s after the end")
            break
    elapsed = time.time() - t0
    after = proc_status(magsd_pid)
    r = lambda x: round(x, 1) if x is not None else None  # noqa: E731
    return {
        "clients": clients,
        "duration_s": round(elapsed, 1),
        "requests": stats.requests,
        "jobs": stats.jobs,
        "failures": stats.failures,
        "errors": dict(sorted(stats.errors.items(), key=lambda kv: -kv[1])[:10]),
        "requests_per_s": round(stats.requests / elapsed, 1),
        "jobs_per_s": round(stats.jobs / elapsed, 1),
        "submit_ms_p50": r(percentile(stats.submit_ms, 50)),
        "submit_ms_p99": r(percentile(stats.submit_ms, 99)),
        "job_ms_p50": r(percentile(stats.job_ms, 50)),
        "job_ms_p99": r(percentile(stats.job_ms, 99)),
        "magsd_rss_kib_before": kib(before.get("VmRSS")),
        "magsd_rss_kib_max_sampled": rss_max,
        "magsd_rss_kib_after": kib(after.get("VmRSS")),
        "magsd_vmhwm_kib": kib(after.get("VmHWM")),
        "magsd_fds_before": fds_before,
        "job_ids": stats.ids,
    }


# ---- what is left behind ---------------------------------------------------------

def runtimes_of(ids):
    ids = set(ids)
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            argv = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"mags-runtime"):
            for i, a in enumerate(argv[:-1]):
                if a == b"--id" and argv[i + 1].decode() in ids:
                    out.append(int(p))
    return out


def cgroups_of(ids):
    ids = set(ids)
    found = []
    for base in glob.glob("/sys/fs/cgroup/*/mags") + glob.glob("/sys/fs/cgroup/mags"):
        try:
            found += [os.path.join(base, d) for d in os.listdir(base) if d in ids]
        except OSError:
            pass
    return found


def mounts_under(path):
    path = str(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def live_jobs(url, token):
    c = http.client.HTTPConnection(url.split("//", 1)[1], timeout=30)
    c.request("GET", "/api/v1/mags-jobs?page_size=100&status=accepted,running",
              headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = json.loads(r.read())
    c.close()
    return body.get("jobs", [])


def leftovers(url, token, magsd_pid, data_dir, ids, fds_before, settle=30):
    """What is still there once every job ended (waits up to settle s)."""
    deadline = time.time() + settle
    while True:
        left = {
            "live_jobs": len(live_jobs(url, token)),
            "runtimes": len(runtimes_of(ids)),
            "cgroups": len(cgroups_of(ids)),
            "mounts": mounts_under(data_dir),
            "magsd_fds": own_fds(magsd_pid),
            "magsd_fds_before": fds_before,
            "magsd_netns_kept": netns_fds(magsd_pid),
        }
        clean = (not left["live_jobs"] and not left["runtimes"] and not left["cgroups"]
                 and not left["mounts"] and left["magsd_fds"] <= fds_before + FD_SLACK
                 and left["magsd_netns_kept"] <= NETNS_KEEP_MAX)
        if clean or time.time() > deadline:
            left["clean"] = clean
            return left
        time.sleep(0.5)


# ---- standalone ------------------------------------------------------------------

def start_magsd(build, data_dir, conf):
    magsd = str(build / "bin" / "magsd")
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGS_")}
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "magsd.conf").write_text("".join("%s = %s\n" % kv for kv in conf.items()))
    run = lambda *a: subprocess.run([magsd, *a, "--data-dir", str(data_dir)], env=env,  # noqa
                                    check=True, capture_output=True, text=True).stdout
    if not (data_dir / "images" / "busybox").exists():
        run("image", "build", "busybox")
    run("user", "add", "load")
    token = run("token", "create", "--user", "load").strip()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(data_dir / "magsd.stderr", "ab")
    proc = subprocess.Popen([magsd, "serve", "--data-dir", str(data_dir), "--listen",
                             "127.0.0.1:%d" % port, "--image", "busybox"], env=env,
                            stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                            start_new_session=True)
    url = "http://127.0.0.1:%d" % port
    for _ in range(300):
        try:
            with socket.create_connection(("127.0.0.1", port), 0.2):
                return proc, url, token
        except OSError:
            time.sleep(0.05)
    raise SystemExit("magsd did not start; see %s/magsd.stderr" % data_dir)


# magsd's settings for the load: enough live jobs for every client (the
# default max_jobs is 64, and a submit beyond it is refused with 429).
LOAD_CONF = {"max_jobs": 512}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clients", type=int, default=200)
    ap.add_argument("--duration", type=float, default=180)
    ap.add_argument("--lines", type=int, default=LINES)
    ap.add_argument("--network", default=None, help="the jobs' network (default: server's)")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the data dir")
    a = ap.parse_args()
    build = Path(os.environ.get("MAGS_BUILD_DIR") or ROOT / "build").resolve()
    data_dir = Path(a.data_dir or tempfile.mkdtemp(prefix="mags-load-"))
    proc, url, token = start_magsd(build, data_dir, LOAD_CONF)
    try:
        extra = {"network": a.network} if a.network else {}
        fig = run_load(url, token, proc.pid, a.clients, a.duration, extra, a.lines)
        left = leftovers(url, token, proc.pid, data_dir, fig["job_ids"],
                         fig["magsd_fds_before"])
        fig["left"] = left
        fig.pop("job_ids")
        print(json.dumps(fig, indent=1))
        print("load: %d clients %.0f s: %d requests (%.1f/s), %d jobs, %d failures; "
              "submit p50 %s p99 %s ms; job p50 %s p99 %s ms; magsd VmHWM %d KiB; "
              "left behind: %s" % (
                  a.clients, fig["duration_s"], fig["requests"], fig["requests_per_s"],
                  fig["jobs"], fig["failures"], fig["submit_ms_p50"], fig["submit_ms_p99"],
                  fig["job_ms_p50"], fig["job_ms_p99"], fig["magsd_vmhwm_kib"],
                  "nothing" if left["clean"] else left), file=sys.stderr)
        return 0 if fig["failures"] == 0 and left["clean"] else 1
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        if not a.keep and not mounts_under(data_dir):
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
