"""The warm pool (issue 8): sandboxes built ahead (`mags-runtime run
--pool`), parked until a job takes one. A pooled job behaves like a cold
one; jobs the pool cannot serve fall back to the cold path; the pool
refills; shutdown (or magsd dying) leaves nothing behind.

Prepared members (`--pool --rootfs IMAGE --run-dir DIR`) park with their
root filesystem built and pivoted into: they take plain jobs of their
image only, hold nothing of the host's mounts while parked, and a job
with a workspace or snapshot layers gets an unprepared member or the
cold path.

Real magsd, real sandboxes (busybox)."""
import glob
import os
import re
import signal
import socket
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import RUNTIME, descendants, is_pool_member, make_server, need, wait_until


@pytest.fixture(scope="module")
def ps(session_dir, image_cache):
    """A server with a pool of exactly one member."""
    s = make_server(session_dir, image_cache, "pool1",
                    conf={"pool_min": 1, "pool_max": 1, "proxy_listen": "off",
                          "ssh_listen": "off", "idle_timeout": 2})
    yield s
    s.stop()


def argv_of(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode() for a in f.read().split(b"\0") if a]
    except OSError:
        return []


def members(s):
    """Parked members of server s (its children `mags-runtime run --pool`):
    {runtime pid: argv}."""
    return {p: argv_of(p) for p in descendants(s.proc.pid, pool=True)
            if _parent(p) == s.proc.pid and is_pool_member(p)}


