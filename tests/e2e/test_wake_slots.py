"""Wake on another uid slot (issue 4 + the warm pool, issue 8).

A sleeping sandbox wakes in whatever sandbox is ready: a pool member with
another uid range than the one it slept in. The workspace is idmapped into
the new sandbox's user namespace, so what the sandbox wrote (owners, modes,
an executable script) must look the same after every wake.
"""
from conftest import make_server, wait_until

import pytest


@pytest.fixture(scope="module")
def ws(session_dir, image_cache):
    # magsd's default pool, set here so MAGS_TEST_POOL (make e2e-pool) leaves
    # it alone: the test is about wakes landing in pool members of other slots
    s = make_server(session_dir, image_cache, "wakeslots",
                    conf={"idle_timeout": 600, "proxy_listen": "off", "ssh_listen": "off",
                          "pool_min": 1, "pool_max": 8})
    yield s
    s.stop()


def status(s, ref):
    return s.api("GET", "/mags-jobs/%s/status" % ref).json


def exec_(s, ref, command):
    r = s.api("POST", "/mags-jobs/%s/exec" % ref, {"command": command}, timeout=60)
    assert r.status == 200, r
    return r.json


def uid_base(s, ref):
    out = exec_(s, ref, "cat /proc/self/uid_map")["stdout"].split()
    return int(out[1])


def test_files_keep_owner_and_mode_across_wakes_on_other_slots(ws):
    # other sandboxes come and go, so wakes land on other slots
    jid = ws.submit("sleep infinity", name="slots", workspace_id="slots", persistent=True,
                    no_sync=True, startup_command="sleep infinity", idle_timeout=2)
    assert wait_until(lambda: status(ws, jid)["status"] == "running", 30)
    r = exec_(ws, jid, "printf '#!/bin/sh\\necho ran\\n' > /root/x.sh && chmod 755 /root/x.sh"
              " && mkdir -p /root/d && chown 1000:1000 /root/d && chmod 700 /root/d")
    assert r["exit_code"] == 0, r
    bases = {uid_base(ws, jid)}
    others = []
    for i in range(4):
        assert wait_until(lambda: status(ws, jid)["status"] == "sleeping", 20), status(ws, jid)
        # hold the slot it slept in (and the pool's next member) with other sandboxes
        others.append(ws.submit("sleep 60", name="hold%d" % i))
        r = exec_(ws, jid, "/root/x.sh && stat -c '%u:%g %a' /root/x.sh /root/d")
        assert r["exit_code"] == 0, r
        assert r["stdout"] == "ran\n0:0 755\n1000:1000 700\n", r
        bases.add(uid_base(ws, jid))
    for o in others:
        ws.api("POST", "/mags-jobs/%s/stop" % o, {})
    assert len(bases) > 1, "every wake landed on the same uid range: %r" % bases
