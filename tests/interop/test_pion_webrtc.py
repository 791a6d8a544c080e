#!/usr/bin/python3
"""pion/webrtc v3 (Go) through a TURN server.

Builds tests/interop/go/src/pionwebrtc offline in GOPATH mode from Debian's
golang-github-pion-webrtc.v3-dev (never downloads a module; Debian installs
the v3 tree without its /v3 suffix, so the build's own GOPATH links it),
then runs two PeerConnections with ICE transport policy "relay" and the ICE
servers the ICE API hands out, restricted to TURN over UDP, then over TCP.
Each run must select a relay/relay pair through the server's relay range,
carry 100 numbered DataChannel messages in order and a 1 MiB blob intact.
tshark watches both runs as in test_chromium.py: TURN packets on lo, and
nothing on any other interface (pion/ice's mDNS, on by default, once sent
IGMP joins out of eth0; main.go turns it off).

Usage: test_pion_webrtc.py --server coturn|icestation
Env:   INTEROP_BUILD_DIR (where the binary and Go caches go; default a temp dir)
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import tempfile
import time

import servers
from test_chromium import Capture, check_capture

HERE = os.path.dirname(os.path.abspath(__file__))
WEBRTC = "/usr/share/gocode/src/github.com/pion/webrtc"


def build(build_dir, cache):
    gopath = os.path.join(build_dir, "gopath")
    link = os.path.join(gopath, "src/github.com/pion/webrtc/v3")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link):
        os.symlink(WEBRTC, link)
    binary = os.path.join(build_dir, "pionwebrtc")
    env = dict(os.environ, GO111MODULE="off", GOFLAGS="", GOPROXY="off",
               GOPATH=f"/usr/share/gocode:{gopath}",
               GOCACHE=cache, CGO_ENABLED="0")
    r = subprocess.run(["go", "build", "-o", binary, "./go/src/pionwebrtc"], cwd=HERE, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"go build failed:\n{r.stdout}{r.stderr}"
    return binary


def relay_candidate(text, server):
    """host:port of a 'relay' candidate string, checked against the relay range."""
    m = re.search(r"relay (\S+):(\d+)", text)
    assert m, f"not a relay candidate: {text}"
    host, port = m.group(1), int(m.group(2))
    assert server.in_relay_range(host, port), f"{text} outside the relay range"
    return host, port


def run(binary, server, transport):
    ice, dropped = servers.loopback_only(server.ice_servers("did:peers:pionwebrtc"))
    ice = servers.restrict(ice, transport)
    t0 = time.monotonic()
    r = subprocess.run([binary, "-ice", json.dumps(ice["ice_servers"])],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    lines = [l for l in r.stdout.splitlines() if l.startswith("{")]
    assert lines, f"pionwebrtc printed no summary ({r.returncode}):\n{r.stdout}{r.stderr[-3000:]}"
    s = json.loads(lines[-1])
    assert r.returncode == 0 and not s.get("error"), f"{transport}: {s}\n{r.stderr[-3000:]}"
    relay_candidate(s["local_candidate"], server)
    relay_candidate(s["remote_candidate"], server)
    assert s["messages"] == 100, s
    assert s["blob_bytes"] == 1 << 20 and s["blob_intact"], s
    print(f"ok {transport}: {s['local_candidate']} <-> {s['remote_candidate']}, 100 messages, "
          f"1 MiB intact, {s['millis']} ms (run {time.monotonic() - t0:.1f}s); "
          f"dropped non-loopback URLs {dropped}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    opts = ap.parse_args()
    t0 = time.monotonic()
    build_dir = os.environ.get("INTEROP_BUILD_DIR")
    tmp = None
    if build_dir:
        # Go's build cache is safe to share between the two variants running
        # at once; it halves the cost of compiling pion's stack.
        cache = os.path.join(build_dir, "gocache-pionwebrtc")
        build_dir = os.path.join(build_dir, f"pionwebrtc-{opts.server}")
    else:
        tmp = build_dir = tempfile.mkdtemp(prefix="interop-pionwebrtc-")
        cache = os.path.join(build_dir, "gocache")
    try:
        os.makedirs(build_dir, exist_ok=True)
        binary = build(build_dir, cache)
        print(f"built {binary} in {time.monotonic() - t0:.1f}s")
        with servers.make("pionwebrtc", opts.server) as server, \
                Capture(server.port, build_dir) as cap:
            for transport in ("udp", "tcp"):
                run(binary, server, transport)
            cap.stop()
            check_capture(cap, "the pion/webrtc runs")
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"PASS test_pion_webrtc --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
