#!/usr/bin/env bash
# Interoperability with Orthanc (issue 15), Debian's package started here on loopback with TCP_NODELAY=1,
# its own storage and index folders, stopped by pid:
#   1. `sendit send` -> Orthanc: every instance arrives (Orthanc's REST API lists each SOPInstanceUID, and
#      the file Orthanc stored has the data set sent, compared with pydicom and dcmdump);
#   2. Orthanc -> the daemon's listener, through Orthanc's REST API (POST /modalities/sendit/store, sendit
#      configured as a modality in Orthanc's configuration): the instances arrive, the study ends as a
#      DONE batch with every image, each the data set Orthanc holds.
# Skipped (exit 0, with a message) only when Orthanc is not installed.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if ! command -v Orthanc >/dev/null; then
  echo "# skipped: Orthanc is not installed (Debian package orthanc)"
  exit 0
fi
py=/usr/bin/python3
cmp_py="$HERE/dicom_compare.py"
export TCP_NODELAY=1
ORTHANC_PID=
cleanup() {
  [ -n "$ORTHANC_PID" ] && kill "$ORTHANC_PID" 2>/dev/null && wait "$ORTHANC_PID" 2>/dev/null
  stop_site
  [ -z "${KEEP_TMP:-}" ] && [ -n "${SITE:-}" ] && rm -rf "$SITE"
}
trap cleanup EXIT
log_has() { grep -qF -- "$1" "$SITE/logs/watcher.log"; }
uid_of() { dcmdump -q +P SOPInstanceUID "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
rest() { curl -sf "http://127.0.0.1:$HTTP$1" "${@:2}"; }

new_site
PORT=$(free_port) HTTP=$(free_port) OPORT=$(free_port)
cat >>"$SITE/sendit.ini" <<INI
[dicom]
listen = 127.0.0.1:$PORT
ae_title = SENDIT
allow = ORTHANC@127.0.0.1
INI
mkdir -p "$SITE/orthanc/db"
cat >"$SITE/orthanc/cfg.json" <<JSON
{
  "Name": "sendit-test",
  "StorageDirectory": "$SITE/orthanc/db",
  "IndexDirectory": "$SITE/orthanc/db",
  "HttpPort": $HTTP,
  "DicomPort": $OPORT,
  "DicomAet": "ORTHANC",
  "RemoteAccessAllowed": false,
  "AuthenticationEnabled": false,
  "DicomCheckCalledAet": false,
  "StorageCompression": false,
  "Plugins": [],
  "DicomModalities": { "sendit": [ "SENDIT", "127.0.0.1", $PORT ] }
}
JSON
env TCP_NODELAY=1 Orthanc "$SITE/orthanc/cfg.json" >"$SITE/orthanc/log" 2>&1 &
ORTHANC_PID=$!
wait_for 30 rest /system >/dev/null || { echo "Orthanc did not start:"; tail -20 "$SITE/orthanc/log"; exit 1; }
ok "Orthanc runs (HTTP $HTTP, DICOM $OPORT)"

# ---- 1. sendit send -> Orthanc ----
$MKDICOM "$SITE/src/ORTH1" 20 --pixels 256 >/dev/null || exit 1
check "sendit send of 20 CT files -> Orthanc" \
  "$SENDIT_BIN" send -q --aet SENDIT --aec ORTHANC 127.0.0.1 "$OPORT" "$SITE/src/ORTH1"
check_eq "Orthanc has 20 instances" 20 "$(rest /instances | $py -c 'import json,sys; print(len(json.load(sys.stdin)))')"
bad=0
for f in "$SITE/src/ORTH1"/*.dcm; do
  uid=$(uid_of "$f")
  id=$(rest /tools/lookup -X POST -d "$uid" | $py -c 'import json,sys; r=[x["ID"] for x in json.load(sys.stdin) if x["Type"]=="Instance"]; print(r[0] if r else "")')
  if [ -z "$id" ] || ! rest "/instances/$id/file" -o "$SITE/got.dcm" ||
    ! $py "$cmp_py" pair "$f" "$SITE/got.dcm" --dcmdump --by-creator --ignore-ts --no-length-form >"$SITE/cmp.out" 2>&1; then
    bad=$((bad + 1))
    echo "  $f: Orthanc id '$id'"; head -3 "$SITE/cmp.out"
  fi
done
check_eq "every instance arrived in Orthanc with the data set sent (pydicom)" 0 "$bad"

# ---- 2. Orthanc -> the daemon ----
sendit start_watcher >/dev/null || { echo "the daemon did not start"; tail "$SITE/logs/watcher.log"; exit 1; }
wait_for 10 log_has "listening on 127.0.0.1:$PORT" || exit 1
study=$(rest /studies | $py -c 'import json,sys; print(json.load(sys.stdin)[0])')
check "C-ECHO from Orthanc to sendit (POST /modalities/sendit/echo)" rest /modalities/sendit/echo -X POST -d "{}" -o /dev/null
rest /modalities/sendit/store -X POST -d "{\"Resources\": [\"$study\"], \"Synchronous\": true}" >"$SITE/store.json"
check_eq "Orthanc's C-STORE of the study to sendit (POST /modalities/sendit/store) reports 20 instances" 20 \
  "$($py -c 'import json,sys; print(json.load(open(sys.argv[1]))["InstancesCount"])' "$SITE/store.json" 2>/dev/null)"
check "the study ends as a DONE batch" wait_for 30 batch_is ORTH1 DONE
check_eq "with every image" 20 "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'ORTH1' AND i.status = 'DONE'")"
bad=0
for f in "$SITE/src/ORTH1"/*.dcm; do
  got=$(find "$SITE/storage/ORTH1" -name "$(uid_of "$f").dcm")
  [ -n "$got" ] && $py "$cmp_py" pair "$f" "$got" --dcmdump --by-creator --ignore-ts --no-length-form >/dev/null 2>&1 ||
    bad=$((bad + 1))
done
check_eq "each stored data set is the one sent to Orthanc first" 0 "$bad"
f1=$(find "$SITE/storage/ORTH1" -name '*.dcm' | head -1)
check_eq "SourceApplicationEntityTitle is Orthanc's AE" ORTHANC \
  "$(dcmdump -q -M +P SourceApplicationEntityTitle "$f1" | sed 's/.*\[\(.*\)\].*/\1/;s/ *$//')"
finish
