"""relay-channel-churn and relay-channel-cluster (issue 14): ChannelData
through icestation while Allocate + Refresh(0) cycles run against the same
server, with the cluster off and then on, in the same run. Their ratio says
what the cluster costs the relay path under churn.

Each case starts its own server: the cluster section is restart-only, so it
cannot be toggled by a reload on the bench's usual server. The two servers
differ in the cluster section alone; both have the per-user quotas set
(QUOTAS), so every authenticated Allocate takes the quota path, which with the
cluster on asks Redis (one acquire) and every Refresh(0) writes back (one
release). relay-channel-cluster owns a redis-server of its own: its own port,
a temp dir, no persistence, started before icestation, stopped by PID after.

Both cases run relay-channel's traffic (sizes, pattern, 64 allocations) while
a second generator cycles allocations at a fixed pace (CHURN_RATE per second,
on CHURN_SOCKETS slots): paced, not closed-loop, so both servers get the same
churn however fast each answers. The churn starts first, the traffic once the
churn shows in /metrics, and the churn is stopped (SIGTERM) once the traffic
is done. The case fails (no figures) unless, over the traffic's whole span:

 1. the churn ran throughout (it was still cycling when the traffic ended,
    ended by the signal, not by its time or count bound), at no less than
    0.8 x CHURN_RATE, and every cycle it started succeeded;
 2. /metrics: allocations were created, no Allocate was refused by a quota
    (the quotas are on, never reached);
 3. cluster on: Redis up before and after, and the Allocates asked the
    cluster and Redis answered (icestation_cluster_quota_total{result="ok"});
    cluster off: no Allocate asked a cluster.
The counts are kept in the result as "churn_check", with the server's CPU
over the traffic's span by thread: the main thread (the control plane: the
cluster's Redis client, HTTP, admin) and the workers (ice-net-*: the relay
path, and the churn's Allocates), so a difference between the two cases can
be placed.
"""
import os
import signal
import subprocess
import time

from clusterlib import Redis  # tests/cluster: a test-owned redis-server
from icetest import wait_for
from servers import GEN_CPU, Icestation, pin_all_threads

CHURN_RATE = 200   # Allocate + Refresh(0) cycles started per second
CHURN_SOCKETS = 16
# Set, never reached: a churn user holds at most one churn and one relay
# allocation at a time, and allocates CHURN_RATE / CHURN_SOCKETS times a
# second (750 a minute).
QUOTAS = {"max-allocations-per-user": 8, "allocations-per-minute-per-user": 100000}

CREATED = "icestation_turn_allocations_created_total"
REFUSED = "icestation_turn_quota_rejected_total"
ASKED = 'icestation_turn_cluster_quota_total{result="asked"}'
LOCAL = 'icestation_turn_cluster_quota_total{result="local"}'
TIMEOUT = 'icestation_turn_cluster_quota_total{result="timeout"}'
REDIS_OK = 'icestation_cluster_quota_total{result="ok"}'
DEGRADED = "icestation_cluster_degraded_total"
REDIS_ERRORS = "icestation_cluster_redis_errors_total"
REDIS_UP = "icestation_cluster_redis_up"
WATCH = (CREATED, REFUSED, ASKED, LOCAL, TIMEOUT, REDIS_OK, DEGRADED, REDIS_ERRORS, REDIS_UP)


class Churned(Icestation):
    """The bench's icestation with the per-user quotas on (cluster off)."""
    turn_overrides = QUOTAS


class Clustered(Churned):
    """Churned plus a cluster section on a redis-server it starts itself,
    pinned with the generator (as if on another host): its CPU is not the
    server's. The cluster keys are the documented defaults but for
    key-prefix and node-id."""
    redis_port = 23490  # tests/PORTS.md: bench listen range

    def start(self):
        self.redis = Redis(self.redis_port).start()
        pin_all_threads(self.redis.proc.pid, GEN_CPU)
        self.server_overrides = {"cluster": {
            "enabled": True, "redis": f"redis://127.0.0.1:{self.redis_port}/0",
            "key-prefix": "icestation-bench:", "node-id": "bench", "heartbeat": "1s",
            "node-ttl": "5s", "quota-timeout": "50ms"}}
        try:
            pid = super().start()
            wait_for(lambda: self.counters([REDIS_UP])[REDIS_UP] == 1, 10,
                     what="icestation to reach its Redis")
            return pid
        except Exception:
            self.stop()
            raise

    def stop(self):
        try:
            super().stop()
        finally:
            if getattr(self, "redis", None):
                self.redis.cleanup()
                self.redis = None


