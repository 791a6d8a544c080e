"""The 401 limiter (docs/turn.md, "401 amplification"). An unauthenticated
Allocate of 28 bytes draws a 401 of several times its size, so a spoofed
source can aim them at a victim. turn.challenge-rate-limit (default 10/s,
burst 50) answers at most that many challenges per source address over UDP
and drops the rest, counted in icestation_turn_challenges_suppressed_total.
Checked with workers: 2 and 80 requests from 64 source ports of one address
(the figure is the daemon's, not each worker's), another address keeps its
own budget, TCP is never limited (no spoofing over a handshake), a real
client still allocates after the flood, and responses-per-second: 0 turns it
off. Ports 17070-17079, relay 17650-17699."""

import socket
import struct
import sys
import time

from icetest import Daemon, wait_for
from stunlib import ALLOCATE, A_REQUESTED_TRANSPORT, build, parse, tcp_read_msg
from turnclient import TurnClient

HTTP, PORT = 17070, 17071
BURST, RATE = 50, 10
SUPPRESSED = "icestation_turn_challenges_suppressed_total"
R401 = 'icestation_turn_responses_total{code="401"}'


def allocate_request():
    req, _ = build(method=ALLOCATE, attrs=[(A_REQUESTED_TRANSPORT, struct.pack("!B3x", 17))])
    assert len(req) == 28, len(req)
    return req


def udp_flood(d, host, n, ports=64):
    """n unauthenticated Allocates from ports source ports of host: the
    challenges received, their size, and the seconds the flood took."""
    socks = []
    for _ in range(ports):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((host, 0))
        s.setblocking(False)
        socks.append(s)
    before = d.metric(R401) + d.metric(SUPPRESSED)
    t0 = time.monotonic()
    try:
        for i in range(n):
            socks[i % ports].sendto(allocate_request(), ("127.0.0.1", d.stun_port))
        wait_for(lambda: d.metric(R401) + d.metric(SUPPRESSED) >= before + n, 10,
                 what="every Allocate handled")
        elapsed = time.monotonic() - t0
        got, size, deadline = 0, 0, time.monotonic() + 0.5
        while time.monotonic() < deadline:
            for s in socks:
                try:
                    while True:
                        data = s.recv(2048)
                        m = parse(data)
                        assert m["cls"] == 3, m
                        got, size = got + 1, len(data)
                except BlockingIOError:
                    pass
            time.sleep(0.02)
        return got, size, elapsed
    finally:
        for s in socks:
            s.close()


def limited():
    with Daemon(http_port=HTTP, stun_port=PORT, workers=2,
                turn_extra={"relay-port-range": "17650-17699"}) as d:
        got, size, elapsed = udp_flood(d, "127.0.0.1", 80)
        print(f"80 x 28-byte Allocates from 64 ports of one address, 2 workers: {got} "
              f"challenges of {size} bytes ({size / 28:.1f}x) in {elapsed:.2f}s")
        assert BURST <= got <= BURST + RATE * elapsed + 1, (got, elapsed)
        assert d.metric(SUPPRESSED) == 80 - got
        assert d.metric(R401) == got
        # Another address has its own budget.
        got3, _, _ = udp_flood(d, "127.0.0.3", 20)
        assert got3 == 20, got3
        # TCP: never limited.
        c = socket.create_connection(("127.0.0.1", PORT), timeout=5,
                                     source_address=("127.0.0.1", 0))
        try:
            for _ in range(80):
                c.sendall(allocate_request())
            for _ in range(80):
                m = tcp_read_msg(c, timeout=5)
                assert m is not None and m["cls"] == 3, m
        finally:
            c.close()
        # A real client on the flooded address gets through once a token is back.
        user, pw = d.turn_credentials("did:peers:alice")
        t = TurnClient(("127.0.0.1", PORT), user, pw)
        try:
            t.allocate()
        finally:
            t.close()
    print("other address, TCP and a real client: served")


def off():
    with Daemon(http_port=HTTP + 2, stun_port=PORT + 2,
                turn_extra={"challenge-rate-limit": {"responses-per-second": 0}}) as d:
        got, _, _ = udp_flood(d, "127.0.0.1", 80)
        assert got == 80 and d.metric(SUPPRESSED) == 0, got
    print("responses-per-second 0: every challenge answered")


def main():
    limited()
    off()
    return 0


if __name__ == "__main__":
    sys.exit(main())
