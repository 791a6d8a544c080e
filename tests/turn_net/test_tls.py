"""TURN and STUN over TLS (turns:, RFC 8656 §3.1) on the real daemon, with a
throwaway self-signed certificate: Binding over TLS, the whole TURN exchange
over TLS (401 challenge, Allocate, CreatePermission, Send/Data, ChannelBind,
padded ChannelData both ways), the connection close ending the allocation,
a slow reader served in order and a stuck one closed for backpressure,
the TLS policy (no TLS 1.1, no non-AEAD TLS 1.2 suites, ALPN stun.turn), a
stalled handshake closed by the frame deadline while others are served,
garbage instead of a ClientHello closed and counted, plain HTTP on
the TLS port answered 400 and closed, startup refused on a
missing, unparsable or mismatched certificate/key, and coturn's
turnutils_uclient relaying over TLS (-t -S) with no loss.
Ports 26500-26599, relay 44000-44499."""

import os
import shutil
import socket
import ssl
import struct
import sys
import tempfile
import time
import types
import warnings

from icetest import Daemon, wait_for
from turnclient import (BINDING, REQUEST, A_XOR_MAPPED, Msg, TlsTurnClient,
                        client_ctx, encode, make_cert, recv_from, udp_peer)
# (TlsTurnClient, client_ctx and make_cert are imported from here by tests/live.)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
import test_uclient  # noqa: E402  (coturn harness: turnutils_peer, summary parsing)

SECRET = "tls-s3cret"


def tls_daemon(http, port, tls_port, relay, cert, key, stun_extra=None, workers=1):
    return Daemon(http_port=http, stun_port=port, secret=SECRET, workers=workers,
                  stun_extra=stun_extra,
                  turn_extra={"transports": ["udp", "tcp", "tls"],
                              "tls": {"port": tls_port, "cert": cert, "key": key},
                              "allowed-peer-ip": ["127.0.0.0/8"],
                              "relay-port-range": relay})


def binding_ok(c):
    """One Binding on c's TLS connection, answered with its transaction id;
    the response Msg."""
    req, tid = encode(BINDING, REQUEST, [])
    c.send_raw(req)
    f = c.recv_frame(5)
    assert f is not None, "no Binding response over TLS"
    m = Msg(f)
    assert m.tid == tid, "Binding response for another transaction"
    return m


def closed_within(sock, timeout):
    """True if the server closes sock (EOF or reset) within timeout seconds."""
    sock.settimeout(timeout)
    try:
        while True:
            if not sock.recv(4096):
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def binding(tmp, cert, key):
    with tls_daemon(26500, 26501, 26502, "44000-44009", cert, key) as d:
        c = TlsTurnClient(("127.0.0.1", 26502), "u", "p", client_ctx(cert),
                          alpn=["stun.turn"])
        try:
            assert c.sock.version() in ("TLSv1.2", "TLSv1.3"), c.sock.version()
            assert c.sock.selected_alpn_protocol() == "stun.turn", c.sock.selected_alpn_protocol()
            for _ in range(3):  # several on one connection
                m = binding_ok(c)
                assert m.addr(A_XOR_MAPPED) == c.local(), (m.addr(A_XOR_MAPPED), c.local())
            assert d.metric('icestation_net_tls_handshakes_total{result="completed"}') == 1
            assert d.metric("icestation_net_tls_connections_active") == 1
        finally:
            c.close()
        wait_for(lambda: d.metric("icestation_net_tls_connections_active") == 0, 5,
                 what="TLS connection closed")
        # A client that offers no ALPN is served too (browsers send none).
        c = TlsTurnClient(("127.0.0.1", 26502), "u", "p", client_ctx(cert))
        try:
            assert c.sock.selected_alpn_protocol() is None
            binding_ok(c)
        finally:
            c.close()
    print("binding over tls ok")


