#!/usr/bin/env python3
"""Concurrent-load benchmark (figure 2 of bench/README.md), driven by
bench/run.sh: C clients (bench/load.c) each doing one job after another
for S seconds, for

  api create->exit     POST /mags-jobs + follow the log to its end event
  mags run -e 'true'   the whole CLI process
  unshare / bwrap / runc   the peers, on the same busybox rootfs

and, first, `null` (GET /whoami) to show what the client itself can do.
For the API case it also reads where the CPU went: magsd's own time, its
children's (mags-runtime and everything in the sandbox, counted when
reaped) and the whole machine's idle time (/proc/stat), per job.
Writes one JSON object to --out. Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    """(own, children) CPU seconds of pid."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ut, st, cut, cst = (int(x) for x in fields[11:15])
    return (ut + st) / TICK, (cut + cst) / TICK


def machine_cpu():
    """(busy, idle) CPU seconds of the whole machine."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return (sum(v[:8]) - idle) / TICK, idle / TICK


def run_load(loader, args, env=None):
    r = subprocess.run([loader] + args, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("bench-load %s: %s" % (args[0], r.stderr.strip()[-300:]))
    return json.loads(r.stdout)


def runc_bundle(rootfs, work):
    runc = shutil.which("runc")
    if not runc:
        return None, "runc not installed"
    bundle = Path(tempfile.mkdtemp(prefix="runc-load-", dir=work))
    r = subprocess.run([runc, "spec"], cwd=bundle, capture_output=True, text=True)
    if r.returncode != 0:
        return None, "runc spec: " + r.stderr.strip()
    cfg = json.loads((bundle / "config.json").read_text())
    cfg["root"] = {"path": str(rootfs), "readonly": True}
    cfg["process"]["args"] = ["true"]
    cfg["process"]["terminal"] = False
    (bundle / "config.json").write_text(json.dumps(cfg))
    return [runc, "run", "--bundle", str(bundle), "load-%n"], None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--loader", required=True, help="the bench-load binary")
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--mags", required=True)
    ap.add_argument("--magsd-pid", type=int, required=True)
    ap.add_argument("--rootfs", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=int, default=30)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    c, s = str(a.clients), str(a.seconds)
    out, skipped = {}, {}

    def say(name):
        sys.stderr.write("bench: load: %-34s %s clients x %s s ...\n" % (name, c, s))
        sys.stderr.flush()

    say("client alone (GET /whoami)")
    out["client alone (GET /whoami)"] = run_load(a.loader, ["null", a.url, a.token, c, "3"])

    say("api create->exit")
    own0, kids0 = proc_cpu(a.magsd_pid)
    busy0, idle0 = machine_cpu()
    r = run_load(a.loader, ["api", a.url, a.token, c, s])
    own1, kids1 = proc_cpu(a.magsd_pid)
    busy1, idle1 = machine_cpu()
    jobs = max(1, r["jobs"])
    r["cpu_ms_per_job"] = {
        "magsd": round((own1 - own0) * 1000 / jobs, 2),
        "runtime_and_sandbox": round((kids1 - kids0) * 1000 / jobs, 2),
        "client": round(r["client_cpu_s"] * 1000 / jobs, 3),
        "machine_busy": round((busy1 - busy0) * 1000 / jobs, 2),
        "machine_idle_fraction": round((idle1 - idle0) / max(1e-9, (busy1 - busy0) +
                                                              (idle1 - idle0)), 3),
    }
    out["api create->exit"] = r

    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGS_")}
    env.update({"MAGS_API_URL": a.url, "MAGS_API_TOKEN": a.token, "NO_COLOR": "1",
                "HOME": a.work})
    peers = [
        ("mags run -e 'true'", [a.mags, "run", "-e", "true"]),
        ("unshare -fpmiun --mount-proc true",
         [shutil.which("unshare") or "/usr/bin/unshare", "-fpmiun", "--mount-proc", "true"]),
        ("bwrap --unshare-all (busybox root)",
         [shutil.which("bwrap") or "/usr/bin/bwrap", "--unshare-all", "--ro-bind", a.rootfs,
          "/", "--proc", "/proc", "--dev", "/dev", "true"]),
    ]
    runc, why = runc_bundle(a.rootfs, a.work)
    if runc:
        peers.append(("runc run (busybox bundle)", runc))
    else:
        skipped["runc run (busybox bundle)"] = why
    for name, argv in peers:
        say(name)
        try:
            out[name] = run_load(a.loader, ["cmd", c, s, "--"] + argv, env=env)
        except (RuntimeError, ValueError) as e:
            skipped[name] = str(e)[:300]
    Path(a.out).write_text(json.dumps({"clients": a.clients, "seconds": a.seconds,
                                       "results": out, "skipped": skipped}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
