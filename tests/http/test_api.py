"""The ICE-config API contract (docs/api.md) against the real daemon.
Ports 20000-20099 (tests/PORTS.md: tests/http owns 20000-20999)."""

import os
import re
import shutil
import subprocess
import tempfile

from apicheck import (ALIAS_PATH, ICE_PATH, assert_error, check_credential, get_json,
                      raw_request, run, turn_entry)
from icetest import Daemon

ORIGIN = "https://station.example"
ALICE = ICE_PATH + "?user_did=did:peers:alice"
TTL = 7200


def test_contract():
    with Daemon(http_port=20000, stun_port=20001, secret="north-sea",
                turn_extra={"credential-ttl": f"{TTL}s",
                            "ice-api": {"anonymous": True, "public-fallback": {
                                "enabled": True,
                                "stun-servers": ["stun:stun.example.net:3478",
                                                 "stun:stun2.example.net:19302"]}}},
                http_extra={"cors-origins": [ORIGIN]}) as d:
        for path in (ICE_PATH, ALIAS_PATH):
            hdrs, doc = get_json(d, path + "?user_did=did%3Apeers%3Aalice")
            assert set(doc) == {"ice_servers", "ttl"}, doc
            servers = doc["ice_servers"]
            assert servers[0] == {"urls": ["stun:127.0.0.1:20001"]}, servers
            t = turn_entry(doc)
            assert t["urls"] == ["turn:127.0.0.1:20001?transport=udp",
                                 "turn:127.0.0.1:20001?transport=tcp"], t
            assert set(t) == {"urls", "username", "credential"}, t
            assert servers[1] is t
            assert servers[2] == {"urls": ["stun:stun.example.net:3478",
                                           "stun:stun2.example.net:19302"]}, servers
            assert len(servers) == 3
            check_credential(d, doc, "did:peers:alice", TTL, hdrs)
            assert "Origin" in hdrs["vary"], hdrs
            # min(ttl/2, 3600): 3600 for a 2 h credential.
            assert hdrs["cache-control"] == "private, max-age=3600", hdrs

        # Unencoded colons are fine too; anonymous gives "<expiry>:".
        _, doc = get_json(d, ICE_PATH + "?user_did=did:web:example.com")
        check_credential(d, doc, "did:web:example.com", TTL)
        for q in ("", "?user_did=", "?user_did", "?other=1"):
            _, doc = get_json(d, ICE_PATH + q)
            check_credential(d, doc, "", TTL)
        # Unknown parameters are ignored.
        _, doc = get_json(d, ICE_PATH + "?a=1&user_did=did:x:y&b=%zz-not-ours")
        check_credential(d, doc, "did:x:y", TTL)
        # Two requests a moment apart mint independently but both verify.
        a = d.ice_servers("did:peers:bob")
        check_credential(d, a, "did:peers:bob", TTL)

        # HEAD: headers, no body.
        status, hdrs, body = d.http(ICE_PATH, method="HEAD")
        assert status == 200 and body == b"", (status, body)
        assert hdrs["content-type"] == "application/json"
        head_framing(d)

        m = d.metrics()
        assert m['icestation_http_credentials_minted_total'] >= 8, m
        assert m['icestation_http_requests_total{code="2xx"}'] >= 9, m


def head_framing(d):
    """On one kept-alive connection, HEAD then GET: http.client never reads a
    HEAD body, so only raw bytes show whether one was sent (evhttp 2.1 sends
    it, and the client then takes it for the next response)."""
    path = ICE_PATH + "?user_did=did:peers:alice"
    _, _, get_body = d.http(path)
    for head_path, code in ((path, 200), (ICE_PATH + "?user_did=alice", 400),
                            ("/nowhere", 404)):
        status, reply = raw_request(d.http_port, (
            f"HEAD {head_path} HTTP/1.1\r\nHost: x\r\n\r\n"
            "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").encode())
        assert status == code, (head_path, reply[:200])
        head, rest = reply.split(b"\r\n\r\n", 1)
        assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), (head_path, reply)
        assert rest.endswith(b'{"status":"ok"}\n'), (head_path, reply)
        m = re.search(rb"\r\nContent-Length: (\d+)\r\n", head + b"\r\n")
        assert m, head
        if code == 200:
            # The length GET would send (same user, same number of digits in the expiry).
            assert int(m.group(1)) == len(get_body), (m.group(1), len(get_body))


