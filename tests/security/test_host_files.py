"""The host's files and kernel interfaces through paths: /proc, /sys, /dev,
the runtime binary, the image, the host's secrets."""
import hashlib
import os

import pytest

from .conftest import ABI, PROBE, RUNTIME_BIN, host_probe, results


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# Docker's masked paths (moby oci/defaults.go), which leak host kernel state.
MASKED = {
    "/proc/kcore": "Docker masked path: /proc/kcore (host physical memory, CVE-2016-? kcore leaks)",
    "/proc/keys": "Docker masked path: /proc/keys (host keyrings are not namespaced)",
    "/proc/timer_list": "Docker masked path: /proc/timer_list (host timers, kernel pointers)",
    "/proc/sched_debug": "Docker masked path: /proc/sched_debug (host tasks' names and pids)",
}


@pytest.mark.parametrize("path", sorted(MASKED))
def test_masked_proc_file_reads_nothing(sec_srv, path):
    # Anchor: see MASKED[path]. Control: the host has the file (and it is
    # not empty where it is a regular text file).
    if os.path.exists(path) and path != "/proc/kcore":
        with open(path, "rb") as f:
            assert f.read(4096), "control: %s is empty on the host" % path
    st, out, _, _ = sec_srv.run("wc -c < %s 2>/dev/null || echo unreadable" % path)
    assert out.strip() in ("0", "unreadable"), (path, out)


def test_sysrq_trigger_is_not_the_kernel(sec_srv):
    # Anchor: Docker masked path /proc/sysrq-trigger (`echo c` crashes the
    # host). 'h' only prints help if it reaches the kernel; the mask makes
    # it /dev/null (char 1:3) or the write fails.
    # (Kernels without CONFIG_MAGIC_SYSRQ have no file: then the sandbox
    # must not have a writable one either.)
    st, out, _, _ = sec_srv.run(
        "stat -c '%t:%T' /proc/sysrq-trigger 2>/dev/null || echo absent; "
        "(echo h > /proc/sysrq-trigger) 2>/dev/null && echo written || echo refused")
    dev, what = out.split()
    assert dev == "1:3" or what == "refused", out
    if not os.path.exists("/proc/sysrq-trigger"):
        assert dev == "absent" or dev == "1:3", out


PROC_SYS = {
    "kernel/core_pattern": "core_pattern escape: a pipe handler runs as host root",
    "kernel/randomize_va_space": "host-wide ASLR switch (Docker: /proc/sys read-only)",
    "vm/overcommit_memory": "host-wide memory policy (Docker: /proc/sys read-only)",
    "kernel/panic": "host-wide kernel tunable",
    "user/max_user_namespaces": "user-namespace limit: re-enabling nested userns attacks",
    "fs/file-max": "host-wide fd limit (DoS of the host)",
    "net/ipv4/ip_forward": "Docker read-only /proc/sys (net is per netns, still refused)",
}


@pytest.mark.parametrize("rel", sorted(PROC_SYS))
def test_proc_sys_is_read_only(sec_srv, rel):
    # Anchor: see PROC_SYS[rel]. Control: the file is there and readable
    # inside; only the write is refused, and the host's value is unchanged.
    path = "/proc/sys/" + rel
    with open(path) as f:
        before = f.read()
    st, out, _, _ = sec_srv.run(
        "cat %s >/dev/null && echo readable; "
        "(echo '|/tmp/pwn' > %s) 2>/dev/null && echo WRITTEN || echo refused" % (path, path))
    assert out == "readable\nrefused\n", out
    with open(path) as f:
        assert f.read() == before


def test_binfmt_misc_cannot_register(sec_srv):
    # Anchor: binfmt_misc interpreter registration as an escape (a
    # 'C'-flag handler runs with the credentials of any exec'd binary).
    st, out, _, _ = sec_srv.run(
        "(echo ':pwn:E::sec::/tmp/pwn:C' > /proc/sys/fs/binfmt_misc/register) 2>/dev/null "
        "&& echo WRITTEN || echo refused")
    assert out == "refused\n", out


SYS_PATHS = {
    "/sys/kernel/uevent_helper": "uevent_helper escape (host runs it as root on every uevent)",
    "/sys/kernel/mm/transparent_hugepage/enabled": "Docker: read-only /sys (host-wide tunable)",
    "/sys/class/net/lo/mtu": "read-only /sys, even for the sandbox's own netns",
}


@pytest.mark.parametrize("path", sorted(SYS_PATHS))
def test_sys_is_read_only(sec_srv, path):
    # Anchor: see SYS_PATHS[path].
    st, out, _, _ = sec_srv.run(
        "test -e %s && echo present; (echo 1 > %s) 2>/dev/null && echo WRITTEN || echo refused"
        % (path, path))
    assert "WRITTEN" not in out and out.endswith("refused\n"), out


def test_no_writable_cgroup_release_agent(sec_srv):
    # Anchor: CVE-2022-0492 (cgroup v1 release_agent), the 2019 Felix
    # Wilhelm escape (notify_on_release + release_agent).
    st, out, _, _ = sec_srv.run(
        "for f in $(find / -xdev -name release_agent 2>/dev/null) "
        "$(find /sys /proc -name release_agent 2>/dev/null); do "
        "(echo /tmp/pwn > $f) 2>/dev/null && echo WRITABLE $f; done; "
        "mkdir /sys/fs/cgroup/pwn 2>/dev/null && echo MKDIR; echo done")
    assert out == "done\n", out


