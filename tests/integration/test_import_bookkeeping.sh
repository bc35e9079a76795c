#!/usr/bin/env bash
# The import's bookkeeping (issue 11, items 3, 7, 9 and 16): files set aside
# in quarantine are always known to the database, a job given up leaves its
# batch in ERROR, keep-last keeps both batches' records true, and a small
# storage disk pauses intake instead of failing batches.
source "$(dirname "$0")/lib.sh"
MOUNTED=""
cleanup() {
  stop_site
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
}
trap cleanup EXIT

# A site or nothing: every path below is under $SITE.
mkdir -p "$SENDIT_TMP"
site() {
  SITE=""
  new_site
  if [ -z "$SITE" ] || [ ! -d "$SITE" ]; then
    not_ok "cannot make a site under $SENDIT_TMP"
    finish
    exit 1
  fi
}

count_files() { find "$@" -type f 2>/dev/null | wc -l; }
log_has() { # log_has BATCH TEXT: a line of the batch's log contains TEXT
  sql "SELECT l.message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = '$1'" |
    grep -qF -- "$2"
}
quarantine_batch_of() { # the batch of the waiting entry whose path ends with $1
  sendit quarantine list --json | /usr/bin/python3 -c '
import json, sys
print(" ".join(e["batch"] for e in json.load(sys.stdin) if e["path"].endswith(sys.argv[1])))' "$1"
}

# --- item 3: a file in quarantine without a row (a kill -9 between the move
# and the commit leaves exactly that) --------------------------------------
site
$MKDICOM "$SITE/stage/Q1" 2 --sop-prefix 1.2.826.0.1.3680043.10.4401 >/dev/null
sendit import_dicomdir "$SITE/stage/Q1" >/dev/null
check_eq "batch Q1 is imported" DONE "$(batch_status Q1)"
# What the kill leaves: the file moved into quarantine/Q1/, no entry, no log.
$MKDICOM "$SITE/stage/lost" 1 --sop-prefix 1.2.826.0.1.3680043.10.4402 >/dev/null
mkdir -p "$SITE/quarantine/Q1"
mv "$SITE/stage/lost/"*.dcm "$SITE/quarantine/Q1/lost.dcm"
# And one for a batch whose first import was killed: no batch row yet, its
# job comes (the folder is still in the input).
$MKDICOM "$SITE/stage/Q2" 2 --sop-prefix 1.2.826.0.1.3680043.10.4403 >/dev/null
mkdir -p "$SITE/quarantine/Q2"
mv "$(ls "$SITE/stage/Q2/"*.dcm | head -1)" "$SITE/quarantine/Q2/first.dcm"
# And a daemon killed in a job's first import: the job is still pending.
$MKDICOM "$SITE/data/Q3" 2 --sop-prefix 1.2.826.0.1.3680043.10.4404 >/dev/null
mkdir -p "$SITE/quarantine/Q3"
mv "$SITE/data/Q3/IMG00001.dcm" "$SITE/quarantine/Q3/IMG00001.dcm"
sql "INSERT INTO job (folder, path, state, attempts, created_at, updated_at) VALUES ('Q3', '$SITE/data/Q3', 'queued', 0, 1, 1)" >/dev/null
sendit start_watcher >/dev/null
check "the daemon starts" wait_for 10 test -f "$SITE/sendit.pid"
check "at start-up the file without a row is recorded under its batch" \
  wait_for 10 sql_is 1 "SELECT count(*) FROM quarantine WHERE batch_uid = 'Q1' AND path LIKE '%/lost.dcm'"
check_eq "quarantine list shows it" "Q1" "$(quarantine_batch_of /lost.dcm)"
check "the batch's log says what was found" log_has Q1 "found in quarantine without a record"
check_eq "the batch counts it as quarantined" 1 "$(sql "SELECT quarantined_count FROM batch WHERE uid = 'Q1'")"
mv "$SITE/stage/Q2" "$SITE/data/Q2"
check "batch Q2 is imported" wait_for 20 batch_is Q2 DONE
check_eq "the file its killed first import set aside is recorded under Q2" "Q2" "$(quarantine_batch_of /first.dcm)"
check "Q2's log says so" log_has Q2 "found in quarantine without a record"
check "the job killed in its first import (Q3) runs again" wait_for 20 batch_is Q3 DONE
check_eq "and its import records the file set aside under Q3, with a log line" "Q3 1 1" \
  "$(quarantine_batch_of /Q3/IMG00001.dcm) $(sql "SELECT image_count FROM batch WHERE uid = 'Q3'") $(sql "SELECT quarantined_count FROM batch WHERE uid = 'Q3'")"
