#!/usr/bin/env python3
"""Fault: the daemon runs out of file descriptors. RLIMIT_NOFILE of the
running daemon is lowered with `prlimit --pid` to 3 above what it holds;
12 TCP clients connect (3 are accepted, then accept() fails with EMFILE),
a UDP client asks for an allocation (its relay socket() fails) and an HTTP
client connects to the API. While the limit holds, the daemon does not
crash or spin, an allocation made before keeps relaying both ways, and UDP
Binding is answered. When the limit is raised back, the connections
waiting in the backlogs are accepted and served (Binding over each, and the
API client's request), new allocations succeed, and the failures were
counted: icestation_net_tcp_accept_errors_total and
icestation_http_accept_errors_total, the relay socket under
icestation_net_relay_open_failures_total{reason="error"} with its Allocate
answered 508. Closing everything brings fds and memory back.
Ports 15010-15019, relays 15510-15529."""
import socket
import subprocess
import sys
import time

from faultlib import (Served, back_to_baseline, baseline, binding_ok, creds, daemon, proc_cpu_s,
                      run)
from icetest import wait_for
from turnclient import BINDING, REQUEST, Msg, TurnClient, TurnError, encode

HTTP, PORT = 15010, 15011
N_TCP = 12


def nofile_limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                soft, hard = line.split()[3:5]
                return int(soft), int(hard)
    raise AssertionError("no Max open files line")


def set_soft(pid, soft):
    _, hard = nofile_limits(pid)
    subprocess.run(["prlimit", "--pid", str(pid), f"--nofile={soft}:{hard}"], check=True,
                   timeout=10)
    assert nofile_limits(pid)[0] == soft


def tcp_binding(s):
    req, tid = encode(BINDING, REQUEST, [])
    s.settimeout(5)
    s.sendall(req)
    data = s.recv(2048)
    assert Msg(data).tid == tid, f"bad Binding answer over TCP: {data!r}"


def nofile():
    with daemon(HTTP, PORT, "15510-15529", workers=1) as d:
        pid = d.proc.pid
        base = baseline(d)
        bystander = Served(PORT)
        soft, _ = nofile_limits(pid)
        late = None
        conns = []
        try:
            held = d.fd_count()
            set_soft(pid, held + 3)
            for _ in range(N_TCP):  # the kernel completes them into the backlog
                conns.append(socket.create_connection(("127.0.0.1", PORT), timeout=5))
            name, pw = creds("did:peers:late")
            late = TurnClient(("127.0.0.1", PORT), name, pw)
            try:
                late.allocate()
                raise AssertionError("an Allocate got a relay socket with no fd left")
            except TurnError as e:
                assert e.code == 508, f"expected 508 for the failed relay socket, got {e.code}"
            # An API client waits in the HTTP listener's backlog too.
            api = socket.create_connection(("127.0.0.1", HTTP), timeout=5)
            api.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            time.sleep(0.3)
            # Out of fds: no crash, no busy loop, others served.
            cpu0, t0 = proc_cpu_s(pid), time.monotonic()
            time.sleep(1.0)
            cpu = (proc_cpu_s(pid) - cpu0) / (time.monotonic() - t0)
            assert d.alive(), "the daemon died when it ran out of fds"
            assert cpu < 0.5, f"the daemon spins while out of fds: {cpu:.0%} of a core"
            bystander.round_trip()
            binding_ok(PORT)
            assert d.fd_count() == held + 3, (d.fd_count(), held)
        finally:
            set_soft(pid, soft)
        # Back: the backlogs are accepted and served, and the failures were counted.
        api.settimeout(5)
        head = api.recv(4096)
        assert head.startswith(b"HTTP/1.1 200"), f"API client not served after: {head!r}"
        api.close()
        for s in conns:
            tcp_binding(s)
        assert d.metric("icestation_net_tcp_accept_errors_total") >= 1
        assert d.metric("icestation_http_accept_errors_total") >= 1
        assert d.metric('icestation_net_relay_open_failures_total{reason="error"}') == 1
        assert d.metric('icestation_turn_responses_total{code="508"}') == 1
        late.allocate()
        late.refresh(0)
        late.close()
        bystander.round_trip()
        for s in conns:
            s.close()
        bystander.close()
        wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 10,
                 what="TCP connections closed")
        back_to_baseline(d, base)


if __name__ == "__main__":
    sys.exit(run([nofile]))
