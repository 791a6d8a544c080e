"""What every fault-injection test needs (tests/fault/, ports 15000-15499,
relays 15500-15999): a daemon on its own ports, the baseline of its memory
and file descriptors, a client that proves the daemon still serves others
(a Binding and a relayed round trip), and the wait for the baseline to come
back once the fault is gone.

Memory is the daemon's heap in use (icestation_process_heap_bytes: what the
allocator handed out and did not get back), not RSS: the tests run the ASan
build, whose allocator keeps freed memory for reuse and in its quarantine,
so RSS after a fault says more about ASan than about the daemon. The heap
must come back to within HEAP_SLACK of its baseline (caches that fill once,
such as OpenSSL's, and the /metrics reply being built); every fault here
makes the daemon hold far more than that while it lasts, which the tests
check too.
"""
import base64
import hashlib
import hmac
import os
import socket
import struct
import time

from icetest import Daemon, wait_for
from turnclient import BINDING, REQUEST, Msg, TurnClient, encode, recv_from, udp_peer

SECRET = "fault-s3cret"
HEAP_SLACK = 256 * 1024


def creds(user, ttl=86400):
    name = f"{int(time.time()) + ttl}:{user}"
    pw = base64.b64encode(hmac.new(SECRET.encode(), name.encode(), hashlib.sha1).digest())
    return name, pw.decode()


def daemon(http, port, relay, turn_extra=None, stun_extra=None, **kw):
    """A daemon for a fault test: loopback peers allowed, no per-user quota."""
    turn = {"relay-port-range": relay, "allowed-peer-ip": ["127.0.0.0/8"],
            "max-allocations-per-user": 0, "allocations-per-minute-per-user": 0}
    turn.update(turn_extra or {})
    stun = {"rate-limit": {"requests-per-second": 0}}
    stun.update(stun_extra or {})
    return Daemon(http_port=http, stun_port=port, secret=SECRET, turn_extra=turn,
                  stun_extra=stun, **kw)


def heap(d):
    return d.metric("icestation_process_heap_bytes")


def baseline(d):
    """{'fds', 'heap', 'rss'} of an idle daemon, once two reads a moment apart agree."""
    def steady():
        a = d.fd_count()
        time.sleep(0.2)
        return a == d.fd_count() and a
    fds = wait_for(steady, 10, what="steady fd count")
    return {"fds": fds, "heap": heap(d), "rss": d.rss_kib()}


def back_to_baseline(d, base, timeout=20):
    """fds equal to the baseline, heap in use within HEAP_SLACK of it."""
    wait_for(lambda: d.fd_count() == base["fds"], timeout,
             what=f"fds back to {base['fds']} (now {d.fd_count()})")
    wait_for(lambda: heap(d) <= base["heap"] + HEAP_SLACK, timeout,
             what=f"heap back to {base['heap']:.0f} + {HEAP_SLACK} bytes (now {heap(d):.0f})")
    print(f"baseline back: {base['fds']} fds, heap {base['heap']:.0f} -> {heap(d):.0f} bytes, "
          f"RSS {base['rss']} -> {d.rss_kib()} KiB", flush=True)


def finish(d, base, clients):
    """Close the clients, wait for their TCP connections to go, then for the
    baseline."""
    for c in clients:
        c.close()
    wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 10,
             what="TCP connections closed")
    back_to_baseline(d, base)


def held_more(d, base, what, at_least=HEAP_SLACK * 2):
    """Assert the fault made the daemon hold memory: the baseline check means something."""
    h = heap(d)
    assert h > base["heap"] + at_least, \
        f"{what}: heap {h:.0f} is not above the baseline {base['heap']:.0f} + {at_least}"


def binding_ok(port, transport="udp", host="127.0.0.1"):
    """One Binding request answered over UDP or TCP."""
    req, tid = encode(BINDING, REQUEST, [])
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(3)
        s.connect((host, port))
        for _ in range(3 if transport == "udp" else 1):
            s.send(req)
            try:
                data = s.recv(2048)
            except socket.timeout:
                continue
            m = Msg(data)
            assert m.tid == tid and m.cls == 2, f"bad Binding answer {data!r}"
            return True
    raise AssertionError(f"no Binding answer over {transport} on {port}")


class Served:
    """A client with an allocation and a channel to its own peer: proves the
    daemon keeps serving others while a fault lasts (round_trip())."""

    def __init__(self, port, user="did:peers:bystander", transport="udp", client=None):
        name, pw = creds(user)
        self.c = client or TurnClient(("127.0.0.1", port), name, pw, transport)
        self.peer = udp_peer()
        self.c.allocate()
        self.c.create_permission(self.peer.getsockname())
        self.c.channel_bind(0x4000, self.peer.getsockname())
        self.n = 0

    def round_trip(self):
        self.n += 1
        msg = struct.pack("!I", self.n) + b"bystander"
        self.c.send_channel(0x4000, msg)
        got = recv_from(self.peer, 5)
        assert got is not None and got[0] == msg, f"bystander's datagram not relayed: {got!r}"
        self.peer.sendto(msg, self.c.relayed)
        r = self.c.recv_relayed(5)
        assert r == ("chan", 0x4000, msg), f"bystander's answer not relayed back: {r!r}"

    def close(self):
        try:
            self.c.refresh(0)
        finally:
            self.c.close()
            self.peer.close()


def run(cases):
    """Run each case in turn; print its name when it passes."""
    for fn in cases:
        fn()
        print(f"{fn.__name__}: ok", flush=True)
    return 0


def proc_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def in_own_netns(argv):
    """Re-run this test inside a network namespace of its own (unshare --net;
    the test suite runs as root), with only its loopback up: its kernel
    counters (ICMP, qdisc) are then its own, and a qdisc it adds touches
    nothing else. Returns None inside the namespace, else the exit code of
    the run inside it."""
    import subprocess
    import sys
    if os.environ.get("FAULT_NETNS") == "1":
        subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
        return None
    env = dict(os.environ, FAULT_NETNS="1")
    return subprocess.run(["unshare", "--net", sys.executable] + argv, env=env,
                          timeout=600).returncode
