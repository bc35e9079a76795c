#!/usr/bin/env bash
# Folder-import benchmark: sendit's import of the generated corpus against, in
# the same run, a pydicom + SQLite import done the way the original sendit did
# it, and the physical floor (rename the folders, read 4 KiB of each file).
#
#   bench/run_import.sh                 # 20 studies x 100 CT images (2,000 files, ~1 GB), 3 rounds
#   bench/run_import.sh --small         # 2 x 50 files of 16x16 pixels: a quick check of the harness
#   bench/run_import.sh --rounds 5
#   SENDIT_BIN=/path/to/sendit bench/run_import.sh
#
# Results: a markdown table on stdout, also saved to bench/out/import-results.md
# (bench/out/import-results-small.md for --small). See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3            # Debian's interpreter: the one that sees python3-pydicom

STUDIES=20 IMAGES=100 SMALL=0 SEED=1 ROUNDS=3 CHECK=0 WORKERS=2 POLL_MS=2 KEEP=0 EXTRA_WORKERS=0
USE_DAEMON=1 USE_SEQ=1 USE_PYDICOM=1
CORPUS="" OUT="$HERE/out" BUILD="$ROOT/build-bench-import"

usage() {
  cat <<EOF
usage: $0 [options]
  --small            2 studies x 50 images of 16x16 pixels (quick run; corpus in bench/corpus-small)
  --studies N        studies in the corpus (default 20)
  --images M         images per study (default 100)
  --seed S           corpus seed (default 1)
  --corpus DIR       corpus folder (default bench/corpus, or bench/corpus-small with --small)
  --rounds N         rounds of alternating contenders (default 3)
  --workers N        [queue] workers of the sendit daemon (default 2)
  --poll-ms MS       how often the daemon contender's timer polls the database (default 2)
  --extra-workers N  also time the daemon with [queue] workers = N (for information; no target)
  --no-daemon        skip the sendit daemon contender
  --no-seq           skip the sequential 'sendit import_dicomdir' contender
  --no-pydicom       skip the pydicom contender (the slow one: ~1 min per round on the full corpus)
  --keep             keep bench/out/import-work/ (the sites of the last round) for inspection
  --check            exit 1 when a target is missed
  -h, --help         this help
environment: SENDIT_BIN  use this sendit binary instead of building build-bench-import/sendit
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
    --workers) WORKERS=$2; shift ;;
    --poll-ms) POLL_MS=$2; shift ;;
    --extra-workers) EXTRA_WORKERS=$2; shift ;;
    --no-daemon) USE_DAEMON=0 ;;
    --no-seq) USE_SEQ=0 ;;
    --no-pydicom) USE_PYDICOM=0 ;;
    --keep) KEEP=1 ;;
    --check) CHECK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_import.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in STUDIES IMAGES SEED ROUNDS WORKERS POLL_MS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_import.sh: bad value for $v: ${!v}" >&2; exit 2; }
done
[[ $EXTRA_WORKERS =~ ^[0-9]+$ ]] || { echo "run_import.sh: bad value for --extra-workers: $EXTRA_WORKERS" >&2; exit 2; }
if [ -z "$CORPUS" ]; then
  if [ "$SMALL" = 1 ]; then CORPUS="$HERE/corpus-small"; else CORPUS="$HERE/corpus"; fi
fi
SUFFIX=""; [ "$SMALL" = 1 ] && SUFFIX="-small"
RESULTS="$OUT/import-results$SUFFIX.md"
WORK="$OUT/import-work$SUFFIX"   # one site per contender, on the corpus's file system
TMP=$(mktemp -d)
mkdir -p "$OUT"

say() { printf '%s\n' "$*" >&2; }
die() { say "run_import.sh: $*"; exit 2; }

# ---- tools ------------------------------------------------------------------
command -v cc >/dev/null || die "cc not found"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install -y sqlite3)"
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY cannot import pydicom (apt-get install -y python3-pydicom)"

