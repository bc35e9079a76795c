#!/usr/bin/env bash
# The operator commands: status, config, batches, batch show|retry, batch_logs,
# export_metrics, summary_metrics, quarantine list|requeue. Their help, their
# usage errors (exit 2, nothing touched), their output on an empty database,
# then on real batches imported with import_dicomdir and run by the watcher.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
# Paths the program resolves (realpath) must compare equal to the site's.
mkdir -p "$SENDIT_TMP" && SENDIT_TMP="$(cd "$SENDIT_TMP" && pwd -P)"

# run ARGS...: runs sendit on the current site; sets OUT, ERR and RC.
run() {
  OUT="$(sendit "$@" 2>"$SITE/.stderr")"
  RC=$?
  ERR="$(cat "$SITE/.stderr")"
  # A sanitizer build reports memory errors and leaks on stderr.
  if grep -qE "Sanitizer|runtime error:" <<<"$ERR"; then not_ok "sendit $*: sanitizer report"; fi
}
# pyjson EXPR: evaluates EXPR over the JSON document on stdin (as d).
pyjson() {
  /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>&1
}
# pycsv EXPR: evaluates EXPR over the CSV rows on stdin (as rows, dicts).
pycsv() {
  /usr/bin/python3 -c 'import csv, sys; rows = list(csv.DictReader(sys.stdin)); print(eval(sys.argv[1]))' "$1" 2>&1
}
has() { grep -qF -- "$1" <<<"$2"; }
count_files() { find "$1" -type f 2>/dev/null | wc -l; }
# For wait_for: the query must run on every poll, not once when called.
no_pending_jobs() { [ "$(sql "SELECT count(*) FROM job WHERE state IN ('queued', 'running')")" = 0 ]; }
job_is() { [ "$(sql "SELECT state FROM job WHERE id = '$1'")" = "$2" ]; }

# --- --help for every command and subcommand --------------------------------
new_site
for cmd in status config batches batch "batch show" "batch retry" batch_logs export_metrics \
  summary_metrics quarantine "quarantine list" "quarantine requeue"; do
  # shellcheck disable=SC2086 # split "batch show" into two words on purpose
  run $cmd --help
  check_eq "'$cmd --help' exits 0" 0 "$RC"
  check "'$cmd --help' prints a usage" has "Usage: sendit ${cmd%% *}" "$OUT"
done
for cmd in status config batches batch batch_logs export_metrics summary_metrics quarantine; do
  "$SENDIT_BIN" help "$cmd" >/dev/null
  check_eq "'help $cmd' exits 0" 0 $?
done

# --- usage errors: exit 2, and no database is created ------------------------
usage_errors=(
  "status --bogus" "status extra" "config extra" "config --bogus"
  "batches --status FINISHED" "batches --limit -1" "batches --limit x" "batches --offset"
  "batches extra" "batch" "batch frobnicate" "batch show" "batch show A B"
  "batch show A --status DONE" "batch show A --limit many" "batch retry" "batch retry A --json"
  "batch_logs" "batch_logs A B" "export_metrics --format xml" "export_metrics --output"
  "export_metrics extra" "summary_metrics --bogus" "summary_metrics extra" "quarantine"
  "quarantine frobnicate" "quarantine list extra" "quarantine list --batch"
  "quarantine requeue" "quarantine requeue 1 --all" "quarantine requeue --all --batch X"
  "quarantine requeue abc" "quarantine requeue 0" "quarantine requeue --json --all"
)
for args in "${usage_errors[@]}"; do
  # shellcheck disable=SC2086
  run $args
  check_eq "'$args' is a usage error" 2 "$RC"
  check "'$args' says what is wrong" has "sendit " "$ERR"
done
check "usage errors did not create the database" test ! -e "$SITE/sendit.db"
"$SENDIT_BIN" status --config "$SITE/missing.ini" >/dev/null 2>&1
check_eq "a missing --config file is a usage error" 2 $?

