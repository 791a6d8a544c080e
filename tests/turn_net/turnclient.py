"""A small, independent TURN client for the integration tests, written from
RFC 8656 / RFC 8489 (not from the daemon's codec): STUN encode/decode with
MESSAGE-INTEGRITY and FINGERPRINT, long-term credentials (401 -> realm/nonce
-> retry), Allocate / Refresh / CreatePermission / ChannelBind, Send and Data
indications, ChannelData (padded to 4 on TCP). Every receive has a deadline.
"""

import hashlib
import hmac
import os
import socket
import ssl
import struct
import subprocess
import time
import zlib

from stunwire import COOKIE, msg_type, pad4, wait_readable  # noqa: F401 (re-exported)


BINDING, ALLOCATE, REFRESH, SEND, DATA, CREATE_PERMISSION, CHANNEL_BIND = (
    0x001, 0x003, 0x004, 0x006, 0x007, 0x008, 0x009)
REQUEST, INDICATION, SUCCESS, ERROR = 0, 1, 2, 3

A_MAPPED = 0x0001
A_USERNAME = 0x0006
A_MESSAGE_INTEGRITY = 0x0008
A_ERROR_CODE = 0x0009
A_CHANNEL_NUMBER = 0x000C
A_LIFETIME = 0x000D
A_XOR_PEER = 0x0012
A_DATA = 0x0013
A_REALM = 0x0014
A_NONCE = 0x0015
A_XOR_RELAYED = 0x0016
A_REQUESTED_TRANSPORT = 0x0019
A_DONT_FRAGMENT = 0x001A
A_XOR_MAPPED = 0x0020
A_MOBILITY_TICKET = 0x8030
A_SOFTWARE = 0x8022
A_FINGERPRINT = 0x8028

UDP_PROTO = 17


def xor_addr(host, port, tid):
    """Encode an XOR-*-ADDRESS value."""
    if ":" in host:
        raw = socket.inet_pton(socket.AF_INET6, host)
        key = struct.pack("!I", COOKIE) + tid
        x = bytes(a ^ b for a, b in zip(raw, key))
        return struct.pack("!BBH", 0, 2, port ^ (COOKIE >> 16)) + x
    raw = socket.inet_pton(socket.AF_INET, host)
    x = bytes(a ^ b for a, b in zip(raw, struct.pack("!I", COOKIE)))
    return struct.pack("!BBH", 0, 1, port ^ (COOKIE >> 16)) + x


def unxor_addr(v, tid):
    fam, port = v[1], struct.unpack("!H", v[2:4])[0] ^ (COOKIE >> 16)
    if fam == 1:
        raw = bytes(a ^ b for a, b in zip(v[4:8], struct.pack("!I", COOKIE)))
        return socket.inet_ntop(socket.AF_INET, raw), port
    key = struct.pack("!I", COOKIE) + tid
    raw = bytes(a ^ b for a, b in zip(v[4:20], key))
    return socket.inet_ntop(socket.AF_INET6, raw), port


