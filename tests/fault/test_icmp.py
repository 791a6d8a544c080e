#!/usr/bin/env python3
"""Fault: peers and clients that answer with ICMP port unreachable. Run in a
network namespace of its own, so the kernel's ICMP counters are this test's.

A client relays to a peer whose port is closed (ChannelData and Send
indications, 200 each, interleaved with datagrams to a live peer), and a
second client closes its socket while its peer keeps sending (the daemon's
Data indications then bounce off the client's closed port). The kernel
answers each with ICMP port unreachable (Icmp InDestUnreachs rises). Relay
and listener sockets are unconnected, so Linux reports nothing to them: the
daemon must count every such datagram as sent (the kernel took it), count
no send or receive error, and keep serving: the live peer gets every one of
its datagrams, a bystander keeps relaying, fds and memory come back.
Ports 15020-15029, relays 15530-15549."""
import socket
import struct
import sys
import time

from faultlib import (Served, back_to_baseline, baseline, binding_ok, creds, daemon,
                      in_own_netns, run)
from icetest import wait_for
from turnclient import TurnClient, recv_from, udp_peer

HTTP, PORT = 15020, 15021
N = 200


def icmp_in_dest_unreach():
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Icmp:")]
    return int(rows[1][rows[0].index("InDestUnreachs")])


def closed_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return ("127.0.0.1", port)


def metrics_of(d, *keys):
    m = d.metrics()
    return [m.get(k, 0.0) for k in keys]


ERRS = ("icestation_net_relay_send_errors_total", "icestation_net_relay_receive_errors_total",
        "icestation_net_udp_send_errors_total", "icestation_net_udp_receive_errors_total")


def dead_peer(d):
    dead, live = closed_port(), udp_peer()
    name, pw = creds("did:peers:icmp")
    c = TurnClient(("127.0.0.1", PORT), name, pw)
    try:
        c.allocate()
        c.create_permission(dead, live.getsockname())
        c.channel_bind(0x4001, dead)
        tx0, to_peer0 = metrics_of(d, 'icestation_net_relay_datagrams_total{direction="tx"}',
                                   'icestation_turn_relayed_packets_total{direction="to_peer",'
                                   'framing="channeldata"}')
        icmp0 = icmp_in_dest_unreach()
        sent_live = 0
        for i in range(N):
            c.send_channel(0x4001, struct.pack("!I", i) + b"to-a-closed-port")
            c.send_indication(dead, struct.pack("!I", i) + b"to-a-closed-port")
            if i % 10 == 0:
                c.send_indication(live.getsockname(), struct.pack("!I", i) + b"live")
                sent_live += 1
            time.sleep(0.002)  # under the kernel's ICMP rate limit (1000/s)
        got = 0
        while recv_from(live, 2) is not None:
            got += 1
            if got == sent_live:
                break
        assert got == sent_live, f"live peer got {got} of {sent_live}"
        total = 2 * N + sent_live
        wait_for(lambda: metrics_of(
            d, 'icestation_net_relay_datagrams_total{direction="tx"}')[0] - tx0 == total, 5,
            what=f"{total} datagrams counted as sent to peers")
        cd = metrics_of(d, 'icestation_turn_relayed_packets_total{direction="to_peer",'
                           'framing="channeldata"}')[0] - to_peer0
        assert cd == N, f"{cd} ChannelData counted relayed, {N} sent"
        assert icmp_in_dest_unreach() - icmp0 >= N, "the kernel sent too few port unreachables"
        c.refresh(0)
    finally:
        c.close()
        live.close()


def vanished_client(d):
    name, pw = creds("did:peers:gone")
    c = TurnClient(("127.0.0.1", PORT), name, pw)
    peer = udp_peer()
    c.allocate()
    c.create_permission(peer.getsockname())
    local = c.local()
    c.sock.close()  # the client's port is closed from here on
    udp_tx0 = metrics_of(d, 'icestation_net_udp_datagrams_total{direction="tx"}')[0]
    icmp0 = icmp_in_dest_unreach()
    for i in range(N):
        peer.sendto(struct.pack("!I", i) + b"to-a-gone-client", c.relayed)
        time.sleep(0.002)
    wait_for(lambda: metrics_of(
        d, 'icestation_net_udp_datagrams_total{direction="tx"}')[0] - udp_tx0 >= N, 5,
        what="Data indications counted as sent to the gone client")
    assert icmp_in_dest_unreach() - icmp0 >= N, "the kernel sent too few port unreachables"
    peer.close()
    # The client comes back on the same 5-tuple and releases its allocation.
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.sock.bind(local)
    c.sock.connect(("127.0.0.1", PORT))
    c.sock.setblocking(False)
    c.refresh(0)
    c.close()


def icmp():
    with daemon(HTTP, PORT, "15530-15549") as d:
        base = baseline(d)
        bystander = Served(PORT)
        errs0 = metrics_of(d, *ERRS)
        dead_peer(d)
        bystander.round_trip()
        vanished_client(d)
        bystander.round_trip()
        binding_ok(PORT)
        assert metrics_of(d, *ERRS) == errs0, \
            f"errors counted for ICMP-refused datagrams: {dict(zip(ERRS, metrics_of(d, *ERRS)))}"
        bystander.close()
        assert d.metric("icestation_turn_allocations") == 0
        back_to_baseline(d, base)


if __name__ == "__main__":
    rc = in_own_netns(sys.argv)
    sys.exit(rc if rc is not None else run([icmp]))
