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
MAGS = Path(os.environ.get("MAGS_BUILD_DIR") or (ROOT / "build")) / "bin" / "mags"
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

    def create_to_exit(self, body=None):
        """POST a job, then follow its log until the end event."""
        t0 = time.perf_counter()
        st, data = self.call("POST", "/mags-jobs", body or {"script": "true", "ephemeral": True})
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


def make_base(api):
    """A persistent workspace with a few files, synced: the --base source."""
    name = "benchbase%d" % os.getpid()
    st, data = api.call("POST", "/mags-jobs", {
        "script": "mkdir -p /opt/tool && echo gold > /opt/tool/v && rm -f /etc/motd",
        "workspace_id": name, "persistent": True})
    if st != 200:
        return None, "create base: %d %s" % (st, data[:200])
    jid = json.loads(data)["request_id"]
    deadline = time.time() + 60
    while time.time() < deadline:
        st, data = api.call("GET", "/mags-jobs/%s/status" % jid)
        j = json.loads(data)
        if j.get("exit_code") is not None or j["status"] in ("completed", "error", "stopped"):
            break
        time.sleep(0.05)
    api.call("POST", "/mags-jobs/%s/stop" % jid)   # syncs, then frees the workspace
    while time.time() < deadline:
        st, data = api.call("GET", "/mags-workspaces")
        ws = [w for w in json.loads(data).get("workspaces", []) if w["workspace_id"] == name]
        if ws and ws[0].get("snapshot"):
            st, data = api.call("GET", "/mags-jobs/%s/status" % jid)
            if json.loads(data)["status"] in ("completed", "error", "stopped"):
                return name, None
        time.sleep(0.05)
    return None, "base workspace never synced"


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
    base, why_base = make_base(api)
    if base:
        # DESIGN §3: --base stacks the base's materialised snapshot as one
        # more overlay layer; target: at most 5 ms over an ephemeral start.
        cases.insert(4, ("api create->exit --base (fork source)",
                         lambda: api.create_to_exit({"script": "true",
                                                     "base_workspace_id": base})))
    runc, why = runc_case(a.rootfs, a.work)
    if runc:
        cases.append(("runc run (busybox bundle)", runc))

    results, skipped = {}, {}
    if why_base:
        skipped["api create->exit --base (fork source)"] = why_base
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
