#!/usr/bin/env bash
# Issue 11, items 1 and 2, at the level of the input folder: an entry of the
# input is never resolved (a symbolic link or a file is skipped with a log
# line, wherever it is seen: start-up scan, inotify, start_queue, claim), and
# late data renamed in under the name of a job that is still running is
# queued and imported into the same batch.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT

count_files() { find "$1" -type f 2>/dev/null | wc -l; }
# What storage/A holds: names and contents.
tree_sums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum) 2>/dev/null; }
log_has() { grep -qF "$1" "$SITE/logs/watcher.log"; }

# --- item 1: links and files in the input -----------------------------------
new_site
D="$(realpath "$SITE")/data" # the input folder as the log names it
sendit start_watcher >/dev/null || not_ok "start_watcher"
$MKDICOM "$SITE/data/A.tmp1" 3 --sop-prefix 1.2.826.0.1.3680043.10.1234.91 >/dev/null
mv "$SITE/data/A.tmp1" "$SITE/data/A"
check "batch A is imported" wait_for 20 batch_is A DONE
A_SUMS="$(tree_sums "$SITE/storage/A")"
A_ROWS="$(sql "SELECT i.uid || ' ' || i.storage_path || ' ' || i.status FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'A' ORDER BY i.uid")"
check_eq "A has 3 stored files" 3 "$(count_files "$SITE/storage/A")"
$MKDICOM "$SITE/outside/OUT" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.92 >/dev/null
OUT_SUMS="$(tree_sums "$SITE/outside/OUT")"

# Seen by inotify: links to a stored batch and to a folder outside, a link
# named like the stored batch itself, and a plain file.
ln -s "$SITE/storage/A" "$SITE/data/EVIL"
ln -s "$SITE/outside/OUT" "$SITE/data/OUTLINK"
ln -s "$SITE/storage/A" "$SITE/data/A"
echo "not a folder" >"$SITE/data/stray.txt"
check "inotify: the link to storage/A is skipped with a log line" \
  wait_for 10 log_has "SKIPPED $D/EVIL: a symbolic link"
check "inotify: the link to a folder outside is skipped" \
  wait_for 10 log_has "SKIPPED $D/OUTLINK: a symbolic link"
check "inotify: the link named like batch A is skipped" \
  wait_for 10 log_has "SKIPPED $D/A: a symbolic link"
check "inotify: a regular file is skipped with a log line" \
  wait_for 10 log_has "SKIPPED $D/stray.txt: not a folder"

# Seen by the start-up scan (the periodic and overflow rescans are the same
# scan).
sendit stop_watcher >/dev/null
ln -s "$SITE/storage/A" "$SITE/data/EVIL2"
mkfifo "$SITE/data/fifo"
sendit start_watcher >/dev/null || not_ok "start_watcher again"
check "start-up scan: a link is skipped with a log line" \
  wait_for 10 log_has "SKIPPED $D/EVIL2: a symbolic link"
check "start-up scan: a FIFO is skipped with a log line" \
  wait_for 10 log_has "SKIPPED $D/fifo: not a folder"

# Seen by start_queue.
sq_out="$(sendit start_queue 2>&1)"
check_eq "start_queue exits 0" 0 $?
check "start_queue names the skipped link" grep -qF "SKIPPED $D/EVIL: a symbolic link" <<<"$sq_out"
check "start_queue counts what it skipped" grep -q "queued 0 folders .* 6 links or non-folders skipped" <<<"$sq_out"
ln -s "$SITE/storage" "$SITE/data/SUBLINK"
sendit start_queue --subfolder SUBLINK >/dev/null 2>"$SITE/err0"
check_eq "start_queue --subfolder through a link exits 1" 1 $?
check "it says why" grep -q "SUBLINK: a symbolic link" "$SITE/err0"

# Let the workers poll once more, then nothing may have been queued.
sleep 2.5
check_eq "no job was queued for any link or file" 0 \
  "$(sql "SELECT count(*) FROM job WHERE folder IN ('EVIL', 'EVIL2', 'OUTLINK', 'stray.txt', 'fifo') OR (folder = 'A' AND id > 1)")"

