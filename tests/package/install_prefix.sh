#!/usr/bin/env bash
# cmake --install as docs/operations.md describes it, into a DESTDIR: the
# prefix given at install time moves the daemon, the unit and the man page,
# and the unit's ExecStart= follows; the config goes to /etc/icestation
# whatever the prefix; an existing config file is kept.
# Usage: install_prefix.sh BUILD_DIR
set -uo pipefail
build=$1
. "$(dirname "$0")/checks.sh"
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT

export DESTDIR=$dest
check "cmake --install --prefix /opt/ice succeeds" \
	quiet cmake --install "$build" --prefix /opt/ice
unit=$dest/opt/ice/lib/systemd/system/icestation.service
check "the unit is under the prefix" test -f "$unit"
check "its ExecStart= is the installed daemon" \
	grep -qx 'ExecStart=/opt/ice/sbin/icestation -c /etc/icestation/peers.yml' "$unit"
check "the daemon is in the prefix's sbin" test -x "$dest/opt/ice/sbin/icestation"
check "the man page is in the prefix" test -f "$dest/opt/ice/share/man/man8/icestation.8"
check "the config is in /etc/icestation, not under the prefix" \
	test -f "$dest/etc/icestation/peers.yml" -a ! -e "$dest/opt/ice/etc"
check "config files are 0644" \
	test "$(stat -c %a "$dest"/etc/icestation/*.yml | sort -u)" = 644

echo "# edited" >>"$dest/etc/icestation/log.yml"
check "a second install succeeds" quiet cmake --install "$build" --prefix /opt/ice
check "it kept the edited config file" grep -qx '# edited' "$dest/etc/icestation/log.yml"
finish
