"""Per-source-address limits are the daemon's figure, not the worker's
(docs/stun.md, "Rate limit"; src/net/steer.c). With workers: 2 and a
request limit of 1/s, burst 20, one client address sending 60 Binding
requests from 64 source ports gets 20 answers (21 if a token refills
meanwhile), over UDP from 127.0.0.1, over UDP from ::1 (the IPv6 program),
and over 16 TCP connections from 127.0.0.3 (served at once; the rest held,
not dropped, since TCP requests over the limit wait): every packet of one address
reaches one worker. Without the steering the two workers' buckets would
answer up to 40. The same property makes tcp-max-connections (per worker)
exact per address: with 4, an address gets 4 of 8 connections; and shows
the steering spreads addresses: 16 addresses, one connection each, are
served on both workers (more than 4 accepted).
Ports 17060-17069."""

import socket
import sys
import time

from icetest import Daemon, wait_for
from stunlib import build, drop_key, parse, tcp_read_msg, wait_closed

HTTP, PORT = 17060, 17061
BURST, SENT = 20, 60
REQ = "icestation_stun_binding_requests_total"
RL = drop_key("rate_limited")
HELD = "icestation_stun_rate_limited_held_total"


def udp_burst(d, host, n_ports=64):
    """SENT requests spread over n_ports source ports of host; answers received."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    socks = []
    for _ in range(n_ports):
        s = socket.socket(fam, socket.SOCK_DGRAM)
        s.bind((host, 0))
        s.setblocking(False)
        socks.append(s)
    before = d.metric(REQ) + d.metric(RL)
    try:
        for i in range(SENT):
            socks[i % n_ports].sendto(build()[0], (host, PORT))
        wait_for(lambda: d.metric(REQ) + d.metric(RL) >= before + SENT, 10,
                 what="every request counted")
        answered, deadline = 0, time.monotonic() + 1.0
        while time.monotonic() < deadline:
            for s in socks:
                try:
                    while True:
                        parse(s.recv(2048))
                        answered += 1
                except BlockingIOError:
                    pass
            time.sleep(0.02)
        return answered
    finally:
        for s in socks:
            s.close()


def tcp_burst(d, host, conns=16, per=4):
    """conns TCP connections from host, per requests each; how many the
    daemon served before holding the rest. Over TCP a request over the limit
    is held (the connection's reading paused), not dropped (docs/stun.md), so
    the count is taken once the burst is spent and the connections that must
    wait are held: of conns * per requests past BURST + 1, at least that many
    connections (per requests each) hold one. Returns (served, seconds since
    the first request)."""
    socks = [socket.create_connection(("127.0.0.1", PORT), timeout=5, source_address=(host, 0))
             for _ in range(conns)]
    must_hold = -(-(conns * per - BURST - 1) // per)
    req0, held0, rl0 = d.metric(REQ), d.metric(HELD), d.metric(RL)
    try:
        t0 = time.monotonic()
        for s in socks:
            for _ in range(per):
                s.sendall(build()[0])
        wait_for(lambda: d.metric(REQ) - req0 >= BURST and d.metric(HELD) - held0 >= must_hold,
                 10, what="the burst served and the rest held")
        served, took = d.metric(REQ) - req0, time.monotonic() - t0
        assert d.metric(RL) == rl0, "a TCP request was dropped, not held"
        answered = 0
        for s in socks:
            for _ in range(per):
                if tcp_read_msg(s, timeout=0.2) is None:
                    break
                answered += 1
        assert answered >= served, f"{served} requests served, {answered} answered"
        return served, took
    finally:
        for s in socks:
            s.close()


def rate_limit_exact():
    with Daemon(http_port=HTTP, stun_port=PORT, workers=2, listen=("127.0.0.1", "::1"),
                stun_extra={"rate-limit": {"requests-per-second": 1, "burst": BURST}}) as d:
        for host in ("127.0.0.1", "::1"):
            got = udp_burst(d, host)
            print(f"udp from {host}, 64 ports, 2 workers: {got} of {SENT} answered")
            assert BURST <= got <= BURST + 1, got
        got, took = tcp_burst(d, "127.0.0.3")
        print(f"tcp from 127.0.0.3, 16 connections, 2 workers: {got} of 64 served at once "
              f"({took:.2f} s), the rest held")
        # 1 token a second: one more per second the check took to see it
        assert BURST <= got <= BURST + 1 + int(took), got
        assert "cannot steer" not in d.log(), d.log()


def accepted(d):
    return d.metric('icestation_net_tcp_connections_total{result="accepted"}')


def connections(sources):
    """One TCP connection from each source address; those the server keeps."""
    socks = [socket.create_connection(("127.0.0.1", PORT + 2), timeout=5, source_address=(h, 0))
             for h in sources]
    try:
        return sum(1 for s in socks if not wait_closed(s, 0.5))
    finally:
        for s in socks:
            s.close()


def connection_cap():
    with Daemon(http_port=HTTP + 2, stun_port=PORT + 2, workers=2,
                stun_extra={"tcp-max-connections": 4}) as d:
        kept = connections(["127.0.0.4"] * 8)
        print(f"8 connections from one address, cap 4 per worker: {kept} kept")
        assert kept == 4, kept
        # A full worker makes room by closing its oldest connection with no
        # complete frame (docs/configuration.md, tcp-max-connections): all
        # 8 reached one worker, so 4 were evicted there.
        assert d.metric('icestation_connections_evicted_total{listener="tcp",reason="pending"}') \
            == 4, d.metrics()
        wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 5,
                 what="connections closed")
        kept = connections([f"127.0.44.{i}" for i in range(1, 17)])
        print(f"16 addresses, one connection each: {kept} kept")
        assert 4 < kept <= 8, kept


def main():
    rate_limit_exact()
    connection_cap()
    return 0


if __name__ == "__main__":
    sys.exit(main())
