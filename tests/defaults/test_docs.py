"""The commands the docs show, run (issue 12, "Docs that match the code").

Every command in README.md, docs/operations.md and docs/configuration.md, in
a code block (a `$ ` line, or any line of a block without `$ ` lines that
starts with a command word) or in an inline code span that starts with one,
must match a row of RULES below: either it is run here and what it prints is
compared with what the page shows, or it is skipped with the reason written
next to it. A command no row knows fails the test, so a new one in the docs
needs a row.

The shipped config runs as `make run` runs it (scripts/run.sh, the binary
under test) inside a network namespace of its own (netns.py) whose outward
interface holds 192.0.2.2, the address the README's example shows: ports
3478, 5349 and 8080 there cannot clash with a developer's `make run`. The
namespace has its own /run too (a tmpfs), so icestationctl's commands run as
shown, on the default /run/icestation/admin.sock, touching nothing outside.
A command shown several times runs once; `icestationctl drain`, which ends
the daemon, runs last.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import netns
from icetest import SANITIZER_MARKERS, wait_for

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOCS = ["README.md", "docs/operations.md", "docs/configuration.md"]
# The project's own programs; anything else counts as a command when its
# first word is a program on PATH.
WORDS = {"icestation", "icestationctl", "scripts/run.sh"}
BIN = os.path.abspath(os.environ.get("ICESTATION_BIN", "build/icestation"))
CTL = os.path.join(os.path.dirname(BIN), "icestationctl")
OUTWARD = "192.0.2.2"


# --- finding the commands ----------------------------------------------------

def is_command(text):
    if not text.split():
        return False
    word = text.split()[0]
    return word in WORDS or (shutil.which(word) is not None and not word.endswith(":"))


def joined(start, body):
    """Lines of a block with backslash continuations joined: [(line, text)]."""
    out, k = [], 0
    while k < len(body):
        first, text = start + k, body[k]
        while text.rstrip().endswith("\\") and k + 1 < len(body):
            k += 1
            text = text.rstrip()[:-1] + " " + body[k].strip()
        out.append((first, text))
        k += 1
    return out


def blocks(lines):
    """(first line number, [lines]) of each fenced or indented code block."""
    i, out = 0, []
    while i < len(lines):
        if lines[i].startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            out.append((i + 2, lines[i + 1:j]))
            i = j + 1
        elif lines[i].startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            body = [ln[4:] for ln in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            out.append((i + 1, body))
            i = j
        else:
            i += 1
    return out


def commands(path):
    """[(doc:line, command, shown output lines or None)] of one page."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    lines = text.splitlines()
    found, in_block = [], set()
    for start, body in blocks(lines):
        in_block.update(range(start, start + len(body)))
        if any(ln.startswith("$ ") for ln in body):
            for k, ln in enumerate(body):
                if not ln.startswith("$ "):
                    continue
                end = next((m for m in range(k + 1, len(body)) if body[m].startswith("$ ")),
                           len(body))
                shown = [s for s in body[k + 1:end]]
                while shown and not shown[0].strip():
                    shown.pop(0)
                found.append((f"{path}:{start + k}", ln[2:], shown))
        else:
            for n, text in joined(start, body):
                if is_command(text.strip()):
                    found.append((f"{path}:{n}", text.strip(), None))
    for n, ln in enumerate(lines, 1):
        if n in in_block:
            continue
        # One word in backticks names a program, unit or user; a command
        # has arguments.
        for span in re.findall(r"`([^`]+)`", ln):
            if is_command(span) and len(span.split()) > 1:
                found.append((f"{path}:{n}", span, None))
    return found


def norm(cmd):
    """Whitespace collapsed, a trailing comment (two spaces, then #) dropped."""
    return " ".join(re.sub(r"\s{2,}#.*$", "", cmd).split())


# --- what each command does here -----------------------------------------------

class Station:
    """`make run` after its build: scripts/run.sh on conf/peers.yml."""

    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="icetest-docs-")
        self.log = os.path.join(self.state, "run.log")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TURN_AUTH_SECRET", "PEERS_", "ICESTATION_"))}
        env.update(ICESTATION_BIN=BIN, ICESTATION_STATE_DIR=os.path.join(self.state, "run"))
        self.logf = open(self.log, "wb")
        self.proc = subprocess.Popen(["scripts/run.sh"], cwd=ROOT, env=env,
                                     stdin=subprocess.DEVNULL, stdout=self.logf,
                                     stderr=subprocess.STDOUT)
        wait_for(self.ready, 30, interval=0.1, what="make run's daemon /readyz")

    def text(self):
        with open(self.log, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def ready(self):
        if self.proc.poll() is not None:
            raise RuntimeError(f"scripts/run.sh exited {self.proc.returncode}:\n{self.text()}")
        r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                            "http://127.0.0.1:8080/readyz"], capture_output=True, text=True)
        return r.stdout == "200"

    def secret(self):
        with open(os.path.join(self.state, "run", "secret")) as f:
            return f.read().strip()

    def stop(self):
        # icestationctl drain may have ended it already (exit 0).
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=15)
        self.logf.close()
        text = self.text()
        for marker in SANITIZER_MARKERS:
            assert marker not in text, text
        assert code == 0, f"exit {code}:\n{text}"
        shutil.rmtree(self.state, ignore_errors=True)


