#!/usr/bin/env bash
# Delivery end to end (issue 16), every part real and on loopback:
#   [pipeline] stages = import,deid,send,cleanup, the daemon listening for DICOM, four destinations:
#     pacs   dicom     C-STORE to Orthanc A (Debian's orthanc)
#     web    dicomweb  STOW-RS to Orthanc B (orthanc-dicomweb)
#     pkg    folder    a tar per batch and its manifest
#     bucket s3        objects in npm's s3rver
#   1. A sender drops a PHI-seeded study (mkphi.py's A1) as a folder and storescu sends another (B1) to the
#      listener: both are imported, de-identified and delivered to all four; every image SENT then DONE,
#      both batches DONE; Orthanc A and B each list exactly the de-identified instances (the image_deid
#      rows' SOP Instance UIDs), the package and the bucket hold each of them byte for byte; the leak scan
#      (`sendit deid verify`) finds no identifier of the originals in anything delivered; cleanup removed
#      the originals and the copies only once all four confirmed.
#   2. Orthanc A stopped, a third study (A2) dropped: web, pkg and bucket finish it, pacs retries and its
#      breaker opens; nothing of A2 is removed (unconfirmed); Orthanc A restarted on the same storage:
#      A2 completes, Orthanc A holds every instance once, then A2 is cleaned up.
# Skipped (exit 0, with a message) only when Orthanc or its DICOMweb plugin is not installed.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
if ! command -v Orthanc >/dev/null || [ ! -f "$PLUGIN" ]; then
  echo "# skipped: Orthanc or its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb)"
  exit 0
fi
py=/usr/bin/python3
export TCP_NODELAY=1
s3dir="$HERE/../s3"
if [ ! -x "$s3dir/node_modules/.bin/s3rver" ]; then
  npm ci --prefix "$s3dir" --no-audit --no-fund >/dev/null 2>&1 || { echo "npm ci --prefix tests/s3 failed"; exit 1; }
fi
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  [ -f "${SITE:-/nonexistent}/sendit.pid" ] && kill -9 "$(cat "$SITE/sendit.pid")" 2>/dev/null
  drop_site_databases
  [ -z "${KEEP_TMP:-}" ] && [ -n "${SITE:-}" ] && rm -rf "$SITE"
}
trap cleanup EXIT

new_site
O="$SITE/peers"
mkdir -p "$O" "$SITE/stage" "$SITE/pkg"
LISTEN=$(free_port) WEB=$(free_port)
A_HTTP=$(free_port) A_DICOM=$(free_port) B_HTTP=$(free_port) B_DICOM=$(free_port)

start_orthanc() { # start_orthanc NAME HTTP DICOM PLUGINS_JSON: pid in ORTHANC_PID
  mkdir -p "$O/$1/db"
  cat >"$O/$1/cfg.json" <<JSON
{ "Name": "$1", "StorageDirectory": "$O/$1/db", "IndexDirectory": "$O/$1/db",
  "HttpPort": $2, "DicomPort": $3, "DicomAet": "$1", "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false, "DicomCheckCalledAet": false, "StorageCompression": false,
  "Plugins": $4, "DicomWeb": { "Enable": true, "Root": "/dicom-web/" } }
JSON
  Orthanc "$O/$1/cfg.json" >>"$O/$1/log" 2>&1 &
  ORTHANC_PID=$!
  bg+=("$ORTHANC_PID")
  wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:$2/system" ||
    { echo "Orthanc $1 did not start:"; tail -20 "$O/$1/log"; exit 1; }
}
orthanc_uids() { # orthanc_uids HTTP: the SOP Instance UIDs Orthanc holds, sorted
  curl -sf "http://127.0.0.1:$1/instances?expand" |
    $py -c 'import json,sys; [print(i["MainDicomTags"]["SOPInstanceUID"]) for i in json.load(sys.stdin)]' | sort
}
orthanc_fetch() { # orthanc_fetch HTTP DIR: every instance's file into DIR
  mkdir -p "$2"
  local id
  for id in $(curl -sf "http://127.0.0.1:$1/instances" | $py -c 'import json,sys; print(" ".join(json.load(sys.stdin)))'); do
    curl -sf -o "$2/$id.dcm" "http://127.0.0.1:$1/instances/$id/file"
  done
}
start_orthanc ORTHANCA "$A_HTTP" "$A_DICOM" '[]'
PID_A=$ORTHANC_PID
start_orthanc ORTHANCB "$B_HTTP" "$B_DICOM" "[ \"$PLUGIN\" ]"
ok "Orthanc A (C-STORE) and Orthanc B (STOW-RS) run"

