"""The status page (issue 17): GET /admin/ in Debian's Chromium against a
live daemon with traffic, in a cluster (one node, a test-owned
redis-server), its admin API over TCP on 127.0.0.1 with a bearer token.

The driver (statuspage.mjs) loads the page twice: without a token (the
page shows its token form; the token typed in brings the data) and with
#token= in the URL (read, then removed from the address bar). While UDP
and TCP clients of three users relay both ways, the page polls until its
bit rate chart has points above zero. The test then stops the traffic,
takes the admin API's JSON once the counters are still, and the page,
two polls later, must show exactly those numbers: state, version,
generation, workers, allocations in all and by transport, connections,
revocations, relayed bytes and datagrams each way, the served addresses,
and the top users with their allocations and bytes, and the cluster's node with its
state, allocations and version (the uptime, read a few polls later, no
less than the snapshot's).
The self-test button's table must list the steps the API's self-test
lists. The page made no request anywhere but its own listener, logged no
error, carries a Content-Security-Policy, hides the cluster section (no
cluster route), and fits a 390-px phone screen. The screenshot goes to
$OPERATOR_SCREENSHOT (default: the build directory); docs/status-page.png
is one of these.
Ports 8200-8209, Redis 8450, relay 8700-8749."""

import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from clusterlib import Redis
from icetest import Daemon, wait_for
from turnclient import TurnClient, udp_peer

HERE = os.path.dirname(os.path.abspath(__file__))
INTEROP = os.path.join(os.path.dirname(HERE), "interop")
sys.path.insert(0, INTEROP)
from test_chromium import ensure_node_modules  # noqa: E402

HTTP, PORT, ADMIN = 8200, 8202, 8201
HTTP2, PORT2, ADMIN2 = 8203, 8205, 8204  # the daemon without a cluster
REDIS = 8450
TOKEN = "status-page-token-0123456789"
USERS = {"did:peers:alice": ["udp", "udp", "udp"], "did:peers:bob": ["tcp", "tcp"],
         "did:peers:carol": ["udp"]}
TRAFFIC_MAX_S = 240  # the traffic thread's bound, whatever happens


def admin(path):
    conn = http.client.HTTPConnection("127.0.0.1", ADMIN, timeout=40)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        r = conn.getresponse()
        body = r.read()
        assert r.status == 200, (path, r.status, body)
        return json.loads(body)
    finally:
        conn.close()


class Traffic:
    """Each client relays 200-byte datagrams through a bound channel to its
    own peer socket, about 40 a second, and gets 120-byte ones back half as
    often (two lines apart on the chart), until stopped (or TRAFFIC_MAX_S)."""

    def __init__(self, d):
        self.pairs = []
        for user, transports in USERS.items():
            name, pw = d.turn_credentials(user)
            for t in transports:
                c = TurnClient(("127.0.0.1", PORT), name, pw, transport=t)
                c.allocate()
                peer = udp_peer()
                c.create_permission(peer.getsockname())
                c.channel_bind(0x4000, peer.getsockname())
                self.pairs.append((c, peer))
        self.stop_ev = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        end = time.monotonic() + TRAFFIC_MAX_S
        tick = 0
        while not self.stop_ev.is_set() and time.monotonic() < end:
            for c, peer in self.pairs:
                c.send_channel(0x4000, b"o" * 200)
                if tick % 2 == 0:
                    peer.sendto(b"b" * 120, c.relayed)
            tick += 1
            time.sleep(0.025)
            self.drain()

    def drain(self):
        for c, peer in self.pairs:
            while c.recv_relayed(0.0005) is not None:
                pass
            try:
                while True:
                    peer.recvfrom(65536)
            except BlockingIOError:
                pass

    def stop(self):
        self.stop_ev.set()
        self.thread.join(10)
        self.drain()

    def close(self):
        for c, peer in self.pairs:
            c.close()
            peer.close()


