"""Reloads that cannot apply whole (issue 11).

Broken YAML: an unknown key (with a changed realm beside it) and then a
YAML syntax error, by SIGHUP and by POST /admin/v1/reload. The daemon keeps
serving on the generation it had (a live allocation relays and refreshes,
a new one is made in the old realm, the ICE API answers), the error names
file:line:col in the log and in the admin API's 422 body, and
icestation_config_reload_total{result="error"} counts each one.

Restart-only keys: a reload that changes the TURN listen addresses along
with the realm and a quota logs one "needs a restart" warning naming
subserver.turn.listen, keeps serving the old listeners (the admin status
shows them), and applies the rest: a new Allocate is challenged in the new
realm, the per-user quota refuses a second allocation (486), and the live
allocation relays on.
Ports 10030-10039, relay 11070-11089."""

import os
import re
import sys

from icetest import Daemon
from livelib import (GENERATION, RELOADS_ERROR, RELOADS_OK, bind, both_ways, expect_error,
                     sighup)
from turnclient import TurnClient, udp_peer

HTTP, PORT = 10030, 10031
REALM = "icestation.test"


def write_turn(d, text):
    path = os.path.join(d.dir, "sub_turn.yml")
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)
    return path


def still_serving(d, c, peer, tag):
    """Nothing of the broken tree applied: the call goes on, a new client
    is challenged in the old realm, the ICE API mints."""
    both_ways(c, peer, 0x4000, tag)
    c.refresh(600)
    user, pw = d.turn_credentials("did:peers:another")
    n = TurnClient(("127.0.0.1", PORT), user, pw)
    n.allocate()
    assert n.realm == REALM.encode(), n.realm
    n.refresh(0)
    n.close()
    assert d.alive()


def broken_yaml(d, c, peer):
    gen = d.metric(GENERATION)
    good = d.files["sub_turn.yml"]
    # An unknown key inside the turn section, on a line we know, and a
    # realm change that must not apply either.
    lines = good.replace(f'realm: "{REALM}"', 'realm: "broken.test"').splitlines()
    lines.append("          bogus-key: 1")
    path = write_turn(d, "\n".join(lines) + "\n")
    where = f"{path}:{len(lines)}:11"

    assert sighup(d) == "error"
    assert re.search(re.escape(where) + r': unknown key "bogus-key"', d.log()), \
        f"log does not name {where}:\n{d.log()}"
    still_serving(d, c, peer, b"after a SIGHUP on an unknown key")

    status, body = d.admin("POST", "/admin/v1/reload")
    assert status == 422 and body["error"] == "invalid_config", (status, body)
    assert where in body["detail"] and "bogus-key" in body["detail"], body
    still_serving(d, c, peer, b"after an admin reload on an unknown key")

    # A YAML syntax error: an unclosed flow sequence on the realm line.
    lines = good.splitlines()
    at = next(i for i, ln in enumerate(lines) if ln.strip().startswith("realm:")) + 1
    lines[at - 1] = "          realm: [unclosed"
    write_turn(d, "\n".join(lines) + "\n")
    assert sighup(d) == "error"
    m = re.search(re.escape(path) + r":(\d+):(\d+): YAML syntax error", d.log())
    assert m and int(m.group(1)) in (at, at + 1) and int(m.group(2)) >= 1, d.log()
    status, body = d.admin("POST", "/admin/v1/reload")
    assert status == 422 and re.search(re.escape(path) + r":\d+:\d+: YAML syntax error",
                                       body["detail"]), body
    still_serving(d, c, peer, b"after a YAML syntax error")

    m = d.metrics()
    assert m[RELOADS_ERROR] == 4 and m[RELOADS_OK] == 0, m
    assert m[GENERATION] == gen, "a broken tree changed the generation"
    write_turn(d, good)
    print("broken yaml: still serving, file:line:col logged and answered, counted")


def restart_only(d, c, peer):
    gen = d.metric(GENERATION)
    d.reconfigure(turn={"listen": ["127.0.0.1", "127.0.0.2"], "realm": "renamed.test",
                        "max-allocations-per-user": 1})
    assert sighup(d) == "ok", d.log()
    warnings = [ln for ln in d.log().splitlines() if "needs a restart" in ln]
    assert len(warnings) == 1 and "subserver.turn.listen" in warnings[0], warnings
    assert "realm" not in warnings[0] and "max-allocations" not in warnings[0], warnings
    assert d.metric(GENERATION) == gen + 1

    status, st = d.admin("GET", "/admin/v1/status")
    turn = next(s for s in st["subservers"] if s["name"] == "turn")
    assert status == 200 and turn["listen"] == [f"127.0.0.1:{PORT}"], turn
    assert turn["realm"] == "renamed.test", turn

    # The quota applies: this user already holds the live allocation.
    user, pw = d.turn_credentials("did:peers:caller")
    second = TurnClient(("127.0.0.1", PORT), user, pw)
    expect_error(486, second.allocate)
    second.close()
    # The realm applies to new allocations; the live one keeps the realm it
    # was made in (its key was derived with it): it refreshes and relays on.
    c.refresh(600)
    assert c.realm == REALM.encode(), c.realm
    user, pw = d.turn_credentials("did:peers:newcomer")
    n = TurnClient(("127.0.0.1", PORT), user, pw)
    n.allocate()
    assert n.realm == b"renamed.test", n.realm
    n.refresh(0)
    n.close()
    both_ways(c, peer, 0x4000, b"after the restart-only change")
    print("restart-only key: one warning, the rest applied")


def main():
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11070-11089"}
    with Daemon(http_port=HTTP, stun_port=PORT, realm=REALM, turn_extra=turn) as d:
        user, pw = d.turn_credentials("did:peers:caller")
        c = TurnClient(("127.0.0.1", PORT), user, pw)
        peer = udp_peer()
        c.allocate()
        bind(c, peer, 0x4000)
        broken_yaml(d, c, peer)
        restart_only(d, c, peer)
        c.close()
        peer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
