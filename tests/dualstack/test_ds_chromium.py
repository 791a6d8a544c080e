#!/usr/bin/python3
"""Chromium relay-only over the IPv6 TURN URL of a dual-stack Station
(issue 22), with tests/interop/test_chromium.py's harness unchanged: its
page, its driver (chromium.mjs, with its safety switches), its DataChannel
echo of 100 messages and 1 MiB blob checks, and its capture proving no
packet left loopback.

The Station listens, relays and advertises on 127.0.0.1 and ::1; the page
is handed that answer with only the [::1] URLs kept, so the browser's
Allocates (no REQUESTED-ADDRESS-FAMILY, as every browser) arrive over IPv6
and must get IPv6 relays, on ::1 in this suite's relay ports. TURN over
UDP only: the driver's resolver rules let the literal 127.0.0.1 through to
Chromium's TCP sockets but not ::1 (TURN/TCP to [::1] fails to connect
under them), and those switches stay exactly as they are.
Ports: listen 4060-4062, relays 4700-4999 (tests/PORTS.md)."""

import os
import shutil
import sys
import tempfile
import time

import dualstack

sys.path.insert(0, os.path.join(os.path.dirname(dualstack.HERE), "interop"))
import test_chromium as tc  # noqa: E402  (tests/interop: the browser harness)

PORT, HTTP, PAGE, RELAY = 4060, 4061, 4062, (4700, 4999)


class V6Only:
    """The dual-stack daemon as the harness's server: its ICE answer with
    only the IPv6 URLs, relays expected on ::1."""

    relay_ip = "::1"
    relay_range = RELAY
    port = PORT
    ice_url = None  # the page server hands out ice_servers() below

    def __init__(self, daemon):
        self.daemon = daemon

    def ice_servers(self, user):
        doc = self.daemon.ice_servers(user)
        urls = [u for e in doc["ice_servers"] for u in e["urls"]]
        assert any("[::1]" in u for u in urls) and any("127.0.0.1" in u for u in urls), \
            f"not a dual-stack answer: {urls}"
        for e in doc["ice_servers"]:
            e["urls"] = [u for u in e["urls"] if "[::1]" in u]
        return doc

    def in_relay_range(self, ip, port):
        return ip == self.relay_ip and RELAY[0] <= port <= RELAY[1]


def main():
    t0 = time.monotonic()
    assert os.access(tc.CHROMIUM, os.X_OK), f"{tc.CHROMIUM} missing (Debian package chromium)"
    tc.ensure_node_modules()
    workdir = tempfile.mkdtemp(prefix="dualstack-chromium-")
    try:
        with dualstack.daemon("dual", PORT, HTTP, RELAY) as d:
            server = V6Only(d)
            with tc.PageServer(PAGE, server) as page:
                cap = tc.Capture(PORT, workdir)
                cap.__enter__()
                try:
                    code, version, reports, stderr, took = tc.run_browser(
                        f"{page.origin}/turn.html", f"{page.origin}/ice-servers", workdir,
                        transports="udp")
                finally:
                    cap.stop()
                print(f"chromium {version}, {len(reports)} runs in {took:.1f}s")
                assert [r.get("transport") for r in reports] == ["udp"], f"runs: {reports}"
                for rep in reports:
                    assert all("[::1]" in u for u in rep["iceServers"][0]), rep["iceServers"]
                    tc.check_report(server, rep, stderr)
                assert code == 0, f"driver exited {code}"
                tc.check_capture(cap)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"PASS test_ds_chromium in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