def turn(tmp, cert, key):
    with tls_daemon(26510, 26511, 26512, "44010-44019", cert, key) as d:
        user, pw = d.turn_credentials()
        c = TlsTurnClient(("127.0.0.1", 26512), user, pw, client_ctx(cert))
        peer = udp_peer()
        try:
            c.allocate()
            assert d.metric('icestation_turn_responses_total{code="401"}') == 1, \
                "Allocate was not challenged first"
            assert c.relayed is not None and 44010 <= c.relayed[1] <= 44019, c.relayed
            assert c.mapped == c.local(), (c.mapped, c.local())
            assert d.metric("icestation_turn_allocations") == 1
            assert d.metric("icestation_net_tcp_turn_connections") == 1
            paddr = peer.getsockname()
            c.create_permission(paddr)

            # Send indication -> peer; peer -> Data indication.
            c.send_indication(paddr, b"hello peer")
            got = recv_from(peer, 5)
            assert got is not None and got[0] == b"hello peer" and got[1][1] == c.relayed[1], got
            peer.sendto(b"hello client", ("127.0.0.1", c.relayed[1]))
            r = c.recv_relayed(5)
            assert r == ("data", paddr, b"hello client"), r

            # ChannelData both ways, odd lengths: the stream stays framed only
            # if both sides pad to 4 (two frames back to back each way).
            c.channel_bind(0x4001, paddr)
            c.send_raw(c.channel_frame(0x4001, b"abcde") + c.channel_frame(0x4001, b"xyz"))
            assert recv_from(peer, 5)[0] == b"abcde"
            assert recv_from(peer, 5)[0] == b"xyz"
            peer.sendto(b"12345", ("127.0.0.1", c.relayed[1]))
            peer.sendto(b"6", ("127.0.0.1", c.relayed[1]))
            assert c.recv_relayed(5) == ("chan", 0x4001, b"12345")
            assert c.recv_relayed(5) == ("chan", 0x4001, b"6")

            # Larger than one TLS record's worth of frames in one burst.
            for i in range(200):
                peer.sendto(bytes([i % 256]) * 1000, ("127.0.0.1", c.relayed[1]))
            for i in range(200):
                r = c.recv_relayed(5)
                assert r == ("chan", 0x4001, bytes([i % 256]) * 1000), (i, r and r[:2])
            # 40 KB: several TLS records; few enough datagrams that the
            # peer's default receive buffer holds them all.
            burst = b"".join(c.channel_frame(0x4001, bytes([i]) * 999) for i in range(40))
            c.send_raw(burst)
            for i in range(40):
                g = recv_from(peer, 5)
                assert g is not None and g[0] == bytes([i]) * 999, i
        finally:
            c.close()
            peer.close()
        # Closing the TLS connection ends the allocation and its relay.
        wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 5,
                 what="allocation freed by the TLS close")
        assert d.metric('icestation_turn_allocations_ended_total{reason="connection_closed"}') == 1
        assert d.metric("icestation_net_relay_sockets") == 0
        assert d.metric("icestation_net_tcp_turn_connections") == 0
    print("turn over tls ok")


def flood_until(d, peer, to, pred, step, limit=30000, what="condition"):
    """Send numbered 1000-byte datagrams from peer to the relay until pred()
    (checked every step; bounded by limit). Returns how many were sent."""
    sent = 0
    while sent < limit:
        for _ in range(step):
            peer.sendto(struct.pack("!I", sent) + bytes(996), to)
            sent += 1
        if pred():
            return sent
    raise AssertionError(f"{what} not reached after {sent} datagrams")


