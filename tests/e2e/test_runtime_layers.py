"""mags-runtime's workspace layers, driven directly (issue 3):

--upper DIR   the writable layer on a real (loop-mounted ext4) disk, idmapped
--lower DIR   read-only snapshot layers above the image, first = topmost
--copy-in     host files placed into the sandbox before the script

No magsd: each test runs build/bin/mags-runtime and reads its status lines
(fd 3) and the job log it writes.
"""
import os
import shutil
import stat
import subprocess
import uuid

import pytest

from conftest import RUNTIME, need

WORDS = {"o": "stdout", "e": "stderr", "s": "system"}


@pytest.fixture(scope="module")
def rootfs(image_cache):
    return image_cache / "images" / "busybox" / "rootfs"


def run(rootfs, tmp_path, script, *flags, uid_base=None, timeout=60):
    """Run one sandbox; returns (status lines, stdout text, stderr text)."""
    jid = "rt-" + uuid.uuid4().hex[:12]
    log = tmp_path / (jid + ".log")
    args = [str(RUNTIME), "run", "--id", jid, "--rootfs", str(rootfs),
            "--log", str(log), "--run-dir", str(tmp_path / "run" / jid),
            "--timeout", "60", *flags]
    if uid_base:
        args += ["--uid-base", str(uid_base)]
    r, w = os.pipe()
    p = subprocess.Popen(args + ["--", script], pass_fds=(w, 3), stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                         preexec_fn=lambda: os.dup2(w, 3))
    os.close(w)
    with os.fdopen(r) as f:
        status = f.read().splitlines()
    p.wait(timeout)
    out, err = [], []
    if log.exists():
        for line in log.read_text(errors="replace").splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3:
                (out if parts[1] == "o" else err).append(parts[2])
    return status, "".join(l + "\n" for l in out), "".join(l + "\n" for l in err)


@pytest.fixture
def disk(tmp_path):
    """A 64 MiB ext4 image loop-mounted nosuid,nodev: a workspace disk."""
    need(shutil.which("mkfs.ext4"), "mkfs.ext4 not installed")
    img = tmp_path / "disk.img"
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", str(img)], check=True)
    r = subprocess.run(["mount", "-o", "loop,nosuid,nodev", str(img), str(mnt)],
                       capture_output=True, text=True)
    need(r.returncode == 0, "cannot loop-mount: " + r.stderr.strip())
    yield mnt
    r = subprocess.run(["umount", str(mnt)], capture_output=True, text=True)
    # Nothing of the sandbox may still hold the disk once the runtime exited.
    assert r.returncode == 0, "workspace disk still busy: " + r.stderr


def xattrs(path):
    return {x: os.getxattr(path, x, follow_symlinks=False)
            for x in os.listxattr(path, follow_symlinks=False)}


