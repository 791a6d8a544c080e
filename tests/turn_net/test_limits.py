"""What the daemon refuses: a loopback peer without allowed-peer-ip (403 and
no datagram), a relay port range of 2 ports (third Allocate 508, and a
freed port is reusable), TURN on a STUN-only port (silently dropped and
counted, Binding still answered), and a config with the tls transport
(served: Binding over TLS on tls.port, UDP alongside, no turns: URL in the
ICE API for a certificate naming no DNS host; the TLS cases proper are in test_tls.py); allocation expiry by the
tick.
Ports 26020-26039, relay 40100-40199."""

import os
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile

from icetest import Daemon, wait_for
from turnclient import (ALLOCATE, BINDING, REQUEST, A_REQUESTED_TRANSPORT, A_XOR_MAPPED, Msg,
                        TurnClient, TurnError, encode, recv_from, udp_peer)

HTTP1, PORT1 = 26020, 26021
HTTP2, PORT2 = 26022, 26023
HTTP3, STUN3, TURN3 = 26024, 26025, 26026
HTTP4, PORT4, TLS4 = 26027, 26028, 26029
HTTP5, PORT5 = 26030, 26031


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except TurnError as e:
        assert e.code == code, f"expected {code}, got {e.code}"
        return e.msg
    raise AssertionError(f"expected error {code}, got success")


def denied_peer():
    # No allowed-peer-ip: 127.0.0.1 is loopback (and our own address).
    with Daemon(http_port=HTTP1, stun_port=PORT1,
                turn_extra={"relay-port-range": "40100-40149"}) as d:
        user, pw = d.turn_credentials()
        c = TurnClient(("127.0.0.1", PORT1), user, pw)
        peer = udp_peer()
        try:
            c.allocate()
            before = d.metric('icestation_turn_responses_total{code="403"}')
            r = expect_error(403, c.create_permission, peer.getsockname())
            assert r.check_integrity(c.key), "403 to an authenticated request lacks integrity"
            assert d.metric('icestation_turn_responses_total{code="403"}') == before + 1
            c.send_indication(peer.getsockname(), b"must not arrive")
            assert recv_from(peer, 0.5) is None, "denied peer received data"
            assert d.metric('icestation_turn_peer_denied_total{reason="loopback"}') + \
                d.metric('icestation_turn_peer_denied_total{reason="self"}') >= 1
        finally:
            c.close()
            peer.close()
    print("denied peer ok")


def port_exhaustion():
    with Daemon(http_port=HTTP2, stun_port=PORT2,
                turn_extra={"relay-port-range": "40150-40151",
                            "max-allocations-per-user": 10,
                            "allocations-per-minute-per-user": 100}) as d:
        user, pw = d.turn_credentials()
        cs = [TurnClient(("127.0.0.1", PORT2), user, pw) for _ in range(3)]
        try:
            cs[0].allocate()
            cs[1].allocate()
            ports = sorted([cs[0].relayed[1], cs[1].relayed[1]])
            assert ports == [40150, 40151], ports
            expect_error(508, cs[2].allocate)
            assert d.metric('icestation_turn_responses_total{code="508"}') == 1
            assert d.metric('icestation_net_relay_open_failures_total{reason="ports_exhausted"}') >= 1
            freed = cs[0].relayed[1]
            cs[0].refresh(0)
            cs[2].allocate()
            assert cs[2].relayed[1] == freed, (cs[2].relayed, freed)
            assert d.metric("icestation_net_relay_sockets") == 2
        finally:
            for c in cs:
                c.close()
    print("port exhaustion ok")


def stun_only_port():
    with Daemon(http_port=HTTP3, stun_port=STUN3, turn_port=TURN3,
                turn_extra={"relay-port-range": "40152-40159"}) as d:
        c = TurnClient(("127.0.0.1", STUN3), "u", "p")
        try:
            req, tid = encode(ALLOCATE, REQUEST, [(A_REQUESTED_TRANSPORT, b"\x11\0\0\0")])
            c.send_raw(req)
            c.send_channel(0x4000, b"data")
            # The fence: a Binding on the same socket, answered first.
            b, btid = encode(BINDING, REQUEST, [])
            c.send_raw(b)
            f = c.recv_frame(5)
            assert f is not None and Msg(f).tid == btid, "STUN-only port answered TURN"
            assert Msg(f).addr(A_XOR_MAPPED) == c.local()
            assert d.metric("icestation_net_turn_unhandled_total") == 2
            assert d.metric('icestation_turn_requests_total{method="allocate"}') == 0
        finally:
            c.close()
    print("stun-only port ok")


def tls_served():
    """udp + tls: the daemon starts, answers Binding over TLS on tls.port and
    over UDP on port, and advertises exactly those two TURN URLs."""
    tmp = tempfile.mkdtemp(prefix="icetest-tls-")
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    try:
        with Daemon(http_port=HTTP4, stun_port=PORT4,
                    turn_extra={"transports": ["udp", "tls"],
                                "tls": {"port": TLS4, "cert": cert, "key": key}}) as d:
            urls = [e["urls"] for e in d.ice_servers("did:peers:x")["ice_servers"]
                    if "username" in e]
            # A CN-only certificate names no DNS host, and turns: never carries
            # an IP (tests/http test_tls_url): no turns: URL here.
            assert urls == [[f"turn:127.0.0.1:{PORT4}?transport=udp"]], urls
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(cert)
            ctx.check_hostname = False  # CN-only certificate: the chain is what is checked
            with ctx.wrap_socket(socket.create_connection(("127.0.0.1", TLS4), timeout=5)) as s:
                req, tid = encode(BINDING, REQUEST, [])
                s.sendall(req)
                hdr = s.recv(20)
                while len(hdr) < 20:
                    hdr += s.recv(20 - len(hdr))
                n = int.from_bytes(hdr[2:4], "big")
                body = b""
                while len(body) < n:
                    body += s.recv(n - len(body))
                m = Msg(hdr + body)
                assert m.tid == tid and m.addr(A_XOR_MAPPED) == s.getsockname()[:2]
            c = TurnClient(("127.0.0.1", PORT4), "u", "p")
            try:
                b, btid = encode(BINDING, REQUEST, [])
                c.send_raw(b)
                f = c.recv_frame(5)
                assert f is not None and Msg(f).tid == btid, "UDP not served next to TLS"
            finally:
                c.close()
            assert d.metric('icestation_net_tls_handshakes_total{result="completed"}') == 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("tls served ok")


def expiry():
    """allocation-lifetime 1s: the worker's tick ends it and closes its relay."""
    with Daemon(http_port=HTTP5, stun_port=PORT5,
                turn_extra={"relay-port-range": "40160-40169", "allocation-lifetime": "1s"}) as d:
        user, pw = d.turn_credentials()
        c = TurnClient(("127.0.0.1", PORT5), user, pw)
        try:
            c.allocate()
            assert d.metric("icestation_net_relay_sockets") == 1
            wait_for(lambda: d.metric('icestation_turn_allocations_ended_total{reason="expired"}')
                     == 1, 10, what="allocation expired")
            assert d.metric("icestation_turn_allocations") == 0
            assert d.metric("icestation_net_relay_sockets") == 0
            expect_error(437, c.refresh, 600)
        finally:
            c.close()
    print("expiry ok")


def main():
    expiry()
    denied_peer()
    port_exhaustion()
    stun_only_port()
    tls_served()
    return 0


if __name__ == "__main__":
    sys.exit(main())