CASES = (("relay-channel-churn", Churned), ("relay-channel-cluster", Clustered))


def thread_cpu_ms(pid):
    """{"main": ms, "workers": ms, "other": ms}: CPU (utime+stime) of pid's
    threads so far, by role."""
    out = {"main": 0.0, "workers": 0.0, "other": 0.0}
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                st = f.read()
        except OSError:
            continue  # a thread that ended meanwhile
        comm = st[st.index("(") + 1:st.rindex(")")]
        fields = st[st.rindex(")") + 2:].split()
        role = ("main" if int(tid) == pid else
                "workers" if comm.startswith("ice-net-") else "other")
        out[role] += (int(fields[11]) + int(fields[12])) * tick_ms
    return out


def churn_args(duration):
    """alloc-cycle arguments: paced, bounded by duration seconds and by the
    cycles that pace allows in it."""
    return ["--sockets", str(CHURN_SOCKETS), "--churn-rate", str(CHURN_RATE),
            "--cycles", str(int(CHURN_RATE * duration)), "--duration", str(duration),
            "--warmup", "0", "--timeout", "10",
            # Its unused peer socket away from the traffic's (23000-23007).
            "--peers", "1", "--peer-port", "23100"]


def checks(srv, delta, after, churn):
    """The list of failed checks (module doc) for these counter deltas."""
    errors = []
    if churn.get("ended") != "signal":
        errors.append(f"the churn did not last the whole traffic: ended by {churn.get('ended')}")
    if churn.get("cycles_per_s", 0) < 0.8 * CHURN_RATE:
        errors.append(f"the churn fell behind: {churn.get('cycles_per_s')} cycles/s")
    if churn.get("failed") or set(churn.get("errors") or {}) - {"401"}:
        errors.append(f"churn cycles failed: {churn.get('failed')} {churn.get('errors')}")
    if delta[CREATED] <= 0 or delta[REFUSED]:
        errors.append(f"allocations created {delta[CREATED]}, refused by a quota {delta[REFUSED]}")
    if isinstance(srv, Clustered):
        if after[REDIS_UP] != 1 or delta[ASKED] <= 0 or delta[REDIS_OK] <= 0:
            errors.append(f"the cluster was not asked: redis_up {after[REDIS_UP]}, asked "
                          f"{delta[ASKED]}, answered ok {delta[REDIS_OK]}")
    elif delta[ASKED] or delta[REDIS_OK]:
        errors.append(f"a cluster was asked with the cluster off: {delta}")
    return errors


def run(srv, measure, churn_cmd, parse):
    """Start churn_cmd (the paced alloc-cycle), run measure() (the relay
    result) once the churn shows, stop the churn. Returns measure()'s result
    with "churn_check", and "error" when a check failed."""
    start = srv.counters(WATCH)
    proc = subprocess.Popen(churn_cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res = None
    try:
        wait_for(lambda: proc.poll() is not None or srv.counters([CREATED])[CREATED]
                 >= start[CREATED] + CHURN_SOCKETS, 10, what="the churn to start")
        if proc.poll() is None:
            before, cpu0, t0 = srv.counters(WATCH), thread_cpu_ms(srv.d.proc.pid), time.time()
            res = measure()
            after, cpu1, t1 = srv.counters(WATCH), thread_cpu_ms(srv.d.proc.pid), time.time()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    churn = parse(proc.returncode, out, err)
    if res is None:
        raise RuntimeError(f"the churn ended before the traffic began: {churn}")
    delta = {k: after[k] - before[k] for k in WATCH if k != REDIS_UP}
    res["churn_check"] = {"churn": churn, "during_traffic": delta, "redis_up": after[REDIS_UP],
                          "seconds": t1 - t0,
                          "thread_cpu_ms_per_s": {k: (cpu1[k] - cpu0[k]) / (t1 - t0)
                                                  for k in cpu0}}
    errors = checks(srv, delta, after, churn)
    if errors and "error" not in res:
        res["error"] = "churn check: " + "; ".join(errors)
    return res
