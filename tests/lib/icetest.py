"""Shared harness for integration tests: run the real icestation daemon on a
temporary Station config tree (peers.yml + log.yml + sub_stun.yml +
sub_turn.yml), wait until /readyz says it serves, talk to its HTTP API, and
stop it checking for a clean exit and no sanitizer report.

Every test passes its own ports (tests/PORTS.md) so ctest -j can run them in
parallel.
"""

import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def wait_for(pred, timeout, interval=0.02, what="condition"):
    """Poll pred() until it returns a truthy value or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def _yaml(value, indent):
    """Render a Python value as YAML; scalars as JSON (a YAML subset)."""
    pad = "  " * indent
    if isinstance(value, dict):
        lines = []
        for k, v in value.items():
            if isinstance(v, dict):
                lines.append(f"{pad}{k}:")
                lines.append(_yaml(v, indent + 1))
            else:
                lines.append(f"{pad}{k}: {_yaml(v, 0)}")
        return "\n".join(lines)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml(v, 0) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(str(value))


def _station(tree):
    return _yaml({"peers": tree}, 0) + "\n"


class Daemon:
    """One icestation process on a generated config. Use as a context manager."""

    def __init__(self, http_port, stun_port, turn_port=None, listen=("127.0.0.1",),
                 secret="s3cret", workers=1, stun=True, turn=True, realm="icestation.test",
                 public_ip="127.0.0.1", stun_extra=None, turn_extra=None, http_extra=None,
                 env=None, log_level="info", http_listen=None, binary=None,
                 server_extra=None, admin=None, logger_extra=None, wrapper=None, pass_fds=()):
        self.binary = binary or os.environ.get("ICESTATION_BIN", "build/icestation")
        # A command the daemon runs under (systemd-socket-activate, ...).
        self.wrapper = list(wrapper or [])
        # Descriptors the wrapper hands on (a test playing systemd's part).
        self.pass_fds = tuple(pass_fds)
        self.http_port = http_port
        self.stun_port = stun_port
        self.turn_port = turn_port if turn_port is not None else stun_port
        self.secret = secret
        self.realm = realm
        self.env_extra = dict(env or {})
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="icetest-")
        self.log_path = os.path.join(self.dir, "daemon.log")
        self._log = None

        # Every daemon gets its own admin socket in its own directory, so
        # parallel tests never meet on the default /run/icestation one.
        self.admin_socket = os.path.join(self.dir, "admin.sock")
        admin_cfg = admin if admin is not None else {"listen": f"unix:{self.admin_socket}"}
        http_cfg = {"listen": http_listen or f"127.0.0.1:{http_port}"}
        http_cfg.update(http_extra or {})
        stun_cfg = {"enabled": bool(stun), "port": stun_port, "public-ip": public_ip,
                    "listen": list(listen)}
        stun_cfg.update(stun_extra or {})
        turn_cfg = {"enabled": bool(turn), "port": self.turn_port, "realm": realm,
                    "public-ip": public_ip, "listen": list(listen),
                    "relay-ip-range": "127.0.0.1/32"}
        if secret is not None:
            turn_cfg["auth-secret"] = secret
        turn_cfg.update(turn_extra or {})
        # Kept so reload tests can change keys and rewrite the tree.
        self.server_cfg = dict({"workers": workers, "http": http_cfg, "admin": admin_cfg},
                               **(server_extra or {}))
        self.stun_cfg = stun_cfg
        self.turn_cfg = turn_cfg
        self.logger_cfg = dict({"level": log_level}, **(logger_extra or {}))
        self.config_path = os.path.join(self.dir, "peers.yml")
        self.write_config()

    def write_config(self):
        """(Re)write the four files of the tree from the current settings."""
        self.files = {
            "peers.yml": _station({
                "version": "0.0.1",
                "includes": "log.yml, sub_stun.yml, sub_turn.yml",
                "node": {"server": self.server_cfg},
            }),
            "log.yml": _station({"logger": self.logger_cfg}),
            "sub_stun.yml": _station({"node": {"server": {"subserver": {"stun": self.stun_cfg}}}}),
            "sub_turn.yml": _station({"node": {"server": {"subserver": {"turn": self.turn_cfg}}}}),
        }
        for name, text in self.files.items():
            # Whole files only: a reload never reads one half written.
            tmp = os.path.join(self.dir, name + ".tmp")
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, os.path.join(self.dir, name))

    def reconfigure(self, turn=None, stun=None, server=None, log_level=None):
        """Change keys (a value of None removes the key) and rewrite the tree;
        the running daemon sees it at its next reload."""
        for cfg, changes in ((self.turn_cfg, turn), (self.stun_cfg, stun),
                             (self.server_cfg, server)):
            for k, v in (changes or {}).items():
                if v is None:
                    cfg.pop(k, None)
                else:
                    cfg[k] = v
        if log_level is not None:
            self.logger_cfg["level"] = log_level
        self.write_config()

    # lifecycle -----------------------------------------------------------

    def start(self, timeout=20.0, readyz=200):
        """Start and wait until the daemon serves and /readyz answers readyz
        (503 for a test of a daemon that must not be ready)."""
        env = dict(os.environ)
        env.update(self.env_extra)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([*self.wrapper, self.binary, "-c", self.config_path], env=env,
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT, pass_fds=self.pass_fds)

        def ready():
            if self.proc.poll() is not None:
                raise RuntimeError(f"icestation exited with {self.proc.returncode} "
                                   f"before it was ready:\n{self.log()}")
            # Our own process must say it serves: another test's daemon on a
            # clashing port could otherwise answer /readyz for us.
            # (a text line "... info ready: ...", or a JSON one "msg":"ready: ...")
            if not re.search(r'[ "]ready: ', self.log()):
                return False
            try:
                status, _, _ = self.http("/readyz", timeout=1.0)
            except OSError:
                return False
            return status == readyz

        try:
            wait_for(ready, timeout, what="icestation /readyz")
        except Exception:
            self.kill()
            raise
        return self

    def stop(self, timeout=15.0, expect_code=0):
        """SIGTERM, wait, and check a clean exit with no sanitizer report."""
        if self.proc is None:
            return ""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"icestation did not stop within {timeout}s:\n{self.log()}")
        finally:
            if self._log:
                self._log.close()
                self._log = None
        text = self.log()
        self.proc = None
        for marker in SANITIZER_MARKERS:
            assert marker not in text, f"sanitizer report in daemon log:\n{text}"
        assert code == expect_code, f"icestation exited with {code}, expected {expect_code}:\n{text}"
        return text

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self._log:
            self._log.close()
            self._log = None
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.stop()
            else:
                self.kill()
                print(f"--- daemon log ---\n{self.log()}")
        finally:
            self.cleanup()
        return False

    # HTTP ------------------------------------------------------------------

    def http(self, path, method="GET", headers=None, body=None, timeout=5.0):
        """Return (status, {lower-case header: value}, body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            data = resp.read()
            hdrs = {k.lower(): v for k, v in resp.getheaders()}
            return resp.status, hdrs, data
        finally:
            conn.close()

    def ice_servers(self, user_did="", headers=None):
        path = "/api/v1/turn/ice-servers"
        if user_did is not None:
            path += "?user_did=" + urllib.parse.quote(user_did, safe="")
        status, _, body = self.http(path, headers=headers)
        if status != 200:
            raise AssertionError(f"ice-servers returned {status}: {body!r}")
        return json.loads(body)

    def turn_credentials(self, user_did="did:peers:test"):
        """(username, credential) from the API's TURN entry."""
        for entry in self.ice_servers(user_did)["ice_servers"]:
            if "username" in entry:
                return entry["username"], entry["credential"]
        raise AssertionError("no TURN entry in ice-servers")

    def metrics(self, headers=None):
        """Parse /metrics into {"name{labels}": value}."""
        status, _, body = self.http("/metrics", headers=headers)
        assert status == 200, f"/metrics returned {status}"
        out = {}
        for line in body.decode().splitlines():
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$", line)
            assert m, f"bad metrics line: {line!r}"
            out[m.group(1)] = float(m.group(2))
        return out

    def metric(self, name, default=0.0, headers=None):
        return self.metrics(headers).get(name, default)

    # admin API ---------------------------------------------------------------

    def admin(self, method, path, timeout=10.0):
        """(status, parsed JSON body) from the admin API over its unix socket."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(self.admin_socket)
        conn = http.client.HTTPConnection("localhost", timeout=timeout)
        conn.sock = sock
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, (json.loads(data) if data.strip() else None)
        finally:
            conn.close()

    def ctl(self, *args, timeout=30.0):
        """Run icestationctl against this daemon: (exit code, stdout, stderr)."""
        cmd = [ctl_binary(self.binary), "-s", self.admin_socket, *args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr

    # process -----------------------------------------------------------------

    def _http_conn_inodes(self):
        """Socket inodes of the daemon's HTTP API connections (any state but LISTEN)."""
        inodes = set()
        for name in ("tcp", "tcp6"):
            try:
                with open(f"/proc/{self.proc.pid}/net/{name}") as f:
                    lines = f.readlines()[1:]
            except OSError:
                continue
            for line in lines:
                fields = line.split()
                if int(fields[1].rsplit(":", 1)[1], 16) == self.http_port and fields[3] != "0A":
                    inodes.add(fields[9])
        return inodes

    def fd_count(self):
        """The daemon's fds, without its HTTP API connections: the harness's own
        /readyz, /metrics and credential requests leave a connection that the
        server closes a moment after the client (that was the 21-vs-20 flake)."""
        skip = {f"socket:[{i}]" for i in self._http_conn_inodes()}
        n = 0
        for fd in os.listdir(f"/proc/{self.proc.pid}/fd"):
            try:
                if os.readlink(f"/proc/{self.proc.pid}/fd/{fd}") not in skip:
                    n += 1
            except OSError:
                pass  # closed while we looked
        return n

    def rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0


def ctl_binary(daemon_binary=None):
    """icestationctl next to the daemon under test (or $ICESTATIONCTL_BIN)."""
    if os.environ.get("ICESTATIONCTL_BIN"):
        return os.environ["ICESTATIONCTL_BIN"]
    daemon_binary = daemon_binary or os.environ.get("ICESTATION_BIN", "build/icestation")
    return os.path.join(os.path.dirname(daemon_binary), "icestationctl")


def free_udp_port_check(port, host="127.0.0.1"):
    """True if port is free for UDP on host (a sanity check, not an allocator)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()