node "$s3dir/node_modules/s3rver/bin/s3rver.js" -d "$O/s3" -a 127.0.0.1 -p 0 --configure-bucket dicom \
  >"$O/s3rver.log" 2>&1 &
bg+=($!)
S3PORT=
for _ in $(seq 100); do
  S3PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$O/s3rver.log" | cut -d: -f2)
  [ -n "$S3PORT" ] && break
  sleep 0.1
done
[ -n "$S3PORT" ] || { echo "s3rver did not start:"; cat "$O/s3rver.log"; exit 1; }
printf 'S3RVER\n' >"$SITE/s3.secret"
chmod 600 "$SITE/s3.secret"
ok "s3rver runs"

cat >>"$SITE/sendit.ini" <<INI
[pipeline]
stages = import,deid,send,cleanup
[deid]
folder = $SITE/deid
key_file = $SITE/deid.key
[dicom]
listen = 127.0.0.1:$LISTEN
ae_title = SENDIT
[web]
listen = 127.0.0.1:$WEB
auth = none
[destination pacs]
type = dicom
host = 127.0.0.1
port = $A_DICOM
called_ae = ORTHANCA
breaker_failures = 2
breaker_probe_seconds = 2
[destination web]
type = dicomweb
url = http://127.0.0.1:$B_HTTP/dicom-web
[destination pkg]
type = folder
path = $SITE/pkg
layout = {collection}/{patient}/{patient}_{date}_{accession}_{batch}
[destination bucket]
type = s3
endpoint = http://127.0.0.1:$S3PORT
bucket = dicom
access_key = S3RVER
secret_key_file = $SITE/s3.secret
INI
$py "$HERE/mkphi.py" "$SITE/stage" --manifest "$SITE/phi.json" >/dev/null || { echo "mkphi.py failed"; exit 1; }
export SENDIT_QUEUE_POLL_SECONDS=1
sendit start_watcher >"$SITE/start.out" 2>&1 || { echo "the daemon did not start:"; cat "$SITE/start.out"; exit 1; }
check "the daemon listens for DICOM" wait_for 10 bash -c "ss -ltn | grep -q ':$LISTEN '"

# Keep the originals to compare against: cleanup removes sendit's copies.
cp -r "$SITE/stage" "$SITE/originals"
n_a1=$(find "$SITE/stage/A1" -type f | wc -l)
n_b1=$(find "$SITE/stage/B1" -type f | wc -l)
mv "$SITE/stage/A1" "$SITE/data/A1"
check "storescu sends B1 to the listener" bash -c 'storescu -v -aet MODALITY -aec SENDIT +sd +r 127.0.0.1 "$1" "$2" >"$3" 2>&1 || { tail -20 "$3"; exit 1; }' _ "$LISTEN" "$SITE/stage/B1" "$SITE/storescu.log"
b1=$(sql "SELECT uid FROM batch WHERE uid <> 'A1' ORDER BY id LIMIT 1")
wait_for 20 test -n "$(sql "SELECT uid FROM batch WHERE uid <> 'A1' ORDER BY id LIMIT 1")"
b1=$(sql "SELECT uid FROM batch WHERE uid <> 'A1' ORDER BY id LIMIT 1")
check "A1 ends DONE through import, deid, send and cleanup" wait_for 90 batch_is A1 DONE
check "the received study ($b1) ends DONE too" wait_for 60 batch_is "$b1" DONE
# mkphi.py marks one B1 file BurnedInAnnotation YES: the deid stage holds it for review (ERROR), and
# the rest of the study goes on.
held=$(sql "SELECT count(*) FROM image_deid WHERE state = 'held'")
check_eq "the burned-in image is held, the only one" 1 "$held"
total=$((n_a1 + n_b1 - held))
check_eq "every other image of both is DONE" "$total" "$(sql "SELECT count(*) FROM image WHERE status = 'DONE'")"
check_eq "every image confirmed by all four destinations" "$((4 * total))" \
  "$(sql "SELECT count(*) FROM image_destination WHERE state = 'sent'")"
deid_uids=$(sql "SELECT sop_uid FROM image_deid WHERE state = 'done'" | sort)
check_eq "the deid stage made $total copies" "$total" "$(grep -c . <<<"$deid_uids")"
check_eq "Orthanc A (C-STORE) lists exactly the de-identified instances" "$deid_uids" "$(orthanc_uids "$A_HTTP")"
check_eq "Orthanc B (STOW-RS) lists exactly the de-identified instances" "$deid_uids" "$(orthanc_uids "$B_HTTP")"
mkdir -p "$O/got/pkg" "$O/got/s3"
for t in $(find "$SITE/pkg" -name '*.tar'); do tar -xf "$t" -C "$O/got/pkg"; done
check_eq "the packages hold exactly the de-identified instances" "$deid_uids" \
  "$(find "$O/got/pkg" -name '*.dcm' -printf '%f\n' | sed 's/\.dcm$//' | sort)"
