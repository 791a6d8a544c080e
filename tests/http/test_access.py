"""Access control: bearer tokens and the trusted identity header.
Ports 20100-20199."""

from apicheck import ICE_PATH, assert_error, check_credential, get_json, raw_request, run
from icetest import Daemon

TOKENS = ["tok-first-0123456789", "tok-second-abcdef"]


def test_bearer():
    with Daemon(http_port=20100, stun_port=20101,
                http_extra={"bearer-tokens": TOKENS,
                            "cors-origins": ["https://station.example"]}) as d:
        for hdrs in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                     {"Authorization": "Bearer wrong"},
                     {"Authorization": "Bearer " + TOKENS[0][:-1]},
                     {"Authorization": "Bearer " + TOKENS[0] + "x"},
                     {"Authorization": "Basic " + TOKENS[0]},
                     {"Authorization": TOKENS[0]}):
            h, _ = assert_error(d, ICE_PATH + "?user_did=did:peers:alice", 401, headers=hdrs)
            assert h["www-authenticate"].startswith("Bearer"), h
        for tok in TOKENS:
            for scheme in ("Bearer", "bearer"):
                h, doc = get_json(d, ICE_PATH + "?user_did=did:peers:alice",
                                  headers={"Authorization": f"{scheme} {tok}"})
                check_credential(d, doc, "did:peers:alice", 86400, h)
                assert "Authorization" in h["vary"], h
        # Preflight needs no token (browsers never send one on it).
        status, h, _ = d.http(ICE_PATH, method="OPTIONS",
                              headers={"Origin": "https://station.example",
                                       "Access-Control-Request-Method": "GET"})
        assert status == 204 and h["access-control-allow-origin"] == "https://station.example"
        # Health stays open; metrics need the token.
        assert d.http("/healthz")[0] == 200
        assert d.http("/readyz")[0] == 200
        assert_error(d, "/metrics", 401)
        status, _, body = d.http("/metrics", headers={"Authorization": "Bearer " + TOKENS[1]})
        assert status == 200
        vals = dict(l.rsplit(" ", 1) for l in body.decode().splitlines() if not l.startswith("#"))
        assert float(vals["icestation_http_unauthorized_total"]) == 9, vals


def test_identity_header():
    with Daemon(http_port=20110, stun_port=20111,
                http_extra={"identity-header": "X-Peers-User-DID"}) as d:
        # The header wins; the query is ignored, even when it is invalid.
        h, doc = get_json(d, ICE_PATH + "?user_did=did:peers:mallory",
                          headers={"X-Peers-User-DID": "did:peers:alice"})
        check_credential(d, doc, "did:peers:alice", 86400, h)
        assert "X-Peers-User-DID" in h["vary"], h
        _, doc = get_json(d, ICE_PATH + "?user_did=%zz",
                          headers={"x-peers-user-did": "did:peers:bob"})
        check_credential(d, doc, "did:peers:bob", 86400)
        # No header: anonymous, whatever the query says; refused while
        # ice-api.anonymous is off (the default).
        _, doc = assert_error(d, ICE_PATH + "?user_did=did:peers:mallory", 400)
        assert doc["error"] == "user_required", doc
    with Daemon(http_port=20112, stun_port=20113,
                http_extra={"identity-header": "X-Peers-User-DID"},
                turn_extra={"ice-api": {"anonymous": True}}) as d:
        _, doc = get_json(d, ICE_PATH + "?user_did=did:peers:mallory")
        check_credential(d, doc, "", 86400)
        # The header is validated like user_did (raw: no percent-decoding).
        for bad in ("alice", "did:peers:", "did:peers:a b", "did:x:" + "a" * 251):
            assert_error(d, ICE_PATH, 400, headers={"X-Peers-User-DID": bad})
        # Two copies of the header are ambiguous: refused.
        status, reply = raw_request(d.http_port, (
            "GET " + ICE_PATH + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            "X-Peers-User-DID: did:a:b\r\nX-Peers-User-DID: did:a:c\r\n\r\n").encode())
        assert status == 400 and b"more than once" in reply, reply


if __name__ == "__main__":
    run([test_bearer, test_identity_header])
