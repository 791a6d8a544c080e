"""Per-source-IP rate limit on the real daemon: burst + N Binding requests
from one IP in a tight loop get exactly `burst` answers, the over-limit ones
are counted as rate_limited, another source IP (127.0.0.2) is unaffected,
and Binding indications (not requests) never pay. Over TCP the over-limit
requests are held, not dropped: all answered, in order, at the refill rate,
counted as held, none as rate_limited (a stream client never retransmits).
Ports 21060-21079."""

import socket
import sys
import time

from icetest import Daemon, wait_for
from stunlib import (INDICATION, build, drain, drop_key, parse, recv_until, tcp_read_msg,
                     udp_binding, udp_socket)

HTTP, PORT = 21060, 21061
# 1 token per second: the loop below takes milliseconds, so at most one
# token can be refilled if the machine stalls for a whole second.
RPS, BURST, EXTRA = 1, 20, 15
TCP_EXTRA = 3  # requests past the burst over TCP: held ~1 s each


def flood(d, sock, server, n):
    """Send n requests back to back; return the set of answered tids."""
    key_req = "icestation_stun_binding_requests_total"
    key_rl = drop_key("rate_limited")
    before = d.metric(key_req) + d.metric(key_rl)
    tids = set()
    for _ in range(n):
        req, tid = build()
        tids.add(tid)
        sock.sendto(req, server)
    wait_for(lambda: d.metric(key_req) + d.metric(key_rl) >= before + n, 10,
             what=f"{n} requests processed")
    answered = set()
    while True:
        data = recv_until(sock, lambda x: True, 1.0 if len(answered) < BURST else 0.2)
        if data is None:
            break
        answered.add(parse(data)["tid"])
    assert answered <= tids
    return answered


def tcp_held(d, server):
    """BURST + TCP_EXTRA requests pipelined on one TCP connection from a fresh
    source IP: the burst answered at once, the rest held and answered as
    tokens come (1/s), none dropped. Without the hold the last TCP_EXTRA
    never get an answer."""
    key_rl, key_held = drop_key("rate_limited"), "icestation_stun_rate_limited_held_total"
    rl0, held0 = d.metric(key_rl), d.metric(key_held)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.3", 0))
    s.settimeout(5)
    s.connect(server)
    try:
        tids = []
        for _ in range(BURST + TCP_EXTRA):
            req, tid = build()
            tids.append(tid)
            s.sendall(req)
        t0 = time.monotonic()
        got = []
        for _ in tids:
            msg = tcp_read_msg(s, timeout=TCP_EXTRA + 5)
            assert msg is not None, f"TCP: only {len(got)} of {len(tids)} answered"
            got.append(msg["tid"])
        took = time.monotonic() - t0
    finally:
        s.close()
    assert got == tids, "TCP answers out of order"
    held = d.metric(key_held) - held0
    print(f"127.0.0.3 over TCP: {len(tids)} answered in {took:.1f} s, held {held}")
    assert d.metric(key_rl) == rl0, "a TCP request was dropped"
    assert held >= TCP_EXTRA, held
    # TCP_EXTRA tokens at RPS per second; 1 s of slack for the burst's own refill
    assert took >= TCP_EXTRA / RPS - 1, f"held requests answered in {took:.1f} s"


def main():
    with Daemon(http_port=HTTP, stun_port=PORT,
                stun_extra={"rate-limit": {"requests-per-second": RPS, "burst": BURST}}) as d:
        server = ("127.0.0.1", PORT)
        a = udp_socket("127.0.0.1")
        b = udp_socket("127.0.0.2")
        key_rl = drop_key("rate_limited")
        rl0 = d.metric(key_rl)

        answered = flood(d, a, server, BURST + EXTRA)
        limited = d.metric(key_rl) - rl0
        print("127.0.0.1: sent", BURST + EXTRA, "answered", len(answered), "rate_limited", limited)
        assert BURST <= len(answered) <= BURST + 1, len(answered)
        assert len(answered) + limited == BURST + EXTRA

        tcp_held(d, server)

        # Another IP has its own bucket.
        answered_b = flood(d, b, server, BURST)
        assert len(answered_b) == BURST, len(answered_b)

        # Indications are exempt: 127.0.0.1's bucket is empty, yet they are
        # all counted as indications, not rate-limited.
        rl1 = d.metric(key_rl)
        ind0 = d.metric("icestation_stun_binding_indications_total")
        for _ in range(10):
            a.sendto(build(cls=INDICATION)[0], server)
        wait_for(lambda: d.metric("icestation_stun_binding_indications_total") >= ind0 + 10, 10,
                 what="indications counted")
        assert d.metric(key_rl) == rl1

        # The bucket refills: within a few seconds 127.0.0.1 is answered again.
        wait_for(lambda: udp_binding(a, server, timeout=0.5, retries=1) is not None, 5,
                 interval=0.25, what="refill")
        drain(a)
    return 0


if __name__ == "__main__":
    sys.exit(main())
