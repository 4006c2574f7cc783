"""The sandbox network (issue 5), mags-runtime driven directly.

--net none      loopback only (the default)
--net nat       a veth link mg<i> (host) <-> eth0 (sandbox), 10.200.0.0/16 cut
                into /30s, egress NATed by the host's nftables table inet mags
--net-allow C   egress only to these networks (repeatable)
--net-addr S    the /30 to use instead of the one derived from --uid-base

Everything here stays on this machine. "The outside" is a network
namespace the tests make (magstest-out) behind a veth (mt-host <-> mt-out),
holding 198.51.100.1 and 198.51.100.200 (TEST-NET-2) and 169.254.169.254 on
its loopback; the host routes those to it. 192.0.2.0/24 (TEST-NET-1) is not
used: on these machines it is the host's real uplink, and 192.0.2.1 its real
gateway. A guard table drops anything a sandbox sends out of any other
interface, so a broken rule cannot leak a packet off the machine. Every
namespace, interface, route and rule made here is removed at the end.
"""
import ctypes
import fcntl
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import RUNTIME, need, wait_until

OUT_NS = "magstest-out"
HOST_IF, OUT_IF = "mt-host", "mt-out"
LINK_HOST, LINK_OUT = "10.201.255.1", "10.201.255.2"
WEB, WEB_HIGH, METADATA = "198.51.100.1", "198.51.100.200", "169.254.169.254"
GUARD = "magstest_guard"
# Link indexes (uid base >> 16) far from magsd's slots, and different for
# each session: no clash with a magsd other tests run at the same time, nor
# with sandboxes an interrupted session left.
INDEX0 = 9000 + (os.getpid() % 40) * 100
LOCK = "/run/mags-test-network.lock"  # one session at a time owns the world
PR_SET_PDEATHSIG = 1


def runtime_preexec(w):
    """In the runtime's child: status pipe on fd 3, and die (cleanly, with
    SIGTERM: the runtime then tears the sandbox down) with this process, so
    an interrupted test run leaves no sandbox behind."""
    def f():
        os.dup2(w, 3)
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    return f

SERVER = r"""
import socket, sys, threading
host, ports = sys.argv[1], [int(p) for p in sys.argv[2:]]
def serve(s):
    while True:
        c, peer = s.accept()
        me = c.getsockname()
        try:
            c.sendall(("hello %s:%d from %s\n" % (me[0], me[1], peer[0])).encode())
        except OSError:
            pass
        c.close()
for p in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, p))
    s.listen(64)
    threading.Thread(target=serve, args=(s,), daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"""


def sh(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=30)


def quiet(*cmd):
    subprocess.run(cmd, capture_output=True, timeout=30)


def host_ends():
    """Names of the host's mg<N> interfaces."""
    out = sh("ip", "-o", "link", "show").stdout
    return sorted(set(re.findall(r"^\d+: (mg\d+)[@:]", out, re.M)))


def nft_table():
    r = sh("nft", "list", "table", "inet", "mags", check=False)
    return r.stdout if r.returncode == 0 else None


def jobs_elements():
    """The allow-list entries (ifindex -> chain) in the firewall."""
    text = nft_table() or ""
    m = re.search(r"map jobs \{(.*?)\n\t\}", text, re.S)
    body = m.group(1) if m else ""
    e = re.search(r"elements = \{(.*?)\}", body, re.S)
    # nft prints an ifindex as the interface's name while it exists
    return sorted(re.findall(r'(?:"[^"]+"|\d+) : jump allow_\d+', e.group(1))) if e else []


def allow_chains():
    return re.findall(r"chain (allow_\d+)", nft_table() or "")


def connect(addr, port, timeout=3):
    """What a TCP server at addr:port says first, or None."""
    try:
        with socket.create_connection((addr, port), timeout) as s:
            s.settimeout(timeout)
            return s.recv(200).decode()
    except OSError:
        return None


def link_for(index):
    sub = 0x0AC80000 + 4 * (index % 16384)
    fmt = lambda a: socket.inet_ntoa(a.to_bytes(4, "big"))
    return fmt(sub + 1), fmt(sub + 2), "mg%d" % (index % 16384)


