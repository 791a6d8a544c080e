"""coturn's own client relays through icestation's RFC 6062 TCP relays:
turnutils_uclient -T (TCP relay, client to client: every client allocates a
TCP relay, Connects to every other client's relayed address, and the other
side gets a ConnectionAttempt; both bind data connections), over TCP and
over TLS (-S), on a daemon with two workers so data connections also
change workers. Checks uclient's summary (every message back, 0 lost, 0
send dropped, the byte counts) and that the daemon relayed exactly those
bytes through bound TCP data connections.
Ports 5200-5219, relays 5600-5699."""

import os
import subprocess
import sys
import tempfile
import time

from icetest import Daemon

from turnclient import make_cert

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))
from test_uclient import summary  # noqa: E402  (tests/interop: uclient's closing lines)

UCLIENT = "/usr/bin/turnutils_uclient"
HTTP, PORT, TLS_PORT = 5200, 5201, 5202
SECRET = "tcprelay-uclient-secret-0123456789"
MESSAGES, CLIENTS, LENGTH = 30, 4, 170


def run(d, name, port, extra):
    argv = [UCLIENT, "-p", str(port), "-T", "-W", SECRET, "-u", "did:peers:uclient",
            "-n", str(MESSAGES), "-m", str(CLIENTS), "-l", str(LENGTH)] + extra + ["127.0.0.1"]
    before_bound = d.metric('icestation_turn_tcp_connections_total{result="bound"}')
    before_up = d.metric('icestation_turn_relayed_bytes_total{direction="to_peer",framing="tcp"}')
    before_down = d.metric(
        'icestation_turn_relayed_bytes_total{direction="to_client",framing="tcp"}')
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=90)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"{name}: uclient did not finish in 90 s:\n{e.stdout}") from None
    out = r.stdout + r.stderr
    assert r.returncode == 0, f"{name}: uclient exited {r.returncode}:\n{out[-3000:]}"
    s = summary(out)
    want = MESSAGES * CLIENTS
    assert s["sent"] == want, f"{name}: sent {s['sent']} messages, expected {want}: {s}"
    assert s["recv"] == s["sent"], f"{name}: {s['sent']} sent, {s['recv']} came back: {s}"
    assert s["lost"] == 0 and s["dropped"] == 0, f"{name}: loss on loopback: {s}"
    assert s["recv_bytes"] == s["sent_bytes"] == want * LENGTH, f"{name}: byte counts {s}"
    # each client connected to every other: that many data connections
    # bound, and exactly the messages' bytes relayed each way
    bound = d.metric('icestation_turn_tcp_connections_total{result="bound"}') - before_bound
    assert bound == CLIENTS * (CLIENTS - 1), f"{name}: {bound} data connections bound"
    up = d.metric('icestation_turn_relayed_bytes_total{direction="to_peer",framing="tcp"}')
    down = d.metric('icestation_turn_relayed_bytes_total{direction="to_client",framing="tcp"}')
    assert up - before_up == down - before_down == want * LENGTH, \
        f"{name}: daemon relayed {up - before_up} / {down - before_down} bytes"
    print(f"ok {name}: {s['recv']}/{s['sent']} messages, {s['recv_bytes']} bytes, 0 lost, "
          f"{int(bound)} data connections, {time.monotonic() - t0:.1f}s")


def main():
    tmp = tempfile.mkdtemp(prefix="tcprelay-uclient-")
    cert, key = make_cert(tmp)
    turn = {"transports": ["udp", "tcp", "tls"],
            "tls": {"port": TLS_PORT, "cert": cert, "key": key},
            "allowed-peer-ip": ["127.0.0.1/32"], "relay-port-range": "5600-5699",
            # uclient makes every allocation as one user
            "max-allocations-per-user": 0, "allocations-per-minute-per-user": 0}
    with Daemon(http_port=HTTP, stun_port=PORT, secret=SECRET, workers=2,
                turn_extra=turn) as d:
        run(d, "tcp relay over tcp (-T)", PORT, [])
        run(d, "tcp relay over tls (-T -S)", TLS_PORT, ["-S"])
        assert d.metric('icestation_net_tcp_handovers_total{result="failed"}') == 0
    print("PASS test_uclient")


if __name__ == "__main__":
    main()
