#!/usr/bin/env bash
# icestationctl(8) says what the program does: its commands and options, both
# ways against `icestationctl --help`, and its exit codes. groff must render
# it without a warning.
# Usage: check_man_ctl.sh ICESTATIONCTL_BIN SRC
set -uo pipefail
bin=$1
src=$2
page=$src/man/icestationctl.8
. "$(dirname "$0")/checks.sh"

text=$(MANWIDTH=200 LC_ALL=C.UTF-8 man -l "$page" 2>/dev/null | col -b)
section() { awk -v s="$1" '/^[A-Z][A-Z ]+$/ { on = ($0 == s) } on' <<<"$text"; }
has_word() { grep -qE -- "(^|[^a-z-])$2([^a-z-]|\$)" <<<"$1"; }

warn=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
check "groff renders it without a warning${warn:+: $warn}" test -z "$warn"

help=$("$bin" --help)
cmds=$(section COMMANDS)
opts=$(section OPTIONS)
exits=$(section "EXIT STATUS")
# --help lists commands indented by two spaces after "commands:".
for c in $(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' <<<"$help"); do
	check "--help's command $c is in COMMANDS" has_word "$cmds" "$c"
	check "COMMANDS' $c runs (not a usage error)" \
		bash -c '"$1" -s /nonexistent/admin.sock "$2" x >/dev/null 2>&1; test $? -ne 2 ||
		         { "$1" -s /nonexistent/admin.sock "$2" >/dev/null 2>&1; test $? -ne 2; }' _ "$bin" "$c"
done
for c in $(grep -oE '^ {7}[a-z]+' <<<"$cmds" | tr -d ' ' | sort -u); do
	check "COMMANDS' $c is in --help" has_word "$help" "$c"
done
for o in $(grep -oE -- '(^|[ ,\[])--?[a-z][a-z-]*' <<<"$help" | tr -d ' ,[' | sort -u); do
	check "--help's $o is in OPTIONS" has_word "$opts" "$o"
done
for o in $(grep -oE -- '^ +--?[a-z][a-z-]*(, --[a-z-]+)?' <<<"$opts" | tr -d ' ' | tr ',' '\n' | sort -u); do
	check "OPTIONS' $o is in --help" has_word "$help" "$o"
done
for code in $(grep -oE '[0-9] [a-z]' <<<"$(grep '^exit:' <<<"$help")" | cut -c1); do
	check "exit code $code from --help is in EXIT STATUS" grep -qE "^ +$code( |$)" <<<"$exits"
done
check "unreachable daemon exits 3" \
	bash -c '"$1" -s /nonexistent/admin.sock status >/dev/null 2>&1; test $? -eq 3' _ "$bin"
check "usage error exits 2" bash -c '"$1" frobnicate >/dev/null 2>&1; test $? -eq 2' _ "$bin"
check "the page's version is icestation's" \
	grep -q "\"icestation $(sed -n 's/^project(icestation VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")\"" "$page"
finish
