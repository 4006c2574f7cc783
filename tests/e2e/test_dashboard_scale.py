"""The jobs list on 10,000 jobs (issue 10): keyset paging through the whole
list, deep pages, filters and search answer fast and exactly, the store's
query plans use the indexes, and the dashboard pages through them.

The 10,000 jobs are rows written straight into the SQLite store of the
stopped magsd (finished jobs, so nothing tries to run them), not 10,000
sandboxes. Server-side times come from magsd's own request log line
("GET /api/v1/mags-jobs 200 3ms"); the bound asserted is generous for a
busy CI box, the target is 50 ms and the measured numbers are printed.
"""
import os
import re
import sqlite3
import statistics
import time
import uuid

import pytest

from conftest import browse, free_port, make_server
from test_dashboard import WEB

N = 10_000
BOUND_MS = 200          # asserted (CI boxes are shared); the target is 50
STATUSES = ("completed", "error", "stopped")
T0 = 1_700_000_000_000


def job_row(i, user_id):
    # three jobs share each millisecond: the rowid breaks the ties
    return (str(uuid.UUID(int=(0x5ca1e << 100) | i)), user_id, "scale-%05d" % i,
            "ws-%02d" % (i % 40), STATUSES[i % 3] if i % 97 else "error",
            0 if i % 3 == 0 else 1, T0 + (i // 3) * 1000, T0 + (i // 3) * 1000 + 5,
            T0 + (i // 3) * 1000 + 900, "inline", "echo %d" % i, 60)


@pytest.fixture(scope="module")
def big(session_dir, image_cache):
    # no sandbox network, no pool: see the dash fixture in test_dashboard.py
    s = make_server(session_dir, image_cache, "dash10k", conf={
        "web_dir": str(WEB), "proxy_listen": "127.0.0.1:%d" % free_port(),
        "network": "none", "pool_min": "0", "pool_max": "0"})
    s.stop()
    db = sqlite3.connect(str(s.data_dir / "mags.db"), timeout=30)
    uid = {n: i for i, n in db.execute("SELECT id, name FROM users")}
    rows = [job_row(i, uid["alice"]) for i in range(N)]
    rows += [job_row(N + i, uid["bob"]) for i in range(50)]
    with db:
        db.executemany(
            "INSERT INTO jobs (id, user_id, name, workspace_id, status, exit_code, "
            "created_at, started_at, finished_at, type, script, timeout) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    db.close()
    s.start()
    s.rows = rows[:N]
    yield s
    s.stop()


def newest_first(rows, match=lambda r: True):
    """Request ids as the list orders them: created_at descending, then the
    later insert (rowid) first."""
    order = sorted(range(len(rows)), key=lambda i: (rows[i][6], i), reverse=True)
    return [rows[i][0] for i in order if match(rows[i])]


def server_ms(srv, path):
    """(answer, server-side ms from magsd's log line, client-side ms)."""
    mark = srv.log_path.stat().st_size
    t = time.monotonic()
    r = srv.api("GET", path)
    client = (time.monotonic() - t) * 1000
    assert r.status == 200, r
    ms = None
    for _ in range(100):
        with open(srv.log_path, "rb") as f:
            f.seek(mark)
            tail = f.read().decode("utf-8", "replace")
        m = re.findall(r"GET /api/v1/mags-jobs\S* 200 (\d+)ms", tail)
        if m:
            ms = int(m[-1])
            break
        time.sleep(0.01)
    assert ms is not None, "no request log line for %s:\n%s" % (path, tail[-2000:])
    return r.json, ms, client


def walk(srv, query, page_size):
    """Every page of a listing by next_cursor: (ids in order, server ms list)."""
    ids, times, cur, pages = [], [], None, 0
    while True:
        path = "/mags-jobs?page_size=%d%s%s" % (page_size, query,
                                                "&cursor=" + cur if cur else "")
        data, ms, _ = server_ms(srv, path)
        times.append(ms)
        ids += [j["request_id"] for j in data["jobs"]]
        pages += 1
        cur = data["next_cursor"]
        if cur is None:
            return ids, times, data["total"], pages
        assert len(data["jobs"]) == page_size
        assert pages <= N, "next_cursor never ends"


def test_cursor_walk_sees_every_job_once_in_order(big):
    want = newest_first(big.rows)
    ids, times, total, pages = walk(big, "", 100)
    assert total == N and pages == N // 100
    assert len(ids) == len(set(ids)) == N
    assert ids == want
    print("\ncursor walk, 100 pages of 100: server ms median %s max %s" % (
        statistics.median(times), max(times)))
    assert max(times) < BOUND_MS, times


def test_first_deep_and_last_pages_are_fast(big):
    want = newest_first(big.rows)
    first, ms_first, c_first = server_ms(big, "/mags-jobs?page_size=25")
    assert [j["request_id"] for j in first["jobs"]] == want[:25]
    assert first["total"] == N and first["next_cursor"]
    # the contract's page numbers still work, at any depth
    deep, ms_deep, c_deep = server_ms(big, "/mags-jobs?page=399&page_size=25")
    assert [j["request_id"] for j in deep["jobs"]] == want[9950:9975]
    last, ms_last, _ = server_ms(big, "/mags-jobs?page=400&page_size=25")
    assert [j["request_id"] for j in last["jobs"]] == want[9975:]
    assert last["next_cursor"] is None
    # a deep page by number hands out a cursor that continues exactly
    nxt, ms_cur, c_cur = server_ms(big, "/mags-jobs?page_size=25&cursor=" + deep["next_cursor"])
    assert [j["request_id"] for j in nxt["jobs"]] == want[9975:]
    past = big.api("GET", "/mags-jobs?page=401&page_size=25").json
    assert past["jobs"] == [] and past["next_cursor"] is None and past["total"] == N
    print("\nfirst page %d ms (client %.1f), page 399 %d ms (client %.1f), "
          "cursor at 9975 %d ms (client %.1f)" % (ms_first, c_first, ms_deep, c_deep,
                                                  ms_cur, c_cur))
    for ms in (ms_first, ms_deep, ms_last, ms_cur):
        assert ms < BOUND_MS


@pytest.mark.parametrize("query,match", [
    ("&status=error", lambda r: r[4] == "error"),
    ("&status=stopped,error", lambda r: r[4] in ("stopped", "error")),
    ("&q=scale-09", lambda r: "scale-09" in r[2]),
    ("&q=WS-07", lambda r: r[3] == "ws-07"),
    ("&q=e-0012", lambda r: "e-0012" in r[2]),
    ("&status=completed&q=ws-1", lambda r: r[4] == "completed" and "ws-1" in r[3]),
    ("&name=ws-33", lambda r: r[3] == "ws-33"),
    ("&name=scale-04242", lambda r: r[2] == "scale-04242"),
    ("&name=scale-0424", lambda r: False),
])
def test_filters_and_search_are_exact_and_fast(big, query, match):
    want = newest_first(big.rows, match)
    ids, times, total, _ = walk(big, query, 100)
    assert total == len(want) and ids == want
    print("\n%s: %d jobs, server ms median %s max %s" % (
        query, total, statistics.median(times), max(times)))
    assert max(times) < BOUND_MS, times


def test_bad_cursors_are_400(big):
    for bad in ("x", "1-", "-1", "12", "1-0", "1-2-3", "1.5-2", "99999999999999999999-1",
                "1-%2B2", "%20" + "1-2", "1-2%00"):
        r = big.api("GET", "/mags-jobs?cursor=" + bad)
        assert r.status == 400 and "cursor" in r.json["error"], (bad, r)
    c = big.api("GET", "/mags-jobs?page_size=5").json["next_cursor"]
    r = big.api("GET", "/mags-jobs?page=2&cursor=" + c)
    assert r.status == 400 and "cannot be combined" in r.json["error"]
    assert big.api("GET", "/mags-jobs?name=" + "n" * 129).status == 400
    # bob sees his 50 only, whatever alice's cursor says
    r = big.api("GET", "/mags-jobs?page_size=100&cursor=" + c, token="bob").json
    assert r["total"] == 50 and len(r["jobs"]) <= 50
    assert all(j["name"] >= "scale-10000" for j in r["jobs"])


def test_new_jobs_do_not_shift_a_cursor_walk(big):
    a = big.api("GET", "/mags-jobs?page_size=50").json
    jid = big.submit("true", name="scale-newcomer")
    big.wait(jid)
    b = big.api("GET", "/mags-jobs?page_size=50&cursor=" + a["next_cursor"]).json
    # page 2 by number would now repeat the last job of page 1
    ids_a = [j["request_id"] for j in a["jobs"]]
    ids_b = [j["request_id"] for j in b["jobs"]]
    assert not set(ids_a) & set(ids_b) and jid not in ids_b
    assert b["total"] == N + 1
    byn = big.api("GET", "/mags-jobs?page=2&page_size=50").json
    assert byn["jobs"][0]["request_id"] == ids_a[-1]


def test_list_queries_use_the_indexes(big):
    """The plans of the list's statements (store_job_search's shapes) on the
    real store: index range searches, never a table scan nor a sort."""
    db = sqlite3.connect(str(big.data_dir / "mags.db"), timeout=30)
    cols = "id, name, workspace_id, status, created_at"
    shapes = [
        "SELECT count(*) FROM jobs WHERE user_id = ?",
        "SELECT count(*) FROM jobs WHERE user_id = ? AND status IN (?, ?)",
        "SELECT %s FROM jobs WHERE user_id = ? ORDER BY created_at DESC, rowid DESC "
        "LIMIT ? OFFSET ?" % cols,
        "SELECT %s FROM jobs WHERE user_id = ? AND (created_at, rowid) < (?, ?) "
        "ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?" % cols,
        "SELECT %s FROM jobs WHERE user_id = ? AND status IN (?) AND "
        "(created_at, rowid) < (?, ?) ORDER BY created_at DESC, rowid DESC "
        "LIMIT ? OFFSET ?" % cols,
        "SELECT %s FROM jobs WHERE user_id = ? AND (name LIKE ? ESCAPE '\\' OR "
        "workspace_id LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\') AND "
        "(created_at, rowid) < (?, ?) ORDER BY created_at DESC, rowid DESC "
        "LIMIT ? OFFSET ?" % cols,
        "SELECT count(*) FROM jobs WHERE user_id = ? AND (name = ? OR workspace_id = ?)",
    ]
    for sql in shapes:
        plan = " | ".join(r[3] for r in db.execute("EXPLAIN QUERY PLAN " + sql,
                                                     [None] * sql.count("?")))
        assert "SEARCH jobs USING" in plan and "SCAN jobs" not in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)
    names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert {"jobs_user_created", "jobs_user_status", "jobs_user_name"} <= names
    db.close()


def test_browser_pages_and_searches_10000_jobs(big, browser_env):
    want = newest_first(big.rows)
    r = browse(browser_env, "many", big.url, big.tokens["alice"], timeout=180,
               forward=6, search="scale-0424", deep_page=380)
    # the newcomer of the test above may be first: compare from the first
    # scale job on
    pages = r["pages"]
    flat = [i for p in pages for i in p]
    assert len(flat) == len(set(flat)) == 6 * 25, "a page repeated or missed a job"
    start = want.index(flat[0]) if flat[0] in want else None
    if start is None:      # the real job submitted by an earlier test
        flat = flat[1:]
        start = 0
    assert flat == want[start:start + len(flat)]
    assert all("cursor=" in q for q in r["queries"][1:]), r["queries"]
    assert re.search(r"1000[01] jobs · page 6 of 40[01]", r["info_forward"]), r["info_forward"]
    assert "page=6" in r["hash_forward"]
    assert r["back_rows"] == pages[4]
    assert set(r["search_rows"]) == {x[0] for x in big.rows if "scale-0424" in x[2]}
    assert r["info_search"].startswith("10 jobs")
    assert len(r["deep_rows"]) == 25 and r["deep_next_disabled"] is False
    assert "cursor=" in r["deep_after_query"]
    assert not set(r["deep_rows"]) & set(r["deep_after_rows"])
    print("\nbrowser: first list %d ms, next pages %s ms, search %d ms (with 250 ms debounce)" % (
        r["first_ms"], r["page_ms"], r["search_ms"]))
    assert max(r["page_ms"]) < 2000
    for shot in (r["forward_shot"], r["search_shot"]):
        assert os.path.getsize(shot) > 10000
