#!/usr/bin/env python3
"""Summarise bench results: median and min-max per (server, metric) over the
runs, and the markdown table with the ratios icestation/coturn and
icestation/floor (the bare forwarder, or the bare evhttp handler for the API).
The flat-cost ratios (10k live allocations vs 64), the bandwidth-limit
ratios (every limit on vs none, issue 18) and the cluster ratios (cluster on
vs off, both under Allocate churn, issue 14) are derived per run, then
summarised like the measured figures.

Usage: bench/report.py bench/results/latest.json   (prints the markdown)
"""
import json
import statistics
import sys

SERVERS = ("icestation", "coturn")
DIRS = (("c2p", "client→peer"), ("p2c", "peer→client"))

# Flat cost (issue 6: CPU per packet at 10k live allocations within 10 % of
# that at 64), per direction, as numerator case / relay-channel 100 B:
#   flat/<dir>/state   relay-flat: 10k live, 64 driven with relay-channel's
#                      pattern. Only the live state differs: the server's own
#                      flat cost.
#   flat/<dir>/spread  relay-10k: traffic over all 10k, one datagram per
#                      allocation in turn. Adds the loss of batching when
#                      traffic is spread over 10k sockets, a property of the
#                      traffic that the bare forwarder shows too.
FLAT = (("state", "relay-flat"), ("spread", "relay-10k"))
SIZES = (100, 1000)
# Client transports of the ChannelData cases (issue 15): UDP is relay-channel.
STREAMS = (("relay-channel-tcp", "TCP"), ("relay-channel-tls", "TLS"))
# On ÷ off ratios of ChannelData CPU per packet, per direction and size, in
# one run: (key, case with the feature on, case without, row label).
#   limits   every bandwidth limit on, none reached ÷ relay-channel (issue 18)
#   cluster  cluster on ÷ off, both servers under the same Allocate churn
#            (issue 14; bench/churn.py)
ON_OFF = (("limits", "relay-channel-limited", "relay-channel", "Bandwidth limits on ÷ off"),
          ("cluster", "relay-channel-cluster", "relay-channel-churn",
           "Cluster on ÷ off under Allocate churn"))


def derive(metrics):
    """Ratios computed within one run of one server, from its flattened metrics."""
    out = {}
    for d, _ in DIRS:
        base = metrics.get(f"relay-channel/{d}/100/cpu_us")
        if base is None or base <= 0:
            continue
        for name, case in FLAT:
            v = metrics.get(f"{case}/{d}/100/cpu_us")
            if v is not None and v > 0:
                out[f"flat/{d}/{name}"] = v / base
    for key, on_case, off_case, _ in ON_OFF:
        for d, _ in DIRS:
            for size in SIZES:
                off = metrics.get(f"{off_case}/{d}/{size}/cpu_us")
                on = metrics.get(f"{on_case}/{d}/{size}/cpu_us")
                if off and on and off > 0 and on > 0:
                    out[f"{key}/{d}/{size}"] = on / off
    return out


def summarize(raw):
    vals = {}
    per_run = {}
    for r in raw:
        for k, v in r.get("metrics", {}).items():
            if v is None or v < 0:
                continue  # -1: not measurable (no CPU reading, nothing received)
            vals.setdefault(r["server"], {}).setdefault(k, []).append(v)
            per_run.setdefault((r["server"], r.get("run")), {})[k] = v
    # Ratios per run, then median (min-max) over the runs like every figure.
    for (srv, _), metrics in per_run.items():
        for k, v in derive(metrics).items():
            vals.setdefault(srv, {}).setdefault(k, []).append(v)
    out = {}
    for srv, metrics in vals.items():
        out[srv] = {k: {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v)}
                    for k, v in metrics.items()}
    return out


