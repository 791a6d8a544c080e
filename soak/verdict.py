"""The soak's verdicts (docs/reliability.md says what each means) and its
markdown summary. A verdict is {"name", "ok": True | False | None, "detail"};
None means "not run" and says why (a phase whose feature is absent)."""


def verdict(name, ok, detail):
    return {"name": name, "ok": ok, "detail": detail}


def _fit(ts, ys):
    """Least-squares slope of ys over ts."""
    n = len(ts)
    mt, my = sum(ts) / n, sum(ys) / n
    den = sum((t - mt) ** 2 for t in ts)
    return 0.0 if den == 0 else sum((t - mt) * (y - my) for t, y in zip(ts, ys)) / den


def memory_slope(rows, key="rss_kib", what="RSS"):
    """Memory over the second half of the load must not drift by more than
    1 % of the first half's mean: |slope x second-half length| <= 1 % x mean."""
    name = f"{what} slope"
    pts = [(r["t"], r[key]) for r in rows if r[key]]
    if len(pts) < 20:
        return verdict(name, False, f"only {len(pts)} samples under load")
    t0, t1 = pts[0][0], pts[-1][0]
    mid = (t0 + t1) / 2
    first = [y for t, y in pts if t < mid]
    second = [(t, y) for t, y in pts if t >= mid]
    mean1 = sum(first) / len(first)
    slope = _fit([t for t, _ in second], [y for _, y in second])
    drift = slope * (t1 - mid)
    ok = abs(drift) <= 0.01 * mean1
    return verdict(name, ok,
                   f"second half {slope:+.3f} KiB/s over {t1 - mid:.0f} s = {drift:+.0f} KiB; "
                   f"limit ±{0.01 * mean1:.0f} KiB (1 % of the first half's mean "
                   f"{mean1:.0f} KiB)")


def back_to_baseline(name, base, end):
    return verdict(name, end == base, f"baseline {base}, after the churn stopped {end}")


def no_crash(alive, exit_code):
    ok = alive and exit_code == 0
    return verdict("0 crashes", ok, ("alive at every sample" if alive else "DIED during the run")
                   + f"; exit code {exit_code} at the end (drain, or SIGTERM)")


def no_sanitizer_report(asan, sanitizer):
    if not asan:
        return verdict("0 sanitizer reports", None,
                       "not applicable: the binary is not instrumented (release build); the "
                       "ASan smoke (soak_smoke_asan) judges this one")
    detail = f"{len(sanitizer)} report line(s) in the daemon's log (ASan+UBSan, LeakSanitizer " \
             "at exit)"
    if sanitizer:
        detail += "; first: " + sanitizer[0][:200]
    return verdict("0 sanitizer reports", not sanitizer, detail)


def relay_loss(lg, streams):
    out = []
    for d in ("c2p", "p2c"):
        x = lg[d]
        lost = x["sent"] - x["received"]
        out.append(verdict(f"relay loss {d}", lost == 0 and x["missing"] == 0,
                           f"sent {x['sent']}, received {x['received']}, lost {lost}, "
                           f"gaps {x['missing']}, late {x['late']}"))
    ok = lg["flow_bad"] == 0 and lg["flow_errors"] == 0
    out.append(verdict("steady flows intact", ok,
                       f"{lg['flow_bad']} foreign arrivals, {lg['flow_errors']} failed renewals, "
                       f"{lg['flow_renewals']} renewals"))
    s_lost = streams["slow_sent"] - streams["slow_received"]
    out.append(verdict("slow readers served", s_lost == 0 and streams["slow_sent"] > 0,
                       f"sent {streams['slow_sent']}, received {streams['slow_received']}"))
    return out


def _m(before, after, key):
    return after.get(key, 0.0) - before.get(key, 0.0)


