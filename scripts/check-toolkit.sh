#!/usr/bin/env bash
# Proves that the DICOM toolkit (the sendit_dicom library: lib/dicom, lib/dict,
# lib/util/error.c, lib/util/utf8.c) stands alone: configures a build of only
# the toolkit and its unit tests (-DSENDIT_DICOM_ONLY=ON, which never looks for
# SQLite, libsodium, inih, libpq or libmicrohttpd, so any use of them fails the
# link), runs those tests, and checks that
#  - the toolkit's sources include only the toolkit's public headers;
#  - libsendit_dicom.a references no symbol of sqlite3, libsodium, inih,
#    libmicrohttpd, libpq or jansson, and libsendit_dicom_json.a (the DICOM
#    JSON Model) none but jansson's;
#  - no executable built there loads any of those libraries (ldd), and those
#    linking sendit_dicom alone do not load jansson either.
# The fuzzers are built the same way by fuzz/run.sh (also -DSENDIT_DICOM_ONLY).
#
#   scripts/check-toolkit.sh     build dir: $TOOLKIT_BUILD (default build-dicom)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${TOOLKIT_BUILD:-$root/build-dicom}"
fail() {
  echo "check-toolkit: $*" >&2
  exit 1
}

# LTO off: plain objects, so nm reads them without a plugin.
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSENDIT_DICOM_ONLY=ON -DSENDIT_LTO=OFF \
  -DSENDIT_WERROR=ON -DSENDIT_TESTS=ON >/dev/null
cmake --build "$build" -j"$(nproc)" -- --no-print-directory >/dev/null
(cd "$build" && ctest --output-on-failure -j2)

toolkit_headers='charset|dicom|dict|dump|edit|error|io|json|tsyntax|utf8|vr|write'
cd "$root"
bad=$(grep -Hn '#include "sendit/' lib/dicom/*.[ch] lib/dict/*.[ch] lib/util/error.c lib/util/utf8.c \
  $(printf 'include/sendit/%s.h ' ${toolkit_headers//|/ }) |
  grep -Ev "#include \"sendit/($toolkit_headers)\.h\"" || true)
[ -z "$bad" ] || fail "the toolkit includes headers from outside it:"$'\n'"$bad"

foreign='^(sqlite3_|sodium_|crypto_|randombytes_|ini_parse|ini_parse_|MHD_|PQ|lo_)'
undefined() { nm -u "$1" | awk 'NF == 2 { print $2 }' | sort -u; }
bad=$(undefined "$build/libsendit_dicom.a" | grep -E "$foreign|^json_" || true)
[ -z "$bad" ] || fail "libsendit_dicom.a references: $bad"
bad=$(undefined "$build/libsendit_dicom_json.a" | grep -E "$foreign" || true)
[ -z "$bad" ] || fail "libsendit_dicom_json.a references: $bad"

tests=0
for exe in "$build"/test_*; do
  [ -x "$exe" ] || continue
  tests=$((tests + 1))
  libs=$(ldd "$exe")
  if grep -Eq 'lib(sqlite3|sodium|inih|microhttpd|pq)\.' <<<"$libs"; then
    fail "${exe##*/} loads: $(grep -E 'lib(sqlite3|sodium|inih|microhttpd|pq)\.' <<<"$libs")"
  fi
  if ! nm -u "$exe" | grep -q ' U json_' && grep -q 'libjansson' <<<"$libs"; then
    fail "${exe##*/} loads jansson without using it"
  fi
done
[ "$tests" -gt 0 ] || fail "no toolkit test was built in $build"
echo "ok: the DICOM toolkit and its $tests unit tests build, pass and link without sqlite3, libsodium, inih, libmicrohttpd or libpq"
