"""The admin API and icestationctl (issue 11).

Every icestationctl subcommand against a live daemon on its unix socket,
with outputs and the exit codes `icestationctl --help` documents (0 done,
1 refused, 2 usage, 3 no daemon answers, 4 not authorized): status (table
and --json), allocations [--user], kill ID (the allocation ends: 437; an
unknown id: 1), revoke USER --until T (ICE API 403 until T, then 200),
revocations, unrevoke (twice: 0 then 1), reload (0, and 1 with the
loader's file:line:col on a broken tree), drain (the daemon then exits 0,
and icestationctl gets 3).

The admin TCP listener (admin.listen IP:port with bearer-tokens): no token
and a wrong one get 401 (icestationctl exits 4), the right one 200 (also
from $ICESTATION_ADMIN_TOKEN); the ICE-API listener does not serve the
admin API; a reload with a new token list takes effect at once.
--check-config refuses a TCP admin listen without tokens, and an admin
listen equal to http.listen.
Ports 10070-10079, relay 11200-11219."""

import http.client
import json
import os
import re
import subprocess
import sys
import time

from icetest import Daemon, ctl_binary, wait_for
from livelib import allocations, refresh_refused
from turnclient import TurnClient

HTTP, PORT = 10070, 10071
HTTP2, PORT2, ADMIN2 = 10072, 10073, 10074
TURN = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11200-11219"}
CAROL, DAVE = "did:peers:carol", "did:peers:dave"


def ok(d, *args):
    rc, out, err = d.ctl(*args)
    assert rc == 0, f"icestationctl {' '.join(args)}: exit {rc}\n{out}{err}"
    return out


def refused(d, rc_want, *args):
    rc, out, err = d.ctl(*args)
    assert rc == rc_want, f"icestationctl {' '.join(args)}: exit {rc}, want {rc_want}\n{out}{err}"
    return err


def field(out, name):
    m = re.search(rf"^{name}\s+(.*)$", out, re.M)
    assert m, f"no {name} in:\n{out}"
    return m.group(1).strip()


def status_and_listing(d, carol, dave):
    out = ok(d, "status")
    assert field(out, "status") == "running" and field(out, "generation") == "1", out
    assert field(out, "allocations") == "2" and field(out, "workers") == "1", out
    st = json.loads(ok(d, "--json", "status"))
    turn = next(s for s in st["subservers"] if s["name"] == "turn")
    assert st["status"] == "running" and st["allocations"] == 2 and turn["realm"], st

    ids = {a["user"]: a["id"] for a in allocations(d).values()}
    out = ok(d, "allocations")
    for user, i in ids.items():
        assert re.search(rf"^{i}\s+{re.escape(user)}\s", out, re.M), out
    assert "2 allocation(s)" in out, out
    assert json.loads(ok(d, "--json", "allocations"))["total"] == 2
    out = ok(d, "allocations", "--user", CAROL)
    assert ids[CAROL] in out and ids[DAVE] not in out and "1 allocation(s)" in out, out
    assert re.search(r"^\S+\s+did:peers:dave\s+tcp\s", ok(d, "allocations"), re.M)
    return ids


def kill(d, ids, carol):
    out = ok(d, "kill", ids[CAROL])
    assert out.strip() == f"closed {ids[CAROL]}", out
    refresh_refused(carol, (437,))
    assert set(allocations(d)) == {ids[DAVE]}
    assert d.metric('icestation_turn_allocations_ended_total{reason="killed"}') == 1
    assert "not_found" in refused(d, 1, "kill", ids[CAROL])
    refused(d, 1, "kill", "not-hex")
    print("kill: closed, then unknown (1)")


def revoke_until(d, dave):
    until = int(time.time()) + 3
    out = ok(d, "revoke", DAVE, "--until", str(until))
    assert out.strip() == f"revoked {DAVE}", out
    wait_for(lambda: not allocations(d, DAVE), 1, what="dave's allocation closed")
    refresh_refused(dave)
    assert d.http("/api/v1/turn/ice-servers?user_did=" + DAVE)[0] == 403
    out = ok(d, "revocations")
    assert re.search(rf"^{re.escape(DAVE)}\s+\d+\s+{until}$", out, re.M), out
    rev = json.loads(ok(d, "--json", "revocations"))["revocations"]
    assert [(r["user"], r["until"]) for r in rev] == [(DAVE, until)], rev
    # At `until` the ICE API mints for dave again, and that credential works.
    wait_for(lambda: d.http("/api/v1/turn/ice-servers?user_did=" + DAVE)[0] == 200, 8,
             interval=0.2, what="the ICE API after --until")
    c = TurnClient(("127.0.0.1", PORT), *d.turn_credentials(DAVE))
    c.allocate()
    c.refresh(0)
    c.close()
    assert ok(d, "unrevoke", DAVE).strip() == f"unrevoked {DAVE}"
    assert "not_found" in refused(d, 1, "unrevoke", DAVE)
    out = ok(d, "revocations")
    assert DAVE not in out, out
    print("revoke --until, revocations, unrevoke (0, then 1)")


