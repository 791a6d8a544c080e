#!/bin/sh
# Run every libFuzzer target in BUILD_DIR/fuzz, each on a scratch copy of its
# corpus, then print per target: executions, exec/s, edges covered (cov),
# features (ft), corpus size, and what a 10^8-execution campaign would take
# at that rate. Exits non-zero if a target is missing, crashes, or finds a
# leak/timeout; crash inputs are kept in BUILD_DIR/fuzz-artifacts.
#
#   scripts/fuzz.sh BUILD_DIR SECONDS             SECONDS in total, split evenly;
#                                                 the repository's corpus stays as
#                                                 committed (the ctest fuzz_smoke)
#   scripts/fuzz.sh --each --keep-corpus BUILD_DIR SECONDS
#                                                 SECONDS per target, then -merge=1
#                                                 adds to fuzz/corpus/<target>/ the
#                                                 inputs that reach new coverage
#                                                 (make fuzz)
set -u

usage() { echo "usage: $0 [--each] [--keep-corpus] BUILD_DIR SECONDS" >&2; exit 2; }
each=0
keep=0
while [ $# -gt 0 ]; do
	case $1 in
	--each) each=1 ;;
	--keep-corpus) keep=1 ;;
	-*) usage ;;
	*) break ;;
	esac
	shift
done
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
if [ $each -eq 1 ]; then
	per=$total
else
	per=$((total / count))
fi
[ "$per" -ge 1 ] || per=1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/icestation-fuzz.XXXXXX") || exit 1
# A trap on INT/TERM that does not exit would let the loop go on to the
# next target after a kill: clean up and stop.
trap 'rm -rf "$scratch"' EXIT
trap 'exit 130' INT TERM
artifacts=$build/fuzz-artifacts
mkdir -p "$artifacts"

# UBSan reports must abort so libFuzzer counts them as crashes.
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"

# The value of "name: N" on libFuzzer's last status line (#N DONE / pulse).
status_field() {
	grep -E '^#[0-9]+' "$1" | tail -1 | tr ' ' '\n' | grep -A1 -x "$2:" | tail -1
}

failed=""
report=$scratch/report
: >"$report"
for bin in $targets; do
	name=$(basename "$bin")
	short=${name#fuzz_}
	family=${short%%_*}
	corpus=$scratch/$name
	mkdir -p "$corpus"
	# Seeds: fuzz/corpus/<short> (e.g. channeldata), else fuzz/corpus/<family> (stun_parse -> stun).
	seeds_dir=""
	for d in "$src/fuzz/corpus/$short" "$src/fuzz/corpus/$family"; do
		if [ -d "$d" ]; then
			cp "$d"/* "$corpus"/ 2>/dev/null
			seeds_dir=$d
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
	if [ $rc -ne 0 ]; then
		echo "!! $name failed (exit $rc); last lines of its log:" >&2
		tail -40 "$scratch/$name.log" >&2
		echo "!! reproduce: $bin $artifacts/$name-<crash file>" >&2
		failed="$failed $name"
		continue
	fi
	execs=$(grep '^stat::number_of_executed_units:' "$scratch/$name.log" | awk '{print $2}')
	rate=$(grep '^stat::average_exec_per_sec:' "$scratch/$name.log" | awk '{print $2}')
	cov=$(status_field "$scratch/$name.log" cov)
	ft=$(status_field "$scratch/$name.log" ft)
	size=$(ls "$corpus" | wc -l)
	if [ $keep -eq 1 ]; then
		# Into the target's own folder (started from the family's seeds),
		# -merge=1 adds only the inputs that reach coverage it lacks; the
		# committed files, named seeds among them, stay.
		dest=$src/fuzz/corpus/$short
		if [ ! -d "$dest" ]; then
			mkdir -p "$dest"
			[ -n "$seeds_dir" ] && cp "$seeds_dir"/* "$dest"/ 2>/dev/null
		fi
		before=$(ls "$dest" | wc -l)
		if "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 "$dest" "$corpus" \
			>"$scratch/$name.merge.log" 2>&1; then
			size=$(ls "$dest" | wc -l)
			echo "   corpus: fuzz/corpus/$short/ $before -> $size files (-merge=1 of $(ls "$corpus" | wc -l) after the run)"
		else
			echo "!! $name: -merge=1 failed; corpus left as it was" >&2
			tail -20 "$scratch/$name.merge.log" >&2
			failed="$failed $name(merge)"
		fi
	fi
	echo "$name ${execs:-0} ${rate:-0} ${cov:-?} ${ft:-?} $size" >>"$report"
done

echo
echo "target             executions   exec/s   edges(cov)  features(ft)  corpus   10^8 execs at this rate"
while read -r name execs rate cov ft size; do
	if [ "${rate:-0}" -gt 0 ] 2>/dev/null; then
		hours=$(awk -v r="$rate" 'BEGIN { printf "%.1f h", 1e8 / r / 3600 }')
	else
		hours="?"
	fi
	printf '%-18s %10s %8s %11s %13s %7s   %s\n' "$name" "$execs" "$rate" "$cov" "$ft" "$size" "$hours"
done <"$report"
awk '$3 > 0 { h += 1e8 / $3 / 3600 } END { if (h > 0) printf "a 10^8-execution campaign for every target: %.1f h of one core (%.1f h on 2 cores, one target per core)\n", h, h / 2 }' "$report"

if [ -n "$failed" ]; then
	echo "fuzz.sh: FAILED:$failed" >&2
	exit 1
fi
echo "fuzz.sh: $count target(s) ran ${per}s each without a finding"
