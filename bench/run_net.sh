#!/usr/bin/env bash
# DICOM network benchmark (issue 15): one run, the contenders alternating in each round over one corpus
# (bench/gen_corpus.py: CT 512x512, STUDIES studies of FILES/STUDIES images), each sent over one association
# and over one association per study (one after the other):
#   receive:  storescu -> sendit listen   (each instance and its folder entry fsynced before it is acknowledged)
#             storescu -> storescp -od    (DCMTK writing files into the page cache, no fsync)
#             storescu -> Orthanc         (when installed; its storage emptied through its REST API between runs)
#   send:     sendit send -> storescp, against storescu -> storescp (the receive row above)
# then 16 associations at once (16 studies, one storescu each) -> a fresh sendit listen, whose peak memory
# (VmHWM from /proc) is compared with the peak after one association.
# DCMTK and Orthanc get TCP_NODELAY=1 (without it Debian's builds wait ~40 ms on each C-STORE).
#
#   bench/run_net.sh [--files N] [--studies S] [--rounds R]     (defaults 2000 files, 20 studies, 3 rounds)
#   SENDIT_BIN=/path/to/sendit bench/run_net.sh
# Results: a markdown table on stdout (files/s: median and range over the rounds, never the best alone),
# also in bench/out/net-results.md. The corpus and the received files live under a scratch folder on the disk
# of $TMPDIR (default /tmp), removed at the end.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
FILES=2000 STUDIES=20 ROUNDS=3
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift ;;
    --studies) STUDIES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "run_net.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for v in FILES STUDIES ROUNDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_net.sh: bad value for $v" >&2; exit 2; }
