#!/usr/bin/env bash
# End-to-end: the real daemon, a real SQLite file, real DICOM files.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT

count_files() { find "$1" -type f 2>/dev/null | wc -l; }

# --- daemon lifecycle -------------------------------------------------------
new_site
sendit stop_watcher >/dev/null 2>&1
check_eq "stop_watcher with nothing running exits 1" 1 $?
echo 999999 >"$SITE/sendit.pid"
sendit start_watcher >/dev/null
check_eq "start_watcher replaces a stale pidfile" 0 $?
check "pidfile holds a live pid" kill -0 "$(cat "$SITE/sendit.pid")"
check "status sees the running watcher" grep -q "running" <<<"$(sendit status 2>&1 | head -3)"
sendit start_watcher >/dev/null 2>&1
check_eq "a second start_watcher is refused" 1 $?
# libpq is loaded with the first PostgreSQL connection only, libmicrohttpd
# when the dashboard starts: other commands start without them.
check_eq "the sendit binary links neither libpq nor libmicrohttpd" 0 \
  "$(ldd "$SENDIT_BIN" | grep -cE 'libpq|libmicrohttpd')"
check "the daemon serving the dashboard has loaded libmicrohttpd" \
  grep -q "libmicrohttpd" "/proc/$(cat "$SITE/sendit.pid")/maps"
pq_maps=$(grep -c "libpq\.so" "/proc/$(cat "$SITE/sendit.pid")/maps")
if is_pg; then
  check "on PostgreSQL the daemon has loaded libpq" test "$pq_maps" -gt 0
else
  check_eq "on SQLite the daemon has not loaded libpq" 0 "$pq_maps"
fi

# --- the sender protocol: NAME.tmpXXXX, then rename ---------------------------
$MKDICOM "$SITE/data/ACC001.tmp123" 5
$MKDICOM "$SITE/data/UNFINISHED.tmp999" 3
sleep 0.3
check "unfinished folder is not imported while unrenamed" test -z "$(sql "SELECT uid FROM batch WHERE uid = 'ACC001'")"
mv "$SITE/data/ACC001.tmp123" "$SITE/data/ACC001"
check "batch ACC001 reaches DONE" wait_for 20 batch_is ACC001 DONE
check_eq "ACC001 has 5 images in the database" 5 "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'ACC001' AND i.status = 'DONE'")"
check_eq "ACC001 has 5 files in storage" 5 "$(count_files "$SITE/storage/ACC001")"
check "the input folder is gone" test ! -e "$SITE/data/ACC001"
check_eq "the .tmp folder is untouched" 3 "$(count_files "$SITE/data/UNFINISHED.tmp999")"
check "no batch for the .tmp folder" test -z "$(sql "SELECT uid FROM batch WHERE uid LIKE 'UNFINISHED%'")"
check "log records the decisions" grep -q "MOVEDTO EVENT" "$SITE/logs/watcher.log"
check "log records NOTFINISHED" grep -q "NOTFINISHED" "$SITE/logs/watcher.log"
metrics="$(sql "SELECT qa FROM batch WHERE uid = 'ACC001'")"
check "metrics hold the StudyDate histogram" grep -q '"20240131": *5' <<<"$metrics"

# --- late data: the same folder name again ----------------------------------
$MKDICOM "$SITE/stage/ACC001" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.77
cp "$(find "$SITE/storage/ACC001" -type f | head -1)" "$SITE/stage/ACC001/exact-copy.dcm"
mv "$SITE/stage/ACC001" "$SITE/data/ACC001"
check "late data is imported into the same batch" wait_for 20 sql_is 7 "SELECT image_count FROM batch WHERE uid = 'ACC001' AND status = 'DONE'"
check_eq "the batch says it was reopened" 1 "$(sql "SELECT reopened FROM batch WHERE uid = 'ACC001'")"
check_eq "the exact copy was not stored twice" 7 "$(count_files "$SITE/storage/ACC001")"

