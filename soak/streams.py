#!/usr/bin/env python3
"""Stream-side load of the soak, beside bench/loadgen's UDP load: TCP and
TLS clients that connect, relay and vanish without Refresh(0), slow
readers, stuck readers (never read: the server must close them for
backpressure), TLS handshakes that are garbage, and ICE API requests, good
and bad. Written with tests/turn_net's independent TURN client. Every
activity is paced by its own thread and bounded by --duration; each counts
what it did so the driver can check the server counted the same.

Prints one JSON object per 5 s ("event":"tick") and one at the end
("event":"final") on stdout.
"""
import argparse
import http.client
import json
import os
import signal
import socket
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [os.path.join(ROOT, "tests", "lib"), os.path.join(ROOT, "tests", "turn_net")]
from turnclient import (TlsTurnClient, TurnClient, client_ctx, tls_garbage,  # noqa: E402
                        udp_peer)

STOP = threading.Event()
LOCK = threading.Lock()
C = {k: 0 for k in (
    "vanish_tcp", "vanish_tls", "vanish_relayed", "tcp_allocations", "slow_sent",
    "slow_received", "slow_renewals", "stuck", "stuck_bytes", "stuck_late", "tls_garbage",
    "api_ok", "api_bad", "unexpected")}
ERRORS = []


def count(key, n=1):
    with LOCK:
        C[key] += n


def unexpected(what):
    with LOCK:
        C["unexpected"] += 1
        if len(ERRORS) < 20:
            ERRORS.append(what)


def rest_cred(secret, user):
    import base64
    import hashlib
    import hmac
    name = f"{int(time.time()) + 86400}:{user}"
    pw = base64.b64encode(hmac.new(secret.encode(), name.encode(), hashlib.sha1).digest())
    return name, pw.decode()


def every(period, fn):
    """Run fn every period seconds until STOP; an exception is counted, not fatal."""
    nxt = time.monotonic()
    while not STOP.is_set():
        try:
            fn()
        except Exception as e:  # noqa: BLE001 (every failure is reported)
            unexpected(f"{fn.__name__}: {type(e).__name__}: {e}")
        nxt += period
        STOP.wait(max(0.0, nxt - time.monotonic()))


class Load:
    def __init__(self, a):
        self.a = a
        self.server = ("127.0.0.1", a.turn_port)
        self.tls_server = ("127.0.0.1", a.tls_port)
        self.ctx = client_ctx(a.cert)
        self.n = 0

    def client(self, tls, user):
        name, pw = rest_cred(self.a.secret, user)
        if tls:
            return TlsTurnClient(self.tls_server, name, pw, self.ctx)
        return TurnClient(self.server, name, pw, transport="tcp")

    def relayed(self, c, peer):
        """Permission, one Send indication to peer and its echo back as Data."""
        paddr = peer.getsockname()
        c.create_permission(paddr)
        c.send_indication(paddr, b"soak-stream")
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                data, src = peer.recvfrom(2048)
                break
            except BlockingIOError:
                time.sleep(0.005)
        else:
            raise TimeoutError("Send indication not relayed")
        peer.sendto(data, src)
        r = c.recv_relayed(5)
        if r is None or r[2] != b"soak-stream":
            raise AssertionError(f"Data indication not relayed back: {r!r}")

    def next_pair(self, kind, peer_ip):
        """(tls, client, peer) for the next client of kind: TCP and TLS in turn."""
        self.n += 1
        tls = self.n % 2 == 0
        return tls, self.client(tls, f"soak-{kind}-{self.n}"), udp_peer(peer_ip)

    # connect, relay, vanish: FIN, or RST (SO_LINGER 0) for every other TCP one
    def vanish(self):
        tls, c, peer = self.next_pair("vanish", "127.0.7.1")
        try:
            c.allocate()
            count("tcp_allocations")
            self.relayed(c, peer)
            count("vanish_relayed")
            if self.n % 4 == 1:
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        finally:
            c.close()
            peer.close()
        count("vanish_tls" if tls else "vanish_tcp")

    # never reads: the server must close it for backpressure
    def stuck(self):
        _, c, peer = self.next_pair("stuck", "127.0.7.2")
        try:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            c.allocate()
            count("tcp_allocations")
            c.create_permission(peer.getsockname())
            # 3 MB at about 2.5 MB/s (past the kernel's send buffer, which the
            # daemon asks to be 1 MiB, and the 64 KiB output bound), then
            # 50 KB/s, until the daemon has closed a stuck client for
            # backpressure (its counter rose). Waiting for ICMP from the
            # released relay instead is not reliable: it stays a spare for
            # 2 s and its port may then go to a new allocation.
            peer.setblocking(True)
            before = self.closed_backpressure()
            sent, payload, closed = 0, bytes(1000), False
            # Not cut short by the end of the run: its outcome must be known.
            deadline = time.monotonic() + 30
            checked = 0  # datagrams sent when the counter was last seen unchanged
            while time.monotonic() < deadline and not closed:
                peer.sendto(payload, c.relayed)
                sent += 1
                if sent >= 3000 or sent % 50 == 0:
                    time.sleep(0.02)
                if sent % (10 if sent >= 3000 else 500) == 0:
                    closed = self.closed_backpressure() > before
                    if not closed:
                        checked = sent
            count("stuck_bytes", sent * 1000)
            # Sent after the close, at most: they reach the released relay
            # (a spare, dropped) or, if the daemon handed its port to a new
            # allocation already, that one (dropped for want of a permission).
            count("stuck_late", sent - checked)
            if not closed:
                raise AssertionError(f"stuck reader not closed: {sent} KB sent in 30 s")
            count("stuck")
        finally:
            c.close()
            peer.close()

    def closed_backpressure(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.a.http_port, timeout=5)
        try:
            conn.request("GET", "/metrics")
            body = conn.getresponse().read().decode()
        finally:
            conn.close()
        key = 'icestation_net_tcp_connections_total{result="closed_backpressure"} '
        for line in body.splitlines():
            if line.startswith(key):
                return float(line[len(key):])
        raise AssertionError("no closed_backpressure counter in /metrics")

    def tls_garbage(self):
        tls_garbage(self.tls_server)
        count("tls_garbage")

    def api(self):
        conn = getattr(self, "_http", None)
        if conn is None:
            conn = self._http = http.client.HTTPConnection("127.0.0.1", self.a.http_port,
                                                          timeout=5)
        self.n += 1
        bad = self.n % 10 == 0
        q = "did:peers:soak%20space" if bad else f"did:peers:soak{self.n % 100}"
        try:
            conn.request("GET", "/api/v1/turn/ice-servers?user_did=" + q)
            r = conn.getresponse()
            body = r.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            self._http = None
            raise
        want = 400 if bad else 200
        if r.status != want:
            raise AssertionError(f"ICE API {q}: {r.status} {body[:80]!r}")
        if not bad and b'"username"' not in body:
            raise AssertionError(f"ICE API without credential: {body[:80]!r}")
        count("api_bad" if bad else "api_ok")