def still(timeout=10):
    """The status once the relayed counters stop moving (traffic stopped)."""
    prev = None

    def same():
        nonlocal prev
        s = admin("/admin/v1/status")
        cur = (s["relayed"]["to_peer_bytes"], s["relayed"]["to_client_bytes"])
        ok = cur == prev
        prev = cur
        return s if ok else None
    return wait_for(same, timeout, interval=0.3, what="relayed counters still")


def num(text):
    return int(text.replace(",", ""))


def uptime_s(text):
    days = 0
    if " d " in text:
        d, text = text.split(" d ")
        days = int(d)
    h, m, s = (int(x) for x in text.split(":"))
    return days * 86400 + h * 3600 + m * 60 + s


def compare(page, status, allocs, cluster):
    shown = page["shown"]
    for key in ("status", "version"):
        assert shown[key] == status[key], (key, shown[key], status[key])
    for key in ("generation", "workers", "allocations", "tcp_connections", "tls_connections",
                "revocations"):
        assert num(shown[key]) == status[key], (key, shown[key], status[key])
    # The page read its uptime two polls or more after the snapshot.
    assert 0 <= uptime_s(shown["uptime"]) - int(status["uptime_s"]) <= 30, (shown, status)
    for key in ("to_peer_bytes", "to_client_bytes", "to_peer_packets", "to_client_packets"):
        assert num(shown["relayed." + key]) == status["relayed"][key], (key, shown, status)
    by = {"udp": 0, "tcp": 0, "tls": 0}
    users = {}
    for a in allocs["allocations"]:
        by[a["transport"]] += 1
        u = users.setdefault(a["user"], [0, 0])
        u[0] += 1
        u[1] += a["to_peer"]["bytes"] + a["to_client"]["bytes"]
    for t, n in by.items():
        assert num(shown["alloc." + t]) == n, (t, shown, by)
    assert sum(by.values()) == status["allocations"] == 6, (by, status["allocations"])
    shown_users = {r["user"]: [num(r["cells"][1]), num(r["cells"][2])] for r in page["users"]}
    assert shown_users == users, (shown_users, users)
    assert [r["user"] for r in page["users"]] == \
        sorted(users, key=lambda u: (-users[u][0], -users[u][1])), page["users"]
    assert all(v[1] > 0 for v in users.values()), users
    assert page["clusterHidden"] is False, "the cluster section is hidden in a cluster"
    nodes = {r["node"]: r["cells"] for r in page["cluster"]}
    assert set(nodes) == {n["id"] for n in cluster["nodes"]} == {"station-a"}, (nodes, cluster)
    for n in cluster["nodes"]:
        assert nodes[n["id"]][0] == n["id"] + (" (this node)" if n["self"] else ""), nodes
        assert nodes[n["id"]][1] == n["state"] == "healthy", (nodes, n)
        assert nodes[n["id"]][2] == f"{n['allocations']:,} / {n['max_allocations']:,}", (nodes, n)
        assert nodes[n["id"]][5] == n["version"], (nodes, n)
    assert shown["cluster.redis"] == ("up" if cluster["redis_up"] else "down"), shown
    assert shown["cluster.node_id"] == cluster["node_id"], shown
    subs = {r["sub"]: r["cells"] for r in page["subservers"]}
    for s in status["subservers"]:
        assert subs[s["name"]][:4] == [s["name"], s["status"], " ".join(s["listen"]),
                                       s["public_addr"]], (subs, s)
        assert subs[s["name"]][4].startswith(", ".join(s["transports"])), (subs, s)


