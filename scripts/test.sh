#!/usr/bin/env bash
# The README's test command: install what is missing, build, check formatting,
# run every test on SQLite and again on a throwaway PostgreSQL cluster, run the
# whole suite again under ASan+UBSan on both backends, and fuzz the
# DICOM reader for a bounded time. Any failure stops the run non-zero.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
fuzz_seconds="${SENDIT_FUZZ_SECONDS:-60}"
step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "format (clang-format --dry-run --Werror)"
git ls-files -co --exclude-standard '*.c' '*.h' | xargs clang-format --dry-run --Werror

step "build (warnings are errors)"
BUILD_DIR="$root/build" bash scripts/build.sh -DSENDIT_WERROR=ON -DSENDIT_TESTS=ON

step "tests (SQLite)"
(cd build && ctest --output-on-failure -j2)

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

step "fuzzing the DICOM reader for ${fuzz_seconds}s"
bash fuzz/run.sh "$fuzz_seconds"

step "all checks passed"