# --- an empty database -------------------------------------------------------
run status
check_eq "status exits 0" 0 "$RC"
check "status: watcher not running" has "watcher: not running" "$OUT"
check "status: empty queue" has "queue:   queued 0, running 0" "$OUT"
check "status: no batches" has "batches: 0" "$OUT"
check "status: every status listed" has "DONEPROCESSING" "$OUT"
run status --json
check_eq "status --json exits 0" 0 "$RC"
check_eq "status --json: watcher" "False 0 0 0" \
  "$(pyjson 'd["watcher"]["running"], d["queue"]["queued"], d["batches_total"], d["images"]' <<<"$OUT" | tr -d '(),')"
check_eq "status --json: six statuses" 6 "$(pyjson 'len(d["batches"])' <<<"$OUT")"
run batches
check "batches on an empty database" has "(no batches)" "$OUT"
run batches --status "done" --json
check_eq "batches --status is case-insensitive" 0 "$RC"
check_eq "batches --json on an empty database" "[]" "$(pyjson 'd' <<<"$OUT")"
run batch show NOPE
check_eq "batch show of an unknown uid exits 1" 1 "$RC"
check "it says there is no such batch" has "no batch 'NOPE'" "$ERR"
run batch retry NOPE
check_eq "batch retry of an unknown uid exits 1" 1 "$RC"
check "retry says there is no such batch" has "no batch 'NOPE'" "$ERR"
run batch_logs NOPE
check_eq "batch_logs of an unknown uid exits 1" 1 "$RC"
run export_metrics
check_eq "export_metrics exits 0" 0 "$RC"
check_eq "export_metrics on an empty database is the header" \
  "uid,status,size_bytes,images,start,finish,elapsed_seconds" "$OUT"
run export_metrics --format json
check_eq "export_metrics json on an empty database" "[]" "$(pyjson 'd' <<<"$OUT")"
run summary_metrics
check_eq "summary_metrics exits 0" 0 "$RC"
check "summary_metrics counts no batches" grep -qE "^batches +0$" <<<"$OUT"
run summary_metrics --json
check_eq "summary_metrics --json on an empty database" "0 0 None None" \
  "$(pyjson 'd["batches_total"], d["images_total"], d["elapsed_seconds"]["mean"], d["files_per_second"]' <<<"$OUT" | tr -d '(),')"
run quarantine list
check "quarantine list on an empty database" has "(no quarantined files waiting)" "$OUT"
run quarantine list --all --json
check_eq "quarantine list --json on an empty database" "[]" "$(pyjson 'd' <<<"$OUT")"
run quarantine requeue --all
check_eq "requeue --all with nothing quarantined exits 0" 0 "$RC"
check "it says there is nothing to do" has "nothing to requeue" "$OUT"
run quarantine requeue 5
check_eq "requeue of an unknown id exits 1" 1 "$RC"
check "it names the unknown id" has "no quarantine entry 5" "$ERR"
run config
check_eq "config exits 0" 0 "$RC"
check "config prints the sections" has "[storage]" "$OUT"
check "config prints the file's values" has "folder = $SITE/storage" "$OUT"
check "config says where values came from" has "source: file $SITE/sendit.ini" "$OUT"

# Intake pauses below the low-water mark; status must say so and why.
mkdir -p "$SITE/storage"
sed -e 's/^low_water_mb = .*/low_water_mb = 99999999/' \
  -e 's/^high_water_mb = .*/high_water_mb = 99999999/' "$SITE/sendit.ini" >"$SITE/full.ini"
out="$("$SENDIT_BIN" status --config "$SITE/full.ini")"
check "status says intake is paused" has "intake:  paused" "$out"
check "and why (the low-water mark)" has "below the low-water mark of 99999999 MiB" "$out"
out="$("$SENDIT_BIN" status --json --config "$SITE/full.ini")"
check_eq "status --json says intake is paused" True "$(pyjson 'd["intake_paused"]' <<<"$out")"
run status
check "no pause above the low-water mark" test "$(grep -c paused <<<"$OUT")" = 0

