"""Peer-side TURN requests for the local-deny tests, for both families.

An IPv6 XOR-PEER-ADDRESS is XORed with the transaction id, which
turnclient's helpers do not know when they build the attribute (they use
IPv4 peers), so these build each request around a transaction id of their
own, on a TurnClient that has allocated (its realm, nonce and key are set).
Each returns the answer's code: 200 for success, else the error code.
"""

import os
import struct

from turnclient import (A_CHANNEL_NUMBER, A_DATA, A_NONCE, A_REALM, A_USERNAME, A_XOR_PEER,
                        CHANNEL_BIND, CREATE_PERMISSION, INDICATION, REQUEST, SEND, SUCCESS,
                        encode, xor_addr)


def _request(c, method, attrs_for):
    tid = os.urandom(12)
    attrs = attrs_for(tid) + [(A_USERNAME, c.username), (A_REALM, c.realm),
                              (A_NONCE, c.nonce)]
    req, _ = encode(method, REQUEST, attrs, tid=tid, key=c.key)
    r = c._wait_response(req, tid, 5.0, 3)
    return 200 if r.cls == SUCCESS else r.error()


def permit(c, peer):
    """CreatePermission for peer (host, port)."""
    return _request(c, CREATE_PERMISSION, lambda tid: [(A_XOR_PEER, xor_addr(*peer, tid))])


def bind(c, number, peer):
    """ChannelBind number to peer (host, port)."""
    return _request(c, CHANNEL_BIND, lambda tid: [
        (A_CHANNEL_NUMBER, struct.pack("!HH", number, 0)), (A_XOR_PEER, xor_addr(*peer, tid))])


def send(c, peer, data):
    """A Send indication to peer (host, port); never answered."""
    tid = os.urandom(12)
    msg, _ = encode(SEND, INDICATION, [(A_XOR_PEER, xor_addr(*peer, tid)), (A_DATA, data)],
                    tid=tid, fingerprint=False)
    c.send_raw(msg)
