"""A network namespace the test creates and owns, and enters.

The namespace gets its own loopback up. Its name carries the test's pid, so
parallel tests never share one, and a namespace left by a killed run (whose
pid is gone) is removed by the next run. The calling thread enters the
namespace (setns), so every socket the test opens, and the daemon it starts
through `ip netns exec`, live there and nowhere else: the host's interfaces
are never touched. Leaving the `with` block returns to the original
namespace and deletes this one, whether the test passed or not.

Links are dummy interfaces; a kernel without the dummy driver gets a veth
pair instead (both ends up, the peer end without addresses), which the
tests use the same way: an interface that holds addresses.
"""

import ctypes
import os
import re
import subprocess

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns: {os.strerror(err)}")


def run(*cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: {p.stderr.strip()}")
    return p.stdout


def _remove_stale(prefix):
    """Delete namespaces of this prefix whose owning test process is gone."""
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return
    for name in names:
        m = re.fullmatch(re.escape(prefix) + r"-(\d+)", name)
        if m and not os.path.exists(f"/proc/{m.group(1)}"):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)


class Netns:
    def __init__(self, prefix):
        self.prefix = prefix
        self.name = f"{prefix}-{os.getpid()}"
        self._home = None
        self._dummy = None

    def __enter__(self):
        _remove_stale(self.prefix)
        run("ip", "netns", "add", self.name)
        try:
            self.ip("link", "set", "lo", "up")
            self._home = os.open("/proc/self/ns/net", os.O_RDONLY)
            fd = os.open(f"/run/netns/{self.name}", os.O_RDONLY)
            try:
                _setns(fd)
            finally:
                os.close(fd)
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self.close()
        return False

    def close(self):
        if self._home is not None:
            _setns(self._home)
            os.close(self._home)
            self._home = None
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)

    def ip(self, *args):
        """Run ip(8) inside the namespace."""
        return run("ip", "-n", self.name, *args)

    def exec_prefix(self):
        """The command prefix that starts a program inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def add_link(self, name, *cidrs):
        """A link that holds addresses (cidrs added to it), up: a dummy, or
        a veth pair."""
        if self._dummy is None:
            p = subprocess.run(["ip", "-n", self.name, "link", "add", name, "type", "dummy"],
                               capture_output=True, text=True, timeout=30)
            self._dummy = p.returncode == 0
            if not self._dummy:
                print(f"netns: no dummy driver ({p.stderr.strip()}); using veth pairs")
        elif self._dummy:
            self.ip("link", "add", name, "type", "dummy")
        if not self._dummy:
            self.ip("link", "add", name, "type", "veth", "peer", "name", name + "p")
            self.ip("link", "set", name + "p", "up")
        self.ip("link", "set", name, "up")
        for cidr in cidrs:
            self.addr("add", cidr, name)

    def addr(self, op, cidr, dev):
        """ip addr add|del; IPv6 without duplicate address detection, so the
        address is usable (and reported) at once."""
        extra = ["nodad"] if ":" in cidr and op == "add" else []
        self.ip("addr", op, cidr, "dev", dev, *extra)
