#!/usr/bin/python3
"""pion/turn v2 (Go) against a TURN server.

Builds tests/interop/go/src/pionclient offline in GOPATH mode from Debian's
golang-github-pion-turn.v2-dev (never downloads a module), then runs it over
UDP and over TCP: Allocate, CreatePermission, 200 distinct payloads
(20..1219 bytes) ping-ponged through the relay to a loopback UDP echo peer,
each echo compared byte for byte, and the peer must see the relayed address
as the source. Then the refusals: wrong secret, expired username and
tampered credential must make Allocate fail with 401.

Usage: test_pion.py --server coturn|icestation
Env:   INTEROP_BUILD_DIR (where the binary and Go caches go; default a temp dir)
"""

import argparse
import json
import os
import shutil
import subprocess
import tempfile
import time

import servers

HERE = os.path.dirname(os.path.abspath(__file__))
COUNT = 200


def build(build_dir):
    """go build the client; returns the binary path."""
    binary = os.path.join(build_dir, "pionclient")
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPROXY="off",
               GOPATH=f"/usr/share/gocode:{os.path.join(build_dir, 'gopath')}",
               GOCACHE=os.path.join(build_dir, "gocache"), CGO_ENABLED="0")
    r = subprocess.run(["go", "build", "-o", binary, "./go/src/pionclient"], cwd=HERE, env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"go build failed:\n{r.stdout}{r.stderr}"
    return binary


def pion(binary, server, transport, user, password, timeout=60):
    argv = [binary, "-server", f"{server.host}:{server.port}", "-transport", transport,
            "-user", user, "-pass", password, "-realm", server.realm, "-count", str(COUNT)]
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=timeout)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, f"pionclient printed no summary (exit {r.returncode}):\n{r.stdout}{r.stderr}"
    return r.returncode, json.loads(lines[-1]), r.stderr, time.monotonic() - t0


def expect_relay(binary, server, transport):
    user, cred = server.credentials("did:peers:pion")
    code, s, err, took = pion(binary, server, transport, user, cred)
    assert code == 0, f"{transport}: pionclient failed ({code}): {s}\n{err}"
    host, port = s["relayed"].rsplit(":", 1)
    assert server.in_relay_range(host, int(port)), \
        f"{transport}: relayed address {s['relayed']} outside {server.relay_ip} {server.relay_range}"
    assert s["peer_saw_from"] == s["relayed"], f"{transport}: peer saw {s['peer_saw_from']}"
    assert s["sent"] == s["echoed"] == COUNT and s["corrupt"] == 0, f"{transport}: {s}"
    expected_bytes = sum(20 + (i * 37) % 1200 for i in range(COUNT))
    assert s["bytes"] == expected_bytes, f"{transport}: {s['bytes']} bytes, want {expected_bytes}"
    print(f"ok {transport}: relayed {s['relayed']}, {s['echoed']}/{COUNT} echoes intact, "
          f"{s['bytes']} bytes, {took:.2f}s")


def expect_401(binary, server, transport, name, user, password):
    code, s, err, took = pion(binary, server, transport, user, password, timeout=30)
    assert code != 0, f"{name}: allocation succeeded: {s}"
    assert "allocate" in s.get("error", "") and "401" in s["error"], \
        f"{name}: expected an Allocate 401, got: {s}\n{err}"
    assert s["sent"] == 0
    print(f"ok {name} ({transport}): {s['error']} ({took:.2f}s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    opts = ap.parse_args()
    t0 = time.monotonic()
    build_dir = os.environ.get("INTEROP_BUILD_DIR")
    tmp = None
    if build_dir:
        # One subdir per backend: both variants may build at once under ctest -j.
        build_dir = os.path.join(build_dir, f"pion-{opts.server}")
    else:
        tmp = build_dir = tempfile.mkdtemp(prefix="interop-pion-")
    try:
        os.makedirs(build_dir, exist_ok=True)
        binary = build(build_dir)
        print(f"built {binary} in {time.monotonic() - t0:.1f}s")
        with servers.make("pion", opts.server) as server:
            for transport in ("udp", "tcp"):
                expect_relay(binary, server, transport)
            user = "did:peers:pion"
            good_user, good_cred = server.credentials(user)
            wrong = server.mint(user, secret=server.secret + "x")
            expired = server.mint(user, ttl=-120)
            for transport in ("udp", "tcp"):
                expect_401(binary, server, transport, "wrong secret", *wrong)
                expect_401(binary, server, transport, "expired username", *expired)
                expect_401(binary, server, transport, "tampered credential", good_user,
                           servers.tamper(good_cred))
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS test_pion --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
