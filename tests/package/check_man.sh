#!/usr/bin/env bash
# icestation(8) says what the code does: the options of `icestation --help`
# (both ways), the signals src/main handles, the variables the shipped
# config reads, and the version. groff must render it without a warning.
# Usage: check_man.sh ICESTATION_BIN SRC
set -uo pipefail
bin=$1
src=$2
page=$src/man/icestation.8
. "$(dirname "$0")/checks.sh"

# The page as text, and one section of it.
text=$(MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null | col -b)
section() { awk -v s="$1" '/^[A-Z][A-Z ]+$/ { on = ($0 == s) } on' <<<"$text"; }
has() { grep -qFe "$2" <<<"$1"; }
# An option as a whole word: --print-conf is not --print-config.
has_opt() { grep -qE -- "(^|[^a-z-])$2([^a-z-]|\$)" <<<"$1"; }

warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
check "groff renders it without a warning${warn:+: $warn}" test -z "$warn"

help=$("$bin" --help)
opts=$(section OPTIONS)
for o in $(grep -oE -- '(^|[ ,])--?[a-z][a-z-]*' <<<"$help" | tr -d ' ,' | sort -u); do
	check "--help's $o is in OPTIONS" has_opt "$opts" "$o"
done
for o in $(grep -oE -- '^ +--?[a-z][a-z-]*(, --[a-z-]+)?' <<<"$opts" | tr -d ' ' | tr ',' '\n' | sort -u); do
	check "OPTIONS' $o is in --help" has_opt "$help" "$o"
done

sigs=$(section SIGNALS)
for s in $(cat "$src"/src/main/*.c | grep -oE '\bSIG[A-Z]+[0-9]*\b' | grep -v SIG_IGN | sort -u); do
	check "$s, which src/main handles, is in SIGNALS" has "$sigs" "$s"
done
if grep -qE '^ *SIGHUP *Not handled' <<<"$sigs"; then
	check "SIGNALS says SIGHUP is not handled, and src/main does not name it" \
		test -z "$(grep -l SIGHUP "$src"/src/main/*.c)"
fi

envs=$(section ENVIRONMENT)
for v in $(grep -ohE '\$\{[A-Z_][A-Z0-9_]*' "$src"/conf/*.yml | cut -c3- | sort -u); do
	check "$v, which the shipped config reads, is in ENVIRONMENT" has "$envs" "$v"
done
for v in PEERS_STUN_PUBLIC_IP PEERS_TURN_PUBLIC_IP; do
	check "$v is in ENVIRONMENT and read by src/config" \
		bash -c 'grep -qF "$1" <<<"$2" && grep -rqF "\"$1\"" "$3"/src/config' _ "$v" "$envs" "$src"
done

check "the page's version is --version's" \
	has "$(head -n 4 "$page")" "\"$("$bin" --version | tr / ' ')\""
finish
