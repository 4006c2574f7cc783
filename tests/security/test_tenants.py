"""Other tenants: another user's API objects, and another sandbox's
processes, IPC, shared memory, sockets and network; the host's services."""
import random
import re
import socket
import uuid

import pytest

from .conftest import (PROBE, upload, host_pids_with_cmdline, proc_status,
                       results, stop, wait_until)

# Every route that takes a job id: those that exist now, and those the
# design adds (exec, sync, access, PATCH): a foreign token must get exactly
# what a missing id gets, and never 200 or 403 (DESIGN.md §5: "another
# user's object is a 404").
JOB_ROUTES = [
    ("GET", "/mags-jobs/{id}/status", True),
    ("GET", "/mags-jobs/{id}", True),
    ("GET", "/mags-jobs/{id}/logs", True),
    ("GET", "/mags-jobs/{id}/logs?follow=1", True),
    ("POST", "/mags-jobs/{id}/stop", True),
    ("POST", "/mags-jobs/{id}/exec", False),
    ("POST", "/mags-jobs/{id}/sync", False),
    ("POST", "/mags-jobs/{id}/access", False),
    ("PATCH", "/mags-jobs/{id}", False),
    ("DELETE", "/mags-jobs/{id}", False),
    ("GET", "/mags-jobs/{id}/files", False),
]


@pytest.fixture(scope="module")
def alice_job(sec_srv):
    jid = sec_srv.submit("echo alice-secret; sleep 60", timeout=120)
    sec_srv.wait(jid, states=("running",))
    wait_until(lambda: sec_srv.logs(jid), 5)
    yield jid
    stop(sec_srv, jid)


@pytest.mark.parametrize("method,path,exists", JOB_ROUTES,
                         ids=["%s %s" % (m, p) for m, p, _ in JOB_ROUTES])
def test_foreign_token_gets_404_like_a_missing_job(sec_srv, alice_job, method, path, exists):
    # Anchor: OWASP API1:2023 (broken object level authorization); GitHub
    # answers 404 for private repositories so existence does not leak.
    body = {"command": "id", "port": 22, "name": "x"} if method in ("POST", "PATCH") else None
    theirs = sec_srv.api(method, path.format(id=alice_job), body, token="bob", timeout=10)
    missing = sec_srv.api(method, path.format(id=str(uuid.uuid4())), body, token="bob",
                          timeout=10)
    assert theirs.status not in (200, 201, 202, 204, 403), theirs
    assert theirs.status == missing.status, (theirs, missing)
    assert (theirs.json or {}).get("code") == (missing.json or {}).get("code"), (theirs, missing)
    assert "alice-secret" not in theirs.body
    if exists:
        assert theirs.status == 404, theirs
    # Control: the owner reaches the same route (not for follow: it
    # streams until the job ends).
    if exists and "follow" not in path and method == "GET":
        assert sec_srv.api(method, path.format(id=alice_job)).status == 200
    # And the job is still alice's and still running.
    assert sec_srv.status(alice_job)["status"] == "running"


def test_foreign_list_does_not_show_the_job(sec_srv, alice_job):
    # Anchor: OWASP API1 (object listing across tenants).
    r = sec_srv.api("GET", "/mags-jobs?page_size=100", token="bob")
    assert r.status == 200
    assert alice_job not in r.body
    assert alice_job in sec_srv.api("GET", "/mags-jobs?page_size=100").body  # control


@pytest.mark.parametrize("tok", ["", "Bearer", "Bearer x", "Basic YWxpY2U6eA==",
                                 "Bearer {alice}x", "Bearer {alice} {bob}",
                                 "Bearer {alice_prefix}", "Token {alice}"])
def test_malformed_or_forged_tokens_get_401(sec_srv, alice_job, tok):
    # Anchor: token confusion / prefix matching bugs (CVE-2020-15157-style
    # credential handling); every route checks the token before routing.
    a = sec_srv.tokens["alice"]
    hdr = tok.format(alice=a, bob=sec_srv.tokens["bob"], alice_prefix=a[:-1])
    r = sec_srv.api("GET", "/mags-jobs/%s/logs" % alice_job, token=None,
                    headers={"Authorization": hdr} if hdr else None)
    assert r.status == 401, r
    assert "alice-secret" not in r.body


def _run_bg(srv, script, mark_argv):
    jid = srv.submit(script, timeout=60)
    assert wait_until(lambda: host_pids_with_cmdline(*mark_argv), 15), mark_argv
    return jid


