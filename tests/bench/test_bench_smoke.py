#!/usr/bin/env python3
"""bench_smoke: one short run of the benchmark driver (bench/bench.py) against
icestation and the bare forwarder, on the smoke ports (listen 23479+500...,
relay 39000-39999, generator on 127.0.3.x / 127.0.4.x), 1-second windows and
small counts (64 relayed allocations, 200 for the "10k" cases). Asserts that
every case got answers with nothing malformed: Binding, ChannelData and
Send/Data relay both ways, Allocate + Refresh(0) cycles, the hold/release
case with every allocation set up and released, the flat-cost case (200
held, traffic through the first 64 only: an arrival on any other counts as
malformed); and that the results JSON, the derived flat-cost ratios and the
markdown are well formed. The ChannelData cases over TCP and TLS clients
(the TLS one verifying the bench's own certificate) relay both ways with no
connection lost; the bandwidth-limit case ran with every limit in force
(checked by --print-config, /metrics and a budget probe, bench/limits.py)
and its on/off ratios are derived; the churn cases (bench/churn.py) relayed
under paced Allocate churn with the cluster off and on (the latter on its
own redis-server, port 23990), the churn lasting the whole traffic and, with
the cluster on, Redis answering the Allocates' quota requests meanwhile,
and their on/off ratios are derived. No timing assertions: the bench is a
benchmark, not a test.
"""
import json
import os
import subprocess
import sys
import tempfile

ICESTATION_CASES = ["binding", "relay-channel", "relay-indication", "alloc-cycle", "relay-10k",
                    "relay-flat", "relay-channel-limited", "relay-channel-tcp", "relay-channel-tls",
                    "relay-channel-churn", "relay-channel-cluster"]
STREAM_CASES = {"relay-channel-tcp": "tcp", "relay-channel-tls": "tls"}
FORWARDER_CASES = ["binding", "relay-channel", "relay-10k", "relay-flat"]
BIG = 200
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def check_limits(check):
    """relay-channel-limited ran with the limits in force (bench/limits.py):
    every key as set, nothing dropped, paused or refused, the budget probe
    refused with 486 (so the relay path charged the users' bytes)."""
    assert set(check["print_config"]) == {"max-bps-per-allocation", "max-bps-per-user",
                                          "max-bytes-per-user-per-day", "budget-floor-bps",
                                          "bps-capacity"}, check
    assert all(v > 0 for v in check["print_config"].values()), check
    assert not any(check["counters"].values()), check
    assert check["probe"]["ready"] == 0 and "486" in check["probe"]["errors"], check


def check_churn(case, check):
    """A churn case ran as bench/churn.py requires: the churn was still
    cycling when the traffic ended and no cycle failed; no quota refused an
    Allocate; with the cluster on, Redis was up and answered every
    Allocate's quota request (none asked with it off)."""
    churn, delta = check["churn"], check["during_traffic"]
    assert churn["ended"] == "signal" and churn["cycles"] > 0 and churn["failed"] == 0, check
    assert delta["icestation_turn_allocations_created_total"] > 0, check
    assert delta["icestation_turn_quota_rejected_total"] == 0, check
    asked = delta['icestation_turn_cluster_quota_total{result="asked"}']
    ok = delta['icestation_cluster_quota_total{result="ok"}']
    if case == "relay-channel-cluster":
        assert check["redis_up"] == 1 and asked > 0 and ok > 0, check
    else:
        assert check["redis_up"] == 0 and asked == 0 and ok == 0, check


