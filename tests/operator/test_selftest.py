"""The self-test (issue 17): GET /admin/v1/selftest and icestationctl
selftest on a live daemon, in a network namespace of the test's own where
198.51.100.7 is this host's public address.

- A good config: every step OK over UDP, TCP and TLS, against the public
  address (not loopback), with timings; the daemon really allocated,
  relayed and released (its counters moved by one run's worth); two
  requests at once share one run; icestationctl prints the table, exit 0.
- Each broken setup fails and says the cause in plain words:
  - the relay port range already taken by another program (bound here
    first): 508, and "another program holds the relay ports";
  - a public IP that is not local and has no NAT note: the public_address
    check, while the steps still run against the local address; with
    behind-nat: true (reload) the same setup passes. A capture on the
    namespace's only other link shows nothing was sent toward the foreign
    address (and does show the test's own control packet);
  - behind a NAT with a private relay address, the relay steps are
    skipped with the reason (the policy refuses private peers) and the rest
    passes;
  - a certificate for the wrong name: the tls_certificate check names
    what it is for and what clients use;
  - the TLS listener down (its listening socket destroyed with ss -K, as
    a crash of that listener would leave it): "nothing accepts TCP
    connections", while UDP and TCP still pass.
- With public-ip: auto, an address added to the outward interface moves
  the advertised address, and the next self-test allocates against the new
  one.
Ports 8100-8169, relay 8500-8679."""

import json
import re
import shutil
import socket
import subprocess
import threading

from icetest import wait_for
from opnet import (FOREIGN_IP, HOST_IP, REALM, Capture, daemon, enter_netns, make_cert, tmpdir)

STEPS = ("allocate", "permission", "to_peer", "to_client", "refresh")


def selftest(d):
    status, body = d.admin("GET", "/admin/v1/selftest", timeout=40)
    assert status == 200, (status, body)
    return body


def check_of(report, name):
    found = [c for c in report["checks"] if c["name"] == name]
    assert len(found) == 1, (name, report["checks"])
    return found[0]


def steps_of(report, transport):
    return [s for s in report["steps"] if s["transport"] == transport]


def counters(d):
    m = d.metrics()
    return (m['icestation_turn_allocations_created_total'],
            m['icestation_turn_requests_total{method="create_permission"}'],
            sum(v for k, v in m.items() if k.startswith("icestation_turn_relayed_packets_total")))


def all_steps_ok(report, transports):
    """Every step ran and passed, in order, each with its timing."""
    names = [(s["transport"], s["name"]) for s in report["steps"]]
    want = [(None, "credential")] + [(t, n) for t in transports for n in STEPS]
    assert names == want, names
    for s in report["steps"]:
        assert s["ok"] is True and s["skipped"] is False, s
        assert isinstance(s["ms"], (int, float)) and 0 <= s["ms"] < 2000, s
        assert s["name"] == "credential" or s["ms"] > 0, s
        assert s["detail"], s


