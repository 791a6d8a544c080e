"""A daemon serving both families on loopback (issue 22), for the tests in
this directory: STUN/TURN on 127.0.0.1 and ::1, public-ip set to either or
both, relays on 127.0.0.1 and ::1 inside this suite's relay ports
(tests/PORTS.md: listen 4000-4099, relay 4100-4999)."""

import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from icetest import Daemon, wait_for  # noqa: E402,F401

sys.path.insert(0, os.path.join(os.path.dirname(HERE), "turn_net"))
import turnclient  # noqa: E402  (tests/turn_net)

SECRET = "dualstack-s3cret-0123456789abcdef"
FAMILY_LISTEN = {"v4": ["127.0.0.1"], "v6": ["::1"], "dual": ["127.0.0.1", "::1"]}
FAMILY_RANGE = {"v4": ["127.0.0.1/32"], "v6": ["::1/128"], "dual": ["127.0.0.1/32", "::1/128"]}


def daemon(family, port, http_port, relay, public_ip=None, tls=None, **kw):
    """A Daemon listening (and relaying) on the loopback addresses of
    family ("v4", "v6" or "dual"), advertising public_ip (default: those
    same addresses). relay is the (lo, hi) relay port range."""
    listen = FAMILY_LISTEN[family]
    pub = public_ip if public_ip is not None else (listen if len(listen) > 1 else listen[0])
    turn_extra = {
        "relay-ip-range": FAMILY_RANGE[family],
        "relay-port-range": f"{relay[0]}-{relay[1]}",
        "allowed-peer-ip": ["127.0.0.0/8", "::1/128"],
        "allocations-per-minute-per-user": 1000,
        "max-allocations-per-user": 100,
        "ice-api": {"public-fallback": {"enabled": False}},
    }
    turn_extra.update(kw.pop("turn_extra", {}))
    return Daemon(http_port=http_port, stun_port=port, listen=listen, public_ip=pub,
                  secret=SECRET, workers=1, turn_extra=turn_extra, **kw)


def turn_entry(doc):
    return next(e for e in doc["ice_servers"] if "username" in e)


def dual_allocate(d, server, attr, user, want_hosts, relay):
    """One Allocate over server (host, port) with ADDITIONAL-ADDRESS-FAMILY
    IPv6 as attribute attr (0x8000, RFC 8656; 0x8032, the draft number
    turnutils_uclient -Z sends): both XOR-RELAYED-ADDRESSes must come back,
    IPv4 first, on want_hosts and in the relay port range. Returns them."""
    entry = turn_entry(d.ice_servers(user))
    c = turnclient.TurnClient(server, entry["username"], entry["credential"],
                              local="::1" if ":" in server[0] else "127.0.0.1")
    try:
        r = c.allocate(extra=[(attr, struct.pack("!B3x", 2))])
        relayed = [turnclient.unxor_addr(v, r.tid) for t, v, _ in r.attrs
                   if t == turnclient.A_XOR_RELAYED]
        assert [h for h, _ in relayed] == list(want_hosts), f"{attr:#x}: {relayed}"
        assert all(relay[0] <= p <= relay[1] for _, p in relayed), relayed
        c.refresh(0)
    finally:
        c.sock.close()
    print(f"ok dual Allocate over {server[0]} (attribute {attr:#06x}): relayed {relayed}")
    return relayed
