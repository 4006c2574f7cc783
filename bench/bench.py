#!/usr/bin/env python3
"""Run-latency benchmark driver (see bench/run.sh, which sets up magsd).

Every case does the same work -- start an isolated `true` and wait for it to
end -- measured as wall clock around the whole thing, N times in a row after
a few warm-up runs. Standard library only.
"""
import argparse
import http.client
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAGS = ROOT / "build" / "bin" / "mags"
TARGET_MS = 60.0
WARMUP = 5


def timed_cmd(argv, env=None, check=True):
    def run():
        t0 = time.perf_counter()
        r = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if check and r.returncode != 0:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(map(str, argv)),
                                                    r.returncode, r.stderr[-500:]))
        return dt
    return run


class Api:
    def __init__(self, url, token):
        host, port = url.split("//", 1)[1].split(":")
        self.conn = http.client.HTTPConnection(host, int(port), timeout=60)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.conn.request(method, "/api/v1" + path,
                          json.dumps(body) if body is not None else None, self.h)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, data

    def create_to_exit(self):
        """POST a job, then follow its log until the end event."""
        t0 = time.perf_counter()
        st, data = self.call("POST", "/mags-jobs", {"script": "true", "ephemeral": True})
        if st not in (200, 201, 202):
            raise RuntimeError("POST /mags-jobs: %d %s" % (st, data[:300]))
        jid = json.loads(data)["request_id"]
        st, data = self.call("GET", "/mags-jobs/%s/logs?follow=1" % jid)
        dt = time.perf_counter() - t0
        if st != 200:
            raise RuntimeError("follow: %d %s" % (st, data[:300]))
        end = json.loads(data.strip().splitlines()[-1])
        if end.get("event") != "end" or end.get("status") != "completed":
            raise RuntimeError("job %s did not complete: %r" % (jid, end))
        return dt


def runc_case(rootfs, work):
    """A runc bundle on the busybox rootfs, or None if runc cannot run here."""
    runc = shutil.which("runc")
    if not runc:
        return None, "runc not installed"
    bundle = Path(tempfile.mkdtemp(prefix="runc-", dir=work))
    r = subprocess.run([runc, "spec"], cwd=bundle, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "runc spec: " + r.stderr.strip()
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    cfg["hostname"] = "mags-vm"
    (bundle / "config.json").write_text(json.dumps(cfg))
    counter = [0]

    def run():
        counter[0] += 1
        cid = "mags-bench-%d-%d" % (os.getpid(), counter[0])
        return timed_cmd([runc, "run", "--bundle", str(bundle), cid])()
    try:
        run()
    except RuntimeError as e:
        return None, "runc run failed here: %s" % e
    return run, None


def measure(fn, n):
    for _ in range(WARMUP):
        fn()
    return [fn() * 1000.0 for _ in range(n)]


def summary(samples):
    s = sorted(samples)
    p99 = s[min(len(s) - 1, max(0, math.ceil(0.99 * len(s)) - 1))]
    return {"n": len(s), "median_ms": round(statistics.median(s), 2),
            "p99_ms": round(p99, 2), "min_ms": round(s[0], 2),
            "mean_ms": round(statistics.fmean(s), 2), "max_ms": round(s[-1], 2)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    a = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGS_")}
    env.update({"MAGS_API_URL": a.url, "MAGS_API_TOKEN": a.token, "NO_COLOR": "1",
                "HOME": a.work})
    api = Api(a.url, a.token)
    cases = [
        ("host: true (baseline)", timed_cmd(["true"])),
        ("mags --version", timed_cmd([str(MAGS), "--version"], env=env)),
        ("mags run -e 'true'", timed_cmd([str(MAGS), "run", "-e", "true"], env=env)),
        ("api create->exit", api.create_to_exit),
        ("unshare -fpmiun --mount-proc true",
         timed_cmd(["unshare", "-fpmiun", "--mount-proc", "true"])),
        ("bwrap --unshare-all (busybox root)",
         timed_cmd(["bwrap", "--unshare-all", "--ro-bind", a.rootfs, "/", "--proc", "/proc",
                    "--dev", "/dev", "true"])),
    ]
    runc, why = runc_case(a.rootfs, a.work)
    if runc:
        cases.append(("runc run (busybox bundle)", runc))

    results, skipped = {}, {}
    if why:
        skipped["runc run (busybox bundle)"] = why
    for name, fn in cases:
        sys.stderr.write("bench: %-36s x%d ...\n" % (name, a.n))
        sys.stderr.flush()
        try:
            results[name] = summary(measure(fn, a.n))
        except (RuntimeError, OSError, ValueError) as e:
            skipped[name] = str(e)[:300]

    print()
    print("%-38s %9s %9s %9s %9s" % ("case (%d runs each)" % a.n, "median", "p99", "min", "mean"))
    print("-" * 78)
    for name, r in results.items():
        print("%-38s %7.2fms %7.2fms %7.2fms %7.2fms" % (
            name, r["median_ms"], r["p99_ms"], r["min_ms"], r["mean_ms"]))
    for name, why in skipped.items():
        print("%-38s skipped: %s" % (name, why))
    e2e = results.get("mags run -e 'true'")
    verdict = None
    if e2e:
        verdict = e2e["median_ms"] < TARGET_MS
        print("\ntarget: mags run median < %.0f ms: %s (%.2f ms)" % (
            TARGET_MS, "met" if verdict else "NOT met", e2e["median_ms"]))

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {"timestamp": stamp, "commit": commit, "n": a.n, "warmup": WARMUP,
           "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
           "target_ms": TARGET_MS, "target_met": verdict,
           "results": results, "skipped": skipped}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("%s.json" % stamp)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print("results: %s" % path)
    return 0 if e2e else 1


if __name__ == "__main__":
    sys.exit(main())