def test_cors():
    with Daemon(http_port=20010, stun_port=20011,
                http_extra={"cors-origins": [ORIGIN, "http://localhost:5173"]}) as d:
        hdrs, _ = get_json(d, ALICE, headers={"Origin": ORIGIN})
        assert hdrs["access-control-allow-origin"] == ORIGIN, hdrs
        hdrs, _ = get_json(d, ALICE, headers={"Origin": "http://localhost:5173"})
        assert hdrs["access-control-allow-origin"] == "http://localhost:5173", hdrs
        for bad in ("https://evil.example", ORIGIN + ".evil", ORIGIN + "/", "null",
                    ORIGIN.upper()):
            hdrs, _ = get_json(d, ALICE, headers={"Origin": bad})
            assert "access-control-allow-origin" not in hdrs, (bad, hdrs)
            assert "Origin" in hdrs["vary"]
        # Errors carry CORS too, so a page can read why it failed.
        hdrs, _ = assert_error(d, ICE_PATH + "?user_did=alice", 400, headers={"Origin": ORIGIN})
        assert hdrs["access-control-allow-origin"] == ORIGIN, hdrs

        # Preflight.
        status, hdrs, body = d.http(ICE_PATH, method="OPTIONS", headers={
            "Origin": ORIGIN, "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization"})
        assert status == 204 and body == b"", (status, body)
        assert hdrs["access-control-allow-origin"] == ORIGIN, hdrs
        assert "GET" in hdrs["access-control-allow-methods"], hdrs
        assert hdrs["access-control-allow-headers"].lower() == "authorization", hdrs
        assert int(hdrs["access-control-max-age"]) > 0
        status, hdrs, _ = d.http(ICE_PATH, method="OPTIONS",
                                 headers={"Origin": "https://evil.example",
                                          "Access-Control-Request-Method": "GET"})
        assert status == 204 and "access-control-allow-origin" not in hdrs, hdrs
        assert "access-control-allow-methods" not in hdrs, hdrs

    # "*" allows any origin; no cors-origins allows none.
    with Daemon(http_port=20012, stun_port=20013, http_extra={"cors-origins": ["*"]}) as d:
        # A literal "*", never the request's Origin echoed back: an echoed
        # origin plus a future Allow-Credentials would expose credentialed reads.
        for origin in ("https://anything.example", "null"):
            hdrs, _ = get_json(d, ALICE, headers={"Origin": origin})
            assert hdrs["access-control-allow-origin"] == "*", (origin, hdrs)
            assert "access-control-allow-credentials" not in hdrs, hdrs
    with Daemon(http_port=20014, stun_port=20015) as d:
        hdrs, _ = get_json(d, ALICE, headers={"Origin": ORIGIN})
        assert "access-control-allow-origin" not in hdrs, hdrs


