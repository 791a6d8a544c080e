#!/usr/bin/python3
"""Chromium (Debian /usr/bin/chromium, driven by playwright-core) against a
TURN server, with a capture proving no packet left loopback.

A page served from 127.0.0.1 fetches its ICE configuration (icestation:
from the daemon's own GET /api/v1/turn/ice-servers, cross-origin, with
cors-origins set to the page's origin; coturn: from this harness's stand-in
endpoint giving the same JSON), opens two RTCPeerConnections with
iceTransportPolicy 'relay' and, once over TURN/UDP and once over TURN/TCP
(one transport's URLs per run), echoes 100 DataChannel text messages and
sends a 1 MiB random blob whose SHA-256 the receiver reports back. getStats()
must show, on both connections, a succeeded nominated pair whose local
candidate is relay with relayProtocol equal to the run's transport, on the
server's relay address and port range, and whose remote candidate is relay.

Around the browser runs, tshark captures every non-loopback interface and,
as a positive control, the TURN port on lo: the lo capture must see the
TURN traffic and the others must see nothing (see docs/interop.md for the
one exclusion, HTTP(S) on ports 80/443, and why).

Usage: test_chromium.py --server coturn|icestation [--no-capture]
"""

import argparse
import fcntl
import functools
import http.server
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import servers

HERE = os.path.dirname(os.path.abspath(__file__))
CHROMIUM = "/usr/bin/chromium"
BLOB = 1 << 20
TEXT = 100
USER = "did:peers:chromium"


