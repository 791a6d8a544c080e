#!/usr/bin/env python3
"""Side-by-side benchmark driver (issue 6): icestation vs coturn vs the bare
forwarder, on loopback, server pinned to CPU 0 and load generator to CPU 1.

For each run and each server: start it fresh, hold 10,000 allocations (RSS
before / held / after release, relay CPU per packet with traffic spread over
all 10k), hold 10,000 again and relay through 64 of them with the 64-allocation
traffic pattern (flat cost: only the live state differs), then Binding,
ChannelData and Send/Data relay at 100 and 1000 bytes both ways with 64
allocations (icestation: ChannelData again with every bandwidth limit on,
limits.py), ChannelData over TCP and TLS client connections, Allocate +
Refresh(0) cycles; stop it. After icestation's: its ChannelData again under
Allocate churn, on two more fresh servers, the cluster off then on (one
with a redis-server of its own; churn.py). Then the ICE API with wrk
against icestation and a bare evhttp handler. Every figure is the median of
--runs runs with min-max; results go to bench/results/<stamp>.json and .md.

Usage: bench/bench.py --build BUILD_DIR [--runs 3] [--duration 3]
       [--servers icestation,coturn,forwarder] [--cases relay-channel,...]
       [--no-http] [--out DIR]
"""
import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
sys.path.insert(0, os.path.join(ROOT, "tests", "cluster"))  # clusterlib: redis-server
sys.path.insert(0, HERE)
import churn  # noqa: E402
import limits  # noqa: E402
import report  # noqa: E402
from servers import (GEN_CPU, SECRET, SERVER_CPU, Coturn, Forwarder, Icestation,  # noqa: E402
                     make_cert)