def _parent(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return int(f.read().rsplit(")", 1)[1].split()[1])
    except OSError:
        return -1


def opt(argv, name):
    return argv[argv.index(name) + 1] if name in argv else None


def is_parked(pid, argv):
    """Built up to the job: its sandbox process exists with its ids mapped
    (A5) and, with a network, its link is up (A7, right before it says
    "pooled")."""
    kids = [p for p in descendants(pid, pool=True) if _parent(p) == pid]
    if not kids:
        return False
    try:
        if not open("/proc/%d/uid_map" % kids[0]).read().strip():
            return False
    except OSError:
        return False
    link = link_of(argv)
    if link:
        try:
            return int(open("/sys/class/net/%s/flags" % link).read(), 16) & 1 == 1
        except OSError:
            return False
    return True


def parked(s, n=1, timeout=30):
    """Wait for n parked members; their {pid: argv}."""
    def ready():
        ok = {p: a for p, a in members(s).items() if is_parked(p, a)}
        return ok if len(ok) >= n else None
    got = wait_until(ready, timeout)
    assert got, "no %d parked pool member(s): %r" % (n, members(s))
    time.sleep(0.2)  # from the link up to "pooled" read by magsd
    return got


def cgroup_dirs(name):
    out = []
    for base in glob.glob("/sys/fs/cgroup/*/mags") + glob.glob("/sys/fs/cgroup/mags"):
        p = os.path.join(base, name)
        if os.path.isdir(p):
            out.append(p)
    return out


def link_exists(name):
    return os.path.exists("/sys/class/net/%s" % name)


def link_of(argv):
    """mg<i> of a member's --net-addr 10.200.X.Y/30."""
    a = opt(argv, "--net-addr")
    if not a:
        return None
    b, c = [int(x) for x in a.split("/")[0].split(".")[2:4]]
    return "mg%d" % ((b * 256 + c) // 4)


def runtime_of(job_id):
    """(pid, argv) of the mags-runtime running job_id, or None."""
    for p in os.listdir("/proc"):
        if p.isdigit():
            a = argv_of(int(p))
            if a and a[0].endswith("mags-runtime") and opt(a, "--id") == job_id:
                return int(p), a
    return None


def test_a_job_takes_the_parked_member_and_the_pool_refills(ps):
    before = parked(ps)
    (pid, argv), = before.items()
    pool_name = opt(argv, "--id")
    assert pool_name.startswith("pool-")
    jid = ps.submit("echo started; sleep 30")
    ps.wait(jid, timeout=20, states=("running",))
    try:
        # the member runs the job: same process, now named after the job
        got = runtime_of(jid)
        assert got and got[0] == pid, (got, pid)
        assert "--from-pool" in got[1], got
        # its cgroup was renamed to the job's (usage, teardown, operators)
        dirs = cgroup_dirs(jid)
        assert dirs and not cgroup_dirs(pool_name)
        # with the server's limits (512 MiB, 1024 pids by default)
        lim = {}
        for d in dirs:
            for f in ("memory.limit_in_bytes", "memory.max", "pids.max"):
                if os.path.exists(os.path.join(d, f)):
                    lim[f] = open(os.path.join(d, f)).read().strip()
        assert lim.get("memory.limit_in_bytes", lim.get("memory.max")) == str(512 * 2**20), lim
        assert lim["pids.max"] == "1024", lim
        # and another member is parked meanwhile
        after = parked(ps)
        assert pid not in after
    finally:
        ps.api("POST", "/mags-jobs/%s/stop" % jid)
    st = ps.wait(jid, timeout=20)
    assert st["status"] == "stopped", st
    assert wait_until(lambda: not cgroup_dirs(jid), 5)


def test_pooled_job_is_isolated_and_limited_like_a_cold_one(ps):
    parked(ps)
    script = ("echo id=$(id -u):$(id -g) host=$(hostname) env=$FOO; "
              "tr '\\0' ' ' < /proc/1/cmdline; echo; "
              "cat /proc/self/uid_map; exit 7")
    st, out, _, _ = ps.run(script, environment={"FOO": "bar"})
    assert st["status"] == "completed" and st["exit_code"] == 7, st
    lines = out.splitlines()
    assert lines[0] == "id=0:0 host=mags-vm env=bar", out
    assert lines[1].strip() == "mags-init", out  # no host path, no pool name
    # ids map to the slot's range, not the host's
    m = lines[-1].split()
    assert m[0] == "0" and int(m[1]) >= 100000 and m[2] == "65536", out


def test_pooled_job_has_its_network_and_allow_list(ps):
    (pid, argv), = parked(ps).items()
    link = link_of(argv)
    need(link is not None, "this server has no sandbox network")
    jid = ps.submit("ip -4 -o addr show eth0 | awk '{print $4}'; sleep 30",
                    network={"allow": ["198.51.100.0/24"]})
    try:
        ps.wait(jid, timeout=20, states=("running",))
        assert runtime_of(jid)[0] == pid, "the allow-list job did not take the member"
        # the member's link carries the job's allow list: its own chain
        ifindex = int(open("/sys/class/net/%s/ifindex" % link).read())
        r = subprocess.run(["nft", "list", "chain", "inet", "mags", "allow_%d" % ifindex],
                           capture_output=True, text=True)
        assert r.returncode == 0 and "198.51.100.0/24" in r.stdout, (r.stdout, r.stderr)
        out = wait_until(lambda: "".join(l["message"] for l in ps.logs(jid)), 10)
        assert out and out.startswith("10.200.") and out.endswith("/30"), out
    finally:
        ps.api("POST", "/mags-jobs/%s/stop" % jid)
    ps.wait(jid, timeout=20)
    # and it is gone with the job
    assert wait_until(lambda: subprocess.run(
        ["nft", "list", "chain", "inet", "mags", "allow_%d" % ifindex],
        capture_output=True).returncode != 0, 10)


def test_network_none_falls_back_to_the_cold_path(ps):
    before = parked(ps)
    st, out, _, _ = ps.run("ls /sys/class/net | tr '\\n' ' '", network="none")
    assert st["status"] == "completed", st
    assert "eth0" not in out, out
    # the parked member was not used (a nat server's pool is nat)
    if any(opt(a, "--net") == "nat" for a in before.values()):
        assert set(before) <= set(members(ps)), (before, members(ps))


def test_usage_is_recorded_for_a_pooled_job(ps):
    name = "pu%d" % int(time.time() * 1e6 % 1e9)
    ps.add_user(name)
    parked(ps)
    st, out, _, _ = ps.run("head -c 20000000 /dev/zero | tr '\\0' a > /tmp/f; echo ok",
                           token=name)
    assert out == "ok\n", (st, out)
    r = ps.api("GET", "/mags-usage?window_days=1", token=name)
    assert r.status == 200, r
    assert r.json["total_jobs"] == 1 and r.json["cpu_seconds"] > 0, r.json
    assert r.json["peak_memory_bytes"] >= 15e6, r.json


def test_a_pooled_persistent_job_sleeps_and_wakes(ps):
    parked(ps)
    jid = ps.submit("echo booted >> /root/boots; sleep infinity", name="pooledsleepy",
                    workspace_id="pooledsleepy", persistent=True, no_sync=True,
                    startup_command="echo woke >> /root/boots; sleep infinity")
    try:
        assert wait_until(lambda: ps.api("GET", "/mags-jobs/%s/status" % jid)
                          .json["status"] == "sleeping", 30), "never went to sleep"
        r = ps.api("POST", "/mags-jobs/pooledsleepy/exec",
                   {"command": "cat /root/boots"}, timeout=60)
        assert r.status == 200, r
        assert r.json["stdout"].startswith("booted\n"), r.json
        assert wait_until(lambda: "woke" in ps.api(
            "POST", "/mags-jobs/pooledsleepy/exec", {"command": "cat /root/boots"},
            timeout=60).json["stdout"], 10)
    finally:
        ps.api("POST", "/mags-jobs/%s/stop" % jid, timeout=60)


def test_a_pool_of_one_under_concurrent_load(ps):
    def one(i):
        st, out, _, _ = ps.run("echo n%d" % i, timeout=120)
        return st["status"], st.get("exit_code"), out
    with ThreadPoolExecutor(16) as ex:
        res = list(ex.map(one, range(48)))
    bad = [(i, r) for i, r in enumerate(res) if r != ("completed", 0, "n%d\n" % i)]
    assert not bad, bad[:5]
    parked(ps)


def test_a_disabled_pool_runs_every_job_cold(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "pool0",
                    conf={"pool_min": 0, "pool_max": 0, "proxy_listen": "off",
                          "ssh_listen": "off"})
    try:
        st, out, _, _ = s.run("echo cold")
        assert out == "cold\n", (st, out)
        time.sleep(0.5)
        assert not members(s)
    finally:
        s.stop()


def test_bad_pool_settings_are_refused(tmp_path):
    from conftest import MAGSD, clean_env
    for k, v in (("MAGS_POOL_MAX", "257"), ("MAGS_POOL_MIN", "-1"), ("MAGS_POOL_MAX", "x")):
        r = subprocess.run([str(MAGSD), "serve", "--data-dir", str(tmp_path),
                            "--listen", "127.0.0.1:1"], env=clean_env({k: v}),
                           capture_output=True, text=True, timeout=30)
        assert r.returncode != 0, (k, v, r.stderr)
        assert k[5:].lower() in r.stderr, (k, v, r.stderr)


def _pool_state(s):
    m = parked(s, 2)
    names = [opt(a, "--id") for a in m.values()]
    links = [link_of(a) for a in m.values() if link_of(a)]
    return m, names, links


def test_shutdown_leaves_nothing(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "poolstop",
                    conf={"pool_min": 2, "pool_max": 2, "proxy_listen": "off",
                          "ssh_listen": "off"})
    m, names, links = _pool_state(s)
    inits = [c for p in m for c in descendants(p, pool=True)]
    assert inits, "a parked member has its sandbox process"
    s.stop()
    gone = lambda p: not os.path.exists("/proc/%d" % p) or \
        open("/proc/%d/stat" % p).read().rsplit(")", 1)[1].split()[0] == "Z"
    assert wait_until(lambda: all(gone(p) for p in list(m) + inits), 10), \
        [argv_of(p) for p in list(m) + inits if not gone(p)]
    assert wait_until(lambda: not any(cgroup_dirs(n) for n in names), 10), names
    # the kernel removes a veth with its network namespace, in the background
    assert wait_until(lambda: not any(link_exists(l) for l in links), 30), links
    assert not [l for l in open("/proc/self/mountinfo") if str(s.data_dir) in l]


def test_members_do_not_outlive_a_killed_magsd(session_dir, image_cache):
    s = make_server(session_dir, image_cache, "poolkill",
                    conf={"pool_min": 2, "pool_max": 2, "proxy_listen": "off",
                          "ssh_listen": "off"})
    m, names, links = _pool_state(s)
    s.proc.send_signal(signal.SIGKILL)
    s.proc.wait()
    # their stdin (magsd's end) closed: each cleans up and exits
    assert wait_until(lambda: not any(os.path.exists("/proc/%d" % p) for p in m), 10), \
        [argv_of(p) for p in m]
    assert wait_until(lambda: not any(cgroup_dirs(n) for n in names), 10), names
    assert wait_until(lambda: not any(link_exists(l) for l in links), 30), links
    s.stop()


# ---- prepared members --------------------------------------------------------

def sandbox_of(pid):
    """The sandbox's pid 1 of a member's runtime (its only child)."""
    kids = [p for p in descendants(pid, pool=True) if _parent(p) == pid]
    return kids[0] if kids else None


def mountinfo(pid):
    with open("/proc/%d/mountinfo" % pid) as f:
        return [l.split() for l in f.read().splitlines()]


def upload(s, name, content):
    b = "----pool%s" % uuid.uuid4().hex
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n" % (b, name)).encode()
            + content + ("\r\n--%s--\r\n" % b).encode())
    r = s.api("POST", "/mags-files", raw=body,
              headers={"Content-Type": "multipart/form-data; boundary=" + b})
    assert r.status == 200, r
    return r.json["file_id"]


def test_members_park_prepared_with_the_servers_image(ps):
    (pid, argv), = parked(ps).items()
    root = opt(argv, "--rootfs")
    assert root == str(ps.data_dir / "images" / "busybox" / "rootfs"), argv
    # a scratch dir of its slot's, not a job's, under the server's run dir
    assert re.fullmatch(re.escape(str(ps.data_dir / "run")) + r"/slot-\d+",
                        opt(argv, "--run-dir")), argv
    assert os.path.isdir(opt(argv, "--run-dir"))


def test_a_plain_job_runs_in_a_prepared_member_like_a_cold_one(ps):
    (pid, argv), = parked(ps).items()
    fid = upload(ps, "data.txt", b"uploaded\n")
    script = ("echo host=$(hostname) env=$FOO; cat /root/data.txt; "
              "grep -c nameserver /etc/resolv.conf; id -u; "
              "echo scratch > /tmp/x && cat /tmp/x; sleep 2; exit 5")
    jid = ps.submit(script, environment={"FOO": "bar"}, file_ids=[fid])
    ps.wait(jid, timeout=20, states=("running",))
    got = runtime_of(jid)
    assert got and got[0] == pid, (got, pid)
    assert "--from-pool" in got[1] and "--prepared" in got[1], got
    st = ps.wait(jid, timeout=30)
    assert st["status"] == "completed" and st["exit_code"] == 5, st
    out = "".join(l["message"] + "\n" for l in ps.logs(jid) if l["source"] == "stdout")
    lines = out.splitlines()
    assert lines[0] == "host=mags-vm env=bar", out
    assert lines[1] == "uploaded", out
    if opt(argv, "--net") == "nat":
        assert int(lines[2]) >= 1, out    # the host's nameservers
    assert lines[3] == "0" and lines[4] == "scratch", out
    # its slot's run dir stays, empty on the host (the scratch tmpfs was
    # in the sandbox's mount namespace), and nothing is left of the job's
    assert wait_until(lambda: not runtime_of(jid), 10)
    assert os.listdir(opt(argv, "--run-dir")) == []
    assert not os.path.exists(ps.data_dir / "run" / jid)


def test_parked_prepared_members_hold_no_host_mounts(ps, tmp_path):
    # a host mount made after the server started: a member built later
    # must not hold a copy of it (it would keep it busy after umount)
    mnt = tmp_path / "hostmnt"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "magstest-hostmount", str(mnt)], check=True)
    try:
        (old, _), = parked(ps).items()
        st, out, _, _ = ps.run("echo ok")    # takes it; a new one is built
        assert out == "ok\n", st
        def fresh():
            m = {p: a for p, a in parked(ps).items() if p != old}
            return m or None
        m = wait_until(fresh, 30)
        assert m, "no new member"
        (pid, argv), = m.items()
        p1 = sandbox_of(pid)
        assert p1
        assert os.readlink("/proc/%d/ns/mnt" % p1) != os.readlink("/proc/self/ns/mnt")
        mi = mountinfo(p1)
        text = "\n".join(" ".join(l) for l in mi)
        assert "magstest-hostmount" not in text, text
        assert str(ps.data_dir) not in text, text
        # only the sandbox's own tree: its overlay root and what is below it
        sep = [l.index("-") for l in mi]
        types = {l[i + 1] for l, i in zip(mi, sep)}
        root = [l for l in mi if l[4] == "/"]
        assert len(root) == 1 and root[0][root[0].index("-") + 1] == "overlay", text
        assert not types - {"overlay", "proc", "tmpfs", "sysfs", "devtmpfs", "devpts",
                            "mqueue"}, types
        points = {l[4] for l in mi}
        assert {"/proc", "/dev", "/sys"} <= points, points
        assert all(p == "/" or p.split("/")[1] in ("proc", "sys", "dev") for p in points), points
        # the host can unmount its disk while the member parks
        r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)


