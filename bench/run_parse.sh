#!/usr/bin/env bash
# Header-parse benchmark: sendit against dcmdump, pydicom and the open+read-4KiB floor,
# all in one run, over the same corpus, each contender one process over all files.
#
#   bench/run_parse.sh                 # 20 studies x 100 CT images (2,000 files, ~1 GB), 3 rounds
#   bench/run_parse.sh --small         # 2 x 50 files of 16x16 pixels: a quick check of the harness
#   bench/run_parse.sh --rounds 5
#   SENDIT_BIN=/path/to/sendit bench/run_parse.sh
#
# Results: a markdown table on stdout, also saved to bench/out/parse-results.md
# (bench/out/parse-results-small.md for --small). See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3            # Debian's interpreter: the one that sees python3-pydicom
TIME=/usr/bin/time

STUDIES=20 IMAGES=100 SMALL=0 SEED=1 ROUNDS=3 CHECK=0 USE_SENDIT=1
CORPUS="" OUT="$HERE/out" BUILD="$ROOT/build-bench"

usage() {
  cat <<EOF
usage: $0 [options]
  --small            2 studies x 50 images of 16x16 pixels (quick run; corpus in bench/corpus-small)
  --studies N        studies in the corpus (default 20)
  --images M         images per study (default 100)
  --seed S           corpus seed (default 1)
  --corpus DIR       corpus folder (default bench/corpus, or bench/corpus-small with --small)
  --rounds N         rounds of alternating contenders (default 3)
  --no-sendit        skip sendit (measure only the other contenders)
  --check            exit 1 when a target is missed
  -h, --help         this help
environment: SENDIT_BIN  use this sendit binary instead of building build-bench/sendit
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
    --no-sendit) USE_SENDIT=0 ;;
    --check) CHECK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_parse.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in STUDIES IMAGES SEED ROUNDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_parse.sh: bad value for $v: ${!v}" >&2; exit 2; }
done
if [ -z "$CORPUS" ]; then
  if [ "$SMALL" = 1 ]; then CORPUS="$HERE/corpus-small"; else CORPUS="$HERE/corpus"; fi
fi
SUFFIX=""; [ "$SMALL" = 1 ] && SUFFIX="-small"
RESULTS="$OUT/parse-results$SUFFIX.md"
LIST="$OUT/parse-files$SUFFIX.txt"
LIST10="$OUT/parse-files$SUFFIX-tenth.txt"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT"

say() { printf '%s\n' "$*" >&2; }
die() { say "run_parse.sh: $*"; exit 2; }

# ---- tools ------------------------------------------------------------------
if [ ! -x "$TIME" ]; then
  say "GNU time missing: installing the 'time' package"
  apt-get install -y time >/dev/null 2>&1 || die "need $TIME (apt-get install -y time)"
fi
command -v dcmdump >/dev/null || die "dcmdump not found (apt-get install -y dcmtk)"
command -v cc >/dev/null || die "cc not found"
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY cannot import pydicom (apt-get install -y python3-pydicom)"

# ---- sendit -----------------------------------------------------------------
SENDIT=""
SENDIT_NOTE=""
if [ "$USE_SENDIT" = 1 ]; then
  if [ -n "${SENDIT_BIN:-}" ]; then
    [ -x "$SENDIT_BIN" ] || die "SENDIT_BIN=$SENDIT_BIN is not executable"
    SENDIT=$SENDIT_BIN
  else
    say "building sendit in $BUILD (Release)"
    # Configure every time (cheap when nothing changed; recovers from a failed configure).
    if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF \
         >"$OUT/build.log" 2>&1 &&
       cmake --build "$BUILD" --target sendit -j "$(nproc)" >>"$OUT/build.log" 2>&1 &&
       [ -x "$BUILD/sendit" ]; then
      SENDIT="$BUILD/sendit"
    else
      SENDIT_NOTE="build failed (see bench/out/build.log)"
      say "sendit: $SENDIT_NOTE; last lines:"
      tail -n 15 "$OUT/build.log" >&2
    fi
  fi
else
  SENDIT_NOTE="skipped (--no-sendit)"
fi

# ---- corpus -----------------------------------------------------------------
WANT=$((STUDIES * IMAGES))
PARAMS="studies=$STUDIES images=$IMAGES small=$SMALL seed=$SEED"
STAMP="$CORPUS/.gen-params"
count_files() { find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f 2>/dev/null | wc -l; }
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PARAMS" ] && [ "$(count_files)" -eq "$WANT" ]; then
  say "corpus: $CORPUS already has $WANT files ($PARAMS)"
