#!/usr/bin/env bash
# STOW-RS delivery benchmark (issue 16): the dicomweb destination (sendit_dest_drive dicomweb, one batch
# of every file, instances_per_request=PER_REQUEST) against `curl` posting the same multipart bodies (built
# once beforehand with the same instances per request, one curl process reusing its connection through
# --next), both to Orthanc with its DICOMweb plugin on loopback, started afresh with empty storage before
# each run (Orthanc skips instances it already holds, which would favour the second contender).
# One run, the contenders alternating (sendit first in odd rounds, curl first in even ones), each input
# read once just before its run so both start from the page cache. Every run must end with all instances
# in Orthanc (/statistics) and, for sendit, every file reported sent; otherwise the script fails.
#
#   bench/run_deliver_stow.sh [--files N] [--rounds R] [--per-request K]   (defaults 2000, 3, 50)
#   SENDIT_DEST_DRIVE=/path/to/sendit_dest_drive bench/run_deliver_stow.sh
# Results: a markdown table on stdout (instances/s: median and range over the rounds) with sendit's peak
# RSS (GNU time's maximum resident set), also in bench/out/deliver-stow-results.md. Corpus, bodies and
# Orthanc's storage live under a scratch folder of $TMPDIR (default /tmp), removed at the end.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
FILES=2000 ROUNDS=3 PER_REQUEST=50
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --per-request) PER_REQUEST=$2; shift ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "run_deliver_stow.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for v in FILES ROUNDS PER_REQUEST; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_deliver_stow.sh: bad value for $v" >&2; exit 2; }
done
DRIVE=${SENDIT_DEST_DRIVE:-$ROOT/build/sendit_dest_drive}
[ -x "$DRIVE" ] || { echo "run_deliver_stow.sh: no driver at $DRIVE (build with -DSENDIT_TESTS=ON)" >&2; exit 2; }
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
for t in Orthanc curl /usr/bin/time; do command -v $t >/dev/null || { echo "$t is needed" >&2; exit 2; }; done
[ -f "$PLUGIN" ] || { echo "the DICOMweb plugin is needed ($PLUGIN, Debian's orthanc-dicomweb)" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/sendit-bench-stow.XXXXXX")
ORTHANC_PID=
stop_orthanc() {
  [ -n "$ORTHANC_PID" ] || return 0
  kill "$ORTHANC_PID" 2>/dev/null
  wait "$ORTHANC_PID" 2>/dev/null
  ORTHANC_PID=
}
cleanup() { stop_orthanc; rm -rf "$work"; }
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }

