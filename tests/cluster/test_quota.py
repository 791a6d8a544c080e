"""Cluster-wide per-user quotas through a real Redis, across three nodes:
max-allocations-per-user 2 and allocations-per-minute-per-user 4 hold for
the cluster, a release lets another node admit, concurrent acquires on one
node leave Redis with the true count, and a SIGKILLed node's contributions
stop counting within node-ttl.
Ports: Redis 19491, (config-only) TURN ports 19020-19029.
"""

import sys
import time

from clusterlib import NODE_TTL_MS, Driver, Nodes, Redis, until

REDIS_PORT = 19491
TTL = NODE_TTL_MS / 1000.0


def held_in_redis(redis, user):
    r = redis.client()
    try:
        vals = r.cmd("HVALS", f"icetest:qa:{user}") or []
    finally:
        r.close()
    return sum(int(v) for v in vals)


def test_limit_across_nodes(a, b, c):
    assert a.acquire("u")[0] == "ok"
    assert b.acquire("u")[0] == "ok"
    res, ms = c.acquire("u")
    assert res == "over_user", res
    assert c.acquire("u")[0] == "over_user", "a refusal holds nothing and changes nothing"
    assert c.metric('icestation_cluster_quota_total{result="over_user"}') == 2
    assert a.ask("release u", "ok")
    # The release is written back asynchronously; C is let in once it lands.
    _, took = until(lambda: c.acquire("u")[0] == "ok", 3, "C admitted after A's release")
    print(f"release visible to another node after {took * 1000:.0f} ms")
    assert b.acquire("u")[0] == "over_user", "B and C hold the two"


def test_rate_across_nodes(a, b, c):
    for d in (a, b, c, a):
        assert d.acquire("w")[0] == "ok"
        assert d.ask("release w", "ok")
    res, _ = b.acquire("w")
    assert res == "over_rate", f"the 5th Allocate in a minute is refused, got {res}"
    assert b.metric('icestation_cluster_quota_total{result="over_rate"}') == 1


def test_concurrent_on_one_node(redis, a):
    # Three acquires in flight at once on one node: two fit.
    for i in range(3):
        a.send(f"acquire x{i} x")
    results = sorted(a.expect(f"acquire x{i} ").split()[2] for i in range(3))
    assert results == ["ok", "ok", "over_user"], results
    # Whatever order the writes went in, Redis ends with the true count.
    until(lambda: held_in_redis(redis, "x") == 2, 3, "Redis holds 2 for x")
    assert a.ask("release x", "ok") and a.ask("release x", "ok")
    until(lambda: held_in_redis(redis, "x") == 0, 3, "Redis holds 0 for x")
    assert a.status()["users"] == 0, "a user with nothing held leaves the table"


def test_dead_node_expires(a, b):
    assert a.acquire("y")[0] == "ok"
    assert a.acquire("y")[0] == "ok"
    assert b.acquire("y")[0] == "over_user"
    a.kill9()
    t0 = time.monotonic()
    until(lambda: b.acquire("y")[0] == "ok", TTL + 2.0, "y admitted once A is gone")
    took = time.monotonic() - t0
    print(f"dead node's contributions dropped after {took * 1000:.0f} ms")
    assert took <= TTL + 0.5, f"{took:.2f}s after kill -9 (node-ttl {TTL}s)"


def test_table_bound(nodes):
    """The per-node user table is bounded: past it, the local count decides."""
    t = nodes.add(Driver("t", REDIS_PORT, 19023, env={"CLUSTER_MAX_USERS": "2"})).start()
    assert t.acquire("t1")[0] == "ok" and t.acquire("t2")[0] == "ok"
    res, ms = t.acquire("t3")
    assert res == "degraded" and ms < 100, (res, ms)  # at once, not after the 1 s timeout
    assert t.metric('icestation_cluster_degraded_total{op="quota"}') == 1
    assert t.status()["users"] == 2
    assert t.ask("release t1", "ok")
    until(lambda: t.status()["users"] == 1, 3, "t1's entry freed once written back")
    assert t.acquire("t3")[0] == "ok"
    t.stop()


def main():
    with Redis(REDIS_PORT) as redis, Nodes() as nodes:
        kw = dict(per_user=2, per_minute=4)
        a = nodes.add(Driver("a", REDIS_PORT, 19020, **kw)).start()
        b = nodes.add(Driver("b", REDIS_PORT, 19021, **kw)).start()
        c = nodes.add(Driver("c", REDIS_PORT, 19022, **kw)).start()
        for d in (a, b, c):
            until(lambda d=d: len(d.nodes()) == 3, 5, f"{d.id} sees three nodes")
        test_limit_across_nodes(a, b, c)
        test_rate_across_nodes(a, b, c)
        test_concurrent_on_one_node(redis, a)
        test_dead_node_expires(a, b)
        test_table_bound(nodes)
        for d in (b, c):
            assert d.metric('icestation_cluster_degraded_total{op="quota"}') == 0
    print("quota: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
