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


def enter(outward=None, private_run=False):
    """Re-execute this script under `unshare --net` (once), then set up the
    namespace. Returns in the child; the parent is replaced by exec.
    private_run: also a mount namespace with a tmpfs on /run, so what the
    daemon makes there (/run/icestation/admin.sock) is the test's own."""
    if os.environ.get(MARK) != "1":
        env = dict(os.environ)
        env[MARK] = "1"
        sys.stdout.flush()
        ns = ["--net", "--mount", "--propagation", "private"] if private_run else ["--net"]
        os.execvpe("unshare", ["unshare", *ns, "--", sys.executable, *sys.argv], env)
    if private_run:
        subprocess.run(["mount", "-t", "tmpfs", "tmpfs", "/run"], check=True, timeout=10)
    _ip("link", "set", "lo", "up")
    if outward is not None:
        add_outward(outward)


_made = []  # veth ends add_outward made, newest last


def add_outward(addr):
    """An interface holding addr/24 with the default route (replacing any
    previous one made here). Each call names a new pair: a deleted pair's
    names may linger for a moment."""
    drop_outward()
    a, b = f"out{len(_made)}a", f"out{len(_made)}b"
    _ip("link", "add", a, "type", "veth", "peer", "name", b)
    _made.append(a)
    _ip("addr", "add", f"{addr}/24", "dev", a)
    _ip("link", "set", b, "up")
    _ip("link", "set", a, "up")
    _ip("route", "replace", "default", "via", addr.rsplit(".", 1)[0] + ".1", "dev", a)


def drop_outward():
    """Remove the interface add_outward made last (and its route), if any."""
    if _made and os.path.exists(f"/sys/class/net/{_made[-1]}"):
        _ip("link", "del", _made[-1])
