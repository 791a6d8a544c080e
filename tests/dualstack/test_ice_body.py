#!/usr/bin/python3
"""The ICE API body and /readyz for a v4-only, a v6-only and a dual-stack
Station (issue 22): STUN and TURN URLs for each family served, IPv4 first;
the env override's comma list; /readyz naming each family."""

import json
import os

import dualstack

PORT = 4000  # listen ports 4000-4019 (two per case), relays 4100-4199


def body(d):
    doc = d.ice_servers("did:peers:ds")
    stun = [e["urls"] for e in doc["ice_servers"] if "username" not in e]
    return stun, dualstack.turn_entry(doc)["urls"]


def readyz(d):
    status, _, raw = d.http("/readyz")
    assert status == 200, (status, raw)
    return json.loads(raw)


def case(name, family, n, want_stun, want_turn, want_fams, **kw):
    port, http = PORT + 2 * n, PORT + 2 * n + 1
    with dualstack.daemon(family, port, http, (4100 + 20 * n, 4119 + 20 * n), **kw) as d:
        stun, turn = body(d)
        want_turn = [u.format(p=port) for u in want_turn]
        assert stun == [[u.format(p=port) for u in want_stun]], f"{name}: stun {stun}"
        assert turn == want_turn, f"{name}: turn {turn}\nwant {want_turn}"
        ready = readyz(d)
        assert ready == {"status": "ready", "stun": want_fams, "turn": want_fams}, \
            f"{name}: /readyz {ready}"
    print(f"ok {name}: {stun[0]} {turn}")


def main():
    v4 = ["turn:127.0.0.1:{p}?transport=udp", "turn:127.0.0.1:{p}?transport=tcp"]
    v6 = ["turn:[::1]:{p}?transport=udp", "turn:[::1]:{p}?transport=tcp"]
    case("v4-only", "v4", 0, ["stun:127.0.0.1:{p}"], v4, ["ipv4"])
    case("v6-only", "v6", 1, ["stun:[::1]:{p}"], v6, ["ipv6"])
    # Written IPv6 first: the answer still lists IPv4 first.
    case("dual-stack", "dual", 2, ["stun:127.0.0.1:{p}", "stun:[::1]:{p}"], v4 + v6,
         ["ipv4", "ipv6"], public_ip=["::1", "127.0.0.1"])
    # The env override takes a comma list, one per family, and wins.
    case("dual-stack from the env", "dual", 3, ["stun:127.0.0.1:{p}", "stun:[::1]:{p}"],
         v4 + v6, ["ipv4", "ipv6"], public_ip="127.0.0.1",
         env={"PEERS_TURN_PUBLIC_IP": "::1,127.0.0.1", "PEERS_STUN_PUBLIC_IP": "::1, 127.0.0.1"})
    print("PASS test_ice_body")


if __name__ == "__main__":
    main()
