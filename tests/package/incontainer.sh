# Sourced by the install tests that run inside the container
# (nspawn_run.sh): running a documented command block, and the checks that
# the installed service runs as its unit says (with checks.sh's check).
# shellcheck shell=bash

. "$(dirname "${BASH_SOURCE[0]}")/checks.sh"

# A server has an interface that routes outward. The container has only lo,
# where public-ip auto finds no address, so the daemon (rightly) serves but
# is not ready and the ICE API answers 503. Give it one, inside its own
# network namespace: a veth pair holding 192.0.2.2/24 and the default route;
# what is routed there reaches the other end and stops.
outward_interface() {
	ip link add out0 type veth peer name out1 &&
		ip addr add 192.0.2.2/24 dev out0 &&
		ip link set out1 up && ip link set out0 up &&
		ip route add default via 192.0.2.1 dev out0
}

# The lines of the fenced block that follows "<!-- tested: NAME -->" in DOC.
doc_block() {
	awk -v mark="<!-- tested: $2 -->" '
		$0 == mark { want = 1; next }
		want && /^```/ { if (inside) exit; inside = 1; next }
		inside { print }' "$1"
}

# run_doc_block DOC NAME: run that block with bash -e in the current
# directory, as root, so `sudo` is the identity here.
run_doc_block() {
	local script
	script=$(mktemp)
	{
		echo 'sudo() { "$@"; }'
		doc_block "$1" "$2"
	} >"$script"
	echo "--- $2, as $1 shows it:"
	sed 1d "$script"
	echo "---"
	[ "$(wc -l <"$script")" -gt 1 ] && bash -ex "$script"
}

# The service as its unit runs it. $1 is the unit file systemd must have
# loaded, $2 the daemon it must run.
unit_checks() {
	local frag=$1 exe=$2 pid uid gid creds cred env as_it
	check "icestation.service is active" systemctl is-active --quiet icestation
	check "systemd loaded $frag" test "$(systemctl show -P FragmentPath icestation)" = "$frag"
	pid=$(systemctl show -P MainPID icestation)
	check "its main process runs $exe" test "$(readlink "/proc/$pid/exe")" = "$exe"
	# The checks below would pass vacuously without a process to ask.
	if [ "$pid" -eq 0 ]; then
		check "the service has a main process: checks of its uid not run" false
		return
	fi
	uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
	gid=$(getent group icestation-config | cut -d: -f3)
	# systemd's dynamic range is 61184-65519 (DynamicUser=).
	check "it runs as a transient uid ($uid), not root" \
		test "$uid" -ge 61184 -a "$uid" -le 65519
	check "it has the group icestation-config ($gid)" \
		grep -Eq "^Groups:.*\b$gid\b" "/proc/$pid/status"
	check "/etc/icestation is 0750 root:icestation-config" \
		test "$(stat -c '%a %U %G' /etc/icestation)" = "750 root icestation-config"
	check "/etc/icestation/secret is 0600 root:root" \
		test "$(stat -c '%a %U %G' /etc/icestation/secret)" = "600 root root"

	as_it=(setpriv --reuid="$uid" --regid="$uid" --groups="$gid")
	check "its uid and group read the config" quiet "${as_it[@]}" cat /etc/icestation/peers.yml
	check "its uid cannot read the secret file itself" \
		fails quiet "${as_it[@]}" cat /etc/icestation/secret
	check "a uid without the group cannot read the config" \
		fails quiet setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/icestation/peers.yml

	env=$(tr '\0' '\n' <"/proc/$pid/environ")
	creds=$(sed -n 's/^CREDENTIALS_DIRECTORY=//p' <<<"$env")
	cred=$(sed -n 's/^TURN_AUTH_SECRET_FILE=//p' <<<"$env")
	check "TURN_AUTH_SECRET_FILE is turn-secret in \$CREDENTIALS_DIRECTORY ($creds)" \
		test -n "$creds" -a "$cred" = "$creds/turn-secret"
	check "the credential belongs to its uid, readable by it alone" \
		test "$(stat -c '%u %a' "$cred")" = "$uid 400"
	check "the credential holds the secret" cmp -s "$cred" /etc/icestation/secret
	check "no secret in its environment" fails grep -q '^TURN_AUTH_SECRET=' <<<"$env"

	check "/healthz answers 200" curl -fsS -o /dev/null --max-time 10 http://127.0.0.1:8080/healthz
	check "the ICE API mints credentials with /etc/icestation/secret" ice_credential_ok
	check "the log has no warning about the secret's mode" \
		fails journalctl -q -u icestation --grep 'readable by group or others'
	check "systemd-analyze security of the loaded unit stays at or below 2.0" security_ok
}

# The TURN credential from the API is base64(HMAC-SHA1(secret, username)),
# with the secret as /etc/icestation/secret holds it.
ice_credential_ok() {
	curl -fsS --max-time 10 'http://127.0.0.1:8080/api/v1/turn/ice-servers?user_did=did:peers:alice' |
		python3 -c '
import base64, hashlib, hmac, json, sys
secret = open("/etc/icestation/secret", "rb").read().rstrip(b"\r\n")
turn = [s for s in json.load(sys.stdin)["ice_servers"] if "username" in s][0]
mac = hmac.new(secret, turn["username"].encode(), hashlib.sha1).digest()
sys.exit(base64.b64encode(mac).decode() != turn["credential"])'
}

security_ok() {
	local score
	score=$(systemd-analyze security icestation 2>/dev/null |
		sed -n 's/.*Overall exposure level for icestation.service: \([0-9.]*\).*/\1/p')
	echo "     exposure level: ${score:-unknown}"
	[ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'
}
