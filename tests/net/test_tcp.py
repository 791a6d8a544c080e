"""STUN over TCP against the real daemon: framing (back-to-back, split),
IPv4 and IPv6, and the limits that keep one peer from holding a worker: bad
frames, oversized frames, the frame-completion deadline (one byte a second),
the idle timeout, the per-worker connection limit (full, a newcomer closes
the oldest connection that has sent no frame), and output backpressure.
Every limit is checked in /metrics and followed by a good client being
answered. Ports 21020-21039."""

import select
import socket
import struct
import sys
import time

from icetest import Daemon, wait_for
from stunlib import (TCP_KEY, build, tcp_read_msg, wait_closed, xor_mapped)

IDLE_S = 2  # tcp-idle-timeout; the frame deadline is min(10 s, idle)
MAX_CONN = 6


def connect(host, port, rcvbuf=None):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.settimeout(5)
    s.connect((host, port))
    return s


def good_client(host, port):
    """A fresh connection gets a correct Binding answer."""
    s = connect(host, port)
    try:
        req, tid = build(fingerprint=True)
        s.sendall(req)
        r = tcp_read_msg(s)
        assert r is not None and r["tid"] == tid and r["cls"] == 2, r
        assert xor_mapped(r) == s.getsockname()[:2], (xor_mapped(r), s.getsockname())
    finally:
        s.close()


def check_framing(host, port):
    s = connect(host, port)
    try:
        # Two requests in one send: two answers, in order.
        (a, ta), (b, tb) = build(), build(fingerprint=True)
        s.sendall(a + b)
        ra, rb = tcp_read_msg(s), tcp_read_msg(s)
        assert ra["tid"] == ta and rb["tid"] == tb
        assert xor_mapped(ra) == s.getsockname()[:2] == xor_mapped(rb)
        # One request split across sends (the gaps only make a split read
        # likely; the assertion does not depend on them).
        c, tc = build(attrs=[(0x8022, b"split-client")])
        for part in (c[:1], c[1:7], c[7:21], c[21:]):
            s.sendall(part)
            time.sleep(0.05)
        rc = tcp_read_msg(s)
        assert rc is not None and rc["tid"] == tc
        # A request and half of the next, then the rest.
        (d_, td), (e, te) = build(), build()
        s.sendall(d_ + e[:10])
        rd = tcp_read_msg(s)
        s.sendall(e[10:])
        re_ = tcp_read_msg(s)
        assert rd["tid"] == td and re_["tid"] == te
    finally:
        s.close()
    print("tcp framing ok on", host)


def closes_with(d, key, action, timeout, host="127.0.0.1", port=None):
    """Run action(sock); the daemon must close the connection within timeout
    and count it under key; a good client is answered right after."""
    before = d.metric(key)
    s = connect(host, port)
    try:
        t0 = time.monotonic()
        action(s)
        assert wait_closed(s, timeout), f"not closed for {key}"
        elapsed = time.monotonic() - t0
    finally:
        s.close()
    wait_for(lambda: d.metric(key) >= before + 1, 5, what=key)
    good_client(host, port)
    return elapsed


def check_limits(d, port):
    # Garbage: neither STUN (0-3) nor ChannelData (64-127, RFC 5766's channel
    # range) on the first byte. Printable text would not do: 'S' (83) and 'G'
    # (71) start ChannelData frames. An RTP header (128+) and a TLS
    # ClientHello (22) are what a misdirected client really sends.
    for junk in (b"\x80\x60\x00\x01" + bytes(28), b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(32)):
        elapsed = closes_with(d, TCP_KEY.format("closed_bad_frame"), lambda s: s.sendall(junk), 5,
                              port=port)
        assert elapsed < 1.5, elapsed
    # A STUN length that is not a multiple of 4.
    closes_with(d, TCP_KEY.format("closed_bad_frame"),
                lambda s: s.sendall(struct.pack("!HHI", 1, 5, 0x2112A442) + b"\0" * 12), 5, port=port)
    # Refused at the byte that shows it, not once the claimed length came or
    # the frame deadline (IDLE_S) passed: a lone garbage byte; a wrong cookie
    # (the eighth byte) under a 64 KB length; a STUN length over a
    # message's 65535 bytes, although this TURN port takes 20 + 65535.
    for key, junk in (("closed_bad_frame", b"\x80"),
                      ("closed_bad_frame", struct.pack("!HHI", 1, 65000, 0xdeadbeef)),
                      ("closed_oversized", struct.pack("!HHI", 1, 65532, 0x2112A442))):
        elapsed = closes_with(d, TCP_KEY.format(key), lambda s: s.sendall(junk), 5, port=port)
        assert elapsed < 1.5, (key, junk, elapsed)

    # One byte a second: never idle, but the frame never completes in time.
    def trickle(s):
        req, _ = build()
        deadline = time.monotonic() + IDLE_S + 6
        for b in req:
            if time.monotonic() > deadline:
                return
            try:
                s.sendall(bytes([b]))
            except OSError:
                return
            # Another client is served while this one trickles.
            good_client("127.0.0.1", port)
            time.sleep(1)
    elapsed = closes_with(d, TCP_KEY.format("closed_slow_frame"), trickle, 15, port=port)
    print("trickler closed after", round(elapsed, 1), "s")

    # A frame that claims 64 KiB, then nothing: 20 + 65512 bytes, the
    # largest STUN message (65535 bytes at most; more is refused at once,
    # check_limits).
    hdr = struct.pack("!HHI", 0x0016, 65512, 0x2112A442) + b"\1" * 12
    elapsed = closes_with(d, TCP_KEY.format("closed_slow_frame"),
                          lambda s: s.sendall(hdr + b"\0" * 1000), IDLE_S + 5, port=port)
    assert elapsed >= IDLE_S - 0.5, elapsed

    # Silent after one answered request: idle timeout.
    def one_then_silence(s):
        req, tid = build()
        s.sendall(req)
        assert tcp_read_msg(s)["tid"] == tid
    elapsed = closes_with(d, TCP_KEY.format("closed_idle"), one_then_silence, IDLE_S + 5, port=port)
    assert elapsed >= IDLE_S - 0.5, elapsed
    print("tcp deadlines ok")


