#!/usr/bin/env bash
# The cleanup stage (issue 16) through `sendit cleanup`: the daemon imports
# and de-identifies batches (stages import,deid; a chain with cleanup needs
# send, which is not built on this branch), then the send stage's ledger is
# written by hand (image_destination rows sent, pending or failed; a send
# job still queued) and `sendit cleanup --dry-run` / `sendit cleanup` must
# remove exactly the confirmed batches' originals and de-identified copies:
# the others stay byte-identical, a symlink planted in storage (for a file,
# for a batch's folder) is neither followed nor removed, keep_errors and the
# keep days hold, the low water takes the oldest confirmed data inside its
# keep days, a pass a crash interrupted is finished, a second run removes
# nothing, and `sendit batch show` carries the record.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP"
PY=/usr/bin/python3
py() { $PY -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
now_ms() { date +%s%3N; }
bid() { sql "SELECT id FROM batch WHERE uid = '$1'"; }
originals_of() { sql "SELECT i.storage_path FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' ORDER BY i.id"; }
copies_of() { sql "SELECT x.output_path FROM image_deid x JOIN batch b ON b.id = x.batch_id WHERE b.uid = '$1' AND x.state = 'done' ORDER BY x.image_id"; }
files_of() { originals_of "$1"; copies_of "$1"; }
# sums BATCH...: sha256 of every original and copy of the batches (a file gone prints "gone PATH").
sums() {
  local b f
  for b in "$@"; do
    for f in $(files_of "$b"); do
      if [ -f "$f" ]; then sha256sum "$f"; else echo "gone $f"; fi
    done
  done
}
none_left() { gone_list $(files_of "$1"); }
gone_list() { local f; for f in "$@"; do [ ! -e "$f" ] && [ ! -L "$f" ] || return 1; done; }
there_list() { local f; for f in "$@"; do [ -f "$f" ] || return 1; done; }
all_there() { local f; for f in $(files_of "$1"); do [ -f "$f" ] || return 1; done; }
# ledger BATCH STATE [DEST] [AT_MS]: every image of BATCH gets a row to DEST in STATE.
ledger() {
  sql "INSERT INTO image_destination (image_id, destination, state, updated_at) SELECT id, '${3:-A}', '$2', ${4:-$(now_ms)} FROM image WHERE batch_id = $(bid "$1")"
}
log_has() {
  sql "SELECT l.message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = '$1'" | grep -qF -- "$2"
}
records() { sql "SELECT c.what || ':' || c.files || ':' || c.reason || ':' || CASE WHEN c.removed_at IS NULL THEN 0 ELSE 1 END FROM batch_cleanup c JOIN batch b ON b.id = c.batch_id WHERE b.uid = '$1' ORDER BY c.what, c.id" | paste -sd' '; }

# --- the chain --------------------------------------------------------------
new_site
out=$(SENDIT_PIPELINE_STAGES=import,cleanup sendit config 2>&1)
check "cleanup without send before it is refused" grep -qF '"cleanup" needs "send" before it' <<<"$out"
out=$(SENDIT_PIPELINE_STAGES=import,test,cleanup SENDIT_TEST_STAGES=1 sendit config 2>&1)
check "so is import,test,cleanup" grep -qF '"cleanup" needs "send" before it' <<<"$out"
out=$(SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS=-1 sendit config 2>&1)
check "a negative keep_originals_days is refused, named" grep -qF "keep_originals_days" <<<"$out"
check "sendit config shows the [cleanup] keys" grep -qE '^keep_errors = true' <<<"$(sendit config 2>&1)"

# --- import and de-identify ---------------------------------------------------
DEID="$SITE/deid"
PORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
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
export SENDIT_QUEUE_POLL_SECONDS=1
BATCHES="CONF PEND FAILD NOROWS ERRB SENDQ LINKF LINKD OLD DAYS RES"
mkdir -p "$SITE/stage"
n=0
for b in $BATCHES; do
  n=$((n + 1))
  $MKDICOM "$SITE/stage/$b" 3 --patient "P$n" --sop-prefix "1.2.826.0.1.3680043.10.77$n" >/dev/null
done
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
for b in $BATCHES; do mv "$SITE/stage/$b" "$SITE/data/$b"; done
for b in $BATCHES; do
  wait_for 60 batch_is "$b" DONE || not_ok "$b did not reach DONE ($(batch_status "$b"))"
done
sendit stop_watcher --timeout 30 >/dev/null
check_eq "every batch has 3 de-identified copies" "33" \
  "$(sql "SELECT count(*) FROM image_deid WHERE state = 'done' AND output_path IS NOT NULL")"

# --- the ledger ---------------------------------------------------------------
DAY=$((86400 * 1000))
for b in CONF ERRB SENDQ LINKF LINKD DAYS RES; do ledger "$b" sent A; ledger "$b" sent B; done
ledger OLD sent A $(($(now_ms) - 2 * DAY))
ledger PEND sent A
ledger PEND sent B
sql "UPDATE image_destination SET state = 'pending' WHERE destination = 'B' AND image_id = (SELECT MIN(id) FROM image WHERE batch_id = $(bid PEND))"
ledger FAILD sent A
sql "UPDATE image_destination SET state = 'failed', answer = 'refused by the peer' WHERE image_id = (SELECT MAX(id) FROM image WHERE batch_id = $(bid FAILD))"
sql "UPDATE batch SET has_error = 1 WHERE uid = 'ERRB'"
NOW=$(now_ms)
sql "INSERT INTO job (kind, folder, path, excl_key, state, created_at, updated_at) VALUES ('send', 'SENDQ', '', 'B', 'queued', $NOW, $NOW)"
# A file of LINKF becomes a symlink to a file outside storage; LINKD's whole
# folder becomes a symlink to a folder outside.
OUTSIDE="$SITE/outside"
mkdir -p "$OUTSIDE"
victim=$(originals_of LINKF | head -1)
cp "$victim" "$OUTSIDE/victim.dcm"
rm "$victim"
ln -s "$OUTSIDE/victim.dcm" "$victim"
linkd_dir=$(dirname "$(originals_of LINKD | head -1)")
mv "$linkd_dir" "$OUTSIDE/LINKD"
ln -s "$OUTSIDE/LINKD" "$linkd_dir"
outside_before=$(cd "$OUTSIDE" && find . -type f -exec sha256sum {} + | sort)
KEPT="PEND FAILD NOROWS ERRB SENDQ"
kept_before=$(sums $KEPT)
everything_before=$(sums $BATCHES)

check_eq "before the cleanup CONF's images are DONEPROCESSING (de-identified)" "3" \
  "$(sql "SELECT count(*) FROM image WHERE batch_id = $(bid CONF) AND status = 'DONEPROCESSING'")"

# --- a dry run ----------------------------------------------------------------
export SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS=1
dry=$(sendit cleanup --dry-run --json)
check_eq "cleanup --dry-run --json exits 0" 0 "$?"
listed=$(py "$dry" '" ".join(sorted(i["batch"] + ":" + i["what"] + ":" + i["reason"] for i in j["items"]))')
expect="CONF:deid:policy DAYS:deid:policy LINKD:deid:policy LINKF:deid:policy OLD:deid:policy OLD:originals:policy RES:deid:policy"
check_eq "it lists the confirmed batches' due kinds only" "$expect" "$listed"
check_eq "with their files and bytes" "3:1" \
  "$(py "$dry" '[str(i["files"]) + ":" + str(int(i["bytes"] > 0)) for i in j["items"] if i["batch"] == "OLD" and i["what"] == "originals"][0]')"
check_eq "and removes nothing" "$everything_before" "$(sums $BATCHES)"
text=$(sendit cleanup --dry-run)
check "the table names batch, what and why" grep -qE '^OLD +originals +3 .* policy' <<<"$text"
check "and says it would remove" grep -qF "would remove" <<<"$text"

# --- keep days: originals kept 1 day, copies not ------------------------------
run=$(sendit cleanup --json)
check_eq "cleanup exits 0" 0 "$?"
check "OLD (confirmed 2 days ago) lost its originals" none_left OLD
check "CONF's copies went" gone_list $(copies_of CONF)
check "its originals stay a day" there_list $(originals_of CONF)
check_eq "CONF's record: its copies, by policy" "deid:3:policy:1" "$(records CONF)"
check "CONF's log says what went" log_has CONF "cleanup: removed the de-identified copies: 3 files"
unset SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS

# --- policy 0 days: everything confirmed goes ---------------------------------
run=$(sendit cleanup --json)
check_eq "a second cleanup exits 0" 0 "$?"
for b in CONF DAYS RES OLD; do check "$b: nothing of it is left" none_left "$b"; done
check "CONF's storage folder is pruned" [ ! -e "$SITE/storage/CONF" ]
check "the storage root stays" [ -d "$SITE/storage" ]
check_eq "the unconfirmed batches are byte-identical" "$kept_before" "$(sums $KEPT)"
check_eq "CONF's record" "deid:3:policy:1 originals:3:policy:1" "$(records CONF)"
check_eq "CONF's images are DONE and keep their rows" "3" \
  "$(sql "SELECT count(*) FROM image WHERE batch_id = $(bid CONF) AND status = 'DONE'")"
check "ERRB is kept for its errors (keep_errors)" all_there ERRB
check_eq "ERRB has no record" "" "$(records ERRB)"

# --- symlinks ---------------------------------------------------------------
check_eq "nothing outside storage changed" "$outside_before" "$(cd "$OUTSIDE" && find . -type f -exec sha256sum {} + | sort)"
check "LINKF's symlink is left, not followed" [ -L "$victim" ]
check "LINKF's other originals went" gone_list $(originals_of LINKF | tail -n +2)
check "LINKF's log names the symlink" log_has LINKF "a symlink: not followed, not removed"
check "batch show lists it among the warnings" grep -qF "a symlink: not followed" <<<"$(sendit batch show LINKF)"
check "LINKD's folder symlink is left" [ -L "$linkd_dir" ]
check "the files behind it are all there" [ "$(find "$OUTSIDE/LINKD" -type f | wc -l)" -eq 3 ]
check "LINKD's log says the folder was not followed" log_has LINKD "a symlink or not a folder: not followed"

# --- idempotent -------------------------------------------------------------
rows_before=$(sql "SELECT count(*) FROM batch_cleanup")
again=$(sendit cleanup)
check "a third run has nothing to remove" grep -qF "nothing to remove" <<<"$again"
check_eq "and records nothing" "$rows_before" "$(sql "SELECT count(*) FROM batch_cleanup")"

# --- an interrupted pass ------------------------------------------------------
# A batch confirmed now whose pass planned 3 files and removed one before a crash.
$MKDICOM "$SITE/stage/CRASH" 3 --patient P99 --sop-prefix 1.2.826.0.1.3680043.10.7799 >/dev/null
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
mv "$SITE/stage/CRASH" "$SITE/data/CRASH"
wait_for 60 batch_is CRASH DONE || not_ok "CRASH did not reach DONE"
sendit stop_watcher --timeout 30 >/dev/null
ledger CRASH sent A
sql "INSERT INTO batch_cleanup (batch_id, what, path, files, bytes, planned_at, reason) VALUES ($(bid CRASH), 'originals', '$SITE/storage/CRASH', 3, 999, $(now_ms), 'policy')"
rm "$(originals_of CRASH | head -1)"
sendit cleanup >/dev/null
check "the interrupted pass is finished" none_left CRASH
check_eq "its record keeps the plan's count, and the copies got theirs" "deid:3:policy:1 originals:3:policy:1" "$(records CRASH)"
check "its log says it finished an interrupted pass" log_has CRASH "finishing an interrupted pass"

# --- keep_errors = false -------------------------------------------------------
kept_before=$(sums PEND FAILD NOROWS SENDQ)
SENDIT_CLEANUP_KEEP_ERRORS=false sendit cleanup >/dev/null
check "keep_errors = false: ERRB goes" none_left ERRB
check_eq "the rest are still byte-identical" "$kept_before" "$(sums PEND FAILD NOROWS SENDQ)"

# --- the low water: inside the keep days, confirmed only -----------------------
$MKDICOM "$SITE/stage/LOW" 3 --patient P98 --sop-prefix 1.2.826.0.1.3680043.10.7798 >/dev/null
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
mv "$SITE/stage/LOW" "$SITE/data/LOW"
wait_for 60 batch_is LOW DONE || not_ok "LOW did not reach DONE"
sendit stop_watcher --timeout 30 >/dev/null
ledger LOW sent A
export SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS=30 SENDIT_CLEANUP_KEEP_DEID_DAYS=30
check "inside its keep days LOW is not due" grep -qF "nothing to remove" <<<"$(sendit cleanup --dry-run)"
huge=$((1024 * 1024 * 1024)) # 1 PiB in MB: always below
low=$(SENDIT_STORAGE_LOW_WATER_MB=$huge SENDIT_STORAGE_HIGH_WATER_MB=$huge sendit cleanup --json)
check_eq "below the low water LOW goes, oldest first" "LOW:deid:low-water LOW:originals:low-water" \
  "$(py "$low" '" ".join(sorted(i["batch"] + ":" + i["what"] + ":" + i["reason"] for i in j["items"]))')"
check "nothing of LOW is left" none_left LOW
check_eq "the unconfirmed batches are still byte-identical" "$kept_before" "$(sums PEND FAILD NOROWS SENDQ)"
check "LOW's log says why" log_has LOW "(low-water)"
unset SENDIT_CLEANUP_KEEP_ORIGINALS_DAYS SENDIT_CLEANUP_KEEP_DEID_DAYS

# --- confirmation comes later ---------------------------------------------------
sql "UPDATE image_destination SET state = 'sent' WHERE image_id IN (SELECT id FROM image WHERE batch_id = $(bid PEND))"
sendit cleanup >/dev/null
check "PEND, once every row is sent, goes" none_left PEND
check "FAILD (a failed row) stays" all_there FAILD
check "NOROWS (no destination) stays" all_there NOROWS
check "SENDQ (a send job queued) stays" all_there SENDQ

# --- operator views -------------------------------------------------------------
show=$(sendit batch show CONF --json)
check_eq "batch show --json carries the cleanup record" "deid:3 originals:3" \
  "$(py "$show" '" ".join(sorted(r["what"] + ":" + str(r["files"]) for r in j["batch"]["cleanup"]))')"
check_eq "with its path and times" "True" \
  "$(py "$show" 'all(r["path"] and r["removed"] and r["reason"] == "policy" for r in j["batch"]["cleanup"])')"
text=$(sendit batch show CONF)
check "batch show's text has a cleanup table" grep -qE '^  originals +3 ' <<<"$text"
check_eq "an unconfirmed batch's record is empty" "[]" "$(py "$(sendit batch show FAILD --json)" 'json.dumps(j["batch"]["cleanup"])')"
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT/api/status" || not_ok "the web did not answer"
api=$(curl -s "http://127.0.0.1:$PORT/api/batches/CONF")
check_eq "GET /api/batches/{uid} has the same cleanup member" \
  "$(py "$show" 'json.dumps(j["batch"]["cleanup"], sort_keys=True)')" "$(py "$api" 'json.dumps(j["cleanup"], sort_keys=True)')"
page=$(curl -s "http://127.0.0.1:$PORT/batches/CONF")
check "the batch page has a Cleanup section" grep -q '<section id="cleanup"><h2>Cleanup</h2>' <<<"$page"
check_eq "with a row per record, as batch show" 2 "$(grep -o '<tr class="cleanup">' <<<"$page" | wc -l)"
check "naming the originals' folder" grep -qF "$SITE/storage/CONF" <<<"$page"
check "an unconfirmed batch's page has none" bash -c "! curl -s 'http://127.0.0.1:$PORT/batches/FAILD' | grep -q 'id=\"cleanup\"'"
sendit stop_watcher --timeout 30 >/dev/null

finish
