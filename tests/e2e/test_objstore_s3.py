"""The S3 object store (src/magsd/objstore_s3.c) against a real S3-compatible
server that the tests start themselves (tests/e2e/s3server.py: s3rver from the
npm registry, which verifies SigV4 signatures).

The store is driven through tests/tools/objstore_tool.c, compiled here against
the build's libmagsd.a, so what runs is the code magsd links.
"""
import hashlib
import http.server
import os
import time
import subprocess
import threading
from pathlib import Path

import pytest

from conftest import BUILD, ROOT, free_port, need
import s3server

LIB_MAGSD = BUILD / "lib" / "libmagsd.a"
LIB_COMMON = BUILD / "lib" / "libcommon.a"
TOOL_SRC = ROOT / "tests" / "tools" / "objstore_tool.c"
LIBS = ["-lcurl", "-lcrypto", "-ljansson", "-lsqlite3", "-lmicrohttpd", "-lzstd"]


def _has_symbol(lib, name):
    r = subprocess.run(["nm", "--defined-only", str(lib)], capture_output=True, text=True)
    return any(line.split()[-1:] == [name] for line in r.stdout.splitlines())


@pytest.fixture(scope="session")
def tool(tmp_path_factory):
    """objstore_tool linked against the build's libraries. Has .snapshot if the
    snapshot engine was in libmagsd.a. OBJSTORE_TOOL=path uses a tool built
    elsewhere (e.g. with sanitizers) instead."""
    if os.environ.get("OBJSTORE_TOOL"):
        return Tool(Path(os.environ["OBJSTORE_TOOL"]), False)
    need(LIB_MAGSD.exists() and LIB_COMMON.exists(),
         "not built (run make): %s" % LIB_MAGSD)
    need(_has_symbol(LIB_MAGSD, "objstore_open_s3"), "libmagsd.a has no objstore_open_s3")
    out = tmp_path_factory.mktemp("tool") / "objstore_tool"
    snapshot = _has_symbol(LIB_MAGSD, "snapshot_sync")
    cmd = [os.environ.get("CC", "cc"), "-std=gnu11", "-D_GNU_SOURCE", "-g", "-Wall",
           "-I", str(ROOT / "include"), "-I", str(ROOT / "src"),
           *(["-DWITH_SNAPSHOT"] if snapshot else []),
           "-o", str(out), str(TOOL_SRC), str(LIB_MAGSD), str(LIB_COMMON), *LIBS]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, "building objstore_tool failed:\n%s\n%s" % (" ".join(cmd), r.stderr)
    return Tool(out, snapshot)


