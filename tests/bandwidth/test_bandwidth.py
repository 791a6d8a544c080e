"""Bandwidth limits on the real daemon (issue 18), with the project's own
TURN client over UDP and TCP:

- max-bps-per-allocation: a client sending twice the limit through a
  channel; the rate measured at the peer (after the first second's burst)
  is the limit within 5 %, the drop counter equals what the peer missed, and
  another user on the same node sending under the limit loses nothing;
- over TCP the same limit holds by backpressure: nothing is dropped, the
  client is read more slowly;
- max-bytes-per-user-per-day: the allocation that crosses the budget is
  held to the floor rate and the user's next Allocate gets 486;
- bps-capacity: with the node relaying at its capacity, an Allocate gets
  486, and once the traffic stops Allocates are served again.
Ports 9000-9499, relay 9500-9999."""

import sys
import threading
import time

from icetest import Daemon, wait_for
from turnclient import TurnClient, TurnError, recv_from, udp_peer

HTTP1, PORT1 = 9000, 9001
HTTP2, PORT2 = 9002, 9003
HTTP3, PORT3 = 9004, 9005
LIMIT_BPS = 400_000  # 50 000 B/s


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except TurnError as e:
        assert e.code == code, f"expected {code}, got {e.code}"
        return e.msg
    raise AssertionError(f"expected error {code}, got success")


