"""Reload under traffic (issue 11): a UDP client and a TCP client each relay
numbered datagrams both ways through a channel, at a bounded rate, while
the daemon (2 workers) takes 20 reloads (SIGHUP and POST /admin/v1/reload
in turn) that alternate the secret (the clients' secret stays accepted
through previous-auth-secrets: a new Allocate with it after each reload
succeeds), the quotas and the deny list; the clients refresh between sends. Afterwards: every datagram arrived exactly once,
both allocations are still listed (same ids, with packet counts equal to
what was sent), no permission was removed, and the generation advanced by
exactly 20 in /metrics and in the admin status.
Ports 10000-10009, relay 11000-11049."""

import select
import socket
import struct
import sys
import threading
import time

from icetest import Daemon
from livelib import GENERATION, admin_reload, allocations, bind, both_ways, sighup
from turnclient import TurnClient, udp_peer

HTTP, PORT = 10000, 10001
S1, S2 = "live-reload-one", "live-reload-two"
RELOADS = 20
RATE = 200            # datagrams per second, per direction, per client
MAX_PER_DIRECTION = 4000
REFRESH_EVERY = 0.25  # seconds between a client's Refreshes


def reload_settings(i):
    """The turn keys of the i-th reload: the secret, quotas and deny list
    alternate; the other secret is always still accepted."""
    even = i % 2 == 0
    return {"auth-secret": S2 if even else S1,
            "previous-auth-secrets": [S1] if even else [S2],
            "max-allocations-per-user": 10 if even else 20,
            "allocations-per-minute-per-user": 100 if even else 200,
            "max-allocations": 500 if even else 1000,
            "denied-peer-ip": ["198.51.100.0/24"] if even else ["203.0.113.0/24",
                                                              "192.0.2.1/32"]}


def relayed_frames(c):
    """Every ChannelData/Data frame c has now, without waiting."""
    out = [x for x in c.pending if x[0] in ("data", "chan")]
    c.pending.clear()
    while True:
        if c.transport != "udp":
            f = c._frame()
            if f is not None:
                out.append(c.classify(f))
                continue
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            break
        if c.transport == "udp":
            out.append(c.classify(data))
        elif not data:
            raise ConnectionResetError("server closed the TCP connection")
        else:
            c.inbuf += data
    return [x for x in out if x[0] in ("data", "chan")]


class Flow:
    """Numbered datagrams both ways through one client's channel to a peer."""

    def __init__(self, c, peer, number):
        self.c, self.peer, self.number = c, peer, number
        self.sent = 0
        self.to_peer, self.to_client = [], []

    def send(self):
        n = struct.pack("!I", self.sent)
        self.c.send_channel(self.number, b"o" + n)
        self.peer.sendto(b"b" + n, self.c.relayed)
        self.sent += 1

    def poll(self):
        while True:
            try:
                data, src = self.peer.recvfrom(65536)
            except BlockingIOError:
                break
            assert src == self.c.relayed and data[:1] == b"o", (src, data)
            self.to_peer.append(struct.unpack("!I", data[1:5])[0])
        for kind, number, data in relayed_frames(self.c):
            assert kind == "chan" and number == self.number and data[:1] == b"b", \
                (kind, number, data)
            self.to_client.append(struct.unpack("!I", data[1:5])[0])

    def complete(self):
        return len(self.to_peer) >= self.sent and len(self.to_client) >= self.sent

    def check(self, name):
        want = list(range(self.sent))
        for way, got in (("to the peer", self.to_peer), ("to the client", self.to_client)):
            lost = sorted(set(want) - set(got))
            assert not lost and len(got) == self.sent, \
                f"{name} {way}: sent {self.sent}, got {len(got)}, lost {lost[:20]}"
        print(f"{name}: {self.sent} datagrams each way, none lost")


class Reloader(threading.Thread):
    """The 20 reloads, SIGHUP and the admin API in turn, each waited for."""

    def __init__(self, d, cred):
        super().__init__(daemon=True)
        self.d = d
        self.cred = cred
        self.done = threading.Event()
        self.error = None
        self.via = []

    def probe(self):
        """A new Allocate with the clients' credential (minted with S1),
        accepted in every generation, then released."""
        c = TurnClient(("127.0.0.1", PORT), *self.cred)
        try:
            c.allocate()
            c.refresh(0)
        finally:
            c.close()

    def run(self):
        try:
            for i in range(RELOADS):
                self.d.reconfigure(turn=reload_settings(i))
                if i % 2 == 0:
                    assert sighup(self.d) == "ok", f"reload {i + 1} failed:\n{self.d.log()}"
                    self.via.append("SIGHUP")
                else:
                    admin_reload(self.d)
                    self.via.append("admin")
                self.probe()
                time.sleep(0.05)  # spread the reloads over the traffic
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = e
        finally:
            self.done.set()