def test_upper_on_a_disk_keeps_files_owned_by_sandbox_root(rootfs, tmp_path, disk):
    st, out, err = run(rootfs, tmp_path,
                       "echo v1 > /root/state; mkdir -p /usr/local/bin;"
                       "printf '#!/bin/sh\\necho tool\\n' > /usr/local/bin/tool;"
                       "chmod +x /usr/local/bin/tool; chown 1000:1000 /root/state.2 2>/dev/null;"
                       "touch /root/u1000 && chown 1000:1001 /root/u1000",
                       "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    f = disk / "upper" / "root" / "state"
    assert f.read_text() == "v1\n"
    assert (f.stat().st_uid, f.stat().st_gid) == (0, 0)
    u = (disk / "upper" / "root" / "u1000").stat()
    assert (u.st_uid, u.st_gid) == (1000, 1001)
    assert (disk / "work").is_dir()

    # Another uid range sees the same files as root's (and 1000's).
    st, out, err = run(rootfs, tmp_path,
                       "cat /root/state; tool; stat -c '%u:%g' /root/state /root/u1000",
                       "--upper", str(disk), uid_base=300000)
    assert st[-1] == "exit 0", (st, err)
    assert out == "v1\ntool\n0:0\n1000:1001\n"


def test_whiteout_and_opaque_directory_land_in_the_upper(rootfs, tmp_path, disk):
    st, out, err = run(rootfs, tmp_path,
                       "rm /etc/hostname; rm -rf /usr; mkdir -p /usr/x; echo y > /usr/x/f",
                       "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    wh = os.lstat(disk / "upper" / "etc" / "hostname")
    assert stat.S_ISCHR(wh.st_mode) and wh.st_rdev == 0
    assert (wh.st_uid, wh.st_gid) == (0, 0)
    # The kernel writes the user.* name (userxattr: the overlay is mounted
    # in the sandbox's user namespace), never trusted.overlay.opaque.
    x = xattrs(disk / "upper" / "usr")
    assert x.get("user.overlay.opaque") == b"y", x
    assert not any(k.startswith("trusted.") for k in x)
    # And the next run sees the deletion and only the new /usr.
    st, out, err = run(rootfs, tmp_path,
                       "test ! -e /etc/hostname && echo gone; ls /usr",
                       "--upper", str(disk))
    assert out == "gone\nx\n", (st, err)


def test_full_disk_is_enospc_inside(rootfs, tmp_path, disk):
    st, out, err = run(rootfs, tmp_path,
                       "dd if=/dev/zero of=/root/big bs=1M count=200 2>/dev/null;"
                       "echo rc=$?",
                       "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    assert "rc=1" in out
    r = subprocess.run(["df", "--output=avail", str(disk)], capture_output=True, text=True)
    (disk / "upper" / "root" / "big").unlink()


def test_upper_must_be_a_directory(rootfs, tmp_path):
    st, out, err = run(rootfs, tmp_path, "true", "--upper", str(tmp_path / "nope"))
    assert st[-1].startswith("error upper layer"), st


def make_snapshot(base, files, whiteouts=(), opaque=()):
    base.mkdir()
    for rel, text in files.items():
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    for rel in whiteouts:
        p = base / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        os.mknod(p, 0o600 | stat.S_IFCHR, 0)
    for rel in opaque:
        p = base / rel
        p.mkdir(parents=True, exist_ok=True)
        os.setxattr(p, "user.overlay.opaque", b"y")
    return base


def test_lower_layers_stack_first_on_top(rootfs, tmp_path):
    top = make_snapshot(tmp_path / "top", {"opt/tool/v": "gold\n", "usr/new/a": "a\n"},
                        whiteouts=["etc/hostname"], opaque=["usr"])
    below = make_snapshot(tmp_path / "below", {"opt/tool/v": "old\n", "opt/tool/w": "w\n"})
    st, out, err = run(rootfs, tmp_path,
                       "cat /opt/tool/v /opt/tool/w; test -e /etc/hostname || echo wh;"
                       "ls /usr; stat -c %u /opt/tool/v; echo x > /opt/tool/v; cat /opt/tool/v",
                       "--lower", str(top), "--lower", str(below))
    assert st[-1] == "exit 0", (st, err)
    assert out == "gold\nw\nwh\nnew\n0\nx\n"
    # Read-only: the change went to the (tmpfs) upper.
    assert (top / "opt" / "tool" / "v").read_text() == "gold\n"


def test_lower_under_a_workspace_upper(rootfs, tmp_path, disk):
    base = make_snapshot(tmp_path / "golden", {"opt/tool/v": "gold\n"},
                         whiteouts=["etc/hostname"])
    st, out, err = run(rootfs, tmp_path,
                       "echo fork >> /opt/tool/v; test ! -e /etc/hostname",
                       "--lower", str(base), "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    assert (disk / "upper" / "opt" / "tool" / "v").read_text() == "gold\nfork\n"
    assert (base / "opt" / "tool" / "v").read_text() == "gold\n"


def test_copy_in_places_files_owned_by_root(rootfs, tmp_path, disk):
    src = tmp_path / "data.csv"
    src.write_text("a,b\n1,2\n")
    os.chmod(src, 0o600)
    st, out, err = run(rootfs, tmp_path,
                       "wc -l < /root/data.csv; wc -l < /uploads/data.csv;"
                       "stat -c '%u:%g %a' /root/data.csv /new/dir/d.csv /new/dir",
                       "--copy-in", "%s:/root/data.csv" % src,
                       "--copy-in", "%s:/uploads/data.csv" % src,
                       "--copy-in", "%s:/new/dir/d.csv" % src,
                       "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    assert out == "2\n2\n0:0 644\n0:0 644\n0:0 755\n"
    f = (disk / "upper" / "root" / "data.csv").stat()
    assert (f.st_uid, f.st_mode & 0o777) == (0, 0o644)


def test_copy_in_replaces_an_existing_file(rootfs, tmp_path, disk):
    src = tmp_path / "new.txt"
    src.write_text("new\n")
    (disk / "upper" / "root").mkdir(parents=True)
    (disk / "upper" / "root" / "f").write_text("old\n")
    st, out, err = run(rootfs, tmp_path, "cat /root/f",
                       "--copy-in", "%s:/root/f" % src, "--upper", str(disk))
    assert out == "new\n", (st, err)


def test_copy_in_refuses_host_symlinks_and_directories(rootfs, tmp_path):
    link = tmp_path / "link"
    link.symlink_to("/etc/shadow")
    st, _, _ = run(rootfs, tmp_path, "true", "--copy-in", "%s:/root/x" % link)
    assert st[-1].startswith("error copy-in:") and "symbolic links" in st[-1], st
    st, _, _ = run(rootfs, tmp_path, "true", "--copy-in", "%s:/root/x" % tmp_path)
    assert st[-1].startswith("error copy-in:") and "not a regular file" in st[-1], st


def test_copy_in_never_follows_symlinks_in_the_sandbox(rootfs, tmp_path, disk):
    """A workspace whose /root is a symlink to /etc (or whose target file
    is a symlink) must not get the upload written through it."""
    src = tmp_path / "payload"
    src.write_text("evil\n")
    up = disk / "upper"
    up.mkdir()
    os.symlink("/etc", up / "root")
    (up / "uploads").mkdir()
    os.symlink("/etc/passwd", up / "uploads" / "x")
    st, _, _ = run(rootfs, tmp_path, "true",
                   "--copy-in", "%s:/root/passwd" % src, "--upper", str(disk))
    assert st[-1].startswith("error copy-in:"), st
    # The last component being a symlink: the link is replaced, not followed.
    st, out, err = run(rootfs, tmp_path, "cat /uploads/x; head -c 5 /etc/passwd",
                       "--copy-in", "%s:/uploads/x" % src, "--upper", str(disk))
    assert st[-1] == "exit 0", (st, err)
    assert out.startswith("evil\nroot:")
    assert not os.path.islink(up / "uploads" / "x")


def test_copy_in_on_a_full_disk_fails_set_up(rootfs, tmp_path, disk):
    big = tmp_path / "big"
    with open(big, "wb") as f:
        f.truncate(100 << 20)
    st, _, _ = run(rootfs, tmp_path, "true", "--copy-in", "%s:/root/big" % big,
                   "--upper", str(disk))
    assert st[-1].startswith("error copy-in:") and "No space left" in st[-1], st
