#!/usr/bin/env python3
"""URL proxy benchmark (issue 5), driven by bench/proxy_bench.sh.

bench/tinyhttpd.c (built static by the .sh, uploaded with POST
/mags-files: an epoll keep-alive server; busybox httpd would fork per
connection and make the comparison one of fork()) in a live sandbox
(persistent, no_sleep) serves a 512-byte page. wrk (Debian's) hits it twice in the same run, alternating rounds:
  direct     the sandbox's own address (10.200.x.y:8080, over its veth)
  proxied    magsd's URL proxy (127.0.0.1:<proxy port>, Host: <sub>.<domain>)
each with one connection (the latency the proxy adds: median and p99) and
with --conns connections (throughput). Then wake-on-request: a second
sandbox (idle_timeout 1 s, the server as its startup_command) is let fall
asleep, and one GET through the proxy is timed to its first byte.

Targets (issue 5): the proxy adds <= 0.2 ms median, keeps >= 70% of the
direct throughput; wake -> first byte median <= 150 ms.
Prints a summary; JSON goes to bench/results/proxy-<time>.json.
Standard library only.
"""
import argparse
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# /uploads holds the job's files at every start (a wake too); /tmp is the
# sandbox's own
START = "cp /uploads/tinyhttpd /tmp/tinyhttpd && chmod 0755 /tmp/tinyhttpd && exec /tmp/tinyhttpd 8080"
FIRST = START


class Api:
    def __init__(self, url, token):
        host, port = url.split("//", 1)[1].split(":")
        self.addr = (host, int(port))
        self.conn = http.client.HTTPConnection(*self.addr, timeout=60)
        self.h = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        self.jobs = []

    def call(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                self.conn.request(method, "/api/v1" + path,
                                  json.dumps(body) if body is not None else None, self.h)
                r = self.conn.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                # the server closed the idle keep-alive connection
                self.conn.close()
                self.conn = http.client.HTTPConnection(*self.addr, timeout=60)
                if attempt:
                    raise
        j = json.loads(data) if data else None
        if method == "POST" and path == "/mags-jobs" and r.status == 200:
            self.jobs.append(j["request_id"])
        return r.status, j

    def stop_all(self):
        for jid in self.jobs:
            try:
                self.call("POST", "/mags-jobs/%s/stop" % jid)
            except Exception:
                pass

    def upload(self, path):
        data = Path(path).read_bytes()
        b = "----magsbench%d" % time.time_ns()
        body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
                 "Content-Type: application/octet-stream\r\n\r\n") % (b, Path(path).name)).encode() \
            + data + ("\r\n--%s--\r\n" % b).encode()
        h = dict(self.h, **{"Content-Type": "multipart/form-data; boundary=" + b})
        self.conn.request("POST", "/api/v1/mags-files", body, h)
        r = self.conn.getresponse()
        j = json.loads(r.read())
        assert r.status == 200, j
        return j["file_ids"][0]

    def wait(self, jid, states, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            st, j = self.call("GET", "/mags-jobs/%s/status" % jid)
            if j and j["status"] in states:
                return j
            if j and j["status"] in ("error", "completed", "stopped"):
                sys.exit("bench: job %s ended: %s" % (jid, j))
            time.sleep(0.05)
        sys.exit("bench: job %s never reached %s" % (jid, states))


def wait_http(host, port, hosthdr, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/", headers={"Host": hosthdr})
            r = c.getresponse()
            body = r.read()
            c.close()
            if r.status == 200 and body == b"x" * 512:
                return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("bench: %s:%d (Host %s) never served the page" % (host, port, hosthdr))


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def wrk(url, hosthdr, conns, secs):
    out = subprocess.run(["wrk", "-t", str(min(conns, 2)), "-c", str(conns), "-d",
                          "%ds" % secs, "--latency", "-H", "Host: " + hosthdr, url],
                         capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {}
    for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[p] = float(v) * UNITS[u]
    if re.search(r"Non-2xx or 3xx responses", out):
        sys.exit("bench: wrk saw errors against %s:\n%s" % (url, out))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(x) for x in m.groups()) if m else 0
    return {"rps": rps, "p50_ms": lat["50"], "p99_ms": lat["99"], "socket_errors": errors}


def first_byte(port, hosthdr):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    t0 = time.perf_counter()
    s.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % hosthdr).encode())
    b = s.recv(1)
    dt = (time.perf_counter() - t0) * 1000
    rest = b
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        rest += chunk
    s.close()
    if not rest.startswith(b"HTTP/1.1 200") and not rest.startswith(b"HTTP/1.0 200"):
        sys.exit("bench: woken request answered %r" % rest[:600])
    return dt


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--proxy-port", type=int, required=True)
    ap.add_argument("--backend", required=True, help="the static tinyhttpd binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--secs", type=int, default=4)
    ap.add_argument("--conns", type=int, default=32)
    ap.add_argument("--n-wake", type=int, default=10)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    a = ap.parse_args()
    api = Api(a.url, a.token)
    try:
        run(a, api)
    finally:
        api.stop_all()


