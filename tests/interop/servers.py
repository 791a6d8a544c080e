"""TURN servers the interop harnesses run against, behind one interface.

Two backends:

- Coturn: Debian's /usr/bin/turnserver, a known-good TURN server, run in the
  foreground on loopback with TURN REST-API auth (use-auth-secret). It proves
  the harnesses themselves work, independently of icestation.
- Icestation: the daemon under test, through tests/lib/icetest.py's Daemon,
  with loopback peers allowed and relays confined to 127.0.0.1 and the
  harness's relay port range.

Both offer the same attributes and methods:

  host, port            where clients reach the TURN listener (UDP and TCP)
  relay_ip, relay_range the address relays must be advertised on, and the
                        inclusive (lo, hi) port range they must fall in
  secret, realm
  ice_servers(user)     the JSON shape of GET /api/v1/turn/ice-servers
  credentials(user)     (username, credential) taken from ice_servers(user)
  mint(user, ttl, secret=None)
                        REST credentials minted here in Python, for the
                        negative cases (expired username, wrong secret)
  ice_url               for the browser: an http URL serving ice_servers, or
                        None when the harness must serve it itself (coturn)
  stop(), and use as a context manager.

Every process is owned by PID and stopped by PID; temp dirs are removed.
"""

import base64
import hashlib
import hmac
import ipaddress
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
from icetest import wait_for  # noqa: E402  (tests/lib, just put on the path)

TURNSERVER = "/usr/bin/turnserver"
DEFAULT_SECRET = "interop-s3cret"
DEFAULT_REALM = "icestation.test"
DEFAULT_TTL = 3600


def mint(secret, user, ttl=DEFAULT_TTL, now=None):
    """TURN REST credentials exactly as icestation's API and coturn's
    use-auth-secret define them: username '<expiry>:<user>', credential
    base64(HMAC-SHA1(secret, username)). A negative ttl gives an expired one."""
    expiry = int(now if now is not None else time.time()) + int(ttl)
    username = f"{expiry}:{user}" if user else str(expiry)
    mac = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(mac).decode()


def tamper(credential):
    """The same credential with one base64 character changed (still valid
    base64, same length), so only the HMAC check can reject it."""
    first = "B" if credential[0] != "B" else "C"
    return first + credential[1:]


