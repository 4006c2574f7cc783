"""DNS for sandboxes and names in allow lists (issue 5), through magsd.

magsd asks the resolvers of its `dns_upstream` setting (default: the
host's /etc/resolv.conf). Here that is a fake DNS server this module runs
on 127.0.0.1 (UDP and TCP, a random port), so nothing leaves the machine
and no host configuration is touched: it knows a few names under
`mags-test.` that point into the test "outside" of test_network.py (a
network namespace holding 198.51.100.1 and .200).

- `network: {"allow": ["web.mags-test"]}`: magsd resolves the name when
  the job starts and passes its A records as /32s; a name that does not
  resolve fails the job with a clear error_message.
- `dns_forward = on` (what `auto` picks when the host's only resolver is
  on its loopback, like 127.0.0.53): a sandbox's resolv.conf names
  10.200.0.1, which the firewall redirects to its gateway, where magsd
  relays queries (UDP and TCP, bounded) to the upstream on loopback, a
  place the sandbox itself can never reach.
"""
import os
import re
import socket
import struct
import sys
import threading
import time

import pytest

from conftest import free_port, make_server, need, wait_until
from test_network import WEB, WEB_HIGH, probes, verdicts, world  # noqa: F401

ZONE = {
    "web.mags-test": [WEB],
    "two.mags-test": [WEB, WEB_HIGH],
    "alias.mags-test": ("cname", "web.mags-test"),
    "nx.mags-test": "nxdomain",
    "noaddr.mags-test": [],
}


def qname(msg, p=12):
    labels = []
    while msg[p]:
        labels.append(msg[p + 1:p + 1 + msg[p]].decode().lower())
        p += 1 + msg[p]
    return ".".join(labels), p + 1


def encode_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"


def answer(query):
    """The fake zone's answer to a query (bytes)."""
    name, end = qname(query)
    qtype = struct.unpack(">H", query[end:end + 2])[0]
    question = query[12:end + 4]
    rec = ZONE.get(name, "nxdomain")
    flags, rrs = 0x8180, []
    if rec == "nxdomain":
        flags |= 3
    elif isinstance(rec, tuple):
        target = rec[1]
        rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 30, len(encode_name(target)))
                   + encode_name(target))
        for a in ZONE[target]:
            rrs.append(encode_name(target) + struct.pack(">HHIH", 1, 1, 30, 4)
                       + socket.inet_aton(a))
    elif qtype == 1:
        for a in rec:
            rrs.append(b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 30, 4) + socket.inet_aton(a))
    head = query[:2] + struct.pack(">HHHHH", flags, 1, len(rrs), 0, 0)
    return head + question + b"".join(rrs)


class FakeDNS:
    """UDP and TCP on 127.0.0.1:port; remembers (transport, name, peer)."""

    def __init__(self):
        self.seen = []
        for _ in range(20):
            self.port = free_port()
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                self.udp.bind(("127.0.0.1", self.port))
            except OSError:
                self.udp.close()
                continue
            self.tcp = socket.socket()
            self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.tcp.bind(("127.0.0.1", self.port))
            self.tcp.listen(16)
            break
        threading.Thread(target=self._udp, daemon=True).start()
        threading.Thread(target=self._tcp, daemon=True).start()

    def _udp(self):
        while True:
            try:
                q, peer = self.udp.recvfrom(4096)
            except OSError:
                return
            try:
                self.seen.append(("udp", qname(q)[0], peer[0]))
                self.udp.sendto(answer(q), peer)
            except Exception:  # a malformed query: no answer, like a server
                pass

    def _tcp(self):
        while True:
            try:
                c, peer = self.tcp.accept()
            except OSError:
                return
            with c:
                try:
                    n = struct.unpack(">H", c.recv(2))[0]
                    q = c.recv(n)
                    self.seen.append(("tcp", qname(q)[0], peer[0]))
                    a = answer(q)
                    c.sendall(struct.pack(">H", len(a)) + a)
                except Exception:
                    pass

    def close(self):
        self.udp.close()
        self.tcp.close()


@pytest.fixture(scope="module")
def fake_dns():
    d = FakeDNS()
    yield d
    d.close()


@pytest.fixture(scope="module")
def dns_srv(session_dir, image_cache, fake_dns):
    need(os.geteuid() == 0, "needs root")
    s = make_server(session_dir, image_cache, "dns", conf={
        "dns_upstream": "127.0.0.1:%d" % fake_dns.port, "dns_forward": "on"})
    log = s.log_path.read_text(errors="replace")
    need("sandbox network: nat" in log,
         "magsd could not set up the sandbox network here:\n" + s.log_tail(20))
    assert "dns: forwarder for sandboxes (10.200.0.1) to 127.0.0.1:%d" % fake_dns.port in log, \
        s.log_tail(20)
    yield s
    s.stop()


# ---- names in allow lists --------------------------------------------------

