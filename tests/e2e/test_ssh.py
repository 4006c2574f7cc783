"""The SSH gateway (issue 5) with Debian's OpenSSH client against a real magsd.

A key comes from POST /mags-jobs/{id}/access {"port": 22}; the gateway
finds the job by the key and runs the command through the job's control
socket (the exec protocol of src/common/execproto.h), at
DATA_DIR/run/<job>.sock (sshgw_control_path).

magsd gives only persistent jobs a control socket, so each (plain) test
job here gets a stand-in: a real mags-runtime sandbox (busybox,
--keep-alive) started by the test with its control socket at that path
and MARK=<name> in its environment, so the tests can tell which sandbox
answered. Persistent sandboxes, PTY shells, scp/sftp transfers and wake
on login are in test_ssh_live.py.
"""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import RUNTIME, free_port, make_server, wait_until

SSH_OPTS = ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=10"]


@pytest.fixture(scope="module")
def ssrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "ssh", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "127.0.0.1:%d" % free_port(),
    })
    s.ssh_port = int(s.conf["ssh_listen"].rsplit(":", 1)[1])
    yield s
    s.stop()


class StandIn:
    """A keep-alive sandbox serving DATA_DIR/run/<job>.sock."""

    n = 0

    def __init__(self, srv, job_id, mark):
        StandIn.n += 1
        d = srv.data_dir / "standin" / mark
        d.mkdir(parents=True, exist_ok=True)
        self.sock = srv.data_dir / "run" / (job_id + ".sock")
        self.status = open(d / "status", "w+")
        rootfs = srv.data_dir / "images" / "busybox" / "rootfs"
        args = [str(RUNTIME), "run", "--id", "ssh-" + mark, "--rootfs", str(rootfs),
                "--log", str(d / "log"), "--run-dir", str(d / "run"),
                "--uid-base", str(100000 + (3000 + StandIn.n) * 65536),
                "--control", str(self.sock), "--keep-alive", "--timeout", "0",
                "--env", "MARK=" + mark, "--", "sleep 100000"]
        self.proc = subprocess.Popen(args, pass_fds=(3,), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=lambda: (os.setpgid(0, 0),
                                                         os.dup2(self.status.fileno(), 3)))
        assert wait_until(lambda: self.sock.exists(), 20), "no control socket"

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(15)
        self.status.close()


def running_job(s, token="alice"):
    jid = s.submit("sleep 300", token=token)
    s.wait(jid, timeout=30, token=token, states=("running",))
    return jid


def ssh_key(s, jid, tmp, name, token="alice"):
    r = s.api("POST", "/mags-jobs/%s/access" % jid, {"port": 22}, token=token)
    assert r.status == 200, r
    a = r.json
    assert a["ssh_host"] == "127.0.0.1" and a["ssh_port"] == s.ssh_port, a
    assert a["ssh_private_key"].startswith("-----BEGIN OPENSSH PRIVATE KEY-----"), a
    path = tmp / name
    path.write_text(a["ssh_private_key"])
    os.chmod(path, 0o600)
    return path


def ssh(s, key, command=None, user="root", input=None, timeout=30, extra=()):
    args = ["ssh", "-i", str(key), "-p", str(s.ssh_port), *SSH_OPTS, *extra,
            "%s@127.0.0.1" % user]
    if command is not None:
        args.append(command)
    return subprocess.run(args, input=input, capture_output=True, text=True,
                          timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL)


