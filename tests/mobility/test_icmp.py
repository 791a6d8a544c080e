#!/usr/bin/env python3
"""ICMP errors for relayed datagrams through the daemon (RFC 8656 section
11), IPv4 and IPv6 (::1), a UDP and a TCP client: a client holds
permissions for a live peer and for a closed port, and relays to both in
turn. Each datagram to the closed port comes back to the client as a Data
indication with XOR-PEER-ADDRESS the closed port (its port too) and an ICMP
attribute saying port unreachable (ICMPv4 3/3, ICMPv6 1/4), and no DATA;
the live peer gets every datagram, through a Send indication and through a
channel, and answers back. The daemon counts each error it read and each it
relayed. Paced one at a time: the kernel sends one ICMP error per GSO
message, and the daemon's limit is 10 a second per allocation.
Ports (tests/PORTS.md, tests/mobility): listen 2100-2101, relay 2600-2699."""
import socket
import struct
import sys

from icetest import Daemon, wait_for
from turnclient import (A_DATA, A_XOR_PEER, DATA, INDICATION, Msg, TurnClient, recv_from,
                        udp_peer)

HTTP, PORT = 2100, 2101
TURN = {"allowed-peer-ip": ["127.0.0.0/8", "::1/128"], "relay-port-range": "2600-2699",
        "relay-ip-range": ["127.0.0.1/32", "::1/128"]}
A_ICMP = 0x8004
A_REQUESTED_ADDRESS_FAMILY = 0x0017
ROUNDS = 4
RELAYED = 'icestation_turn_icmp_total{result="relayed"}'
READ = 'icestation_net_relay_error_queue_total{origin="icmp"}'
ERRS = ("icestation_net_relay_send_errors_total", "icestation_net_relay_receive_errors_total")


def closed_port(host):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    addr = s.getsockname()[:2]
    s.close()
    return addr


def from_peer(live):
    """(data, (host, port)) the live peer got, or None."""
    got = recv_from(live, 5)
    return got and (got[0], got[1][:2])


def next_frame(c, timeout=5):
    """The next frame the client gets: ('icmp', peer, type, code) or what
    TurnClient.classify says."""
    f = c.recv_frame(timeout)
    assert f is not None, "nothing came back to the client"
    if f[0] < 0x40:
        m = Msg(f)
        if (m.method, m.cls) == (DATA, INDICATION) and m.get(A_ICMP) is not None:
            assert m.get(A_DATA) is None, "an ICMP indication with DATA"
            v = m.get(A_ICMP)
            return ("icmp", m.addr(A_XOR_PEER), v[2], v[3])
    return TurnClient.classify(f)


def relay_with_icmp(d, host, transport):
    v6 = ":" in host
    unreach = (1, 4) if v6 else (3, 3)
    user, pw = d.turn_credentials(f"did:peers:icmp-{transport}-{'v6' if v6 else 'v4'}")
    c = TurnClient((host, PORT), user, pw, transport=transport, local=host)
    live, dead = udp_peer(host), closed_port(host)
    la = live.getsockname()[:2]
    m0 = d.metrics()
    try:
        c.allocate(extra=[(A_REQUESTED_ADDRESS_FAMILY, struct.pack("!B3x", 2 if v6 else 1))])
        assert c.relayed[0] == host, c.relayed
        c.create_permission(la, dead)
        c.channel_bind(0x4001, la)
        for i in range(ROUNDS):
            c.send_indication(dead, b"to a closed port %d" % i)
            got = next_frame(c)
            assert got == ("icmp", dead, *unreach), f"round {i}: {got!r}"
            # The relay carries on both ways, framed both ways.
            c.send_indication(la, b"send %d" % i)
            assert from_peer(live) == (b"send %d" % i, c.relayed)
            c.send_channel(0x4001, b"channel %d" % i)
            assert from_peer(live) == (b"channel %d" % i, c.relayed)
            live.sendto(b"back %d" % i, c.relayed)
            assert next_frame(c) == ("chan", 0x4001, b"back %d" % i)
        def counted():
            m = d.metrics()
            return m.get(RELAYED, 0) - m0.get(RELAYED, 0) == ROUNDS and m

        m = wait_for(counted, 5, what=f"{ROUNDS} ICMP indications counted")
        assert m.get(READ, 0) - m0.get(READ, 0) == ROUNDS, "ICMP errors read != relayed"
        for k in ERRS:
            assert m.get(k, 0) == m0.get(k, 0), f"{k} moved"
        c.refresh(0)
    finally:
        c.close()
        live.close()
    print(f"{transport} {host}: {ROUNDS} port unreachables relayed as {unreach}")


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, listen=("127.0.0.1", "::1"),
                turn_extra=TURN) as d:
        for host in ("127.0.0.1", "::1"):
            for transport in ("udp", "tcp"):
                relay_with_icmp(d, host, transport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
