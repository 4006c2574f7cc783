"""The public-URL proxy and URL aliases (issue 5), against a real magsd.

Sandboxes have no network address yet (the veth work lands separately),
so this server runs with the test-only setting proxy_test_addr =
127.0.0.1: a job's port N is then reached at 127.0.0.1:N, where the test
runs its own upstreams (HTTP, WebSocket echo). Everything else is the
real path: POST /access makes the URL, the proxy routes by Host through
the store to the job (which must be running in a live sandbox), then
splices. Clients connect to 127.0.0.1 and send Host: <sub>.localhost:PORT
(no DNS needed).
"""
import base64
import hashlib
import http.client
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import free_port, make_server, wait_until
from wsutil import recv_exact, ws_accept, ws_frame, ws_read_frame

BIG = 20 * 1024 * 1024


@pytest.fixture(scope="module")
def psrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "proxy", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "127.0.0.1:%d" % free_port(),
        "proxy_test_addr": "127.0.0.1",
        # jobs without a network, so proxy_test_addr (the host's loopback,
        # where the tests' upstreams listen) is where the proxy connects;
        # test_proxy_net.py covers routing to a sandbox's own address
        "network": "none",
        "proxy_connect_wait": "3",
        "proxy_idle_timeout": "5",
    })
    s.proxy_port = int(s.conf["proxy_listen"].rsplit(":", 1)[1])
    yield s
    s.stop()


