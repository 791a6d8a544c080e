#!/usr/bin/env python3
"""Fault: the kernel refuses the daemon's sends (EAGAIN, ENOBUFS) because its
socket send buffers are tiny and the way out is slow.

How the fault is made, and why this way: on loopback a UDP datagram is
handed to the receiver inside sendmsg(), so a send buffer never fills and
the kernel never says EAGAIN, whatever SO_SNDBUF is. The test therefore
runs in a network namespace of its own and puts a token-bucket qdisc (tbf,
4 Mbit/s, a queue limit it never reaches) on that namespace's loopback:
datagrams now wait in the qdisc, still charged to their socket. An
LD_PRELOAD shim (sndbuf_shim.c, built by CMake) makes every SO_SNDBUF the
daemon asks for 1 byte (the kernel's minimum, about 4.6 KB, applies), as a
host with tiny wmem settings would; the shim injects no error, it only
observes which sends the kernel refused and how many datagrams they held.
Raising the daemon's buffers with a sysctl in the namespace is not possible
(net.core.wmem_* are not per namespace).

A client floods ChannelData (3000 x 1000 B) to a peer: its relay socket's
sends back up behind the qdisc and the kernel refuses some. The daemon must
count every refused datagram (icestation_net_relay_send_errors_total plus
icestation_net_udp_send_errors_total rise by exactly what the shim saw
refused), every datagram is either received by the peer or counted, and a
bystander on its own relay socket keeps relaying both ways throughout.
Then fds and heap come back. Ports 15050-15059, relays 15590-15609."""
import os
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

from faultlib import (Served, back_to_baseline, baseline, creds, daemon, in_own_netns, run)
from turnclient import TurnClient, recv_from, udp_peer

HTTP, PORT = 15050, 15051
N = 3000
C_EAGAIN, C_ENOBUFS, C_OTHER, C_CALLS, C_SETSOCKOPT = range(5)


def counts(path):
    with open(path, "rb") as f:
        return struct.unpack("8Q", f.read(64))


def tc(*args):
    subprocess.run(["tc", "qdisc"] + list(args) + ["dev", "lo", "root"] + (
        ["tbf", "rate", "4mbit", "burst", "16kb", "limit", "64mb"] if args[0] == "add" else []),
        check=True, timeout=10)


def sndbuf():
    shim = os.environ["FAULT_SHIM"]
    fd, path = tempfile.mkstemp(prefix="fault-sndbuf-")
    os.write(fd, bytes(64))
    os.close(fd)
    subprocess.run(["ip", "link", "set", "lo", "mtu", "1500"], check=True, timeout=10)
    asan = os.environ.get("ASAN_OPTIONS", "")
    env = {"LD_PRELOAD": shim, "FAULT_SNDBUF": "1", "FAULT_COUNTS": path,
           # the shim is preloaded ahead of the daemon's ASan runtime
           "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
    try:
        with daemon(HTTP, PORT, "15590-15609", workers=1, env=env) as d:
            assert counts(path)[C_SETSOCKOPT] >= 1, "the shim did not see the listener's SO_SNDBUF"
            base = baseline(d)
            bystander = Served(PORT)
            name, pw = creds("did:peers:flood")
            c = TurnClient(("127.0.0.1", PORT), name, pw)
            peer = udp_peer()
            c.allocate()
            c.channel_bind(0x4001, peer.getsockname())
            # A relay sizes its buffers at its first datagram (relay.c), so
            # one goes through each before the shim can have seen both.
            bystander.round_trip()
            c.send_channel(0x4001, b"first")
            got1 = recv_from(peer, 5)
            assert got1 is not None and got1[0] == b"first", "the first datagram was not relayed"
            assert counts(path)[C_SETSOCKOPT] >= 3, "the shim did not see the relays' SO_SNDBUF"
            m0 = d.metrics()
            seen0 = counts(path)
            tc("add")
            got, trips, stop = [0], [0], threading.Event()

            def read_peer():
                while not stop.is_set():
                    try:
                        peer.recv(2048)
                        got[0] += 1
                    except BlockingIOError:
                        time.sleep(0.001)

            def bystand():
                while not stop.is_set():
                    bystander.round_trip()
                    trips[0] += 1
                    time.sleep(0.2)

            threads = [threading.Thread(target=read_peer), threading.Thread(target=bystand)]
            for t in threads:
                t.start()
            try:
                # A client whose own socket queues at most 32 KB in the qdisc.
                c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
                c.sock.setblocking(True)
                frame = c.channel_frame(0x4001, bytes(1000))
                for _ in range(N):
                    c.sock.send(frame)
                time.sleep(2.0)  # let the qdisc drain
            finally:
                stop.set()
                for t in threads:
                    t.join(10)
                tc("del")
            c.sock.setblocking(False)
            seen = [a - b for a, b in zip(counts(path), seen0)]
            refused = seen[C_EAGAIN] + seen[C_ENOBUFS] + seen[C_OTHER]
            m1 = d.metrics()

            def delta(k):
                return m1.get(k, 0.0) - m0.get(k, 0.0)

            counted = delta("icestation_net_relay_send_errors_total") + \
                delta("icestation_net_udp_send_errors_total")
            print(f"sent {N}, peer got {got[0]}, kernel refused {refused} "
                  f"(EAGAIN {seen[C_EAGAIN]}, ENOBUFS {seen[C_ENOBUFS]}, other {seen[C_OTHER]}) "
                  f"in {seen[C_CALLS]} calls, daemon counted {counted:.0f}; "
                  f"bystander round trips {trips[0]}", flush=True)
            assert refused > 0, "the kernel refused nothing: the fault did not happen"
            assert counted == refused, f"daemon counted {counted}, kernel refused {refused}"
            assert got[0] + refused == N, f"{N - got[0] - refused} datagrams neither relayed " \
                "nor counted"
            # Sent to peers: the flood's arrivals and the bystander's one per trip.
            assert delta('icestation_net_relay_datagrams_total{direction="tx"}') == \
                got[0] + trips[0], "relay tx does not match what arrived"
            assert trips[0] >= 5, f"only {trips[0]} bystander round trips during the flood"
            bystander.round_trip()
            c.refresh(0)
            c.close()
            peer.close()
            bystander.close()
            back_to_baseline(d, base)
    finally:
        os.unlink(path)


if __name__ == "__main__":
    rc = in_own_netns(sys.argv)
    sys.exit(rc if rc is not None else run([sndbuf]))
