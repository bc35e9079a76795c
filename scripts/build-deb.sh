#!/usr/bin/env bash
# Builds the Debian package with Debian's own tools (debhelper through
# dpkg-buildpackage) and checks it with lintian:
#
#   bash scripts/build-deb.sh [OUTDIR]     (default: build-deb/)
#
# The source tree (tracked files and new ones git does not ignore; every
# file when this is not a git checkout) is copied to
# OUTDIR/src/sendit-VERSION, so that the build neither writes into the
# checkout nor leaves the .deb in its parent folder. Prints the path of the
# .deb last. Fails when lintian reports an error, or when the version in
# CMakeLists.txt and debian/changelog disagree.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$(mkdir -p "${1:-$root/build-deb}" && cd "${1:-$root/build-deb}" && pwd)"

version=$(sed -n 's/^project(sendit VERSION \([0-9.]*\) .*/\1/p' "$root/CMakeLists.txt")
changelog=$(cd "$root" && dpkg-parsechangelog -S Version)
if [ -z "$version" ] || [ "$version" != "$changelog" ]; then
  echo "build-deb: CMakeLists.txt says version '$version', debian/changelog '$changelog'" >&2
  exit 1
fi

stage="$out/src/sendit-$version"
rm -rf "$out/src"
mkdir -p "$stage"
if git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$root" && git ls-files -co --exclude-standard -z |
    while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
    xargs -0 cp --parents -t "$stage")
else
  (cd "$root" && tar --exclude='./build*' --exclude='./.git' -cf - .) | tar -xf - -C "$stage"
fi

echo "build-deb: building sendit $version in $stage" >&2
(cd "$stage" &&
  DEB_BUILD_OPTIONS="nocheck noddebs parallel=$(nproc)" \
    dpkg-buildpackage -b -us -uc >"$out/build.log" 2>&1) || {
  tail -40 "$out/build.log" >&2
  echo "build-deb: dpkg-buildpackage failed; the whole log is $out/build.log" >&2
  exit 1
}
arch=$(dpkg --print-architecture)
deb="$out/sendit_${version}_${arch}.deb"
mv "$out/src/sendit_${version}_${arch}.deb" "$deb"
rm -f "$out"/src/sendit_"${version}"_*.{buildinfo,changes}

echo "build-deb: lintian $deb" >&2
lintian --fail-on error --info "$deb" >&2 || {
  echo "build-deb: lintian reported errors" >&2
  exit 1
}
echo "$deb"
