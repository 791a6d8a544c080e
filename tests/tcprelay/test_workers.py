"""RFC 6062 over TLS and across workers, on the real daemon with four
workers: control and data connections over TLS (turns:) and over TCP.
The daemon steers every connection of one source address to one worker, so
the data connections come from other source addresses than their control
connection (127.0.50.1-12, as a client's would from another interface or
behind another NAT address): most ConnectionBinds then arrive on a worker
that does not hold their peer connection, and the stream (its SSL state and the ConnectionBind not yet read)
is handed to the right worker through its mailbox, and relaying works the
same. Checks the handover counters, bytes both ways on every connection,
and the close of each side. Over TLS too, backpressure both ways (a side
that does not read stalls the other, the daemon buffers no more than its
rings and its memory does not grow, every byte arrives in order) and
either side's close closing the other.
Ports 5100-5119, relay and peers 5500-5599; data connections from
127.0.50.1-12 (ephemeral ports)."""

import os
import socket
import tempfile

from icetest import Daemon, wait_for
from tcpclient import closed_within, control, read_exact, stalls, tcp_peer
from turnclient import client_ctx, make_cert

HTTP, PORT, TLS_PORT = 5100, 5101, 5102
PEER_PORTS = range(5591, 5598)  # a Connect per peer address (446 otherwise)
STALL_PEER = 5599
CONNS = 12  # per transport: the chance all land on the right worker is 4^-12
# a source address per data connection: steering puts each address on the
# worker its hash picks, whatever the control connection's
DATA_SOURCES = [f"127.0.50.{i + 1}" for i in range(CONNS)]
RING = 16 * 1024  # NET_TCP_PAIR_BUF


def relay_many(d, ctx, label):
    user, pw = d.turn_credentials("did:peers:workers")
    c = control(("127.0.0.1", TLS_PORT if ctx else PORT), user, pw, tls_ctx=ctx)
    peers = [tcp_peer(port) for port in PEER_PORTS[:CONNS // 2]]
    pairs = []
    try:
        c.allocate_tcp()
        c.create_permission(("127.0.0.1", 0))
        for i in range(CONNS):
            if i % 2:
                # the client connects out (Connect) ...
                peer = peers[i // 2]
                cid = c.connect(peer.getsockname())
                p, _ = peer.accept()
            else:
                # ... or the peer connects in (ConnectionAttempt)
                p = socket.create_connection(c.relayed, timeout=5)
                got = c.connection_attempt(5)
                assert got is not None, f"{label}: no ConnectionAttempt"
                cid = got[0]
            pairs.append((p, c.data_connection(cid, source=DATA_SOURCES[i])))
        for p, data in pairs:
            msg = os.urandom(30000)
            data.sendall(msg)
            assert read_exact(p, len(msg), 10) == msg, f"{label}: bytes to the peer differ"
            msg = os.urandom(30000)
            p.sendall(msg)
            assert read_exact(data, len(msg), 10) == msg, f"{label}: bytes to the client differ"
        # close one side of each, alternately: the other follows
        for i, (p, data) in enumerate(pairs):
            first, second = (p, data) if i % 2 else (data, p)
            first.close()
            assert closed_within(second, 5), f"{label}: connection {i} outlived its other side"
        wait_for(lambda: d.metric("icestation_net_tcp_relay_connections") == 0, 5,
                 what="every pair closed")
        print(f"ok: {label}: {CONNS} data connections bound and relayed")
    finally:
        for p, data in pairs:
            p.close()
            data.close()
        for peer in peers:
            peer.close()
        c.close()


def tls_backpressure(d, ctx):
    """A TLS data connection and its peer, each stalled by the other."""
    user, pw = d.turn_credentials("did:peers:workers")
    c = control(("127.0.0.1", TLS_PORT), user, pw, tls_ctx=ctx)
    peer = tcp_peer(STALL_PEER)
    try:
        c.allocate_tcp()
        cid = c.connect(peer.getsockname())
        p, _ = peer.accept()
        data = c.data_connection(cid)
        rss = []
        # twice: the second round must not grow what the first one touched
        # (allocator and sanitizer first-touch costs are not growth)
        for _ in range(2):
            rss.append(d.rss_kib())
            stalls(p, data, d, "TLS: peer to a client that does not read", RING)
            stalls(data, p, d, "TLS: client to a peer that does not read", RING)
        grew = d.rss_kib() - rss[1]
        assert grew < 4096, f"TLS: daemon grew by {grew} KiB during the stalls"
        msg = os.urandom(1000)
        data.sendall(msg)
        assert read_exact(p, len(msg), 10) == msg
        # the client's TLS data connection hangs up: the peer's closes too
        data.close()
        assert closed_within(p, 5), "TLS: peer connection outlived the client's"
        p.close()
        wait_for(lambda: d.metric("icestation_net_tcp_relay_connections") == 0, 5,
                 what="the stalled pair closed")
        print(f"ok: TLS: backpressure both ways, daemon RSS grew {rss[1] - rss[0]} KiB over "
              f"the first round, {grew} KiB over the second; client close closes the peer")
    finally:
        peer.close()
        c.close()


def main():
    tmp = tempfile.mkdtemp(prefix="tcprelay-")
    cert, key = make_cert(tmp)
    ctx = client_ctx(cert)
    turn = {"transports": ["udp", "tcp", "tls"],
            "tls": {"port": TLS_PORT, "cert": cert, "key": key},
            "allowed-peer-ip": ["127.0.0.1/32"], "relay-port-range": "5500-5590",
            "max-tcp-connections-per-allocation": CONNS}
    with Daemon(http_port=HTTP, stun_port=PORT, workers=4, turn_extra=turn) as d:
        tls_backpressure(d, ctx)
        before = d.metric('icestation_net_tcp_handovers_total{result="adopted"}')
        relay_many(d, ctx, "TLS")
        tls_handovers = d.metric('icestation_net_tcp_handovers_total{result="adopted"}')
        relay_many(d, None, "TCP")
        sent = d.metric('icestation_net_tcp_handovers_total{result="sent"}')
        adopted = d.metric('icestation_net_tcp_handovers_total{result="adopted"}')
        assert tls_handovers > before, "no TLS data connection changed workers"
        assert adopted > tls_handovers, "no TCP data connection changed workers"
        assert sent == adopted, f"{sent} handed over, {adopted} taken"
        assert d.metric('icestation_net_tcp_handovers_total{result="failed"}') == 0
        assert d.metric('icestation_turn_tcp_connections_total{result="bound"}') == 2 * CONNS + 1
        print(f"ok: {int(adopted)} of {2 * CONNS + 1} data connections changed workers")
    print("PASS test_workers")


if __name__ == "__main__":
    main()