STUDIES=$(((FILES + 99) / 100))
PER=$(((FILES + STUDIES - 1) / STUDIES))
echo "corpus: $((PER * STUDIES)) CT files of 512x512 in $STUDIES studies under $work/corpus" >&2
$PY "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$PER" --out "$work/corpus" >/dev/null || exit 1
files=("$work/corpus"/*/*.dcm)
files=("${files[@]:0:$FILES}")
N=${#files[@]}
mb=$(cat "${files[@]}" | wc -c | awk '{printf "%.0f", $1 / 1048576}')

# The bodies curl posts: the same grouping as the destination's (by count; 50 such files stay far below
# max_request_mb), one fixed boundary that occurs in no file (checked).
BOUNDARY=sendit-bench-3f9a2c7d1e8b4a6f0c5d9e2b7a1f4c8e
if grep -lF "$BOUNDARY" "${files[@]}" >/dev/null; then echo "the boundary occurs in a file" >&2; exit 1; fi
mkdir -p "$work/bodies"
bodies=()
for ((i = 0; i < N; i += PER_REQUEST)); do
  b="$work/bodies/$(printf '%05d' $i).mime"
  {
    for f in "${files[@]:i:PER_REQUEST}"; do
      printf -- '--%s\r\nContent-Type: application/dicom\r\n\r\n' "$BOUNDARY"
      cat "$f"
      printf '\r\n'
    done
    printf -- '--%s--\r\n' "$BOUNDARY"
  } >"$b"
  bodies+=("$b")
done
echo "bodies: ${#bodies[@]} of up to $PER_REQUEST instances" >&2

HTTP=$(free_port) DPORT=$(free_port)
start_orthanc() {
  rm -rf "$work/orthanc"
  mkdir -p "$work/orthanc/db"
  cat >"$work/orthanc/cfg.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$work/orthanc/db", "IndexDirectory": "$work/orthanc/db",
  "HttpPort": $HTTP, "DicomPort": $DPORT, "RemoteAccessAllowed": false, "AuthenticationEnabled": false,
  "StorageCompression": false, "Plugins": [ "$PLUGIN" ], "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
  env TCP_NODELAY=1 Orthanc "$work/orthanc/cfg.json" >"$work/orthanc.log" 2>&1 &
  ORTHANC_PID=$!
  for _ in $(seq 300); do curl -sf "http://127.0.0.1:$HTTP/system" -o /dev/null && return 0; sleep 0.1; done
  echo "Orthanc did not start" >&2
  tail "$work/orthanc.log" >&2
  exit 1
}
instances() { curl -sf "http://127.0.0.1:$HTTP/statistics" | $PY -c 'import json,sys; print(json.load(sys.stdin)["CountInstances"])'; }
URL=http://127.0.0.1:$HTTP/dicom-web

run_sendit() {
  cat "${files[@]}" >/dev/null
  local t0 t1
  t0=$(now)
  /usr/bin/time -f %M -o "$work/rss" "$DRIVE" dicomweb bench "url=$URL" "instances_per_request=$PER_REQUEST" \
    -- "${files[@]}" >"$work/sendit.out" 2>&1
  local rc=$?
  t1=$(now)
  local sent
  sent=$(grep -c '^sent ' "$work/sendit.out")
  [ "$rc" -eq 0 ] && [ "$sent" -eq "$N" ] || { echo "sendit: status $rc, $sent of $N sent" >&2; tail -3 "$work/sendit.out" >&2; exit 1; }
  echo "$t0 $t1" | awk '{print $2 - $1}'
}
run_curl() {
  cat "${bodies[@]}" >/dev/null
  local args=() b t0 t1
  for b in "${bodies[@]}"; do
    [ ${#args[@]} -gt 0 ] && args+=(--next)
    args+=(-s -o /dev/null -w '%{http_code}\n' -X POST
      -H "Content-Type: multipart/related; type=\"application/dicom\"; boundary=$BOUNDARY"
      -H "Accept: application/dicom+json" -H "Expect:" --data-binary "@$b" "$URL/studies")
  done
  t0=$(now)
  curl "${args[@]}" >"$work/curl.out" 2>&1
  local rc=$?
  t1=$(now)
  [ "$rc" -eq 0 ] && ! grep -qv '^200$' "$work/curl.out" || { echo "curl: status $rc" >&2; sort "$work/curl.out" | uniq -c >&2; exit 1; }
  echo "$t0 $t1" | awk '{print $2 - $1}'
}

declare -A secs
rss=()
for ((r = 1; r <= ROUNDS; r++)); do
  order=(sendit curl)
  [ $((r % 2)) -eq 0 ] && order=(curl sendit)
  for who in "${order[@]}"; do
    start_orthanc
    s=$(run_$who) || exit 1
    got=$(instances)
    stop_orthanc
    [ "$got" -eq "$N" ] || { echo "$who: Orthanc holds $got of $N instances" >&2; exit 1; }
    secs[$who]="${secs[$who]:-} $s"
    [ "$who" = sendit ] && rss+=("$(cat "$work/rss")")
    echo "round $r: $who $s s ($(awk -v n="$N" -v s="$s" 'BEGIN{printf "%.1f", n / s}') instances/s)" >&2
  done
done

stats() { # seconds... -> "median (min-max)" in instances/s
  printf '%s\n' "$@" | awk -v n="$N" '{print n / $1}' | sort -g | awk -v n="$N" -v mb="$mb" '{r[NR] = $1} END {
    m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2
    printf "%.1f (%.1f-%.1f) | %.0f", m, r[1], r[NR], m * mb / n }'
}
mkdir -p "$ROOT/bench/out"
{
  echo "STOW-RS to Orthanc ($(Orthanc --version 2>/dev/null | head -1 | awk '{print $NF}'), DICOMweb plugin), $N CT files ($mb MB), $PER_REQUEST instances per request, $ROUNDS rounds alternating"
  echo
  echo "| contender | instances/s median (range) | MB/s at the median | peak RSS |"
  echo "|---|---|---|---|"
  # shellcheck disable=SC2086
  echo "| sendit dicomweb (dest_drive) | $(stats ${secs[sendit]}) | $(printf '%s\n' "${rss[@]}" | sort -n | tail -1) kB |"
  # shellcheck disable=SC2086
  echo "| curl --data-binary, same bodies | $(stats ${secs[curl]}) | - |"
} | tee "$ROOT/bench/out/deliver-stow-results.md"
