"""The TLS handshake deadline is its own and configurable (issue 19):
turn.tls.handshake-timeout closes a connection that has not completed its
handshake that long after the accept (silent, or half a ClientHello),
well before tcp-idle-timeout, counted as a handshake timeout; a completed
handshake and a plain TCP connection are not held to it; a reload moves
it. Ports 28400-28499."""

import os
import socket
import sys
import tempfile
import time

from floodlib import is_closed, reload
from icetest import Daemon, wait_for
from test_tls import TlsTurnClient, binding_ok, client_ctx, client_hello, make_cert

HTTP, TCP, TLS = 28400, 28401, 28402
HS_TIMEOUT = 'icestation_net_tls_handshakes_total{result="timeout"}'


def closed_after(socks, lo, hi):
    """Every socket of socks closed by the daemon, none before lo seconds
    from now, all by hi."""
    t0 = time.monotonic()
    wait_for(lambda: all(is_closed(s) for s in socks), hi, interval=0.05,
             what="stalled handshakes closed")
    took = time.monotonic() - t0
    assert took >= lo, f"closed after {took:.2f}s, before the deadline"
    return took


def main():
    tmp = tempfile.mkdtemp(prefix="conncap-hs-")
    cert, key = make_cert(tmp)
    d = Daemon(http_port=HTTP, stun_port=TCP, secret="conn-limits-tls-s3cret-0123456789",
               stun_extra={"tcp-idle-timeout": "30s"},
               turn_extra={"transports": ["udp", "tcp", "tls"],
                           "tls": {"port": TLS, "cert": cert, "key": key,
                                   "handshake-timeout": "2s"}})
    with d:
        done = TlsTurnClient(("127.0.0.1", TLS), "u", "p", client_ctx(cert))
        plain = socket.create_connection(("127.0.0.1", TCP), timeout=5)
        silent = socket.create_connection(("127.0.0.1", TLS), timeout=5)
        half = socket.create_connection(("127.0.0.1", TLS), timeout=5)
        half.sendall(client_hello()[:20])
        try:
            took = closed_after([silent, half], 1.5, 6)
            print(f"stalled handshakes closed after {took:.1f}s (handshake-timeout 2s)")
            assert d.metric(HS_TIMEOUT) == 2
            # Not the handshake deadline's business.
            assert not is_closed(plain), "a plain TCP connection held to the handshake deadline"
            # Accepted before the stalled ones: past the deadline now, and served.
            binding_ok(done)
        finally:
            for s in (silent, half, plain):
                s.close()
            done.close()

        # A reload moves it.
        d.files["sub_turn.yml"] = d.files["sub_turn.yml"].replace(
            'handshake-timeout: "2s"', 'handshake-timeout: "1s"')
        assert 'handshake-timeout: "1s"' in d.files["sub_turn.yml"], d.files["sub_turn.yml"]
        with open(os.path.join(d.dir, "sub_turn.yml"), "w") as f:
            f.write(d.files["sub_turn.yml"])
        reload(d)
        silent = socket.create_connection(("127.0.0.1", TLS), timeout=5)
        try:
            took = closed_after([silent], 0.6, 1.9)
            print(f"after a reload to 1s: closed after {took:.1f}s")
            assert d.metric(HS_TIMEOUT) == 3
        finally:
            silent.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
