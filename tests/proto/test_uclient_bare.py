#!/usr/bin/python3
"""coturn's turnutils_uclient -W <secret> with no -u: it then mints the bare
username "<now + 1 day>" (no ":user"), which coturn accepts and icestation
refused with 401 before. Relays through icestation to turnutils_peer over
UDP (channels, and Send/Data indications) and TCP, with uclient's loss
figure checked (0 lost, every byte back), and the same with a wrong secret
refused. Ports: 18000-18002, relays 18500-18599 (tests/PORTS.md)."""

import sys
import time
import types

import protolib
import test_uclient  # tests/interop: turnutils_peer, uclient runs, summary parsing

PORT, HTTP, PEER = 18000, 18001, 18002


def main():
    t0 = time.monotonic()
    with protolib.daemon(PORT, HTTP, (18500, 18599)) as d:
        server = types.SimpleNamespace(host="127.0.0.1", port=PORT)
        peer = test_uclient.start_peer(PEER)
        try:
            w = ["-W", protolib.SECRET]
            test_uclient.expect_relay(server, PEER, "udp channels (-W, bare expiry)", w, 200)
            test_uclient.expect_relay(server, PEER, "udp send/data (-W -s, bare expiry)",
                                      w + ["-s"], 120)
            test_uclient.expect_relay(server, PEER, "tcp channels (-t -W, bare expiry)",
                                      ["-t"] + w, 200)
            test_uclient.expect_refused(server, PEER, "wrong secret (-W, bare expiry)",
                                        ["-W", protolib.SECRET + "x"])
        finally:
            test_uclient.stop(peer)
        m = d.metrics()
        # uclient -m 2: at least two allocations per relaying run, every
        # one with a bare-expiry username, none of which was refused as
        # not a REST username.
        assert m["icestation_turn_allocations_created_total"] >= 3 * 2, m
        assert m['icestation_turn_auth_failures_total{reason="bad_username"}'] == 0, m
    print(f"PASS test_uclient_bare in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
