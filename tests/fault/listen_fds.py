#!/usr/bin/env python3
"""Plays systemd's part of socket activation for one start of the daemon:
listen_fds.py FD [FD ...] -- COMMAND ARGS...
moves the inherited listening sockets FD... to 3, 4, ... (SD_LISTEN_FDS_START),
sets LISTEN_FDS to their number and LISTEN_PID to its own pid, and execs
COMMAND, which keeps that pid. The sockets stay open in the test that made
them, so they keep listening while the daemon is dead: systemd's guarantee
that no connection is refused across a restart."""
import fcntl
import os
import sys


def main():
    sep = sys.argv.index("--")
    fds = [int(x) for x in sys.argv[1:sep]]
    argv = sys.argv[sep + 1:]
    # Out of the way first: a target (3, 4, ...) may be one of the sources.
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
    for fd in fds:
        os.close(fd)
    for i, fd in enumerate(high):
        os.dup2(fd, 3 + i)  # inheritable, as exec needs
        os.close(fd)
    os.environ["LISTEN_FDS"] = str(len(fds))
    os.environ["LISTEN_PID"] = str(os.getpid())
    os.environ.pop("LISTEN_FDNAMES", None)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
