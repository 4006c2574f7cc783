"""WebSocket framing (RFC 6455) for the tests' own echo servers and clients.
Standard library only."""
import base64
import hashlib
import os
import struct


def ws_accept(key):
    return base64.b64encode(hashlib.sha1(
        (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        b = s.recv(n - len(buf))
        if not b:
            raise EOFError("closed after %d of %d bytes" % (len(buf), n))
        buf += b
    return buf


def ws_read_frame(s):
    b0, b1 = recv_exact(s, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack(">H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack(">Q", recv_exact(s, 8))[0]
    mask = recv_exact(s, 4) if b1 & 0x80 else None
    data = recv_exact(s, n)
    if mask:
        data = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
    return b0 & 0x0F, data


def ws_frame(data, opcode=1, mask=True):
    hdr = bytes([0x80 | opcode])
    n = len(data)
    m = 0x80 if mask else 0
    if n < 126:
        hdr += bytes([m | n])
    elif n < 65536:
        hdr += bytes([m | 126]) + struct.pack(">H", n)
    else:
        hdr += bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        return hdr + key + bytes(c ^ key[i % 4] for i, c in enumerate(data))
    return hdr + data
