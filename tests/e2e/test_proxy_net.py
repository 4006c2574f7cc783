"""The proxy to a server inside a real sandbox over its veth link (issue 5):
Host -> store -> live job -> the sandbox's address -> busybox httpd.
"""
import http.client
import time

import pytest

from conftest import free_port, make_server

@pytest.fixture(scope="module")
def nsrv(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "proxynet", conf={
        "proxy_listen": "127.0.0.1:%d" % free_port(),
        "ssh_listen": "off",
        "proxy_connect_wait": "10",
    })
    s.proxy_port = int(s.conf["proxy_listen"].rsplit(":", 1)[1])
    yield s
    s.stop()


def test_url_reaches_httpd_in_a_sandbox(nsrv):
    # The whole path: a job with the default network runs busybox httpd
    # (starting 1 s late), /access gives its URL, and the proxy reaches the
    # sandbox's own address over its veth.
    script = ("sleep 1; mkdir -p /www && echo hello-from-the-sandbox > /www/index.html"
              " && exec httpd -f -p 8080 -h /www")
    jid = nsrv.submit(script, timeout=300)
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