# --- real batches ------------------------------------------------------------
if ! "$SENDIT_BIN" import_dicomdir --help >/dev/null 2>&1; then
  not_ok "import_dicomdir is not available: the checks on real batches did not run"
  finish
  exit
fi

$MKDICOM "$SITE/stage/ST01" 3 --sop-prefix 1.2.826.0.1.3680043.10.4321.1
$MKDICOM "$SITE/stage/ST02" 2 --sop-prefix 1.2.826.0.1.3680043.10.4321.2 --date 20230505
echo "this is not DICOM" >"$SITE/stage/ST02/notes.txt"
$MKDICOM "$SITE/stage/ST,03 \"q\"" 1 --sop-prefix 1.2.826.0.1.3680043.10.4321.3
for b in ST01 ST02 "ST,03 \"q\""; do
  sendit import_dicomdir "$SITE/stage/$b" >/dev/null 2>&1
done
check "the three batches were imported" test "$(sql "SELECT count(*) FROM batch")" = 3

run status
check "status counts 3 batches" has "batches: 3" "$OUT"
check "status counts 3 DONE" grep -qE "^  DONE +3$" <<<"$OUT"
check "status counts 6 images" has "images:  6 (" "$OUT"
run status --json
check_eq "status --json counts" "3 6 0" \
  "$(pyjson 'd["batches"]["DONE"], d["images"], d["queue"]["queued"]' <<<"$OUT" | tr -d '(),')"
check_eq "status --json has exact bytes" "$(sql "SELECT sum(size_bytes) FROM image")" \
  "$(pyjson 'd["bytes"]' <<<"$OUT")"

run batches
check_eq "batches exits 0" 0 "$RC"
check_eq "batches: a header and 3 rows" 4 "$(wc -l <<<"$OUT")"
check "batches: newest first" test "$(sed -n 2p <<<"$OUT" | cut -c1-10)" = 'ST,03 "q" '
check "batches: ST02 is flagged with errors" grep -qE "^ST02 +DONE +2 .* yes " <<<"$OUT"
check "batches: ISO-8601 UTC times" grep -qE "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z" <<<"$OUT"
run batches --status DONE --limit 1
check "batches --limit 1: one row" test "$(wc -l <<<"$OUT")" = 3
check "batches --limit 1: says there are more" has "more with --offset 1" "$OUT"
run batches --status error
check "batches --status error: none" has "(no batches in status ERROR)" "$OUT"
run batches --json --offset 1
check_eq "batches --json --offset 1" "['ST02', 'ST01']" "$(pyjson '[b["uid"] for b in d]' <<<"$OUT")"
check_eq "batches --json fields" "2 True 20230505" \
  "$(pyjson 'd[0]["images"], d[0]["has_error"], list(d[0]["qa"]["study_dates"])[0]' <<<"$OUT" | tr -d "(),'")"

run batch show ST02
check_eq "batch show exits 0" 0 "$RC"
check "batch show: the record" grep -qE "^status +DONE \(errors logged\)" <<<"$OUT"
check "batch show: the StudyDate histogram" grep -qE "2023-05-05 +2 +#+" <<<"$OUT"
check "batch show: the error names the file" grep -qE "error +notes.txt +not readable as DICOM" <<<"$OUT"
check "batch show: the images" has "images 1-2 of 2" "$OUT"
check "batch show: image rows" grep -qE "^  1\.2\.826\.0\.1\.3680043\.10\.4321\.2\.[0-9]+ +CT +PAT001 .*/storage/ST02/" <<<"$OUT"
run batch show ST01 --limit 2
check "batch show --limit pages the images" has "images 1-2 of 3" "$OUT"
check "batch show --limit says there are more" has "more with --offset 2" "$OUT"
run batch show ST01 --limit 2 --offset 2
check "batch show --offset" has "images 3-3 of 3" "$OUT"
run batch show ST02 --json
check_eq "batch show --json" "ST02 2 notes.txt 2 $(sql "SELECT size_bytes FROM batch WHERE uid = 'ST02'")" \
  "$(pyjson 'd["batch"]["uid"], d["images"]["total"], d["log"][0]["file"], len(d["images"]["items"]), d["batch"]["size_bytes"]' <<<"$OUT" | tr -d "(),'")"