keys=$(curl -sf "http://127.0.0.1:$S3PORT/dicom?list-type=2&max-keys=1000" | grep -o '<Key>[^<]*\.dcm</Key>' | sed 's/<[^>]*>//g')
for k in $keys; do curl -sf -o "$O/got/s3/$(basename "$k")" "http://127.0.0.1:$S3PORT/dicom/$k"; done
check_eq "the bucket holds exactly the de-identified instances" "$deid_uids" \
  "$(ls "$O/got/s3" | sed 's/\.dcm$//' | sort)"
orthanc_fetch "$A_HTTP" "$O/got/pacs"
orthanc_fetch "$B_HTTP" "$O/got/web"
check "no identifier of the originals in anything delivered (sendit deid verify)" \
  "$SENDIT_BIN" deid verify "$SITE/originals/A1" "$SITE/originals/B1" --against "$O/got/pacs" "$O/got/web" "$O/got/pkg" "$O/got/s3"
files_of() { # files_of BATCH COLUMN TABLE: how many of the batch's recorded paths are files
  local p n=0
  for p in $(sql "SELECT t.$2 FROM $3 t JOIN image i ON i.id = t.$4 JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1'"); do
    [ -f "$p" ] && n=$((n + 1))
  done
  echo "$n"
}
check_eq "cleanup removed A1's originals from storage" 0 "$(files_of A1 storage_path image id)"
check_eq "and its de-identified copies" 0 "$(files_of A1 output_path image_deid image_id)"
check "A1 records what cleanup removed" sql_ge 1 \
  "SELECT count(*) FROM batch_cleanup c JOIN batch b ON b.id = c.batch_id WHERE b.uid = 'A1'"
# The four send jobs fan in: the last one's end queues the batch's one cleanup job.
check_eq "A1 had one send job per destination" 4 "$(sql "SELECT count(*) FROM job WHERE kind = 'send' AND folder = 'A1'")"
check_eq "and one cleanup job after them all" 1 "$(sql "SELECT count(*) FROM job WHERE kind = 'cleanup' AND folder = 'A1'")"
# [cleanup] keep_errors (default true): a batch with a held image keeps its files for review.
check_eq "$b1, with its held image, keeps its originals ([cleanup] keep_errors)" "$n_b1" "$(files_of "$b1" storage_path image id)"

# ---- 2. Orthanc A stopped: the others finish, its breaker opens, nothing unconfirmed removed ----
kill "$PID_A"
wait "$PID_A" 2>/dev/null
n_a2=$(find "$SITE/stage/A2" -type f | wc -l)
mv "$SITE/stage/A2" "$SITE/data/A2"
for d in web pkg bucket; do
  check "A2 delivered to $d while Orthanc A is down" wait_for 60 sql_is "$n_a2" \
    "SELECT count(*) FROM image_destination d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'A2' AND d.destination = '$d' AND d.state = 'sent'"
done
check "pacs's breaker opens" wait_for 40 sql_is open "SELECT state FROM destination_state WHERE name = 'pacs'"
check "A2 is not DONE while pacs has not confirmed it" bash -c '[ "$1" != DONE ]' _ "$(batch_status A2)"
check_eq "none of A2's originals is removed" "$n_a2" \
  "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'A2'" | head -1)"
present=0
for p in $(sql "SELECT storage_path FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'A2'"); do
  [ -f "$p" ] && present=$((present + 1))
done
check_eq "A2's stored files are all still there" "$n_a2" "$present"
start_orthanc ORTHANCA "$A_HTTP" "$A_DICOM" '[]'
check "Orthanc A back: A2 ends DONE" wait_for 90 batch_is A2 DONE
all_uids=$(sql "SELECT sop_uid FROM image_deid WHERE state = 'done'" | sort)
check_eq "Orthanc A holds every de-identified instance once" "$all_uids" "$(orthanc_uids "$A_HTTP")"
check_eq "pacs's breaker closed again" closed "$(sql "SELECT state FROM destination_state WHERE name = 'pacs'")"
check "and A2 is cleaned up" wait_for 30 sql_ge 1 \
  "SELECT count(*) FROM batch_cleanup c JOIN batch b ON b.id = c.batch_id WHERE b.uid = 'A2'"
sendit stop_watcher --timeout 60 >/dev/null 2>&1
finish
