"""Harness for the cluster tests: a real redis-server the test starts itself
(its own port in 19490-19499, a temp dir, no persistence, stopped by PID),
a tiny RESP client to look inside it, and Driver, one cluster node (the
cluster_driver program) driven over its stdin/stdout.

Timing checks poll with deadlines (icetest.wait_for); nothing sleeps to
synchronise.
"""

import os
import queue
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from icetest import SANITIZER_MARKERS, wait_for

DRIVER = os.environ.get("CLUSTER_DRIVER", "build-test/tests/cluster/cluster_driver")
SECRET = "cluster-test-secret-0123456789abcdef"

# Fast timing for tests: a node is gone 1 s after its last heartbeat.
HEARTBEAT_MS = 200
NODE_TTL_MS = 1000


class Resp:
    """A blocking RESP2 client for assertions (never used by the layer)."""

    def __init__(self, port, timeout=5.0, password=None):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        if password is not None:
            self.cmd("AUTH", password)

    def close(self):
        self.sock.close()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise RuntimeError(f"bad RESP line {line!r}")

    def cmd(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))
        return self._reply()


class Redis:
    """redis-server on 127.0.0.1:port with no persistence, in its own temp dir."""

    def __init__(self, port, password=None):
        self.port = port
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="iceredis-")
        self.unix = os.path.join(self.dir, "redis.sock")
        self.proc = None

    def start(self, timeout=10.0):
        args = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", self.dir,
                "--unixsocket", self.unix, "--unixsocketperm", "700",
                "--logfile", os.path.join(self.dir, "redis.log"), "--daemonize", "no"]
        if self.password is not None:
            args += ["--requirepass", self.password]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)

        def pong():
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.log()}")
            try:
                r = self.client(timeout=0.5)
            except (OSError, RuntimeError):
                return False
            try:
                return r.cmd("PING") == "PONG"
            except (OSError, RuntimeError):
                return False
            finally:
                r.close()

        wait_for(pong, timeout, what=f"redis-server on {self.port}")
        return self

    def stop(self):
        """SIGTERM by PID and wait."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc = None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def client(self, timeout=5.0):
        return Resp(self.port, timeout=timeout, password=self.password)

    def log(self):
        try:
            with open(os.path.join(self.dir, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False


class Proxy:
    """A TCP relay from 127.0.0.1:listen_port to Redis that can stop
    forwarding the pub/sub connections while keeping their sockets open: a
    silent network drop, which neither side notices on its own."""

    def __init__(self, listen_port, target_port):
        self.target = target_port
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", listen_port))
        self.lsock.listen(16)
        self.lock = threading.Lock()
        self.conns = []  # [client, server, {"sub": bool, "dead": bool}]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            try:
                s = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                c.close()
                continue
            s.settimeout(None)
            info = {"sub": False, "dead": False}
            with self.lock:
                self.conns.append((c, s, info))
            threading.Thread(target=self._pump, args=(c, s, info, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(s, c, info, False), daemon=True).start()

    def _pump(self, src, dst, info, from_client):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                for sock in (src, dst):
                    try:
                        sock.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                return
            if from_client and b"SUBSCRIBE" in data:
                info["sub"] = True
            if info["dead"]:
                continue  # swallowed: the silent drop
            try:
                dst.sendall(data)
            except OSError:
                return

    def silence_subscribers(self):
        """Stop forwarding every pub/sub connection open now. Returns how many."""
        with self.lock:
            n = 0
            for _, _, info in self.conns:
                if info["sub"] and not info["dead"]:
                    info["dead"] = True
                    n += 1
            return n

    def close(self):
        self.lsock.close()
        with self.lock:
            for c, s, _ in self.conns:
                c.close()
                s.close()


def config(node_id, redis_port, turn_port, per_user=2, per_minute=0, strategy="self-first",
           nodes=2, quota_timeout="1s", max_allocations=1000, public_ip="127.0.0.2",
           redis_url=None):
    """A Station tree (one file) with TURN and a cluster section. quota-timeout
    is generous by default: tests that expect an answer from Redis must not
    fall back to DEGRADED because a loaded machine was slow; the bound itself
    is tested with its own value (test_failover)."""
    url = redis_url or f"redis://127.0.0.1:{redis_port}/0"
    return f"""peers:
  node:
    server:
      subserver:
        stun:
          public-ip: {public_ip}
          port: {turn_port}
        turn:
          public-ip: {public_ip}
          port: {turn_port}
          realm: cluster.test
          auth-secret: {SECRET}
          relay-ip-range: 127.0.0.1/32
          max-allocations: {max_allocations}
          max-allocations-per-user: {per_user}
          allocations-per-minute-per-user: {per_minute}
      cluster:
        enabled: true
        redis: {url}
        key-prefix: "icetest:"
        node-id: {node_id}
        heartbeat: {HEARTBEAT_MS}ms
        node-ttl: {NODE_TTL_MS}ms
        quota-timeout: {quota_timeout}
        ice-api:
          nodes: {nodes}
          strategy: {strategy}