# --- bad inputs ---------------------------------------------------------------
$MKDICOM "$SITE/stage/BAD01" 3 --sop-prefix 1.2.826.0.1.3680043.10.1234.88
echo "this is not DICOM" >"$SITE/stage/BAD01/notes.txt"
head -c 300 "$SITE/stage/BAD01/IMG00001.dcm" >"$SITE/stage/BAD01/truncated.dcm"
$MKDICOM "$SITE/stage/conflict" 1 --sop-prefix 1.2.826.0.1.3680043.10.1234.88 --pixels 4
mv "$SITE/stage/conflict/IMG00001.dcm" "$SITE/stage/BAD01/zz-conflict.dcm"
cp "$SITE/stage/BAD01/IMG00002.dcm" "$SITE/stage/BAD01/zz-exact-copy.dcm"
mkdir -p "$SITE/stage/EMPTY01"
mv "$SITE/stage/BAD01" "$SITE/stage/EMPTY01" "$SITE/data/"
check "batch with bad files is DONE" wait_for 20 batch_is BAD01 DONE
check_eq "bad batch is flagged has_error" 1 "$(sql "SELECT has_error FROM batch WHERE uid = 'BAD01'")"
check_eq "the 3 good images are stored" 3 "$(sql "SELECT image_count FROM batch WHERE uid = 'BAD01'")"
check_eq "non-DICOM, truncated and conflicting files are quarantined" 3 "$(count_files "$SITE/quarantine/BAD01")"
check_eq "quarantine table lists them" 3 "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'BAD01'")"
check "the batch log names the non-DICOM file" grep -q "notes.txt" <<<"$(sql "SELECT file FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = 'BAD01'")"
check "the conflict is recorded as a duplicate" grep -q "duplicate SOPInstanceUID" <<<"$(sql "SELECT message FROM batch_log")"
check "empty folder gives an EMPTY batch" wait_for 20 batch_is EMPTY01 EMPTY

# --- 100 folders at once, each exactly once --------------------------------
for i in $(seq 1 100); do
  $MKDICOM "$SITE/stage/MANY$(printf %03d "$i")" 3 --sop-prefix "1.2.826.0.1.3680043.10.555.$i" &
  if ((i % 10 == 0)); then wait; fi
done
wait
mv "$SITE"/stage/MANY* "$SITE/data/"
check "100 folders all reach DONE" wait_for 120 sql_is 100 "SELECT count(*) FROM batch WHERE uid LIKE 'MANY%' AND status = 'DONE'"
check_eq "300 images, once each" 300 "$(sql "SELECT count(DISTINCT uid) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.555.%'")"
check_eq "300 files in storage" 300 "$(find "$SITE"/storage/MANY* -type f | wc -l)"
check_eq "one job per folder" 100 "$(sql "SELECT count(*) FROM job WHERE folder LIKE 'MANY%'")"

# --- several folders imported together (shared transactions) ---------------
# Small folders share their row and finish transactions; a folder holding a
# SOPInstanceUID of an earlier one waits for it, a big one runs alone. The
# outcomes are those of importing them one after the other.
$MKDICOM "$SITE/stage/GRPA" 3 --sop-prefix 1.2.826.0.1.3680043.10.1234.71
$MKDICOM "$SITE/stage/GRPB" 1 --sop-prefix 1.2.826.0.1.3680043.10.1234.72
cp "$SITE/stage/GRPA/IMG00001.dcm" "$SITE/stage/GRPB/copy-of-a1.dcm"
$MKDICOM "$SITE/stage/conflict2" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.71 --pixels 4
mv "$SITE/stage/conflict2/IMG00002.dcm" "$SITE/stage/GRPB/conflict-with-a2.dcm"
echo "not DICOM" >"$SITE/stage/GRPB/readme.txt"
$MKDICOM "$SITE/stage/GRPBIG" 300 --sop-prefix 1.2.826.0.1.3680043.10.1234.73
mkdir -p "$SITE/stage/GRPEMPTY"
grp_out=$(sendit import_dicomdir "$SITE/stage/GRPA" "$SITE/stage/GRPB" "$SITE/stage/GRPBIG" \
  "$SITE/stage/GRPEMPTY")