# A job whose folder became a link after it was queued (swapped between the
# watcher's look and the claim) is refused at the claim, nothing moved.
now=$(date +%s%3N)
sql "INSERT INTO job (folder, path, state, created_at, updated_at) VALUES ('A', '$SITE/data/A', 'queued', $now, $now)"
sql "INSERT INTO job (folder, path, state, created_at, updated_at) VALUES ('OUTLINK', '$SITE/data/OUTLINK', 'queued', $now, $now)"
check "the claim refuses the job whose folder is a link to storage/A" \
  wait_for 15 sql_is failed "SELECT state FROM job WHERE folder = 'A' AND id > 1"
check "the claim refuses the job whose folder is a link outside" \
  wait_for 15 sql_is failed "SELECT state FROM job WHERE folder = 'OUTLINK'"
check "the refusal says why" grep -q "symbolic link" <<<"$(sql "SELECT error FROM job WHERE folder = 'A' AND id > 1") $(sql "SELECT message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = 'A'")"
check "the refusal is in the watcher log" log_has "$SITE/data/A is a symbolic link (never followed): not imported"
check "OUTLINK's batch says why" grep -q "symbolic link" <<<"$(sql "SELECT message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = 'OUTLINK'")"

# import_dicomdir: the operator's argument is not followed through a link,
# and sendit's own storage is not imported again.
sendit import_dicomdir "$SITE/data/EVIL" >/dev/null 2>"$SITE/err1"
check_eq "import_dicomdir of a link exits 1" 1 $?
check "it says the argument is a link" grep -q "EVIL is a symbolic link" "$SITE/err1"
sendit import_dicomdir "$SITE/storage/A" >/dev/null 2>"$SITE/err2"
check_eq "import_dicomdir of a stored batch exits 1" 1 $?
check "it says the folder is inside the storage" grep -q "inside sendit's storage" "$SITE/err2"
sendit import_dicomdir "$SITE/data/../storage/A/." >/dev/null 2>&1
check_eq "also when reached through .. and ." 1 $?

# What must hold after all of that.
check_eq "storage/A: the same files with the same contents" "$A_SUMS" "$(tree_sums "$SITE/storage/A")"
check_eq "batch A's image rows are untouched" "$A_ROWS" \
  "$(sql "SELECT i.uid || ' ' || i.storage_path || ' ' || i.status FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'A' ORDER BY i.uid")"
check_eq "batch A stays DONE with 3 images" "DONE 3" "$(sql "SELECT status || ' ' || image_count FROM batch WHERE uid = 'A'")"
check_eq "nothing of A is quarantined" "0 0" \
  "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'A'") $(count_files "$SITE/quarantine")"
check_eq "the folder outside is where it was, unchanged" "$OUT_SUMS" "$(tree_sums "$SITE/outside/OUT")"
check "no batch or stored folder for the links" test ! -e "$SITE/storage/EVIL" -a ! -e "$SITE/storage/OUTLINK" \
  -a -z "$(sql "SELECT uid FROM batch WHERE uid IN ('EVIL', 'EVIL2') OR image_count > 0 AND uid <> 'A'")"
check "the links and the files are left in the input" \
  test -L "$SITE/data/EVIL" -a -L "$SITE/data/EVIL2" -a -L "$SITE/data/OUTLINK" -a -L "$SITE/data/A" \
  -a -f "$SITE/data/stray.txt" -a -p "$SITE/data/fifo"
check_eq "the work area holds nothing" 0 "$(find "$SITE/data/.work" -mindepth 1 2>/dev/null | wc -l)"
stop_site

# --- item 2: late data while the name's job is still running ----------------
# A job for LATE is running with its first folder already in the work area:
# its worker holds the lease (a worker in the middle of a long import,
# frozen here as a job row whose lease runs for 7 s more). A second folder
# renamed in as data/LATE must be queued at once, wait for that job, and then
# be imported into the same batch.
new_site
sed -i 's/^lease_seconds = .*/lease_seconds = 5\npoll_seconds = 1/' "$SITE/sendit.ini"
sendit start_watcher >/dev/null || not_ok "start_watcher (late data)"
mkdir -p "$SITE/data/.work"
$MKDICOM "$SITE/data/.work/held-LATE" 3 --sop-prefix 1.2.826.0.1.3680043.10.1234.93 >/dev/null
now=$(date +%s%3N)
sql "INSERT INTO job (folder, path, work_path, state, attempts, worker, lease_until, created_at, updated_at) VALUES ('LATE', '$SITE/data/LATE', '$SITE/data/.work/held-LATE', 'running', 1, 'elsewhere:1:1', $((now + 7000)), $now, $now)"
$MKDICOM "$SITE/stage/LATE" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.94 >/dev/null
mv "$SITE/stage/LATE" "$SITE/data/LATE"
check "the late folder is queued while the first job still runs" \
  wait_for 3 sql_is 1 "SELECT count(*) FROM job WHERE folder = 'LATE' AND state = 'queued'"
