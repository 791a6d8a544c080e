#!/usr/bin/env python3
"""Fault: SIGKILL under load, then a restart on the same configuration.

bench/loadgen relays ChannelData through 64 allocations of a 2-worker daemon
while 3 TCP clients hold allocations too; the daemon is killed with SIGKILL
mid-flow and started again at once. The new daemon must come up (its UDP,
TCP and relay sockets bind although the old ones died with connections and
traffic in flight) and serve: a new client allocates and relays; the old
clients' ChannelData, still arriving, is dropped and counted
(icestation_turn_dropped_total{reason="no_allocation"}); an old client's
Refresh is answered 437; every relay port of the range can be allocated
again (the dead process held none). Then fds and heap come back.

Socket activation (issue 11): the test then plays systemd. It makes and
holds the TCP STUN/TURN and HTTP listeners and starts the daemon on them
(listen_fds.py: LISTEN_FDS); under load it SIGKILLs the daemon, connects
TCP STUN and HTTP clients for a second while no daemon runs, and starts a
new daemon on the same sockets: no connection may be refused, and every
one is answered. Without activation, the same connect is refused (checked
first, so the check can fail).
Ports 15060-15069 (loadgen clients 15100-15199, peers 15300-15307), relays
15610-15699."""
import os
import signal
import socket
import subprocess
import sys
import time

from faultlib import SECRET, Served, back_to_baseline, baseline, creds, daemon, run
from icetest import wait_for
from turnclient import BINDING, REQUEST, Msg, TurnClient, TurnError, encode

HTTP, PORT = 15060, 15061
ACT_HTTP, ACT_PORT = 15062, 15063
RELAYS = "15610-15699"
HERE = os.path.dirname(os.path.abspath(__file__))


def start(workers=2):
    d = daemon(HTTP, PORT, RELAYS, workers=workers)
    return d.start()