check_eq "import_dicomdir of 4 folders exits 1 (GRPB has errors)" 1 $?
check_eq "it prints a line per batch" 4 "$(grep -c '^batch ' <<<"$grp_out")"
check_eq "GRPA: DONE with 3 images" "DONE 3" "$(sql "SELECT status || ' ' || image_count FROM batch WHERE uid = 'GRPA'")"
check_eq "GRPB: DONE with its 1 image, flagged" "DONE 1 1" "$(sql "SELECT status || ' ' || image_count || ' ' || has_error FROM batch WHERE uid = 'GRPB'")"
grp_log=$(sql "SELECT message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = 'GRPB'")
check "GRPB: the copy of GRPA's file is ignored as byte-identical" grep -q "byte-identical copy" <<<"$grp_log"
check "GRPB: the conflict with GRPA's file is recorded" grep -q "duplicate SOPInstanceUID" <<<"$grp_log"
check_eq "GRPB: the conflict and the text file are quarantined" 2 "$(count_files "$SITE/quarantine/GRPB")"
check_eq "GRPBIG (more than one chunk): DONE with 300 images" "DONE 300" "$(sql "SELECT status || ' ' || image_count FROM batch WHERE uid = 'GRPBIG'")"
check_eq "GRPEMPTY is EMPTY" EMPTY "$(sql "SELECT status FROM batch WHERE uid = 'GRPEMPTY'")"
check_eq "storage holds 3 + 1 + 300 files of them" 304 "$(find "$SITE/storage/GRPA" "$SITE/storage/GRPB" "$SITE/storage/GRPBIG" -type f | wc -l)"
check_eq "GRPA's images are once in the database" 3 "$(sql "SELECT count(*) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.1234.71.%'")"
check "the input folders are gone" test ! -e "$SITE/stage/GRPA" -a ! -e "$SITE/stage/GRPB" -a ! -e "$SITE/stage/GRPBIG"
# The moves of folders imported together reach the disk with one fsync of
# storage/ before their rows say DONE, not two fsyncs per folder.
if strace -o /dev/null true 2>/dev/null; then
  for n in 4 5 6; do $MKDICOM "$SITE/stage/SYNC$n" 2 --sop-prefix "1.2.826.0.1.3680043.10.1234.7$n" >/dev/null; done
  # LeakSanitizer cannot run under ptrace: the sanitizer build skips it here.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -y -e trace=fsync,fdatasync -o "$SITE/fsync.trace" "$SENDIT_BIN" import_dicomdir \
    "$SITE/stage/SYNC4" "$SITE/stage/SYNC5" "$SITE/stage/SYNC6" --config "$SITE/sendit.ini" >/dev/null
  check_eq "three folders imported together exit 0" 0 $?
  check_eq "the three are DONE with 2 images each" "3" \
    "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'SYNC%' AND status = 'DONE' AND image_count = 2")"
  check_eq "storage/ is fsynced once for the three moves" 1 \
    "$(grep -c "fsync([0-9]*<$(realpath "$SITE/storage")>)" "$SITE/fsync.trace")"
  check_eq "no stored folder is fsynced (each arrived whole)" 0 \
    "$(grep -c "fsync([0-9]*<$(realpath "$SITE/storage")/SYNC" "$SITE/fsync.trace")"
  if ! is_pg; then
    # The rows reach the disk before the moves (their commit is relaxed, and
    # si_db_sync syncs the WAL before storage/ is); the finishing commit is
    # relaxed and does not wait.
    # After the moves the WAL may only be synced by a checkpoint, which then
    # syncs the database file too: count the WAL's syncs beyond those.
    wal_syncs() {
      awk -v store="<$(realpath "$SITE/storage")>)" -v want="$1" \
        'index($0, store) && /fsync\(/ {after = 1; next}
         /sendit\.db-wal>\)/ {n[after + 0]++}
         /sendit\.db>\)/ {n[after + 0]--}
         END {print n[want] + 0}' "$SITE/fsync.trace"
    }
    check "the rows are synced in the WAL before the moves" test "$(wal_syncs 0)" -ge 1
    check_eq "no commit after the moves syncs the WAL (the finishing one is relaxed)" 0 \
      "$(wal_syncs 1)"
  fi
