"""Posture: every process and thread of a sandbox, read from the host.

One sandbox holds a script (sh), a background child, a threaded program and
a setsid + double-forked daemon; the host reads /proc/<pid>/task/*/status of
each, and their fds, namespaces, cwd and root.
"""
import os
import random

import pytest

from .conftest import (CAP_MASK, PROBE, descendants, host_pids_with_cmdline,
                       init_pid_of, proc_status, stop, wait_until)

NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


@pytest.fixture(scope="module")
def sandbox(sec_srv):
    mark = random.randint(700000, 799999)
    jid = sec_srv.submit(
        "%s threads 3 & "
        "( setsid sh -c 'sleep %d & exit 0' & ) ; "
        "sh -c 'sleep %d' & "
        "sleep %d" % (PROBE, mark + 1, mark + 2, mark), timeout=60)
    try:
        assert wait_until(lambda: host_pids_with_cmdline("sleep", str(mark)) and
                          host_pids_with_cmdline("sleep", str(mark + 1)) and
                          host_pids_with_cmdline("sleep", str(mark + 2)) and
                          host_pids_with_cmdline(PROBE, "threads", "3"), 15), \
            "sandbox processes not seen from the host"
        sleeper = host_pids_with_cmdline("sleep", str(mark))[0]
        init = init_pid_of(sleeper)
        assert init, "no sandbox init above %d" % sleeper
        pids = [init] + descendants(init)
        tasks = {}
        for p in pids:
            for t in os.listdir("/proc/%d/task" % p):
                tasks[(p, int(t))] = proc_status(int(t))
        info = {"jid": jid, "init": init, "pids": pids, "tasks": tasks,
                "sleeper": sleeper,
                "daemon": host_pids_with_cmdline("sleep", str(mark + 1))[0]}
        # The daemon was re-parented to the sandbox's init, not the host's.
        assert info["daemon"] in pids
        # init, probe (+3 threads), 3 sleeps (sh execs the last command).
        assert len(pids) >= 5 and len(tasks) >= len(pids) + 3, (pids, list(tasks))
        yield info
    finally:
        stop(sec_srv, jid)


def _each(sandbox, field):
    return {k: v[field] for k, v in sandbox["tasks"].items()}


def test_no_new_privs_in_every_task(sandbox):
    # Anchor: runc/Docker `no-new-privileges`; CVE-2016-9962 era hardening.
    bad = {k: v for k, v in _each(sandbox, "NoNewPrivs").items() if v != "1"}
    assert not bad, bad


def test_seccomp_filter_in_every_task(sandbox):
    # Anchor: Docker's default seccomp profile applies to every process.
    bad = {k: v for k, v in _each(sandbox, "Seccomp").items() if v != "2"}
    assert not bad, bad


@pytest.mark.parametrize("field", ["CapEff", "CapPrm", "CapBnd"])
def test_documented_capability_set_in_every_task(sandbox, field):
    # Anchor: Docker's default capability set (moby oci/caps/defaults.go)
    # minus NET_RAW, as documented in docs/ARCHITECTURE.md step 7. Init
    # holds exactly the set too (it is in the sandbox).
    bad = {k: v for k, v in _each(sandbox, field).items() if int(v, 16) != CAP_MASK}
    assert not bad, "want %016x: %r" % (CAP_MASK, bad)


def test_no_ambient_or_extra_inheritable_capabilities(sandbox):
    # Anchor: ambient capabilities survive execve of unprivileged binaries
    # (runc sets none by default).
    bad = {k: (v["CapAmb"], v["CapInh"]) for k, v in sandbox["tasks"].items()
           if int(v["CapAmb"], 16) != 0 or int(v["CapInh"], 16) & ~CAP_MASK}
    assert not bad, bad


def test_host_ids_are_unprivileged_in_every_task(sandbox):
    # Anchor: Docker userns-remap / CVE-2019-5736 (container root = host
    # root made the runc overwrite possible).
    bad = {}
    for k, v in sandbox["tasks"].items():
        ids = [int(x) for x in v["Uid"].split() + v["Gid"].split() + v["Groups"].split()]
        if not ids or min(ids) < 100000:
            bad[k] = (v["Uid"], v["Gid"], v["Groups"])
    assert not bad, bad


def test_no_namespace_shared_with_the_host(sandbox):
    # Anchor: Docker --pid=host / --net=host / --ipc=host escapes; gVisor
    # runs every container in fresh namespaces. (The time namespace is
    # not documented as separate: it holds only clock offsets.)
    host = {n: os.readlink("/proc/self/ns/" + n) for n in NAMESPACES}
    bad = []
    for p in sandbox["pids"]:
        for n in NAMESPACES:
            if os.readlink("/proc/%d/ns/%s" % (p, n)) == host[n]:
                bad.append((p, n))
    assert not bad, "namespaces shared with the host: %r" % bad


