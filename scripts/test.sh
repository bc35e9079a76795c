#!/usr/bin/env bash
# The README's test command: install what is missing, build, check formatting,
# build the DICOM toolkit alone and prove it links none of the site's
# libraries, run every test on SQLite and again on a throwaway PostgreSQL
# cluster, run the whole suite again under ASan+UBSan on both backends and
# under ThreadSanitizer on SQLite, build the Debian package and install and
# remove it on this machine (tests/package; needs root), and fuzz the DICOM reader for a bounded
# time. Any failure stops the run non-zero.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz_seconds="${SENDIT_FUZZ_SECONDS:-60}"
step() { printf '\n==> %s (%s)\n' "$*" "$(date -u +%T)"; }

step "dependencies"
bash scripts/install-deps.sh

step "format (clang-format --dry-run --Werror)"
git ls-files -co --exclude-standard '*.c' '*.h' | xargs clang-format --dry-run --Werror

step "build (warnings are errors)"
BUILD_DIR="$root/build" bash scripts/build.sh -DSENDIT_WERROR=ON -DSENDIT_TESTS=ON

step "the DICOM toolkit alone (no sqlite3, libsodium, inih, libmicrohttpd, libpq)"
bash scripts/check-toolkit.sh

step "tests (SQLite)"
(cd build && ctest --output-on-failure -j2)

step "the Debian package: build, lintian, man pages (groff -ww), install, systemd-analyze verify, remove"
bash tests/package/test_package.sh "$root/build-deb"

# A throwaway PostgreSQL cluster of our own (initdb under /tmp, loopback
# only, no systemd), stopped and deleted however the run ends.
export SENDIT_PG_DIR="${SENDIT_PG_DIR:-/tmp/sendit-pg-test-$$}"
trap 'bash "$root/scripts/pg-test-cluster.sh" stop' EXIT
step "starting a throwaway PostgreSQL cluster in $SENDIT_PG_DIR"
pg_url="$(bash scripts/pg-test-cluster.sh start)"
echo "$pg_url"

step "tests (PostgreSQL): the same suite again"
(cd build && SENDIT_TEST_PG_URL="$pg_url" SENDIT_TEST_DATABASE="$pg_url" \
  ctest --output-on-failure -j2)

step "building with AddressSanitizer + UndefinedBehaviorSanitizer"
BUILD_DIR="$root/build-asan" BUILD_TYPE=Debug bash scripts/build.sh -DCMAKE_C_COMPILER=clang \
  -DSENDIT_SANITIZE=ON -DSENDIT_TESTS=ON
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
step "tests under AddressSanitizer + UndefinedBehaviorSanitizer (SQLite)"
(cd build-asan && ctest --output-on-failure -j2)
step "tests under AddressSanitizer + UndefinedBehaviorSanitizer (PostgreSQL)"
(cd build-asan && SENDIT_TEST_PG_URL="$pg_url" SENDIT_TEST_DATABASE="$pg_url" \
  ctest --output-on-failure -j2)
unset ASAN_OPTIONS UBSAN_OPTIONS

step "building with ThreadSanitizer"
BUILD_DIR="$root/build-tsan" BUILD_TYPE=Debug bash scripts/build.sh -DCMAKE_C_COMPILER=clang \
  -DSENDIT_TSAN=ON -DSENDIT_TESTS=ON
step "tests under ThreadSanitizer (SQLite)"
# Reports go to files rather than stderr: the integration tests run daemons in
# the background, whose exit status (66 on a report) nobody sees. Any report
# file fails the step, whatever ctest says. No suppressions: none of the
# third-party libraries (libmicrohttpd, sqlite3, libsodium) has shown a race.
tsan_logs="$(mktemp -d "${TMPDIR:-/tmp}/sendit-tsan.XXXXXX")"
tsan_status=0
# atexit_sleep_ms=0: ThreadSanitizer otherwise sleeps a second in every
# exiting process that still has threads, which a test that times a
# daemon's stop ("gone within 3 s of its database file being replaced")
# counts as the daemon's own slowness.
(cd build-tsan && TSAN_OPTIONS="log_path=$tsan_logs/tsan:second_deadlock_stack=1:atexit_sleep_ms=0" \
  ctest --output-on-failure -j2) || tsan_status=1
if compgen -G "$tsan_logs/tsan.*" >/dev/null; then
  cat "$tsan_logs"/tsan.*
  echo "ThreadSanitizer reported in $(ls "$tsan_logs" | wc -l) process(es); reports in $tsan_logs" >&2
  tsan_status=1
fi
[ "$tsan_status" -eq 0 ] || exit 1
rm -rf "$tsan_logs"

step "fuzzing the DICOM reader for ${fuzz_seconds}s"
bash fuzz/run.sh "$fuzz_seconds"

step "all checks passed"
