#!/usr/bin/env bash
# Boot a throwaway copy of this machine with systemd-nspawn, systemd as its
# PID 1, and run SCRIPT in it as a systemd service. Exits with SCRIPT's
# status; its output (and systemd's) is printed.
#
# The copy is an overlay of / whose writes go to a tmpfs, mounted in a
# private mount namespace: what SCRIPT does there (dpkg -i, cmake --install,
# /etc changes) never reaches the host, and host paths (the build tree, the
# .deb) are at the same place inside. The container has its own network
# namespace with only lo, so services it starts cannot clash with any port
# of the host. Needs root and the systemd-container package.
#
# Usage: nspawn_run.sh TIMEOUT_S SCRIPT [ARG...]
# (no whitespace in args; no path under /tmp, which is a fresh tmpfs inside)
set -euo pipefail

if [ -z "${NSPAWN_RUN_PRIVATE:-}" ]; then
	exec env NSPAWN_RUN_PRIVATE=1 unshare --mount --propagation private "$0" "$@"
fi
limit=$1
script=$(realpath "$2")
shift 2
for a in "$script" "$@"; do
	case "$a" in
	*[[:space:]]*)
		echo "nspawn_run: argument with whitespace: '$a'" >&2
		exit 2
		;;
	/tmp/*)
		echo "nspawn_run: '$a' is under /tmp, which nspawn replaces by a tmpfs" >&2
		exit 2
		;;
	esac
done

# Its own cgroup, in the systemd (v1 name=systemd) and unified (v2)
# hierarchies: with --keep-unit and no systemd on the host, nspawn puts the
# container's tree ("payload", "supervisor") under the cgroup it runs in, so
# two containers sharing one would share units' cgroups, and stopping
# icestation.service in one would kill the other's.
cgdirs=()
own_cgroup() {
	local mnt path
	# mountinfo: mount point is field 5; after " - " come type, source, options.
	while read -r mnt path; do
		mkdir "$mnt$path/icestation-nspawn-$$" &&
			echo $$ >"$mnt$path/icestation-nspawn-$$/cgroup.procs" &&
			cgdirs+=("$mnt$path")
	done < <(awk -v cg="$(cat /proc/self/cgroup)" '
		BEGIN { n = split(cg, l, "\n"); for (i = 1; i <= n; i++) {
			split(l[i], f, ":"); if (f[2] == "") v2 = f[3]; if (f[2] == "name=systemd") v1 = f[3] } }
		{ split($0, half, " - "); split(half[2], t, " ") }
		t[1] == "cgroup2" { print $5, (v2 == "/" ? "" : v2) }
		t[1] == "cgroup" && t[3] ~ /(^|,)name=systemd(,|$)/ { print $5, (v1 == "/" ? "" : v1) }
	' /proc/self/mountinfo)
}
# Back to the parent cgroups, then remove what nspawn left under ours.
drop_cgroup() {
	local d
	for d in "${cgdirs[@]}"; do
		echo $$ >"$d/cgroup.procs"
		find "$d/icestation-nspawn-$$" -depth -type d -exec rmdir {} +
	done
}
own_cgroup

t=$(mktemp -d /tmp/icestation-nspawn.XXXXXX)
trap 'umount -R "$t" 2>/dev/null; rmdir "$t"; drop_cgroup' EXIT
mount -t tmpfs -o mode=0700 tmpfs "$t"
mkdir "$t/upper" "$t/work" "$t/root"
mount -t overlay overlay -o "lowerdir=/,upperdir=$t/upper,workdir=$t/work" "$t/root"
# nspawn keeps its state under /run/systemd; here /run is not a tmpfs, so
# give it one in this namespace and leave nothing behind.
mount -t tmpfs tmpfs /run/systemd

r=$t/root
# A Docker-style image forbids starting services from maintainer scripts
# (policy-rc.d exits 101); a booted Debian system has no such file.
rm -f "$r/usr/sbin/policy-rc.d"
od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$r/etc/machine-id"
echo >>"$r/etc/machine-id"
# Boot straight to basic.target plus the script: no getty, none of the
# host's enabled services. The script's status becomes the container's.
cat >"$r/etc/systemd/system/nspawn-run.target" <<EOF
[Unit]
Description=nspawn_run: basic system plus the script
Requires=basic.target nspawn-run.service
After=basic.target nspawn-run.service
EOF
cat >"$r/etc/systemd/system/nspawn-run.service" <<EOF
[Unit]
Description=nspawn_run script
After=basic.target
SuccessAction=exit-force
FailureAction=exit-force

[Service]
Type=oneshot
ExecStart=$script $*
StandardOutput=journal+console
StandardError=journal+console
EOF

name=icestation-test-$$
rc=0
timeout --kill-after=15 "$limit" systemd-nspawn --quiet --directory="$r" --machine="$name" \
	--register=no --keep-unit --private-network --boot -- \
	systemd.unit=nspawn-run.target systemd.firstboot=off systemd.show_status=false \
	</dev/null || rc=$?
if [ "$rc" -eq 124 ]; then
	echo "nspawn_run: $script did not finish within ${limit}s" >&2
fi
exit "$rc"
