#!/usr/bin/env bash
# The files-on-disk side of an import (issue 11, items 1, 4, 6, 7, 8): what
# is not a regular file inside a study, depth, work-area and storage names,
# cross-filesystem copies (sparse files, leftovers of a kill).
source "$(dirname "$0")/lib.sh"
mkdir -p "$SENDIT_TMP" && SENDIT_TMP="$(cd "$SENDIT_TMP" && pwd -P)"
# A site or nothing: never a run with SITE empty (paths at /).
fresh_site() { new_site && [ -d "${SITE:-}" ] || { echo "cannot make a site under $SENDIT_TMP" >&2; exit 1; }; }
count_files() { find "$1" -type f 2>/dev/null | wc -l; }
not_files() { find "$1" ! -type f ! -type d 2>/dev/null | wc -l; }
uids() { sql "SELECT count(*) FROM image WHERE uid LIKE '$1.%' AND status = 'DONE'"; }

fresh_site
STAGE="$SITE/stage"
mkdir -p "$STAGE" "$SITE/outside/dir"
echo "not yours" >"$SITE/outside/secret.txt"
echo "neither" >"$SITE/outside/dir/inner.txt"
sendit start_watcher >/dev/null || { not_ok "start_watcher"; finish; exit 1; }
trap 'stop_site' EXIT

# --- item 1: symlinks, FIFOs, sockets, devices inside a study ----------------
S=1.2.826.0.1.3680043.10.5101
$MKDICOM "$STAGE/ODD01" 2 --sop-prefix $S
mkdir -p "$STAGE/ODD01/sub"
ln -s "$SITE/outside/secret.txt" "$STAGE/ODD01/link-to-file"
ln -s "$SITE/outside/dir" "$STAGE/ODD01/sub/link-to-dir"
ln -s "$SITE/storage" "$STAGE/ODD01/link-to-storage"
mkfifo "$STAGE/ODD01/sub/fifo"
/usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$STAGE/ODD01/sock"
mknod "$STAGE/ODD01/null-device" c 1 3 2>/dev/null && have_dev=1 || have_dev=0
mv "$STAGE/ODD01" "$SITE/data/"
check "a study holding symlinks, a FIFO, a socket and a device is imported" wait_for 30 batch_is ODD01 DONE
check_eq "its 2 images are stored" 2 "$(uids $S)"
check_eq "nothing but files and folders in storage" 0 "$(not_files "$SITE/storage/ODD01")"
check_eq "the link targets outside the folder are untouched" "not yours neither" \
  "$(cat "$SITE/outside/secret.txt") $(cat "$SITE/outside/dir/inner.txt")"
check "the linked folder was not moved into storage" test ! -e "$SITE/storage/ODD01/sub/link-to-dir/inner.txt"
want=$((5 + have_dev))
check_eq "each one is quarantined as skipped, with its kind" "$want" \
  "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'ODD01' AND reason LIKE 'skipped: %'")"
check_eq "the symlinks are named as such" 3 \
  "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'ODD01' AND reason LIKE 'skipped: symlink%'")"
check_eq "each one has a batch log line naming it" "$want" \
  "$(sql "SELECT count(*) FROM batch_log WHERE batch_id = (SELECT id FROM batch WHERE uid = 'ODD01') AND message LIKE 'skipped: %' AND file IS NOT NULL")"
check "the quarantined link still points where it did (moved, not followed)" \
  test "$(readlink "$SITE/quarantine/ODD01/link-to-file")" = "$SITE/outside/secret.txt"
check "the FIFO is in quarantine as a FIFO" test -p "$SITE/quarantine/ODD01/fifo"
check_eq "the batch counts them as skipped" "$want" "$(sql "SELECT skipped_count FROM batch WHERE uid = 'ODD01'")"
check_eq "nothing left in the work area" 0 "$(find "$SITE/data/.work" -mindepth 1 ! -type d | wc -l)"
fifo_id="$(sql "SELECT id FROM quarantine WHERE batch_uid = 'ODD01' AND path LIKE '%/fifo'")"
check "requeue says that a FIFO is not a regular file, not that it is gone" \
  bash -c '"$@" | grep -q "is not a regular file; left in quarantine"' _ \
  "$SENDIT_BIN" quarantine requeue "$fifo_id" --config "$SITE/sendit.ini"
check "and leaves it there" test -p "$SITE/quarantine/ODD01/fifo"

