#!/usr/bin/python3
"""Python aiortc (Debian python3-aiortc 1.4) against a TURN server.

Two RTCPeerConnections in one process, configured with
RTCConfiguration(iceServers=[RTCIceServer(...)]) built from the server's
ice-servers answer (restricted to one turn: transport per run, UDP then
TCP), connect relay-only and move DataChannel traffic: 100 text messages
echoed back, then 1 MiB of binary in 16 KiB messages, checked by SHA-256
and count. The selected ICE pair on both sides must be relay/relay, and
the signalled SDP must carry relay candidates only.

aiortc 1.4 has no iceTransportPolicy. Relay-only is forced underneath it:
aioice.ice.get_host_addresses returns nothing (no host sockets, so nothing
binds or probes a non-loopback interface and no host->relay pair can form)
and the gatherer's Connection gets transport_policy=RELAY.

Usage: test_aiortc.py --server coturn|icestation
"""

import argparse
import asyncio
import hashlib
import os
import time

import aioice
import aioice.ice
import aiortc.rtcicetransport as rtcice
from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection

import servers

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: []
_connection_kwargs = rtcice.connection_kwargs


def _relay_only_kwargs(ice_servers):
    kwargs = _connection_kwargs(ice_servers)
    kwargs["transport_policy"] = aioice.TransportPolicy.RELAY
    return kwargs


rtcice.connection_kwargs = _relay_only_kwargs

TEXT_MESSAGES = 100
BLOB = 1 << 20
CHUNK = 16 * 1024


def rtc_config(ice):
    return RTCConfiguration(iceServers=[
        RTCIceServer(urls=e["urls"], username=e.get("username"), credential=e.get("credential"))
        for e in ice["ice_servers"]])


def candidates(sdp):
    return [l for l in sdp.splitlines() if l.startswith("a=candidate:")]


def selected_pair(pc):
    conn = pc.sctp.transport.transport._connection
    return conn._nominated.get(1)


async def run_transport(server, transport):
    ice, dropped = servers.loopback_only(server.ice_servers("did:peers:aiortc"))
    ice = servers.restrict(ice, transport)
    pc1 = RTCPeerConnection(rtc_config(ice))
    pc2 = RTCPeerConnection(rtc_config(ice))
    loop = asyncio.get_running_loop()
    opened = loop.create_future()
    echoes = asyncio.Queue()
    blob_rx = {"n": 0, "bytes": 0, "sha": hashlib.sha256(), "done": loop.create_future()}

    dc = pc1.createDataChannel("interop", ordered=True)
    dc.on("open", lambda: opened.done() or opened.set_result(True))
    dc.on("message", lambda m: echoes.put_nowait(m))

    @pc2.on("datachannel")
    def on_datachannel(channel):
        @channel.on("message")
        def on_message(m):
            if isinstance(m, str):
                channel.send("echo:" + m)
                return
            blob_rx["n"] += 1
            blob_rx["bytes"] += len(m)
            blob_rx["sha"].update(m)
            if blob_rx["bytes"] >= BLOB and not blob_rx["done"].done():
                blob_rx["done"].set_result(True)
                channel.send("blob:%d:%d:%s" % (blob_rx["n"], blob_rx["bytes"],
                                                blob_rx["sha"].hexdigest()))

    try:
        await pc1.setLocalDescription(await pc1.createOffer())
        offer = pc1.localDescription
        cands = candidates(offer.sdp)
        assert cands and all(" typ relay" in c for c in cands), f"offer candidates: {cands}"
        await pc2.setRemoteDescription(offer)
        await pc2.setLocalDescription(await pc2.createAnswer())
        answer = pc2.localDescription
        cands2 = candidates(answer.sdp)
        assert cands2 and all(" typ relay" in c for c in cands2), f"answer candidates: {cands2}"
        await pc1.setRemoteDescription(answer)
        await asyncio.wait_for(opened, 30)

        for pc, side in ((pc1, "offerer"), (pc2, "answerer")):
            pair = selected_pair(pc)
            assert pair is not None, f"{side}: no selected pair"
            assert pair.local_candidate.type == "relay" and pair.remote_candidate.type == "relay", \
                f"{side}: selected pair not relay/relay: {pair}"
            assert server.in_relay_range(pair.local_candidate.host, pair.local_candidate.port), \
                f"{side}: local relay {pair.local_addr} not the server's"

        for i in range(TEXT_MESSAGES):
            msg = f"msg-{transport}-{i:03d}-" + "x" * (i * 7)
            dc.send(msg)
            got = await asyncio.wait_for(echoes.get(), 10)
            assert got == "echo:" + msg, f"text message {i} altered: {got[:60]!r}"

        data = os.urandom(BLOB)
        want_sha = hashlib.sha256(data).hexdigest()
        t0 = time.monotonic()
        for off in range(0, BLOB, CHUNK):
            dc.send(data[off:off + CHUNK])
        report = await asyncio.wait_for(echoes.get(), 60)
        took = time.monotonic() - t0
        want = "blob:%d:%d:%s" % (BLOB // CHUNK, BLOB, want_sha)
        assert report == want, f"1 MiB blob: got {report!r}, want {want!r}"
        pair = selected_pair(pc1)
        print(f"ok {transport}: pair {pair.local_addr} -> {pair.remote_addr} relay/relay, "
              f"{TEXT_MESSAGES} messages echoed, 1 MiB intact (sha256 {want_sha[:12]}) in {took:.2f}s"
              + (f", dropped non-loopback urls {dropped}" if dropped else ""))
    finally:
        await pc1.close()
        await pc2.close()


async def run(server):
    for transport in ("udp", "tcp"):
        await run_transport(server, transport)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    opts = ap.parse_args()
    t0 = time.monotonic()
    with servers.make("aiortc", opts.server) as server:
        asyncio.run(run(server))
    print(f"PASS test_aiortc --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
