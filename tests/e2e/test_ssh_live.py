"""The SSH gateway into persistent sandboxes (issues 4 + 5), with Debian's
OpenSSH client (ssh, scp, sftp) against a real magsd and real sandboxes.

An interactive shell on a PTY (driven through a pseudo-terminal of our
own, as a person's terminal would), exec with streamed stdin, exit
status, scp and sftp transfers byte-exact (scp in OpenSSH 9 speaks SFTP),
keys of other or ended jobs refused, and a login to a sleeping sandbox
that wakes it into its workspace, also through `mags ssh`.
"""
import fcntl
import hashlib
import os
import select
import struct
import subprocess
import termios
import time

import pytest

from conftest import free_port, make_server, need, wait_until

IDLE = 2
SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]


@pytest.fixture(scope="module")
def ls(session_dir, image_cache):
    port = free_port()
    s = make_server(session_dir, image_cache, "sshlive", conf={
        "idle_timeout": IDLE, "proxy_listen": "off",
        "ssh_listen": "127.0.0.1:%d" % port})
    s.ssh_port = port
    yield s
    for user in ("alice", "bob"):
        r = s.api("GET", "/mags-jobs?page_size=100&status=accepted,running,sleeping", token=user)
        for j in (r.json or {}).get("jobs", []) if r.status == 200 else []:
            s.api("POST", "/mags-jobs/%s/stop" % j["request_id"], token=user, timeout=60)
    s.stop()


def status(s, ref, token="alice"):
    r = s.api("GET", "/mags-jobs/%s/status" % ref, token=token)
    assert r.status == 200, r
    return r.json["status"]


def sandbox(s, name, token="alice", **fields):
    """A persistent sandbox as `mags new` makes it."""
    body = dict(name=name, workspace_id=name, persistent=True, no_sync=True,
                startup_command="sleep infinity")
    body.update(fields)
    jid = s.submit("sleep infinity", token=token, **body)
    # with a 2 s idle timeout it may be asleep already when we look
    s.wait(jid, timeout=30, token=token, states=("running", "sleeping"))
    return jid


def key_for(s, jid, tmp, name, token="alice"):
    r = s.api("POST", "/mags-jobs/%s/access" % jid, {"port": 22}, token=token)
    assert r.status == 200, r
    path = tmp / name
    path.write_text(r.json["ssh_private_key"])
    os.chmod(path, 0o600)
    return path


def ssh(s, key, command=None, input=None, timeout=60, extra=(), stdin=None, text=True):
    args = ["ssh", "-i", str(key), "-p", str(s.ssh_port), *SSH_OPTS, *extra, "root@127.0.0.1"]
    if command is not None:
        args.append(command)
    if input is None and stdin is None:
        stdin = subprocess.DEVNULL
    return subprocess.run(args, input=input, stdin=stdin, capture_output=True, text=text,
                          timeout=timeout)


@pytest.fixture(scope="module")
def box(ls, tmp_path_factory):
    """An always-on sandbox (no sleep in the middle of a transfer test)."""
    tmp = tmp_path_factory.mktemp("sshlive")
    jid = sandbox(ls, "sshbox", no_sleep=True)
    return {"id": jid, "key": key_for(ls, jid, tmp, "box.pem"), "tmp": tmp}


# ---- interactive shell on a PTY ---------------------------------------------

class Terminal:
    """ssh -tt on a pseudo-terminal of ours: its controlling terminal, so a
    resize of ours reaches ssh as SIGWINCH and the sandbox as window-change."""

    def __init__(self, s, key, rows, cols):
        self.master, slave = os.openpty()
        self.resize(rows, cols)

        def setup():
            os.setsid()
            fcntl.ioctl(0, termios.TIOCSCTTY, 0)

        self.proc = subprocess.Popen(
            ["ssh", "-tt", "-i", str(key), "-p", str(s.ssh_port), *SSH_OPTS, "root@127.0.0.1"],
            stdin=slave, stdout=slave, stderr=slave, preexec_fn=setup, close_fds=True)
        os.close(slave)
        self.buf = b""

    def resize(self, rows, cols):
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))

    def send(self, text):
        os.write(self.master, text.encode())

    def expect(self, needle, timeout=20):
        deadline = time.time() + timeout
        while needle.encode() not in self.buf:
            left = deadline - time.time()
            assert left > 0, "no %r in %r" % (needle, self.buf[-2000:])
            r, _, _ = select.select([self.master], [], [], left)
            if r:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:
                    chunk = b""
                assert chunk, "terminal closed; got %r" % self.buf[-2000:]
                self.buf += chunk
        return self.buf.decode(errors="replace")

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        os.close(self.master)