def slow_and_stuck_readers(tmp, cert, key):
    """A client that stops reading until the daemon's output buffer holds data
    (the kernel's send buffer full, TLS writes waiting to be retried), then
    reads: every relayed frame arrives intact and in order, and the buffer
    drains to 0. One that never reads is closed for backpressure, not for a
    TLS error, its allocation ends, and the other client is still served."""
    with tls_daemon(26550, 26551, 26552, "44040-44049", cert, key) as d:
        user, pw = d.turn_credentials()
        peer = udp_peer()
        paddr = peer.getsockname()
        slow = TlsTurnClient(("127.0.0.1", 26552), user, pw, client_ctx(cert))
        stuck = TlsTurnClient(("127.0.0.1", 26552), user, pw, client_ctx(cert))
        queued = "icestation_net_tcp_output_queued_bytes"
        try:
            for c in (slow, stuck):
                # A small window: the flood backs up into the daemon sooner.
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
                c.allocate()
                c.channel_bind(0x4002, paddr)

            relayed = ('icestation_turn_relayed_packets_total'
                       '{direction="to_client",framing="channeldata"}')
            flood_until(d, peer, ("127.0.0.1", slow.relayed[1]),
                        lambda: d.metric(queued) >= 16384, 10,
                        what="16 KiB queued for the slow reader")
            # Open the window again: a 4 KiB one paces the reads by delayed ACKs.
            slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
            n = None
            got, last = 0, -1
            while True:
                r = slow.recv_relayed(5 if n is None or got < n else 0.5)
                if r is None:
                    break
                assert r[0] == "chan" and r[1] == 0x4002 and len(r[2]) == 1000, r[:2]
                seq = struct.unpack("!I", r[2][:4])[0]
                assert seq > last and r[2][4:] == bytes(996), (seq, last)
                last = seq
                got += 1
                if n is None and d.metric(queued) == 0:
                    n = int(d.metric(relayed))  # all framed; the rest is in the kernel
            assert n is not None and got == n, (got, n)
            assert d.metric(queued) == 0

            closed = 'icestation_net_tcp_connections_total{result="closed_backpressure"}'
            flood_until(d, peer, ("127.0.0.1", stuck.relayed[1]), lambda: d.metric(closed) >= 1, 100,
                        what="backpressure close")
            wait_for(lambda: d.metric("icestation_turn_allocations") == 1, 5,
                     what="the stuck reader's allocation freed")
            assert d.metric(closed) == 1
            assert d.metric('icestation_net_tcp_connections_total{result="closed_tls_error"}') == 0
            assert d.metric(queued) == 0
            peer.sendto(b"still here", ("127.0.0.1", slow.relayed[1]))
            assert slow.recv_relayed(5) == ("chan", 0x4002, b"still here")
        finally:
            slow.close()
            stuck.close()
            peer.close()
    print("slow and stuck readers ok")


def client_hello():
    """The first bytes a real TLS client sends."""
    ctx = ssl.create_default_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    data = out.read()
    assert data[0] == 0x16, data[:8]
    return data


def stalled_and_garbage(tmp, cert, key):
    # tcp-idle-timeout 2s: the frame (and so the handshake) deadline is 2 s.
    with tls_daemon(26520, 26521, 26522, "44020-44029", cert, key,
                    stun_extra={"tcp-idle-timeout": "2s"}) as d:
        silent = socket.create_connection(("127.0.0.1", 26522), timeout=5)
        half = socket.create_connection(("127.0.0.1", 26522), timeout=5)
        half.sendall(client_hello()[:20])
        wait_for(lambda: d.metric("icestation_net_tls_connections_active") == 2, 5,
                 what="stalled connections accepted")
        t0 = time.monotonic()
        # Others are served meanwhile.
        c = TlsTurnClient(("127.0.0.1", 26522), "u", "p", client_ctx(cert))
        try:
            binding_ok(c)
        finally:
            c.close()
        assert closed_within(silent, 6), "stalled handshake (no byte) not closed"
        assert closed_within(half, 6), "stalled handshake (half a ClientHello) not closed"
        took = time.monotonic() - t0
        assert took < 5, f"handshake deadline took {took:.1f}s"
        silent.close()
        half.close()
        assert d.metric('icestation_net_tls_handshakes_total{result="timeout"}') == 2
        assert d.metric('icestation_net_tcp_connections_total{result="closed_slow_frame"}') >= 2

        # Garbage instead of a ClientHello: closed at once, counted, not logged.
        for junk in (encode(BINDING, REQUEST, [])[0],
                     b"\x16\x03\x01\x00\x05\x00\x00\x00\x00\x00" + b"\xff" * 64):
            s = socket.create_connection(("127.0.0.1", 26522), timeout=5)
            s.sendall(junk)
            assert closed_within(s, 3), f"garbage {junk[:8]!r} not closed"
            s.close()
        wait_for(lambda: d.metric('icestation_net_tls_handshakes_total{result="failed"}') == 2,
                 5, what="failed handshakes counted")
        # Plain HTTP on the TLS port: a 400 that says why, then the close.
        s = socket.create_connection(("127.0.0.1", 26522), timeout=5)
        s.sendall(b"GET /api/v1/turn/ice-servers HTTP/1.1\r\nHost: x\r\n\r\n")
        reply = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
        s.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400 "), reply
        assert b"Content-Length: %d" % len(body) in head and b"https://" in body, reply
        assert d.metric('icestation_net_tls_handshakes_total{result="plain_http"}') == 1
        assert d.metric('icestation_net_tls_handshakes_total{result="failed"}') == 2
        assert d.metric('icestation_net_tcp_connections_total{result="closed_tls_error"}') == 3

        # Policy: TLS 1.1 and a TLS 1.2 suite without forward secrecy or AEAD
        # are refused by the server (the client offers nothing else).
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname = False
        old.verify_mode = ssl.CERT_NONE
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():  # deprecated on purpose: it must be refused
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        weak = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        weak.check_hostname = False
        weak.verify_mode = ssl.CERT_NONE
        weak.maximum_version = ssl.TLSVersion.TLSv1_2
        weak.set_ciphers("AES128-SHA:@SECLEVEL=0")
        for name, ctx in (("TLS 1.1", old), ("AES128-SHA", weak)):
            raw = socket.create_connection(("127.0.0.1", 26522), timeout=5)
            try:
                ctx.wrap_socket(raw)
            except (ssl.SSLError, ConnectionResetError):
                pass
            else:
                raise AssertionError(f"{name} handshake accepted")
            finally:
                raw.close()
        wait_for(lambda: d.metric('icestation_net_tls_handshakes_total{result="failed"}') == 4,
                 5, what="policy refusals counted")
        log = d.log()
        assert "wrong version" not in log and "no shared cipher" not in log, log
    print("stalled and garbage ok")


