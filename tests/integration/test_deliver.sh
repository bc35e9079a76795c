#!/usr/bin/env bash
# The delivery engine (issue 16): [pipeline] stages = import,send with dicom destinations, real peers on
# loopback (DCMTK storescp with TCP_NODELAY=1, and store_peer.py, a scripted SCP that refuses chosen
# instances with A900):
#   1. a folder dropped -> both storescp receive every instance, every image SENT, the batch DONE, the
#      ledger says sent with each C-STORE status; `sendit destinations` and /api-like JSON show the counts;
#   2. one storescp killed: the other destination finishes, the dead one's job retries, its breaker opens
#      (`sendit destinations` says so), import goes on meanwhile; restarted: the batch completes, each
#      instance received once (storescp +uf: a second copy would be a second file);
#   3. a peer refusing some instances: those are failed (final) with the peer's reason, the rest SENT,
#      the batch ERROR naming the destination; `sendit batch resend` after the peer relents completes it;
#   4. kill -9 of sendit mid-send: every row the ledger says sent is at the peer (no image marked sent
#      that the peer did not confirm); restarted, delivery resumes and every instance reaches the peer;
#   5. import,deid,send: the peer gets exactly the de-identified instances, no original UID.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3
export TCP_NODELAY=1 SENDIT_QUEUE_POLL_SECONDS=1
for tool in storescp dcmdump; do
  command -v "$tool" >/dev/null || { echo "$tool (DCMTK) is needed"; exit 1; }
