"""public-ip: auto follows the host (issue 17), in a network namespace this
test creates, with the daemon started inside it (`ip netns exec`).

Relays bind rel0 (10.9.0.1, fd00:9::1); the outward route leaves through
wan0, which starts with no global address and no IPv4 route, so "auto" is
fd00:9::1 (the only global source for the IPv6 default route), advertised
as the relays' own address. Then:

- 2001:db8:5::5 added to wan0 becomes the outward address: within the
  documented 2 s the ICE API's stun: and turn: URLs and a new allocation's
  XOR-RELAYED-ADDRESS carry it, the change is logged and counted, the admin
  status shows it, and an allocation made before keeps working;
- removed, everything goes back to fd00:9::1 within 2 s;
- an IPv4 address and default route on wan0 make 198.51.100.10 the outward
  address (IPv4 is preferred), advertised on a new IPv4 allocation; removed
  (the kernel drops the route with it), fd00:9::1 again.

Last, the shared watch recovers from lost events: with the daemon stopped
(SIGSTOP), thousands of route changes overflow its netlink socket so that
the one address change after them is dropped by the kernel; resumed, the
daemon counts the overflow, reads the host again whole, and denies the new
address as a peer (issue 20) within 2 s.

Ports (tests/PORTS.md, tests/local_deny): 29100-29101, relays 29600-29699.
"""

import os
import signal
import struct
import sys
import time

from icetest import Daemon, wait_for
from netns import Netns
from turnclient import A_XOR_RELAYED, TurnClient
from turnpeers import permit

HTTP, PORT = 29100, 29101
RELAY4, RELAY6 = "10.9.0.1", "fd00:9::1"
WAN6, WAN4 = "2001:db8:5::5", "198.51.100.10"
LOST4 = "192.0.2.77"  # added in the change the kernel cannot deliver
DELAY = 2.0  # docs/configuration.md: the new address is advertised within 2 s
A_REQUESTED_ADDRESS_FAMILY = 0x0017
CHANGES = 'icestation_public_ip_changes_total{subserver="%s"}'


def setup(ns):
    ns.add_link("rel0", RELAY4 + "/24", RELAY6 + "/64")
    ns.add_link("wan0")
    ns.ip("-6", "route", "add", "default", "dev", "wan0")


def host_of(hostport):
    """"[2001:db8::1]:3478" -> "2001:db8::1", "192.0.2.1:3478" -> "192.0.2.1"."""
    return hostport.rsplit(":", 1)[0].strip("[]")


def api_hosts(d):
    """{scheme: host} of every URL the ICE API hands out (not the fallback)."""
    out = {}
    for entry in d.ice_servers("did:peers:follow")["ice_servers"]:
        for url in entry["urls"]:
            scheme, rest = url.split(":", 1)
            host = host_of(rest.split("?")[0])
            if "google" not in host:
                out[scheme] = host
    return out


def relayed(d, family):
    """The XOR-RELAYED-ADDRESS host of a new allocation of family (4 or 6)."""
    user, pw = d.turn_credentials()
    c = TurnClient(("127.0.0.1", PORT), user, pw)
    try:
        r = c.allocate(extra=[(A_REQUESTED_ADDRESS_FAMILY,
                               struct.pack("!B3x", 1 if family == 4 else 2))])
        host, _ = r.addr(A_XOR_RELAYED)
        c.refresh(0)
        return host
    finally:
        c.close()


def follows(d, want, what):
    """Seconds until the ICE API and a new allocation of want's family both
    advertise want; fails past DELAY. (The workers take the new generation
    at their next loop pass, which may come after the ICE API changed.)"""
    t0 = time.monotonic()
    wait_for(lambda: api_hosts(d) == {"stun": want, "turn": want}, DELAY, interval=0.02,
             what=f"the ICE API advertising {want} ({what})")
    left = max(DELAY - (time.monotonic() - t0), 0.05)
    wait_for(lambda: relayed(d, 6 if ":" in want else 4) == want, left, interval=0.02,
             what=f"a new allocation advertising {want} ({what})")
    took = time.monotonic() - t0
    status, body = d.admin("GET", "/admin/v1/status")
    turn = [s for s in body["subservers"] if s["name"] == "turn"][0]
    assert status == 200 and host_of(turn["public_addr"]) == want, turn
    print(f"{what}: {want} advertised after {took:.2f} s")
    return took