def rows():
    r = [("binding/rate", "STUN Binding, responses/s"),
         ("binding/cpu_us", "STUN Binding, server CPU µs/response")]
    ratios = {on_case: (key, label) for key, on_case, _, label in ON_OFF}
    for case, label in (("relay-channel", "ChannelData"),
                        ("relay-channel-limited", "ChannelData, every bandwidth limit on,"),
                        ("relay-channel-churn", "ChannelData under Allocate churn, cluster off,"),
                        ("relay-channel-cluster", "ChannelData under Allocate churn, cluster on,"),
                        ("relay-indication", "Send/Data ind.")):
        if case in ("relay-channel-churn", "relay-channel-cluster"):
            on = "on" if case == "relay-channel-cluster" else "off"
            r.append((f"{case}/churn_per_s", f"Allocate+Refresh(0) cycles/s during ChannelData, "
                      f"cluster {on} (paced churn)"))
            r += [(f"{case}/{role}_cpu_ms_per_s", f"Server CPU ms/s in {what} during ChannelData "
                   f"and churn, cluster {on}")
                  for role, what in (("main", "the main thread (control plane)"),
                                     ("workers", "the workers (relay path)"))]
        for size in SIZES:
            for d, dl in DIRS:
                k = f"{case}/{d}/{size}"
                r += [(f"{k}/pps", f"{label} {size} B {dl}, packets/s"),
                      (f"{k}/cpu_us", f"{label} {size} B {dl}, CPU µs/packet"),
                      (f"{k}/loss", f"{label} {size} B {dl}, loss")]
        if case in ratios:
            key, what = ratios[case]
            r += [(f"{key}/{d}/{size}", f"{what}, ChannelData {size} B {dl}, "
                   "CPU/packet (same run)") for size in SIZES for d, dl in DIRS]
    for case, label in STREAMS:
        for size in SIZES:
            for d, dl in DIRS:
                k = f"{case}/{d}/{size}"
                r += [(f"{k}/pps", f"ChannelData over {label} {size} B {dl}, packets/s"),
                      (f"{k}/cpu_us", f"ChannelData over {label} {size} B {dl}, CPU µs/packet"),
                      (f"{k}/cpu_ms_per_mb", f"ChannelData over {label} {size} B {dl}, "
                       "CPU ms/MB of payload"),
                      (f"{k}/loss", f"ChannelData over {label} {size} B {dl}, loss")]
    for case, where in (("relay-10k", "at 10k allocations, all active"),
                        ("relay-flat", "at 10k live allocations, 64 active")):
        for d, dl in DIRS:
            k = f"{case}/{d}/100"
            r += [(f"{k}/pps", f"ChannelData 100 B {dl} {where}, packets/s"),
                  (f"{k}/cpu_us", f"ChannelData 100 B {dl} {where}, CPU µs/packet"),
                  (f"{k}/loss", f"ChannelData 100 B {dl} {where}, loss")]
    for d, dl in DIRS:
        r += [(f"flat/{d}/state", f"Flat cost {dl}, CPU/packet: 10k live, 64 active "
               "÷ 64 live (same traffic)"),
              (f"flat/{d}/spread", f"Flat cost {dl}, CPU/packet: 10k live, all active "
               "÷ 64 live (traffic over all 10k)")]
    r += [("cycle/rate", "Allocate+Refresh(0) cycles/s (401 round included)"),
          ("cycle/cpu_us", "Allocate+Refresh(0), CPU µs/cycle"),
          ("alloc/setup_allocs_per_s", "10k allocations set up, allocations/s"),
          ("alloc/rss_before_kib", "RSS at start, KiB"),
          ("alloc/rss_held_kib", "RSS at 10k allocations, KiB"),
          ("alloc/rss_per_alloc_kib", "RSS per allocation at 10k, KiB"),
          ("alloc/rss_after_kib", "RSS after releasing them, KiB"),
          ("alloc/rss_after_vs_start", "RSS after release / at start"),
          ("http/rps", "ICE API requests/s (wrk, 32 conns)"),
          ("http/p99_ms", "ICE API p99 latency, ms"),
          ("http/cpu_us", "ICE API server CPU µs/request")]
    return r


def fmt(v):
    if v is None:
        return ""
    a = abs(v)
    if a == 0:
        return "0"
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 0.01:
        return f"{v:.3g}" if a < 1 else f"{v:.2f}"
    return f"{v:.1e}"


def cell(s):
    if not s:
        return "—"
    if s["n"] == 1 or s["min"] == s["max"]:
        return fmt(s["median"])
    return f"{fmt(s['median'])} ({fmt(s['min'])}–{fmt(s['max'])})"


def ratio(a, b):
    if not a or not b or not b["median"]:
        return "—"
    return f"{a['median'] / b['median']:.2f}×"


def errors_by_server(raw):
    errs = {}
    for r in raw:
        e = r.get("error") or r.get("result", {}).get("error")
        if e:
            errs.setdefault(r["server"], set()).add(f"{r['case']}: {str(e).splitlines()[-1][:120]}")
    return errs


def markdown(doc):
    s = doc["summary"]
    m = doc["machine"]
    c = doc["config"]
    lines = [f"### Benchmark {doc['stamp']}", "",
             f"{m['cpu']}, {m['cpus']} CPUs, kernel {m['kernel']}, "
             f"{' '.join(m['coturn'])}, libevent {m['libevent']}, wrk {m['wrk']}. "
             f"{c['runs']} runs × {c['duration_s']} s windows (after {c['warmup_s']} s warm-up), "
             f"workers / relay-threads = {c['workers']}, server on CPU {c['pinning']['server']}, "
             f"load generator on CPU {c['pinning']['loadgen']}. Each cell: median (min–max).",
             "",
             "| metric | icestation | coturn | floor (forwarder / bare evhttp) "
             "| icestation/coturn | icestation/floor |",
             "|---|---|---|---|---|---|"]
    for key, label in rows():
        floor_srv = "evhttp" if key.startswith("http/") else "forwarder"
        ice = s.get("icestation", {}).get(key)
        cot = s.get("coturn", {}).get(key)
        flo = s.get(floor_srv, {}).get(key)
        if not (ice or cot or flo):
            continue
        is_loss = key.endswith("/loss")
        lines.append(f"| {label} | {cell(ice) if ice else 'not measured'} | {cell(cot)} | "
                     f"{cell(flo)} | {'' if is_loss else ratio(ice, cot)} | "
                     f"{'' if is_loss else ratio(ice, flo)} |")
    errs = errors_by_server(doc["raw"])
    if errs:
        lines += ["", "Errors (a missing cell means the case did not complete):", ""]
        for srv, es in sorted(errs.items()):
            for e in sorted(es):
                lines.append(f"- {srv}: {e}")
    if "icestation" not in s:
        lines += ["", "icestation: not measured in this run (binary missing or not started)."]
    return "\n".join(lines) + "\n"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        doc = json.load(f)
    doc["summary"] = summarize(doc["raw"])
    sys.stdout.write(markdown(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
