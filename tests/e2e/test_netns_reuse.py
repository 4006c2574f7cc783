"""Kept network namespaces (issue 8): a sandbox's network namespace is made
by its runtime and owned by the host's user namespace; when the sandbox is
gone magsd keeps it, link and all, and the next sandbox of that link gets
it instead of a new one (network namespaces are slow to make and slower to
destroy). netns_keep bounds how many wait unused; magsd's exit lets them go.

Reuse must never carry anything from one job to the next: no process, no
listening socket, no allow list; and the sandbox cannot change the
namespace it is lent.
"""
import os
import re

import pytest

from conftest import make_server, need, wait_until
from test_network import WEB, WEB_HIGH, host_ends, probes, verdicts, world  # noqa: F401
from test_pool import runtime_of

NS = re.compile(r"^NS net:\[(\d+)\]$", re.M)
ADDR = re.compile(r"inet (10\.200\.(\d+)\.(\d+))/30")
WHO = "echo NS $(readlink /proc/self/ns/net); ip -4 -o addr show dev eth0"


@pytest.fixture(scope="module")
def keep_srv(session_dir, image_cache):
    """No warm pool (each job takes the most recently freed link, so
    consecutive jobs share one), at most two namespaces kept."""
    need(os.geteuid() == 0, "needs root")
    s = make_server(session_dir, image_cache, "netnskeep",
                    conf={"pool_min": 0, "pool_max": 0, "netns_keep": 2})
    need("sandbox network: nat" in s.log_path.read_text(errors="replace"),
         "magsd could not set up the sandbox network here:\n" + s.log_tail(20))
    yield s
    s.stop()


def who(srv, script="", token="alice", **fields):
    st, out, err, _ = srv.run(WHO + "\n" + script, token=token, **fields)
    assert st["status"] == "completed", (st, out, err)
    # a job without a workspace is over for its client at its exit line;
    # its runtime then still reaps, and only its exit frees the link
    assert wait_until(lambda: not runtime_of(st["request_id"]), 10)
    ns = NS.search(out)
    addr = ADDR.search(out)
    assert ns and addr, out
    ifname = "mg%d" % ((int(addr.group(2)) * 256 + int(addr.group(3))) // 4)
    return ns.group(1), addr.group(1), ifname, out


def test_the_next_job_of_a_link_gets_its_namespace(keep_srv):
    ns1, ip1, if1, _ = who(keep_srv)
    # between the jobs the link stays, with its namespace
    assert if1 in host_ends()
    ns2, ip2, if2, _ = who(keep_srv)
    assert (ns2, ip2, if2) == (ns1, ip1, if1)
    # the sandbox still has its own interfaces only
    _, _, _, out = who(keep_srv, "ls /sys/class/net")
    assert sorted(out.split("\n")[-3:-1]) == ["eth0", "lo"], out


def test_a_namespace_is_never_lent_to_another_tenant(keep_srv):
    ns_a, _, _, _ = who(keep_srv, token="alice")
    # bob's job finds alice's namespace spare, on top, and must not get it
    ns_b, _, _, _ = who(keep_srv, token="bob")
    assert ns_b != ns_a
    # ... while alice's next job does (bob's is now the newer spare)
    ns_a2, _, _, _ = who(keep_srv, token="alice")
    assert ns_a2 == ns_a
    ns_b2, _, _, _ = who(keep_srv, token="bob")
    assert ns_b2 == ns_b


def test_a_pooled_sandbox_gets_no_other_tenant_s_namespace(session_dir, image_cache):
    """With a warm pool, members are built before their job's user is
    known: a member in a namespace alice's sandbox used serves alice only."""
    need(os.geteuid() == 0, "needs root")
    s = make_server(session_dir, image_cache, "netnspool",
                    conf={"pool_min": 2, "pool_max": 2, "netns_keep": 8})
    try:
        seen = {"alice": set(), "bob": set()}
        for _ in range(6):
            for user in ("alice", "bob"):
                ns, _, _, _ = who(s, token=user)
                seen[user].add(ns)
        assert not seen["alice"] & seen["bob"], seen
    finally:
        s.stop()


def test_nothing_of_the_last_job_stays(keep_srv):
    # job 1 leaves a listener and a file behind in the background
    ns1, _, _, _ = who(keep_srv, "(nc -l -p 8080 >/dev/null 2>&1 &) ; "
                                 "(sleep 60 &) ; echo left > /tmp/left")
    ns2, _, _, out = who(keep_srv, "cat /proc/net/tcp; ls /tmp; "
                                   "ps -o pid,comm 2>/dev/null || ps")
    assert ns2 == ns1
    # no socket listens (state 0A) in the namespace, no process is left
    assert not re.search(r":1F90 00000000:0000 0A", out), out
    assert "left" not in out and "sleep" not in out and "nc" not in out.split(), out
    # the port is free: job 2 can listen on it
    st, out, _, _ = keep_srv.run(WHO + "\n(nc -l -p 8080 & p=$!; sleep 0.3; "
                                 "kill -0 $p && echo LISTENING; kill $p)")
    assert NS.search(out).group(1) == ns1 and "LISTENING" in out, out


def test_an_allow_list_ends_with_its_job(keep_srv, world):
    port = world["port"]
    ns1, _, _, out = who(keep_srv, probes([(WEB, port), (WEB_HIGH, port)]),
                         network={"allow": ["198.51.100.0/25"]})
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "CLOSED"}, out
    ns2, _, _, out = who(keep_srv, probes([(WEB, port), (WEB_HIGH, port)]))
    assert ns2 == ns1
    assert verdicts(out) == {"%s:%d" % (WEB, port): "OPEN",
                             "%s:%d" % (WEB_HIGH, port): "OPEN"}, out


