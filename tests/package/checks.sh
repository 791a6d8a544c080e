# Counting checks for the shell tests of tests/package. Source it, call
# check for each claim, and finish last (its status is the test's).
# shellcheck shell=bash

passed=0
failed=0

# check WHAT CMD [ARG...]: run CMD; count and print the result.
check() {
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok   $what"
	else
		failed=$((failed + 1))
		echo "FAIL $what"
	fi
}

fails() { ! "$@"; }
quiet() { "$@" >/dev/null 2>&1; }

finish() {
	echo "$passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}
