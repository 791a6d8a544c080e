"""RFC 8016 mobility through the real daemon (issue 13).

A client asks for a MOBILITY-TICKET at Allocate, binds a channel to a peer
and relays both ways; then its source port changes mid-call (a new socket:
a new 5-tuple) and a Refresh with the ticket moves the allocation there.
Relaying goes on from and to the new port; the old 5-tuple no longer
reaches the allocation (its ChannelData is dropped, nothing comes back to
it). The ticket used for the move is refused afterwards (400), as is a
forged one. The same over TCP: a new connection takes the allocation and
the old one's close ends nothing. With turn.mobility false: 405.

Ports (tests/PORTS.md, tests/mobility): listen 2000-2019, relay 2500-2599.
"""

import sys

from icetest import Daemon, wait_for
from turnclient import (A_LIFETIME, A_MOBILITY_TICKET, REFRESH, TurnClient, TurnError,
                        recv_from, udp_peer)

HTTP, PORT = 2000, 2001
HTTP_OFF, PORT_OFF = 2010, 2011
TURN = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "2500-2599"}
MOVED = 'icestation_turn_mobility_total{result="moved"}'
REPLAYED = 'icestation_turn_mobility_total{result="replayed_ticket"}'
BAD = 'icestation_turn_mobility_total{result="bad_ticket"}'
NO_ALLOC = 'icestation_turn_dropped_total{reason="no_allocation"}'
# Nonces are bound to the 5-tuple: a move's first Refresh, with the old
# 5-tuple's nonce, gets 438 and the retry moves (docs/turn.md, Mobility).
BAD_NONCE = 'icestation_turn_auth_failures_total{reason="bad_nonce"}'


def ticket_of(resp):
    t = resp.get(A_MOBILITY_TICKET)
    assert t, "no MOBILITY-TICKET in the response"
    return t


def move(c, ticket):
    r = c.transact(REFRESH, [(A_MOBILITY_TICKET, ticket),
                             (A_LIFETIME, (600).to_bytes(4, "big"))])
    return ticket_of(r)


def both_ways(c, peer, tag):
    c.send_channel(0x4000, b"up-" + tag)
    got = recv_from(peer, 3)
    assert got and got[0] == b"up-" + tag, f"peer did not get up-{tag!r}: {got}"
    peer.sendto(b"down-" + tag, c.relayed)
    got = c.recv_relayed(3)
    assert got == ("chan", 0x4000, b"down-" + tag), f"client did not get down-{tag!r}: {got}"


def udp_move(d):
    user, pw = d.turn_credentials("did:peers:walker")
    c = TurnClient(("127.0.0.1", PORT), user, pw)
    peer = udp_peer()
    first = ticket_of(c.allocate(extra=[(A_MOBILITY_TICKET, b"")]))
    c.channel_bind(0x4000, peer.getsockname())
    both_ways(c, peer, b"before")

    old = c.rebind()
    assert c.local() != old.getsockname(), "rebind kept the port"
    bad_nonce = d.metric(BAD_NONCE)
    second = move(c, first)
    assert second != first
    assert d.metric(BAD_NONCE) == bad_nonce + 1, "the old 5-tuple's nonce was not refused"
    both_ways(c, peer, b"after")
    assert d.metric(MOVED) == 1
    wait_for(lambda: "turn: allocation moved" in d.log(), 5, what="the move's log line")

    # The old 5-tuple: its ChannelData goes nowhere; nothing comes back to it.
    dropped = d.metric(NO_ALLOC)
    old.send(c.channel_frame(0x4000, b"stale"))
    wait_for(lambda: d.metric(NO_ALLOC) > dropped, 5, what="the old 5-tuple's frame dropped")
    assert recv_from(peer, 0.3) is None, "the old 5-tuple still reaches the peer"
    peer.sendto(b"to-new-only", c.relayed)
    assert c.recv_relayed(3) == ("chan", 0x4000, b"to-new-only")
    old.setblocking(False)
    try:
        stray = old.recv(65536)
    except BlockingIOError:
        stray = None
    assert stray is None, f"the old socket still receives: {stray!r}"
    old.close()

    # Replayed (the ticket the move used) and forged tickets: 400.
    third = TurnClient(("127.0.0.1", PORT), user, pw)
    for bad, metric in ((first, REPLAYED), (second[:-1] + bytes([second[-1] ^ 1]), BAD)):
        try:
            move(third, bad)
            raise AssertionError("a replayed or forged ticket moved the allocation")
        except TurnError as e:
            assert e.code == 400, e.code
        assert d.metric(metric) == 1, metric
    third.close()
    both_ways(c, peer, b"still")  # the refused attempts changed nothing
    c.refresh(0)
    c.close()
    peer.close()


def tcp_move(d):
    user, pw = d.turn_credentials("did:peers:tcpwalker")
    c = TurnClient(("127.0.0.1", PORT), user, pw, transport="tcp")
    peer = udp_peer()
    first = ticket_of(c.allocate(extra=[(A_MOBILITY_TICKET, b"")]))
    c.channel_bind(0x4000, peer.getsockname())
    both_ways(c, peer, b"tcp-before")
    old = c.rebind()
    bad_nonce = d.metric(BAD_NONCE)
    move(c, first)
    assert d.metric(BAD_NONCE) == bad_nonce + 1, "the old connection's nonce was not refused"
    old.close()  # the old connection's end must not end the allocation
    both_ways(c, peer, b"tcp-after")
    assert d.metric(MOVED) == 2
    c.refresh(0)
    c.close()
    peer.close()


def mobility_off():
    with Daemon(http_port=HTTP_OFF, stun_port=PORT_OFF,
                turn_extra=dict(TURN, mobility=False)) as d:
        user, pw = d.turn_credentials("did:peers:static")
        c = TurnClient(("127.0.0.1", PORT_OFF), user, pw)
        try:
            c.allocate(extra=[(A_MOBILITY_TICKET, b"")])
            raise AssertionError("mobility: false still granted a ticket")
        except TurnError as e:
            assert e.code == 405, e.code
        r = c.allocate()
        assert r.get(A_MOBILITY_TICKET) is None
        c.refresh(0)
        c.close()


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, turn_extra=TURN) as d:
        try:
            udp_move(d)
            tcp_move(d)
        except Exception:
            print(d.log()[-4000:], file=sys.stderr)
            raise
    mobility_off()
    print("ok")


if __name__ == "__main__":
    main()