@pytest.fixture(scope="module")
def jobs(ssrv, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ssh")
    a, b = running_job(ssrv), running_job(ssrv)
    sa, sb = StandIn(ssrv, a, "jobA"), StandIn(ssrv, b, "jobB")
    keys = {"a": ssh_key(ssrv, a, tmp, "a.pem"), "b": ssh_key(ssrv, b, tmp, "b.pem")}
    yield {"a": a, "b": b, "keys": keys, "tmp": tmp}
    for j in (a, b):
        ssrv.api("POST", "/mags-jobs/%s/stop" % j)
    sa.close()
    sb.close()


def test_exec_output_and_exit_code(ssrv, jobs):
    r = ssh(ssrv, jobs["keys"]["a"], "echo hi; exit 3")
    assert r.returncode == 3, r
    assert r.stdout == "hi\n"
    r = ssh(ssrv, jobs["keys"]["a"], "echo out; echo err >&2; hostname; id -u; pwd")
    assert r.returncode == 0, r
    assert r.stdout == "out\nmags-vm\n0\n/root\n"
    assert r.stderr == "err\n"


def test_pty_request_runs_the_command_on_a_tty(ssrv, jobs):
    # `ssh -tt host cmd`: the command gets a terminal
    r = ssh(ssrv, jobs["keys"]["a"], "tty; exit 5", extra=("-tt",))
    assert r.returncode == 5, r
    assert r.stdout.startswith("/dev/pts/"), r


def test_key_names_the_job(ssrv, jobs):
    assert ssh(ssrv, jobs["keys"]["a"], "echo $MARK").stdout == "jobA\n"
    assert ssh(ssrv, jobs["keys"]["b"], "echo $MARK").stdout == "jobB\n"


def test_stdin_is_passed(ssrv, jobs):
    r = ssh(ssrv, jobs["keys"]["a"], "cat; echo done", input="hello\n")
    assert r.returncode == 0, r
    assert r.stdout == "hello\ndone\n"


def test_large_output(ssrv, jobs):
    r = ssh(ssrv, jobs["keys"]["a"], "head -c 3000000 /dev/zero | tr '\\0' x")
    assert r.returncode == 0
    assert len(r.stdout) == 3000000 and set(r.stdout) == {"x"}


def test_wrong_key_and_user_refused(ssrv, jobs):
    tmp = jobs["tmp"]
    stranger = tmp / "stranger"
    if not stranger.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                       check=True)
    r = ssh(ssrv, stranger, "echo no")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r
    r = ssh(ssrv, jobs["keys"]["a"], "echo no", user="admin")
    assert r.returncode == 255 and "Permission denied" in r.stderr, r


def test_other_users_job_has_no_key(ssrv, jobs):
    r = ssrv.api("POST", "/mags-jobs/%s/access" % jobs["a"], {"port": 22}, token="bob")
    assert r.status == 404


def test_each_call_issues_a_new_key_all_valid(ssrv, jobs):
    k2 = ssh_key(ssrv, jobs["a"], jobs["tmp"], "a2.pem")
    assert k2.read_text() != jobs["keys"]["a"].read_text()
    assert ssh(ssrv, k2, "echo $MARK").stdout == "jobA\n"
    assert ssh(ssrv, jobs["keys"]["a"], "echo $MARK").stdout == "jobA\n"


def test_shell_without_pty_reads_stdin(ssrv, jobs):
    # `ssh host` with stdin not a terminal: a login shell without a tty,
    # fed by the channel; its exit is the session's exit status
    r = ssh(ssrv, jobs["keys"]["a"], None, input="echo $MARK; tty; exit 7\n")
    assert r.returncode == 7, r
    assert r.stdout.splitlines()[0] == "jobA", r
    assert "not a tty" in r.stdout, r


def test_stdin_beyond_the_old_limit(ssrv, jobs):
    # stdin is streamed: 3 MB arrive whole (the first gateway capped it at 1 MiB)
    data = "0123456789abcdef" * (3 * 65536)
    r = ssh(ssrv, jobs["keys"]["a"], "wc -c", input=data)
    assert r.returncode == 0, r
    assert r.stdout.strip() == str(len(data)), r


def test_sftp_subsystem(ssrv, jobs):
    r = subprocess.run(["sftp", "-i", str(jobs["keys"]["a"]), "-P", str(ssrv.ssh_port),
                        *SSH_OPTS, "-b", "-", "root@127.0.0.1"], input="pwd\nls /\n",
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r
    assert "Remote working directory: /root" in r.stdout, r
    assert "bin" in r.stdout, r


def test_other_subsystem_refused(ssrv, jobs):
    r = ssh(ssrv, jobs["keys"]["a"], "nosuch", extra=("-s",))
    assert r.returncode != 0, r


def test_ended_job_key_refused(ssrv, jobs):
    jid = running_job(ssrv)
    st = StandIn(ssrv, jid, "ended")
    try:
        key = ssh_key(ssrv, jid, jobs["tmp"], "ended.pem")
        assert ssh(ssrv, key, "echo $MARK").stdout == "ended\n"
        ssrv.api("POST", "/mags-jobs/%s/stop" % jid)
        ssrv.wait(jid)
        time.sleep(0.2)
        r = ssh(ssrv, key, "echo $MARK")
        assert r.returncode == 255 and "Permission denied" in r.stderr, r
    finally:
        st.close()


def test_gateway_survives_garbage(ssrv, jobs):
    import socket
    for junk in (b"", b"GET / HTTP/1.1\r\n\r\n", b"SSH-2.0-x\r\n" + os.urandom(5000)):
        c = socket.create_connection(("127.0.0.1", ssrv.ssh_port), timeout=5)
        try:
            c.sendall(junk)
            c.shutdown(socket.SHUT_WR)
            c.recv(4096)
        except OSError:
            pass
        c.close()
    assert ssh(ssrv, jobs["keys"]["b"], "echo ok").stdout == "ok\n"
