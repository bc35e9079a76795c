#!/usr/bin/env bash
# The daemon's DICOM listener (issue 15), `[dicom] listen`, against real peers (DCMTK with TCP_NODELAY=1):
#   1. storescu -> the daemon: the study is received into the input folder, imported by the daemon's own
#      watcher, and ends as a DONE batch with every image, each stored data set the one sent (pydicom and
#      dcmdump); the service is off without the key;
#   2. rejections with the right PDUs (A-ASSOCIATE-RJ result/source/reason, the AC's context results):
#      unknown called AE, calling AE not on [dicom] allow, an AE@address entry from another address, a
#      context with no acceptable transfer syntax, a SOP class that is not storage;
#   3. a slow peer that dribbles a PDU byte by byte is aborted after [dicom] timeout while another
#      association is served meanwhile; 16 storescu at once all succeed, the daemon's memory stays flat;
#   4. below the low-water mark: A-ASSOCIATE-RJ (transient, presentation, local limit exceeded); a C-STORE
#      that finds the disk below it mid-association is answered A700 and nothing of it is written;
#   5. kill -9 of the daemon in mid-association, three times: every instance storescu saw acknowledged is
#      stored and imported exactly once, the folders the dead associations left are finished at start-up,
#      nothing partial is anywhere, and a resend of everything adds nothing twice.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3
peer_py="$HERE/net_peer.py"
cmp_py="$HERE/dicom_compare.py"
export TCP_NODELAY=1
for tool in echoscu storescu dcmdump; do
  command -v "$tool" >/dev/null || { echo "$tool (DCMTK) is needed"; exit 1; }
