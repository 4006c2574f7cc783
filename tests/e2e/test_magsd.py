"""magsd's own commands: images, users, tokens, config, shutdown."""
import os
import re
import signal
import subprocess
import time

from conftest import (MAGSD, Server, clean_env, host_pids_with_cmdline, make_server,
                      wait_until)


def test_image_list_shows_busybox(srv):
    r = srv.admin("image", "list")
    lines = r.stdout.splitlines()
    assert len(lines) == 1, r.stdout
    name, size, created = lines[0].split("\t")
    assert name == "busybox"
    assert int(size) > 100000
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", created), created


def test_unknown_image_build_fails_clearly(srv):
    r = srv.admin("image", "build", "alpine", check=False)
    assert r.returncode != 0
    assert "alpine" in r.stderr


def test_data_dir_from_the_environment(srv):
    r = subprocess.run([str(MAGSD), "image", "list"], capture_output=True, text=True,
                       env=clean_env({"MAGS_DATA_DIR": str(srv.data_dir)}), timeout=30)
    assert r.returncode == 0, r
    assert r.stdout.startswith("busybox\t")


def test_imported_image_runs_sandboxes(session_dir, image_cache):
    s = Server(session_dir / "imported")
    s.data_dir.mkdir(parents=True)
    tarball = session_dir / "rootfs.tar.gz"
    subprocess.run(["tar", "-C", str(image_cache / "images" / "busybox" / "rootfs"),
                    "-czf", str(tarball), "."], check=True)
    r = s.admin("image", "import", "mine-1.0", str(tarball))
    assert (s.data_dir / "images" / "mine-1.0" / "rootfs" / "bin" / "busybox").exists()
    assert "mine-1.0\t" in s.admin("image", "list").stdout
    r = s.admin("image", "import", "Bad Name", str(tarball), check=False)
    assert r.returncode != 0
    s.image = "mine-1.0"
    s.start()
    try:
        s.add_user("alice")
        st, out, _, _ = s.run("echo from-import; cat /etc/hostname")
        assert out == "from-import\nmags-vm\n", st
    finally:
        s.stop()


def test_tarball_escaping_the_root_is_refused(session_dir, srv, tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "evil").write_text("x")
    tarball = tmp_path / "evil.tar"
    subprocess.run(["tar", "-C", str(tmp_path / "a" / "b"), "-P", "-cf", str(tarball),
                    "../evil"], check=True)
    r = srv.admin("image", "import", "evil", str(tarball), check=False)
    assert r.returncode != 0
    assert ".." in r.stderr
    assert not (srv.data_dir / "images" / "evil").exists()
    assert not (srv.data_dir / "images" / "evil").exists()
    assert not os.path.exists(srv.data_dir / "images" / "evil")


def test_users_and_tokens(srv):
    r = srv.admin("user", "add", "alice", check=False)
    assert r.returncode != 0, "adding an existing user must fail"
    r = srv.admin("token", "create", "--user", "nobody-here", check=False)
    assert r.returncode != 0
    assert r.stdout.strip() == ""
    r = srv.admin("user", "add", "carol")
    tok = srv.admin("token", "create", "--user", "carol").stdout
    assert re.fullmatch(r"\S{20,}\n?", tok), "token create prints only the token: %r" % tok
    assert srv.api("GET", "/whoami", token=tok.strip()).json["user"] == "carol"
    r = srv.admin("token", "revoke", "no-such-token-id", check=False)
    assert r.returncode != 0


def test_config_file_settings_apply(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "conf", conf={"memory_mb": 64, "job_timeout": 2})
    try:
        st, out, _, _ = s.run("cat /sys/fs/cgroup/memory.max 2>/dev/null || "
                              "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null; "
                              "dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; "
                              "echo dd=$?")
        assert "dd=0" not in out, "100 MiB fit in a 64 MiB sandbox: %r" % out
        st = s.wait(s.submit("sleep 20"), timeout=15)
        assert st["status"] == "error" and "timed out" in st["error_message"].lower(), st
    finally:
        s.stop()


def test_bad_config_is_a_clear_error(session_dir, image_cache):
    d = session_dir / "badconf"
    d.mkdir()
    (d / "magsd.conf").write_text("no_such_setting = 1\n")
    r = subprocess.run([str(MAGSD), "serve", "--data-dir", str(d), "--listen", "127.0.0.1:1"],
                       capture_output=True, text=True, env=clean_env(), timeout=10)
    assert r.returncode != 0
    assert "no_such_setting" in r.stderr


def test_sigterm_shuts_down_gracefully(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "shutdown")
    mark = "7%05d" % (os.getpid() % 100000)
    jid = s.submit("sleep %s" % mark)
    s.wait(jid, timeout=10, states=("running",))
    assert wait_until(lambda: host_pids_with_cmdline("sleep", mark), 5)
    t0 = time.time()
    s.proc.send_signal(signal.SIGTERM)
    try:
        rc = s.proc.wait(15)
    finally:
        s.stop()
    assert rc == 0, s.log_tail()
    assert time.time() - t0 < 10
    assert wait_until(lambda: not host_pids_with_cmdline("sleep", mark), 5), \
        "the sandbox outlived magsd"
    # The store survives a restart, and the job did not stay "running".
    s.start()
    try:
        st = s.status(jid)
        assert st["status"] in ("stopped", "error"), st
        assert s.api("GET", "/whoami").json["user"] == "alice"
    finally:
        s.stop()
