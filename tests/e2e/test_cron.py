"""Cron jobs: /mags-cron (and /cron-jobs), firing as ordinary jobs, skip,
missed runs after downtime, restarts.

Time is made to pass with the test setting cron_clock_offset (seconds
added to the scheduler's clock): the firing tests put the scheduler a few
seconds before a minute boundary, so "*/1 * * * *" fires within seconds
instead of within a minute, through the real timer.
"""
import sqlite3
import time
from datetime import datetime, timezone

import pytest

from conftest import make_server, mounts_under, wait_until


def iso_ms(s):
    """ISO 8601 '...Z' -> unix ms."""
    return int(datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ")
               .replace(tzinfo=timezone.utc).timestamp() * 1000 + 0.5)


def offset_for_second(sec):
    """A cron_clock_offset that puts the scheduler's clock at second `sec`
    of a minute now."""
    return (sec - int(time.time())) % 60


def create(s, token="alice", **fields):
    body = {"name": "c", "cron_expression": "*/5 * * * *", "script": "true"}
    body.update(fields)
    r = s.api("POST", "/mags-cron", body, token=token)
    assert r.status == 201, r
    return r.json


def get(s, cid, token="alice"):
    r = s.api("GET", "/mags-cron/" + cid, token=token)
    assert r.status == 200, r
    return r.json


def jobs_named(s, name, token="alice"):
    r = s.api("GET", "/mags-jobs?page_size=100", token=token)
    assert r.status == 200, r
    return [j for j in r.json["jobs"] if j["name"] == name]


@pytest.fixture(scope="module")
def cron_srv(session_dir, image_cache):
    """A server allowing 4 cron jobs per user."""
    s = make_server(session_dir, image_cache, "cron", conf={"max_cron_jobs": 4})
    yield s
    s.stop()


# ---- the API ---------------------------------------------------------------

def test_create_returns_the_cron_object(srv):
    c = create(srv, name="daily-backup", cron_expression="0 0 * * *",
               script="tar czf /root/b.tgz /root", environment={"A": "1"})
    for k in ("id", "name", "cron_expression", "script", "workspace_id", "persistent",
              "enabled", "environment", "created_at", "next_run_at", "last_run_at",
              "last_job_id", "last_status"):
        assert k in c, k
    assert c["name"] == "daily-backup"
    assert c["cron_expression"] == "0 0 * * *"
    assert c["enabled"] is True and c["persistent"] is False
    assert c["environment"] == {"A": "1"}
    assert c["workspace_id"] is None
    assert c["last_run_at"] is None and c["last_status"] is None
    nxt = iso_ms(c["next_run_at"])
    assert nxt % 86400000 == 0, c["next_run_at"]        # midnight UTC
    assert 0 < nxt - time.time() * 1000 <= 86400000
    assert get(srv, c["id"]) == c


def test_schedule_alias_and_003_paths(srv):
    r = srv.api("POST", "/cron-jobs", {"name": "alias", "schedule": "@hourly",
                                       "script": "date"})
    assert r.status == 201, r
    cid = r.json["id"]
    assert r.json["cron_expression"] == "@hourly"
    assert iso_ms(r.json["next_run_at"]) % 3600000 == 0
    ids = [c["id"] for c in srv.api("GET", "/cron-jobs").json["cron_jobs"]]
    assert cid in ids
    r = srv.api("PATCH", "/cron-jobs/" + cid, {"enabled": False})
    assert r.status == 200 and r.json["enabled"] is False, r
    assert srv.api("DELETE", "/cron-jobs/" + cid).status == 200
    assert srv.api("GET", "/mags-cron/" + cid).status == 404


@pytest.mark.parametrize("expr,field,words", [
    ("61 * * * *", "cron_expression", ["minute", "61"]),
    ("* 24 * * *", "cron_expression", ["hour", "24"]),
    ("* * * * * *", "cron_expression", ["5 fields"]),
    ("*/0 * * * *", "cron_expression", ["minute"]),
    ("* * * FOO *", "cron_expression", ["month", "FOO"]),
    ("0 0 30 2 *", "cron_expression", ["never"]),
    ("@reboot", "cron_expression", ["@reboot"]),
    ("", "cron_expression", []),
])
def test_invalid_expressions_are_400_naming_the_field(srv, expr, field, words):
    r = srv.api("POST", "/mags-cron", {"name": "bad", field: expr, "script": "true"})
    assert r.status == 400, r
    msg = r.json["error"]
    assert r.json["code"] == "bad_request"
    assert ("'%s'" % field) in msg or not expr, msg
    for w in words:
        assert w in msg, msg