def test_layered_jobs_never_take_a_prepared_member(ps):
    before = parked(ps)
    (pid, _), = before.items()
    jid = ps.submit("echo in-ws > /root/f; cat /root/f; sleep 3",
                    workspace_id="pool-ws-%s" % uuid.uuid4().hex[:6])
    st = ps.wait(jid, timeout=30, states=("running",) + ("completed", "error"))
    got = runtime_of(jid)
    assert got is None or got[0] != pid, (got, pid)
    assert got is None or "--prepared" not in got[1], got
    st = ps.wait(jid, timeout=60)
    assert st["status"] == "completed" and st["exit_code"] == 0, st
    assert "".join(l["message"] for l in ps.logs(jid) if l["source"] == "stdout") == "in-ws"
    # the prepared member still parks, untouched
    assert pid in members(ps)


def test_a_rebuilt_image_retires_members_prepared_from_the_old_one(ps):
    (old, _), = parked(ps).items()
    images = ps.data_dir / "images" / "busybox"
    new = images / "rootfs.new"
    subprocess.run(["cp", "-a", str(images / "rootfs"), str(new)], check=True)
    (new / "marker").write_text("rebuilt\n")
    # like `magsd image build`: the new tree takes the old one's place,
    # then the old one is deleted
    os.rename(images / "rootfs", images / "rootfs.old")
    os.rename(new, images / "rootfs")
    subprocess.run(["rm", "-rf", str(images / "rootfs.old")], check=True)
    assert wait_until(lambda: old not in members(ps), 10), "the stale member stays"
    def fresh():
        m = {p: a for p, a in parked(ps).items() if p != old}
        return m or None
    assert wait_until(fresh, 30)
    st, out, _, _ = ps.run("cat /marker")
    assert st["status"] == "completed" and out == "rebuilt\n", (st, out)


