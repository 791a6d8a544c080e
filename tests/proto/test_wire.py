#!/usr/bin/python3
"""Malformed attributes and nonce binding on the wire, through the daemon.

- A Binding with a malformed comprehension-required attribute (a 2-byte
  PRIORITY) gets a bare 400: no SOFTWARE, FINGERPRINT only as asked.
- An Allocate with a 4-byte EVEN-PORT beside a RESERVATION-TOKEN, which the
  daemon used to drop without a word, gets 401 from a stranger and a signed
  400 once authenticated; so does a well-formed EVEN-PORT with the token
  (RFC 8656 §7.2). A Send indication with a malformed attribute is dropped.
  Every such message is counted.
- A nonce is bound to the client's address, port and transport: replayed
  from another client port, or over TCP from the same address and port, it
  gets 438 with a fresh nonce (RFC 8489 §9.2.4, as coturn), and the retry
  with that one works.

Ports: 18010-18012, relays 18600-18649 (tests/PORTS.md)."""

import struct
import sys

import protolib
from turnclient import (ALLOCATE, BINDING, ERROR, INDICATION, REFRESH, REQUEST, SEND, SUCCESS,
                        A_DATA, A_DONT_FRAGMENT, A_LIFETIME, A_NONCE, A_REALM,
                        A_REQUESTED_TRANSPORT, A_SOFTWARE, A_USERNAME, A_XOR_PEER, A_XOR_RELAYED,
                        TurnClient, encode, xor_addr)

PORT, HTTP = 18010, 18011
CLIENT_PORT = 18012  # client a's UDP port, then a TCP client's from the same port
A_PRIORITY, A_EVEN_PORT, A_RESERVATION_TOKEN = 0x0024, 0x0018, 0x0022
UDP = (A_REQUESTED_TRANSPORT, struct.pack("!B3x", 17))
TOKEN = (A_RESERVATION_TOKEN, struct.pack("!Q", 0x1234))


def ask(c, method, attrs, key=None):
    """One request (no challenge handling) and its response Msg."""
    req, tid = encode(method, REQUEST, attrs, key=key)
    return c._wait_response(req, tid, 5.0, 3)


def signed(nonce, username):
    """USERNAME, REALM and NONCE; encode(key=...) adds MESSAGE-INTEGRITY."""
    return [(A_USERNAME, username.encode()), (A_REALM, protolib.REALM.encode()),
            (A_NONCE, nonce)]


def challenge(c):
    """An unauthenticated Allocate's 401: its NONCE."""
    r = ask(c, ALLOCATE, [UDP])
    assert r.cls == ERROR and r.error() == 401, r.error()
    return r.get(A_NONCE)