def test_bad_requests():
    with Daemon(http_port=20020, stun_port=20021) as d:
        long_id = "did:peers:" + "a" * (256 - len("did:peers:"))
        _, doc = get_json(d, ICE_PATH + "?user_did=" + long_id)
        check_credential(d, doc, long_id, 86400)
        bad = [
            "?user_did=%zz",                       # bad percent-encoding
            "?user_did=did:peers:al%2",            # truncated
            "?user_did=did:peers:%00alice",        # NUL
            "?user_did=did:peers:al%0Aice",        # control character
            "?user_did=did:peers:al%01ice",
            "?user_did=did:peers:al%20ice",        # space
            "?user_did=did:peers:al+ice",          # '+' is a space
            "?user_did=" + long_id + "a",          # 257 bytes
            "?user_did=" + "%41" * 300,            # too long once encoded
            "?user_did=alice",                     # no ':' at all
            "?user_did=garbage-without-colon",
            "?user_did=did:peers:",                # ends in ':'
            "?user_did=did:Peers:alice",           # method must be lower case
            "?user_did=did:peers:al%C3%A9",        # non-ASCII
            "?user_did=did:a:b&user_did=did:a:b",  # duplicate
            "?user_did=&user_did=did:a:b",
            "?user%5Fdid=did:a:b&user_did=did:a:c",
        ]
        for q in bad:
            assert_error(d, ICE_PATH + q, 400)
        assert d.metric("icestation_http_bad_user_total") == len(bad)

        assert_error(d, "/api/v1/turn/ice-servers/", 404)
        assert_error(d, "/api/v1/turn", 404)
        assert_error(d, "/", 404)
        assert_error(d, "/API/V1/TURN/ICE-SERVERS", 404)
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            hdrs, _ = assert_error(d, ICE_PATH, 405, method=method)
            assert hdrs["allow"] == "GET, HEAD, OPTIONS", hdrs
        for path in ("/metrics", "/healthz", "/readyz"):
            hdrs, _ = assert_error(d, path, 405, method="POST")
            assert hdrs["allow"] == "GET, HEAD", hdrs
        # The daemon still serves after all of that.
        d.ice_servers("did:peers:alice")


def test_transports_and_fallback_off():
    # TCP only, fallback disabled, no STUN subserver: exactly one TURN URL, no other entry.
    with Daemon(http_port=20030, stun_port=20031, stun=False,
                turn_extra={"transports": ["tcp"],
                            "ice-api": {"public-fallback": {"enabled": False,
                                                            "stun-servers": ["stun:x.example:1"]}}}
                ) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"] == [turn_entry(doc)], doc
        assert turn_entry(doc)["urls"] == ["turn:127.0.0.1:20031?transport=tcp"], doc
    with Daemon(http_port=20032, stun_port=20033, turn_extra={"transports": ["udp"]}) as d:
        doc = d.ice_servers("did:peers:alice")
        assert turn_entry(doc)["urls"] == ["turn:127.0.0.1:20033?transport=udp"], doc
        assert doc["ice_servers"][0] == {"urls": ["stun:127.0.0.1:20033"]}, doc
    # TURN off: STUN only, nothing minted.
    with Daemon(http_port=20034, stun_port=20035, turn=False) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"] == [{"urls": ["stun:127.0.0.1:20035"]}], doc
        assert d.metric("icestation_http_credentials_minted_total") == 0


def test_tls_url():
    # Throwaway self-signed certificates: the URL list is what is under test.
    # turns: carries a host name, never an IP literal (Firefox ignores those):
    # tls.server-name, else the certificate's first DNS SAN, else no turns:.
    tmp = tempfile.mkdtemp(prefix="icetest-tls-")

    def cert_with(tag, *ext):
        cert, key = os.path.join(tmp, tag + ".pem"), os.path.join(tmp, tag + ".key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                        "-days", "2", "-keyout", key, "-out", cert, *ext],
                       check=True, capture_output=True)
        return cert, key

    def urls(tls):
        with Daemon(http_port=20070, stun_port=20071,
                    turn_extra={"transports": ["udp", "tls"], "tls": tls}) as d:
            return turn_entry(d.ice_servers("did:peers:alice"))["urls"]

    try:
        cert, key = cert_with("san", "-addext",
                              "subjectAltName=IP:127.0.0.1,DNS:*.wild.test,"
                              "DNS:turn.icestation.test,DNS:other.test")
        got = urls({"port": 20072, "cert": cert, "key": key})
        assert got == ["turn:127.0.0.1:20071?transport=udp",
                       "turns:turn.icestation.test:20072?transport=tcp"], got
        got = urls({"port": 20072, "cert": cert, "key": key, "server-name": "turn.example.org"})
        assert got == ["turn:127.0.0.1:20071?transport=udp",
                       "turns:turn.example.org:20072?transport=tcp"], got
        cert, key = cert_with("cn")  # no SAN: no host name to give browsers
        got = urls({"port": 20072, "cert": cert, "key": key})
        assert got == ["turn:127.0.0.1:20071?transport=udp"], got
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_ipv6_public_address():
    # The v6 public address is data only (a NAT's): the daemon listens on
    # loopback. An advertised family needs a listener and a relay range of
    # its own (issue 22), so both are there for IPv6.
    with Daemon(http_port=20040, stun_port=20041, public_ip="2001:db8::1",
                listen=("127.0.0.1", "::1"),
                turn_extra={"relay-ip-range": ["127.0.0.1/32", "::1/128"],
                            "ice-api": {"public-fallback": {"enabled": False,
                                                            "stun-servers": []}}}) as d:
        doc = d.ice_servers("did:peers:alice")
        assert doc["ice_servers"][0] == {"urls": ["stun:[2001:db8::1]:20041"]}, doc
        assert turn_entry(doc)["urls"] == ["turn:[2001:db8::1]:20041?transport=udp",
                                           "turn:[2001:db8::1]:20041?transport=tcp"], doc


