"""Certificates that follow their files (issue 15): with check-interval 1s
the TURN/TLS and HTTPS listeners share one pair on disk; it is replaced
(renamed in, as certbot does) with no signal. Within the interval new
handshakes on both ports get the new certificate while a TURNS allocation
opened before keeps relaying on its connection. The seconds-left gauge
(icestation_tls_certificate_expiry_seconds) follows each certificate; one
that expires within 14 days is warned about at start, one that does not
is not. A broken pair on disk is refused once (counted, logged), the old
one stays served, and the next good pair is taken, even when a check
sees it half installed (new certificate, old key).
Ports 27120-27139, relays 27520-27539."""

import os
import re
import shutil
import ssl
import sys
import tempfile
import time

from icetest import wait_for
from livelib import both_ways, bind
from tlslib import (HttpsDaemon, fingerprint, make_ca, make_leaf, openssl,
                    served_fingerprint)
from turnclient import TlsTurnClient, udp_peer

HTTP, PORT, TLS = 27120, 27121, 27122
INTERVAL = 1.0
TICK = 0.25  # the daemon's tick runs the check (DAEMON_TICK_MS)
LEFT = 'icestation_tls_certificate_expiry_seconds{listener="%s"}'
ERRORS = "icestation_tls_cert_reload_errors_total"


def not_after(cert):
    rc, out = openssl(["x509", "-in", cert, "-noout", "-enddate"])
    assert rc == 0, out
    return ssl.cert_time_to_seconds(out.decode().strip().split("=", 1)[1])


def install(src, dst):
    for s, t in zip(src, dst):
        shutil.copyfile(s, t + ".new")
        os.replace(t + ".new", t)


def gauges_follow(d, cert):
    for lst in ("turn", "http"):
        left = d.metric(LEFT % lst)
        want = not_after(cert) - time.time()
        assert abs(left - want) < 30, (lst, left, want)


def renewed_within_interval(d, new):
    """Both ports serve new within the interval (plus a tick and slack for
    a loaded machine); returns the seconds it took."""
    want = fingerprint(new[0])
    t0 = time.monotonic()
    wait_for(lambda: served_fingerprint(TLS) == want and served_fingerprint(HTTP) == want,
             INTERVAL + TICK + 3, interval=0.1, what="the new certificate on both ports")
    return time.monotonic() - t0


def turns_client(d, ca):
    user, pw = d.turn_credentials("did:peers:watch")
    c = TlsTurnClient(("127.0.0.1", TLS), user, pw, ssl.create_default_context(cafile=ca[0]))
    c.allocate()
    return c


def main():
    tmp = tempfile.mkdtemp(prefix="tls443-watch-")
    try:
        ca = make_ca(tmp)
        soon = make_leaf(tmp, ca, "soon", days=5, names=("turn.icestation.test", "localhost"))
        later = make_leaf(tmp, ca, "later", days=60, names=("turn.icestation.test", "localhost"))
        third = make_leaf(tmp, ca, "third", days=90, names=("turn.icestation.test", "localhost"))
        live = (os.path.join(tmp, "live.pem"), os.path.join(tmp, "live.key"))
        install(soon, live)
        with HttpsDaemon(ca[0], *live, http_tls_extra={"check-interval": "1s"},
                         http_port=HTTP, stun_port=PORT,
                         turn_extra={"transports": ["udp", "tls"],
                                     "tls": {"port": TLS, "cert": live[0], "key": live[1],
                                             "check-interval": "1s"},
                                     "allowed-peer-ip": ["127.0.0.0/8"],
                                     "relay-port-range": "27520-27539"}) as d:
            assert served_fingerprint(TLS) == fingerprint(soon[0])
            gauges_follow(d, soon[0])
            # A 5-day certificate checked within the second it was signed
            # has 5 days 0 hours left, a moment later 4 days 23 hours.
            for lst in ("turn", "http"):
                assert re.search(rf"the {lst} certificate expires in "
                                 r"(4 day\(s\) 23|5 day\(s\) 0) hour\(s\)", d.log()), d.log()
            peer = udp_peer()
            c = turns_client(d, ca)
            bind(c, peer, 0x4001)
            both_ways(c, peer, 0x4001, b"before")

            install(later, live)  # no signal
            took = renewed_within_interval(d, later)
            both_ways(c, peer, 0x4001, b"after the renewal")
            gauges_follow(d, later[0])
            assert d.metric(ERRORS) == 0
            assert d.log().count("certificate expires in") == 2, d.log()
            fresh = turns_client(d, ca)
            fresh.close()
            print(f"renewed on disk: both ports serve it after {took:.2f}s; the call relays on")

            # A broken pair: refused once per listener, the old one served.
            with open(live[0] + ".new", "wb") as f:
                f.write(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
            os.replace(live[0] + ".new", live[0])
            wait_for(lambda: d.metric(ERRORS) == 2, INTERVAL + TICK + 3, interval=0.1,
                     what="the broken pair refused by both listeners")
            time.sleep(3 * INTERVAL)  # later checks must not try the same files again
            assert d.metric(ERRORS) == 2, d.metric(ERRORS)
            assert served_fingerprint(TLS) == fingerprint(later[0])
            assert served_fingerprint(HTTP) == fingerprint(later[0])
            assert d.log().count("keeping the certificate in force") == 2, d.log()
            both_ways(c, peer, 0x4001, b"after the broken pair")

            # A renewal seen half done (new certificate, old key) by one check
            # is retried quietly at the next: no error once the key follows.
            # The key follows once both listeners' checks have seen the new
            # certificate alone (their log line), well before the retry one
            # interval later; a fixed sleep could let the retry see it too.
            seen = [d.log().count(f"the {lst} certificate or key changed on disk")
                    for lst in ("turn", "http")]
            install(third[:1], live[:1])
            wait_for(lambda: all(d.log().count(f"the {lst} certificate or key changed on disk") > n
                                 for lst, n in zip(("turn", "http"), seen)),
                     INTERVAL + TICK + 3, interval=0.02, what="both checks to see the new certificate")
            install(third[1:], live[1:])
            renewed_within_interval(d, third)
            assert d.metric(ERRORS) == 2, d.metric(ERRORS)
            gauges_follow(d, third[0])
            both_ways(c, peer, 0x4001, b"after all of it")
            c.close()
            peer.close()
        print("certificate watch ok")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
