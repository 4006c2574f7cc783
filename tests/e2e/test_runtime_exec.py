"""mags-runtime's long-lived sandboxes, driven directly (issue 4):

--keep-alive   the sandbox outlives its script (status line script-exit N)
--control P    a unix socket on the host served by the sandbox's init:
               exec / status / stop requests (src/common/execproto.h)
--state-file   the supervisor's status lines, for a restarted magsd

The protocol is spoken here from Python (frames: type byte, 4-byte
big-endian length, payload) and through `mags-runtime exec`.
"""
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import RUNTIME, need, wait_until


@pytest.fixture(scope="module")
def rootfs(image_cache):
    return image_cache / "images" / "busybox" / "rootfs"


# ---- the protocol ----------------------------------------------------------

def frame(t, payload):
    return t.encode() + struct.pack(">I", len(payload)) + payload


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError("connection closed")
        buf += b
    return buf


def request(path, req, timeout=30):
    """Send one request; returns (stdout, stderr, final frame type, final payload)."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(str(path))
    s.sendall(frame("Q", json.dumps(req).encode()))
    out, err = b"", b""
    try:
        while True:
            hdr = recv_exact(s, 5)
            t, n = chr(hdr[0]), struct.unpack(">I", hdr[1:])[0]
            payload = recv_exact(s, n)
            if t == "O":
                out += payload
            elif t == "E":
                err += payload
            else:
                return out, err, t, payload
    finally:
        s.close()


def exec_(path, command, **kw):
    """(exit_code, stdout, stderr, timed_out) of one exec."""
    out, err, t, payload = request(path, dict(command=command, **kw))
    assert t == "X", (t, payload, out, err)
    x = json.loads(payload)
    return x["exit_code"], out.decode(), err.decode(), x["timed_out"]


# ---- a sandbox -------------------------------------------------------------

class Sandbox:
    """One mags-runtime run; status lines collected from fd 3 in a thread."""

    def __init__(self, rootfs, tmp, script="true", *flags, keep_alive=True,
                 spawner=False):
        self.id = "rt-" + uuid.uuid4().hex[:12]
        self.tmp = tmp
        self.control = tmp / (self.id + ".ctl")
        self.state = tmp / (self.id + ".state")
        self.log = tmp / (self.id + ".log")
        args = [str(RUNTIME), "run", "--id", self.id, "--rootfs", str(rootfs),
                "--log", str(self.log), "--run-dir", str(tmp / "run" / self.id),
                "--control", str(self.control), "--state-file", str(self.state),
                *flags]
        if keep_alive:
            args.append("--keep-alive")
        args += ["--", script]
        self.lines = []
        if spawner:
            # Like magsd: a parent process that starts the runtime in its
            # own process group with a status pipe, and then dies.
            code = ("import os,subprocess,sys,time\n"
                    "r,w=os.pipe()\n"
                    "p=subprocess.Popen(sys.argv[1:],pass_fds=(w,3),stdin=subprocess.DEVNULL,"
                    "stdout=subprocess.DEVNULL,stderr=subprocess.DEVNULL,"
                    "preexec_fn=lambda:(os.setpgid(0,0),os.dup2(w,3)))\n"
                    "os.close(w)\n"
                    "print(p.pid,flush=True)\n"
                    "f=os.fdopen(r)\n"
                    "for l in f: print(l,end='',flush=True)\n"
                    "sys.stdin.read()\n")  # until the test (or pytest) is gone
            self.proc = subprocess.Popen([sys.executable, "-c", code, *args],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         text=True)
            self.runtime_pid = int(self.proc.stdout.readline())
            src = self.proc.stdout
        else:
            r, w = os.pipe()
            self.proc = subprocess.Popen(args, pass_fds=(w, 3), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL,
                                         preexec_fn=lambda: (os.setpgid(0, 0),
                                                             os.dup2(w, 3)))
            os.close(w)
            self.runtime_pid = self.proc.pid
            src = os.fdopen(r)
        self.reader = threading.Thread(target=self._read, args=(src,), daemon=True)
        self.reader.start()
        assert wait_until(lambda: self.lines, 20), "no status line"
        assert self.lines[0].startswith("started "), self.lines

    def _read(self, f):
        for line in f:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix, timeout=20):
        return wait_until(lambda: next((l for l in self.lines if l.startswith(prefix)), None),
                          timeout)

    def state_lines(self):
        return self.state.read_text().splitlines()

    def exec(self, command, **kw):
        return exec_(self.control, command, **kw)

    def runtime_alive(self):
        try:
            os.kill(self.runtime_pid, 0)
        except ProcessLookupError:
            return False
        # A zombie of our own child counts as gone.
        try:
            with open("/proc/%d/stat" % self.runtime_pid) as f:
                return f.read().split(") ")[1][0] != "Z"
        except FileNotFoundError:
            return False

    def close(self):
        if self.runtime_alive():
            os.kill(self.runtime_pid, signal.SIGTERM)
            wait_until(lambda: not self.runtime_alive(), 10)
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


@pytest.fixture
def sandboxes(rootfs, tmp_path):
    made = []

    def make(script="true", *flags, **kw):
        sb = Sandbox(rootfs, tmp_path, script, *flags, **kw)
        made.append(sb)
        return sb
    yield make
    for sb in made:
        sb.close()


# ---- tests -----------------------------------------------------------------

def test_keep_alive_then_exec(sandboxes):
    sb = sandboxes("echo from-script; exit 3")
    assert sb.wait_line("script-exit") == "script-exit 3"
    assert sb.exec("echo hi") == (0, "hi\n", "", False)
    assert sb.exec("sleep 0.2; echo oops >&2; exit 4") == (4, "", "oops\n", False)
    assert sb.runtime_alive()
    assert sb.lines == ["started " + sb.lines[0].split()[1], "script-exit 3"]
    assert "from-script" in sb.log.read_text()


def test_cli_client_exit_code_and_streams(sandboxes):
    sb = sandboxes()
    r = subprocess.run([str(RUNTIME), "exec", "--control", str(sb.control), "--",
                        "echo out; echo err >&2; exit 4"],
                       capture_output=True, text=True, timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (4, "out\n", "err\n")
    r = subprocess.run([str(RUNTIME), "status", "--control", str(sb.control)],
                       capture_output=True, text=True, timeout=30)
    st = json.loads(r.stdout)
    assert st["state"] == "running" and st["keep_alive"] is True


def test_background_processes_of_the_script_keep_running(sandboxes):
    sb = sandboxes("sleep 1000 & echo $! > /tmp/bg; exit 0")
    sb.wait_line("script-exit")
    time.sleep(0.3)
    code, out, _, _ = sb.exec("kill -0 $(cat /tmp/bg) && echo alive")
    assert (code, out) == (0, "alive\n")


def test_exec_env_and_cwd(sandboxes):
    sb = sandboxes("true", "--env", "JOBVAR=j")
    assert sb.exec("pwd; echo $HOME $JOBVAR")[1] == "/root\n/root j\n"
    code, out, _, _ = sb.exec("pwd; echo $FOO $JOBVAR", env={"FOO": "bar", "JOBVAR": "x"},
                              cwd="/tmp")
    assert (code, out) == (0, "/tmp\nbar x\n")
    code, _, err, _ = sb.exec("true", cwd="/nonexistent")
    assert code == 127 and "/nonexistent" in err


def test_exec_stdin(sandboxes):
    sb = sandboxes()
    assert sb.exec("wc -l", stdin="a\nb\nc\n")[1].strip() == "3"
    assert sb.exec("cat")[1] == ""  # no stdin: /dev/null


def test_concurrent_execs_get_their_own_output(sandboxes):
    sb = sandboxes()

    def one(i):
        return i, sb.exec("echo out-%d; sleep 0.3; echo err-%d >&2; exit %d" % (i, i, i % 7))

    with ThreadPoolExecutor(50) as pool:
        for i, (code, out, err, _) in pool.map(one, range(50)):
            assert (code, out, err) == (i % 7, "out-%d\n" % i, "err-%d\n" % i)


def test_large_output_arrives_whole(sandboxes):
    sb = sandboxes()
    code, out, _, _ = sb.exec("i=0; while [ $i -lt 20000 ]; do echo line-$i; i=$((i+1)); done")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 20000 and lines[-1] == "line-19999"
    code, out, _, _ = sb.exec("head -c 8000000 /dev/zero | tr '\\0' x")
    assert code == 0 and len(out) == 8000000


def test_exec_timeout_kills_its_process_group(sandboxes):
    sb = sandboxes()
    t0 = time.time()
    code, out, _, timed_out = sb.exec("sleep 100 & echo $! > /tmp/child; sleep 100",
                                      timeout=1)
    assert (code, timed_out) == (137, True)
    assert time.time() - t0 < 5
    code, out, _, _ = sb.exec("kill -0 $(cat /tmp/child) 2>/dev/null && echo alive || echo dead")
    assert out == "dead\n"


def test_client_hangup_kills_the_exec(sandboxes):
    sb = sandboxes()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sb.control))
    s.sendall(frame("Q", json.dumps({"command": "echo $$ > /tmp/pid; exec sleep 100"}).encode()))
    time.sleep(0.5)
    s.close()
    time.sleep(0.5)
    _, out, _, _ = sb.exec("kill -0 $(cat /tmp/pid) 2>/dev/null && echo alive || echo dead")
    assert out == "dead\n"


def test_exec_posture_matches_the_script(sandboxes):
    sb = sandboxes("grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status > /tmp/script")
    sb.wait_line("script-exit")
    _, out, _, _ = sb.exec("grep -E '^(CapEff|CapBnd|NoNewPrivs|Seccomp):' /proc/self/status")
    _, script, _, _ = sb.exec("cat /tmp/script")
    assert out == script
    st = dict(l.split(":\t") for l in out.splitlines())
    assert st["NoNewPrivs"] == "1" and st["Seccomp"] == "2"
    # Same pid namespace, cgroup and hostname as the script.
    _, out, _, _ = sb.exec("echo $$; hostname; cat /proc/self/cgroup | head -1")
    pid, host, _ = out.splitlines()
    assert int(pid) < 100 and host == "mags-vm"
    # init's fds (the log, the control socket) are out of reach.
    code, _, err, _ = sb.exec("ls /proc/1/fd")
    assert code != 0 and "denied" in err


def test_bad_requests_get_an_error_frame(sandboxes):
    sb = sandboxes()
    for req, word in (({"command": ""}, "command"), ({"op": "reboot"}, "op"),
                      ({"command": "x", "timeout": -1}, "timeout"),
                      ({"command": "x", "tty": True}, "tty")):
        out, err, t, payload = request(sb.control, req)
        assert t == "R" and word in payload.decode(), (req, t, payload)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(str(sb.control))
    s.sendall(b"Z\0\0\0\0")
    assert recv_exact(s, 1) == b"R"
    s.close()
    assert sb.exec("echo still")[1] == "still\n"


def test_control_socket_is_private(sandboxes):
    sb = sandboxes()
    assert oct(os.stat(sb.control).st_mode & 0o777) == "0o600"


def test_stop_through_the_control_socket(sandboxes):
    sb = sandboxes("sleep 1000 &")
    sb.wait_line("script-exit")
    init_pid = int(sb.lines[0].split()[1])
    out, _, t, payload = request(sb.control, {"op": "stop"})
    assert t == "S" and json.loads(payload)["state"] == "stopping"
    assert sb.wait_line("stopped") == "stopped"
    assert wait_until(lambda: not sb.runtime_alive(), 10)
    assert not os.path.exists("/proc/%d" % init_pid)
    assert not sb.control.exists()
    assert sb.state_lines()[-1] == "stopped"


def test_stop_of_a_plain_run(sandboxes):
    sb = sandboxes("sleep 1000", keep_alive=False)
    st = json.loads(request(sb.control, {"op": "status"})[3])
    assert st["script"] == "running" and st["keep_alive"] is False
    request(sb.control, {"op": "stop"})
    assert sb.wait_line("stopped") == "stopped"


def test_exec_in_a_plain_run_while_the_script_runs(sandboxes):
    sb = sandboxes("sleep 2; echo done", keep_alive=False)
    assert sb.exec("echo hi") == (0, "hi\n", "", False)
    assert sb.wait_line("exit") == "exit 0"
    assert wait_until(lambda: not sb.control.exists(), 5)


def test_keep_alive_timeout_bounds_the_script_only(sandboxes):
    sb = sandboxes("sleep 100", "--timeout", "1")
    assert sb.wait_line("script-exit", 10) == "script-exit 137"
    assert "script-timeout" in sb.lines
    assert sb.exec("echo alive")[1] == "alive\n"
    assert "script timed out after 1 seconds" in sb.log.read_text()


def test_state_file_follows_the_status_lines(sandboxes):
    sb = sandboxes("exit 5")
    sb.wait_line("script-exit")
    st = sb.state_lines()
    assert st[0] == "supervisor %d" % sb.runtime_pid
    assert st[1:] == sb.lines


def test_sandbox_survives_the_death_of_its_spawner(sandboxes):
    """kill -9 of the process that started the runtime (magsd's role): the
    sandbox keeps running, a later exec works, and a stop through the
    control socket (no parent needed) tears it down."""
    sb = sandboxes("while true; do echo tick; sleep 0.1; done", spawner=True)
    sb.exec("echo warm")
    sb.proc.send_signal(signal.SIGKILL)
    sb.proc.wait(10)
    time.sleep(0.5)  # the status pipe is now broken: the runtime must not care
    assert sb.runtime_alive()
    assert sb.exec("echo after") == (0, "after\n", "", False)
    code, out, _, _ = sb.exec("ps | grep -c 'sleep 0.1' >/dev/null && echo ticking")
    assert out == "ticking\n"
    st = sb.state_lines()
    assert st[0] == "supervisor %d" % sb.runtime_pid and st[1].startswith("started ")
    request(sb.control, {"op": "stop"})
    assert wait_until(lambda: not os.path.exists("/proc/%d" % sb.runtime_pid), 10)
    assert sb.state_lines()[-1] == "stopped"
    assert not sb.control.exists()