def test_kill_all_in_one_sandbox_spares_the_neighbour(sec_srv):
    # Anchor: pid namespaces (Docker `--pid=host` escapes); `kill -9 -1`
    # as root inside must reach only its own sandbox.
    mark = str(random.randint(800000, 849999))
    a = _run_bg(sec_srv, "sleep %s" % mark, ("sleep", mark))
    try:
        host_sleep = __import__("subprocess").Popen(["sleep", str(int(mark) + 1)])
        st, out, _, _ = sec_srv.run("kill -9 -1; sleep 0.2; echo done")
        assert sec_srv.status(a)["status"] == "running"
        assert host_sleep.poll() is None
        assert host_pids_with_cmdline("sleep", mark)
        host_sleep.kill()
        host_sleep.wait()
    finally:
        stop(sec_srv, a)


def test_neighbours_have_distinct_host_id_ranges(sec_srv):
    # Anchor: Docker userns-remap maps every container to one range; an
    # escape to the host uid level then reaches every neighbour's files.
    # LXD's isolated idmaps: one range per sandbox.
    m1, m2 = str(random.randint(850000, 899999)), str(random.randint(900000, 949999))
    a = _run_bg(sec_srv, "sleep %s" % m1, ("sleep", m1))
    b = _run_bg(sec_srv, "sleep %s" % m2, ("sleep", m2))
    try:
        u1 = int(proc_status(host_pids_with_cmdline("sleep", m1)[0])["Uid"].split()[0])
        u2 = int(proc_status(host_pids_with_cmdline("sleep", m2)[0])["Uid"].split()[0])
        assert u1 >= 100000 and u2 >= 100000
        assert abs(u1 - u2) >= 65536, (u1, u2)
    finally:
        stop(sec_srv, a)
        stop(sec_srv, b)


@pytest.fixture(scope="module")
def neighbour(sec_srv):
    """Sandbox A: SysV IPC objects, a /dev/shm file, a /tmp file, an
    abstract unix socket and a loopback TCP listener, then asleep."""
    name = "mags-sec-%d" % random.randint(0, 1 << 30)
    port = random.randint(20000, 30000)
    mark = str(random.randint(950000, 999999))
    jid = sec_srv.submit(
        "%s ipc_make; %s ipc_shm; %s ipc_msg; %s ipc_sem; "
        "echo secret > /dev/shm/mags-sec-shm; ls /dev/shm; "
        "%s listen %s %d & sleep 0.3; "
        "%s conn_abstract %s; %s conn_tcp 127.0.0.1 %d; echo ready; sleep %s"
        % (PROBE, PROBE, PROBE, PROBE, PROBE, name, port, PROBE, name, PROBE, port, mark),
        timeout=120)
    assert wait_until(lambda: host_pids_with_cmdline("sleep", mark), 15)
    assert wait_until(lambda: any(l["message"] == "ready" for l in sec_srv.logs(jid)), 5)
    out = "".join(l["message"] + "\n" for l in sec_srv.logs(jid))
    yield {"jid": jid, "name": name, "port": port, "out": out, "r": results(out)}
    stop(sec_srv, jid)


@pytest.mark.parametrize("kind", ["shm", "msg", "sem"])
def test_sysv_ipc_of_a_neighbour_is_invisible(sec_srv, neighbour, kind):
    # Anchor: Docker `--ipc=host` / shared IPC namespaces (SysV keys are
    # global within an ipc namespace). Control: A itself finds its key.
    assert neighbour["r"]["ipc_" + kind][0] == "OK", neighbour["out"]
    st, out, _, _ = sec_srv.run("%s ipc_%s; ipcs" % (PROBE, kind))
    kind_, code = results(out)["ipc_" + kind]
    assert kind_ == "ERR" and code == 2, out  # ENOENT
    assert "4d414753" not in out.lower(), out


def test_dev_shm_of_a_neighbour_is_invisible(sec_srv, neighbour):
    # Anchor: shared /dev/shm between containers (Docker --ipc=shareable
    # leaks POSIX shm). Control: A listed its own file.
    assert "mags-sec-shm" in neighbour["out"]
    st, out, _, _ = sec_srv.run("ls -A /dev/shm; cat /dev/shm/mags-sec-shm 2>/dev/null; echo end")
    assert out == "end\n", out


def test_abstract_unix_socket_of_a_neighbour_unreachable(sec_srv, neighbour):
    # Anchor: abstract unix sockets are per network namespace: the
    # containerd-shim escape CVE-2020-15257 used exactly this with
    # --net=host. Control: A connected to its own socket.
    assert neighbour["r"]["conn_abstract"][0] == "OK", neighbour["out"]
    st, out, _, _ = sec_srv.run("%s conn_abstract %s" % (PROBE, neighbour["name"]))
    assert results(out)["conn_abstract"][0] == "ERR", out