def traffic(flows, reloader):
    """Send at RATE until the reloads are done (plus a little), refreshing
    each client as it goes, then wait for every datagram."""
    socks = [s for f in flows for s in (f.peer, f.c.sock)]
    step = 1.0 / RATE
    next_send = time.monotonic()
    next_refresh = next_send + REFRESH_EVERY
    end = None
    refreshes = 0
    while flows[0].sent < MAX_PER_DIRECTION:
        now = time.monotonic()
        if reloader.done.is_set() and end is None:
            end = now + 0.3
        if end is not None and now >= end:
            break
        if now >= next_send:
            for f in flows:
                f.send()
            next_send += step
        if now >= next_refresh:
            for f in flows:
                f.c.refresh(600)
                refreshes += 1
            next_refresh = now + REFRESH_EVERY
        select.select(socks, [], [], max(0.0, next_send - time.monotonic()))
        for f in flows:
            f.poll()
    deadline = time.monotonic() + 10
    while not all(f.complete() for f in flows) and time.monotonic() < deadline:
        select.select(socks, [], [], 0.05)
        for f in flows:
            f.poll()
    return refreshes


def main():
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11000-11049"}
    turn.update(reload_settings(1))  # S1 in force, S2 accepted
    with Daemon(http_port=HTTP, stun_port=PORT, secret=None, workers=2, turn_extra=turn,
                stun_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        user, pw = d.turn_credentials("did:peers:reloader")  # minted with S1
        clients = [TurnClient(("127.0.0.1", PORT), user, pw, t) for t in ("udp", "tcp")]
        peers = [udp_peer(), udp_peer()]
        for s in peers:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 22)
        flows = []
        for i, (c, peer) in enumerate(zip(clients, peers)):
            c.allocate()
            bind(c, peer, 0x4000 + i)
            flows.append(Flow(c, peer, 0x4000 + i))
        before = allocations(d)
        assert len(before) == 2, before
        gen0 = d.metric(GENERATION)
        reloader = Reloader(d, (user, pw))
        reloader.start()
        t0 = time.monotonic()
        refreshes = traffic(flows, reloader)
        took = time.monotonic() - t0
        reloader.join(30)
        if reloader.error is not None:
            raise reloader.error
        assert reloader.via.count("SIGHUP") == 10 and reloader.via.count("admin") == 10
        for f, name in zip(flows, ("udp", "tcp")):
            f.check(name)
        assert refreshes >= 4, f"only {refreshes} Refreshes during the reloads"

        after = allocations(d)
        assert set(after) == set(before), (before, after)
        for f, name in zip(flows, ("udp", "tcp")):
            a = next(a for a in after.values() if a["transport"] == name)
            assert a["to_peer"]["packets"] == f.sent and a["to_client"]["packets"] == f.sent, \
                (name, f.sent, a)
            assert a["channels"] == 1 and a["permissions"] == 1, a
        assert d.metric(GENERATION) == gen0 + RELOADS, (gen0, d.metric(GENERATION))
        status, st = d.admin("GET", "/admin/v1/status")
        assert status == 200 and st["generation"] == gen0 + RELOADS, st
        assert d.metric('icestation_config_reload_total{result="ok"}') == RELOADS
        assert d.metric('icestation_config_reload_total{result="error"}') == 0
        assert d.metric("icestation_turn_policy_removed_total") == 0
        # Still refreshing and relaying on the last generation.
        for i, (c, peer) in enumerate(zip(clients, peers)):
            c.refresh(600)
            both_ways(c, peer, 0x4000 + i, b"after the reloads")
        # The probes' Allocates while S2 was in force (every other reload)
        # went through previous-auth-secrets.
        assert d.metric("icestation_turn_auth_previous_secret_total") == RELOADS // 2
        print(f"{RELOADS} reloads in {took:.1f}s of traffic, {refreshes} Refreshes, "
              f"generation {gen0:.0f} -> {d.metric(GENERATION):.0f}")
        for c in clients:
            c.close()
        for s in peers:
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
