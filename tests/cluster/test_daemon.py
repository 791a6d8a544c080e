"""Three real daemons in one cluster on a test-owned redis-server (issue 14).

- Every node's ICE API lists all three nodes, itself first (self-first).
- The per-user allocation quota holds across nodes: with
  max-allocations-per-user 2, a user's third Allocate, on a third node,
  gets 486; after one allocation ends anywhere it succeeds.
- A revocation made on one node closes the user's allocation on another
  and makes every ICE API refuse the user (403).
- A client challenged by one node authenticates on another with the first
  node's nonce (anycast): the nodes share the nonce key, so no 438.
- icestationctl cluster lists the nodes and their state.
- A draining node leaves the other nodes' answers; a node killed with
  SIGKILL leaves them within node-ttl.
- A reload that changes the cluster section keeps the running one and
  says a restart is needed.
- Redis stopped: the nodes keep serving alone (ICE API with self only,
  Allocate on the local quota); Redis back on the same port: they register
  again and list each other, without a restart.

Ports: Redis 19496; nodes' HTTP 19200/19210/19220, STUN/TURN
19201/19211/19221 (tests/PORTS.md: tests/cluster listen 19000-19499), relay
19500-19599."""

import hashlib
import socket
import struct
import sys
import time

from clusterlib import Redis
from icetest import Daemon, wait_for
from turnclient import (ALLOCATE, A_NONCE, A_REALM, A_REQUESTED_TRANSPORT, A_USERNAME,
                        ERROR, REFRESH, A_LIFETIME, REQUEST, SUCCESS, Msg, TurnClient,
                        TurnError, encode, udp_peer)

REDIS_PORT = 19496
NODES = {"a": (19200, 19201), "b": (19210, 19211), "c": (19220, 19221)}
RELAY = {"a": "19500-19529", "b": "19530-19559", "c": "19560-19589"}
HEARTBEAT = "200ms"
NODE_TTL_S = 1.0


def node(name):
    http, port = NODES[name]
    cluster = {"enabled": True, "redis": f"redis://127.0.0.1:{REDIS_PORT}/0",
               "key-prefix": "ictest:", "node-id": name, "heartbeat": HEARTBEAT,
               "node-ttl": f"{int(NODE_TTL_S * 1000)}ms", "quota-timeout": "200ms",
               "ice-api": {"nodes": 3, "strategy": "self-first"}}
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": RELAY[name],
            "max-allocations-per-user": 2}
    return Daemon(http_port=http, stun_port=port, turn_extra=turn,
                  server_extra={"cluster": cluster})


def turn_ports(d, user="did:peers:probe"):
    """The TURN/UDP ports d's ICE API hands out, in its order."""
    out = []
    for e in d.ice_servers(user)["ice_servers"]:
        for url in e["urls"]:
            if url.startswith("turn:") and "transport=udp" in url:
                out.append(int(url.split("?")[0].rsplit(":", 1)[1]))
    return out


def listed(d, names):
    want = [NODES[n][1] for n in names]
    return lambda: turn_ports(d) == want


def allocate(name, user, pw):
    c = TurnClient(("127.0.0.1", NODES[name][1]), user, pw)
    c.allocate()
    return c


def quota_across_nodes(ds):
    user, pw = ds["a"].turn_credentials("did:peers:quota")
    first = allocate("a", user, pw)
    second = allocate("b", user, pw)
    c = TurnClient(("127.0.0.1", NODES["c"][1]), user, pw)
    try:
        c.allocate()
        raise AssertionError("third allocation of a user with quota 2 was accepted")
    except TurnError as e:
        assert e.code == 486, f"expected 486 on the third node, got {e.code} {e.msg}"
    # A release reaches Redis asynchronously: the next attempt may come first.
    first.refresh(0)

    def third_ok():
        try:
            c.allocate()
            return True
        except TurnError as e:
            assert e.code == 486, e
            return False

    wait_for(third_ok, 5, what="the third node to admit after a release on the first")
    assert ds["c"].metric('icestation_cluster_quota_total{result="over_user"}') >= 1
    for cl in (second, c):
        cl.refresh(0)
        cl.close()
    first.close()


def revocation_everywhere(ds):
    user_did = "did:peers:revoked"
    user, pw = ds["a"].turn_credentials(user_did)
    on_b = allocate("b", user, pw)
    rc, out, err = ds["a"].ctl("revoke", user_did)
    assert rc == 0, (rc, out, err)

    def closed_on_b():
        st, body = ds["b"].admin("GET", "/admin/v1/allocations?user=" + user_did.replace(":", "%3A"))
        assert st == 200, (st, body)
        return body["allocations"] == []

    wait_for(closed_on_b, 5, what="the revocation made on a to close the allocation on b")
    for name in "abc":
        st, _, body = ds[name].http("/api/v1/turn/ice-servers?user_did=did%3Apeers%3Arevoked")
        assert st == 403, f"node {name} still mints for a revoked user: {st} {body!r}"
    # The old credential is refused everywhere too.
    c = TurnClient(("127.0.0.1", NODES["c"][1]), user, pw)
    try:
        c.allocate()
        raise AssertionError("a revoked user's credential allocated on node c")
    except TurnError as e:
        assert e.code in (401, 403), e
    c.close()
    on_b.close()


