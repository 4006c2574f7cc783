#!/usr/bin/env python3
"""Long-lived sandbox benchmark (issue 4), driven by bench/exec_bench.sh.

In the same run, N times each after a warm-up (the first two taking turns
in blocks of 10, so load from elsewhere weighs on both alike):
  fork+exec+wait true        the floor: process creation on this host
  api exec true              POST /mags-jobs/{id}/exec, one keep-alive connection
  cli mags exec true         the whole CLI process
  nsenter true               nsenter into the live sandbox's namespaces
  wake -> first byte         a sleeping sandbox whose workspace holds
                             --files files (10k) on the local disk: exec
                             ?stream=1 until the first output line arrives
                             (includes the wake); the files are checked after
Prints median and p99; JSON goes to bench/results/exec-<time>.json.
Standard library only.
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WARMUP = 5


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


class Api:
    def __init__(self, url, token):
        host, port = url.split("//", 1)[1].split(":")
        self.host, self.port = host, int(port)
        self.conn = http.client.HTTPConnection(host, self.port, timeout=60)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.conn.request(method, "/api/v1" + path,
                          json.dumps(body) if body is not None else None, self.h)
        r = self.conn.getresponse()
        return r.status, r.read()

    def first_byte(self, job, command):
        """Seconds from the request to the first streamed output line."""
        c = http.client.HTTPConnection(self.host, self.port, timeout=60)
        t0 = time.perf_counter()
        c.request("POST", "/api/v1/mags-jobs/%s/exec?stream=1" % job,
                  json.dumps({"command": command}), self.h)
        r = c.getresponse()
        line = r.readline()
        dt = time.perf_counter() - t0
        assert b'"stream"' in line, line
        r.read()
        c.close()
        return dt


def measure(fn, n):
    for _ in range(WARMUP):
        fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def measure_side_by_side(fns, n, block=10):
    """Each of fns n times, taking turns in blocks of `block`: a burst of
    load on a shared host then weighs on every case alike, so their
    difference (the target) is measured in the same conditions."""
    for fn in fns:
        for _ in range(WARMUP):
            fn()
    out = [[] for _ in fns]
    while len(out[0]) < n:
        for fn, xs in zip(fns, out):
            for _ in range(min(block, n - len(xs))):
                t0 = time.perf_counter()
                fn()
                xs.append(time.perf_counter() - t0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--mags", default=str(ROOT / "build" / "bin" / "mags"))
    ap.add_argument("--data", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--n-wake", type=int, default=20)
    ap.add_argument("--idle", type=float, default=1.0)
    ap.add_argument("--files", type=int, default=10000)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    a = ap.parse_args()
    api = Api(a.url, a.token)

    st, body = api.call("POST", "/mags-jobs", {
        "script": "sleep infinity", "name": "bench", "workspace_id": "bench",
        "persistent": True, "no_sync": True, "startup_command": "sleep infinity"})
    assert st == 200, body
    job = json.loads(body)["request_id"]
    while json.loads(api.call("GET", "/mags-jobs/%s/status" % job)[1])["status"] != "running":
        time.sleep(0.02)

    # the workspace of the wake case: --files small files in /root/w
    st, body = api.call("POST", "/mags-jobs/%s/exec" % job, {
        "command": "mkdir -p /root/w && cd /root/w && i=0; while [ $i -lt %d ]; do "
                   "echo $i > f$i; i=$((i+1)); done; ls | wc -l" % a.files, "timeout": 600})
    assert st == 200 and json.loads(body)["stdout"].strip() == str(a.files), body

    results = {}

    def bare():
        pid = os.posix_spawn("/bin/true", ["true"], os.environ)
        os.waitpid(pid, 0)

    def api_exec():
        st, body = api.call("POST", "/mags-jobs/%s/exec" % job, {"command": "true"})
        assert st == 200 and json.loads(body)["exit_code"] == 0, body
    results["fork+exec+wait true"], results["api exec true"] = measure_side_by_side(
        [bare, api_exec], a.n)

    env = dict(os.environ, MAGS_API_URL=a.url, MAGS_API_TOKEN=a.token)
    def cli_exec():
        subprocess.run([a.mags, "exec", "bench", "true"], env=env, check=True,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    results["cli mags exec true"] = measure(cli_exec, max(20, a.n // 4))

    state = Path(a.data, "run", job + ".state").read_text()
    init = [l.split()[1] for l in state.splitlines() if l.startswith("started ")][0]
    def nsenter():
        subprocess.run(["nsenter", "-t", init, "-U", "-m", "-p", "-n", "-u", "-i",
                        "--preserve-credentials", "true"], check=True)
    try:
        results["nsenter true"] = measure(nsenter, max(20, a.n // 4))
    except (subprocess.CalledProcessError, FileNotFoundError) as e:
        print("nsenter: skipped (%s)" % e, file=sys.stderr)

    wakes = []
    for _ in range(a.n_wake):
        deadline = time.time() + a.idle + 30
        while json.loads(api.call("GET", "/mags-jobs/%s/status" % job)[1])["status"] != "sleeping":
            assert time.time() < deadline, "the sandbox did not fall asleep"
            time.sleep(0.05)
        wakes.append(api.first_byte(job, "echo awake"))
    results["wake -> first byte"] = wakes
    api = Api(a.url, a.token)
    st, body = api.call("POST", "/mags-jobs/%s/exec" % job, {"command": "ls /root/w | wc -l"})
    assert st == 200 and json.loads(body)["stdout"].strip() == str(a.files), body

    api = Api(a.url, a.token)   # a fresh connection: the old one may have timed out
    st, body = api.call("POST", "/mags-jobs/%s/stop" % job)
    assert st == 200, body
    summary = {}
    print("%-24s %9s %9s %5s" % ("case", "median ms", "p99 ms", "n"))
    for k, xs in results.items():
        med, p99 = statistics.median(xs) * 1000, pct(xs, 99) * 1000
        summary[k] = {"median_ms": round(med, 3), "p99_ms": round(p99, 3), "n": len(xs)}
        print("%-24s %9.3f %9.3f %5d" % (k, med, p99, len(xs)))
    over = summary["api exec true"]["median_ms"] - summary["fork+exec+wait true"]["median_ms"]
    print("api exec above a bare fork+exec+wait: %.3f ms (target <= 0.5)" % over)
    print("wake median: %.1f ms, p99 %.1f ms, %d-file workspace (target median <= 100)" % (
        summary["wake -> first byte"]["median_ms"], summary["wake -> first byte"]["p99_ms"],
        a.files))
    os.makedirs(a.out, exist_ok=True)
    path = os.path.join(a.out, "exec-%s.json" % time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()))
    with open(path, "w") as f:
        json.dump({"results": summary, "api_exec_over_bare_ms": round(over, 3),
                   "wake_workspace_files": a.files}, f, indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
