"""Wake-on-request through the URL proxy, back to back (issue 5).

A request that arrives the moment a sandbox has gone to sleep used to meet
the old sandbox on its way out: the proxy either got its stale address
(whose link was gone, so the host's default route took the packets off the
machine: the answer came from whatever is there) or was told "The sandbox
ended" (502) when the old runtime's end was reported after the wake had
begun. Now the proxy never uses a sandbox that is stopping or going to
sleep, keeps a waiting request for the job's next sandbox, and the host
refuses packets to a pool address that has no link.

Here a sandbox with idle_timeout 1 s is woken ten times in a row, each time
right after it is reported asleep; every request must be answered by the
sandbox's own server. Whether a request meets the old sandbox depends on
timing (bench/proxy_bench.sh, with its faster server, hit both failures
every run before the fix; this test may pass without it). The times
(request -> first byte) are printed: about 35-70 ms here, against ~110 ms
when the proxy retried every 100 ms.
"""
import socket
import statistics
import time

import pytest

from conftest import free_port, make_server

SERVER = ("mkdir -p /tmp/www && echo hello-from-the-sandbox > /tmp/www/index.html"
          " && exec httpd -f -p 8080 -h /tmp/www")


@pytest.fixture(scope="module")
def wsrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "netwake", conf={
        "idle_timeout": "1", "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "off", "proxy_connect_wait": "10"})
    s.proxy_port = int(s.conf["proxy_listen"].rsplit(":", 1)[1])
    yield s
    s.stop()


def status(s, jid):
    return s.api("GET", "/mags-jobs/%s/status" % jid).json["status"]


def wait_for(s, jid, want, timeout=30):
    end = time.time() + timeout
    while time.time() < end:
        st = status(s, jid)
        if st == want:
            return
        assert st in ("accepted", "running", "sleeping"), st
        time.sleep(0.01)
    raise AssertionError("job %s never %s" % (jid, want))


def get(port, host):
    """(status line, body, ms to the first byte) of GET / through the proxy."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.perf_counter()
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % host).encode())
    data = s.recv(1)
    ms = (time.perf_counter() - t0) * 1000
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n")[0].decode(), body, ms


def test_requests_right_after_sleep_wake_the_sandbox_every_time(wsrv):
    jid = wsrv.submit(SERVER, name="wake", workspace_id="wake", persistent=True,
                      no_sync=True, startup_command=SERVER)
    try:
        wait_for(wsrv, jid, "running")
        r = wsrv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
        assert r.status == 200, r
        host = r.json["url"].split("//", 1)[1].split("/")[0].split(":")[0]
        line, body, _ = get(wsrv.proxy_port, host)
        assert line == "HTTP/1.1 200 OK" and body == b"hello-from-the-sandbox\n", (line, body)
        times = []
        for _ in range(10):
            wait_for(wsrv, jid, "sleeping")
            line, body, ms = get(wsrv.proxy_port, host)
            assert line == "HTTP/1.1 200 OK", (line, body)
            assert body == b"hello-from-the-sandbox\n", body
            times.append(ms)
        print("\nwake -> first byte (busybox httpd): median %.1f ms, max %.1f ms"
              % (statistics.median(times), max(times)))
        assert statistics.median(times) < 2000, times
    finally:
        wsrv.api("POST", "/mags-jobs/%s/stop" % jid)
