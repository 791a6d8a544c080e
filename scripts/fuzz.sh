#!/bin/sh
# Run every libFuzzer target in BUILD_DIR/fuzz for SECONDS in total (split
# evenly), each on a scratch copy of its seed corpus so the repository's
# corpus stays as committed. Exits non-zero if a target is missing, crashes,
# or finds a leak/timeout; crash inputs are kept in BUILD_DIR/fuzz-artifacts.
#
#   scripts/fuzz.sh build-fuzz 300
set -u

usage() { echo "usage: $0 BUILD_DIR SECONDS" >&2; exit 2; }
[ $# -eq 2 ] || usage
build=$1
total=$2
case $total in ''|*[!0-9]*) usage ;; esac

src=$(cd "$(dirname "$0")/.." && pwd)
fuzzdir=$build/fuzz
targets=$(find "$fuzzdir" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
if [ -z "$targets" ]; then
	echo "fuzz.sh: no fuzz targets in $fuzzdir." >&2
	echo "fuzz.sh: build them first: make fuzz-build  (CC=clang cmake -S . -B $build -DICESTATION_FUZZ=ON && cmake --build $build)" >&2
	exit 1
fi
count=$(echo "$targets" | wc -l)
per=$((total / count))
[ "$per" -ge 1 ] || per=1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/icestation-fuzz.XXXXXX") || exit 1
trap 'rm -rf "$scratch"' EXIT INT TERM
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# UBSan reports must abort so libFuzzer counts them as crashes.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"

failed=""
for bin in $targets; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	family=${short%%_*}
	corpus=$scratch/$name
	mkdir -p "$corpus"
	# Seeds: fuzz/corpus/<short> (e.g. channeldata), else fuzz/corpus/<family> (stun_parse -> stun).
	for d in "$src/fuzz/corpus/$short" "$src/fuzz/corpus/$family"; do
		if [ -d "$d" ]; then
			cp "$d"/* "$corpus"/ 2>/dev/null
			break
		fi
	done
	dict=""
	for f in "$src/fuzz/$short.dict" "$src/fuzz/$family.dict"; do
		if [ -f "$f" ]; then
			dict="-dict=$f"
			break
		fi
	done
	seeds=$(ls "$corpus" | wc -l)
	echo "== $name: ${per}s, $seeds seeds${dict:+, $(basename "${dict#-dict=}")}"
	"$bin" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" $dict "$corpus" >"$scratch/$name.log" 2>&1
	rc=$?
	grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::new_units_added)' \
		"$scratch/$name.log" | tail -3
	if [ $rc -ne 0 ]; then
		echo "!! $name failed (exit $rc); last lines of its log:" >&2
		tail -40 "$scratch/$name.log" >&2
		echo "!! reproduce: $bin $artifacts/$name-<crash file>" >&2
		failed="$failed $name"
	fi
done

if [ -n "$failed" ]; then
	echo "fuzz.sh: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz.sh: $count target(s) ran ${per}s each without a finding"
