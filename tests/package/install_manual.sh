#!/usr/bin/env bash
# Runs inside the container (nspawn_run.sh), booted systemd as PID 1: the
# from-source install exactly as docs/operations.md shows it, then the
# service as its unit runs it, then the same block again, which must keep
# an edited config and the secret.
# Usage: install_manual.sh SRC
set -uo pipefail
src=$1
. "$src/tests/package/incontainer.sh"

cd "$src" || exit 1
check "the container has an outward interface" outward_interface
check "the documented install commands succeed" run_doc_block docs/operations.md install-manual
check "the secret is 64 hex digits (openssl rand -hex 32)" \
	grep -Eqx '[0-9a-f]{64}' /etc/icestation/secret
unit_checks /usr/local/lib/systemd/system/icestation.service /usr/local/sbin/icestation
# Debian's /usr/local/man is a link to share/man, and man finds it first.
check "man -w icestation finds the page in /usr/local" \
	test "$(realpath "$(man -w icestation)")" = /usr/local/share/man/man8/icestation.8

echo "# edited by the operator" >>/etc/icestation/log.yml
secret=$(sha256sum </etc/icestation/secret)
check "the documented commands run again" run_doc_block docs/operations.md install-manual
check "running them again kept the edited config" grep -q '^# edited by the operator$' /etc/icestation/log.yml
check "running them again kept the secret" test "$(sha256sum </etc/icestation/secret)" = "$secret"
check "icestation.service is still active" systemctl is-active --quiet icestation
finish
