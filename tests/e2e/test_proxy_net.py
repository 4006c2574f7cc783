"""The proxy to a server inside a real sandbox over its veth link (issue 5).

magsd does not yet start sandboxes with `--net nat` nor read their `net
<ip>` line (the supervisor's part), so the sandbox here is a stand-in
started by the test: mags-runtime with `--net nat` and a fixed uid base,
whose link address is therefore known in advance (docs/ARCHITECTURE.md,
"Sandbox network": link i = (uid-base >> 16) mod 16384, sandbox address
10.200.0.0 + 4*i + 2). The server runs with proxy_test_addr set to that
address, so a job's URL reaches busybox httpd inside the sandbox through
the real path: Host -> store -> live job -> veth -> sandbox.
"""
import http.client
import ipaddress
import os
import signal
import subprocess
import time

import pytest

from conftest import RUNTIME, free_port, make_server, need, wait_until

UID_BASE = 100000 + 5003 * 65536
LINK = (UID_BASE >> 16) % 16384
ADDR = str(ipaddress.IPv4Address("10.200.0.0") + 4 * LINK + 2)


@pytest.fixture(scope="module")
def nsrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "proxynet", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "off",
        "proxy_test_addr": ADDR,
        "proxy_connect_wait": "10",
    })
    s.proxy_port = int(s.conf["proxy_listen"].rsplit(":", 1)[1])
    yield s
    s.stop()


@pytest.fixture(scope="module")
def sandbox(nsrv, tmp_path_factory):
    """A --net nat sandbox whose httpd starts 1 s late (on port 8080)."""
    tmp = tmp_path_factory.mktemp("netsb")
    status = open(tmp / "status", "w+")
    script = ("sleep 1; mkdir -p /www && echo hello-from-the-sandbox > /www/index.html"
              " && exec httpd -f -p 8080 -h /www")
    args = [str(RUNTIME), "run", "--id", "pxnet", "--rootfs",
            str(nsrv.data_dir / "images" / "busybox" / "rootfs"), "--log", str(tmp / "log"),
            "--run-dir", str(tmp / "run"), "--uid-base", str(UID_BASE), "--net", "nat",
            "--keep-alive", "--timeout", "0", "--", script]
    proc = subprocess.Popen(args, pass_fds=(3,), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            preexec_fn=lambda: (os.setpgid(0, 0), os.dup2(status.fileno(), 3)))

    def lines():
        status.seek(0)
        return status.read().splitlines()

    wait_until(lambda: any(l.startswith(("started", "error")) for l in lines()), 20)
    got = lines()
    if not any(l.startswith("started") for l in got):
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        need(False, "a --net nat sandbox cannot start here: %s" % got)
    assert "net " + ADDR in got, got
    yield ADDR
    proc.send_signal(signal.SIGTERM)
    proc.wait(15)
    status.close()


def test_url_reaches_httpd_in_a_sandbox(nsrv, sandbox):
    jid = nsrv.submit("sleep 300")
    nsrv.wait(jid, timeout=30, states=("running",))
    try:
        r = nsrv.api("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
        assert r.status == 200, r
        host = r.json["url"].split("//", 1)[1].rstrip("/")
        # httpd may not listen yet: the proxy retries the refused port
        t0 = time.time()
        c = http.client.HTTPConnection("127.0.0.1", nsrv.proxy_port, timeout=20)
        c.request("GET", "/", headers={"Host": host})
        resp = c.getresponse()
        assert resp.status == 200
        assert resp.read() == b"hello-from-the-sandbox\n"
        assert time.time() - t0 < 10
        # and again on the same connection
        c.request("GET", "/index.html", headers={"Host": host})
        resp = c.getresponse()
        assert resp.status == 200 and resp.read() == b"hello-from-the-sandbox\n"
        c.close()
    finally:
        nsrv.api("POST", "/mags-jobs/%s/stop" % jid)