def intended_failures(before, after, lg, streams):
    """Every failure the drivers caused on purpose, counted under its reason:
    (what, metric, how many the driver caused, exact or at least)."""
    fl = lg["flood"]
    checks = [
        ("flood: not STUN", 'icestation_stun_dropped_total{reason="not_stun"}',
         fl["not_stun"]["sent"], "=="),
        ("flood: malformed STUN", 'icestation_stun_dropped_total{reason="malformed"}',
         fl["malformed"]["sent"], "=="),
        ("flood: over-long datagram", 'icestation_stun_dropped_total{reason="truncated"}',
         fl["truncated"]["sent"], "=="),
        ("flood: ChannelData without allocation",
         'icestation_turn_dropped_total{reason="no_allocation"}',
         fl["no_allocation"]["sent"], "=="),
        ("flood: wrong key", 'icestation_turn_auth_failures_total{reason="bad_integrity"}',
         fl["bad_integrity"]["sent"], "=="),
        ("flood: expired username",
         'icestation_turn_auth_failures_total{reason="expired_username"}',
         fl["expired_username"]["sent"], "=="),
        ("flood: nonce never minted", 'icestation_turn_auth_failures_total{reason="bad_nonce"}',
         fl["bad_nonce"]["sent"], "=="),
        ("flood: no credentials (churn's first Allocates too)",
         'icestation_turn_auth_failures_total{reason="no_credentials"}',
         fl["no_credentials"]["sent"] + fl["nonce_fetches"], ">="),
        ("abandoned allocations expired",
         'icestation_turn_allocations_ended_total{reason="expired"}',
         lg["churn"]["abandoned"], "=="),
        ("TCP/TLS allocations ended by their connection",
         'icestation_turn_allocations_ended_total{reason="connection_closed"}',
         streams["tcp_allocations"], "=="),
        ("stuck readers closed for backpressure",
         'icestation_net_tcp_connections_total{result="closed_backpressure"}',
         streams["stuck"], "=="),
        ("garbage TLS handshakes", 'icestation_net_tls_handshakes_total{result="failed"}',
         streams["tls_garbage"], "=="),
        ("ICE API bad user_did", "icestation_http_bad_user_total", streams["api_bad"], "=="),
        ("nothing rate limited", 'icestation_stun_dropped_total{reason="rate_limited"}', 0, "=="),
        # Flows renew their permissions; only a stuck reader's peer may still
        # send after its allocation ended, and only until it sees the close.
        ("for want of a permission: at most the stuck peers' late datagrams",
         'icestation_turn_dropped_total{reason="no_permission"}', streams["stuck_late"], "<="),
    ]
    out = []
    for what, key, want, op in checks:
        got = _m(before, after, key)
        ok = {"==": got == want, ">=": got >= want, "<=": got <= want}[op]
        out.append(verdict(f"counted: {what}", ok,
                           f"{key} rose by {got:.0f}; the driver caused {want} ({op})"))
    answered = sum(fl[k]["answered_401"] for k in
                   ("no_credentials", "bad_integrity", "expired_username", "bad_nonce"))
    asked = sum(fl[k]["sent"] for k in
                ("no_credentials", "bad_integrity", "expired_username", "bad_nonce"))
    other = sum(fl[k]["other"] for k in fl if isinstance(fl[k], dict))
    out.append(verdict("counted: every bad request answered 401 (438 for a nonce never minted)",
                       answered == asked and other == 0,
                       f"{answered} of {asked} answered 401 or 438, {other} other answers"))
    return out


def no_unintended(lg, released, streams):
    errs = lg.get("errors", {})
    ok = not errs and lg["churn"]["failed"] == 0 and released["not_released"] == 0 \
        and streams["unexpected"] == 0
    return verdict("no unintended failure", ok,
                   f"load generator errors {errs or 'none'}, {lg['churn']['failed']} churn "
                   f"failures, {released['not_released']} of {released['held']} not released, "
                   f"{streams['unexpected']} stream-side errors"
                   + (f" (first: {streams['errors'][0]})" if streams.get("errors") else ""))


def markdown(title, meta, verdicts, rates, plot_name):
    lines = [f"# {title}", ""]
    lines += [f"- {k}: {v}" for k, v in meta.items()]
    failed = [v for v in verdicts if v["ok"] is False]
    lines += ["", f"**Result: {'PASS' if not failed else 'FAIL'}** "
              f"({sum(v['ok'] is True for v in verdicts)} met, {len(failed)} failed, "
              f"{sum(v['ok'] is None for v in verdicts)} not run)", "",
              "| verdict | result | detail |", "|---|---|---|"]
    for v in verdicts:
        res = {True: "met", False: "**FAILED**", None: "not run"}[v["ok"]]
        lines.append(f"| {v['name']} | {res} | {v['detail']} |")
    lines += ["", "## Load driven", "", "| activity | rate |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rates.items()]
    if plot_name:
        lines += ["", f"![RSS, fds, allocations and CPU over time]({plot_name})"]
    return "\n".join(lines) + "\n"
