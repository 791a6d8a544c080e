"""What the live-operations tests share: reloads by signal or admin API
with a wait for their outcome, relaying checks on a bound channel (it
flows, or it has stopped), and the admin API's allocation listing.

Ports: tests/PORTS.md gives tests/live 10000-10999 (listen) and
11000-11999 (relay); each test file names its own slice."""

import signal
import struct
import urllib.parse

from icetest import wait_for
from turnclient import TurnError, recv_from
from test_limits import expect_error  # noqa: F401 (re-exported)

RELOADS_OK = 'icestation_config_reload_total{result="ok"}'
RELOADS_ERROR = 'icestation_config_reload_total{result="error"}'
GENERATION = "icestation_config_generation"


def caught_up(d):
    """Return once every worker has taken what the main thread posted to it
    before this call (a new generation: a reload, a drain, a revocation).
    A generation is applied at a worker's next loop pass, after the reload
    answered; a listing is a command in the same mailbox, taken with any
    pending generation and run after it (src/net/worker.c), so its answer
    is the barrier."""
    status, _ = d.admin("GET", "/admin/v1/allocations")
    assert status == 200, status


def reloads(d):
    """(ok, error) reload counts from /metrics."""
    m = d.metrics()
    return m.get(RELOADS_OK, 0), m.get(RELOADS_ERROR, 0)


def sighup(d, timeout=10):
    """SIGHUP, then wait until the daemon counted the reload and the workers
    took it: "ok" or "error"."""
    ok, err = reloads(d)
    d.proc.send_signal(signal.SIGHUP)
    done = wait_for(lambda: (lambda r: r if r != (ok, err) else None)(reloads(d)),
                    timeout, interval=0.01, what="SIGHUP reload counted")
    assert done in ((ok + 1, err), (ok, err + 1)), (ok, err, done)
    caught_up(d)
    return "ok" if done[0] == ok + 1 else "error"


def admin_reload(d):
    """POST /admin/v1/reload, answered once the workers took it (applied):
    the new generation; fails on any other answer."""
    status, body = d.admin("POST", "/admin/v1/reload")
    assert status == 200 and body["status"] == "reloaded" and body["applied"] is True, \
        (status, body)
    return body["generation"]


def user_path(user):
    return urllib.parse.quote(user, safe="")


def allocations(d, user=None):
    """The admin API's listing: {id: entry}."""
    path = "/admin/v1/allocations"
    if user is not None:
        path += "?user=" + user_path(user)
    status, body = d.admin("GET", path)
    assert status == 200, (status, body)
    assert body["truncated"] is False and body["total"] == len(body["allocations"]), body
    return {a["id"]: a for a in body["allocations"]}


def bind(c, peer, number):
    """Permission and channel number on c's allocation to peer."""
    c.create_permission(peer.getsockname())
    c.channel_bind(number, peer.getsockname())


def both_ways(c, peer, number, tag, timeout=5):
    """One datagram each way through c's bound channel to peer."""
    out = b"out:" + tag
    c.send_channel(number, out)
    got = recv_from(peer, timeout)
    assert got == (out, c.relayed), (tag, got)
    back = b"back:" + tag
    peer.sendto(back, c.relayed)
    r = c.recv_relayed(timeout)
    assert r == ("chan", number, back), (tag, r)


def relay_stopped(c, peer, number, relayed, wait=0.5):
    """Nothing crosses c's channel to peer any more, in either direction.
    relayed is the relay address the allocation had."""
    try:
        c.send_channel(number, b"after the end")
    except OSError:
        pass  # a closed TCP connection is a stopped relay too
    assert recv_from(peer, wait) is None, "the peer still receives through the relay"
    peer.sendto(b"after the end", relayed)
    try:
        r = c.recv_relayed(wait)
    except (ConnectionResetError, OSError):
        r = None
    assert r is None, f"the client still receives through the relay: {r}"


def refresh_refused(c, codes=(437, 401)):
    """The allocation is gone: Refresh answers one of codes (or a TCP
    client's connection was closed with it)."""
    try:
        c.refresh(600)
    except TurnError as e:
        assert e.code in codes, f"Refresh got {e.code}, expected one of {codes}"
        return e.code
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        assert c.transport != "udp", "a UDP client's Refresh went unanswered"
        return "closed"
    raise AssertionError("Refresh succeeded on an allocation that should be gone")


def alloc_worker(alloc_id):
    """The worker an allocation lives on: its id is worker << 48 | sequence."""
    return int(alloc_id, 16) >> 48


def seq_payload(tag, n):
    return tag + struct.pack("!I", n)
