#!/usr/bin/env bash
# `make run`: start the daemon in the foreground on the shipped config.
# Where TURN_AUTH_SECRET is unset, a random secret is created once in a 0600
# state file and handed to the daemon through auth-secret-file.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${ICESTATION_BIN:-build/icestation}
state=${ICESTATION_STATE_DIR:-.run}

if [ -z "${TURN_AUTH_SECRET:-}" ] && [ -z "${TURN_AUTH_SECRET_FILE:-}" ]; then
	mkdir -p "$state"
	chmod 700 "$state"
	if [ ! -s "$state/secret" ]; then
		(umask 077 && openssl rand -hex 32 >"$state/secret")
		echo "run: created a random TURN secret in $state/secret (set TURN_AUTH_SECRET to use your own)" >&2
	else
		echo "run: using the TURN secret in $state/secret (set TURN_AUTH_SECRET to use your own)" >&2
	fi
	TURN_AUTH_SECRET_FILE="$(cd "$state" && pwd)/secret"
	export TURN_AUTH_SECRET_FILE
fi
# The admin API listens on /run/icestation/admin.sock (icestationctl's
# default); a user who may not create /run/icestation gets it in the state
# directory instead (icestationctl -s .run/admin.sock status).
if [ -z "${ICESTATION_ADMIN_LISTEN:-}" ] && [ "$(id -u)" -ne 0 ]; then
	mkdir -p "$state"
	chmod 700 "$state"
	ICESTATION_ADMIN_LISTEN="unix:$(cd "$state" && pwd)/admin.sock"
	export ICESTATION_ADMIN_LISTEN
fi
exec "$bin" -c conf/peers.yml