def test_good(tmp):
    cert, key = make_cert(tmp, [f"DNS:{REALM}", f"IP:{HOST_IP}"])
    # One allocation per user: the transports are tried one after another.
    with daemon(8100, 8101, 8102, "8500-8519", cert, key,
                turn_extra={"max-allocations-per-user": 1}) as d:
        before = counters(d)
        r = selftest(d)
        assert r["ok"] is True, json.dumps(r, indent=1)
        all_steps_ok(r, ("udp", "tcp", "tls"))
        assert r["target"]["address"] == HOST_IP and r["target"]["public_local"] is True, r
        for t, port in (("udp", 8101), ("tcp", 8101), ("tls", 8102)):
            alloc, perm, to_peer, to_client, _ = steps_of(r, t)
            assert re.search(rf"relayed address {HOST_IP}:85[01]\d, .*to {HOST_IP}:{port}\b",
                             alloc["detail"]), alloc
            assert re.search(rf"peer {HOST_IP}:85[01]\d", perm["detail"]), perm
            assert "arrived intact from the relayed address" in to_peer["detail"], to_peer
            assert "came back intact in a Data indication" in to_client["detail"], to_client
        for name in ("public_address.turn", "relay_port_range", "fd_limit", "tls_certificate"):
            assert check_of(r, name)["status"] == "ok", check_of(r, name)
        assert f"covering the realm {REALM} and the public address {HOST_IP}" in \
            check_of(r, "tls_certificate")["detail"], r
        assert check_of(r, "clock")["status"] != "fail", r
        # Real work, not a report: three allocations, three permissions,
        # at least one datagram each way per transport; all released.
        after = counters(d)
        assert after[0] - before[0] == 3 and after[1] - before[1] == 3, (before, after)
        assert after[2] - before[2] >= 6, (before, after)
        wait_for(lambda: d.admin("GET", "/admin/v1/status")[1]["allocations"] == 0, 5,
                 what="the self-test's allocations released")

        # Two requests at once share one run (one report, one set of allocations).
        reports = []
        threads = [threading.Thread(target=lambda: reports.append(selftest(d))) for _ in range(2)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
        assert len(reports) == 2 and reports[0] == reports[1], reports
        assert counters(d)[0] - after[0] == 3, "two requests at once ran the self-test twice"

        rc, out, err = d.ctl("selftest")
        assert rc == 0, (rc, out, err)
        for t in ("udp", "tcp", "tls"):
            for n in STEPS:
                assert re.search(rf"^{n}\s+{t}\s+ok\s+\d+\.\d\d\s+\S", out, re.M), (n, t, out)
        assert re.search(r"^self-test passed in \d+ ms$", out, re.M), out
        rc, out, _ = d.ctl("--json", "selftest")
        assert rc == 0 and json.loads(out)["ok"] is True, out


def test_ports_taken(tmp):
    taken = []
    for port in range(8520, 8540):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((HOST_IP, port))
        taken.append(s)
    try:
        with daemon(8110, 8111, 8112, "8520-8539") as d:
            r = selftest(d)
            assert r["ok"] is False, r
            names = [(s["transport"], s["name"]) for s in r["steps"]]
            assert names == [(None, "credential"), ("udp", "allocate"), ("tcp", "allocate")], r
            for s in r["steps"][1:]:
                assert not s["ok"], s
                assert "Allocate answered 508" in s["detail"], s
                assert (f"0 of 20 ports of relay-port-range 8520-8539 tried on {HOST_IP} are "
                        "free, and this daemon had 0 allocation(s): another program holds the "
                        "relay ports") in s["detail"], s
            rc, out, _ = d.ctl("selftest")
            assert rc == 1 and re.search(r"^allocate\s+udp\s+FAIL", out, re.M), (rc, out)
            assert "self-test FAILED" in out, out
            # The cause was the ports: freed, the same daemon passes.
            for s in taken:
                s.close()
            taken.clear()
            r = selftest(d)
            assert r["ok"] is True, json.dumps(r, indent=1)
    finally:
        for s in taken:
            s.close()


def test_public_not_local(tmp):
    cap = Capture()
    try:
        # The capture works: a datagram toward the foreign network is seen.
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        probe.sendto(b"control", ("203.0.113.8", 9))
        probe.close()
        assert "203.0.113.8" in Capture.targets(cap.frames()), "the capture sees nothing"

        with daemon(8120, 8121, 8122, "8540-8559", public_ip=FOREIGN_IP) as d:
            r = selftest(d)
            assert r["ok"] is False, r
            c = check_of(r, "public_address.turn")
            assert c["status"] == "fail" and (
                f"{FOREIGN_IP} is not an address of this host, and behind-nat is not set: "
                f"clients will send to {FOREIGN_IP} and nothing here receives it") \
                in c["detail"], c
            assert f"have the NAT forward the ports to {HOST_IP}" in c["detail"], c
            # The relay itself works: every step ran against the local address.
            all_steps_ok(r, ("udp", "tcp"))
            assert r["target"]["address"] == HOST_IP and r["target"]["public_local"] is False
            assert "is not on this host: the self-test ran against" in r["target"]["note"], r
            for t in ("udp", "tcp"):
                alloc, _, to_peer, _, _ = steps_of(r, t)
                assert f"relayed address {FOREIGN_IP}:" in alloc["detail"], alloc
                assert f"to {HOST_IP}:8121" in alloc["detail"], alloc
                assert f"from {HOST_IP}:" in to_peer["detail"] and \
                    "the relay's local address" in to_peer["detail"], to_peer
            rc, out, _ = d.ctl("selftest")
            assert rc == 1 and re.search(r"^public_address\.turn\s+FAIL\s+", out, re.M), out

            # The operator says it is a NAT: the same setup passes.
            d.reconfigure(turn={"behind-nat": True}, stun={"behind-nat": True})
            assert d.admin("POST", "/admin/v1/reload")[0] == 200
            r = selftest(d)
            assert r["ok"] is True, json.dumps(r, indent=1)
            c = check_of(r, "public_address.turn")
            assert c["status"] == "ok" and "as behind-nat says: the NAT must forward UDP and " \
                "TCP 8121" in c["detail"], c
        assert FOREIGN_IP not in Capture.targets(cap.frames()), \
            "the self-test sent something toward the public address that is not on this host"
    finally:
        cap.close()


def test_nat_private(tmp):
    """Behind a NAT with a private relay address, relayed clients reach each
    other through the NAT: the relay steps are skipped, with the reason."""
    private = "10.0.0.5"
    subprocess.run(["ip", "addr", "add", f"{private}/32", "dev", "lo"], check=True, timeout=10)
    with daemon(8150, 8151, 8152, "8640-8659", public_ip=FOREIGN_IP, host=private,
                turn_extra={"behind-nat": True}, stun_extra={"behind-nat": True}) as d:
        r = selftest(d)
        assert r["ok"] is True, json.dumps(r, indent=1)
        assert r["target"] == {"address": private, "public": FOREIGN_IP, "public_local": False,
                               "peer": private, "note": r["target"]["note"]}, r
        for t in ("udp", "tcp"):
            steps = steps_of(r, t)
            assert [s["name"] for s in steps] == list(STEPS), steps
            assert steps[0]["ok"] and not steps[0]["skipped"], steps[0]
            assert steps[4]["ok"] and not steps[4]["skipped"], steps[4]
            for s in steps[1:4]:
                assert s["ok"] and s["skipped"] and s["ms"] == 0, s
                assert s["detail"] == (
                    f"not run: the relay's own address {private} is a private address, which "
                    "the peer policy refuses (rightly, for clients); behind a NAT, relayed "
                    f"clients reach each other through the public address {FOREIGN_IP}, which "
                    "the self-test does not contact"), s
        rc, out, _ = d.ctl("selftest")
        assert rc == 0 and re.search(r"^permission\s+udp\s+skipped\s+0\.00\s+not run", out, re.M), out


def test_wrong_cert(tmp):
    cert, key = make_cert(tmp, ["DNS:wrong.example"], tag="wrong")
    with daemon(8130, 8131, 8132, "8600-8619", cert, key) as d:
        r = selftest(d)
        assert r["ok"] is False, r
        all_steps_ok(r, ("udp", "tcp", "tls"))  # TLS itself works
        c = check_of(r, "tls_certificate")
        assert c["status"] == "fail", c
        assert ("the certificate the TLS listener presents is for wrong.example, neither the "
                f"realm {REALM} nor the public address {HOST_IP}: clients that check the name "
                "(browsers, libwebrtc with turns:) refuse it") in c["detail"], c


def listening(port):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect((HOST_IP, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def test_tls_down(tmp):
    cert, key = make_cert(tmp, [f"DNS:{REALM}", f"IP:{HOST_IP}"])
    with daemon(8140, 8141, 8142, "8620-8639", cert, key) as d:
        assert listening(8142)
        # Destroy the daemon's TLS listening socket (sock_diag), as a
        # listener that died would leave it; this namespace holds no other.
        subprocess.run(["ss", "-K", "-t", "state", "listening", "sport", "= :8142"], check=True,
                       capture_output=True, timeout=10)
        wait_for(lambda: not listening(8142), 5, what="the TLS listener gone")
        r = selftest(d)
        assert r["ok"] is False, r
        for t in ("udp", "tcp"):
            assert all(s["ok"] for s in steps_of(r, t)) and len(steps_of(r, t)) == 5, r
        tls = steps_of(r, "tls")
        assert [s["name"] for s in tls] == ["allocate"] and not tls[0]["ok"], tls
        assert (f"nothing accepts TCP connections on {HOST_IP}:8142 (connection refused): the "
                "tls listener is not running, or a firewall on this host rejects it") \
            in tls[0]["detail"], tls
        c = check_of(r, "tls_certificate")
        assert c["status"] == "ok" and c["detail"].startswith(
            "tls.cert (the TLS listener presented none)"), c
        assert listening(8141), "the TCP listener went down too"


def public_of(d):
    st, body = d.admin("GET", "/admin/v1/status")
    turn = [s for s in body["subservers"] if s["name"] == "turn"][0]
    return (turn["public_addr"] or "").rsplit(":", 1)[0]


def test_public_follows(tmp):
    """With public-ip: auto the advertised address follows the host: the
    self-test goes where the daemon advertises now, not where it did at
    start."""
    moved = "198.51.100.20"
    with daemon(8160, 8161, 8162, "8660-8679", public_ip="auto", listen_all=True) as d:
        first = selftest(d)["target"]["public"]
        assert first != moved, first
        subprocess.run(["ip", "addr", "add", f"{moved}/24", "dev", "v0"], check=True, timeout=10)
        try:
            wait_for(lambda: public_of(d) == moved, 5, what=f"the daemon advertising {moved}")
            r = selftest(d)
            assert r["ok"] is True, json.dumps(r, indent=1)
            assert r["target"]["public"] == moved and r["target"]["address"] == moved, r
            for t in ("udp", "tcp"):
                alloc = steps_of(r, t)[0]
                assert f"relayed address {moved}:" in alloc["detail"], alloc
                assert f"to {moved}:8161" in alloc["detail"], alloc
        finally:
            subprocess.run(["ip", "addr", "del", f"{moved}/24", "dev", "v0"], check=True,
                           timeout=10)


def main():
    enter_netns()
    for test in (test_good, test_ports_taken, test_public_not_local, test_nat_private,
                 test_wrong_cert, test_tls_down, test_public_follows):
        tmp = tmpdir()
        try:
            test(tmp)
            print(f"ok {test.__name__}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print("PASS test_selftest")


if __name__ == "__main__":
    main()
