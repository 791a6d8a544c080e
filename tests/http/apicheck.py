"""Helpers shared by the tests/http integration tests."""

import base64
import hashlib
import hmac
import json
import re
import sys
import time
import traceback

ICE_PATH = "/api/v1/turn/ice-servers"
ALIAS_PATH = "/api/v1/ice/servers"


def expected_credential(secret, username):
    """base64(HMAC-SHA1(secret, username)), computed independently of the daemon."""
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def get_json(d, path, headers=None, want=200):
    status, hdrs, body = d.http(path, headers=headers)
    assert status == want, f"{path}: status {status}, want {want}: {body!r}"
    if want in (204,) or not body:
        return hdrs, None
    assert hdrs.get("content-type") == "application/json", hdrs
    return hdrs, json.loads(body)


def assert_error(d, path, want, headers=None, method="GET"):
    """A JSON error reply with the wanted status; returns (headers, body)."""
    status, hdrs, body = d.http(path, method=method, headers=headers)
    assert status == want, f"{method} {path}: status {status}, want {want}: {body!r}"
    assert hdrs.get("content-type") == "application/json", hdrs
    doc = json.loads(body)
    assert isinstance(doc.get("error"), str) and doc["error"], doc
    assert isinstance(doc.get("detail"), str) and doc["detail"], doc
    return hdrs, doc


def turn_entry(doc):
    entries = [e for e in doc["ice_servers"] if "username" in e]
    assert len(entries) <= 1, doc
    return entries[0] if entries else None


def check_credential(d, doc, user, ttl, hdrs=None):
    """The TURN entry's username is <now+ttl>:<user> and its credential verifies."""
    e = turn_entry(doc)
    assert e is not None, doc
    m = re.fullmatch(r"(\d+):(.*)", e["username"])
    assert m, e
    expiry = int(m.group(1))
    assert m.group(2) == user, (m.group(2), user)
    now = time.time()
    assert now + ttl - 5 <= expiry <= now + ttl + 1, (expiry, now, ttl)
    assert e["credential"] == expected_credential(d.secret, e["username"]), e
    assert doc["ttl"] == ttl, doc
    if hdrs is not None:
        cc = hdrs.get("cache-control", "")
        m = re.fullmatch(r"private, max-age=(\d+)", cc)
        assert m, cc
        assert 0 < int(m.group(1)) <= expiry - now, (cc, expiry - now)
    return expiry


def run(tests):
    """Run test functions in order; print and exit non-zero on the first failure."""
    for t in tests:
        start = time.monotonic()
        try:
            t()
        except Exception:
            traceback.print_exc()
            print(f"FAIL {t.__name__}")
            sys.exit(1)
        print(f"ok   {t.__name__} ({time.monotonic() - start:.2f}s)")
    print(f"{len(tests)} tests passed")


def raw_request(port, data, timeout=5.0):
    """Send raw bytes, read until the server closes; return (status or None, raw reply)."""
    import socket
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    reply = b"".join(chunks)
    m = re.match(rb"HTTP/1\.[01] (\d{3}) ", reply)
    return (int(m.group(1)) if m else None), reply
