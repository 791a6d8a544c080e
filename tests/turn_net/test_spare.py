"""Spare relay sockets: a released relay stays bound for up to 2 s as one
more candidate of the port draw (issue 21): an Allocate draws uniformly among
the free ports and the spares out of their 250 ms quarantine, and a spare
drawn is handed over without socket/bind/epoll_ctl/close. What must hold:

- a spare in quarantine is never drawn: with the range full but for a spare
  just released, the next Allocate closes it and binds the port afresh (the
  worker makes room rather than answer 508); out of quarantine it is reused;
- a reused relay starts with no permission: the old peer gets through only
  after the new client permits it, then relays both ways as usual;
- datagrams reaching a spare are dropped and counted, reach nobody, and
  make it busy: closed when drawn instead of reused;
- a spare is closed after its time (the port can be bound by anyone again);
- a TCP allocation takes a spare and leaves one behind when its
  connection closes;
- a relay with DONT-FRAGMENT on is closed, not kept;
- spares do not make their own worker's Allocate fail: with the range full,
  an EVEN-PORT Allocate (which takes no spare) closes them and gets a port.

Reuse is forced by filling the range with held allocations ("fillers"), so
the spares are the only candidates: with free ports left a spare is drawn
only as often as any one free port (tests/relay_ports covers that).

Ports 26080-26099, relay 27000-27099: below the ephemeral range (32768-60999),
so no client socket of a test running alongside can take a port the range
must have free."""

import hashlib
import socket
import struct
import sys
import time

from icetest import Daemon, wait_for
from turnclient import (A_DONT_FRAGMENT, A_NONCE, A_REALM, A_REQUESTED_TRANSPORT, ALLOCATE,
                        UDP_PROTO, TurnClient, TurnError, recv_from, udp_peer)

HTTP1, PORT1 = 26080, 26081
HTTP2, PORT2 = 26082, 26083
RANGE1 = (27000, 27063)
A_EVEN_PORT = 0x0018
LIMITS = {"allowed-peer-ip": ["127.0.0.0/8"], "max-allocations-per-user": 0,
          "allocations-per-minute-per-user": 0}
SPARES = "icestation_net_relay_spare_sockets"
REUSED = "icestation_net_relay_spare_reused_total"
DROPPED = "icestation_net_relay_spare_dropped_total"
BUSY = "icestation_net_relay_spare_busy_total"
NO_PERM = 'icestation_turn_dropped_total{reason="no_permission"}'
LIVE = "icestation_net_relay_sockets"  # the fillers' count among them
QUARANTINE_S = 0.25


def clients(d, port, n):
    user, pw = d.turn_credentials()
    return [TurnClient(("127.0.0.1", port), user, pw) for _ in range(n)]


def out_of_quarantine():
    # The quarantine is a time, not an event: nothing to poll for. A spare
    # lives 2 s, so waiting a little longer than 250 ms is safe.
    time.sleep(QUARANTINE_S + 0.1)


def warm(c):
    """Take c's 401 challenge now, so its Allocate is one round trip later
    (well inside the quarantine)."""
    try:
        c.transact(ALLOCATE, [(A_REQUESTED_TRANSPORT, struct.pack("!B3x", UDP_PROTO))],
                   auth=False)
    except TurnError as e:
        assert e.code == 401, e.code
        c.realm, c.nonce = e.msg.get(A_REALM), e.msg.get(A_NONCE)
        c.key = hashlib.md5(c.username + b":" + c.realm + b":" + c.password).digest()
    assert c.nonce is not None


def quarantine_holds(d):
    """With the range full but for a spare just released, an Allocate made
    at once does not get the spare: the worker closes it and binds the port
    afresh (it makes room rather than answer 508). "At once" must be inside
    the 250 ms: when the machine is too slow to ask within 200 ms the try
    proves nothing and is made again."""
    for _ in range(3):
        a, x = clients(d, PORT1, 2)
        try:
            warm(x)
            wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
            a.allocate()  # the range's last free port
            reused = d.metric(REUSED)
            t0 = time.monotonic()
            a.refresh(0)
            x.allocate()
            quick = time.monotonic() - t0 < 0.2
            if quick:
                assert x.relayed == a.relayed, (x.relayed, a.relayed)
                assert d.metric(REUSED) == reused
                assert d.metric(SPARES) == 0
            x.refresh(0)
        finally:
            a.close()
            x.close()
        if quick:
            print("spare in quarantine not drawn ok")
            return
    raise AssertionError("no Allocate within 200 ms of a release in 3 tries")


