"""Two workers: 50 allocations (UDP and TCP clients, spread over both workers
by the kernel's SO_REUSEPORT hash) each relay both ways through a channel
and by indications; every relay port is distinct and inside the range; when
they are all gone (Refresh 0 and TCP close), the
daemon's file descriptors are back to the baseline and the gauges to 0.
(Expiry through the tick is test_limits.py's.)

Then the relay addresses on the same ports: several single-host entries in
relay-ip-range (127.0.0.2-4 are not interface addresses on lo) are bound as
given, allocations spread over all of them, each advertised as itself and
relaying both ways; a public-ip outside the range (NAT) uses one of them
only and advertises public-ip; a single host that is not local fails the
start naming it.

Last, a wildcard listener (0.0.0.0): bursts of equal datagrams to one client
(which the send path packs into one GSO message with the source's pktinfo)
arrive complete, in order and from the address the client contacted.
Ports 26060-26079, relay 40300-40499."""

import os
import socket
import struct
import sys

from icetest import Daemon, wait_for
from turnclient import TurnClient, recv_from, udp_peer

HTTP, PORT = 26060, 26061
N = 50
TURN = {"allowed-peer-ip": ["127.0.0.0/8", "::1/128"], "relay-port-range": "40300-40499",
        "max-allocations-per-user": 100, "allocations-per-minute-per-user": 1000}


def relay_both_ways(c, peer, i):
    pa = peer.getsockname()
    c.create_permission(pa)
    c.channel_bind(0x4000 + i, pa)
    msg = struct.pack("!I", i) + b"to-peer"
    c.send_channel(0x4000 + i, msg)
    got = recv_from(peer, 5)
    assert got == (msg, c.relayed), (i, got)
    peer.sendto(struct.pack("!I", i) + b"to-client", c.relayed)
    r = c.recv_relayed(5)
    assert r == ("chan", 0x4000 + i, struct.pack("!I", i) + b"to-client"), (i, r)


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, workers=2, turn_extra=TURN,
                stun_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        base_fds = d.fd_count()
        user, pw = d.turn_credentials("did:peers:many")
        clients, peers = [], []
        try:
            for i in range(N):
                c = TurnClient(("127.0.0.1", PORT), user, pw, "tcp" if i % 5 == 0 else "udp")
                c.allocate()
                clients.append(c)
                peers.append(udp_peer())
            ports = {c.relayed[1] for c in clients}
            assert len(ports) == N, "two allocations share a relay port"
            assert all(40300 <= p <= 40499 for p in ports)
            assert d.metric("icestation_turn_allocations") == N
            assert d.metric("icestation_net_relay_sockets") == N
            assert d.fd_count() >= base_fds + N
            for i, (c, p) in enumerate(zip(clients, peers)):
                relay_both_ways(c, p, i)
            for c in clients:
                if c.transport == "udp":
                    c.refresh(0)
                else:
                    c.close()
        finally:
            for c in clients:
                c.close()
            for p in peers:
                p.close()
        wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 15,
                 what="every allocation gone")
        wait_for(lambda: d.fd_count() == base_fds, 10,
                 what=f"fd count back to {base_fds} (now {d.fd_count()})")
        m = d.metrics()
        assert m.get("icestation_net_relay_sockets", 0) == 0
        assert m.get('icestation_turn_allocations_ended_total{reason="deleted"}', 0) == 40
        assert m.get('icestation_turn_allocations_ended_total{reason="connection_closed"}', 0) == 10
        assert m.get("icestation_turn_allocations_created_total", 0) == N
        print("50 allocations on 2 workers ok; fds", base_fds)
    relay_addresses()
    wildcard_bursts()
    return 0


def wildcard_bursts():
    turn = dict(TURN, **{"relay-ip-range": ["127.0.0.1/32"]})
    with Daemon(http_port=HTTP, stun_port=PORT, workers=1, listen=["0.0.0.0"], turn_extra=turn,
                stun_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        user, pw = d.turn_credentials("did:peers:burst")
        # Connected to 127.0.0.2: anything from another source is filtered
        # out by the kernel, so a lost pktinfo shows as missing frames.
        c = TurnClient(("127.0.0.2", PORT), user, pw, "udp")
        peer = udp_peer()
        try:
            c.allocate()
            pa = peer.getsockname()
            c.create_permission(pa)
            c.channel_bind(0x4001, pa)
            for rnd in range(4):
                for i in range(64):
                    peer.sendto(struct.pack("!HH", rnd, i) + b"m" * 196, c.relayed)
                for i in range(64):
                    r = c.recv_relayed(5)
                    assert r == ("chan", 0x4001, struct.pack("!HH", rnd, i) + b"m" * 196), \
                        (rnd, i, r)
            b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            b.bind(("127.0.0.1", 0))
            b.connect(("127.0.0.2", PORT))
            tids = [os.urandom(12) for _ in range(32)]
            for t in tids:
                b.send(struct.pack("!HHI", 0x0001, 0, 0x2112A442) + t)
            got = []
            b.settimeout(5)
            while len(got) < len(tids):
                m = b.recv(2048)
                assert m[:2] == b"\x01\x01", m[:4].hex()
                got.append(m[8:20])
            assert got == tids
            b.close()
        finally:
            c.close()
            peer.close()
    print("wildcard listener: 4 x 64 relayed and 32 Binding answers complete, in order")


def relay_addresses():
    hosts = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
    turn = dict(TURN, **{"relay-ip-range": [f"{h}/32" for h in hosts]})
    with Daemon(http_port=HTTP, stun_port=PORT, workers=2, turn_extra=turn,
                stun_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        user, pw = d.turn_credentials("did:peers:spread")
        clients, peers = [], []
        try:
            for i in range(12):
                c = TurnClient(("127.0.0.1", PORT), user, pw, "udp")
                c.allocate()
                clients.append(c)
                peers.append(udp_peer())
            # Each worker starts at the first address and goes round robin,
            # and one of the two holds at least 6 of the 12: all 4 are used.
            assert {c.relayed[0] for c in clients} == set(hosts), [c.relayed for c in clients]
            assert len({c.relayed for c in clients}) == 12
            for i, (c, p) in enumerate(zip(clients, peers)):
                relay_both_ways(c, p, i)
        finally:
            for c in clients:
                c.close()
            for p in peers:
                p.close()
    # NAT: public-ip outside relay-ip-range fronts one relay address only.
    nat = Daemon(http_port=HTTP, stun_port=PORT, workers=1, public_ip="192.0.2.7",
                 turn_extra=turn, stun_extra={"rate-limit": {"requests-per-second": 0}})
    with nat as d:
        user, pw = d.turn_credentials("did:peers:nat")
        c = TurnClient(("127.0.0.1", PORT), user, pw, "udp")
        try:
            c.allocate()
            assert c.relayed[0] == "192.0.2.7", c.relayed
        finally:
            c.close()
        log = d.log()
        for h in hosts[1:]:
            assert f"relay address {h} not used" in log, log
    bad = Daemon(http_port=HTTP, stun_port=PORT, workers=1,
                 turn_extra=dict(TURN, **{"relay-ip-range": ["127.0.0.1/32", "192.0.2.55/32"]}))
    try:
        bad.start()
    except RuntimeError as e:
        assert "relay-ip-range 192.0.2.55/32: cannot bind" in str(e), e
    else:
        bad.stop()
        raise AssertionError("a relay-ip-range host that is not local must fail the start")
    finally:
        bad.cleanup()
    print("relay addresses: 4 hosts used round robin, NAT uses one, a foreign host fails")


if __name__ == "__main__":
    sys.exit(main())
