"""What the operator sees in the log (issue 12): one line for each failure
kind (a bad password, an expired credential, a 486 quota refusal, a 508 with
the relay ports gone, a denied peer), each naming the reason, the client,
the transport and the user and never the credential; one session record per
allocation with the bytes and packets it relayed each way; addresses masked
with logger.mask-addresses; and, with logger.format: json, every line a JSON
object. Ports 26600-26619, relay 43000-43099."""

import json
import re
import sys
import time

from icetest import Daemon, wait_for
from turnclient import TurnClient, TurnError, recv_from, udp_peer

HTTP1, PORT1 = 26600, 26601
HTTP2, PORT2 = 26602, 26603


def expect_error(code, fn, *args):
    try:
        fn(*args)
    except TurnError as e:
        assert e.code == code, f"expected {code}, got {e.code}"
        return
    raise AssertionError(f"expected error {code}, got success")


def lines_with(d, text):
    return [l for l in d.log().splitlines() if text in l]


def wait_line(d, text, what):
    return wait_for(lambda: lines_with(d, text), 5, what=what)


def failures(d, secret):
    """Each failure kind leaves its line; returns the passwords used."""
    user, pw = d.turn_credentials("did:peers:logs")
    passwords = [pw]

    # A wrong password: bad_integrity.
    c = TurnClient(("127.0.0.1", d.stun_port), user, "not-the-password")
    try:
        expect_error(401, c.allocate)
    finally:
        c.close()
    l = wait_line(d, "event=auth_failed", "auth failure line")[-1]
    assert "reason=bad_integrity" in l and "user=did:peers:logs" in l and "transport=udp" in l, l

    # An expired credential (minted by hand with the shared secret).
    import base64, hashlib, hmac
    old_user = f"{int(time.time()) - 60}:did:peers:expired"
    old_pw = base64.b64encode(hmac.new(secret.encode(), old_user.encode(), hashlib.sha1).digest()).decode()
    passwords.append(old_pw)
    c = TurnClient(("127.0.0.1", d.stun_port), old_user, old_pw)
    try:
        expect_error(401, c.allocate)
    finally:
        c.close()
    l = wait_line(d, "reason=expired_username", "expired credential line")[-1]
    assert "user=did:peers:expired" in l, l

    # A 486: the per-user quota is 1.
    a = TurnClient(("127.0.0.1", d.stun_port), user, pw)
    b = TurnClient(("127.0.0.1", d.stun_port), user, pw)
    try:
        a.allocate()
        expect_error(486, b.allocate)
        l = wait_line(d, "event=allocate_refused", "486 line")[-1]
        assert "code=486" in l and "reason=per_user" in l and "user=did:peers:logs" in l, l

        # A denied peer: 10.0.0.1 is private.
        expect_error(403, a.create_permission, ("10.0.0.1", 5000))
        l = wait_line(d, "event=peer_denied", "denied peer line")[-1]
        assert "reason=private" in l and "peer=10.0.0.1" in l and "code=403" in l, l
        a.refresh(0)
    finally:
        a.close()
        b.close()

    # A 508: the two relay ports are taken by two users.
    holders = []
    try:
        for n in range(2):
            u, p = d.turn_credentials(f"did:peers:hold{n}")
            h = TurnClient(("127.0.0.1", d.stun_port), u, p)
            holders.append(h)
            h.allocate()
        u, p = d.turn_credentials("did:peers:late")
        late = TurnClient(("127.0.0.1", d.stun_port), u, p)
        holders.append(late)
        expect_error(508, late.allocate)
        l = wait_line(d, "code=508", "508 line")[-1]
        assert "reason=relay_ports" in l and "user=did:peers:late" in l, l
        for h in holders[:2]:
            h.refresh(0)
    finally:
        for h in holders:
            h.close()
    return passwords


