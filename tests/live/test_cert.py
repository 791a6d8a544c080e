"""Certificate renewal mid-call (issue 11): a TLS allocation relays; the
certificate and key are replaced on disk (as certbot does) and the daemon
gets SIGHUP. `openssl s_client` then sees the new certificate's
fingerprint, the expiry gauge moves to the new notAfter, the TLS
allocation opened before keeps relaying on its connection, and a new TLS
client verifying against the new certificate allocates. A broken renewal
(garbage instead of a certificate, then a certificate whose key does not
match) keeps the pair in force: same fingerprint, counted in
icestation_tls_cert_reload_errors_total, logged, still serving; a good
pair after that is taken again.
Ports 10020-10029, relay 11050-11069."""

import os
import shutil
import ssl
import subprocess
import sys
import tempfile

from icetest import Daemon
from livelib import bind, both_ways, sighup
from test_tls import TlsTurnClient, binding_ok, client_ctx, make_cert
from turnclient import udp_peer

HTTP, PORT, TLS = 10020, 10021, 10022
EXPIRY = 'icestation_tls_cert_expiry_timestamp_seconds{listener="turn"}'
ERRORS = "icestation_tls_cert_reload_errors_total"


def openssl(args, data=None):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=30)
    return p.returncode, p.stdout


def file_fingerprint(cert):
    rc, out = openssl(["x509", "-in", cert, "-noout", "-fingerprint", "-sha256"])
    assert rc == 0, out
    return out.decode().strip()


def served_fingerprint():
    """The SHA-256 fingerprint of the certificate the TLS listener serves now."""
    rc, out = openssl(["s_client", "-connect", f"127.0.0.1:{TLS}", "-servername", "localhost"],
                      data=b"")
    assert b"BEGIN CERTIFICATE" in out, f"s_client got no certificate (rc {rc}):\n{out!r}"
    rc, fp = openssl(["x509", "-noout", "-fingerprint", "-sha256"], data=out)
    assert rc == 0, fp
    return fp.decode().strip()


def not_after(cert):
    rc, out = openssl(["x509", "-in", cert, "-noout", "-enddate"])
    assert rc == 0 and out.startswith(b"notAfter="), out
    return ssl.cert_time_to_seconds(out.decode().strip().split("=", 1)[1])


def install(src_cert, src_key, cert, key):
    """Put a pair in place the way a renewal does: whole files, renamed in."""
    for src, dst in ((src_cert, cert), (src_key, key)):
        shutil.copyfile(src, dst + ".new")
        os.replace(dst + ".new", dst)


def tls_client(d, cert):
    user, pw = d.turn_credentials("did:peers:tls")
    c = TlsTurnClient(("127.0.0.1", TLS), user, pw, client_ctx(cert))
    c.allocate()
    return c


def broken_renewal(d, c, peer, what, kept):
    """After SIGHUP on a broken pair, kept (the certificate in force) stays."""
    errors = d.metric(ERRORS)
    assert sighup(d) == "ok", d.log()
    assert d.metric(ERRORS) == errors + 1, f"{what}: not counted"
    assert served_fingerprint() == file_fingerprint(kept), f"{what}: the served certificate changed"
    assert d.metric(EXPIRY) == not_after(kept), f"{what}: the expiry gauge moved"
    assert d.log().count("keeping the certificate in force") == errors + 1, f"{what}: not logged"
    both_ways(c, peer, 0x4000, what.encode())
    fresh = TlsTurnClient(("127.0.0.1", TLS), "u", "p", client_ctx(kept))
    binding_ok(fresh)  # new handshakes are served with the kept pair
    fresh.close()
    print(f"{what}: old certificate kept, counted")


def main():
    tmp = tempfile.mkdtemp(prefix="live-cert-")
    try:
        c1, k1 = make_cert(tmp, "one", days=2)
        c2, k2 = make_cert(tmp, "two", days=5)
        c3, k3 = make_cert(tmp, "three", days=9)
        cert, key = os.path.join(tmp, "live.pem"), os.path.join(tmp, "live.key")
        install(c1, k1, cert, key)
        turn = {"transports": ["udp", "tcp", "tls"],
                "tls": {"port": TLS, "cert": cert, "key": key},
                "allowed-peer-ip": ["127.0.0.0/8"], "relay-port-range": "11050-11069"}
        with Daemon(http_port=HTTP, stun_port=PORT, turn_extra=turn) as d:
            fp1 = file_fingerprint(c1)
            assert served_fingerprint() == fp1
            assert d.metric(EXPIRY) == not_after(c1), (d.metric(EXPIRY), not_after(c1))
            peer = udp_peer()
            c = tls_client(d, c1)  # the call in progress, on the first certificate
            bind(c, peer, 0x4000)
            both_ways(c, peer, 0x4000, b"before the renewal")

            install(c2, k2, cert, key)
            assert sighup(d) == "ok", d.log()
            fp2 = file_fingerprint(c2)
            assert fp2 != fp1
            assert served_fingerprint() == fp2, "s_client does not see the new certificate"
            assert d.metric(EXPIRY) == not_after(c2), (d.metric(EXPIRY), not_after(c2))
            assert d.metric(ERRORS) == 0
            both_ways(c, peer, 0x4000, b"after the renewal")
            c.refresh(600)
            new = tls_client(d, c2)  # verifies against the new certificate only
            new.close()
            print("renewal: new certificate served, live TLS allocation relays on")

            with open(cert + ".new", "wb") as f:
                f.write(b"-----BEGIN CERTIFICATE-----\nnot base64 at all\n"
                        b"-----END CERTIFICATE-----\n")
            os.replace(cert + ".new", cert)
            broken_renewal(d, c, peer, "garbage certificate", c2)
            install(c3, k2, cert, key)  # a certificate with someone else's key
            broken_renewal(d, c, peer, "mismatched key", c2)

            install(c3, k3, cert, key)
            assert sighup(d) == "ok"
            assert served_fingerprint() == file_fingerprint(c3)
            assert d.metric(EXPIRY) == not_after(c3)
            assert d.metric(ERRORS) == 2
            both_ways(c, peer, 0x4000, b"after all of it")
            c.refresh(0)
            c.close()
            peer.close()
        print("certificate renewal ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