else
  if [ -d "$CORPUS" ] && [ -n "$(ls -A "$CORPUS" 2>/dev/null)" ]; then
    [ -f "$STAMP" ] || die "$CORPUS exists, is not empty and was not made by gen_corpus (no .gen-params): remove it or pick --corpus"
    say "corpus: $CORPUS has other parameters or a wrong count: regenerating"
    rm -rf "$CORPUS"
  fi
  small_flag=(); [ "$SMALL" = 1 ] && small_flag=(--small)
  "$PY" "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$IMAGES" --seed "$SEED" \
      "${small_flag[@]}" --out "$CORPUS" || die "corpus generation failed"
  printf '%s\n' "$PARAMS" >"$STAMP"
  [ "$(count_files)" -eq "$WANT" ] || die "corpus has $(count_files) files, expected $WANT"
fi
CORPUS=$(cd "$CORPUS" && pwd)
find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f | LC_ALL=C sort >"$LIST"
N=$(wc -l <"$LIST")
N10=$(( (N + 9) / 10 ))
head -n "$N10" "$LIST" >"$LIST10"
CORPUS_MB=$(du -sm "$CORPUS" | cut -f1)

# ---- floor ------------------------------------------------------------------
FLOOR="$OUT/floor"
if [ ! -x "$FLOOR" ] || [ "$HERE/floor.c" -nt "$FLOOR" ]; then
  cc -O2 -o "$FLOOR" "$HERE/floor.c" || die "cannot build floor.c"
fi

# ---- contenders ---------------------------------------------------------------
# Each is one process over all the files of a list, so start-up is paid once. The
# command is run directly under GNU time (no wrapper shell), so the floor is not
# padded with a shell's start-up.
argv_fits() { [ $(( $(wc -c <"$1") + $(wc -l <"$1") * 8 + 65536 )) -lt "$(getconf ARG_MAX)" ]; }
# command_for NAME LIST -> array CMDV
command_for() {
  case $1 in
    sendit) CMDV=("$SENDIT" dump --headers-only --quiet --files-from "$2") ;;
    dcmdump)
      # -q: no per-file warning ("PixelData encountered, skipping rest") on stderr;
      # +sb 7fe0,0010: stop before the pixel data, as sendit's header-only mode.
      if argv_fits "$2"; then
        local files; mapfile -t files <"$2"
        CMDV=(dcmdump -q +sb 7fe0,0010 "${files[@]}")
      else
        CMDV=(xargs -d '\n' -a "$2" -s 2000000 dcmdump -q +sb 7fe0,0010)
      fi ;;
    pydicom) CMDV=("$PY" "$HERE/pydicom_parse.py" "$2") ;;
    floor) CMDV=("$FLOOR" "$2") ;;
  esac
}

NAMES=(sendit dcmdump pydicom floor)
declare -A CMD=(
  [sendit]="sendit dump --headers-only --quiet --files-from LIST"
  [dcmdump]="dcmdump -q +sb 7fe0,0010 FILE... >/dev/null"
  [pydicom]="pydicom_parse.py LIST: dcmread(stop_before_pixels=True)"
  [floor]="floor LIST: open, read 4 KiB, close"
)
declare -A OK TIMES RSS RSS10 RC
for c in "${NAMES[@]}"; do OK[$c]=1; TIMES[$c]=""; RSS[$c]=0; RSS10[$c]=0; done
[ -n "$SENDIT" ] || OK[sendit]=0

warm() { xargs -d '\n' -a "$1" cat >/dev/null; }

