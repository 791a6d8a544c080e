#!/usr/bin/env python3
"""One listener per address (issue 13), through the daemon with the
Station's two-file layout: sub_stun.yml listens on 127.0.0.1 and
sub_turn.yml keeps its default listen (0.0.0.0 and ::) on the same port.
The daemon then binds 127.0.0.1:PORT and 0.0.0.0:PORT, and the kernel gives
everything sent to 127.0.0.1 to the more specific socket: that socket must
serve TURN too. Checked over UDP and TCP: Allocate, a Send indication and a
channel both ways through 127.0.0.1, the same through 127.0.0.2 (the
wildcard socket) and ::1, Binding on each, and no TURN message counted as
unhandled. Then --check-config refuses what one port cannot serve (TLS and
plain TCP), naming both keys.
Ports (tests/PORTS.md, tests/mobility): listen 2200-2219, relay 2700-2799."""
import os
import subprocess
import sys
import tempfile

from icetest import Daemon
from turnclient import (A_XOR_MAPPED, BINDING, REQUEST, Msg, TurnClient, encode, make_cert,
                        recv_from, udp_peer)

HTTP, PORT = 2200, 2201
TURN = {"allowed-peer-ip": ["127.0.0.0/8", "::1/128"], "relay-port-range": "2700-2799"}
UNHANDLED = "icestation_net_turn_unhandled_total"


def binding(host, transport):
    c = TurnClient((host, PORT), "u", "p", transport=transport, local=host)
    try:
        req, tid = encode(BINDING, REQUEST, [])
        c.send_raw(req)
        f = c.recv_frame(5)
        assert f is not None and Msg(f).tid == tid, f"no Binding answer on {host}/{transport}"
        assert Msg(f).addr(A_XOR_MAPPED) == c.local()
    finally:
        c.close()


def relay(d, host, transport):
    user, pw = d.turn_credentials(f"did:peers:listen-{transport}")
    c = TurnClient((host, PORT), user, pw, transport=transport, local=host)
    peer = udp_peer()  # an IPv4 relay for every client: the client side is on trial
    pa = peer.getsockname()
    try:
        c.allocate()  # dropped before the fix: no answer, TimeoutError
        c.create_permission(pa)
        c.send_indication(pa, b"ind")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"ind"
        c.channel_bind(0x4002, pa)
        c.send_channel(0x4002, b"chan")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"chan"
        peer.sendto(b"back", c.relayed)
        assert c.recv_relayed(5) == ("chan", 0x4002, b"back")
        c.refresh(0)
    finally:
        c.close()
        peer.close()


def served():
    d = Daemon(http_port=HTTP, stun_port=PORT, listen=("127.0.0.1",), turn_extra=TURN)
    d.reconfigure(turn={"listen": None})  # sub_turn.yml's default: 0.0.0.0 and ::
    assert "listen" not in d.files["sub_turn.yml"] and "127.0.0.1" in d.files["sub_stun.yml"]
    with d:
        for host in ("127.0.0.1", "127.0.0.2", "::1"):
            for transport in ("udp", "tcp"):
                relay(d, host, transport)
                binding(host, transport)
        assert d.metric(UNHANDLED) == 0, f"{d.metric(UNHANDLED)} TURN messages unhandled"
        assert d.metric('icestation_turn_allocations_created_total') == 6
    print("stun on 127.0.0.1 and turn on 0.0.0.0/:: of one port: TURN served on each address")


def refused():
    tmp = tempfile.mkdtemp(prefix="icetest-listen-")
    cert, key = make_cert(tmp)
    d = Daemon(http_port=HTTP, stun_port=PORT, listen=("127.0.0.1",),
               turn_extra=dict(TURN, transports=["udp", "tls"],
                               tls={"port": PORT, "cert": cert, "key": key}))
    d.reconfigure(turn={"listen": None})
    try:
        p = subprocess.run([d.binary, "--check-config", "-c", d.config_path],
                           capture_output=True, text=True, timeout=60)
        out = p.stdout + p.stderr
        assert p.returncode == 1, f"--check-config accepted TLS on the STUN TCP port:\n{out}"
        assert "subserver.turn.tls.port" in out and "subserver.stun.port" in out, out
        assert "sub_turn.yml" in out, out
    finally:
        d.cleanup()
        for f in os.listdir(tmp):
            os.unlink(os.path.join(tmp, f))
        os.rmdir(tmp)
    print("--check-config: turn.tls.port on stun's TCP port refused, both keys named")


if __name__ == "__main__":
    served()
    refused()
    sys.exit(0)
