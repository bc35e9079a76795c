#!/usr/bin/env bash
# Destination filters on the calling AE title and the recipe's LABEL (issue 16, "Destinations"): the daemon
# with [dicom] listen and stages = import,deid,send, a recipe whose whitelist %filter LABEL "Clean MR" matches
# MR images, and two storescp peers (DCMTK, TCP_NODELAY=1): `byae` (filter_calling_ae = MODA) and `bylabel`
# (filter_labels = Clean MR).
#   SA: storescu -aet MODA, 3 CT + 1 MR    -> byae gets all 4, bylabel the MR
#   SB: storescu -aet MODB, 2 CT + 2 MR    -> bylabel gets the 2 MR, byae nothing (no send job for it)
#   SE: storescu -aet moda (lower case), 1 CT -> nobody (AE titles are case-sensitive): send skipped
#   DC: a dropped folder, 3 CT, no AE title in the meta -> nobody: send skipped, DONE
#   DD: a dropped folder, 1 CT whose meta says MODA + 1 MR -> byae the CT, bylabel the MR
#   DR: a dropped folder, 1 CT + 1 US that the recipe's graylist LABEL "Review US" holds: nobody at first
#       (send skipped); released (`sendit batch release`), the US keeps its LABEL and goes to bylabel
#       (filter_labels = Clean MR, Review US)
# Each peer ends holding exactly the de-identified copies that match (their new UIDs), nothing else, and
# every batch ends DONE.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3
export TCP_NODELAY=1 SENDIT_QUEUE_POLL_SECONDS=1
for tool in storescp storescu dcmdump; do
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
received_uids() { for f in "$1"/*; do [ -f "$f" ] && dcmdump -q +P SOPInstanceUID "$f" | sed 's/.*\[\(.*\)\].*/\1/'; done | sort; }
count_files() { find "$1" -type f | grep -c .; }
start_storescp() { # start_storescp PORT DIR AE
  mkdir -p "$2"
  storescp +uf -aet "$3" -od "$2" "$1" >"$2.log" 2>&1 &
  bg+=($!)
  wait_for 5 bash -c "ss -ltn | grep -q ':$1 '" || { echo "storescp on $1 did not start"; exit 1; }
}
# deid_uids "SQL condition on b (batch) and i (image)": the de-identified SOP Instance UIDs, sorted.
deid_uids() {
  sql "SELECT d.sop_uid FROM image_deid d JOIN image i ON i.id = d.image_id JOIN batch b ON b.id = i.batch_id WHERE d.state = 'done' AND ($1)" | sort
}
send_jobs() { sql "SELECT excl_key || ':' || state FROM job WHERE kind = 'send' AND folder = '$1' ORDER BY excl_key" | paste -sd' '; }

new_site
mkdir -p "$SITE/stage" "$SITE/src"
PAE=$(free_port)
PLAB=$(free_port)
LISTEN=$(free_port)
start_storescp "$PAE" "$SITE/peerAE" PEERAE
start_storescp "$PLAB" "$SITE/peerLAB" PEERLAB
cat >"$SITE/site.dicom" <<'RECIPE'
FORMAT dicom

%filter whitelist

LABEL Clean MR
  contains Modality MR

%filter graylist

LABEL Review US
  contains Modality US
RECIPE
cat >>"$SITE/sendit.ini" <<INI
[pipeline]
stages = import,deid,send
[deid]
folder = $SITE/deid
key_file = $SITE/deid.key
recipe = $SITE/site.dicom
[dicom]
listen = 127.0.0.1:$LISTEN
ae_title = SENDIT
[destination byae]
type = dicom
host = 127.0.0.1
port = $PAE
called_ae = PEERAE
filter_calling_ae = MODA
[destination bylabel]
type = dicom
host = 127.0.0.1
port = $PLAB
called_ae = PEERLAB
filter_labels = Clean MR, Review US
INI

# A destination whose LABEL can never match is refused at load, naming it.
cp "$SITE/sendit.ini" "$SITE/bad.ini"
sed -i 's/^stages = import,deid,send$/stages = import,send/' "$SITE/bad.ini"
out=$("$SENDIT_BIN" config --config "$SITE/bad.ini" 2>&1)
check "filter_labels without a deid stage is a configuration error naming the destination" \
  grep -qF '[destination bylabel] filter_labels = "Clean MR,Review US": [pipeline] stages has no deid stage' <<<"$out"
out=$(sendit config 2>&1)
check "sendit config prints both filters as set" \
  bash -c 'grep -qx "filter_calling_ae = MODA" <<<"$1" && grep -qx "filter_labels = Clean MR,Review US" <<<"$1"' _ "$out"

mk() { $MKDICOM "$@" >/dev/null || { echo "mkdicom.py $* failed"; exit 1; }; }
mk "$SITE/src/SA" 3 --patient PAT_A --study 1.2.826.0.1.3680043.10.7801 --sop-prefix 1.2.826.0.1.3680043.10.7801.1
mk "$SITE/src/SA" 1 --patient PAT_A --study 1.2.826.0.1.3680043.10.7801 --sop-prefix 1.2.826.0.1.3680043.10.7801.2 --prefix MR --modality MR
mk "$SITE/src/SB" 2 --patient PAT_B --study 1.2.826.0.1.3680043.10.7802 --sop-prefix 1.2.826.0.1.3680043.10.7802.1
mk "$SITE/src/SB" 2 --patient PAT_B --study 1.2.826.0.1.3680043.10.7802 --sop-prefix 1.2.826.0.1.3680043.10.7802.2 --prefix MR --modality MR
mk "$SITE/src/SE" 1 --patient PAT_E --study 1.2.826.0.1.3680043.10.7805 --sop-prefix 1.2.826.0.1.3680043.10.7805.1
mk "$SITE/stage/DC" 3 --patient PAT_C --study 1.2.826.0.1.3680043.10.7803 --sop-prefix 1.2.826.0.1.3680043.10.7803.1
mk "$SITE/stage/DD" 1 --patient PAT_D --study 1.2.826.0.1.3680043.10.7804 --sop-prefix 1.2.826.0.1.3680043.10.7804.1
mk "$SITE/stage/DD" 1 --patient PAT_D --study 1.2.826.0.1.3680043.10.7804 --sop-prefix 1.2.826.0.1.3680043.10.7804.2 --prefix MR --modality MR
mk "$SITE/stage/DR" 1 --patient PAT_R --study 1.2.826.0.1.3680043.10.7806 --sop-prefix 1.2.826.0.1.3680043.10.7806.1
mk "$SITE/stage/DR" 1 --patient PAT_R --study 1.2.826.0.1.3680043.10.7806 --sop-prefix 1.2.826.0.1.3680043.10.7806.2 --prefix US --modality US
# A dropped file carries whatever its meta says: this one says MODA.
$py -c 'import sys, pydicom
ds = pydicom.dcmread(sys.argv[1]); ds.file_meta.SourceApplicationEntityTitle = "MODA"; ds.save_as(sys.argv[1])' \
  "$SITE/stage/DD/IMG00001.dcm" || { echo "pydicom failed"; exit 1; }

sendit start_watcher >"$SITE/start.out" 2>&1 || { echo "the daemon did not start:"; cat "$SITE/start.out"; exit 1; }
check "the daemon listens for DICOM" wait_for 10 bash -c "ss -ltn | grep -q ':$LISTEN '"
send_study() { storescu -aet "$1" -aec SENDIT +sd 127.0.0.1 "$LISTEN" "$2" >"$2.log" 2>&1 || { tail -5 "$2.log"; return 1; }; }
check "storescu -aet MODA sends SA" send_study MODA "$SITE/src/SA"
check "storescu -aet MODB sends SB" send_study MODB "$SITE/src/SB"
check "storescu -aet moda sends SE" send_study moda "$SITE/src/SE"
mv "$SITE/stage/DC" "$SITE/data/DC"
mv "$SITE/stage/DD" "$SITE/data/DD"
mv "$SITE/stage/DR" "$SITE/data/DR"
for b in SA SB SE DC DD DR; do
  check "$b ends DONE" wait_for 40 batch_is "$b" DONE
done

us_id=$(sql "SELECT i.id FROM image i JOIN image_deid d ON d.image_id = i.id WHERE i.modality = 'US' AND d.state = 'held'")
check "DR's US image is held by the graylist LABEL" test -n "$us_id"
check_eq "DR's send was skipped (its CT goes nowhere, the US is held)" "" "$(send_jobs DR)"
check "released after review" eval 'sendit batch release DR "${us_id:-0}" >/dev/null'
check "the released US image reaches bylabel" wait_for 30 sql_is sent \
  "SELECT state FROM image_destination WHERE image_id = ${us_id:-0} AND destination = 'bylabel'"
check "DR ends DONE again" wait_for 20 batch_is DR DONE
check_eq "the released image kept the LABEL that held it" "filter graylist: Review US" \
  "$(sql "SELECT reason FROM image_deid WHERE image_id = ${us_id:-0} AND state = 'done'")"

sa_original=$(sql "SELECT i.storage_path FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'SA' LIMIT 1")
check "the listener wrote the calling AE title into the stored original's meta" \
  grep -q '(0002,0016) AE \[MODA\]' <<<"$(dcmdump -q +P 0002,0016 "$sa_original" 2>&1)"
check_eq "the deid stage recorded the whitelist LABEL for the 4 MR images, and only for them" \
  "4 4" "$(sql "SELECT count(*) FROM image_deid d JOIN image i ON i.id = d.image_id WHERE d.state = 'done' AND d.reason = 'filter whitelist: Clean MR'") $(sql "SELECT count(*) FROM image_deid d JOIN image i ON i.id = d.image_id WHERE d.state = 'done' AND i.modality = 'MR'")"
check_eq "no CT image has a LABEL" 0 "$(sql "SELECT count(*) FROM image_deid d JOIN image i ON i.id = d.image_id WHERE i.modality = 'CT' AND d.reason IS NOT NULL")"

want_ae=$(deid_uids "b.uid = 'SA' OR (b.uid = 'DD' AND i.modality = 'CT')")
want_lab=$(deid_uids "i.modality IN ('MR', 'US')")
check_eq "byae's expected set has SA's 4 and DD's CT" 5 "$(grep -c . <<<"$want_ae")"
check_eq "byae (filter_calling_ae = MODA) received each of those once, nothing else" 5 "$(count_files "$SITE/peerAE")"
check_eq "byae holds exactly the de-identified SA and DD CT instances" "$want_ae" "$(received_uids "$SITE/peerAE")"
check_eq "bylabel (filter_labels = Clean MR, Review US) received the 4 MR and the US once, nothing else" 5 \
  "$(count_files "$SITE/peerLAB")"
check_eq "bylabel holds exactly the de-identified MR and US instances" "$want_lab" "$(received_uids "$SITE/peerLAB")"
check "no original UID reached a peer" bash -c '! grep -q "^1\.2\.826\.0\.1\.3680043\.10\.780" <<<"$1"' _ \
  "$(received_uids "$SITE/peerAE"; received_uids "$SITE/peerLAB")"

check_eq "SA: a send job for each destination, both done" "byae:done bylabel:done" "$(send_jobs SA)"
check_eq "SB: only bylabel's (no image of SB came from MODA)" "bylabel:done" "$(send_jobs SB)"
check_eq "DD: both" "byae:done bylabel:done" "$(send_jobs DD)"
check_eq "DR: bylabel's, after the release" "bylabel:done" "$(send_jobs DR)"
check_eq "SE (moda: AE titles are case-sensitive): no send job" "" "$(send_jobs SE)"
check_eq "DC (dropped, no AE title, no LABEL): no send job" "" "$(send_jobs DC)"
check "the log says DC's send was skipped" grep -q "batch DC: no destination takes any of its images; send skipped" "$SITE/logs/watcher.log"
check_eq "DC's send stage never ran" "" "$(sql "SELECT state FROM batch_stage WHERE batch_uid = 'DC' AND stage = 'send'")"
check_eq "the ledger has rows only for images that match: 5 byae, 5 bylabel, all sent" "byae:sent:5 bylabel:sent:5" \
  "$(sql "SELECT destination || ':' || state || ':' || count(*) FROM image_destination GROUP BY destination, state ORDER BY destination" | paste -sd' ')"
check_eq "SA's 4 images SENT (each confirmed by every destination it goes to)" 4 \
  "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'SA' AND i.status = 'SENT'")"
check_eq "SB's CT images, which go nowhere, are not SENT" 0 \
  "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'SB' AND i.modality = 'CT' AND i.status = 'SENT'")"
sendit stop_watcher --timeout 30 >/dev/null 2>&1
stop_site
finish