def test_a_name_in_an_allow_list_becomes_its_addresses(dns_srv, fake_dns, world):
    port = world["port"]
    targets = probes([(WEB, port), (WEB_HIGH, port)])
    st, out, _, _ = dns_srv.run(targets, network={"allow": ["web.mags-test"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "CLOSED"}, (st, out)
    st, out, _, _ = dns_srv.run(targets, network={"allow": ["TWO.mags-test"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "OPEN"}, (st, out)
    # a CNAME is followed (the upstream's answer carries the chain), and
    # names mix with networks
    st, out, _, _ = dns_srv.run(targets, network={"allow": ["alias.mags-test",
                                                            "198.51.100.200"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "OPEN"}, (st, out)
    st, out, _, _ = dns_srv.run(targets, network={"allow": ["198.51.100.200"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "CLOSED",
                             "%s:%d" % (WEB_HIGH, port): "OPEN"}, (st, out)
    # magsd itself asked, from the host
    assert ("udp", "web.mags-test", "127.0.0.1") in fake_dns.seen


@pytest.mark.parametrize("name,why", [
    ("nx.mags-test", "no such domain"),
    ("noaddr.mags-test", "no IPv4 address"),
])
def test_a_name_that_does_not_resolve_fails_the_job(dns_srv, name, why):
    st, out, _, _ = dns_srv.run("echo ran", network={"allow": ["198.51.100.0/25", name]})
    assert st["status"] == "error", st
    assert "ran" not in out
    assert name in st["error_message"] and why in st["error_message"], st


@pytest.mark.parametrize("entry", ["exa mple.com", "-a.mags-test", "a..b", "a_b.test",
                                   "web.mags-test.", "10.1.2.300", "x" * 64 + ".test",
                                   "a.b,c.d", ""])
def test_a_malformed_name_is_400(dns_srv, entry):
    r = dns_srv.api("POST", "/mags-jobs", {"script": "true",
                                           "network": {"allow": ["198.51.100.0/25", entry]}})
    assert r.status == 400 and "entry 1" in r.json["error"], (entry, r)


def test_the_runtime_gets_addresses_and_the_job_keeps_the_name(dns_srv):
    """The job stores the name (a later start, a wake, resolves it again);
    the runtime is given its addresses as /32s."""
    st, out, _, _ = dns_srv.run("true", network={"allow": ["web.mags-test"]})
    assert st["status"] == "completed", st
    log = dns_srv.log_path.read_text(errors="replace")
    assert "job %s: allow list web.mags-test is 198.51.100.1/32" % st["request_id"] in log, \
        dns_srv.log_tail(20)


# ---- the forwarder ---------------------------------------------------------

def test_a_sandbox_resolves_through_magsd(dns_srv, fake_dns):
    before = len(fake_dns.seen)
    st, out, err, _ = dns_srv.run("cat /etc/resolv.conf; nslookup -type=a web.mags-test; "
                                  "nslookup -type=a two.mags-test; nslookup nx.mags-test; "
                                  "echo rc=$?")
    assert st["status"] == "completed", (st, out, err)
    assert "nameserver 10.200.0.1" in out, out
    assert re.search(r"Address:\s*198\.51\.100\.1\b", out), out
    assert re.search(r"Address:\s*198\.51\.100\.200\b", out), out
    assert "NXDOMAIN" in out + err or "can't find" in out + err, (out, err)
    # the upstream heard them from magsd (the host), never from the sandbox
    got = fake_dns.seen[before:]
    assert ("udp", "web.mags-test", "127.0.0.1") in got, got
    assert all(peer == "127.0.0.1" for _, _, peer in got), got


def tcp_query_script(name, qid=0x4242, raw=None):
    """A sandbox script sending one DNS query over TCP to 10.200.0.1:53
    and printing the answer as hex."""
    if raw is None:
        raw = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + b"\0\1\0\1"
        raw = struct.pack(">H", len(raw)) + raw
    esc = "".join("\\%03o" % b for b in raw)
    return "(printf '%s'; sleep 2) | nc -w 3 10.200.0.1 53 | od -An -tx1 -v" % esc


def hexbytes(out):
    return bytes(int(x, 16) for x in out.split())


def tcp_query(name, qid):
    raw = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0) + encode_name(name) + b"\0\1\0\1"
    return struct.pack(">H", len(raw)) + raw


def test_a_sandbox_resolves_over_tcp(dns_srv):
    # two queries in one write (pipelined, RFC 7766): two answers, each
    # with its own id, in any order
    st, out, err, _ = dns_srv.run(tcp_query_script(
        None, raw=tcp_query("two.mags-test", 0x4242) + tcp_query("web.mags-test", 0x4343)))
    assert st["status"] == "completed", (st, err)
    a, answers = hexbytes(out), {}
    while len(a) >= 2:
        n = struct.unpack(">H", a[:2])[0]
        msg, a = a[2:2 + n], a[2 + n:]
        assert len(msg) == n and msg[2] & 0x80, (out, err)     # whole, an answer
        answers[msg[:2]] = msg
    assert sorted(answers) == [b"\x42\x42", b"\x43\x43"], (out, err)
    two, web = answers[b"\x42\x42"], answers[b"\x43\x43"]
    assert socket.inet_aton(WEB) in two and socket.inet_aton(WEB_HIGH) in two, two
    assert socket.inet_aton(WEB) in web and socket.inet_aton(WEB_HIGH) not in web, web


def test_an_oversized_or_bogus_query_gets_nothing(dns_srv, fake_dns):
    before = len(fake_dns.seen)
    big = b"\x00\x01\x01\x00\x00\x01" + b"\0" * 6 + b"\x3f" + b"a" * 63 + b"\0" * 600
    script = "; ".join([
        tcp_query_script(None, raw=struct.pack(">H", len(big)) + big),
        "echo END1",
        # a response (QR set) is not a query
        tcp_query_script(None, raw=struct.pack(">H", 31) + b"\x00\x01\x81\x80\0\1\0\0\0\0\0\0"
                         + encode_name("web.mags-test") + b"\0\1\0\1"),
        "echo END2"])
    st, out, err, _ = dns_srv.run(script)
    assert st["status"] == "completed", (st, err)
    assert out.split("END1")[0].strip() == "" and out.split("END1")[1].split("END2")[0].strip() == "", out
    assert fake_dns.seen[before:] == [], fake_dns.seen[before:]


def test_port_53_of_the_gateway_leads_only_to_magsd(srv):
    """A DNS server of the host's own on a sandbox's gateway address stays
    out of reach: the firewall opens port 53 only where magsd's marked
    forwarder socket receives. `srv` runs without the forwarder
    (dns_forward auto on a host with a nameserver sandboxes can reach), so
    nothing of magsd's listens there; the test does (TCP: busybox's nc
    cannot be relied on to show a UDP answer)."""
    from test_job_network import Listener, link_of
    script = ("ip -4 -o addr show dev eth0\n"
              "gw=$(ip route | awk '/^default/ {print $3}')\n"
              "i=0; while [ $i -lt 5 ]; do i=$((i+1))\n"
              "  if nc -w 1 $gw 53 </dev/null 2>/dev/null | grep -q .; then echo OPEN-TCP; fi\n"
              "  sleep 0.2\n"
              "done; echo probed\n")
    jid = srv.submit(script)
    out = wait_until(lambda: "\n".join(l["message"] for l in srv.logs(jid)), 20)
    _, gw, _ = link_of(out)
    tcp = Listener(gw, 53)
    try:
        # control: the host itself is answered there
        with socket.create_connection((gw, 53), 2) as c:
            assert c.recv(20) == b"hello host\n"
        st = srv.wait(jid, timeout=60)
    finally:
        tcp.close()
    out = "\n".join(l["message"] for l in srv.logs(jid))
    assert st["status"] == "completed" and "probed" in out, (st, out)
    assert "OPEN" not in out, out


BLAST = r"""
import socket, struct, sys, time
name, n = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
q = lambda i: struct.pack(">HHHHHH", i, 0x0100, 1, 0, 0, 0) + b"".join(
    bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0\0\1\0\1"
t0 = time.monotonic()
for i in range(n):
    s.sendto(q(i), ("10.200.0.1", 53))
sent = time.monotonic() - t0
s.setblocking(False)
got, end = 0, time.monotonic() + 3
while time.monotonic() < end:
    try:
        s.recv(4096)
        got += 1
    except BlockingIOError:
        time.sleep(0.005)
print(sent, got)
"""


def test_a_sandbox_is_held_to_its_query_rate(dns_srv, fake_dns):
    """DNS_RATE (100/s) after a burst of DNS_BURST (200) per sandbox: 1000
    queries sent at once from a sandbox's network namespace (by the test's
    python, entering it: busybox cannot send that fast) get at most the
    burst and the rate's worth answered and relayed; the rest are dropped."""
    import subprocess
    from conftest import host_pids_with_cmdline
    tag = str(2000 + os.getpid() % 1000)
    jid = dns_srv.submit("exec sleep " + tag, timeout=60)
    try:
        pids = []
        for _ in range(200):
            pids = host_pids_with_cmdline("sleep", tag)
            if pids:
                break
            time.sleep(0.05)
        assert pids, "the sandbox's sleep never showed"
        name = "rate%d.mags-test" % os.getpid()
        r = subprocess.run(["nsenter", "--net=/proc/%d/ns/net" % pids[0], sys.executable,
                            "-c", BLAST, name, "1000"],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        sent_s, got = r.stdout.split()
        seen = sum(1 for _, n, _ in fake_dns.seen if n == name)
        bound = 200 + 100 * (float(sent_s) + 3.5)
        print("\n1000 queries sent in %.3f s: %d relayed, %d answered (bound %d)"
              % (float(sent_s), seen, int(got), bound))
        assert 150 <= seen <= bound and int(got) <= seen, (seen, got, bound)
    finally:
        dns_srv.api("POST", "/mags-jobs/%s/stop" % jid)
