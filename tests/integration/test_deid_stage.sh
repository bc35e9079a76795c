#!/usr/bin/env bash
# The deid stage (issue 14) in the real daemon, `[pipeline] stages =
# import,deid`: every image of a batch is de-identified under
# [deid] folder/<study code>/ with consistent UIDs; one patient in two
# batches keeps its code and day shift; a BurnedInAnnotation YES image is
# held in quarantine with its reason while its batch still finishes, and a
# batch of held images alone fails in deid at once; held images are
# released after review (`sendit batch release`); a recipe's %filter holds
# and its %header applies; kill -9 of the daemon
# during the stage, then a restart, gives every output exactly once; the
# batch's de-identification state in `sendit batch show` (text and JSON),
# GET /api/batches/{uid} and the batch page. On PostgreSQL also: a watcher
# and a second worker process de-identify batches of one new patient at
# once, and the patient gets one pseudonym.
source "$(dirname "$0")/lib.sh"
WORKER_PIDS=()
cleanup() {
  local pid
  for pid in "${WORKER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${WORKER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_site
}
trap cleanup EXIT
mkdir -p "$SENDIT_TMP"
PY=/usr/bin/python3
py() { $PY -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
count_files() { find "$@" -type f 2>/dev/null | wc -l; }
images_in() { # images_in BATCH STATUS
  sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' AND i.status = '$2'"
}
code_of() { sql "SELECT code FROM deid_entity WHERE original = '$1'"; }

# One line per output file: path|PatientID|PatientName|StudyInstanceUID|
# SeriesInstanceUID|SOPInstanceUID|meta's MediaStorageSOPInstanceUID|StudyDate
# (pydicom reads every output; a file it cannot read fails the test).
describe() {
  $PY - "$@" <<'PYEOF'
import sys, pydicom
for path in sys.argv[1:]:
    ds = pydicom.dcmread(path)
    print("|".join(str(x) for x in (path, ds.get("PatientID", ""), ds.get("PatientName", ""),
          ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID,
          ds.file_meta.MediaStorageSOPInstanceUID, ds.get("StudyDate", ""))))
PYEOF
}
# Days between two YYYYMMDD dates ($2 - $1).
days() { $PY -c 'import datetime, sys; d = lambda s: datetime.date(int(s[:4]), int(s[4:6]), int(s[6:])); print((d(sys.argv[2]) - d(sys.argv[1])).days)' "$1" "$2"; }

deid_site() { # deid_site [extra ini lines]
  new_site
  PORT=$(free_port)
  BASE="http://127.0.0.1:$PORT"
  DEID="$SITE/deid"
  cat >>"$SITE/sendit.ini" <<INI
[pipeline]
stages = import,deid
[deid]
folder = $DEID
key_file = $SITE/deid.key
[web]
listen = 127.0.0.1:$PORT
auth = none
INI
  mkdir -p "$SITE/stage"
}
drop() { mv "$SITE/stage/$1" "$SITE/data/$1"; }

# ---- two patients, three studies ------------------------------------------------
deid_site
export SENDIT_QUEUE_POLL_SECONDS=1
$MKDICOM "$SITE/stage/ACCA1" 4 --patient PAT_A --study 1.2.826.0.1.3680043.10.7001 --date 20240131 >/dev/null
$MKDICOM "$SITE/stage/ACCB1" 3 --patient PAT_B --study 1.2.826.0.1.3680043.10.7002 --date 20230605 >/dev/null
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
check "the daemon's web answers" wait_for 10 curl -sf -o /dev/null "$BASE/api/status"
drop ACCA1
drop ACCB1
check "ACCA1 reaches DONE through import and deid" wait_for 60 batch_is ACCA1 DONE
check "ACCB1 reaches DONE" wait_for 60 batch_is ACCB1 DONE
check_eq "ACCA1's 4 images are DONEPROCESSING" 4 "$(images_in ACCA1 DONEPROCESSING)"
check_eq "its deid stage is done" "done" \
  "$(sql "SELECT state FROM batch_stage WHERE batch_uid = 'ACCA1' AND stage = 'deid'")"
code_a=$(code_of PAT_A)
code_b=$(code_of PAT_B)
check "PAT_A has a code" test -n "$code_a"
check "PAT_B has another" test -n "$code_b" -a "$code_b" != "$code_a"
study_a=$(sql "SELECT i.code FROM deid_item i JOIN deid_entity e ON e.id = i.entity_id WHERE e.original = 'PAT_A'")
check_eq "7 outputs in the deid folder" 7 "$(count_files "$DEID")"
check_eq "ACCA1's 4 are in its study's folder" 4 "$(count_files "$DEID/$study_a")"
mapfile -t rows_a < <(describe "$DEID/$study_a"/*)
check_eq "pydicom reads all 4" 4 "${#rows_a[@]}"
check_eq "each has the patient's code as PatientID" "$code_a" \
  "$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f2 | sort -u)"
check_eq "one StudyInstanceUID across the study" 1 \
  "$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f4 | sort -u | wc -l)"
check_eq "one SeriesInstanceUID" 1 "$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f5 | sort -u | wc -l)"
check_eq "4 distinct SOPInstanceUIDs" 4 "$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f6 | sort -u | wc -l)"
new_study=$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f4 | sort -u)
check "the study's UID is remapped under 2.25" grep -q '^2\.25\.' <<<"$new_study"
check "it is not the original" test "$new_study" != "1.2.826.0.1.3680043.10.7001"
check "the file meta agrees with the data set" \
  test -z "$(printf '%s\n' "${rows_a[@]}" | awk -F'|' '$6 != $7')"
check_eq "the database records the outputs' UIDs" \
  "$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f1,4,5,6 | sort)" \
  "$(sql "SELECT d.output_path || '|' || d.study_uid || '|' || d.series_uid || '|' || d.sop_uid FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'ACCA1' AND d.state = 'done'" | sort)"
check "no output holds the patient's name" \
  test -z "$(grep -l -a -e 'Müller' -e 'PAT_A' -e 'ACCA1' -r "$DEID" 2>/dev/null)"
check_eq "the originals stay in storage" 7 "$(count_files "$SITE/storage/ACCA1" "$SITE/storage/ACCB1")"
date_a1=$(printf '%s\n' "${rows_a[@]}" | cut -d'|' -f8 | sort -u)
shift_a1=$(days 20240131 "$date_a1")
check "the study date is shifted" test "$shift_a1" -ne 0

# ---- the same patient in a second batch: same code, same day shift ---------------
$MKDICOM "$SITE/stage/ACCA2" 2 --patient PAT_A --study 1.2.826.0.1.3680043.10.7003 --date 20250310 >/dev/null
drop ACCA2
check "ACCA2 reaches DONE" wait_for 60 batch_is ACCA2 DONE
check_eq "PAT_A still has one pseudonym" 1 "$(sql "SELECT count(*) FROM deid_entity WHERE original = 'PAT_A'")"
mapfile -t rows_a2 < <(describe $(sql "SELECT d.output_path FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'ACCA2'"))
check_eq "ACCA2's outputs carry the same patient code" "$code_a" \
  "$(printf '%s\n' "${rows_a2[@]}" | cut -d'|' -f2 | sort -u)"
check_eq "and the same day shift" "$shift_a1" \
  "$(days 20250310 "$(printf '%s\n' "${rows_a2[@]}" | cut -d'|' -f8 | sort -u)")"
check "in a study folder of their own" test "$(dirname "$(cut -d'|' -f1 <<<"${rows_a2[0]}")")" != "$DEID/$study_a"

# ---- a burned-in image is held; its batch finishes ---------------------------------
$MKDICOM "$SITE/stage/BURN1" 2 --patient PAT_B --study 1.2.826.0.1.3680043.10.7004 >/dev/null
$MKDICOM "$SITE/stage/BURN1" 1 --patient PAT_B --study 1.2.826.0.1.3680043.10.7004 --prefix BIA \
  --sop-prefix 1.2.826.0.1.3680043.10.7004.66 --burned-in YES >/dev/null
drop BURN1
check "BURN1 reaches DONE" wait_for 60 batch_is BURN1 DONE
check_eq "2 images de-identified" 2 "$(images_in BURN1 DONEPROCESSING)"
check_eq "the burned-in one is held (image status ERROR)" 1 "$(images_in BURN1 ERROR)"
held_id=$(sql "SELECT d.image_id FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'BURN1' AND d.state = 'held'")
reason=$(sql "SELECT reason FROM image_deid WHERE image_id = $held_id")
check "its reason names BurnedInAnnotation" grep -qi "BurnedInAnnotation" <<<"$reason"
held_dir="$SITE/quarantine/BURN1/deid/$held_id"
check "a copy of the original is in quarantine" cmp -s "$held_dir/BIA00001.dcm" "$SITE/storage/BURN1/BIA00001.dcm"
check "with a reason file" grep -qi "BurnedInAnnotation" "$held_dir/reason.txt"
check "the original stays in storage" test -f "$SITE/storage/BURN1/BIA00001.dcm"
check_eq "no output for it" 0 "$(sql "SELECT count(*) FROM image_deid WHERE image_id = $held_id AND output_path IS NOT NULL")"
check "the batch log names it" grep -q "held BIA00001.dcm" <<<"$(sendit batch_logs BURN1 2>/dev/null)"
check "quarantine list shows it" grep -q "BurnedInAnnotation" <<<"$(sendit quarantine list --batch BURN1 2>/dev/null)"
json=$(sendit batch show BURN1 --json 2>/dev/null)
check_eq "batch show --json: 2 done, 1 held, 0 failed" "2 1 0" \
  "$(py "$json" '" ".join(str(j["batch"]["deid"][k]) for k in ("done", "held", "failed"))')"
check_eq "its problem names the file and the reason" "BIA00001.dcm held True" \
  "$(py "$json" '(lambda p: "%s %s %s" % (p["file"], p["state"], "BurnedInAnnotation" in p["reason"]))(j["batch"]["deid"]["problems"][0])')"
check_eq "and the output folder" "$DEID" "$(py "$json" 'j["batch"]["deid"]["folder"]')"
text=$(sendit batch show BURN1 2>/dev/null)
check "batch show prints the counts" grep -q "de-identification: 2 done, 1 held, 0 failed" <<<"$text"
check "and the held image's reason" grep -qE "held +BIA00001.dcm +BurnedInAnnotation" <<<"$text"
api=$(curl -s "$BASE/api/batches/BURN1")
check_eq "GET /api/batches/{uid} has the same deid member" \
  "$(py "$json" 'j["batch"]["deid"]')" "$(py "$api" 'j["deid"]')"
page=$(curl -s "$BASE/batches/BURN1")
check "the batch page has a De-identification section" grep -q '<section id="deid"><h2>De-identification</h2>' <<<"$page"
check "listing the held image" grep -q 'class="deid-problem"' <<<"$page"
check_eq "a batch without deid problems has none listed" "0 []" \
  "$(py "$(curl -s "$BASE/api/batches/ACCA1")" '"%d %s" % (j["deid"]["held"], j["deid"]["problems"])')"

# ---- releasing a held image after review ------------------------------------------
out=$(sendit batch release BURN1 999999 2>&1)
check_eq "releasing an image that is not held fails" 1 $?
check "and says so" grep -q "not a held image" <<<"$out"
check_eq "nothing was released" held "$(sql "SELECT state FROM image_deid WHERE image_id = $held_id")"
out=$(sendit batch release BURN1 "$held_id" 2>&1)
check_eq "a burned-in image released unfixed is queued again" 0 $?
check "and held again (BurnedInAnnotation still YES)" wait_for 30 sql_is held \
  "SELECT state FROM image_deid WHERE image_id = $held_id"
check "the operator fixes the original (sendit modify)" "$SENDIT_BIN" modify --set BurnedInAnnotation=NO --in-place "$SITE/storage/BURN1/BIA00001.dcm" \
  >/dev/null
out=$(sendit batch release BURN1 2>&1)
check_eq "once the original is fixed, release (all held of the batch)" 0 $?
check "says what it released" grep -q "released 1 image of batch BURN1" <<<"$out"
check "the image is de-identified" wait_for 30 sql_is DONEPROCESSING "SELECT status FROM image WHERE id = $held_id"
check_eq "its output is recorded and there" 1 \
  "$(sql "SELECT output_path FROM image_deid WHERE image_id = $held_id AND state = 'done'" | xargs -r ls 2>/dev/null | wc -l)"
check "the batch stays DONE" wait_for 10 batch_is BURN1 DONE
check "the log records the release" grep -q "image $held_id released by an operator" <<<"$(sendit batch_logs BURN1 2>/dev/null)"

# ---- every image held: the stage fails at once, naming deid -----------------------
$MKDICOM "$SITE/stage/BURN2" 1 --patient PAT_B --study 1.2.826.0.1.3680043.10.7005 \
  --sop-prefix 1.2.826.0.1.3680043.10.7005.66 --burned-in YES >/dev/null
drop BURN2
check "BURN2 goes to ERROR" wait_for 60 batch_is BURN2 ERROR
check_eq "its error stage is deid" deid "$(sql "SELECT error_stage FROM batch WHERE uid = 'BURN2'")"
check_eq "given up after one attempt (held stays held)" "failed:1" \
  "$(sql "SELECT state || ':' || attempts FROM batch_stage WHERE batch_uid = 'BURN2' AND stage = 'deid'")"
check "its log says why" grep -q "every image was held" <<<"$(sendit batch_logs BURN2 2>/dev/null)"
sendit stop_watcher --timeout 30 >/dev/null 2>&1

# ---- a recipe: its %filter holds an image, its %header applies; release waives the filter
cat >"$SITE/site.dicom" <<'RECIPE'
FORMAT dicom

%filter graylist

LABEL Screen MR for review
  contains Modality MR

%header

ADD StudyDescription RESEARCH
RECIPE
export SENDIT_DEID_RECIPE="$SITE/site.dicom"
sendit start_watcher >/dev/null || not_ok "start_watcher with a recipe failed"
$MKDICOM "$SITE/stage/REC1" 2 --patient PAT_R --study 1.2.826.0.1.3680043.10.7007 >/dev/null
$MKDICOM "$SITE/stage/REC1" 1 --patient PAT_R --study 1.2.826.0.1.3680043.10.7007 --prefix MR \
  --sop-prefix 1.2.826.0.1.3680043.10.7007.66 --modality MR >/dev/null
drop REC1
check "REC1 reaches DONE" wait_for 60 batch_is REC1 DONE
check_eq "the CT images are de-identified" 2 "$(images_in REC1 DONEPROCESSING)"
mr_id=$(sql "SELECT d.image_id FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'REC1' AND d.state = 'held'")
check "the MR image is held by the filter, its LABEL named" \
  grep -q "Screen MR for review" <<<"$(sql "SELECT reason FROM image_deid WHERE image_id = ${mr_id:-0}")"
check_eq "the recipe's header action applied (before the profile)" "RESEARCH" \
  "$($PY -c 'import sys, pydicom; print(" ".join(sorted({str(pydicom.dcmread(p).get("StudyDescription", "")) for p in sys.argv[1:]})))' \
    $(sql "SELECT d.output_path FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'REC1' AND d.state = 'done'"))"
check "released after review" eval 'sendit batch release REC1 "${mr_id:-0}" >/dev/null'
check "the filter is waived for it" wait_for 30 sql_is DONEPROCESSING "SELECT status FROM image WHERE id = ${mr_id:-0}"
check_eq "its output is there" 1 \
  "$(sql "SELECT output_path FROM image_deid WHERE image_id = ${mr_id:-0} AND state = 'done'" | xargs -r ls 2>/dev/null | wc -l)"
sendit stop_watcher --timeout 30 >/dev/null 2>&1
unset SENDIT_DEID_RECIPE

# ---- kill -9 during the stage, then a restart: every output exactly once -----------
N=3000
$MKDICOM "$SITE/stage/CRASH1" $N --patient PAT_K --study 1.2.826.0.1.3680043.10.7006 \
  --sop-prefix 1.2.826.0.1.3680043.10.7006.5 >/dev/null
done_count() { sql "SELECT count(*) FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1' AND d.state = 'done'"; }
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
drop CRASH1
check "the stage starts on CRASH1" wait_for 60 sql_ge 1 "SELECT count(*) FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1'"
pid=$(cat "$SITE/sendit.pid")
kill -9 "$pid"
killed_at=$(done_count)
check "killed in the middle of the stage ($killed_at of $N recorded)" test "$killed_at" -lt "$N"
rm -f "$SITE/sendit.pid"
sendit start_watcher >/dev/null || not_ok "start_watcher after the kill failed"
check "CRASH1 reaches DONE after the restart" wait_for 120 batch_is CRASH1 DONE
check_eq "all $N images de-identified" $N "$(done_count)"
code_k_study=$(sql "SELECT i.code FROM deid_item i JOIN deid_entity e ON e.id = i.entity_id WHERE e.original = 'PAT_K'")
check_eq "exactly $N files in its study's folder (no duplicate, no temporary left)" $N \
  "$(find "$DEID/$code_k_study" -mindepth 1 | wc -l)"
check_eq "$N distinct recorded outputs, each there" "$N $N" \
  "$(sql "SELECT count(DISTINCT d.output_path) FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1'") $(sql "SELECT d.output_path FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1'" | xargs -d '\n' ls 2>/dev/null | wc -l)"
check_eq "$N distinct SOPInstanceUIDs recorded" $N \
  "$(sql "SELECT count(DISTINCT d.sop_uid) FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1'")"
sample=$(sql "SELECT output_path FROM image_deid d JOIN batch b ON b.id = d.batch_id WHERE b.uid = 'CRASH1' ORDER BY d.image_id LIMIT 1")
check "an output written before the kill is intact" test -n "$(describe "$sample")"
sendit stop_watcher --timeout 30 >/dev/null 2>&1

# ---- PostgreSQL: a watcher and a second worker process, one new patient -------------
if is_pg; then
  stop_site
  deid_site
  sed -i 's/^workers = 2$/workers = 1/' "$SITE/sendit.ini"
  for i in 1 2 3 4 5 6; do
    $MKDICOM "$SITE/stage/PG$i" 20 --patient PAT_PG --study "1.2.826.0.1.3680043.10.71$i" \
      --sop-prefix "1.2.826.0.1.3680043.10.71$i.5" >/dev/null
  done
  sendit start_watcher >/dev/null || not_ok "start_watcher failed"
  "$SENDIT_BIN" worker --config "$SITE/sendit.ini" 2>>"$SITE/logs/worker.log" &
  WORKER_PIDS+=($!)
  sleep 1
  for i in 1 2 3 4 5 6; do drop PG$i; done
  for i in 1 2 3 4 5 6; do check "PG$i reaches DONE" wait_for 120 batch_is PG$i DONE; done
  check_eq "one pseudonym for the patient" 1 "$(sql "SELECT count(*) FROM deid_entity WHERE original = 'PAT_PG'")"
  check_eq "six study codes" 6 "$(sql "SELECT count(*) FROM deid_item i JOIN deid_entity e ON e.id = i.entity_id WHERE e.original = 'PAT_PG'")"
  check_eq "120 outputs" 120 "$(count_files "$DEID")"
  check_eq "all with the one code" "$(code_of PAT_PG)" \
    "$(describe $(find "$DEID" -type f) | cut -d'|' -f2 | sort -u)"
  check_eq "one day shift across the six studies" 1 \
    "$(describe $(find "$DEID" -type f) | cut -d'|' -f8 | sort -u | wc -l)"
fi

finish
