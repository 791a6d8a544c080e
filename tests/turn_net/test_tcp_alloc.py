"""TURN over TCP: the connection is the allocation (RFC 8656 §3.1).
Closing it frees the allocation and its relay socket (after the spare
time); while it carries an
allocation it outlives the idle timeout; a client that never reads while a
peer floods its relay gets its connection closed by backpressure, the
daemon's memory stays bounded, and other clients keep being served.
Ports 26040-26059, relay 40200-40299."""

import socket
import sys

from icetest import Daemon, wait_for
from turnclient import TurnClient, recv_from, udp_peer

HTTP, PORT = 26040, 26041
IDLE_S = 1
TURN = {"allowed-peer-ip": ["127.0.0.0/8", "::1/128"], "relay-port-range": "40200-40299"}


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def close_frees(d):
    user, pw = d.turn_credentials()
    c = TurnClient(("127.0.0.1", PORT), user, pw, "tcp")
    c.allocate()
    port = c.relayed[1]
    assert d.metric("icestation_turn_allocations") == 1
    assert d.metric("icestation_net_tcp_turn_connections") == 1
    c.close()
    wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 10,
             what="allocation freed by the TCP close")
    assert d.metric('icestation_turn_allocations_ended_total{reason="connection_closed"}') == 1
    assert d.metric("icestation_net_relay_sockets") == 0
    assert d.metric("icestation_net_tcp_turn_connections") == 0
    # The relay stays bound as a spare for the next Allocate (at most 2 s,
    # test_spare.py), no longer held by the connection; then it is closed.
    assert d.metric("icestation_net_relay_spare_sockets") == 1
    wait_for(lambda: d.metric("icestation_net_relay_spare_sockets") == 0, 5,
             what="spare relay closed")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", port))  # the relay port is free again (gauge above was the fence)
    s.close()
    print("tcp close frees the allocation")


def outlives_idle(d):
    """An allocation's connection is not idle-closed; a bare one is."""
    user, pw = d.turn_credentials()
    c = TurnClient(("127.0.0.1", PORT), user, pw, "tcp")
    peer = udp_peer()
    bare = None
    try:
        c.allocate()
        c.create_permission(peer.getsockname())
        # Opened after c's last message, so c's idle deadline comes first.
        bare = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        idle_before = d.metric('icestation_net_tcp_connections_total{result="closed_idle"}')
        # The bare connection's idle close is the clock: once it happened,
        # the allocation's connection has been silent longer than IDLE_S.
        bare.settimeout(IDLE_S + 5)
        assert bare.recv(1) == b"", "bare connection not closed"
        wait_for(lambda: d.metric('icestation_net_tcp_connections_total{result="closed_idle"}')
                 >= idle_before + 1, 5, what="idle close counted")
        c.send_indication(peer.getsockname(), b"still here")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"still here", "allocation's connection was idle-closed"
        assert d.metric("icestation_turn_allocations") == 1
        c.refresh(0)
    finally:
        c.close()
        if bare is not None:
            bare.close()
        peer.close()
    wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 10, what="allocation gone")
    print("allocation connection outlives the idle timeout")


def slow_reader(d):
    user, pw = d.turn_credentials()
    # A small receive window so the flood backs up into the daemon quickly.
    slow = TurnClient(("127.0.0.1", PORT), user, pw, "tcp")
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    good = TurnClient(("127.0.0.1", PORT), user, pw, "udp")
    peer = udp_peer()
    flood = udp_peer()
    pa = peer.getsockname()
    try:
        slow.allocate()
        slow.create_permission(flood.getsockname())
        slow.channel_bind(0x4000, flood.getsockname())
        good.allocate()
        good.create_permission(pa)
        rss0 = rss_kib(d.proc.pid)
        key = 'icestation_net_tcp_connections_total{result="closed_backpressure"}'
        before = d.metric(key)
        payload = b"z" * 1000
        sent = 0
        # Bounded: at most 60 MB whatever happens.
        while sent < 60000:
            for _ in range(200):
                try:
                    flood.sendto(payload, slow.relayed)
                except BlockingIOError:
                    break
                sent += 1
            if sent % 2000 < 200 and d.metric(key) > before:
                break
        wait_for(lambda: d.metric(key) > before, 10, what="backpressure close")
        wait_for(lambda: d.metric("icestation_turn_allocations") == 1, 10,
                 what="the slow client's allocation freed")
        grew = rss_kib(d.proc.pid) - rss0
        print(f"flooded {sent} datagrams, RSS grew {grew} KiB")
        assert grew < 16 * 1024, f"RSS grew {grew} KiB"
        good.send_indication(pa, b"served")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"served", "other client not served"
        assert d.alive()
    finally:
        slow.close()
        good.close()
        peer.close()
        flood.close()
    print("slow reader closed by backpressure")


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, turn_extra=TURN,
                stun_extra={"tcp-idle-timeout": f"{IDLE_S}s",
                            "rate-limit": {"requests-per-second": 0}}) as d:
        close_frees(d)
        outlives_idle(d)
        slow_reader(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
