"""Hostile-input suite harness (issue 9).

Reuses tests/e2e/conftest.py (the Server class, need(), the MAGS_MUST_WORK
hook) rather than copying it: the module is loaded once by path and its
helpers are used from here. Fixtures of this directory are prefixed
``sec_`` so no name clashes with the e2e ones; they are:

- ``sec_progs``: tests/security/progs/*.c compiled with ``cc -static``;
- ``sec_image_cache``: a data dir holding the busybox image and the image
  ``sec`` = busybox + the attack programs in /opt/sec, imported with
  ``magsd image import`` (the API has no upload yet);
- ``sec_srv``: a magsd running image ``sec`` with users alice and bob;
- ``sec_server(name, conf)``: another magsd with its own config.
"""
import importlib.util
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

_E2E_CONFTEST = Path(__file__).resolve().parents[1] / "e2e" / "conftest.py"


def _load_e2e():
    m = sys.modules.get("conftest")
    if m is not None and Path(getattr(m, "__file__", "") or "").resolve() == _E2E_CONFTEST:
        return m
    m = sys.modules.get("mags_e2e_conftest")
    if m is not None:
        return m
    spec = importlib.util.spec_from_file_location("mags_e2e_conftest", _E2E_CONFTEST)
    m = importlib.util.module_from_spec(spec)
    sys.modules["mags_e2e_conftest"] = m
    spec.loader.exec_module(m)
    return m


e2e = _load_e2e()
need = e2e.need
Server = e2e.Server
wait_until = e2e.wait_until
descendants = e2e.descendants
proc_status = e2e.proc_status
host_pids_with_cmdline = e2e.host_pids_with_cmdline
MAGSD = e2e.MAGSD
RUNTIME_BIN = e2e.RUNTIME
BUILD = e2e.BUILD
ROOT = e2e.ROOT
TERMINAL = e2e.TERMINAL

# The e2e hook (skip -> fail under MAGS_MUST_WORK=1, magsd logs on failure)
# for the tests of this directory too.
pytest_runtest_makereport = e2e.pytest_runtest_makereport

PROGS_SRC = Path(__file__).resolve().parent / "progs"
IMAGE = "sec"
PROBE = "/opt/sec/probe"
ABI = "/opt/sec/abi"

# The documented capability set (docs/ARCHITECTURE.md, step 7): Docker's
# default set minus NET_RAW.
CAPS = {"CHOWN": 0, "DAC_OVERRIDE": 1, "FOWNER": 3, "FSETID": 4, "KILL": 5,
        "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "NET_BIND_SERVICE": 10,
        "SYS_CHROOT": 18, "MKNOD": 27, "AUDIT_WRITE": 29, "SETFCAP": 31}
CAP_MASK = sum(1 << b for b in CAPS.values())


@pytest.fixture(scope="session")
def sec_dir():
    root = BUILD / "e2e"
    root.mkdir(parents=True, exist_ok=True)
    for old in root.glob("session-*-sec-*"):
        try:
            os.kill(int(old.name.split("-")[1]), 0)
            continue
        except ProcessLookupError:
            pass
        except (ValueError, IndexError, PermissionError):
            continue
        e2e.remove_tree(old)
    d = Path(tempfile.mkdtemp(prefix="session-%d-sec-" % os.getpid(), dir=str(root)))
    os.chmod(d, 0o755)
    yield d


@pytest.fixture(scope="session")
def sec_progs(sec_dir):
    cc = shutil.which("cc") or shutil.which("gcc")
    need(cc, "no C compiler for the attack programs")
    out = sec_dir / "progs"
    out.mkdir(exist_ok=True)
    for src in sorted(PROGS_SRC.glob("*.c")):
        r = subprocess.run([cc, "-static", "-O1", "-pthread", "-o", str(out / src.stem),
                            str(src)], capture_output=True, text=True)
        need(r.returncode == 0, "cc -static %s failed: %s" % (src.name, r.stderr[-500:]))
    return out