check_eq "batch show --json: exact image sizes" "$(sql "SELECT sum(size_bytes) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.4321.2.%'")" \
  "$(pyjson 'sum(i["size_bytes"] for i in d["images"]["items"])' <<<"$OUT")"

run batch_logs ST02
check_eq "batch_logs exits 0" 0 "$RC"
check "batch_logs: time, level, file, message" grep -qE "^[0-9T:-]+Z +error +notes.txt +not readable" <<<"$OUT"
run batch_logs ST02 --json
check_eq "batch_logs --json" "error notes.txt" "$(pyjson 'd[0]["level"], d[0]["file"]' <<<"$OUT" | tr -d "(),'")"
run batch_logs ST01
check "batch_logs of a clean batch" has "has no log lines" "$OUT"

run export_metrics
check_eq "export_metrics csv exits 0" 0 "$RC"
check_eq "csv: one row per batch, oldest first" "['ST01', 'ST02', 'ST,03 \"q\"']" "$(pycsv '[r["uid"] for r in rows]' <<<"$OUT")"
check "csv: the awkward uid is quoted as RFC 4180 says" has '"ST,03 ""q""",DONE' "$OUT"
check_eq "csv: exact bytes" "$(sql "SELECT sum(size_bytes) FROM batch")" "$(pycsv 'sum(int(r["size_bytes"]) for r in rows)' <<<"$OUT")"
check_eq "csv: every row finished with an elapsed time" True \
  "$(pycsv 'all(r["finish"].endswith("Z") and float(r["elapsed_seconds"]) >= 0 for r in rows)' <<<"$OUT")"
csv="$OUT"
run export_metrics --format json
check_eq "export_metrics json: one object per batch" 3 "$(pyjson 'len(d)' <<<"$OUT")"
check_eq "export_metrics json: the awkward uid intact" 'ST,03 "q"' "$(pyjson 'd[2]["uid"]' <<<"$OUT")"
check_eq "export_metrics json: exact bytes" "$(sql "SELECT sum(size_bytes) FROM batch")" \
  "$(pyjson 'sum(r["size_bytes"] for r in d)' <<<"$OUT")"
check_eq "json rows have the same fields as csv" \
  "['uid', 'status', 'size_bytes', 'images', 'start', 'finish', 'elapsed_seconds']" \
  "$(pyjson 'list(d[0].keys())' <<<"$OUT")"
run export_metrics --output "$SITE/metrics.csv"
check_eq "export_metrics --output exits 0" 0 "$RC"
check_eq "--output writes the same csv" "$csv" "$(cat "$SITE/metrics.csv")"
run export_metrics --output "$SITE/no/such/dir/metrics.csv"
check_eq "export_metrics to an unwritable place exits 1" 1 "$RC"

run summary_metrics
check_eq "summary_metrics exits 0" 0 "$RC"
check "summary: batches" grep -qE "^batches +3$" <<<"$OUT"
check "summary: batches with errors" grep -qE "^batches with errors +1$" <<<"$OUT"
check "summary: images" grep -qE "^images +6$" <<<"$OUT"
check "summary: timing" grep -qE "^elapsed p95 +[0-9.]+ s$" <<<"$OUT"
check "summary: throughput" grep -qE "^throughput +[0-9.]+ files/s$" <<<"$OUT"
run summary_metrics --json
check_eq "summary_metrics --json" "3 3 1 6 3" \
  "$(pyjson 'd["batches_total"], d["batches"]["DONE"], d["batches_with_errors"], d["images_total"], d["elapsed_seconds"]["count"]' <<<"$OUT" | tr -d '(),')"
