"""The sandbox network of jobs (issue 5), through magsd's API.

magsd runs `mags-runtime net-setup` at start and gives every job a link
(eth0 10.200.x.y/30, default route via the host end mg<i>) and NAT egress,
unless the job says `"network": "none"`, or `{"allow": [CIDR, ...]}` to
limit egress, or the server's `network` setting is `none`. The runtime
itself is tested in test_network.py; its test "outside" (a namespace
holding 198.51.100.0/24, and a guard table that drops anything a sandbox
sends off the machine) is reused here for the egress tests.
"""
import os
import re
import shutil
import socket
import threading

import pytest

import conftest
from conftest import make_server, need, wait_until
from test_network import WEB, WEB_HIGH, host_ends, probes, verdicts, world  # noqa: F401

POOL = re.compile(r"inet (10\.200\.(\d+)\.(\d+))/30")
SHOW = "ip -4 -o addr show dev eth0; ip route; ls /sys/class/net; wc -l < /proc/net/route"


def have_tools():
    return all(shutil.which(t) for t in ("ip", "nft"))


@pytest.fixture(scope="module")
def nat_srv(session_dir, image_cache):
    """A server that keeps no network namespace for reuse (netns_keep 0),
    so each job's link lives and dies with it (reuse: test_netns_reuse.py)."""
    need(os.geteuid() == 0, "needs root")
    need(have_tools(), "ip or nft not installed (scripts/install-deps.sh)")
    srv = make_server(session_dir, image_cache, "jobnet", conf={"netns_keep": 0})
    need("sandbox network: nat" in srv.log_path.read_text(errors="replace"),
         "magsd could not set up the sandbox network here:\n" + srv.log_tail(20))
    yield srv
    srv.stop()


def link_of(out):
    """(sandbox ip, host end ip, host end name) from `ip addr` output."""
    m = POOL.search(out)
    assert m, out
    ip, b, c = m.group(1), int(m.group(2)), int(m.group(3))
    index = (b * 256 + c) // 4
    return ip, "10.200.%d.%d" % (b, c - 1), "mg%d" % index


def interfaces(out):
    return sorted(l.strip() for l in out.splitlines() if l.strip() in ("lo", "eth0")
                  or l.strip().startswith(("eth", "mg", "ens", "wl", "docker")))


def test_a_job_has_eth0_and_a_default_route(nat_srv):
    st, out, err, _ = nat_srv.run(SHOW)
    assert st["status"] == "completed", (st, out, err)
    ip, gw, ifname = link_of(out)
    assert "default via %s dev eth0" % gw in out, out
    assert interfaces(out) == ["eth0", "lo"], out
    index = int(ifname[2:])
    assert 1 <= index < 8192, ifname  # magsd's part of the pool
    # the address is internal: not in the job object
    assert ip not in nat_srv.api("GET", "/mags-jobs/%s" % st["request_id"]).body
    assert wait_until(lambda: ifname not in host_ends(), 10)  # gone with the job


def test_network_none_is_loopback_only(nat_srv):
    st, out, _, _ = nat_srv.run(SHOW, network="none")
    assert st["status"] == "completed", (st, out)
    assert interfaces(out) == ["lo"], out
    assert out.rstrip().endswith("1"), out  # /proc/net/route: the header only
    assert "10.200." not in out, out
    st, out, _, _ = nat_srv.run(SHOW, network="nat")
    assert interfaces(out) == ["eth0", "lo"], out


@pytest.mark.parametrize("network,msg", [
    ("host", "'network' must be"),
    (5, "'network' must be"),
    ({"allow": []}, "network.allow"),
    ({"allow": "198.51.100.0/24"}, "network.allow"),
    ({"allow": ["198.51.100.7/24"]}, "entry 0"),
    ({"allow": ["198.51.100.0/24", "exa_mple.com"]}, "entry 1"),
    ({"allow": ["2001:db8::/32"]}, "entry 0"),
    ({"allow": ["10.0.%d.0/24" % i for i in range(65)]}, "1 to 64"),
    ({"allow": ["198.51.100.0/24"], "deny": ["0.0.0.0/0"]}, "unknown key"),
])
def test_bad_network_is_400(srv, network, msg):
    r = srv.api("POST", "/mags-jobs", {"script": "true", "network": network})
    assert r.status == 400, r
    assert msg in r.json["error"], r


def test_an_allow_list_job_runs_with_a_link(nat_srv):
    st, out, _, _ = nat_srv.run(SHOW, network={"allow": ["198.51.100.0/25", "203.0.113.9"]})
    assert st["status"] == "completed", (st, out)
    assert interfaces(out) == ["eth0", "lo"], out