def test_script_processes_hold_only_stdio(sandbox):
    # Anchor: CVE-2024-21626 (runc leaked a host fd into the container)
    # and CVE-2016-9962 (runc init's fds visible to the container).
    bad = {}
    for p in sandbox["pids"][1:]:
        fds = sorted(int(f) for f in os.listdir("/proc/%d/fd" % p))
        if os.readlink("/proc/%d/exe" % p).endswith("probe"):
            continue  # the threaded probe: checked by its stdio below
        if fds != [0, 1, 2]:
            bad[p] = {f: os.readlink("/proc/%d/fd/%d" % (p, f)) for f in fds}
    assert not bad, bad
    for p in sandbox["pids"][1:]:
        assert os.readlink("/proc/%d/fd/0" % p) == "/dev/null"
        for f in (1, 2):
            assert os.readlink("/proc/%d/fd/%d" % (p, f)).startswith("pipe:"), p


def test_init_holds_only_its_own_fds(sandbox, sec_srv):
    # Anchor: CVE-2024-21626 (a leaked fd of the runtime, an O_PATH handle
    # to /sys/fs/cgroup, became the container's cwd). Init may hold only
    # stdio on /dev/null, its job log, its two pipes, its signalfd and its
    # control sockets to the supervisor (ARCHITECTURE.md step 7: "every fd
    # but the log and control pipes closed"); tests/test_kernel.py proves
    # the script cannot reach them (proc1_fd, pidfd_getfd_init).
    init = sandbox["init"]
    links = {int(f): os.readlink("/proc/%d/fd/%s" % (init, f))
             for f in os.listdir("/proc/%d/fd" % init)}
    log = str(sec_srv.data_dir / "jobs" / sandbox["jid"] / "log")
    unexpected = {}
    for fd, l in links.items():
        if fd in (0, 1, 2) and l == "/dev/null":
            continue
        if (l == log or l.startswith("pipe:") or l.startswith("socket:")
                or l == "anon_inode:[signalfd]"):
            continue
        unexpected[fd] = l
    assert not unexpected, "init holds %r" % unexpected
    assert sum(1 for l in links.values() if l.startswith("pipe:")) <= 2, links
    assert sum(1 for l in links.values() if l.startswith("socket:")) <= 2, links
    for fd, l in links.items():
        if l.startswith("socket:"):
            ino = l[len("socket:["):-1]
            with open("/proc/net/unix") as f:  # host netns: a unix socket?
                unix = any(line.split()[6] == ino for line in f.readlines()[1:])
            with open("/proc/%d/net/unix" % init) as f:  # the sandbox's netns
                unix = unix or any(line.split()[6] == ino for line in f.readlines()[1:])
            assert unix, "init fd %d is a non-unix socket %s" % (fd, l)
    assert list(links.values()).count(log) == 1, links


def test_cwd_and_root_are_inside(sandbox):
    # Anchor: CVE-2024-21626 (process.cwd left outside the container root)
    # and the pivot_root detach of the old root.
    host_root = os.stat("/")
    for p in sandbox["pids"]:
        root = os.stat("/proc/%d/root" % p)
        assert (root.st_dev, root.st_ino) != (host_root.st_dev, host_root.st_ino), p
        assert os.readlink("/proc/%d/root" % p) == "/", p
    # The script's cwd is /root of its own root.
    p = sandbox["sleeper"]
    cwd, home = os.stat("/proc/%d/cwd" % p), os.stat("/proc/%d/root/root" % p)
    assert (cwd.st_dev, cwd.st_ino) == (home.st_dev, home.st_ino)


def test_cwd_and_root_from_inside(sec_srv):
    # Anchor: CVE-2024-21626: walking up from the cwd must end at the
    # sandbox's /, which has no host paths.
    st, out, _, _ = sec_srv.run(
        "pwd; readlink /proc/self/cwd; readlink /proc/self/root; "
        "cd ../../../../..; pwd; ls /proc/self/root/../../ | tr '\\n' ' '; echo; "
        "test -e /proc/self/root/../../work && echo HOSTPATH; "
        "test -e /proc/self/cwd/../../../work && echo HOSTPATH2; ls /proc/self/fd | tr '\\n' ' '")
    lines = out.splitlines()
    assert lines[:4] == ["/root", "/root", "/", "/"], out
    assert "opt" in lines[4] and "work" not in lines[4], out
    assert "HOSTPATH" not in out
    # the script's own fds: stdio and ls's directory fd only
    assert sorted(int(x) for x in lines[5].split()) in ([0, 1, 2], [0, 1, 2, 3]), out


def test_processes_have_no_controlling_terminal(sec_srv):
    # Anchor: CVE-2017-5226 (bubblewrap: TIOCSTI into the caller's
    # terminal) and CVE-2016-7545 (SELinux sandbox TIOCSTI): no tty to
    # inject into.
    st, out, _, _ = sec_srv.run(
        "cut -d' ' -f7 /proc/self/stat; (exec 3</dev/tty) 2>/dev/null && echo TTY || echo notty")
    assert out == "0\nnotty\n", out
