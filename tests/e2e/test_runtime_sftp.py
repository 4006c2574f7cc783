"""The sandbox's SFTP server (issue 5): {"op": "sftp"} on the control
socket hands the connection to an SFTP v3 server inside the sandbox
(src/runtime/sftpsrv.c, packets in src/common/sftpproto.c).

Driven without any SSH: OpenSSH's `sftp -D` and `scp -D` talk to a local
server program over stdio, and `mags-runtime sftp --control SOCK` relays
stdio to the control socket. Hostile packets are sent from Python.
"""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import time

import pytest

from conftest import RUNTIME, need, wait_until
from test_runtime_exec import Sandbox, recv_exact, request, frame


@pytest.fixture(scope="module")
def rootfs(image_cache):
    return image_cache / "images" / "busybox" / "rootfs"


@pytest.fixture
def sb(rootfs, tmp_path):
    s = Sandbox(rootfs, tmp_path)
    yield s
    s.close()


def sftp_batch(sb, tmp_path, commands, check=True):
    """Run OpenSSH's sftp in batch mode against the sandbox."""
    need(shutil.which("sftp"), "OpenSSH's sftp client is not installed (openssh-client)")
    batch = tmp_path / "batch"
    batch.write_text("".join(c + "\n" for c in commands))
    r = subprocess.run(["sftp", "-b", str(batch), "-D",
                        "%s sftp --control %s" % (RUNTIME, sb.control)],
                       capture_output=True, text=True, timeout=120)
    if check:
        assert r.returncode == 0, (r.stdout, r.stderr)
    return r


# ---- a raw SFTP v3 client ----------------------------------------------------

def sstr(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">I", len(b)) + b


