"""An unusable public address fails readiness (docs/configuration.md,
"public-ip"). In a network namespace with no route out, "public-ip: auto"
finds nothing: the daemon starts and serves, but /readyz answers 503 naming
both public addresses, the ICE API answers 503 not_ready with Retry-After
and says what to set, and the log says it at error level (naming
PEERS_STUN_PUBLIC_IP / PEERS_TURN_PUBLIC_IP) instead of falling back to
127.0.0.1. Setting the variables makes it ready, and so does a route
that appears while it runs (public-ip: auto follows the host, no restart).
With an outward interface
but listen: [127.0.0.1], auto's address is one no socket receives: 503 too,
and no stun:<address> is handed out. With a private outward address (a
cloud VM) it is ready and the log warns, naming the variable.
Runs in its own network namespace (netns.py). Ports 17040-17049."""

import json
import sys

import netns
from icetest import Daemon, wait_for

ICE = "/api/v1/turn/ice-servers?user_did=did:peers:alice"


def not_ready(d, missing, says):
    status, hdrs, body = d.http("/readyz")
    assert status == 503, (status, body)
    assert json.loads(body) == {"status": "not_ready", "missing": missing}, body
    status, hdrs, body = d.http(ICE)
    assert status == 503, (status, body)
    assert hdrs.get("retry-after") == "30", hdrs
    doc = json.loads(body)
    assert doc["error"] == "not_ready", doc
    assert says in doc["detail"], doc
    assert "stun:" not in body.decode() and "turn:" not in body.decode(), body


def no_route():
    both = ["stun public address", "turn public address"]
    d = Daemon(http_port=17040, stun_port=17041, public_ip="auto")
    try:
        d.start(readyz=503)
        not_ready(d, both, "PEERS_STUN_PUBLIC_IP")
        log = d.log()
        for var in ("PEERS_STUN_PUBLIC_IP", "PEERS_TURN_PUBLIC_IP"):
            line = next((ln for ln in log.splitlines() if "not ready" in ln and var in ln), None)
            assert line is not None and "ERROR" in line.upper(), log
        assert "using 127.0.0.1" not in log, log
        d.stop()
    finally:
        d.kill()
        d.cleanup()
    # What the log line says to set, set: ready.
    env = {"PEERS_STUN_PUBLIC_IP": "127.0.0.1", "PEERS_TURN_PUBLIC_IP": "127.0.0.1"}
    with Daemon(http_port=17042, stun_port=17043, public_ip="auto", env=env) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"][0] == {"urls": ["stun:127.0.0.1:17043"]}, doc
    print("no route: not ready, says what to set; set, ready")


def route_appears():
    """Not ready for want of a route; the host gains one: public-ip auto
    follows it (docs/configuration.md) and the daemon becomes ready, with no
    restart."""
    d = Daemon(http_port=17042, stun_port=17043, public_ip="auto", listen=("0.0.0.0",))
    try:
        d.start(readyz=503)
        netns.add_outward("192.0.2.2")
        wait_for(lambda: d.http("/readyz")[0] == 200, 10, interval=0.1,
                 what="ready once a route appears")
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"][0] == {"urls": ["stun:192.0.2.2:17043"]}, doc
        d.stop()
    finally:
        d.kill()
        d.cleanup()
    print("a route appears: ready, advertising it")


def loopback_listen():
    d = Daemon(http_port=17044, stun_port=17045, public_ip="auto")
    try:
        d.start(readyz=503)
        not_ready(d, ["stun public address", "turn public address"], "192.0.2.2")
        d.stop()
    finally:
        d.kill()
        d.cleanup()
    # Listening on the address too: ready, and it is what is handed out.
    with Daemon(http_port=17046, stun_port=17047, public_ip="auto",
                listen=("127.0.0.1", "192.0.2.2")) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"][0] == {"urls": ["stun:192.0.2.2:17047"]}, doc
        assert "private address" not in d.log()
    print("loopback-only listen with auto: not ready; listening on it: ready")


def private_outward():
    netns.add_outward("10.20.30.40")
    with Daemon(http_port=17048, stun_port=17049, public_ip="auto", listen=("0.0.0.0",)) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"][0] == {"urls": ["stun:10.20.30.40:17049"]}, doc
        warn = [ln for ln in d.log().splitlines() if "private address" in ln]
        assert warn and all("10.20.30.40" in ln for ln in warn), d.log()
        assert any("PEERS_TURN_PUBLIC_IP" in ln for ln in warn), warn
    print("private outward address: ready, with a warning naming the variable")


def main():
    netns.enter()
    no_route()
    route_appears()
    loopback_listen()
    private_outward()
    return 0


if __name__ == "__main__":
    sys.exit(main())
