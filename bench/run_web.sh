#!/usr/bin/env bash
# Web API benchmark: requests per second and p99 latency of
# GET /api/images?page=N with 100,000 images in the database, under wrk from
# a second process. The images are inserted directly with SQL in one
# transaction (importing 100,000 files would measure the import, not the
# API); the daemon then serves them with its real configuration.
#
#   bench/run_web.sh                    # 100,000 images, wrk -t2 -c16 -d10s
#   bench/run_web.sh --images 20000 --duration 5
#   SENDIT_BIN=/path/to/sendit bench/run_web.sh
#   bench/run_web.sh --check            # exit 1 when p99 >= 50 ms or any request failed
#
# Results: a markdown table on stdout, also saved to bench/out/web-results.md.
# Needs wrk and sqlite3 (apt-get install -y wrk sqlite3).
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
IMAGES=100000 PER_BATCH=1000 PAGE_SIZE=50 THREADS=2 CONNECTIONS=16 DURATION=10 CHECK=0
OUT="$HERE/out"
TARGET_P99_MS=50

usage() {
  cat <<EOF
usage: $0 [options]
  --images N       images in the database (default 100000)
  --page-size N    page_size of each request (default 50)
  --duration S     wrk run length in seconds (default 10)
  --connections N  wrk connections (default 16)
  --threads N      wrk threads (default 2)
  --check          exit 1 when p99 >= ${TARGET_P99_MS} ms or any request failed
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
  --images) IMAGES=$2; shift ;;
  --page-size) PAGE_SIZE=$2; shift ;;
  --duration) DURATION=$2; shift ;;
  --connections) CONNECTIONS=$2; shift ;;
  --threads) THREADS=$2; shift ;;
  --check) CHECK=1 ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
  esac
  shift
done

for tool in wrk sqlite3 curl; do
  command -v "$tool" >/dev/null || { echo "run_web.sh: $tool is missing (apt-get install -y $tool)" >&2; exit 2; }
done

mkdir -p "$OUT"
if [ -z "${SENDIT_BIN:-}" ]; then
  BUILD="$ROOT/build-bench-web"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF >"$OUT/web-build.log" 2>&1 &&
    cmake --build "$BUILD" -j"$(nproc)" >>"$OUT/web-build.log" 2>&1 ||
    { echo "run_web.sh: build failed, see $OUT/web-build.log" >&2; exit 2; }
  SENDIT_BIN="$BUILD/sendit"
fi

SITE=$(mktemp -d "${TMPDIR:-/tmp}/sendit-web-bench.XXXXXX")
PORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cleanup() {
  "$SENDIT_BIN" stop_watcher --config "$SITE/sendit.ini" >/dev/null 2>&1
  rm -rf "$SITE"
}
[ -n "${BENCH_KEEP:-}" ] || trap cleanup EXIT
mkdir -p "$SITE/data"
cat >"$SITE/sendit.ini" <<INI
[input]
folder = $SITE/data
[storage]
folder = $SITE/storage
work = $SITE/data/.work
quarantine = $SITE/quarantine
low_water_mb = 0
high_water_mb = 0
[database]
url = $SITE/sendit.db
[daemon]
logs = $SITE/logs
pidfile = $SITE/sendit.pid
[web]
listen = 127.0.0.1:$PORT
password_file = $SITE/sendit.passwd
INI
S() { "$SENDIT_BIN" "$@" --config "$SITE/sendit.ini"; }

S status >/dev/null || { echo "run_web.sh: sendit status failed (schema)" >&2; exit 2; }
BATCHES=$(((IMAGES + PER_BATCH - 1) / PER_BATCH))
NOW_MS=$(($(date +%s) * 1000))
start=$EPOCHREALTIME
sqlite3 "$SITE/sendit.db" <<SQL || { echo "run_web.sh: inserting rows failed" >&2; exit 2; }
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $BATCHES)
INSERT INTO batch (id, uid, status, created_at, updated_at, started_at, finished_at, elapsed_ms,
                   size_bytes, image_count, qa)
SELECT i, printf('ACC%06d', i), 'DONE', $NOW_MS - 3600000 + i * 1000, $NOW_MS, $NOW_MS - 3600000 + i * 1000,
       $NOW_MS - 3600000 + i * 1000 + 8000, 8000, $PER_BATCH * 524288, $PER_BATCH, '{}'
FROM n;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $IMAGES)
INSERT INTO image (uid, batch_id, status, storage_path, original_name, size_bytes, content_hash,
                   patient_id, accession_number, study_uid, series_uid, sop_class_uid, modality,
                   study_date, created_at)
