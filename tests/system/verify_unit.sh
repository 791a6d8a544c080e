#!/usr/bin/env bash
# systemd-analyze verify on the shipped unit, with @SBINDIR@ (which install
# replaces) pointed at the build directory (verify checks that the commands
# exist), and an offline security score that must stay in systemd's "OK"
# band.
set -euo pipefail
unit_src=$1
bin=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sed "s#@SBINDIR@/#$(dirname "$bin")/#g" "$unit_src" >"$tmp/icestation.service"
# verify runs `man` for each Documentation=man: page; give it ours.
mkdir -p "$tmp/man/man8"
cp "$(dirname "$unit_src")"/../man/*.8 "$tmp/man/man8/"
cp "$(dirname "$unit_src")/icestation.socket" "$tmp/"
MANPATH=$tmp/man systemd-analyze verify "$tmp/icestation.service" "$tmp/icestation.socket"
# Live operations need these (issue 11): reload, state, the admin socket, the watchdog.
for k in '^ExecReload=/bin/kill -HUP \$MAINPID$' '^StateDirectory=icestation$' \
	'^RuntimeDirectory=icestation$' '^WatchdogSec=[0-9]+s$'; do
	grep -qE "$k" "$tmp/icestation.service" || { echo "missing: $k"; exit 1; }
done
grep -q '^Type=notify$' "$tmp/icestation.service"
score=$(systemd-analyze security --offline=yes "$tmp/icestation.service" 2>/dev/null |
	sed -n 's/.*Overall exposure level for icestation.service: \([0-9.]*\).*/\1/p')
echo "exposure level: ${score:-unknown}"
[ -n "$score" ]
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
echo "1 passed, 0 failed"
