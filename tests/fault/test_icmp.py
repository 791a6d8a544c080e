#!/usr/bin/env python3
"""Fault: peers and clients that answer with ICMP port unreachable. Run in a
network namespace of its own, so the kernel's ICMP counters are this test's.

A client relays to a peer whose port is closed (ChannelData and Send
indications, 200 each, interleaved with datagrams to a live peer), and a
second client closes its socket while its peer keeps sending (the daemon's
Data indications then bounce off the client's closed port). The kernel
answers each with ICMP port unreachable (Icmp InDestUnreachs rises).

Relay sockets ask for ICMP errors (IP_RECVERR): every port unreachable the
kernel sent for the relay's datagrams is read from its error queue, and the
client hears of them as Data indications with an ICMP attribute (RFC 8656
section 11), XOR-PEER-ADDRESS the closed port, at most 10 a second: each
one the daemon counts as relayed reaches the client, the rest are counted
rate-limited. Listener sockets do not ask, so the gone client's port
unreachables go unreported. Either way the daemon counts every datagram as
sent (the kernel took it), counts no send or receive error (a relay's
pending ICMP error does not cost the next datagram), and keeps serving: the
live peer gets every one of its datagrams, a bystander keeps relaying, fds
and memory come back.

Then ICMP errors forged with a raw socket (root in the namespace) reach a
relay: for a peer without a permission and of a type RFC 8656 does not
relay (parameter problem) they are dropped and counted, one for the
permitted peer reaches the client.
Ports 15020-15029, relays 15530-15549."""
import socket
import struct
import sys
import time

from faultlib import (Served, back_to_baseline, baseline, binding_ok, creds, daemon,
                      in_own_netns, run)
from icetest import wait_for
from turnclient import DATA, INDICATION, A_DATA, A_XOR_PEER, Msg, TurnClient, recv_from, udp_peer

HTTP, PORT = 15020, 15021
N = 200
A_ICMP = 0x8004
ICMP_PER_S = 10  # TURN_ICMP_PER_S
ICMP_RX = 'icestation_net_relay_error_queue_total{origin="icmp"}'
RESULTS = ("relayed", "rate_limited", "no_permission", "ignored_type", "no_allocation")


def icmp_results(d):
    m = d.metrics()
    return {r: m.get(f'icestation_turn_icmp_total{{result="{r}"}}', 0.0) for r in RESULTS}


def icmp_delta(d, before):
    now = icmp_results(d)
    return {r: now[r] - before[r] for r in RESULTS}


def icmp_indications(c, want, timeout=5):
    """The (peer, type, code) of each ICMP Data indication c receives, until
    want have come (or the deadline)."""
    got = []
    deadline = time.monotonic() + timeout
    while len(got) < want:
        f = c.recv_frame(max(deadline - time.monotonic(), 0))
        if f is None:
            break
        m = Msg(f)
        assert (m.method, m.cls) == (DATA, INDICATION), f"not a Data indication: {f!r}"
        v = m.get(A_ICMP)
        assert v is not None and m.get(A_DATA) is None, f"not an ICMP indication: {f!r}"
        got.append((m.addr(A_XOR_PEER), v[2], v[3]))
    return got


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
        icmp0, rx0, res0 = icmp_in_dest_unreach(), d.metric(ICMP_RX, 0.0), icmp_results(d)
        t0 = time.monotonic()
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
        # One port unreachable per message the kernel refused, and a relay
        # sends equal-sized datagrams of a pass as one GSO message: some.
        k0 = icmp_in_dest_unreach() - icmp0
        assert 0 < k0 <= 2 * N, f"the kernel sent {k0} port unreachables for {2 * N} datagrams"
        # Every port unreachable the kernel sent reached the relay's error
        # queue (nothing else in this namespace sends one now), and turn
        # decided on each: a permitted peer, so relayed or over the rate.
        def all_read():
            k = icmp_in_dest_unreach() - icmp0
            return d.metric(ICMP_RX, 0.0) - rx0 == k and k

        kernel = wait_for(all_read, 5, what="every ICMP error read by the daemon")
        t1 = time.monotonic()
        res = icmp_delta(d, res0)
        assert res["relayed"] + res["rate_limited"] == kernel and \
            res["no_permission"] == res["ignored_type"] == res["no_allocation"] == 0, (kernel, res)
        windows = int(t1 - t0) + 2
        assert ICMP_PER_S <= res["relayed"] <= ICMP_PER_S * windows, \
            f"{res['relayed']} ICMP indications relayed in {t1 - t0:.2f} s"
        got = icmp_indications(c, int(res["relayed"]))
        assert len(got) == res["relayed"], f"client got {len(got)} ICMP indications of {res}"
        assert all(g == (dead, 3, 3) for g in got), got
        assert c.recv_frame(0.3) is None, "more ICMP indications than the daemon counted"
        print(f"dead peer: {kernel:.0f} port unreachables, {res['relayed']:.0f} relayed, "
              f"{res['rate_limited']:.0f} over the rate, in {t1 - t0:.2f} s")
        c.refresh(0)
    finally:
        c.close()
        live.close()