done
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "${SITE:-/nonexistent}/sendit.pid" ] && kill -9 "$(cat "$SITE/sendit.pid")" 2>/dev/null
  drop_site_databases
  [ -z "${KEEP_TMP:-}" ] && [ -n "${SITE:-}" ] && rm -rf "$SITE"
}
trap cleanup EXIT
uids_of() { for f in "$1"/*; do dcmdump -q +P SOPInstanceUID "$f" | sed 's/.*\[\(.*\)\].*/\1/'; done | sort; }
received_uids() { for f in "$1"/*; do [ -f "$f" ] && dcmdump -q +P SOPInstanceUID "$f" | sed 's/.*\[\(.*\)\].*/\1/'; done | sort; }
peer_uids() { ls "$1" | grep -v '\.part$' | sed -E 's/\.dcm(\.[0-9]+)?$//' | sort; } # store_peer.py names files by uid
count_files() { find "$1" -type f | grep -c .; }
start_storescp() { # start_storescp PORT DIR AE: background, pid in STORESCP_PID
  mkdir -p "$2"
  storescp +uf -aet "$3" -od "$2" "$1" >"$2.log" 2>&1 &
  STORESCP_PID=$!
  bg+=("$STORESCP_PID")
  wait_for 5 bash -c "ss -ltn | grep -q ':$1 '" || { echo "storescp on $1 did not start"; exit 1; }
}
start_peer() { # start_peer PORT DIR REFUSE_FILE: the scripted SCP, pid in PEER_PID
  touch "$3"
  $py "$HERE/store_peer.py" "$1" "$2" "$3" >"$2.log" 2>&1 &
  PEER_PID=$!
  bg+=("$PEER_PID")
  wait_for 5 grep -q listening "$2.log" || { echo "store_peer on $1 did not start"; exit 1; }
}
dest_ini() { # dest_ini NAME PORT AE [KEY=VALUE...]
  local name=$1 port=$2 ae=$3 kv
  shift 3
  printf '[destination %s]\ntype = dicom\nhost = 127.0.0.1\nport = %s\ncalled_ae = %s\n' "$name" "$port" "$ae" >>"$SITE/sendit.ini"
  for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}" >>"$SITE/sendit.ini"; done
}
start_daemon() {
  sendit start_watcher >"$SITE/start.out" 2>&1 || { echo "the daemon did not start:"; cat "$SITE/start.out"; exit 1; }
}
stop_daemon() { sendit stop_watcher --timeout 60 >/dev/null 2>&1; }
drop() { mv "$SITE/stage/$1" "$SITE/data/$1"; }
images_with() { sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' AND i.status = '$2'"; }
ledger() { sql "SELECT count(*) FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' AND d.destination = '$2' AND d.state = '$3'"; }
breaker_of() { sql "SELECT state FROM destination_state WHERE name = '$1'"; }

# ---- 1. two destinations: every instance to both, images SENT, batch DONE ----
new_site
mkdir -p "$SITE/stage"
PA=$(free_port)
PB=$(free_port)
start_storescp "$PA" "$SITE/peerA" DESTA
PIDA=$STORESCP_PID
start_storescp "$PB" "$SITE/peerB" DESTB
PIDB=$STORESCP_PID
PW_WEB=$(free_port)
printf '[pipeline]\nstages = import,send\n[web]\nlisten = 127.0.0.1:%s\nauth = none\n' "$PW_WEB" >>"$SITE/sendit.ini"
dest_ini a "$PA" DESTA breaker_failures=2 breaker_probe_seconds=2
dest_ini b "$PB" DESTB breaker_failures=2 breaker_probe_seconds=2
out=$(sendit config 2>&1)
check "sendit config prints the destinations with their type's keys" \
  bash -c 'grep -q "^\[destination a\]" <<<"$1" && grep -q "^called_ae = DESTB" <<<"$1" && grep -q "^calling_ae = SENDIT" <<<"$1"' _ "$out"
$MKDICOM "$SITE/stage/D1" 12 --sop-prefix 1.2.826.0.1.3680043.10.7701 >/dev/null
start_daemon
drop D1
check "D1 ends DONE" wait_for 30 batch_is D1 DONE
check_eq "every image of D1 is SENT" 12 "$(images_with D1 SENT)"
check_eq "peer A received every instance once" 12 "$(count_files "$SITE/peerA")"
check_eq "peer A holds exactly D1's instances" "$(sql "SELECT uid FROM image ORDER BY uid" | sort)" "$(received_uids "$SITE/peerA")"
check_eq "peer B holds exactly D1's instances" "$(sql "SELECT uid FROM image ORDER BY uid" | sort)" "$(received_uids "$SITE/peerB")"
check_eq "the ledger: 12 sent to a" 12 "$(ledger D1 a sent)"
check_eq "the ledger: 12 sent to b" 12 "$(ledger D1 b sent)"
check "each answer is the C-STORE status" sql_is 24 "SELECT count(*) FROM image_destination WHERE answer LIKE '0000%'"
check_eq "two send jobs, one per destination, both done" "a:done b:done" \
  "$(sql "SELECT excl_key || ':' || state FROM job WHERE kind = 'send' AND folder = 'D1' ORDER BY excl_key" | paste -sd' ')"
out=$(sendit destinations 2>&1)
check "sendit destinations lists both, closed, 12 sent each" \
  bash -c 'grep -Eq "^a +dicom .*closed .* 12 " <<<"$1" && grep -Eq "^b +dicom .*closed .* 12 " <<<"$1"' _ "$out"
json=$(sendit destinations --json 2>&1)
check "sendit destinations --json" $py -c '
import json, sys
d = {x["name"]: x for x in json.loads(sys.argv[1])["destinations"]}
assert d["a"]["breaker"] == "closed" and d["a"]["sent"] == 12 and d["b"]["type"] == "dicom", d' "$json"
json=$(sendit batch show D1 --json 2>&1)
check "the batch JSON lists per-destination counts" $py -c '
import json, sys
d = {x["name"]: x for x in json.loads(sys.argv[1])["batch"]["destinations"]}
assert d["a"]["sent"] == 12 and d["b"]["sent"] == 12 and d["a"]["failed"] == 0, d' "$json"

web() { curl -s "http://127.0.0.1:$PW_WEB$1"; }
check "GET /api/destinations: both, 12 sent each" $py -c '
import json, sys
d = {x["name"]: x for x in json.loads(sys.argv[1])["destinations"]}
assert d["a"]["sent"] == 12 and d["b"]["sent"] == 12 and d["b"]["breaker"] == "closed", d' "$(web /api/destinations)"
metrics=$(web /metrics)
check "/metrics: per-destination series" bash -c 'grep -qx "sendit_destination_sent_total{destination=\"a\"} 12" <<<"$1" &&
  grep -qx "sendit_destination_breaker_open{destination=\"b\"} 0" <<<"$1" && grep -q "^sendit_destination_queue{destination=\"a\"} 0" <<<"$1"' _ "$metrics"
check "GET /api/batches/D1 lists per-destination counts" $py -c '
import json, sys
d = {x["name"]: x for x in json.loads(sys.argv[1])["destinations"]}
assert d["a"]["sent"] == 12 and d["b"]["pending"] == 0, d' "$(web /api/batches/D1)"
check "the batch page has a row per destination" bash -c '[ "$(grep -o "<tr class=\"destination\">" <<<"$1" | wc -l)" = 2 ]' _ "$(web /batches/D1)"

# ---- 2. one destination dead: the other finishes, retries, breaker opens, restart completes ----
kill "$PIDB"
wait "$PIDB" 2>/dev/null
$MKDICOM "$SITE/stage/D2" 10 --sop-prefix 1.2.826.0.1.3680043.10.7702 >/dev/null
$MKDICOM "$SITE/stage/D3" 4 --sop-prefix 1.2.826.0.1.3680043.10.7703 >/dev/null
drop D2
check "peer A gets D2 while B is dead" wait_for 20 sql_is 10 \
  "SELECT count(*) FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'D2' AND d.destination = 'a' AND d.state = 'sent'"
check "b's breaker opens" wait_for 25 sql_is open "SELECT state FROM destination_state WHERE name = 'b'"
out=$(sendit destinations 2>&1)
check "sendit destinations shows b open with its last error" bash -c 'grep -Eq "^b +dicom .*open" <<<"$1"' _ "$out"
check "the destinations page shows b down" bash -c 'grep -q "<td>b</td><td>dicom</td><td><span class=\"badge error\">down</span>" <<<"$1"' _ "$(web /destinations)"
check "/metrics says b's breaker is open" bash -c 'grep -qx "sendit_destination_breaker_open{destination=\"b\"} 1" <<<"$1"' _ "$(web /metrics)"
check "D2 waits (not DONE, not ERROR)" batch_is D2 PROCESSING
check_eq "no D2 image is SENT yet" 0 "$(images_with D2 SENT)"
drop D3
check "import goes on while b is down: D3 is imported" wait_for 20 sql_ge 4 \
  "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'D3'"
check "and a delivers D3" wait_for 20 sql_is 4 \
  "SELECT count(*) FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'D3' AND d.destination = 'a' AND d.state = 'sent'"
start_storescp "$PB" "$SITE/peerB" DESTB
check "b restarted: D2 ends DONE" wait_for 40 batch_is D2 DONE
check "and D3" wait_for 20 batch_is D3 DONE
check_eq "b's breaker closed again" closed "$(breaker_of b)"
check_eq "peer B received each instance once (26 files)" 26 "$(count_files "$SITE/peerB")"
check_eq "peer B holds exactly the 26 instances" "$(sql "SELECT uid FROM image ORDER BY uid" | sort)" "$(received_uids "$SITE/peerB")"
check_eq "peer A received each once too (26 files)" 26 "$(count_files "$SITE/peerA")"
check "the log says b's breaker opened" grep -q "destination b: breaker open" "$SITE/logs/watcher.log"
stop_daemon
stop_site

# ---- 3. a peer refusing some instances ----
new_site
export SENDIT_QUEUE_LEASE_SECONDS=5 # part 4: a killed sender's job is taken over soon
mkdir -p "$SITE/stage"
PR=$(free_port)
start_peer "$PR" "$SITE/peerR" "$SITE/refuse.txt"
PIDR=$PEER_PID
printf '[pipeline]\nstages = import,send\n' >>"$SITE/sendit.ini"
dest_ini r "$PR" PICKY
$MKDICOM "$SITE/stage/R1" 8 --sop-prefix 1.2.826.0.1.3680043.10.7704 >/dev/null
uids_of "$SITE/stage/R1" | head -3 >"$SITE/refuse.txt"
start_daemon
drop R1
check "R1 ends ERROR" wait_for 30 batch_is R1 ERROR
check_eq "the 3 refused are failed in the ledger" 3 "$(ledger R1 r failed)"
check_eq "with the peer's reason" 3 "$(sql "SELECT count(*) FROM image_destination WHERE state = 'failed' AND answer LIKE 'A900%'")"
check_eq "the refused are the ones the peer refused" "$(cat "$SITE/refuse.txt")" \
  "$(sql "SELECT i.uid FROM image_destination d JOIN image i ON i.id = d.image_id WHERE d.state = 'failed' ORDER BY i.uid")"
check_eq "the other 5 are SENT" 5 "$(images_with R1 SENT)"
check_eq "and at the peer" 5 "$(count_files "$SITE/peerR")"
out=$(sendit batch show R1 2>&1)
check "the batch's error names the destination and the reason" grep -qF "destination r: 3 of 8 instances refused: " <<<"$out"
check_eq "refused once: not retried" 1 "$(sql "SELECT attempts FROM job WHERE kind = 'send' AND folder = 'R1'")"
: >"$SITE/refuse.txt"
check "sendit batch resend R1 --to r" sendit batch resend R1 --to r
check "the resend completes R1" wait_for 30 batch_is R1 DONE
check_eq "all 8 SENT" 8 "$(images_with R1 SENT)"
check_eq "the peer got the 3 once more, and the 5 again (resend sends everything)" 13 "$(count_files "$SITE/peerR")"
out=$(sendit batch resend R1 --to nowhere 2>&1)
check "resend to an unknown destination is refused, naming it" grep -q "nowhere" <<<"$out"

# ---- 4. kill -9 of sendit mid-send ----
$MKDICOM "$SITE/stage/K1" 1000 --sop-prefix 1.2.826.0.1.3680043.10.7705 >/dev/null
drop K1
check "K1's delivery begins" wait_for 30 sql_ge 1 \
  "SELECT count(*) FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'K1' AND d.state = 'sent'"
kill -9 "$(cat "$SITE/sendit.pid")"
rm -f "$SITE/sendit.pid"
sent_rows=$(sql "SELECT i.uid FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'K1' AND d.state = 'sent' ORDER BY i.uid")
n_sent=$(grep -c . <<<"$sent_rows")
check "killed mid-send ($n_sent of 1000 recorded sent)" [ "$n_sent" -lt 1000 ]
check "every instance the ledger says sent is at the peer" \
  bash -c 'comm -23 <(sort <<<"$1") <(sort -u <<<"$2") | grep -q . && exit 1 || exit 0' _ "$sent_rows" "$(peer_uids "$SITE/peerR")"
check_eq "no K1 image is SENT before every destination confirmed it all" 0 "$(images_with K1 SENT)"
start_daemon
check "restarted: K1 ends DONE" wait_for 40 batch_is K1 DONE
check_eq "every K1 image SENT" 1000 "$(images_with K1 SENT)"
check "every K1 instance is at the peer" bash -c 'comm -23 <(sort <<<"$1") <(sort -u <<<"$2") | grep -q . && exit 1 || exit 0' _ \
  "$(sql "SELECT i.uid FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'K1'")" "$(peer_uids "$SITE/peerR")"
stop_daemon
stop_site

# ---- 5. import,deid,send: the de-identified copies go, never the originals ----
new_site
mkdir -p "$SITE/stage"
PD=$(free_port)
start_peer "$PD" "$SITE/peerD" "$SITE/refuse.txt"
printf '[pipeline]\nstages = import,deid,send\n[deid]\nfolder = %s\nkey_file = %s\n' "$SITE/deid" "$SITE/deid.key" >>"$SITE/sendit.ini"
dest_ini x "$PD" DEIDPEER
$MKDICOM "$SITE/stage/E1" 4 --sop-prefix 1.2.826.0.1.3680043.10.7706 >/dev/null
start_daemon
drop E1
check "E1 (import, deid, send) ends DONE" wait_for 30 batch_is E1 DONE
check_eq "the peer holds exactly the de-identified UIDs" "$(sql "SELECT sop_uid FROM image_deid ORDER BY sop_uid" | sort)" "$(peer_uids "$SITE/peerD")"
check "and no original UID" bash -c '! grep -qF 1.2.826.0.1.3680043.10.7706 <<<"$1"' _ "$(peer_uids "$SITE/peerD")"
check_eq "the destination's source defaulted to deid" deid "$(sendit destinations --json | $py -c 'import json,sys; print(json.load(sys.stdin)["destinations"][0]["source"])')"
stop_daemon
stop_site
finish
