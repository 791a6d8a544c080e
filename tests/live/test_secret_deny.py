"""Secret rotation and the deny list, by reload (issue 11).

Secret swap: after a reload that puts a new auth-secret in force and the
old one in previous-auth-secrets, the ICE API mints with the new secret
(its credential is the HMAC of the new one), and a credential minted with
the old secret still allocates and refreshes (counted as a previous-secret
use); after a reload that drops the old secret, that credential gets 401,
for a new Allocate and for the Refresh of its live allocation, while the
new one keeps working.

Deny list: two loopback peers are allowed (allowed-peer-ip wins over every
deny, so the test allows each by its /32); a reload moves one of them from
allowed-peer-ip to denied-peer-ip. Its permission and channel are removed
at once: CreatePermission gets 403 counted as reason="denied_peer_ip" (the
deny list, not the built-in loopback rule), its datagrams to the relay are
dropped (no_permission), the client's Send indication to it is dropped
(denied_peer) and its channel no longer carries anything; the other peer
still relays both ways.
Ports 10010-10019, relay 11020-11039."""

import base64
import hashlib
import hmac
import sys

from icetest import Daemon
from livelib import admin_reload, bind, both_ways, expect_error, relay_stopped, sighup
from turnclient import TurnClient, recv_from, udp_peer

S_OLD, S_NEW = "live-rotation-old", "live-rotation-new"
PEER_A, PEER_B = "127.0.0.2", "127.0.0.3"


def credential(secret, username):
    return base64.b64encode(hmac.new(secret.encode(), username.encode(),
                                     hashlib.sha1).digest()).decode()


def allocate_as(port, user, pw):
    c = TurnClient(("127.0.0.1", port), user, pw)
    c.allocate()
    return c


def secret_swap():
    http, port = 10010, 10011
    turn = {"allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11020-11029"}
    with Daemon(http_port=http, stun_port=port, secret=S_OLD, turn_extra=turn) as d:
        u_old, p_old = d.turn_credentials("did:peers:rotor")
        assert p_old == credential(S_OLD, u_old)
        live = allocate_as(port, u_old, p_old)  # an allocation made with the old secret

        d.reconfigure(turn={"auth-secret": S_NEW, "previous-auth-secrets": [S_OLD]})
        assert sighup(d) == "ok", d.log()
        u_new, p_new = d.turn_credentials("did:peers:rotor")
        assert p_new == credential(S_NEW, u_new), "the ICE API does not mint with the new secret"
        assert p_new != credential(S_OLD, u_new)
        used = d.metric("icestation_turn_auth_previous_secret_total")
        second = allocate_as(port, u_old, p_old)  # old credential, new Allocate
        live.refresh(600)
        assert d.metric("icestation_turn_auth_previous_secret_total") > used, \
            "the old credential was not accepted through previous-auth-secrets"
        fresh = allocate_as(port, u_new, p_new)

        d.reconfigure(turn={"previous-auth-secrets": None})
        admin_reload(d)
        bad = d.metric('icestation_turn_auth_failures_total{reason="bad_integrity"}')
        c = TurnClient(("127.0.0.1", port), u_old, p_old)
        expect_error(401, c.allocate)
        assert d.metric('icestation_turn_auth_failures_total{reason="bad_integrity"}') > bad
        # A live allocation keeps the key it was made with (src/auth/ltc.c:
        # secrets are tried at Allocate only), so the call goes on.
        live.refresh(600)
        fresh.refresh(600)  # the new secret's credential is untouched
        u_now, p_now = d.turn_credentials("did:peers:rotor")
        assert p_now == credential(S_NEW, u_now)
        allocate_as(port, u_now, p_now).close()
        for x in (live, second, fresh, c):
            x.close()
    print("secret swap: new secret minted, old accepted while previous, then 401")


def deny_list():
    http, port = 10012, 10013
    turn = {"allowed-peer-ip": [PEER_A + "/32", PEER_B + "/32"],
            "relay-port-range": "11030-11039"}
    with Daemon(http_port=http, stun_port=port, turn_extra=turn) as d:
        user, pw = d.turn_credentials("did:peers:denier")
        a, b = udp_peer(PEER_A), udp_peer(PEER_B)
        c = allocate_as(port, user, pw)
        bind(c, a, 0x4000)
        bind(c, b, 0x4001)
        both_ways(c, a, 0x4000, b"a before")
        both_ways(c, b, 0x4001, b"b before")

        d.reconfigure(turn={"allowed-peer-ip": [PEER_A + "/32"],
                            "denied-peer-ip": [PEER_B + "/32"]})
        assert sighup(d) == "ok", d.log()
        m0 = d.metrics()
        assert m0["icestation_turn_policy_removed_total"] >= 1, "no permission removed"
        # Its existing permission stops relaying, both ways.
        relay_stopped(c, b, 0x4001, c.relayed)
        c.send_indication(b.getsockname(), b"by indication")
        assert recv_from(b, 0.3) is None, "a Send indication reached the denied peer"
        m1 = d.metrics()
        assert m1['icestation_turn_dropped_total{reason="no_permission"}'] > \
            m0['icestation_turn_dropped_total{reason="no_permission"}'], "peer datagram not dropped"
        assert m1['icestation_turn_dropped_total{reason="denied_peer"}'] > \
            m0['icestation_turn_dropped_total{reason="denied_peer"}'], "Send indication not dropped"
        # A new permission to it: 403, and the deny list is why.
        expect_error(403, c.create_permission, b.getsockname())
        m2 = d.metrics()
        denied = 'icestation_turn_peer_denied_total{reason="denied_peer_ip"}'
        loop = 'icestation_turn_peer_denied_total{reason="loopback"}'
        assert m2[denied] >= m0[denied] + 2, (m0[denied], m2[denied])
        assert m2[loop] == m0[loop], "refused as loopback, not by denied-peer-ip"
        # The other peer is untouched.
        both_ways(c, a, 0x4000, b"a after")
        c.create_permission(a.getsockname())
        c.close()
        a.close()
        b.close()
    print("deny list: 403, existing permission removed and its datagrams dropped")


def main():
    secret_swap()
    deny_list()
    return 0


if __name__ == "__main__":
    sys.exit(main())
