#!/usr/bin/env python3
"""Fault: a TLS handshake flood on the turns: port. Three waves against a
daemon with tcp-max-connections 64 and a 2 s handshake deadline
(turn.tls.handshake-timeout 2s): 160 complete handshakes from 4 threads
(counted completed), 40 connections sending garbage instead of a
ClientHello (counted failed, closed_tls_error), then 100 connections
opened at once that never say anything: the table holds 64 (the TLS
bystander, whose allocation makes it unevictable, holds one), so each of
the last 37 evicts the oldest silent one still in its handshake (counted
evicted, pending: docs/configuration.md, connection caps), and the 63 left
are closed by the deadline (counted timeout). A TLS and a UDP bystander
keep relaying through every wave; fds and memory come back to the baseline.
Ports 15040-15049, relays 15570-15589."""
import shutil
import socket
import ssl
import sys
import tempfile
import threading

from faultlib import Served, baseline, creds, daemon, finish, held_more, run
from icetest import wait_for
from turnclient import TlsTurnClient, client_ctx, make_cert, tls_garbage

HTTP, PORT, TLS = 15040, 15041, 15042
MAX_CONNS = 64


def handshakes(ctx, n, results):
    for _ in range(n):
        try:
            with socket.create_connection(("127.0.0.1", TLS), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.do_handshake()
            results.append(True)
        except (OSError, ssl.SSLError):
            results.append(False)


def tls_flood():
    tmp = tempfile.mkdtemp(prefix="fault-tlsflood-")
    try:
        cert, key = make_cert(tmp)
        ctx = client_ctx(cert)
        with daemon(HTTP, PORT, "15570-15589", workers=1,
                    stun_extra={"tcp-max-connections": MAX_CONNS, "tcp-idle-timeout": "2s"},
                    turn_extra={"transports": ["udp", "tcp", "tls"],
                                "tls": {"port": TLS, "cert": cert, "key": key,
                                        "handshake-timeout": "2s"}}) as d:
            base = baseline(d)
            name, pw = creds("did:peers:tls-bystander")
            tls_by = Served(PORT, client=TlsTurnClient(("127.0.0.1", TLS), name, pw, ctx))
            udp_by = Served(PORT)
            m0 = d.metrics()

            def delta(key):
                return d.metric(key) - m0.get(key, 0.0)

            # Wave 1: complete handshakes, 4 at a time.
            results = []
            threads = [threading.Thread(target=handshakes, args=(ctx, 40, results))
                       for _ in range(4)]
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                tls_by.round_trip()
                udp_by.round_trip()
                for t in threads:
                    t.join(0.05)
            assert results.count(True) == 160, f"{results.count(False)} handshakes failed"
            wait_for(lambda: delta('icestation_net_tls_handshakes_total{result="completed"}')
                     == 160, 5, what="160 handshakes counted completed")

            # Wave 2: garbage instead of a ClientHello.
            for _ in range(40):
                tls_garbage(("127.0.0.1", TLS))
            wait_for(lambda: delta('icestation_net_tls_handshakes_total{result="failed"}') == 40,
                     5, what="40 garbage handshakes counted failed")
            assert delta('icestation_net_tcp_connections_total{result="closed_tls_error"}') == 40
            tls_by.round_trip()
            udp_by.round_trip()

            # Wave 3: silent connections, more than the table holds.
            silent = [socket.create_connection(("127.0.0.1", TLS), timeout=5)
                      for _ in range(100)]
            room = MAX_CONNS - 1  # the TLS bystander holds one
            wait_for(lambda: delta('icestation_connections_evicted_total{listener="tls",'
                                   'reason="pending"}') == 100 - room, 5,
                     what=f"{100 - room} silent connections evicted by newer ones")
            assert delta('icestation_net_tcp_connections_total{result="rejected_max"}') == 0
            held_more(d, base, "63 handshakes in progress")
            tls_by.round_trip()
            udp_by.round_trip()
            wait_for(lambda: delta('icestation_net_tls_handshakes_total{result="timeout"}')
                     == room, 10, what=f"{room} stalled handshakes closed by the deadline")
            for s in silent:
                s.close()
            tls_by.round_trip()
            udp_by.round_trip()
            assert d.metric("icestation_net_tls_connections_active") == 1  # the bystander
            finish(d, base, [tls_by, udp_by])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run([tls_flood]))