check_eq "summary_metrics --json: exact bytes" "$(sql "SELECT sum(size_bytes) FROM image")" "$(pyjson 'd["bytes_total"]' <<<"$OUT")"
check_eq "summary_metrics --json: median <= p95 <= max, rate > 0" True \
  "$(pyjson 'd["elapsed_seconds"]["median"] <= d["elapsed_seconds"]["p95"] <= d["elapsed_seconds"]["max"] and d["files_per_second"] > 0' <<<"$OUT")"

# --- batch retry -------------------------------------------------------------
run batch retry ST01
check_eq "retry of a clean DONE batch exits 1" 1 "$RC"
check "it says there is nothing to retry" has "has no errors: nothing to retry" "$ERR"
run batch retry ST02
check_eq "retry of a batch with errors but no failed job exits 1" 1 "$RC"
check "it says there is no failed job" has "no failed job" "$ERR"

# A real failed job: queued, then its folder vanished before a worker claimed it.
$MKDICOM "$SITE/data/GONE01" 2 --sop-prefix 1.2.826.0.1.3680043.10.4321.4
sendit start_queue >/dev/null 2>&1
mv "$SITE/data/GONE01" "$SITE/stage/GONE01"
sendit start_watcher >/dev/null
check "the vanished folder's batch is ERROR" wait_for 20 batch_is GONE01 ERROR
run status
check "status sees the watcher" grep -qE "^watcher: running \(pid [0-9]+\)$" <<<"$OUT"
sendit stop_watcher >/dev/null
run batch retry GONE01
check_eq "retry with no files anywhere exits 1" 1 "$RC"
check "it says nothing is left" has "nothing left to retry" "$ERR"
check "the batch stays ERROR" batch_is GONE01 ERROR
mv "$SITE/stage/GONE01" "$SITE/data/GONE01"
run batch retry GONE01
check_eq "retry with the original folder back exits 0" 0 "$RC"
check "it says what it queued" has "queued a new job for $SITE/data/GONE01 (the original folder" "$OUT"
check "the batch is QUEUE" batch_is GONE01 QUEUE
run batch retry GONE01
check_eq "a second retry while it waits exits 1" 1 "$RC"
check "it says the batch is waiting" has "is waiting or being imported" "$ERR"
run status
check "status shows the queued job" has "queued 1, running 0" "$OUT"
gone_job="$(sql "SELECT id FROM job WHERE folder = 'GONE01' AND state = 'queued'")"

# A failed job that left files in the work area (as a full disk does).
mkdir -p "$SITE/data/.work"
$MKDICOM "$SITE/data/.work/job-900-WORK01" 1 --sop-prefix 1.2.826.0.1.3680043.10.4321.5
sql "INSERT INTO batch (uid, status, has_error, created_at, updated_at) VALUES ('WORK01', 'ERROR', 1, 1, 1)"
sql "INSERT INTO job (folder, path, work_path, state, created_at, updated_at) VALUES ('WORK01', '$SITE/data/WORK01', '$SITE/data/.work/job-900-WORK01', 'failed', 1, 1)"
run batch retry WORK01
check_eq "retry from the work area exits 0" 0 "$RC"
check "it queues the work folder" has "queued a new job for $SITE/data/.work/job-900-WORK01 (files left in the work area" "$OUT"
check_eq "the job points at the work folder" "$SITE/data/.work/job-900-WORK01" \
  "$(sql "SELECT path FROM job WHERE folder = 'WORK01' AND state = 'queued'")"