class Raw:
    """An SFTP session spoken byte by byte."""

    def __init__(self, sb, init=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(20)
        self.s.connect(str(sb.control))
        self.s.sendall(frame("Q", b'{"op": "sftp"}'))
        hdr = recv_exact(self.s, 5)
        assert hdr[:1] == b"S", hdr
        assert json.loads(recv_exact(self.s, struct.unpack(">I", hdr[1:])[0])) == {"sftp": True}
        self.id = 0
        if init:
            self.s.sendall(struct.pack(">IBI", 5, 1, 3))
            t, body = self.packet()
            assert t == 2 and body[:4] == struct.pack(">I", 3)
            self.extensions = body[4:]

    def packet(self):
        n = struct.unpack(">I", recv_exact(self.s, 4))[0]
        body = recv_exact(self.s, n)
        return body[0], body[1:]

    def call(self, t, payload):
        self.id += 1
        body = bytes([t]) + struct.pack(">I", self.id) + payload
        self.s.sendall(struct.pack(">I", len(body)) + body)
        rt, rbody = self.packet()
        assert struct.unpack(">I", rbody[:4])[0] == self.id
        return rt, rbody[4:]

    def status(self, t, payload):
        rt, body = self.call(t, payload)
        assert rt == 101, (rt, body)
        return struct.unpack(">I", body[:4])[0]

    def name(self, t, path):
        rt, body = self.call(t, sstr(path))
        if rt == 101:
            return None
        assert rt == 104 and struct.unpack(">I", body[:4])[0] == 1
        n = struct.unpack(">I", body[4:8])[0]
        return body[8:8 + n].decode()

    def read_file(self, path):
        rt, body = self.call(3, sstr(path) + struct.pack(">II", 1, 0))
        if rt == 101:
            return None
        assert rt == 102
        h = body  # string handle, as sent
        data, off = b"", 0
        while True:
            rt, body = self.call(5, h + struct.pack(">QI", off, 65536))
            if rt == 101:
                assert struct.unpack(">I", body[:4])[0] == 1  # EOF
                break
            n = struct.unpack(">I", body[:4])[0]
            data += body[4:4 + n]
            off += n
        assert self.status(4, h) == 0
        return data

    def stat_perm(self, path):
        rt, body = self.call(17, sstr(path))
        assert rt == 105, (rt, body)
        flags = struct.unpack(">I", body[:4])[0]
        assert flags & 4
        # size (8) + uid/gid (8) precede the permissions
        return struct.unpack(">I", body[20:24])[0]

    def closed(self, timeout=10):
        """True when the server ends the session."""
        self.s.settimeout(timeout)
        try:
            while True:
                if not self.s.recv(65536):
                    return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.s.close()


# ---- with OpenSSH's clients ------------------------------------------------

def test_put_get_byte_exact(sb, tmp_path):
    data = os.urandom(5 * 1024 * 1024)
    src, back = tmp_path / "src.bin", tmp_path / "back.bin"
    src.write_bytes(data)
    r = sftp_batch(sb, tmp_path, ["pwd", "put %s big.bin" % src, "get big.bin %s" % back])
    assert "Remote working directory: /root" in r.stdout
    assert back.read_bytes() == data
    code, out, _, _ = sb.exec("md5sum /root/big.bin")
    assert (code, out.split()[0]) == (0, hashlib.md5(data).hexdigest())


def test_directory_operations(sb, tmp_path):
    (tmp_path / "small").write_text("small\n")
    r = sftp_batch(sb, tmp_path, [
        "mkdir d", "put %s d/a" % (tmp_path / "small"), "ls d", "rename d/a d/b",
        "ls -l d", "chmod 640 d/b", "symlink /etc/passwd d/ln", "mkdir d/sub", "rmdir d/sub",
        "ls -l d"])
    assert "d/a" in r.stdout
    assert "-rw-r-----" in r.stdout and " 0        0 " in r.stdout  # longname
    code, out, _, _ = sb.exec("cd /root/d && ls && cat b && readlink ln && "
                              "ls -l b | cut -c1-10")
    assert (code, out) == (0, "b\nln\nsmall\n/etc/passwd\n-rw-r-----\n"), out
    r = sftp_batch(sb, tmp_path, ["rm d/b", "rm d/ln", "rmdir d", "ls"])
    assert sb.exec("ls /root")[1] == ""
    # Errors come back as errors: rmdir of what is not there fails the batch.
    r = sftp_batch(sb, tmp_path, ["rmdir nothere"], check=False)
    assert r.returncode != 0


def test_rename_does_not_replace_but_posix_rename_does(sb, tmp_path):
    sb.exec("echo one > /root/a; echo two > /root/b")
    raw = Raw(sb)
    assert raw.status(18, sstr("a") + sstr("b")) == 4  # SSH_FXP_RENAME: target exists
    assert b"posix-rename@openssh.com" in raw.extensions
    assert raw.status(200, sstr("posix-rename@openssh.com") + sstr("a") + sstr("b")) == 0
    assert raw.read_file("b") == b"one\n" and raw.read_file("a") is None
    assert raw.status(200, sstr("hardlink@openssh.com") + sstr("b") + sstr("c")) == 0
    assert raw.status(200, sstr("nosuch@example.com")) == 8  # unsupported
    raw.close()
    assert sb.exec("cat /root/c")[1] == "one\n"


def test_scp_both_ways(sb, tmp_path):
    need(shutil.which("scp"), "OpenSSH's scp is not installed (openssh-client)")
    data = os.urandom(300000)
    (tmp_path / "f").write_bytes(data)
    # scp -D takes a program path, not a command line.
    wrapper = tmp_path / "server.sh"
    wrapper.write_text("#!/bin/sh\nexec %s sftp --control %s\n" % (RUNTIME, sb.control))
    wrapper.chmod(0o755)
    r = subprocess.run(["scp", "-D", str(wrapper), str(tmp_path / "f"), "x:/tmp/f"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    r = subprocess.run(["scp", "-D", str(wrapper), "x:/tmp/f", str(tmp_path / "g")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "g").read_bytes() == data


# ---- containment ---------------------------------------------------------------

def test_paths_stay_inside_the_sandbox(sb, tmp_path):
    host = open("/etc/hostname", "rb").read() if os.path.exists("/etc/hostname") else b""
    marker = b"inside-the-sandbox\n"
    need(host != marker, "the host's /etc/hostname must differ")
    sb.exec("printf 'inside-the-sandbox\\n' > /etc/hostname && ln -s /etc/hostname /root/abs "
            "&& ln -s ../../../../../../etc/hostname /root/rel")
    raw = Raw(sb)
    for p in ("/etc/hostname", "../../../../../../../etc/hostname", "/../../etc/hostname",
              "abs", "rel", "/root/../../../etc/hostname"):
        assert raw.read_file(p) == marker, p
    # init is not dumpable: its /proc entries are closed even to the
    # sandbox's root; what is there is the sandbox's root anyway.
    assert raw.read_file("/proc/1/root/etc/hostname") in (None, marker)
    assert raw.read_file("/proc/self/root/etc/hostname") == marker
    assert raw.name(16, "../../../..") == "/"
    assert raw.name(16, ".") == "/root"
    assert raw.name(16, "newfile") == "/root/newfile"  # a put target need not exist
    assert raw.name(19, "abs") == "/etc/hostname"        # READLINK
    # expand-path@openssh.com: ~ is /root
    rt, body = raw.call(200, sstr("expand-path@openssh.com") + sstr("~/x"))
    assert rt == 104 and b"/root/x" in body
    raw.close()
    # And sftp's own `get` of an absolute symlink.
    sftp_batch(sb, tmp_path, ["get abs %s" % (tmp_path / "got")])
    assert (tmp_path / "got").read_bytes() == marker


def test_session_counts_as_an_exec(sb):
    raw = Raw(sb)
    st = json.loads(request(sb.control, {"op": "status"})[3])
    assert st["execs"] == 1
    raw.close()
    assert wait_until(lambda: json.loads(request(sb.control, {"op": "status"})[3])["execs"]
                      == 0, 10)


# ---- hostile packets -------------------------------------------------------

def test_hostile_packets_end_the_session_not_init(sb):
    def pkt(body):
        return struct.pack(">I", len(body)) + body
    cases = [
        (False, struct.pack(">I", 0xFFFFFFFF)),                 # a 4 GiB packet
        (False, struct.pack(">I", 0)),                           # an empty one
        (False, struct.pack(">I", 256 * 1024 + 1)),              # just over the limit
        (False, pkt(struct.pack(">BI", 3, 1))),                  # OPEN before INIT
        (True, pkt(struct.pack(">BI", 3, 1) + b"\xff\xff\xff\xff")),  # path beyond the packet
        (True, pkt(struct.pack(">BI", 1, 3))),                   # a second INIT
        (True, pkt(struct.pack(">BI", 13, 1) + sstr("a\0b"))),   # NUL in a path
        (True, pkt(struct.pack(">BI", 9, 1) + sstr("x") + b"\0\0\0\x0f")),  # attrs cut short
        (True, pkt(b"\x05\x00")),                                # truncated id
        (True, struct.pack(">I", 100) + b"short"),               # then the client goes
        (True, os.urandom(64 * 1024)),                           # garbage, then EOF
    ]
    for init, data in cases:
        raw = Raw(sb, init=init)
        raw.s.sendall(data)
        if data.endswith(b"short") or len(data) == 64 * 1024:
            raw.s.shutdown(socket.SHUT_WR)
        assert raw.closed(), data[:16]
        raw.close()
    # Bad handles and unknown types are answered, the session goes on.
    raw = Raw(sb)
    for h in (struct.pack(">I", 9999), struct.pack(">I", 255), b"abc", b"", b"\xff" * 4):
        assert raw.status(5, sstr(h) + struct.pack(">QI", 0, 10)) == 4   # READ
        assert raw.status(4, sstr(h)) == 4                               # CLOSE
    assert raw.status(77, b"") == 8                                      # unknown type
    # At most 256 open handles.
    results = [raw.call(11, sstr("/"))[0] for _ in range(260)]
    assert results.count(102) == 256 and results[256:] == [101] * 4
    assert raw.name(16, ".") == "/root"
    raw.close()
    assert sb.exec("echo still")[1] == "still\n"
    assert sb.runtime_alive()
    assert wait_until(lambda: json.loads(request(sb.control, {"op": "status"})[3])["execs"]
                      == 0, 10)