def main():
    assert os.access("/usr/bin/chromium", os.X_OK), "/usr/bin/chromium missing (Debian chromium)"
    ensure_node_modules()
    work = tempfile.mkdtemp(prefix="icestation-statuspage-")
    shot = os.environ.get("OPERATOR_SCREENSHOT") or os.path.join(
        os.environ.get("OPERATOR_BUILD_DIR") or tempfile.gettempdir(), "status-page.png")
    go = os.path.join(work, "go")
    cluster = {"enabled": True, "redis": f"redis://127.0.0.1:{REDIS}/0", "key-prefix": "optest:",
               "node-id": "station-a", "heartbeat": "200ms", "node-ttl": "1000ms"}
    d = Daemon(http_port=HTTP, stun_port=PORT, workers=2,
               admin={"listen": f"127.0.0.1:{ADMIN}", "bearer-tokens": [TOKEN]},
               turn_extra={"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "8700-8739",
                           "max-allocations": 40},
               server_extra={"cluster": cluster})
    d2 = Daemon(http_port=HTTP2, stun_port=PORT2,
                admin={"listen": f"127.0.0.1:{ADMIN2}", "bearer-tokens": [TOKEN]},
                turn_extra={"relay-port-range": "8740-8749"})
    redis = Redis(REDIS)
    traffic = None
    try:
        redis.start()
        d.start()
        d2.start()
        wait_for(lambda: admin("/admin/v1/cluster").get("redis_up"), 10, interval=0.2,
                 what="the daemon's Redis connections up")
        traffic = Traffic(d)
        traffic.thread.start()
        p = subprocess.Popen(["node", os.path.join(HERE, "statuspage.mjs"),
                              "--base", f"http://127.0.0.1:{ADMIN}",
                              "--base2", f"http://127.0.0.1:{ADMIN2}", "--token", TOKEN,
                              "--profile", os.path.join(work, "profile"), "--go", go,
                              "--shot", shot],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = p.stdout.readline()  # the driver's bounded waits end it on their own
            if line.strip() != "ready":
                p.wait(60)
                raise AssertionError(f"driver not ready: {line!r}\n{p.stderr.read()[-4000:]}")
            traffic.stop()
            status = still()
            allocs = admin("/admin/v1/allocations")
            cluster_now = admin("/admin/v1/cluster")
            open(go, "w").close()
            out, err = p.communicate(timeout=240)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
        assert p.returncode == 0, f"driver failed ({p.returncode}):\n{out}\n{err[-4000:]}"
        page = json.loads(out.strip().splitlines()[-1])

        assert page["pageStatus"] == 200 and "default-src 'none'" in page["csp"], page["csp"]
        assert page["loginShown"] and page["loginWorks"], page
        assert page["hashAfterLoad"] == "", "the token stayed in the address bar"
        origins = (f"http://127.0.0.1:{ADMIN}/", f"http://127.0.0.1:{ADMIN2}/")
        assert page["requests"] and all(u.startswith(origins) for u in page["requests"]), \
            [u for u in page["requests"] if not u.startswith(origins)]
        assert not page["errors"], page["errors"]
        assert page["busy"]["points"] >= 4 and page["busy"]["maxBps"] > 0, page["busy"]
        compare(page["quiet"], status, allocs, cluster_now)
        assert page["noCluster"]["clusterHidden"] is True, "a cluster section without a cluster"
        assert num(page["noCluster"]["shown"]["allocations"]) == 0, page["noCluster"]

        report = admin("/admin/v1/selftest")
        st = page["selftest"]
        assert [s["key"] for s in st["steps"]] == \
            [f"{s['transport'] or ''}.{s['name']}" for s in report["steps"]], (st, report)
        assert [s["cells"][2] for s in st["steps"]] == \
            ["ok" if s["ok"] else "FAIL" for s in report["steps"]], (st, report)
        assert [c["key"] for c in st["checks"]] == [c["name"] for c in report["checks"]]
        assert st["verdict"].startswith("passed") == report["ok"] is True, (st, report)

        ph = page["phone"]
        assert ph["scrollWidth"] <= ph["innerWidth"] == 390, ph
        assert 300 <= ph["chartWidth"] <= 390, ph
        assert os.path.getsize(shot) > 10000, shot
        print(f"screenshot: {shot}")
    finally:
        if traffic is not None:
            traffic.stop_ev.set()
            traffic.close()
        for x in (d, d2):
            if x.proc is not None:
                x.stop()
            x.cleanup()
        redis.cleanup()
        shutil.rmtree(work, ignore_errors=True)
    print("PASS test_statuspage")


if __name__ == "__main__":
    main()
