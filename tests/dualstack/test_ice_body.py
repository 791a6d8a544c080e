#!/usr/bin/python3
"""The ICE API body and /readyz for a v4-only, a v6-only and a dual-stack
Station (issue 22): STUN and TURN URLs for each family served, IPv4 first;
the env override's comma list; /readyz naming each family, and a family
with no relay address."""

import json
import os
import shutil
import subprocess
import tempfile

import dualstack

PORT = 4000  # listen ports 4000-4014, relays 4100-4199


def body(d):
    doc = d.ice_servers("did:peers:ds")
    stun = [e["urls"] for e in doc["ice_servers"] if "username" not in e]
    return stun, dualstack.turn_entry(doc)["urls"]


def readyz(d):
    status, _, raw = d.http("/readyz")
    assert status == 200, (status, raw)
    return json.loads(raw)


def case(name, family, n, want_stun, want_turn, want_fams, **kw):
    port, http = PORT + 2 * n, PORT + 2 * n + 1
    with dualstack.daemon(family, port, http, (4100 + 20 * n, 4119 + 20 * n), **kw) as d:
        stun, turn = body(d)
        want_turn = [u.format(p=port) for u in want_turn]
        assert stun == [[u.format(p=port) for u in want_stun]], f"{name}: stun {stun}"
        assert turn == want_turn, f"{name}: turn {turn}\nwant {want_turn}"
        ready = readyz(d)
        assert ready == {"status": "ready", "stun": want_fams, "turn": want_fams}, \
            f"{name}: /readyz {ready}"
    print(f"ok {name}: {stun[0]} {turn}")


def dual_tls():
    """turns: stays one URL on a dual-stack Station (the TLS host name,
    whose A and AAAA records give both families)."""
    tmp = tempfile.mkdtemp(prefix="dualstack-tls-")
    cert, key = os.path.join(tmp, "c.pem"), os.path.join(tmp, "k.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj",
                    "/CN=localhost", "-days", "1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    try:
        tls = {"transports": ["udp", "tls"], "tls": {"port": PORT + 14, "cert": cert, "key": key,
                                                      "server-name": "turn.example.org"}}
        with dualstack.daemon("dual", PORT + 12, PORT + 13, (4180, 4189), turn_extra=tls) as d:
            _, turn = body(d)
            p, t = PORT + 12, PORT + 14
            want = [f"turn:127.0.0.1:{p}?transport=udp", f"turn:[::1]:{p}?transport=udp",
                    f"turns:turn.example.org:{t}?transport=tcp"]
            assert turn == want, f"dual-stack tls: {turn}\nwant {want}"
        print(f"ok dual-stack with tls: {turn}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def unready_relay_family():
    """TURN advertises ::1 (a NAT's address, outside relay-ip-range) but its
    IPv6 prefix matches no address of the host: no IPv6 relay can open, and
    /readyz says so, by family."""
    port, http = PORT + 10, PORT + 11
    d = dualstack.daemon("dual", port, http, (4190, 4199), public_ip=["127.0.0.1", "::1"],
                         turn_extra={"relay-ip-range": ["127.0.0.1/32", "2001:db8:ffff::/64"]})
    env = dict(os.environ, **d.env_extra)
    with open(d.log_path, "wb") as log:
        d.proc = subprocess.Popen([d.binary, "-c", d.config_path], env=env,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
    try:
        def answered():
            if d.proc.poll() is not None:
                raise RuntimeError(f"icestation exited:\n{d.log()}")
            try:
                return d.http("/readyz", timeout=1.0)
            except OSError:
                return None
        def settled():
            # Past the start (listeners bound): what is missing for good.
            r = answered()
            return r if r is not None and b"listeners" not in r[2] else None

        status, _, raw = dualstack.wait_for(settled, 20, what="/readyz without 'listeners'")
        doc = json.loads(raw)
        assert status == 503 and doc == {"status": "not_ready",
                                         "missing": ["turn ipv6 relay address"]}, (status, doc)
        print(f"ok no IPv6 relay address: /readyz {status} {doc}")
    finally:
        d.stop()
        d.cleanup()


def main():
    v4 = ["turn:127.0.0.1:{p}?transport=udp", "turn:127.0.0.1:{p}?transport=tcp"]
    v6 = ["turn:[::1]:{p}?transport=udp", "turn:[::1]:{p}?transport=tcp"]
    case("v4-only", "v4", 0, ["stun:127.0.0.1:{p}"], v4, ["ipv4"])
    case("v6-only", "v6", 1, ["stun:[::1]:{p}"], v6, ["ipv6"])
    # Written IPv6 first: the answer still lists IPv4 first.
    case("dual-stack", "dual", 2, ["stun:127.0.0.1:{p}", "stun:[::1]:{p}"], v4 + v6,
         ["ipv4", "ipv6"], public_ip=["::1", "127.0.0.1"])
    # The env override takes a comma list, one per family, and wins.
    case("dual-stack from the env", "dual", 3, ["stun:127.0.0.1:{p}", "stun:[::1]:{p}"],
         v4 + v6, ["ipv4", "ipv6"], public_ip="127.0.0.1",
         env={"PEERS_TURN_PUBLIC_IP": "::1,127.0.0.1", "PEERS_STUN_PUBLIC_IP": "::1, 127.0.0.1"})
    dual_tls()
    unready_relay_family()
    print("PASS test_ice_body")


if __name__ == "__main__":
    main()