def nonce_across_nodes(ds):
    """401 from node a, the signed Allocate with a's nonce to node b, from
    the same client address and port: b accepts it at once."""
    user, pw = ds["a"].turn_credentials("did:peers:anycast")
    udp = [(A_REQUESTED_TRANSPORT, struct.pack("!B3x", 17))]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5)

    def ask(name, method, attrs, key=None):
        req, tid = encode(method, REQUEST, attrs, key=key)
        s.sendto(req, ("127.0.0.1", NODES[name][1]))
        while True:
            m = Msg(s.recv(4096))
            if m.tid == tid:
                return m

    try:
        r = ask("a", ALLOCATE, udp)
        assert r.cls == ERROR and r.error() == 401, r.error()
        realm, nonce = r.get(A_REALM), r.get(A_NONCE)
        key = hashlib.md5(user.encode() + b":" + realm + b":" + pw.encode()).digest()
        signed = [(A_USERNAME, user.encode()), (A_REALM, realm), (A_NONCE, nonce)]
        r = ask("b", ALLOCATE, udp + signed, key)
        assert r.cls == SUCCESS, f"node b refused node a's nonce: {r.error()}"
        r = ask("b", REFRESH, [(A_LIFETIME, b"\0\0\0\0")] + signed, key)
        assert r.cls == SUCCESS, r.error()
    finally:
        s.close()


def ctl_cluster(d):
    rc, out, err = d.ctl("cluster")
    assert rc == 0, (rc, out, err)
    assert "redis up, node a" in out, out
    for name in "abc":
        assert any(line.startswith(name + " ") and "healthy" in line
                   for line in out.splitlines()), out
    assert "(this node)" in out
    st, body = d.admin("GET", "/admin/v1/cluster")
    assert st == 200 and body["enabled"] and body["redis_up"], body
    assert sorted(n["id"] for n in body["nodes"]) == ["a", "b", "c"], body


def restart_only_reload(d):
    """A reload that changes the cluster section keeps the running one."""
    d.server_cfg["cluster"] = dict(d.server_cfg["cluster"], **{"node-id": "renamed",
                                                              "heartbeat": "300ms"})
    d.write_config()
    rc, out, err = d.ctl("reload")
    assert rc == 0, (rc, out, err)
    wait_for(lambda: "needs a restart" in d.log(), 5, what="the restart-only warning")
    line = [x for x in d.log().splitlines() if "needs a restart" in x][-1]
    assert "cluster.node-id" in line and "cluster.heartbeat" in line, line
    st, body = d.admin("GET", "/admin/v1/cluster")
    assert body["node_id"] == "a", body
    assert "renamed" not in [n["id"] for n in body["nodes"]], body


def redis_outage(ds, redis):
    a = ds["a"]
    redis.stop()
    wait_for(lambda: a.metric("icestation_cluster_redis_up") == 0, 5, what="redis_up 0")
    # Self alone, at once.
    wait_for(listed(a, ["a"]), 3, what="a to answer with itself alone")
    user, pw = a.turn_credentials("did:peers:outage")
    c = allocate("a", user, pw)  # local quota decides
    assert a.alive()
    redis.start()
    wait_for(lambda: a.metric("icestation_cluster_redis_up") == 1, 10, what="redis_up 1")
    wait_for(listed(a, ["a", "b"]), 10, what="a and b to list each other again")
    c.refresh(0)
    c.close()


def main():
    redis = Redis(REDIS_PORT)
    redis.start()
    ds = {}
    try:
        for name in "abc":
            ds[name] = node(name).start()
        for name in "abc":
            others = sorted(n for n in "abc" if n != name)
            wait_for(listed(ds[name], [name, *others]), 10,
                     what=f"node {name} to list the three nodes, itself first")
        ctl_cluster(ds["a"])
        quota_across_nodes(ds)
        revocation_everywhere(ds)
        nonce_across_nodes(ds)

        # A draining node with an allocation stays up (and listed as
        # draining by the others) until the allocation ends.
        user, pw = ds["c"].turn_credentials("did:peers:keeps-c-up")
        held = allocate("c", user, pw)
        st, _ = ds["c"].admin("POST", "/admin/v1/drain")
        assert st in (200, 202), st
        t0 = time.monotonic()
        wait_for(listed(ds["a"], ["a", "b"]), 3, what="the draining node to leave a's answer")
        print(f"drained node gone from a's answer after {time.monotonic() - t0:.2f}s")
        st, body = ds["a"].admin("GET", "/admin/v1/cluster")
        assert {n["id"]: n["state"] for n in body["nodes"]}.get("c") == "draining", body
        held.refresh(0)  # its last allocation ends: the node exits, removing its record
        held.close()
        wait_for(lambda: not ds["c"].alive(), 10, what="the drained node to exit")
        ds["c"].stop()

        peer = udp_peer()
        peer.close()
        ds["b"].proc.kill()
        t0 = time.monotonic()
        wait_for(listed(ds["a"], ["a"]), NODE_TTL_S + 2, what="the killed node to leave")
        gone = time.monotonic() - t0
        print(f"killed node gone from a's answer after {gone:.2f}s (node-ttl {NODE_TTL_S}s)")
        ds["b"].kill()
        ds["b"] = node("b").start()
        wait_for(listed(ds["a"], ["a", "b"]), 5, what="a restarted b to be listed")

        restart_only_reload(ds["a"])
        redis_outage(ds, redis)
        for name in ("a", "b"):
            ds[name].stop()
    except Exception:
        for d in ds.values():
            print(f"--- {d.config_path} ---\n{d.log()[-4000:]}", file=sys.stderr)
        raise
    finally:
        for d in ds.values():
            d.kill()
            d.cleanup()
        redis.stop()
    print("ok")


if __name__ == "__main__":
    main()
