"""Per-user revocation (issue 11), on 2 workers. Two users each hold UDP
allocations (client sockets, each from another loopback address since one
address is served by one worker, are added until the user has allocations
on both workers; an allocation id is worker << 48 | sequence) and a TCP one,
all relaying through channels. Revoking one user by the admin API:
- its allocations are gone from the listing within 1 s, on both workers;
- its Refreshes get 437 or 401 (a TCP client may see its connection end)
  and nothing crosses its relays any more, in either direction;
- the other user's allocations all still relay and refresh;
- a new Allocate with its credential gets 401 (counted as revoked), and
  the ICE API answers 403 for it;
- icestation_turn_allocations_ended_total{reason="revoked"} equals the
  number of its allocations, icestation_turn_revocations is 1, the state
  file and the admin listing name it.
Unrevoking restores it (ICE API 200, a fresh credential allocates and
relays). Revoked again, the daemon is stopped and started on the same
state directory: the ICE API still answers 403 and the old credential 401.
Ports 10060-10069, relay 11120-11199."""

import json
import os
import sys
import time

from icetest import Daemon
from livelib import (allocations, alloc_worker, bind, both_ways, expect_error,
                     refresh_refused, user_path)
from turnclient import TurnClient, recv_from, udp_peer

HTTP, PORT = 10060, 10061
ALICE, BOB = "did:peers:alice", "did:peers:bob"
MAX_UDP = 12  # client sockets tried per user to cover both workers
SOURCES = {ALICE: "127.0.42", BOB: "127.0.43"}  # a /24 of client addresses each


class User:
    """One user's clients, all bound to one peer (a channel each)."""

    def __init__(self, d, name):
        self.d, self.name = d, name
        self.cred = d.turn_credentials(name)
        self.peer = udp_peer()
        self.clients = []

    def add(self, transport):
        local = f"{SOURCES[self.name]}.{len(self.clients) + 1}"
        c = TurnClient(("127.0.0.1", PORT), *self.cred, transport, local=local)
        c.allocate()
        c.number = 0x4000 + len(self.clients)
        bind(c, self.peer, c.number)
        self.clients.append(c)
        return c

    def workers(self):
        return {alloc_worker(i) for i in allocations(self.d, self.name)}

    def fill(self):
        self.add("tcp")
        while self.workers() != {0, 1}:
            assert len(self.clients) <= MAX_UDP, f"{self.name}: every socket on one worker"
            self.add("udp")
        self.add("udp")  # at least one UDP allocation, whatever the TCP one did

    def relay_all(self, tag):
        for c in self.clients:
            both_ways(c, self.peer, c.number, tag)

    def close(self):
        for c in self.clients:
            c.close()
        self.peer.close()


def ice_status(d, user):
    status, _, body = d.http("/api/v1/turn/ice-servers?user_did=" + user_path(user))
    return status, json.loads(body)


def all_stopped(u):
    """Nothing crosses any of u's relays, either way (one shared wait)."""
    relays = [c.relayed for c in u.clients]
    for c in u.clients:
        try:
            c.send_channel(c.number, b"revoked")
        except OSError:
            pass  # a closed TCP connection carries nothing either
    assert recv_from(u.peer, 0.5) is None, "a revoked user's data reached its peer"
    for r in relays:
        u.peer.sendto(b"to a revoked user", r)
    for c in u.clients:
        try:
            got = c.recv_relayed(0.1)
        except OSError:
            got = None
        assert got is None, f"a revoked user's client received {got}"


def revoke(d, alice, bob):
    n_alice = len(allocations(d, ALICE))
    t0 = time.monotonic()
    status, body = d.admin("POST", f"/admin/v1/users/{user_path(ALICE)}/revoke")
    assert status == 200 and body["status"] == "revoked" and body["user"] == ALICE, body
    # Answered once every worker applied it: nothing of the user is left
    # by the time the answer arrives, with no wait.
    assert body["applied"] is True, body
    took = time.monotonic() - t0
    left = allocations(d, ALICE)
    assert not left, f"{len(left)} allocations of the revoked user left after the answer"
    assert len(allocations(d, BOB)) == len(bob.clients)

    all_stopped(alice)
    codes = [refresh_refused(c) for c in alice.clients]
    bob.relay_all(b"bob is untouched")
    for c in bob.clients:
        c.refresh(600)

    again = TurnClient(("127.0.0.1", PORT), *alice.cred)
    revoked_auth = d.metric('icestation_turn_auth_failures_total{reason="revoked"}')
    expect_error(401, again.allocate)
    again.close()
    assert d.metric('icestation_turn_auth_failures_total{reason="revoked"}') > revoked_auth
    status, body = ice_status(d, ALICE)
    assert status == 403 and body["error"] == "revoked", (status, body)
    assert ice_status(d, BOB)[0] == 200

    m = d.metrics()
    assert m['icestation_turn_allocations_ended_total{reason="revoked"}'] == n_alice, m
    assert m["icestation_turn_revocations"] == 1
    assert m["icestation_turn_allocations"] == len(bob.clients)
    status, body = d.admin("GET", "/admin/v1/revocations")
    assert status == 200 and [r["user"] for r in body["revocations"]] == [ALICE], body
    with open(os.path.join(d.dir, "revocations.json")) as f:
        assert ALICE in f.read()
    print(f"revoked {ALICE}: {n_alice} allocations on both workers closed in {took:.3f}s, "
          f"Refresh answers {sorted(set(map(str, codes)))}, {BOB} untouched")


def unrevoke(d, alice):
    status, body = d.admin("DELETE", f"/admin/v1/users/{user_path(ALICE)}/revoke")
    assert status == 200 and body["status"] == "unrevoked" and body["applied"] is True, body
    assert ice_status(d, ALICE)[0] == 200
    assert d.metric("icestation_turn_revocations") == 0
    alice.close()
    fresh = User(d, ALICE)
    fresh.add("udp")
    fresh.relay_all(b"alice is back")
    print(f"unrevoked {ALICE}: ICE API 200, a fresh credential allocates")
    return fresh


def survives_restart(d, alice, bob):
    status, _ = d.admin("POST", f"/admin/v1/users/{user_path(ALICE)}/revoke")
    assert status == 200
    alice.close()
    bob.close()
    d.stop()
    d.start()
    assert "revocations: 1 loaded from" in d.log(), d.log()
    assert d.metric("icestation_turn_revocations") == 1
    assert ice_status(d, ALICE)[0] == 403
    c = TurnClient(("127.0.0.1", PORT), *alice.cred)
    expect_error(401, c.allocate)
    c.close()
    c = TurnClient(("127.0.0.1", PORT), *bob.cred)
    c.allocate()
    c.refresh(0)
    c.close()
    print("the revocation survives a restart: ICE API 403, old credential 401")


def main():
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11120-11199",
            "max-allocations-per-user": 30}
    d = Daemon(http_port=HTTP, stun_port=PORT, workers=2, turn_extra=turn)
    d.reconfigure(server={"state-directory": d.dir})
    with d:
        alice, bob = User(d, ALICE), User(d, BOB)
        alice.fill()
        bob.fill()
        alice.relay_all(b"before")
        bob.relay_all(b"before")
        revoke(d, alice, bob)
        alice = unrevoke(d, alice)
        survives_restart(d, alice, bob)
    return 0


if __name__ == "__main__":
    sys.exit(main())