def session_record(d):
    """Relay known byte counts each way; the record says exactly that."""
    user, pw = d.turn_credentials("did:peers:session")
    c = TurnClient(("127.0.0.1", d.stun_port), user, pw)
    peer = udp_peer()
    try:
        c.allocate()
        c.create_permission(peer.getsockname())
        c.channel_bind(0x4001, peer.getsockname())
        for i in range(5):  # 5 x 100 bytes to the peer
            c.send_channel(0x4001, bytes([i]) * 100)
            got = recv_from(peer, 2)
            assert got is not None and len(got[0]) == 100, "peer missed a datagram"
        for i in range(3):  # 3 x 40 bytes to the client
            peer.sendto(bytes([i]) * 40, c.relayed)
            r = c.recv_relayed(2)
            assert r is not None and len(r[2]) == 40, "client missed a datagram"
        c.refresh(0)
    finally:
        c.close()
        peer.close()
    l = wait_line(d, "user=did:peers:session", "session record")
    rec = [x for x in l if "event=session_end" in x][-1]
    for want in ("to_peer_bytes=500", "to_peer_packets=5", "to_client_bytes=120",
                 "to_client_packets=3", "reason=deleted", "transport=udp"):
        assert want in rec, f"{want} missing in {rec}"
    assert re.search(r"relay=127\.0\.0\.1:430\d\d", rec), rec
    assert re.search(r"duration_s=\d+\.\d{3}", rec), rec


def text_log():
    secret = "logs-secret-0123456789abcdef0123456789"
    turn = {"max-allocations-per-user": 1, "relay-port-range": "43000-43001",
            "allowed-peer-ip": ["127.0.0.0/8"]}
    with Daemon(http_port=HTTP1, stun_port=PORT1, secret=secret, turn_extra=turn) as d:
        passwords = failures(d, secret)
        d.turn_credentials("did:peers:session")  # warm up nothing; keeps quota fresh
    # The quota of 1 would refuse the session test's own allocation: a
    # second daemon for the session record.
    turn = {"relay-port-range": "43010-43019", "allowed-peer-ip": ["127.0.0.0/8"]}
    with Daemon(http_port=HTTP1, stun_port=PORT1, secret=secret, turn_extra=turn) as d:
        session_record(d)
        text = d.log()
    for pw in passwords:
        assert pw not in text, "a credential reached the log"
    print("text log: every failure kind has its line; session record exact; no credential")


def json_masked_log():
    turn = {"relay-port-range": "43020-43029", "allowed-peer-ip": ["127.0.0.0/8"]}
    with Daemon(http_port=HTTP2, stun_port=PORT2, turn_extra=turn,
                logger_extra={"format": "json", "mask-addresses": True}) as d:
        user, pw = d.turn_credentials("did:peers:masked")
        c = TurnClient(("127.0.0.1", PORT2), user, "wrong")
        try:
            expect_error(401, c.allocate)
        finally:
            c.close()
        c = TurnClient(("127.0.0.1", PORT2), user, pw)
        try:
            c.allocate()
            expect_error(403, c.create_permission, ("192.168.7.9", 5000))
            c.refresh(0)
        finally:
            c.close()
        wait_for(lambda: '"session_end"' in d.log(), 5, what="json session record")
        text = d.log()
    objs = []
    for line in text.splitlines():
        objs.append(json.loads(line))  # every line is one JSON object
    for o in objs:
        assert {"ts", "level", "msg"} <= set(o), o
    auth = [o for o in objs if o.get("event") == "auth_failed"]
    denied = [o for o in objs if o.get("event") == "peer_denied"]
    sess = [o for o in objs if o.get("event") == "session_end"]
    assert auth and denied and sess, "json lines for each event"
    # Masked: the client's host part and the peer's host part are gone.
    assert auth[-1]["client"] == "127.0.0.0", auth[-1]
    assert denied[-1]["peer"] == "192.168.7.0", denied[-1]
    assert sess[-1]["client"] == "127.0.0.0", sess[-1]
    assert "127.0.0.1:" not in json.dumps([auth, denied]), "an unmasked client address"
    print("json log: every line parses, addresses masked")


def main():
    text_log()
    json_masked_log()
    return 0


if __name__ == "__main__":
    sys.exit(main())
