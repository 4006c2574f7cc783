"""The issue-3 user story, line by line, through the real CLI against a real
magsd (the server side of each line is tested in detail in
test_workspaces.py)."""
import pytest

from conftest import make_server, need


@pytest.fixture(scope="module")
def csrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "ws-cli")
    yield s
    s.stop()


def ok(srv, *args, timeout=120):
    r = srv.mags(*args, timeout=timeout)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    return r.stdout


def test_user_story(csrv, tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    out = ok(csrv, "run", "-w", "analysis", "-f", str(data),
             "wc -l /root/data.csv /uploads/data.csv")
    assert "3 /root/data.csv" in out and "3 /uploads/data.csv" in out, out

    ok(csrv, "run", "-w", "myproject", "-p",
       'echo v1 > /root/state; mkdir -p /usr/local/bin; '
       'printf "#!/bin/sh\\necho tool\\n" > /usr/local/bin/tool; chmod +x /usr/local/bin/tool')
    out = ok(csrv, "run", "-w", "myproject", "-p", "cat /root/state; tool")
    assert "v1\ntool\n" in out, out

    ok(csrv, "run", "-w", "golden", "-p",
       "mkdir -p /opt/tool && echo gold > /opt/tool/v; echo hi > /etc/motd")
    ok(csrv, "run", "-w", "golden", "-p", "rm /etc/motd")
    r = csrv.mags("sync", "golden", timeout=120)
    need(r.returncode == 0, "mags sync golden failed: %s%s" % (r.stdout, r.stderr))
    out = ok(csrv, "run", "--base", "golden", "cat /opt/tool/v; echo x > /opt/tool/v")
    assert "gold" in out, out
    ok(csrv, "run", "--base", "golden", "-w", "fork-1", "-p",
       "echo fork >> /opt/tool/v; test ! -e /etc/motd")
    out = ok(csrv, "run", "-w", "fork-1", "-p", "cat /opt/tool/v")
    assert "gold\nfork\n" in out, out
    out = ok(csrv, "run", "--base", "golden", "cat /opt/tool/v")
    assert "gold\n" in out and "fork" not in out, out

    out = ok(csrv, "workspace", "list")
    assert "fork-1" in out and "golden" in out, out
    # its sandbox outlived the run (issue 4): stop it to delete the workspace
    ok(csrv, "stop", "fork-1")
    ok(csrv, "workspace", "delete", "fork-1")
    assert "fork-1" not in ok(csrv, "workspace", "list")

    r = csrv.mags("run", "-w", "big", "-p", "--disk", "1", "fallocate -l 2G /root/x || "
                  "dd if=/dev/zero of=/root/x bs=1M count=2048")
    assert r.returncode != 0, (r.stdout, r.stderr)
    assert "No space left on device" in r.stdout + r.stderr, (r.stdout, r.stderr)
    ok(csrv, "resize", "big", "--disk", "3")
    out = ok(csrv, "run", "-w", "big", "-p", "df -k / | tail -1")
    assert int(out.split()[1]) > 2 * 1024 * 1024, out

    r = csrv.mags("run", "-e", "-w", "x", "true")
    assert r.returncode != 0
