"""Run a test inside a network namespace of its own (unshare --net), so it
can bind any address and port, give itself an outward-looking interface or
none at all, and send nothing beyond the namespace.

A fresh namespace has only lo, down. enter() brings lo up; with
outward=ADDR it also adds a veth pair whose one end carries ADDR/24 and the
default route, so "public-ip: auto" finds ADDR. Packets routed there reach
the other end of the pair, inside the namespace, and stop.
"""

import os
import subprocess
import sys

MARK = "ICETEST_IN_NETNS"


def _ip(*args):
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


def enter(outward=None):
    """Re-execute this script under `unshare --net` (once), then set up the
    namespace. Returns in the child; the parent is replaced by exec."""
    if os.environ.get(MARK) != "1":
        env = dict(os.environ)
        env[MARK] = "1"
        sys.stdout.flush()
        os.execvpe("unshare", ["unshare", "--net", "--", sys.executable, *sys.argv], env)
    _ip("link", "set", "lo", "up")
    if outward is not None:
        _ip("link", "add", "out0", "type", "veth", "peer", "name", "out1")
        _ip("addr", "add", f"{outward}/24", "dev", "out0")
        _ip("link", "set", "out1", "up")
        _ip("link", "set", "out0", "up")
        gw = outward.rsplit(".", 1)[0] + ".1"
        _ip("route", "add", "default", "via", gw, "dev", "out0")