def malformed(d, user, pw):
    key = protolib.md5_key(user, pw)
    before = d.metrics()
    c = TurnClient(("127.0.0.1", PORT), user, pw)
    try:
        req, tid = encode(BINDING, REQUEST, [(A_PRIORITY, b"\0\1")])
        r = c._wait_response(req, tid, 5.0, 3)
        assert r.cls == ERROR and r.error() == 400, r.error()
        assert r.get(A_SOFTWARE) is None and r.check_fingerprint(), r.attrs
        print(f"binding with a 2-byte PRIORITY: 400 in {len(r.raw)} bytes "
              f"(request {len(req)} bytes)")
        assert len(r.raw) <= 48

        even4 = (A_EVEN_PORT, b"\x80\0\0\0")
        r = ask(c, ALLOCATE, [UDP, even4, TOKEN])
        assert r.cls == ERROR and r.error() == 401, "a stranger must get the challenge"
        nonce = r.get(A_NONCE)
        r = ask(c, ALLOCATE, [UDP, even4, TOKEN] + signed(nonce, user), key=key)
        assert r.cls == ERROR and r.error() == 400, r.error()
        assert r.check_integrity(key), "the 400 to the client is signed"
        r = ask(c, ALLOCATE, [UDP, (A_EVEN_PORT, b"\x80"), TOKEN] + signed(nonce, user),
                key=key)
        assert r.cls == ERROR and r.error() == 400, r.error()
        print("EVEN-PORT (4 bytes, then 1) with RESERVATION-TOKEN: 401 unsigned, then 400 signed")

        # Now an allocation, and a Send indication with a 1-byte DONT-FRAGMENT.
        r = ask(c, ALLOCATE, [UDP] + signed(nonce, user), key=key)
        assert r.cls == SUCCESS, r.error()
        relayed = r.addr(A_XOR_RELAYED)
        ind, _ = encode(SEND, INDICATION, [(A_XOR_PEER, xor_addr("127.0.0.1", 9, b"\0" * 12)),
                                           (A_DATA, b"x"), (A_DONT_FRAGMENT, b"\1")])
        c.send_raw(ind)
        # A fence: the next thing the client hears answers this Binding.
        req, tid = encode(BINDING, REQUEST, [])
        c.send_raw(req)
        f = c.recv_frame(5.0)
        assert f is not None and f[8:20] == tid, "the indication was answered"
        r = ask(c, REFRESH, [(A_LIFETIME, b"\0\0\0\0")] + signed(nonce, user), key=key)
        assert r.cls == SUCCESS, r.error()
    finally:
        c.close()
    after = d.metrics()

    def delta(k):
        return after.get(k, 0) - before.get(k, 0)
    assert delta("icestation_stun_malformed_attribute_total") == 4, after
    assert delta('icestation_stun_binding_responses_total{result="bad_request"}') == 1
    assert delta('icestation_turn_responses_total{code="400"}') == 2
    assert delta('icestation_stun_dropped_total{reason="malformed"}') == 1
    print(f"relayed {relayed}; malformed attributes counted: 4 (3 answered, 1 dropped)")


def nonce_binding(d, user, pw):
    key = protolib.md5_key(user, pw)
    before = d.metrics()
    a = TurnClient(("127.0.0.1", PORT), user, pw, local_port=CLIENT_PORT)
    b = TurnClient(("127.0.0.1", PORT), user, pw)
    t = None
    try:
        nonce_a = challenge(a)
        # From another client port: 438, unsigned, a fresh nonce for b.
        r = ask(b, ALLOCATE, [UDP] + signed(nonce_a, user), key=key)
        assert r.cls == ERROR and r.error() == 438, r.error()
        assert not r.check_integrity(key)
        nonce_b = r.get(A_NONCE)
        assert nonce_b and nonce_b != nonce_a and nonce_b.startswith(b"obMatJos2AAAB")
        r = ask(b, ALLOCATE, [UDP] + signed(nonce_b, user), key=key)
        assert r.cls == SUCCESS, r.error()
        # Over TCP from a's own address and port: another transport.
        t = TurnClient(("127.0.0.1", PORT), user, pw, transport="tcp", local_port=CLIENT_PORT)
        r = ask(t, ALLOCATE, [UDP] + signed(nonce_a, user), key=key)
        assert r.cls == ERROR and r.error() == 438, r.error()
        # The nonce still works from where it was given.
        r = ask(a, ALLOCATE, [UDP] + signed(nonce_a, user), key=key)
        assert r.cls == SUCCESS, r.error()
    finally:
        a.close()
        b.close()
        if t is not None:
            t.close()
    after = d.metrics()
    k = 'icestation_turn_auth_failures_total{reason="bad_nonce"}'
    assert after[k] - before.get(k, 0) == 2, after
    print("nonce from another port (UDP) and over TCP from the same port: 438, retry works")


def main():
    with protolib.daemon(PORT, HTTP, (18600, 18649)) as d:
        user, pw = d.turn_credentials("did:peers:wire")
        malformed(d, user, pw)
        nonce_binding(d, user, pw)
    print("PASS test_wire")
    return 0


if __name__ == "__main__":
    sys.exit(main())