# --- item 4: files deeper than 32 folders ------------------------------------
S=1.2.826.0.1.3680043.10.5104
deep="$STAGE/DEEP01"
for i in $(seq 1 40); do deep="$deep/d$i"; done
$MKDICOM "$deep" 1 --sop-prefix $S.1
$MKDICOM "$STAGE/DEEP01" 1 --sop-prefix $S.2
mv "$STAGE/DEEP01" "$SITE/data/"
check "a study with a file 40 folders deep is imported" wait_for 30 batch_is DEEP01 DONE
check_eq "the deep file is imported too" 2 "$(uids $S)"
check_eq "both are in storage" 2 "$(count_files "$SITE/storage/DEEP01")"

# Deeper than PATH_MAX can name: the folder where names would pass it is
# quarantined whole, with the file inside, rather than dropped.
S=1.2.826.0.1.3680043.10.5105
$MKDICOM "$STAGE/DEEP02" 1 --sop-prefix $S.1
$MKDICOM "$STAGE/deep02-src" 1 --sop-prefix $S.2
/usr/bin/python3 - "$STAGE/DEEP02" "$STAGE/deep02-src/IMG00001.dcm" <<'PY'
import os, sys
data = open(sys.argv[2], "rb").read()
fd = os.open(sys.argv[1], os.O_RDONLY)
for _ in range(18):  # 18 names of 255 bytes: 4,608 bytes, past PATH_MAX
    os.mkdir("a" * 255, dir_fd=fd)
    fd = os.open("a" * 255, os.O_RDONLY, dir_fd=fd)
