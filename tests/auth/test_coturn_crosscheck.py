"""Cross-check REST credentials with coturn (Debian's turnserver): a
username/credential minted by icestation's HTTP API must authenticate a real
TURN allocation on coturn configured with the same secret
(--use-auth-secret), and a tampered credential must not.
Ports 24000-24099, coturn relays 35000-35099 (tests/PORTS.md)."""

import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from icetest import Daemon, wait_for  # noqa: E402

COTURN_PORT = 24000
PEER_PORT = 24010
HTTP_PORT = 24020
STUN_PORT = 24021
REALM = "icestation.test"
SECRET = secrets.token_hex(32)


def stun_binding_ok(port):
    """True when a STUN Binding request to 127.0.0.1:port gets a success response."""
    tid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(req, ("127.0.0.1", port))
        try:
            data = s.recv(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[0:2] == b"\x01\x01" and data[8:20] == tid


def udp_echo_ok(port):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        s.sendto(b"ping", ("127.0.0.1", port))
        try:
            return s.recv(64) == b"ping"
        except OSError:
            return False


class Proc:
    """A child process we started, logged to a file, stopped by its own PID."""

    def __init__(self, argv, log_path):
        self.log_path = log_path
        self.log = open(log_path, "wb")
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.log.close()


def uclient(username, password):
    """One UDP allocation through coturn sending 5 packets to the echo peer.
    Returns (messages received back, output)."""
    argv = ["turnutils_uclient", "-u", username, "-w", password, "-p", str(COTURN_PORT),
            "-e", "127.0.0.1", "-r", str(PEER_PORT), "-X", "-n", "5", "-m", "1", "-c",
            "127.0.0.1"]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    m = re.search(r"start_mclient: tot_send_msgs=(\d+), tot_recv_msgs=(\d+)", out)
    received = int(m.group(2)) if m else 0
    return received, out


def main():
    import shutil
    for tool in ("turnserver", "turnutils_uclient", "turnutils_peer"):
        if shutil.which(tool) is None:
            # make test installs coturn (scripts/deps.sh): its absence is a
            # broken set-up, never a reason to pass.
            print(f"FAIL: {tool} not installed (Debian package coturn)")
            sys.exit(1)
    tmp = tempfile.mkdtemp(prefix="coturn-xcheck-")
    procs = []
    try:
        peer = Proc(["turnutils_peer", "-L", "127.0.0.1", "-p", str(PEER_PORT)],
                    os.path.join(tmp, "peer.log"))
        procs.append(peer)
        coturn = Proc(["turnserver", "-n", "--use-auth-secret",
                       f"--static-auth-secret={SECRET}", f"--realm={REALM}",
                       "-L", "127.0.0.1", "-E", "127.0.0.1", "-p", str(COTURN_PORT),
                       "--alt-listening-port", str(COTURN_PORT + 1),
                       "--min-port", "35000", "--max-port", "35099",
                       "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
                       "--no-tcp-relay", "--log-file=stdout",
                       f"--pidfile={tmp}/turnserver.pid", f"--userdb={tmp}/turndb"],
                      os.path.join(tmp, "coturn.log"))
        procs.append(coturn)
        wait_for(lambda: udp_echo_ok(PEER_PORT), 10, what="turnutils_peer")
        wait_for(lambda: coturn.p.poll() is not None or stun_binding_ok(COTURN_PORT), 15,
                 what="coturn")
        assert coturn.p.poll() is None, f"coturn exited:\n{coturn.text()}"

        with Daemon(http_port=HTTP_PORT, stun_port=STUN_PORT, secret=SECRET,
                    realm=REALM, turn_extra={"ice-api": {"anonymous": True}}) as d:
            pairs = {}
            for user in ("did:peers:alice", ""):
                doc = d.ice_servers(user)
                entry = next(e for e in doc["ice_servers"] if "username" in e)
                pairs[user] = (entry["username"], entry["credential"])

        for user, (username, credential) in pairs.items():
            assert username.endswith(":" + user), username
            got, out = uclient(username, credential)
            assert got == 5, f"coturn refused icestation's credential for {username!r}:\n{out}"
            assert "Cannot complete Allocation" not in out, out
            print(f"ok   coturn accepted {username!r}: 5/5 packets relayed")

        username, credential = pairs["did:peers:alice"]
        # One character changed, still valid base64 of the same length.
        flipped = credential[0] + ("A" if credential[1] != "A" else "B") + credential[2:]
        before = coturn.text().count("check_stun_auth")
        got, out = uclient(username, flipped)
        assert got == 0, f"coturn accepted a tampered credential:\n{out}"
        assert "Cannot complete Allocation" in out, out
        assert coturn.text().count("check_stun_auth") > before, coturn.text()[-2000:]
        print("ok   coturn refused the tampered credential")

        # A username with the expiry changed (credential no longer matches).
        expiry, rest = username.split(":", 1)
        got, out = uclient(f"{int(expiry) + 1}:{rest}", credential)
        assert got == 0 and "Cannot complete Allocation" in out, out
        print("ok   coturn refused the credential under a changed expiry")
    finally:
        for p in procs:
            p.stop()
    print("coturn cross-check passed")


if __name__ == "__main__":
    main()
