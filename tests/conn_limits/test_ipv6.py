"""An IPv6 /64 is one source for the per-address caps (issue 19): clients
at two addresses of 2001:db8:1::/64 share one count on the ICE API and on
STUN/TURN over TCP, so the fifth connection from that /64 is refused while
2001:db8:2::a, in another /64, is served; and the log lines name the
source masked (logger.mask-addresses: /48) with no client address in them.

Loopback has one IPv6 address, so the test runs in a network namespace of
its own (unshare --net, re-executing itself) with a veth pair that carries
the addresses; nothing leaves it. Ports 28300-28399 (inside the namespace)."""

import os
import subprocess
import sys

SERVER = "2001:db8:9::1"
SAME_A, SAME_B, SAME_C = "2001:db8:1::a", "2001:db8:1::b", "2001:db8:1::c"
OTHER = "2001:db8:2::a"
HTTP, TCP = 28300, 28301
CAP = 4


def enter_netns():
    """Re-run this file in a new network namespace (as root, or in a user
    namespace of its own otherwise) with the addresses above."""
    if os.environ.get("CONNCAP_NETNS") == "1":
        return
    cmd = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--user", "--map-root-user",
                                                          "--net"]
    env = dict(os.environ, CONNCAP_NETNS="1")
    os.execvpe(cmd[0], cmd + [sys.executable, os.path.abspath(__file__)], env)


def setup_addresses():
    run = lambda *a: subprocess.run(["ip", *a], check=True, timeout=10)  # noqa: E731
    run("link", "set", "lo", "up")
    run("link", "add", "cap0", "type", "veth", "peer", "name", "cap1")
    run("link", "set", "cap0", "up")
    run("link", "set", "cap1", "up")
    for a in (SERVER, SAME_A, SAME_B, SAME_C, OTHER):
        run("-6", "addr", "add", f"{a}/64", "dev", "cap0", "nodad")


def main():
    enter_netns()
    setup_addresses()
    from floodlib import closed_set, flood, log_lines, metrics_from, probe_http, refused
    from icetest import Daemon
    from turnclient import BINDING, TurnClient

    half = b"GET /healthz HTTP/1.1\r\nHo"
    with Daemon(http_port=HTTP, stun_port=TCP, listen=("127.0.0.1", "::"),
                secret="conn-limits-ipv6-s3cret-0123456789",
                http_listen=f"[::]:{HTTP}",
                http_extra={"max-connections-per-address": CAP},
                stun_extra={"tcp-max-connections-per-address": CAP},
                logger_extra={"mask-addresses": True}) as d:
        # ICE API: two addresses, one /64, one count.
        socks = flood(SAME_A, SERVER, HTTP, 2, half) + flood(SAME_B, SERVER, HTTP, 3, half)
        socks += flood(SAME_C, SERVER, HTTP, 1, half)
        assert closed_set(socks, {4, 5}) == {4, 5}, "the /64 got more than its cap"
        probe_http(OTHER, HTTP, "/healthz", host=SERVER)
        m = metrics_from(OTHER, HTTP, host=SERVER)
        assert m[refused("http", "per_address")] == 2, m[refused("http", "per_address")]
        for s in socks:
            s.close()

        # STUN over TCP: the same, with Bindings.
        socks = flood(SAME_A, SERVER, TCP, 3, b"\x00\x01") + flood(SAME_B, SERVER, TCP, 2,
                                                                   b"\x00\x01")
        assert closed_set(socks, {4}) == {4}, "the /64's fifth TCP connection was not refused"
        c = TurnClient((SERVER, TCP), "u", "p", "tcp", local=OTHER)
        try:
            assert c.transact(BINDING, [], timeout=5, auth=False).cls == 2
        finally:
            c.close()
        m = metrics_from(OTHER, HTTP, host=SERVER)
        assert m[refused("tcp", "per_address")] == 1, m[refused("tcp", "per_address")]
        for s in socks:
            s.close()

        # One line for the /64 in its minute on each listener group (the
        # ICE API's loop, the worker's TCP), masked to the /48.
        for listener in ("http", "tcp"):
            lines = log_lines(d, rf"conn: connection refused.*listener={listener} ")
            assert len(lines) == 1, lines
            assert "client=2001:db8:1::/48" in lines[0], lines
        assert not any(a in d.log() for a in (SAME_A, SAME_B, SAME_C)), "unmasked address logged"
    print("ipv6: one /64 is one source (ICE API and TCP), logged masked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
