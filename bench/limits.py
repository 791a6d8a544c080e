"""relay-channel-limited (issue 18): ChannelData through icestation with every
bandwidth limit configured and none reached, beside relay-channel (no limits)
on the same server process in the same run.

The case turns the limits on by a reload before its allocations are made (a
user's per-user record and daily budget are attached when its first
allocation is), runs the same traffic as relay-channel, and turns them off
again by a reload. It checks, and records in the result as "limits_check",
that the limits were really in force:

 1. `icestation --print-config` on the tree the daemon reloaded shows every
    key at the value set;
 2. the generator's highest per-allocation bit rate stayed under a tenth of
    max-bps-per-allocation (so "not reached" holds by a margin);
 3. /metrics: no packet dropped or stream paused by a bandwidth limit, no
    allocation throttled, no Allocate refused by the budget or capacity
    during the measured traffic;
 4. a positive control: the daily budget is then lowered to 1 byte by a
    reload, and an Allocate by the first user of the case (bench0) must get
    486. That user's record only holds bytes if the relay path charged them
    while the limits were on: with the limits inert the Allocate would
    succeed.

Any failed check turns the case into an error: its figures are not reported
as "limits on".
"""

# Far above what the generator drives (about 40 Mbit/s per allocation at the
# highest rates seen on the bench box; every allocation is its own user).
LIMITS = {
    "max-bps-per-allocation": 1_000_000_000,
    "max-bps-per-user": 2_000_000_000,
    "max-bytes-per-user-per-day": 1_000_000_000_000,
    "budget-floor-bps": 1_000_000,
    "bps-capacity": 100_000_000_000,
}
# Every sample that counts a bandwidth limit at work.
ZERO_METRICS = ("icestation_turn_bandwidth_dropped_packets_total",
                "icestation_turn_bandwidth_stream_waits_total",
                "icestation_turn_bandwidth_throttled_allocations",
                'icestation_turn_quota_rejected_total{kind="daily_budget"}',
                'icestation_turn_quota_rejected_total{kind="bps_capacity"}')


def printed_limits(text):
    """{key: int} of the bandwidth keys in --print-config output."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.strip().partition(":")
        if k in LIMITS:
            out[k] = int(v.strip())
    return out


def peak_alloc_bps(res):
    """Highest bit rate one allocation carried in a window (ChannelData header
    included), from the generator's packet rate over the allocations driven."""
    active = res.get("active") or res.get("allocs") or 1
    return max((w["pps"] * (w["size"] + 4) * 8 / active for w in res.get("windows", [])),
               default=0)


def run(srv, measure, probe):
    """Run measure() (the generator's relay result) with the limits on, then
    the checks above with probe() (an alloc-hold of one allocation as
    bench0). Returns measure()'s result with "limits_check", and "error" when
    a check failed."""
    check = {"generation": srv.reload(LIMITS)}
    errors = []
    try:
        check["print_config"] = printed_limits(srv.print_config())
        if check["print_config"] != LIMITS:
            errors.append(f"--print-config shows {check['print_config']}, set {LIMITS}")
        before = srv.counters(ZERO_METRICS)
        res = measure()
        after = srv.counters(ZERO_METRICS)
        check["counters"] = {k: after[k] - before[k] for k in ZERO_METRICS}
        if any(check["counters"].values()):
            errors.append(f"a limit was reached: {check['counters']}")
        check["peak_alloc_bps"] = peak_alloc_bps(res)
        if check["peak_alloc_bps"] * 10 > LIMITS["max-bps-per-allocation"]:
            errors.append(f"traffic within 10x of the limit: {check['peak_alloc_bps']:.0f} bit/s")
        srv.reload({"max-bytes-per-user-per-day": 1})
        p = probe()
        check["probe"] = {"ready": p.get("ready"), "errors": p.get("errors")}
        if p.get("ready") != 0 or "486" not in (p.get("errors") or {}):
            errors.append(f"budget probe not refused with 486: {check['probe']}")
    finally:
        srv.reload({k: None for k in LIMITS})
    res["limits_check"] = check
    if errors and "error" not in res:
        res["error"] = "limits check: " + "; ".join(errors)
    return res