def test_dev_holds_only_the_minimal_nodes(sec_srv):
    # Anchor: Docker's default device list / gVisor's minimal /dev: no
    # host disks, /dev/mem, /dev/kmsg, /dev/port, /dev/fuse, /dev/kvm.
    allowed = {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm",
               "mqueue", "fd", "stdin", "stdout", "stderr", "ptmx"}
    st, out, _, _ = sec_srv.run("ls -A /dev")
    found = set(out.split())
    assert found <= allowed, found - allowed
    assert {"null", "zero", "urandom"} <= found  # control: it is /dev


def test_proc_self_exe_is_not_writable(sec_srv):
    # Anchor: CVE-2019-5736 (overwriting the runtime through
    # /proc/self/exe). The running busybox through /proc/self/exe must
    # not open for writing; the host's image and runtime are untouched.
    rootfs = sec_srv.data_dir / "images" / "sec" / "rootfs"
    before = sha(rootfs / "bin" / "busybox"), sha(RUNTIME_BIN)
    st, out, _, _ = sec_srv.run(
        "(exec 3>>/proc/self/exe) 2>/dev/null && echo EXE_OPEN || echo exe_refused")
    assert out == "exe_refused\n", out
    assert (sha(rootfs / "bin" / "busybox"), sha(RUNTIME_BIN)) == before


def test_overwriting_the_image_binaries_stays_in_the_sandbox(sec_srv):
    # Anchor: CVE-2019-5736's second half (the overwritten binary reaches
    # the host) and Firecracker's read-only rootfs drives: writes to the
    # image's binaries are copy-ups into this sandbox only.
    rootfs = sec_srv.data_dir / "images" / "sec" / "rootfs"
    before = sha(rootfs / "bin" / "busybox"), sha(rootfs / "opt" / "sec" / "probe")
    # The running busybox is refused (ETXTBSY); a binary not running is
    # copied up and changed inside only.
    st, out, _, _ = sec_srv.run(
        "echo pwned >> /opt/sec/probe && echo appended; "
        "(echo pwned >> /bin/busybox) 2>/dev/null && echo BUSYBOX || echo busy")
    assert out == "appended\nbusy\n", out  # control: the first write happened inside
    assert (sha(rootfs / "bin" / "busybox"), sha(rootfs / "opt" / "sec" / "probe")) == before
    st, out, _, _ = sec_srv.run("tail -c 7 /opt/sec/probe | grep -c pwned; echo ok")
    assert out.splitlines()[-1] == "ok" and out.splitlines()[0] == "0", out


def test_host_shadow_unreachable_through_any_path(sec_srv):
    # Anchor: the 2014 "shocker" read /etc/shadow of the host; also
    # /proc/<pid>/root and /proc/self/cwd walks (CVE-2016-9962,
    # CVE-2024-21626). No path inside yields the host's /etc/shadow.
    host = sha("/etc/shadow")
    paths = ["/etc/shadow", "/proc/self/root/etc/shadow", "/proc/1/root/etc/shadow",
             "/proc/self/cwd/../../../etc/shadow", "/dev/fd/../../../etc/shadow",
             "/proc/self/root/../../../../etc/shadow", "/proc/2/root/etc/shadow",
             "/sys/../etc/shadow", "/tmp/../../etc/shadow"]
    st, out, _, _ = sec_srv.run(
        "ln -s /etc/shadow /tmp/link; for p in %s /tmp/link; do "
        "sha256sum $p 2>/dev/null || echo \"none $p\"; done" % " ".join(paths))
    sums = [l.split()[0] for l in out.splitlines()]
    assert len(sums) == len(paths) + 1, out
    assert host not in sums, out


def test_kernel_symbol_addresses_hidden(sec_srv):
    # Anchor: kptr_restrict / Docker profile's syslog denial: kernel
    # addresses defeat kASLR. Control: root on the host sees them.
    st, out, _, _ = sec_srv.run("head -n 20 /proc/kallsyms | cut -d' ' -f1 | sort -u")
    assert out.split() == ["0000000000000000"], out
    with open("/proc/kallsyms") as f:
        host_addrs = {f.readline().split()[0] for _ in range(20)}
    assert host_addrs != {"0000000000000000"}, "control: host addresses hidden too"


@pytest.mark.parametrize("mode", ["int80", "x32"])
def test_other_syscall_entry_points_killed(sec_srv, sec_progs, mode):
    # Anchor: CVE-2009-0835 (seccomp bypass through the i386 table on
    # x86_64) and libseccomp's x32 handling; Docker's profile lists
    # x86/x32 archs. The call must not return a pid inside; control: the
    # native call works inside, and int 0x80 works on the host.
    st, out, _, _ = sec_srv.run("%s native; %s %s; echo rc=$?" % (ABI, ABI, mode))
    lines = out.splitlines()
    assert lines[0].startswith("RESULT native OK"), out
    assert not any(l.startswith("RESULT %s OK" % mode) for l in lines), out
    if mode == "int80":
        assert lines[-1] == "rc=159", out  # SIGSYS: a seccomp kill
        r = host_probe(sec_progs, "abi", "int80")
        assert r.stdout.startswith("RESULT int80 OK"), "control: " + r.stdout
    else:
        assert lines[-1] in ("rc=159", "rc=0"), out


def test_chroot_escape_ends_at_the_sandbox_root(sec_srv):
    # Anchor: the classic chroot breakout (CAP_SYS_CHROOT is kept, as in
    # Docker). Control: the breakout itself works (it reaches the
    # sandbox's / from the jail: /opt/sec/probe is visible), it just
    # cannot go further (tests/test_kernel.py asserts no host path).
    st, out, _, _ = sec_srv.run("cd /tmp && PROBE_HOST_PATH=/opt/sec/probe %s chroot_escape"
                                % PROBE)
    assert results(out)["chroot_escape"][0] == "OK", out
