"""sd_notify and the watchdog (issue 11), on a NOTIFY_SOCKET the test binds
(an AF_UNIX datagram socket, as systemd's): READY=1 first; on SIGHUP,
RELOADING=1 with a MONOTONIC_USEC taken between the signal and its
arrival, then READY=1. With WATCHDOG_USEC=2000000, WATCHDOG=1 comes every
second (half the interval; the daemon's tick is 250 ms, so a few
intervals are checked within 0.75-1.75 s). A stuck worker: one worker
thread (not the process: SIGSTOP would stop every thread) is stopped with
ptrace (PTRACE_SEIZE + PTRACE_INTERRUPT on its thread id, found by its
name ice-net-1); the pings stop and the daemon logs why; after
PTRACE_DETACH they resume.
Ports 10040-10049, relay 11090-11099."""

import ctypes
import os
import re
import select
import signal
import socket
import sys
import tempfile
import time

from icetest import Daemon

HTTP, PORT = 10040, 10041
WATCHDOG_USEC = 2_000_000
HALF = WATCHDOG_USEC / 2e6  # seconds between pings

PTRACE_DETACH, PTRACE_SEIZE, PTRACE_INTERRUPT = 17, 0x4206, 0x4207
WALL = 0x40000000  # __WALL: wait for a thread that is not our child


def monotonic_usec():
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


class Notify:
    """The test's NOTIFY_SOCKET; messages with their arrival time."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.path = path
        self.seen = []

    def next(self, timeout):
        """(arrival monotonic s, {key: value}) of the next message, or None."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return None
        data = self.sock.recv(4096).decode()
        fields = dict(line.split("=", 1) for line in data.splitlines() if "=" in line)
        msg = (time.monotonic(), fields)
        self.seen.append(msg)
        return msg

    def until(self, key, timeout, skip=("WATCHDOG",)):
        """The next message with key, skipping the keys in skip; anything
        else on the way is a failure (messages come in a fixed order)."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.next(max(0.0, deadline - time.monotonic()))
            assert m is not None, f"no {key} within {timeout}s; got {self.seen}"
            if key in m[1]:
                return m
            assert all(k in skip or k == "STATUS" for k in m[1]), (key, m)

    def pings(self, seconds):
        """Arrival times of WATCHDOG=1 during the next seconds."""
        out = []
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            m = self.next(left)
            if m is not None:
                assert m[1] == {"WATCHDOG": "1"}, m
                out.append(m[0])
        return out


def worker_tid(pid, name):
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/comm") as f:
            if f.read().strip() == name:
                return int(tid)
    raise AssertionError(f"no thread {name} in {pid}")


class ThreadStop:
    """Stop one thread of another process with ptrace (the others run on)."""

    def __init__(self, tid):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p,
                                     ctypes.c_void_p]
        self.tid = tid

    def _ptrace(self, req):
        if self.libc.ptrace(req, self.tid, None, None) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"ptrace({req:#x}, {self.tid}): {os.strerror(e)}")

    def __enter__(self):
        self._ptrace(PTRACE_SEIZE)
        self._ptrace(PTRACE_INTERRUPT)
        _, status = os.waitpid(self.tid, WALL)
        assert os.WIFSTOPPED(status), status
        return self

    def __exit__(self, *exc):
        self._ptrace(PTRACE_DETACH)
        return False


def check_intervals(times, what, n=3):
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert len(gaps) >= n, f"{what}: only {len(times)} pings: {times}"
    assert all(0.75 * HALF <= g <= 1.75 * HALF for g in gaps), f"{what}: intervals {gaps}"
    return gaps


def main():
    tmp = tempfile.mkdtemp(prefix="live-notify-")
    note = Notify(os.path.join(tmp, "notify.sock"))
    env = {"NOTIFY_SOCKET": note.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)}
    try:
        with Daemon(http_port=HTTP, stun_port=PORT, workers=2, env=env,
                    turn_extra={"relay-port-range": "11090-11099"}) as d:
            _, ready = note.until("READY", 10)
            assert ready["READY"] == "1", ready
            gaps = check_intervals(note.pings(4.6 * HALF), "watchdog")
            print("READY=1, then WATCHDOG=1 every " + ", ".join(f"{g:.2f}" for g in gaps) + " s")

            before = monotonic_usec()
            d.proc.send_signal(signal.SIGHUP)
            _, rel = note.until("RELOADING", 10)
            after = monotonic_usec()
            assert rel["RELOADING"] == "1", rel
            stamp = int(rel["MONOTONIC_USEC"])
            assert before <= stamp <= after, (before, stamp, after)
            _, ready = note.until("READY", 10)
            assert ready["READY"] == "1"
            print(f"SIGHUP: RELOADING=1 MONOTONIC_USEC={stamp} (sent at {before}), then READY=1")

            tid = worker_tid(d.proc.pid, "ice-net-1")
            with ThreadStop(tid):
                stopped = time.monotonic()
                quiet = note.pings(3.5)
                # One ping may still come from a pass made before the stop.
                late = [p - stopped for p in quiet if p - stopped > 1.6 * HALF]
                assert len(quiet) <= 1 and not late, f"pings with a stopped worker: {quiet}"
                assert re.search("watchdog: a worker has not completed a loop pass", d.log())
            print(f"worker thread {tid} stopped: {len(quiet)} ping in 3.5 s after it")
            check_intervals(note.pings(2.6 * HALF), "watchdog after the worker resumed", n=1)
            # One warning per stall, not one per 250 ms tick, and the end said.
            stalls = d.log().count("watchdog: a worker has not completed a loop pass")
            assert stalls == 1, f"the stall was logged {stalls} times"
            assert "watchdog: every worker passes again" in d.log()
            print("worker resumed: pings again; the stall logged once")
    finally:
        note.sock.close()
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
        os.rmdir(tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