def bad_certs(tmp, cert, key):
    garbage = os.path.join(tmp, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
    other_cert, other_key = make_cert(tmp, "other")
    missing = os.path.join(tmp, "missing.pem")
    cases = [
        ("missing cert", missing, key, missing),
        ("unparsable cert", garbage, key, garbage),
        ("unparsable key", cert, garbage, garbage),
        ("mismatched key", cert, other_key, other_key),
    ]
    for name, c, k, named in cases:
        d = tls_daemon(26530, 26531, 26532, "44030-44039", c, k)
        try:
            try:
                d.start(timeout=10)
            except RuntimeError as e:
                msg = str(e)
                assert "exited with 1 " in msg, f"{name}: {msg}"
                assert named in msg, f"{name}: the message does not name {named}:\n{msg}"
            else:
                d.stop()
                raise AssertionError(f"{name}: the daemon started")
        finally:
            d.kill()
            d.cleanup()
        print(f"refused: {name}")
    print("bad certificates ok")


def uclient(tmp, cert, key):
    """coturn's client over TLS: channels (-t -S) and Send/Data (-s), 2 sessions
    each with EVEN-PORT RTP/RTCP allocations, every message echoed back."""
    peer_port = 26549
    # Two workers: connections land on both, sharing one TLS context.
    with tls_daemon(26540, 26541, 26542, "44100-44199", cert, key, workers=2) as d:
        server = types.SimpleNamespace(host="127.0.0.1", port=26542)
        peer = test_uclient.start_peer(peer_port)
        try:
            user = "did:peers:uclient"
            test_uclient.expect_relay(server, peer_port, "tls channels (-t -S -W)",
                                      ["-t", "-S", "-W", SECRET, "-u", user], 200)
            test_uclient.expect_relay(server, peer_port, "tls send/data (-t -S -W -s)",
                                      ["-t", "-S", "-W", SECRET, "-u", user, "-s"], 120)
        finally:
            test_uclient.stop(peer)
        # uclient opens each connection with a context picked at random among
        # pinned versions (TLS 1.0, 1.1, 1.2, any) and retries on failure:
        # the 1.0/1.1 attempts are refused by policy (failed), the rest
        # complete, and none stalls.
        m = d.metrics()
        done = m['icestation_net_tls_handshakes_total{result="completed"}']
        failed = m['icestation_net_tls_handshakes_total{result="failed"}']
        assert done >= 4, m
        assert m['icestation_net_tls_handshakes_total{result="timeout"}'] == 0, m
        assert done + failed == m['icestation_net_tcp_connections_total{result="accepted"}'], m
        wait_for(lambda: d.metric("icestation_turn_allocations") == 0, 10,
                 what="uclient allocations freed")
    print("uclient over tls ok")


def main():
    tmp = tempfile.mkdtemp(prefix="icetest-tls-")
    try:
        cert, key = make_cert(tmp)
        binding(tmp, cert, key)
        turn(tmp, cert, key)
        slow_and_stuck_readers(tmp, cert, key)
        stalled_and_garbage(tmp, cert, key)
        bad_certs(tmp, cert, key)
        uclient(tmp, cert, key)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS test_tls")
    return 0


if __name__ == "__main__":
    sys.exit(main())
