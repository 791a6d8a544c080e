"""Anonymous credentials (docs/api.md, "The user identity"). By default the
ICE API refuses to mint without a user: 400 {"error":"user_required"},
counted with the other bad users, and nothing minted. With
ice-api.anonymous: true it mints "<expiry>:" usernames.
Ports 17010-17019, relay 17600-17649."""

import json
import sys

from icetest import Daemon

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


def minted_when_on():
    with Daemon(http_port=17012, stun_port=17013,
                turn_extra={"ice-api": {"anonymous": True}}) as d:
        username, _ = d.turn_credentials("")
        assert username.endswith(":") and username[:-1].isdigit(), username
    print("anonymous minted with ice-api.anonymous: true")


def main():
    refused_by_default()
    minted_when_on()
    return 0


if __name__ == "__main__":
    sys.exit(main())
