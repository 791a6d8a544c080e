"""STUN Binding over UDP against the real daemon, with clients nobody here
wrote (coturn's turnutils_stunclient, Python aioice) and a hand-rolled one for
the edge cases: XOR-MAPPED-ADDRESS is the source as seen, IPv4 and IPv6,
FINGERPRINT mirrored, 420 + UNKNOWN-ATTRIBUTES, indications and responses
from clients never answered. Ports 21000-21019."""

import asyncio
import struct
import subprocess
import sys

from icetest import Daemon, wait_for
from stunlib import (ALLOCATE, A_REQUESTED_TRANSPORT, A_SOFTWARE, A_UNKNOWN, BINDING, ERROR,
                     INDICATION, REQUEST, SUCCESS, attr, build, drop_key, ephemeral_range,
                     error_code, fingerprint_ok, parse, parse_stunclient, recv_until,
                     udp_binding, udp_socket, xor_mapped)

HTTP, PORT = 21000, 21001


def check_stunclient(d):
    # -L picks the source address; a second loopback address proves the
    # mapped address is the real source, not a constant.
    for local in ("127.0.0.1", "127.0.0.5"):
        before = d.metric("icestation_stun_binding_requests_total")
        out = subprocess.run(["turnutils_stunclient", "-L", local, "-p", str(PORT), "127.0.0.1"],
                             capture_output=True, text=True, timeout=20)
        assert out.returncode == 0, out
        pairs = parse_stunclient(out.stdout)
        assert pairs, f"no reflexive address in: {out.stdout!r}"
        lo, hi = ephemeral_range()
        for host, port in pairs:
            assert host == local, (host, local, out.stdout)
            assert lo <= port <= hi and port != PORT, (port, out.stdout)
        assert d.metric("icestation_stun_binding_requests_total") > before
    print("turnutils_stunclient ok", pairs)


def check_aioice():
    import aioice
    import aioice.ice

    # aioice leaves 127.0.0.1 out of its host addresses; this test is about
    # the server, so give it loopback as its only interface.
    aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

    async def gather():
        conn = aioice.Connection(ice_controlling=True, stun_server=("127.0.0.1", PORT),
                                 use_ipv6=False)
        try:
            await asyncio.wait_for(conn.gather_candidates(), 20)
            return list(conn.local_candidates)
        finally:
            await conn.close()

    cands = asyncio.run(gather())
    hosts = [c for c in cands if c.type == "host"]
    srflx = [c for c in cands if c.type == "srflx"]
    assert len(hosts) == 1 and len(srflx) == 1, cands
    assert (srflx[0].host, srflx[0].port) == (hosts[0].host, hosts[0].port), cands
    assert (srflx[0].related_address, srflx[0].related_port) == (hosts[0].host, hosts[0].port)
    print("aioice srflx ok", srflx[0].host, srflx[0].port)


def check_own_client(host):
    s = udp_socket(host)
    server = (host, PORT)
    try:
        # Plain request: mapped = our socket, SOFTWARE present, no FINGERPRINT.
        r = udp_binding(s, server)
        assert r is not None, f"no answer on {host}"
        assert r["method"] == BINDING and r["cls"] == SUCCESS
        assert xor_mapped(r) == s.getsockname()[:2], (xor_mapped(r), s.getsockname())
        assert attr(r, A_SOFTWARE).startswith(b"icestation/")
        assert fingerprint_ok(r) is None, "FINGERPRINT without being asked"
        # With FINGERPRINT: mirrored and valid.
        r = udp_binding(s, server, fingerprint=True)
        assert r is not None and r["cls"] == SUCCESS
        assert fingerprint_ok(r) is True
        assert xor_mapped(r) == s.getsockname()[:2]
        # Unknown comprehension-optional attribute: ignored, success.
        r = udp_binding(s, server, attrs=[(0x8FFE, b"abcd")])
        assert r is not None and r["cls"] == SUCCESS
        # Unknown comprehension-required attributes: 420 listing them.
        r = udp_binding(s, server, attrs=[(0x7FFE, b"x"), (0x0031, b"")], fingerprint=True)
        assert r is not None and r["cls"] == ERROR, r
        assert error_code(r) == 420
        types = struct.unpack("!%dH" % (len(attr(r, A_UNKNOWN)) // 2), attr(r, A_UNKNOWN))
        assert sorted(types) == [0x0031, 0x7FFE], types
        assert fingerprint_ok(r) is True
        assert attr(r, 0x0020) is None, "420 must not carry a mapped address"
    finally:
        s.close()
    print("own client ok on", host)


def check_not_answered(d, host):
    """Indications and responses from a client, and TURN requests while TURN
    is not wired, are counted and never answered. The fence: a good request
    sent after them on the same socket is answered, and its answer is the
    first thing that arrives (one server socket, in-order loopback)."""
    s = udp_socket(host)
    server = (host, PORT)
    cases = [
        (dict(method=BINDING, cls=INDICATION), "icestation_stun_binding_indications_total"),
        (dict(method=BINDING, cls=SUCCESS), drop_key("unexpected_class")),
        (dict(method=BINDING, cls=ERROR), drop_key("unexpected_class")),
        (dict(method=ALLOCATE, cls=REQUEST, attrs=[(A_REQUESTED_TRANSPORT, b"\x11\0\0\0")]),
         "icestation_net_turn_unhandled_total"),
    ]
    try:
        for kw, key in cases:
            before = d.metric(key)
            msg, _ = build(**kw)
            s.sendto(msg, server)
            wait_for(lambda: d.metric(key) >= before + 1, 10, what=key)
            fence, tid = build()
            s.sendto(fence, server)
            first = recv_until(s, lambda data: True, 5)
            assert first is not None, "fence not answered"
            assert parse(first)["tid"] == tid, f"{kw} was answered: {parse(first)}"
    finally:
        s.close()
    print("unanswered classes ok on", host)


def main():
    # STUN-only: these checks are about the Binding service, where TURN
    # methods are dropped unanswered (with TURN on they would get a 401).
    with Daemon(http_port=HTTP, stun_port=PORT, listen=["127.0.0.1", "::1"], turn=False) as d:
        check_stunclient(d)
        check_aioice()
        for host in ("127.0.0.1", "::1"):
            check_own_client(host)
            check_not_answered(d, host)
        m = d.metrics()
        assert m["icestation_stun_binding_responses_total{result=\"unknown_attribute\"}"] == 2
        assert m["icestation_stun_binding_responses_total{result=\"success\"}"] >= 8
    return 0


if __name__ == "__main__":
    sys.exit(main())