# ---- upstreams run by the test --------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    conns = set()

    def log_message(self, *a):
        pass

    def _send(self, code, body, ctype="text/plain"):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        Handler.conns.add(self.client_address)
        if self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(BIG))
            self.end_headers()
            chunk = b"x" * 65536
            for _ in range(BIG // len(chunk)):
                self.wfile.write(chunk)
            return
        info = "path=%s host=%s xff=%s xfh=%s xfp=%s port=%s" % (
            self.path, self.headers.get("Host"), self.headers.get("X-Forwarded-For"),
            self.headers.get("X-Forwarded-Host"), self.headers.get("X-Forwarded-Proto"),
            self.client_address[1])
        self._send(200, info.encode())

    def do_POST(self):
        h = hashlib.sha256()
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                left = size
                while left:
                    b = self.rfile.read(min(left, 65536))
                    h.update(b)
                    n += len(b)
                    left -= len(b)
                self.rfile.readline()
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left:
                b = self.rfile.read(min(left, 65536))
                h.update(b)
                n += len(b)
                left -= len(b)
        self._send(200, ("%d %s" % (n, h.hexdigest())).encode())

    do_PUT = do_POST


@pytest.fixture(scope="module")
def upstream():
    port = free_port()
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    httpd.daemon_threads = True
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield port
    httpd.shutdown()


@pytest.fixture(scope="module")
def ws_upstream():
    """A stdlib WebSocket echo server: each text/binary frame comes back."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

    def serve(c):
        try:
            head = b""
            while b"\r\n\r\n" not in head:
                head += c.recv(4096)
            key = [l.split(b":", 1)[1].strip().decode() for l in head.split(b"\r\n")
                   if l.lower().startswith(b"sec-websocket-key:")][0]
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                       % ws_accept(key)).encode())
            while True:
                op, data = ws_read_frame(c)
                if op == 8:
                    c.sendall(ws_frame(b"", 8, mask=False))
                    break
                c.sendall(ws_frame(data, op, mask=False))
        except (OSError, EOFError, IndexError):
            pass
        finally:
            c.close()

    def accept():
        while True:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield ls.getsockname()[1]
    ls.close()


# ---- helpers ----------------------------------------------------------------

def running_job(s, token="alice", **fields):
    jid = s.submit("sleep 300", token=token, **fields)
    s.wait(jid, timeout=30, token=token, states=("running",))
    return jid


def access(s, jid, port, token="alice"):
    r = s.api("POST", "/mags-jobs/%s/access" % jid, {"port": port}, token=token)
    assert r.status == 200, r
    return r.json


def host_of(url):
    return url.split("//", 1)[1].rstrip("/")


def get(s, host, path="/", headers=None):
    c = http.client.HTTPConnection("127.0.0.1", s.proxy_port, timeout=20)
    h = {"Host": host}
    h.update(headers or {})
    c.request("GET", path, headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, body


def raw(s, data, timeout=10):
    """Send raw bytes to the proxy; everything it answers until it closes."""
    c = socket.create_connection(("127.0.0.1", s.proxy_port), timeout=timeout)
    c.sendall(data)
    out = b""
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            out += b
    except socket.timeout:
        pass
    c.close()
    return out


@pytest.fixture(scope="module")
def job(psrv):
    jid = running_job(psrv)
    yield jid
    psrv.api("POST", "/mags-jobs/%s/stop" % jid)


# ---- access -------------------------------------------------------------------

def test_access_url_shape_and_stability(psrv, job, upstream):
    a = access(psrv, job, upstream)
    assert a["port"] == upstream
    assert a["url"].startswith("http://") and a["url"].endswith(
        ".localhost:%d/" % psrv.proxy_port), a
    sub = host_of(a["url"]).split(".")[0]
    assert len(sub) == 24 and all(ch in "0123456789abcdef" for ch in sub)
    assert access(psrv, job, upstream)["url"] == a["url"]       # same port, same URL
    b = access(psrv, job, upstream + 1)
    assert b["url"] != a["url"]                                  # another port, another
    # the job object carries its newest URL (the dashboard links it)
    for path in ("/mags-jobs/%s", "/mags-jobs/%s/status"):
        assert psrv.api("GET", path % job).json["url"] == b["url"]


def test_access_needs_own_live_job(psrv, job):
    r = psrv.api("POST", "/mags-jobs/%s/access" % job, {"port": 8080}, token="bob")
    assert r.status == 404, r
    r = psrv.api("POST", "/mags-jobs/%s/access" % job, {"port": 22}, token="bob")
    assert r.status == 404, r
    r = psrv.api("POST", "/mags-jobs/00000000-0000-4000-8000-000000000000/access",
                 {"port": 8080})
    assert r.status == 404, r
    done = psrv.submit("true")
    psrv.wait(done)
    r = psrv.api("POST", "/mags-jobs/%s/access" % done, {"port": 8080})
    assert r.status == 409, r
    for bad in (0, 65536, "80", 1.5):
        r = psrv.api("POST", "/mags-jobs/%s/access" % job, {"port": bad})
        assert r.status == 400, (bad, r)


# ---- proxying ---------------------------------------------------------------

def test_get_through_proxy(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    status, body = get(psrv, host, "/hello?x=1", headers={"X-Forwarded-For": "6.6.6.6"})
    assert status == 200, body
    info = body.decode()
    assert "path=/hello?x=1" in info
    assert "host=%s" % host in info
    assert "xff=127.0.0.1 " in info            # the client's own XFF is dropped
    assert "xfh=%s" % host in info and "xfp=http" in info
    # Host is case-insensitive and may end with a dot
    status, _ = get(psrv, host.upper())
    assert status == 200


def test_keep_alive_two_requests_one_upstream(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    c = http.client.HTTPConnection("127.0.0.1", psrv.proxy_port, timeout=10)
    ports = []
    for i in range(2):
        c.request("GET", "/r%d" % i, headers={"Host": host})
        r = c.getresponse()
        body = r.read().decode()
        assert r.status == 200 and "path=/r%d" % i in body
        ports.append(body.rsplit("port=", 1)[1])
    assert ports[0] == ports[1], "one upstream connection per client connection"
    # the same connection may not switch to another host
    other = host_of(access(psrv, job, upstream + 2)["url"])
    c.request("GET", "/", headers={"Host": other})
    r = c.getresponse()
    assert r.status == 421
    c.close()


def test_chunked_upload_20mb_streamed(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    h = hashlib.sha256()
    block = os.urandom(1 << 20)

    def body():
        for i in range(20):
            piece = bytes([i]) + block[1:]
            h.update(piece)
            yield piece

    c = http.client.HTTPConnection("127.0.0.1", psrv.proxy_port, timeout=60)
    c.request("POST", "/upload", body=body(), headers={"Host": host},
              encode_chunked=True)
    r = c.getresponse()
    out = r.read().decode()
    assert r.status == 200, out
    assert out == "%d %s" % (BIG, h.hexdigest())
    # and with a Content-Length, on the same connection
    data = os.urandom(3 * 1024 * 1024)
    c.request("POST", "/upload", body=data, headers={"Host": host})
    r = c.getresponse()
    assert r.read().decode() == "%d %s" % (len(data), hashlib.sha256(data).hexdigest())
    c.close()


def test_large_download_with_slow_reader(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    c = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=30)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    c.sendall(("GET /big HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
    time.sleep(1)       # the proxy must hold back, not buffer 20 MB
    got = 0
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(4096)
    got = len(head.split(b"\r\n\r\n", 1)[1])
    while got < BIG:
        b = c.recv(1 << 20)
        assert b
        got += len(b)
    assert got == BIG
    c.close()


def test_websocket_echo(psrv, job, ws_upstream):
    host = host_of(access(psrv, job, ws_upstream)["url"])
    c = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    c.sendall(("GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n\r\n" % (host, key)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += c.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    assert ws_accept(key).encode() in head
    for msg in (b"hello", b"x" * 70000, "ünïcode".encode()):
        c.sendall(ws_frame(msg))
        op, data = ws_read_frame(c)
        assert data == msg
    c.sendall(ws_frame(b"", 8))
    assert ws_read_frame(c)[0] == 8
    c.close()


def test_unknown_and_bad_hosts(psrv):
    port = psrv.proxy_port
    for host in ("nosuchsub.localhost:%d" % port, "localhost:%d" % port,
                 "a.b.localhost", "example.com", "-x.localhost", "x_y.localhost"):
        status, body = get(psrv, host)
        assert status == 404, (host, status)
        assert b"mags proxy" in body
    out = raw(psrv, b"GET / HTTP/1.0\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    out = raw(psrv, b"GARBAGE\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400"), out
    out = raw(psrv, b"GET / HTTP/1.1\r\nHost: x.localhost\r\nX-Big: " + b"a" * 40000 +
              b"\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 431"), out[:100]
    # the proxy is still fine
    status, _ = get(psrv, "nosuchsub.localhost")
    assert status == 404


def test_slow_header_times_out_others_unaffected(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    slow = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=20)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: ")
    status, _ = get(psrv, host)                 # served meanwhile
    assert status == 200
    slow.settimeout(15)
    out = slow.recv(4096)                       # 408 within the head timeout
    assert out.startswith(b"HTTP/1.1 408"), out
    slow.close()


def test_refused_port_is_retried_then_502(psrv, job):
    port = free_port()
    host = host_of(access(psrv, job, port)["url"])
    # nothing listens: 502 after proxy_connect_wait (3 s)
    t0 = time.time()
    status, body = get(psrv, host)
    assert status == 502 and b"not answering" in body
    assert 2 <= time.time() - t0 < 10
    # a server that comes up within the wait gets the request
    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Timer(1.0, lambda: threading.Thread(target=httpd.serve_forever,
                                                   daemon=True).start()).start()
    try:
        status, body = get(psrv, host, "/late")
        assert status == 200 and b"path=/late" in body
    finally:
        time.sleep(0.1)
        httpd.shutdown()


def test_stopped_job_url_is_gone(psrv, upstream):
    jid = running_job(psrv)
    host = host_of(access(psrv, jid, upstream)["url"])
    assert get(psrv, host)[0] == 200
    psrv.api("POST", "/mags-jobs/%s/stop" % jid)
    psrv.wait(jid)
    status, body = get(psrv, host)
    assert status == 502 and b"not running" in body


def test_many_connections_bounded(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    conns = [socket.create_connection(("127.0.0.1", psrv.proxy_port)) for _ in range(50)]
    status, _ = get(psrv, host)
    assert status == 200
    for c in conns:
        c.close()


# ---- aliases -------------------------------------------------------------------

def test_alias_crud_conflict_and_ownership(psrv):
    ws = "aliasws"
    jid = running_job(psrv, workspace_id=ws)
    try:
        r = psrv.api("POST", "/mags-url-aliases", {"subdomain": "MyApp", "workspace_id": ws})
        assert r.status == 200, r
        assert r.json["subdomain"] == "myapp"
        assert r.json["url"] == "http://myapp.localhost:%d/" % psrv.proxy_port
        r = psrv.api("GET", "/mags-url-aliases")
        assert [a["subdomain"] for a in r.json["aliases"]] == ["myapp"]
        r = psrv.api("GET", "/url-aliases")
        assert [a["subdomain"] for a in r.json["aliases"]] == ["myapp"]
        # unique across the server
        r = psrv.api("POST", "/url-aliases", {"subdomain": "myapp", "workspace_id": ws})
        assert r.status == 409, r
        r = psrv.api("POST", "/url-aliases", {"subdomain": "myapp", "workspace_id": ws},
                     token="bob")
        assert r.status in (404, 409), r       # bob has no such workspace either way
        # bob sees none and cannot delete alice's
        assert psrv.api("GET", "/mags-url-aliases", token="bob").json["aliases"] == []
        assert psrv.api("DELETE", "/mags-url-aliases/myapp", token="bob").status == 404
        # names are DNS labels
        for bad in ("", "-a", "a-", "a.b", "a_b", "x" * 64, "ü"):
            r = psrv.api("POST", "/mags-url-aliases", {"subdomain": bad, "workspace_id": ws})
            assert r.status == 400, (bad, r)
        r = psrv.api("POST", "/mags-url-aliases", {"subdomain": "other", "workspace_id": "nows"})
        assert r.status == 404, r
        # delete
        assert psrv.api("DELETE", "/mags-url-aliases/myapp").status == 200
        assert psrv.api("DELETE", "/mags-url-aliases/myapp").status == 404
        assert psrv.api("GET", "/mags-url-aliases").json["aliases"] == []
    finally:
        psrv.api("POST", "/mags-jobs/%s/stop" % jid)


def test_alias_routes_to_workspace_job(psrv, upstream):
    ws = "aliasroute"
    jid = running_job(psrv, workspace_id=ws)
    try:
        access(psrv, jid, upstream)           # the job's port
        r = psrv.api("POST", "/mags-url-aliases", {"subdomain": "routed", "workspace_id": ws})
        assert r.status == 200, r
        status, body = get(psrv, "routed.localhost:%d" % psrv.proxy_port, "/via-alias")
        assert status == 200 and b"path=/via-alias" in body
        psrv.api("POST", "/mags-jobs/%s/stop" % jid)
        psrv.wait(jid)
        status, _ = get(psrv, "routed.localhost")
        assert status == 502
    finally:
        psrv.api("POST", "/mags-jobs/%s/stop" % jid)
        psrv.api("DELETE", "/mags-url-aliases/routed")


def test_idle_connection_is_closed(psrv, job, upstream):
    # proxy_idle_timeout is 5 s on this server
    host = host_of(access(psrv, job, upstream)["url"])
    c = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=15)
    c.sendall(("GET /idle HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
    got = b""
    while b"path=/idle" not in got:
        got += c.recv(4096)
    t0 = time.time()
    assert c.recv(4096) == b""                  # closed by the proxy
    assert 3 <= time.time() - t0 < 12
    c.close()


def test_pipelined_requests(psrv, job, upstream):
    host = host_of(access(psrv, job, upstream)["url"])
    req = "GET /p%d HTTP/1.1\r\nHost: " + host + "\r\n\r\n"
    c = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=10)
    c.sendall(((req % 1) + (req % 2) + (req % 3)).encode())
    got = b""
    while got.count(b"HTTP/1.1 200") < 3 or b"path=/p3" not in got:
        b = c.recv(65536)
        assert b, got
        got += b
    assert got.index(b"path=/p1") < got.index(b"path=/p2") < got.index(b"path=/p3")
    c.close()


def test_curl_upload_with_expect_continue(psrv, job, upstream, tmp_path):
    import shutil
    import subprocess
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    host = host_of(access(psrv, job, upstream)["url"])
    name = host.split(":")[0]
    f = tmp_path / "up.bin"
    data = os.urandom(5 * 1024 * 1024)
    f.write_bytes(data)
    for extra in ([], ["-H", "Transfer-Encoding: chunked"]):
        r = subprocess.run(["curl", "-sS", "--max-time", "30", "-T", str(f), *extra,
                            "--connect-to", "%s:%d:127.0.0.1:%d" % (name, psrv.proxy_port,
                                                                 psrv.proxy_port),
                            "http://%s/up" % host], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert r.stdout == "%d %s" % (len(data), hashlib.sha256(data).hexdigest())


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])


def test_hostile_upstream_memory_stays_bounded(psrv, job, upstream):
    """An upstream answering with endless headers and an endless body to
    clients that do not read: the proxy holds a bounded buffer each."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)
    stop = []

    def flood(c):
        try:
            c.recv(65536)
            c.sendall(b"HTTP/1.1 200 OK\r\n")
            junk = b"X-Junk: " + b"j" * 8000 + b"\r\n"
            while not stop:
                c.sendall(junk)
        except OSError:
            pass
        finally:
            c.close()

    def accept():
        while not stop:
            try:
                c, _ = ls.accept()
            except OSError:
                return
            threading.Thread(target=flood, args=(c,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    host = host_of(access(psrv, job, ls.getsockname()[1])["url"])
    before = rss_kb(psrv.proc.pid)
    clients = []
    for _ in range(20):
        c = socket.create_connection(("127.0.0.1", psrv.proxy_port), timeout=10)
        c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.sendall(("GET / HTTP/1.1\r\nHost: %s\r\n\r\n" % host).encode())
        clients.append(c)
    time.sleep(2)
    grown = rss_kb(psrv.proc.pid) - before
    assert grown < 20 * 1024, "magsd grew by %d KiB" % grown
    good = host_of(access(psrv, job, upstream)["url"])
    assert get(psrv, good)[0] == 200           # everyone else is still served
    stop.append(1)
    for c in clients:
        c.close()
    ls.close()