def test_the_sandbox_cannot_change_the_namespace_it_is_lent(keep_srv):
    ns1, ip1, _, out = who(keep_srv, "ip addr add 10.9.9.9/32 dev eth0 && echo ADDED; "
                                     "ip link set eth0 down && echo DOWN; "
                                     "ip route del default && echo ROUTE; "
                                     "ip link add x0 type dummy && echo DUMMY; "
                                     "echo 1 > /proc/sys/net/ipv4/ip_forward && echo FWD; true")
    for word in ("ADDED", "DOWN", "ROUTE", "DUMMY", "FWD"):
        assert word not in out.split(), out
    ns2, ip2, _, out = who(keep_srv, "ip route")
    assert (ns2, ip2) == (ns1, ip1)
    assert "default via" in out and "10.9.9.9" not in out, out


def test_low_ports_in_a_namespace_the_host_owns(keep_srv):
    # the sandbox's root has no CAP_NET_BIND_SERVICE over a namespace the
    # host owns: the namespace opens every port to every user instead
    _, _, _, out = who(keep_srv, "cat /proc/sys/net/ipv4/ip_unprivileged_port_start; "
                                 "(nc -l -p 80 & p=$!; sleep 0.3; kill -0 $p && echo BOUND80; "
                                 "kill $p)")
    assert "BOUND80" in out, out
    assert re.search(r"^0$", out, re.M), out


def test_kept_namespaces_are_bounded_and_go_with_magsd(session_dir, image_cache):
    need(os.geteuid() == 0, "needs root")
    s = make_server(session_dir, image_cache, "netnsbound",
                    conf={"pool_min": 0, "pool_max": 0, "netns_keep": 2})
    try:
        jids = [s.submit(WHO + "\nsleep 1") for _ in range(5)]
        names = set()
        for j in jids:
            assert s.wait(j, timeout=60)["status"] == "completed"
            out = "".join(l["message"] + "\n" for l in s.logs(j))
            a = ADDR.search(out)
            names.add("mg%d" % ((int(a.group(2)) * 256 + int(a.group(3))) // 4))
        assert len(names) == 5, names
        # two wait for reuse, the kernel removes the other three
        assert wait_until(lambda: len(names & set(host_ends())) == 2, 30), \
            names & set(host_ends())
    finally:
        s.stop()
    assert wait_until(lambda: not names & set(host_ends()), 30), names & set(host_ends())