def test_loopback_of_a_neighbour_unreachable(sec_srv, neighbour):
    # Anchor: DESIGN.md §2 ("never to another sandbox"); Kubernetes pods
    # sharing a netns see each other's 127.0.0.1. Control: A reached its
    # own listener.
    assert neighbour["r"]["conn_tcp"][0] == "OK", neighbour["out"]
    st, out, _, _ = sec_srv.run("%s conn_tcp 127.0.0.1 %d" % (PROBE, neighbour["port"]))
    assert results(out)["conn_tcp"][0] == "ERR", out


def _host_ipv4():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("10.255.255.255", 1))
        return s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()


def test_magsd_port_unreachable_from_inside(sec_srv):
    # Anchor: DESIGN.md §2 ("never to the host's own services"); the
    # cloud-metadata / host-API class (e.g. the Docker API on
    # 127.0.0.1:2375). Control: the host reaches magsd on that port.
    with socket.create_connection(("127.0.0.1", sec_srv.port), 2):
        pass
    targets = ["127.0.0.1"] + ([_host_ipv4()] if _host_ipv4() else [])
    script = "; ".join("%s conn_tcp %s %d" % (PROBE, t, sec_srv.port) for t in targets)
    st, out, _, _ = sec_srv.run(script + "; wget -q -T 2 -O- http://127.0.0.1:%d/api/v1/whoami "
                                "2>&1 | head -c 200; echo" % sec_srv.port)
    lines = [l for l in out.splitlines() if l.startswith("RESULT")]
    assert len(lines) == len(targets), out
    assert all(" ERR " in l for l in lines), out
    assert "unauthorized" not in out and "error" not in out.lower().replace("wget", ""), out


def test_no_route_out_of_the_sandbox(sec_srv):
    # Anchor: DESIGN.md §2 (egress only through a policy): with
    # "network": "none" the only interface is lo and there is no route.
    st, out, _, _ = sec_srv.run("cat /proc/net/route | wc -l; ls /sys/class/net",
                                network="none")
    lines = out.split()
    assert lines[0] == "1" and lines[1:] == ["lo"], out


def test_gateway_is_not_the_host(sec_srv):
    # Anchor: issue 5 ("a sandbox can never reach the host's own
    # services"): by default a sandbox has eth0 and a default route via
    # the host end of its link; magsd's port there (and on the host's
    # address) is dropped by the firewall's input chain, not answered.
    st, out, _, _ = sec_srv.run("ls /sys/class/net; ip route")
    m = re.search(r"default via (\S+) dev eth0", out)
    if not m:
        pytest.skip("no sandbox network on this server: " + out)
    targets = [m.group(1)] + ([_host_ipv4()] if _host_ipv4() else [])
    script = "; ".join("%s conn_tcp %s %d" % (PROBE, t, sec_srv.port) for t in targets)
    st, out, _, _ = sec_srv.run(script)
    lines = [l for l in out.splitlines() if l.startswith("RESULT")]
    assert len(lines) == len(targets) and all(" ERR " in l for l in lines), out


# ---- other API objects of another user (workspaces, uploads, cron, tokens) --

@pytest.fixture(scope="module")
def alice_objects(sec_srv):
    """alice's workspace, upload, cron job and token id (whatever exists
    in this build; a route that does not exist yet answers 404 to both
    users and the matrix below still holds)."""
    objs = {}
    st, out, _, _ = sec_srv.run("echo alice-ws-secret > /root/secret; echo ok",
                                workspace_id="secshared")
    if st["status"] == "completed" and out == "ok\n":
        objs["workspace"] = "secshared"
    r = upload(sec_srv, "secret.txt", b"alice-upload-secret\n")
    if r.status == 200:
        objs["file"] = (r.json.get("file_ids") or [r.json.get("file_id")])[0]
    r = sec_srv.api("POST", "/mags-cron", {"name": "seccron", "cron_expression": "@yearly",
                                           "script": "echo alice-cron"})
    if r.status in (200, 201):
        objs["cron"] = r.json["id"]
    objs["token"] = sec_srv.api("GET", "/whoami").json["token_id"]
    return objs


