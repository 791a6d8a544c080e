"""How a node reaches Redis, and the failures docs/cluster.md lists that are
not about Redis being down: a password (redis-password-file) over a unix
socket, a DNS name (resolved without blocking, from /etc/hosts) with a
database number, a wrong password (one log line, retried, never up), a
SCRIPT FLUSH (NOSCRIPT: scripts loaded again), Redis out of memory (writes
refused: degraded, counted, then back), a record that does not decode
(skipped, counted), and a pub/sub connection that dies silently (noticed by
the missing ping, reconnected, the revocation set loaded again).
Ports: Redis 19494 and 19495; the relay 19100 (listen range of tests/cluster).
"""

import os
import sys

from clusterlib import NODE_TTL_MS, Driver, Nodes, Proxy, Redis, until

PW_REDIS = 19494
PLAIN_REDIS = 19495
PROXY_PORT = 19100
PASSWORD = "pw-test-0123456789"


def write_secret(driver_dir, text):
    path = os.path.join(driver_dir, "redis-password")
    with open(path, "w") as f:
        f.write(text + "\n")
    os.chmod(path, 0o600)
    return path


def metric_grows(driver, name, before, timeout=3):
    until(lambda: driver.metric(name) > before, timeout, f"{driver.id}: {name} grows")


def password_unix_dns(redis, nodes):
    a = nodes.add(Driver("a", PW_REDIS, 19060, redis_url=f"unix:{redis.unix}"))
    b = nodes.add(Driver("b", PW_REDIS, 19061, redis_url=f"redis://localhost:{PW_REDIS}/3"))
    bad = nodes.add(Driver("bad", PW_REDIS, 19062))
    for d, pw in ((a, PASSWORD), (b, PASSWORD), (bad, "wrong-password")):
        path = write_secret(d.dir, pw)
        with open(d.path, "a") as f:
            f.write(f"        redis-password-file: {path}\n")
    a.start()
    b.start()
    r = redis.client()

    def registered(db, node):
        r.cmd("SELECT", db)
        return r.cmd("EXISTS", f"icetest:node:{node}") == 1

    until(lambda: registered(0, "a") and registered(3, "b"), 3, "a in db 0, b in db 3")
    assert not registered(0, "b") and not registered(3, "a"), "b selected database 3"
    r.close()
    names = redis.client().cmd("CLIENT", "LIST")
    assert "icestation-a-cmd" in names and "icestation-b-sub" in names
    b.stop()  # from here a is Redis's only client: a SCRIPT FLUSH hits a alone

    bad.start(wait_up=False)
    until(lambda: bad.metric('icestation_cluster_redis_errors_total{kind="connect"}') >= 3, 10,
          "three refused attempts")
    lines = [l for l in bad.stderr().splitlines() if "cluster: Redis" in l]
    assert len(lines) == 1 and "unreachable" in lines[0] and "AUTH refused" in lines[0], lines
    assert bad.metric('icestation_cluster_redis_errors_total{kind="reply"}') >= 3
    assert bad.status()["up"] == 0 and bad.ice() == ["bad"]
    bad.stop()
    return a


def noscript_oom_bad_record(redis, a):
    # SCRIPT FLUSH: the next call gets NOSCRIPT, the scripts are loaded again.
    errors = a.metric('icestation_cluster_redis_errors_total{kind="reply"}')
    r = redis.client()
    r.cmd("SCRIPT", "FLUSH")
    metric_grows(a, 'icestation_cluster_redis_errors_total{kind="reply"}', errors)
    until(lambda: a.acquire("n1")[0] == "ok", 3, "acquire works again after SCRIPT FLUSH")
    assert a.status()["up"] == 1

    # Out of memory with noeviction: writes refused, counted, degraded; then back.
    r.cmd("CONFIG", "SET", "maxmemory-policy", "noeviction")
    r.cmd("CONFIG", "SET", "maxmemory", "1")
    errors = a.metric('icestation_cluster_redis_errors_total{kind="reply"}')
    degraded = a.metric('icestation_cluster_degraded_total{op="quota"}')
    assert a.acquire("n2")[0] == "degraded"
    assert a.metric('icestation_cluster_redis_errors_total{kind="reply"}') > errors
    assert a.metric('icestation_cluster_degraded_total{op="quota"}') == degraded + 1
    r.cmd("CONFIG", "SET", "maxmemory", "0")
    until(lambda: a.acquire("n3")[0] == "ok", 3, "acquire works once memory is back")

    # A record that does not decode: skipped and counted, the list still good.
    bad_data = a.metric('icestation_cluster_redis_errors_total{kind="bad_data"}')
    r.cmd("SET", "icetest:node:bogus", "{not json", "PX", 60000)
    r.cmd("ZADD", "icetest:nodes", 99999999999999, "bogus")
    metric_grows(a, 'icestation_cluster_redis_errors_total{kind="bad_data"}', bad_data)
    assert a.nodes() == ["a"] and a.ice() == ["a"]
    r.close()


def silent_subscriber(nodes):
    with Redis(PLAIN_REDIS) as redis:
        proxy = Proxy(PROXY_PORT, PLAIN_REDIS)
        try:
            d = nodes.add(Driver("d", PLAIN_REDIS, 19063,
                                 redis_url=f"redis://127.0.0.1:{PROXY_PORT}/0")).start()
            e = nodes.add(Driver("e", PLAIN_REDIS, 19064)).start()
            assert proxy.silence_subscribers() == 1
            assert e.ask("revoke did:peers:ghost 600") == "revoke 0"
            e.expect("revoked did:peers:ghost ", timeout=1)
            # d cannot hear it; its heartbeats still succeed, its pings never come back.
            d.expect("state down", timeout=NODE_TTL_MS / 1000 + 2)
            d.expect("state up", timeout=5)
            d.expect("revoked did:peers:ghost ", timeout=2)
            assert "no message on the ping channel" in d.stderr()
            assert d.metric('icestation_cluster_redis_errors_total{kind="lost"}') == 1
            d.stop()
            e.stop()
        finally:
            proxy.close()
        redis.stop()


def main():
    with Nodes() as nodes:
        with Redis(PW_REDIS, password=PASSWORD) as redis:
            a = password_unix_dns(redis, nodes)
            noscript_oom_bad_record(redis, a)
            for d in nodes.all:
                d.stop()
        silent_subscriber(nodes)
    print("connect: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
