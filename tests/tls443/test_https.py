"""HTTPS for the ICE API (issue 15): http.tls serves the API over TLS with
the TURN listener's policy. curl fetches the ICE configuration over HTTPS
verifying turn.icestation.test against the test CA, and gets turns: URLs
with that host name (the certificate's first DNS SAN; turn: keeps the IP);
ALPN http/1.1 is selected when offered, a client offering none is served;
requests share one kept-alive connection; TLS 1.1, plain HTTP and a stalled
handshake are refused or closed within the request timeout while a
bystander is served; a bad http.tls pair fails the start naming the file;
SIGHUP loads a renewed pair, and a broken one is refused, counted, and the
old one kept.
Ports 27100-27119, relays 27500-27519."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import warnings

from icetest import wait_for
from livelib import sighup
from tlslib import (NAME, HttpsConnection, HttpsDaemon, client_ctx, fingerprint, make_ca,
                    make_leaf, openssl, served_fingerprint, tls_connect)

HTTP, PORT, TLS = 27100, 27101, 27102
ACCEPTED = "icestation_http_connections_total"
ERRORS = "icestation_tls_cert_reload_errors_total"


def daemon(ca, cert, key, http_port=HTTP, turn_pair=None):
    turn_cert, turn_key = turn_pair or (cert, key)
    return HttpsDaemon(ca[0], cert, key, http_port=http_port, stun_port=PORT,
                       http_extra={"timeout": "2s"},
                       turn_extra={"transports": ["udp", "tcp", "tls"],
                                   "tls": {"port": TLS, "cert": turn_cert, "key": turn_key},
                                   "relay-port-range": "27500-27519"})


def curl_api(ca, port=HTTP):
    p = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", ca[0],
                        "--resolve", f"{NAME}:{port}:127.0.0.1", "-w", "\n%{http_version}",
                        f"https://{NAME}:{port}/api/v1/turn/ice-servers?user_did=did:peers:alice"],
                       capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    body, version = p.stdout.rsplit("\n", 1)
    return json.loads(body), version


def api_over_curl(d, ca):
    doc, version = curl_api(ca)
    assert version == "1.1", version  # curl offers h2 first; http/1.1 is chosen
    turn = [e for e in doc["ice_servers"] if "username" in e][0]
    assert turn["urls"] == [f"turn:127.0.0.1:{PORT}?transport=udp",
                            f"turn:127.0.0.1:{PORT}?transport=tcp",
                            f"turns:{NAME}:{TLS}?transport=tcp"], turn
    print("curl: ICE API over HTTPS, turns: with the host name")


def alpn_and_keepalive(d, ca):
    rc, out = openssl(["s_client", "-connect", f"127.0.0.1:{HTTP}", "-servername", NAME,
                       "-alpn", "http/1.1", "-CAfile", ca[0], "-verify_return_error"], data=b"")
    assert b"ALPN protocol: http/1.1" in out and b"Verify return code: 0 (ok)" in out, out
    # No ALPN at all: still HTTP/1.1.
    with tls_connect(HTTP, client_ctx(ca[0])) as s:
        assert s.selected_alpn_protocol() is None
        s.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        assert data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200"), data
    before = d.metric(ACCEPTED)
    conn = HttpsConnection(HTTP, client_ctx(ca[0], alpn=["http/1.1"]))
    try:
        for _ in range(3):
            conn.request("GET", "/api/v1/turn/ice-servers?user_did=did:peers:bob")
            r = conn.getresponse()
            assert r.status == 200 and json.loads(r.read())["ice_servers"], r.status
    finally:
        conn.close()
    # Three requests on one connection, plus the one /metrics itself opens.
    assert d.metric(ACCEPTED) == before + 2, (before, d.metric(ACCEPTED))
    print("ALPN http/1.1 and none served; keep-alive over TLS")


def closed_within(sock, timeout):
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
        return True
    except (ConnectionResetError, ssl.SSLError):
        return True
    except socket.timeout:
        return False


def refusals(d, ca):
    # Plain HTTP to the HTTPS port: no answer in clear text, closed.
    with socket.create_connection(("127.0.0.1", HTTP), timeout=5) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        data = b""
        try:
            while chunk := s.recv(4096):
                data += chunk
        except ConnectionResetError:
            pass
        assert b"HTTP/1" not in data, data
    # TLS 1.1 is refused.
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    old.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    raw = socket.create_connection(("127.0.0.1", HTTP), timeout=5)
    try:
        old.wrap_socket(raw)
    except (ssl.SSLError, ConnectionResetError):
        pass
    else:
        raise AssertionError("TLS 1.1 accepted on the HTTPS port")
    finally:
        raw.close()
    # A stalled handshake (half a ClientHello) is closed by the request
    # timeout (2 s) while another client is served.
    stalled = socket.create_connection(("127.0.0.1", HTTP), timeout=5)
    stalled.sendall(b"\x16\x03\x01\x02\x00\x01")
    t0 = time.monotonic()
    doc, _ = curl_api(ca)
    assert doc["ice_servers"], doc
    assert closed_within(stalled, 5), "stalled TLS handshake not closed"
    took = time.monotonic() - t0
    stalled.close()
    assert took < 4, f"stalled handshake closed after {took:.1f}s"
    assert d.metric('icestation_http_timeouts_total{phase="request"}') >= 1
    assert d.alive()
    print(f"plain HTTP, TLS 1.1 refused; stalled handshake closed in {took:.1f}s")


def install(src, dst):
    for s, t in zip(src, dst):
        shutil.copyfile(s, t + ".new")
        os.replace(t + ".new", t)


def reload_and_broken(d, ca, live, second):
    fp1 = served_fingerprint(HTTP)
    assert fp1 == fingerprint(live[0] + ".orig")
    install(second, live)
    assert sighup(d) == "ok", d.log()
    assert served_fingerprint(HTTP) == fingerprint(second[0]) != fp1
    exp = d.metric('icestation_tls_cert_expiry_timestamp_seconds{listener="http"}')
    rc, out = openssl(["x509", "-in", second[0], "-noout", "-enddate"])
    assert exp == ssl.cert_time_to_seconds(out.decode().strip().split("=", 1)[1]), exp
    errors = d.metric(ERRORS)
    with open(live[0] + ".new", "wb") as f:
        f.write(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    os.replace(live[0] + ".new", live[0])
    sighup(d)
    # Both listeners read these files: each refuses the broken pair.
    assert d.metric(ERRORS) == errors + 2, d.metric(ERRORS)
    assert "reload: tls (http)" in d.log() and "keeping the certificate in force" in d.log()
    assert served_fingerprint(HTTP) == fingerprint(second[0]), "broken pair replaced the old"
    curl_api(ca)
    print("SIGHUP: renewed pair served; broken pair refused, counted, old kept")


def bad_start(ca, tmp, pair):
    other = make_leaf(tmp, ca, "other")
    d = daemon(ca, pair[0], other[1], http_port=HTTP + 10, turn_pair=pair)
    try:
        d.start(timeout=10)
    except RuntimeError as e:
        assert f"http: tls: cannot load the private key from {other[1]}" in str(e), e
    else:
        raise AssertionError("started with a key that does not match http.tls.cert")
    finally:
        d.kill()
        d.cleanup()
    print("mismatched http.tls pair: start refused, file named")


def main():
    tmp = tempfile.mkdtemp(prefix="tls443-https-")
    try:
        ca = make_ca(tmp)
        first = make_leaf(tmp, ca, "first", names=(NAME, "localhost"))
        second = make_leaf(tmp, ca, "second", names=(NAME, "localhost"))
        live = (os.path.join(tmp, "live.pem"), os.path.join(tmp, "live.key"))
        install(first, live)
        shutil.copyfile(first[0], live[0] + ".orig")
        bad_start(ca, tmp, first)
        with daemon(ca, *live) as d:
            api_over_curl(d, ca)
            alpn_and_keepalive(d, ca)
            refusals(d, ca)
            reload_and_broken(d, ca, live, second)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("https ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
