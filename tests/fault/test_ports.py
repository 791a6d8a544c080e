#!/usr/bin/env python3
"""Fault: the relay port range is exhausted. A range of 8 ports (too few for
spares: fewer than 16 per worker) is filled by 8 allocations; 20 more
Allocates from other clients are each answered 508 and counted
(icestation_turn_responses_total{code="508"} and
icestation_net_relay_open_failures_total{reason="ports_exhausted"}) while
the 8 keep relaying both ways, Binding is answered and the ICE API serves.
Freeing one port lets the next Allocate in; releasing all brings fds and
memory back to the baseline. Ports 15000-15009, relays 15500-15507."""
import sys

from faultlib import Served, back_to_baseline, baseline, binding_ok, creds, daemon, run
from turnclient import TurnClient, TurnError

HTTP, PORT = 15000, 15001
RANGE = (15500, 15507)


def ports_exhausted():
    with daemon(HTTP, PORT, f"{RANGE[0]}-{RANGE[1]}") as d:
        base = baseline(d)
        held = [Served(PORT, user=f"did:peers:holder{i}") for i in range(8)]
        try:
            got = sorted(s.c.relayed[1] for s in held)
            assert got == list(range(RANGE[0], RANGE[1] + 1)), got
            refused = []
            for i in range(20):
                name, pw = creds(f"did:peers:late{i}")
                c = TurnClient(("127.0.0.1", PORT), name, pw)
                try:
                    c.allocate()
                    raise AssertionError("an Allocate got a relay port from a full range")
                except TurnError as e:
                    assert e.code == 508, f"expected 508, got {e.code}"
                    refused.append(c)
                # others keep being served in the middle of the refusals
                held[i % 8].round_trip()
            assert d.metric('icestation_turn_responses_total{code="508"}') == 20
            assert d.metric('icestation_net_relay_open_failures_total{reason="ports_exhausted"}') \
                == 20
            binding_ok(PORT)
            assert d.ice_servers("did:peers:api")["ice_servers"], "ICE API down"
            # one port freed: the next Allocate gets exactly that port
            freed = held[3].c.relayed[1]
            held.pop(3).close()
            refused[0].allocate()
            assert refused[0].relayed[1] == freed, (refused[0].relayed, freed)
            refused[0].refresh(0)
            for c in refused:
                c.close()
            for s in held:
                s.round_trip()
        finally:
            for s in held:
                s.close()
        assert d.metric("icestation_turn_allocations") == 0
        back_to_baseline(d, base)


if __name__ == "__main__":
    sys.exit(run([ports_exhausted]))
