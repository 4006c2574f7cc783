#!/usr/bin/env python3
"""One table and one JSON from the parts of a `make bench` run.

bench/run.sh runs each part (bench.py: sequential runs and their peers;
throughput.py: 16 clients; density.py: 1,000 idle sandboxes;
exec_bench.py: exec round trip; sync_bench: workspace snapshots), each
writing its own JSON, then this merges them into
bench/results/<time>.json and prints one table: every figure as median
and p99 with its ratio to each peer (mags / peer: below 1 is faster or
smaller), then the targets of issue 8, met or not.
Standard library only; any part may be missing (it is then left out and
its targets say "not measured").
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEERS = [("unshare", "unshare -fpmiun --mount-proc true"),
         ("bwrap", "bwrap --unshare-all (busybox root)"),
         ("runc", "runc run (busybox bundle)")]


def load(path):
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def fmt_ratio(r):
    return "%8.2fx" % r if r is not None else "%9s" % "-"


def fmt_ms(v):
    return "%8.2fms" % v if v is not None else "%10s" % "-"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seq")
    ap.add_argument("--throughput")
    ap.add_argument("--density")
    ap.add_argument("--exec")
    ap.add_argument("--sync")
    ap.add_argument("--load-avg", default="")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    a = ap.parse_args()
    seq, thr, dens = load(a.seq), load(a.throughput), load(a.density)
    exe, syn = load(a.exec), load(a.sync)
    lines, targets = [], []
    out = lambda s="": lines.append(s)

    # (1) sequential runs, the whole thing each time
    figures = {}
    if seq:
        res = seq.get("results", {})
        peer = {k: res.get(name) for k, name in PEERS}
        out("(1) one after another, %d runs each    %10s %10s %9s %9s %9s"
            % (seq.get("n", 0), "median", "p99", "/unshare", "/bwrap", "/runc"))
        for name, r in res.items():
            row = {"median_ms": r["median_ms"], "p99_ms": r["p99_ms"]}
            for k, _ in PEERS:
                if peer[k] and name not in dict(PEERS).values():
                    row["vs_" + k] = {"median": ratio(r["median_ms"], peer[k]["median_ms"]),
                                      "p99": ratio(r["p99_ms"], peer[k]["p99_ms"])}
            figures[name] = row
            out("  %-38s %s %s %s %s %s" % (
                name, fmt_ms(r["median_ms"]), fmt_ms(r["p99_ms"]),
                *(fmt_ratio(row.get("vs_" + k, {}).get("median")) for k, _ in PEERS)))
        for name, why in seq.get("skipped", {}).items():
            out("  %-38s skipped: %s" % (name, why[:80]))
        e2e = res.get("mags run -e 'true'")
        for k, limit in (("bwrap", 0.5), ("runc", 0.1)):
            r = figures.get("mags run -e 'true'", {}).get("vs_" + k, {}).get("median")
            targets.append(("mags run median <= %.1fx %s" % (limit, k),
                            "%.2fx" % r if r is not None else None,
                            r is not None and r <= limit))
        out()

    # (2) concurrent clients
    if thr:
        res = thr.get("results", {})
        peer = {k: res.get(name) for k, name in PEERS}
        out("(2) %d clients x %d s          %9s %10s %10s %7s %9s %9s %9s" % (
            thr["clients"], thr["seconds"], "jobs/s", "p50", "p99", "errors",
            "/unshare", "/bwrap", "/runc"))
        out("    (ratios: jobs/s of mags / jobs/s of the peer, above 1 is better)")
        for name, r in res.items():
            row = dict(r)
            for k, _ in PEERS:
                if peer[k] and name not in dict(PEERS).values() and "whoami" not in name:
                    row["vs_" + k] = {"jobs_per_s": ratio(r["jobs_per_s"], peer[k]["jobs_per_s"]),
                                      "p50": ratio(r["p50_ms"], peer[k]["p50_ms"]),
                                      "p99": ratio(r["p99_ms"], peer[k]["p99_ms"])}
            figures["%d clients: %s" % (thr["clients"], name)] = row
            out("  %-34s %9.1f %s %s %7d %s %s %s" % (
                name, r["jobs_per_s"], fmt_ms(r["p50_ms"]), fmt_ms(r["p99_ms"]), r["errors"],
                *(fmt_ratio(row.get("vs_" + k, {}).get("jobs_per_s")) for k, _ in PEERS)))
            if r.get("first_error"):
                out("      first error: %s" % r["first_error"][:100])
        for name, why in thr.get("skipped", {}).items():
            out("  %-34s skipped: %s" % (name, why[:80]))
        api = res.get("api create->exit")
        if api:
            c = api.get("cpu_ms_per_job", {})
            out("    api create->exit, CPU per job: magsd %.2f ms, runtime+sandbox %.2f ms, "
                "client %.3f ms; machine busy %.2f ms/job, idle %.0f%%" % (
                    c.get("magsd", 0), c.get("runtime_and_sandbox", 0), c.get("client", 0),
                    c.get("machine_busy", 0), 100 * c.get("machine_idle_fraction", 0)))
            targets.append(("%d clients >= 300 jobs/s" % thr["clients"],
                            "%.1f" % api["jobs_per_s"], api["jobs_per_s"] >= 300))
            targets.append(("%d clients p99 <= 50 ms" % thr["clients"],
                            "%.1f ms" % api["p99_ms"], api["p99_ms"] <= 50))
            targets.append(("%d clients 0 errors" % thr["clients"], str(api["errors"]),
                            api["errors"] == 0))
        out()

    # (3) exec round trip on a live sandbox
    if exe:
        res = exe.get("results", {})
        ns = res.get("nsenter true")
        out("(3) exec round trip on a live sandbox %10s %10s %9s" % ("median", "p99", "/nsenter"))
        for name, r in res.items():
            rr = ratio(r["median_ms"], ns["median_ms"]) if ns and name != "nsenter true" \
                and "wake" not in name else None
            figures["exec: " + name] = dict(r, vs_nsenter={"median": rr} if rr else None)
            out("  %-36s %s %s %s" % (name, fmt_ms(r["median_ms"]), fmt_ms(r["p99_ms"]),
                                       fmt_ratio(rr)))
        out()

    # (4) density
    if dens and "mags" in dens:
        m = dens["mags"]
        mem = m["mem_per_sandbox_kib"]
        out("(4) density: %d live idle sandboxes (mags new: persistent, sleep infinity)" % m["n"])
        out("  created (first request -> all running)  %7.2f s   (%d live, %d parallel requests)"
            % (m["create_all_s"], m["live"], m["workers"]))
        out("  host memory per sandbox (MemAvailable)  %7.0f KiB" % mem["MemAvailable_drop"])
        out("    of which anon %.0f, slab %.0f (unreclaimable %.0f), kernel stacks %.0f, "
            "page tables %.0f, page cache %.0f KiB" % (
                mem["AnonPages"], mem["Slab"], mem["SUnreclaim"], mem["KernelStack"],
                mem["PageTables"], mem["Cached"]))
        rss = m["magsd_rss_kib"]
        out("  magsd RSS                               %7.1f MiB  (%.1f MiB before), %d fds"
            % ((rss["with_all_live"] or 0) / 1024, (rss["before"] or 0) / 1024,
               m["magsd_fds_with_all_live"]))
        e = m["exec_ms"]
        out("  exec 'true' on a random one, all live   %s %s  (n=%d)" % (
            fmt_ms(e["median_ms"]), fmt_ms(e["p99_ms"]), e["n"]))
        out("  stop all: answered in %.2f s, all processes gone in %.2f s, all disks "
            "unmounted in %.2f s" % (m["stop_all_s"], m["all_gone_s"],
                                     m.get("disks_unmounted_s", float("nan"))))
        left = {k: v for k, v in m["leftovers"].items() if v}
        out("  left behind after stop: %s" % ("; ".join(
            "%d %s (%s%s)" % (len(v), k, ", ".join(map(str, v[:4])), ", ..." if len(v) > 4 else "")
            for k, v in left.items()) if left else "nothing"))
        for err in m.get("errors", []):
            out("  error: %s" % err[:120])
        out("  peers, idle `sleep infinity`:     %6s %9s %10s %12s" % (
            "n", "create", "KiB each", "mags / peer"))
        for k in ("unshare", "bwrap", "runc"):
            p = dens.get(k) or {}
            if "mem_per_sandbox_kib" not in p:
                out("    %-30s skipped: %s" % (k, p.get("skipped", "not run")))
                continue
            pm = p["mem_per_sandbox_kib"]["MemAvailable_drop"]
            r = ratio(mem["MemAvailable_drop"], pm) if pm > 0 else None
            figures["density: %s" % k] = dict(p, mags_vs_peer_memory=r)
            out("    %-30s %6d %8.2fs %10.0f %s" % (k, p["live"], p["create_all_s"], pm,
                                                    fmt_ratio(r)))
        figures["density: mags"] = m
        targets.append(("%d live idle sandboxes created in <= 20 s" % m["n"],
                        "%.1f s" % m["create_all_s"], m["create_all_s"] <= 20 and
                        m["live"] == m["n"]))
        targets.append(("<= 1 MiB host memory per sandbox", "%.0f KiB" % mem["MemAvailable_drop"],
                        mem["MemAvailable_drop"] <= 1024))
        targets.append(("magsd RSS <= 64 MiB with all live",
                        "%.1f MiB" % ((rss["with_all_live"] or 0) / 1024),
                        (rss["with_all_live"] or 0) <= 64 * 1024))
        targets.append(("nothing left after stopping all", "nothing" if not left else
                        ",".join(left), not left))
        out()

    if syn:
        out("(sync) workspace snapshots: see %s" % a.sync)
        out()

    out("targets (issue 8)")
    for name, value, ok in targets:
        out("  %-44s %-12s %s" % (name, value if value is not None else "-",
                                   "met" if ok else "NOT met"))

    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    doc = {"timestamp": stamp, "commit": commit + ("-dirty" if dirty else ""),
           "host": {"kernel": platform.release(), "cpus": os.cpu_count(),
                    "load_avg_at_start": a.load_avg,
                    "python": platform.python_version()},
           "figures": figures,
           "targets": [{"target": n, "value": v, "met": bool(ok)} for n, v, ok in targets],
           "parts": {"sequential": seq, "throughput": thr, "density": dens, "exec": exe,
                     "sync": syn}}
    head = "mags bench %s, commit %s, %s, %d CPUs, load average at start %s" % (
        stamp, doc["commit"], platform.release(), os.cpu_count() or 0, a.load_avg or "?")
    print()
    print(head)
    print("=" * len(head))
    print("\n".join(lines))
    o = Path(a.out)
    o.mkdir(parents=True, exist_ok=True)
    path = o / ("%s.json" % stamp)
    path.write_text(json.dumps(doc, indent=1) + "\n")
    print("\nresults: %s" % path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