class Receiver(threading.Thread):
    """Counts what a peer socket receives, with arrival times."""

    def __init__(self, sock):
        super().__init__(daemon=True)
        self.sock = sock
        self.arrivals = []
        self.stop = False

    def run(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                data, _ = self.sock.recvfrom(65536)
            except (TimeoutError, OSError):
                continue
            self.arrivals.append((time.monotonic(), len(data)))

    def bytes_between(self, t0, t1):
        return sum(n for t, n in self.arrivals if t0 <= t < t1)


def paced_send(client, channel, size, pps, seconds):
    """Send size-byte ChannelData at pps for seconds; returns (count, start)."""
    start = time.monotonic()
    n = 0
    payload = b"x" * size
    while True:
        due = start + n / pps
        now = time.monotonic()
        if due - start >= seconds:
            return n, start
        if due > now:
            time.sleep(due - now)
        client.send_channel(channel, payload)
        n += 1


def setup(d, user, port, transport="udp"):
    u, p = d.turn_credentials(user)
    c = TurnClient(("127.0.0.1", port), u, p, transport=transport)
    peer = udp_peer()
    c.allocate()
    c.channel_bind(0x4000, peer.getsockname())
    return c, peer


def per_allocation():
    turn = {"max-bps-per-allocation": LIMIT_BPS, "allowed-peer-ip": ["127.0.0.0/8"],
            "relay-port-range": "9500-9599"}
    with Daemon(http_port=HTTP1, stun_port=PORT1, turn_extra=turn) as d:
        fast, fpeer = setup(d, "did:peers:fast", PORT1)
        calm, cpeer = setup(d, "did:peers:calm", PORT1)
        fr, cr = Receiver(fpeer), Receiver(cpeer)
        fr.start()
        cr.start()
        dropped0 = d.metric('icestation_turn_bandwidth_dropped_packets_total'
                            '{reason="allocation",direction="to_peer"}')
        # calm: 20 000 B/s, under the limit, at the same time.
        calm_out = {}
        t = threading.Thread(target=lambda: calm_out.update(
            n=paced_send(calm, 0x4000, 500, 40, 5.0)[0]))
        t.start()
        sent, start = paced_send(fast, 0x4000, 1000, 100, 5.0)  # 100 000 B/s
        t.join()
        time.sleep(0.5)
        fr.stop = cr.stop = True
        rate = fr.bytes_between(start + 1.0, start + 5.0) / 4.0
        want = LIMIT_BPS / 8
        assert abs(rate - want) <= 0.05 * want, f"rate at the peer {rate:.0f} B/s, limit {want:.0f}"
        got = len(fr.arrivals)
        dropped = d.metric('icestation_turn_bandwidth_dropped_packets_total'
                           '{reason="allocation",direction="to_peer"}') - dropped0
        assert dropped == sent - got, f"dropped {dropped}, sent {sent}, arrived {got}"
        assert len(cr.arrivals) == calm_out["n"], \
            f"the other user lost {calm_out['n'] - len(cr.arrivals)} of {calm_out['n']}"
        for c in (fast, calm):
            c.refresh(0)
            c.close()
        fpeer.close()
        cpeer.close()
    print(f"per allocation: {rate:.0f} B/s at the peer for a {want:.0f} B/s limit; "
          f"{dropped:.0f} dropped and counted; the other user lost nothing")


def per_allocation_tcp():
    turn = {"max-bps-per-allocation": LIMIT_BPS, "allowed-peer-ip": ["127.0.0.0/8"],
            "relay-port-range": "9600-9699"}
    with Daemon(http_port=HTTP1, stun_port=PORT1, turn_extra=turn) as d:
        c, peer = setup(d, "did:peers:tcp", PORT1, transport="tcp")
        r = Receiver(peer)
        r.start()
        # 3 s of 100 000 B/s offered: TCP is slowed, nothing dropped.
        sent, start = paced_send(c, 0x4000, 1000, 100, 3.0)
        wait_for(lambda: len(r.arrivals) >= sent, 15, what="every TCP frame relayed")
        end = max(t for t, _ in r.arrivals)
        r.stop = True
        rate = r.bytes_between(start + 1.0, end) / (end - start - 1.0)
        want = LIMIT_BPS / 8
        assert rate <= 1.05 * want, f"TCP rate {rate:.0f} B/s over the {want:.0f} limit"
        assert d.metric('icestation_turn_bandwidth_dropped_packets_total'
                        '{reason="allocation",direction="to_peer"}') == 0
        assert d.metric("icestation_turn_bandwidth_stream_waits_total") > 0
        c.refresh(0)
        c.close()
        peer.close()
    print(f"per allocation over TCP: all {sent} frames relayed at {rate:.0f} B/s, none dropped")


def daily_budget():
    turn = {"max-bytes-per-user-per-day": 100_000, "budget-floor-bps": 80_000,
            "allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "9700-9799"}
    with Daemon(http_port=HTTP2, stun_port=PORT2, turn_extra=turn) as d:
        c, peer = setup(d, "did:peers:spender", PORT2)
        r = Receiver(peer)
        r.start()
        paced_send(c, 0x4000, 1000, 200, 1.0)  # 200 kB: the budget is crossed
        wait_for(lambda: d.metric("icestation_turn_bandwidth_throttled_allocations") == 1, 5,
                 what="the allocation held to the floor")
        r.arrivals.clear()
        sent, start = paced_send(c, 0x4000, 1000, 100, 3.0)
        time.sleep(0.3)
        r.stop = True
        rate = r.bytes_between(start + 1.0, start + 3.0) / 2.0
        assert rate <= 1.05 * 10_000, f"over budget, still {rate:.0f} B/s (floor 10000)"
        assert rate >= 0.9 * 10_000, f"the floor rate should pass: {rate:.0f} B/s"
        assert d.metric('icestation_turn_bandwidth_dropped_packets_total'
                        '{reason="budget",direction="to_peer"}') > 0
        u, p = d.turn_credentials("did:peers:spender")
        again = TurnClient(("127.0.0.1", PORT2), u, p)
        msg = expect_error(486, again.allocate)
        again.close()
        assert b"budget" in (msg.get(0x0009) or b""), "486 says why"
        other, opeer = setup(d, "did:peers:other", PORT2)  # another user allocates
        for x in (c, other):
            x.refresh(0)
            x.close()
        peer.close()
        opeer.close()
    print(f"daily budget: held to {rate:.0f} B/s (floor 10000), next Allocate 486")


def capacity():
    turn = {"bps-capacity": 400_000, "allowed-peer-ip": ["127.0.0.0/8"],
            "relay-port-range": "9800-9899"}
    with Daemon(http_port=HTTP3, stun_port=PORT3, turn_extra=turn) as d:
        c, peer = setup(d, "did:peers:heavy", PORT3)
        r = Receiver(peer)
        r.start()
        # 100 000 B/s = 800 kbit/s, twice the capacity, for a second.
        t = threading.Thread(target=paced_send, args=(c, 0x4000, 1000, 100, 2.0))
        t.start()
        wait_for(lambda: d.metric("icestation_turn_relayed_bits_per_second") >= 400_000, 5,
                 what="the node at its capacity")
        u, p = d.turn_credentials("did:peers:late")
        late = TurnClient(("127.0.0.1", PORT3), u, p)
        msg = expect_error(486, late.allocate)
        assert b"capacity" in (msg.get(0x0009) or b""), "486 says why"
        t.join()
        r.stop = True
        assert len(r.arrivals) > 150, "live allocations keep relaying above the capacity"
        wait_for(lambda: d.metric("icestation_turn_relayed_bits_per_second") < 400_000, 10,
                 what="the rate falling")
        late.allocate()
        assert d.metric('icestation_turn_quota_rejected_total{kind="bps_capacity"}') == 1
        for x in (c, late):
            x.refresh(0)
            x.close()
        peer.close()
    print("capacity: 486 at the capacity, served again below it")


def main():
    per_allocation()
    per_allocation_tcp()
    daily_budget()
    capacity()
    return 0


if __name__ == "__main__":
    sys.exit(main())