@pytest.fixture(scope="session")
def sec_image_cache(sec_dir, sec_progs):
    missing = e2e._binaries_missing()
    need(not missing, "not built (run make): " + ", ".join(missing))
    need(os.geteuid() == 0, "sandboxes need root")
    cache = sec_dir / "image-cache"
    s = Server(cache)
    s.admin("image", "build", "busybox")
    stage = sec_dir / "stage"
    subprocess.run(["cp", "-a", str(cache / "images" / "busybox" / "rootfs"), str(stage)],
                   check=True)
    (stage / "opt" / "sec").mkdir(parents=True)
    for p in sec_progs.iterdir():
        shutil.copy2(p, stage / "opt" / "sec" / p.name)
        os.chmod(stage / "opt" / "sec" / p.name, 0o755)
    tarball = sec_dir / "sec-image.tar"
    subprocess.run(["tar", "--numeric-owner", "-C", str(stage), "-cf", str(tarball), "."],
                   check=True)
    s.admin("image", "import", IMAGE, str(tarball))
    shutil.rmtree(stage)
    tarball.unlink()
    assert (cache / "images" / IMAGE / "rootfs" / "opt" / "sec" / "probe").exists()
    return cache


def _make(sec_dir, cache, name, conf=None):
    s = Server(sec_dir / name, conf=conf, image=IMAGE)
    (s.data_dir / "images").mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(cache / "images" / IMAGE), str(s.data_dir / "images")],
                   check=True)
    s.start()
    s.add_user("alice")
    s.add_user("bob")
    return s


@pytest.fixture(scope="session")
def sec_srv(sec_dir, sec_image_cache):
    """The security suite's server (image `sec`), users alice and bob."""
    s = _make(sec_dir, sec_image_cache, "main")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def sec_server(sec_dir, sec_image_cache):
    """Factory for servers with their own config: sec_server(name, conf)."""
    made = []

    def make(name, conf=None):
        s = _make(sec_dir, sec_image_cache, name, conf)
        made.append(s)
        return s
    yield make
    for s in made:
        s.stop()


# ---- helpers ---------------------------------------------------------------

RESULT = re.compile(r"^RESULT (\S+) (OK|ERR|SIG)(?: (-?\d+))?")


def results(text):
    """{probe: (kind, code)} from probe output (kind OK|ERR|SIG)."""
    out = {}
    for line in text.splitlines():
        m = RESULT.match(line)
        if m:
            out[m.group(1)] = (m.group(2), int(m.group(3)) if m.group(3) else None)
    return out


def host_probe(progs, *args, env=None):
    """Run a probe on the host as root, in a private mount namespace (the
    positive control: it shows the probe reaches the kernel)."""
    e = dict(os.environ, PROBE_HOST="1")
    e.update(env or {})
    try:
        return subprocess.run(["unshare", "-m", "--propagation", "private",
                               str(progs / args[0]), *args[1:]],
                              capture_output=True, text=True, env=e, timeout=60)
    finally:
        # the mount points and files the probes make in the host's /tmp
        for d in ("secmnt", "secmnt2", "seccg", "secumnt", "secjail", "sec-fifo",
                  "sec-blk", "sec-mem", "sec-kmsg"):
            p = "/tmp/" + d
            try:
                os.rmdir(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)
            except OSError:
                pass


def stop(srv, jid):
    srv.api("POST", "/mags-jobs/%s/stop" % jid)
    return srv.wait(jid, timeout=20)


def sandbox_host_pids(init_pid):
    """Host pids of init and every process under it."""
    return [init_pid] + descendants(init_pid)


def init_pid_of(marker_pid):
    """The sandbox init (host pid) above a host pid of a sandbox process:
    the first ancestor whose NSpid is 1 in its innermost namespace."""
    pid = marker_pid
    while pid > 1:
        st = proc_status(pid)
        if st.get("NSpid", "").split()[-1:] == ["1"]:
            return pid
        pid = int(st["PPid"])
    return None



def upload(srv, name, content, token="alice"):
    """POST /mags-files with one file (multipart by hand)."""
    boundary = "----secboundary%d" % random.randint(0, 1 << 60)
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % (boundary, name)).encode()
            + content + ("\r\n--%s--\r\n" % boundary).encode())
    return srv.api("POST", "/mags-files", raw=body, token=token,
                   headers={"Content-Type": "multipart/form-data; boundary=" + boundary})