SELECT '1.2.826.0.1.3680043.10.4242.' || ((i - 1) / $PER_BATCH + 1) || '.' || i,
       (i - 1) / $PER_BATCH + 1, 'DONE',
       '$SITE/storage/' || printf('ACC%06d', (i - 1) / $PER_BATCH + 1) || '/1.2.826.0.1.3680043.10.4242.' || i || '.dcm',
       printf('IMG%05d.dcm', (i - 1) % $PER_BATCH + 1), 524288,
       lower(hex(randomblob(32))), printf('PAT%05d', ((i - 1) / $PER_BATCH) % 300),
       printf('ACC%06d', (i - 1) / $PER_BATCH + 1), '1.2.826.0.1.3680043.10.4242.' || ((i - 1) / $PER_BATCH + 1),
       '1.2.826.0.1.3680043.10.4242.' || ((i - 1) / $PER_BATCH + 1) || '.1', '1.2.840.10008.5.1.4.1.1.2',
       'CT', '20240131', $NOW_MS - 3600000 + i * 10
FROM n;
COMMIT;
SQL
insert_s=$(printf "%.2f" "$(echo "$EPOCHREALTIME - $start" | bc)")
count=$(sqlite3 "$SITE/sendit.db" "SELECT count(*) FROM image")

TOKEN=$(S set_password --token 2>/dev/null) || { echo "run_web.sh: set_password --token failed" >&2; exit 2; }
S start_watcher >/dev/null || { echo "run_web.sh: the daemon did not start" >&2; cat "$SITE/logs/watcher.log" >&2; exit 2; }
for _ in $(seq 50); do
  curl -sf -o /dev/null -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/status" && break
  sleep 0.1
done

PAGES=$(((count + PAGE_SIZE - 1) / PAGE_SIZE))
cat >"$SITE/pages.lua" <<'LUA'
-- Every request asks for a random page, so the offsets cover the whole table.
local pages = tonumber(os.getenv("BENCH_PAGES"))
local size = os.getenv("BENCH_PAGE_SIZE")
local auth = "Bearer " .. os.getenv("BENCH_TOKEN")
math.randomseed(os.time())
request = function()
  local path = "/api/images?page=" .. math.random(1, pages) .. "&page_size=" .. size
  return wrk.format("GET", path, {["Authorization"] = auth})
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p99_ms=%.2f max_ms=%.2f requests=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.requests,
    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA

# A warm-up pass so the first timed requests do not pay for cold pages.
BENCH_PAGES=$PAGES BENCH_PAGE_SIZE=$PAGE_SIZE BENCH_TOKEN=$TOKEN \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d2s -s "$SITE/pages.lua" "http://127.0.0.1:$PORT" >/dev/null 2>&1
BENCH_PAGES=$PAGES BENCH_PAGE_SIZE=$PAGE_SIZE BENCH_TOKEN=$TOKEN \
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$SITE/pages.lua" \
  "http://127.0.0.1:$PORT" >"$OUT/web-wrk.txt" 2>&1
result=$(grep '^RESULT' "$OUT/web-wrk.txt")
[ -n "$result" ] || { echo "run_web.sh: wrk gave no result:" >&2; cat "$OUT/web-wrk.txt" >&2; exit 2; }
eval "${result#RESULT }"
# A last answer checked by hand: the page holds page_size images and the total.
sample=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/images?page=$PAGES&page_size=$PAGE_SIZE")
sample_count=$(echo "$sample" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')

# A deep page must hold the very rows the database lists there (the server
# starts deep pages from its page index).
deep=$((PAGES * 2 / 3))
got=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$PORT/api/images?page=$deep&page_size=$PAGE_SIZE" |
  /usr/bin/python3 -c 'import json,sys; print(" ".join(str(r["id"]) for r in json.load(sys.stdin)["results"]))')
want=$(sqlite3 "$SITE/sendit.db" "SELECT group_concat(id, ' ') FROM (SELECT id FROM image ORDER BY batch_id, id LIMIT $PAGE_SIZE OFFSET $(((deep - 1) * PAGE_SIZE)))")
page_ok=yes
[ "$got" = "$want" ] || { page_ok=NO; errors=$((errors + 1)); }

verdict="met"
if [ "$errors" -ne 0 ] || [ "$(echo "$p99_ms >= $TARGET_P99_MS" | bc)" -eq 1 ]; then verdict="MISSED"; fi
{
  echo "## Web API: GET /api/images?page=N (random N), $count images"
  echo
  echo "wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s from a second process on the same $(nproc)-core machine;"
  echo "page_size=$PAGE_SIZE, $PAGES pages, Bearer token; rows inserted in ${insert_s}s."
  echo
  echo "| requests/s | p50 | p99 | max | requests | errors | target (p99 < ${TARGET_P99_MS} ms, no errors) |"
  echo "|---:|---:|---:|---:|---:|---:|---|"
  echo "| $rps | ${p50_ms} ms | ${p99_ms} ms | ${max_ms} ms | $requests | $errors | $verdict |"
  echo
  echo "The API answered count=$sample_count for the last page; page $deep held the rows the database lists there: $page_ok."
} | tee "$OUT/web-results.md"
[ "$CHECK" -eq 0 ] || [ "$verdict" = "met" ]
