"""STUN wire-format basics shared by the Python test clients (tests/net's
Binding client, tests/turn_net's TURN client): written once here, from
RFC 8489 §5-6, independently of the C codec they test; and the one wait
every receive of theirs goes through, so none can block past its deadline."""

import select
import time

COOKIE = 0x2112A442


def msg_type(method, cls):
    """The 16-bit message type: method bits M0-M11 interleaved with class C0-C1."""
    return ((method & 0xF80) << 2) | ((method & 0x70) << 1) | (method & 0xF) \
        | ((cls & 2) << 7) | ((cls & 1) << 4)


def pad4(n):
    """n rounded up to a multiple of 4 (attribute and stream padding)."""
    return (n + 3) & ~3


def wait_readable(sock, deadline):
    """True once sock is readable; False when time.monotonic() reaches deadline."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    r, _, _ = select.select([sock], [], [], left)
    return bool(r)
