#!/usr/bin/env bash
# The DICOM network (issue 15) against real peers on loopback, DCMTK with TCP_NODELAY=1:
#   1. echoscu and storescu -> `sendit listen`; `sendit echo` and `sendit send` -> DCMTK storescp and -> sendit
#      itself; what arrived is compared with what was sent (tests/integration/dicom_compare.py: pydicom and
#      dcmdump), SourceApplicationEntityTitle is the calling AE, folders are finished by the sender protocol;
#   1b. `sendit send` draws a progress bar only on a terminal;
#   2. rejections: unknown called AE, calling AE not allowed, no acceptable presentation context, a compressed
#      file the peer refuses;
#   3. a hostile peer (net_peer.py, raw sockets): truncated PDUs, lengths beyond the maximum, PDUs out of
#      state, a peer that stops mid-PDU or mid-data set: each ends in an A-ABORT, a rejection or a timeout,
#      the listener lives on, and nothing unacknowledged is left in a finished folder.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP, SENDIT_TEST_DATA. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
data="${SENDIT_TEST_DATA:-$HERE/../data}"
py=/usr/bin/python3
cmp_py="$HERE/dicom_compare.py"
peer_py="$HERE/net_peer.py"
export TCP_NODELAY=1
for tool in echoscu storescu storescp dcmdump; do
  command -v "$tool" >/dev/null || { echo "$tool (DCMTK) is needed"; exit 1; }
