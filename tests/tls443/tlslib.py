"""Shared by the tests/tls443 suite (issue 15, one port 443 for everything):
a test CA and certificates for turn.icestation.test made with openssl, a
daemon whose ICE API speaks HTTPS, and clients that connect to 127.0.0.1
while verifying the name (no resolver is touched)."""

import http.client
import os
import socket
import ssl
import subprocess

from icetest import Daemon

NAME = "turn.icestation.test"
SECRET = "tls443-secret-0123456789abcdef0123456789abcdef"


def openssl(args, data=None, timeout=30):
    p = subprocess.run(["openssl", *args], input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def make_ca(tmp):
    """A self-signed CA: (cert, key) paths."""
    cert, key = os.path.join(tmp, "ca.pem"), os.path.join(tmp, "ca.key")
    rc, out = openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-days", "30", "-subj", "/CN=icestation test CA",
                       "-addext", "basicConstraints=critical,CA:TRUE",
                       "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                       "-keyout", key, "-out", cert])
    assert rc == 0, out
    return cert, key


def make_leaf(tmp, ca, tag, days=30, names=(NAME,)):
    """A server certificate signed by ca for names (DNS SANs): (cert, key)."""
    cert, key = os.path.join(tmp, tag + ".pem"), os.path.join(tmp, tag + ".key")
    csr, ext = os.path.join(tmp, tag + ".csr"), os.path.join(tmp, tag + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=" + ",".join("DNS:" + n for n in names) + "\n"
                "extendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n")
    rc, out = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                       "-nodes", "-subj", f"/CN={names[0]}", "-keyout", key, "-out", csr])
    assert rc == 0, out
    rc, out = openssl(["x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1],
                       "-CAcreateserial", "-days", str(days), "-extfile", ext, "-out", cert])
    assert rc == 0, out
    return cert, key


def fingerprint(cert_pem_path=None, pem=None):
    args = ["x509", "-noout", "-fingerprint", "-sha256"]
    if cert_pem_path:
        args += ["-in", cert_pem_path]
    rc, out = openssl(args, data=pem)
    assert rc == 0, out
    return out.decode().strip()


def served_fingerprint(port, alpn=None):
    """The fingerprint of the certificate a handshake on port gets now."""
    args = ["s_client", "-connect", f"127.0.0.1:{port}", "-servername", NAME]
    if alpn:
        args += ["-alpn", alpn]
    rc, out = openssl(args, data=b"")
    assert b"BEGIN CERTIFICATE" in out, f"s_client got no certificate (rc {rc}):\n{out!r}"
    return fingerprint(pem=out)


def client_ctx(ca_cert, alpn=None):
    ctx = ssl.create_default_context(cafile=ca_cert)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def tls_connect(port, ctx, timeout=5):
    """A TLS socket to 127.0.0.1:port that verified NAME."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return ctx.wrap_socket(raw, server_hostname=NAME)
    except Exception:
        raw.close()
        raise


class HttpsConnection(http.client.HTTPConnection):
    """http.client over one verified TLS socket (keep-alive: reused)."""

    def __init__(self, port, ctx, timeout=5):
        super().__init__("127.0.0.1", port, timeout=timeout)
        self._ctx = ctx
        self._port = port

    def connect(self):
        self.sock = tls_connect(self._port, self._ctx, self.timeout)


class HttpsDaemon(Daemon):
    """A Daemon whose HTTP API is HTTPS (http.tls): the harness's own
    requests (/readyz, /metrics, credentials) go over TLS, verified."""

    def __init__(self, ca_cert, http_cert, http_key, http_tls_extra=None, **kw):
        tls = {"cert": http_cert, "key": http_key}
        tls.update(http_tls_extra or {})
        http_extra = dict(kw.pop("http_extra", None) or {}, tls=tls)
        kw.setdefault("secret", SECRET)
        super().__init__(http_extra=http_extra, **kw)
        self.ca_cert = ca_cert

    def http(self, path, method="GET", headers=None, body=None, timeout=5.0):
        conn = HttpsConnection(self.http_port, client_ctx(self.ca_cert), timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, data
        finally:
            conn.close()