check "Q3's log says so" log_has Q3 "found in quarantine without a record"
check_eq "exactly one entry each (nothing recorded twice)" "1 1" \
  "$(sql "SELECT count(*) FROM quarantine WHERE path LIKE '%/lost.dcm'") $(sql "SELECT count(*) FROM quarantine WHERE path LIKE '%/first.dcm'")"
sendit quarantine requeue --batch Q1 >/dev/null
check_eq "requeue takes the found file" 0 "$(count_files "$SITE/quarantine/Q1")"
check "and imports it into Q1" wait_for 20 sql_is 3 "SELECT image_count FROM batch WHERE uid = 'Q1' AND status = 'DONE'"

# --- item 7: a job given up leaves its batch in ERROR, with the reason -----
# Q1 is DONE; a job for it that has used up its attempts (as a job whose
# every attempt crashed would have) is given up at its next claim.
sql "INSERT INTO job (folder, path, state, attempts, created_at, updated_at) VALUES ('Q1', '$SITE/data/Q1', 'queued', 5, 1, 1)" >/dev/null
check "the given-up job's batch goes to ERROR" wait_for 20 batch_is Q1 ERROR
check "its log says the job was given up" log_has Q1 "given up after 5 attempts"
check_eq "the job is failed" failed "$(sql "SELECT state FROM job WHERE folder = 'Q1' ORDER BY id DESC LIMIT 1")"
sendit stop_watcher >/dev/null 2>&1

# --- item 9: keep-last across batches --------------------------------------
site
sed -i 's/^\[queue\]/[import]\nduplicates = keep-last\n[queue]/' "$SITE/sendit.ini"
P=1.2.826.0.1.3680043.10.4410
$MKDICOM "$SITE/stage/K1" 3 --sop-prefix $P >/dev/null
sendit import_dicomdir "$SITE/stage/K1" >/dev/null
# K2 brings a different image with the uid of K1's first.
$MKDICOM "$SITE/stage/K2" 1 --sop-prefix $P --pixels 4 >/dev/null
sendit import_dicomdir "$SITE/stage/K2" >/dev/null
check_eq "both batches are DONE" "DONE DONE" "$(batch_status K1) $(batch_status K2)"
check_eq "K1 counts the 2 images it still holds, K2 its 1" "2 1" \
  "$(sql "SELECT image_count FROM batch WHERE uid = 'K1'") $(sql "SELECT image_count FROM batch WHERE uid = 'K2'")"
check_eq "the image rows agree" "2 1" \
  "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'K1'") $(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'K2'")"
check_eq "the replaced copy is quarantined under K1, in quarantine/K1/" "K1 1" \
  "$(sql "SELECT batch_uid FROM quarantine") $(count_files "$SITE/quarantine/K1")"
check_eq "K1 counts it as quarantined, K2 does not" "1 0" \
  "$(sql "SELECT quarantined_count FROM batch WHERE uid = 'K1'") $(sql "SELECT quarantined_count FROM batch WHERE uid = 'K2'")"
check "K1's log says it was replaced, and by which batch" log_has K1 "of batch K2"
check "K2's log says what it replaced" log_has K2 "of batch K1"
check_eq "storage holds 3 files, quarantine 1" "3 1" "$(count_files "$SITE/storage") $(count_files "$SITE/quarantine")"
# keep-last after a kill: K3's import moved K1's second stored copy into
# quarantine/K1/ and died before its commit. K3's job runs again.
stored=$(sql "SELECT storage_path FROM image WHERE uid = '$P.100002'")
mv "$stored" "$SITE/quarantine/K1/IMG00002.dcm"
$MKDICOM "$SITE/stage/K3" 2 --sop-prefix $P --pixels 6 >/dev/null
rm "$SITE/stage/K3/IMG00001.dcm" # keep the one with K1's second uid
sendit import_dicomdir "$SITE/stage/K3" >/dev/null
check_eq "the rerun stores K3's image (not quarantined as 'not compared')" "DONE 1" \
  "$(batch_status K3) $(sql "SELECT image_count FROM batch WHERE uid = 'K3'")"
check_eq "the copy the kill left in quarantine/K1/ is recorded under K1" "K1" "$(quarantine_batch_of /K1/IMG00002.dcm)"
check_eq "K1 now counts 1 image and 2 quarantined" "1 2" \
  "$(sql "SELECT image_count FROM batch WHERE uid = 'K1'") $(sql "SELECT quarantined_count FROM batch WHERE uid = 'K1'")"
check_eq "no error entry for K3" 0 "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'K3'")"

