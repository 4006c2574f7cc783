"""Nothing a sandbox used outlives it: mounts, cgroups, processes, scratch
directories, after many runs (run last: the file name sorts last)."""
import glob
import os
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import descendants, is_pool_member, mounts_under, wait_until

RUNS = int(os.environ.get("MAGS_E2E_RUNS", "200"))
BATCH = 8


def mags_cgroups():
    """Every cgroup directory below a "mags" directory, v1 and v2."""
    found = set()
    for pattern in ("/sys/fs/cgroup/*/mags", "/sys/fs/cgroup/mags",
                    "/sys/fs/cgroup/unified/mags", "/sys/fs/cgroup/*/mags.slice",
                    "/sys/fs/cgroup/mags.slice"):
        for base in glob.glob(pattern):
            for dirpath, dirnames, _ in os.walk(base):
                for d in dirnames:
                    found.add(os.path.join(dirpath, d))
    return found


def mounts_mentioning(words):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            if any(w in line for w in words):
                out.append(line.strip())
    return out


def v1_controllers_of(path):
    """The v1 controllers whose hierarchy path is in (cpu and cpuacct may
    share one: "cpu,cpuacct")."""
    rel = os.path.relpath(path, "/sys/fs/cgroup").split("/")[0]
    return set(rel.split(","))


def test_a_job_is_in_the_hierarchies_it_uses_and_no_other(srv):
    """Each cgroup v1 hierarchy costs a mkdir, a migration and an rmdir per
    job: a job gets memory, cpu and pids (its limits) and cpuacct (usage,
    idle detection), nothing else (a freezer cgroup used to be made and
    never used)."""
    jid = srv.submit("sleep 30")
    srv.wait(jid, timeout=10, states=("running",))
    try:
        assert wait_until(lambda: [c for c in mags_cgroups() if jid in c], 5)
        mine = [c for c in mags_cgroups() if c.endswith("/" + jid)]
        if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):    # v2 host
            assert len(mine) == 1, mine
        else:
            got = set()
            for c in mine:
                got |= v1_controllers_of(c)
            want = {"memory", "cpu", "pids"}
            if glob.glob("/sys/fs/cgroup/*cpuacct*"):
                want.add("cpuacct")
            assert got == want, sorted(mine)
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % jid)
    srv.wait(jid, timeout=10)


def test_nothing_is_left_after_many_runs(srv):
    # The checks below can see what a live sandbox holds.
    jid = srv.submit("sleep 30")
    srv.wait(jid, timeout=10, states=("running",))
    try:
        # Cgroups are named after the job (other people's sandboxes may come
        # and go meanwhile, so only ours are counted).
        assert wait_until(lambda: [c for c in mags_cgroups() if jid in c], 5), \
            "no cgroup named after a running job under /sys/fs/cgroup/*/mags"
        assert descendants(srv.proc.pid)
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % jid)
    srv.wait(jid, timeout=10)
    mounts_before = set(open("/proc/self/mountinfo").read().splitlines())

    def one(i):
        jid = srv.submit("echo run %d" % i)
        return jid, srv.wait(jid, timeout=120)

    results = []
    t0 = time.time()
    with ThreadPoolExecutor(BATCH) as pool:
        for start in range(0, RUNS, BATCH):
            results += list(pool.map(one, range(start, min(start + BATCH, RUNS))))
    elapsed = time.time() - t0
    bad = [(j, s["status"], s.get("exit_code"), s.get("error_message"))
           for j, s in results if s["status"] != "completed" or s["exit_code"] != 0]
    assert not bad, "%d of %d runs failed, e.g. %r" % (len(bad), RUNS, bad[:3])
    ids = [j for j, _ in results]
    # One sample's output made it.
    assert srv.logs(ids[-1])[0]["message"] == "run %d" % (RUNS - 1)

    # Processes: magsd has no children left once every job ended.
    assert wait_until(lambda: not descendants(srv.proc.pid), 10), \
        "processes left: %r" % descendants(srv.proc.pid)[:20]

    # Mounts: none under the data dir, none naming a job, count back to before.
    assert wait_until(lambda: not mounts_under(srv.data_dir), 5), mounts_under(srv.data_dir)
    leaked = mounts_mentioning(ids)
    assert not leaked, leaked[:5]
    new_mounts = set(open("/proc/self/mountinfo").read().splitlines()) - mounts_before
    # (/run/netns/magstest-* are the network tests' own "outside" namespaces,
    # which a concurrent test run may create meanwhile: not sandbox mounts)
    suspicious = [m for m in new_mounts if any(w in m for w in ("overlay", "mags", "busybox"))
                  and " /run/netns/" not in m]
    assert not suspicious, suspicious[:5]

    # Cgroups: every one a job made is gone again (v1 and v2).
    ids.append(jid)
    ours = lambda: [c for c in mags_cgroups() if any(j in c for j in ids)]
    assert wait_until(lambda: not ours(), 10), ours()[:10]

    # Scratch directories of the runtime: only magsd's per-slot mount
    # points (empty on the host: the scratch tmpfs lived in each sandbox's
    # own mount namespace), never a job's. A parked prepared pool member
    # builds its root on its slot's dir while it parks.
    run_dir = srv.data_dir / "run"
    left = os.listdir(run_dir) if run_dir.exists() else []
    assert not [f for f in left if not f.startswith("slot-")], left[:10]
    for f in left:
        assert os.listdir(run_dir / f) == [], f

    print("%d runs in %.1fs (%.0f ms each, %d at a time)"
          % (RUNS, elapsed, elapsed * 1000 / RUNS, BATCH))