"""


class Driver:
    """One cluster node: cluster_driver on a config, spoken to line by line."""

    def __init__(self, node_id, redis_port, turn_port, env=None, **cfg):
        self.id = node_id
        self.dir = tempfile.mkdtemp(prefix=f"icedrv-{node_id}-")
        self.path = os.path.join(self.dir, "peers.yml")
        with open(self.path, "w") as f:
            f.write(config(node_id, redis_port, turn_port, **cfg))
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.lines = queue.Queue()
        self.events = []  # lines taken from the queue while looking for another
        self.proc = None
        self.err_path = os.path.join(self.dir, "stderr.log")

    def start(self, wait_up=True):
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen([DRIVER, "-c", self.path], env=self.env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._err, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()
        self.expect("ready", timeout=10)
        if wait_up:
            self.expect("state up", timeout=10)
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def expect(self, prefix, timeout=5.0):
        """The first line starting with prefix (earlier event lines are kept)."""
        for i, line in enumerate(self.events):
            if line.startswith(prefix):
                return self.events.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.id}: no '{prefix}' within {timeout}s; "
                                   f"seen {self.events}\n{self.stderr()}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise RuntimeError(f"{self.id}: driver exited\n{self.stderr()}")
            if line.startswith(prefix):
                return line
            self.events.append(line)

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def ask(self, line, prefix=None, timeout=5.0):
        self.send(line)
        return self.expect(prefix or line.split()[0] + " ", timeout)

    # convenience -------------------------------------------------------

    def ice(self):
        return self.ask("ice").split()[2:]

    def nodes(self):
        return [n.split(":")[0] for n in self.ask("nodes").split()[2:]]

    def acquire(self, user, tag="t", timeout=5.0):
        """(result, elapsed ms measured by the driver)."""
        parts = self.ask(f"acquire {tag} {user}", f"acquire {tag} ", timeout).split()
        return parts[2], float(parts[3])

    def metric(self, name):
        v = self.ask(f"metric {name}").split()[1]
        assert v != "none", f"no metric {name}"
        return int(v)

    def status(self):
        words = self.ask("status").split()[1:]
        return {k: int(v) for k, v in (w.split("=") for w in words)}

    def stderr(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stop(self):
        """quit, a clean exit, no sanitizer report."""
        if self.proc is None:
            return
        self.send("quit")
        code = self.proc.wait(timeout=10)
        self._err.close()
        self.proc = None
        text = self.stderr()
        for marker in SANITIZER_MARKERS:
            assert marker not in text, f"{self.id}: sanitizer report:\n{text}"
        assert code == 0, f"{self.id}: exit {code}\n{text}"

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._err.close()
        self.proc = None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def cleanup(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self._err.close()
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


class Nodes:
    """Several drivers, stopped (and checked) or killed together at the end."""

    def __init__(self):
        self.all = []

    def add(self, driver):
        self.all.append(driver)
        return driver

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc):
        try:
            for d in self.all:
                if d.proc is not None:
                    if exc_type is None:
                        d.stop()
                    else:
                        print(f"--- {d.id} stderr ---\n{d.stderr()}")
        finally:
            for d in self.all:
                d.cleanup()
        return False


def until(pred, timeout, what):
    """Poll pred with a deadline; return (value, seconds it took)."""
    t0 = time.monotonic()
    value = wait_for(pred, timeout, interval=0.02, what=what)
    return value, time.monotonic() - t0
