"""STUN/TURN over TCP and TLS under a flood from one address (issue 19).
127.0.0.2 holds a live TURN/TCP allocation that must keep relaying
throughout. 127.0.0.1 opens slow connections: two bytes of a frame each on
TCP, half a ClientHello on TLS. Meanwhile 127.0.0.2 gets a TCP Binding and
a TLS Binding answered within a second, and an Allocate over TCP answered
within a second that relays both ways.

First the per-address caps are below the worker's limit: the flood is
refused beyond them. Then, after a live reload, they equal it: the flood
fills the worker, each newcomer closes the oldest connection with no
complete frame, and once only connections that completed a frame are left
it closes the oldest of those; the allocation's connection is never
picked. The counters and the log match what the test did.
Ports 28100-28199, relay 28500-28599."""

import os
import struct
import sys
import tempfile
import time

from floodlib import (ATTACKER, PROBE_S, VICTIM, close_all, closed_set, evicted, flood,
                      is_closed, log_lines, refused, reload)
from icetest import Daemon, wait_for
from stunwire import COOKIE
from test_tls import TlsTurnClient, binding_ok, client_ctx, client_hello, make_cert
from turnclient import BINDING, TurnClient, recv_from, udp_peer

HTTP, TCP, TLS = 28100, 28101, 28102
MAX, CAP = 16, 6
HALF_FRAME = struct.pack("!H", 0x0001)  # two bytes of a Binding request, then nothing
ACTIVE = "icestation_net_tcp_connections_active"
BINDINGS = "icestation_stun_binding_requests_total"
TCP_RESULT = 'icestation_net_tcp_connections_total{{result="{}"}}'
SECRET = "conn-limits-stream-s3cret-0123456789"


def rest_of_binding():
    """The 18 bytes that complete HALF_FRAME into a Binding request."""
    return struct.pack("!HI", 0, COOKIE) + os.urandom(12)


class Rig:
    """The daemon, its certificate, and 127.0.0.2's live allocation."""

    def __init__(self, d, cert):
        self.d, self.cert = d, cert
        self.user, self.pw = d.turn_credentials()
        self.peer = udp_peer(ATTACKER)
        self.alloc = TurnClient(("127.0.0.1", TCP), self.user, self.pw, "tcp", local=VICTIM)
        self.alloc.allocate()
        self.alloc.create_permission(self.peer.getsockname())
        self.n = 0

    def relays(self, c=None):
        """c (the live allocation by default) relays both ways now."""
        c = c or self.alloc
        self.n += 1
        out, back = b"to peer %d" % self.n, b"to client %d" % self.n
        c.send_indication(self.peer.getsockname(), out)
        got = recv_from(self.peer, 2)
        assert got is not None and got[0] == out, f"client->peer lost: {got}"
        self.peer.sendto(back, c.relayed)
        r = c.recv_relayed(2)
        assert r is not None and r[0] == "data" and r[2] == back, f"peer->client lost: {r}"

    def tcp_binding(self):
        t0 = time.monotonic()
        c = TurnClient(("127.0.0.1", TCP), "u", "p", "tcp", local=VICTIM)
        try:
            r = c.transact(BINDING, [], timeout=PROBE_S, auth=False)
            assert r.cls == 2, "TCP Binding not answered with success"
        finally:
            c.close()
        return time.monotonic() - t0

    def tls_binding(self):
        t0 = time.monotonic()
        c = TlsTurnClient(("127.0.0.1", TLS), "u", "p", client_ctx(self.cert), local=VICTIM)
        try:
            binding_ok(c)
        finally:
            c.close()
        return time.monotonic() - t0

    def allocate_relay(self):
        t0 = time.monotonic()
        c = TurnClient(("127.0.0.1", TCP), self.user, self.pw, "tcp", local=VICTIM)
        try:
            c.allocate()
            took = time.monotonic() - t0
            c.create_permission(self.peer.getsockname())
            self.relays(c)
        finally:
            c.close()
        return took

    def probes(self):
        """Each answered within PROBE_S, and the live allocation still relays."""
        for probe in (self.tcp_binding, self.tls_binding, self.allocate_relay):
            took = probe()
            assert took < PROBE_S, f"{probe.__name__} from {VICTIM} took {took:.2f}s"
        self.relays()

    def close(self):
        self.alloc.close()
        self.peer.close()


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def wait_active(d, n):
    wait_for(lambda: d.metric(ACTIVE) == n, 5, what=f"{n} open stream connections")


