#!/usr/bin/env python3
"""Fault: a TCP client and a TLS client that never read while their peers
flood them. For each: the daemon's output for it stays bounded (the kernel's
send buffer, then at most 64 KiB queued: icestation_net_tcp_output_queued_bytes
never above 64 KiB), then the connection is closed and counted
(icestation_net_tcp_connections_total{result="closed_backpressure"}) and its
allocation ends (allocations_ended{reason="connection_closed"}). The flood
is bounded (8 MB); a UDP and a TLS bystander keep relaying throughout; fds
and memory come back to the baseline. Ports 15030-15039, relays 15550-15569."""
import shutil
import socket
import sys
import tempfile
import time

from faultlib import Served, baseline, creds, daemon, finish, run
from icetest import wait_for
from turnclient import TlsTurnClient, TurnClient, client_ctx, make_cert, udp_peer

HTTP, PORT, TLS = 15030, 15031, 15032
OUT_MAX = 64 * 1024
FLOOD_MAX = 8000  # datagrams of 1000 B


def stuck_client(tls, ctx):
    name, pw = creds(f"did:peers:stuck-{'tls' if tls else 'tcp'}")
    if tls:
        return TlsTurnClient(("127.0.0.1", TLS), name, pw, ctx)
    return TurnClient(("127.0.0.1", PORT), name, pw, "tcp")


def flood_stuck(d, base, tls, ctx, bystanders):
    c = stuck_client(tls, ctx)
    peer = udp_peer()
    closed0 = d.metric('icestation_net_tcp_connections_total{result="closed_backpressure"}')
    ended0 = d.metric('icestation_turn_allocations_ended_total{reason="connection_closed"}')
    try:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        c.allocate()
        c.create_permission(peer.getsockname())
        peak, heap_peak, sent, payload = 0, 0, 0, bytes(1000)
        while sent < FLOOD_MAX:
            for _ in range(100):
                peer.sendto(payload, c.relayed)
            sent += 100
            time.sleep(0.01)
            m = d.metrics()
            peak = max(peak, m.get("icestation_net_tcp_output_queued_bytes", 0))
            heap_peak = max(heap_peak, m.get("icestation_process_heap_bytes", 0))
            if m.get('icestation_net_tcp_connections_total{result="closed_backpressure"}',
                     0) > closed0:
                break
            if sent % 1000 == 0:
                for b in bystanders:
                    b.round_trip()
        assert sent < FLOOD_MAX, f"not closed after {sent} KB"
        assert 0 < peak <= OUT_MAX, f"output queued peaked at {peak} bytes"
        # The queued output was the daemon's memory: the baseline check means something.
        assert heap_peak >= base["heap"] + peak, (heap_peak, base, peak)
        wait_for(lambda: d.metric('icestation_turn_allocations_ended_total'
                                  '{reason="connection_closed"}') == ended0 + 1, 5,
                 what="the stuck client's allocation ended")
        for b in bystanders:
            b.round_trip()
        assert d.metric("icestation_net_tcp_output_queued_bytes") == 0
        return sent
    finally:
        c.close()
        peer.close()


def nonreaders():
    tmp = tempfile.mkdtemp(prefix="fault-nonreader-")
    try:
        cert, key = make_cert(tmp)
        ctx = client_ctx(cert)
        with daemon(HTTP, PORT, "15550-15569", workers=1,
                    turn_extra={"transports": ["udp", "tcp", "tls"],
                                "tls": {"port": TLS, "cert": cert, "key": key}}) as d:
            base = baseline(d)
            name, pw = creds("did:peers:tls-bystander")
            bystanders = [Served(PORT),
                          Served(PORT, client=TlsTurnClient(("127.0.0.1", TLS), name, pw, ctx))]
            rss_peak = 0
            for tls in (False, True):
                sent = flood_stuck(d, base, tls, ctx, bystanders)
                rss_peak = max(rss_peak, d.rss_kib())
                print(f"{'TLS' if tls else 'TCP'} non-reader closed after {sent} KB", flush=True)
            assert d.metric('icestation_net_tcp_connections_total{result="closed_backpressure"}') \
                == 2
            finish(d, base, bystanders)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run([nonreaders]))
