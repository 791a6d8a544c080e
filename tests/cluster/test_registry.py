"""Node registry through a real Redis: a node's record reaches the others,
the ICE selection follows the strategy, a draining or full node leaves the
list at once, a SIGKILLed node within node-ttl, a node that leaves at once.
Ports: Redis 19490, (config-only) TURN ports 19010-19019.
"""

import json
import sys
import time

from clusterlib import HEARTBEAT_MS, NODE_TTL_MS, Driver, Nodes, Redis, until

REDIS_PORT = 19490
TTL = NODE_TTL_MS / 1000.0
HB = HEARTBEAT_MS / 1000.0


def test_record_and_lists(redis, nodes):
    a = nodes.add(Driver("a", REDIS_PORT, 19010)).start()
    b = nodes.add(Driver("b", REDIS_PORT, 19011)).start()
    c = nodes.add(Driver("c", REDIS_PORT, 19012, strategy="least-loaded", nodes=3)).start()
    for d in (a, b, c):
        until(lambda d=d: sorted(d.nodes()) == ["a", "b", "c"], 5, f"{d.id} lists a, b, c")

    # The record as stored: JSON with every field of the issue.
    r = redis.client()
    rec = json.loads(r.cmd("GET", "icetest:node:a"))
    pttl = r.cmd("PTTL", "icetest:node:a")
    r.close()
    assert rec["id"] == "a" and rec["v"] == 1 and rec["drain"] is False
    assert rec["max"] == 1000 and "gen" in rec and "inst" in rec and "ver" in rec
    assert ["turn", "udp", "127.0.0.2:19010"] in rec["ep"], rec["ep"]
    assert ["turn", "tcp", "127.0.0.2:19010"] in rec["ep"], rec["ep"]
    assert ["stun", "udp", "127.0.0.2:19010"] in rec["ep"], rec["ep"]
    assert 0 < pttl <= NODE_TTL_MS, pttl

    # Load reaches the others with the next heartbeat; least-loaded orders by it.
    assert a.ask("load 30 1000 2000", "ok")
    assert b.ask("load 10 0 0", "ok")
    assert c.ask("load 20 0 0", "ok")
    until(lambda: c.ice() == ["b", "c", "a"], 3, "least-loaded order b, c, a on c")
    # self-first: a first (healthy), then the least loaded of the others.
    until(lambda: a.ice() == ["a", "b"], 3, "self-first a, b on a")
    until(lambda: b.ice() == ["b", "c"], 3, "self-first b, c on b")
    r = redis.client()
    rec = json.loads(r.cmd("GET", "icetest:node:a"))
    r.close()
    assert rec["alloc"] == 30 and rec["rx"] == 1000 and rec["tx"] == 2000, rec

    # Draining: gone from the others' answers within one heartbeat and a round trip.
    t0 = time.monotonic()
    assert b.ask("drain 1", "ok")
    until(lambda: "b" not in c.ice() and "b" not in a.ice(), 2 * HB + 0.5, "b drained")
    took = time.monotonic() - t0
    print(f"drain seen after {took * 1000:.0f} ms")
    assert took < 2 * HB + 0.5
    assert b.ice() == ["c", "a"], "a draining node does not hand itself out"
    assert "b" in a.nodes(), "a draining node stays in the admin list"
    assert b.ask("drain 0", "ok")
    until(lambda: "b" in c.ice(), 3, "b back after drain 0")

    # Full: at max-allocations it is skipped, by itself too.
    assert c.ask("max 20", "ok")
    until(lambda: "c" not in a.ice() and "c" not in c.ice(), 3, "full c skipped")
    assert c.ask("max 1000", "ok")
    until(lambda: "c" in c.ice(), 3, "c back below its limit")

    # kill -9: no answer lists b within node-ttl of its last heartbeat.
    b.kill9()
    t_kill = time.monotonic()
    until(lambda: "b" not in a.nodes() and "b" not in c.nodes(), TTL + 1.0, "b expired")
    took = time.monotonic() - t_kill
    print(f"killed node gone after {took * 1000:.0f} ms (node-ttl {NODE_TTL_MS} ms)")
    assert took <= TTL + 0.3, f"b listed {took:.2f}s after kill -9 (node-ttl {TTL}s)"
    assert "b" not in a.ice() and "b" not in c.ice()

    # leave: gone from the others at their next heartbeat, not after node-ttl.
    assert a.ask("leave").split()[1] == "0"
    assert a.expect("left").split()[1] == "0"
    t0 = time.monotonic()
    until(lambda: "a" not in c.nodes(), 2 * HB + 0.5, "a left")
    assert time.monotonic() - t0 < TTL, "leave must not wait for node-ttl"


def test_duplicate_id(nodes):
    """Two processes with one node-id hide each other: say so, once."""
    x1 = nodes.add(Driver("dup", REDIS_PORT, 19013)).start()
    x2 = nodes.add(Driver("dup", REDIS_PORT, 19014)).start()
    warned = lambda d: "also uses node-id dup" in d.stderr()
    until(lambda: warned(x1) or warned(x2), 3, "a warning about the shared node-id")
    x1.stop()
    x2.stop()
    for d in (x1, x2):
        assert d.stderr().count("also uses node-id") <= 1, d.stderr()


def main():
    with Redis(REDIS_PORT) as redis, Nodes() as nodes:
        test_record_and_lists(redis, nodes)
        test_duplicate_id(nodes)
    print("registry: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
