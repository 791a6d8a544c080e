"""Readiness per family (issue 22 with docs/configuration.md, "public-ip"):
with public-ip: auto on a dual-stack host, an address that no listen
address receives is a fault of its own family. In a network namespace of
its own whose outward interface holds 192.0.2.2 and 2001:db8:1::2 (each
with a default route), a daemon listening on 0.0.0.0 and ::1 finds both;
the IPv6 one reaches nothing (::1 receives only loopback), so /readyz names
"stun ipv6 public address" and "turn ipv6 public address" (not the IPv4
ones), the ICE API answers 503 naming that address, and the log says it
per family. Listening on :: too: ready, both families advertised.
Ports 4080-4083, relays 4950-4959 (tests/PORTS.md), inside the namespace."""

import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "defaults"))
import netns  # noqa: E402  (tests/defaults)
from dualstack import Daemon, SECRET  # noqa: E402

V4, V6 = "192.0.2.2", "2001:db8:1::2"


def outward_both():
    """The namespace's veth holds V4/24 and V6/64, a default route of each."""
    netns.add_outward(V4)
    dev = netns._made[-1]
    netns._ip("-6", "addr", "add", f"{V6}/64", "dev", dev, "nodad")
    netns._ip("-6", "route", "replace", "default", "via", "2001:db8:1::1", "dev", dev)


def daemon(port, http_port, listen):
    return Daemon(http_port=http_port, stun_port=port, listen=listen, public_ip="auto",
                  secret=SECRET, workers=1,
                  turn_extra={"relay-ip-range": "auto", "relay-port-range": "4950-4959"})


def v6_unlistened():
    d = daemon(4080, 4081, ("0.0.0.0", "::1"))
    try:
        d.start(readyz=503)
        status, _, body = d.http("/readyz")
        assert status == 503, (status, body)
        assert json.loads(body) == {"status": "not_ready", "missing": [
            "stun ipv6 public address", "turn ipv6 public address"]}, body
        status, hdrs, body = d.http("/api/v1/turn/ice-servers?user_did=did:peers:alice")
        assert status == 503, (status, body)
        doc = json.loads(body)
        assert doc["error"] == "not_ready" and V6 in doc["detail"], doc
        lines = [ln for ln in d.log().splitlines() if "not ready" in ln]
        assert len(lines) == 2 and all(V6 in ln and V4 not in ln for ln in lines), lines
        d.stop()
    finally:
        d.kill()
        d.cleanup()
    print("auto, IPv6 address not listened: not ready, that family named")


def both_listened():
    with daemon(4082, 4083, ("0.0.0.0", "::")) as d:
        status, _, body = d.http("/readyz")
        assert status == 200, (status, body)
        assert json.loads(body) == {"status": "ready", "stun": ["ipv4", "ipv6"],
                                    "turn": ["ipv4", "ipv6"]}, body
        urls = d.ice_servers("did:peers:alice")["ice_servers"][0]["urls"]
        assert urls == [f"stun:{V4}:4082", f"stun:[{V6}]:4082"], urls
    print("auto, both listened: ready, both families")


def main():
    netns.enter()
    outward_both()
    v6_unlistened()
    both_listened()
    return 0


if __name__ == "__main__":
    sys.exit(main())