def sh(cmd, **kw):
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True,
                          timeout=60, **kw)


def icestation(cmd):
    return cmd.replace("icestation ", BIN + " ", 1).replace(" FILE", " conf/peers.yml")


def run_make_run(st, cmd, shown):
    # No environment needed: a random secret made once, 0600 in a 0700 dir.
    assert "run: created a random TURN secret" in st.text(), st.text()
    # /readyz answers 200 as soon as the workers serve; the main thread's
    # "ready:" line may reach the log a moment later.
    wait_for(lambda: " ready: " in st.text(), 5, interval=0.05, what="the ready line")
    path = os.path.join(st.state, "run", "secret")
    assert os.stat(path).st_mode & 0o777 == 0o600, oct(os.stat(path).st_mode)
    assert os.stat(os.path.dirname(path)).st_mode & 0o777 == 0o700
    assert re.fullmatch(r"[0-9a-f]{64}", st.secret()), "not openssl rand -hex 32"


def run_exec_line(st, cmd, shown):
    # What scripts/run.sh execs: the running daemon's own command line.
    with open(f"/proc/{st.proc.pid}/cmdline", "rb") as f:
        argv = f.read().rstrip(b"\0").split(b"\0")
    assert [a.decode() for a in argv[1:]] == cmd.split()[1:], argv


def run_check_config(st, cmd, shown):
    env = dict(os.environ, TURN_AUTH_SECRET=st.secret())
    r = sh(icestation(cmd), env=env)
    assert r.returncode == 0 and r.stdout == "", r
    line = r.stderr.strip()
    assert line == "icestation: configuration conf/peers.yml is valid", r.stderr
    assert shown_in("docs/configuration.md", line), "the valid line is not what the docs show"
    # And a broken tree: every error as file:line:col, then "is invalid", exit 1.
    tmp = tempfile.mkdtemp(prefix="icetest-docs-bad-")
    try:
        for name in os.listdir(os.path.join(ROOT, "conf")):
            shutil.copy(os.path.join(ROOT, "conf", name), tmp)
        bad = os.path.join(tmp, "sub_stun.yml")
        with open(bad) as f:
            text = f.read().replace("port: 3478", "port: abc")
        with open(bad, "w") as f:
            f.write(text)
        r = sh(f"{BIN} --check-config -c {tmp}/peers.yml", env=env)
        assert r.returncode == 1, r
        assert re.search(r"sub_stun\.yml:\d+:\d+: .*port: expected a port", r.stderr), r.stderr
        assert r.stderr.strip().endswith(f"configuration {tmp}/peers.yml is invalid"), r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_print_config(st, cmd, shown):
    secret = st.secret()
    env = dict(os.environ, TURN_AUTH_SECRET=secret)
    r = sh(icestation(cmd), env=env)
    assert r.returncode == 0, r
    out = r.stdout
    assert out.startswith("# effective configuration of icestation/"), out[:200]
    assert secret not in out and 'auth-secret: "***"' in out, out
    assert f'public-ip: "{OUTWARD}" # auto' in out, out  # auto resolved
    assert "max-allocations-per-user: 30" in out, out    # defaults filled in
    # It loads again once "***" is the secret again.
    tmp = tempfile.mkdtemp(prefix="icetest-docs-print-")
    try:
        with open(os.path.join(tmp, "peers.yml"), "w") as f:
            f.write(out.replace('"***"', json.dumps(secret)))
        r = sh(f"{BIN} --check-config -c {tmp}/peers.yml", env=dict(os.environ))
        assert r.returncode == 0, r
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run_curl_body(st, cmd, shown):
    r = sh(cmd)
    assert r.returncode == 0, r
    got = json.loads(r.stdout)
    want = json.loads("\n".join(shown))
    turn_got = got["ice_servers"][1]
    turn_want = want["ice_servers"][1]
    # The minted values differ per run: same shape, and the credential
    # verifies against the secret make run created.
    assert re.fullmatch(r"\d{10}:did:peers:alice", turn_got["username"]), turn_got
    assert re.fullmatch(r"[A-Za-z0-9+/]{27}=", turn_got["credential"]), turn_got
    r2 = sh(f"printf %s '{turn_got['username']}' | openssl dgst -sha1 -hmac "
            f"'{st.secret()}' -binary | base64")
    assert r2.stdout.strip() == turn_got["credential"], (r2, turn_got)
    for t in (turn_got, turn_want):
        t["username"] = t["credential"] = "(minted)"
    assert got == want, f"README shows\n{want}\nthe daemon answers\n{got}"