check "it waits: the late folder is still in the input" test -d "$SITE/data/LATE"
check_eq "one job of LATE runs at a time" 1 "$(sql "SELECT count(*) FROM job WHERE folder = 'LATE' AND state = 'running'")"
check "once the first job is done, the late folder is imported into the same batch" \
  wait_for 25 sql_is "DONE 5 1" "SELECT status || ' ' || image_count || ' ' || reopened FROM batch WHERE uid = 'LATE'"
check_eq "both jobs are done" "done done" "$(sql "SELECT state FROM job WHERE folder = 'LATE' ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
check_eq "5 image rows in batch LATE" 5 "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'LATE' AND i.status = 'DONE'")"
check_eq "5 files in storage/LATE" 5 "$(count_files "$SITE/storage/LATE")"
check "the input is empty again" test ! -e "$SITE/data/LATE"
# The input name stays held while a job's folder is still there: a rescan
# or start_queue does not queue the same folder twice.
$MKDICOM "$SITE/stage/TWICE" 1 --sop-prefix 1.2.826.0.1.3680043.10.1234.95 >/dev/null
sendit stop_watcher >/dev/null
mv "$SITE/stage/TWICE" "$SITE/data/TWICE"
sendit start_queue >/dev/null 2>&1
sendit start_queue >/dev/null 2>&1
check_eq "a folder still in the input is queued once" 1 "$(sql "SELECT count(*) FROM job WHERE folder = 'TWICE'")"
sendit start_watcher >/dev/null || not_ok "start_watcher (twice)"
check "it is imported" wait_for 20 batch_is TWICE DONE
# A start-up scan that listed TWICE just before the claim moved it may queue a
# second job once the name is released; that job finds no folder and ends
# done ("already imported"), importing nothing. What counts: one import.
check_eq "imported once: one image row, one stored file, every job done" "1 1 0" \
  "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'TWICE'") $(count_files "$SITE/storage/TWICE") $(sql "SELECT count(*) FROM job WHERE folder = 'TWICE' AND state <> 'done'")"
# The next cases make sites of their own: stop this one's watcher first (the
# EXIT trap stops only the last site's, and this one would run on).
stop_site

