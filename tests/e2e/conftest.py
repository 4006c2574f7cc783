"""End-to-end test harness: a real magsd on loopback with real sandboxes.

One magsd per session (data dir under build/e2e/, busybox image built once),
two users (alice, bob) with tokens, and helpers to talk to it through plain
HTTP (``srv.api``) and through the real CLI (``srv.mags``).

A test that cannot run on this machine calls ``need(cond, reason)``: it
skips, unless MAGS_MUST_WORK=1 (CI), which turns the skip into a failure.
The same variable turns every other skip into a failure too (see the hook
at the bottom), so CI can never go green by skipping.

Standard library + pytest only.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# MAGS_BUILD_DIR lets several people test their own builds side by side
# (make B=/tmp/x/build; MAGS_BUILD_DIR=/tmp/x/build make e2e).
BUILD = Path(os.environ.get("MAGS_BUILD_DIR") or (ROOT / "build")).resolve()
BIN = BUILD / "bin"
MAGSD = BIN / "magsd"
MAGS = BIN / "mags"
RUNTIME = BIN / "mags-runtime"
E2E_DIR = BUILD / "e2e"
MUST_WORK = os.environ.get("MAGS_MUST_WORK") == "1"
TERMINAL = ("completed", "error", "stopped")


def need(cond, reason):
    """Skip the test with reason unless cond; under MAGS_MUST_WORK=1, fail."""
    if cond:
        return
    if MUST_WORK:
        pytest.fail("cannot run here (MAGS_MUST_WORK=1): " + reason, pytrace=False)
    pytest.skip(reason)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(extra=None):
    """Our environment without MAGS_* (magsd and the CLI read those)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGS_")}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


def pool_env(conf=None):
    """MAGS_TEST_POOL=N runs every server the harness starts with a warm
    pool of N (pool_min = pool_max = N; 0 = no pool, every job cold),
    unless the test sets the pool itself. Unset: magsd's defaults."""
    n = os.environ.get("MAGS_TEST_POOL", "")
    if n == "" or (conf and ("pool_min" in conf or "pool_max" in conf)):
        return {}
    return {"MAGS_POOL_MIN": n, "MAGS_POOL_MAX": n}


def mounts_under(path):
    path = str(path)
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


def remove_tree(path):
    """rm -rf, but never through a leftover mount (a bind of /dev, say)."""
    if not os.path.exists(path):
        return
    if mounts_under(path):
        return
    shutil.rmtree(path, ignore_errors=True)


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.body = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<%d %s>" % (self.status, self.body[:300])