def run_curl_head(st, cmd, shown):
    r = sh(cmd)
    assert r.returncode == 0, r
    got = [ln for ln in r.stdout.replace("\r", "").split("\n") if ln]
    date = re.compile(r"Date: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT")
    assert len(got) == len(shown), (got, shown)
    for g, s in zip(got, shown):
        if s.startswith("Date: "):
            assert date.fullmatch(g) and date.fullmatch(s), (g, s)
        else:
            assert g == s, (g, s)


def ctl(cmd):
    return sh(CTL + cmd[len("icestationctl"):])


def run_ctl(want_rc, *want_out):
    """An icestationctl command: the exit code docs/operations.md gives for
    its outcome (0 done, 1 refused by the daemon), and words of its answer."""
    def run(st, cmd, shown):
        r = ctl(cmd)
        assert r.returncode == want_rc, (cmd, r)
        for w in want_out:
            assert w in r.stdout + r.stderr, (cmd, w, r)
    return run


def run_ctl_synopsis(st, cmd, shown):
    # "revoke USER [--until UNIX_TIME]": the optional part is optional.
    run_ctl(0, "revoked did:peers:mallory")(st, re.sub(r" \[.*\]$", "", cmd), shown)


def run_drain(st, cmd, shown):
    run_ctl(0, "draining")(st, cmd, shown)
    # No allocation is live: the daemon exits by itself, with 0.
    assert st.proc.wait(timeout=15) == 0, st.text()
    assert "drain: no allocation left, exiting" in st.text(), st.text()


def run_kill_hup(st, cmd, shown):
    before = st.text().count("reload: generation")
    os.kill(st.proc.pid, signal.SIGHUP)
    wait_for(lambda: st.text().count("reload: generation") > before, 10, what="SIGHUP reload")


def run_openssl_rand(st, cmd, shown):
    r = sh(cmd)
    assert r.returncode == 0 and re.fullmatch(r"[0-9a-f]{64}\n", r.stdout), r


def shown_in(doc, text):
    with open(os.path.join(ROOT, doc)) as f:
        page = " ".join(f.read().split())
    return text in page


