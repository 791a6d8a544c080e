"""Spare relay sockets: a released relay stays bound for up to 2 s and the
next plain Allocate of its family takes it (oldest first), so churn costs no
socket/bind/setsockopt/epoll_ctl/close. What must hold:

- the next allocation gets the released port, in release order;
- a reused relay starts with no permission: the old peer gets through only
  after the new client permits it, then relays both ways as usual;
- datagrams reaching a spare are dropped and counted, reach nobody, and
  make it busy: closed at the next Allocate instead of reused;
- a spare is closed after its time (the port can be bound by anyone again);
- a TCP allocation takes a spare and leaves one behind when its
  connection closes;
- a relay with DONT-FRAGMENT on is closed, not kept;
- spares do not make their own worker's Allocate fail: with the range full,
  an EVEN-PORT Allocate (which takes no spare) closes them and gets a port.

Ports 26080-26099, relay 27000-27099: below the ephemeral range (32768-60999),
so no client socket of a test running alongside can take a port the range
must have free."""

import socket
import sys

from icetest import Daemon, wait_for
from turnclient import A_DONT_FRAGMENT, TurnClient, recv_from, udp_peer

HTTP1, PORT1 = 26080, 26081
HTTP2, PORT2 = 26082, 26083
A_EVEN_PORT = 0x0018
LIMITS = {"allowed-peer-ip": ["127.0.0.0/8"], "max-allocations-per-user": 0,
          "allocations-per-minute-per-user": 0}
SPARES = "icestation_net_relay_spare_sockets"
DROPPED = "icestation_net_relay_spare_dropped_total"
BUSY = "icestation_net_relay_spare_busy_total"
NO_PERM = 'icestation_turn_dropped_total{reason="no_permission"}'


def clients(d, port, n):
    user, pw = d.turn_credentials()
    return [TurnClient(("127.0.0.1", port), user, pw) for _ in range(n)]


def reuse_and_isolation(d):
    a, b = clients(d, PORT1, 2)
    peer = udp_peer()
    peer_addr = ("127.0.0.1", peer.getsockname()[1])
    try:
        a.allocate()
        relay = a.relayed
        a.create_permission(peer_addr)
        peer.sendto(b"to a", relay)
        got = a.recv_relayed(5)
        assert got is not None and got[2] == b"to a", got
        assert d.metric(SPARES) == 0
        a.refresh(0)
        assert d.metric(SPARES) == 1
        assert d.metric("icestation_net_relay_sockets") == 0

        b.allocate()
        assert b.relayed == relay, (b.relayed, relay)
        assert d.metric(SPARES) == 0
        assert d.metric("icestation_net_relay_sockets") == 1

        # The new allocation has no permission for the old peer.
        no_perm = d.metric(NO_PERM)
        peer.sendto(b"not yet", relay)
        wait_for(lambda: d.metric(NO_PERM) == no_perm + 1, 5, what="no-permission drop")
        assert b.recv_relayed(0.2) is None
        assert a.recv_relayed(0.2) is None

        # Once permitted, the reused socket relays both ways.
        b.create_permission(peer_addr)
        peer.sendto(b"to b", relay)
        got = b.recv_relayed(5)
        assert got is not None and got[2] == b"to b", got
        b.send_indication(peer_addr, b"from b")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"from b" and got[1] == relay, got
        b.refresh(0)
    finally:
        for c in (a, b):
            c.close()
        peer.close()
    print("reuse and isolation ok")


def busy_not_reused(d):
    a, b = clients(d, PORT1, 2)
    peer = udp_peer()
    try:
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
        a.allocate()
        a.create_permission(("127.0.0.1", peer.getsockname()[1]))
        a.refresh(0)
        assert d.metric(SPARES) == 1
        # The old peer keeps sending: read and dropped, and the spare is busy.
        dropped, busy = d.metric(DROPPED), d.metric(BUSY)
        peer.sendto(b"late 1", a.relayed)
        peer.sendto(b"late 2", a.relayed)
        wait_for(lambda: d.metric(DROPPED) == dropped + 2, 5, what="spare drops counted")
        assert a.recv_relayed(0.2) is None
        # The next Allocate closes it instead of handing it over.
        b.allocate()
        assert d.metric(BUSY) == busy + 1
        assert d.metric(SPARES) == 0
        assert d.metric("icestation_net_relay_sockets") == 1
        b.refresh(0)
    finally:
        for c in (a, b):
            c.close()
        peer.close()
    print("busy spare not reused ok")