done
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "${SITE:-/nonexistent}/sendit.pid" ] && kill -9 "$(cat "$SITE/sendit.pid")" 2>/dev/null
  drop_site_databases
  [ -z "${KEEP_TMP:-}" ] && [ -n "${SITE:-}" ] && rm -rf "$SITE" "${SHM:-}"
}
trap cleanup EXIT
log_has() { grep -qF -- "$1" "$SITE/logs/watcher.log"; }
uid_of() { dcmdump -q +P SOPInstanceUID "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
daemon_pid() { cat "$SITE/sendit.pid" 2>/dev/null; }
# dicom_ini KEY=VALUE...: the site's [dicom] section (rewritten each time).
dicom_ini() {
  sed -i '/^\[dicom\]/,$d' "$SITE/sendit.ini"
  echo "[dicom]" >>"$SITE/sendit.ini"
  local kv
  for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}" >>"$SITE/sendit.ini"; done
}
start_daemon() {
  sendit start_watcher >"$SITE/start.out" 2>&1 || { echo "the daemon did not start:"; cat "$SITE/start.out"; tail -20 "$SITE/logs/watcher.log"; exit 1; }
  wait_for 10 log_has "listening on 127.0.0.1:$PORT" || { echo "no listener"; tail "$SITE/logs/watcher.log"; exit 1; }
}
stop_daemon() { sendit stop_watcher --timeout 60 >/dev/null 2>&1; }
images_of() { sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' AND i.status = 'DONE'"; }
# stored_same SRC_DIR BATCH: every file of SRC_DIR is stored once under storage/BATCH with the same data set.
stored_same() {
  local f got bad=0
  for f in "$1"/*.dcm; do
    got=$(find "$SITE/storage/$2" -name "$(uid_of "$f").dcm")
    [ "$(echo "$got" | grep -c .)" = 1 ] && $py "$cmp_py" pair "$f" "$got" --dcmdump --by-creator >/dev/null 2>&1 ||
      { bad=$((bad + 1)); echo "  differs or missing: $f -> '$got'"; }
  done
  [ "$bad" = 0 ]
}

# ---- 1. off by default; storescu -> the daemon -> a DONE batch ----
new_site
PORT=$(free_port)
sendit start_watcher >/dev/null || exit 1
wait_for 10 log_has "watcher started" || exit 1
check "without [dicom] listen the daemon runs no listener" bash -c "! grep -q 'service dicom' '$SITE/logs/watcher.log'"
stop_daemon
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "allow=STORESCU,ECHOSCU,HOSTOK@127.0.0.1,HOSTBAD@10.9.9.9,SLOW" \
  timeout=2 idle_timeout=20 max_associations=32 max_pdu=65536
start_daemon
check "the log says the dicom service started" log_has "service dicom started"
$MKDICOM "$SITE/src/ACCD1" 20 --pixels 256 >/dev/null || exit 1
check "echoscu -> the daemon" echoscu -aet ECHOSCU -aec INTAKE 127.0.0.1 "$PORT"
check "storescu of 20 CT files -> the daemon" storescu +sd -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/ACCD1"
check "the received study ends as a DONE batch" wait_for 30 batch_is ACCD1 DONE
check_eq "with every image" 20 "$(images_of ACCD1)"
check "every stored data set is the one sent (pydicom and dcmdump)" stored_same "$SITE/src/ACCD1" ACCD1
f1=$(find "$SITE/storage/ACCD1" -name '*.dcm' | head -1)
check_eq "SourceApplicationEntityTitle is the calling AE" STORESCU \
  "$(dcmdump -q -M +P SourceApplicationEntityTitle "$f1" | sed 's/.*\[\(.*\)\].*/\1/;s/ *$//')"
check_eq "nothing is left in the input folder" "" "$(ls -A "$SITE/data" | grep -v '^\.')"

# ---- 2. rejections, PDU by PDU ----
peer() { timeout 30 $py "$peer_py" 127.0.0.1 "$PORT" "$@" 2>&1 | head -1 | sed 's/ after .*//'; }
check_eq "unknown called AE: rejected permanent, service user, called AE not recognized" \
  "outcome: reject 1 1 7" "$(peer outcome WRONG STORESCU)"
check_eq "calling AE not on [dicom] allow: rejected permanent, service user, calling AE not recognized" \
  "outcome: reject 1 1 3" "$(peer outcome INTAKE INTRUDER)"
check_eq "an AE@address entry from another address: rejected as not recognized" \
  "outcome: reject 1 1 3" "$(peer outcome INTAKE HOSTBAD)"
check_eq "the AE@address entry from its address is accepted" "outcome: accept" "$(peer outcome INTAKE HOSTOK)"
check_eq "contexts: accepted (0), transfer syntax not supported (4), abstract syntax not supported (3)" \
  "contexts: accept 1:0 3:4 5:3" "$(peer contexts INTAKE STORESCU)"
check "the log names the rejections" log_has "rejected: permanent, calling AE title not recognized"

# ---- 3. a slow peer; 16 associations at once, memory flat ----
t0=$(date +%s%N)
$py "$peer_py" 127.0.0.1 "$PORT" slow-pdu INTAKE SLOW >"$SITE/slow.out" 2>&1 &
slow=$!
bg+=("$slow")
sleep 0.5
check "while a slow peer dribbles, another association is served" echoscu -aet ECHOSCU -aec INTAKE 127.0.0.1 "$PORT"
wait "$slow"
rc=$?
t1=$(date +%s%N)
check_eq "the slow peer is aborted (A-ABORT or close)" 0 "$rc"
cat "$SITE/slow.out"
check "... after the 2 s timeout, not after sending its whole PDU (56 s)" test $(((t1 - t0) / 1000000)) -lt 8000
check "the log says the peer stopped mid-PDU" log_has "the peer stopped after"
pid=$(daemon_pid)
rss() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$pid/status"; }
for i in $(seq 16); do $MKDICOM "$SITE/src/CONC$i" 10 --pixels 256 >/dev/null || exit 1; done
storescu +sd -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/CONC1" >/dev/null 2>&1
check "one association's study is DONE" wait_for 30 batch_is CONC1 DONE
hwm1=$(rss VmHWM) rss1=$(rss VmRSS)
start=()
for i in $(seq 2 16) 1; do
  storescu +sd -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/CONC$i" >"$SITE/conc$i.log" 2>&1 &
  start+=($!)
done
failed=0
for p in "${start[@]}"; do wait "$p" || failed=$((failed + 1)); done
check_eq "16 storescu at once all succeed" 0 "$failed"
all_done() { [ "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'CONC%' AND status = 'DONE' AND image_count = 10")" = 16 ]; }
check "their 16 studies end as DONE batches of 10 images" wait_for 60 all_done
hwm16=$(rss VmHWM) rss16=$(rss VmRSS)
echo "  daemon memory: after one association VmHWM $hwm1 kB (VmRSS $rss1), after 16 at once VmHWM $hwm16 kB (VmRSS $rss16)"
# Under AddressSanitizer freed memory waits in its quarantine, so peaks say nothing there.
if nm "$SENDIT_BIN" 2>/dev/null | grep -q __asan_init; then
  echo "# memory check skipped: an ASan build keeps freed memory in its quarantine"
else
  check "memory stays flat: the peak after 16 associations at once is within 2x of one's" test "$hwm16" -le $((2 * hwm1))
fi
stop_daemon

# ---- 4. below the low-water mark ----
cp "$SITE/sendit.ini" "$SITE/normal.ini"
sed -i 's/^low_water_mb = .*/low_water_mb = 100000000/; s/^high_water_mb = .*/high_water_mb = 100000000/' "$SITE/sendit.ini"
start_daemon
check_eq "below the low-water mark: rejected transient, service provider (presentation), local limit exceeded" \
  "outcome: reject 2 3 2" "$(peer outcome INTAKE STORESCU)"
$MKDICOM "$SITE/src/LOW1" 3 >/dev/null
storescu +sd -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/LOW1" >"$SITE/low.log" 2>&1
check "storescu is refused" grep -qi "Local Limit Exceeded" "$SITE/low.log"
check "the log says why" log_has "below the low-water mark of 100000000 MiB"
stop_daemon
cp "$SITE/normal.ini" "$SITE/sendit.ini"
# Mid-association: the input (and storage) on a small tmpfs of its own whose free space the study itself
# takes below the mark. /dev/shm is one; the part is skipped where it is missing or too small.
SHM=$(mktemp -d /dev/shm/sendit-lowwater.XXXXXX 2>/dev/null)
shm_free=$(df -Pm "${SHM:-/nonexistent}" 2>/dev/null | awk 'NR == 2 {print $4}')
if [ -n "$SHM" ] && [ "${shm_free:-0}" -ge 64 ]; then
  mark=$((shm_free - 4))
  sed -i "s#^folder = $SITE/data#folder = $SHM/data#; s#^folder = $SITE/storage#folder = $SHM/storage#; s#^work = .*#work = $SHM/data/.work#; s/^low_water_mb = .*/low_water_mb = $mark/; s/^high_water_mb = .*/high_water_mb = $mark/" "$SITE/sendit.ini"
  mkdir -p "$SHM/data"
  $MKDICOM "$SITE/src/LOW2" 16 --pixels 512 >/dev/null # 16 x 512 KiB: 8 MiB, past the 4 MiB margin
  start_daemon
  storescu +sd -v -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/LOW2" >"$SITE/low2.log" 2>&1
  ok_n=$(grep -c "Received Store Response (Success)" "$SITE/low2.log")
  a7_n=$(grep -ci "Received Store Response (Refused: OutOfResources\|Received Store Response (.*A700" "$SITE/low2.log")
  echo "  mid-association: $ok_n stored, $a7_n refused with A700 (tmpfs: $shm_free MiB free, mark $mark MiB)"
  check "the first instances are stored while above the mark" test "$ok_n" -ge 1
  check "later ones are answered A700 (out of resources)" test "$a7_n" -ge 1
  sent_n=$(grep -c "Sending Store Request" "$SITE/low2.log")
  check_eq "... every request answered (storescu stops at the first refusal)" "$sent_n" $((ok_n + a7_n))
  check "the log says why" log_has "refused (0xa700)"
  low2_files() { [ "$(find "$SHM/data/LOW2" -name '*.dcm' 2>/dev/null | wc -l)" = "$ok_n" ]; }
  check "the acknowledged instances, and only they, are in the finished folder (not imported: intake is paused below the mark too)" \
    wait_for 10 low2_files
  check_eq "nothing of the refused ones was written, no temporary file is left" "" \
    "$(find "$SHM/data" -name '*.part' -o -name '*.tmp*' | head -3)"
  stop_daemon
  cp "$SITE/normal.ini" "$SITE/sendit.ini"
else
  echo "# skipped: A700 mid-association needs /dev/shm with 64 MiB free (has ${shm_free:-none})"
fi

# ---- 5. kill -9 in mid-association ----
# storescu sends the files in order, each waiting for its answer: the first N successes are the first N
# files. The resend at the end brings every instance again.
start_daemon
acked_all="$SITE/acked.txt"
: >"$acked_all"
KN=200 # per round: long enough (about a second) for the kill to land in mid-association
mid=0    # rounds whose kill landed in mid-association
for round in 1 2 3; do
  $MKDICOM "$SITE/src/KILL$round" $KN --pixels 256 >/dev/null
  files=("$SITE/src/KILL$round"/*.dcm)
  storescu -v -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "${files[@]}" >"$SITE/kill$round.log" 2>&1 &
  sc=$!
  # Kill once a random number of instances, well short of all of them, is acknowledged, polling every
  # 10 ms: a fixed sleep, or a 100 ms poll, sometimes outlasted the rest of the association on a fast
  # machine (600 files/s) and the kill landed after its release.
  target=$((10 + RANDOM % 40))
  pid=$(daemon_pid)
  for ((t = 0; t < 2000; t++)); do
    [ "$(grep -c "Received Store Response (Success)" "$SITE/kill$round.log")" -ge "$target" ] && break
    sleep 0.01
  done
  kill -9 "$pid"
  wait "$sc"
  n=$(grep -c "Received Store Response (Success)" "$SITE/kill$round.log")
  echo "  round $round: killed after $n of $KN acknowledged"
  for ((k = 0; k < n; k++)); do uid_of "${files[$k]}" >>"$acked_all"; done
  left=$(find "$SITE/data" -maxdepth 1 -name 'KILL*.tmp*' | wc -l)
  start_daemon
  if [ "$n" -lt "$KN" ]; then
    mid=$((mid + 1))
    check "round $round: the dead association left its folder unfinished ($left)" test "$left" -ge 1
    check "round $round: at start-up the listener finishes the folder it left" log_has "left by an association that did not end"
  else # the association ended before the kill landed: nothing was left to finish
    echo "  round $round: the kill landed after the release"
  fi
  check "round $round: the study ends as a DONE batch" wait_for 30 batch_is "KILL$round" DONE
done
check "at least one kill landed in mid-association ($mid of 3)" test "$mid" -ge 1
acked_stored() {
  local u missing=0
  while read -r u; do
    [ "$(sql "SELECT count(*) FROM image WHERE uid = '$u' AND status = 'DONE'")" = 1 ] || missing=$((missing + 1))
  done <"$acked_all"
  [ "$missing" = 0 ]
}
check "every acknowledged instance is imported, once ($(wc -l <"$acked_all") of them)" acked_stored
check_eq "no folder or temporary file of a dead association is left" "" \
  "$(find "$SITE/data" -name '*.tmp*' -o -name '*.part' | head -3)"
for round in 1 2 3; do
  check "round $round: every stored instance is a whole copy of one sent" \
    $py - "$SITE/src/KILL$round" "$SITE/storage/KILL$round" <<'PY'
import os, sys, pydicom
src = {pydicom.dcmread(os.path.join(sys.argv[1], f)).SOPInstanceUID: os.path.join(sys.argv[1], f)
       for f in os.listdir(sys.argv[1])}
bad = 0
for root, _, names in os.walk(sys.argv[2]):
    for n in names:
        got = pydicom.dcmread(os.path.join(root, n))
        want = pydicom.dcmread(src[got.SOPInstanceUID])
        if got.PixelData != want.PixelData or got.PatientID != want.PatientID:
            bad += 1
sys.exit(1 if bad else 0)
PY
done
for round in 1 2 3; do
  storescu +sd -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/KILL$round" >/dev/null 2>&1
done
resent() { [ "$(sql "SELECT count(*) FROM image WHERE uid IN (SELECT uid FROM image) AND batch_id IN (SELECT id FROM batch WHERE uid LIKE 'KILL%') AND status = 'DONE'")" = $((3 * KN)) ]; }
check "a resend of all $((3 * KN)) completes each study" wait_for 60 resent
quiet() { [ -z "$(find "$SITE/data" -mindepth 1 -maxdepth 1 -not -name '.*')" ] && [ "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'KILL%' AND status <> 'DONE'")" = 0 ]; }
wait_for 60 quiet
check_eq "every instance once in the database" $((3 * KN)) "$(sql "SELECT count(DISTINCT uid) FROM image WHERE batch_id IN (SELECT id FROM batch WHERE uid LIKE 'KILL%')")"
check_eq "and once in storage" $((3 * KN)) "$(find "$SITE/storage" -path '*/KILL*' -name '*.dcm' | wc -l)"
stop_daemon
finish
