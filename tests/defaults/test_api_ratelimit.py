"""The ICE API's per-caller rate limit (docs/api.md, "Rate limit"). With the
shipped default (20 requests/s, burst 100), 300 back-to-back requests from
one client get about 100 answers and then 429 with Retry-After: 1 and a
JSON error, each counted; /metrics and /healthz are not limited; the bucket
refills. Another client IP has its own bucket; with an identity header the
identity is the caller, so two users behind one proxy address do not share
one. requests-per-second: 0 turns the limit off.
Ports 17030-17039."""

import http.client
import json
import sys
import time

from icetest import Daemon, wait_for

ICE = "/api/v1/turn/ice-servers?user_did=did:peers:alice"
RL = "icestation_http_rate_limited_total"


def burst(port, n, path=ICE, headers=None, source="127.0.0.1"):
    """n requests back to back on one kept-alive connection: {status: count}."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5, source_address=(source, 0))
    counts = {}
    try:
        for _ in range(n):
            conn.request("GET", path, headers=headers or {})
            r = conn.getresponse()
            body = r.read()
            counts[r.status] = counts.get(r.status, 0) + 1
            if r.status == 429:
                assert r.getheader("Retry-After") == "1", r.getheaders()
                assert r.getheader("Content-Type") == "application/json"
                assert json.loads(body)["error"] == "rate_limited", body
    finally:
        conn.close()
    return counts


def shipped_default():
    with Daemon(http_port=17030, stun_port=17031) as d:
        t0 = time.monotonic()
        got = burst(17030, 300)
        elapsed = time.monotonic() - t0
        print(f"300 requests in {elapsed:.2f}s: {got}")
        assert set(got) <= {200, 429}, got
        # The burst, plus what 20/s refilled meanwhile.
        assert 100 <= got.get(200, 0) <= 100 + 20 * elapsed + 1, (got, elapsed)
        assert got.get(429, 0) > 0, got
        assert d.metric(RL) == got[429]
        assert d.metric("icestation_http_credentials_minted_total") == got[200]
        # Operational endpoints are never limited.
        assert burst(17030, 20, "/healthz") == {200: 20}
        # The bucket refills: one second brings 20 tokens.
        wait_for(lambda: burst(17030, 1) == {200: 1}, 5, interval=0.2, what="refill")
        # Another client IP is another caller.
        assert burst(17030, 50, source="127.0.0.2") == {200: 50}
    print("shipped default: limited, counted, refilled, per client IP")


def per_identity():
    with Daemon(http_port=17032, stun_port=17033,
                http_extra={"identity-header": "X-Peers-User-DID",
                            "rate-limit": {"requests-per-second": 1, "burst": 5}}) as d:
        alice = {"X-Peers-User-DID": "did:peers:alice"}
        bob = {"X-Peers-User-DID": "did:peers:bob"}
        assert burst(17032, 8, headers=alice) == {200: 5, 429: 3}
        # Same proxy address, another user: a bucket of its own.
        assert burst(17032, 8, headers=bob) == {200: 5, 429: 3}
        assert d.metric(RL) == 6
    print("identity header: one bucket per user")


def off():
    with Daemon(http_port=17034, stun_port=17035,
                http_extra={"rate-limit": {"requests-per-second": 0}}) as d:
        assert burst(17034, 300) == {200: 300}
        assert d.metric(RL) == 0
    print("requests-per-second 0: no limit")


def main():
    shipped_default()
    per_identity()
    off()
    return 0


if __name__ == "__main__":
    sys.exit(main())