# --- item 16: a small storage disk -----------------------------------------
# Storage on a 40 MiB tmpfs, the input on another filesystem (copies);
# low/high water 8/10 MiB. 12 folders of ~4 MiB (48 MiB) are queued at once.
site
mkdir -p "$SITE/storage"
if mount -t tmpfs -o size=40m tmpfs "$SITE/storage" 2>/dev/null; then
  MOUNTED="$SITE/storage"
  sed -i 's/^low_water_mb = 0/low_water_mb = 8/; s/^high_water_mb = 0/high_water_mb = 10/' "$SITE/sendit.ini"
  for i in $(seq 1 12); do
    $MKDICOM "$SITE/stage/D$(printf %02d "$i")" 16 --pixels 360 \
      --sop-prefix "1.2.826.0.1.3680043.10.4420.$i" >/dev/null 2>&1 &
  done
  wait
  total=$(count_files "$SITE/stage")
  sendit start_watcher >/dev/null
  for i in $(seq -w 1 12); do mv "$SITE/stage/D$i" "$SITE/data/D$i"; done
  check "intake stops before the disk is full: some batches wait" \
    wait_for 30 sql_ge 1 "SELECT count(*) FROM batch WHERE status = 'DONE'"
  sleep 6
  done1=$(sql "SELECT count(*) FROM batch WHERE status = 'DONE'")
  check "not all 12 fit: $done1 imported" test "$done1" -lt 12
  check_eq "no batch is in ERROR" 0 "$(sql "SELECT count(*) FROM batch WHERE status = 'ERROR'")"
  check_eq "no job failed" 0 "$(sql "SELECT count(*) FROM job WHERE state = 'failed'")"
  check "free space stayed above the low-water mark" test "$(df -m --output=avail "$SITE/storage" | tail -1)" -ge 7
  check "sendit status says intake waits for room" grep -q "intake waits until there is room\|intake paused" <<<"$(sendit status)"
  check_eq "nothing is lost: input + storage hold every file" "$total" \
    "$(count_files "$SITE/data" "$SITE/storage")"
  # The operator frees the space (moves stored batches away).
  mkdir -p "$SITE/archive"
  mv "$SITE/storage/"D* "$SITE/archive/"
  check "the rest is imported once there is room" wait_for 40 sql_is 12 "SELECT count(*) FROM batch WHERE status = 'DONE'"
  check_eq "still no batch in ERROR" 0 "$(sql "SELECT count(*) FROM batch WHERE status = 'ERROR'")"
  check_eq "every file is stored once" "$total" "$(count_files "$SITE/storage" "$SITE/archive")"
  check_eq "no attempts were used up" 0 "$(sql "SELECT count(*) FROM job WHERE attempts > 1")"
  sendit stop_watcher >/dev/null 2>&1
  umount "$SITE/storage" && MOUNTED=""
else
  not_ok "cannot mount a tmpfs for the small-disk test (need root)"
fi

# --- item 16: ENOSPC during an import --------------------------------------
# With the watch off nothing stops a claim: a folder larger than the disk
# meets ENOSPC while it is copied. That pauses intake and re-queues the job.
site
mkdir -p "$SITE/storage"
if mount -t tmpfs -o size=3m tmpfs "$SITE/storage" 2>/dev/null; then
  MOUNTED="$SITE/storage"
  $MKDICOM "$SITE/stage/F1" 16 --pixels 360 --sop-prefix 1.2.826.0.1.3680043.10.4430 >/dev/null
  sendit start_watcher >/dev/null
  mv "$SITE/stage/F1" "$SITE/data/F1"
  check "the import meets the full disk and waits in QUEUE" wait_for 30 batch_is F1 QUEUE
  check "its log says why" log_has F1 "storage is full"
  check_eq "the job is back in the queue, no batch ERROR, no attempt counted" "0 0" \
    "$(sql "SELECT count(*) FROM job WHERE state = 'failed'") $(sql "SELECT count(*) FROM job WHERE attempts > 1")"
  check_eq "no file is lost: work area + storage hold all 16" 16 \
    "$(count_files "$SITE/data" "$SITE/storage")"
  check_eq "nothing partial is left in storage" 0 "$(find "$SITE/storage" -name '*.partial' | wc -l)"
  check "the daemon's log says intake paused" grep -q "filled up while importing F1" "$SITE/logs/watcher.log"
  mount -o remount,size=40m "$SITE/storage"
  check "once there is room the batch is imported" wait_for 30 batch_is F1 DONE
  check_eq "with its 16 images" 16 "$(sql "SELECT image_count FROM batch WHERE uid = 'F1'")"
  check_eq "and no error entry in its log" 0 \
    "$(sql "SELECT count(*) FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = 'F1' AND l.level = 'error'")"
  sendit stop_watcher >/dev/null 2>&1
  umount "$SITE/storage" && MOUNTED=""
else
  not_ok "cannot mount a tmpfs for the ENOSPC test (need root)"
fi

finish
