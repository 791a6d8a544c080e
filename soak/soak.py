#!/usr/bin/env python3
"""make soak: hold icestation under churn, steady flows, abuse and ICE API
load for --minutes (SOAK_MIN), sample it every second, and judge it.

Phases, in order: baseline (idle daemon, 5 s: fds, threads, counters),
set-up (the load generator's allocations), warm-up (--warmup s of full load,
not judged: arenas, caches and tables reach their working size), load
(--minutes of bench/loadgen soak + soak/streams.py, with the periodic
ACTIONS below), release (every allocation freed), cool-down (until fds,
threads and allocations are back).

Writes OUT/soak.csv (one row a second), OUT/soak.png, OUT/summary.md and
OUT/verdicts.json; exits 1 when a verdict fails. Rates: PROFILE below and
docs/reliability.md. Ports: tests/PORTS.md "tests/soak" (listen
12000-12499, relay 12500-14999) unless --port-base/--relay-ports say else.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [HERE, os.path.join(ROOT, "tests", "lib"), os.path.join(ROOT, "tests", "turn_net")]
from icetest import SANITIZER_MARKERS, Daemon  # noqa: E402
from sample import Sampler  # noqa: E402
from streams import rest_cred  # noqa: E402
from turnclient import TurnClient, TurnError, make_cert  # noqa: E402
import verdict as V  # noqa: E402

SECRET = "soak-s3cret"
# allocation-lifetime: short, so abandoned allocations expire within the run
# and their number (abandon rate x lifetime) levels off early in the first half.
LIFETIME = 30

# Every rate the soak drives (docs/reliability.md explains the choice: on 2
# cores the daemon, both load processes and the sampler must all keep CPU).
PROFILE = {
    "churn_allocs": 1000, "churn_rate": 50, "flows": 32, "flow_pps": 50, "flow_size": 200,
    "flood_rate": 25, "vanish_rate": 2.0, "stuck_every": 15.0, "garbage_every": 10.0,
    "api_rate": 10.0, "slow_pps": 25,
}


def rates_table(p):
    kinds = 8
    return {
        "allocation churn": f"{p['churn_allocs']} live allocations (UDP, each with a permission); "
                            f"{p['churn_rate']} operations/s on them in turn (each visited every "
                            f"{p['churn_allocs'] // p['churn_rate']} s): 50 % Refresh, 40 % "
                            "Refresh(0) and a new allocation on a fresh 5-tuple, 10 % abandoned "
                            f"(left to expire: lifetime {LIFETIME} s) and replaced",
        "steady flows": f"{p['flows']} allocations ({p['flows'] // 2} ChannelData, "
                        f"{p['flows'] // 2} Send/Data), {p['flow_pps']} datagrams/s of "
                        f"{p['flow_size']} B each way each = "
                        f"{p['flows'] * 2 * p['flow_pps']} datagrams/s relayed",
        "floods": f"{kinds} kinds x {p['flood_rate']}/s = {kinds * p['flood_rate']} datagrams/s "
                  "(not STUN, malformed, 4200 B, ChannelData without allocation, Allocate "
                  "without credentials, wrong key, expired username, unminted nonce)",
        "TCP/TLS vanishing clients": f"{p['vanish_rate']}/s, TCP and TLS in turn: Allocate, "
                                     "permission, one datagram each way, close (FIN or RST)",
        "slow readers": f"1 TCP + 1 TLS, {p['slow_pps']} x 1000 B/s each, read once a second",
        "stuck readers": f"one every {p['stuck_every']:.0f} s (TCP and TLS in turn): its peer "
                         "sends 3 MB at 2.5 MB/s, then 50 KB/s, until the daemon has closed it "
                         "for backpressure (30 s at most)",
        "garbage TLS handshakes": f"one every {p['garbage_every']:.0f} s",
        "ICE API": f"{p['api_rate']:.0f} requests/s on one keep-alive connection, 1 in 10 with a "
                   "bad user_did (400)",
    }


def reload_sighup(d, state):
    os.kill(d.proc.pid, signal.SIGHUP)
    state["reloads"] = state.get("reloads", 0) + 1


def revoke_user(d, state):
    """A test user with a live allocation is revoked through the admin API:
    the allocation must end (counted reason="revoked"), the user's next
    request be refused, and the user is unrevoked again. Failures are
    counted in state["revoke_errors"] with the first one's text."""
    n = state["revokes"] = state.get("revokes", 0) + 1
    user = f"did:peers:soak-revoked-{n}"
    q = urllib.parse.quote(user, safe="")
    c = TurnClient(("127.0.0.1", d.turn_port), *rest_cred(SECRET, user))
    try:
        c.allocate()
        status, body = d.admin("POST", f"/admin/v1/users/{q}/revoke")
        if status != 200 or body.get("applied") is not True:
            raise AssertionError(f"revoke answered {status} {body}")
        # The answer comes once every worker applied it: the very next
        # Refresh must be refused.
        try:
            c.refresh(LIFETIME)
            raise AssertionError("a revoked user's Refresh right after the answer succeeded")
        except TurnError as e:
            if e.code not in (401, 437):
                raise AssertionError(f"a revoked user's Refresh answered {e.code}") from e
        status, body = d.admin("DELETE", f"/admin/v1/users/{q}/revoke")
        if status != 200:
            raise AssertionError(f"unrevoke answered {status} {body}")
    except Exception as e:  # noqa: BLE001 (counted; the verdict reports it)
        state["revoke_errors"] = state.get("revoke_errors", 0) + 1
        state.setdefault("revoke_error", f"{type(e).__name__}: {e}")
    finally:
        c.close()


