#!/usr/bin/env python3
"""bench_smoke: one short run of the benchmark driver (bench/bench.py) against
icestation and the bare forwarder, on the smoke ports (listen 23479+500...,
relay 39000-39999, generator on 127.0.3.x / 127.0.4.x). Asserts that the
generator got answers for every case icestation implements and that the
results JSON and markdown are well formed. No timing assertions: the bench is
a benchmark, not a test.

ICESTATION_CASES lists what icestation must answer; add "relay-channel",
"relay-indication", "alloc-cycle" and "relay-10k" when the TURN relay lands.
"""
import json
import os
import subprocess
import sys
import tempfile

ICESTATION_CASES = ["binding"]
FORWARDER_CASES = ["binding", "relay-channel", "relay-10k"]
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main():
    ice = os.environ["ICESTATION_BIN"]
    loadgen = os.environ["LOADGEN_BIN"]
    build = os.path.dirname(os.path.dirname(loadgen))  # BUILD/bench/loadgen
    out = tempfile.mkdtemp(prefix="bench-smoke-")
    cases = sorted(set(ICESTATION_CASES + FORWARDER_CASES))
    cmd = [sys.executable, os.path.join(ROOT, "bench", "bench.py"), "--build", build,
           "--icestation-bin", ice, "--runs", "1", "--duration", "1", "--warmup", "0.2",
           "--big", "200", "--servers", "icestation,forwarder", "--cases", ",".join(cases),
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
            else:
                for w in res.get("windows", []):
                    assert w["received"] > 0 and w["bad"] == 0, f"{srv} {case}: {w}"
                assert res["ready"] == res["allocs"], f"{srv} {case}: {res}"
                assert res["not_released"] == 0, f"{srv} {case}: {res}"
    ice_sum = doc["summary"].get("icestation", {})
    assert ice_sum.get("binding/rate", {}).get("median", 0) > 0, doc["summary"]
    with open(os.path.join(out, "latest.md")) as f:
        md = f.read()
    assert "| STUN Binding, responses/s |" in md, md
    print("bench_smoke: ok", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
