#!/usr/bin/python3
"""Python aioice (Debian python3-aioice) against a TURN server.

Gathers candidates with relay-only policy through TURN over UDP and over TCP
(turn_transport='tcp'), with credentials from the server's ice-servers
answer, and asserts that exactly one candidate comes back, of type relay, on
the server's advertised relay address and port range. Then two relay-only
aioice Connections run ICE against each other and exchange datagrams, so
the allocation carries traffic (permissions, then relayed data both ways).
The refusals: a wrong secret, an expired username and a tampered credential
make gathering raise with a 401.

Host candidates are suppressed (get_host_addresses patched to return
nothing) so the agents never bind or probe a non-loopback interface.

Usage: test_aioice.py --server coturn|icestation
"""

import argparse
import asyncio
import time

import aioice
import aioice.ice
from aioice import stun

import servers

# Relay-only agents: no host sockets at all. TransportPolicy.RELAY alone
# still binds host sockets and pairs them, so a host->relay pair could win.
aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: []

DATAGRAMS = 50


def connection(server, transport, user, password, controlling):
    return aioice.Connection(
        ice_controlling=controlling, components=1,
        turn_server=(server.host, server.port), turn_username=user, turn_password=password,
        turn_transport=transport, use_ipv6=False,
        transport_policy=aioice.TransportPolicy.RELAY)


async def gather(server, transport):
    user, cred = server.credentials("did:peers:aioice")
    conn = connection(server, transport, user, cred, True)
    try:
        await asyncio.wait_for(conn.gather_candidates(), 15)
        cands = conn.local_candidates
        assert len(cands) == 1, f"{transport}: expected one relay candidate, got {cands}"
        c = cands[0]
        assert c.type == "relay", f"{transport}: candidate type {c.type}: {c}"
        assert server.in_relay_range(c.host, c.port), \
            f"{transport}: relay {c.host}:{c.port} not on {server.relay_ip} {server.relay_range}"
        print(f"ok gather {transport}: {c.to_sdp()}")
    finally:
        await conn.close()


async def exchange(server, transport):
    """Two relay-only agents connect through the server and swap datagrams."""
    ua, ca = server.credentials("did:peers:aioice-a")
    ub, cb = server.credentials("did:peers:aioice-b")
    a = connection(server, transport, ua, ca, True)
    b = connection(server, transport, ub, cb, False)
    try:
        await asyncio.wait_for(asyncio.gather(a.gather_candidates(), b.gather_candidates()), 15)
        for x, y in ((a, b), (b, a)):
            for c in x.local_candidates:
                await y.add_remote_candidate(c)
            await y.add_remote_candidate(None)
            y.remote_username, y.remote_password = x.local_username, x.local_password
        await asyncio.wait_for(asyncio.gather(a.connect(), b.connect()), 20)
        for conn in (a, b):
            pair = conn._nominated.get(1)
            assert pair is not None, "no nominated pair"
            assert pair.local_candidate.type == "relay" and pair.remote_candidate.type == "relay", \
                f"selected pair is not relay/relay: {pair}"
        for i in range(DATAGRAMS):
            msg = f"aioice-{transport}-{i:04d}-".encode() * (1 + i % 20)
            await a.send(msg)
            got = await asyncio.wait_for(b.recv(), 5)
            assert got == msg, f"datagram {i} a->b altered"
            await b.send(got[::-1])
            back = await asyncio.wait_for(a.recv(), 5)
            assert back == msg[::-1], f"datagram {i} b->a altered"
        print(f"ok exchange {transport}: relay/relay pair, {DATAGRAMS} datagrams each way intact")
    finally:
        await a.close()
        await b.close()


async def refused(server, transport, name, user, password):
    conn = connection(server, transport, user, password, True)
    try:
        try:
            await asyncio.wait_for(conn.gather_candidates(), 15)
        except stun.TransactionFailed as e:
            code = e.response.attributes.get("ERROR-CODE", (None, ""))[0]
            assert code == 401, f"{name} ({transport}): expected 401, got {e}"
            print(f"ok {name} ({transport}): {e}")
            return
        raise AssertionError(f"{name} ({transport}): gathering succeeded: {conn.local_candidates}")
    finally:
        await conn.close()


async def run(server):
    for transport in ("udp", "tcp"):
        await gather(server, transport)
    for transport in ("udp", "tcp"):
        await exchange(server, transport)
    user = "did:peers:aioice"
    good_user, good_cred = server.credentials(user)
    for transport in ("udp", "tcp"):
        await refused(server, transport, "wrong secret", *server.mint(user, secret=server.secret + "x"))
        await refused(server, transport, "expired username", *server.mint(user, ttl=-120))
        await refused(server, transport, "tampered credential", good_user, servers.tamper(good_cred))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    opts = ap.parse_args()
    t0 = time.monotonic()
    with servers.make("aioice", opts.server) as server:
        asyncio.run(run(server))
    print(f"PASS test_aioice --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