def ensure_node_modules():
    """npm ci into tests/interop/node_modules (git-ignored) when missing.
    playwright-core has no install script and never fetches a browser.
    ctest runs the coturn and icestation variants at once: on a fresh clone
    both found no node_modules and the second npm ci removed the tree the
    first was filling. An exclusive lock around the check and the install
    makes one install and the other wait for a complete tree."""
    marker = os.path.join(HERE, "node_modules", "playwright-core", "package.json")
    lock_dir = os.environ.get("INTEROP_BUILD_DIR") or tempfile.gettempdir()
    os.makedirs(lock_dir, exist_ok=True)
    with open(os.path.join(lock_dir, "npm-ci.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.exists(marker):
            return
        env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
        r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts"],
                           cwd=HERE, env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and os.path.exists(marker), \
            f"npm ci failed:\n{r.stdout}{r.stderr}"


class PageServer:
    """Serves web/ and, for coturn, /ice-servers (the API's JSON shape)."""

    def __init__(self, port, server):
        turn = server

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                if self.path.startswith("/ice-servers") and turn.ice_url is None:
                    user = ""
                    if "user_did=" in self.path:
                        from urllib.parse import parse_qs, urlsplit
                        user = parse_qs(urlsplit(self.path).query).get("user_did", [""])[0]
                    return self._send(200, "application/json", json.dumps(turn.ice_servers(user)).encode())
                if self.path == "/favicon.ico":
                    return self._send(204, "image/x-icon", b"")
                return super().do_GET()

            def _send(self, code, ctype, body):
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", port), functools.partial(Handler, directory=os.path.join(HERE, "web")))
        self.origin = f"http://127.0.0.1:{port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        return False


def capture_interfaces():
    """Every interface that is up, except lo (a down one carries nothing and
    tshark refuses to open it)."""
    out = []
    for iface in sorted(os.listdir("/sys/class/net")):
        if iface == "lo":
            continue
        with open(f"/sys/class/net/{iface}/flags") as f:
            if int(f.read().strip(), 16) & 0x1:  # IFF_UP
                out.append(iface)
    return out


class Capture:
    """tshark on lo (TURN port only: the positive control) and on every other
    interface: everything but other processes' package fetches (TCP 80/443)
    and the kernel's own link housekeeping (ARP, IPv6 neighbour discovery:
    ICMPv6 types 133-137, which the kernel sends for the gateway on its own
    schedule). mDNS, DNS, STUN/TURN, MLD/IGMP and the rest stay in scope."""

    OUTSIDE_FILTER = ("not (tcp port 80 or tcp port 443 or arp"
                      " or (icmp6 and ip6[40] >= 133 and ip6[40] <= 137))")

    def __init__(self, turn_port, workdir, max_seconds=300):
        self.turn_port = turn_port
        self.path = os.path.join(workdir, "capture.pcapng")
        self.ifaces = capture_interfaces()
        argv = ["tshark", "-q", "-i", "lo", "-f", f"udp port {turn_port} or tcp port {turn_port}"]
        for iface in self.ifaces:
            argv += ["-i", iface, "-f", self.OUTSIDE_FILTER]
        argv += ["-w", self.path, "-a", f"duration:{max_seconds}"]
        self.argv = argv
        self.proc = None
        self.stderr = []

    def __enter__(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        started = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.stderr.append(line)
                # dumpcap names the file once packets can be written.
                if "File: " in line:
                    started.set()

        threading.Thread(target=pump, daemon=True).start()
        deadline = time.monotonic() + 30
        while not (started.wait(0.05) and os.path.exists(self.path)):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"tshark did not start: {self.argv}\n{''.join(self.stderr)}")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # tshark flushes the file on SIGINT
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __exit__(self, *exc):
        self.stop()
        return False

    def packets(self):
        """[(interface, summary line)] from the capture file."""
        r = subprocess.run(["tshark", "-r", self.path, "-T", "fields", "-E", "separator=|",
                            "-e", "frame.interface_name", "-e", "_ws.col.Protocol",
                            "-e", "_ws.col.Source", "-e", "_ws.col.Destination", "-e", "_ws.col.Info"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, f"tshark -r failed: {r.stderr}"
        out = []
        for line in r.stdout.splitlines():
            iface, _, rest = line.partition("|")
            out.append((iface, rest))
        return out


def run_browser(page_url, ice_url, workdir, transports="udp,tcp"):
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=workdir)
    argv = ["node", os.path.join(HERE, "chromium.mjs"), "--page", page_url, "--ice-url", ice_url,
            "--user", USER, "--transports", transports, "--profile", profile,
            "--blob", str(BLOB), "--text", str(TEXT)]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, cwd=HERE, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=240)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"chromium driver did not finish in 240s:\n{e.stdout}\n{e.stderr}") from None
    reports = [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    assert reports and "browser" in reports[0], \
        f"chromium driver failed (exit {r.returncode}):\n{r.stdout}\n{r.stderr[-4000:]}"
    return r.returncode, reports[0]["browser"], reports[1:], r.stderr, time.monotonic() - t0


def check_report(server, rep, stderr):
    t = rep.get("transport")
    assert "error" not in rep, f"{t}: page failed: {rep.get('error')}\n{json.dumps(rep, indent=1)}\n{stderr[-3000:]}"
    assert rep["iceStatus"] == 200, f"{t}: ice-servers fetch returned {rep['iceStatus']}"
    assert rep["iceServers"] == [[u for u in rep["iceServers"][0] if u.endswith("transport=" + t)]]
    assert not rep["errors"], f"{t}: ICE errors: {rep['errors']}"
    for side in ("pc1", "pc2"):
        cands = rep["candidates"][side]
        assert cands and all(" typ relay " in c for c in cands), f"{t}: {side} candidates {cands}"
    assert rep["textEchoed"] == TEXT, f"{t}: {rep['textEchoed']} of {TEXT} text messages echoed"
    want = f"blob:{BLOB // (16 * 1024)}:{BLOB}:{rep['blobSha256']}"
    assert rep["blobReport"] == want, f"{t}: blob report {rep['blobReport']!r}, want {want!r}"
    pairs = rep["pair"]
    for side, other in (("pc1", "pc2"), ("pc2", "pc1")):
        p = pairs[side]
        assert p["state"] == "succeeded" and p["nominated"], f"{t}: {side} pair {p}"
        loc, rem = p["local"], p["remote"]
        assert loc["candidateType"] == "relay" and rem["candidateType"] == "relay", \
            f"{t}: {side} selected pair is not relay/relay: {p}"
        assert loc["relayProtocol"] == t, f"{t}: {side} relayProtocol {loc['relayProtocol']}"
        assert server.in_relay_range(loc["address"], loc["port"]), \
            f"{t}: {side} relay {loc['address']}:{loc['port']} not on {server.relay_ip} {server.relay_range}"
        peer = pairs[other]["local"]
        assert (rem["address"], rem["port"]) == (peer["address"], peer["port"]), \
            f"{t}: {side} remote {rem} is not {other}'s relay {peer}"
    assert pairs["pc1"]["bytesSent"] >= BLOB, f"{t}: pc1 sent only {pairs['pc1']['bytesSent']} bytes"
    print(f"ok {t}: relay/relay {pairs['pc1']['local']['port']}<->{pairs['pc2']['local']['port']} "
          f"(relayProtocol {t}), {TEXT} messages echoed, 1 MiB sha256 {rep['blobSha256'][:12]} intact, "
          f"connect {rep['connectMs']} ms, blob {rep['blobMs']} ms")


def check_capture(cap, what="the browser run"):
    pkts = cap.packets()
    lo = [p for p in pkts if p[0] == "lo"]
    outside = [p for p in pkts if p[0] != "lo"]
    assert lo, f"positive control failed: no TURN packet captured on lo (port {cap.turn_port})"
    assert not outside, f"packets left loopback during {what}:\n" + \
        "\n".join(f"{i}: {s}" for i, s in outside[:50])
    print(f"ok capture: {len(lo)} TURN packets on lo, 0 on {', '.join(cap.ifaces) or '(none)'}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    ap.add_argument("--no-capture", action="store_true", help="skip the tshark check (debugging)")
    opts = ap.parse_args()
    t0 = time.monotonic()
    assert os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} missing (Debian package chromium)"
    ensure_node_modules()
    page_port = servers.extra_port("chromium", "page", opts.server)
    origin = f"http://127.0.0.1:{page_port}"
    workdir = tempfile.mkdtemp(prefix="interop-chromium-")
    try:
        with servers.make("chromium", opts.server, cors_origins=[origin]) as server, \
                PageServer(page_port, server) as page:
            ice_url = server.ice_url or f"{page.origin}/ice-servers"
            page_url = f"{page.origin}/turn.html"
            cap = None if opts.no_capture else Capture(server.port, workdir)
            if cap:
                cap.__enter__()
            try:
                code, version, reports, stderr, took = run_browser(page_url, ice_url, workdir)
            finally:
                if cap:
                    cap.stop()
            print(f"chromium {version}, {len(reports)} runs in {took:.1f}s")
            assert [r.get("transport") for r in reports] == ["udp", "tcp"], f"runs: {reports}"
            for rep in reports:
                check_report(server, rep, stderr)
            assert code == 0, f"driver exited {code}"
            if cap:
                check_capture(cap)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"PASS test_chromium --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
