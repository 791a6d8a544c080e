"""The servers the benchmark runs (bench/bench.py): icestation, coturn and the
bare forwarder, each started fresh and pinned to the server CPU; and the
throwaway TLS certificate both TURN servers serve on their TLS port.

icestation and coturn serve TURN over UDP and TCP on their listening port and
over TLS on their TLS port, from the same certificate and key. The forwarder
is UDP only (there is no stream floor).
"""
import os
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import time

SECRET = "s3cret"
RELAY_IPS = ["127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"]
SERVER_CPU, GEN_CPU = "0", "1"
COTURN_SCHEMA = "/usr/share/coturn/schema.sql"  # Debian's coturn package


def pin_all_threads(pid, cpu):
    subprocess.run(["taskset", "-a", "-p", "-c", cpu, str(pid)], check=True,
                   stdout=subprocess.DEVNULL)


def make_cert(directory):
    """A self-signed P-256 certificate for localhost / 127.0.0.1 (the
    generator verifies the servers against it, as a client would against its
    CA): (cert path, key path)."""
    cert, key = os.path.join(directory, "bench.pem"), os.path.join(directory, "bench.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True, timeout=60)
    return cert, key


class Forwarder:
    name = "forwarder"
    port = 23400
    tls_port = None

    def __init__(self, build, ports, workers, tls):
        self.cmd = ["taskset", "-c", SERVER_CPU, os.path.join(build, "bench", "forwarder"),
                    f"127.0.0.1:{self.port}", ",".join(RELAY_IPS), ports]
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("forwarder did not start")
        return self.proc.pid

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
            self.proc = None


class Coturn:
    name = "coturn"
    port = 23478
    # Its alternative TLS port (tls_port + 1) is only opened with two
    # listening addresses of a family (RFC 5780); with one it stays unused.
    tls_port = 23449

    def __init__(self, build, ports, workers, tls):
        self.tmp = None
        self.proc = None
        lo, hi = ports.split("-")
        cert, key = tls
        self.args = ["-n", "--use-auth-secret", f"--static-auth-secret={SECRET}",
                     "--realm=bench.local", "--listening-ip=127.0.0.1",
                     f"--listening-port={self.port}", f"--tls-listening-port={self.tls_port}",
                     f"--cert={cert}", f"--pkey={key}", f"--min-port={lo}", f"--max-port={hi}",
                     "--allow-loopback-peers", "--no-cli", "--no-dtls",
                     f"--relay-threads={workers}", "--no-stdout-log", "--simple-log",
                     "--no-software-attribute", "--no-dynamic-ip-list", "--no-dynamic-realms",
                     "--no-auth-pings", "--total-quota=0", "--user-quota=0",
                     "--max-allocate-lifetime=3600"]
        self.args += [f"--relay-ip={ip}" for ip in RELAY_IPS]

    def start(self):
        self.tmp = tempfile.mkdtemp(prefix="bench-coturn-")
        # coturn creates its SQLite schema at start from several threads at
        # once; now and then the creation loses a race ("no such table:
        # turn_secret") and every authentication gets 401 for the life of
        # the process. The schema Debian ships, made here first, leaves
        # nothing to race on.
        with open(COTURN_SCHEMA) as f, sqlite3.connect(f"{self.tmp}/db") as db:
            db.executescript(f.read())
        args = self.args + [f"--log-file={self.tmp}/turn.log", f"--pidfile={self.tmp}/pid",
                            f"--userdb={self.tmp}/db"]
        self.proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "turnserver"] + args,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # Ready when it answers a Binding: probe with the generator itself.
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("turnserver exited at start")
            if os.path.exists(f"{self.tmp}/pid"):
                time.sleep(0.5)  # listeners open after the pid file is written
                pin_all_threads(self.proc.pid, SERVER_CPU)
                return self.proc.pid
            time.sleep(0.05)
        raise RuntimeError("turnserver did not start")

    def stop(self):
        if self.proc:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self.tmp:
            shutil.rmtree(self.tmp, ignore_errors=True)


class Icestation:
    name = "icestation"
    port = 23479
    tls_port = 23480
    http_port = 23080
    binary_override = ""
    # Keys a variant (bench/churn.py) adds to or changes in the bench config.
    turn_overrides = {}
    server_overrides = {}

    def __init__(self, build, ports, workers, tls):
        from icetest import Daemon  # the shared test library writes the config tree
        self.Daemon = Daemon
        self.binary = self.binary_override or os.path.join(build, "icestation")
        self.ports = ports
        self.workers = workers
        self.tls = tls
        self.d = None

    def start(self):
        # Bench config: per-user quotas at 0 (no limit), the equivalent of
        # coturn's flags here (--user-quota=0; coturn has no per-minute
        # quota), so neither caps nor remembers the bench's 10k users.
        # Logging at info: the harness waits for the " ready: " line, and
        # info logs nothing per packet or per allocation. The ICE API's
        # per-caller limit is off (wrk is one caller; the evhttp baseline
        # has none), and so is the 401 limiter (every Allocate cycle is
        # challenged from one generator address; coturn's is off by default).
        cert, key = self.tls
        turn = {"relay-ip-range": [f"{ip}/32" for ip in RELAY_IPS],
                "relay-port-range": self.ports, "allowed-peer-ip": ["127.0.0.0/8"],
                "max-allocations": 12000, "max-allocations-per-user": 0,
                "allocations-per-minute-per-user": 0,
                "challenge-rate-limit": {"responses-per-second": 0},
                "allocation-lifetime": "600s",
                "transports": ["udp", "tcp", "tls"],
                "tls": {"port": self.tls_port, "cert": cert, "key": key}}
        self.d = self.Daemon(
            http_port=self.http_port, stun_port=self.port, secret=SECRET,
            workers=self.workers, binary=self.binary, log_level="info",
            stun_extra={"rate-limit": {"requests-per-second": 1000000, "burst": 1000000}},
            http_extra={"rate-limit": {"requests-per-second": 0}},
            turn_extra=dict(turn, **self.turn_overrides), server_extra=self.server_overrides)
        self.d.start()
        pin_all_threads(self.d.proc.pid, SERVER_CPU)
        return self.d.proc.pid

    def reload(self, turn):
        """Change TURN keys (None removes one), reload through the admin API
        and return once every worker runs the new generation."""
        self.d.reconfigure(turn=turn)
        status, body = self.d.admin("POST", "/admin/v1/reload")
        if status != 200 or not body or body.get("status") != "reloaded":
            raise RuntimeError(f"reload refused: {status} {body}")
        # A listing is queued behind the generation in each worker's
        # mailbox: its answer means every worker took the reload.
        status, _ = self.d.admin("GET", "/admin/v1/allocations")
        if status != 200:
            raise RuntimeError(f"allocation listing after reload: {status}")
        return body.get("generation")

    def counters(self, names):
        """{name: value} from /metrics for each name; a name without labels
        sums every labelled sample of it."""
        m = self.d.metrics()
        return {k: sum(v for name, v in m.items() if name == k or name.startswith(k + "{"))
                for k in names}

    def print_config(self):
        """`icestation --print-config` on the tree the daemon runs."""
        p = subprocess.run([self.binary, "-c", self.d.config_path, "--print-config"],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"--print-config exited {p.returncode}: {p.stderr[-300:]}")
        return p.stdout

    def stop(self):
        if self.d:
            try:
                self.d.stop()
            finally:
                self.d.cleanup() if hasattr(self.d, "cleanup") else None
            self.d = None
