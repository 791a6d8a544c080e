"""The shipped per-user limits fit a real call (docs/turn.md, "Why 30 and
60"). With max-allocations-per-user and allocations-per-minute-per-user left
at their defaults, one DID plays a 4-person mesh the way a browser does it:
one allocation per TURN URL (udp, tcp, tls), three connections per device,
two devices, an ICE restart on one while its old allocations linger, a
network change on the other. Every Allocate must succeed. Then the limits
must still be there: the 31st live allocation and the 61st Allocate of the
minute get 486 (per_user, then per_user_rate).
Ports 17000-17009, relay 17500-17599."""

import shutil
import sys
import tempfile

from icetest import Daemon
from turnclient import TlsTurnClient, TurnClient, TurnError, client_ctx, make_cert

HTTP, PORT, TLS = 17000, 17001, 17002
DID = "did:peers:alice"
CONNECTIONS = 3  # a 4-person mesh: one RTCPeerConnection per other person


class Device:
    """One browser (a tab or a device) signed in as DID, with its own
    credential from the ICE API, as a page fetches it."""

    def __init__(self, d, ctx):
        self.d, self.ctx = d, ctx
        self.user, self.pw = d.turn_credentials(DID)
        self.clients = []

    def allocate(self, transport):
        if transport == "tls":
            c = TlsTurnClient(("127.0.0.1", TLS), self.user, self.pw, self.ctx)
        else:
            c = TurnClient(("127.0.0.1", PORT), self.user, self.pw, transport=transport)
        try:
            c.allocate()
        except BaseException:
            c.close()
            raise
        return c

    def connect(self, n=CONNECTIONS):
        """n RTCPeerConnections: every TURN URL of the API answer once."""
        made = [self.allocate(t) for _ in range(n) for t in ("udp", "tcp", "tls")]
        self.clients += made
        return made

    def release(self, clients):
        """The browser closes those connections: Refresh(0), then the socket."""
        for c in clients:
            c.refresh(0)
            c.close()
            self.clients.remove(c)

    def close(self):
        for c in self.clients:
            c.close()
        self.clients = []


def quota(d, kind):
    return d.metric(f'icestation_turn_quota_rejected_total{{kind="{kind}"}}')


def expect_486(dev, kind):
    before = quota(dev.d, kind)
    try:
        c = dev.allocate("udp")
    except TurnError as e:
        assert e.code == 486, f"expected 486, got {e.code}"
        assert quota(dev.d, kind) == before + 1, f"486 not counted as {kind}"
        return
    c.close()
    raise AssertionError(f"an Allocate over the {kind} limit succeeded")


def main():
    tmp = tempfile.mkdtemp(prefix="icetest-mesh-")
    try:
        cert, key = make_cert(tmp)
        # No per-user key here: the defaults are what is tested.
        with Daemon(http_port=HTTP, stun_port=PORT,
                    turn_extra={"transports": ["udp", "tcp", "tls"],
                                "tls": {"port": TLS, "cert": cert, "key": key},
                                "relay-port-range": "17500-17599"}) as d:
            body = d.ice_servers(DID)
            urls = [u for e in body["ice_servers"] if "username" in e for u in e["urls"]]
            assert len(urls) == 3, f"the API should hand out 3 TURN URLs: {urls}"
            ctx = client_ctx(cert)
            a, b = Device(d, ctx), Device(d, ctx)
            try:
                a.connect()                  # 9 live
                b.connect()                  # 18: the same DID on a second device
                old = list(a.clients)
                a.connect()                  # 27: ICE restart, old ones linger
                assert d.metric("icestation_turn_allocations") == 27
                a.release(old)
                b_old = list(b.clients)
                b.connect()                  # network change on b: 27 live again
                b.release(b_old)             # Allocates so far: 36
                assert d.metric("icestation_turn_allocations") == 18
                print("mesh: 36 Allocates, at most 27 live, all granted")

                # The limits are still there: 30 live ... (the extra ones over
                # TCP: UDP challenges have their own per-IP limit.)
                extra = [a.allocate("tcp") for _ in range(12)]  # 30 live, 48 Allocates
                a.clients += extra
                expect_486(a, "per_user")
                # ... and 60 Allocates a minute (the 486 above gave its slot back).
                a.release(extra)
                a.clients += [a.allocate("tcp") for _ in range(12)]  # 60 Allocates
                a.release(a.clients[-12:])
                expect_486(a, "per_user_rate")
                print("limits: 31st live allocation and 61st Allocate refused")
            finally:
                a.close()
                b.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
