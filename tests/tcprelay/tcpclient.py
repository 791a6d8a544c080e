"""An RFC 6062 client for the tests, on tests/turn_net's TurnClient (written
from the RFCs, not from the daemon's code): a TCP allocation on a control
connection (TCP or TLS), Connect, ConnectionAttempt, and data connections
bound with ConnectionBind that then carry raw bytes. Every wait has a
deadline."""

import os
import socket
import ssl
import struct
import time

from turnclient import (ERROR, INDICATION, REQUEST, SUCCESS, A_NONCE, A_REALM, A_USERNAME,
                        A_XOR_PEER, Msg, TlsTurnClient, TurnClient, TurnError, encode,
                        xor_addr)

CONNECT, CONNECTION_BIND, CONNECTION_ATTEMPT = 0x00A, 0x00B, 0x00C
A_CONNECTION_ID = 0x002A
A_REQUESTED_TRANSPORT = 0x0019
TCP_PROTO = 6


def tls_wrap(sock, ctx):
    """A connected TCP socket wrapped in TLS (handshake done), blocking."""
    sock.setblocking(True)
    sock.settimeout(5)
    return ctx.wrap_socket(sock, server_hostname="localhost")


class Rfc6062:
    """The RFC 6062 requests, on a TurnClient over TCP or TLS."""

    tls_ctx = None

    def allocate_tcp(self, extra=()):
        r = self.transact(0x003, [(A_REQUESTED_TRANSPORT, struct.pack("!B3x", TCP_PROTO))]
                          + list(extra))
        self.relayed = r.addr(0x0016)
        return r

    def connect(self, peer, timeout=10.0):
        """Connect request to peer (host, port): the CONNECTION-ID, or TurnError."""
        r = self.transact(CONNECT, [(A_XOR_PEER, xor_addr(peer[0], peer[1], b"\0" * 12))],
                          timeout=timeout)
        v = r.get(A_CONNECTION_ID)
        assert v is not None and len(v) == 4, "Connect success without CONNECTION-ID"
        return struct.unpack("!I", v)[0]

    def connection_attempt(self, timeout):
        """The next ConnectionAttempt indication: (connection id, (host, port)) or None."""
        deadline = time.monotonic() + timeout
        while True:
            for i, c in enumerate(self.pending):
                if c[0] == "stun" and c[1].method == CONNECTION_ATTEMPT and c[1].cls == INDICATION:
                    del self.pending[i]
                    return self._attempt(c[1])
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            f = self.recv_frame(left)
            if f is None:
                return None
            self.pending.append(self.classify(f))

    @staticmethod
    def _attempt(m):
        v = m.get(A_CONNECTION_ID)
        assert v is not None and len(v) == 4, "ConnectionAttempt without CONNECTION-ID"
        assert m.check_fingerprint(), "ConnectionAttempt with a bad FINGERPRINT"
        return struct.unpack("!I", v)[0], m.addr(A_XOR_PEER)

    def data_connection(self, cid, timeout=10.0, expect_error=None, source=None):
        """Open a new connection to the server (TLS if the control one is)
        from source (default: the control connection's address), bind it to
        cid, and return the raw socket (blocking, with a timeout) once bound;
        with expect_error, return that error's code."""
        fam = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.bind((source or self.local()[0], 0))
        s.settimeout(5)
        s.connect(self.server)
        if self.tls_ctx is not None:
            s = tls_wrap(s, self.tls_ctx)
        s.settimeout(timeout)
        nonce = self.nonce
        for _ in range(3):
            attrs = [(A_CONNECTION_ID, struct.pack("!I", cid)),
                     (A_USERNAME, self.username), (A_REALM, self.realm), (A_NONCE, nonce)]
            req, tid = encode(CONNECTION_BIND, REQUEST, attrs, key=self.key)
            s.sendall(req)
            resp = read_msg(s, timeout)
            assert resp.tid == tid, "ConnectionBind answered for another transaction"
            assert resp.method == CONNECTION_BIND, f"answer of method {resp.method:#x}"
            if resp.cls == ERROR and resp.error() == 438:
                nonce = resp.get(A_NONCE)  # a nonce bound to the control connection
                continue
            break
        if resp.cls == ERROR:
            if expect_error is not None:
                s.close()
                return resp.error()
            raise TurnError(resp.error(), resp)
        assert resp.cls == SUCCESS
        assert resp.check_integrity(self.key), "ConnectionBind success not signed"
        assert expect_error is None, "ConnectionBind succeeded"
        return s