def stun_binding_ok(host, port, timeout=0.3):
    """True if a STUN Binding request over UDP gets a success response."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    tid = os.urandom(12)
    req = struct.pack("!HHI", 0x0001, 0, 0x2112A442) + tid
    with socket.socket(fam, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(req, (host, port))
            data, _ = s.recvfrom(2048)
        except OSError:
            return False
    return len(data) >= 20 and data[0:2] == b"\x01\x01" and data[8:20] == tid


def tcp_open(host, port, timeout=0.3):
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def turn_entry(ice):
    """The entry of an ice-servers answer that carries TURN credentials."""
    for entry in ice["ice_servers"]:
        if "username" in entry:
            return entry
    raise AssertionError(f"no TURN entry with credentials in {ice!r}")


def loopback_only(ice):
    """Drop every URL whose host is not loopback. The harnesses must never
    contact a public server (the API may list a public STUN fallback);
    returns (filtered answer, list of dropped URLs)."""
    dropped, servers = [], []
    for entry in ice["ice_servers"]:
        urls = entry["urls"] if isinstance(entry["urls"], list) else [entry["urls"]]
        keep = []
        for url in urls:
            host = url_host(url)
            try:
                ok = ipaddress.ip_address(host).is_loopback
            except ValueError:
                ok = False
            (keep if ok else dropped).append(url)
        if keep:
            servers.append(dict(entry, urls=keep))
    return dict(ice, ice_servers=servers), dropped


def url_host(url):
    """Host part of a stun:/turn: URL ('turn:[::1]:3478?transport=tcp')."""
    rest = url.split(":", 1)[1].split("?", 1)[0]
    if rest.startswith("["):
        return rest[1:rest.index("]")]
    return rest.rsplit(":", 1)[0] if rest.count(":") == 1 else rest


def url_transport(url):
    q = urllib.parse.parse_qs(url.split("?", 1)[1]) if "?" in url else {}
    return q.get("transport", ["udp"])[0]


def restrict(ice, transport):
    """Keep only turn: URLs of one transport (and drop stun: entries), so a
    run proves exactly one client transport."""
    servers = []
    for entry in ice["ice_servers"]:
        if "username" not in entry:
            continue
        urls = [u for u in entry["urls"] if u.startswith("turn:") and url_transport(u) == transport]
        if urls:
            servers.append(dict(entry, urls=urls))
    assert servers, f"no turn: URL with transport={transport} in {ice!r}"
    return dict(ice, ice_servers=servers)


class _Base:
    relay_ip = "127.0.0.1"

    def credentials(self, user="did:peers:interop"):
        entry = turn_entry(self.ice_servers(user))
        return entry["username"], entry["credential"]

    def mint(self, user, ttl=DEFAULT_TTL, secret=None):
        return mint(secret if secret is not None else self.secret, user, ttl)

    def in_relay_range(self, ip, port):
        return ip == self.relay_ip and self.relay_range[0] <= port <= self.relay_range[1]

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        self.stop(failed=exc_type is not None)
        return False


class Coturn(_Base):
    """coturn 4.6.1 in the foreground, no config file (-n), REST-API auth."""

    name = "coturn"
    ice_url = None

    def __init__(self, port, relay_range, secret=DEFAULT_SECRET, realm=DEFAULT_REALM,
                 listen=("127.0.0.1",), ttl=DEFAULT_TTL):
        self.host = listen[0]
        self.port = port
        self.relay_range = tuple(relay_range)
        self.secret = secret
        self.realm = realm
        self.listen = list(listen)
        self.ttl = ttl
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="interop-coturn-")
        self.log_path = os.path.join(self.dir, "turnserver.log")

    def argv(self):
        args = [TURNSERVER, "-n", "--use-auth-secret", f"--static-auth-secret={self.secret}",
                f"--realm={self.realm}", f"--listening-port={self.port}",
                f"--min-port={self.relay_range[0]}", f"--max-port={self.relay_range[1]}",
                "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls",
                "--no-multicast-peers", "--log-file=stdout", "--simple-log",
                # Its own user DB (unused with a static secret), not /var/lib/turn.
                f"--db={os.path.join(self.dir, 'turndb')}",
                f"--pidfile={os.path.join(self.dir, 'turnserver.pid')}"]
        for ip in self.listen:
            # Relays live on the listening addresses, as icestation's do
            # with relay-ip-range 127.0.0.1/32.
            args += [f"--listening-ip={ip}", f"--relay-ip={ip}"]
        return args

    def start(self, timeout=15.0):
        self._logf = open(self.log_path, "wb")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=self._logf,
                                     stderr=subprocess.STDOUT, cwd=self.dir)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"turnserver exited with {self.proc.returncode}:\n{self.log()}")
            return stun_binding_ok(self.host, self.port) and tcp_open(self.host, self.port)

        try:
            wait_for(ready, timeout, what="turnserver UDP and TCP listeners")
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def ice_servers(self, user="did:peers:interop"):
        """What icestation's GET /api/v1/turn/ice-servers would answer."""
        username, credential = mint(self.secret, user, self.ttl)
        hostport = f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
        return {
            "ice_servers": [
                {"urls": [f"stun:{hostport}"]},
                {"urls": [f"turn:{hostport}?transport=udp", f"turn:{hostport}?transport=tcp"],
                 "username": username, "credential": credential},
            ],
            "ttl": self.ttl,
        }

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self, failed=False, timeout=10.0):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.proc = None
            self._logf.close()
        if failed:
            print(f"--- turnserver log (tail) ---\n{self.log()[-6000:]}", file=sys.stderr)
        shutil.rmtree(self.dir, ignore_errors=True)


