"""Chromium relay-only through turns: with a host name (issue 15): Debian's
/usr/bin/chromium (playwright-core, tests/interop's switches) resolves
turn.icestation.test to 127.0.0.1 (--host-resolver-rules) and trusts the
test CA's server key (--ignore-certificate-errors-spki-list). It loads a
page over HTTPS from the daemon itself (/healthz on the HTTPS ICE API:
the document's origin is the daemon's), fetches the ICE configuration
from that same origin, keeps only the turns: URL naming the test host,
and opens two RTCPeerConnections with iceTransportPolicy 'relay': 100
DataChannel messages echo and a 1 MiB blob arrives intact, and getStats()
shows on both sides a succeeded nominated relay/relay pair whose local
relayProtocol is 'tls' on the daemon's relay range. The daemon counts
the TLS handshakes and allocations the browser made.
The TURNS listener and the HTTPS API are on two ports here: the shared
listener (one port for both) is not built yet.
Ports 27160-27169, relays 27560-27599."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

from icetest import Daemon  # noqa: F401 (harness import order)
from test_chromium import ensure_node_modules
from tlslib import NAME, HttpsDaemon, make_ca, make_leaf, openssl

HERE = os.path.dirname(os.path.abspath(__file__))
HTTP, PORT, TLS = 27160, 27161, 27162
RELAYS = (27560, 27599)
BLOB = 1 << 20
TEXT = 100
USER = "did:peers:browser"


def spki_hash(cert):
    rc, pub = openssl(["x509", "-in", cert, "-noout", "-pubkey"])
    assert rc == 0, pub
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "der"], input=pub,
                         capture_output=True, check=True, timeout=30).stdout
    dig = subprocess.run(["openssl", "dgst", "-sha256", "-binary"], input=der,
                         capture_output=True, check=True, timeout=30).stdout
    return subprocess.run(["openssl", "base64", "-A"], input=dig, capture_output=True,
                          check=True, timeout=30).stdout.decode().strip()


def run_browser(spki, workdir):
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    argv = ["node", os.path.join(HERE, "browser.mjs"), "--origin", f"https://{NAME}:{HTTP}",
            "--name", NAME, "--spki", spki, "--user", USER, "--profile", profile,
            "--blob", str(BLOB), "--text", str(TEXT)]
    try:
        r = subprocess.run(argv, cwd=HERE, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=240)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"browser driver did not finish in 240s:\n{e.stdout}\n{e.stderr}") \
            from None
    lines = [json.loads(x) for x in r.stdout.splitlines() if x.startswith("{")]
    assert len(lines) == 2 and "browser" in lines[0], \
        f"browser driver failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr[-4000:]}"
    return lines[0], lines[1], r.stderr


def check(head, rep, stderr):
    page = head["page"]
    assert page["url"] == f"https://{NAME}:{HTTP}/healthz" and page["status"] == 200, page
    assert page["secure"] is True and page["tls"] in ("TLS 1.2", "TLS 1.3"), page
    assert "error" not in rep, f"page failed: {rep.get('error')}\n{json.dumps(rep, indent=1)}\n" \
                               f"{stderr[-3000:]}"
    assert rep["iceStatus"] == 200, rep["iceStatus"]
    assert rep["iceServers"] == [[f"turns:{NAME}:{TLS}?transport=tcp"]], rep["iceServers"]
    assert not rep["errors"], f"ICE errors: {rep['errors']}"
    for side in ("pc1", "pc2"):
        cands = rep["candidates"][side]
        assert cands and all(" typ relay " in c for c in cands), f"{side} candidates {cands}"
    assert rep["textEchoed"] == TEXT, rep["textEchoed"]
    want = f"blob:{BLOB // (16 * 1024)}:{BLOB}:{rep['blobSha256']}"
    assert rep["blobReport"] == want, (rep["blobReport"], want)
    pairs = rep["pair"]
    for side, other in (("pc1", "pc2"), ("pc2", "pc1")):
        p = pairs[side]
        assert p["state"] == "succeeded" and p["nominated"], f"{side} pair {p}"
        loc, rem = p["local"], p["remote"]
        assert loc["candidateType"] == "relay" and rem["candidateType"] == "relay", p
        assert loc["relayProtocol"] == "tls", f"{side} relayProtocol {loc['relayProtocol']}"
        assert loc["address"] == "127.0.0.1" and RELAYS[0] <= loc["port"] <= RELAYS[1], loc
        peer = pairs[other]["local"]
        assert (rem["address"], rem["port"]) == (peer["address"], peer["port"]), (rem, peer)
    assert pairs["pc1"]["bytesSent"] >= BLOB, pairs["pc1"]["bytesSent"]
    print(f"chromium {head['browser']}: page over {page['tls']} from the daemon, relay/relay "
          f"over turns:{NAME} (relayProtocol tls), {TEXT} messages, 1 MiB intact, "
          f"connect {rep['connectMs']} ms, blob {rep['blobMs']} ms")


def main():
    ensure_node_modules()
    tmp = tempfile.mkdtemp(prefix="tls443-browser-")
    try:
        ca = make_ca(tmp)
        cert, key = make_leaf(tmp, ca, "server")
        turn = {"transports": ["udp", "tls"], "tls": {"port": TLS, "cert": cert, "key": key},
                "allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": f"{RELAYS[0]}-{RELAYS[1]}"}
        with HttpsDaemon(ca[0], cert, key, http_port=HTTP, stun_port=PORT, turn_extra=turn) as d:
            head, rep, stderr = run_browser(spki_hash(cert), tmp)
            check(head, rep, stderr)
            ok = d.metric('icestation_net_tls_handshakes_total{result="completed"}')
            assert ok >= 2, f"{ok} TLS handshakes on the TURNS port"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("browser ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