def main():
    ice = os.environ["ICESTATION_BIN"]
    loadgen = os.environ["LOADGEN_BIN"]
    build = os.path.dirname(os.path.dirname(loadgen))  # BUILD/bench/loadgen
    out = tempfile.mkdtemp(prefix="bench-smoke-")
    cases = sorted(set(ICESTATION_CASES + FORWARDER_CASES))
    cmd = [sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--build", build,
           "--icestation-bin", ice, "--runs", "1", "--duration", "1", "--warmup", "0.2",
           "--rss-wait", "0.2",
           "--big", str(BIG), "--servers", "icestation,forwarder", "--cases", ",".join(cases),
           "--no-http", "--port-offset", "500", "--relay-ports", "39000-39999", "--out", out]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    sys.stderr.write(p.stderr)
    assert p.returncode == 0, f"bench.py exited {p.returncode}"
    with open(os.path.join(out, "latest.json")) as f:
        doc = json.load(f)
    for key in ("stamp", "machine", "config", "raw", "summary"):
        assert key in doc, f"results JSON lacks {key}"
    by = {(r["server"], r["case"]): r for r in doc["raw"]}
    for srv, want in (("icestation", ICESTATION_CASES), ("forwarder", FORWARDER_CASES)):
        for case in want:
            r = by.get((srv, case))
            assert r is not None, f"{srv} {case}: no result"
            res = r.get("result", {})
            assert "error" not in res and "error" not in r, f"{srv} {case}: {r}"
            assert r["metrics"], f"{srv} {case}: no metrics"
            if case == "binding":
                assert res["responses"] > 0 and res["bad"] == 0, f"{srv} binding: {res}"
            elif case == "alloc-cycle":
                assert res["cycles"] > 0 and res["failed"] == 0, f"{srv} alloc-cycle: {res}"
                assert not res["errors"] or set(res["errors"]) == {"401"}, res
            else:
                assert res.get("windows"), f"{srv} {case}: no relay windows: {res}"
                for w in res.get("windows", []):
                    assert w["received"] > 0 and w["bad"] == 0, f"{srv} {case}: {w}"
                assert res["ready"] == res["allocs"], f"{srv} {case}: {res}"
                assert res["not_released"] == 0, f"{srv} {case}: {res}"
                want_active = 64 if case == "relay-flat" else res["allocs"]
                assert res["active"] == want_active, f"{srv} {case}: {res}"
                if case in ("relay-10k", "relay-flat"):
                    assert res["allocs"] == BIG, f"{srv} {case}: {res}"
                if case in STREAM_CASES:
                    assert res["transport"] == STREAM_CASES[case], f"{case}: {res}"
                    assert res["conn_closed"] == 0, f"{case}: {res}"
                    # The generator verified the bench certificate to get here.
                    assert (case == "relay-channel-tls") == ("tls_version" in res), res
                if case == "relay-channel-limited":
                    check_limits(res["limits_check"])
                if case in ("relay-channel-churn", "relay-channel-cluster"):
                    check_churn(case, res["churn_check"])
                if case == "relay-flat":  # RSS rows come from relay-10k alone
                    assert not any(k.startswith("alloc/") for k in r["metrics"]), r["metrics"]
                    assert {(w["dir"], w["size"]) for w in res["windows"]} == {
                        ("c2p", 100), ("p2c", 100)}, f"{srv} {case}: {res}"
    ice_sum = doc["summary"].get("icestation", {})
    for key in ("relay-channel-tcp/c2p/100/cpu_ms_per_mb", "relay-channel-tls/p2c/1000/cpu_ms_per_mb",
                "relay-channel-limited/c2p/1000/cpu_us", "limits/c2p/100", "limits/p2c/1000",
                "relay-channel-cluster/p2c/100/cpu_us", "cluster/c2p/100", "cluster/p2c/1000",
                "binding/rate", "relay-channel/c2p/100/pps", "relay-channel/p2c/1000/pps",
                "relay-indication/c2p/100/pps", "relay-indication/p2c/1000/pps", "cycle/rate",
                "alloc/rss_per_alloc_kib", "relay-flat/c2p/100/pps", "relay-flat/p2c/100/pps"):
        assert ice_sum.get(key, {}).get("median", 0) > 0, (key, doc["summary"])
    # The flat-cost ratios exist for every server that has the CPU figures
    # (no value asserted: 2 s windows on a shared box say nothing about it).
    for srv in ("icestation", "forwarder"):
        for d in ("c2p", "p2c"):
            for name in ("state", "spread"):
                s = doc["summary"].get(srv, {}).get(f"flat/{d}/{name}")
                assert s and s["median"] > 0 and s["n"] == 1, (srv, d, name, doc["summary"])
    with open(os.path.join(out, "latest.md")) as f:
        md = f.read()
    assert "| STUN Binding, responses/s |" in md, md
    assert "| ChannelData 100 B client→peer at 10k live allocations, 64 active, CPU µs/packet |" \
        in md, md
    assert "| Flat cost peer→client, CPU/packet: 10k live, 64 active ÷ 64 live" in md, md
    assert "| Bandwidth limits on ÷ off, ChannelData 100 B client→peer, CPU/packet" in md, md
    assert ("| Cluster on ÷ off under Allocate churn, ChannelData 1000 B peer→client, "
            "CPU/packet") in md, md
    assert "| ChannelData over TLS 1000 B peer→client, CPU ms/MB of payload |" in md, md
    print("bench_smoke: ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