def host_address():
    """One of the host's own global addresses (not ours, not a sandbox's)."""
    out = sh("ip", "-4", "-o", "addr", "show", "scope", "global").stdout
    for line in out.splitlines():
        dev, addr = line.split()[1], line.split()[3].split("/")[0]
        if not dev.startswith(("mg", "mt-")):
            return addr
    return None


def upstream_nameservers():
    found = []
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        try:
            text = open(path).read()
        except OSError:
            continue
        for m in re.finditer(r"^\s*nameserver\s+(\S+)", text, re.M):
            a = m.group(1)
            if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", a) and not a.startswith("127.") \
                    and a not in found:
                found.append(a)
        if found:
            return found[:3]
    return found


# ---- the world around the sandboxes ---------------------------------------

def remove_test_network():
    quiet("nft", "delete", "table", "inet", GUARD)
    quiet("ip", "route", "del", "198.51.100.0/24")
    quiet("ip", "route", "del", METADATA + "/32")
    quiet("ip", "link", "del", HOST_IF)
    quiet("ip", "netns", "del", OUT_NS)


@pytest.fixture(scope="module")
def world():
    need(os.geteuid() == 0, "needs root")
    need(os.access(RUNTIME, os.X_OK), "not built (run make)")
    for tool in ("ip", "nft"):
        need(subprocess.run(["sh", "-c", "command -v " + tool],
                            capture_output=True).returncode == 0,
             tool + " not installed (scripts/install-deps.sh)")
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)  # another session's world is not ours to remove
    had_table = nft_table() is not None
    forward = open("/proc/sys/net/ipv4/ip_forward").read().strip()
    remove_test_network()  # a run that was killed may have left them
    server = None
    try:
        sh("ip", "netns", "add", OUT_NS)
        sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", OUT_IF,
           "netns", OUT_NS)
        sh("ip", "addr", "add", LINK_HOST + "/30", "dev", HOST_IF)
        sh("ip", "link", "set", HOST_IF, "up")
        inside = ("ip", "netns", "exec", OUT_NS)
        sh(*inside, "ip", "link", "set", "lo", "up")
        sh(*inside, "ip", "addr", "add", LINK_OUT + "/30", "dev", OUT_IF)
        sh(*inside, "ip", "link", "set", OUT_IF, "up")
        for a in (WEB, WEB_HIGH, METADATA):
            sh(*inside, "ip", "addr", "add", a + "/32", "dev", "lo")
        sh("ip", "route", "add", "198.51.100.0/24", "via", LINK_OUT, "dev", HOST_IF)
        sh("ip", "route", "add", METADATA + "/32", "via", LINK_OUT, "dev", HOST_IF)
        for a in (WEB, WEB_HIGH, METADATA):
            assert "dev " + HOST_IF in sh("ip", "route", "get", a).stdout, \
                "test route to %s missing: refusing to send anything" % a
        # The guard: from a sandbox, only into our outside or another mg*
        # (which inet mags must drop itself) - never off the machine.
        guard = ("add table inet {g}\n"
                 "add chain inet {g} leak {{ type filter hook forward priority -10; policy accept; }}\n"
                 "add rule inet {g} leak iifname \"mg*\" oifname != \"{h}\" oifname != \"mg*\" "
                 "counter drop\n").format(g=GUARD, h=HOST_IF)
        subprocess.run(["nft", "-f", "/dev/stdin"], input=guard, text=True, check=True)

        port, port2 = 18080, 18081
        server = subprocess.Popen(["ip", "netns", "exec", OUT_NS, sys.executable, "-c",
                                   SERVER, "0.0.0.0", str(port), str(port2)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert server.stdout.readline().strip() == "ready"
        r = sh(str(RUNTIME), "net-setup", check=False)
        assert r.returncode == 0, r.stderr
        yield {"port": port, "port2": port2}
    finally:
        if server:
            server.kill()
            server.wait()
        remove_test_network()
        if not had_table and not host_ends():
            # As we found the host: net-setup turned forwarding on.
            sh(str(RUNTIME), "net-teardown", check=False)
            with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
                f.write(forward)
        lock.close()


@pytest.fixture(scope="module")
def rootfs(image_cache):
    return image_cache / "images" / "busybox" / "rootfs"


@pytest.fixture
def host_listeners():
    """TCP servers in this process: one on 0.0.0.0, one on 127.0.0.1."""
    socks, ports = [], {}
    for name, addr in (("any", "0.0.0.0"), ("loopback", "127.0.0.1")):
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, 0))
        s.listen(16)
        ports[name] = s.getsockname()[1]
        socks.append(s)

        def serve(s=s):
            while True:
                try:
                    c, peer = s.accept()
                except OSError:
                    return
                with c:
                    c.sendall(b"hello host from %s\n" % peer[0].encode())
        threading.Thread(target=serve, daemon=True).start()
    yield ports
    for s in socks:
        s.close()


