#!/usr/bin/python3
"""coturn's turnutils_uclient against a dual-stack Station on loopback
(issue 22): -x (an IPv6 relay requested, over ::1) and -Z (a dual
allocation: REQUESTED-ADDRESS-FAMILY IPv4 plus ADDITIONAL-ADDRESS-FAMILY
IPv6) relay to turnutils_peer echo peers on ::1 and on 127.0.0.1, with every
message back (on loopback any loss is a server defect). The -Z Allocate
must come back with two XOR-RELAYED-ADDRESSes, each on its family's public
address. Ports: listen 4040-4043, relays 4400-4599 (tests/PORTS.md)."""

import os
import socket
import subprocess
import sys
import time

import dualstack

sys.path.insert(0, os.path.join(os.path.dirname(dualstack.HERE), "interop"))
from test_uclient import stop, summary  # noqa: E402  (tests/interop)

UCLIENT = "/usr/bin/turnutils_uclient"
PEER = "/usr/bin/turnutils_peer"
PORT, HTTP, RELAY = 4040, 4041, (4400, 4599)
PEER4, PEER6 = 4042, 4043
MESSAGES, CLIENTS, LENGTH = 40, 2, 160
USER = "did:peers:uclient-ds"


def start_peer(ip, port):
    fam = socket.AF_INET6 if ":" in ip else socket.AF_INET
    proc = subprocess.Popen([PEER, "-L", ip, "-p", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def echoes():
        if proc.poll() is not None:
            raise RuntimeError(f"turnutils_peer exited with {proc.returncode}")
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(b"ping", (ip, port))
                return s.recvfrom(64)[0] == b"ping"
            except OSError:
                return False

    try:
        dualstack.wait_for(echoes, 10, what=f"turnutils_peer on {ip}")
    except BaseException:
        stop(proc)
        raise
    return proc


def relay(name, server, peer, peer_port, args):
    argv = [UCLIENT, "-p", str(PORT), "-e", peer, "-r", str(peer_port), "-W", dualstack.SECRET,
            "-u", USER, "-n", str(MESSAGES), "-m", str(CLIENTS), "-l", str(LENGTH)] + args + [server]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=60)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{name}: uclient did not finish in 60s: {argv}\n{e.stdout}") from None
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{name}: uclient exited {r.returncode}:\n{out[-3000:]}"
    s = summary(out)
    want = MESSAGES * CLIENTS
    assert s["sent"] == want and s["recv"] == s["sent"], f"{name}: {s}"
    assert s["lost"] == 0 and s["dropped"] == 0, f"{name}: loss on loopback: {s}"
    assert s["recv_bytes"] == s["sent_bytes"] == want * LENGTH, f"{name}: byte counts {s}"
    print(f"ok {name}: {s['recv']}/{s['sent']} messages, 0 lost, {time.monotonic() - t0:.1f}s")
    return out


def main():
    t0 = time.monotonic()
    with dualstack.daemon("dual", PORT, HTTP, RELAY) as d:
        peers = [start_peer("127.0.0.1", PEER4)]
        try:
            for server in ("127.0.0.1", "::1"):
                for attr in (0x8000, 0x8032):
                    dualstack.dual_allocate(d, (server, PORT), attr, USER,
                                            ["127.0.0.1", "::1"], RELAY)
            peers.append(start_peer("::1", PEER6))
            relay("-x over ::1 to a ::1 peer", "::1", "::1", PEER6, ["-x"])
            relay("over 127.0.0.1 to a 127.0.0.1 peer", "127.0.0.1", "127.0.0.1", PEER4, [])
            # -Z relays through its IPv4 half, -Z -x through its IPv6 half;
            # uclient refreshes each with a REQUESTED-ADDRESS-FAMILY picked at
            # random, which a missing half answers with 443.
            for server in ("127.0.0.1", "::1"):
                relay(f"-Z over {server} to a 127.0.0.1 peer", server, "127.0.0.1", PEER4, ["-Z"])
                relay(f"-Z -x over {server} to a ::1 peer", server, "::1", PEER6, ["-Z", "-x"])
        finally:
            for p in peers:
                stop(p)
    print(f"PASS test_uclient (dual stack) in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
