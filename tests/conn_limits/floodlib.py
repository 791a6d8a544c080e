"""What the per-address cap tests share: slow connections from a chosen
source address (the flood), probes from another that must be answered
within a second, /metrics read from a chosen source (the flooding address
may be refused), and a look at which flood sockets the daemon has closed.

Every socket here has a timeout; every wait polls with a deadline."""

import errno
import http.client
import json
import os
import re
import select
import socket
import time

from icetest import _station

ATTACKER, VICTIM = "127.0.0.1", "127.0.0.2"
PROBE_S = 1.0  # the contract: a request from another address answered within this


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def connect_from(src, dst, port, timeout=5.0):
    s = socket.socket(family(dst), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((dst, port))
    return s


def flood(src, dst, port, n, first=b""):
    """n connections from src, each sending first (may be b"") and then nothing."""
    socks = []
    for _ in range(n):
        s = connect_from(src, dst, port)
        if first:
            s.sendall(first)
        socks.append(s)
    return socks


def is_closed(s):
    """True once the daemon closed s (EOF or reset); never waits."""
    r, _, _ = select.select([s], [], [], 0)
    if not r:
        return False
    try:
        return s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True
    except OSError as e:
        return e.errno in (errno.ECONNRESET, errno.EPIPE)


def closed_set(socks, expect, timeout=5.0):
    """Wait until exactly the sockets at indexes expect (a set) are closed,
    with a deadline; return the indexes closed then (the caller asserts)."""
    deadline = time.monotonic() + timeout
    while True:
        got = {i for i, s in enumerate(socks) if is_closed(s)}
        if got == expect or time.monotonic() >= deadline:
            return got
        time.sleep(0.02)


def close_all(socks):
    for s in socks:
        s.close()
    socks.clear()


# HTTP --------------------------------------------------------------------

def http_get(src, port, path, timeout=5.0, host="127.0.0.1", headers=None):
    """(status, body) of GET path from src, Connection: close, read to EOF
    (the daemon has closed and forgotten the connection on return)."""
    s = connect_from(src, host, port, timeout)
    try:
        extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}"
                  "\r\n".encode())
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
    finally:
        s.close()
    m = re.match(rb"HTTP/1\.1 (\d{3}) ", data)
    assert m, f"no HTTP status line: {data[:80]!r}"
    return int(m.group(1)), data.split(b"\r\n\r\n", 1)[1]


def probe_http(src, port, path, host="127.0.0.1", headers=None):
    """One request from src: must be 200 within PROBE_S; returns the seconds taken."""
    t0 = time.monotonic()
    status, body = http_get(src, port, path, timeout=PROBE_S, host=host, headers=headers)
    took = time.monotonic() - t0
    assert status == 200, f"{path} from {src}: {status} {body[:200]!r}"
    assert took < PROBE_S, f"{path} from {src} took {took:.2f}s"
    return took


def metrics_from(src, port, host="127.0.0.1"):
    """/metrics as {"name{labels}": value}, asked from src."""
    status, body = http_get(src, port, "/metrics", host=host)
    assert status == 200, status
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def refused(listener, reason):
    return f'icestation_connections_refused_total{{listener="{listener}",reason="{reason}"}}'


def evicted(listener, reason):
    return f'icestation_connections_evicted_total{{listener="{listener}",reason="{reason}"}}'


# configuration -------------------------------------------------------------

def rewrite(d, name, tree):
    """Replace one file of d's config tree (d.files has the keys)."""
    with open(os.path.join(d.dir, name), "w") as f:
        f.write(_station(tree))


def reload(d):
    """POST /admin/v1/reload over the admin unix socket, and the workers took
    it: a listing is a command in the same mailbox as the new generation,
    run after it (src/net/worker.c), so its answer is the barrier."""
    status, body = d.admin("POST", "/admin/v1/reload")
    assert status == 200 and body["status"] == "reloaded", (status, body)
    status, _ = d.admin("GET", "/admin/v1/allocations")
    assert status == 200, status
    return body["generation"]


def log_lines(d, pattern):
    return [ln for ln in d.log().splitlines() if re.search(pattern, ln)]


def dumps(x):
    return json.dumps(x, sort_keys=True)


def keepalive_get(s, path):
    """GET path on the open connection s, keeping it open: the status."""
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        b = s.recv(65536)
        assert b, "connection closed before the answer"
        data += b
    head, body = data.split(b"\r\n\r\n", 1)
    n = int(re.search(rb"(?i)\r\ncontent-length: *(\d+)", head).group(1))
    while len(body) < n:
        b = s.recv(65536)
        assert b, "connection closed in the body"
        body += b
    return int(head.split(b" ", 2)[1])