# ---- sandboxes -------------------------------------------------------------

def parse_log(path):
    out = []
    try:
        for line in open(path, errors="replace"):
            parts = line.rstrip("\n").split(" ", 2)
            if len(parts) == 3 and parts[1] in "oe":
                out.append(parts[2])
    except FileNotFoundError:
        pass
    return "\n".join(out)


def run(rootfs, tmp, script, *flags, index=INDEX0, timeout=60, timing=None):
    """One sandbox run to its end: (status lines, its output). timing, a
    dict, gets "started" and "end": seconds from the spawn to that line."""
    jid = "net-" + uuid.uuid4().hex[:12]
    log = tmp / (jid + ".log")
    t0 = time.monotonic()
    r, w = os.pipe()
    p = subprocess.Popen([str(RUNTIME), "run", "--id", jid, "--rootfs", str(rootfs),
                          "--log", str(log), "--run-dir", str(tmp / "run" / jid),
                          "--uid-base", str(index * 65536), "--timeout", "30", *flags,
                          "--", script],
                         pass_fds=(w, 3), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=runtime_preexec(w))
    os.close(w)
    lines = []
    with os.fdopen(r) as f:
        for l in f:
            lines.append(l.rstrip("\n"))
            if timing is not None and l.startswith("started"):
                timing["started"] = time.monotonic() - t0
    if timing is not None:
        timing["end"] = time.monotonic() - t0
    p.wait(timeout)
    return lines, parse_log(log)


class Sandbox:
    """A --keep-alive sandbox: exec into it, stop it."""

    def __init__(self, rootfs, tmp, *flags, index=INDEX0):
        self.id = "net-" + uuid.uuid4().hex[:12]
        self.control = tmp / (self.id + ".ctl")
        self.log = tmp / (self.id + ".log")
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            [str(RUNTIME), "run", "--id", self.id, "--rootfs", str(rootfs),
             "--log", str(self.log), "--run-dir", str(tmp / "run" / self.id),
             "--uid-base", str(index * 65536), "--keep-alive", "--timeout", "0",
             "--control", str(self.control), *flags, "--", "true"],
            pass_fds=(w, 3), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=runtime_preexec(w))
        os.close(w)
        self.lines = []
        self.reader = threading.Thread(target=self._read, args=(os.fdopen(r),), daemon=True)
        self.reader.start()
        if not wait_until(lambda: any(l.startswith(("started", "error", "exit"))
                                      for l in self.lines), 20):
            self.stop()  # a keep-alive sandbox would outlive the test
            raise AssertionError("no status line from the runtime: %r" % self.lines)
        self.host_end, self.ip, self.ifname = link_for(index)

    def _read(self, f):
        for line in f:
            self.lines.append(line.rstrip("\n"))

    @property
    def started(self):
        return any(l.startswith("started ") for l in self.lines)

    def exec(self, command, timeout=60):
        r = subprocess.run([str(RUNTIME), "exec", "--control", str(self.control), "--",
                            command], capture_output=True, text=True, timeout=timeout)
        return r.returncode, r.stdout + r.stderr

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.reader.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def probes(targets):
    """A script that tries every addr:port at once; prints OPEN/CLOSED each."""
    parts = ['p() { if nc -w 2 "$1" "$2" </dev/null 2>/dev/null | grep -q hello; '
             'then echo "OPEN $1:$2"; else echo "CLOSED $1:$2"; fi; }']
    parts += ["p %s %d &" % (a, port) for a, port in targets]
    parts.append("wait")
    return "\n".join(parts)


def verdicts(output):
    return dict(reversed(l.split(" ", 1)) for l in output.splitlines()
                if l.startswith(("OPEN ", "CLOSED ")))


