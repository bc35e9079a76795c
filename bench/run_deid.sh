#!/usr/bin/env bash
# De-identification benchmark: `sendit deid --profile basic` against, in the same run and alternating
# (the order rotates every round), `cp -r` (the floor), GDCM's gdcmanon (its Basic Profile mode, -e, with a
# throw-away certificate), DCMTK's dcmodify doing comparable edits in place on a copy, and a pydicom script
# doing the profile's main edits (bench/pydicom_deid.py).
#
#   bench/run_deid.sh                   # 20 studies x 100 CT images (2,000 files, ~1 GB), 3 rounds
#   bench/run_deid.sh --small           # 2 x 50 files of 16x16 pixels: a quick check of the harness
#   bench/run_deid.sh --studies 2 --images 100 --rounds 5
#   SENDIT_BIN=/path/to/sendit bench/run_deid.sh
#
# Each contender is timed twice in one go: until its command returns ("command"), and until a following
# `sync` returns ("durable": its output on disk; sendit syncs its own output, the others leave it in the page
# cache). Before each contender the outputs of the last one are removed, `sync` runs and the corpus is read
# once (warm cache). Results: a markdown table on stdout, also in bench/out/deid-results.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
STUDIES=20 IMAGES=100 SMALL=0 SEED=1 ROUNDS=3 CHECK=0 KEEP=0
USE_GDCM=1 USE_DCMODIFY=1 USE_PYDICOM=1
CORPUS="" OUT="$HERE/out" BUILD="$ROOT/build-bench-deid" WORK_ARG=""

usage() {
  cat <<EOF
usage: $0 [options]
  --small            2 studies x 50 images of 16x16 pixels (corpus in bench/corpus-small)
  --studies N        studies in the corpus (default 20)
  --images M         images per study (default 100)
  --seed S           corpus seed (default 1)
  --corpus DIR       corpus folder (default bench/corpus, or bench/corpus-small with --small)
  --rounds N         rounds of alternating contenders (default 3)
  --no-gdcm | --no-dcmodify | --no-pydicom   skip that contender
  --work DIR         where the contenders write, in DIR/deid-work (default bench/out; a tmpfs such as /dev/shm
                     measures the programs without the disk)
  --keep             keep the work folder (the outputs of the last round)
  --check            exit 1 when a target is missed
environment: SENDIT_BIN  use this sendit binary instead of building build-bench-deid/sendit
EOF
}
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=1; STUDIES=2; IMAGES=50 ;;
    --studies) STUDIES=$2; shift ;;
    --images) IMAGES=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --corpus) CORPUS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --no-gdcm) USE_GDCM=0 ;;
    --no-dcmodify) USE_DCMODIFY=0 ;;
    --no-pydicom) USE_PYDICOM=0 ;;
    --work) WORK_ARG=$2; shift ;;
    --keep) KEEP=1 ;;
    --check) CHECK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_deid.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in STUDIES IMAGES SEED ROUNDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_deid.sh: bad value for $v: ${!v}" >&2; exit 2; }
done
if [ -z "$CORPUS" ]; then
  if [ "$SMALL" = 1 ]; then CORPUS="$HERE/corpus-small"; else CORPUS="$HERE/corpus"; fi