def test_egress_nat_and_allow_list(nat_srv, world):
    port = world["port"]
    st, out, _, _ = nat_srv.run(probes([(WEB, port), (WEB_HIGH, port)]))
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "OPEN"}, (st, out)
    st, out, _, _ = nat_srv.run(probes([(WEB, port), (WEB_HIGH, port)]),
                                network={"allow": ["198.51.100.0/25"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "CLOSED"}, (st, out)
    st, out, _, _ = nat_srv.run(probes([(WEB, port)]), network="none")
    assert verdicts(out) == {"%s:%d" % (WEB, port): "CLOSED"}, (st, out)


class Listener:
    """A TCP server bound to one host address that greets every client."""

    def __init__(self, addr, port=0):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with c:
                c.sendall(b"hello host\n")

    def close(self):
        self.sock.close()


def test_the_host_is_not_reachable_through_the_gateway(nat_srv):
    """A listener on the host end's own address (so the host answers there)
    and magsd's port: the sandbox reaches neither through its gateway."""
    lport = conftest.free_port()
    script = (
        "ip -4 -o addr show dev eth0\n"
        "gw=$(ip route | awk '/^default/ {print $3}')\n"
        "i=0; while [ $i -lt 4 ]; do i=$((i+1))\n"
        "  for p in %d %d; do\n"
        "    if nc -w 1 $gw $p </dev/null 2>/dev/null | grep -q .; then echo \"OPEN $gw:$p\"; fi\n"
        "  done; sleep 0.2\n"
        "done; echo probed\n" % (lport, nat_srv.port))
    jid = nat_srv.submit(script)
    out = wait_until(lambda: "\n".join(l["message"] for l in nat_srv.logs(jid)), 20)
    _, gw, _ = link_of(out)
    # the host end exists now: listen on its address
    listener = Listener(gw, lport)
    try:
        # control: the host itself is answered there while the job probes
        with socket.create_connection((gw, lport), 2) as c:
            assert c.recv(20) == b"hello host\n"
        st = nat_srv.wait(jid, timeout=60)
    finally:
        listener.close()
    out = "\n".join(l["message"] for l in nat_srv.logs(jid))
    assert st["status"] == "completed" and "probed" in out, (st, out)
    assert "OPEN" not in out, out


def test_fifty_jobs_leave_no_interface_behind(nat_srv):
    ids = []
    for batch in range(5):
        jids = [nat_srv.submit("ip -4 -o addr show dev eth0") for _ in range(10)]
        ids += jids
        for j in jids:
            assert nat_srv.wait(j, timeout=120)["status"] == "completed"
    names, ips = set(), set()
    for j in ids:
        out = "\n".join(l["message"] for l in nat_srv.logs(j))
        ip, _, ifname = link_of(out)
        names.add(ifname)
        ips.add((j, ip))
    # the kernel removes each veth with its namespace, in the background
    assert wait_until(lambda: not set(host_ends()) & names, 10), set(host_ends()) & names
    # every job had a link of its own among the ten running at once
    assert len(names) >= 10, names


def test_server_setting_none_turns_the_network_off(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "netnone", conf={"network": "none"})
    try:
        assert "network off (network = none)" in s.log_path.read_text()
        st, out, _, _ = s.run(SHOW, network="nat")
        assert st["status"] == "completed", (st, out)
        assert interfaces(out) == ["lo"], out
        # an allow list cannot widen it either
        st, out, _, _ = s.run(SHOW, network={"allow": ["198.51.100.0/24"]})
        assert interfaces(out) == ["lo"], out
    finally:
        s.stop()


def test_a_failed_net_setup_means_loopback_only(session_dir, image_cache, monkeypatch, tmp_path):
    """No nftables on the host (here: a runtime whose net-setup fails):
    magsd says why in its log and runs jobs with loopback only."""
    need(os.geteuid() == 0, "needs root")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shutil.copy2(str(conftest.MAGSD), str(bindir / "magsd"))
    fake = bindir / "mags-runtime"
    fake.write_text("#!/bin/sh\n"
                    "if [ \"$1\" = net-setup ]; then\n"
                    "  echo 'nft: not found (test)' >&2; exit 1\n"
                    "fi\n"
                    "exec %s \"$@\"\n" % conftest.RUNTIME)
    fake.chmod(0o755)
    monkeypatch.setattr(conftest, "MAGSD", bindir / "magsd")
    s = make_server(session_dir, image_cache, "netfail")
    try:
        log = s.log_path.read_text()
        assert "sandbox network unavailable" in log and "nft: not found (test)" in log, log
        st, out, _, _ = s.run(SHOW)
        assert st["status"] == "completed", (st, out)
        assert interfaces(out) == ["lo"], out
    finally:
        s.stop()
