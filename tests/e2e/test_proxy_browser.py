"""A real browser through the public-URL proxy (issue 5): Debian's headless
Chromium (driven by playwright-core, as for the dashboard) loads
http://<sub>.localhost:<proxy port>/ (Chromium resolves *.localhost to
loopback itself, no DNS), the page's script fetch()es a second resource and
opens a WebSocket to the same origin, and writes what came back into the
document; the driver waits until it has. The upstream is a small server the
test runs (page, data and WebSocket echo on one port), reached through the
proxy as in test_proxy.py (proxy_test_addr = 127.0.0.1).

(An earlier version used `chromium --dump-dom --virtual-time-budget`: the
virtual clock waits for fetches but not for WebSocket frames, so under load
the document was dumped before the echo came back.)
"""
import socket
import threading

import pytest

from conftest import browse, free_port, make_server
from wsutil import ws_accept, ws_frame, ws_read_frame

PAGE = b"""<!doctype html><html><head><title>t</title></head><body><pre id=out>waiting</pre>
<script>
(async () => {
  const out = document.getElementById('out');
  try {
    const r = await fetch('/data?x=1');
    const data = await r.text();
    const ws = new WebSocket('ws://' + location.host + '/ws');
    ws.onopen = () => ws.send('ping-from-chromium');
    ws.onmessage = (m) => { out.textContent = 'fetch=' + data + ' ws=' + m.data; ws.close(); };
    ws.onerror = () => { out.textContent = 'fetch=' + data + ' ws=error'; };
  } catch (e) { out.textContent = 'error ' + e; }
})();
</script></body></html>"""


def serve(c):
    try:
        head = b""
        while b"\r\n\r\n" not in head:
            b = c.recv(4096)
            if not b:
                return
            head += b
        lines = head.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        path = lines[0].split()[1]
        hdrs = {l.split(b":", 1)[0].strip().lower(): l.split(b":", 1)[1].strip()
                for l in lines[1:] if b":" in l}
        if path == b"/ws":
            c.sendall(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n"
                       % ws_accept(hdrs[b"sec-websocket-key"].decode())).encode())
            _, data = ws_read_frame(c)
            c.sendall(ws_frame(b"echo:" + data, mask=False))
            c.recv(64)
            return
        if path.startswith(b"/data"):
            body = b"via-" + hdrs.get(b"x-forwarded-proto", b"?")
            ctype = b"text/plain"
        else:
            body, ctype = PAGE, b"text/html"
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: " + ctype + b"\r\nContent-Length: "
                  + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
    except (OSError, EOFError, KeyError, IndexError):
        pass
    finally:
        c.close()


@pytest.fixture(scope="module")
def upstream():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(16)

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


@pytest.fixture(scope="module")
def bsrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "proxybrowser", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "off",
        "proxy_test_addr": "127.0.0.1",
        "network": "none",
        "proxy_connect_wait": "3",
    })
    yield s
    s.stop()


def test_chromium_loads_page_fetch_and_websocket_through_the_proxy(bsrv, upstream, browser_env):
    jid = bsrv.submit("sleep 300")
    bsrv.wait(jid, timeout=30, states=("running",))
    r = bsrv.api("POST", "/mags-jobs/%s/access" % jid, {"port": upstream})
    assert r.status == 200, r
    url = r.json["url"]
    assert ".localhost:" in url, url
    try:
        res = browse(browser_env, "page", url, None)
    finally:
        bsrv.api("POST", "/mags-jobs/%s/stop" % jid)
    assert res["out"] == "fetch=via-http ws=echo:ping-from-chromium", res
