"""Revocations through a real Redis: one node revokes, every node hears it
within 1 s; a node that joins later, or whose connections were cut while a
revocation went out, loads the set; expired entries are not delivered; bad
input is refused or counted, never fatal.
Ports: Redis 19492, (config-only) TURN ports 19030-19039.
"""

import signal
import sys
import time

from clusterlib import Driver, Nodes, Redis, until

REDIS_PORT = 19492


def revoked(driver, user, timeout):
    line = driver.expect(f"revoked {user} ", timeout=timeout)
    _, _, at, til = line.split()
    return int(at), int(til)


def kill_connections_of(redis, node_id):
    """CLIENT KILL every connection the node named (CLIENT SETNAME) as its own."""
    r = redis.client()
    try:
        killed = 0
        for line in r.cmd("CLIENT", "LIST").splitlines():
            fields = dict(f.split("=", 1) for f in line.split() if "=" in f)
            if fields.get("name", "").startswith(f"icestation-{node_id}-"):
                killed += r.cmd("CLIENT", "KILL", "ID", fields["id"])  # filter form: a count
        return killed
    finally:
        r.close()


def main():
    with Redis(REDIS_PORT) as redis, Nodes() as nodes:
        a = nodes.add(Driver("a", REDIS_PORT, 19030)).start()
        b = nodes.add(Driver("b", REDIS_PORT, 19031)).start()
        c = nodes.add(Driver("c", REDIS_PORT, 19032)).start()

        # One revocation reaches every node, the sender too, within 1 s.
        t0 = time.monotonic()
        assert a.ask("revoke did:peers:mallory 3600") == "revoke 0"
        for d in (b, c, a):
            at, til = revoked(d, "did:peers:mallory", timeout=1.0)
            assert til - at == 3600
        took = time.monotonic() - t0
        print(f"revocation on three nodes after {took * 1000:.0f} ms")
        assert took < 1.0
        r = redis.client()
        assert r.cmd("HGET", "icetest:revoked", "did:peers:mallory") == f"{at} {til}"
        assert 3500 < r.cmd("TTL", "icetest:revoked") <= 3600, "the set expires with its last entry"
        r.close()

        # A node that joins later loads the current set.
        d = nodes.add(Driver("d", REDIS_PORT, 19033)).start()
        revoked(d, "did:peers:mallory", timeout=2.0)

        # B is cut off while a revocation goes out; on reconnect it loads it.
        b.signal(signal.SIGSTOP)
        assert kill_connections_of(redis, "b") == 2
        assert a.ask("revoke did:peers:trudy 600") == "revoke 0"
        revoked(c, "did:peers:trudy", timeout=1.0)
        b.signal(signal.SIGCONT)
        b.expect("state down", timeout=3)
        b.expect("state up", timeout=5)
        revoked(b, "did:peers:trudy", timeout=2.0)
        assert b.metric('icestation_cluster_redis_errors_total{kind="lost"}') >= 1

        # An entry whose time is over is stored but never delivered again.
        assert a.ask("revoke did:peers:brief 1") == "revoke 0"
        _, til = revoked(c, "did:peers:brief", timeout=1.0)
        until(lambda: time.time() > til + 0.05, 3, "brief's revocation to end")
        e = nodes.add(Driver("e", REDIS_PORT, 19034)).start()
        revoked(e, "did:peers:mallory", timeout=2.0)
        revoked(e, "did:peers:trudy", timeout=2.0)
        e.ask("status")  # the load's lines all precede this answer
        assert not [x for x in e.events if x.startswith("revoked did:peers:brief ")], e.events

        # Bad input: refused by the API, counted (not fatal) off the wire.
        assert a.ask("revoke did:peers:x 0") == "revoke -22", "until must be after revoked_at"
        before = c.metric('icestation_cluster_redis_errors_total{kind="bad_data"}')
        r = redis.client()
        for junk in ("garbage", "1 2", "x 5 did:a", "1 99999999999 two words",
                     "1 99999999999 " + "u" * 300):
            r.cmd("PUBLISH", "icetest:revocations", junk)
        r.close()
        until(lambda: c.metric('icestation_cluster_redis_errors_total{kind="bad_data"}')
              == before + 5, 2, "five bad messages counted")
        assert c.ask("status").startswith("status up=1")
    print("revoke: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