def test_interactive_shell_on_a_pty(ls, box):
    t = Terminal(ls, box["key"], 31, 97)
    try:
        t.send("stty size; tty; echo T=$TERM; echo mark-$((6*7))\n")
        out = t.expect("mark-42")
        assert "31 97" in out, out
        assert "/dev/pts/" in out, out
        assert "T=" in out and "T=\r" not in out, out
        # a resize of our terminal reaches the sandbox's
        t.resize(40, 120)
        # ssh notices the SIGWINCH in its own time: ask until it is there
        for i in range(20):
            time.sleep(0.3)
            t.send("stty size; echo mark-$((%d*7))\n" % (i + 100))
            out = t.expect("mark-%d" % ((i + 100) * 7))
            if "40 120" in out:
                break
        assert "40 120" in out, out
        # Ctrl-C goes through the terminal: it stops the foreground command
        t.send("sleep 30; echo not-interrupted\n")
        time.sleep(1)
        t.send("\x03")
        t.send("echo mark-$((8*8))\n")
        out = t.expect("mark-64", timeout=10)
        assert "\nnot-interrupted" not in out, out
        t.send("exit 3\n")
        assert t.proc.wait(20) == 3
    finally:
        t.close()


def test_shell_session_keeps_the_sandbox_awake(ls, tmp_path):
    jid = sandbox(ls, "awake")
    key = key_for(ls, jid, tmp_path, "awake.pem")
    t = Terminal(ls, key, 24, 80)
    try:
        t.send("echo ready-$((1+1))\n")
        t.expect("ready-2")
        # an idle shell, three idle timeouts long: the sandbox stays up
        time.sleep(3 * IDLE + 1)
        assert status(ls, jid) == "running"
        t.send("echo still-$((2+2))\n")
        t.expect("still-4")
        t.send("exit\n")
        assert t.proc.wait(20) == 0
    finally:
        t.close()
    # the session over, it falls asleep again
    assert wait_until(lambda: status(ls, jid) == "sleeping", IDLE + 10)
    ls.api("POST", "/mags-jobs/%s/stop" % jid)


# ---- exec, stdin, exit status -----------------------------------------------

