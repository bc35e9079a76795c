#!/usr/bin/env bash
# Duplicates in a folder of more than 256 files (imported alone, its rows
# written 256 at a time, each chunk committed before any file moves): a copy
# of an earlier chunk's file must be handled as in a small folder. (Before,
# the earlier chunk's committed rows looked like an interrupted import's,
# and the copy took the row over: both files were stored, one without a row.)
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT

count_files() { find "$1" -type f 2>/dev/null | wc -l; }
rows_of() { sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1'"; }
qa_of() { sql "SELECT qa FROM batch WHERE uid = '$1'"; }
log_has() { grep -qF "$2" <<<"$(sql "SELECT l.message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = '$1'")"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }
# Every image row's file exists, and every stored file has a row.
rows_match_storage() {
  local missing=0 p
  while IFS= read -r p; do [ -f "$p" ] || missing=$((missing + 1)); done \
    < <(sql "SELECT storage_path FROM image")
  [ "$missing" -eq 0 ] && [ "$(sql "SELECT count(*) FROM image")" -eq "$(count_files "$SITE/storage")" ]
}

site() {
  new_site
  mkdir -p "$SITE/stage"
}

# A folder of 300 images (two chunks) under stage/$1, uids $2.100001...
big_folder() { $MKDICOM "$SITE/stage/$1" 300 --sop-prefix "$2" >/dev/null; }
# A different image with the uid of IMG00002 of prefix $1 (a conflict), as
# $2; $3: its pixel matrix size (the bytes differ with it; default 4).
conflict_of() {
  $MKDICOM "$SITE/stage/c.tmp" 2 --sop-prefix "$1" --pixels "${3:-4}" >/dev/null
  mv "$SITE/stage/c.tmp/IMG00002.dcm" "$2"
  rm -rf "$SITE/stage/c.tmp"
}

for policy in keep-first keep-last; do
  echo "# duplicates = $policy"
  site
  sed -i "s/^\[queue\]/[import]\nduplicates = $policy\n[queue]/" "$SITE/sendit.ini"

  # A byte-identical copy (sorted last: in the second chunk) of a file of the first.
  P=1.2.826.0.1.3680043.10.4420
  big_folder COPY $P
  cp "$SITE/stage/COPY/IMG00002.dcm" "$SITE/stage/COPY/zz-copy.dcm"
  sendit import_dicomdir "$SITE/stage/COPY" >/dev/null 2>&1
  check_eq "$policy: the folder with a copy is DONE with 300 rows" "DONE 300" "$(batch_status COPY) $(rows_of COPY)"
  check_eq "$policy: storage holds 300 files, quarantine none" "300 0" \
    "$(count_files "$SITE/storage/COPY") $(count_files "$SITE/quarantine")"
  check "$policy: the copy is counted as an ignored duplicate" grep -q '"duplicates_ignored": *1' <<<"$(qa_of COPY)"
  check "$policy: the batch log says the copy was ignored" log_has COPY "byte-identical copy of $P.100002 ignored"
  check "$policy: the copy is not in storage" test ! -e "$SITE/storage/COPY/zz-copy.dcm"
  check "$policy: every row has its file and every stored file a row" rows_match_storage

  # A conflict: the same uid as IMG00002, other bytes.
  Q=1.2.826.0.1.3680043.10.4421
  big_folder CONF $Q
  first=$(sha "$SITE/stage/CONF/IMG00002.dcm")
  conflict_of $Q "$SITE/stage/CONF/zz-conflict.dcm"
  other=$(sha "$SITE/stage/CONF/zz-conflict.dcm")
  sendit import_dicomdir "$SITE/stage/CONF" >/dev/null 2>&1
  check_eq "$policy: the folder with a conflict is DONE with 300 rows" "DONE 300" "$(batch_status CONF) $(rows_of CONF)"
  # Within one folder the first file in listing order is kept under either
  # policy, as in a folder of up to 256 files (keep-last replaces what an
  # earlier import stored, below).
  check_eq "$policy: storage holds 300 files, quarantine the conflict" "300 1" \
    "$(count_files "$SITE/storage/CONF") $(count_files "$SITE/quarantine/CONF")"
  check_eq "$policy: the stored copy is the first one" "$first" \
    "$(sha "$(sql "SELECT storage_path FROM image WHERE uid = '$Q.100002'")")"
  check_eq "$policy: the quarantined file is the conflict, with an entry" "$other 1" \
    "$(find "$SITE/quarantine/CONF" -type f -exec sha256sum {} + 2>/dev/null | cut -d" " -f1) $(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'CONF'")"
  check "$policy: the batch log records the conflict" log_has CONF "duplicate SOPInstanceUID $Q.100002 with different content"
  check "$policy: every row has its file and every stored file a row" rows_match_storage

  # The same in a small folder, for comparison.
  $MKDICOM "$SITE/stage/SMALL" 3 --sop-prefix 1.2.826.0.1.3680043.10.4422 >/dev/null
  conflict_of 1.2.826.0.1.3680043.10.4422 "$SITE/stage/SMALL/zz-conflict.dcm"
  sendit import_dicomdir "$SITE/stage/SMALL" >/dev/null 2>&1
  check_eq "$policy: a small folder's conflict is quarantined the same way" "3 1" \
    "$(count_files "$SITE/storage/SMALL") $(count_files "$SITE/quarantine/SMALL")"

  # Late data for the big batch: a conflict with its first chunk's file.
  mkdir -p "$SITE/stage/CONF"
  conflict_of $Q "$SITE/stage/CONF/LATE.dcm" 6
  late=$(sha "$SITE/stage/CONF/LATE.dcm")
  sendit import_dicomdir "$SITE/stage/CONF" >/dev/null 2>&1
  stored=$(sha "$(sql "SELECT storage_path FROM image WHERE uid = '$Q.100002'")")
  if [ "$policy" = keep-last ]; then
    check_eq "keep-last: late data replaces the big folder's stored copy" "$late" "$stored"
    check_eq "keep-last: the replaced copy is quarantined under CONF" "2" "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'CONF'")"
  else
    check_eq "keep-first: the big folder's stored copy stays" "$first" "$stored"
    check_eq "keep-first: the late conflict is quarantined" "2" "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'CONF'")"
  fi
  check_eq "$policy: CONF still has 300 rows, DONE" "DONE 300" "$(batch_status CONF) $(rows_of CONF)"
  check "$policy: every row has its file and every stored file a row" rows_match_storage

  # A resumed import: a kill after both chunks' rows were committed, before
  # any file moved (rows NEW, batch PROCESSING, the files where they were).
  # The rows are reused for their own files; the copy in the second chunk is
  # still a copy of its twin, not a file whose row was not moved yet.
  R=1.2.826.0.1.3680043.10.4423
  big_folder RES $R
  cp "$SITE/stage/RES/IMG00002.dcm" "$SITE/stage/RES/zz-copy.dcm"
  conflict_of $R "$SITE/stage/RES/zz-conflict.dcm" 6
  cp -a "$SITE/stage/RES" "$SITE/stage/RES.orig"
  sendit import_dicomdir "$SITE/stage/RES" >/dev/null 2>&1
  rm -rf "$SITE/stage/RES" "$SITE/storage/RES" "$SITE/quarantine/RES"
  mv "$SITE/stage/RES.orig" "$SITE/stage/RES"
  sql "UPDATE image SET status = 'NEW' WHERE batch_id = (SELECT id FROM batch WHERE uid = 'RES')" \
    "DELETE FROM quarantine WHERE batch_uid = 'RES'" \
    "UPDATE batch SET status = 'PROCESSING', quarantined_count = 0 WHERE uid = 'RES'" >/dev/null
  sendit import_dicomdir "$SITE/stage/RES" >/dev/null 2>&1
  check_eq "$policy: the resumed import is DONE with 300 rows, all DONE, not reopened" "DONE 300 300 0" \
    "$(batch_status RES) $(rows_of RES) $(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'RES' AND i.status = 'DONE'") $(sql "SELECT reopened FROM batch WHERE uid = 'RES'")"
  check_eq "$policy: it stored 300 files and quarantined the conflict" "300 1 1" \
    "$(count_files "$SITE/storage/RES") $(count_files "$SITE/quarantine/RES") $(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'RES'")"
  check "$policy: the resumed import ignored the copy" grep -q '"duplicates_ignored": *1' <<<"$(qa_of RES)"
  check "$policy: every row has its file and every stored file a row" rows_match_storage
  stop_site