def run(a, api):
    fid = api.upload(a.backend)

    st, j = api.call("POST", "/mags-jobs", {"script": FIRST, "type": "inline",
                                            "file_ids": [fid],
                                            "persistent": True, "no_sleep": True,
                                            "workspace_id": "pbench", "name": "pbench"})
    assert st == 200, (st, j)
    jid = j["request_id"]
    api.wait(jid, ("running",))
    st, ex = api.call("POST", "/mags-jobs/%s/exec" % jid,
                      {"command": "ip -4 -o addr show dev eth0"})
    m = re.search(r"inet (10\.200\.\d+\.\d+)/", (ex or {}).get("stdout", "") or
                  (ex or {}).get("output", ""))
    if not m:
        sys.exit("bench: no sandbox address (is the sandbox network on?): %s" % ex)
    ip = m.group(1)
    st, acc = api.call("POST", "/mags-jobs/%s/access" % jid, {"port": 8080})
    assert st == 200, (st, acc)
    host = acc["url"].split("//", 1)[1].split("/")[0]
    hosthdr = host.split(":")[0]
    direct_url = "http://%s:8080/" % ip
    proxy_url = "http://127.0.0.1:%d/" % a.proxy_port
    wait_http(ip, 8080, ip)
    wait_http("127.0.0.1", a.proxy_port, hosthdr)

    res = {"direct": {"c1": [], "cN": []}, "proxied": {"c1": [], "cN": []}}
    for _ in range(a.rounds):
        for name, url, hh in (("direct", direct_url, ip), ("proxied", proxy_url, hosthdr)):
            res[name]["c1"].append(wrk(url, hh, 1, a.secs))
            res[name]["cN"].append(wrk(url, hh, a.conns, a.secs))
    api.call("POST", "/mags-jobs/%s/stop" % jid)

    def med(name, kind, key):
        return statistics.median(r[key] for r in res[name][kind])

    # wake on request
    st, j = api.call("POST", "/mags-jobs", {"script": FIRST, "startup_command": START,
                                            "file_ids": [fid],
                                            "type": "inline", "persistent": True,
                                            "workspace_id": "pwake", "name": "pwake"})
    assert st == 200, (st, j)
    wid = j["request_id"]
    api.wait(wid, ("running",))
    st, acc = api.call("POST", "/mags-jobs/%s/access" % wid, {"port": 8080})
    assert st == 200, (st, acc)
    whost = acc["url"].split("//", 1)[1].split("/")[0].split(":")[0]
    wait_http("127.0.0.1", a.proxy_port, whost)
    wakes = []
    for _ in range(a.n_wake):
        api.wait(wid, ("sleeping",), timeout=30)
        wakes.append(first_byte(a.proxy_port, whost))
    api.call("POST", "/mags-jobs/%s/stop" % wid)

    d50, p50 = med("direct", "c1", "p50_ms"), med("proxied", "c1", "p50_ms")
    drps, prps = med("direct", "cN", "rps"), med("proxied", "cN", "rps")
    summary = {
        "latency_c1_p50_ms": {"direct": d50, "proxied": p50, "added": p50 - d50},
        "latency_c1_p99_ms": {"direct": med("direct", "c1", "p99_ms"),
                              "proxied": med("proxied", "c1", "p99_ms")},
        "throughput_rps_c%d" % a.conns: {"direct": drps, "proxied": prps,
                                         "ratio": prps / drps if drps else 0},
        "latency_c%d_p50_ms" % a.conns: {"direct": med("direct", "cN", "p50_ms"),
                                         "proxied": med("proxied", "cN", "p50_ms")},
        "wake_first_byte_ms": {"median": statistics.median(wakes), "min": min(wakes),
                               "max": max(wakes), "n": len(wakes)},
        "targets": {"added_p50_ms_max": 0.2, "throughput_ratio_min": 0.7,
                    "wake_median_ms_max": 150},
        "rounds": a.rounds, "secs": a.secs, "cpus": len(__import__("os").sched_getaffinity(0)),
    }
    summary["met"] = {
        "added_latency": summary["latency_c1_p50_ms"]["added"] <= 0.2,
        "throughput": summary["throughput_rps_c%d" % a.conns]["ratio"] >= 0.7,
        "wake": summary["wake_first_byte_ms"]["median"] <= 150,
    }
    print("proxy bench (%d rounds of %d s; wrk)" % (a.rounds, a.secs))
    print("  1 conn  p50: direct %.3f ms, proxied %.3f ms, added %.3f ms (target <= 0.2)"
          % (d50, p50, p50 - d50))
    print("  %d conns rps: direct %.0f, proxied %.0f, %.0f%% (target >= 70%%)"
          % (a.conns, drps, prps, 100 * prps / drps if drps else 0))
    print("  wake -> first byte: median %.1f ms, min %.1f, max %.1f (n=%d, target <= 150)"
          % (summary["wake_first_byte_ms"]["median"], min(wakes), max(wakes), len(wakes)))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / time.strftime("proxy-%Y%m%dT%H%M%SZ.json", time.gmtime())
    path.write_text(json.dumps({"summary": summary, "raw": res, "wakes_ms": wakes}, indent=1))
    print("  ->", path)


if __name__ == "__main__":
    main()
