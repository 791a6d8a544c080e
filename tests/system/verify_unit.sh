#!/usr/bin/env bash
# systemd-analyze verify on the shipped unit, with ExecStart pointed at the
# built binary (verify checks that the command exists), and an offline
# security score that must stay in systemd's "OK" band.
set -euo pipefail
unit_src=$1
bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#/usr/local/bin/icestation#$bin#" "$unit_src" >"$tmp/icestation.service"
systemd-analyze verify "$tmp/icestation.service"
grep -q '^Type=notify$' "$tmp/icestation.service"
score=$(systemd-analyze security --offline=yes "$tmp/icestation.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for icestation.service: \([0-9.]*\).*/\1/p')
echo "exposure level: ${score:-unknown}"
[ -n "$score" ]
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
echo "1 passed, 0 failed"
