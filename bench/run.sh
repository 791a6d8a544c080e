#!/usr/bin/env bash
# `make bench`: build the benchmark tools in the given build dir, then run the
# side-by-side benchmark (icestation, coturn, the bare forwarder; the ICE API
# against a bare evhttp handler). Results: bench/results/<stamp>.{json,md}
# and bench/results/latest.{json,md}. Extra arguments go to bench/bench.py
# (e.g. --runs 1 --duration 2, --workers 2, --servers coturn,forwarder).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
shift || true
cmake --build "$build" -j"$(nproc)" --target icestation loadgen forwarder httpbase
if [ "$(nproc)" -lt 2 ]; then
	echo "bench: needs 2 CPUs (server pinned to CPU 0, load generator to CPU 1)" >&2
	exit 1
fi
exec /usr/bin/python3 bench/bench.py --build "$build" "$@"
