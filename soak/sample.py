"""Per-second samples of the daemon under soak: what /proc says about the
process (RSS, open fds, threads, CPU) and what /metrics says (allocations,
connections, error counters), plus the load generator's flow counts.
One row per second, written to the CSV as it is taken."""
import csv
import os

# /metrics series summed into the "errors" column: every drop, refusal and
# failure the server counts (the verdicts look at each one separately).
ERROR_PREFIXES = (
    "icestation_stun_dropped_total", "icestation_turn_dropped_total",
    "icestation_turn_auth_failures_total", "icestation_turn_quota_rejected_total",
    "icestation_net_udp_send_errors_total", "icestation_net_udp_receive_errors_total",
    "icestation_net_relay_send_errors_total", "icestation_net_relay_receive_errors_total",
    "icestation_net_tcp_accept_errors_total", "icestation_net_relay_open_failures_total",
    "icestation_http_bad_user_total",
)

COLUMNS = ["t", "phase", "rss_kib", "heap_kib", "fds", "threads", "cpu_pct", "allocations",
           "relay_sockets", "spare_sockets", "tcp_connections", "tls_connections",
           "errors_total", "no_permission", "stale_nonce", "flow_sent", "flow_received",
           "flow_missing", "churn_ops",
           "loadgen_cpu_pct"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid):
    """utime + stime of every thread of pid, in seconds (or None once gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def proc_status(pid):
    """(VmRSS KiB, Threads) or (None, None)."""
    rss = threads = None
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("Threads:"):
                    threads = int(line.split()[1])
    except OSError:
        pass
    return rss, threads


def proc_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def errors_total(m):
    return sum(v for k, v in m.items() if k.startswith(ERROR_PREFIXES))


class Sampler:
    def __init__(self, path, pid, metrics, helpers=()):
        """metrics: a callable returning the parsed /metrics dict; helpers:
        pids of the load processes whose CPU is recorded too."""
        self.f = open(path, "w", newline="")
        self.w = csv.DictWriter(self.f, fieldnames=COLUMNS)
        self.w.writeheader()
        self.pid = pid
        self.metrics = metrics
        self.helpers = list(helpers)
        self.rows = []
        self.last = None  # (wall, daemon cpu, helpers cpu)

    def _cpu(self, now):
        cpu = proc_cpu_s(self.pid)
        hcpu = {p: proc_cpu_s(p) for p in self.helpers}
        pct = hpct = 0.0
        if self.last is not None and cpu is not None and now > self.last[0]:
            pct = 100.0 * (cpu - self.last[1]) / (now - self.last[0])
            # Only helpers alive at both ends: one that exited took its CPU along.
            used = sum(v - self.last[2][p] for p, v in hcpu.items()
                       if v is not None and self.last[2].get(p) is not None)
            hpct = 100.0 * used / (now - self.last[0])
        if cpu is not None:
            self.last = (now, cpu, hcpu)
        return pct, hpct

    def sample(self, t, now, phase, lg=None):
        """One row; lg: the load generator's latest tick (or None)."""
        m = self.metrics()
        rss, threads = proc_status(self.pid)
        pct, hpct = self._cpu(now)
        lg = lg or {}
        c2p, p2c = lg.get("c2p", {}), lg.get("p2c", {})
        row = {
            "t": round(t, 2), "phase": phase, "rss_kib": rss,
            "heap_kib": int(m.get("icestation_process_heap_bytes", 0) // 1024),
            "fds": proc_fds(self.pid),
            "threads": threads, "cpu_pct": round(pct, 1),
            "allocations": int(m.get("icestation_turn_allocations", 0)),
            "relay_sockets": int(m.get("icestation_net_relay_sockets", 0)),
            "spare_sockets": int(m.get("icestation_net_relay_spare_sockets", 0)),
            "tcp_connections": int(m.get("icestation_net_tcp_connections_active", 0)),
            "tls_connections": int(m.get("icestation_net_tls_connections_active", 0)),
            "errors_total": int(errors_total(m)),
            # two counters that must stay 0 or low, seen over time when they do not
            "no_permission": int(m.get('icestation_turn_dropped_total{reason="no_permission"}', 0)),
            "stale_nonce": int(m.get('icestation_turn_auth_failures_total{reason="stale_nonce"}',
                                     0)),
            "flow_sent": c2p.get("sent", 0) + p2c.get("sent", 0),
            "flow_received": c2p.get("received", 0) + p2c.get("received", 0),
            "flow_missing": c2p.get("missing", 0) + p2c.get("missing", 0),
            "churn_ops": lg.get("churn", {}).get("ops", 0),
            "loadgen_cpu_pct": round(hpct, 1),
        }
        self.w.writerow(row)
        self.f.flush()
        self.rows.append(row)
        return row, m

    def close(self):
        self.f.close()