# ---- sendit -----------------------------------------------------------------
SENDIT=""
SENDIT_NOTE=""
if [ "$USE_DAEMON" = 1 ] || [ "$USE_SEQ" = 1 ]; then
  if [ -n "${SENDIT_BIN:-}" ]; then
    [ -x "$SENDIT_BIN" ] || die "SENDIT_BIN=$SENDIT_BIN is not executable"
    SENDIT=$(cd "$(dirname "$SENDIT_BIN")" && pwd)/$(basename "$SENDIT_BIN")
  else
    say "building sendit in ${BUILD#"$ROOT"/} (Release)"
    if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF \
         >"$OUT/import-build.log" 2>&1 &&
       cmake --build "$BUILD" --target sendit -j "$(nproc)" >>"$OUT/import-build.log" 2>&1 &&
       [ -x "$BUILD/sendit" ]; then
      SENDIT="$BUILD/sendit"
    else
      SENDIT_NOTE="build failed (see bench/out/import-build.log)"
      say "sendit: $SENDIT_NOTE; last lines:"
      tail -n 15 "$OUT/import-build.log" >&2
    fi
  fi
else
  SENDIT_NOTE="skipped (--no-daemon --no-seq)"
fi

# ---- corpus (same generator, stamp and rules as run_parse.sh) -------------------
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
mapfile -t STUDY_DIRS < <(find "$CORPUS" -mindepth 1 -maxdepth 1 -type d ! -name '.*' | LC_ALL=C sort)
NB=${#STUDY_DIRS[@]}
N=$(count_files)
BYTES=$(find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f -printf '%s\n' | awk '{s += $1} END {printf "%.0f", s}')
[ "$NB" -eq "$STUDIES" ] || die "corpus has $NB study folders, expected $STUDIES"

# ---- floor ------------------------------------------------------------------
FLOOR="$OUT/floor_import"
if [ ! -x "$FLOOR" ] || [ "$HERE/floor_import.c" -nt "$FLOOR" ]; then
  cc -O2 -o "$FLOOR" "$HERE/floor_import.c" || die "cannot build floor_import.c"
fi

# ---- sites ------------------------------------------------------------------
# A site is a fresh folder per contender and round: stage/ holds the copy of the
# corpus (made outside the timed part), the rest is what the contender writes.
site_dir() { printf '%s/%s' "$WORK" "$1"; }
write_ini() { # SITE [WORKERS]
  cat >"$1/sendit.ini" <<EOF
[input]
folder = $1/data
[storage]
folder = $1/storage
work = $1/data/.work
quarantine = $1/quarantine
low_water_mb = 0
high_water_mb = 0
[database]
url = $1/sendit.db
[daemon]
logs = $1/logs
pidfile = $1/sendit.pid
[queue]
workers = ${2:-$WORKERS}
EOF
}
RUNNING_INI=""   # the ini of a daemon this script started and has not stopped yet
stop_daemon() {
  [ -n "$RUNNING_INI" ] || return 0
  if ! "$SENDIT" stop_watcher --config "$RUNNING_INI" >/dev/null 2>&1; then
    # Only the daemon we started: its pid is in its own pidfile.
    local pidfile pid
    pidfile="$(dirname "$RUNNING_INI")/sendit.pid"
    pid=$(cat "$pidfile" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill "$pid" 2>/dev/null
  fi
  RUNNING_INI=""
}
cleanup() {
  stop_daemon
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# fresh_site NAME -> SITE: an empty site with the corpus copied into SITE/stage
# and flushed to disk, so writeback of the copy does not run during the timed part.
fresh_site() { # NAME [WORKERS]
  SITE=$(site_dir "$1")
  rm -rf "$SITE"
  mkdir -p "$SITE/stage" "$SITE/data" || return 1
  write_ini "$SITE" "${2:-$WORKERS}"
  cp -r "${STUDY_DIRS[@]}" "$SITE/stage/" || return 1
  sync
}
warm() { find "$1" -type f -exec cat {} + >/dev/null; }
now_us() { local t=${EPOCHREALTIME//[.,]/}; printf '%s' "$t"; }
q() { sqlite3 -bail "$1" "$2" 2>/dev/null || echo "?"; }
stored_files() { find "$1" -type f -name "$2" 2>/dev/null | wc -l; }
stored_bytes() { find "$1" -type f -name "$2" -printf '%s\n' 2>/dev/null | awk '{s += $1} END {printf "%.0f", s}'; }
leftovers() { find "$@" -type f 2>/dev/null | wc -l; }

# Correctness after a sendit run: every file stored once, byte for byte in
# total, one DONE row per image and per batch, nothing left behind or quarantined.
verify_sendit() { # SITE -> VERIFY_MSG; status 0 when right
  local s=$1 rows batches files bytes left quar
  rows=$(q "$s/sendit.db" "SELECT count(*) FROM image WHERE status = 'DONE'")
  batches=$(q "$s/sendit.db" "SELECT count(*) FROM batch WHERE status = 'DONE'")
  files=$(stored_files "$s/storage" '*.dcm')
  bytes=$(stored_bytes "$s/storage" '*.dcm')
  left=$(leftovers "$s/stage" "$s/data")
  quar=$(leftovers "$s/quarantine")
  VERIFY_MSG="$rows image rows DONE, $batches batches DONE, $files files / $bytes bytes in storage, $left left in input, $quar quarantined"
  [ "$rows" = "$N" ] && [ "$batches" = "$NB" ] && [ "$files" = "$N" ] && [ "$bytes" = "$BYTES" ] &&
    [ "$left" = 0 ] && [ "$quar" = 0 ]
}
verify_pydicom() {
  local s=$1 rows batches files bytes left
  rows=$(q "$s/sendit.db" "SELECT count(*) FROM main_image")
  batches=$(q "$s/sendit.db" "SELECT count(*) FROM main_batch WHERE status = 'DONE' AND has_error = 0")
  files=$(stored_files "$s/storage" 'IMG*.dcm')
  bytes=$(stored_bytes "$s/storage" 'IMG*.dcm')
  left=$(leftovers "$s/stage")
  VERIFY_MSG="$rows image rows, $batches batches DONE, $files files / $bytes bytes in storage, $left left in input"
  [ "$rows" = "$N" ] && [ "$batches" = "$NB" ] && [ "$files" = "$N" ] && [ "$bytes" = "$BYTES" ] && [ "$left" = 0 ]
}
verify_floor() {
  local s=$1 files left
  files=$(stored_files "$s/storage" 'IMG*.dcm')
  left=$(leftovers "$s/stage")
  VERIFY_MSG="$files files in storage, $left left in input"
  [ "$files" = "$N" ] && [ "$left" = 0 ]
}

# ---- contenders -----------------------------------------------------------------
# run_CONTENDER -> LAST_US (wall clock of the timed part), LAST_INFO; status 0 when the
# run worked and verified. Errors go to $TMP/NAME.err.

# (a) the daemon: started and up before the clock; the clock runs from the renames of
# all study folders into data/ to the poll that sees every batch finished.
run_daemon() { # [NAME WORKERS]
  local name=${1:-daemon} err="$TMP/${1:-daemon}.err" out
  : >"$err"
  fresh_site "$name" "${2:-$WORKERS}" || { echo "cannot prepare the site" >>"$err"; return 1; }
  if ! "$SENDIT" start_watcher --config "$SITE/sendit.ini" >/dev/null 2>>"$err"; then
    echo "sendit start_watcher exited non-zero" >>"$err"
    cat "$SITE/logs/watcher.log" >>"$err" 2>/dev/null; return 1
  fi
  RUNNING_INI="$SITE/sendit.ini"
  # Up: start_watcher returned after the daemon said so; let its workers open the
  # database and go idle, and make sure the schema is there.
  local i
  for i in $(seq 50); do
    [ "$(q "$SITE/sendit.db" "SELECT count(*) FROM batch")" = 0 ] && break
    sleep 0.1
  done
  sleep 0.3
  warm "$SITE/stage"
  out=$("$PY" "$HERE/drop_import.py" "$SITE/stage" "$SITE/data" "$SITE/sendit.db" "$NB" "$POLL_MS" 2>>"$err")
  local rc=$?
  stop_daemon
  if [ $rc -ne 0 ]; then cat "$SITE/logs/watcher.log" >>"$err" 2>/dev/null; return 1; fi
  read -r LAST_US DAEMON_REC_US _ <<<"$out"
  LAST_INFO="daemon's own finished_at: $(awk -v u="$DAEMON_REC_US" 'BEGIN {printf "%.4f s", u / 1e6}')"
  verify_sendit "$SITE" || { echo "verification failed: $VERIFY_MSG" >>"$err"; return 1; }
}
# The same with another number of workers (--extra-workers), for information.
run_daemonx() { run_daemon daemonx "$EXTRA_WORKERS"; }

# (a') `sendit import_dicomdir` per study folder, one after the other, started from
# this shell. The database is made before the clock starts.
run_seq() {
  local err="$TMP/seq.err" d t0 t1 rc=0
  : >"$err"
  fresh_site seq || { echo "cannot prepare the site" >>"$err"; return 1; }
  "$SENDIT" start_queue --config "$SITE/sendit.ini" >/dev/null 2>>"$err" ||
    { echo "sendit start_queue (creating the database) exited non-zero" >>"$err"; return 1; }
  local dirs=()
  for d in "${STUDY_DIRS[@]}"; do dirs+=("$SITE/stage/${d##*/}"); done
  warm "$SITE/stage"
  t0=$(now_us)
  for d in "${dirs[@]}"; do
    "$SENDIT" import_dicomdir "$d" --config "$SITE/sendit.ini" >>"$TMP/seq.out" 2>>"$err" ||
      { rc=$?; echo "sendit import_dicomdir $d exited $rc" >>"$err"; break; }
  done
  t1=$(now_us)
  [ $rc -eq 0 ] || return 1
  LAST_US=$((t1 - t0)); LAST_INFO=""
  verify_sendit "$SITE" || { echo "verification failed: $VERIFY_MSG" >>"$err"; return 1; }
}

# (b) pydicom the original's way: one process over all folders.
run_pydicom() {
  local err="$TMP/pydicom.err" t0 t1
  : >"$err"
  fresh_site pydicom || { echo "cannot prepare the site" >>"$err"; return 1; }
  warm "$SITE/stage"
  t0=$(now_us)
  "$PY" "$HERE/pydicom_import.py" "$SITE/stage" "$SITE" >"$TMP/pydicom.out" 2>>"$err" ||
    { echo "pydicom_import.py exited non-zero" >>"$err"; return 1; }
  t1=$(now_us)
  LAST_US=$((t1 - t0)); LAST_INFO="$(cat "$TMP/pydicom.out")"
  verify_pydicom "$SITE" || { echo "verification failed: $VERIFY_MSG" >>"$err"; return 1; }
}

# (c) the floor: rename each study folder into storage/, read 4 KiB of each file.
run_floor() {
  local err="$TMP/floor.err" t0 t1
  : >"$err"
  fresh_site floor || { echo "cannot prepare the site" >>"$err"; return 1; }
  mkdir -p "$SITE/storage"
  warm "$SITE/stage"
  t0=$(now_us)
  "$FLOOR" "$SITE/stage" "$SITE/storage" >/dev/null 2>>"$err" || { echo "floor_import exited non-zero" >>"$err"; return 1; }
  t1=$(now_us)
  LAST_US=$((t1 - t0)); LAST_INFO=""
  verify_floor "$SITE" || { echo "verification failed: $VERIFY_MSG" >>"$err"; return 1; }
}

# (c') for information: the same, but every file renamed on its own (sendit's layout).
run_floorpf() {
  local err="$TMP/floorpf.err" t0 t1
  : >"$err"
  fresh_site floorpf || { echo "cannot prepare the site" >>"$err"; return 1; }
  mkdir -p "$SITE/storage"
  warm "$SITE/stage"
  t0=$(now_us)
  "$FLOOR" --per-file "$SITE/stage" "$SITE/storage" >/dev/null 2>>"$err" ||
    { echo "floor_import --per-file exited non-zero" >>"$err"; return 1; }
  t1=$(now_us)
  LAST_US=$((t1 - t0)); LAST_INFO=""
  verify_floor "$SITE" || { echo "verification failed: $VERIFY_MSG" >>"$err"; return 1; }
}

NAMES=(daemon seq pydicom floor floorpf)
[ "$EXTRA_WORKERS" -ge 1 ] && NAMES=(daemon daemonx seq pydicom floor floorpf)
declare -A CMD=(
  [floorpf]="floor_import --per-file: each file read (4 KiB) and renamed on its own into storage/<folder>/, as sendit's layout needs"
  [daemonx]="the same with [queue] workers = $EXTRA_WORKERS"
  [daemon]="sendit start_watcher, $WORKERS workers: all $NB folders renamed into data/ at once; until every batch is finished (polled every $POLL_MS ms)"
  [seq]="sendit import_dicomdir FOLDER, once per folder, one after the other"
  [pydicom]="pydicom_import.py: per file dcmread, INSERT (autocommit), shutil.copy, os.remove"
  [floor]="floor_import: rename each folder into storage/, open + read 4 KiB + close each file"
)
declare -A LABEL=([daemonx]="sendit (daemon, workers = $EXTRA_WORKERS)" [daemon]="sendit (daemon, workers = $WORKERS)" [seq]="sendit (import_dicomdir)" [pydicom]="pydicom" [floor]="floor" [floorpf]="floor, per-file renames (information)")
declare -A OK TIMES INFO NOTE
for c in "${NAMES[@]}"; do OK[$c]=1; TIMES[$c]=""; INFO[$c]=""; NOTE[$c]=""; done
[ "$USE_DAEMON" = 1 ] && [ -n "$SENDIT" ] || OK[daemon]=0
[ "$USE_DAEMON" = 1 ] && [ -n "$SENDIT" ] || OK[daemonx]=0
[ "$USE_SEQ" = 1 ] && [ -n "$SENDIT" ] || OK[seq]=0
[ "$USE_PYDICOM" = 1 ] || OK[pydicom]=0
[ "$USE_DAEMON" = 1 ] || NOTE[daemon]="skipped (--no-daemon)"
[ "$USE_SEQ" = 1 ] || NOTE[seq]="skipped (--no-seq)"
[ "$USE_PYDICOM" = 1 ] || NOTE[pydicom]="skipped (--no-pydicom)"
if [ -z "$SENDIT" ]; then
  [ "$USE_DAEMON" = 1 ] && NOTE[daemon]=$SENDIT_NOTE && NOTE[daemonx]=$SENDIT_NOTE
  [ "$USE_SEQ" = 1 ] && NOTE[seq]=$SENDIT_NOTE
fi

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "running $ROUNDS rounds over $N files in $NB folders (contenders alternate; fresh copy, synced and warmed, before each)"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#NAMES[@]}; k++)); do
    c=${NAMES[$(( (k + r) % ${#NAMES[@]} ))]}   # rotate the order each round
    [ "${OK[$c]}" = 1 ] || continue
    DAEMON_REC_US=""
    if "run_$c"; then
      TIMES[$c]+="$LAST_US "
      [ -n "$DAEMON_REC_US" ] && INFO[$c]+="$DAEMON_REC_US "
      say "  round $((r + 1)) $(printf '%-8s %9.4f s' "$c" "$(awk -v u="$LAST_US" 'BEGIN {print u / 1e6}')")${LAST_INFO:+  ($LAST_INFO)}"
    else
      OK[$c]=0
      NOTE[$c]="failed in round $((r + 1)): $(grep -v '^$' "$TMP/$c.err" | head -n 3 | tr '\n' ' ')"
      say "$c: failed in round $((r + 1)); left out. Errors:"
      head -n 20 "$TMP/$c.err" >&2
      stop_daemon
    fi
    # Sites are big (a copy of the corpus): keep only the last round's with --keep.
    if [ "$KEEP" = 0 ] || [ $r -lt $((ROUNDS - 1)) ]; then rm -rf "$(site_dir "$c")"; fi
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- results ------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
best()   { tr ' ' '\n' | grep . | sort -n | head -n 1; }
declare -A MED BEST
for c in "${NAMES[@]}"; do
  if [ -n "${TIMES[$c]}" ] && [ "${OK[$c]}" = 1 ]; then
    MED[$c]=$(echo "${TIMES[$c]}" | median); BEST[$c]=$(echo "${TIMES[$c]}" | best)
  else
    MED[$c]=0; BEST[$c]=0
  fi
done
REC_MED=0; [ -n "${INFO[daemon]}" ] && REC_MED=$(echo "${INFO[daemon]}" | median)
fps() { awk -v n="$N" -v us="$1" 'BEGIN {if (us > 0) printf "%.0f", n / (us / 1e6); else printf "n/a"}'; }
mbps() { awk -v b="$BYTES" -v us="$1" 'BEGIN {if (us > 0) printf "%.0f", b / us; else printf "n/a"}'; }
secs() { awk -v us="$1" 'BEGIN {if (us > 0) printf "%.4f", us / 1e6; else printf "n/a"}'; }
usf()  { awk -v n="$N" -v us="$1" 'BEGIN {if (us > 0) printf "%.1f", us / n; else printf "n/a"}'; }
# speedup A_us B_us -> B/A (how many times faster A is); slowdown A_us B_us -> A/B
speedup()  { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.1f", b / a; else printf "n/a"}'; }
slowdown() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", a / b; else printf "n/a"}'; }
verdict() { # value op target
  awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "n/a") { print "n/a"; exit }
    ok = (op == ">=") ? (v + 0 >= t) : (v + 0 <= t); print ok ? "PASS" : "FAIL" }'
}
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -vc '^??' || true)
MB=$(awk -v b="$BYTES" 'BEGIN {printf "%.0f", b / 1e6}')

declare -A R_PY R_FL RB_PY RB_FL
for c in daemon daemonx seq; do
  [ -n "${MED[$c]:-}" ] || { MED[$c]=0; BEST[$c]=0; }
  R_PY[$c]=$(speedup "${MED[$c]}" "${MED[pydicom]}"); RB_PY[$c]=$(speedup "${BEST[$c]}" "${BEST[pydicom]}")
  R_FL[$c]=$(slowdown "${MED[$c]}" "${MED[floor]}"); RB_FL[$c]=$(slowdown "${BEST[$c]}" "${BEST[floor]}")
done

{
  echo "# Folder import benchmark"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), sendit $GIT_REV$([ "$DIRTY" != 0 ] && echo " + uncommitted changes"),"\
       "$(nproc) CPUs, load $LOAD_BEFORE before and $LOAD_AFTER after, kernel $(uname -r)."
  [ -n "$SENDIT" ] && echo "sendit binary: ${SENDIT#"$ROOT"/}, built $(date -u -r "$SENDIT" '+%Y-%m-%d %H:%M UTC')$([ -n "${SENDIT_BIN:-}" ] && echo " (SENDIT_BIN: the revision above is the work tree's, not necessarily the binary's)")."
  echo "Corpus: $N files in $NB study folders ($STUDIES x $IMAGES$([ "$SMALL" = 1 ] && echo ", 16x16 pixels" || echo ", 512x512x16-bit CT")),"\
       "$MB MB (10^6 bytes). MB/s below is corpus bytes moved into storage per second."
  echo "$ROUNDS rounds, contenders alternating; before each: a fresh \`cp -r\` of the corpus on the same file system,"\
       "\`sync\`, then every file read with \`cat\` to /dev/null. Times are wall clock, median (best) of the rounds."
  echo "Every run is checked afterwards (rows, files and bytes in storage, nothing left in the input) or left out."
  echo
  echo "| contender | what is timed | median s | best s | files/s (median) | MB/s (median) | files/s (best) | µs per file (median) |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|"
  for c in "${NAMES[@]}"; do
    if [ "${MED[$c]}" = 0 ]; then
      echo "| ${LABEL[$c]} | ${CMD[$c]} | n/a | n/a | n/a | n/a | n/a | n/a |"
    else
      echo "| ${LABEL[$c]} | ${CMD[$c]} | $(secs "${MED[$c]}") | $(secs "${BEST[$c]}") | $(fps "${MED[$c]}") | $(mbps "${MED[$c]}") | $(fps "${BEST[$c]}") | $(usf "${MED[$c]}") |"
    fi
  done
  echo
  echo "| ratio | median | best | target | result (median) |"
  echo "|---|---:|---:|---|---|"
  for c in daemon seq; do
    echo "| ${LABEL[$c]} files/s / pydicom files/s | ${R_PY[$c]} | ${RB_PY[$c]} | >= 50 | $(verdict "${R_PY[$c]}" '>=' 50) |"
    echo "| ${LABEL[$c]} time / floor time | ${R_FL[$c]} | ${RB_FL[$c]} | <= 3 | $(verdict "${R_FL[$c]}" '<=' 3) |"
  done
  if [ "${MED[floorpf]}" != 0 ]; then
    for c in daemon seq; do
      echo "| ${LABEL[$c]} time / per-file-rename floor time | $(slowdown "${MED[$c]}" "${MED[floorpf]}") | $(slowdown "${BEST[$c]}" "${BEST[floorpf]}") | (information) | |"
    done
  fi
  if [ "${MED[daemonx]}" != 0 ]; then
    echo "| ${LABEL[daemonx]} files/s / pydicom files/s | ${R_PY[daemonx]} | ${RB_PY[daemonx]} | (information) | |"
    echo "| ${LABEL[daemonx]} time / floor time | ${R_FL[daemonx]} | ${RB_FL[daemonx]} | (information) | |"
  fi
  if [ "$REC_MED" != 0 ] && [ "${MED[daemon]}" != 0 ]; then
    echo
    echo "Daemon, by its own clock (latest \`batch.finished_at\` minus the start of the renames, ms resolution):"\
         "median $(secs "$REC_MED") s, $(slowdown "$REC_MED" "${MED[floor]}")x the floor."
  fi
  for c in "${NAMES[@]}"; do
    [ -z "${NOTE[$c]}" ] || { echo; echo "${LABEL[$c]}: ${NOTE[$c]}"; }
  done
} | tee "$RESULTS"
say "saved to ${RESULTS#"$ROOT"/}"

if [ "$CHECK" = 1 ]; then
  for c in daemon seq; do
    [ "$c" = daemon ] && [ "$USE_DAEMON" = 0 ] && continue
    [ "$c" = seq ] && [ "$USE_SEQ" = 0 ] && continue
    for v in "$(verdict "${R_PY[$c]}" '>=' 50)" "$(verdict "${R_FL[$c]}" '<=' 3)"; do
      [ "$v" = PASS ] || exit 1
    done
  done
fi
{ [ "$USE_DAEMON" = 0 ] || [ "${MED[daemon]}" != 0 ]; } && { [ "$USE_SEQ" = 0 ] || [ "${MED[seq]}" != 0 ]; } || exit 3
exit 0