def loadgen(d, mode, duration, allocs, client_port, port=PORT):
    return subprocess.Popen(
        [os.environ["LOADGEN_BIN"], mode, "--server", f"127.0.0.1:{port}",
         "--pid", str(d.proc.pid), "--secret", SECRET, "--duration", str(duration),
         "--warmup", "0.2", "--allocs", str(allocs), "--sizes", "100", "--dir", "c2p",
         "--client-ip", "127.0.10.1", "--client-port", str(client_port), "--client-ports", "50",
         "--peer-ip", "127.0.11.1", "--peer-port", "15300", "--peers", "8",
         "--window", "64", "--timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def listening(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(512)
    return s


def activated():
    """The daemon, its TCP STUN/TURN and HTTP listeners made and held here
    (as systemd holds them; tests/fault/listen_fds.py passes them in)."""
    socks = [listening(ACT_PORT), listening(ACT_HTTP)]
    fds = [s.fileno() for s in socks]
    wrapper = [sys.executable, os.path.join(HERE, "listen_fds.py"), *map(str, fds), "--"]
    d = daemon(ACT_HTTP, ACT_PORT, RELAYS, workers=2, wrapper=wrapper, pass_fds=fds,
               stun_extra={"transports": ["udp", "tcp"]},
               turn_extra={"transports": ["udp", "tcp"]})
    return d, socks


def gap_callers(n_tcp, n_http):
    """Connections made while no daemon runs: each is accepted by the kernel
    into the held listener's backlog (a refusal raises here), and sends its
    request at once."""
    tcp, web = [], []
    for _ in range(n_tcp):
        s = socket.create_connection(("127.0.0.1", ACT_PORT), timeout=5)
        req, tid = encode(BINDING, REQUEST, [])
        s.sendall(req)
        tcp.append((s, tid))
    for _ in range(n_http):
        s = socket.create_connection(("127.0.0.1", ACT_HTTP), timeout=5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        web.append(s)
    return tcp, web


def answered(tcp, web, timeout=20):
    for s, tid in tcp:
        s.settimeout(timeout)
        buf = b""
        while len(buf) < 20 or len(buf) < 20 + int.from_bytes(buf[2:4], "big"):
            data = s.recv(4096)
            assert data, "a connection made in the gap was closed unanswered"
            buf += data
        assert Msg(buf).tid == tid, "a gap connection's Binding answered for another"
        s.close()
    for s in web:
        s.settimeout(timeout)
        head = s.recv(64)
        assert head.startswith(b"HTTP/1.1 200"), f"a gap connection's GET /healthz: {head!r}"
        s.close()


def refused_without_activation():
    """The contrast that makes the check mean something: a daemon that binds
    its own listeners leaves nothing listening once SIGKILLed."""
    d = daemon(ACT_HTTP, ACT_PORT, RELAYS, workers=2, stun_extra={"transports": ["udp", "tcp"]},
               turn_extra={"transports": ["udp", "tcp"]}).start()
    try:
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=10)
        try:
            socket.create_connection(("127.0.0.1", ACT_PORT), timeout=5).close()
            raise AssertionError("a connection to a dead daemon's own listener was accepted")
        except ConnectionRefusedError:
            print("without socket activation: a connection in the gap is refused", flush=True)
    finally:
        d.kill()
        d.cleanup()


def sigkill_activated():
    """SIGKILL under load with socket activation: no connection refused in the
    gap. A UDP load runs through the first daemon and 3 TCP clients hold
    allocations; the daemon is killed; for a while no daemon runs, and TCP
    STUN clients and HTTP clients connect then; a new daemon on the same held
    sockets starts and answers every one of them."""
    refused_without_activation()
    d, socks = activated()
    d.start()
    lg = None
    old = []
    try:
        lg = loadgen(d, "relay", 6, 32, 15100, port=ACT_PORT)
        wait_for(lambda: d.metric('icestation_net_relay_datagrams_total{direction="tx"}') > 2000,
                 20, what="relayed traffic under way")
        for i in range(3):
            name, pw = creds(f"did:peers:act{i}")
            c = TurnClient(("127.0.0.1", ACT_PORT), name, pw, "tcp")
            c.allocate()
            old.append(c)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=10)
        d.kill()
        # The gap: no daemon at all, for as long as a slow restart takes.
        t0 = time.monotonic()
        tcp, web = [], []
        while time.monotonic() - t0 < 1.0:
            a, b = gap_callers(4, 1)
            tcp += a
            web += b
            time.sleep(0.1)
        d.start()
        assert "socket activation: 2 socket(s) passed in" in d.log(), d.log()
        answered(tcp, web)
        print(f"socket activation: {len(tcp)} TCP STUN and {len(web)} HTTP connections made "
              "while no daemon ran: 0 refused, every one answered by the restarted daemon",
              flush=True)
        # The killed daemon's TCP clients lost their connections, not the port.
        for c in old:
            c.close()
        bystander = TurnClient(("127.0.0.1", ACT_PORT), *creds("did:peers:after"), "tcp")
        bystander.allocate()
        bystander.close()
        lg.wait(timeout=60)
        d.stop()
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait()
        d.kill()
        d.cleanup()
        for s in socks:
            s.close()


def sigkill():
    d = start()
    lg = None
    old = []
    try:
        lg = loadgen(d, "relay", 8, 64, 15100)
        wait_for(lambda: d.metric('icestation_net_relay_datagrams_total{direction="tx"}') > 5000,
                 20, what="relayed traffic under way")
        for i in range(3):
            name, pw = creds(f"did:peers:old{i}")
            c = TurnClient(("127.0.0.1", PORT), name, pw, "tcp" if i else "udp")
            c.allocate()
            old.append(c)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=10)
        assert d.proc.returncode == -signal.SIGKILL
        d.kill()
        d.cleanup()
        t0 = time.monotonic()
        d = start()
        print(f"restarted and ready in {time.monotonic() - t0:.2f} s", flush=True)
        base = baseline(d)
        # The old load generator's ChannelData reaches a daemon that never
        # heard of its allocations: dropped and counted.
        wait_for(lambda: d.metric('icestation_turn_dropped_total{reason="no_allocation"}') > 0,
                 10, what="old clients' ChannelData counted as no_allocation")
        try:
            old[0].refresh(600)
            raise AssertionError("an allocation survived SIGKILL")
        except TurnError as e:
            assert e.code == 437, f"old client's Refresh answered {e.code}, not 437"
        bystander = Served(PORT)
        bystander.round_trip()
        lg.wait(timeout=60)
        # Every port of the range but the bystander's can be allocated again.
        held = loadgen(d, "alloc-hold", 1, 89, 15150)
        out, err = held.communicate(timeout=120)
        assert held.returncode == 0, f"alloc-hold failed: {out} {err}"
        assert '"ready":89' in out and '"not_released":0' in out, out
        bystander.round_trip()
        bystander.close()
        for c in old:
            c.close()
        wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 10,
                 what="old TCP clients gone")
        back_to_baseline(d, base)
        d.stop()
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait()
        d.kill()
        d.cleanup()


if __name__ == "__main__":
    sys.exit(run([sigkill, sigkill_activated]))