class Tool:
    def __init__(self, path, snapshot):
        self.path = path
        self.snapshot = snapshot

    def __call__(self, server, *args, check=True, timeout=300, **cfg):
        env = {k: v for k, v in os.environ.items() if not k.startswith("S3_")}
        env.update(server.config(**cfg))
        r = subprocess.run([str(self.path), *map(str, args)], env=env, capture_output=True,
                           text=True, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("objstore_tool %s failed (%d): %s\ns3rver log:\n%s" % (
                " ".join(map(str, args)), r.returncode, r.stderr, server.log_tail()))
        return r


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """s3rver with bucket 'mags', checking signatures."""
    srv = s3server.start_for_test(tmp_path_factory.mktemp("s3rver"))
    yield srv
    srv.stop()


@pytest.fixture
def prefix(request):
    """A store prefix of its own per test, so tests do not see each other's keys."""
    return "t-%s/" % request.node.name.replace("[", "-").replace("]", "")


def test_server_verifies_signatures(s3):
    # Without this the wrong-secret test below would prove nothing.
    need(s3.verifies_signatures,
         "the S3 test server (%s) does not check SigV4 signatures" % s3.package)


def test_put_get_exists_delete(tool, s3, prefix, tmp_path):
    assert tool(s3, "exists", "a/b.txt", S3_PREFIX=prefix).stdout == "0\n"
    tool(s3, "putbuf", "a/b.txt", "hello s3", S3_PREFIX=prefix)
    assert tool(s3, "exists", "a/b.txt", S3_PREFIX=prefix).stdout == "1\n"
    assert tool(s3, "getbuf", "a/b.txt", 100, S3_PREFIX=prefix).stdout == "hello s3"

    out = tmp_path / "out"
    tool(s3, "get", "a/b.txt", out, S3_PREFIX=prefix)
    assert out.read_bytes() == b"hello s3"

    # Overwrite: a put replaces the whole object.
    src = tmp_path / "src"
    src.write_bytes(b"v2")
    tool(s3, "put", "a/b.txt", src, S3_PREFIX=prefix)
    assert tool(s3, "getbuf", "a/b.txt", 100, S3_PREFIX=prefix).stdout == "v2"

    # An empty object.
    src.write_bytes(b"")
    tool(s3, "put", "empty", src, S3_PREFIX=prefix)
    assert tool(s3, "exists", "empty", S3_PREFIX=prefix).stdout == "1\n"
    assert tool(s3, "getbuf", "empty", 10, S3_PREFIX=prefix).stdout == ""

    # The prefix is the store's: the bucket holds <prefix>a/b.txt.
    assert tool(s3, "list", "", S3_PREFIX=prefix).stdout == "a/b.txt 2\nempty 0\n"
    assert "%sa/b.txt 2" % prefix in tool(s3, "list", prefix).stdout

    tool(s3, "del", "a/b.txt", S3_PREFIX=prefix)
    assert tool(s3, "exists", "a/b.txt", S3_PREFIX=prefix).stdout == "0\n"
    tool(s3, "del", "a/b.txt", S3_PREFIX=prefix)  # deleting a missing key is fine


def test_missing_key_is_enoent(tool, s3, prefix, tmp_path):
    r = tool(s3, "getbuf", "nope", 100, S3_PREFIX=prefix, check=False)
    assert r.returncode == 2, r.stderr  # -ENOENT
    assert "s3 GET 'nope': 404 NoSuchKey" in r.stderr
    out = tmp_path / "out"
    r = tool(s3, "get", "nope", out, S3_PREFIX=prefix, check=False)
    assert r.returncode == 2, r.stderr
    assert out.read_bytes() == b""  # the error body is not written as content


def test_get_buf_limit(tool, s3, prefix):
    tool(s3, "putbuf", "big", "x" * 1000, S3_PREFIX=prefix)
    assert len(tool(s3, "getbuf", "big", 1000, S3_PREFIX=prefix).stdout) == 1000
    r = tool(s3, "getbuf", "big", 999, S3_PREFIX=prefix, check=False)
    assert r.returncode == 1
    assert "s3 GET 'big': larger than 999 bytes" in r.stderr


def test_list_follows_continuation_tokens(tool, s3, prefix):
    # S3 returns at most 1000 keys per ListObjectsV2 page.
    n = 1205
    tool(s3, "putmany", "k/", n, S3_PREFIX=prefix, timeout=600)
    tool(s3, "putbuf", "other", "x", S3_PREFIX=prefix)
    lines = tool(s3, "list", "k/", S3_PREFIX=prefix).stdout.splitlines()
    assert len(lines) == n
    assert lines == ["k/%05d 7" % i for i in range(n)]
    assert "continuation-token=" in s3.log_path.read_text()  # it did take two pages
    # A narrower prefix and a prefix that matches nothing.
    assert tool(s3, "list", "k/011", S3_PREFIX=prefix).stdout.splitlines() == \
        ["k/%05d 7" % i for i in range(1100, 1200)]
    assert tool(s3, "list", "zzz", S3_PREFIX=prefix).stdout == ""
    # Everything under the store prefix.
    assert len(tool(s3, "list", "", S3_PREFIX=prefix).stdout.splitlines()) == n + 1


def test_large_object_streams(tool, s3, prefix, tmp_path):
    size = 50 * 1024 * 1024
    src = tmp_path / "big.bin"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        for _ in range(size // (1 << 20)):
            chunk = os.urandom(1 << 20)
            h.update(chunk)
            f.write(chunk)
    r = tool(s3, "put", "blobs/big", src, S3_PREFIX=prefix, OBJSTORE_TOOL_RSS="1")
    rss_put = int(r.stderr.split("maxrss_kb=")[1].split()[0])
    assert tool(s3, "list", "blobs/", S3_PREFIX=prefix).stdout == "blobs/big %d\n" % size

    out = tmp_path / "back.bin"
    r = tool(s3, "get", "blobs/big", out, S3_PREFIX=prefix, OBJSTORE_TOOL_RSS="1")
    rss_get = int(r.stderr.split("maxrss_kb=")[1].split()[0])
    assert out.stat().st_size == size
    h2 = hashlib.sha256()
    with open(out, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h2.update(chunk)
    assert h2.hexdigest() == h.hexdigest()
    # Neither direction holds the object in memory.
    assert rss_put < 40 * 1024 and rss_get < 40 * 1024, (rss_put, rss_get)


def test_wrong_secret_is_a_clear_403(tool, s3, prefix):
    need(s3.verifies_signatures,
         "the S3 test server (%s) does not check SigV4 signatures" % s3.package)
    r = tool(s3, "putbuf", "blobs/x", "data", S3_PREFIX=prefix, S3_SECRET_KEY="not-the-secret",
             check=False)
    assert r.returncode == 1
    assert "s3 PUT 'blobs/x': 403 SignatureDoesNotMatch" in r.stderr, r.stderr
    r = tool(s3, "list", "", S3_PREFIX=prefix, S3_SECRET_KEY="not-the-secret", check=False)
    assert "s3 LIST '': 403 SignatureDoesNotMatch" in r.stderr, r.stderr
    # ... and nothing was stored.
    assert tool(s3, "exists", "blobs/x", S3_PREFIX=prefix).stdout == "0\n"


def test_unknown_access_key_is_a_clear_403(tool, s3, prefix):
    r = tool(s3, "putbuf", "x", "data", S3_PREFIX=prefix, S3_ACCESS_KEY="NOBODY", check=False)
    assert r.returncode == 1
    assert "s3 PUT 'x': 403 InvalidAccessKeyId" in r.stderr, r.stderr


def test_special_characters_are_encoded(tool, s3, tmp_path):
    # Keys are [A-Za-z0-9._/-]; a configured prefix may hold anything, and
    # what is sent must be what was signed (the server re-signs the decoded
    # path and query). Not ( ) ! * ': s3rver's verifier leaves them unencoded
    # in the canonical query (JavaScript's encodeURIComponent), S3 encodes
    # them; not &: s3rver escapes it twice in list answers (&amp;amp;).
    prefix = "we ird+pre$fix=1,@;/é/"
    keys = ["blobs/ab/ab.cd_ef-01", "a/b/c/d/e/f/g", "heads/u-1/ws.name_x", "x.y.z"]
    for k in keys:
        tool(s3, "putbuf", k, k, S3_PREFIX=prefix)
    for k in keys:
        assert tool(s3, "getbuf", k, 100, S3_PREFIX=prefix).stdout == k
        assert tool(s3, "exists", k, S3_PREFIX=prefix).stdout == "1\n"
    listed = tool(s3, "list", "", S3_PREFIX=prefix).stdout.splitlines()
    assert sorted(listed) == sorted("%s %d" % (k, len(k)) for k in keys)
    for k in keys:
        tool(s3, "del", k, S3_PREFIX=prefix)
    assert tool(s3, "list", "", S3_PREFIX=prefix).stdout == ""


@pytest.mark.parametrize("key", ["../x", "/abs", "a//../b", "sp ace", "q?x", ""])
def test_invalid_keys_are_refused(tool, s3, key):
    r = tool(s3, "putbuf", key, "x", check=False)
    assert r.returncode == 1
    assert "invalid object key" in r.stderr, r.stderr


def test_bad_configuration(tool, s3):
    for cfg, msg in [({"S3_ENDPOINT": "ftp://x"}, "not an http:// or https:// URL"),
                     ({"S3_ENDPOINT": "http://h/some/path"}, "a path is not supported"),
                     ({"S3_BUCKET": "a/b"}, "not a bucket name"),
                     ({"S3_SECRET_KEY": ""}, "must both be set")]:
        r = tool(s3, "exists", "k", check=False, **cfg)
        assert r.returncode == 1 and msg in r.stderr, (cfg, r.stderr)


def test_virtual_host_addressing(tool, tmp_path_factory):
    # s3rver's SigV4 check puts the bucket into the canonical URI of a
    # virtual-host request (S3 does not: the AWS vectors in test_sigv4.c are
    # virtual-host requests and pass), so this server does not check signatures.
    srv = s3server.start_for_test(tmp_path_factory.mktemp("s3vhost"), check_signatures=False)
    try:
        v = {"S3_ENDPOINT": srv.vhost_endpoint, "S3_PATH_STYLE": "0", "S3_PREFIX": "vh/"}
        tool(srv, "putbuf", "a/b", "vhost", **v)
        assert tool(srv, "getbuf", "a/b", 100, **v).stdout == "vhost"
        assert tool(srv, "list", "", **v).stdout == "a/b 5\n"
        # The same object seen path-style: the bucket came from the Host header.
        assert tool(srv, "getbuf", "vh/a/b", 100).stdout == "vhost"
        tool(srv, "del", "a/b", **v)
        assert tool(srv, "exists", "a/b", **v).stdout == "0\n"
    finally:
        srv.stop()


def test_unreachable_endpoint_retries_then_fails(tool, s3):
    port = free_port()  # nothing listens there
    r = tool(s3, "exists", "k", S3_ENDPOINT="http://127.0.0.1:%d" % port, check=False)
    assert r.returncode == 1
    assert "s3 HEAD 'k':" in r.stderr and "127.0.0.1:%d" % port in r.stderr, r.stderr


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Answers 503 SlowDown `fail` times, then 200 with a fixed body."""
    fail = 0
    seen = []

    def _answer(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        type(self).seen.append((self.command, self.path, len(body),
                                self.headers.get("Authorization", "")))
        if len(type(self).seen) <= type(self).fail:
            xml = (b"<?xml version=\"1.0\"?><Error><Code>SlowDown</Code>"
                   b"<Message>Please reduce your request rate.</Message></Error>")
            self.send_response(503)
            self.send_header("Content-Length", str(len(xml)))
            self.end_headers()
            self.wfile.write(xml)
            return
        out = b"fine" if self.command == "GET" else b""
        self.send_response(200)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_PUT = do_HEAD = do_DELETE = _answer

    def log_message(self, *a):
        pass


@pytest.mark.parametrize("fail,ok", [(2, True), (10, False)])
def test_5xx_is_retried_with_backoff(tool, s3, tmp_path, fail, ok):
    _Flaky.fail, _Flaky.seen = fail, []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        ep = "http://127.0.0.1:%d" % httpd.server_address[1]
        src = tmp_path / "src"
        src.write_bytes(b"z" * 100000)
        r = tool(s3, "put", "blobs/r", src, S3_ENDPOINT=ep, check=False)
        if ok:
            assert r.returncode == 0, r.stderr
            assert len(_Flaky.seen) == fail + 1
            # Every attempt sent the whole body again, freshly signed.
            assert all(s[:3] == ("PUT", "/mags/blobs/r", 100000) for s in _Flaky.seen)
        else:
            assert r.returncode == 1
            assert "s3 PUT 'blobs/r': 503 SlowDown: Please reduce your request rate." in r.stderr
            assert len(_Flaky.seen) == 5  # S3_ATTEMPTS
        _Flaky.fail, _Flaky.seen = fail, []
        out = tmp_path / "out"
        r = tool(s3, "get", "blobs/r", out, S3_ENDPOINT=ep, check=False)
        if ok:
            assert r.returncode == 0 and out.read_bytes() == b"fine"  # no 503 body in it
    finally:
        httpd.shutdown()
        httpd.server_close()


class _FakeList(http.server.BaseHTTPRequestHandler):
    """Two ListObjectsV2 pages written by hand: XML entities, an opaque
    continuation token with characters that need encoding, a key outside
    the prefix, a self-closing element."""
    seen = []
    PAGE1 = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
             b'<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
             b'<Name>mags</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount>'
             b'<IsTruncated>true</IsTruncated>'
             b'<NextContinuationToken>1/tok+=&amp;x</NextContinuationToken>'
             b'<Contents><Key>p/a&amp;b&#x2F;c&#233;</Key><Size>12</Size><ETag>&quot;e&quot;</ETag>'
             b'</Contents>\n<Contents>\n  <Key>p/blobs/x</Key>\n  <Size>0</Size>\n'
             b'  <Owner/></Contents></ListBucketResult>')
    PAGE2 = (b'<?xml version="1.0" encoding="UTF-8"?>'
             b'<ListBucketResult><IsTruncated>false</IsTruncated>'
             b'<Contents><Key>q/not-ours</Key><Size>1</Size></Contents>'
             b'<Contents><Key>p/z</Key><Size>18446744073709551615</Size></Contents>'
             b'</ListBucketResult>')

    def do_GET(self):
        type(self).seen.append(self.path)
        body = self.PAGE2 if "continuation-token=" in self.path else self.PAGE1
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


def test_list_parses_s3_xml(tool, s3):
    _FakeList.seen = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _FakeList)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        ep = "http://127.0.0.1:%d" % httpd.server_address[1]
        r = tool(s3, "list", "", S3_ENDPOINT=ep, S3_PREFIX="p/")
        assert r.stdout == "a&b/c\u00e9 12\nblobs/x 0\nz 18446744073709551615\n"
        assert _FakeList.seen == [
            "/mags?list-type=2&prefix=p%2F",
            "/mags?continuation-token=1%2Ftok%2B%3D%26x&list-type=2&prefix=p%2F",
        ]
    finally:
        httpd.shutdown()
        httpd.server_close()


# ---- snapshots through S3 ------------------------------------------------

def _tree(root):
    """{relative path: (kind, mode, content or link target)} of a tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(root))
            st = p.lstat()
            if p.is_symlink():
                out[rel] = ("l", 0, os.readlink(p))
            elif p.is_dir():
                out[rel] = ("d", st.st_mode & 0o7777, None)
            else:
                out[rel] = ("f", st.st_mode & 0o7777, p.read_bytes())
    return out


def test_snapshot_sync_and_restore_through_s3(tool, s3, prefix, tmp_path):
    need(tool.snapshot, "libmagsd.a has no snapshot engine yet (snapshot_sync)")
    need(os.geteuid() == 0, "snapshot restore sets owners: needs root")
    upper = tmp_path / "upper"
    (upper / "root" / "sub").mkdir(parents=True)
    (upper / "root" / "state").write_text("v1\n")
    (upper / "root" / "sub" / "data.bin").write_bytes(os.urandom(300000))
    (upper / "root" / "tool.sh").write_text("#!/bin/sh\necho tool\n")
    os.chmod(upper / "root" / "tool.sh", 0o755)
    os.symlink("state", upper / "root" / "link")
    (upper / "empty").mkdir()
    state = tmp_path / "sync-state"

    h1 = tool(s3, "sync", upper, state, "u1", "ws", S3_PREFIX=prefix).stdout.strip()
    assert len(h1) == 64
    keys = tool(s3, "list", "", S3_PREFIX=prefix).stdout
    assert "manifests/%s" % h1 in keys and "heads/u1/ws" in keys and "blobs/" in keys

    dest = tmp_path / "restore1"
    tool(s3, "restore", "u1", "ws", tmp_path / "cache1", dest, S3_PREFIX=prefix)
    assert _tree(dest) == _tree(upper)

    # No change: the same snapshot. One change: a new one, restored from a cold cache.
    assert tool(s3, "sync", upper, state, "u1", "ws", S3_PREFIX=prefix).stdout.strip() == h1
    (upper / "root" / "state").write_text("v2\n")
    h2 = tool(s3, "sync", upper, state, "u1", "ws", S3_PREFIX=prefix).stdout.strip()
    assert h2 != h1
    dest2 = tmp_path / "restore2"
    tool(s3, "restore", "u1", "ws", tmp_path / "cache2", dest2, S3_PREFIX=prefix)
    assert (dest2 / "root" / "state").read_text() == "v2\n"
    assert _tree(dest2) == _tree(upper)


def test_snapshot_restore_refuses_a_blob_edited_in_s3(tool, s3, prefix, tmp_path):
    need(tool.snapshot, "libmagsd.a has no snapshot engine yet (snapshot_sync)")
    need(os.geteuid() == 0, "snapshot restore sets owners: needs root")
    upper = tmp_path / "upper"
    upper.mkdir()
    (upper / "f").write_text("the real content\n")
    tool(s3, "sync", upper, tmp_path / "state", "u1", "ws", S3_PREFIX=prefix)
    blobs = [l.split()[0] for l in tool(s3, "list", "blobs/", S3_PREFIX=prefix).stdout.splitlines()]
    assert len(blobs) == 1
    # Someone with write access to the bucket swaps the blob's content.
    other = tmp_path / "other"
    other.mkdir()
    (other / "f").write_text("something else\n")
    tool(s3, "sync", other, tmp_path / "state2", "u2", "ws", S3_PREFIX=prefix)
    evil = [l.split()[0] for l in tool(s3, "list", "blobs/", S3_PREFIX=prefix).stdout.splitlines()
            if l.split()[0] != blobs[0]][0]
    tool(s3, "get", evil, tmp_path / "evil", S3_PREFIX=prefix)
    tool(s3, "put", blobs[0], tmp_path / "evil", S3_PREFIX=prefix)

    dest = tmp_path / "dest"
    r = tool(s3, "restore", "u1", "ws", tmp_path / "cache", dest, S3_PREFIX=prefix, check=False)
    assert r.returncode != 0
    assert blobs[0].split("/")[-1][:12] in r.stderr, r.stderr
    assert not (dest / "f").exists()


# ---- magsd with its object store on S3 -------------------------------------

def test_magsd_syncs_a_persistent_workspace_to_s3(tool, s3, session_dir, image_cache):
    # The integration itself is tested with both stores elsewhere; this checks
    # that what magsd writes lands in the bucket, under the configured prefix,
    # through a server that verifies every signature.
    from conftest import make_server
    srv = make_server(session_dir, image_cache, "s3store",
                      conf=s3.magsd_conf(prefix="magsd-e2e/"))
    try:
        st, out, err, _ = srv.run("echo v1 > /root/state; echo ok", timeout=120,
                                  workspace_id="proj", persistent=True)
        assert st["status"] in ("completed", "stopped") and out == "ok\n", (st, err)
        # The final sync may still be finishing when the script's status
        # arrives: wait for the head (written last) to appear.
        def head_written():
            keys = tool(s3, "list", "", S3_PREFIX="magsd-e2e/").stdout
            ok = any(k.startswith("heads/") and k.split()[0].endswith("/proj")
                     for k in keys.splitlines())
            return keys if ok else None
        deadline = time.time() + 30
        keys = head_written()
        while not keys and time.time() < deadline:
            time.sleep(0.2)
            keys = head_written()
        assert keys, tool(s3, "list", "", S3_PREFIX="magsd-e2e/").stdout
        assert "manifests/" in keys and "blobs/" in keys, keys
        st, out, err, _ = srv.run("cat /root/state", timeout=120, workspace_id="proj",
                                  persistent=True)
        assert out == "v1\n", (st, err)
    finally:
        srv.stop()
