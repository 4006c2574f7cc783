"""An S3-compatible server for the tests, started by the test suite itself.

The server is s3rver (a fake S3 in Node.js), installed from the npm registry
once into a cache under the build dir and reused:

    BUILD/s3rver-cache/node_modules/...   (npm install --prefix)

Which package: the original ``s3rver`` (3.7.1, the last release) accepts any
well-formed SigV4 Authorization header without checking the signature ("V4
signatures have incomplete support" in its authentication middleware), so a
wrong secret or a signing bug would go unnoticed. ``@20minutes/s3rver`` is a
maintained fork of it that does verify SigV4 (canonical request, string to
sign, signing key; SignatureDoesNotMatch otherwise), so it is the default and
it tests our signer for real. Its package.json asks for Node >= 24 but it runs
on Debian 12's Node 20 (npm only warns). If it cannot be installed, the
original s3rver@3 is used and ``verifies_signatures`` is False, so tests that
need a verifying server can say so.

Both accept the account S3RVER / S3RVER (a wrong access key is refused
with InvalidAccessKeyId by both). The server listens on 127.0.0.1 on a
port the kernel picks (it prints it), keeps its objects in a temp directory,
and has the bucket created at start (``configureBuckets``). Its service
endpoint is "localhost", so virtual-host requests to
``<bucket>.s3.localhost:<port>`` work too (curl resolves *.localhost to the
loopback itself), but see check_signatures below.

Standard library only (plus pytest in the fixture helpers of the tests).
"""
import fcntl
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

ACCESS_KEY = "S3RVER"
SECRET_KEY = "S3RVER"

# (npm spec, directory in node_modules, verifies SigV4)
PACKAGES = [
    ("@20minutes/s3rver@5.0.0", "@20minutes/s3rver", True),
    ("s3rver@3", "s3rver", False),
]

# Started with `node -e`: the fork ships no CLI script, and the library API is
# the same in both packages.
LAUNCHER = r"""
const [mod, dir, bucket, lenient] = process.argv.slice(1);
const S3rver = require(mod);
const server = new S3rver({
  address: '127.0.0.1', port: 0, directory: dir, silent: false,
  serviceEndpoint: 'localhost', vhostBuckets: true,
  configureBuckets: [{ name: bucket, configs: [] }],
  allowMismatchedSignatures: lenient === '1',
});
server.run().then(({ address, port }) => {
  console.log('S3SERVER_LISTENING ' + address + ' ' + port);
}, (e) => { console.error(e); process.exit(1); });
process.on('SIGTERM', () => { server.close().finally(() => process.exit(0)); });
"""


class Unavailable(Exception):
    """No S3 server can be had on this machine (no node/npm, no registry)."""


def _installed(cache, moddir):
    return (Path(cache) / "node_modules" / moddir / "package.json").is_file()


def install(cache):
    """Install an S3 server package into cache (once; reused after).

    Returns (module_dir, package_spec, verifies_signatures). Raises Unavailable
    with the reason when neither package can be had."""
    if not shutil.which("node") or not shutil.which("npm"):
        raise Unavailable("node and npm are needed for the S3 test server "
                          "(apt-get install nodejs npm)")
    cache = Path(cache)
    cache.mkdir(parents=True, exist_ok=True)
    errors = []
    # Several test sessions may share a build dir: one installs, the others wait.
    with open(cache / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for spec, moddir, verifies in PACKAGES:
            if not _installed(cache, moddir):
                r = subprocess.run(
                    ["npm", "install", "--prefix", str(cache), "--no-audit", "--no-fund",
                     "--loglevel=error", "--no-save", spec],
                    capture_output=True, text=True, timeout=600)
                if r.returncode != 0 or not _installed(cache, moddir):
                    errors.append("npm install %s: %s" % (spec, (r.stderr or r.stdout)[-500:]))
                    continue
            return cache / "node_modules" / moddir, spec, verifies
    raise Unavailable("; ".join(errors))


class S3Server:
    """One s3rver process with its own data dir and one bucket."""

    def __init__(self, cache, bucket="mags", workdir=None, check_signatures=True):
        """check_signatures=False starts the server with
        allowMismatchedSignatures: s3rver's verifier puts the bucket into the
        canonical URI of a virtual-host request, which S3 does not (the
        vectors in tests/unit/test_sigv4.c are virtual-host requests), so
        virtual-host addressing is tested against a lenient server."""
        self.cache = Path(cache)
        self.check_signatures = check_signatures
        self.bucket = bucket
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="s3rver-"))
        self.data_dir = self.workdir / "data"
        self.log_path = self.workdir / "s3rver.log"
        self.proc = None
        self.port = None
        self.package = None
        self.verifies_signatures = False
        self.access_key = ACCESS_KEY
        self.secret_key = SECRET_KEY
        self.region = "us-east-1"

    @property
    def endpoint(self):
        """Path-style endpoint: http://127.0.0.1:PORT"""
        return "http://127.0.0.1:%d" % self.port

    @property
    def vhost_endpoint(self):
        """Endpoint for virtual-host addressing: the bucket goes in front."""
        return "http://s3.localhost:%d" % self.port

    def config(self, **over):
        """Environment for tests/tools/objstore_tool (S3_* variables)."""
        env = {
            "S3_ENDPOINT": self.endpoint, "S3_BUCKET": self.bucket, "S3_PREFIX": "",
            "S3_REGION": self.region, "S3_ACCESS_KEY": self.access_key,
            "S3_SECRET_KEY": self.secret_key, "S3_PATH_STYLE": "1",
        }
        env.update({k: str(v) for k, v in over.items()})
        return env

    def magsd_conf(self, prefix=""):
        """magsd.conf keys that point magsd's object store at this server
        (conftest's Server(conf=...) takes this dict)."""
        conf = {
            "object_store": "s3", "s3_endpoint": self.endpoint, "s3_bucket": self.bucket,
            "s3_region": self.region, "s3_access_key": self.access_key,
            "s3_secret_key": self.secret_key, "s3_path_style": 1,
        }
        if prefix:
            conf["s3_prefix"] = prefix
        return conf

    def start(self, timeout=30):
        moddir, self.package, verifies = install(self.cache)
        self.verifies_signatures = verifies and self.check_signatures
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        start = log.tell()
        self.proc = subprocess.Popen(
            # s3rver makes its continuation tokens with DES, which OpenSSL 3
            # keeps in its legacy provider: without it a list of more than
            # 1000 keys fails with a 500.
            ["node", "--openssl-legacy-provider", "-e", LAUNCHER, str(moddir), str(self.data_dir), self.bucket,
             "0" if self.check_signatures else "1"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        log.close()
        # The launcher prints the port the kernel gave it.
        deadline = time.time() + timeout
        while time.time() < deadline and self.proc.poll() is None:
            with open(self.log_path, "rb") as f:
                f.seek(start)
                m = re.search(rb"S3SERVER_LISTENING (\S+) (\d+)", f.read())
            if m:
                self.port = int(m.group(2))
                return self
            time.sleep(0.05)
        self.stop()
        raise AssertionError("s3rver did not start:\n" + self.log_tail())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no s3rver log)"

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def start_for_test(workdir, **kw):
    """Start a server for a pytest test or fixture, with the package cache
    under the build dir: skips the test if no server can be had (node, npm
    or the registry missing), which MAGS_MUST_WORK=1 turns into a failure.
    The caller stops it."""
    from conftest import BUILD, need
    try:
        return S3Server(BUILD / "s3rver-cache", workdir=workdir, **kw).start()
    except Unavailable as e:
        need(False, "no S3 test server: %s" % e)