@pytest.fixture(scope="module")
def ps2(session_dir, image_cache):
    """A pool that may grow to two: room for an unprepared member."""
    s = make_server(session_dir, image_cache, "pool2",
                    conf={"pool_min": 1, "pool_max": 2, "proxy_listen": "off",
                          "ssh_listen": "off", "sync_interval": 2})
    yield s
    s.stop()


def test_layered_demand_brings_unprepared_members(ps2):
    parked(ps2)
    ws = "pool-ws2-%s" % uuid.uuid4().hex[:6]
    st, out, err, _ = ps2.run("echo one > /root/f; cat /root/f", workspace_id=ws)
    assert st["status"] == "completed" and out == "one\n", (st, out, err)
    # the miss grew the pool with a member of the missed kind
    def kinds():
        m = parked(ps2, 2)
        k = sorted(opt(a, "--rootfs") is not None for a in m.values())
        return k if k == [False, True] else None
    assert wait_until(kinds, 30), {p: a for p, a in members(ps2).items()}
    bare = [p for p, a in members(ps2).items() if opt(a, "--rootfs") is None]
    jid = ps2.submit("cat /root/f; sleep 2", workspace_id=ws)
    ps2.wait(jid, timeout=30, states=("running",))
    got = runtime_of(jid)
    assert got and got[0] in bare, (got, bare)
    assert "--from-pool" in got[1] and "--prepared" not in got[1], got
    st = ps2.wait(jid, timeout=60)
    assert st["status"] == "completed", st
    assert "".join(l["message"] for l in ps2.logs(jid) if l["source"] == "stdout") == "one"