class Msg:
    def __init__(self, data):
        assert len(data) >= 20, f"short STUN message {data!r}"
        t, length, cookie = struct.unpack("!HHI", data[:8])
        assert cookie == COOKIE, "bad cookie"
        assert 20 + length == len(data), f"length {length} vs {len(data)}"
        self.raw = data
        self.method = (t & 0xF) | ((t >> 1) & 0x70) | ((t >> 2) & 0xF80)
        self.cls = ((t >> 7) & 2) | ((t >> 4) & 1)
        self.tid = data[8:20]
        self.attrs = []
        off = 20
        while off < len(data):
            at, al = struct.unpack("!HH", data[off:off + 4])
            self.attrs.append((at, data[off + 4:off + 4 + al], off))
            off += 4 + pad4(al)
        assert off == len(data), "attribute overruns message"

    def get(self, t):
        for at, v, _ in self.attrs:
            if at == t:
                return v
        return None

    def error(self):
        v = self.get(A_ERROR_CODE)
        return None if v is None else (v[2] & 7) * 100 + v[3]

    def addr(self, t):
        v = self.get(t)
        return None if v is None else unxor_addr(v, self.tid)

    def lifetime(self):
        v = self.get(A_LIFETIME)
        return None if v is None else struct.unpack("!I", v)[0]

    def check_integrity(self, key):
        for at, v, off in self.attrs:
            if at == A_MESSAGE_INTEGRITY:
                body = self.raw[:off]
                hdr = body[:2] + struct.pack("!H", off + 24 - 20) + body[4:]
                return hmac.compare_digest(hmac.new(key, hdr, hashlib.sha1).digest(), v)
        return False

    def check_fingerprint(self):
        for at, v, off in self.attrs:
            if at == A_FINGERPRINT:
                crc = (zlib.crc32(self.raw[:off]) ^ 0x5354554E) & 0xFFFFFFFF
                return struct.unpack("!I", v)[0] == crc
        return None


def encode(method, cls, attrs, tid=None, key=None, fingerprint=True):
    """A STUN message; an attribute value may be a function of the
    transaction id (an IPv6 XOR-PEER-ADDRESS depends on it)."""
    tid = tid or os.urandom(12)
    body = b""
    for t, v in attrs:
        if callable(v):
            v = v(tid)
        body += struct.pack("!HH", t, len(v)) + v + b"\0" * (pad4(len(v)) - len(v))
    mt = msg_type(method, cls)
    if key is not None:
        hdr = struct.pack("!HHI", mt, len(body) + 24, COOKIE) + tid
        mac = hmac.new(key, hdr + body, hashlib.sha1).digest()
        body += struct.pack("!HH", A_MESSAGE_INTEGRITY, 20) + mac
    if fingerprint:
        hdr = struct.pack("!HHI", mt, len(body) + 8, COOKIE) + tid
        crc = (zlib.crc32(hdr + body) ^ 0x5354554E) & 0xFFFFFFFF
        body += struct.pack("!HHI", A_FINGERPRINT, 4, crc)
    return struct.pack("!HHI", mt, len(body), COOKIE) + tid + body, tid


class TurnError(Exception):
    def __init__(self, code, msg):
        super().__init__(f"TURN error {code}")
        self.code = code
        self.msg = msg


