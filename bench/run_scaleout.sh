#!/usr/bin/env bash
# Scale-out benchmark: import throughput with 1, 2 and 4 `sendit worker`
# processes on PostgreSQL against SQLite with the same number of threads (one
# `sendit worker` process with [queue] workers = N), in one run, alternating.
#
#   bench/run_scaleout.sh                   # 100 studies x 100 small CT images (10,000 files), 3 rounds
#   bench/run_scaleout.sh --rounds 5 --studies 80
#   bench/run_scaleout.sh --check           # exit 1 when PostgreSQL with 2 workers is below 70%
#                                           # of SQLite with 2 threads
#   SENDIT_BIN=/path/to/sendit bench/run_scaleout.sh
#   SENDIT_BENCH_PG_URL=postgresql://... bench/run_scaleout.sh   # use that server
#
# Without SENDIT_BENCH_PG_URL the script starts a throwaway cluster with
# scripts/pg-test-cluster.sh (SENDIT_PG_DIR=/tmp/sendit-pg-bench; fsync on) and
# removes it at the end. Both backends are durable: SQLite runs WAL with
# synchronous=FULL, PostgreSQL fsyncs its WAL at every commit.
#
# What is timed: the jobs of every study folder are queued first (start_queue),
# the input is warm in the page cache, then the worker processes start; the time
# runs from their start to the last batch's finished_at (the database's own
# record, so the polling that waits for the end does not count).
# Results: a markdown table on stdout, also saved to bench/out/scaleout-results.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3

STUDIES=100 IMAGES=100 SEED=7 ROUNDS=3 CHECK=0 KEEP=0 WORKERS="1 2 4" TARGET=70
OUT="$HERE/out" BUILD="$ROOT/build-bench-scaleout" CORPUS="$HERE/corpus-scaleout"

usage() {
  cat <<EOF
usage: $0 [options]
  --studies N     study folders in the corpus (default 100)
  --images M      images per study (default 100; 16x16 pixels, so the database dominates)
  --rounds N      rounds; each runs every contender once, in alternating order (default 3)
  --workers LIST  worker counts to compare (default "1 2 4")
  --keep          keep bench/out/scaleout-work/ (the last sites) for inspection
  --check         exit 1 when PostgreSQL with 2 workers is below $TARGET% of SQLite with 2 threads
  -h, --help      this help
environment: SENDIT_BIN (use this binary), SENDIT_BENCH_PG_URL (use this PostgreSQL server; the
             script creates and drops databases on it)
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --studies) STUDIES=$2; shift ;;
    --images) IMAGES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --workers) WORKERS=$2; shift ;;
    --keep) KEEP=1 ;;
    --check) CHECK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_scaleout.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in STUDIES IMAGES ROUNDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_scaleout.sh: bad value for $v: ${!v}" >&2; exit 2; }
done
for w in $WORKERS; do
  [[ $w =~ ^[0-9]+$ ]] && [ "$w" -ge 1 ] || { echo "run_scaleout.sh: bad worker count: $w" >&2; exit 2; }
done

say() { printf '%s\n' "$*" >&2; }
die() { say "run_scaleout.sh: $*"; exit 2; }
WORK="$OUT/scaleout-work"
RESULTS="$OUT/scaleout-results.md"
mkdir -p "$OUT"
command -v sqlite3 >/dev/null || die "sqlite3 not found (apt-get install -y sqlite3)"
command -v psql >/dev/null || die "psql not found (apt-get install -y postgresql-client)"

# ---- sendit ---------------------------------------------------------------------
if [ -n "${SENDIT_BIN:-}" ]; then
  [ -x "$SENDIT_BIN" ] || die "SENDIT_BIN=$SENDIT_BIN is not executable"
  SENDIT=$(cd "$(dirname "$SENDIT_BIN")" && pwd)/$(basename "$SENDIT_BIN")
else
  say "building sendit in ${BUILD#"$ROOT"/} (Release)"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF >"$OUT/scaleout-build.log" 2>&1 &&
    cmake --build "$BUILD" --target sendit -j "$(nproc)" >>"$OUT/scaleout-build.log" 2>&1 ||
    die "build failed; see bench/out/scaleout-build.log"
  SENDIT="$BUILD/sendit"
fi
"$SENDIT" help worker >/dev/null 2>&1 || die "$SENDIT has no 'worker' command"