def forged(relay, dest, icmp_type, code):
    """An ICMP error as a router would send it to relay for a datagram relay
    sent to dest: the outer header the kernel adds, then type, code,
    checksum, 4 unused bytes, the datagram's IP header and UDP header."""
    inner = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + 8, 0, 0, 64, 17, 0,
                        socket.inet_aton(relay[0]), socket.inet_aton(dest[0]))
    inner += struct.pack("!HHHH", relay[1], dest[1], 8 + 8, 0)
    body = struct.pack("!BBHI", icmp_type, code, 0, 0) + inner + bytes(8)
    csum = sum(struct.unpack(f"!{len(body) // 2}H", body))
    while csum >> 16:
        csum = (csum & 0xFFFF) + (csum >> 16)
    return body[:2] + struct.pack("!H", ~csum & 0xFFFF) + body[4:]


def forged_icmp(d):
    live = udp_peer()
    name, pw = creds("did:peers:forged")
    c = TurnClient(("127.0.0.1", PORT), name, pw)
    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    try:
        c.allocate()
        c.create_permission(live.getsockname())
        c.send_indication(live.getsockname(), b"first")  # the relay asks for errors from here
        assert recv_from(live, 5) is not None
        res0 = icmp_results(d)
        cases = [(("127.0.0.77", 9), 3, 3, "no_permission"),
                 (live.getsockname(), 12, 0, "ignored_type"),
                 (live.getsockname(), 3, 3, "relayed")]
        for dest, icmp_type, code, result in cases:
            raw.sendto(forged(c.relayed, dest, icmp_type, code), (c.relayed[0], 0))
            wait_for(lambda: icmp_delta(d, res0)[result] == 1, 5,
                     what=f"a forged ICMP {icmp_type}/{code} for {dest} counted {result}")
        assert icmp_delta(d, res0) == dict.fromkeys(RESULTS, 0) | {
            "no_permission": 1, "ignored_type": 1, "relayed": 1}
        assert icmp_indications(c, 1) == [(live.getsockname(), 3, 3)]
        assert c.recv_frame(0.3) is None, "a dropped ICMP error reached the client"
        # The relay goes on both ways.
        c.send_indication(live.getsockname(), b"after")
        assert recv_from(live, 5) == (b"after", c.relayed)
        live.sendto(b"back", c.relayed)
        assert c.recv_relayed(5) == ("data", live.getsockname(), b"back")
        c.refresh(0)
    finally:
        raw.close()
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
    # One port unreachable per message the kernel refused: datagrams of one
    # size to one client that a loop pass sends together go as one GSO
    # message, so a loaded run sees fewer than N.
    unreach = icmp_in_dest_unreach() - icmp0
    assert 0 < unreach <= N, f"the kernel sent {unreach} port unreachables for {N} datagrams"
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
        forged_icmp(d)
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