HTTPBASE_PORT = 23081


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def cpu_us(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    fields = s[s.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / os.sysconf("SC_CLK_TCK")


# Client and peer sockets of the generator live on their own loopback
# addresses (127.0.1.x / 127.0.2.x, ports 23000+): nothing else binds there.
# The smoke test (--port-offset) moves everything so it can run beside a bench.
CLIENT_IP, PEER_IP = "127.0.1.1", "127.0.2.1"


# The throwaway certificate both TURN servers serve on their TLS port (main()).
TLS_CERT = ("", "")


def loadgen_cmd(build, mode, server, pid, args, transport="udp"):
    """The generator's command line against server; TCP clients use the
    listening port, TLS clients the TLS port (verifying the bench certificate)."""
    port = server.tls_port if transport == "tls" else server.port
    cmd = ["taskset", "-c", GEN_CPU, os.path.join(build, "bench", "loadgen"), mode,
           "--server", f"127.0.0.1:{port}", "--pid", str(pid),
           "--secret", SECRET, "--peer-ip", PEER_IP] + args
    if transport != "udp":
        cmd += ["--transport", transport, "--tls-ca", TLS_CERT[0]]
    if server.name == "forwarder":
        cmd.append("--forwarder")
    return cmd


def loadgen_result(returncode, stdout, stderr):
    """The generator's JSON result, with "error" when it failed."""
    out = stdout.strip()
    try:
        res = json.loads(out.splitlines()[-1]) if out else {}
    except json.JSONDecodeError:
        res = {"error": f"unparsable output: {out[:200]}"}
    if returncode != 0 and res.get("errors") and not res.get("ready") and not res.get("cycles"):
        res["error"] = ("no allocation succeeded (feature missing?): STUN errors "
                        + json.dumps(res["errors"]) + " (408 = no answer)")
    elif returncode != 0:
        res["error"] = res.get("error") or (stderr.strip()[-300:] or f"exit {returncode}")
        res["exit"] = returncode
    return res


def loadgen(build, mode, server, pid, args, transport="udp", timeout=180):
    """Run the generator against server and return its result."""
    p = subprocess.run(loadgen_cmd(build, mode, server, pid, args, transport),
                       capture_output=True, text=True, timeout=timeout)
    return loadgen_result(p.returncode, p.stdout, p.stderr)


def flatten(server, case, res, out):
    """Turn one loadgen JSON into {metric_key: value} rows."""
    if "windows" in res:
        for w in res["windows"]:
            k = f"{case}/{w['dir']}/{w['size']}"
            out[f"{k}/pps"] = w["pps"]
            out[f"{k}/cpu_us"] = w["cpu_us_per_op"]
            out[f"{k}/loss"] = w["loss"]
            if res.get("transport", "udp") != "udp" and w["cpu_us_per_op"] > 0:
                # CPU per MB (10^6 bytes) of payload relayed: ms.
                out[f"{k}/cpu_ms_per_mb"] = w["cpu_us_per_op"] * 1000 / w["size"]
        if "churn_check" in res:
            out[f"{case}/churn_per_s"] = res["churn_check"]["churn"]["cycles_per_s"]
            for role, ms in res["churn_check"]["thread_cpu_ms_per_s"].items():
                out[f"{case}/{role}_cpu_ms_per_s"] = ms
        # RSS figures from relay-10k only: relay-flat runs on a server that
        # has already held and released 10k allocations.
        if case == "relay-10k":
            out["alloc/rss_per_alloc_kib"] = res["rss_per_alloc_kib"]
            out["alloc/rss_before_kib"] = res["rss_before_kib"]
            out["alloc/rss_held_kib"] = res["rss_held_kib"]
            out["alloc/rss_after_kib"] = res["rss_after_kib"]
            if res["rss_before_kib"] > 0:
                out["alloc/rss_after_vs_start"] = res["rss_after_kib"] / res["rss_before_kib"]
            out["alloc/setup_allocs_per_s"] = res["ready"] / max(res["setup_seconds"], 1e-9)
    elif res.get("mode") == "binding":
        out["binding/rate"] = res["rate"]
        out["binding/cpu_us"] = res["cpu_us_per_op"]
    elif res.get("mode") == "alloc-cycle":
        out["cycle/rate"] = res["cycles_per_s"]
        out["cycle/cpu_us"] = res["cpu_us_per_op"]


# The 64-allocation relay cases and relay-flat share one traffic pattern (the
# generator's defaults, spelled out so they can never drift apart): relay-flat
# differs from relay-channel only in the 10k live allocations behind it.
SMALL_ALLOCS = 64
SMALL_PATTERN = ["--window", "128", "--peers", "8", "--batch", "32"]
SMALL_SIZES = (100, 1000)
# relay-channel's generator arguments, but for the client address.
SMALL = (["--allocs", str(SMALL_ALLOCS)] + SMALL_PATTERN
         + ["--sizes", ",".join(map(str, SMALL_SIZES))])


def case_list(cls, a):
    """(case, mode, generator arguments, client transport) for server cls.

    Each case gets its own client addresses: a 5-tuple released by one case
    is never reused by the next (coturn answers 437 until its delayed
    clean-up has run). Third octet from CLIENT_IP, fourth chosen here; the
    generator puts 1000 client ports on an address, then takes the next:
    relay-10k .1-.10 (up to .15 at --big 15000), binding .20, the
    64-allocation cases .21-.25 (the budget probe of relay-channel-limited
    .26), alloc-cycle .30 up to .229 (a new 5-tuple per cycle), relay-flat
    .230-.239 (up to .244), the start-up probe (wait_auth) .250. The churn
    cases (churn_cases) run on servers of their own."""
    base = CLIENT_IP.rsplit(".", 1)[0]
    cases = [("relay-10k", "relay", ["--allocs", str(a.big), "--sizes", "100", "--window", "256",
                                     "--peers", "16", "--client-ip", f"{base}.1"], "udp"),
             ("relay-flat", "relay", ["--allocs", str(a.big), "--active", str(SMALL_ALLOCS),
                                      "--sizes", "100"] + SMALL_PATTERN
              + ["--client-ip", f"{base}.230"], "udp"),
             ("binding", "binding", ["--sockets", "8", "--client-ip", f"{base}.20"], "udp"),
             ("relay-channel", "relay", SMALL + ["--client-ip", f"{base}.21"], "udp")]
    if cls.name == "icestation":
        # Right after relay-channel: the same traffic, every bandwidth limit on.
        cases += [("relay-channel-limited", "relay", SMALL + ["--client-ip", f"{base}.25"],
                   "udp")]
    if cls.name != "forwarder":
        cases += [("relay-indication", "relay", SMALL + ["--indication",
                                                         "--client-ip", f"{base}.22"], "udp"),
                  ("relay-channel-tcp", "relay", SMALL + ["--client-ip", f"{base}.23"], "tcp"),
                  ("relay-channel-tls", "relay", SMALL + ["--client-ip", f"{base}.24"], "tls"),
                  ("alloc-cycle", "alloc-cycle", ["--sockets", "16",
                                                  "--client-ip", f"{base}.30"], "udp")]
    return [c for c in cases if not a.cases or c[0] in a.cases]


def churn_cases(a):
    """(server class, [case]) for the churn cases (churn.py), each on a
    server of its own: relay-channel's traffic from .27 (both servers are
    fresh), the churn's cycles from .30 on like alloc-cycle's."""
    ip = CLIENT_IP.rsplit(".", 1)[0] + ".27"
    return [(cls, [(case, "relay", SMALL + ["--client-ip", ip], "udp")])
            for case, cls in churn.CASES if not a.cases or case in a.cases]


def run_case(a, srv, pid, case, mode, extra, transport):
    timing = ["--duration", str(a.duration), "--warmup", str(a.warmup), "--timeout", "60"]
    if mode == "relay":
        timing += ["--rss-wait", str(a.rss_wait)]
    if case in dict(churn.CASES):
        # Time bound of the churn: twice what the traffic should take (its
        # windows, the release and RSS wait, set-up), its count bound the
        # cycles its pace allows in that time.
        windows = 2 * len(SMALL_SIZES) * (a.warmup + a.duration + 0.5)
        bound = round(2 * (windows + a.rss_wait + 5))
        base = CLIENT_IP.rsplit(".", 1)[0]
        return churn.run(srv, lambda: loadgen(a.build, mode, srv, pid, extra + timing),
                         loadgen_cmd(a.build, "alloc-cycle", srv, pid, churn.churn_args(bound)
                                     + ["--client-ip", f"{base}.30"]),
                         loadgen_result)
    if case != "relay-channel-limited":
        return loadgen(a.build, mode, srv, pid, extra + timing, transport)
    probe_ip = CLIENT_IP.rsplit(".", 1)[0] + ".26"
    return limits.run(srv, lambda: loadgen(a.build, mode, srv, pid, extra + timing),
                      lambda: loadgen(a.build, "alloc-hold", srv, pid,
                                      ["--allocs", "1", "--client-ip", probe_ip,
                                       "--timeout", "10"]))


def wait_auth(a, srv, pid):
    """Until an authenticated Allocate succeeds (bounded): coturn answers 401
    to the first ones after its start while it sets up its SQLite database
    ("no such table: turn_secret" in its log), which made the first case of
    a run lose allocations. Both TURN servers get the same probe (4
    allocations, released) for up to 30 s (coturn took over 4 s on a loaded
    box), each try from its own client ports on .250."""
    ip = CLIENT_IP.rsplit(".", 1)[0] + ".250"
    deadline, i, res = time.time() + 30, 0, {}
    while time.time() < deadline:
        res = loadgen(a.build, "alloc-hold", srv, pid,
                      ["--allocs", "4", "--client-ip", ip, "--client-port", str(23000 + 4 * i),
                       "--rss-wait", "0", "--timeout", "5"])
        if res.get("ready") == 4:
            return
        i += 1
        time.sleep(0.5)
    raise RuntimeError(f"no authenticated Allocate succeeded in 30 s: {res.get('errors')}")


def run_server(cls, a, run, raw, cases=None):
    """Start a cls server, run its cases (default: case_list), stop it."""
    srv = cls(a.build, a.relay_ports, a.workers, TLS_CERT)
    try:
        pid = srv.start()
        if cls.name != "forwarder":
            wait_auth(a, srv, pid)
    except Exception as e:  # noqa: BLE001 - a server that cannot start is a result
        log(f"{cls.name}: cannot start: {e}")
        raw.append({"server": cls.name, "run": run, "case": "start", "error": str(e)})
        try:
            srv.stop()
        except Exception:  # noqa: BLE001 - it may never have run
            pass
        return
    try:
        for case, mode, extra, transport in case_list(cls, a) if cases is None else cases:
            t = time.time()
            try:
                res = run_case(a, srv, pid, case, mode, extra, transport)
            except Exception as e:  # noqa: BLE001 - a failed case is a result
                res = {"error": f"{type(e).__name__}: {e}"}
            flat = {}
            if "error" not in res:
                try:
                    flatten(cls.name, case, res, flat)
                except (KeyError, TypeError) as e:
                    res["error"] = f"incomplete result: {e}"
            raw.append({"server": cls.name, "run": run, "case": case, "result": res,
                        "metrics": flat})
            log(f"{cls.name} run {run} {case}: {time.time() - t:.1f}s "
                + (f"ERROR {res.get('error')}" if "error" in res else
                   " ".join(f"{k.split('/', 1)[1]}={v:.3g}" for k, v in flat.items()
                            if k.endswith(("cpu_us", "rate", "pps", "kib")))))
            if srv.proc is None if hasattr(srv, "proc") else False:
                break
    finally:
        try:
            srv.stop()
        except Exception as e:  # noqa: BLE001
            log(f"{cls.name}: stop: {e}")
            raw.append({"server": cls.name, "run": run, "case": "stop", "error": str(e)})


WRK_RE = re.compile(r"Requests/sec:\s+([\d.]+)")
P99_RE = re.compile(r"99%\s+([\d.]+)(us|ms|s)\b")


def wrk(url, pid, seconds):
    c0 = cpu_us(pid)
    p = subprocess.run(["taskset", "-c", GEN_CPU, "wrk", "-t1", "-c32", f"-d{int(max(1, round(seconds)))}s",
                        "--latency", url], capture_output=True, text=True,
                       timeout=seconds + 30)
    c1 = cpu_us(pid)
    m, q = WRK_RE.search(p.stdout), P99_RE.search(p.stdout)
    if not m or not q:
        return {"error": p.stdout[-300:] + p.stderr[-300:]}
    p99 = float(q.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[q.group(2)]
    rps = float(m.group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", p.stdout)
    return {"rps": rps, "p99_ms": p99, "cpu_us": (c1 - c0) / (rps * seconds),
            "non2xx": int(non2xx.group(1)) if non2xx else 0}


def http_result(server, run, url, pid, seconds, body_bytes, raw):
    """wrk against url with the server's CPU taken from pid; one raw row."""
    res = wrk(url, pid, seconds)
    res["body_bytes"] = body_bytes
    raw.append({"server": server, "run": run, "case": "http", "result": res,
                "metrics": {} if "error" in res else
                {"http/rps": res["rps"], "http/p99_ms": res["p99_ms"],
                 "http/cpu_us": res["cpu_us"]}})
    log(f"{server} run {run} http: {res}")


def run_http(a, run, raw):
    path = "/api/v1/turn/ice-servers?user_did=did:peers:bench"
    body_len = None
    if "icestation" in a.servers:
        srv = Icestation(a.build, a.relay_ports, a.workers, TLS_CERT)
        try:
            pid = srv.start()
            url = f"http://127.0.0.1:{srv.http_port}{path}"
            body_len = len(urllib.request.urlopen(url, timeout=5).read())
            http_result("icestation", run, url, pid, a.duration, body_len, raw)
        except Exception as e:  # noqa: BLE001
            raw.append({"server": "icestation", "run": run, "case": "http", "error": str(e)})
            log(f"icestation http: {e}")
        finally:
            srv.stop()
    # The baseline answers a body of the same size (a fixed 512 bytes when
    # icestation could not tell us its size).
    size = body_len or 512
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, os.path.join(a.build, "bench", "httpbase"),
                             "127.0.0.1", str(HTTPBASE_PORT), str(size)], stdout=subprocess.PIPE)
    try:
        if proc.stdout.readline().strip() != b"ready":
            raise RuntimeError("httpbase did not start")
        http_result("evhttp", run, f"http://127.0.0.1:{HTTPBASE_PORT}{path}", proc.pid,
                    a.duration, size, raw)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def machine():
    def cmd(c):
        try:
            return subprocess.run(c, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    lscpu = cmd(["lscpu"])
    model = re.search(r"Model name:\s+(.*)", lscpu)
    return {"cpu": model.group(1) if model else "", "cpus": os.cpu_count(),
            "kernel": os.uname().release,
            "coturn": cmd(["turnserver", "--version"]).splitlines()[-1:] or [""],
            "libevent": cmd(["pkg-config", "--modversion", "libevent"]),
            "wrk": cmd(["dpkg-query", "-W", "-f=${Version}", "wrk"]),
            "lscpu": lscpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--big", type=int, default=10000,
                    help="allocations held by the RSS / flat-cost cases (relay-10k, relay-flat)")
    ap.add_argument("--rss-wait", type=float, default=2.0,
                    help="seconds after a relay case's release before RSS is read "
                    "(the 10k row's 'after'); the smoke test shortens it")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--servers", default="icestation,coturn,forwarder")
    ap.add_argument("--cases", default="", help="comma list to restrict (e.g. binding)")
    ap.add_argument("--no-http", action="store_true")
    ap.add_argument("--relay-ports", default="37000-39999")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--icestation-bin", default="", help="default: BUILD/icestation")
    ap.add_argument("--port-offset", type=int, default=0,
                    help="shift listening ports and generator addresses (smoke test)")
    ap.add_argument("--gen-ips", default="",
                    help="CLIENT,PEER: the generator's first client and peer address "
                    "(default 127.0.1.1,127.0.2.1; 127.0.3.1,127.0.4.1 with --port-offset), "
                    "to run beside another bench on the same box")
    a = ap.parse_args()
    global CLIENT_IP, PEER_IP, HTTPBASE_PORT, TLS_CERT
    if a.port_offset:
        for cls in (Forwarder, Coturn, Icestation):
            cls.port += a.port_offset
            cls.tls_port = cls.tls_port and cls.tls_port + a.port_offset
        Icestation.http_port += a.port_offset
        churn.Clustered.redis_port += a.port_offset
        HTTPBASE_PORT += a.port_offset
        CLIENT_IP, PEER_IP = "127.0.3.1", "127.0.4.1"
    if a.gen_ips:
        CLIENT_IP, PEER_IP = a.gen_ips.split(",")
    a.build = os.path.abspath(a.build)
    a.servers = [s for s in a.servers.split(",") if s]
    a.cases = [c for c in a.cases.split(",") if c]
    classes = {"icestation": Icestation, "coturn": Coturn, "forwarder": Forwarder}
    if a.icestation_bin:
        Icestation.binary_override = a.icestation_bin
    if "icestation" in a.servers and not os.path.exists(
            a.icestation_bin or os.path.join(a.build, "icestation")):
        log("no icestation binary: skipping it")
        a.servers.remove("icestation")
    raw, t0 = [], time.time()
    certdir = tempfile.mkdtemp(prefix="bench-tls-")
    try:
        TLS_CERT = make_cert(certdir)
        for run in range(1, a.runs + 1):
            for s in a.servers:
                run_server(classes[s], a, run, raw)
                if s == "icestation":
                    for cls, cases in churn_cases(a):
                        run_server(cls, a, run, raw, cases)
            if not a.no_http:
                run_http(a, run, raw)
    finally:
        shutil.rmtree(certdir, ignore_errors=True)
    doc = {"stamp": datetime.datetime.now().strftime("%Y%m%d-%H%M%S"),
           "seconds": round(time.time() - t0, 1), "machine": machine(),
           "config": {"runs": a.runs, "duration_s": a.duration, "warmup_s": a.warmup,
                      "rss_wait_s": a.rss_wait,
                      "workers": a.workers, "big_allocs": a.big,
                      "small_allocs": SMALL_ALLOCS, "servers": a.servers,
                      "pinning": {"server": SERVER_CPU, "loadgen": GEN_CPU}},
           "raw": raw}
    doc["summary"] = report.summarize(raw)
    os.makedirs(a.out, exist_ok=True)
    base = os.path.join(a.out, doc["stamp"])
    with open(base + ".json", "w") as f:
        json.dump(doc, f, indent=1)
    md = report.markdown(doc)
    with open(base + ".md", "w") as f:
        f.write(md)
    for ext, text in ((".json", json.dumps(doc, indent=1)), (".md", md)):
        with open(os.path.join(a.out, "latest" + ext), "w") as f:
            f.write(text)
    print(md)
    log(f"wrote {base}.json and .md in {doc['seconds']}s")
    errors = [r for r in raw if "error" in r or "error" in r.get("result", {})]
    return 1 if errors and not any(r.get("metrics") for r in raw) else 0


if __name__ == "__main__":
    sys.exit(main())
