"""mags-runtime's long-lived sandboxes, driven directly (issue 4):

--keep-alive   the sandbox outlives its script (status line script-exit N)
--control P    a unix socket on the host served by the sandbox's init:
               exec / status / stop requests (src/common/execproto.h)
--state-file   the supervisor's status lines, for a restarted magsd

The protocol is spoken here from Python (frames: type byte, 4-byte
big-endian length, payload) and through `mags-runtime exec`.

Interactive execs (issue 5): stdin streamed as 'I' frames, signals as 'K',
a pty with 'W' window sizes (the SSH gateway's side of the protocol).
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
                      ({"command": "x", "stdin": "a", "stdin_stream": True}, "stdin"),
                      ({"command": "x", "stdin": "a", "tty": True}, "stdin"),
                      ({"command": "x", "tty": True, "rows": 0}, "rows"),
                      ({"command": "x", "tty": True, "cols": 1001}, "cols"),
                      ({"command": "x", "term": "a b"}, "term"),
                      ({"command": "x", "term": "x" * 65}, "term"),
                      ({"command": "x", "stdin_stream": 1}, "stdin_stream")):
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


# ---- interactive execs: streamed stdin, signals, tty (issue 5) ------------

class Stream:
    """One exec whose stdin and signals go as frames while it runs."""

    def __init__(self, path, timeout=30, **req):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        for _ in range(100):
            try:
                self.s.connect(str(path))
                break
            except BlockingIOError:  # the listen backlog is full: init is busy
                time.sleep(0.05)
        self.s.sendall(frame("Q", json.dumps(req).encode()))
        self.out, self.err, self.types = b"", b"", []
        self.final = None

    def send(self, t, payload=b""):
        self.s.sendall(frame(t, payload))

    def stdin(self, data):
        for i in range(0, len(data), 65536):
            self.send("I", data[i:i + 65536])

    def eof(self):
        self.send("I", b"")

    def signal(self, sig):
        self.send("K", bytes([int(sig)]))

    def winsize(self, rows, cols):
        self.send("W", struct.pack(">HH", rows, cols))

    def _one(self):
        hdr = recv_exact(self.s, 5)
        t, n = chr(hdr[0]), struct.unpack(">I", hdr[1:])[0]
        payload = recv_exact(self.s, n)
        self.types.append(t)
        if t == "O":
            self.out += payload
        elif t == "E":
            self.err += payload
        else:
            self.final = (t, payload)

    def read_until(self, pred, timeout=20):
        end = time.monotonic() + timeout
        while not pred(self):
            assert self.final is None, (self.final, self.out, self.err)
            assert time.monotonic() < end, (self.out, self.err)
            self._one()

    def finish(self):
        while self.final is None:
            self._one()
        self.s.close()
        return self.final

    def exit_code(self):
        t, payload = self.finish()
        assert t == "X", (t, payload, self.out, self.err)
        return json.loads(payload)["exit_code"]


def test_streamed_stdin_echoes_megabytes_exactly(sandboxes):
    sb = sandboxes()
    data = os.urandom(3 * 1024 * 1024 + 12345)
    st = Stream(sb.control, command="cat", stdin_stream=True)

    def feed():
        # Odd-sized frames; init stops reading us while the exec lags.
        pos, size = 0, 1
        while pos < len(data):
            st.send("I", data[pos:pos + size])
            pos += size
            size = size * 7 % 65536 + 1
        st.eof()
    t = threading.Thread(target=feed)
    t.start()
    code = st.exit_code()
    t.join(30)
    assert code == 0
    assert len(st.out) == len(data) and st.out == data
    assert st.err == b""


def test_streamed_stdin_eof_ends_the_reader(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="wc -c; echo after", stdin_stream=True)
    st.stdin(b"abc")
    st.stdin(b"defg\n")
    st.eof()
    assert st.exit_code() == 0
    assert st.out.split() == [b"8", b"after"]
    # A client that half-closes instead of sending an empty 'I'.
    st = Stream(sb.control, command="cat", stdin_stream=True)
    st.stdin(b"half")
    st.s.shutdown(socket.SHUT_WR)
    assert st.exit_code() == 0 and st.out == b"half"


def test_streamed_stdin_to_an_exec_that_stops_reading(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="head -c 5; exit 3", stdin_stream=True)
    st.stdin(b"12345678")
    st.read_until(lambda s: s.final is not None or len(s.out) >= 5)
    try:
        st.stdin(os.urandom(2 * 1024 * 1024))  # into a closed pipe: dropped
        st.eof()
    except OSError:
        pass  # init may already have sent X and closed
    assert st.exit_code() == 3 and st.out == b"12345"
    assert sb.exec("echo still")[1] == "still\n"


def test_signal_frames(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="echo ready; sleep 100", stdin_stream=True)
    st.read_until(lambda s: b"ready" in s.out)
    st.signal(signal.SIGINT)
    assert st.exit_code() == 130
    # Signals outside the list are ignored; TERM then ends it.
    st = Stream(sb.control, command="echo ready; sleep 100", stdin_stream=True)
    st.read_until(lambda s: b"ready" in s.out)
    for sig in (signal.SIGSTOP, signal.SIGSEGV, 0, 200):
        st.signal(sig)
    time.sleep(0.3)
    assert st.final is None
    st.send("K", b"")  # a bad length: ignored too
    st.signal(signal.SIGTERM)
    assert st.exit_code() == 143


def test_unknown_client_frames_end_the_exec_with_an_error(sandboxes):
    sb = sandboxes()
    for bad in (frame("Q", b"{}"), frame("O", b"x"), b"Z\0\0\0\0",
                b"I" + struct.pack(">I", 65537)):
        st = Stream(sb.control, command="sleep 100; echo no", stdin_stream=True)
        st.s.sendall(bad)
        t, payload = st.finish()
        assert t == "R", (bad, t, payload)
        assert "X" not in st.types and st.out == b""
    assert wait_until(lambda: json.loads(request(sb.control, {"op": "status"})[3])["execs"] == 0,
                      10)
    assert sb.exec("echo still")[1] == "still\n"


def test_tty_exec(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="tty; stty size; echo err >&2; echo $TERM",
                tty=True, rows=30, cols=100, term="vt100")
    assert st.exit_code() == 0
    lines = st.out.decode().split("\r\n")
    assert lines[0].startswith("/dev/pts/") and lines[0][9:].isdigit(), lines
    assert lines[1:4] == ["30 100", "err", "vt100"], lines
    assert "E" not in st.types  # one stream: the terminal
    # Defaults: 24x80 and the sandbox's TERM.
    st = Stream(sb.control, command="stty size; echo $TERM", tty=True)
    assert st.exit_code() == 0 and st.out == b"24 80\r\nxterm\r\n"


def test_tty_window_size_changes(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="stty size; read x; stty size", tty=True,
                rows=10, cols=20)
    st.read_until(lambda s: b"10 20\r\n" in s.out)
    st.winsize(50, 132)
    st.winsize(0, 132)  # out of range: ignored
    st.stdin(b"go\n")
    assert st.exit_code() == 0
    assert st.out.endswith(b"go\r\n50 132\r\n"), st.out


def test_tty_shell_reads_from_the_terminal(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="sh", tty=True)
    st.stdin(b"echo result-$((6*7))\n")
    st.read_until(lambda s: b"result-42\r\n" in s.out)
    st.stdin(b"sleep 100\n")
    time.sleep(0.3)
    st.stdin(b"\x03")  # ^C: the line discipline interrupts the sleep
    st.stdin(b"echo back-$?\n")
    st.read_until(lambda s: b"back-130" in s.out)
    st.stdin(b"exit 5\n")
    assert st.exit_code() == 5
    # EOF on a terminal is ^D: cat ends.
    st = Stream(sb.control, command="cat; echo done", tty=True)
    st.stdin(b"line\n")
    st.eof()
    assert st.exit_code() == 0 and st.out.endswith(b"done\r\n")


def test_tty_signal_and_hangup(sandboxes):
    sb = sandboxes()
    st = Stream(sb.control, command="echo ready; sleep 100", tty=True)
    st.read_until(lambda s: b"ready" in s.out)
    st.signal(signal.SIGINT)
    assert st.exit_code() == 130
    st = Stream(sb.control, command="echo $$ > /tmp/ttypid; sleep 100", tty=True)
    time.sleep(0.5)
    st.s.close()
    assert wait_until(lambda: sb.exec("kill -0 $(cat /tmp/ttypid) 2>/dev/null || echo gone")[1]
                      == "gone\n", 10)


def test_cli_client_streams_stdin_and_tty(sandboxes):
    sb = sandboxes()
    data = os.urandom(1024 * 1024 + 7)
    r = subprocess.run([str(RUNTIME), "exec", "--control", str(sb.control), "--stdin-stream",
                        "--", "cat; exit 2"], input=data, capture_output=True, timeout=60)
    assert r.returncode == 2 and r.stdout == data, (r.returncode, r.stderr)
    r = subprocess.run([str(RUNTIME), "exec", "--control", str(sb.control), "--tty",
                        "--term", "vt220", "--", "tty; echo $TERM"], stdin=subprocess.DEVNULL,
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(b"/dev/pts/") and r.stdout.endswith(b"\r\nvt220\r\n")


def test_many_streaming_execs_with_stdin_waiting(sandboxes):
    # Each polls four fds (client, stdout, stderr, a full stdin pipe).
    sb = sandboxes()
    n = 240
    chunk = os.urandom(100 * 1024)  # more than a pipe holds
    streams = [Stream(sb.control, timeout=60, command="sleep 2; wc -c", stdin_stream=True)
               for _ in range(n)]
    for st in streams:
        st.stdin(chunk)
        st.eof()
    for st in streams:
        assert st.exit_code() == 0 and st.out.strip() == str(len(chunk)).encode()
    assert sb.exec("echo still")[1] == "still\n"