fi
SUFFIX=""; [ "$SMALL" = 1 ] && SUFFIX="-small"
RESULTS="$OUT/deid-results$SUFFIX${WORK_ARG:+-$(basename "$WORK_ARG")}.md"
WORK="${WORK_ARG:-$OUT}/deid-work$SUFFIX" # a folder of its own: removed at the end
TMP=$(mktemp -d)
mkdir -p "$OUT"
say() { printf '%s\n' "$*" >&2; }
die() { say "run_deid.sh: $*"; exit 2; }
cleanup() { [ "$KEEP" = 1 ] || rm -rf "$WORK"; rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ------------------------------------------------------------------
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY cannot import pydicom (apt-get install -y python3-pydicom)"
[ "$USE_GDCM" = 1 ] && ! command -v gdcmanon >/dev/null && { say "gdcmanon not found: skipped"; USE_GDCM=0; }
[ "$USE_GDCM" = 1 ] && ! command -v openssl >/dev/null && { say "openssl not found: gdcmanon skipped"; USE_GDCM=0; }
[ "$USE_DCMODIFY" = 1 ] && ! command -v dcmodify >/dev/null && { say "dcmodify not found: skipped"; USE_DCMODIFY=0; }

if [ -n "${SENDIT_BIN:-}" ]; then
  [ -x "$SENDIT_BIN" ] || die "SENDIT_BIN=$SENDIT_BIN is not executable"
  SENDIT=$(cd "$(dirname "$SENDIT_BIN")" && pwd)/$(basename "$SENDIT_BIN")
else
  say "building sendit in ${BUILD#"$ROOT"/} (Release)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF >"$OUT/deid-build.log" 2>&1 &&
    cmake --build "$BUILD" --target sendit -j "$(nproc)" >>"$OUT/deid-build.log" 2>&1 ||
    die "build failed (see bench/out/deid-build.log)"
  SENDIT="$BUILD/sendit"
fi

# ---- corpus (same generator, stamp and rules as run_import.sh) ----------------
WANT=$((STUDIES * IMAGES))
PARAMS="studies=$STUDIES images=$IMAGES small=$SMALL seed=$SEED"
STAMP="$CORPUS/.gen-params"
count_files() { find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f 2>/dev/null | wc -l; }
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PARAMS" ] && [ "$(count_files)" -eq "$WANT" ]; then
  say "corpus: $CORPUS already has $WANT files ($PARAMS)"
else
  if [ -d "$CORPUS" ] && [ -n "$(ls -A "$CORPUS" 2>/dev/null)" ]; then
    [ -f "$STAMP" ] || die "$CORPUS exists, is not empty and was not made by gen_corpus (no .gen-params)"
    rm -rf "$CORPUS"
  fi
  small_flag=(); [ "$SMALL" = 1 ] && small_flag=(--small)
  "$PY" "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$IMAGES" --seed "$SEED" \
    "${small_flag[@]}" --out "$CORPUS" || die "corpus generation failed"
  printf '%s\n' "$PARAMS" >"$STAMP"
fi
CORPUS=$(cd "$CORPUS" && pwd)
N=$(count_files)
[ "$N" -eq "$WANT" ] || die "corpus has $N files, expected $WANT"
BYTES=$(find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
mapfile -t STUDY_DIRS < <(find "$CORPUS" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | LC_ALL=C sort)

# ---- per-run material (outside the timed parts) -----------------------------------
KEY="$TMP/deid.key"
"$PY" -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600); os.write(fd, os.urandom(32))' "$KEY"
if [ "$USE_GDCM" = 1 ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/gdcm-key.pem" -out "$TMP/gdcm-cert.pem" \
    -days 1 -subj /CN=sendit-bench >/dev/null 2>&1 || { say "openssl failed: gdcmanon skipped"; USE_GDCM=0; }
fi

# ---- contenders: run_NAME OUTDIR ---------------------------------------------------------
prep_none() { :; }
run_cp() { cp -r "$CORPUS" "$1"; }
run_sendit() { "$SENDIT" deid -q --profile basic --key "$KEY" --out "$1" "$CORPUS" >"$TMP/sendit.log" 2>&1; }
run_gdcmanon() { gdcmanon -e -c "$TMP/gdcm-cert.pem" -r --continue -i "$CORPUS" -o "$1" >"$TMP/gdcm.log" 2>&1; }
# dcmodify edits in place: its copy of the corpus is made before the clock starts. The edits: names and ids
# replaced, birth date, address and institution removed, new study/series/instance UIDs, privates erased.
prep_dcmodify() { cp -r "$CORPUS" "$1"; }
run_dcmodify() {
  find "$1" -name 'IMG*.dcm' -type f -print0 | xargs -0 -n 500 dcmodify -nb -q -imt \
    -ma PatientName=ANON -ma PatientID=ANON -ma AccessionNumber=ANON -ea PatientBirthDate \
    -ea PatientAddress -ea InstitutionName -ea ReferringPhysicianName -gst -gse -gin -ep >"$TMP/dcmodify.log" 2>&1
}
run_pydicom() { "$PY" "$HERE/pydicom_deid.py" "$CORPUS" "$1" "$KEY" >"$TMP/pydicom.log" 2>&1; }

CONTENDERS=(cp sendit)
[ "$USE_GDCM" = 1 ] && CONTENDERS+=(gdcmanon)
[ "$USE_DCMODIFY" = 1 ] && CONTENDERS+=(dcmodify)
[ "$USE_PYDICOM" = 1 ] && CONTENDERS+=(pydicom)
now() { local t=${EPOCHREALTIME//[.,]/}; printf '%s' "$t"; }
warm() { find "$CORPUS" -type f -exec cat {} + >/dev/null; }
declare -A CMD DUR FAIL
for c in "${CONTENDERS[@]}"; do CMD[$c]=""; DUR[$c]=""; FAIL[$c]=0; done

mkdir -p "$WORK"
for ((r = 0; r < ROUNDS; r++)); do
  k=${#CONTENDERS[@]}
  for ((j = 0; j < k; j++)); do
    c=${CONTENDERS[$(((j + r) % k))]}
    dir="$WORK/$c"
    rm -rf "$WORK"/*
    if [ "$c" = dcmodify ]; then prep_dcmodify "$dir"; fi
    sync
    warm
    t0=$(now)
    if ! "run_$c" "$dir"; then FAIL[$c]=1; say "round $((r + 1)): $c failed (see its log)"; fi
    t1=$(now)
    sync
    t2=$(now)
    CMD[$c]+="$((t1 - t0)) "
    DUR[$c]+="$((t2 - t0)) "
    got=$(find "$dir" -type f -name '*.dcm' | wc -l)
    [ "$c" = gdcmanon ] && got=$(find "$dir" -type f | wc -l)
    [ "$got" -eq "$N" ] || { FAIL[$c]=1; say "round $((r + 1)): $c wrote $got files of $N"; }
    say "round $((r + 1)): $c $(((t1 - t0) / 1000)) ms (durable $(((t2 - t0) / 1000)) ms)"
  done
done

# ---- results ----------------------------------------------------------------
stats() { # microseconds... -> "median min max" in seconds
  printf '%s\n' "$@" | sort -n | awk '{v[NR] = $1} END {m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2;
    printf "%.3f %.3f %.3f", m / 1e6, v[1] / 1e6, v[NR] / 1e6}'
}
mbps() { awk -v b="$BYTES" -v s="$1" 'BEGIN {printf "%.0f", b / 1e6 / s}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
{
  echo "## De-identification: $N files, $(awk -v b="$BYTES" 'BEGIN {printf "%.0f", b / 1e6}') MB, $ROUNDS rounds ($(date -u +%Y-%m-%d), $(nproc) CPUs)"
  echo
  echo "| contender | command: median s (range) | MB/s | durable: median s (range) | MB/s |"
  echo "|---|---|---|---|---|"
  for c in "${CONTENDERS[@]}"; do
    read -r cm cl ch <<<"$(stats ${CMD[$c]})"
    read -r dm dl dh <<<"$(stats ${DUR[$c]})"
    note=""; [ "${FAIL[$c]}" = 1 ] && note=" (failed in some round)"
    echo "| $c$note | $cm ($cl-$ch) | $(mbps "$cm") | $dm ($dl-$dh) | $(mbps "$dm") |"
    eval "CM_$c=$cm DM_$c=$dm"
  done
  echo
  missed=0
  target() { # label value op want
    local ok; ok=$(awk -v v="$2" -v w="$4" "BEGIN {print (v $3 w) ? 1 : 0}")
    [ "$ok" = 1 ] && echo "- $1: $2 (target $3 $4): met" || { echo "- $1: $2 (target $3 $4): **not met**"; missed=1; }
  }
  target "sendit MB/s / cp MB/s, command" "$(ratio "$CM_cp" "$CM_sendit")" ">=" 0.5
  target "sendit MB/s / cp MB/s, durable" "$(ratio "$DM_cp" "$DM_sendit")" ">=" 0.5
  [ "$USE_GDCM" = 1 ] && target "gdcmanon time / sendit time, command" "$(ratio "$CM_gdcmanon" "$CM_sendit")" ">=" 3
  [ "$USE_DCMODIFY" = 1 ] && echo "- dcmodify time / sendit time, command: $(ratio "$CM_dcmodify" "$CM_sendit") (no target)"
  [ "$USE_PYDICOM" = 1 ] && target "pydicom time / sendit time, command" "$(ratio "$CM_pydicom" "$CM_sendit")" ">=" 30
  echo "$missed" >"$TMP/missed"
} | tee "$RESULTS"
[ "$CHECK" = 1 ] && [ "$(cat "$TMP/missed")" = 1 ] && exit 1
exit 0
