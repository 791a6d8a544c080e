"""Socket activation (issue 11): the daemon (2 workers) started under
systemd-socket-activate, which binds the TCP STUN/TURN listener and the
HTTP listener and passes them in LISTEN_FDS (it passes stream sockets;
UDP the daemon binds itself). systemd-socket-activate starts the daemon
on the first connection: a STUN Binding sent over TCP before the daemon
runs waits in the passed socket's backlog and is answered once it runs
(the socket is never closed in between). Then: the log says two sockets
were passed in and none went unused, the ICE API answers on the passed
HTTP socket, TCP Bindings and a TURN allocation over TCP are served on
the passed STUN/TURN socket by both workers, UDP Binding too.
If the daemon bound its own TCP listener instead, the bind would fail
(the passed socket has no SO_REUSEPORT) and the first Binding would never
be answered.
Ports 10080-10089, relay 11220-11239."""

import socket
import sys
import threading
import time

from icetest import Daemon
from livelib import bind, both_ways
from turnclient import (A_XOR_MAPPED, BINDING, REQUEST, Msg, TurnClient, encode, udp_peer,
                        wait_readable)

HTTP, PORT = 10080, 10081
SSA = "/usr/bin/systemd-socket-activate"


def tcp_binding(sock, timeout):
    """One Binding over sock; (XOR-MAPPED-ADDRESS, our address)."""
    req, tid = encode(BINDING, REQUEST, [])
    sock.sendall(req)
    deadline = time.monotonic() + timeout
    buf = b""
    while len(buf) < 20 or len(buf) < 20 + int.from_bytes(buf[2:4], "big"):
        assert wait_readable(sock, deadline), "no Binding response over TCP"
        data = sock.recv(4096)
        assert data, "connection closed before the Binding response"
        buf += data
    m = Msg(buf)
    assert m.tid == tid
    return m.addr(A_XOR_MAPPED), sock.getsockname()[:2]


class FirstCaller(threading.Thread):
    """Connects as soon as the listener exists (the connection that makes
    systemd-socket-activate start the daemon) and waits for its answer."""

    def __init__(self):
        super().__init__(daemon=True)
        self.result = None
        self.error = None

    def run(self):
        deadline = time.monotonic() + 20
        try:
            while True:
                try:
                    sock = socket.create_connection(("127.0.0.1", PORT), timeout=1)
                    break
                except ConnectionRefusedError:
                    assert time.monotonic() < deadline, "systemd-socket-activate never listened"
                    time.sleep(0.02)
            with sock:
                sock.setblocking(False)
                self.result = tcp_binding(sock, 20)
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = e


def main():
    wrapper = [SSA, "-l", f"127.0.0.1:{PORT}", "-l", f"127.0.0.1:{HTTP}"]
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11220-11239",
            "transports": ["udp", "tcp"]}
    d = Daemon(http_port=HTTP, stun_port=PORT, workers=2, wrapper=wrapper, turn_extra=turn,
               stun_extra={"transports": ["udp", "tcp"]})
    first = FirstCaller()
    first.start()
    with d:
        first.join(25)
        assert first.error is None, first.error
        mapped, local = first.result
        assert mapped == local, (mapped, local)
        log = d.log()
        assert "socket activation: 2 socket(s) passed in" in log, log
        assert "nothing here serves" not in log, log
        assert d.ice_servers("did:peers:activated")["ice_servers"], "no ICE servers"

        for _ in range(6):  # several connections: the workers share the socket
            with socket.create_connection(("127.0.0.1", PORT), timeout=5) as s:
                s.setblocking(False)
                mapped, local = tcp_binding(s, 5)
                assert mapped == local
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        req, tid = encode(BINDING, REQUEST, [])
        u.sendto(req, ("127.0.0.1", PORT))
        assert wait_readable(u, time.monotonic() + 5), "no UDP Binding response"
        assert Msg(u.recv(2048)).addr(A_XOR_MAPPED) == u.getsockname()
        u.close()

        c = TurnClient(("127.0.0.1", PORT), *d.turn_credentials("did:peers:activated"), "tcp")
        peer = udp_peer()
        c.allocate()
        bind(c, peer, 0x4000)
        both_ways(c, peer, 0x4000, b"through a passed socket")
        c.refresh(0)
        c.close()
        peer.close()
    print("socket activation: first Binding answered from the backlog, STUN/TURN/HTTP served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
