"""What the operator tests share: a network namespace of their own, where
198.51.100.7 (TEST-NET-2) is an address of "this host" (on lo), so the
daemon advertises a public address that is not loopback and the self-test
allocates against it as it would in production; a daemon configured for
that address; a certificate; and a packet capture on a veth pair that
proves nothing is sent to an address that is not on this host.

Ports (tests/PORTS.md): tests/operator listens on 8100-8499 and relays on
8500-8999. Inside the namespace nothing else listens, but each test file
still keeps to its own slice of the range."""

import os
import socket
import struct
import subprocess
import sys
import tempfile
import time

from icetest import Daemon

HOST_IP = "198.51.100.7"     # "this host's" public address, inside the namespace
FOREIGN_IP = "203.0.113.7"   # a public address that is NOT on this host
FOREIGN_NET = "203.0.113.0/24"
REALM = "turn.icestation.test"
SECRET = "operator-s3cret"
NETNS_MARK = "ICESTATION_OPERATOR_NETNS"


def run(*cmd):
    subprocess.run(cmd, check=True, capture_output=True, timeout=30)


def enter_netns():
    """Re-run this script in a new network namespace (once), then set it up:
    lo up with HOST_IP on it, and a veth pair v0/v1 that routes FOREIGN_NET
    out of v0, where capture() listens on v1. Traffic never leaves the
    namespace: it has no link to the host's network."""
    if os.environ.get(NETNS_MARK) != "1":
        env = dict(os.environ, **{NETNS_MARK: "1"})
        os.execvpe("unshare", ["unshare", "--net", sys.executable, *sys.argv], env)
    run("ip", "link", "set", "lo", "up")
    run("ip", "addr", "add", f"{HOST_IP}/32", "dev", "lo")
    run("ip", "link", "add", "v0", "type", "veth", "peer", "name", "v1")
    for dev in ("v0", "v1"):
        # No IPv6 on the pair: its router solicitations would be noise in the capture.
        with open(f"/proc/sys/net/ipv6/conf/{dev}/disable_ipv6", "w") as f:
            f.write("1")
        run("ip", "link", "set", dev, "up")
    run("ip", "route", "add", FOREIGN_NET, "dev", "v0")


class Capture:
    """Every frame that leaves v0 (seen on v1): an ARP request or an IPv4
    packet to FOREIGN_NET is something sent toward an address that is not
    on this host."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
        self.sock.bind(("v1", 0))
        self.sock.setblocking(False)

    def frames(self, settle=0.3):
        """The frames seen since the last call, after waiting settle seconds."""
        time.sleep(settle)  # frames in flight on a veth arrive within microseconds
        out = []
        while True:
            try:
                out.append(self.sock.recv(65535))
            except BlockingIOError:
                return out

    @staticmethod
    def targets(frames):
        """The IPv4 addresses the frames were for (ARP target or IP destination)."""
        seen = set()
        for f in frames:
            ethertype = struct.unpack("!H", f[12:14])[0]
            if ethertype == 0x0806 and len(f) >= 42:
                seen.add(socket.inet_ntoa(f[38:42]))
            elif ethertype == 0x0800 and len(f) >= 34:
                seen.add(socket.inet_ntoa(f[30:34]))
        return seen

    def close(self):
        self.sock.close()


def make_cert(tmp, names, days=30, tag="c"):
    """A self-signed P-256 certificate for names ("DNS:x" / "IP:y")."""
    cert, key = os.path.join(tmp, tag + ".pem"), os.path.join(tmp, tag + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", str(days),
                    "-subj", "/CN=" + names[0].split(":", 1)[1],
                    "-addext", "subjectAltName=" + ",".join(names),
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def daemon(http, port, tls_port, relay, cert=None, key=None, public_ip=HOST_IP, turn_extra=None,
           host=HOST_IP, listen_all=False, **kw):
    """A daemon that serves TURN over UDP, TCP (and TLS with a certificate)
    on host (or every address), relays from host in the relay range, and admits at most
    as many allocations as the range has ports (so the relay range check
    has nothing to say about a good config)."""
    lo, hi = (int(x) for x in relay.split("-"))
    turn = {"transports": ["udp", "tcp"] + (["tls"] if cert else []),
            "relay-ip-range": f"{host}/32", "relay-port-range": relay,
            "max-allocations": hi - lo + 1,
            # Each self-test run makes one allocation per transport; a test
            # runs it several times a minute.
            "allocations-per-minute-per-user": 100}
    if cert:
        turn["tls"] = {"port": tls_port, "cert": cert, "key": key}
    turn.update(turn_extra or {})
    return Daemon(http_port=http, stun_port=port, listen=("0.0.0.0" if listen_all else host,),
                  secret=SECRET, realm=REALM,
                  public_ip=public_ip, turn_extra=turn, **kw)


def tmpdir():
    return tempfile.mkdtemp(prefix="icestation-operator-")