# --- item 2: late data between a claim's rename and its record --------------
# The claim renames the first folder into the work area, then records where
# it went. A folder renamed in under the same name in between finds the name
# still held (the job's work path is not known yet), so the watcher cannot
# queue it; the worker queues it once its record is committed. strace holds
# every rename's return for 1 s, which opens that window wide.
if strace -o /dev/null true 2>/dev/null; then
  new_site
  $MKDICOM "$SITE/data/RACE.tmp1" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.96 >/dev/null
  $MKDICOM "$SITE/stage/RACE" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.97 >/dev/null
  # LeakSanitizer cannot run under ptrace: the sanitizer build skips it here.
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -o /dev/null -e trace=rename,renameat,renameat2 \
    -e inject=rename,renameat,renameat2:delay_exit=1000000 \
    "$SENDIT_BIN" start_watcher --foreground --config "$SITE/sendit.ini" 2>"$SITE/fg.log" &
  TRACER=$!
  fg_has() { grep -qF "$1" "$SITE/fg.log"; }
  check "the traced daemon starts" wait_for 20 fg_has "watcher started"
  mv "$SITE/data/RACE.tmp1" "$SITE/data/RACE"
  check "the first folder is claimed (renamed out)" wait_for 10 test ! -e "$SITE/data/RACE"
  mv "$SITE/stage/RACE" "$SITE/data/RACE"
  check "the late folder is queued once the claim is recorded" \
    wait_for 10 sql_is 1 "SELECT count(*) FROM job WHERE folder = 'RACE' AND state = 'queued'"
  check "by the worker, which says so" wait_for 5 fg_has "(late data for batch RACE)"
  check "both folders end in batch RACE" \
    wait_for 40 sql_is "DONE 4 1" "SELECT status || ' ' || image_count || ' ' || reopened FROM batch WHERE uid = 'RACE'"
  check "the input is empty again" test ! -e "$SITE/data/RACE"
  sendit stop_watcher --timeout 30 >/dev/null
  wait "$TRACER"
  stop_site

  # The same window ended by kill -9: the folder is in the work area, the
  # record of it is lost, and late data arrives before the restart. The job
  # taken over finds its folder in the work area and leaves the input's to a
  # job of its own.
  new_site
  sed -i 's/^lease_seconds = .*/lease_seconds = 5\npoll_seconds = 1/' "$SITE/sendit.ini"
  $MKDICOM "$SITE/data/CRASH.tmp1" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.98 >/dev/null
  $MKDICOM "$SITE/stage/CRASH" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.99 >/dev/null
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -o /dev/null -e trace=rename,renameat,renameat2 \
    -e inject=rename,renameat,renameat2:delay_exit=1000000 \
    "$SENDIT_BIN" start_watcher --foreground --config "$SITE/sendit.ini" 2>"$SITE/fg.log" &
  TRACER=$!
  check "the traced daemon starts again" wait_for 20 fg_has "watcher started"
  mv "$SITE/data/CRASH.tmp1" "$SITE/data/CRASH"
  wait_for 10 test ! -e "$SITE/data/CRASH"
  kill -9 "$(cat "$SITE/sendit.pid")"
  wait "$TRACER" 2>/dev/null
  check_eq "killed after the claim's rename, before its record" "running " \
    "$(sql "SELECT state || ' ' || coalesce(work_path, '') FROM job WHERE folder = 'CRASH'")"
  mv "$SITE/stage/CRASH" "$SITE/data/CRASH"
  sendit start_watcher >/dev/null || not_ok "restart after kill -9"
  check "after the restart both folders end in batch CRASH" \
    wait_for 30 sql_is "DONE 4 1" "SELECT status || ' ' || image_count || ' ' || reopened FROM batch WHERE uid = 'CRASH'"
  check_eq "4 files in storage/CRASH, none left in the input or the work area" "4 0 0" \
    "$(count_files "$SITE/storage/CRASH") $(count_files "$SITE/data") $(find "$SITE/data/.work" -mindepth 1 | wc -l)"
  stop_site

  # The same window with [input] stable_seconds: the late folder is left to
  # the watcher's quiet-time rule, not queued while the sender still writes.
  new_site
  sed -i 's/^\[input\]$/[input]\nstable_seconds = 2/' "$SITE/sendit.ini"
  $MKDICOM "$SITE/data/QUIET.tmp1" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.100 >/dev/null
  $MKDICOM "$SITE/stage/QUIET" 2 --sop-prefix 1.2.826.0.1.3680043.10.1234.101 >/dev/null
  ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
    strace -f -o /dev/null -e trace=rename,renameat,renameat2 \
    -e inject=rename,renameat,renameat2:delay_exit=1000000 \
    "$SENDIT_BIN" start_watcher --foreground --config "$SITE/sendit.ini" 2>"$SITE/fg.log" &
  TRACER=$!
  check "the traced daemon starts (stable_seconds = 2)" wait_for 20 fg_has "watcher started"
  mv "$SITE/data/QUIET.tmp1" "$SITE/data/QUIET"
  check "the first folder is claimed once quiet" wait_for 15 test ! -e "$SITE/data/QUIET"
  # A sender that cannot rename writes the late folder in place, slowly.
  mkdir "$SITE/data/QUIET"
  for f in "$SITE/stage/QUIET/"*.dcm; do cp "$f" "$SITE/data/QUIET/"; done
  for _ in $(seq 1 12); do touch "$SITE/data/QUIET/IMG00001.dcm"; sleep 0.25; done
  check_eq "the late folder is not queued while it is still written to" 1 \
    "$(sql "SELECT count(*) FROM job WHERE folder = 'QUIET'")"
  check "both folders end in batch QUIET once it is quiet" \
    wait_for 40 sql_is "DONE 4 1" "SELECT status || ' ' || image_count || ' ' || reopened FROM batch WHERE uid = 'QUIET'"
  sendit stop_watcher --timeout 30 >/dev/null
  wait "$TRACER"
  stop_site
else
  echo "# strace cannot trace here: the claim-window cases are not run"
fi

finish