def check_max_connections(d, port):
    key = TCP_KEY.format("closed_evicted")
    pending = 'icestation_connections_evicted_total{listener="tcp",reason="pending"}'
    rejected = TCP_KEY.format("rejected_max")
    before, before_pending, before_rejected = d.metric(key), d.metric(pending), d.metric(rejected)
    conns = [connect("127.0.0.1", port) for _ in range(MAX_CONN + 4)]
    try:
        # All within the idle timeout, so only the limit can close anything.
        # Full, each newcomer (under its address's cap) closes the oldest
        # connection that has sent no frame yet: the first four.
        wait_for(lambda: d.metric(key) >= before + 4, IDLE_S / 2, what=key)
        readable, _, _ = select.select(conns, [], [], 0.2)
        closed = [c for c in readable if wait_closed(c, 0.1)]
        # Accept order is connect order: the newest MAX_CONN are kept.
        assert closed == conns[:4], (len(closed), [conns.index(c) for c in closed])
        assert d.metric(key) == before + 4
        assert d.metric(pending) == before_pending + 4
        assert d.metric(rejected) == before_rejected, "evictable connections, yet refused"
        for c in conns[4:]:
            req, tid = build()
            c.sendall(req)
            r = tcp_read_msg(c)
            assert r is not None and r["tid"] == tid
    finally:
        for c in conns:
            c.close()
    wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 5,
             what="connections released")
    good_client("127.0.0.1", port)
    print("tcp max connections ok")


def check_backpressure(d, port):
    """A client that sends requests and never reads is closed once its
    replies exceed the output bound, instead of being buffered forever."""
    key = TCP_KEY.format("closed_backpressure")
    before = d.metric(key)
    s = connect("127.0.0.1", port, rcvbuf=4096)
    batch = b"".join(build()[0] for _ in range(2000))
    sent, closed = 0, False
    deadline = time.monotonic() + 60
    try:
        s.settimeout(2)
        while sent < 2_000_000 and time.monotonic() < deadline:
            try:
                s.sendall(batch)
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            except socket.timeout:
                # The daemon stopped reading us; it should have closed.
                break
            sent += 2000
            if d.metric(key) >= before + 1:
                closed = True
                break
    finally:
        s.close()
    assert closed or d.metric(key) >= before + 1, f"not closed after {sent} requests"
    wait_for(lambda: d.metric(key) >= before + 1, 5, what=key)
    good_client("127.0.0.1", port)
    print("tcp backpressure ok after", sent, "requests")


def main():
    port = 21021
    with Daemon(http_port=21020, stun_port=port, listen=["127.0.0.1", "::1"],
                stun_extra={"tcp-idle-timeout": f"{IDLE_S}s", "tcp-max-connections": MAX_CONN,
                            "rate-limit": {"requests-per-second": 0}}) as d:
        for host in ("127.0.0.1", "::1"):
            good_client(host, port)
            check_framing(host, port)
        check_limits(d, port)
        check_max_connections(d, port)
        check_backpressure(d, port)

    # STUN-only listener (TURN off): a frame over 4 KiB is refused at once.
    port = 21023
    with Daemon(http_port=21022, stun_port=port, turn=False) as d:
        key = TCP_KEY.format("closed_oversized")
        hdr = struct.pack("!HHI", 0x0001, 8192, 0x2112A442) + b"\2" * 12
        elapsed = closes_with(d, key, lambda s: s.sendall(hdr), 5, port=port)
        assert elapsed < 2, elapsed
        print("tcp oversized ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
