"""What a sandbox can and cannot see of the host."""
import os
import random
import subprocess
import uuid

from conftest import host_pids_with_cmdline, proc_status, wait_until

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


def test_hostname_is_mags_vm(srv):
    _, out, _, _ = srv.run("hostname; cat /proc/sys/kernel/hostname")
    assert out == "mags-vm\nmags-vm\n"


def test_pid_1_is_the_sandbox_init(srv):
    st, out, _, _ = srv.run("echo $$; test -d /proc/1 && echo has1; "
                            "ls /proc | grep -c '^[0-9]*$'")
    assert st["exit_code"] == 0, st
    shell_pid, has1, nprocs = out.split()
    assert has1 == "has1"
    assert int(shell_pid) != 1, "the script must not be pid 1: init is"
    assert int(shell_pid) < 100, "pids are not from a fresh namespace"
    assert int(nprocs) < 10, "sandbox sees %s processes" % nprocs


def test_host_processes_are_invisible(srv):
    mark = str(random.randint(400000, 499999))
    p = subprocess.Popen(["sleep", mark])
    try:
        st, out, _, _ = srv.run("ps -o pid,args; cat /proc/*/cmdline 2>/dev/null | tr '\\0' ' '")
        assert st["exit_code"] == 0, st
        assert "PID" in out
        assert mark not in out
    finally:
        p.kill()
        p.wait()


def test_host_files_are_invisible(srv):
    name = "mags-host-marker-" + uuid.uuid4().hex
    path = "/tmp/" + name
    with open(path, "w") as f:
        f.write("secret")
    try:
        st, out, _, _ = srv.run(
            "ls -a /tmp; test -e /tmp/%s && echo VISIBLE || echo hidden; "
            "ls /; test -e /work && echo WORK; true" % name)
        assert st["exit_code"] == 0, st
        assert name not in out
        assert "hidden" in out and "VISIBLE" not in out
        assert "WORK" not in out
        assert "mags-runtime" not in out
    finally:
        os.unlink(path)


def test_root_inside_is_an_unprivileged_uid_outside(srv):
    mark = str(random.randint(500000, 599999))
    jid = srv.submit("id -u; sleep %s" % mark)
    try:
        pids = wait_until(lambda: host_pids_with_cmdline("sleep", mark), 10)
        assert pids, "sandbox process not seen from the host"
        s = proc_status(pids[0])
        uids = [int(x) for x in s["Uid"].split()]
        gids = [int(x) for x in s["Gid"].split()]
        assert min(uids) >= 100000, s["Uid"]
        assert min(gids) >= 100000, s["Gid"]
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % jid)
    srv.wait(jid, timeout=10)
    assert srv.logs(jid)[0]["message"] == "0"


def test_no_new_privs_and_seccomp_are_on(srv):
    _, out, _, _ = srv.run("grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status")
    fields = dict(l.split(":") for l in out.splitlines())
    assert fields["NoNewPrivs"].strip() == "1", out
    assert fields["Seccomp"].strip() == "2", out


def test_capabilities_are_limited(srv):
    _, out, _, _ = srv.run("grep -E '^Cap(Eff|Bnd):' /proc/self/status")
    caps = {k: int(v, 16) for k, v in (l.split(":\t") for l in out.splitlines())}
    CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE = 21, 16, 19
    for c in (CAP_SYS_ADMIN, CAP_SYS_MODULE, CAP_SYS_PTRACE):
        assert not caps["CapBnd"] & (1 << c), "cap %d still in the bounding set" % c


def test_dangerous_syscalls_fail(srv):
    st, out, err, _ = srv.run(
        "mkdir -p /mnt; mount -t tmpfs none /mnt 2>&1 && echo MOUNTED; "
        "mkdir -p /tmp/x && mount --bind /tmp /tmp/x 2>&1 && echo BOUND; "
        "echo 1 > /proc/sys/kernel/sysrq 2>&1 && echo SYSRQ; "
        "cat /proc/kcore > /dev/null 2>&1 && echo KCORE; true")
    for bad in ("MOUNTED", "BOUND", "SYSRQ", "KCORE"):
        assert bad not in out, out


def test_namespaces_differ_from_the_host(srv):
    script = "; ".join("echo %s $(readlink /proc/self/ns/%s)" % (n, n) for n in NAMESPACES)
    _, out, _, _ = srv.run(script)
    inside = dict(l.split(" ", 1) for l in out.splitlines())
    for n in NAMESPACES:
        host = os.readlink("/proc/self/ns/" + n)
        assert inside.get(n), "no %s namespace link inside: %r" % (n, out)
        assert inside[n] != host, "%s namespace shared with the host (%s)" % (n, host)


def test_only_its_own_network(srv):
    # The sandbox's own link (eth0, issue 5) and loopback, none of the
    # host's interfaces; with "network": "none", loopback only.
    _, out, _, _ = srv.run("ls /sys/class/net 2>/dev/null || cat /proc/net/dev")
    assert set(out.split()) <= {"lo", "eth0"} and "lo" in out.split(), out
    _, out, _, _ = srv.run("ls /sys/class/net 2>/dev/null || cat /proc/net/dev",
                           network="none")
    assert out.split() == ["lo"], out


def test_writes_to_etc_do_not_touch_the_image(srv):
    root = srv.data_dir / "images" / "busybox" / "rootfs"
    before = (root / "etc" / "hostname").read_bytes()
    st, out, _, _ = srv.run("echo hacked >> /etc/hostname; echo x > /etc/mags-written; "
                            "rm /bin/ls; cat /etc/hostname; echo ok")
    assert st["exit_code"] == 0, (st, out)
    assert "hacked" in out
    assert (root / "etc" / "hostname").read_bytes() == before
    assert not (root / "etc" / "mags-written").exists()
    assert os.path.lexists(root / "bin" / "ls")
    # And the next sandbox starts clean.
    _, out, _, _ = srv.run("cat /etc/hostname; test -e /etc/mags-written && echo LEAK; "
                           "test -e /bin/ls && echo hasls")
    assert out == "mags-vm\nhasls\n"


def test_sandboxes_do_not_see_each_other(srv):
    mark = str(random.randint(600000, 699999))
    jid = srv.submit("echo secret > /tmp/mine; sleep %s" % mark)
    try:
        assert wait_until(lambda: host_pids_with_cmdline("sleep", mark), 10)
        # The mark comes in the environment so the script's own command
        # line does not contain it.
        _, out, _, _ = srv.run(
            "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done | "
            "while read -r l; do case \"$l\" in *\"$M\"*) echo HIT;; esac; done; "
            "test -e /tmp/mine && echo SEE''N; echo checked", environment={"M": mark})
        assert out == "checked\n", out
    finally:
        srv.api("POST", "/mags-jobs/%s/stop" % jid)
    srv.wait(jid, timeout=10)


def test_no_fd_of_magsd_leaks_in(srv):
    _, out, _, _ = srv.run("ls /proc/self/fd")
    fds = sorted(int(x) for x in out.split())
    # 0,1,2 and the fd ls uses to read the directory.
    assert len(fds) <= 4, fds