def test_invalid_schedule_names_schedule(srv):
    r = srv.api("POST", "/mags-cron", {"name": "bad", "schedule": "* * 32 * *",
                                       "script": "true"})
    assert r.status == 400, r
    assert "'schedule'" in r.json["error"] and "day" in r.json["error"], r


@pytest.mark.parametrize("body,field", [
    ({"cron_expression": "* * * * *", "script": "x"}, "name"),
    ({"name": "n", "script": "x"}, "cron_expression"),
    ({"name": "n", "cron_expression": "* * * * *"}, "script"),
    ({"name": "n", "cron_expression": "* * * * *", "script": ""}, "script"),
    ({"name": "bad name", "cron_expression": "* * * * *", "script": "x"}, "name"),
    ({"name": "n", "cron_expression": 5, "script": "x"}, "cron_expression"),
    ({"name": "n", "cron_expression": "* * * * *", "script": "x", "enabled": "yes"},
     "enabled"),
    ({"name": "n", "cron_expression": "* * * * *", "script": "x",
      "environment": {"1BAD": "v"}}, "environment"),
    ({"name": "n", "cron_expression": "* * * * *", "script": "x",
      "workspace_id": "../etc"}, "workspace_id"),
])
def test_invalid_fields_are_400_naming_the_field(srv, body, field):
    r = srv.api("POST", "/mags-cron", body)
    assert r.status == 400, r
    assert field in r.json["error"], r


def test_patch_is_partial_and_rechecked(srv):
    c = create(srv, name="patchme", cron_expression="0 * * * *", script="echo a")
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"script": "echo b"})
    assert r.status == 200, r
    assert r.json["script"] == "echo b"
    assert r.json["cron_expression"] == "0 * * * *" and r.json["name"] == "patchme"
    assert r.json["next_run_at"] == c["next_run_at"]
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"cron_expression": "30 2 * * MON"})
    assert r.status == 200, r
    nxt = datetime.fromtimestamp(iso_ms(r.json["next_run_at"]) / 1000, timezone.utc)
    assert (nxt.weekday(), nxt.hour, nxt.minute) == (0, 2, 30), nxt
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"cron_expression": "99 * * * *"})
    assert r.status == 400 and "'cron_expression'" in r.json["error"], r
    assert get(srv, c["id"])["cron_expression"] == "30 2 * * MON"
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"environment": {"K": "v"},
                                                   "persistent": True, "name": "renamed"})
    assert r.status == 200, r
    assert r.json["environment"] == {"K": "v"} and r.json["persistent"] is True
    assert r.json["name"] == "renamed"
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"environment": None})
    assert r.json["environment"] == {}, r
    srv.api("DELETE", "/mags-cron/" + c["id"])


def test_enable_disable_remove(srv):
    c = create(srv, name="toggle", cron_expression="*/10 * * * *")
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"enabled": False})
    assert r.status == 200 and r.json["enabled"] is False and r.json["next_run_at"] is None
    listed = {x["id"]: x for x in srv.api("GET", "/mags-cron").json["cron_jobs"]}
    assert listed[c["id"]]["enabled"] is False
    r = srv.api("PATCH", "/mags-cron/" + c["id"], {"enabled": True})
    assert r.status == 200 and r.json["enabled"] is True
    assert iso_ms(r.json["next_run_at"]) % 600000 == 0
    r = srv.api("DELETE", "/mags-cron/" + c["id"])
    assert r.status == 200 and r.json["deleted"] is True
    assert srv.api("DELETE", "/mags-cron/" + c["id"]).status == 404
    assert c["id"] not in [x["id"] for x in srv.api("GET", "/mags-cron").json["cron_jobs"]]


def test_another_users_cron_job_is_404(srv):
    c = create(srv, name="mine")
    path = "/mags-cron/" + c["id"]
    for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
        r = srv.api(method, path, body, token="bob")
        assert r.status == 404, (method, r)
        assert r.json["error"] == "cron job not found"
    assert srv.api("POST", path + "/run", {}, token="bob").status == 404
    assert c["id"] not in [x["id"] for x in
                           srv.api("GET", "/mags-cron", token="bob").json["cron_jobs"]]
    assert get(srv, c["id"])["enabled"] is True
    assert srv.api("GET", "/mags-cron/nope").status == 404
    assert srv.api("GET", "/mags-cron", token=None).status == 401
    srv.api("DELETE", path)