out = os.open("deep.dcm", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
os.write(out, data)
PY
mv "$STAGE/DEEP02" "$SITE/data/"
check "a study with a file past PATH_MAX is imported" wait_for 30 batch_is DEEP02 DONE
check_eq "its other image is stored" 1 "$(uids $S)"
check_eq "the folder too deep is quarantined, with the reason" 1 \
  "$(sql "SELECT count(*) FROM quarantine WHERE batch_uid = 'DEEP02' AND reason LIKE 'skipped: folder with too long a path%'")"
check_eq "the deep file is inside it, not lost" 1 "$(find "$SITE/quarantine/DEEP02" -name deep.dcm | wc -l)"
check_eq "nothing of it left in the work area" 0 "$(find "$SITE/data/.work" -mindepth 1 | wc -l)"

# --- item 7: a subfolder named like a work folder ---------------------------
S=1.2.826.0.1.3680043.10.5107
$MKDICOM "$STAGE/NAMEQ" 1 --sop-prefix $S.1
next_job=$(($(sql "SELECT coalesce(max(id), 0) FROM job") + 1))
# Every name the late data's work folder might get (ids may skip), in the
# old naming and in the new one, each holding a file named as the late one.
for k in $(seq "$next_job" $((next_job + 5))); do
  for sub in "job-$k-NAMEQ" "job-$k"; do
    $MKDICOM "$STAGE/NAMEQ/$sub" 1 --sop-prefix "$S.$k${#sub}" --prefix LATE
  done
done
mv "$STAGE/NAMEQ" "$SITE/data/"
check "the first folder of NAMEQ is imported" wait_for 30 batch_is NAMEQ DONE
$MKDICOM "$STAGE/late/NAMEQ" 1 --sop-prefix $S.9 --prefix LATE
mv "$STAGE/late/NAMEQ" "$SITE/data/"
check "late data for NAMEQ (job $next_job) is imported" \
  wait_for 30 sql_is "1" "SELECT count(*) FROM image WHERE uid LIKE '$S.9.%' AND status = 'DONE'"
check "NAMEQ ends DONE" wait_for 30 batch_is NAMEQ DONE
check "and its jobs have ended" \
  wait_for 30 sql_is 0 "SELECT count(*) FROM job WHERE state IN ('queued', 'running')"
check_eq "all 14 images of NAMEQ are stored" 14 "$(uids $S)"
check_eq "and 14 files are in its storage" 14 "$(count_files "$SITE/storage/NAMEQ")"
check_eq "the work area holds only sendit's names" "" \
  "$(find "$SITE/data/.work" -mindepth 1 -maxdepth 1 ! -name 'job-*' ! -name 'requeue-*')"

# --- item 8: a folder name of 250 bytes --------------------------------------
S=1.2.826.0.1.3680043.10.5108
long="L$(printf 'x%.0s' $(seq 1 249))"
$MKDICOM "$STAGE/$long" 2 --sop-prefix $S.1
mv "$STAGE/$long" "$SITE/data/"
check "a folder named with 250 bytes is imported" wait_for 30 batch_is "$long" DONE
check_eq "its 2 images are stored" 2 "$(uids $S)"
$MKDICOM "$STAGE/late/$long" 1 --sop-prefix $S.2
mv "$STAGE/late/$long" "$SITE/data/"
check "late data under that long name is imported too" \
  wait_for 30 sql_is 3 "SELECT count(*) FROM image WHERE uid LIKE '$S.%' AND status = 'DONE'"
# Rows of a folder that goes to storage in one rename say DONE before the
# rename (pipeline.h); the job's end says the files are there.
check "and its job has ended" \
  wait_for 30 sql_is 0 "SELECT count(*) FROM job WHERE state IN ('queued', 'running')"
check_eq "3 files in its storage" 3 "$(count_files "$SITE/storage/$long")"
sendit stop_watcher >/dev/null
trap - EXIT
stop_site

# --- item 6: storage on another filesystem -----------------------------------
fresh_site
STAGE="$SITE/stage"
XFS="$SITE/xfs"
mkdir -p "$XFS" "$STAGE"
if mount -t tmpfs -o size=96m tmpfs "$XFS" 2>/dev/null; then
  trap 'sendit stop_watcher >/dev/null 2>&1; umount "$XFS"; stop_site' EXIT
  sed -i "s|^folder = $SITE/storage|folder = $XFS/storage|; s|^quarantine = .*|quarantine = $XFS/quarantine|" "$SITE/sendit.ini"
  # A short lease: after the kill below, the restarted daemon takes the job over sooner.
  sed -i "s/^lease_seconds = .*/lease_seconds = 5/" "$SITE/sendit.ini"
  S=1.2.826.0.1.3680043.10.5106
  # A sparse image: 16 MB of zero pixels, holes in the file.
  $MKDICOM "$STAGE/SPARSE01" 1 --sop-prefix $S.1 --pixels 2048
  /usr/bin/python3 - "$STAGE/SPARSE01/IMG00001.dcm" <<'PY'
import sys
# Zero pixels, as a scanner's blank frame: the same length, all zeros.
p = sys.argv[1]
data = bytearray(open(p, "rb").read())
tag = data.rfind(b"\xe0\x7f\x10\x00")
start = tag + 12  # tag, VR "OW", 2 reserved bytes, 4-byte length
data[start:] = bytes(len(data) - start)
open(p, "wb").write(data)
PY
  fallocate --dig-holes "$STAGE/SPARSE01/IMG00001.dcm"
  src_sum="$(sha256sum <"$STAGE/SPARSE01/IMG00001.dcm")"
  src_kb="$(du -k "$STAGE/SPARSE01/IMG00001.dcm" | cut -f1)"
  size_kb=$(($(stat -c %s "$STAGE/SPARSE01/IMG00001.dcm") / 1024))
  # A batch already in storage, holding a user's files that merely look
  # like temporary copies, and a real leftover of a kill during a copy.
  $MKDICOM "$STAGE/PART01" 1 --sop-prefix $S.2
  $MKDICOM "$STAGE/u" 1 --sop-prefix $S.3
  mv "$STAGE/u/IMG00001.dcm" "$STAGE/PART01/.sendit-partial-00000000000000aa"
  $MKDICOM "$STAGE/u" 1 --sop-prefix $S.5
  mv "$STAGE/u/IMG00001.dcm" "$STAGE/PART01/x.partial"
  mv "$STAGE/SPARSE01" "$STAGE/PART01" "$SITE/data/"
  sendit start_watcher >/dev/null
  check "a sparse image crosses to the other filesystem" wait_for 30 batch_is SPARSE01 DONE
  dst="$XFS/storage/SPARSE01/IMG00001.dcm"
  check_eq "same bytes" "$src_sum" "$(sha256sum <"$dst")"
  dst_kb="$(du -k "$dst" | cut -f1)"
  check "it stays sparse: $dst_kb KiB allocated for $size_kb KiB (source $src_kb KiB)" \
    test "$dst_kb" -lt $((size_kb / 4))
  check "PART01 is imported across filesystems" wait_for 30 batch_is PART01 DONE
  sendit stop_watcher >/dev/null
  check_eq "no temporary copy is left after a clean import" 0 \
    "$(find "$XFS" -name '.sendit-partial-*' ! -name '.sendit-partial-00000000000000aa' | wc -l)"
  # What a kill -9 in the middle of a copy leaves beside the file's place.
  head -c 1000 "$dst" >"$XFS/storage/PART01/.sendit-partial-0123456789abcdef"
  mkdir -p "$XFS/quarantine/PART01"
  head -c 10 "$dst" >"$XFS/quarantine/PART01/.sendit-partial-fedcba9876543210"
  $MKDICOM "$STAGE/late/PART01" 1 --sop-prefix $S.4 --prefix LATE
  mv "$STAGE/late/PART01" "$SITE/data/"
  sendit start_watcher >/dev/null
  check "late data for PART01 is imported" \
    wait_for 30 sql_is 1 "SELECT count(*) FROM image WHERE uid LIKE '$S.4.%' AND status = 'DONE'"
  check "the leftover copy in storage is removed" test ! -e "$XFS/storage/PART01/.sendit-partial-0123456789abcdef"
  check "the leftover copy in quarantine is removed" test ! -e "$XFS/quarantine/PART01/.sendit-partial-fedcba9876543210"
  check "a user's file named x.partial is kept" test -f "$XFS/storage/PART01/x.partial"
  check "a user's file named like a temporary copy is kept, quarantined under an escaped name" \
    test -f "$XFS/quarantine/PART01/_.sendit-partial-00000000000000aa"
  check_eq "every other image of SPARSE01 and PART01 is stored" 4 "$(sql "SELECT count(*) FROM image WHERE uid LIKE '$S.%' AND status = 'DONE'")"
  sendit stop_watcher >/dev/null

  # A real kill -9 while a 48 MB image is being copied across: the copy is
  # caught under its temporary name, the daemon killed, then restarted.
  $MKDICOM "$STAGE/KILL01" 1 --sop-prefix $S.6
  /usr/bin/python3 - "$STAGE/KILL01/IMG00001.dcm" <<'PY'
import os, sys
import pydicom
p = sys.argv[1]
ds = pydicom.dcmread(p)
ds.Rows = ds.Columns = 4900
ds.PixelData = os.urandom(4900 * 4900 * 2)
ds.save_as(p)
PY
  kill_sum="$(sha256sum <"$STAGE/KILL01/IMG00001.dcm")"
  cat "$STAGE/KILL01/IMG00001.dcm" >/dev/null
  sendit start_watcher >/dev/null
  pid="$(cat "$SITE/sendit.pid")"
  shopt -s nullglob dotglob
  mv "$STAGE/KILL01" "$SITE/data/"
  caught=0
  spin_until=$((SECONDS + 20))
  while [ $caught = 0 ] && [ $SECONDS -lt $spin_until ]; do
    partials=("$XFS"/storage/KILL01/.sendit-partial-*)
    if [ ${#partials[@]} -gt 0 ]; then kill -9 "$pid"; caught=1; fi
    [ -e "$XFS/storage/KILL01/IMG00001.dcm" ] && break
  done
  shopt -u nullglob dotglob
  if [ $caught = 1 ]; then
    sleep 0.2
    check "the kill left a temporary copy in storage" \
      test -n "$(find "$XFS/storage/KILL01" -name '.sendit-partial-*')"
    sendit start_watcher >/dev/null
    check "after the kill the batch is imported" wait_for 40 batch_is KILL01 DONE
    check_eq "no temporary copy is left" 0 "$(find "$XFS" -name '.sendit-partial-*' ! -name '*00aa' | wc -l)"
    check_eq "the image is stored once, its bytes whole" "1 1 $kill_sum" \
      "$(uids $S.6) $(count_files "$XFS/storage/KILL01") $(sha256sum <"$(find "$XFS/storage/KILL01" -type f)")"
    check_eq "nothing left in the work area" 0 "$(count_files "$SITE/data/.work")"
    sendit stop_watcher >/dev/null
  else
    echo "# skip: the copy ended before the kill could land: the restart after a kill is not tested"
  fi
  umount "$XFS"
  trap - EXIT
else
  echo "# skip: cannot mount a tmpfs at $XFS (not root?): the cross-filesystem checks did not run"
fi
stop_site
finish
