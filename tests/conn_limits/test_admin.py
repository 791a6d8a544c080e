"""The admin API's TCP listener under a flood from one address (issue 19):
127.0.0.1 opens slow connections (half a request line each) while
127.0.0.2, with the bearer token, gets /admin/v1/status answered 200
within a second after every batch. admin.max-connections-per-address below
admin.max-connections refuses the flood beyond its cap; after a reload
(SIGHUP) with the cap equal to the limit, the flood fills the listener,
its further connections are still refused (it holds its cap), and the
probe closes the flood's oldest pending connection. The counters match.
Ports 28200-28299."""

import signal
import sys

from floodlib import (ATTACKER, VICTIM, closed_set, evicted, flood, metrics_from, probe_http,
                      refused)
from icetest import Daemon, wait_for

HTTP, ADMIN = 28201, 28200
MAX, CAP = 8, 4
TOKEN = "conn-limits-admin-0123456789abcdef0123456789abcdef"
STATUS = "/admin/v1/status"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
HALF = b"GET /admin/v1/sta"
RELOAD_OK = 'icestation_config_reload_total{result="ok"}'


def probe(n=1):
    for _ in range(n):
        probe_http(VICTIM, ADMIN, STATUS, headers=AUTH)


def main():
    admin = {"listen": f"127.0.0.1:{ADMIN}", "bearer-tokens": [TOKEN], "max-connections": MAX,
             "max-connections-per-address": CAP}
    with Daemon(http_port=HTTP, stun_port=28202, secret="conn-limits-admin-s3cret-0123456789",
                admin=admin) as d:
        m0 = metrics_from(VICTIM, HTTP)
        first = []
        for _ in range(2):
            first += flood(ATTACKER, "127.0.0.1", ADMIN, 5, HALF)
            probe()
        beyond = set(range(CAP, 10))
        assert closed_set(first, beyond) == beyond, "not exactly those beyond the cap refused"
        m = metrics_from(VICTIM, HTTP)
        assert m[refused("admin", "per_address")] - m0.get(refused("admin", "per_address"), 0) \
            == 10 - CAP
        assert m.get(evicted("admin", "pending"), 0) == 0
        print("admin: over the per-address cap refused, 127.0.0.2 served")

        # The cap equals the limit from now on (a live reload).
        d.files["peers.yml"] = d.files["peers.yml"].replace(
            f"max-connections-per-address: {CAP}\n", f"max-connections-per-address: {MAX}\n")
        with open(d.config_path, "w") as f:
            f.write(d.files["peers.yml"])
        ok = m.get(RELOAD_OK, 0)
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: metrics_from(VICTIM, HTTP).get(RELOAD_OK, 0) == ok + 1, 10,
                 what="reload")
        # CAP still open; 10 more: CAP fit and fill the listener, the rest
        # are refused (the source holds its cap, so it may not evict); the
        # probe, under its cap, closes the oldest pending connection.
        second = flood(ATTACKER, "127.0.0.1", ADMIN, 10, HALF)
        probe()
        socks = first[:CAP] + second
        expect = {0} | set(range(CAP + MAX - CAP, CAP + 10))
        got = closed_set(socks, expect)
        assert got == expect, f"closed {sorted(got)}, expected {sorted(expect)}"
        m2 = metrics_from(VICTIM, HTTP)
        assert m2[evicted("admin", "pending")] == 1
        assert m2.get(evicted("admin", "served"), 0) == 0
        assert m2[refused("admin", "per_address")] - m[refused("admin", "per_address")] == \
            10 - (MAX - CAP)
        assert m2.get(refused("admin", "full"), 0) == 0
        for s in first + second:
            s.close()
        print("admin: full listener, its filler refused, oldest pending evicted, "
              "127.0.0.2 served")
    return 0


if __name__ == "__main__":
    sys.exit(main())