done
mkdir -p "$SENDIT_TMP"
tmp="$(mktemp -d "$SENDIT_TMP/test_net.XXXXXX")" || exit 1
pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
  [ -z "${KEEP_TMP:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT

# start_listen NAME ARGS...: `sendit listen` on a free port; sets LPORT, LPID, LDIR.
start_listen() {
  local name=$1
  shift
  LDIR="$tmp/$name"
  mkdir -p "$LDIR"
  "$SENDIT_BIN" listen --port 0 "$@" "$LDIR" >"$tmp/$name.out" 2>"$tmp/$name.log" &
  LPID=$!
  pids+=("$LPID")
  local i
  for i in $(seq 300); do # up to 30 s, as for storescp below (ASan on a loaded machine)
    LPORT=$(awk '/^listening on port/ {print $4}' "$tmp/$name.out" 2>/dev/null)
    [ -n "$LPORT" ] && return 0
    sleep 0.1
  done
  echo "sendit listen did not start:"; cat "$tmp/$name.log"
  exit 1
}
# free_port: a port nobody listens on now.
# start_storescp DIR ARGS...: DCMTK's storescp writing into DIR; sets SPORT.
start_storescp() {
  local dir=$1
  shift
  mkdir -p "$dir"
  SPORT=$(free_port)
  storescp -od "$dir" "$@" "$SPORT" >"$dir.log" 2>&1 &
  pids+=($!)
  local i
  # Up to 30 s: under ASan on a loaded machine storescp once took longer than the 5 s this waited.
  for i in $(seq 300); do
    ss -ltn | grep -q ":$SPORT " && echoscu 127.0.0.1 "$SPORT" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "storescp did not start on port $SPORT:"; tail -5 "$dir.log"; exit 1
}
# same A B [options...]: the data sets are the same for pydicom and dcmdump (pydicom alone when the
# length form may differ: DCMTK's writers change it, and dcmdump shows it).
same() {
  local a=$1 b=$2 dump=--dcmdump
  shift 2
  [[ " $* " == *" --no-length-form "* ]] && dump=
  $py "$cmp_py" pair "$a" "$b" $dump "$@" >"$tmp/cmp.out" 2>&1 || { cat "$tmp/cmp.out"; return 1; }
}
# received_in DIR UID: the file holding that instance (sendit names it UID.dcm, storescp XX.UID).
received_in() { find "$1" -type f \( -name "$2.dcm" -o -name "*.$2" \) | head -1; }
# uid_of FILE: its SOPInstanceUID.
uid_of() { dcmdump -q +P SOPInstanceUID "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
meta_of() { dcmdump -q -Un -M +P "$2" "$1" | sed 's/.*\[\(.*\)\].*/\1/' | sed 's/ *$//'; }

# ---- inputs: 20 CT files of one study (256x256, larger than any PDU) and the fixtures ----
$MKDICOM "$tmp/src/ACC20" 20 --pixels 256 >/dev/null || exit 1
# The fixtures share one SOPInstanceUID and study: each copy gets its own (sendit modify keeps the syntax).
fixtures=()
n=0
mkdir -p "$tmp/fix"
for f in explicit_le implicit_le explicit_be deflated sequences private_tags encapsulated; do
  [ -f "$data/$f.dcm" ] || continue
  n=$((n + 1))
  "$SENDIT_BIN" modify -q --insert SOPInstanceUID=2.25.4242.$n --insert AccessionNumber=FIX$n \
    --out "$tmp/fix" "$data/$f.dcm" >/dev/null || { echo "cannot prepare $f"; exit 1; }
  fixtures+=("$tmp/fix/$f.dcm")
done

# ---- 1. DCMTK -> sendit listen ----
start_listen recv --aet SENDIT --allow STORESCU --allow ECHOSCU --allow SENDIT --allow HOSTILE \
  --allow V4OK@127.0.0.1 --allow V6OK@::1 \
  --timeout 3 --idle-timeout 6
check "echoscu -> sendit listen" echoscu -aet ECHOSCU -aec SENDIT 127.0.0.1 "$LPORT"
check "sendit echo -> sendit listen (IPv6 ::1)" "$SENDIT_BIN" echo --aec SENDIT ::1 "$LPORT"
check "storescu of 20 CT files -> sendit listen" \
  storescu -aet STORESCU -aec SENDIT 127.0.0.1 "$LPORT" "$tmp/src/ACC20"/*.dcm
sleep 0.3
check "the study folder is finished under its AccessionNumber" test -d "$LDIR/ACC20"
check_eq "20 instances arrived" 20 "$(find "$LDIR/ACC20" -name '*.dcm' | wc -l)"
check_eq "no unfinished folder or partial file is left" "" \
  "$(find "$LDIR" -name '*.tmp*' -o -name '*.part' | head -3)"
bad=0
for f in "$tmp/src/ACC20"/*.dcm; do
  got="$LDIR/ACC20/$(uid_of "$f").dcm"
  same "$f" "$got" --by-creator || bad=$((bad + 1))
done
check_eq "every received data set equals the one sent (pydicom and dcmdump)" 0 "$bad"
f1=$(ls "$LDIR/ACC20"/*.dcm | head -1)
check_eq "SourceApplicationEntityTitle is the calling AE" STORESCU "$(meta_of "$f1" SourceApplicationEntityTitle)"
check_eq "ImplementationClassUID is sendit's" "2.25.96850900667051738280301880318622326036.1" \
  "$(meta_of "$f1" ImplementationClassUID)"

# Fixtures one by one (their own studies); storescu may convert their syntax: compared ignoring it.
for f in "${fixtures[@]}"; do
  name=$(basename "$f" .dcm)
  [ "$name" = encapsulated ] && continue # storescu proposes no compressed syntax by default
  before=$(find "$LDIR" -name '*.dcm' | wc -l)
  if storescu -aet STORESCU -aec SENDIT 127.0.0.1 "$LPORT" "$f" >"$tmp/storescu.log" 2>&1; then
    sleep 0.2
    got=$(received_in "$LDIR" "$(uid_of "$f")")
    if [ -n "$got" ] && same "$f" "$got" --ignore-ts --no-length-form --by-creator; then
      ok "storescu $name -> sendit listen: same data set"
    else
      not_ok "storescu $name -> sendit listen: same data set ($got)"
    fi
  else
    not_ok "storescu $name -> sendit listen"; cat "$tmp/storescu.log"
  fi
done

# ---- 2. rejections by the listener ----
echoscu -aet ECHOSCU -aec WRONG 127.0.0.1 "$LPORT" >"$tmp/rj1.log" 2>&1
check "echoscu with an unknown called AE is rejected" grep -qi "Called AE Title Not Recognized" "$tmp/rj1.log"
echoscu -aet INTRUDER -aec SENDIT 127.0.0.1 "$LPORT" >"$tmp/rj2.log" 2>&1
check "echoscu with a calling AE not allowed is rejected" grep -qi "Calling AE Title Not Recognized" "$tmp/rj2.log"
out=$("$SENDIT_BIN" echo --aet INTRUDER --aec SENDIT 127.0.0.1 "$LPORT" 2>&1)
check "sendit echo says why it was rejected (exit 1)" \
  bash -c '[[ "$1" == *"calling AE title not recognized"* ]]' _ "$out"
# AE@address entries on a dual-stack listener (IPv4 peers appear as ::ffff:a.b.c.d there).
outcome_from() { timeout 30 $py "$peer_py" "$1" "$LPORT" outcome SENDIT "$2" 2>&1 | head -1 | sed 's/ after .*//'; }
check_eq "--allow V4OK@127.0.0.1: accepted from 127.0.0.1 (a mapped address on a dual-stack socket)" \
  "outcome: accept" "$(outcome_from 127.0.0.1 V4OK)"
check_eq "--allow V6OK@::1: accepted from ::1" "outcome: accept" "$(outcome_from ::1 V6OK)"
check_eq "--allow V6OK@::1: rejected from 127.0.0.1 (result 1, source 1, reason 3)" \
  "outcome: reject 1 1 3" "$(outcome_from 127.0.0.1 V6OK)"
check_eq "--allow V4OK@127.0.0.1: rejected from ::1" "outcome: reject 1 1 3" "$(outcome_from ::1 V4OK)"
"$SENDIT_BIN" listen --allow 'CT1@pacs.example' "$tmp" >/dev/null 2>"$tmp/allow.err"
check_eq "--allow with a host name instead of an address: a usage error (exit 2)" 2 $?
# A SOP class that is not a storage class: no presentation context is accepted.
cp "$tmp/src/ACC20/IMG00001.dcm" "$tmp/notstorage.dcm"
$py - "$tmp/notstorage.dcm" <<'PY'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.9.9.9"
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.999"
ds.save_as(sys.argv[1])
PY
"$SENDIT_BIN" send --aec SENDIT 127.0.0.1 "$LPORT" "$tmp/notstorage.dcm" >"$tmp/nopc.log" 2>&1
rc=$?
check_eq "no acceptable presentation context: sendit send exits 1" 1 "$rc"
check "... and says so for the file" grep -q "accepted SOP class .* in no transfer syntax" "$tmp/nopc.log"
storescu -aet STORESCU -aec SENDIT 127.0.0.1 "$LPORT" "$tmp/notstorage.dcm" >"$tmp/nopc2.log" 2>&1
check "no acceptable presentation context: storescu fails too" test $? -ne 0
check_eq "nothing of it was stored" "" "$(received_in "$LDIR" 1.2.3.999)"

# ---- 3. sendit send -> storescp, and -> sendit listen ----
start_storescp "$tmp/scp_all" +xa
check "sendit send of 20 CT files and the fixtures -> storescp +xa" \
  "$SENDIT_BIN" send -q --aec ANY 127.0.0.1 "$SPORT" "$tmp/src/ACC20" "${fixtures[@]}"
bad=0
for f in "$tmp/src/ACC20"/*.dcm "${fixtures[@]}"; do
  got=$(received_in "$tmp/scp_all" "$(uid_of "$f")")
  [ -n "$got" ] && same "$f" "$got" --ignore-ts --no-length-form --by-creator || bad=$((bad + 1))
done
check_eq "storescp received every data set as sent" 0 "$bad"
# The progress bar: on stderr when it is a terminal (script(1) gives the command one), never otherwise.
"$SENDIT_BIN" send --aec ANY 127.0.0.1 "$SPORT" "$tmp/src/ACC20" >"$tmp/bar.out" 2>"$tmp/bar.err"
check "sendit send, stderr not a terminal: no progress bar" bash -c "! grep -q 'files/s' '$tmp/bar.err' && ! grep -q \$'\r' '$tmp/bar.err' '$tmp/bar.out'"
if command -v script >/dev/null; then
  tty_send() { script -qec "'$SENDIT_BIN' send $* --aec ANY 127.0.0.1 $SPORT '$tmp/src/ACC20'" /dev/null 2>&1; }
  check "sendit send on a terminal draws a progress bar to the end" bash -c '[[ "$1" == *"] 20/20 files, "*" files/s"* ]]' _ "$(tty_send)"
  check "... not with --no-progress" bash -c '[[ "$1" != *"files/s"* ]]' _ "$(tty_send --no-progress)"
  check "... not with --quiet" bash -c '[[ "$1" != *"files/s"* ]]' _ "$(tty_send -q)"
fi
start_storescp "$tmp/scp_smallpdu" +xa --max-pdu 4096
check "sendit send -> storescp with a 4096-byte max PDU (128 KiB data sets cut to it)" \
  "$SENDIT_BIN" send -q --aec ANY 127.0.0.1 "$SPORT" "$tmp/src/ACC20/IMG00003.dcm" "$tmp/src/ACC20/IMG00004.dcm"
got=$(received_in "$tmp/scp_smallpdu" "$(uid_of "$tmp/src/ACC20/IMG00003.dcm")")
check "... arrives whole" same "$tmp/src/ACC20/IMG00003.dcm" "$got"
start_storescp "$tmp/scp_implicit" +xi
check "sendit send -> storescp that takes only Implicit VR LE (converted)" \
  "$SENDIT_BIN" send -q --aec ANY 127.0.0.1 "$SPORT" "$tmp/src/ACC20/IMG00001.dcm" "$tmp/fix/explicit_be.dcm"
got=$(received_in "$tmp/scp_implicit" "$(uid_of "$tmp/src/ACC20/IMG00001.dcm")")
check "... stored as Implicit VR LE" test "$(meta_of "$got" TransferSyntaxUID)" = 1.2.840.10008.1.2
check "... with the same data set" same "$tmp/src/ACC20/IMG00001.dcm" "$got" --ignore-ts --no-length-form
if [ -f "$tmp/fix/encapsulated.dcm" ]; then
  "$SENDIT_BIN" send --aec ANY 127.0.0.1 "$SPORT" "$tmp/fix/encapsulated.dcm" "$tmp/src/ACC20/IMG00002.dcm" \
    >"$tmp/refused.log" 2>&1
  rc=$?
  check_eq "a compressed file the peer refuses: exit 1" 1 "$rc"
  check "... with a clear per-file error" grep -q "refused the file's compressed transfer syntax" "$tmp/refused.log"
  check "... and the other file is still stored" grep -q "stored .*IMG00002.dcm: 0x0000" "$tmp/refused.log"
  # sendit -> sendit keeps the compressed syntax and the bytes. storescu's copies of these fixtures are taken
  # away first (as the watcher would import them), so the new folders finish under the same names.
  rm -rf "$LDIR"/FIX*
  "$SENDIT_BIN" send --aet SENDIT --aec SENDIT 127.0.0.1 "$LPORT" "$tmp/fix/encapsulated.dcm" "$tmp/fix/deflated.dcm" \
    >"$tmp/s2s.log" 2>&1
  check "sendit send -> sendit listen (encapsulated, deflated)" test $? -eq 0
  for i in $(seq 50); do
    [ -z "$(find "$LDIR" -maxdepth 1 -name 'FIX*.tmp*')" ] && break
    sleep 0.1
  done
  for f in "$tmp/fix/encapsulated.dcm" "$tmp/fix/deflated.dcm"; do
    got=$(received_in "$LDIR" "$(uid_of "$f")")
    check "sendit -> sendit: $(basename "$f") is in a finished folder" \
      bash -c '[[ "$1" == */FIX[0-9]/*.dcm ]]' _ "$got"
    check "sendit -> sendit: $(basename "$f") arrives in its own syntax, same data set" \
      same "$f" "$got"
  done
fi
"$SENDIT_BIN" send --aec ANY 127.0.0.1 "$(free_port)" "$tmp/src/ACC20/IMG00001.dcm" >"$tmp/down.log" 2>&1
check_eq "sendit send to a port nobody listens on: exit 1" 1 $?
check "... saying it cannot connect" grep -q "cannot connect" "$tmp/down.log"

# ---- 4. hostile peers ----
for c in truncated-rq stall-mid-pdu stall-mid-header silent pdata-before-rq release-before-rq unknown-pdu \
  huge-rq garbage-rq many-contexts bad-version second-rq pdata-too-long bad-pdv data-before-command \
  bad-command stall-mid-dataset store-then-abort store-then-vanish; do
  check "hostile peer: $c" timeout 30 $py "$peer_py" 127.0.0.1 "$LPORT" "$c"
done
sleep 0.5
check "the listener lives on after the hostile peers" "$SENDIT_BIN" echo --aec SENDIT 127.0.0.1 "$LPORT"
check "an aborted association keeps its acknowledged instance, finished" test -f "$LDIR/HOSTILE1/1.2.3.4.5.8.dcm"
check_eq "instances never completed are nowhere" "" \
  "$(find "$LDIR" -name '1.2.3.4.5.7.dcm' -o -name '1.2.3.4.5.9.dcm' -o -name '*.part' -o -name '*.tmp*')"

# ---- 5. the cap on concurrent associations ----
main_pid=$LPID main_port=$LPORT main_dir=$LDIR
start_listen capped --aet SENDIT --max-associations 1 --timeout 3
$py "$peer_py" 127.0.0.1 "$LPORT" hold >"$tmp/hold.out" 2>&1 &
hold=$!
for i in $(seq 50); do grep -q holding "$tmp/hold.out" && break; sleep 0.1; done
echoscu -aec SENDIT 127.0.0.1 "$LPORT" >"$tmp/cap.log" 2>&1
check "beyond --max-associations: rejected, transient, local limit exceeded" \
  grep -qi "Local Limit Exceeded" "$tmp/cap.log"
wait "$hold"
check_eq "the association held meanwhile is released normally" 0 $?
check "once it ended, a new association is accepted" "$SENDIT_BIN" echo --aec SENDIT 127.0.0.1 "$LPORT"
LPID=$main_pid LPORT=$main_port LDIR=$main_dir

# ---- 6. a signal stops the listener cleanly ----
# A connection that has said nothing yet (ARTIM is 3 s here) does not hold the stop back.
$py "$peer_py" 127.0.0.1 "$LPORT" silent >/dev/null 2>&1 &
silent=$!
sleep 0.3
t0=$(date +%s%N)
kill -TERM "$LPID"
wait "$LPID"
check_eq "sendit listen exits 0 on SIGTERM" 0 $?
t1=$(date +%s%N)
check "... within a second, a silent connection open" test $(((t1 - t0) / 1000000)) -lt 1000
wait "$silent"
check "its log names each association" grep -q "association .* released" "$tmp/recv.log"
finish