def over_cap(d, rig):
    m0 = d.metrics()
    tcp, tls = [], []
    try:
        tcp += flood(ATTACKER, "127.0.0.1", TCP, 10, HALF_FRAME)
        rig.probes()
        tls += flood(ATTACKER, "127.0.0.1", TLS, 10, client_hello()[:20])
        rig.probes()
        beyond = set(range(CAP, 10))
        assert closed_set(tcp, beyond) == beyond, "TCP: not exactly those beyond the cap refused"
        assert closed_set(tls, beyond) == beyond, "TLS: not exactly those beyond the cap refused"
        wait_active(d, 1 + 2 * CAP)
        m = d.metrics()
        assert delta(m0, m, refused("tcp", "per_address")) == 10 - CAP
        assert delta(m0, m, refused("tls", "per_address")) == 10 - CAP
        assert delta(m0, m, TCP_RESULT.format("rejected_per_address")) == 2 * (10 - CAP)
        for key in (evicted("tcp", "pending"), evicted("tls", "pending"),
                    TCP_RESULT.format("rejected_max"), TCP_RESULT.format("closed_evicted")):
            assert delta(m0, m, key) == 0, key
        # One line for the source in its minute, over both listeners.
        lines = log_lines(d, r"conn: connection (refused|evicted).*client=127\.0\.0\.1 ")
        assert len(lines) == 1 and "listener=tcp" in lines[0] and \
            "reason=per_address" in lines[0], lines
        assert delta(m0, m, "icestation_log_suppressed_total") == 2 * (10 - CAP) - 1
        rig.relays()
    finally:
        close_all(tcp)
        close_all(tls)
    wait_active(d, 1)
    print("stream: over the per-address caps refused; 127.0.0.2 served and relaying")


def complete(d, socks):
    """Each of socks completes its Binding (served from then on); return once
    the daemon counted them all."""
    before = d.metric(BINDINGS)
    for s in socks:
        s.sendall(rest_of_binding())
    wait_for(lambda: d.metric(BINDINGS) >= before + len(socks), 5,
             what="the flood's Bindings answered")


def fill(d, tcp):
    """Top the worker up to MAX with the flood's pending connections."""
    need = MAX - int(d.metric(ACTIVE))
    tcp += flood(ATTACKER, "127.0.0.1", TCP, need, HALF_FRAME)
    wait_active(d, MAX)


def full_worker(d, rig):
    for f in ("sub_stun.yml", "sub_turn.yml"):
        d.files[f] = d.files[f].replace(f"max-connections-per-address: {CAP}\n",
                                        f"max-connections-per-address: {MAX}\n")
        with open(os.path.join(d.dir, f), "w") as fh:
            fh.write(d.files[f])
    reload(d)
    m0 = d.metrics()
    tcp = []
    # An older connection of the flood's address that completed a frame.
    served = TurnClient(("127.0.0.1", TCP), "u", "p", "tcp", local=ATTACKER)
    try:
        assert served.transact(BINDING, [], auth=False).cls == 2
        # The allocation's, served, and 20 slow ones: 14 fit, 6 evict the oldest.
        tcp += flood(ATTACKER, "127.0.0.1", TCP, 20, HALF_FRAME)
        assert closed_set(tcp, set(range(6))) == set(range(6))
        wait_active(d, MAX)
        # Each probe arrives at a full worker and evicts one more.
        for i, probe in enumerate((rig.tcp_binding, rig.tls_binding, rig.allocate_relay)):
            fill(d, tcp)
            took = probe()
            assert took < PROBE_S, f"{probe.__name__} took {took:.2f}s"
            wait_active(d, MAX - 1)
            assert closed_set(tcp, set(range(7 + i))) == set(range(7 + i))
        rig.relays()
        m = d.metrics()
        assert delta(m0, m, evicted("tcp", "pending")) == 9
        assert delta(m0, m, TCP_RESULT.format("closed_evicted")) == 9
        for key in (evicted("tcp", "served"), evicted("tls", "pending"),
                    evicted("tls", "served"), refused("tcp", "per_address"),
                    refused("tcp", "full"), refused("tls", "per_address"),
                    refused("tls", "full")):
            assert delta(m0, m, key) == 0, key
        assert not is_closed(served.sock), "a served connection went before pending ones"

        # Every flood connection completes its frame: none pending any more.
        live = [s for s in tcp if not is_closed(s)]
        complete(d, live)
        fill(d, tcp)
        complete(d, tcp[-1:])
        # Full of served connections and the allocation's: the newcomer
        # closes the oldest served (the first), never the allocation's.
        took = rig.tcp_binding()
        assert took < PROBE_S, f"tcp_binding took {took:.2f}s"
        assert wait_for(lambda: is_closed(served.sock), 5, what="oldest served evicted")
        rig.relays()
        m2 = d.metrics()
        assert delta(m, m2, evicted("tcp", "served")) == 1
        assert delta(m, m2, evicted("tcp", "pending")) == 0
    finally:
        served.close()
        close_all(tcp)
    print("stream: full worker, oldest pending then oldest served evicted, "
          "allocation kept; 127.0.0.2 served")


def main():
    tmp = tempfile.mkdtemp(prefix="conncap-")
    cert, key = make_cert(tmp)
    d = Daemon(http_port=HTTP, stun_port=TCP, secret=SECRET, workers=1,
               stun_extra={"tcp-max-connections": MAX, "tcp-max-connections-per-address": CAP,
                           "tcp-idle-timeout": "60s"},
               turn_extra={"transports": ["udp", "tcp", "tls"],
                           "tls": {"port": TLS, "cert": cert, "key": key,
                                   "max-connections-per-address": CAP,
                                   "handshake-timeout": "60s"},
                           "allowed-peer-ip": ["127.0.0.0/8"],
                           "relay-port-range": "28500-28599"})
    with d:
        rig = Rig(d, cert)
        try:
            over_cap(d, rig)
            full_worker(d, rig)
        finally:
            rig.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