def test_a_base_job_does_not_take_a_prepared_member(ps2):
    gold = "pool-gold-%s" % uuid.uuid4().hex[:6]
    jid = ps2.submit("echo gold > /root/g", workspace_id=gold, persistent=True)
    ps2.wait(jid, timeout=60)
    r = ps2.api("POST", "/mags-jobs/%s/sync" % jid, timeout=120)
    if r.status == 503 and "not available" in r.body:
        need(False, "snapshot engine not in this build: " + r.json["error"])
    assert r.status == 200, r
    prepared = {p for p, a in parked(ps2).items() if opt(a, "--rootfs")}
    jid = ps2.submit("cat /root/g; sleep 2", base_workspace_id=gold)
    ps2.wait(jid, timeout=30, states=("running", "completed", "error"))
    got = runtime_of(jid)
    assert got is None or (got[0] not in prepared and "--prepared" not in got[1]), got
    st = ps2.wait(jid, timeout=60)
    assert st["status"] == "completed", st
    assert "".join(l["message"] for l in ps2.logs(jid) if l["source"] == "stdout") == "gold"


def test_the_runtime_refuses_a_layered_job_for_a_prepared_member(image_cache, tmp_path):
    """Defence in depth: magsd never sends one; the runtime says so if it did."""
    rootfs = image_cache / "images" / "busybox" / "rootfs"
    name = "pool-t-%s" % uuid.uuid4().hex[:8]
    rundir = tmp_path / "run" / name
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = os.pipe()
    uid_base = str(100000 + 65536 * 250)
    p = subprocess.Popen([str(RUNTIME), "run", "--pool", "--id", name, "--uid-base", uid_base,
                          "--rootfs", str(rootfs), "--run-dir", str(rundir)],
                         stdin=theirs.fileno(), pass_fds=(w, 3), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, preexec_fn=lambda: os.dup2(w, 3))
    os.close(w)
    theirs.close()
    status = os.fdopen(r)
    try:
        line = status.readline().strip()
        assert line == "pooled", (line, p.stderr)
        assert rundir.is_dir()
        jid = "rt-" + uuid.uuid4().hex[:12]
        spec = b"".join(a.encode() + b"\0" for a in [
            "rt", "run", "--id", jid, "--rootfs", str(rootfs), "--uid-base", uid_base,
            "--log", str(tmp_path / "log"), "--run-dir", str(tmp_path / "run" / jid),
            "--upper", str(tmp_path / "ws"), "--", "true"])
        fd = os.memfd_create("job")
        os.write(fd, spec)
        socket.send_fds(ours, [b"S"], [fd])
        os.close(fd)
        rest = status.read()
        assert rest.startswith("error pool:") and "prepared" in rest, rest
        assert p.wait(30) == 1
    finally:
        ours.close()
        if p.poll() is None:
            p.kill()
            p.wait()
        status.close()
    # it left nothing: its scratch dir, its cgroup
    assert not rundir.exists()
    assert not cgroup_dirs(name) and not cgroup_dirs(jid)
