"""Relay ports that cannot be guessed (issue 21), on the real daemon.

- 1,000 Allocate/Refresh(0) cycles, each from a fresh client socket, on 1
  and on 2 workers over a range of 1,000 ports: more than 500 distinct
  relay ports, the next port equal to the one just freed in under 1 % of
  cycles, no port outside the range. (Before: 2 distinct ports in 200
  cycles, the port just freed handed out again in 89 of 199.)
- Two relay addresses: used in rounds of a random order, so each gets half
  of the allocations, and the order is not a fixed alternation.
- EVEN-PORT with R: an even port, and the token redeems port + 1.
- A full range on 2 workers: every port of it can be allocated (the
  workers share one map of taken ports), then 508.
- Socket buffers are sized at a relay's first datagram, not before.

Ports (tests/PORTS.md): listen 6000-6099, relay 6100-7999."""

import re
import subprocess
import sys

from icetest import Daemon
from turnclient import TurnClient, TurnError, recv_from, udp_peer

A_EVEN_PORT = 0x0018
A_RESERVATION_TOKEN = 0x0022
LIMITS = {"allowed-peer-ip": ["127.0.0.0/8"], "max-allocations-per-user": 0,
          "allocations-per-minute-per-user": 0}
CYCLES = 1000
LO, HI = 6100, 7099


def cycles(d, port, n, host="127.0.0.1"):
    """n Allocate/Refresh(0) cycles, a fresh client socket each: the relayed
    addresses in order."""
    user, pw = d.turn_credentials()
    out = []
    for _ in range(n):
        c = TurnClient((host, port), user, pw)
        try:
            c.allocate()
            out.append(c.relayed)
            c.refresh(0)
        finally:
            c.close()
    return out


def churn(workers, http, port):
    turn = dict(LIMITS, **{"relay-port-range": f"{LO}-{HI}"})
    with Daemon(http_port=http, stun_port=port, workers=workers, turn_extra=turn) as d:
        relays = cycles(d, port, CYCLES)
    ports = [p for _, p in relays]
    distinct = len(set(ports))
    same = sum(1 for a, b in zip(ports, ports[1:]) if a == b)
    outside = [p for p in ports if not LO <= p <= HI]
    print(f"{workers} worker(s): {CYCLES} cycles, {distinct} distinct relay ports, "
          f"next = just freed in {same} of {CYCLES - 1}, {len(outside)} outside {LO}-{HI}")
    assert distinct > 500, distinct
    assert same < (CYCLES - 1) / 100, same
    assert not outside, outside[:10]


def two_addresses():
    hosts = ["127.0.0.1", "127.0.0.2"]
    turn = dict(LIMITS, **{"relay-port-range": "7100-7199",
                           "relay-ip-range": [f"{h}/32" for h in hosts]})
    with Daemon(http_port=6004, stun_port=6005, turn_extra=turn) as d:
        relays = cycles(d, 6005, 100)
    used = [h for h, _ in relays]
    counts = {h: used.count(h) for h in hosts}
    # One worker: each round of two gives each address one allocation.
    assert counts == {"127.0.0.1": 50, "127.0.0.2": 50}, counts
    assert all(used[i] != used[i + 1] for i in range(0, 100, 2)), used
    # A fixed alternation would repeat the first round's order every round.
    assert len({tuple(used[i:i + 2]) for i in range(0, 100, 2)}) == 2, used
    assert all(7100 <= p <= 7199 for _, p in relays), relays
    print(f"two relay addresses: {counts}, rounds in both orders")


def even_port_reserved(d, port):
    user, pw = d.turn_credentials()
    a = TurnClient(("127.0.0.1", port), user, pw)
    b = TurnClient(("127.0.0.1", port), user, pw)
    try:
        r = a.allocate(extra=[(A_EVEN_PORT, b"\x80")])  # R: reserve port + 1
        token = r.get(A_RESERVATION_TOKEN)
        assert a.relayed[1] % 2 == 0, a.relayed
        assert token is not None and len(token) == 8, token
        b.allocate(extra=[(A_RESERVATION_TOKEN, token)])
        assert b.relayed == (a.relayed[0], a.relayed[1] + 1), (a.relayed, b.relayed)
        a.refresh(0)
        b.refresh(0)
    finally:
        a.close()
        b.close()
    print(f"EVEN-PORT R: {a.relayed[1]}, token redeemed for {b.relayed[1]}")


def rcvbuf(port):
    """The relay socket's receive buffer (ss -m: rb), bytes."""
    out = subprocess.run(["ss", "-uanmH", f"sport = :{port}"], capture_output=True,
                         text=True, check=True).stdout
    m = re.search(r"\brb(\d+)", out)
    assert m, out
    return int(m.group(1))


def buffers_at_first_datagram(d, port):
    user, pw = d.turn_credentials()
    c = TurnClient(("127.0.0.1", port), user, pw)
    peer = udp_peer()
    try:
        c.allocate()
        default = int(open("/proc/sys/net/core/rmem_default").read())
        before = rcvbuf(c.relayed[1])
        assert before == default, (before, default)
        # The client's first datagram to a peer sizes them.
        c.create_permission(("127.0.0.1", peer.getsockname()[1]))
        c.send_indication(("127.0.0.1", peer.getsockname()[1]), b"first")
        got = recv_from(peer, 5)
        assert got is not None and got[0] == b"first", got
        after = rcvbuf(c.relayed[1])
        assert after > before, (before, after)
        c.refresh(0)
    finally:
        c.close()
        peer.close()
    print(f"relay receive buffer: {before} bytes until its first datagram, then {after}")


def nearly_full(d, port):
    """6200-6263 on 2 workers: all 64 ports, each once, then 508."""
    user, pw = d.turn_credentials()
    cs = [TurnClient(("127.0.0.1", port), user, pw) for _ in range(65)]
    try:
        for c in cs[:64]:
            c.allocate()
        ports = sorted(c.relayed[1] for c in cs[:64])
        assert ports == list(range(6200, 6264)), ports
        try:
            cs[64].allocate()
        except TurnError as e:
            assert e.code == 508, e.code
        else:
            raise AssertionError(f"a 65th relay in 64 ports: {cs[64].relayed}")
        for c in cs[:64]:
            c.refresh(0)
    finally:
        for c in cs:
            c.close()
    print("nearly full range on 2 workers: all 64 ports given, then 508")


def main():
    churn(1, 6000, 6001)
    churn(2, 6002, 6003)
    two_addresses()
    turn = dict(LIMITS, **{"relay-port-range": "6200-6263"})
    with Daemon(http_port=6006, stun_port=6007, workers=2, turn_extra=turn) as d:
        nearly_full(d, 6007)
        even_port_reserved(d, 6007)
        buffers_at_first_datagram(d, 6007)
    return 0


if __name__ == "__main__":
    sys.exit(main())