def over_tcp(d):
    """A TCP allocation takes a spare and leaves one when its connection
    closes: the connection's hold on the relay comes and goes with it."""
    user, pw = d.turn_credentials()
    a = TurnClient(("127.0.0.1", PORT1), user, pw)
    t = TurnClient(("127.0.0.1", PORT1), user, pw, "tcp")
    b = TurnClient(("127.0.0.1", PORT1), user, pw)
    try:
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
        a.allocate()
        relay = a.relayed
        a.refresh(0)
        t.allocate()
        assert t.relayed == relay, (t.relayed, relay)
        assert d.metric("icestation_net_tcp_turn_connections") == 1
        t.close()
        wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 10,
                 what="TCP allocation ended by the close")
        wait_for(lambda: d.metric("icestation_net_tcp_turn_connections") == 0, 10,
                 what="TCP connection gone")
        assert d.metric(SPARES) == 1
        b.allocate()
        assert b.relayed == relay, (b.relayed, relay)
        b.refresh(0)
    finally:
        for c in (a, t, b):
            c.close()
    print("spare over TCP ok")


def fifo_and_expiry(d):
    cs = clients(d, PORT1, 6)
    try:
        # The earlier test's spare has expired or is taken first: wait it out.
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
        for c in cs[:3]:
            c.allocate()
        released = [c.relayed for c in cs[:3]]
        for c in cs[:3]:
            c.refresh(0)
        assert d.metric(SPARES) == 3
        for c in cs[3:5]:
            c.allocate()
        assert [c.relayed for c in cs[3:5]] == released[:2], (
            [c.relayed for c in cs[3:5]], released)
        assert d.metric(SPARES) == 1

        # The last one closes after its time: the port is anyone's again.
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="spare closed after 2 s")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(released[2])
        finally:
            s.close()
        for c in cs[3:5]:
            c.refresh(0)

        # DONT-FRAGMENT is a socket option a spare would have to undo: closed.
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="spares closed")
        cs[5].allocate(extra=[(A_DONT_FRAGMENT, b"")])
        cs[5].refresh(0)
        assert d.metric(SPARES) == 0
        assert d.metric("icestation_net_relay_sockets") == 0
    finally:
        for c in cs:
            c.close()
    print("fifo, expiry and DF ok")


def full_range():
    # 32 ports, one worker: at most 2 spares (1/16 of the range).
    with Daemon(http_port=HTTP2, stun_port=PORT2,
                turn_extra=dict(LIMITS, **{"relay-port-range": "27064-27095"})) as d:
        cs = clients(d, PORT2, 33)
        try:
            for c in cs[:32]:
                c.allocate()
            ports = sorted(c.relayed[1] for c in cs[:32])
            assert ports == list(range(27064, 27096)), ports
            evens = [c for c in cs[:32] if c.relayed[1] % 2 == 0][:2]
            for c in evens:
                c.refresh(0)
            assert d.metric(SPARES) == 2
            # EVEN-PORT takes no spare; the range is full but for the spares.
            cs[32].allocate(extra=[(A_EVEN_PORT, b"\x00")])
            assert cs[32].relayed[1] in [c.relayed[1] for c in evens], cs[32].relayed
            assert d.metric(SPARES) == 0
            assert d.metric('icestation_turn_responses_total{code="508"}') == 0
        finally:
            for c in cs:
                c.close()
    print("full range ok")


def main():
    with Daemon(http_port=HTTP1, stun_port=PORT1,
                turn_extra=dict(LIMITS, **{"relay-port-range": "27000-27063"})) as d:
        reuse_and_isolation(d)
        busy_not_reused(d)
        over_tcp(d)
        fifo_and_expiry(d)
    full_range()
    return 0


if __name__ == "__main__":
    sys.exit(main())
