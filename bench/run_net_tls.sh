#!/usr/bin/env bash
# TLS against plain TCP on the DICOM network (issue 15): one run, the contenders alternating in each round
# over one corpus (bench/gen_corpus.py: CT 512x512), all FILES sent over one association:
#   receive:  storescu -> sendit listen          against  storescu +tls -> sendit listen --tls-cert
#   send:     sendit send -> storescp -od         against  sendit send --tls -> storescp +tls -od
#   DCMTK:    storescu -> storescp -od            against  storescu +tls -> storescp +tls -od (the reference)
#   network:  sendit send -> storescp --ignore    against  sendit send --tls -> storescp +tls --ignore (no disk)
# with the CPU time (user + system) of the sending side of each run.
# Certificates (RSA 2048, a CA of their own) are made by openssl in the scratch folder; the client verifies
# the server's. DCMTK gets TCP_NODELAY=1. Target (the issue): TLS at least 70% of plain.
#
#   bench/run_net_tls.sh [--files N] [--rounds R]     (defaults 2000 files, 3 rounds)
#   SENDIT_BIN=/path/to/sendit bench/run_net_tls.sh
# Results: a markdown table on stdout (files/s: median and range over the rounds), also in
# bench/out/net-tls-results.md. Scratch under $TMPDIR (default /tmp), removed at the end.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
FILES=2000 ROUNDS=3 STUDIES=20
while [ $# -gt 0 ]; do
  case "$1" in
    --files) FILES=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "run_net_tls.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
for v in FILES ROUNDS; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_net_tls.sh: bad value for $v" >&2; exit 2; }
done
[ "$FILES" -ge "$STUDIES" ] || STUDIES=1
PER=$((FILES / STUDIES))
FILES=$((PER * STUDIES))
BIN=${SENDIT_BIN:-$ROOT/build/sendit}
[ -x "$BIN" ] || { echo "run_net_tls.sh: no sendit at $BIN (build first or set SENDIT_BIN)" >&2; exit 2; }
for t in storescu storescp echoscu openssl; do command -v $t >/dev/null || { echo "$t is needed" >&2; exit 2; }; done
export TCP_NODELAY=1
work=$(mktemp -d "${TMPDIR:-/tmp}/sendit-bench-tls.XXXXXX")
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

pki=$work/pki
mkdir -p "$pki"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$pki/ca.key" -out "$pki/ca.pem" -days 2 -subj /CN=bench-ca \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" -subj /CN=localhost 2>/dev/null &&
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n' >"$pki/ext" &&
  openssl x509 -req -in "$pki/server.csr" -CA "$pki/ca.pem" -CAkey "$pki/ca.key" -CAcreateserial -days 2 \
    -extfile "$pki/ext" -out "$pki/server.pem" 2>/dev/null || { echo "openssl failed" >&2; exit 1; }