def reload(d):
    assert ok(d, "reload").strip() == "reloaded: generation 2"
    good = d.files["sub_turn.yml"]
    path = os.path.join(d.dir, "sub_turn.yml")
    with open(path, "w") as f:
        f.write(good + "          nonsense-key: 1\n")
    err = refused(d, 1, "reload")
    assert "invalid_config" in err and re.search(re.escape(path) + r":\d+:11:", err), err
    with open(path, "w") as f:
        f.write(good)
    assert ok(d, "reload").strip() == "reloaded: generation 3"
    print("reload: 0, 1 on a broken tree, 0")


def unix_socket():
    with Daemon(http_port=HTTP, stun_port=PORT, turn_extra=TURN) as d:
        carol = TurnClient(("127.0.0.1", PORT), *d.turn_credentials(CAROL))
        dave = TurnClient(("127.0.0.1", PORT), *d.turn_credentials(DAVE), "tcp")
        carol.allocate()
        dave.allocate()
        ids = status_and_listing(d, carol, dave)
        kill(d, ids, carol)
        revoke_until(d, dave)
        reload(d)
        for args in (("bogus",), ("kill",), ("status", "extra"), ("revoke", DAVE, "--until", "soon"),
                     ("status", "--user", CAROL)):
            refused(d, 2, *args)
        rc, _, err = _run([ctl_binary(), "-s", os.path.join(d.dir, "nothing.sock"), "status"])
        assert rc == 3 and "cannot reach" in err, (rc, err)
        carol.close()
        dave.close()
        assert ok(d, "drain").strip() == "draining"
        wait_for(lambda: d.proc.poll() is not None, 5, what="exit after drain")
        d.stop(expect_code=0)
        refused(d, 3, "status")
    print("icestationctl: every subcommand, exit codes 0/1/2/3")


def _run(cmd, env=None):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, **(env or {})))
    return p.returncode, p.stdout, p.stderr


def tcp_get(token=None, port=ADMIN2):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/admin/v1/status",
                     headers={"Authorization": f"Bearer {token}"} if token else {})
        r = conn.getresponse()
        return r.status, r.read()
    finally:
        conn.close()


def tcp_listener():
    admin = {"listen": f"127.0.0.1:{ADMIN2}", "bearer-tokens": ["tok-right"]}
    with Daemon(http_port=HTTP2, stun_port=PORT2, turn_extra=TURN, admin=admin) as d:
        url = ["--url", f"http://127.0.0.1:{ADMIN2}"]
        assert tcp_get()[0] == 401 and tcp_get("tok-wrong")[0] == 401
        assert tcp_get("tok-right")[0] == 200
        assert d.http("/admin/v1/status", headers={"Authorization": "Bearer tok-right"})[0] == 404
        ctl = ctl_binary()
        assert _run([ctl, *url, "status"], env={"ICESTATION_ADMIN_TOKEN": ""})[0] == 4
        assert _run([ctl, *url, "--token", "tok-wrong", "status"])[0] == 4
        rc, out, err = _run([ctl, *url, "--token", "tok-right", "status"])
        assert rc == 0 and field(out, "status") == "running", (rc, out, err)
        assert _run([ctl, *url, "status"], env={"ICESTATION_ADMIN_TOKEN": "tok-right"})[0] == 0
        # Tokens are live keys: a reload swaps them.
        d.reconfigure(server={"admin": dict(admin, **{"bearer-tokens": ["tok-new"]})})
        rc, out, _ = _run([ctl, *url, "--token", "tok-right", "reload"])
        assert rc == 0 and out.strip() == "reloaded: generation 2", (rc, out)
        assert tcp_get("tok-right")[0] == 401 and tcp_get("tok-new")[0] == 200
    print("admin over TCP: 401 without or with a wrong token (exit 4), 200 with it")


def check_config(admin, http_listen=None):
    d = Daemon(http_port=HTTP2, stun_port=PORT2, admin=admin, http_listen=http_listen)
    try:
        return _run([d.binary, "-c", d.config_path, "--check-config"])
    finally:
        d.cleanup()


def refused_configs():
    rc, out, err = check_config({"listen": f"127.0.0.1:{ADMIN2}"})
    assert rc == 1 and "admin.bearer-tokens must list at least one token" in out + err, (rc, out, err)
    rc, out, err = check_config({"listen": f"127.0.0.1:{HTTP2}", "bearer-tokens": ["t"]})
    assert rc == 1 and "same address and port as http.listen" in out + err, (rc, out, err)
    rc, out, err = check_config({"listen": f"127.0.0.1:{ADMIN2}", "bearer-tokens": ["t"]})
    assert rc == 0, (rc, out, err)
    print("--check-config: TCP admin without tokens and admin on http.listen refused")


def main():
    unix_socket()
    tcp_listener()
    refused_configs()
    return 0


if __name__ == "__main__":
    sys.exit(main())
