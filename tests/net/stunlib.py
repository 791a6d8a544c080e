"""A tiny, independent STUN encoder/decoder for the net tests (written from
RFC 8489, not from the daemon's codec), plus socket helpers that never wait
without a deadline."""

import os
import re
import select
import socket
import struct
import time
import zlib

from stunwire import COOKIE, msg_type, pad4, wait_readable  # noqa: F401 (re-exported)

BINDING = 0x0001
ALLOCATE = 0x0003
REQUEST, INDICATION, SUCCESS, ERROR = 0, 1, 2, 3
A_XOR_MAPPED = 0x0020
A_SOFTWARE = 0x8022
A_FINGERPRINT = 0x8028
A_ERROR_CODE = 0x0009
A_UNKNOWN = 0x000A
A_REQUESTED_TRANSPORT = 0x0019


def build(method=BINDING, cls=REQUEST, attrs=(), fingerprint=False, tid=None, cookie=COOKIE):
    """Return (bytes, tid)."""
    tid = tid or os.urandom(12)
    body = b""
    for t, v in attrs:
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * (pad4(len(v)) - len(v))
    if fingerprint:
        hdr = struct.pack("!HHI", msg_type(method, cls), len(body) + 8, cookie) + tid
        crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
    return struct.pack("!HHI", msg_type(method, cls), len(body), cookie) + tid + body, tid


def parse(data):
    """Decode a whole message: dict with method, cls, tid, attrs [(type, value)]."""
    assert len(data) >= 20, f"short STUN message {data!r}"
    t, length, cookie = struct.unpack("!HHI", data[:8])
    assert cookie == COOKIE, "bad cookie in response"
    assert 20 + length == len(data), f"length {length} vs {len(data)} bytes"
    method = (t & 0xF) | ((t >> 1) & 0x70) | ((t >> 2) & 0xF80)
    cls = ((t >> 7) & 2) | ((t >> 4) & 1)
    attrs, off = [], 20
    while off < len(data):
        at, al = struct.unpack("!HH", data[off:off + 4])
        attrs.append((at, data[off + 4:off + 4 + al], off))
        off += 4 + pad4(al)
    assert off == len(data)
    return {"method": method, "cls": cls, "tid": data[8:20], "raw": data,
            "attrs": [(a, v) for a, v, _ in attrs], "offsets": {a: o for a, _, o in attrs}}


def attr(msg, t):
    for a, v in msg["attrs"]:
        if a == t:
            return v
    return None


def xor_mapped(msg):
    v = attr(msg, A_XOR_MAPPED)
    assert v is not None, "no XOR-MAPPED-ADDRESS"
    fam = v[1]
    port = struct.unpack("!H", v[2:4])[0] ^ (COOKIE >> 16)
    if fam == 1:
        raw = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", COOKIE)))
        return socket.inet_ntop(socket.AF_INET, raw), port
    assert fam == 2, f"bad family {fam}"
    key = struct.pack("!I", COOKIE) + msg["tid"]
    raw = bytes(a ^ b for a, b in zip(v[4:20], key))
    return socket.inet_ntop(socket.AF_INET6, raw), port


def fingerprint_ok(msg):
    off = msg["offsets"].get(A_FINGERPRINT)
    if off is None:
        return None
    assert off + 8 == len(msg["raw"]), "FINGERPRINT is not last"
    want = (zlib.crc32(msg["raw"][:off]) ^ 0x5354554E) & 0xFFFFFFFF
    return struct.unpack("!I", msg["raw"][off + 4:off + 8])[0] == want


def error_code(msg):
    v = attr(msg, A_ERROR_CODE)
    return None if v is None else (v[2] & 7) * 100 + v[3]


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def udp_socket(host="127.0.0.1", port=0):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.bind((host, port))
    return s


def recv_until(sock, pred, timeout=5.0):
    """Receive datagrams until pred(data) is true; return that one, or None at the deadline."""
    deadline = time.monotonic() + timeout
    while wait_readable(sock, deadline):
        data = sock.recv(70000)
        if pred(data):
            return data
    return None


def drain(sock):
    """Every datagram already queued on sock (non-blocking)."""
    out = []
    while True:
        r, _, _ = select.select([sock], [], [], 0)
        if not r:
            return out
        out.append(sock.recv(70000))


def udp_binding(sock, server, timeout=5.0, retries=3, **kw):
    """One Binding transaction (retransmitted like a real client); parsed response or None."""
    req, tid = build(**kw)
    for _ in range(retries):
        sock.sendto(req, server)
        data = recv_until(sock, lambda d: len(d) >= 20 and d[8:20] == tid, timeout / retries)
        if data is not None:
            return parse(data)
    return None


def tcp_read_msg(sock, timeout=5.0):
    """Read one framed STUN message from a stream, or None on EOF/deadline."""
    deadline = time.monotonic() + timeout
    buf = b""

    def need(n):
        nonlocal buf
        while len(buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            sock.settimeout(left)
            try:
                chunk = sock.recv(n - len(buf))  # never past this message
            except (socket.timeout, ConnectionResetError):
                return False
            if not chunk:
                return False
            buf += chunk
        return True

    if not need(20):
        return None
    total = 20 + struct.unpack("!H", buf[2:4])[0]
    if not need(total):
        return None
    return parse(buf)


def wait_closed(sock, timeout):
    """True if the peer closes (EOF or reset) within timeout; data is discarded."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        sock.settimeout(left)
        try:
            if not sock.recv(65536):
                return True
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            return True


def metrics_delta(before, after, key):
    return after.get(key, 0.0) - before.get(key, 0.0)


DROPS = ("malformed", "not_stun", "rate_limited", "truncated", "unexpected_class")


def drop_key(reason):
    return f'icestation_stun_dropped_total{{reason="{reason}"}}'


TCP_KEY = 'icestation_net_tcp_connections_total{{result="{}"}}'


def ephemeral_range():
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        lo, hi = f.read().split()
    return int(lo), int(hi)


def parse_stunclient(out):
    """(host, port) pairs from turnutils_stunclient's 'UDP reflexive addr: h:p' lines."""
    return [(m.group(1), int(m.group(2)))
            for m in re.finditer(r"reflexive addr: \[?([0-9a-fA-F.:]+?)\]?:(\d+)", out)]
