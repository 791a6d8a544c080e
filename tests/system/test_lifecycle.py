"""Daemon lifecycle: command line, config checking, clean stop on signals,
refusal without a secret, and the `make run` secret bootstrap.
Ports 25000-25099 (tests/PORTS.md)."""

import os
import signal
import stat
import subprocess
import sys
import tempfile

from icetest import Daemon, wait_for

BIN = os.environ["ICESTATION_BIN"]
SRC = os.environ["ICESTATION_SRC"]
SHIPPED = os.path.join(SRC, "conf", "peers.yml")
failures = 0


def check(cond, what):
    global failures
    if cond:
        print(f"ok   {what}")
    else:
        failures += 1
        print(f"FAIL {what}")


def run(args, env_extra=None, drop=()):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run([BIN] + args, env=env, capture_output=True, text=True, timeout=60)


SECRET_VARS = ("TURN_AUTH_SECRET", "TURN_AUTH_SECRET_FILE")


def test_cli():
    r = run(["--version"])
    check(r.returncode == 0 and r.stdout.strip().startswith("icestation/"), "--version")
    r = run(["--help"])
    check(r.returncode == 0 and "--check-config" in r.stdout, "--help")
    r = run(["--no-such-option"])
    check(r.returncode == 2 and "usage" in r.stderr, "unknown option -> 2 with usage")
    r = run(["-c", "/nonexistent/peers.yml", "--check-config"])
    check(r.returncode == 1 and "/nonexistent/peers.yml" in r.stderr, "missing config -> 1 naming it")


def test_check_config():
    r = run(["-c", SHIPPED, "--check-config"], {"TURN_AUTH_SECRET": "0123456789abcdef"}, SECRET_VARS)
    check(r.returncode == 0, f"shipped config valid with a secret ({r.stderr.strip()})")
    r = run(["-c", SHIPPED, "--check-config"], drop=SECRET_VARS)
    check(r.returncode == 1 and "TURN_AUTH_SECRET" in r.stderr,
          f"shipped config without any secret is refused, naming TURN_AUTH_SECRET ({r.stderr.strip()})")
    secret = "do-not-print-this-secret-42"
    r = run(["-c", SHIPPED, "--print-config"], {"TURN_AUTH_SECRET": secret}, SECRET_VARS)
    check(r.returncode == 0 and secret not in r.stdout and "***" in r.stdout,
          "--print-config masks the secret")
    check("realm" in r.stdout and "3478" in r.stdout, "--print-config prints the effective values")


def test_refuses_without_secret():
    d = Daemon(http_port=25001, stun_port=25002, secret=None)
    try:
        env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
        r = subprocess.run([BIN, "-c", d.config_path], env=env, capture_output=True, text=True,
                           timeout=30)
        check(r.returncode == 1, "daemon with TURN enabled and no secret exits 1")
        check("secret" in r.stderr.lower(), f"... with a clear message ({r.stderr.strip()})")
    finally:
        d.cleanup()


def test_signals():
    for sig, port in ((signal.SIGTERM, 25010), (signal.SIGINT, 25020)):
        d = Daemon(http_port=port, stun_port=port + 1)
        try:
            d.start()
            check(d.alive(), f"daemon ready before {sig.name}")
            d.proc.send_signal(sig)
            text = d.stop()
            check("stopped" in text, f"{sig.name}: clean stop, exit 0, no sanitizer report")
        finally:
            d.kill()
            d.cleanup()


def test_run_script_secret():
    """scripts/run.sh creates a 0600 secret once and reuses it."""
    with tempfile.TemporaryDirectory() as tmp:
        fake = os.path.join(tmp, "fake-icestation")
        with open(fake, "w") as f:
            f.write('#!/bin/sh\necho "FILE=$TURN_AUTH_SECRET_FILE"\necho "ARGS=$*"\n')
        os.chmod(fake, 0o755)
        state = os.path.join(tmp, "state")
        env = {k: v for k, v in os.environ.items() if k not in SECRET_VARS}
        env.update({"ICESTATION_BIN": fake, "ICESTATION_STATE_DIR": state})
        outs = []
        for _ in range(2):
            r = subprocess.run([os.path.join(SRC, "scripts", "run.sh")], env=env,
                               capture_output=True, text=True, timeout=30)
            check(r.returncode == 0, "run.sh exits with the daemon's code")
            outs.append(r)
        path = os.path.join(state, "secret")
        check(os.path.isfile(path), "secret file created")
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o600, f"secret file mode 0600 (got {oct(mode)})")
        with open(path) as f:
            secret = f.read().strip()
        check(len(secret) == 64 and all(c in "0123456789abcdef" for c in secret),
              "secret is 32 random bytes in hex")
        check(f"FILE={os.path.realpath(path)}" in outs[0].stdout.replace(state, os.path.realpath(state)),
              "daemon gets the file through TURN_AUTH_SECRET_FILE")
        check("ARGS=-c conf/peers.yml" in outs[0].stdout, "daemon started on the shipped config")
        check("created" in outs[0].stderr and outs[0].stderr.count("\n") == 1,
              "one log line says the secret was created")
        check("using" in outs[1].stderr, "second run reuses the secret")
        with open(path) as f:
            check(f.read().strip() == secret, "secret unchanged on the second run")
        env["TURN_AUTH_SECRET"] = "from-env"
        r = subprocess.run([os.path.join(SRC, "scripts", "run.sh")], env=env,
                           capture_output=True, text=True, timeout=30)
        check("FILE=\n" in r.stdout and r.stderr == "", "TURN_AUTH_SECRET set: no state file used")


def main():
    test_cli()
    test_check_config()
    test_refuses_without_secret()
    test_signals()
    test_run_script_secret()
    if failures:
        print(f"{failures} check(s) failed")
        sys.exit(1)
    print("all lifecycle checks passed")


if __name__ == "__main__":
    main()