echo "corpus: $FILES CT files of 512x512 under $work/corpus" >&2
$PY "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$PER" --out "$work/corpus" >/dev/null || exit 1
mb=$(du -sm "$work/corpus" | cut -f1)
all_files=("$work/corpus"/*/*.dcm)

# start_listen NAME ARGS...: a sendit listen into $work/NAME; sets LPORT.
start_listen() {
  local dir=$work/$1
  shift
  mkdir -p "$dir"
  "$BIN" listen --port 0 --aet SENDIT "$@" "$dir" >"$dir.out" 2>"$dir.log" &
  pids+=($!)
  local i
  for i in $(seq 50); do
    LPORT=$(awk '/^listening on port/ {print $4}' "$dir.out" 2>/dev/null)
    [ -n "$LPORT" ] && return 0
    sleep 0.1
  done
  echo "sendit listen did not start" >&2
  exit 1
}
# start_storescp NAME ARGS...: storescp -od $work/NAME; sets SPORT.
start_storescp() {
  local dir=$work/$1
  shift
  mkdir -p "$dir"
  SPORT=$(free_port)
  storescp "$@" -od "$dir" "$SPORT" >"$dir.log" 2>&1 &
  pids+=($!)
  for i in $(seq 50); do (echo >"/dev/tcp/127.0.0.1/$SPORT") 2>/dev/null && return 0; sleep 0.1; done
  echo "storescp did not start" >&2
  exit 1
}
start_listen in-plain
PLAIN_L=$LPORT
start_listen in-tls --tls-cert "$pki/server.pem" --tls-key "$pki/server.key"
TLS_L=$LPORT
start_storescp out-plain
PLAIN_S=$SPORT
start_storescp out-tls +tls "$pki/server.key" "$pki/server.pem" -ic
TLS_S=$SPORT
start_storescp ig-plain --ignore
IG_PLAIN=$SPORT
start_storescp ig-tls --ignore +tls "$pki/server.key" "$pki/server.pem" -ic
IG_TLS=$SPORT
dcmtk_tls=(+tls "$pki/server.key" "$pki/server.pem" +cf "$pki/ca.pem")

# run NAME DIR COMMAND...: wall seconds of one run into $work/NAME.times; DIR (what receives) emptied and
# the disk synced first, the inputs warmed (not timed); a run that lost files is reported.
run() {
  local name=$1 dir=$work/$2
  shift 2
  rm -rf "${dir:?}"/*
  sync
  cat "${all_files[@]}" >/dev/null
  local t0 t1
  t0=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o "$work/$name.cpu1" "$@" >"$work/$name.last" 2>&1 ||
    { echo "$name failed:" >&2; tail -5 "$work/$name.last" >&2; }
  t1=$(date +%s.%N)
  echo "$t0 $t1" | awk '{printf "%.4f\n", $2 - $1}' >>"$work/$name.times"
  tail -1 "$work/$name.cpu1" | awk '{printf "%.3f\n", $1 + $2}' >>"$work/$name.cpu"
  local got=$FILES
  [[ $dir == */ig-* ]] || got=$(find "$dir" -type f \( -name '*.dcm' -o -name 'CT.*' \) | wc -l)
  [ "$got" = "$FILES" ] || echo "$name: only $got of $FILES files arrived" | tee -a "$work/short.txt" >&2
}
for r in $(seq "$ROUNDS"); do
  echo "round $r/$ROUNDS" >&2
  run recv_plain in-plain storescu -aec SENDIT 127.0.0.1 "$PLAIN_L" "${all_files[@]}"
  run recv_tls in-tls storescu "${dcmtk_tls[@]}" -aec SENDIT 127.0.0.1 "$TLS_L" "${all_files[@]}"
  run send_plain out-plain "$BIN" send -q --no-progress 127.0.0.1 "$PLAIN_S" "${all_files[@]}"
  run send_tls out-tls "$BIN" send -q --no-progress --tls --tls-ca "$pki/ca.pem" 127.0.0.1 "$TLS_S" "${all_files[@]}"
  run dcmtk_plain out-plain storescu 127.0.0.1 "$PLAIN_S" "${all_files[@]}"
  run dcmtk_tls out-tls storescu "${dcmtk_tls[@]}" 127.0.0.1 "$TLS_S" "${all_files[@]}"
  run net_plain ig-plain "$BIN" send -q --no-progress 127.0.0.1 "$IG_PLAIN" "${all_files[@]}"
  run net_tls ig-tls "$BIN" send -q --no-progress --tls --tls-ca "$pki/ca.pem" 127.0.0.1 "$IG_TLS" "${all_files[@]}"
done

stats() {
  sort -n "$work/$1.times" | awk -v n="$FILES" '{t[NR]=$1} END {
    m = (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2
    printf "%.0f (%.0f-%.0f)", n / m, n / t[NR], n / t[1] }'
}
median() { sort -n "$work/$1.times" | awk '{t[NR]=$1} END {print (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2}'; }
cpu() { sort -n "$work/$1.cpu" | awk '{t[NR]=$1} END {printf "%.2f", (NR % 2) ? t[(NR+1)/2] : (t[NR/2] + t[NR/2+1]) / 2}'; }
share() { awk -v p="$(median "$1")" -v t="$(median "$2")" 'BEGIN {printf "%.0f%%", 100 * p / t}'; }
mkdir -p "$HERE/out"
{
  echo "$FILES CT files of 512x512 ($mb MB), one association, $ROUNDS rounds alternating, $(date -u +%F); files/s, median (range)"
  echo
  echo "| direction | plain TCP | TLS | TLS / plain | sender's CPU s, plain / TLS |"
  echo "|---|---|---|---|---|"
  echo "| storescu -> sendit listen (fsync before each answer) | $(stats recv_plain) | $(stats recv_tls) | $(share recv_plain recv_tls) | $(cpu recv_plain) / $(cpu recv_tls) (storescu) |"
  echo "| sendit send -> storescp -od | $(stats send_plain) | $(stats send_tls) | $(share send_plain send_tls) | $(cpu send_plain) / $(cpu send_tls) |"
  echo "| storescu -> storescp -od (DCMTK both ends, reference) | $(stats dcmtk_plain) | $(stats dcmtk_tls) | $(share dcmtk_plain dcmtk_tls) | $(cpu dcmtk_plain) / $(cpu dcmtk_tls) (storescu) |"
  echo "| sendit send -> storescp --ignore (nothing written) | $(stats net_plain) | $(stats net_tls) | $(share net_plain net_tls) | $(cpu net_plain) / $(cpu net_tls) |"
  echo
  echo "TLS negotiated: $(grep -o 'TLSv1\.[23] [A-Z0-9_-]*' "$work/in-tls.log" | sort | uniq -c | sort -rn | head -1 | sed 's/^ *[0-9]* //')"
  [ -f "$work/short.txt" ] && { echo; echo "**Runs that lost files:**"; cat "$work/short.txt"; }
} | tee "$HERE/out/net-tls-results.md"