def slow_reader(load, tls, pps):
    """Reads once a second what a peer sent at pps; every datagram must arrive."""
    c = load.client(tls, f"soak-slow-{'tls' if tls else 'tcp'}")
    peer = udp_peer("127.0.7.3")
    c.allocate()
    count("tcp_allocations")
    c.create_permission(peer.getsockname())
    seq, got, last_renew = 0, 0, time.monotonic()
    nxt = time.monotonic()
    try:
        while not STOP.is_set():
            for _ in range(pps):
                peer.sendto(struct.pack("!I", seq) + bytes(996), c.relayed)
                seq += 1
            count("slow_sent", pps)
            nxt += 1.0
            STOP.wait(max(0.0, nxt - time.monotonic()))
            while True:
                r = c.recv_relayed(0.05)
                if r is None:
                    break
                got += 1
                count("slow_received")
            if time.monotonic() - last_renew > load.a.lifetime / 3:
                last_renew = time.monotonic()
                c.refresh(load.a.lifetime)
                c.create_permission(peer.getsockname())
                count("slow_renewals")
        deadline = time.monotonic() + 5
        while got < seq and time.monotonic() < deadline:
            if c.recv_relayed(0.2) is not None:
                got += 1
                count("slow_received")
    finally:
        c.close()
        peer.close()


def main():
    p = argparse.ArgumentParser()
    for k in ("turn-port", "tls-port", "http-port"):
        p.add_argument("--" + k, type=int, required=True)
    p.add_argument("--secret", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--lifetime", type=int, default=60)
    p.add_argument("--vanish-rate", type=float, default=2.0)
    p.add_argument("--stuck-every", type=float, default=15.0)
    p.add_argument("--garbage-every", type=float, default=10.0)
    p.add_argument("--api-rate", type=float, default=10.0)
    p.add_argument("--slow-pps", type=int, default=25)
    a = p.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    threads = []

    def spawn(fn, *args):
        t = threading.Thread(target=fn, args=args, daemon=True)
        t.start()
        threads.append(t)

    for tls in (False, True):
        spawn(lambda t=tls: every(3600 * 24, lambda: slow_reader(Load(a), t, a.slow_pps)))
    spawn(every, 1 / a.vanish_rate, Load(a).vanish)
    spawn(every, a.stuck_every, Load(a).stuck)
    spawn(every, a.garbage_every, Load(a).tls_garbage)
    spawn(every, 1 / a.api_rate, Load(a).api)
    end = time.monotonic() + a.duration
    while not STOP.wait(min(5.0, max(0.0, end - time.monotonic()))):
        if time.monotonic() >= end:
            break
        with LOCK:
            print(json.dumps({"event": "tick", **C}), flush=True)
    STOP.set()
    # One 40 s deadline for all (a stuck reader may need its 30 s), not 40 s
    # each: soak.py waits 120 s for this process once the load has ended.
    deadline = time.monotonic() + 40
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    with LOCK:
        print(json.dumps({"event": "final", **C, "errors": ERRORS,
                          "stuck_threads": sum(t.is_alive() for t in threads)}), flush=True)


if __name__ == "__main__":
    main()
