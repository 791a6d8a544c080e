#!/usr/bin/env python3
"""Fault: SIGKILL under load, then a restart on the same configuration.

bench/loadgen relays ChannelData through 64 allocations of a 2-worker daemon
while 3 TCP clients hold allocations too; the daemon is killed with SIGKILL
mid-flow and started again at once. The new daemon must come up (its UDP,
TCP and relay sockets bind although the old ones died with connections and
traffic in flight) and serve: a new client allocates and relays; the old
clients' ChannelData, still arriving, is dropped and counted
(icestation_turn_dropped_total{reason="no_allocation"}); an old client's
Refresh is answered 437; every relay port of the range can be allocated
again (the dead process held none). Then fds and heap come back.

Socket activation (issue 11): with it, no connection may be refused in the
gap between kill and restart. That check is not written yet; the test
probes whether the daemon imports sd_listen_fds and says which case it is.
Ports 15060-15069 (loadgen clients 15100-15199, peers 15300-15307), relays
15610-15699."""
import os
import signal
import subprocess
import sys
import time

from faultlib import SECRET, Served, back_to_baseline, baseline, creds, daemon, run
from icetest import wait_for
from turnclient import TurnClient, TurnError

HTTP, PORT = 15060, 15061
RELAYS = "15610-15699"


def start(workers=2):
    d = daemon(HTTP, PORT, RELAYS, workers=workers)
    return d.start()


def loadgen(d, mode, duration, allocs, port):
    return subprocess.Popen(
        [os.environ["LOADGEN_BIN"], mode, "--server", f"127.0.0.1:{PORT}",
         "--pid", str(d.proc.pid), "--secret", SECRET, "--duration", str(duration),
         "--warmup", "0.2", "--allocs", str(allocs), "--sizes", "100", "--dir", "c2p",
         "--client-ip", "127.0.10.1", "--client-port", str(port), "--client-ports", "50",
         "--peer-ip", "127.0.11.1", "--peer-port", "15300", "--peers", "8",
         "--window", "64", "--timeout", "20"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def socket_activation(binary):
    """The hook for issue 11: probe whether the daemon can take its sockets
    from systemd (it would import sd_listen_fds)."""
    out = subprocess.run(["nm", "-D", "--undefined-only", binary], capture_output=True,
                         text=True, timeout=30).stdout
    if "sd_listen_fds" not in out:
        print("socket activation: not run: feature absent (the daemon does not call "
              "sd_listen_fds; issue 11)", flush=True)
        return
    # Issue 11 landed while this test was written: tests/live covers socket
    # activation itself; the no-refusal-in-the-gap check under SIGKILL is
    # still to be written here (systemd-socket-activate -l ... in front).
    print("socket activation: present; not run: the SIGKILL gap check is not written yet",
          flush=True)


def sigkill():
    d = start()
    lg = None
    old = []
    try:
        lg = loadgen(d, "relay", 8, 64, 15100)
        wait_for(lambda: d.metric('icestation_net_relay_datagrams_total{direction="tx"}') > 5000,
                 20, what="relayed traffic under way")
        for i in range(3):
            name, pw = creds(f"did:peers:old{i}")
            c = TurnClient(("127.0.0.1", PORT), name, pw, "tcp" if i else "udp")
            c.allocate()
            old.append(c)
        os.kill(d.proc.pid, signal.SIGKILL)
        d.proc.wait(timeout=10)
        assert d.proc.returncode == -signal.SIGKILL
        d.kill()
        d.cleanup()
        t0 = time.monotonic()
        d = start()
        print(f"restarted and ready in {time.monotonic() - t0:.2f} s", flush=True)
        base = baseline(d)
        # The old load generator's ChannelData reaches a daemon that never
        # heard of its allocations: dropped and counted.
        wait_for(lambda: d.metric('icestation_turn_dropped_total{reason="no_allocation"}') > 0,
                 10, what="old clients' ChannelData counted as no_allocation")
        try:
            old[0].refresh(600)
            raise AssertionError("an allocation survived SIGKILL")
        except TurnError as e:
            assert e.code == 437, f"old client's Refresh answered {e.code}, not 437"
        bystander = Served(PORT)
        bystander.round_trip()
        lg.wait(timeout=60)
        # Every port of the range but the bystander's can be allocated again.
        held = loadgen(d, "alloc-hold", 1, 89, 15150)
        out, err = held.communicate(timeout=120)
        assert held.returncode == 0, f"alloc-hold failed: {out} {err}"
        assert '"ready":89' in out and '"not_released":0' in out, out
        bystander.round_trip()
        bystander.close()
        for c in old:
            c.close()
        wait_for(lambda: d.metric("icestation_net_tcp_connections_active") == 0, 10,
                 what="old TCP clients gone")
        back_to_baseline(d, base)
        socket_activation(d.binary)
        d.stop()
    finally:
        if lg is not None and lg.poll() is None:
            lg.kill()
            lg.wait()
        d.kill()
        d.cleanup()


if __name__ == "__main__":
    sys.exit(run([sigkill]))
