"""GET /mags-usage?window_days=N checked against the jobs actually run."""
import time
from datetime import datetime, timezone

import pytest

from conftest import wait_until


def iso_ms(s):
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)


def usage(s, token, q=""):
    r = s.api("GET", "/mags-usage" + q, token=token)
    assert r.status == 200, r
    return r.json


@pytest.fixture(scope="module")
def user(srv):
    """A user of its own, so other tests' jobs do not count."""
    name = "usage%d" % int(time.time() * 1000 % 1000000)
    srv.add_user(name)
    return name


def test_a_new_user_has_used_nothing(srv, user):
    u = usage(srv, user)
    assert u["window_days"] == 30
    assert u["total_jobs"] == 0 and u["vm_seconds"] == 0
    assert u["cpu_seconds"] == 0 and u["peak_memory_bytes"] == 0
    assert len(u["days"]) == 30
    today = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    assert u["days"][-1]["date"] == today
    assert u["days"][0]["date"] < today


def test_usage_counts_the_jobs_run(srv, user):
    ids = [srv.submit("sleep 1", token=user), srv.submit("echo hi", token=user),
           srv.submit("exit 4", token=user)]
    sts = [srv.wait(j, timeout=30, token=user) for j in ids]
    want = sum(iso_ms(st["finished_at"]) - iso_ms(st["started_at"]) for st in sts) / 1000
    u = usage(srv, user, "?window_days=7")
    assert u["window_days"] == 7 and len(u["days"]) == 7
    assert u["total_jobs"] == 3
    assert abs(u["vm_seconds"] - want) < 0.002, (u, want)
    assert u["vm_seconds"] >= 1.0
    today = u["days"][-1]
    assert today["jobs"] == 3 and abs(today["vm_seconds"] - want) < 0.002
    assert sum(d["jobs"] for d in u["days"]) == 3
    # another user's view is untouched by these
    assert usage(srv, user, "?window_days=1")["total_jobs"] == 3
    assert len(usage(srv, user, "?window_days=365")["days"]) == 365


def test_a_running_job_counts_up_to_now(srv, user):
    before = usage(srv, user)
    jid = srv.submit("sleep 30", token=user)
    srv.wait(jid, timeout=10, states=("running",), token=user)
    time.sleep(1.2)
    u = usage(srv, user)
    assert u["total_jobs"] == before["total_jobs"] + 1
    assert u["vm_seconds"] - before["vm_seconds"] >= 1.0, (before, u)
    srv.api("POST", "/mags-jobs/%s/stop" % jid, token=user)
    st = srv.wait(jid, timeout=30, token=user)
    after = usage(srv, user)
    ran = (iso_ms(st["finished_at"]) - iso_ms(st["started_at"])) / 1000
    assert abs(after["vm_seconds"] - before["vm_seconds"] - ran) <= 0.002 + 1e-9


@pytest.mark.parametrize("q", ["?window_days=0", "?window_days=366", "?window_days=x",
                               "?window_days=-1", "?window_days=7d"])
def test_bad_window_is_400(srv, q):
    r = srv.api("GET", "/mags-usage" + q)
    assert r.status == 400, r
    assert "window_days" in r.json["error"]


def test_usage_needs_a_token(srv):
    assert srv.api("GET", "/mags-usage", token=None).status == 401