# ---- PostgreSQL -----------------------------------------------------------------
OWN_CLUSTER=0
if [ -n "${SENDIT_BENCH_PG_URL:-}" ]; then
  PG_URL=$SENDIT_BENCH_PG_URL
else
  export SENDIT_PG_DIR="${SENDIT_PG_DIR:-/tmp/sendit-pg-bench}"
  PG_URL=$(bash "$ROOT/scripts/pg-test-cluster.sh" start) || die "cannot start a PostgreSQL cluster"
  OWN_CLUSTER=1
fi
pg_admin() { psql -X -q -At -v ON_ERROR_STOP=1 "$PG_URL" "$@"; }
pg_admin -c "SELECT 1" >/dev/null || die "cannot reach PostgreSQL at $PG_URL"
pg_url_with_db() { local base="${PG_URL%%\?*}" query=""; [[ $PG_URL == *\?* ]] && query="?${PG_URL#*\?}"; echo "${base%/*}/$1$query"; }

# ---- corpus -----------------------------------------------------------------------
WANT=$((STUDIES * IMAGES))
PARAMS="studies=$STUDIES images=$IMAGES small=1 seed=$SEED"
STAMP="$CORPUS/.gen-params"
count_files() { find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f 2>/dev/null | wc -l; }
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PARAMS" ] && [ "$(count_files)" -eq "$WANT" ]; then
  say "corpus: $CORPUS already has $WANT files ($PARAMS)"
else
  if [ -d "$CORPUS" ] && [ -n "$(ls -A "$CORPUS" 2>/dev/null)" ]; then
    [ -f "$STAMP" ] || die "$CORPUS exists, is not empty and was not made by gen_corpus (no .gen-params)"
    rm -rf "$CORPUS"
  fi
  "$PY" "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$IMAGES" --seed "$SEED" --small \
    --out "$CORPUS" >&2 || die "corpus generation failed"
  printf '%s\n' "$PARAMS" >"$STAMP"
fi
N=$(count_files)
[ "$N" -eq "$WANT" ] || die "corpus has $N files, expected $WANT"

# ---- one measurement ----------------------------------------------------------------
PIDS=()
DBS=()
stop_workers() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
  PIDS=()
}
cleanup() {
  stop_workers
  local d
  for d in "${DBS[@]}"; do pg_admin -c "DROP DATABASE IF EXISTS $d WITH (FORCE)" >/dev/null 2>&1; done
  [ "$KEEP" = 1 ] || rm -rf "$WORK"
  [ "$OWN_CLUSTER" = 1 ] && bash "$ROOT/scripts/pg-test-cluster.sh" stop
}
trap cleanup EXIT
trap 'exit 130' INT TERM

q() { # q SITE SQL
  if [ "$BACKEND" = pg ]; then psql -X -At "$DB_URL" -c "$2" 2>/dev/null; else sqlite3 "$1/sendit.db" "$2" 2>/dev/null; fi
}
now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }

# measure BACKEND N -> LAST_FPS; status 0 when every file was imported once
MEASURE_SEQ=0
measure() {
  BACKEND=$1
  local n=$2 site="$WORK/$1-$2" procs threads
  MEASURE_SEQ=$((MEASURE_SEQ + 1))
  rm -rf "$site"
  mkdir -p "$site/data" "$site/logs"
  if [ "$BACKEND" = pg ]; then
    local db="scaleout_$$_$MEASURE_SEQ"
    pg_admin -c "CREATE DATABASE $db" || return 1
    DBS+=("$db")
    DB_URL=$(pg_url_with_db "$db")
    procs=$n threads=1
  else
    DB_URL="$site/sendit.db"
    procs=1 threads=$n
  fi
  cat >"$site/sendit.ini" <<EOF
[input]
folder = $site/data
[storage]
folder = $site/storage
work = $site/data/.work
quarantine = $site/quarantine
low_water_mb = 0
high_water_mb = 0
[database]
url = $DB_URL
[queue]
workers = $threads
[daemon]
logs = $site/logs
pidfile = $site/sendit.pid
log_level = warn
EOF
  # Hard links: the import renames them into storage, the corpus keeps its names.
  cp -al "$CORPUS"/* "$site/data/" || return 1
  "$SENDIT" start_queue --config "$site/sendit.ini" >/dev/null 2>"$site/logs/queue.err" || return 1
  find "$site/data" -type f -exec cat {} + >/dev/null
  sync
  local t0 i
  t0=$(now_ms)
  for ((i = 0; i < procs; i++)); do
    "$SENDIT" worker --config "$site/sendit.ini" 2>>"$site/logs/worker-$i.log" &
    PIDS+=($!)
  done
  local deadline=$((SECONDS + 600))
  while [ "$(q "$site" "SELECT count(*) FROM job WHERE state IN ('queued', 'running')")" != 0 ]; do
    [ $SECONDS -lt $deadline ] || { say "  $1-$2: not finished after 600 s"; stop_workers; return 1; }
    sleep 0.2
  done
  local t1 rows files
  t1=$(q "$site" "SELECT max(finished_at) FROM batch")
  stop_workers
  rows=$(q "$site" "SELECT count(*) FROM image WHERE status = 'DONE'")
  files=$(find "$site/storage" -type f | wc -l)
  LAST_FPS=$(awk -v n="$N" -v ms="$((t1 - t0))" 'BEGIN {printf "%.0f", n / (ms / 1000)}')
  LAST_MS=$((t1 - t0))
  if [ "$rows" != "$N" ] || [ "$files" != "$N" ]; then
    say "  $1-$2: $rows rows DONE and $files files in storage, expected $N"
    return 1
  fi
  [ "$KEEP" = 1 ] || rm -rf "$site"
}

# ---- rounds ------------------------------------------------------------------------
declare -A FPS
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "running $ROUNDS rounds over $N files in $STUDIES folders; workers: $WORKERS"
for ((r = 0; r < ROUNDS; r++)); do
  for n in $WORKERS; do
    order="sqlite pg"
    [ $((r % 2)) = 1 ] && order="pg sqlite"
    for b in $order; do
      if measure "$b" "$n"; then
        FPS[$b-$n]+="$LAST_FPS "
        say "  round $((r + 1)) $(printf '%-6s %d: %6d files/s (%d ms)' "$b" "$n" "$LAST_FPS" "$LAST_MS")"
      else
        say "  round $((r + 1)) $b $n: FAILED (logs in $WORK/$b-$n/logs)"
        KEEP=1
        exit 1
      fi
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.0f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.0f", 100 * a / b}'; }
scale() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
declare -A MED
for k in "${!FPS[@]}"; do MED[$k]=$(echo "${FPS[$k]}" | median); done
first=${WORKERS%% *}
VERDICT="n/a (no 2-worker run)"
if [ -n "${MED[pg-2]:-}" ] && [ -n "${MED[sqlite-2]:-}" ]; then
  R2=$(ratio "${MED[pg-2]}" "${MED[sqlite-2]}")
  if [ "$R2" -ge "$TARGET" ]; then VERDICT="PASS ($R2% >= $TARGET%)"; else VERDICT="MISS ($R2% < $TARGET%)"; fi
fi

{
  echo "# Scale-out benchmark: PostgreSQL worker processes vs SQLite threads"
  echo
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, sendit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'),"
  echo "$N files (${STUDIES} studies x ${IMAGES} images, 16x16 pixels) per run, $ROUNDS rounds, medians."
  echo "PostgreSQL: $(pg_admin -c 'SHOW server_version'), fsync $(pg_admin -c 'SHOW fsync'), synchronous_commit"
  echo "$(pg_admin -c 'SHOW synchronous_commit'), TCP to ${PG_URL#*@}. SQLite: WAL, synchronous=FULL."
  echo "Load average before / after: $LOAD_BEFORE / $LOAD_AFTER."
  echo
  echo "| workers | SQLite (1 process, N threads) files/s | PostgreSQL (N processes) files/s | PostgreSQL / SQLite | SQLite scaling | PostgreSQL scaling |"
  echo "|---:|---:|---:|---:|---:|---:|"
  for n in $WORKERS; do
    s=${MED[sqlite-$n]} p=${MED[pg-$n]}
    echo "| $n | $s | $p | $(ratio "$p" "$s")% | $(scale "$s" "${MED[sqlite-$first]}")x | $(scale "$p" "${MED[pg-$first]}")x |"
  done
  echo
  echo "Scaling is files/s relative to $first worker(s) of the same backend. All runs: "
  for n in $WORKERS; do echo "sqlite-$n: ${FPS[sqlite-$n]}/ pg-$n: ${FPS[pg-$n]}"; done | sed 's/^/    /'
  echo
  echo "Target: PostgreSQL with 2 workers at least $TARGET% of SQLite with 2 threads: $VERDICT"
} | tee "$RESULTS"

[ "$CHECK" = 1 ] && [[ $VERDICT == MISS* ]] && exit 1
exit 0