else
  echo "# skipped the fsync count: strace cannot trace here"
fi
check_eq "two folders of one batch are refused" 2 "$(mkdir -p "$SITE/stage/x1/SAME" "$SITE/stage/x2/SAME"; sendit import_dicomdir "$SITE/stage/x1/SAME" "$SITE/stage/x2/SAME" >/dev/null 2>&1; echo $?)"

sendit stop_watcher >/dev/null
check_eq "stop_watcher stops it" 0 $?
check "the pidfile is gone" test ! -e "$SITE/sendit.pid"

# --- kill -9 in the middle of an import, twice, then restart ----------------
BIGN=20000
BIGUIDS="uid LIKE '1.2.826.0.1.3680043.10.999.%'"
$MKDICOM "$SITE/stage/BIG01" $BIGN --sop-prefix 1.2.826.0.1.3680043.10.999
mv "$SITE/stage/BIG01" "$SITE/data/"
for round in 1 2; do
  sendit start_watcher >/dev/null
  pid="$(cat "$SITE/sendit.pid")"
  wait_for 60 sql_ge $((round * 1000)) "SELECT count(*) FROM image WHERE $BIGUIDS"
  kill -9 "$pid"
  check "kill -9 number $round landed mid-import" test "$(batch_status BIG01)" != DONE
  sleep 0.2
done
check "the pidfile of the killed daemon is left behind" test -e "$SITE/sendit.pid"
sendit start_watcher >/dev/null
check_eq "restart after kill -9 is accepted" 0 $?
check "after kill -9 twice the batch still reaches DONE" wait_for 120 batch_is BIG01 DONE
check_eq "$BIGN images in the database, none twice" $BIGN "$(sql "SELECT count(DISTINCT uid) FROM image WHERE $BIGUIDS AND status = 'DONE'")"
check_eq "$BIGN image rows in all" $BIGN "$(sql "SELECT count(*) FROM image WHERE $BIGUIDS")"
check_eq "$BIGN files in storage" $BIGN "$(count_files "$SITE/storage/BIG01")"
check_eq "nothing left in the work area" 0 "$(count_files "$SITE/data/.work")"
check_eq "nothing quarantined" 0 "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'BIG01'")"

# A claim is committed without waiting for the disk: a power cut may undo it
# after its folder was renamed into the work area. What is left then: a
# queued job, and its folder in the work area under the job's name, gone
# from the input. The job is claimed again and finds the folder there.
# The job is inserted as 'held' (a state no worker claims) and queued only
# once its folder is in place: a worker's poll must not find the job first.
sql "INSERT INTO job (folder, path, state, created_at, updated_at) VALUES ('LOST01', '$SITE/data/LOST01', 'held', 1, 1)" >/dev/null
lost_job="$(sql "SELECT id FROM job WHERE folder = 'LOST01'")"
$MKDICOM "$SITE/data/.work/job-$lost_job-LOST01" 4 --sop-prefix 1.2.826.0.1.3680043.10.998
sql "UPDATE job SET state = 'queued' WHERE id = $lost_job" >/dev/null
check "a job whose claim was undone still imports its folder from the work area" \
  wait_for 30 batch_is LOST01 DONE
