"""Metrics computed at scrape time, read from a live /metrics (docs/api.md,
"/metrics"): process_resident_memory_bytes, process_open_fds,
process_max_fds and process_cpu_seconds_total agree with what /proc says
about the daemon's PID; icestation_build_info carries the version
`icestation --version` prints; the ICE-API latency histogram counts every
ICE-API request (answered or refused), with cumulative buckets ending in
+Inf = _count and a plausible _sum. Each family is declared once with its
# TYPE. Ports 17050-17059."""

import os
import re
import subprocess
import sys
import time

from icetest import Daemon

HIST = "icestation_http_request_duration_seconds"


def scrape(d):
    status, _, body = d.http("/metrics")
    assert status == 200, status
    return body.decode()


def proc_values(pid):
    with open(f"/proc/{pid}/statm") as f:
        rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/limits") as f:
        maxfds = int(re.search(r"Max open files\s+(\d+)", f.read()).group(1))
    return rss, fds, cpu, maxfds


def check_types(text):
    types = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    names = [n for n, _ in types]
    assert len(names) == len(set(names)), "a family declared twice"
    t = dict(types)
    assert t["process_resident_memory_bytes"] == "gauge"
    assert t["process_open_fds"] == "gauge"
    assert t["process_max_fds"] == "gauge"
    assert t["process_cpu_seconds_total"] == "counter"
    assert t["icestation_build_info"] == "gauge"
    assert t[HIST] == "histogram"


def main():
    binary = os.environ.get("ICESTATION_BIN", "build/icestation")
    version = subprocess.run([binary, "--version"], capture_output=True, text=True,
                             check=True).stdout.strip().split("/", 1)[1]
    with Daemon(http_port=17050, stun_port=17051) as d:
        pid = d.proc.pid
        text = scrape(d)
        check_types(text)
        m = d.metrics()
        rss, fds, cpu, maxfds = proc_values(pid)

        # RSS moves a little between two reads: within 10 % (or 2 MiB).
        got = m["process_resident_memory_bytes"]
        assert abs(got - rss) <= max(rss * 0.1, 2 << 20), (got, rss)
        # Our scrape's own connection comes and goes: within 2.
        assert abs(m["process_open_fds"] - fds) <= 2, (m["process_open_fds"], fds)
        assert m["process_max_fds"] == maxfds, (m["process_max_fds"], maxfds)
        # /proc counts in clock ticks (10 ms); getrusage in microseconds.
        assert 0 < m["process_cpu_seconds_total"] and abs(m["process_cpu_seconds_total"] - cpu) \
            <= 0.1, (m["process_cpu_seconds_total"], cpu)

        builds = re.findall(r'^icestation_build_info\{version="([^"]+)",libevent="[^"]+",'
                            r'openssl="[^"]+"\} 1$', text, re.M)
        assert builds == [version], (builds, version)

        # The histogram counts ICE-API requests, and only those.
        assert m[f"{HIST}_count"] == 0, m
        for _ in range(10):
            d.ice_servers("did:peers:alice")
        d.http("/api/v1/turn/ice-servers?user_did=bad")   # a 400 is timed too
        d.http("/healthz")                                # not an ICE-API request
        cpu_before = m["process_cpu_seconds_total"]
        t0 = time.monotonic()
        while time.monotonic() - t0 < 0.3:  # burn a little CPU in the daemon
            d.http("/metrics")
        m = d.metrics()
        assert m[f"{HIST}_count"] == 11, m[f"{HIST}_count"]
        buckets = [(k, v) for k, v in m.items() if k.startswith(f"{HIST}_bucket")]
        assert len(buckets) == 12 and buckets[-1][0].endswith('le="+Inf"}'), buckets
        vals = [v for _, v in buckets]
        assert vals == sorted(vals) and vals[-1] == 11, buckets
        assert 0 < m[f"{HIST}_sum"] < 11 * 1.0, m[f"{HIST}_sum"]
        assert m["process_cpu_seconds_total"] > cpu_before
    print("process, build and latency metrics agree with /proc and the requests made")
    return 0


if __name__ == "__main__":
    sys.exit(main())