def test_exec_with_large_stdin_and_exit_status(ls, box, tmp_path):
    data = os.urandom(3 * 1024 * 1024)
    src = tmp_path / "in.bin"
    src.write_bytes(data)
    with open(src, "rb") as f:
        r = ssh(ls, box["key"], "cat > /root/big; echo stored", stdin=f, text=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"stored\n"
    r = ssh(ls, box["key"], "sha256sum /root/big")
    assert r.returncode == 0, r
    assert r.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    r = ssh(ls, box["key"], "echo out; echo err >&2; exit 42")
    assert (r.returncode, r.stdout, r.stderr) == (42, "out\n", "err\n"), r
    # a command killed by a signal: the shell's 128+n
    r = ssh(ls, box["key"], "sh -c 'kill -TERM $$'")
    assert r.returncode == 143, r


def test_exec_stdin_eof_reaches_the_command(ls, box):
    r = ssh(ls, box["key"], "wc -l", input="a\nb\nc\n")
    assert r.returncode == 0 and r.stdout.strip() == "3", r


def session_children_rss_kb(s):
    """VmRSS of magsd's SSH session children (forked magsd processes)."""
    out = []
    for pid in subprocess.run(["pgrep", "-P", str(s.proc.pid)], capture_output=True,
                              text=True).stdout.split():
        try:
            if os.readlink("/proc/%s/exe" % pid) != os.readlink("/proc/%d/exe" % s.proc.pid):
                continue
            for line in open("/proc/%s/status" % pid):
                if line.startswith("VmRSS:"):
                    out.append(int(line.split()[1]))
        except OSError:
            pass
    return out


def test_unread_stdin_is_held_back_not_buffered(ls, box, tmp_path):
    # 256 MiB offered to a command that never reads: the gateway keeps at
    # most its bounded buffer (the rest waits in the client), then the
    # command's exit ends the session
    src = tmp_path / "flood.bin"
    with open(src, "wb") as f:
        f.truncate(256 * 1024 * 1024)          # sparse: no disk used
    with open(src, "rb") as f:
        p = subprocess.Popen(["ssh", "-i", str(box["key"]), "-p", str(ls.ssh_port), *SSH_OPTS,
                              "root@127.0.0.1", "sleep 4; echo done"], stdin=f,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(2.5)
        rss = session_children_rss_kb(ls)
        out, err = p.communicate(timeout=30)
    assert rss, "no session child seen"
    # a sanitizer build keeps freed memory in quarantine: more room there
    asan = "libasan" in open("/proc/%d/maps" % ls.proc.pid).read()
    assert max(rss) < (128 if asan else 40) * 1024, rss
    assert p.returncode == 0 and out == b"done\n", (p.returncode, out, err)


# ---- scp and sftp -----------------------------------------------------------

def test_scp_in_and_out_byte_exact(ls, box, tmp_path):
    data = os.urandom(2 * 1024 * 1024 + 12345)
    src = tmp_path / "up.bin"
    src.write_bytes(data)
    base = ["scp", "-i", str(box["key"]), "-P", str(ls.ssh_port), *SSH_OPTS]
    r = subprocess.run(base + [str(src), "root@127.0.0.1:/root/up.bin"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    r = ssh(ls, box["key"], "sha256sum /root/up.bin")
    assert r.stdout.split()[0] == hashlib.sha256(data).hexdigest(), r
    back = tmp_path / "down.bin"
    r = subprocess.run(base + ["root@127.0.0.1:/root/up.bin", str(back)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert back.read_bytes() == data
    # a relative remote path is relative to /root; a missing file fails
    r = subprocess.run(base + ["root@127.0.0.1:up.bin", str(tmp_path / "rel.bin")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and (tmp_path / "rel.bin").read_bytes() == data, r
    r = subprocess.run(base + ["root@127.0.0.1:/root/nosuch", str(tmp_path / "x")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "No such file" in r.stderr, r


def test_sftp_batch(ls, box, tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    batch = "\n".join([
        "mkdir /root/sf",
        "cd /root/sf",
        "put %s a.txt" % (tmp_path / "a.txt"),
        "rename a.txt b.txt",
        "ls -l",
        "get b.txt %s" % (tmp_path / "b.txt"),
        "symlink b.txt c.txt",
        "chmod 600 b.txt",
        "pwd",
    ]) + "\n"
    r = subprocess.run(["sftp", "-i", str(box["key"]), "-P", str(ls.ssh_port), *SSH_OPTS,
                        "-b", "-", "root@127.0.0.1"], input=batch,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    assert "b.txt" in r.stdout and "Remote working directory: /root/sf" in r.stdout, r
    assert (tmp_path / "b.txt").read_text() == "alpha\n"
    r = ssh(ls, box["key"], "cat /root/sf/c.txt; stat -c %a /root/sf/b.txt; ls /root/sf")
    assert r.stdout == "alpha\n600\nb.txt\nc.txt\n", r
    # a failing command stops the batch with an error
    r = subprocess.run(["sftp", "-i", str(box["key"]), "-P", str(ls.ssh_port), *SSH_OPTS,
                        "-b", "-", "root@127.0.0.1"], input="rmdir /root/nosuchdir\n",
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0, r


# ---- keys -------------------------------------------------------------------

def test_keys_of_other_or_ended_jobs_refused(ls, box, tmp_path):
    other = sandbox(ls, "other", token="bob")
    bkey = key_for(ls, other, tmp_path, "bob.pem", token="bob")
    # each key lands in its own job's sandbox
    assert ssh(ls, bkey, "cat /root/sf/b.txt 2>/dev/null || echo none").stdout == "none\n"
    assert ssh(ls, box["key"], "cat /root/sf/b.txt").stdout == "alpha\n"
    # alice cannot get a key for bob's job
    r = ls.api("POST", "/mags-jobs/%s/access" % other, {"port": 22}, token="alice")
    assert r.status == 404, r
    # a sleeping job's key still works (below); an ended job's does not
    ls.api("POST", "/mags-jobs/%s/stop" % other, token="bob", timeout=60)
    ls.wait(other, token="bob")
    r = ssh(ls, bkey, "echo in")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r


def test_oldest_key_revoked_past_sixteen(ls, box, tmp_path):
    first = key_for(ls, box["id"], tmp_path, "k0.pem")
    assert ssh(ls, first, "echo in").stdout == "in\n"
    keys = [key_for(ls, box["id"], tmp_path, "k%d.pem" % i) for i in range(1, 17)]
    r = ssh(ls, first, "echo in")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r
    assert ssh(ls, keys[0], "echo in").stdout == "in\n"
    assert ssh(ls, keys[-1], "echo in").stdout == "in\n"
    box["key"] = keys[-1]          # the fixture's own key went with the oldest


def test_key_of_a_job_stopped_while_asleep_refused(ls, tmp_path):
    jid = sandbox(ls, "stopasleep")
    key = key_for(ls, jid, tmp_path, "sa.pem")
    assert wait_until(lambda: status(ls, jid) == "sleeping", IDLE + 10)
    ls.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)
    assert status(ls, jid) == "stopped"
    r = ssh(ls, key, "echo in")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r
    assert status(ls, jid) == "stopped"


# ---- wake on login ----------------------------------------------------------

def test_login_wakes_a_sleeping_sandbox(ls, tmp_path):
    jid = sandbox(ls, "napper")
    key = key_for(ls, jid, tmp_path, "nap.pem")
    assert ssh(ls, key, "echo kept > /root/state").returncode == 0
    assert wait_until(lambda: status(ls, jid) == "sleeping", IDLE + 10)
    t0 = time.time()
    r = ssh(ls, key, "cat /root/state; pwd")
    assert r.returncode == 0, r
    assert r.stdout == "kept\n/root\n", r
    assert time.time() - t0 < 15
    assert status(ls, jid) in ("running", "sleeping")
    # scp into a sleeping sandbox wakes it as well
    assert wait_until(lambda: status(ls, jid) == "sleeping", IDLE + 10)
    src = tmp_path / "s.txt"
    src.write_text("via scp\n")
    r = subprocess.run(["scp", "-i", str(key), "-P", str(ls.ssh_port), *SSH_OPTS, str(src),
                        "root@127.0.0.1:/root/s.txt"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r
    assert ssh(ls, key, "cat /root/s.txt").stdout == "via scp\n"
    ls.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)


def test_mags_ssh_wakes_a_sleeping_sandbox(ls):
    sandbox(ls, "mssh")            # what `mags new mssh` makes
    r = ls.mags("exec", "mssh", "echo from-before > /root/m")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert wait_until(lambda: status(ls, "mssh") == "sleeping", IDLE + 10)
    r = ls.mags("ssh", "mssh", "--", "cat /root/m; exit 4", timeout=60)
    assert r.returncode == 4, (r.stdout, r.stderr)
    assert r.stdout == "from-before\n", (r.stdout, r.stderr)
    assert "Waking" in r.stderr, r.stderr
    ls.mags("stop", "mssh", timeout=60)


# ---- signals ----------------------------------------------------------------

@pytest.fixture(scope="module")
def signal_client(tmp_path_factory):
    """tests/e2e/ssh_signal_client.c built against libssh (magsd's own
    dependency): OpenSSH's client has no way to send a signal request."""
    out = tmp_path_factory.mktemp("sigclient") / "ssh_signal_client"
    src = os.path.join(os.path.dirname(__file__), "ssh_signal_client.c")
    r = subprocess.run(["cc", "-O1", "-o", str(out), src, "-lssh"], capture_output=True,
                       text=True)
    need(r.returncode == 0, "cannot build the libssh test client: %s" % r.stderr[-500:])
    return out


@pytest.mark.parametrize("sig,delivered", [("TERM", True), ("USR1", True), ("INT", True),
                                           ("SEGV", False)])
def test_signal_request_reaches_the_command(ls, box, signal_client, sig, delivered):
    command = ("trap 'echo got-%s; exit 9' %s; echo ready; i=0; "
               "while [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done; echo ran-out" % (sig, sig))
    r = subprocess.run([str(signal_client), str(box["key"]), str(ls.ssh_port), command, sig],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r
    if delivered:
        assert r.stdout == "ready\ngot-%s\nexit=9\n" % sig, r
    else:
        # not on the list init delivers: ignored
        assert r.stdout == "ready\nran-out\nexit=0\n", r