OBJECT_ROUTES = [
    ("workspace", "DELETE", "/mags-workspaces/{id}", None),
    ("workspace", "DELETE", "/workspaces/{id}", None),
    ("workspace", "POST", "/mags-workspaces/{id}/resize", {"disk_gb": 3}),
    ("workspace", "POST", "/workspaces/{id}/resize", {"disk_gb": 3}),
    ("cron", "GET", "/mags-cron/{id}", None),
    ("cron", "PATCH", "/mags-cron/{id}", {"enabled": False, "script": "echo bob-was-here"}),
    ("cron", "POST", "/mags-cron/{id}/run", {}),
    ("cron", "DELETE", "/mags-cron/{id}", None),
    ("cron", "GET", "/cron-jobs/{id}", None),
    ("cron", "PATCH", "/cron-jobs/{id}", {"enabled": False}),
    ("cron", "POST", "/cron-jobs/{id}/run", {}),
    ("cron", "DELETE", "/cron-jobs/{id}", None),
    ("token", "DELETE", "/tokens/{id}", None),
    ("file", "GET", "/mags-files/{id}", None),
    ("file", "DELETE", "/mags-files/{id}", None),
]


@pytest.mark.parametrize("kind,method,path,body", OBJECT_ROUTES,
                         ids=["%s %s" % (m, p) for _, m, p, _ in OBJECT_ROUTES])
def test_foreign_objects_are_404(sec_srv, alice_objects, kind, method, path, body):
    # Anchor: OWASP API1:2023 (BOLA) and DESIGN.md §5 ("another user's
    # object is a 404"): bob gets what a missing object gets, and alice's
    # object is untouched.
    oid = alice_objects.get(kind) or "secnothere"
    theirs = sec_srv.api(method, path.format(id=oid), body, token="bob", timeout=10)
    missing = sec_srv.api(method, path.format(id="secmissing%d" % random.randint(0, 1 << 30)),
                          body, token="bob", timeout=10)
    assert theirs.status not in (200, 201, 202, 204, 403), theirs
    assert theirs.status == missing.status, (theirs, missing)
    assert "alice" not in theirs.body, theirs
    # alice's objects still there and unchanged
    assert sec_srv.api("GET", "/whoami").status == 200  # her token lives
    if "cron" in alice_objects:
        c = sec_srv.api("GET", "/mags-cron/" + alice_objects["cron"]).json
        assert c["enabled"] is True and c["script"] == "echo alice-cron", c
    if "workspace" in alice_objects:
        ws = sec_srv.api("GET", "/mags-workspaces").json["workspaces"]
        w = [w for w in ws if w["workspace_id"] == alice_objects["workspace"]]
        assert w and w[0]["disk_gb"] == 2, ws


def test_same_workspace_name_is_a_different_workspace_for_another_user(sec_srv, alice_objects):
    # Anchor: DESIGN/ARCHITECTURE "a workspace is identified by (owner,
    # name); two users may both have `golden`" — name squatting / alias
    # hijack (the Docker Hub / npm typosquatting class, and CVE-2021-21284
    # userns-remap root dir sharing). bob's `secshared` is empty.
    need_ws = "workspace" in alice_objects
    assert need_ws, "workspaces not available in this build"
    st, out, _, _ = sec_srv.run("cat /root/secret 2>&1; ls -A /root; echo end",
                                token="bob", workspace_id="secshared")
    assert "alice-ws-secret" not in out, out
    assert out.endswith("end\n"), (st, out)
    # control: alice still reads hers
    st, out, _, _ = sec_srv.run("cat /root/secret", workspace_id="secshared")
    assert out == "alice-ws-secret\n", (st, out)


def test_foreign_upload_cannot_be_attached(sec_srv, alice_objects):
    # Anchor: BOLA on file ids (OWASP API1:2023); uploads are objects of
    # their owner. bob naming alice's file id gets an error, not her data.
    assert "file" in alice_objects, "uploads not available in this build"
    r = sec_srv.api("POST", "/mags-jobs", {"script": "cat /uploads/* /root/secret.txt",
                                           "file_ids": [alice_objects["file"]]}, token="bob")
    if r.status == 200:
        st = sec_srv.wait(r.json["request_id"], token="bob")
        out = " ".join(l["message"] for l in sec_srv.logs(r.json["request_id"], token="bob"))
        assert "alice-upload-secret" not in out, out
        assert st["status"] == "error", st
    else:
        assert r.status in (400, 404), r
    # control: alice can attach it
    st, out, _, _ = sec_srv.run("cat /uploads/secret.txt", file_ids=[alice_objects["file"]])
    assert out == "alice-upload-secret\n", (st, out)