def drain_at_end(d):
    """SIGUSR1 once the load is gone: a new Allocate must be refused (486, or
    300 with alternate-server) and the daemon, holding no allocation, must
    exit 0 by itself. Returns (verdict, exit code or None)."""
    os.kill(d.proc.pid, signal.SIGUSR1)
    # kill() returns before the daemon has read the signal and told its
    # workers: an Allocate sent at once can (and in one CI run did) arrive
    # first and be served, and the drain then rightly waits for it. The
    # refusal is judged once the daemon says it drains and its workers have
    # it: the admin drain is a no-op then, answered after a mailbox round
    # trip to every worker ("applied").
    deadline = time.monotonic() + 10
    try:
        while d.metrics().get("icestation_draining", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        d.admin("POST", "/admin/v1/drain")
    except OSError:
        pass  # already gone: judged below as "no answer"
    c = TurnClient(("127.0.0.1", d.turn_port), *rest_cred(SECRET, "did:peers:soak-late"))
    refused = None
    try:
        c.allocate()
    except TurnError as e:
        refused = e.code
    except (OSError, TimeoutError):
        refused = "no answer (already gone)"
    finally:
        c.close()
    try:
        code = d.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return V.verdict("phase: drain at the end", False,
                         f"new Allocate answered {refused}; still running 30 s after SIGUSR1"), None
    ok = refused in (486, 300, "no answer (already gone)") and code == 0
    return V.verdict("phase: drain at the end", ok,
                     f"SIGUSR1: a new Allocate answered {refused}, the daemon exited {code} "
                     "by itself"), code


# Live-operations phases (issue 11). Each is probed by a metric the feature
# adds; absent, the phase is reported "not run: feature absent", never faked.
# "check": the counter that must have risen by state[name] at the end.
ACTIONS = [
    {"name": "reload every minute", "every": 60, "probe": "icestation_config_generation",
     "run": reload_sighup, "check": ('icestation_config_reload_total{result="ok"}', "reloads")},
    {"name": "revoke a test user every 2 minutes", "every": 120,
     "probe": "icestation_turn_revocations", "run": revoke_user,
     "check": ('icestation_turn_allocations_ended_total{reason="revoked"}', "revokes")},
    # Run by main() in place of SIGTERM, when the rest is done.
    {"name": "drain at the end", "every": None, "probe": "icestation_draining",
     "run": drain_at_end},
]


class Reader(threading.Thread):
    """Keeps the latest JSON line of each event a load process prints."""

    def __init__(self, proc):
        super().__init__(daemon=True)
        self.proc, self.last = proc, {}

    def run(self):
        for line in self.proc.stdout:
            try:
                doc = json.loads(line)
            except ValueError:
                continue
            self.last[doc.get("event", "?")] = doc


def daemon_for(a, tmp):
    cert, key = make_cert(tmp)
    d = Daemon(http_port=a.port_base + 2, stun_port=a.port_base, secret=SECRET, workers=2,
               binary=a.bin, log_level="info",
               # The request limit is the daemon's per source address, not
               # a worker's (docs/stun.md, "Rate limit"): the set-up sends
               # ~1200 requests from each of its client addresses (400
               # allocations each) at once. These are the figures two
               # workers' buckets gave each address before they were one.
               stun_extra={"rate-limit": {"requests-per-second": 1000, "burst": 2000}},
               turn_extra={"transports": ["udp", "tcp", "tls"],
                           "tls": {"port": a.port_base + 1, "cert": cert, "key": key},
                           "relay-port-range": a.relay_ports,
                           "allocation-lifetime": f"{LIFETIME}s", "max-allocations": 5000,
                           "max-allocations-per-user": 0, "allocations-per-minute-per-user": 0,
                           # The floods' 401s are counted one by one (verdict.py),
                           # so no challenge is suppressed; the 401 limiter has
                           # its own test (tests/defaults/test_challenge.py).
                           "challenge-rate-limit": {"responses-per-second": 0},
                           "allowed-peer-ip": ["127.0.0.0/8"]})
    return d, cert


def start_load(a, d, cert, secs):
    p, base = PROFILE, a.port_base
    lg = subprocess.Popen(
        [a.loadgen, "soak", "--server", f"127.0.0.1:{base}", "--pid", str(d.proc.pid),
         "--secret", SECRET, "--duration", str(secs), "--allocs", str(p["churn_allocs"]),
         "--flows", str(p["flows"]), "--flow-pps", str(p["flow_pps"]),
         "--sizes", str(p["flow_size"]), "--churn-rate", str(p["churn_rate"]),
         "--flood-rate", str(p["flood_rate"]), "--lifetime", str(LIFETIME),
         "--client-ip", "127.0.9.1", "--client-port", str(base + 10), "--client-ports", "400",
         "--peer-ip", "127.0.8.1", "--peer-port", str(base + 410), "--peers", "8",
         "--flood-ip", "127.0.5.1", "--timeout", "120", "--abandon-end", "0"],
        stdout=subprocess.PIPE, text=True)
    return lg, Reader(lg)


def start_streams(a, cert, secs):
    p = PROFILE
    st = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "streams.py"), "--turn-port", str(a.port_base),
         "--tls-port", str(a.port_base + 1), "--http-port", str(a.port_base + 2),
         "--secret", SECRET, "--cert", cert, "--duration", str(secs),
         "--lifetime", str(LIFETIME), "--vanish-rate", str(p["vanish_rate"]),
         "--stuck-every", str(p["stuck_every"]), "--garbage-every", str(p["garbage_every"]),
         "--api-rate", str(p["api_rate"]), "--slow-pps", str(p["slow_pps"])],
        stdout=subprocess.PIPE, text=True)
    return st, Reader(st)


