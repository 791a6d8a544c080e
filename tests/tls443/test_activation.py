"""Port 443 without a capability (issue 15, docs/operations.md "Port 443"):
systemd binds the TURNS port and the HTTPS API port and passes them in
(systemd-socket-activate, as icestation.socket does), so the service keeps
its empty capability set. The first TLS connection, made before the daemon
runs, waits in the passed socket's backlog and gets its STUN Binding
answered over TLS; the log says both sockets were passed in and none went
unused; the ICE API answers over HTTPS on the passed socket with the
turns: URL of the passed TLS port. If the daemon bound its own TLS
listener, the bind would fail (the passed socket has no SO_REUSEPORT).
Ports 27180-27189, relays 27580-27589 (unused)."""

import os
import shutil
import socket
import sys
import tempfile
import threading
import time

from tlslib import NAME, HttpsDaemon, client_ctx, make_ca, make_leaf
from turnclient import A_XOR_MAPPED, BINDING, REQUEST, Msg, encode

HTTP, PORT, TLS = 27180, 27181, 27182
SSA = "/usr/bin/systemd-socket-activate"


def tls_binding(ca, timeout):
    """One STUN Binding over a verified TLS connection: (mapped, local)."""
    raw = socket.create_connection(("127.0.0.1", TLS), timeout=timeout)
    with client_ctx(ca).wrap_socket(raw, server_hostname=NAME) as s:
        req, tid = encode(BINDING, REQUEST, [])
        s.sendall(req)
        buf = b""
        while len(buf) < 20 or len(buf) < 20 + int.from_bytes(buf[2:4], "big"):
            data = s.recv(4096)
            assert data, "closed before the Binding response"
            buf += data
        m = Msg(buf)
        assert m.tid == tid
        return m.addr(A_XOR_MAPPED), s.getsockname()[:2]


class FirstCaller(threading.Thread):
    """Connects as soon as the passed TLS socket exists (which makes
    systemd-socket-activate start the daemon) and waits for its answer."""

    def __init__(self, ca):
        super().__init__(daemon=True)
        self.ca = ca
        self.result = self.error = None

    def run(self):
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    self.result = tls_binding(self.ca, 20)
                    return
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "systemd-socket-activate never listened"
                    time.sleep(0.02)
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = e


def main():
    tmp = tempfile.mkdtemp(prefix="tls443-activation-")
    try:
        ca = make_ca(tmp)
        cert, key = make_leaf(tmp, ca, "server")
        wrapper = [SSA, "-l", f"127.0.0.1:{TLS}", "-l", f"127.0.0.1:{HTTP}"]
        turn = {"transports": ["udp", "tls"], "tls": {"port": TLS, "cert": cert, "key": key},
                "relay-port-range": "27580-27589"}
        d = HttpsDaemon(ca[0], cert, key, http_port=HTTP, stun_port=PORT, workers=2,
                        wrapper=wrapper, turn_extra=turn, stun_extra={"transports": ["udp"]})
        first = FirstCaller(ca[0])
        first.start()
        with d:
            first.join(25)
            assert first.error is None, first.error
            mapped, local = first.result
            assert mapped == local, (mapped, local)
            log = d.log()
            assert "socket activation: 2 socket(s) passed in" in log, log
            assert "nothing here serves" not in log, log
            urls = [e["urls"] for e in d.ice_servers("did:peers:activated")["ice_servers"]
                    if "username" in e]
            assert urls == [[f"turn:127.0.0.1:{PORT}?transport=udp",
                             f"turns:{NAME}:{TLS}?transport=tcp"]], urls
            for _ in range(4):  # both workers serve the one passed socket
                mapped, local = tls_binding(ca[0], 5)
                assert mapped == local
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("socket activation: TURNS and HTTPS served on passed sockets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