check_eq "LOST01's 4 images are stored once" "4 4" \
  "$(sql "SELECT count(*) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.998.%' AND status = 'DONE'") $(count_files "$SITE/storage/LOST01")"
check_eq "the work area is empty again" 0 "$(count_files "$SITE/data/.work")"

# A crash between the rows' commit and their folder's rename. Folders that
# are imported together get their rows DONE ahead of the rename, so what is
# left is: a batch in PROCESSING whose rows say DONE, none of their files in
# storage, the folder in the work area, and a job whose lease ran out.
ahead="$SITE/data/.work/crashed-AHEAD01"
$MKDICOM "$ahead" 3 --sop-prefix 1.2.826.0.1.3680043.10.997
sql "INSERT INTO batch (uid, status, created_at, updated_at) VALUES ('AHEAD01', 'PROCESSING', 1, 1)" >/dev/null
for i in 1 2 3; do
  sql "INSERT INTO image (uid, batch_id, status, storage_path, original_name, size_bytes, created_at) VALUES ('1.2.826.0.1.3680043.10.997.10000$i', (SELECT id FROM batch WHERE uid = 'AHEAD01'), 'DONE', '$SITE/storage/AHEAD01/IMG0000$i.dcm', 'IMG0000$i.dcm', $(stat -c %s "$ahead/IMG0000$i.dcm"), 1)" >/dev/null
done
sql "INSERT INTO job (folder, path, work_path, state, attempts, worker, lease_until, created_at, updated_at) VALUES ('AHEAD01', '$SITE/data/AHEAD01', '$ahead', 'running', 1, 'gone:1:1', 1, 1, 1)" >/dev/null
check "the job is taken over and the batch finished" wait_for 30 batch_is AHEAD01 DONE
check_eq "its 3 rows are DONE, once each, and its 3 files in storage" "3 3 3" \
  "$(sql "SELECT count(*) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.997.%'") $(sql "SELECT count(*) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.997.%' AND status = 'DONE'") $(count_files "$SITE/storage/AHEAD01")"
check_eq "nothing of it is quarantined, the work area is empty" "0 0" \
  "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'AHEAD01'") $(count_files "$SITE/data/.work")"
check_eq "the batch counts its 3 images" 3 "$(sql "SELECT image_count FROM batch WHERE uid = 'AHEAD01'")"
sendit stop_watcher >/dev/null

# --- a full disk: storage on a 1 MiB tmpfs ----------------------------------
new_site
mkdir -p "$SITE/storage"
if mount -t tmpfs -o size=1m tmpfs "$SITE/storage" 2>/dev/null; then
  trap 'stop_site; umount "$SITE/storage" 2>/dev/null' EXIT
  $MKDICOM "$SITE/data/FULL01" 20 --pixels 256
  sendit import_dicomdir "$SITE/data/FULL01" >/dev/null 2>&1
  check_eq "import into a full disk fails" 1 $?
  check_eq "the batch is in ERROR" ERROR "$(batch_status FULL01)"
  total=$(( $(count_files "$SITE/storage") + $(count_files "$SITE/data/FULL01") ))
  check_eq "every file is still on disk (storage + input)" 20 "$total"
  check "the error names the cause" grep -qi "no space" <<<"$(sql "SELECT message FROM batch_log")"
  # Its rows were written DONE ahead of the folder's rename, which could not
  # happen: only the rows of files that reached storage stay DONE.
  check_eq "rows are DONE exactly for the files in storage" \
    "$(count_files "$SITE/storage/FULL01") $(count_files "$SITE/data/FULL01")" \
    "$(sql "SELECT count(*) FROM image WHERE status = 'DONE'") $(sql "SELECT count(*) FROM image WHERE status = 'NEW'")"
  umount "$SITE/storage"
else
  not_ok "cannot mount a tmpfs for the full-disk test (need root)"
fi

finish