done

# A move across filesystems copies, renames the copy into place, then
# unlinks the source: a kill in between leaves the source beside its stored
# copy. The resumed import removes it as the source of that copy, not as a
# duplicate the sender sent (and its row, still NEW, is settled). Simulated
# here: LB's first two files were stored (the second's source left behind),
# the others not, its rows NEW, the batch never finished. Storage on the
# input's filesystem (the resumed folder moves in one rename), then on
# another one when /dev/shm is there (file by file).
for where in same other unlinked; do
  site
  if [ "$where" = other ]; then
    if [ ! -d /dev/shm ] || [ ! -w /dev/shm ]; then
      echo "# no /dev/shm: skipping the cross-filesystem case"
      stop_site
      continue
    fi
    OTHER=$(mktemp -d /dev/shm/sendit-bigfolder.XXXXXX)
    sed -i "s|^folder = $SITE/storage|folder = $OTHER/storage|; s|^quarantine = .*|quarantine = $OTHER/quarantine|" "$SITE/sendit.ini"
    STORE=$OTHER/storage
  else
    STORE=$SITE/storage
  fi
  $MKDICOM "$SITE/stage/LB" 5 --sop-prefix 1.2.826.0.1.3680043.10.4424 >/dev/null
  cp -a "$SITE/stage/LB" "$SITE/stage/LB.orig"
  sendit import_dicomdir "$SITE/stage/LB" >/dev/null 2>&1
  rm -f "$STORE"/LB/IMG0000[345].dcm
  mkdir -p "$SITE/stage/LB"
  cp -a "$SITE/stage/LB.orig"/IMG0000[345].dcm "$SITE/stage/LB/"
  # unlinked: the kill came after the second file's source was unlinked.
  [ "$where" = unlinked ] || cp -a "$SITE/stage/LB.orig/IMG00002.dcm" "$SITE/stage/LB/"
  sql "UPDATE image SET status = 'NEW'" "DELETE FROM batch_log" \
    "UPDATE batch SET status = 'PROCESSING', finished_at = NULL, image_count = 0 WHERE uid = 'LB'" >/dev/null
  sendit import_dicomdir "$SITE/stage/LB" >/dev/null 2>&1
  check_eq "$where fs: the resumed import is DONE with 5 images, every row DONE" "DONE 5 5" \
    "$(batch_status LB) $(sql "SELECT image_count FROM batch WHERE uid = 'LB'") $(sql "SELECT count(*) FROM image WHERE status = 'DONE'")"
  check_eq "$where fs: storage holds the 5 files, the input none" "5 0" "$(count_files "$STORE") $(count_files "$SITE/stage/LB")"
  check "$where fs: the left-behind source is no ignored duplicate" grep -q '"duplicates_ignored": *0' <<<"$(qa_of LB)"
  [ "$where" = unlinked ] ||
    check "$where fs: the batch log says it was left behind" log_has LB "before an interruption; the source left behind is removed"
  check_eq "$where fs: and logs no byte-identical copy" 0 "$(sql "SELECT count(*) FROM batch_log WHERE message LIKE 'byte-identical%'")"
  # The same file sent again once the batch finished is a duplicate.
  mkdir -p "$SITE/stage/LB"
  cp -a "$SITE/stage/LB.orig/IMG00002.dcm" "$SITE/stage/LB/"
  sendit import_dicomdir "$SITE/stage/LB" >/dev/null 2>&1
  check "$where fs: the same file sent again later is an ignored duplicate" grep -q '"duplicates_ignored": *1' <<<"$(qa_of LB)"
  check_eq "$where fs: still 5 files in storage, 5 rows" "5 5" "$(count_files "$STORE") $(sql "SELECT count(*) FROM image")"
  stop_site
  if [ "$where" = other ]; then rm -rf "$OTHER"; fi
done

finish