def overflow_resync(ns, d):
    """Route changes fill the stopped daemon's netlink socket, so the
    address change after them is lost (ENOBUFS); only a full re-read on the
    overflow finds it."""
    user, pw = d.turn_credentials()
    c = TurnClient(("127.0.0.1", PORT), user, pw)
    try:
        c.allocate()
        assert permit(c, (LOST4, 5000)) == 200
        path = os.path.join(d.dir, "burst.batch")
        with open(path, "w") as f:
            for _ in range(2000):
                f.write("route add 203.0.113.0/24 dev wan0\nroute del 203.0.113.0/24 dev wan0\n")
            f.write(f"addr add {LOST4}/32 dev wan0\n")
        overflows = d.metric("icestation_host_netlink_overflows_total")
        os.kill(d.proc.pid, signal.SIGSTOP)
        try:
            ns.ip("-batch", path)
        finally:
            os.kill(d.proc.pid, signal.SIGCONT)
        t0 = time.monotonic()
        wait_for(lambda: permit(c, (LOST4, 5000)) == 403, DELAY, interval=0.02,
                 what=f"{LOST4} denied after the overflow")
        took = time.monotonic() - t0
        assert d.metric("icestation_host_netlink_overflows_total") > overflows
        print(f"netlink overflow: counted, host read again, {LOST4} denied after {took:.2f} s")
    finally:
        c.close()


def main():
    with Netns("lp") as ns:
        setup(ns)
        # Wildcard listeners (harmless in this namespace): an auto address
        # no listen address receives would make the daemon not ready.
        with Daemon(http_port=HTTP, stun_port=PORT, listen=("0.0.0.0", "::"), public_ip="auto",
                    workers=2, wrapper=ns.exec_prefix(),
                    turn_extra={"relay-ip-range": [RELAY4 + "/32", RELAY6 + "/128"],
                                "relay-port-range": "29600-29699",
                                "allocations-per-minute-per-user": 1000}) as d:
            assert api_hosts(d) == {"stun": RELAY6, "turn": RELAY6}, api_hosts(d)
            assert relayed(d, 6) == RELAY6
            assert relayed(d, 4) == RELAY4
            user, pw = d.turn_credentials()
            old = TurnClient(("127.0.0.1", PORT), user, pw)
            try:
                old.allocate(extra=[(A_REQUESTED_ADDRESS_FAMILY, struct.pack("!B3x", 2))])
                assert old.relayed[0] == RELAY6

                ns.addr("add", WAN6 + "/64", "wan0")
                follows(d, WAN6, "IPv6 address added")
                assert d.metric(CHANGES % "turn") == 1 and d.metric(CHANGES % "stun") == 1
                assert f"public address {RELAY6} -> {WAN6}" in d.log(), d.log()
                assert "outside relay-ip-range" in d.log()
                assert relayed(d, 4) == RELAY4, "the IPv4 relay took the IPv6 public address"
                assert old.refresh(600).lifetime() == 600, "the live allocation was lost"

                ns.addr("del", WAN6 + "/64", "wan0")
                follows(d, RELAY6, "IPv6 address removed")
                assert d.metric(CHANGES % "turn") == 2

                ns.addr("add", WAN4 + "/24", "wan0")
                ns.ip("route", "add", "default", "dev", "wan0")
                follows(d, WAN4, "IPv4 address and route added")
                ns.addr("del", WAN4 + "/24", "wan0")
                follows(d, RELAY6, "IPv4 address removed")
                assert d.metric(CHANGES % "turn") == 4
                assert old.refresh(600).lifetime() == 600, "the live allocation was lost"
                overflow_resync(ns, d)
            finally:
                old.close()
    print("public-ip auto follows the host ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
