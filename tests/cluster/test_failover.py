"""Redis failures with two nodes: a stalled Redis (SIGSTOP) bounds every
acquire by quota-timeout, fails the excess of the pending queue at once and
drops the connection; a stopped Redis answers nothing and every node serves
on local state (degraded counted, ICE answer self alone, one log line per
state change); when Redis returns (resumed, or restarted empty) the nodes
re-register, write their quota contributions back and send the revocations
kept meanwhile, with no restart.
Ports: Redis 19493, (config-only) TURN ports 19040-19049.
"""

import sys
import time

from clusterlib import Driver, Nodes, Redis, until

REDIS_PORT = 19493
QUOTA_TIMEOUT_MS = 200
MAX_PENDING = 16
ENV = {"CLUSTER_MAX_PENDING": str(MAX_PENDING), "CLUSTER_COMMAND_TIMEOUT_MS": "400",
       "CLUSTER_RECONNECT_MAX_MS": "500"}


def held_in_redis(redis, user):
    r = redis.client()
    try:
        return sum(int(v) for v in (r.cmd("HVALS", f"icetest:qa:{user}") or []))
    finally:
        r.close()


def state_lines(driver):
    text = driver.stderr()
    down = sum("cluster: Redis" in l and ("lost" in l or "unreachable" in l)
               for l in text.splitlines())
    up = sum("cluster: Redis" in l and "reachable;" in l for l in text.splitlines())
    return down, up


def stalled(redis, a, b):
    redis.pause()
    # One acquire: bounded by quota-timeout, then DEGRADED.
    res, ms = a.acquire("z")
    print(f"acquire against a stalled Redis: {res} after {ms:.1f} ms")
    assert res == "degraded" and QUOTA_TIMEOUT_MS - 5 <= ms <= QUOTA_TIMEOUT_MS + 300, (res, ms)
    # A burst: the pending queue never grows past its bound; the rest fail at once.
    n = 3 * MAX_PENDING
    for i in range(n):
        a.send(f"acquire s{i} burst")
    times = [float(a.expect(f"acquire s{i} ", timeout=3).split()[3]) for i in range(n)]
    assert all(t <= QUOTA_TIMEOUT_MS + 300 for t in times), times
    assert sum(t < QUOTA_TIMEOUT_MS / 4 for t in times) >= n - MAX_PENDING, "the excess failed at once"
    assert a.metric('icestation_cluster_redis_errors_total{kind="queue_full"}') > 0
    assert a.status()["pending"] <= MAX_PENDING + 4
    assert a.metric('icestation_cluster_degraded_total{op="quota"}') == n + 1
    for i in range(n):
        assert a.ask("release burst", "ok")
    # Unanswered past its timeout plus a command timeout: the connection is dropped.
    a.expect("state down", timeout=3)
    b.expect("state down", timeout=3)
    assert a.metric('icestation_cluster_redis_errors_total{kind="timeout"}') > 0
    assert a.metric("icestation_cluster_redis_up") == 0
    assert a.ice() == ["a"] and b.ice() == ["b"], "Redis away: self alone"
    assert a.metric('icestation_cluster_degraded_total{op="nodes"}') >= 1
    # Attempts go on (connects succeed, handshakes time out) with one log line.
    until(lambda: a.metric('icestation_cluster_redis_errors_total{kind="connect"}') >= 2, 6,
          "two failed reconnects")
    assert state_lines(a) == (1, 1), a.stderr()
    # Work done meanwhile is kept for later.
    assert a.ask("revoke did:peers:eve 600") == "revoke 0"
    assert a.status()["outbox"] == 1
    assert a.metric('icestation_cluster_degraded_total{op="revoke"}') == 1
    assert a.ask("release q", "ok")  # 2 -> 1, Redis does not know yet
    redis.resume()
    a.expect("state up", timeout=5)
    b.expect("state up", timeout=5)
    b.expect("revoked did:peers:eve ", timeout=2)
    until(lambda: held_in_redis(redis, "q") == 1, 3, "A's release of q written back")
    assert a.status()["outbox"] == 0
    assert state_lines(a) == (1, 2), a.stderr()


def stopped_and_restarted(redis, a, b):
    redis.stop()
    a.expect("state down", timeout=3)
    b.expect("state down", timeout=3)
    res, ms = a.acquire("z2")
    assert res == "degraded" and ms < QUOTA_TIMEOUT_MS / 4, (res, ms)
    assert a.ice() == ["a"] and b.ice() == ["b"]
    assert a.ask("revoke did:peers:zed 600") == "revoke 0"
    # A new, empty Redis on the same port: no node is restarted.
    redis.start()
    t0 = time.monotonic()
    a.expect("state up", timeout=5)
    b.expect("state up", timeout=5)
    print(f"back after a Redis restart in {(time.monotonic() - t0) * 1000:.0f} ms")
    until(lambda: sorted(b.nodes()) == ["a", "b"] and sorted(a.nodes()) == ["a", "b"], 3,
          "both registered again")
    until(lambda: "a" in b.ice(), 3, "a handed out by b again")
    b.expect("revoked did:peers:zed ", timeout=2)
    r = redis.client()
    assert r.cmd("HEXISTS", "icetest:revoked", "did:peers:zed") == 1
    r.close()
    # A's contributions were written back into the empty Redis (q: 1 held,
    # plus the degraded z and z2 it took while Redis was away).
    until(lambda: held_in_redis(redis, "q") == 1, 3, "q written back")
    assert b.acquire("q")[0] == "ok"
    assert b.acquire("q")[0] == "over_user", "A's allocation of q counts again"


def main():
    with Redis(REDIS_PORT) as redis, Nodes() as nodes:
        a = nodes.add(Driver("a", REDIS_PORT, 19040, env=ENV,
                             quota_timeout=f"{QUOTA_TIMEOUT_MS}ms")).start()
        b = nodes.add(Driver("b", REDIS_PORT, 19041, env=ENV)).start()
        until(lambda: sorted(a.nodes()) == ["a", "b"], 5, "a sees a and b")
        assert a.acquire("q")[0] == "ok" and a.acquire("q")[0] == "ok"
        assert b.acquire("q")[0] == "over_user"
        assert a.metric("icestation_cluster_redis_up") == 1
        stalled(redis, a, b)
        stopped_and_restarted(redis, a, b)
    print("failover: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