class Run:
    def __init__(self, a, d):
        self.a, self.d = a, d
        self.t0 = time.monotonic()
        self.alive = True
        self.sampler = None

    def tick(self, phase, lg=None):
        now = time.monotonic()
        self.alive &= self.d.alive()
        if not self.d.alive():
            return None, {}
        try:
            return self.sampler.sample(now - self.t0, now, phase, lg)
        except OSError:
            return None, {}

    def seconds(self, phase, secs, lg=None, until=None):
        """Sample once a second for secs, or until until(row) is true."""
        end = time.monotonic() + secs
        row = None
        while time.monotonic() < end and self.d.alive():
            row, _ = self.tick(phase, lg() if lg else None)
            if until and row and until(row):
                return row
            time.sleep(max(0.0, 1.0 - (time.monotonic() - self.t0) % 1.0))
        return row


def probe_actions(metrics):
    out, active = [], []
    for act in ACTIONS:
        if act["probe"] not in metrics:
            out.append(V.verdict(f"phase: {act['name']}", None,
                                 f"not run: feature absent ({act['probe']} not in /metrics; "
                                 "issue 11)"))
        elif act["run"] is None:
            out.append(V.verdict(f"phase: {act['name']}", False,
                                 "the feature is present but this soak phase is not written "
                                 "yet (soak/soak.py ACTIONS)"))
        else:
            active.append(act)
    return out, active


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MIN", 60)))
    ap.add_argument("--warmup", type=float, default=60.0,
                    help="seconds of full load before the judged load (default 60)")
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "icestation"))
    ap.add_argument("--loadgen", default=os.path.join(ROOT, "build", "bench", "loadgen"))
    ap.add_argument("--out", default=os.path.join(ROOT, "soak-results"))
    ap.add_argument("--port-base", type=int, default=12000)
    ap.add_argument("--relay-ports", default="12500-14999")
    a = ap.parse_args()
    for path, how in ((a.bin, "make build"), (a.loadgen, "make build")):
        if not os.access(path, os.X_OK):
            sys.exit(f"soak: no executable {path} ({how} builds it)")
    os.makedirs(a.out, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="soak-")
    d, cert = daemon_for(a, tmp)
    d.start()
    with open(f"/proc/{d.proc.pid}/maps") as f:
        asan = "libasan" in f.read()
    run = Run(a, d)
    run.asan = asan
    run.sampler = Sampler(os.path.join(a.out, "soak.csv"), d.proc.pid, d.metrics)
    verdicts, state, active = [], {}, []
    lg = st = None
    exit_code = None
    try:
        run.seconds("baseline", 5)
        base_rows = run.sampler.rows[-3:]
        base_fds = min(r["fds"] for r in base_rows)
        base_threads = min(r["threads"] for r in base_rows)
        before = d.metrics()
        phase_verdicts, active = probe_actions(before)
        secs = int(a.warmup + a.minutes * 60)
        lg, lg_r = start_load(a, d, cert, secs)
        run.sampler.helpers.append(lg.pid)
        lg_r.start()
        run.seconds("setup", 180, until=lambda r: "ready" in lg_r.last or lg.poll() is not None)
        if "ready" not in lg_r.last:
            raise RuntimeError(f"load generator set-up failed: {lg_r.last}")
        st, st_r = start_streams(a, cert, secs)
        run.sampler.helpers.append(st.pid)
        st_r.start()
        load_start = time.monotonic()
        next_run = {act["name"]: load_start + act["every"] for act in active if act["every"]}
        while lg.poll() is None and "final" not in lg_r.last and d.alive():
            phase = "load" if time.monotonic() >= load_start + a.warmup else "warmup"
            run.seconds(phase, 1, lg=lambda: lg_r.last.get("tick"))
            for act in active:
                if act["name"] in next_run and time.monotonic() >= next_run[act["name"]]:
                    act["run"](d, state)
                    next_run[act["name"]] += act["every"]
            if time.monotonic() > load_start + secs + 120:
                raise RuntimeError("load generator did not finish in time")
        run.seconds("release", 60, until=lambda r: lg.poll() is not None)
        lg.wait(timeout=60)
        st.wait(timeout=120)
        lg_r.join(5)
        st_r.join(5)
        # Abandoned allocations expire up to LIFETIME s after the load ended.
        run.seconds("cooldown", LIFETIME + 60,
                    until=lambda r: r["fds"] == base_fds and r["threads"] == base_threads
                    and r["allocations"] == 0)
        end = run.sampler.rows[-1]
        after = d.metrics()
        with open(os.path.join(a.out, "metrics.json"), "w") as f:
            json.dump({"before": before, "after": after}, f, indent=0, sort_keys=True)
        load_rows = [r for r in run.sampler.rows if r["phase"] == "load"]
        lg_final, released = lg_r.last["final"], lg_r.last["released"]
        st_final = st_r.last["final"]
        if asan:
            heap = V.memory_slope(load_rows, "heap_kib", "heap in use")
            verdicts.append(V.verdict(
                "RSS slope", None, "not judged on an ASan build: its allocator keeps freed "
                "memory for reuse and in its quarantine (RSS is judged on the release build); "
                f"heap in use, for the record: {heap['detail']}"))
        else:
            verdicts.append(V.memory_slope(load_rows))
        verdicts += [
                     V.back_to_baseline("fds back to baseline", base_fds, end["fds"]),
                     V.back_to_baseline("threads back to baseline", base_threads,
                                        end["threads"])]
        verdicts += V.relay_loss(lg_final, st_final)
        verdicts += V.intended_failures(before, after, lg_final, st_final)
        verdicts.append(V.no_unintended(lg_final, released, st_final))
        for act in active:
            if "check" not in act:
                continue
            key, what = act["check"]
            got = after.get(key, 0) - before.get(key, 0)
            errs = state.get(what.rstrip("s") + "_errors", 0)
            late = state.get(what.rstrip("s") + "_late", 0)
            verdicts.append(V.verdict(
                f"phase: {act['name']}", got == state.get(what, 0) > 0 and not errs,
                f"{key} rose by {got:.0f} for {state.get(what, 0)} {what}"
                + (f"; {late} request(s) still accepted right after the call (within 1 s)"
                   if late else "")
                + (f"; {errs} failed, first: {state.get(what.rstrip('s') + '_error')}"
                   if errs else "")))
        verdicts += phase_verdicts
    except Exception as e:  # noqa: BLE001 (reported as a failed verdict, then re-judged)
        verdicts.append(V.verdict("soak ran to the end", False, f"{type(e).__name__}: {e}"))
    finally:
        for p in (lg, st):
            if p is not None and p.poll() is None:
                p.terminate()
                p.wait(timeout=30)
        run.sampler.close()
        drain = [act for act in active if act["name"] == "drain at the end"]
        if drain and d.alive() and not any(v["ok"] is False for v in verdicts):
            v, exit_code = drain[0]["run"](d)
            verdicts.append(v)
        if d.proc is not None and d.proc.poll() is None:
            d.proc.send_signal(signal.SIGTERM)
            try:
                exit_code = d.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                d.kill()
        elif d.proc is not None:
            exit_code = d.proc.returncode
        log = d.log()
        sanitizer = [ln for ln in log.splitlines() if any(m in ln for m in SANITIZER_MARKERS)]
        verdicts[:0] = [V.no_crash(run.alive, exit_code), V.no_sanitizer_report(asan, sanitizer)]
        d.kill()
    return report(a, run, verdicts)