class TurnClient:
    """One client 5-tuple (a UDP socket or a TCP connection) to the server."""

    def __init__(self, server, username, password, transport="udp", local="127.0.0.1",
                 local_port=0):
        self.server = server
        self.username = username.encode()
        self.password = password.encode()
        self.transport = transport
        self.local_host = local
        self.sock = self._connect(local_port)
        self.inbuf = b""
        self.realm = None
        self.nonce = None
        self.key = None
        self.relayed = None
        self.mapped = None
        self.pending = []  # data/channel frames that arrived while waiting for a response

    def _connect(self, local_port=0):
        fam = socket.AF_INET6 if ":" in self.server[0] else socket.AF_INET
        if self.transport == "udp":
            s = socket.socket(fam, socket.SOCK_DGRAM)
            s.bind((self.local_host, local_port))
            s.connect(self.server)
        else:
            s = socket.socket(fam, socket.SOCK_STREAM)
            if local_port:
                # A fixed port must be free again for the next run: close
                # with a reset, leaving no TIME_WAIT behind.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.bind((self.local_host, local_port))
            s.settimeout(5)
            s.connect(self.server)
        s.setblocking(False)
        return s

    def rebind(self):
        """Carry on from a new local port (a new 5-tuple, as after a NAT
        rebinding or a network change). Returns the old socket, still open."""
        old = self.sock
        self.sock = self._connect()
        self.inbuf = b""
        return old

    def close(self):
        self.sock.close()

    def local(self):
        return self.sock.getsockname()[:2]

    # framing ---------------------------------------------------------------

    def send_raw(self, data):
        if self.transport == "udp":
            self.sock.send(data)
        else:
            self.sock.setblocking(True)
            self.sock.settimeout(5)
            try:
                self.sock.sendall(data)
            finally:
                self.sock.setblocking(False)

    def _frame(self):
        """One complete frame out of self.inbuf (TCP), or None."""
        b = self.inbuf
        if len(b) < 4:
            return None
        if b[0] < 0x40:
            n = 20 + struct.unpack("!H", b[2:4])[0]
        else:
            n = 4 + pad4(struct.unpack("!H", b[2:4])[0])
        if len(b) < n:
            return None
        self.inbuf = b[n:]
        return b[:n]

    def recv_frame(self, timeout):
        """Next datagram / stream frame, or None at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            if self.transport != "udp":
                f = self._frame()
                if f is not None:
                    return f
            if not wait_readable(self.sock, deadline):
                return None
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionRefusedError:
                continue
            if self.transport == "udp":
                return data
            if not data:
                raise ConnectionResetError("server closed the connection")
            self.inbuf += data

    @staticmethod
    def classify(frame):
        """('stun', Msg) | ('data', (host, port), bytes) | ('chan', number, bytes)."""
        if frame[0] >= 0x40:
            ch, n = struct.unpack("!HH", frame[:4])
            return ("chan", ch, frame[4:4 + n])
        m = Msg(frame)
        if m.method == DATA and m.cls == INDICATION:
            return ("data", m.addr(A_XOR_PEER), m.get(A_DATA))
        return ("stun", m)

    # transactions -------------------------------------------------------------

    def transact(self, method, attrs, timeout=5.0, auth=True, retries=3):
        """Send a request (with credentials once known) and return the final
        response Msg; 401/438 challenges are answered once. Raises TurnError
        for an error response, TimeoutError for silence."""
        challenged = False
        while True:
            full = list(attrs)
            key = None
            if auth and self.nonce is not None:
                full += [(A_USERNAME, self.username), (A_REALM, self.realm),
                         (A_NONCE, self.nonce)]
                key = self.key
            req, tid = encode(method, REQUEST, full, key=key)
            resp = self._wait_response(req, tid, timeout, retries)
            err = resp.error()
            if resp.cls == ERROR and err in (401, 438) and not challenged and auth:
                challenged = True
                self.realm = resp.get(A_REALM)
                self.nonce = resp.get(A_NONCE)
                assert self.realm is not None and self.nonce is not None, "challenge lacks realm/nonce"
                self.key = hashlib.md5(self.username + b":" + self.realm + b":" +
                                       self.password).digest()
                continue
            if resp.cls == ERROR:
                raise TurnError(err, resp)
            assert resp.cls == SUCCESS
            if self.key is not None:
                assert resp.check_integrity(self.key), "bad MESSAGE-INTEGRITY in response"
            return resp

    def _wait_response(self, req, tid, timeout, retries):
        per = timeout / max(1, retries) if self.transport == "udp" else timeout
        for _ in range(retries if self.transport == "udp" else 1):
            self.send_raw(req)
            deadline = time.monotonic() + per
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                f = self.recv_frame(left)
                if f is None:
                    break
                c = self.classify(f)
                if c[0] == "stun" and c[1].tid == tid and c[1].cls in (SUCCESS, ERROR):
                    return c[1]
                self.pending.append(c)
        raise TimeoutError("no response")

    def allocate(self, lifetime=None, extra=()):
        attrs = [(A_REQUESTED_TRANSPORT, struct.pack("!B3x", UDP_PROTO))]
        if lifetime is not None:
            attrs.append((A_LIFETIME, struct.pack("!I", lifetime)))
        attrs += list(extra)
        r = self.transact(ALLOCATE, attrs)
        self.relayed = r.addr(A_XOR_RELAYED)
        self.mapped = r.addr(A_XOR_MAPPED)
        return r

    def refresh(self, lifetime):
        return self.transact(REFRESH, [(A_LIFETIME, struct.pack("!I", lifetime))])

    def create_permission(self, *peers):
        return self.transact(CREATE_PERMISSION, self._peer_attrs(peers))

    @staticmethod
    def _xor_peer(peer):
        # For IPv6 the value depends on the transaction id encode() draws.
        return lambda tid: xor_addr(peer[0], peer[1], tid)

    def _peer_attrs(self, peers):
        return [(A_XOR_PEER, self._xor_peer(p)) for p in peers]

    def channel_bind(self, number, peer):
        return self.transact(CHANNEL_BIND, [(A_CHANNEL_NUMBER, struct.pack("!HH", number, 0)),
                                            (A_XOR_PEER, self._xor_peer(peer))])

    def send_indication(self, peer, data, dont_fragment=False):
        attrs = [(A_XOR_PEER, self._xor_peer(peer)), (A_DATA, data)]
        if dont_fragment:
            attrs.append((A_DONT_FRAGMENT, b""))
        msg, _ = encode(SEND, INDICATION, attrs, fingerprint=False)
        self.send_raw(msg)

    def channel_frame(self, number, data):
        frame = struct.pack("!HH", number, len(data)) + data
        if self.transport != "udp":
            frame += b"\0" * (pad4(len(data)) - len(data))
        return frame

    def send_channel(self, number, data):
        self.send_raw(self.channel_frame(number, data))

    def recv_relayed(self, timeout):
        """Next ('data', peer, bytes) or ('chan', number, bytes), or None."""
        while self.pending:
            c = self.pending.pop(0)
            if c[0] in ("data", "chan"):
                return c
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            f = self.recv_frame(left)
            if f is None:
                return None
            c = self.classify(f)
            if c[0] in ("data", "chan"):
                return c


def udp_peer(host="127.0.0.1"):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    s.setblocking(False)
    return s


def recv_from(sock, timeout):
    """(data, addr) or None at the deadline."""
    deadline = time.monotonic() + timeout
    while wait_readable(sock, deadline):
        try:
            return sock.recvfrom(65536)
        except (BlockingIOError, ConnectionRefusedError):
            continue
    return None


def make_cert(tmp, name="c", days=1):
    cert, key = os.path.join(tmp, name + ".pem"), os.path.join(tmp, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", str(days), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


def client_ctx(cert):
    """Verifies the daemon's certificate: it must serve the configured chain."""
    ctx = ssl.create_default_context(cafile=cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class TlsTurnClient(TurnClient):
    """TurnClient over TLS: the same stream framing (ChannelData padded to 4),
    reads that look into the SSL buffer before waiting on the socket."""

    def __init__(self, server, username, password, ctx, alpn=None, local="127.0.0.1"):
        super().__init__(server, username, password, transport="tcp", local=local)
        self.sock.setblocking(True)
        self.sock.settimeout(5)
        if alpn:
            ctx.set_alpn_protocols(alpn)
        self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        self.sock.setblocking(False)
        self.transport = "tls"

    def recv_frame(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            f = self._frame()
            if f is not None:
                return f
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if not self.sock.pending() and not wait_readable(self.sock, deadline):
                return None
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                continue
            if not data:
                raise ConnectionResetError("server closed the connection")
            self.inbuf += data


def tls_garbage(addr, junk=b"\x16\x03\x01\x00\x10" + b"not a client hello" * 3):
    """Open a TCP connection to a TLS port, send junk where a ClientHello
    belongs, and wait (5 s at most) for the server to close it."""
    with socket.create_connection(addr, timeout=5) as s:
        s.sendall(junk)
        s.settimeout(5)
        try:
            while s.recv(4096):
                pass
        except (ConnectionResetError, socket.timeout):
            pass
