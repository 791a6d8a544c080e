"""Hostile clients: stalled requests, oversized headers and URIs, too many
connections (full, a newcomer closes the oldest that has completed no
request), garbage. The daemon bounds each, counts it, and keeps serving.
Ports 20200-20299."""

import socket
import time

from apicheck import ICE_PATH, raw_request, run
from icetest import Daemon, wait_for

TIMEOUT_S = 3
MAX_CONN = 8


def metric(d, name):
    return d.metric(name)


def serve_check(d):
    doc = d.ice_servers("did:peers:alice")
    assert any("username" in e for e in doc["ice_servers"]), doc


def test_stalled_client(d):
    before = metric(d, 'icestation_http_timeouts_total{phase="request"}')
    s = socket.create_connection(("127.0.0.1", d.http_port))
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a request, then nothing
    # Meanwhile other clients are served at once.
    for _ in range(5):
        t0 = time.monotonic()
        serve_check(d)
        assert time.monotonic() - t0 < 1.0
    s.settimeout(TIMEOUT_S + 5)
    data = s.recv(4096)  # blocks until the daemon closes the stalled connection
    elapsed = time.monotonic() - start
    s.close()
    assert data == b"", data
    assert TIMEOUT_S - 0.5 <= elapsed <= TIMEOUT_S + 2, elapsed
    assert metric(d, 'icestation_http_timeouts_total{phase="request"}') == before + 1


def test_dribbling_client(d):
    # One header byte every 0.5 s resets evhttp's read timeout forever; the
    # request deadline still ends it.
    s = socket.create_connection(("127.0.0.1", d.http_port))
    start = time.monotonic()
    s.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: ")
    s.settimeout(0.5)
    closed = False
    while time.monotonic() - start < TIMEOUT_S + 3:
        try:
            s.sendall(b"a")
            if s.recv(4096) == b"":
                closed = True
                break
        except socket.timeout:
            continue
        except OSError:
            closed = True
            break
    s.close()
    assert closed, "a dribbling client outlived the request deadline"
    assert time.monotonic() - start <= TIMEOUT_S + 2


def test_huge_headers(d):
    before = metric(d, "icestation_http_connections_unanswered_total")
    s = socket.create_connection(("127.0.0.1", d.http_port))
    s.settimeout(10)
    sent = 0
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        line = b"X-Pad: " + b"a" * 1017 + b"\r\n"  # 1 KiB
        for _ in range(1024):  # 1 MiB of headers
            s.sendall(line)
            sent += len(line)
    except OSError:
        pass  # the daemon closed on us: that is the point
    reply = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            reply += b
    except OSError:
        pass
    s.close()
    assert sent < 1024 * 1024 or reply.startswith(b"HTTP/1.1 4"), (sent, reply[:100])
    if reply:
        assert reply.split(b" ")[1] in (b"400", b"413"), reply[:100]
    serve_check(d)
    wait_for(lambda: metric(d, "icestation_http_connections_unanswered_total") >= before + 1,
             5, what="oversized request counted")


def test_bad_uris(d):
    status, _ = raw_request(d.http_port, b"GET /api/v1/turn/ice-servers?user_did=" +
                            b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status in (None, 400, 413, 414), status
    cases = [
        (b"GET " + ICE_PATH.encode() + b"?user_did=did:a:b%00 HTTP/1.1", 400),
        (b"GET " + ICE_PATH.encode() + b"?user_did=%%%% HTTP/1.1", 400),
        (b"GET " + ICE_PATH.encode() + b"?&&&=&=%41%41=&user_did=did:a:b HTTP/1.1", 200),
        (b"GET /api/v1/turn/ice-servers%00 HTTP/1.1", 404),
        (b"HELLO", 400),
        (b"GET / HTTP/9.9", 400),
    ]
    for line, want in cases:
        status, reply = raw_request(d.http_port, line + b"\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == want, (line, status, reply[:200])
    # A body on a GET within max-body-bytes is ignored; a big one is refused.
    status, _ = raw_request(d.http_port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\nContent-Length: 10\r\n\r\n0123456789")
    assert status == 200, status
    status, _ = raw_request(d.http_port, b"POST /healthz HTTP/1.1\r\nHost: x\r\n"
                            b"Connection: close\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000)
    assert status in (None, 413), status
    serve_check(d)


def closing_metric(d, name):
    """A scrape the daemon closes itself: it frees the connection in the same
    callback that writes the answer, so a connection this test opens next is
    never counted beside it. After a client-side close the daemon may still
    count the connection when the next SYN arrives (the FIN can be processed
    later), and at the limit that next connection would be refused."""
    return d.metric(name, headers={"Connection": "close"})


def healthz_to_eof(s):
    """GET /healthz with Connection: close on s; the reply read to EOF, so the
    daemon has released the connection before we go on."""
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    s.settimeout(5)
    reply = b""
    while True:
        b = s.recv(4096)
        if not b:
            return reply
        reply += b


def test_max_connections(d):
    evicted = 'icestation_connections_evicted_total{listener="http",reason="pending"}'
    rejected = closing_metric(d, "icestation_http_connections_rejected_total")
    evicted_before = closing_metric(d, evicted)
    idle = [socket.create_connection(("127.0.0.1", d.http_port)) for _ in range(MAX_CONN - 1)]
    try:
        # The scrape's own connection is the MAX_CONN-th.
        wait_for(lambda: closing_metric(d, "icestation_http_connections_open") == MAX_CONN, 5,
                 what="idle connections adopted")
        extra = socket.create_connection(("127.0.0.1", d.http_port))  # the MAX_CONN-th now
        over = socket.create_connection(("127.0.0.1", d.http_port))   # one too many
        # Full: the newcomer closes the oldest connection that has not
        # completed a request (idle[0]) at once, long before the timeout.
        idle[0].settimeout(TIMEOUT_S - 1)
        t0 = time.monotonic()
        assert idle[0].recv(16) == b"", "the oldest pending connection was not evicted"
        assert time.monotonic() - t0 < TIMEOUT_S - 1
        for s in idle[1:]:
            assert not wait_closed(s, 0), "a younger connection was closed"
        # Both newcomers are served normally.
        for s in (extra, over):
            assert healthz_to_eof(s).startswith(b"HTTP/1.1 200"), "admitted connection not served"
            s.close()
    finally:
        for s in idle:
            s.close()
    # At most MAX_CONN - 1 counted now, so this scrape is admitted even before
    # the daemon has seen the idle connections' FINs.
    wait_for(lambda: closing_metric(d, "icestation_http_connections_open") == 1, 5,
             what="closed connections released")
    assert closing_metric(d, evicted) == evicted_before + 1
    # Nothing was refused: there was always a connection to evict.
    assert closing_metric(d, "icestation_http_connections_rejected_total") == rejected
    serve_check(d)


def wait_closed(s, timeout):
    """True if the peer closed s within timeout seconds (0: already)."""
    s.settimeout(timeout if timeout > 0 else 0.01)
    try:
        return s.recv(1, socket.MSG_PEEK) == b""
    except (socket.timeout, BlockingIOError):
        return False
    except ConnectionResetError:
        return True


def main():
    d = Daemon(http_port=20200, stun_port=20201,
               http_extra={"timeout": f"{TIMEOUT_S}s", "max-connections": MAX_CONN})
    def bind(f):
        g = lambda: f(d)  # noqa: E731
        g.__name__ = f.__name__
        return g

    with d:
        run([bind(f) for f in (test_stalled_client, test_dribbling_client, test_huge_headers,
                               test_bad_uris, test_max_connections)])


if __name__ == "__main__":
    main()