def test_cron_jobs_per_user_are_bounded(cron_srv):
    ids = [create(cron_srv, token="bob", name="b%d" % i, enabled=False)["id"]
           for i in range(4)]
    r = cron_srv.api("POST", "/mags-cron", {"name": "b5", "cron_expression": "@daily",
                                            "script": "true"}, token="bob")
    assert r.status == 429, r
    assert "limit 4" in r.json["error"]
    for cid in ids:
        assert cron_srv.api("DELETE", "/mags-cron/" + cid, token="bob").status == 200


# ---- firing ----------------------------------------------------------------

def test_run_now_submits_an_ordinary_job(srv):
    c = create(srv, name="runnow", cron_expression="0 0 1 1 *",
               script='echo "hello $GREETING"', environment={"GREETING": "cron"})
    r = srv.api("POST", "/mags-cron/%s/run" % c["id"], {})
    assert r.status == 200, r
    jid = r.json["request_id"]
    assert r.json["last_job_id"] == jid and r.json["run_count"] == 1
    assert r.json["next_run_at"] == c["next_run_at"]      # run now is extra
    st = srv.wait(jid, timeout=30)
    assert st["status"] == "completed" and st["exit_code"] == 0, st
    assert st["name"] == "runnow"
    out = [l["message"] for l in srv.logs(jid) if l["source"] == "stdout"]
    assert out == ["hello cron"], out
    assert jid in [j["request_id"] for j in jobs_named(srv, "runnow")]
    got = get(srv, c["id"])
    assert got["last_status"] == "completed", got
    assert got["last_job_id"] == jid
    srv.api("DELETE", "/mags-cron/" + c["id"])


def test_last_status_follows_the_job(srv):
    c = create(srv, name="fails", cron_expression="0 0 1 1 *", script="sleep 1; exit 3")
    jid = srv.api("POST", "/mags-cron/%s/run" % c["id"], {}).json["request_id"]
    srv.wait(jid, timeout=10, states=("running",))
    assert get(srv, c["id"])["last_status"] == "running"
    st = srv.wait(jid, timeout=30)
    assert st["exit_code"] == 3
    assert get(srv, c["id"])["last_status"] == st["status"]
    srv.api("DELETE", "/mags-cron/" + c["id"])


def test_a_firing_is_skipped_while_the_previous_one_runs(srv):
    c = create(srv, name="slow", cron_expression="0 0 1 1 *", script="sleep 60")
    first = srv.api("POST", "/mags-cron/%s/run" % c["id"], {}).json["request_id"]
    srv.wait(first, timeout=10, states=("running",))
    r = srv.api("POST", "/mags-cron/%s/run" % c["id"], {})
    assert r.status == 409, r
    assert first in r.json["error"]
    got = get(srv, c["id"])
    assert got["last_status"] == "skipped" and got["skip_count"] == 1, got
    assert got["last_job_id"] == first and got["run_count"] == 1
    assert len(jobs_named(srv, "slow")) == 1
    srv.api("POST", "/mags-jobs/%s/stop" % first)
    srv.wait(first, timeout=30)
    r = srv.api("POST", "/mags-cron/%s/run" % c["id"], {})
    assert r.status == 200, r
    srv.api("POST", "/mags-jobs/%s/stop" % r.json["request_id"])
    srv.wait(r.json["request_id"], timeout=30)
    srv.api("DELETE", "/mags-cron/" + c["id"])


@pytest.fixture
def tick_srv(session_dir, image_cache):
    """A server whose cron clock is at second 56 of a minute at start."""
    s = make_server(session_dir, image_cache, "cron-tick",
                    conf={"cron_clock_offset": offset_for_second(56)})
    yield s
    s.stop()


def test_every_minute_fires_at_second_zero(tick_srv):
    s = tick_srv
    c = create(s, name="tick", cron_expression="*/1 * * * *", script="echo tick")
    due = iso_ms(c["next_run_at"])
    assert due % 60000 == 0
    # The scheduler's clock started at :56: the firing is seconds away.
    assert wait_until(lambda: get(s, c["id"])["run_count"] >= 1, timeout=15), \
        "no firing: %s" % get(s, c["id"])
    got = get(s, c["id"])
    ran = iso_ms(got["last_run_at"])
    assert due <= ran < due + 1000, (c["next_run_at"], got["last_run_at"])
    assert iso_ms(got["next_run_at"]) == due + 60000
    jid = got["last_job_id"]
    st = s.wait(jid, timeout=30)
    assert st["status"] == "completed" and st["name"] == "tick", st
    assert [l["message"] for l in s.logs(jid) if l["source"] == "stdout"] == ["tick"]
    assert get(s, c["id"])["last_status"] == "completed"
    assert [j["request_id"] for j in jobs_named(s, "tick")] == [jid]
    s.api("DELETE", "/mags-cron/" + c["id"])


