"""The ICE API under a flood from one address (issue 19): 127.0.0.1 opens
slow connections (half a request line each) up to the global limit and
beyond; a request from 127.0.0.2 is answered 200 within a second after
every batch. First with http.max-connections-per-address below
max-connections (the flood is refused beyond its cap), then, after a live
reload, with the cap equal to the limit (the flood fills the listener and
each newcomer closes the oldest connection that has completed no request,
while an older connection that has completed one stays). The counters and
the log match what the test did. Ports 28000-28099."""

import socket
import sys

from floodlib import (ATTACKER, VICTIM, close_all, closed_set, evicted, flood,
                      keepalive_get, log_lines, metrics_from, probe_http, refused,
                      reload)
from icetest import Daemon, wait_for

HTTP = 28000
MAX, CAP = 32, 8
ICE = "/api/v1/turn/ice-servers?user_did=did:peers:alice"
HALF = b"GET /api/v1/turn/ice-servers?user_di"  # half a request line, then nothing
OPEN = "icestation_http_connections_open"
SUPPRESSED = "icestation_log_suppressed_total"


def delta(before, after, key):
    return after.get(key, 0) - before.get(key, 0)


def over_cap(d):
    """The flood's connections beyond its cap are closed at once, counted,
    logged once; the victim is served after every batch."""
    m0 = metrics_from(VICTIM, HTTP)
    socks = []
    try:
        for _ in range(4):
            socks += flood(ATTACKER, "127.0.0.1", HTTP, 10, HALF)
            probe_http(VICTIM, HTTP, ICE)
        assert closed_set(socks, set(range(CAP, 40))) == set(range(CAP, 40)), \
            "not exactly the connections beyond the cap were refused"
        m = metrics_from(VICTIM, HTTP)
        assert delta(m0, m, refused("http", "per_address")) == 40 - CAP
        assert delta(m0, m, refused("http", "full")) == 0
        assert delta(m0, m, evicted("http", "pending")) == 0
        assert m[OPEN] == CAP + 1  # the flood's, and this scrape
        # One line for the source in its minute; the other refusals counted.
        lines = log_lines(d, r"conn: connection refused.*listener=http client=127\.0\.0\.1 "
                             r"reason=per_address")
        assert len(lines) == 1, lines
        assert delta(m0, m, SUPPRESSED) == 40 - CAP - 1
    finally:
        close_all(socks)
    wait_for(lambda: metrics_from(VICTIM, HTTP)[OPEN] == 1, 5, what="flood released")
    print("http: over the per-address cap refused, 127.0.0.2 served")


def full_listener(d):
    """Cap = limit (a live reload): the flood fills the listener; newcomers
    evict its oldest pending connections, never the older served one."""
    d.files["peers.yml"] = d.files["peers.yml"].replace(
        f"max-connections-per-address: {CAP}\n", f"max-connections-per-address: {MAX}\n")
    with open(d.config_path, "w") as f:
        f.write(d.files["peers.yml"])
    reload(d)
    m0 = metrics_from(VICTIM, HTTP)
    served = socket.create_connection(("127.0.0.1", HTTP), timeout=5,
                                      source_address=(VICTIM, 0))
    socks = []
    try:
        assert keepalive_get(served, "/healthz") == 200
        # served + 30 flood: 31 open; probes come and go.
        for _ in range(3):
            socks += flood(ATTACKER, "127.0.0.1", HTTP, 10, HALF)
            probe_http(VICTIM, HTTP, ICE)
        # 10 more: one fits, nine evict the flood's oldest; the probe a tenth.
        socks += flood(ATTACKER, "127.0.0.1", HTTP, 10, HALF)
        probe_http(VICTIM, HTTP, ICE)
        got = closed_set(socks, set(range(10)))
        assert got == set(range(10)), f"evicted {sorted(got)}, expected the ten oldest"
        m = metrics_from(VICTIM, HTTP)  # 31 open before it: no eviction
        assert delta(m0, m, evicted("http", "pending")) == 10
        assert delta(m0, m, evicted("http", "served")) == 0
        assert delta(m0, m, refused("http", "per_address")) == 0
        assert delta(m0, m, refused("http", "full")) == 0
        assert m[OPEN] == MAX
        # The served connection, older than all of them, was never picked.
        assert keepalive_get(served, "/healthz") == 200
    finally:
        served.close()
        close_all(socks)
    print("http: full listener, oldest pending evicted, served kept, 127.0.0.2 served")


def main():
    with Daemon(http_port=HTTP, stun_port=28001, secret="conn-limits-http-s3cret-0123456789",
                http_extra={"max-connections": MAX, "max-connections-per-address": CAP,
                            "timeout": "20s"}) as d:
        over_cap(d)
        full_listener(d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
