"""Drain (issue 11).

By the admin API, with no alternate server: /readyz answers 503
{"status":"draining"}, icestation_draining is 1 and the admin status says
draining; a new Allocate gets 486 with a reason saying "draining"; the
live allocation keeps refreshing, permitting, binding and relaying; the
daemon keeps running while it lives and exits 0 once it ends (Refresh 0).

By SIGUSR1, with turn.alternate-server: a new Allocate gets 300 with
ALTERNATE-SERVER carrying the configured address (and MESSAGE-INTEGRITY);
a live TCP allocation relays on; drain-timeout (2 s) ends the daemon with
exit 0 although the allocation is still there.
Ports 10050-10059, relay 11100-11119."""

import json
import signal
import socket
import struct
import sys
import time

from icetest import Daemon, wait_for
from livelib import bind, both_ways, caught_up, expect_error
from turnclient import A_ERROR_CODE, TurnClient, udp_peer

A_ALTERNATE_SERVER = 0x8023
ALTERNATE = ("127.0.0.1", 10059)
TURN = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11100-11119"}


def exits(d, within):
    """Wait for the daemon to end on its own; its clean stop is then checked."""
    wait_for(lambda: d.proc.poll() is not None, within, what="the daemon to exit")
    return d.stop(expect_code=0)


def draining_state(d):
    status, _, body = d.http("/readyz")
    assert status == 503 and json.loads(body) == {"status": "draining"}, (status, body)
    assert d.metric("icestation_draining") == 1
    status, st = d.admin("GET", "/admin/v1/status")
    assert status == 200 and st["status"] == "draining", st


def by_admin():
    http, port = 10050, 10051
    d = Daemon(http_port=http, stun_port=port, turn_extra=TURN)
    with d:
        user, pw = d.turn_credentials("did:peers:caller")
        c = TurnClient(("127.0.0.1", port), user, pw)
        p1, p2 = udp_peer(), udp_peer()
        c.allocate()
        bind(c, p1, 0x4000)
        assert d.metric("icestation_draining") == 0
        status, body = d.admin("POST", "/admin/v1/drain")
        # The answer waits for the workers: no barrier needed after it.
        assert status == 200 and body == {"status": "draining", "applied": True}, (status, body)
        draining_state(d)

        user2, pw2 = d.turn_credentials("did:peers:latecomer")
        late = TurnClient(("127.0.0.1", port), user2, pw2)
        msg = expect_error(486, late.allocate)
        reason = msg.get(A_ERROR_CODE)[4:].decode()
        assert "draining" in reason, reason
        assert d.metric('icestation_turn_quota_rejected_total{kind="draining"}') == 1
        late.close()

        # The live allocation goes on: relays, refreshes, permits, binds.
        both_ways(c, p1, 0x4000, b"while draining")
        c.refresh(600)
        bind(c, p2, 0x4001)
        both_ways(c, p2, 0x4001, b"a new channel while draining")
        time.sleep(0.6)  # over two of the daemon's 250 ms ticks: it must not exit yet
        assert d.alive(), "the daemon exited while an allocation was live"
        both_ways(c, p1, 0x4000, b"still")

        c.refresh(0)
        t0 = time.monotonic()
        log = exits(d, 5)
        assert "drain: no allocation left, exiting" in log, log
        print(f"drain by admin: 486, live allocation served, exit 0 "
              f"{time.monotonic() - t0:.2f}s after it ended")
        for s in (c.sock, p1, p2):
            s.close()


def by_signal():
    http, port = 10052, 10053
    turn = dict(TURN, **{"alternate-server": f"{ALTERNATE[0]}:{ALTERNATE[1]}"})
    d = Daemon(http_port=http, stun_port=port, turn_extra=turn,
               server_extra={"drain-timeout": "2s"})
    with d:
        user, pw = d.turn_credentials("did:peers:caller")
        c = TurnClient(("127.0.0.1", port), user, pw, "tcp")
        peer = udp_peer()
        c.allocate()
        bind(c, peer, 0x4000)
        d.proc.send_signal(signal.SIGUSR1)
        t0 = time.monotonic()
        wait_for(lambda: d.metric("icestation_draining") == 1, 5, what="drain by SIGUSR1")
        caught_up(d)
        draining_state(d)

        late = TurnClient(("127.0.0.1", port), user, pw)
        msg = expect_error(300, late.allocate)
        v = msg.get(A_ALTERNATE_SERVER)
        assert v is not None and len(v) == 8 and v[1] == 1, v
        alt = (socket.inet_ntop(socket.AF_INET, v[4:8]), struct.unpack("!H", v[2:4])[0])
        assert alt == ALTERNATE, alt
        assert msg.check_integrity(late.key), "300 without a valid MESSAGE-INTEGRITY"
        late.close()
        both_ways(c, peer, 0x4000, b"while draining over tcp")
        c.refresh(600)

        log = exits(d, 10)
        took = time.monotonic() - t0
        assert took >= 1.5, f"exited {took:.2f}s after the drain, before drain-timeout"
        assert "drain-timeout reached with 1 allocation(s) left" in log, log
        print(f"drain by SIGUSR1: 300 with ALTERNATE-SERVER {alt[0]}:{alt[1]}, "
              f"exit 0 at drain-timeout ({took:.2f}s)")
        c.close()
        peer.close()


def main():
    by_admin()
    by_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
