"""Hostile UDP input against the real daemon: every truncation of a valid
request, overruns, lying length fields, bad cookies, random garbage and 64 KiB
datagrams. Every datagram must be accounted for in exactly one drop counter
(or the unhandled-TURN counter, for ChannelData-looking garbage), none is
answered, and a good client from another address is answered after every
burst. The rate limiter is off so the accounting is exact. Ports 21040-21059."""

import os
import random
import socket
import struct
import sys

from icetest import Daemon, wait_for
from stunlib import (COOKIE, DROPS, TCP_KEY, build, drain, drop_key, tcp_read_msg, udp_binding,
                     udp_socket, wait_closed, xor_mapped)

HTTP, PORT = 21040, 21041
IDLE_S = 2
BURST = 10  # datagrams between fences: 10 x 4 KB stays far below the default rmem_max


def corpus(rng):
    good, _ = build(attrs=[(0x8022, b"fuzz-source"), (0x0024, b"\0\0\0\1")], fingerprint=True)
    out = [good[:n] for n in range(len(good))]  # every truncation, 0 included
    out += [good + b"\0" * n for n in (1, 4, 8, 100)]  # overruns past the STUN length
    for claim in (0, 4, len(good) - 16, len(good) - 20 + 4, 65532):  # lying length field
        out.append(good[:2] + struct.pack("!H", claim) + good[4:])
    out.append(good[:2] + struct.pack("!H", len(good) - 20 - 1) + good[4:])  # not /4
    for cookie in (0, COOKIE ^ 1, 0xFFFFFFFF):
        out.append(good[:4] + struct.pack("!I", cookie) + good[8:])
    bad_fp = bytearray(good)
    bad_fp[-1] ^= 0xFF
    out.append(bytes(bad_fp))
    # Attribute length running past the message.
    one = build(attrs=[(0x8022, b"abcd")])[0]
    out.append(one[:22] + struct.pack("!H", 8) + one[24:])
    body = struct.pack("!HH", 0x8022, 200) + b"x" * 8
    out.append(struct.pack("!HHI", 1, len(body), COOKIE) + os.urandom(12) + body)
    # Random garbage over every first-byte class (STUN 0-3, DTLS, ChannelData 64-79, RTP...).
    for i in range(2500):
        n = rng.choice((1, 3, 4, 19, 20, 21, 28, 100, 548, 1200, 1500, 4000))
        b = bytearray(rng.randbytes(n))
        b[0] = i % 256
        out.append(bytes(b))
    return out


def main():
    rng = random.Random(1234)
    # STUN-only: the drop accounting below is the Binding service's; TURN's
    # own malformed-input handling is covered in tests/turn_net.
    with Daemon(http_port=HTTP, stun_port=PORT, turn=False,
                stun_extra={"rate-limit": {"requests-per-second": 0},
                            "tcp-idle-timeout": f"{IDLE_S}s"}) as d:
        attacker = udp_socket("127.0.0.3")
        good = udp_socket("127.0.0.1")
        server = ("127.0.0.1", PORT)
        keys = [drop_key(r) for r in DROPS] + ["icestation_net_turn_unhandled_total"]
        base = d.metrics()
        sent = 0

        def fence():
            r = udp_binding(good, server)
            assert r is not None, "good client not answered"
            assert xor_mapped(r) == good.getsockname()

        datagrams = corpus(rng)
        for i in range(0, len(datagrams), BURST):
            for dgram in datagrams[i:i + BURST]:
                attacker.sendto(dgram, server)
                sent += 1
            fence()
        # Datagrams larger than the receive slot: truncated, dropped, counted.
        big = build(attrs=[(0x8022, b"y" * 65000)])[0]
        for _ in range(10):
            attacker.sendto(big, server)
            sent += 1
            fence()

        def accounted():
            m = d.metrics()
            return sum(m.get(k, 0) - base.get(k, 0) for k in keys) >= sent

        wait_for(accounted, 20, what=f"{sent} datagrams counted")
        m = d.metrics()
        per_reason = {k: m.get(k, 0) - base.get(k, 0) for k in keys}
        print("sent", sent, "counted", per_reason)
        assert sum(per_reason.values()) == sent, per_reason
        assert per_reason[drop_key("truncated")] == 10
        assert per_reason[drop_key("malformed")] > 0 and per_reason[drop_key("not_stun")] > 0
        # Nothing the attacker sent was answered.
        fence()
        assert drain(attacker) == [], "garbage was answered"
        assert d.alive()
        tcp_garbage(d, rng)
    return 0


def tcp_garbage(d, rng):
    """Streams of random bytes: every connection is closed (bad frame at once,
    or the frame deadline for a plausible header) and counted; a good TCP
    client is answered meanwhile."""
    closes = [TCP_KEY.format(r) for r in ("closed_bad_frame", "closed_slow_frame",
                                          "closed_oversized", "closed_idle")]
    base = d.metrics()
    conns = []
    for i in range(30):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        junk = bytearray(rng.randbytes(rng.choice((1, 5, 64, 3000))))
        junk[0] = rng.choice((0, 1, 2, 3, 0x40, 0x4F, 0x16, 0x80, 0xFF, i))
        s.sendall(bytes(junk))
        conns.append(s)
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    req, tid = build()
    s.sendall(req)
    r = tcp_read_msg(s)
    assert r is not None and r["tid"] == tid and xor_mapped(r) == s.getsockname()
    s.close()
    try:
        for c in conns:
            assert wait_closed(c, IDLE_S + 5), "garbage connection left open"
    finally:
        for c in conns:
            c.close()

    def counted():
        m = d.metrics()
        return sum(m.get(k, 0) - base.get(k, 0) for k in closes) >= 30

    wait_for(counted, 10, what="30 garbage connections counted")
    m = d.metrics()
    print("tcp garbage", {k: m.get(k, 0) - base.get(k, 0) for k in closes})


if __name__ == "__main__":
    sys.exit(main())
