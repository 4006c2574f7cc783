"""cpu_seconds and peak_memory_bytes of GET /mags-usage, from the jobs'
cgroups: the runtime reads them just before it removes the cgroup and
reports `usage cpu_us=N mem_peak=N` on its status pipe; magsd stores them
on the job."""
import time

import pytest

from conftest import need


def usage(s, token):
    r = s.api("GET", "/mags-usage?window_days=1", token=token)
    assert r.status == 200, r
    return r.json


@pytest.fixture
def user(srv):
    """A user of its own per test, so nothing else counts."""
    name = "cg%d" % int(time.time() * 1e6 % 1e9)
    srv.add_user(name)
    return name


# Spins for 2-3 s of wall time: with the default 1-CPU quota that is well
# over half a second of CPU even on a busy machine.
BURN = "end=$(($(date +%s) + 3)); while [ $(date +%s) -lt $end ]; do :; done; echo burnt"
# 50 MB written to the sandbox's tmpfs: page cache charged to its cgroup.
ALLOC = "head -c 50000000 /dev/zero | tr '\\0' a > /tmp/fill; ls -l /tmp/fill | wc -l"


def test_cpu_time_comes_from_the_cgroup(srv, user):
    st, out, _, _ = srv.run(BURN, token=user, timeout=60)
    assert st["status"] == "completed" and out == "burnt\n", (st, out)
    u = usage(srv, user)
    need(u["cpu_seconds"] > 0, "this server's runtime reports no usage")
    assert u["total_jobs"] == 1
    assert u["cpu_seconds"] >= 0.5, u
    # a 1-CPU quota: never more CPU than wall time (plus rounding)
    assert u["cpu_seconds"] <= u["vm_seconds"] + 0.1, u
    # it allocated little
    assert 0 < u["peak_memory_bytes"] < 40e6, u
    assert u["days"][-1]["cpu_seconds"] == u["cpu_seconds"]


def test_peak_memory_comes_from_the_cgroup(srv, user):
    st, out, _, _ = srv.run(ALLOC, token=user, timeout=60)
    assert st["status"] == "completed" and out == "1\n", (st, out)
    u = usage(srv, user)
    assert u["peak_memory_bytes"] >= 40e6, u
    assert u["peak_memory_bytes"] < 512 * 2**20, u  # the job's memory limit
    assert u["days"][-1]["peak_memory_bytes"] == u["peak_memory_bytes"]
    # a short job's CPU is small but counted
    assert 0 < u["cpu_seconds"] < 5, u


def test_usage_is_recorded_for_stopped_and_timed_out_jobs(srv, user):
    jid = srv.submit("sleep 30", token=user)
    srv.wait(jid, timeout=20, states=("running",), token=user)
    assert srv.api("POST", "/mags-jobs/%s/stop" % jid, token=user).status == 200
    srv.wait(jid, timeout=30, token=user)
    st = srv.wait(srv.submit("sleep 30", token=user, timeout=1), timeout=30, token=user)
    assert st["status"] == "error" and "timed out" in st["error_message"], st
    u = usage(srv, user)
    assert u["total_jobs"] == 2
    # both sandboxes ran a shell: memory was used and reported
    assert u["peak_memory_bytes"] > 0 and u["cpu_seconds"] > 0, u
