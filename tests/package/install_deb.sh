#!/usr/bin/env bash
# Runs inside the container (nspawn_run.sh), booted systemd as PID 1:
# install the .deb with the command docs/operations.md shows, check the
# service as its unit runs it, then what Debian expects of a reinstall,
# a remove and a purge.
# Usage: install_deb.sh SRC DEBDIR
set -uo pipefail
src=$1
debdir=$2
. "$src/tests/package/incontainer.sh"

# The docs install from build-deb/ in the source tree, where `make deb`
# writes; this container's copy of the tree gets the test's package there.
cd "$src" || exit 1
rm -rf build-deb && ln -s "$debdir" build-deb
check "the container has an outward interface" outward_interface
check "the documented install command succeeds" run_doc_block docs/operations.md install-deb

check "dpkg has icestation installed" \
	test "$(dpkg-query -W -f '${Status}' icestation)" = "install ok installed"
check "the group icestation-config exists" getent group icestation-config
check "/etc/icestation carries a dpkg statoverride" dpkg-statoverride --list /etc/icestation
check "postinst made a secret of 64 hex digits" grep -Eqx '[0-9a-f]{64}' /etc/icestation/secret
check "postinst enabled icestation.service" systemctl is-enabled --quiet icestation
unit_checks /lib/systemd/system/icestation.service /usr/sbin/icestation
check "man icestation finds icestation(8)" \
	test "$(man -w icestation)" = /usr/share/man/man8/icestation.8.gz
# The EXAMPLES line of icestation(8), as root.
check "icestation --check-config accepts the installed tree" \
	env TURN_AUTH_SECRET_FILE=/etc/icestation/secret \
	icestation --check-config -c /etc/icestation/peers.yml

# An operator's own secret (or a rotated one) survives a reinstall, and
# the restarted service mints with it.
(umask 077 && echo "operator-chosen-secret-0123456789abcdef" >/etc/icestation/secret)
pid=$(systemctl show -P MainPID icestation)
check "a reinstall succeeds" dpkg -i build-deb/icestation_*.deb
check "the reinstall kept the operator's secret" \
	grep -qx operator-chosen-secret-0123456789abcdef /etc/icestation/secret
check "the reinstall restarted the service" \
	test "$(systemctl show -P MainPID icestation)" != "$pid" -a "$(systemctl is-active icestation)" = active
check "the restarted service mints with the operator's secret" ice_credential_ok

check "dpkg -r succeeds" dpkg -r icestation
check "remove stopped the service" fails systemctl is-active --quiet icestation
check "remove took the daemon away" test ! -e /usr/sbin/icestation
check "remove kept the secret" grep -qx operator-chosen-secret-0123456789abcdef /etc/icestation/secret
check "remove kept the config (conffiles)" test -f /etc/icestation/peers.yml

check "dpkg -P succeeds" dpkg -P icestation
check "purge deleted /etc/icestation, the secret with it" test ! -e /etc/icestation
check "purge dropped the statoverride" fails dpkg-statoverride --list /etc/icestation
check "purge left the group icestation-config (Debian keeps system groups)" getent group icestation-config
finish
