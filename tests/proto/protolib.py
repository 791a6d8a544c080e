"""Shared set-up for tests/proto (tests/PORTS.md: listen 18000-18499, relay
18500-18999): the daemon on loopback with relays allowed to loopback peers
and quotas that fit a test's many Allocates, and the raw STUN helpers the
wire tests build requests with (from tests/turn_net/turnclient.py, written
from the RFCs, not from the daemon's codec)."""

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "turn_net"))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "interop"))

from icetest import Daemon  # noqa: E402

SECRET = "proto-" + os.urandom(8).hex()
REALM = "proto.test"


def daemon(port, http_port, relays, secret=SECRET, **turn_extra):
    """An icestation on 127.0.0.1:port (STUN and TURN), API on http_port,
    relays on the range relays = (lo, hi)."""
    turn = {
        "allowed-peer-ip": ["127.0.0.0/8"],
        "relay-port-range": f"{relays[0]}-{relays[1]}",
        "max-allocations-per-user": 100,
        "allocations-per-minute-per-user": 1000,
        "ice-api": {"public-fallback": {"enabled": False}},
    }
    turn.update(turn_extra)
    return Daemon(http_port=http_port, stun_port=port, secret=secret, realm=REALM,
                  turn_extra=turn)


def md5_key(username, password, realm=REALM):
    """The long-term key (RFC 8489 §9.2.2, MD5)."""
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).digest()


def userhash(username, realm=REALM):
    """USERHASH (RFC 8489 §14.4): SHA-256(username ":" realm)."""
    return hashlib.sha256(f"{username}:{realm}".encode()).digest()