# ---- tests -----------------------------------------------------------------

def test_nat_sandbox_has_an_address_a_default_route_and_resolv_conf(world, rootfs, tmp_path):
    with Sandbox(rootfs, tmp_path, "--net", "nat") as sb:
        assert sb.started, sb.lines
        # a new namespace with a link is offered for reuse first (magsd
        # may keep it: "netns FD DEV INO"); "net <ip>" comes before "started"
        assert re.fullmatch(r"netns \d+ \d+ \d+", sb.lines[0]), sb.lines
        assert sb.lines[1] == "net " + sb.ip, sb.lines
        assert sb.lines[2].startswith("started "), sb.lines
        code, out = sb.exec("ip -4 addr show dev eth0; ip route; cat /etc/resolv.conf; "
                            "ip -6 addr show dev eth0 | grep -c inet6; true")
        assert code == 0, out
        assert "inet %s/30" % sb.ip in out, out
        assert "default via %s dev eth0" % sb.host_end in out, out
        ns = re.findall(r"^nameserver (\S+)$", out, re.M)
        assert ns == upstream_nameservers(), out
        assert out.rstrip().endswith("0"), "eth0 has IPv6 addresses: " + out
        # The host end: named after the link, the gateway's address, no IPv6.
        link = sh("ip", "addr", "show", "dev", sb.ifname).stdout
        assert "inet %s/30" % sb.host_end in link, link
        assert "inet6" not in link, link
    assert sb.lines[-1] == "stopped", sb.lines
    # the kernel removes the veth with the namespace, in the background
    assert wait_until(lambda: sb.ifname not in host_ends(), 10), host_ends()


def test_nat_reaches_the_outside_and_is_seen_as_the_host(world, rootfs, tmp_path):
    lines, out = run(rootfs, tmp_path, "nc -w 3 %s %d </dev/null" % (WEB, world["port"]),
                     "--net", "nat")
    assert lines[-1] == "exit 0", (lines, out)
    # The listener saw the host's address on its link: NAT.
    assert out.strip() == "hello %s:%d from %s" % (WEB, world["port"], LINK_HOST), out


def test_nat_cannot_reach_the_hosts_own_services(world, rootfs, tmp_path, host_listeners, srv):
    any_port, lo_port = host_listeners["any"], host_listeners["loopback"]
    me = host_address()
    # Each would answer (from the host itself): the addresses are right.
    with Sandbox(rootfs, tmp_path, "--net", "nat") as sb:
        assert sb.started, sb.lines
        for addr in (sb.host_end, LINK_HOST) + ((me,) if me else ()):
            assert (connect(addr, any_port) or "").startswith("hello host"), addr
        assert (connect("127.0.0.1", lo_port) or "").startswith("hello host")
        socket.create_connection(("127.0.0.1", srv.port), 3).close()  # magsd's API
        targets = [(sb.host_end, any_port), (LINK_HOST, any_port),
                   (sb.host_end, lo_port), (sb.host_end, srv.port),
                   (WEB, world["port"])]
        if me:
            targets += [(me, any_port), (me, srv.port)]
        code, out = sb.exec(probes(targets))
    v = verdicts(out)
    assert v.pop("%s:%d" % (WEB, world["port"])) == "OPEN", out  # the probe itself works
    assert v and set(v.values()) == {"CLOSED"}, out


def test_nat_cannot_reach_the_metadata_address(world, rootfs, tmp_path):
    # It answers, from the host:
    assert connect(METADATA, world["port"]).startswith("hello " + METADATA)
    lines, out = run(rootfs, tmp_path, probes([(METADATA, world["port"]),
                                                (WEB, world["port"])]), "--net", "nat")
    v = verdicts(out)
    assert v == {"%s:%d" % (METADATA, world["port"]): "CLOSED",
                 "%s:%d" % (WEB, world["port"]): "OPEN"}, (lines, out)


