#!/usr/bin/python3
"""coturn's own TURN client (turnutils_uclient) against a TURN server.

Relays through the server to turnutils_peer (a UDP echo peer) on loopback
and checks uclient's summary: every message sent came back (0 lost, 0 send
dropped; on loopback at uclient's 20 ms pacing there is no legitimate cause
for loss, so any is a server defect). Variants: UDP with channels, UDP with
Send/Data indications (-s), TCP client transport (-t), REST-secret usernames
(-W) and explicit -u/-w credentials. Then the refusals: a wrong secret, an
expired username and a tampered credential must fail the Allocate.

Usage: test_uclient.py --server coturn|icestation
"""

import argparse
import re
import signal
import socket
import subprocess
import time

import servers

UCLIENT = "/usr/bin/turnutils_uclient"
PEER = "/usr/bin/turnutils_peer"
MESSAGES = 40   # per client session
CLIENTS = 2     # -m: parallel sessions; each allocates RTP (EVEN-PORT R=1) and RTCP (RESERVATION-TOKEN)


def start_peer(port):
    proc = subprocess.Popen([PEER, "-L", "127.0.0.1", "-p", str(port)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def echoes():
        if proc.poll() is not None:
            raise RuntimeError(f"turnutils_peer exited with {proc.returncode}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(b"ping", ("127.0.0.1", port))
                return s.recvfrom(64)[0] == b"ping"
            except OSError:
                return False

    try:
        servers.wait_for(echoes, 10, what="turnutils_peer echo")
    except BaseException:
        stop(proc)
        raise
    return proc


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def uclient(server, peer_port, args, timeout=60):
    argv = [UCLIENT, "-p", str(server.port), "-e", "127.0.0.1", "-r", str(peer_port)] + args + [server.host]
    t0 = time.monotonic()
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"uclient did not finish within {timeout}s: {argv}\n{e.stdout}") from None
    return r.returncode, r.stdout + r.stderr, time.monotonic() - t0


def summary(out):
    """Parse uclient's closing summary into numbers."""
    def grab(pattern):
        m = re.findall(pattern, out)
        if not m:
            raise AssertionError(f"no {pattern!r} in uclient output:\n{out[-3000:]}")
        return m[-1]
    sent, recv = grab(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)")
    sbytes, rbytes = grab(r"start_mclient: tot_send_bytes ~ (\d+), tot_recv_bytes ~ (\d+)")
    lost, dropped = grab(r"Total lost packets (\d+) \([\d.]+%\), total send dropped (\d+)")
    return dict(sent=int(sent), recv=int(recv), sent_bytes=int(sbytes), recv_bytes=int(rbytes),
                lost=int(lost), dropped=int(dropped))


def expect_relay(server, peer_port, name, args, length):
    code, out, took = uclient(server, peer_port, args + ["-n", str(MESSAGES), "-m", str(CLIENTS),
                                                         "-l", str(length)])
    assert code == 0, f"{name}: uclient exited {code}:\n{out[-3000:]}"
    s = summary(out)
    want = MESSAGES * CLIENTS
    assert s["sent"] == want, f"{name}: sent {s['sent']} messages, expected {want}"
    assert s["recv"] == s["sent"], f"{name}: {s['sent']} sent, {s['recv']} came back: {s}"
    assert s["lost"] == 0 and s["dropped"] == 0, f"{name}: loss on loopback: {s}"
    assert s["recv_bytes"] == s["sent_bytes"] == want * length, f"{name}: byte counts {s}"
    print(f"ok {name}: {s['recv']}/{s['sent']} messages, {s['recv_bytes']} bytes, "
          f"0 lost, {took:.1f}s")


def expect_refused(server, peer_port, name, args):
    code, out, took = uclient(server, peer_port, args + ["-n", "3"], timeout=30)
    assert code != 0, f"{name}: uclient succeeded with bad credentials:\n{out[-3000:]}"
    assert "Cannot complete Allocation" in out, f"{name}: unexpected failure:\n{out[-3000:]}"
    assert "tot_recv_msgs" not in out, f"{name}: data flowed:\n{out[-3000:]}"
    print(f"ok {name}: Allocate refused ({took:.2f}s)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    servers.add_args(ap)
    opts = ap.parse_args()
    peer_port = servers.extra_port("uclient", "peer", opts.server)
    user = "did:peers:uclient"
    t0 = time.monotonic()
    with servers.make("uclient", opts.server) as server:
        peer = start_peer(peer_port)
        try:
            # -W: uclient mints '<now+1d>:<user>' and HMAC-SHA1 itself.
            expect_relay(server, peer_port, "udp channels (-W)", ["-W", server.secret, "-u", user], 200)
            expect_relay(server, peer_port, "udp send/data (-W -s)",
                         ["-W", server.secret, "-u", user, "-s"], 120)
            expect_relay(server, peer_port, "tcp channels (-W -t)",
                         ["-t", "-W", server.secret, "-u", user], 200)
            username, credential = server.credentials(user)
            expect_relay(server, peer_port, "udp, -u/-w from ice-servers", ["-u", username, "-w", credential], 100)

            expect_refused(server, peer_port, "wrong secret", ["-W", server.secret + "x", "-u", user])
            old_user, old_cred = server.mint(user, ttl=-120)
            expect_refused(server, peer_port, "expired username", ["-u", old_user, "-w", old_cred])
            expect_refused(server, peer_port, "tampered credential",
                           ["-u", username, "-w", servers.tamper(credential)])
            expect_refused(server, peer_port, "tampered credential over tcp",
                           ["-t", "-u", username, "-w", servers.tamper(credential)])
        finally:
            stop(peer)
    print(f"PASS test_uclient --server {opts.server} in {time.monotonic() - t0:.1f}s")


if __name__ == "__main__":
    servers.run_main(main)