# Timed runs start the command straight from this shell (fork + exec, as any process
# start), without GNU time in between: its own fork and exec would add a millisecond or
# more, which is a large share of the floor's few milliseconds. Peak RSS comes from
# separate, untimed runs under GNU time.
# time_run NAME LIST -> LAST_US, LAST_RC; stdout to /dev/null, stderr kept
time_run() {
  local name=$1 list=$2 t0 t1
  command_for "$name" "$list"
  warm "$list"
  t0=${EPOCHREALTIME//[.,]/}
  "${CMDV[@]}" >/dev/null 2>"$TMP/$name.err"
  LAST_RC=$?
  t1=${EPOCHREALTIME//[.,]/}
  LAST_US=$((t1 - t0))
}
# rss_run NAME LIST -> LAST_RSS (KiB), LAST_RC
rss_run() {
  local name=$1 list=$2
  command_for "$name" "$list"
  warm "$list"
  "$TIME" -f '%M' -o "$TMP/rss" "${CMDV[@]}" >/dev/null 2>"$TMP/$name.err"
  LAST_RC=$?
  LAST_RSS=$(tail -n 1 "$TMP/rss")
}
left_out() { # NAME WHAT RC
  OK[$1]=0
  say "$1: exit status $3 $2; left out. stderr:"
  head -n 20 "$TMP/$1.err" >&2
  [ "$1" = sendit ] && SENDIT_NOTE="\`sendit dump --headers-only --quiet --files-from\` exited $3 $2"
  return 0
}

# Memory pass, untimed: every contender over the first tenth of the list, then over the
# whole list. It also checks that every contender works: one that fails is left out.
for c in "${NAMES[@]}"; do
  [ "${OK[$c]}" = 1 ] || continue
  rss_run "$c" "$LIST10"
  if [ "$LAST_RC" -ne 0 ]; then left_out "$c" "on $N10 files" "$LAST_RC"; continue; fi
  RSS10[$c]=$LAST_RSS
  rss_run "$c" "$LIST"
  if [ "$LAST_RC" -ne 0 ]; then left_out "$c" "on $N files" "$LAST_RC"; continue; fi
  RSS[$c]=$LAST_RSS
  say "  memory   $(printf '%-8s %8d KiB on %d files, %8d KiB on %d files' "$c" "${RSS10[$c]}" "$N10" "${RSS[$c]}" "$N")"
done

# Start-up cost: the same command over an empty list (not possible for dcmdump, which
# wants at least one file). Subtracted from the round times, it gives a per-file cost.
EMPTY="$TMP/empty.txt"; : >"$EMPTY"
declare -A START
for c in "${NAMES[@]}"; do START[$c]=""; done
measure_startup() {
  local c=$1 t0 t1
  [ "$c" = dcmdump ] && return 0
  command_for "$c" "$EMPTY"
  local i
  for i in 1 2 3 4 5; do
    t0=${EPOCHREALTIME//[.,]/}
    "${CMDV[@]}" >/dev/null 2>&1 || return 0
    t1=${EPOCHREALTIME//[.,]/}
    START[$c]+="$((t1 - t0)) "
  done
}

say "running $ROUNDS rounds over $N files (contenders alternate; files warmed before each)"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#NAMES[@]}; k++)); do
    c=${NAMES[$(( (k + r) % ${#NAMES[@]} ))]}   # rotate the order each round
    [ "${OK[$c]}" = 1 ] || continue
    time_run "$c" "$LIST"
    if [ "$LAST_RC" -ne 0 ]; then left_out "$c" "in round $((r + 1))" "$LAST_RC"; continue; fi
    TIMES[$c]+="$LAST_US "
    measure_startup "$c"
    say "  round $((r + 1)) $(printf '%-8s %9.4f s' "$c" "$(echo "$LAST_US" | awk '{print $1/1e6}')")"
  done
done

# ---- results ------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
best()   { tr ' ' '\n' | grep . | sort -n | head -n 1; }
declare -A MED BEST STARTMED
for c in "${NAMES[@]}"; do
  if [ "${OK[$c]}" = 1 ] && [ -n "${TIMES[$c]}" ]; then
    MED[$c]=$(echo "${TIMES[$c]}" | median); BEST[$c]=$(echo "${TIMES[$c]}" | best)
  else
    MED[$c]=0; BEST[$c]=0
  fi
  if [ -n "${START[$c]}" ]; then STARTMED[$c]=$(echo "${START[$c]}" | median); else STARTMED[$c]=0; fi
done
fps() { awk -v n="$N" -v us="$1" 'BEGIN {if (us > 0) printf "%.0f", n / (us / 1e6); else printf "n/a"}'; }
# per-file microseconds: (median - start-up) / N
perfile() { awk -v n="$N" -v us="$1" -v st="$2" 'BEGIN {if (us > 0 && st > 0 && us > st) printf "%.2f", (us - st) / n; else printf "n/a"}'; }
secs() { awk -v us="$1" 'BEGIN {if (us > 0) printf "%.4f", us / 1e6; else printf "n/a"}'; }
# ratio A_us B_us -> B/A (how many times faster A is), n/a when either is missing
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", b / a; else printf "n/a"}'; }
verdict() { # value op target
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "n/a") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= t) : (v + 0 <= t); print ok ? "PASS" : "FAIL" }'
}
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -vc '^??' || true)
# Bytes before the pixel data element in the first file: what a header parse must read.
HDR_BYTES=$("$PY" -c '
import sys
with open(sys.argv[1], "rb") as f:
    pos = f.read(1 << 16).find(b"\xe0\x7f\x10\x00OW")
print(pos if pos > 0 else "?")' "$(head -n 1 "$LIST")")

S=${MED[sendit]} D=${MED[dcmdump]} P=${MED[pydicom]} F=${MED[floor]}
R_PY=$(ratio "$S" "$P"); R_DD=$(ratio "$S" "$D")
R_FL=$(awk -v s="$S" -v f="$F" 'BEGIN {if (s > 0 && f > 0) printf "%.2f", s / f; else printf "n/a"}')
RB_PY=$(ratio "${BEST[sendit]}" "${BEST[pydicom]}"); RB_DD=$(ratio "${BEST[sendit]}" "${BEST[dcmdump]}")
RB_FL=$(awk -v s="${BEST[sendit]}" -v f="${BEST[floor]}" 'BEGIN {if (s > 0 && f > 0) printf "%.2f", s / f; else printf "n/a"}')
R_PF=$(awk -v s="$S" -v ss="${STARTMED[sendit]}" -v f="$F" -v fs="${STARTMED[floor]}" \
  'BEGIN {if (s > 0 && ss > 0 && f > fs && fs > 0) printf "%.2f", (s - ss) / (f - fs); else printf "n/a"}')
# Flat memory: peak RSS on N files within 10% + 1 MiB of the peak on N/10 files.
mem_growth() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a"}'; }
mem_verdict() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) print (a <= b * 1.10 + 1024) ? "PASS" : "FAIL"; else print "n/a"}'; }

{
  echo "# Header parse benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), sendit $GIT_REV$([ "$DIRTY" != 0 ] && echo " + uncommitted changes"),"\
       "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)."
  echo "Corpus: $N files ($STUDIES studies x $IMAGES images$([ "$SMALL" = 1 ] && echo ", 16x16 pixels" || echo ", 512x512x16-bit")),"\
       "$CORPUS_MB MB, header (preamble + meta + data set before pixel data) $HDR_BYTES bytes per file."
  echo "$ROUNDS rounds, contenders alternating, each file warmed (cat to /dev/null) before each contender;"\
       "times are wall clock of one process over all files, median (best) of the rounds."
  echo "Start-up: the same command over an empty list (median of 5 runs per round);"\
       "µs per file = (median - start-up) / files."
  echo
  echo "| contender | command | median s | best s | files/s (median) | files/s (best) | start-up s | µs per file | peak RSS KiB, $N files | peak RSS KiB, $N10 files |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  for c in "${NAMES[@]}"; do
    if [ "${MED[$c]}" = 0 ]; then
      r10=${RSS10[$c]}; [ "$r10" = 0 ] && r10=n/a
      echo "| $c | ${CMD[$c]} | n/a | n/a | n/a | n/a | n/a | n/a | n/a | $r10 |"
    else
      echo "| $c | ${CMD[$c]} | $(secs "${MED[$c]}") | $(secs "${BEST[$c]}") | $(fps "${MED[$c]}") | $(fps "${BEST[$c]}") | $(secs "${STARTMED[$c]}") | $(perfile "${MED[$c]}" "${STARTMED[$c]}") | ${RSS[$c]} | ${RSS10[$c]} |"
    fi
  done
  echo
  echo "| ratio | median | best | target | result (median) |"
  echo "|---|---:|---:|---|---|"
  echo "| sendit files/s / pydicom files/s | $R_PY | $RB_PY | >= 20 | $(verdict "$R_PY" '>=' 20) |"
  echo "| sendit files/s / dcmdump files/s | $R_DD | $RB_DD | >= 5 | $(verdict "$R_DD" '>=' 5) |"
  echo "| sendit time / floor time | $R_FL | $RB_FL | <= 2 | $(verdict "$R_FL" '<=' 2) |"
  echo "| sendit / floor per-file cost, start-up removed | $R_PF | | (information) | |"
  for c in "${NAMES[@]}"; do
    [ "${MED[$c]}" = 0 ] && continue
    target="flat (<= 1.10x + 1 MiB)"; res=$(mem_verdict "${RSS[$c]}" "${RSS10[$c]}")
    [ "$c" = sendit ] || res="($res)"
    echo "| $c peak RSS, $N / $N10 files | $(mem_growth "${RSS[$c]}" "${RSS10[$c]}") | | $target | $res |"
  done
  [ -z "$SENDIT_NOTE" ] || { echo; echo "sendit: $SENDIT_NOTE."; }
} | tee "$RESULTS"
say "saved to ${RESULTS#"$ROOT"/}"

if [ "$CHECK" = 1 ]; then
  [ "${MED[sendit]}" != 0 ] || exit 1
  for v in "$(verdict "$R_PY" '>=' 20)" "$(verdict "$R_DD" '>=' 5)" "$(verdict "$R_FL" '<=' 2)" \
           "$(mem_verdict "${RSS[sendit]}" "${RSS10[sendit]}")"; do
    [ "$v" = PASS ] || exit 1
  done
fi
[ "${MED[sendit]}" != 0 ] || exit 3
exit 0
