#!/usr/bin/python3
"""aioice (Debian python3-aioice) against a dual-stack Station on loopback
(issue 22): from ONE ICE answer, the IPv4 TURN URL gives a relay on
127.0.0.1 and the IPv6 TURN URL a relay on ::1. aioice sends no
REQUESTED-ADDRESS-FAMILY (as browsers), so the IPv6 relay shows that an
Allocate arriving over IPv6 gets a relay of its own family, advertised on
the IPv6 public address. Then two relay-only agents on the IPv6 URL connect
and swap datagrams through their IPv6 relays.

Host candidates are suppressed so the agents never bind a non-loopback
interface. A second Station advertises documentation addresses of each
family outside its relay-ip-range (a NAT): each relay is then advertised on
its family's public address. Ports: listen 4020-4023, relays 4200-4399
(tests/PORTS.md)."""

import asyncio
import ipaddress
import re
import time

import aioice
import aioice.ice

import dualstack

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: []

PORT, HTTP, RELAY = 4020, 4021, (4200, 4299)
NAT_PORT, NAT_RELAY = 4022, (4300, 4399)
DATAGRAMS = 30
URL = re.compile(r"^turn:(\[[0-9a-f:]+\]|[0-9.]+):(\d+)\?transport=(udp|tcp)$")


def turn_urls(entry):
    """{(family, transport): (host, port)} from one answer's turn: URLs."""
    out = {}
    for u in entry["urls"]:
        m = URL.match(u)
        if m:
            host = m.group(1).strip("[]")
            fam = ipaddress.ip_address(host).version
            out[(fam, m.group(3))] = (host, int(m.group(2)))
    return out


def connection(server, transport, user, password, controlling):
    return aioice.Connection(
        ice_controlling=controlling, components=1, turn_server=server, turn_username=user,
        turn_password=password, turn_transport=transport, use_ipv6=True,
        transport_policy=aioice.TransportPolicy.RELAY)


async def gather(server, transport, user, password, want_ip, ports=RELAY):
    conn = connection(server, transport, user, password, True)
    try:
        await asyncio.wait_for(conn.gather_candidates(), 15)
        cands = conn.local_candidates
        assert len(cands) == 1 and cands[0].type == "relay", f"{server} {transport}: {cands}"
        c = cands[0]
        assert c.host == want_ip and ports[0] <= c.port <= ports[1], \
            f"over {server[0]} ({transport}): relay {c.host}:{c.port}, want {want_ip} in {ports}"
        print(f"ok gather over {server[0]} {transport}: {c.to_sdp()}")
    finally:
        await conn.close()


async def exchange(server, user, password):
    a = connection(server, "udp", user, password, True)
    b = connection(server, "udp", user, password, False)
    try:
        await asyncio.wait_for(asyncio.gather(a.gather_candidates(), b.gather_candidates()), 15)
        for x, y in ((a, b), (b, a)):
            for c in x.local_candidates:
                assert c.host == "::1", f"relay not IPv6: {c}"
                await y.add_remote_candidate(c)
            await y.add_remote_candidate(None)
            y.remote_username, y.remote_password = x.local_username, x.local_password
        await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 20)
        for i in range(DATAGRAMS):
            msg = f"dualstack-{i:04d}-".encode() * (1 + i % 10)
            await a.send(msg)
            assert await asyncio.wait_for(b.recv(), 5) == msg, f"datagram {i} a->b"
            await b.send(msg[::-1])
            assert await asyncio.wait_for(a.recv(), 5) == msg[::-1], f"datagram {i} b->a"
        print(f"ok exchange over [::1]: relay/relay on ::1, {DATAGRAMS} datagrams each way")
    finally:
        await a.close()
        await b.close()


async def run(d):
    entry = dualstack.turn_entry(d.ice_servers("did:peers:aioice-ds"))
    user, password = entry["username"], entry["credential"]
    urls = turn_urls(entry)
    assert set(urls) == {(4, "udp"), (4, "tcp"), (6, "udp"), (6, "tcp")}, entry["urls"]
    for transport in ("udp", "tcp"):
        await gather(urls[(4, transport)], transport, user, password, "127.0.0.1")
        await gather(urls[(6, transport)], transport, user, password, "::1")
    await exchange(urls[(6, "udp")], user, password)


async def run_nat(d):
    """Public addresses outside relay-ip-range (a 1:1 NAT of each family):
    XOR-RELAYED-ADDRESS shows the public address of the relay's family."""
    entry = dualstack.turn_entry(d.ice_servers("did:peers:aioice-nat"))
    assert [u.split("?")[0] for u in entry["urls"]] == [
        f"turn:203.0.113.7:{NAT_PORT}", f"turn:203.0.113.7:{NAT_PORT}",
        f"turn:[2001:db8::7]:{NAT_PORT}", f"turn:[2001:db8::7]:{NAT_PORT}"], entry["urls"]
    user, password = entry["username"], entry["credential"]
    # Reached on loopback; nothing is sent to the documentation addresses.
    await gather(("127.0.0.1", NAT_PORT), "udp", user, password, "203.0.113.7", NAT_RELAY)
    await gather(("::1", NAT_PORT), "udp", user, password, "2001:db8::7", NAT_RELAY)
    # A dual allocation: each relay on its own family's public address.
    dualstack.dual_allocate(d, ("127.0.0.1", NAT_PORT), 0x8000, "did:peers:aioice-nat",
                            ["203.0.113.7", "2001:db8::7"], NAT_RELAY)


def main():
    t0 = time.monotonic()
    with dualstack.daemon("dual", PORT, HTTP, RELAY) as d:
        asyncio.run(run(d))
    with dualstack.daemon("dual", NAT_PORT, NAT_PORT + 1, NAT_RELAY,
                          public_ip=["2001:db8::7", "203.0.113.7"]) as d:
        asyncio.run(run_nat(d))
    print(f"PASS test_aioice (dual stack) in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    main()
