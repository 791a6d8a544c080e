"""workers: 2 — each worker has its own SO_REUSEPORT sockets and clients are
spread across them by source address (src/net/steer.c; that one address
stays on one worker is tests/defaults/test_steer.py's): many client
addresses are all answered (UDP and TCP), and both worker threads ran
packet callbacks (their schedstat run counts grew; an idle worker blocked in
epoll_wait does not run).
Ports 21080-21099."""

import socket
import sys

from icetest import Daemon
from stunlib import build, tcp_read_msg, udp_binding, udp_socket, xor_mapped

HTTP, PORT = 21080, 21081
CLIENTS = 200


def worker_runs(pid):
    """{thread name: number of times it ran} for the net worker threads."""
    import os
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            name = f.read().strip()
        if name.startswith("ice-net-"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                out[name] = int(f.read().split()[2])
    return out


def main():
    with Daemon(http_port=HTTP, stun_port=PORT, workers=2,
                stun_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        server = ("127.0.0.1", PORT)
        before = worker_runs(d.proc.pid)
        assert sorted(before) == ["ice-net-0", "ice-net-1"], before
        socks = [udp_socket(f"127.0.40.{i + 1}") for i in range(CLIENTS)]
        try:
            for s in socks:
                r = udp_binding(s, server)
                assert r is not None, "a client port was not answered"
                assert xor_mapped(r) == s.getsockname()
        finally:
            for s in socks:
                s.close()
        for i in range(40):
            c = socket.create_connection(server, timeout=5, source_address=(f"127.0.41.{i + 1}", 0))
            req, tid = build()
            c.sendall(req)
            r = tcp_read_msg(c)
            assert r is not None and r["tid"] == tid and xor_mapped(r) == c.getsockname()
            c.close()
        after = worker_runs(d.proc.pid)
        runs = {k: after[k] - before[k] for k in before}
        print("worker runs during the test:", runs)
        # 240 addresses over two workers: each sees some of them. With a fair
        # hash the chance that one worker gets fewer than 10 is ~1e-50.
        assert all(v >= 10 for v in runs.values()), runs
        m = d.metrics()
        assert m["icestation_stun_binding_requests_total"] >= CLIENTS + 40
    return 0


if __name__ == "__main__":
    sys.exit(main())
