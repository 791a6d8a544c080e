#!/usr/bin/env bash
# Install the Debian packages a target needs, only those missing.
# Usage: scripts/deps.sh build|test|bench|deb|soak
set -euo pipefail

build_pkgs=(build-essential cmake pkg-config libevent-dev libssl-dev libyaml-dev
	libcjson-dev libsystemd-dev libhiredis-dev openssl)
# prometheus: promtool and a real server for tests/operator's alert rules.
test_pkgs=(clang libclang-rt-14-dev curl coturn python3 python3-aioice python3-aiortc
	systemd golang-go golang-github-pion-turn.v2-dev
	golang-github-pion-webrtc.v3-dev chromium iproute2 procps
	tshark wrk util-linux redis-server python3-yaml python3-matplotlib prometheus)
# redis-server: the cluster case's own Redis (bench/churn.py).
bench_pkgs=(coturn wrk util-linux procps python3 redis-server)
soak_pkgs=(python3 python3-matplotlib openssl procps)
# make deb: debhelper builds the package, lintian checks it, man-db renders
# the man page for lintian and systemd-analyze verify.
deb_pkgs=(debhelper dpkg-dev lintian man-db)
# tests/package: the package, then its install booted under systemd-nspawn.
test_pkgs+=("${deb_pkgs[@]}" systemd-container)

want=("${build_pkgs[@]}")
case "${1:-build}" in
build) ;;
test) want+=("${test_pkgs[@]}") ;;
bench) want+=("${bench_pkgs[@]}") ;;
deb) want+=("${deb_pkgs[@]}") ;;
soak) want+=("${soak_pkgs[@]}") ;;
*) echo "usage: $0 build|test|bench|deb|soak" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done
# Node with npm: the image's nodejs may already bundle npm; Debian's npm
# conflicts with that build, so add Debian's only when there is no npm at all.
if [ "${1:-build}" = test ] && ! command -v npm >/dev/null 2>&1; then
	missing+=(nodejs npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	echo "deps: installing ${missing[*]}" >&2
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >&2
fi
