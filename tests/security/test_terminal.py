"""The user's terminal (issue 9): output written by sandboxed code reaches
the terminal of whoever runs `mags run`, `mags logs` or `mags exec`. Escape
sequences in it could retitle the window, write the clipboard (OSC 52, the
class of "terminal escape injection" bugs reported against kubectl logs,
docker logs and many CLIs), plant hyperlinks, or make the terminal answer
with bytes that arrive as typed input (DSR/DA reports). On a terminal the
CLI drops them and keeps text and colours; piped output stays byte-exact.
"""
import os
import pty
import select
import subprocess
import time

from .conftest import e2e, wait_until

# printed by the sandbox: colour, OSC 0 title, OSC 52 clipboard, a device
# status report request, the alternate screen, then a marker
HOSTILE = (r"printf 'A\033[31mRED\033[0m\033]0;pwned-title\007"
           r"\033]52;c;ZXZpbA==\033\\\033[6n\033[?1049hZ\n'")
RAW = b"A\x1b[31mRED\x1b[0m\x1b]0;pwned-title\x07\x1b]52;c;ZXZpbA==\x1b\\\x1b[6n\x1b[?1049hZ"
SAFE = b"A\x1b[31mRED\x1b[0mZ"


def on_a_terminal(srv, args, extra=None, timeout=60):
    """Run the CLI with stdout and stderr on a pty; all it wrote there."""
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(str(e2e.MAGS), [str(e2e.MAGS)] + args, srv.cli_env(extra=extra))
    out = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.5)
        if not r:
            continue
        try:
            b = os.read(fd, 65536)
        except OSError:         # EIO: the child closed the pty
            break
        if not b:
            break
        out += b
    os.waitpid(pid, 0)
    os.close(fd)
    return out


def status(srv, jid):
    return srv.api("GET", "/mags-jobs/%s/status" % jid).json["status"]


def test_run_output_on_a_terminal_loses_its_escape_sequences(sec_srv):
    out = on_a_terminal(sec_srv, ["run", HOSTILE])
    assert SAFE in out, out
    for bad in (b"pwned-title", b"ZXZpbA==", b"\x1b]", b"\x1b[6n", b"\x1b[?1049h"):
        assert bad not in out, (bad, out)


def test_piped_output_stays_exact_and_raw_output_can_be_asked_for(sec_srv):
    r = subprocess.run([str(e2e.MAGS), "run", HOSTILE], env=sec_srv.cli_env(),
                       capture_output=True, timeout=60)
    assert r.returncode == 0, r
    assert RAW in r.stdout, r.stdout
    out = on_a_terminal(sec_srv, ["run", HOSTILE], {"MAGS_RAW_OUTPUT": "1"})
    assert b"pwned-title" in out, out


def test_logs_and_exec_on_a_terminal_are_filtered_too(sec_srv):
    jid = sec_srv.submit(HOSTILE)
    assert wait_until(lambda: status(sec_srv, jid) in ("completed", "error"), 60)
    out = on_a_terminal(sec_srv, ["logs", jid])
    assert SAFE in out and b"pwned-title" not in out and b"ZXZpbA==" not in out, out
    live = sec_srv.submit("sleep 120", name="termexec", workspace_id="termexec",
                          persistent=True, no_sync=True)
    assert wait_until(lambda: status(sec_srv, live) == "running", 60)
    try:
        out = on_a_terminal(sec_srv, ["exec", "termexec", HOSTILE])
        assert SAFE in out and b"pwned-title" not in out and b"\x1b[6n" not in out, out
    finally:
        sec_srv.api("POST", "/mags-jobs/%s/stop" % live)
