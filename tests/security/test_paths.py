"""The file paths magsd writes from sandbox content: workspace uploads,
sync to the object store, restores of snapshots on the host."""
import hashlib
import os
import random
import stat


from .conftest import upload, wait_until


def _sync_and_fork(srv, script, ws, token="alice"):
    """Run script in persistent workspace ws (then synced), then start a
    fork of it (which materialises the snapshot on the host)."""
    st, out, err, _ = srv.run(script, workspace_id=ws, persistent=True, token=token)
    # a persistent job keeps its sandbox after the script; the test helper
    # stops it (which syncs), so it ends "stopped" with the script's code
    assert st["status"] in ("completed", "stopped") and st["exit_code"] == 0, (st, out, err)

    def synced():
        r = srv.api("GET", "/mags-workspaces", token=token)
        return any(w["workspace_id"] == ws and w.get("snapshot")
                   for w in (r.json or {}).get("workspaces", []))
    assert wait_until(synced, 30), "workspace %s never synced" % ws
    fork = ws + "-fork%d" % random.randint(0, 1 << 20)
    r = srv.api("POST", "/mags-jobs", {"script": "ls -lnR /root 2>&1 | head -n 50",
                                       "base_workspace_id": ws, "workspace_id": fork},
                token=token)
    assert r.status == 200, r
    st = srv.wait(r.json["request_id"], timeout=60, token=token)
    assert st["status"] == "completed", st
    return out, [l["message"] for l in srv.logs(r.json["request_id"], token=token)]


def _nosuid_mounts():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if "nosuid" in parts[5].split(","):
                out.append(parts[4])
    return out


def _reachable_by_others(path, top):
    """True if every directory from / down to path is traversable by
    other host users (no root-owned ancestor without g+x/o+x)."""
    p = os.path.dirname(path)
    while True:
        st = os.stat(p)
        if st.st_uid == 0 and not (st.st_mode & 0o011):
            return False
        if p == "/":
            return True
        p = os.path.dirname(p)


def test_setid_files_from_a_sandbox_are_unusable_on_the_host(sec_srv):
    # Anchor: setuid binaries in restored/extracted container content (the
    # CVE-2019-14271 `docker cp` class; Docker keeps layers under 0710
    # /var/lib/docker). A sandbox's setuid-root file, synced and restored,
    # may exist on the host only under a nosuid mount or behind a
    # root-only directory. Control: the bits are really set in the
    # sandbox and the fork sees them.
    script = ("cp /bin/busybox /root/suid && chmod 4755 /root/suid && "
              "mkdir -p /root/d && cp /bin/busybox /root/d/sgid && chmod 6755 /root/d/sgid && "
              "ls -ln /root/suid")
    out, fork = _sync_and_fork(sec_srv, script, "secsetid")
    assert out.startswith("-rws"), out
    assert any("rws" in l and "suid" in l for l in fork), fork
    nosuid = _nosuid_mounts()
    bad = []
    for dirpath, dirs, files in os.walk(str(sec_srv.data_dir)):
        if any(dirpath == m or dirpath.startswith(m + "/") for m in nosuid):
            continue
        for f in files:
            p = os.path.join(dirpath, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and st.st_mode & (stat.S_ISUID | stat.S_ISGID):
                if _reachable_by_others(p, sec_srv.data_dir):
                    bad.append((p, oct(st.st_mode), st.st_uid))
    assert not bad, "setid files reachable by host users: %r" % bad[:5]


def test_restored_device_nodes_are_only_whiteouts(sec_srv):
    # Anchor: device nodes in restored content (CVE-2019-14271 / tar
    # extraction of `mknod` entries, gVisor gofer device checks). The only
    # device a sandbox can leave is an overlay whiteout (0:0); whatever is
    # restored on the host is 0:0 too. Control: the whiteout exists.
    script = "rm /etc/hostname /bin/ls && mknod /root/fifo p && echo ok"
    _sync_and_fork(sec_srv, script, "secdev")
    devs = []
    for dirpath, dirs, files in os.walk(str(sec_srv.data_dir)):
        for f in files + dirs:
            p = os.path.join(dirpath, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                devs.append((p, stat.S_ISBLK(st.st_mode), os.major(st.st_rdev),
                             os.minor(st.st_rdev)))
    assert devs, "control: no whiteout found for the deleted files"
    assert all(not blk and maj == 0 and mnr == 0 for _, blk, maj, mnr in devs), devs


def test_symlinks_to_host_files_are_never_followed_by_sync(sec_srv):
    # Anchor: CVE-2018-15664 (docker cp symlink-exchange race), tar-slip
    # (CVE-2018-1002100 kubectl cp), CVE-2021-30465 (runc mount symlink):
    # a workspace holds symlinks pointing at host secrets; sync must store
    # the links, never the host files they name. The object store is
    # content-addressed, so the host file's sha256 must not be in it.
    secret = open("/etc/shadow", "rb").read()
    h = hashlib.sha256(secret).hexdigest()
    script = ("ln -s /etc/shadow /root/abs && ln -s ../../../../../../../etc/shadow /root/rel && "
              "ln -s /proc/1/root/etc/shadow /root/proc && mkdir -p /root/dir && "
              "ln -s /etc /root/dir/etc && ln /etc/passwd /root/hard && echo ok")
    _, fork = _sync_and_fork(sec_srv, script, "secsym")
    assert any("abs -> /etc/shadow" in l for l in fork), fork  # control: links kept
    for root, _, files in os.walk(str(sec_srv.data_dir)):
        assert h not in files, "the host's /etc/shadow was stored: %s/%s" % (root, h)
        assert h[:12] not in "".join(files), root


def test_upload_through_a_planted_symlink_stays_inside(sec_srv):
    # Anchor: CVE-2018-15664 / CVE-2019-14271 (copying into a container
    # through a symlink it planted). The workspace plants /root/x.txt ->
    # /etc/passwd and /uploads is not followed either; the upload lands
    # in place of the link, the sandbox's /etc/passwd and the host are
    # unchanged. Control: the upload arrives.
    host_before = open("/etc/passwd", "rb").read()
    st, out, _, _ = sec_srv.run("ln -sf /etc/passwd /root/x.txt; ls -l /root/x.txt; echo ok",
                                workspace_id="secplant")
    assert out.endswith("ok\n"), out
    r = upload(sec_srv, "x.txt", b"UPLOADED-CONTENT\n")
    assert r.status == 200, r
    fid = (r.json.get("file_ids") or [r.json.get("file_id")])[0]
    st, out, _, _ = sec_srv.run("cat /root/x.txt; grep -c UPLOADED /etc/passwd; true",
                                workspace_id="secplant", file_ids=[fid])
    assert "UPLOADED-CONTENT" in out or st["status"] == "error", (st, out)
    assert out.splitlines()[-1] == "0" or st["status"] == "error", out
    assert open("/etc/passwd", "rb").read() == host_before