done
[ "$STUDIES" -ge 16 ] || { echo "run_net.sh: --studies must be at least 16 (the concurrent run)" >&2; exit 2; }
PER=$((FILES / STUDIES))
FILES=$((PER * STUDIES))
BIN=${SENDIT_BIN:-$ROOT/build/sendit}
[ -x "$BIN" ] || { echo "run_net.sh: no sendit at $BIN (build first or set SENDIT_BIN)" >&2; exit 2; }
for t in storescu storescp echoscu curl; do command -v $t >/dev/null || { echo "$t is needed" >&2; exit 2; }; done
HAVE_ORTHANC=0
command -v Orthanc >/dev/null && HAVE_ORTHANC=1
export TCP_NODELAY=1
work=$(mktemp -d "${TMPDIR:-/tmp}/sendit-bench-net.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

echo "corpus: $FILES CT files of 512x512 in $STUDIES studies under $work/corpus" >&2
$PY "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$PER" --out "$work/corpus" >/dev/null || exit 1
mb=$(du -sm "$work/corpus" | cut -f1)
studies=("$work/corpus"/*/)
all_files=("$work/corpus"/*/*.dcm)

# start_listen DIR: a sendit listen into DIR; sets LPORT and LPID.
start_listen() {
  mkdir -p "$1"
  "$BIN" listen --port 0 --aet SENDIT "$1" >"$1.out" 2>"$1.log" &
  LPID=$!
  pids+=("$LPID")
  local i
  for i in $(seq 50); do
    LPORT=$(awk '/^listening on port/ {print $4}' "$1.out" 2>/dev/null)
    [ -n "$LPORT" ] && return 0
    sleep 0.1
  done
  echo "sendit listen did not start" >&2
  exit 1
}
start_listen "$work/sendit-in"
SCP_PORT=$(free_port)
mkdir -p "$work/storescp-out"
storescp -od "$work/storescp-out" "$SCP_PORT" >"$work/storescp.log" 2>&1 &
pids+=($!)
for i in $(seq 50); do echoscu 127.0.0.1 "$SCP_PORT" >/dev/null 2>&1 && break; sleep 0.1; done
if [ "$HAVE_ORTHANC" = 1 ]; then
  OHTTP=$(free_port) ODICOM=$(free_port)
  mkdir -p "$work/orthanc"
  cat >"$work/orthanc/cfg.json" <<JSON
{ "Name": "bench", "StorageDirectory": "$work/orthanc/db", "IndexDirectory": "$work/orthanc/db",
  "HttpPort": $OHTTP, "DicomPort": $ODICOM, "DicomAet": "ORTHANC", "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "StorageCompression": false, "Plugins": [] }
JSON
  env TCP_NODELAY=1 Orthanc "$work/orthanc/cfg.json" >"$work/orthanc/log" 2>&1 &
  pids+=($!)
  for i in $(seq 100); do curl -sf "http://127.0.0.1:$OHTTP/system" >/dev/null && break; sleep 0.2; done
fi
# Orthanc's storage emptied (not timed), so every run stores every instance.
orthanc_empty() {
  local id
  for id in $(curl -sf "http://127.0.0.1:$OHTTP/patients" | $PY -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'); do
    curl -sf -X DELETE "http://127.0.0.1:$OHTTP/patients/$id" >/dev/null
  done
}

# run NAME COMMAND...: wall seconds of one run, appended to $work/NAME.times. The output folders are emptied
# and the disk synced first (not timed), so no contender pays for another's writeback.
run() {
  local name=$1
  shift
  rm -rf "$work/sendit-in"/* "$work/storescp-out"/*
  [ "$HAVE_ORTHANC" = 1 ] && orthanc_empty
  sync
  cat "${all_files[@]}" >/dev/null # the inputs warm, as the machine notes advise
  local t0 t1
  t0=$(date +%s.%N)
  "$@" >"$work/$name.last" 2>&1 || { echo "$name failed:" >&2; tail -5 "$work/$name.last" >&2; }
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.4f\n", $2 - $1}' >>"$work/$name.times"
  # A contender that lost files would look fast: what sendit listen and storescp received is counted.
  local got
  case $name in
    recv_sendit*) got=$(find "$work/sendit-in" -name '*.dcm' | wc -l) ;;
    recv_storescp* | send_*) got=$(find "$work/storescp-out" -type f | wc -l) ;;
    *) got=$FILES ;;
  esac
  [ "$got" = "$FILES" ] || echo "$name: only $got of $FILES files arrived" | tee -a "$work/short.txt" >&2
}
# per_study COMMAND...: COMMAND STUDY_FILES... once per study, one after the other.
per_study() {
  local s rc=0
  for s in "${studies[@]}"; do "$@" "$s"*.dcm || rc=1; done
  return $rc
}
storescu_sendit() { storescu -aec SENDIT 127.0.0.1 "$LPORT" "$@"; }
storescu_storescp() { storescu 127.0.0.1 "$SCP_PORT" "$@"; }
storescu_orthanc() { storescu -aec ORTHANC 127.0.0.1 "$ODICOM" "$@"; }
sendit_storescp() { "$BIN" send -q 127.0.0.1 "$SCP_PORT" "$@"; }
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run recv_sendit_1 storescu_sendit "${all_files[@]}"
  run recv_storescp_1 storescu_storescp "${all_files[@]}"
  [ "$HAVE_ORTHANC" = 1 ] && run recv_orthanc_1 storescu_orthanc "${all_files[@]}"
  run send_sendit_1 sendit_storescp "${all_files[@]}"
  run recv_sendit_s per_study storescu_sendit
  run recv_storescp_s per_study storescu_storescp
  [ "$HAVE_ORTHANC" = 1 ] && run recv_orthanc_s per_study storescu_orthanc
  run send_sendit_s per_study sendit_storescp
done

# 16 associations at once -> a fresh listener; its peak memory after one association, then after 16.
kill "$LPID"
wait "$LPID" 2>/dev/null
start_listen "$work/conc-in"
hwm() { awk '$1 == "VmHWM:" {print $2}' "/proc/$LPID/status"; }
storescu_sendit "${studies[0]}"*.dcm >/dev/null 2>&1
hwm1=$(hwm)
rm -rf "$work/conc-in"/*
sync
t0=$(date +%s.%N)
cpids=()
for s in "${studies[@]:0:16}"; do storescu_sendit "$s"*.dcm >/dev/null 2>&1 & cpids+=($!); done
cfail=0
for p in "${cpids[@]}"; do wait "$p" || cfail=$((cfail + 1)); done
t1=$(date +%s.%N)
hwm16=$(hwm)
conc_files=$(find "$work/conc-in" -name '*.dcm' | wc -l)
conc_rate=$(awk -v n="$conc_files" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')

# stats NAME: "median (min-max)" in files/s
stats() {
  [ -f "$work/$1.times" ] || { echo "-"; return; }
  sort -n "$work/$1.times" | awk -v n="$FILES" '{t[NR]=$1} END {
    m = (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2
    printf "%.0f (%.0f-%.0f)", n / m, n / t[NR], n / t[1] }'
}
median() { sort -n "$work/$1.times" | awk '{t[NR]=$1} END {print (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2}'; }
ratio() { [ -f "$work/$1.times" ] && [ -f "$work/$2.times" ] && awk -v a="$(median "$1")" -v b="$(median "$2")" 'BEGIN {printf "%.2f", b / a}' || echo "-"; }
mkdir -p "$HERE/out"
{
  echo "$FILES CT files of 512x512 ($mb MB) in $STUDIES studies, $ROUNDS rounds alternating, $(date -u +%F); files/s, median (range)"
  echo
  echo "| run | one association | one association per study | against DCMTK (one / per study) |"
  echo "|---|---|---|---|"
  echo "| storescu -> sendit listen (fsync before each answer) | $(stats recv_sendit_1) | $(stats recv_sendit_s) | $(ratio recv_sendit_1 recv_storescp_1)x / $(ratio recv_sendit_s recv_storescp_s)x storescu -> storescp |"
  echo "| storescu -> storescp -od (no fsync) | $(stats recv_storescp_1) | $(stats recv_storescp_s) | 1 |"
  [ "$HAVE_ORTHANC" = 1 ] &&
    echo "| storescu -> Orthanc | $(stats recv_orthanc_1) | $(stats recv_orthanc_s) | $(ratio recv_orthanc_1 recv_storescp_1)x / $(ratio recv_orthanc_s recv_storescp_s)x storescu -> storescp |"
  echo "| sendit send -> storescp | $(stats send_sendit_1) | $(stats send_sendit_s) | $(ratio send_sendit_1 recv_storescp_1)x / $(ratio send_sendit_s recv_storescp_s)x storescu -> storescp |"
  echo
  [ -f "$work/short.txt" ] && { echo "**Runs that lost files:**"; cat "$work/short.txt"; echo; }
  echo "16 associations at once -> sendit listen: $conc_files of $((16 * PER)) files received ($cfail storescu failed), $conc_rate files/s;" \
    "listener VmHWM $hwm1 kB after one association, $hwm16 kB after 16 at once ($(awk -v a="$hwm1" -v b="$hwm16" 'BEGIN {printf "%.2f", b / a}')x)."
} | tee "$HERE/out/net-results.md"