def test_short_ttl_cache():
    # A 60 s credential may be cached at most 30 s (half its life).
    with Daemon(http_port=20050, stun_port=20051, turn_extra={"credential-ttl": "60s"}) as d:
        hdrs, doc = get_json(d, ICE_PATH + "?user_did=did:peers:alice")
        check_credential(d, doc, "did:peers:alice", 60, hdrs)
        assert hdrs["cache-control"] == "private, max-age=30", hdrs


def test_ops_endpoints():
    with Daemon(http_port=20060, stun_port=20061) as d:
        hdrs, doc = get_json(d, "/healthz")
        assert doc == {"status": "ok"}
        hdrs, doc = get_json(d, "/readyz")
        # Ready, with the families each sub-server advertises (issue 22).
        assert doc == {"status": "ready", "stun": ["ipv4"], "turn": ["ipv4"]}, doc
        d.ice_servers("did:peers:alice")
        status, hdrs, body = d.http("/metrics")
        assert status == 200
        assert hdrs["content-type"] == "text/plain; version=0.0.4; charset=utf-8", hdrs
        check_exposition(body.decode())
        # No series is per user: no such label key, and no identity in any value.
        for line in body.decode().splitlines():
            if line.startswith("#"):
                continue
            keys = re.findall(r'[{,]([a-zA-Z_]+)="', line)
            assert not set(keys) & {"user", "username", "user_did", "did", "realm"}, line
            assert "did:" not in line, line


SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
                    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)\})? (-?[0-9]+(?:\.[0-9]+)?'
                    r'(?:e[+-]?[0-9]+)?|NaN|[+-]Inf)$')


def check_exposition(text):
    """Every line is HELP, TYPE or a sample; HELP/TYPE once per family, before its samples."""
    assert text.endswith("\n")
    helped, typed, sampled, seen = set(), {}, set(), set()
    current = None
    for line in text.splitlines():
        assert line, "empty line in exposition"
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert name not in helped, f"HELP twice for {name}"
            assert name not in sampled, f"HELP after samples for {name}"
            helped.add(name)
            current = name
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram"), line
            assert parts[2] not in typed, f"TYPE twice for {parts[2]}"
            assert parts[2] == current, f"TYPE without HELP: {line}"
            typed[parts[2]] = parts[3]
        else:
            m = SAMPLE.match(line)
            assert m, f"bad sample line {line!r}"
            name = m.group(1)
            if typed.get(current) == "histogram":
                # A histogram's samples: <name>_bucket{le=...}, _sum, _count.
                assert name in (current + "_bucket", current + "_sum", current + "_count"), \
                    f"sample outside its histogram: {line}"
                assert (name == current + "_bucket") == ('le="' in (m.group(3) or "")), line
                name = current
            assert name == current and name in typed, f"sample outside its family: {line}"
            if typed[name] in ("counter", "histogram"):
                assert float(m.group(4)) >= 0, line
            key = (m.group(1), m.group(3))
            assert key not in seen, f"duplicate series {line}"
            seen.add(key)
            sampled.add(name)
    assert "icestation_http_requests_total" in typed
    return typed


if __name__ == "__main__":
    run([test_contract, test_cors, test_bad_requests, test_transports_and_fallback_off,
         test_tls_url, test_ipv6_public_address, test_short_ttl_cache, test_ops_endpoints])