def set_next_run(s, cid, ms):
    db = sqlite3.connect(str(s.data_dir / "mags.db"))
    with db:
        db.execute("UPDATE cron_jobs SET next_run_at = ? WHERE id = ?", (ms, cid))
    db.close()


def test_missed_runs_fire_once_after_downtime(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "cron-restart",
                    conf={"cron_clock_offset": offset_for_second(10)})
    try:
        every = create(s, name="every", cron_expression="* * * * *", script="echo e")
        yearly = create(s, name="yearly", cron_expression="0 0 1 1 *", script="echo y")
        untouched = create(s, name="later", cron_expression="0 0 1 1 *", script="echo l")
        paused = create(s, name="paused", cron_expression="* * * * *", enabled=False)
        s.stop()
        # Down for "an hour": every minute was missed 60 times, yearly once.
        now_virtual = int((time.time() + int(s.conf["cron_clock_offset"])) * 1000)
        set_next_run(s, every["id"], now_virtual - 3600 * 1000)
        set_next_run(s, yearly["id"], now_virtual - 3600 * 1000)
        set_next_run(s, paused["id"], now_virtual - 3600 * 1000)
        s.conf["cron_clock_offset"] = offset_for_second(10)
        s.start()
        for c in (every, yearly):
            assert wait_until(lambda: get(s, c["id"])["run_count"] >= 1, timeout=10), \
                s.log_tail()
        time.sleep(2)
        for c in (every, yearly):
            got = get(s, c["id"])
            assert got["run_count"] == 1, got
            assert len(jobs_named(s, c["name"])) == 1
            assert iso_ms(got["next_run_at"]) > iso_ms(got["last_run_at"])
            st = s.wait(got["last_job_id"], timeout=30)
            assert st["status"] == "completed", st
        assert iso_ms(get(s, every["id"])["next_run_at"]) % 60000 == 0
        later = get(s, untouched["id"])
        assert later["run_count"] == 0 and later["next_run_at"] == untouched["next_run_at"]
        assert get(s, paused["id"])["run_count"] == 0
        assert jobs_named(s, "paused") == []
        # the state survived the restart
        assert get(s, yearly["id"])["next_run_at"] == yearly["next_run_at"]
    finally:
        s.stop()


def test_a_firing_runs_on_the_cron_jobs_workspace(srv):
    c = create(srv, name="onws", cron_expression="0 0 1 1 *", workspace_id="cron-ws",
               script="echo run >> /root/runs; wc -l < /root/runs")
    outs = []
    for _ in range(2):
        r = srv.api("POST", "/mags-cron/%s/run" % c["id"], {})
        assert r.status == 200, r
        st = srv.wait(r.json["request_id"], timeout=60)
        assert st["status"] == "completed", st
        assert st["workspace_id"] == "cron-ws", st
        outs.append([l["message"].strip() for l in srv.logs(st["request_id"])
                     if l["source"] == "stdout"])
    assert outs == [["1"], ["2"]], outs
    srv.api("DELETE", "/mags-cron/" + c["id"])
    # leave no mounted workspace behind on the shared server
    r = srv.api("DELETE", "/mags-workspaces/cron-ws")
    assert r.status == 200, r
    assert wait_until(lambda: not [m for m in mounts_under(srv.data_dir) if "cron-ws" in m], 10)


def test_long_scripts_are_cut_in_the_list_only(srv):
    script = "echo " + "x" * (100 * 1024)
    c = create(srv, name="long", script=script, cron_expression="@yearly")
    assert c["script"] == script and "script_truncated" not in c
    item = [x for x in srv.api("GET", "/mags-cron").json["cron_jobs"] if x["id"] == c["id"]][0]
    assert item["script_truncated"] is True and len(item["script"]) == 64 * 1024
    assert get(srv, c["id"])["script"] == script
    srv.api("DELETE", "/mags-cron/" + c["id"])