class Icestation(_Base):
    """The daemon under test, via tests/lib/icetest.py's Daemon."""

    name = "icestation"

    def __init__(self, port, http_port, relay_range, secret=DEFAULT_SECRET,
                 realm=DEFAULT_REALM, listen=("127.0.0.1",), cors_origins=()):
        from icetest import Daemon  # tests/lib, on sys.path above
        self.host = listen[0]
        self.port = port
        self.http_port = http_port
        self.relay_range = tuple(relay_range)
        self.secret = secret
        self.realm = realm
        http_extra = {"cors-origins": list(cors_origins)} if cors_origins else {}
        self.daemon = Daemon(
            http_port=http_port, stun_port=port, listen=list(listen), secret=secret,
            realm=realm, public_ip=listen[0], workers=1, turn=True,
            turn_extra={
                "allowed-peer-ip": ["127.0.0.0/8", "::1/128"],
                "relay-ip-range": "127.0.0.1/32",
                "relay-port-range": f"{relay_range[0]}-{relay_range[1]}",
                # One test user makes many Allocates a minute (uclient: 8
                # runs x 2 sessions x RTP+RTCP, plus the refusals), far
                # above the shipped per-user defaults, which stay as they
                # are for production.
                "allocations-per-minute-per-user": 1000,
                "max-allocations-per-user": 100,
                # The harnesses must never be handed a public server.
                "ice-api": {"public-fallback": {"enabled": False}},
            },
            http_extra=http_extra)
        self.ice_url = f"http://127.0.0.1:{http_port}/api/v1/turn/ice-servers"

    def start(self, timeout=20.0):
        self.daemon.start(timeout=timeout)
        try:
            wait_for(lambda: stun_binding_ok(self.host, self.port) and tcp_open(self.host, self.port),
                     timeout, what="icestation UDP and TCP listeners")
        except BaseException:
            self.stop(failed=True)
            raise
        return self

    def ice_servers(self, user="did:peers:interop"):
        return self.daemon.ice_servers(user)

    def log(self):
        return self.daemon.log()

    def stop(self, failed=False):
        try:
            if failed:
                self.daemon.kill()
                print(f"--- icestation log (tail) ---\n{self.daemon.log()[-6000:]}",
                      file=sys.stderr)
            else:
                self.daemon.stop()
        finally:
            self.daemon.cleanup()


# Per-harness ports, inside tests/PORTS.md's interop ranges (listen
# 22000-22999, relay 30000-34999). Each harness and backend has its own, so
# coturn and icestation variants of every harness can run in parallel.
PORTS = {
    # harness: {backend: (turn port, http port or None, (relay lo, relay hi)), extra ports...}
    "uclient": {"coturn": (22000, None, (30000, 30249)), "icestation": (22010, 22011, (30250, 30499)),
                "peer": {"coturn": 22001, "icestation": 22012}},
    "aioice": {"coturn": (22100, None, (30500, 30749)), "icestation": (22110, 22111, (30750, 30999))},
    "aiortc": {"coturn": (22200, None, (31000, 31249)), "icestation": (22210, 22211, (31250, 31499))},
    "pion": {"coturn": (22300, None, (31500, 31749)), "icestation": (22310, 22311, (31750, 31999))},
    "pionwebrtc": {"coturn": (22500, None, (33000, 33249)),
                   "icestation": (22510, 22511, (33250, 33499))},
    "chromium": {"coturn": (22400, None, (32000, 32499)), "icestation": (22410, 22411, (32500, 32999)),
                 "page": {"coturn": 22401, "icestation": 22412}},
}


def add_args(parser):
    parser.add_argument("--server", choices=("coturn", "icestation"), required=True,
                        help="TURN server to run the client against")


def make(harness, backend, cors_origins=()):
    """Build (not start) the backend for one harness on that harness's ports."""
    port, http_port, relay = PORTS[harness][backend]
    if backend == "coturn":
        return Coturn(port, relay)
    return Icestation(port, http_port, relay, cors_origins=cors_origins)


def extra_port(harness, key, backend):
    return PORTS[harness][key][backend]


def run_main(main):
    """Run a test's main(); a failed assertion prints "FAIL: ..." and exits 1
    (not a traceback), which is what ctest shows."""
    try:
        main()
    except AssertionError as e:
        print(f"FAIL: {e}", file=sys.stderr)
        sys.exit(1)
