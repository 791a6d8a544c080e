"""TURN over the real daemon, UDP and TCP client transports: Allocate
(relayed address = public-ip and a port of the range, mapped address = the
client), CreatePermission, Send indication -> peer, peer -> Data indication
with the right XOR-PEER-ADDRESS, ChannelBind -> ChannelData both ways (padded
to 4 on TCP; also on channel 0x7FFF, RFC 5766's top), Refresh lifetime 0 frees the relay port, 1000 packets each way
through a channel with no loss on loopback, and /metrics follows.
Ports 26000-26019, relay 40000-40099."""

import socket
import struct
import sys

from icetest import Daemon, wait_for
from turnclient import (A_XOR_MAPPED, A_XOR_RELAYED, TurnClient, pad4, recv_from,
                        udp_peer)

HTTP, PORT = 26000, 26001
RELAY_MIN, RELAY_MAX = 40000, 40099
ALLOW = {"allowed-peer-ip": ["127.0.0.0/8", "::1/128"],
         "relay-port-range": f"{RELAY_MIN}-{RELAY_MAX}"}


def check_allocate(c):
    r = c.allocate()
    host, port = r.addr(A_XOR_RELAYED)
    assert host == "127.0.0.1", f"relayed address {host} is not the public ip"
    assert RELAY_MIN <= port <= RELAY_MAX, f"relay port {port} outside the range"
    assert r.addr(A_XOR_MAPPED) == c.local(), f"mapped {r.addr(A_XOR_MAPPED)} != {c.local()}"
    assert r.lifetime() and r.lifetime() > 0
    assert r.check_fingerprint() is True


def check_indications(c, peer):
    pa = peer.getsockname()
    c.create_permission(pa)
    c.send_indication(pa, b"hello through a Send indication")
    got = recv_from(peer, 5)
    assert got is not None, "peer did not receive the Send indication's data"
    assert got[0] == b"hello through a Send indication"
    assert got[1] == c.relayed, f"peer saw source {got[1]}, relayed is {c.relayed}"
    peer.sendto(b"odd5!", c.relayed)
    r = c.recv_relayed(5)
    assert r is not None, "no Data indication"
    assert r == ("data", pa, b"odd5!"), r


def channel_round_trip(c, peer, number, out, back):
    """Bind number to peer, send out through it, and have the peer answer
    back; over TCP the ChannelData frame is checked raw, padding included."""
    pa = peer.getsockname()
    c.channel_bind(number, pa)
    c.send_channel(number, out)
    got = recv_from(peer, 5)
    assert got == (out, c.relayed), got
    peer.sendto(back, c.relayed)
    if c.transport == "tcp":
        frame = c.recv_frame(5)
        assert frame == struct.pack("!HH", number, len(back)) + back + \
            b"\0" * (pad4(len(back)) - len(back)), frame
    else:
        r = c.recv_relayed(5)
        assert r == ("chan", number, back), r


def check_channel(c, peer):
    # 3 bytes out (TCP pads to 4), 5 back (3 bytes of padding on TCP).
    channel_round_trip(c, peer, 0x4001, b"abc", b"12345")


def check_high_channel(c):
    """Channel 0x7FFF, the top of RFC 5766's range that coturn's own client
    picks from: bound, and relayed both ways (the first byte 0x7F must be
    demultiplexed as ChannelData, not dropped as not-STUN)."""
    peer = udp_peer()
    try:
        channel_round_trip(c, peer, 0x7FFF, b"top", b"back at 7fff")
    finally:
        peer.close()


def check_refresh_zero(c, peer):
    port = c.relayed[1]
    r = c.refresh(0)
    assert r.lifetime() == 0
    # The port is free again once the relay, kept as a spare for the next
    # Allocate, is closed (at most 2 s; test_spare.py): then bind succeeds
    # (no SO_REUSEADDR here), so poll rather than expect it at once.

    def bindable():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False
        finally:
            s.close()

    wait_for(bindable, 5, what=f"relay port {port} free")
    peer.sendto(b"after the end", c.relayed)
    assert c.recv_relayed(0.5) is None, "data relayed after Refresh 0"


def check_volume(c, n=1000, size=1000, window=50):
    """n packets each way through a channel, window at a time, none lost (a
    new peer: the first one is bound to 0x4001 and may not get another)."""
    peer = udp_peer()
    try:
        volume(c, peer, n, size, window)
    finally:
        peer.close()


def volume(c, peer, n, size, window):
    pa = peer.getsockname()
    c.create_permission(pa)
    c.channel_bind(0x4100, pa)
    sent = 0
    while sent < n:
        k = min(window, n - sent)
        for i in range(k):
            c.send_channel(0x4100, struct.pack("!I", sent + i) + b"x" * (size - 4))
        for i in range(k):
            got = recv_from(peer, 5)
            assert got is not None, f"client->peer lost packet {sent + i}"
            assert struct.unpack("!I", got[0][:4])[0] == sent + i and len(got[0]) == size
        for i in range(k):
            peer.sendto(struct.pack("!I", sent + i) + b"y" * (size - 4), c.relayed)
        for i in range(k):
            r = c.recv_relayed(5)
            assert r is not None, f"peer->client lost packet {sent + i}"
            assert r[0] == "chan" and r[1] == 0x4100 and len(r[2]) == size
            assert struct.unpack("!I", r[2][:4])[0] == sent + i
        sent += k


def run(d, transport):
    user, password = d.turn_credentials("did:peers:alice")
    c = TurnClient(("127.0.0.1", PORT), user, password, transport)
    peer = udp_peer()
    try:
        check_allocate(c)
        check_indications(c, peer)
        check_channel(c, peer)
        check_high_channel(c)
        check_volume(c)
        check_refresh_zero(c, peer)
    finally:
        c.close()
        peer.close()
    print(transport, "ok")


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, turn_extra=ALLOW) as d:
        base = d.metrics()
        run(d, "udp")
        run(d, "tcp")
        m = d.metrics()

        def delta(k):
            return m.get(k, 0) - base.get(k, 0)

        assert delta("icestation_turn_allocations_created_total") == 2
        assert m.get("icestation_turn_allocations", 0) == 0
        assert delta('icestation_turn_relayed_packets_total{direction="to_peer",'
                     'framing="channeldata"}') >= 2002
        assert delta('icestation_turn_relayed_packets_total{direction="to_client",'
                     'framing="channeldata"}') >= 2002
        assert delta('icestation_net_relay_datagrams_total{direction="tx"}') >= 2004
        assert m.get("icestation_net_relay_sockets", 0) == 0
        wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 10,
                 what="TCP connection gone")
    return 0


if __name__ == "__main__":
    sys.exit(main())