SKIP = "skip"
NOT_A_COMMAND = "text"
CURL = r"curl -s{} 'http://127\.0\.0\.1:8080/api/v1/turn/ice-servers\?user_did=did:peers:alice'"
RULES = [
    (r"make run|scripts/run\.sh", run_make_run),
    (r"icestation -c conf/peers\.yml", run_exec_line),
    (r"icestation --check-config -c (FILE|conf/peers\.yml)", run_check_config),
    (r"icestation --print-config -c (FILE|conf/peers\.yml)", run_print_config),
    (CURL.format(""), run_curl_body),
    (CURL.format("I"), run_curl_head),
    (r"openssl rand -hex 32", run_openssl_rand),
    (r"icestationctl status", run_ctl(0, "running", f"public {OUTWARD}:3478")),
    (r"icestationctl allocations --user did:peers:alice", run_ctl(0, "0 allocation(s)")),
    (r"icestationctl kill [0-9a-f]{16}", run_ctl(1, "no allocation with this id")),
    (r"icestationctl revoke did:peers:mallory --until \d+", run_ctl(0, "revoked")),
    (r"icestationctl revoke did:peers:mallory \[--until UNIX_TIME\]", run_ctl_synopsis),
    (r"icestationctl unrevoke did:peers:mallory", run_ctl(0, "unrevoked")),
    (r"icestationctl reload", run_ctl(0, "reloaded: generation")),
    (r"icestationctl drain", run_drain),
    (r"icestationctl selftest", run_ctl(0, "self-test passed")),
    (r"kill -HUP", run_kill_hup),
    (r"icestationctl unrevoke", (SKIP, "names the subcommand; its full form runs above")),
    (r"man icestation", (SKIP, "reads the installed page; tests/package (package_man) checks "
                               "it")),
    (r"apt purge|dpkg -[rPx]", (SKIP, "package management on the host; tests/package runs it "
                                      "in its own container or scratch directory")),
    (r"chmod 600", (SKIP, "advice about the operator's own secret file")),
    (r"GET /api/v1/turn/ice-servers\?user_did=did:peers:alice",
     (NOT_A_COMMAND, "an HTTP request line (the curl examples below send it)")),
    (r"true false yes no on off", (NOT_A_COMMAND, "the spellings of a YAML boolean")),
    (r"turnutils_uclient -T", (SKIP, "coturn's client naming a mode; tests/tcprelay "
                                       "(tcprelay_uclient) runs it against the daemon")),
    (r"make test", (SKIP, "the whole suite, this test included: it would run itself")),
    (r"make fuzz", (SKIP, "libFuzzer campaigns of FUZZ_TIME (300 s) per target; make test "
                          "runs their bounded smoke")),
    (r"make bench", (SKIP, "10-12 minutes beside coturn; tests/bench (bench_smoke) runs "
                           "every case once")),
    (r"make format", (SKIP, "rewrites the checkout's sources in place")),
    (r"make soak( SOAK_MIN=\d+)?", (SKIP, "a soak of SOAK_MIN (60) minutes; its 3-minute smokes "
                                           "run in make test (soak_smoke, soak_smoke_asan)")),
    (r"cmake -S \. -B build .*|cmake --build build( .*)?",
     (SKIP, "the release build: make test has just built these sources in build/")),
    (r"cmake --install( .*)?",
     (SKIP, "installs into the system; tests/package runs it in a booted copy and into a "
            "scratch prefix (package_install_prefix)")),
    (r"make deb", (SKIP, "builds the Debian package with debhelper and lintian; tests/package "
                         "builds it and checks it unpacked and installed")),
    (r"sudo .*", (SKIP, "changes the host (files under /etc, the system's units); the "
                        "documented install is tested by tests/package")),
    (r"journalctl .*", (SKIP, "follows an installed unit's journal until interrupted")),
    (r"systemctl .*", (SKIP, "drives an installed unit; tests/system runs the daemon the "
                             "way the unit does")),
    (r"ss -K", (SKIP, "destroys a listening socket; tests/operator (operator_selftest) does "
                      "it in a namespace of its own")),
    (r"GET /admin/", (NOT_A_COMMAND, "the status page's request line on the admin listener")),
    (r"ssh -L .*", (SKIP, "forwards a port from a remote station over SSH")),
    (r"promtool check rules", (SKIP, "names no file; tests/operator (operator_dashboards) "
                                     "runs it on deploy/'s rules")),
    (r"systemd-analyze security( icestation)?",
     (SKIP, "needs the unit loaded in a running systemd; tests/system/verify_unit.sh checks "
            "the same score offline")),
]


def rule_for(cmd):
    for pattern, what in RULES:
        if re.fullmatch(pattern, cmd):
            return what
    return None


def main():
    netns.enter(outward=OUTWARD, private_run=True)
    found = [(where, norm(cmd), shown) for doc in DOCS for where, cmd, shown in commands(doc)]
    unknown = [(w, c) for w, c, _ in found if rule_for(c) is None]
    assert not unknown, "commands in the docs this test does not know (add a row to RULES):\n" + \
        "\n".join(f"  {w}: {c}" for w, c in unknown)
    assert any(c == "make run" for _, c, _ in found), "no make run found: parser broken?"
    assert sum(1 for _, c, s in found if s) >= 2, "no shown output found: parser broken?"

    st = Station()
    ran, skipped, done = 0, 0, {}
    # Stable: the drain, which ends the daemon, after everything else.
    found.sort(key=lambda f: rule_for(f[1]) is run_drain)
    try:
        for where, cmd, shown in found:
            what = rule_for(cmd)
            if isinstance(what, tuple):
                word = "text" if what[0] == NOT_A_COMMAND else "skip"
                print(f"{word} {where}: {cmd}\n     ({what[1]})")
                skipped += what[0] == SKIP
                continue
            if cmd in done and not shown:
                print(f"ran  {where}: {cmd} (as at {done[cmd]})")
                continue
            t0 = time.monotonic()
            what(st, cmd, shown)
            print(f"ran  {where}: {cmd} ({time.monotonic() - t0:.2f}s)")
            done[cmd] = where
            ran += 1
    finally:
        st.stop()
    print(f"{ran} commands ran and matched the docs, {skipped} skipped with a reason")
    return 0


if __name__ == "__main__":
    sys.exit(main())