sendit start_watcher >/dev/null
# The job, not the batch status: the watcher's start-up scan may queue the
# same folder again after the retry's job took it, and that second job fails.
check "the retried job is done" wait_for 20 job_is "$gone_job" "done"
check_eq "the retried batch has its images" 2 "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'GONE01'")"
check "the batch retried from the work area reaches DONE" wait_for 20 batch_is WORK01 DONE
check_eq "with its image" 1 "$(sql "SELECT image_count FROM batch WHERE uid = 'WORK01'")"
sendit stop_watcher >/dev/null

# --- quarantine list and requeue ----------------------------------------------
run quarantine list
check_eq "quarantine list exits 0" 0 "$RC"
check "quarantine list shows the non-DICOM file" grep -qE "^ *[0-9]+ +ST02 +[0-9T:-]+Z +notes.txt +$SITE/quarantine/ST02/notes.txt +not readable" <<<"$OUT"
run quarantine list --batch ST01
check "quarantine list --batch filters" has "(no quarantined files waiting of batch ST01)" "$OUT"
run quarantine list --json
id="$(pyjson 'd[0]["id"]' <<<"$OUT")"
check_eq "quarantine list --json" "1 ST02 notes.txt None" \
  "$(pyjson 'len(d), d[0]["batch"], d[0]["original_name"], d[0]["requeued"]' <<<"$OUT" | tr -d "(),'")"
run quarantine requeue "$id"
check_eq "requeue exits 0" 0 "$RC"
check "requeue reports the count" has "requeued 1 file(s) in 1 batch(es)" "$OUT"
folder="$(sql "SELECT path FROM job WHERE folder = 'ST02' AND state = 'queued'")"
check "one queued job for the batch, in a requeue folder" grep -qE "^$SITE/data/.work/requeue-ST02-[0-9]+$" <<<"$folder"
check "the file is in that folder" test -f "$folder/notes.txt"
check "and no longer in quarantine" test ! -e "$SITE/quarantine/ST02/notes.txt"
run quarantine list
check "the entry no longer waits" has "(no quarantined files waiting)" "$OUT"
run quarantine list --all --json
check_eq "the entry is marked requeued" True "$(pyjson 'd[0]["requeued"].endswith("Z")' <<<"$OUT")"
run status
check "status shows the requeue job" has "queued 1, running 0" "$OUT"
run quarantine requeue "$id"
check_eq "requeueing it again exits 1" 1 "$RC"
check "it says it was already requeued" has "was already requeued" "$ERR"

# An entry whose file is gone is reported, skipped and left waiting.
$MKDICOM "$SITE/stage/ST04" 1 --sop-prefix 1.2.826.0.1.3680043.10.4321.6
echo "junk" >"$SITE/stage/ST04/junk.bin"
sendit import_dicomdir "$SITE/stage/ST04" >/dev/null 2>&1
rm -f "$SITE/quarantine/ST04/junk.bin"
run quarantine requeue --batch ST04
check_eq "requeue of a vanished file exits 1" 1 "$RC"
check "it reports the file as gone" has "junk.bin is gone; skipped" "$OUT"
check "and counts it" has "1 skipped (file gone)" "$OUT"
check_eq "the entry still waits" 1 "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'ST04' AND requeued_at IS NULL")"
check_eq "no job was queued for it" 0 "$(sql "SELECT count(*) FROM job WHERE folder = 'ST04'")"
check_eq "no empty requeue folder is left behind" 0 "$(find "$SITE/data/.work" -maxdepth 1 -name 'requeue-ST04-*' | wc -l)"

# The watcher imports the requeued file into the same batch (still not DICOM,
# so it is quarantined again, as a new entry).
sendit start_watcher >/dev/null
check "the requeue job runs" wait_for 20 no_pending_jobs
sendit stop_watcher >/dev/null
check_eq "the batch was reopened by the requeued file" 1 "$(sql "SELECT reopened FROM batch WHERE uid = 'ST02'")"
run quarantine list --batch ST02
check "the file is back in quarantine as a new entry" grep -qE "ST02 .* notes.txt " <<<"$OUT"
check_eq "the requeue folder was consumed" 0 "$(count_files "$folder")"

finish