class Server:
    """One magsd process with its own data dir."""

    all = []  # live servers, for failure reports

    def __init__(self, data_dir, conf=None, image="busybox"):
        self.data_dir = Path(data_dir)
        self.conf = conf
        self.image = image
        self.proc = None
        self.port = None
        self.log_path = self.data_dir / "magsd.stderr"
        self.tokens = {}
        self.home = Path(tempfile.mkdtemp(prefix="home-", dir=str(self.data_dir.parent)))

    # -- admin commands --------------------------------------------------
    def admin(self, *args, check=True, timeout=120):
        r = subprocess.run([str(MAGSD), *args, "--data-dir", str(self.data_dir)],
                           env=clean_env(), capture_output=True, text=True,
                           timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("magsd %s failed (%d): %s%s" % (
                " ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def build_image(self, cache=None):
        """Build busybox into the data dir (or copy it from cache)."""
        dst = self.data_dir / "images" / "busybox"
        if dst.exists():
            return
        if cache and (cache / "images" / "busybox" / "rootfs").is_dir():
            (self.data_dir / "images").mkdir(parents=True, exist_ok=True)
            subprocess.run(["cp", "-a", str(cache / "images" / "busybox"), str(dst)],
                           check=True)
            return
        self.admin("image", "build", "busybox")

    # -- lifecycle -------------------------------------------------------
    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.conf:
            (self.data_dir / "magsd.conf").write_text(
                "".join("%s = %s\n" % kv for kv in self.conf.items()))
        for attempt in range(3):
            self.port = free_port()
            self.url = "http://127.0.0.1:%d" % self.port
            self.log = open(self.log_path, "ab")
            self.proc = subprocess.Popen(
                [str(MAGSD), "serve", "--data-dir", str(self.data_dir),
                 "--listen", "127.0.0.1:%d" % self.port, "--image", self.image],
                env=clean_env(pool_env(self.conf)), stdin=subprocess.DEVNULL, stdout=self.log,
                stderr=self.log, start_new_session=True)
            Server.all.append(self)
            deadline = time.time() + 15
            while time.time() < deadline:
                if self.proc.poll() is not None:
                    break
                try:
                    with socket.create_connection(("127.0.0.1", self.port), 0.2):
                        pass
                    r = self.api("GET", "/whoami", token=None)
                    if r.status in (200, 401):
                        return self
                except OSError:
                    pass
                time.sleep(0.05)
            self.stop()
            if "in use" not in self.log_tail():
                break
        raise AssertionError("magsd did not start on %s:\n%s" % (self.url, self.log_tail()))

    def stop(self, keep_sandboxes=False):
        """SIGTERM. Persistent sandboxes outlive magsd (issue 4), so unless
        keep_sandboxes every live job is stopped first."""
        if self.proc and self.proc.poll() is None and not keep_sandboxes:
            self.stop_live_jobs()
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self in Server.all:
            Server.all.remove(self)

    def stop_live_jobs(self):
        for user in list(self.tokens):
            try:
                r = self.api("GET", "/mags-jobs?page_size=100&status=accepted,running,sleeping",
                             token=user, timeout=10)
                for j in (r.json or {}).get("jobs", []) if r.status == 200 else []:
                    self.api("POST", "/mags-jobs/%s/stop" % j["request_id"], token=user,
                             timeout=120)
            except OSError:
                pass

    def log_tail(self, n=60):
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no magsd log)"
        return "\n".join(lines[-n:])

    def add_user(self, name):
        self.admin("user", "add", name)
        tok = self.admin("token", "create", "--user", name).stdout.strip()
        assert tok and "\n" not in tok, "token create printed %r" % tok
        self.tokens[name] = tok
        return tok

    # -- HTTP ------------------------------------------------------------
    def api(self, method, path, body=None, token="alice", raw=None,
            headers=None, timeout=30):
        """Call /api/v1<path>. token: a user name, a literal token, or None.
        body is JSON-encoded; raw (bytes) is sent as is."""
        url = self.url + "/api/v1" + path
        data = raw if raw is not None else (
            json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(url, data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        tok = self.tokens.get(token, token)
        if tok:
            req.add_header("Authorization", "Bearer " + tok)
        for k, v in (headers or {}).items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Response(r.status, r.read().decode("utf-8", "replace"),
                                dict(r.headers))
        except urllib.error.HTTPError as e:
            return Response(e.code, e.read().decode("utf-8", "replace"),
                            dict(e.headers))

    def submit(self, script, token="alice", **fields):
        body = {"script": script}
        body.update(fields)
        r = self.api("POST", "/mags-jobs", body, token=token)
        assert r.status in (200, 201, 202), r
        assert r.json["status"] == "accepted", r
        return r.json["request_id"]

    def status(self, job_id, token="alice"):
        r = self.api("GET", "/mags-jobs/%s/status" % job_id, token=token)
        assert r.status == 200, r
        return r.json

    def wait(self, job_id, timeout=60, token="alice", states=TERMINAL):
        deadline = time.time() + timeout
        while True:
            st = self.status(job_id, token=token)
            if st["status"] in states:
                return st
            # A persistent job keeps its sandbox after its script (issue
            # 4): waiting for its end means stopping it once the script
            # ended (the stop answers after the workspace's final sync).
            if (states == TERMINAL and st.get("persistent")
                    and st["status"] in ("running", "sleeping")
                    and st.get("exit_code") is not None):
                self.api("POST", "/mags-jobs/%s/stop" % job_id, token=token, timeout=120)
                continue
            if time.time() > deadline:
                raise AssertionError("job %s still %s after %ss" % (
                    job_id, st["status"], timeout))
            time.sleep(0.05)

    def logs(self, job_id, token="alice"):
        r = self.api("GET", "/mags-jobs/%s/logs" % job_id, token=token)
        assert r.status == 200, r
        return r.json["logs"]

    def run(self, script, timeout=60, token="alice", **fields):
        """Submit, wait for the end; returns (status, stdout, stderr, logs)."""
        jid = self.submit(script, token=token, **fields)
        st = self.wait(jid, timeout=timeout, token=token)
        logs = self.logs(jid, token=token)
        out = "".join(l["message"] + "\n" for l in logs if l["source"] == "stdout")
        err = "".join(l["message"] + "\n" for l in logs if l["source"] == "stderr")
        return st, out, err, logs

    # -- CLI -------------------------------------------------------------
    def cli_env(self, token="alice", home=None, extra=None):
        env = clean_env({"HOME": str(home or self.home),
                         "MAGS_API_URL": self.url})
        tok = self.tokens.get(token, token)
        if tok:
            env["MAGS_API_TOKEN"] = tok
        env.update(extra or {})
        return env

    def mags(self, *args, token="alice", home=None, env=None, timeout=60,
             input=None):
        return subprocess.run([str(MAGS), *args],
                              env=self.cli_env(token, home, env),
                              capture_output=True, text=True, timeout=timeout,
                              input=input)


# ---- fixtures --------------------------------------------------------------

def _binaries_missing():
    return [str(p.relative_to(ROOT)) for p in (MAGSD, MAGS, RUNTIME)
            if not os.access(p, os.X_OK)]


@pytest.fixture(scope="session")
def session_dir():
    E2E_DIR.mkdir(parents=True, exist_ok=True)
    # Remove what earlier sessions left, but not a session still running
    # (several people may run the tests in one tree): the name holds the pid.
    for old in E2E_DIR.glob("session-*"):
        try:
            pid = int(old.name.split("-")[1])
            os.kill(pid, 0)
            continue
        except ProcessLookupError:
            pass
        except (ValueError, IndexError, PermissionError):
            continue
        remove_tree(old)
    d = Path(tempfile.mkdtemp(prefix="session-%d-" % os.getpid(), dir=str(E2E_DIR)))
    os.chmod(d, 0o755)
    yield d


@pytest.fixture(scope="session")
def image_cache(session_dir):
    """A data dir holding only the busybox image, built once per session."""
    missing = _binaries_missing()
    need(not missing, "not built (run make): " + ", ".join(missing))
    need(os.geteuid() == 0, "sandboxes need root")
    cache = session_dir / "image-cache"
    s = Server(cache)
    s.admin("image", "build", "busybox")
    assert (cache / "images" / "busybox" / "rootfs" / "bin" / "sh").exists()
    return cache


def make_server(session_dir, image_cache, name, conf=None):
    s = Server(session_dir / name, conf=conf)
    s.build_image(cache=image_cache)
    s.start()
    s.add_user("alice")
    s.add_user("bob")
    return s


@pytest.fixture(scope="session")
def srv(session_dir, image_cache):
    """The shared server, with users alice and bob."""
    s = make_server(session_dir, image_cache, "main")
    yield s
    s.stop()


@pytest.fixture(scope="session")
def small_log_srv(session_dir, image_cache):
    """A second server whose job logs are capped at 64 KiB."""
    s = make_server(session_dir, image_cache, "smalllog",
                    conf={"log_limit": 65536})
    yield s
    s.stop()


@pytest.fixture
def home(tmp_path):
    """An empty HOME for CLI tests that write ~/.mags."""
    h = tmp_path / "home"
    h.mkdir()
    return h


# ---- host helpers ----------------------------------------------------------

def host_pids_with_cmdline(*argv):
    """Pids of host processes whose argv is exactly argv."""
    want = "\0".join(argv).encode()
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                cmd = f.read().rstrip(b"\0")
        except OSError:
            continue
        if cmd == want:
            out.append(int(p))
    return out


def proc_status(pid):
    d = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            d[k] = v.strip()
    return d


def wait_until(cond, timeout=10, step=0.05):
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() > deadline:
            return v
        time.sleep(step)


def host_links_settled(quiet=1.5, timeout=60):
    """Wait until the host's network interfaces stop changing for quiet
    seconds. Chromium fails requests in flight (ERR_NETWORK_CHANGED)
    whenever an interface comes or goes on the host, and a stopped magsd
    leaves the kernel to remove the links of the network namespaces it
    kept, in the background, for a few seconds. True when settled."""
    deadline = time.time() + timeout
    last, since = None, time.time()
    while time.time() < deadline:
        now = sorted(os.listdir("/sys/class/net"))
        if now != last:
            last, since = now, time.time()
        elif time.time() - since >= quiet:
            return True
        time.sleep(0.1)
    return False


# ---- the browser (Debian's Chromium driven by playwright-core) -------------

DRIVER = ROOT / "tests" / "browser" / "dashboard.js"
NODE_DIR = BUILD / "browser"
ARTIFACTS = BUILD / "e2e" / "artifacts"
CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="session")
def browser_env():
    """playwright-core installed into BUILD/browser (npm, once); Chromium
    from Debian. The environment for `node dashboard.js`."""
    node = shutil.which("node")
    need(node is not None, "node is not installed (scripts/install-deps.sh)")
    need(os.access(CHROMIUM, os.X_OK), "chromium is not installed (scripts/install-deps.sh)")
    mod = NODE_DIR / "node_modules" / "playwright-core"
    pkg = ROOT / "tests" / "browser" / "package.json"
    want = json.loads(pkg.read_text())["dependencies"]["playwright-core"]
    have = None
    if (mod / "package.json").exists():
        have = json.loads((mod / "package.json").read_text()).get("version")
    if have != want:
        npm = shutil.which("npm")
        need(npm is not None, "npm is not installed (needed once for playwright-core)")
        NODE_DIR.mkdir(parents=True, exist_ok=True)
        shutil.copy(pkg, NODE_DIR / "package.json")
        r = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"],
                           cwd=str(NODE_DIR), capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1"))
        need(r.returncode == 0 and mod.exists(),
             "npm install playwright-core failed: " + (r.stderr or r.stdout)[-500:])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAGS_")}
    env["NODE_PATH"] = str(NODE_DIR / "node_modules")
    return env


def browse(env, scenario, base, token, timeout=120, **plan):
    """Run one browser scenario; returns its JSON result."""
    plan.update(scenario=scenario, base=base, token=token, artifacts=str(ARTIFACTS),
                chromium=CHROMIUM)
    assert host_links_settled()
    r = subprocess.run(["node", str(DRIVER), json.dumps(plan)], env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, "browser scenario %s failed:\n%s\n%s" % (
        scenario, r.stderr[-4000:], r.stdout[-2000:])
    res = json.loads(r.stdout.strip().splitlines()[-1])
    # the page never reaches for another host, never throws, never trips
    # the Content-Security-Policy
    assert res.get("external") == [], res.get("external")
    assert res.get("page_errors") == [], res.get("page_errors")
    csp = [m for m in res.get("console_errors", []) if "Content Security Policy" in m]
    assert csp == [], csp
    return res



# ---- hooks -----------------------------------------------------------------

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if MUST_WORK and rep.skipped and not hasattr(rep, "wasxfail"):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        rep.outcome = "failed"
        rep.longrepr = "skipped under MAGS_MUST_WORK=1: %s" % reason
    if rep.failed and rep.when in ("setup", "call"):
        for s in list(Server.all):
            rep.sections.append(("magsd log (%s)" % s.data_dir.name, s.log_tail()))


def is_pool_member(pid):
    """A parked warm-pool member (`mags-runtime run --pool`, not yet given a
    job; a taken one shows `--id <job>`): magsd keeps up to pool_max of
    them on purpose, so leak checks leave them out (test_pool.py checks
    them)."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return False
    return len(argv) > 2 and argv[0].endswith(b"mags-runtime") and argv[2] == b"--pool"


def descendants(pid, pool=False):
    """Pids of every live descendant of pid (from /proc/*/stat); without
    pool, parked warm-pool members and their processes are left out."""
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(p))
    out, todo = [], [pid]
    while todo:
        parent = todo.pop()
        for c in children.get(parent, []):
            # a member is magsd's child; a taken one's sandbox process may
            # still show the pool's command line for a moment: counted
            if not pool and parent == pid and is_pool_member(c):
                continue
            out.append(c)
            todo.append(c)
    return out
