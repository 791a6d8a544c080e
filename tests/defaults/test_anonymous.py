"""Anonymous credentials (docs/api.md, "Anonymous credentials"). By default
the ICE API refuses to mint without a user: 400 {"error":"user_required"},
counted with the other bad users, and nothing minted. With
ice-api.anonymous: true it mints "<expiry>:" usernames, and TURN counts
every allocation made with one against a quota of the client address: four
anonymous credentials (each fetch is another username) from one address
get three allocations under max-allocations-per-user: 3, another address
gets its own three.
Ports 17010-17019, relay 17600-17649."""

import base64
import hashlib
import hmac
import json
import sys
import time

from icetest import Daemon
from turnclient import TurnClient, TurnError

ICE = "/api/v1/turn/ice-servers"


def refused_by_default():
    with Daemon(http_port=17010, stun_port=17011) as d:
        for q in ("", "?user_did=", "?user_did", "?other=1"):
            status, hdrs, body = d.http(ICE + q)
            assert status == 400, (q, status, body)
            assert hdrs["content-type"] == "application/json", hdrs
            assert hdrs["cache-control"] == "no-store", hdrs
            doc = json.loads(body)
            assert doc["error"] == "user_required", doc
            assert "ice-api.anonymous" in doc["detail"], doc
        assert d.metric("icestation_http_bad_user_total") == 4
        assert d.metric("icestation_http_credentials_minted_total") == 0
        # A user is served as before.
        d.ice_servers("did:peers:alice")
        assert d.metric("icestation_http_credentials_minted_total") == 1
    print("anonymous refused by default")


def mint(secret, expiry):
    """What any coturn-compatible minter makes for an anonymous user."""
    username = f"{expiry}:"
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode()


def allocate(d, cred, local):
    c = TurnClient(("127.0.0.1", d.turn_port), *cred, local=local)
    try:
        c.allocate()
        return c
    except TurnError as e:
        c.close()
        assert e.code == 486, e.code
        return None


def minted_when_on():
    with Daemon(http_port=17012, stun_port=17013,
                turn_extra={"ice-api": {"anonymous": True}, "max-allocations-per-user": 3,
                            "relay-port-range": "17600-17649"}) as d:
        api = d.turn_credentials("")
        assert api[0].endswith(":") and api[0][:-1].isdigit(), api
        later = int(time.time()) + 3600
        creds = [api] + [mint(d.secret, later + i) for i in range(3)]
        assert len({u for u, _ in creds}) == 4
        held = [allocate(d, cred, "127.0.0.1") for cred in creds]
        try:
            assert [c is not None for c in held] == [True, True, True, False], held
            assert d.metric('icestation_turn_quota_rejected_total{kind="per_user"}') == 1
            other = [allocate(d, cred, "127.0.0.2") for cred in creds[:3]]
            held += other
            assert all(c is not None for c in other), "another address has its own quota"
        finally:
            for c in held:
                if c is not None:
                    c.close()
    print("anonymous minted with ice-api.anonymous: true; one quota per client address")


def main():
    refused_by_default()
    minted_when_on()
    return 0


if __name__ == "__main__":
    sys.exit(main())
