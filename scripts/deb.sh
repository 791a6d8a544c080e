#!/usr/bin/env bash
# `make deb`: build the Debian package from the working tree, then check it
# with lintian, which must report no error.
# Usage: scripts/deb.sh [OUTDIR]   (default build-deb; the .deb lands there)
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$src/build-deb}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# One version, three places: CMake, the code (--version) and the changelog.
version=$(sed -n 's/^project(icestation VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
deb_version=$(dpkg-parsechangelog -l "$src/debian/changelog" -S Version)
if [ "$version" != "$deb_version" ]; then
	echo "deb: CMakeLists.txt says $version but debian/changelog $deb_version;" \
		"add a changelog entry for $version" >&2
	exit 1
fi

# dpkg-buildpackage builds inside the tree and writes its results to the
# parent directory, so it works on a copy: the work tree stays clean and
# OUTDIR holds everything. Uncommitted changes are included.
tree=$out/icestation-$version
rm -rf "$tree" "$out"/icestation_"$version"* "$out"/icestation-dbgsym_"$version"*
mkdir -p "$tree"
if git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	(cd "$src" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$src" && while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		done) | (cd "$src" && xargs -0 cp --parents -t "$tree")
else
	tar -C "$src" --exclude='./build*' --exclude=./.run -cf - . | tar -C "$tree" -xf -
fi

(cd "$tree" && dpkg-buildpackage -b -us -uc -j"${JOBS:-$(nproc)}")

# Errors fail the build; warnings and info tags are shown (docs/operations.md
# lists the ones left and why).
changes=$(ls "$out"/icestation_"$version"_*.changes)
lintian --fail-on error --display-info "$changes" ||
	{ echo "deb: lintian reported errors" >&2; exit 1; }
ls "$out"/icestation_"$version"_*.deb