def test_nat_cannot_reach_another_sandbox(world, rootfs, tmp_path):
    with Sandbox(rootfs, tmp_path, "--net", "nat", index=INDEX0 + 1) as a, \
            Sandbox(rootfs, tmp_path, "--net", "nat", index=INDEX0 + 2) as b:
        assert a.started and b.started, (a.lines, b.lines)
        code, out = a.exec("nc -ll -p 8000 -e /bin/echo hello-from-a >/dev/null 2>&1 &")
        assert code == 0, out
        # It answers the host (the proxy's path) ...
        assert wait_until(lambda: connect(a.ip, 8000) == "hello-from-a\n", 10)
        # ... and it answers inside its own sandbox.
        assert "hello-from-a" in a.exec("nc -w 2 127.0.0.1 8000 </dev/null")[1]
        # Not another sandbox: its address, nor its host end, nor our own
        # host end to get at it.
        code, out = b.exec(probes([(a.ip, 8000), (a.host_end, 8000), (WEB, world["port"])]))
        v = verdicts(out)
        assert v == {"%s:8000" % a.ip: "CLOSED", "%s:8000" % a.host_end: "CLOSED",
                     "%s:%d" % (WEB, world["port"]): "OPEN"}, out
        # ICMP neither (ping works without CAP_NET_RAW inside).
        code, out = b.exec("ping -c 1 -W 1 %s" % a.ip)
        assert code != 0, out


def test_allow_list_limits_egress(world, rootfs, tmp_path):
    before = jobs_elements()
    with Sandbox(rootfs, tmp_path, "--net", "nat", "--net-allow", "198.51.100.0/25") as sb:
        assert sb.started, sb.lines
        assert len(jobs_elements()) == len(before) + 1
        code, out = sb.exec(probes([(WEB, world["port"]), (WEB_HIGH, world["port"]),
                                    (METADATA, world["port"])]))
    v = verdicts(out)
    assert v == {"%s:%d" % (WEB, world["port"]): "OPEN",
                 "%s:%d" % (WEB_HIGH, world["port"]): "CLOSED",
                 "%s:%d" % (METADATA, world["port"]): "CLOSED"}, out
    # .200 answers the host: the list, not the listener, kept it out.
    assert connect(WEB_HIGH, world["port"]).startswith("hello " + WEB_HIGH)
    assert jobs_elements() == before
    # Without the list the same sandbox reaches both.
    lines, out = run(rootfs, tmp_path, probes([(WEB, world["port"]),
                                                (WEB_HIGH, world["port"])]), "--net", "nat")
    assert set(verdicts(out).values()) == {"OPEN"}, out


@pytest.mark.parametrize("flags", [(), ("--net", "none")])
def test_none_reaches_nothing(world, rootfs, tmp_path, flags):
    lines, out = run(rootfs, tmp_path,
                     "ip -o link | cut -d: -f2; ls /etc/resolv.conf 2>&1; " +
                     probes([(WEB, world["port"]), (LINK_HOST, world["port"]),
                             ("127.0.0.1", world["port"])]), *flags)
    assert lines[-1] == "exit 0", (lines, out)
    assert not any(l.startswith("net ") for l in lines), lines
    assert [l.strip() for l in out.splitlines()[:1]] == ["lo"], out
    assert "No such file" in out, out  # mags wrote no resolv.conf
    assert set(verdicts(out).values()) == {"CLOSED"}, out


def test_net_addr_picks_the_link(world, rootfs, tmp_path):
    lines, out = run(rootfs, tmp_path, "ip -4 -o addr show dev eth0",
                     "--net", "nat", "--net-addr", "10.200.250.0/30")
    assert lines[1] == "net 10.200.250.2", lines
    assert "10.200.250.2/30" in out, out
    lines, out = run(rootfs, tmp_path, "true", "--net", "nat", "--net-addr", "10.9.0.0/30")
    assert lines[-1].startswith("error args: invalid --net-addr"), lines


def test_a_taken_link_is_refused_and_left_alone(world, rootfs, tmp_path):
    with Sandbox(rootfs, tmp_path, "--net", "nat", index=INDEX0 + 3) as a:
        assert a.started, a.lines
        lines, out = run(rootfs, tmp_path, "true", "--net", "nat", index=INDEX0 + 3)
        assert lines[-1].startswith("error network: interface '%s' exists" % a.ifname), lines
        # The first one still has its network.
        code, out = a.exec("nc -w 3 %s %d </dev/null" % (WEB, world["port"]))
        assert out.startswith("hello"), out
    assert wait_until(lambda: a.ifname not in host_ends(), 10), host_ends()


