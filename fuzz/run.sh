#!/usr/bin/env bash
# Builds the libFuzzer targets with ASan+UBSan and fuzzes the Part 10 reader
# (fuzz_read), the writer's round trip read -> write -> read (fuzz_roundtrip),
# the network's PDU and DIMSE command parsers (fuzz_pdu), the identifier
# service's answer parser (fuzz_ids_json) and the deid recipe parser with its
# field matcher and filters (fuzz_recipe) and the leak scan
# (fuzz_deid_verify), the s3 destination's XML answer reader (fuzz_s3_xml) and the STOW-RS answer
# parser (fuzz_stow_response).
#
#   fuzz/run.sh [SECONDS]        fuzz for SECONDS in all (default 60): a
#                                fifth for fuzz_read, a fifth for
#                                fuzz_roundtrip, a tenth each for fuzz_pdu and
#                                fuzz_ids_json, a tenth each for fuzz_deid_verify, fuzz_s3_xml and
#                                fuzz_stow_response, the rest for fuzz_recipe, so
#                                the total stays the same
#
# First every file in tests/data/regress/ (inputs that once crashed) is run
# once through both, then each fuzzer runs over a scratch copy of fuzz/seeds
# so the committed corpus never changes behind git's back. Exits non-zero on any crash, leak,
# timeout, out-of-memory or sanitizer report; the offending input is left in
# the scratch directory printed at the end: minimise it (fuzz_read, fuzz_roundtrip or fuzz_pdu
# -minimize_crash=1 -runs=10000 FILE), add it to tests/data/regress/ with a
# name saying what it breaks, and fix the parser.
#
# Environment: FUZZ_JOBS (parallel fuzzing processes, default 1),
# FUZZ_CORPUS (a directory to keep the grown corpus in between runs instead of
# a throw-away copy), FUZZ_BUILD (build directory, default build-fuzz).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-60}
jobs=${FUZZ_JOBS:-1}
build=${FUZZ_BUILD:-$root/build-fuzz}

case $seconds in
'' | *[!0-9]*)
  echo "usage: $0 [SECONDS]" >&2
  exit 2
  ;;
esac

# Only the DICOM toolkit: the harnesses link sendit_dicom alone.
cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DSENDIT_FUZZ=ON -DSENDIT_SANITIZE=ON -DSENDIT_DICOM_ONLY=ON \
  -DSENDIT_TESTS=OFF >/dev/null
cmake --build "$build" --target fuzz_read fuzz_roundtrip fuzz_pdu fuzz_ids_json fuzz_recipe fuzz_deid_verify fuzz_s3_xml \
  fuzz_stow_response -j "$(nproc)" >/dev/null

scratch=$(mktemp -d "${TMPDIR:-/tmp}/sendit-fuzz.XXXXXX")
artifacts=$scratch/artifacts
mkdir -p "$artifacts"
corpus=${FUZZ_CORPUS:-$scratch/corpus}
mkdir -p "$corpus"
# README.md documents the seeds; it is not one.
find "$root/fuzz/seeds" -maxdepth 1 -type f ! -name README.md -exec cp -n {} "$corpus/" \;

# halt_on_error and abort make every sanitizer report a failing exit status;
# leaks are checked by libFuzzer itself (-detect_leaks defaults to 1).
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:halt_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

common=(-max_len=1048576 -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=5
  "-artifact_prefix=$artifacts/")

status=0
regress=()
for f in "$root"/tests/data/regress/*; do
  # README.md documents the inputs; it is not one.
  if [ -f "$f" ] && [ "${f##*/}" != README.md ]; then
    regress+=("$f")
  fi
done

# fuzz NAME SECONDS [SEEDS [DICT]]: replays the regression inputs, then fuzzes
# NAME from the shared corpus, or from the folder SEEDS (its own, not shared),
# with the dictionary DICT (default fuzz/dicom.dict).
fuzz() {
  local name=$1 secs=$2 fuzzer=$build/$1 seeds=${3:-} dict=${4:-$root/fuzz/dicom.dict}
  if [ "${#regress[@]}" -gt 0 ]; then
    echo "== $name: replaying ${#regress[@]} regression inputs"
    if ! "$fuzzer" "${common[@]}" "-dict=$dict" "${regress[@]}" >"$scratch/$name-regress.log" 2>&1; then
      echo "a regression input fails again in $name; see $scratch/$name-regress.log" >&2
      tail -n 40 "$scratch/$name-regress.log" >&2
      status=1
    fi
  fi
  echo "== $name: fuzzing for ${secs}s with $jobs job(s); scratch: $scratch"
  local fuzz_args=("${common[@]}" "-dict=$dict" -max_total_time="$secs" -print_final_stats=1)
  if [ "$jobs" -gt 1 ]; then
    fuzz_args+=(-fork="$jobs")
  fi
  mkdir -p "$corpus/$name"
  if [ -n "$seeds" ]; then
    find "$seeds" -maxdepth 1 -type f ! -name README.md -exec cp -n {} "$corpus/$name/" \;
  else
    cp -n "$corpus"/* "$corpus/$name/" 2>/dev/null || true
  fi
  if ! "$fuzzer" "${fuzz_args[@]}" "$corpus/$name" >"$scratch/$name.log" 2>&1; then
    status=1
  fi
  grep -E '^(stat::|Done|#[0-9]+.*DONE)' "$scratch/$name.log" || true
  if [ "$status" -ne 0 ]; then
    grep -E 'ERROR|SUMMARY|runtime error|broken invariant|fuzz_roundtrip:' "$scratch/$name.log" |
      head -n 20 >&2 || true
  fi
}

read_seconds=$((seconds / 5))
roundtrip_seconds=$((seconds / 5))
pdu_seconds=$((seconds / 10))
fuzz fuzz_read "$read_seconds"
fuzz fuzz_roundtrip "$roundtrip_seconds"
fuzz fuzz_pdu "$pdu_seconds" "$root/fuzz/seeds_pdu"
ids_seconds=$((seconds / 10))
fuzz fuzz_ids_json "$ids_seconds" "$root/fuzz/seeds_ids_json" "$root/fuzz/json.dict"
verify_seconds=$((seconds / 10))
fuzz fuzz_deid_verify "$verify_seconds"
s3_xml_seconds=$((seconds / 10))
fuzz fuzz_s3_xml "$s3_xml_seconds" "$root/fuzz/seeds_s3_xml" "$root/fuzz/s3_xml.dict"
stow_seconds=$((seconds / 10))
fuzz fuzz_stow_response "$stow_seconds" "$root/fuzz/seeds_stow" "$root/fuzz/json.dict"
fuzz fuzz_recipe "$((seconds - read_seconds - roundtrip_seconds - pdu_seconds - ids_seconds - verify_seconds - s3_xml_seconds - stow_seconds))" \
  "$root/fuzz/seeds_recipe" "$root/fuzz/recipe.dict"

found=$(find "$artifacts" -type f | wc -l)
if [ "$found" -gt 0 ] || [ "$status" -ne 0 ]; then
  echo "FAILED: $found artifact(s) in $artifacts; logs: $scratch/*.log" >&2
  exit 1
fi
echo "ok: no crash, leak, timeout or sanitizer report"
if [ -z "${FUZZ_CORPUS:-}" ]; then
  rm -rf "$scratch"
fi