class TcpTurnClient(Rfc6062, TurnClient):
    """A control connection over TCP holding a TCP allocation."""

    def __init__(self, server, username, password):
        super().__init__(server, username, password, transport="tcp")


class TlsTcpTurnClient(Rfc6062, TlsTurnClient):
    """A control connection over TLS; its data connections are TLS too."""

    def __init__(self, server, username, password, ctx):
        super().__init__(server, username, password, ctx)
        self.tls_ctx = ctx


def control(server, username, password, tls_ctx=None):
    """A control connection over TLS with tls_ctx, else over TCP."""
    if tls_ctx is not None:
        return TlsTcpTurnClient(server, username, password, tls_ctx)
    return TcpTurnClient(server, username, password)


def read_exact(s, n, timeout):
    """n bytes from blocking socket s, or AssertionError at the deadline."""
    out = b""
    deadline = time.monotonic() + timeout
    while len(out) < n:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(n - len(out))
        except (socket.timeout, TimeoutError):
            raise AssertionError(f"{len(out)} of {n} bytes within {timeout}s") from None
        if not chunk:
            raise AssertionError(f"connection closed after {len(out)} of {n} bytes")
        out += chunk
    return out


def read_msg(s, timeout):
    """One STUN message from blocking socket s."""
    hdr = read_exact(s, 20, timeout)
    n = struct.unpack("!H", hdr[2:4])[0]
    return Msg(hdr + read_exact(s, n, timeout))


def closed_within(s, timeout):
    """True if the other end closes s (EOF or reset) within timeout; data
    still arriving is read and dropped."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        s.settimeout(left)
        try:
            if not s.recv(65536):
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except (socket.timeout, TimeoutError):
            return False
        except ssl.SSLError:
            return True


def tcp_peer(port):
    """A listening TCP socket on 127.0.0.1:port (the tests' peer)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    s.settimeout(10)
    return s


FILL_MAX = 64 * 1024 * 1024  # a sender that never blocks is stopped here


def fill(sock, chunk, limit_s):
    """Send chunk into sock again and again until a send blocks for limit_s
    (or FILL_MAX went in); the bytes sent. Over TLS a chunk is one record (at most 16 KiB), so a
    send that times out has delivered none of its plaintext; the record
    waits in OpenSSL until the same chunk is sent again."""
    sock.settimeout(limit_s)
    total = 0
    try:
        while total < FILL_MAX:
            total += sock.send(chunk)
        return total
    except (socket.timeout, TimeoutError, BlockingIOError, ssl.SSLWantWriteError):
        return total


def stalls(sender, receiver, d, label, ring):
    """sender writes while receiver does not read: the sender blocks, the
    daemon holds at most its rings (ring bytes each way), and once receiver
    reads, every byte arrives in order. TCP or TLS sockets."""
    chunk = os.urandom(16 * 1024)
    sent = fill(sender, chunk, 1.0)
    buffered = d.metric("icestation_net_tcp_relay_buffered_bytes")
    # kernel buffers on both hops hold the rest; the daemon no more than a ring
    assert buffered <= 2 * ring, f"{label}: daemon buffers {buffered} bytes"
    assert sent < FILL_MAX, f"{label}: {sent} bytes went in without a reader"
    more = fill(sender, chunk, 0.5)
    assert more <= 64 * 1024, f"{label}: sender not stalled ({more} more bytes taken)"
    sent += more
    got = read_exact(receiver, sent, 30)
    # the send that blocked, finished now that the receiver read (over TLS
    # it must be the same chunk), and its bytes after the others
    sender.settimeout(10)
    sender.sendall(chunk)
    got += read_exact(receiver, len(chunk), 10)
    for off in range(0, len(got), len(chunk)):
        assert got[off:off + len(chunk)] == chunk, f"{label}: bytes differ at {off}"
    print(f"ok: {label}: stalled after {sent} bytes, daemon held <= {int(buffered)}, all arrived")