def report(a, run, verdicts):
    rows = run.sampler.rows
    png = os.path.join(a.out, "soak.png")
    title = f"icestation soak, {a.minutes:g} min, {os.path.basename(a.bin)}"
    try:
        from plot import plot
        plot(rows, png, title)
    except Exception as e:  # noqa: BLE001
        verdicts.append(V.verdict("plot written", False, f"{type(e).__name__}: {e}"))
        png = None
    meta = {"binary": os.path.realpath(a.bin) + (" (ASan+UBSan)" if run.asan else ""),
            "minutes of load": f"{a.minutes:g} (judged), after a {a.warmup:g} s warm-up",
            "samples": len(rows), "machine": f"{os.cpu_count()} CPUs, {os.uname().release}",
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    if rows:
        load = [r for r in rows if r["phase"] == "load"]
        if load:
            meta["daemon CPU under load (mean)"] = \
                f"{sum(r['cpu_pct'] for r in load) / len(load):.1f} % of a core"
            meta["load generators' CPU (mean)"] = \
                f"{sum(r['loadgen_cpu_pct'] for r in load) / len(load):.1f} % of a core"
            meta["RSS under load"] = \
                f"{min(r['rss_kib'] for r in load)}-{max(r['rss_kib'] for r in load)} KiB"
    md = V.markdown(title, meta, verdicts, rates_table(PROFILE),
                    os.path.basename(png) if png else None)
    with open(os.path.join(a.out, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(a.out, "verdicts.json"), "w") as f:
        json.dump(verdicts, f, indent=1)
    sys.stdout.write(md)
    return 1 if any(v["ok"] is False for v in verdicts) else 0


if __name__ == "__main__":
    sys.exit(main())