def reuse_and_isolation(d):
    a, b = clients(d, PORT1, 2)
    peer = udp_peer()
    peer_addr = ("127.0.0.1", peer.getsockname()[1])
    try:
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
        live = d.metric(LIVE)
        a.allocate()  # the range's last free port
        relay = a.relayed
        a.create_permission(peer_addr)
        peer.sendto(b"to a", relay)
        got = a.recv_relayed(5)
        assert got is not None and got[2] == b"to a", got
        assert d.metric(SPARES) == 0
        a.refresh(0)
        assert d.metric(SPARES) == 1
        assert d.metric(LIVE) == live
        reused = d.metric(REUSED)

        # Out of quarantine: the spare itself.
        out_of_quarantine()
        b.allocate()
        assert b.relayed == relay, (b.relayed, relay)
        assert d.metric(REUSED) == reused + 1
        assert d.metric(SPARES) == 0
        assert d.metric(LIVE) == live + 1

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
        live = d.metric(LIVE)
        a.allocate()
        a.create_permission(("127.0.0.1", peer.getsockname()[1]))
        a.refresh(0)
        assert d.metric(SPARES) == 1
        # The old peer keeps sending: read and dropped, and the spare is busy.
        dropped, busy, reused = d.metric(DROPPED), d.metric(BUSY), d.metric(REUSED)
        peer.sendto(b"late 1", a.relayed)
        peer.sendto(b"late 2", a.relayed)
        wait_for(lambda: d.metric(DROPPED) == dropped + 2, 5, what="spare drops counted")
        assert a.recv_relayed(0.2) is None
        # Drawn (the only candidate), it is closed instead of handed over.
        out_of_quarantine()
        b.allocate()
        assert d.metric(BUSY) == busy + 1
        assert d.metric(REUSED) == reused
        assert d.metric(SPARES) == 0
        assert d.metric(LIVE) == live + 1
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
        out_of_quarantine()
        reused, allocs = d.metric(REUSED), d.metric("icestation_turn_allocations")
        t.allocate()
        assert t.relayed == relay, (t.relayed, relay)
        assert d.metric(REUSED) == reused + 1
        assert d.metric("icestation_net_tcp_turn_connections") == 1
        t.close()
        wait_for(lambda: d.metric("icestation_turn_allocations") == allocs, 10,
                 what="TCP allocation ended by the close")
        wait_for(lambda: d.metric("icestation_net_tcp_turn_connections") == 0, 10,
                 what="TCP connection gone")
        assert d.metric(SPARES) == 1
        out_of_quarantine()
        b.allocate()
        assert b.relayed == relay, (b.relayed, relay)
        assert d.metric(REUSED) == reused + 2
        b.refresh(0)
    finally:
        for c in (a, t, b):
            c.close()
    print("spare over TCP ok")


def several_and_expiry(d, fillers):
    """Three spares, two Allocates: each gets one of the three (any of them:
    the draw is random), and the third closes after its time."""
    cs = clients(d, PORT1, 6)
    try:
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="no spare left over")
        # Free two more ports: three in all.
        for f in fillers[:2]:
            f.refresh(0)
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="the fillers' spares closed")
        for c in cs[:3]:
            c.allocate()
        released = [c.relayed for c in cs[:3]]
        for c in cs[:3]:
            c.refresh(0)
        assert d.metric(SPARES) == 3
        out_of_quarantine()
        reused = d.metric(REUSED)
        for c in cs[3:5]:
            c.allocate()
        got = [c.relayed for c in cs[3:5]]
        assert len(set(got)) == 2 and set(got) <= set(released), (got, released)
        assert d.metric(REUSED) == reused + 2
        assert d.metric(SPARES) == 1

        # The last one closes after its time: the port is anyone's again.
        left = (set(released) - set(got)).pop()
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="spare closed after 2 s")
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(left)
        finally:
            s.close()
        for c in cs[3:5]:
            c.refresh(0)

        # DONT-FRAGMENT is a socket option a spare would have to undo: closed.
        wait_for(lambda: d.metric(SPARES) == 0, 5, what="spares closed")
        live = d.metric(LIVE)
        cs[5].allocate(extra=[(A_DONT_FRAGMENT, b"")])
        cs[5].refresh(0)
        assert d.metric(SPARES) == 0
        assert d.metric(LIVE) == live
    finally:
        for c in cs:
            c.close()
    print("several spares, expiry and DF ok")


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
    lo, hi = RANGE1
    with Daemon(http_port=HTTP1, stun_port=PORT1,
                turn_extra=dict(LIMITS, **{"relay-port-range": f"{lo}-{hi}"})) as d:
        # Hold all ports but one, so each test's spare is the only candidate.
        fillers = clients(d, PORT1, hi - lo)
        try:
            for f in fillers:
                f.allocate()
            quarantine_holds(d)
            reuse_and_isolation(d)
            busy_not_reused(d)
            over_tcp(d)
            several_and_expiry(d, fillers)
        finally:
            for f in fillers:
                f.close()
    full_range()
    return 0


if __name__ == "__main__":
    sys.exit(main())