def test_concurrent_sandboxes_get_their_own_links(world, rootfs, tmp_path):
    def one(i):
        return run(rootfs, tmp_path, "nc -w 3 %s %d </dev/null" % (WEB, world["port"]),
                   "--net", "nat", index=INDEX0 + 10 + i)
    with ThreadPoolExecutor(8) as ex:
        results = list(ex.map(one, range(8)))
    ips = [lines[0] for lines, _ in results]
    assert len(set(ips)) == 8, ips
    for lines, out in results:
        assert lines[-1] == "exit 0" and out.startswith("hello"), (lines, out)


def test_net_setup_is_idempotent_and_teardown_waits_for_sandboxes(world, rootfs, tmp_path):
    before = nft_table()
    for _ in range(2):
        r = sh(str(RUNTIME), "net-setup", check=False)
        assert r.returncode == 0, r.stderr
    assert nft_table() == before
    with Sandbox(rootfs, tmp_path, "--net", "nat", "--net-allow", "198.51.100.0/25") as sb:
        assert sb.started
        elements = jobs_elements()
        # A magsd restart re-runs net-setup: running sandboxes keep their lists.
        assert sh(str(RUNTIME), "net-setup", check=False).returncode == 0
        assert jobs_elements() == elements
        r = sh(str(RUNTIME), "net-teardown", check=False)
        assert r.returncode == 1 and "still on the network" in r.stderr, r.stderr
        assert nft_table() is not None
    assert open("/proc/sys/net/ipv4/ip_forward").read().strip() == "1"


def test_two_hundred_runs_leave_nothing_behind(world, rootfs, tmp_path):
    chains_before, elements_before = allow_chains(), jobs_elements()
    for i in range(200):
        flags = ["--net", "nat"]
        if i % 10 == 0:
            flags += ["--net-allow", "198.51.100.0/25"]
        lines, out = run(rootfs, tmp_path, "true", *flags, index=INDEX0 + 100 + i % 7)
        assert lines[-1] == "exit 0", (i, lines, out)
    assert wait_until(lambda: not [n for n in host_ends() if int(n[2:]) >= INDEX0], 10), host_ends()
    assert allow_chains() == chains_before
    assert jobs_elements() == elements_before
    # Nothing left in the guard either: no packet tried to leave the machine.
    assert "packets 0 " in sh("nft", "list", "table", "inet", GUARD).stdout


def test_latency_nat_vs_none(world, rootfs, tmp_path):
    """Wall time of a `true` run with and without a network (printed)."""
    times = {(m, k): [] for m in ("none", "nat") for k in ("started", "end")}
    for i in range(30):
        for mode in ("none", "nat"):
            t = {}
            lines, _ = run(rootfs, tmp_path, "true", "--net", mode, index=INDEX0 + 200,
                           timing=t)
            assert lines[-1] == "exit 0", lines
            for k in ("started", "end"):
                times[(mode, k)].append(t[k] * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    for k in ("started", "end"):
        print("\nmedian ms to '%s': none %.1f, nat %.1f (+%.1f)"
              % ("started" if k == "started" else "exit", med[("none", k)],
                 med[("nat", k)], med[("nat", k)] - med[("none", k)]), end="")
    print()
    assert med[("nat", "end")] - med[("none", "end")] < 100, med


def test_net_setup_removes_allow_lists_of_vanished_sandboxes(world):
    # What a SIGKILLed supervisor leaves: a chain and its map entry, keyed
    # by an ifindex no interface has.
    dead = 2_000_000_000
    script = ("add chain inet mags allow_{d}\n"
              "add rule inet mags allow_{d} drop\n"
              "add element inet mags jobs {{ {d} : jump allow_{d} }}\n"
              "add chain inet mags allow_{e}\n").format(d=dead, e=dead + 1)
    subprocess.run(["nft", "-f", "/dev/stdin"], input=script, text=True, check=True)
    assert {"allow_%d" % dead, "allow_%d" % (dead + 1)} <= set(allow_chains())
    r = sh(str(RUNTIME), "net-setup", check=False)
    assert r.returncode == 0, r.stderr
    assert not {"allow_%d" % dead, "allow_%d" % (dead + 1)} & set(allow_chains())
    assert not [e for e in jobs_elements() if str(dead) in e]
