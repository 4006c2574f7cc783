"""Resource limits: memory, processes, and a host that stays responsive."""
import subprocess
import time

from conftest import descendants, wait_until


def test_memory_bomb_is_killed_and_reported(srv):
    # dd fills a 900 MiB buffer: over the 512 MiB default limit.
    st, out, err, logs = srv.run("dd if=/dev/zero of=/dev/null bs=900M count=1; echo survived $?",
                                 timeout=60)
    text = ((st.get("error_message") or "") + " " +
            " ".join(l["message"] for l in logs if l["source"] == "system")).lower()
    killed = "survived 137" in out or st["exit_code"] in (137, -9) or "memory" in text
    assert killed, (st, out, err)
    assert "survived 0" not in out
    # Reported: the user can tell it was memory.
    assert "memory" in text or "137" in out or st["exit_code"] == 137, (st, logs)


def test_moderate_memory_use_is_fine(srv):
    st, out, _, _ = srv.run("dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null && echo ok")
    assert out == "ok\n", st


def test_fork_bomb_is_contained(srv):
    # Every process keeps forking: the sandbox sits at its pids limit,
    # spinning, for as long as it lives.
    jid = srv.submit("f() { while :; do f & done; }; f", timeout=30)
    srv.wait(jid, timeout=15, states=("running",) + ("completed", "error", "stopped"))
    worst_whoami = 0.0
    worst_true = 0.0
    most = 0
    t_end = time.time() + 5
    while time.time() < t_end:
        t0 = time.monotonic()
        r = srv.api("GET", "/whoami", timeout=5)
        worst_whoami = max(worst_whoami, time.monotonic() - t0)
        assert r.status == 200, r
        t0 = time.monotonic()
        subprocess.run(["true"], check=True)
        worst_true = max(worst_true, time.monotonic() - t0)
        most = max(most, len(descendants(srv.proc.pid)))
        time.sleep(0.2)
    assert worst_whoami < 1.0, "magsd answered whoami in %.2fs during a fork bomb" % worst_whoami
    assert worst_true < 1.0, "the host took %.2fs to run true" % worst_true
    assert most >= 100, "the fork bomb did not take off (%d processes)" % most
    assert most <= 1100, "the sandbox reached %d processes" % most
    srv.api("POST", "/mags-jobs/%s/stop" % jid)
    st = srv.wait(jid, timeout=20)
    assert st["status"] in ("stopped", "completed", "error")
    assert wait_until(lambda: not descendants(srv.proc.pid), 10), \
        "processes left after the fork bomb: %r" % descendants(srv.proc.pid)[:20]
    # The server still runs sandboxes.
    st, out, _, _ = srv.run("echo after")
    assert out == "after\n"
