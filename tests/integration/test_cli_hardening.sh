#!/usr/bin/env bash
# The CLI against a hostile or careless operator's day (issue 11, items 5 and
# 20): read-only commands on a site with no database create nothing and say
# so; a daemon whose SQLite file is deleted or replaced stops with a clear
# error; names from senders cannot drive the terminal; numeric options,
# SENDIT_* variables and relative paths in a config file are strict and
# documented.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP" && SENDIT_TMP="$(cd "$SENDIT_TMP" && pwd -P)"

# run ARGS...: runs sendit on the current site; sets OUT, ERR and RC.
run() {
  OUT="$(sendit "$@" 2>"$SITE/.stderr")"
  RC=$?
  ERR="$(cat "$SITE/.stderr")"
  if grep -qE "Sanitizer|runtime error:" <<<"$ERR"; then not_ok "sendit $*: sanitizer report"; fi
}
has() { grep -qF -- "$1" <<<"$2"; }
# no_controls TEXT: no C0 control but newline and tab, no DEL, no C1 (as UTF-8 or raw).
no_controls() { ! LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]|\x9b' <<<"$1"; }
pg_has_schema() { [ "$(sql "SELECT count(*) FROM pg_tables WHERE tablename = 'schema_version'")" != 0 ]; }
# The daemon removes its pidfile on the way out (a foreground one stays a
# zombie until waited for, so kill -0 cannot tell).
daemon_gone() { [ ! -f "$SITE/sendit.pid" ]; }
process_gone() { ! kill -0 "$1" 2>/dev/null; }
# A child of ours that exited (a zombie until waited for) or is gone.
exited() {
  local st
  st="$(ps -o stat= -p "$1" 2>/dev/null)"
  [ -z "$st" ] || [[ $st == Z* ]]
}
log_has() { grep -qF -- "$1" "$SITE/logs/watcher.log"; }

# --- item 5 (b): read-only commands on a site without a database -------------
new_site
readonly_cmds=(
  "status:0" "status --json:0" "batches:0" "batches --json:0" "batch show NOPE:1"
  "batch_logs NOPE:1" "export_metrics:0" "export_metrics --format json:0" "summary_metrics:0"
  "quarantine list:0" "quarantine list --all --json:0" "config:0"
)
for entry in "${readonly_cmds[@]}"; do
  args="${entry%:*}" want="${entry##*:}"
  # shellcheck disable=SC2086 # the words of the command on purpose
  run $args
  check_eq "'$args' on a new site exits $want" "$want" "$RC"
  if [ "$args" != config ]; then
    check "'$args' says that nothing is there" has "nothing imported" "$ERR"
  fi
done
run status --json
check_eq "status --json says database_exists false" "False" \
  "$(/usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["database_exists"])' <<<"$OUT")"
run batches --json
check_eq "batches --json on a new site is an empty array" "[]" "$OUT"
left="$(cd "$SITE" && find . -mindepth 1 -not -name .stderr -not -name sendit.ini -not -path ./data | sort | tr '\n' ' ')"
check_eq "read-only commands created no file or folder" "" "$left"
if is_pg; then
  check "read-only commands did not create the PostgreSQL schema" eval '! pg_has_schema'
fi
# A writing command creates it; the readers then see it (and no note).
run import_dicomdir "$SITE/data"
run batches
check_eq "batches on an existing database exits 0" 0 "$RC"
check "batches on an existing database has no note" eval '! has "nothing imported" "$ERR"'
stop_site

# --- item 5 (a): the daemon's SQLite file deleted or replaced while it runs ---
if is_pg; then
  ok "deleting the database file: SQLite only (skipped on PostgreSQL)"
else
  new_site
  "$SENDIT_BIN" start_watcher --foreground --config "$SITE/sendit.ini" 2>"$SITE/fg.log" &
  fg_pid=$!
  wait_for 10 test -f "$SITE/sendit.pid"
  $MKDICOM "$SITE/data/A1.tmp1" 3 >/dev/null && mv "$SITE/data/A1.tmp1" "$SITE/data/A1"
  check "a first batch is imported" wait_for 20 batch_is A1 DONE
  rm "$SITE/sendit.db"
  check "the daemon stops within 3 s of its database file being deleted" wait_for 3 exited "$fg_pid"
  check "and removed its pidfile" daemon_gone
  exited "$fg_pid" || kill -9 "$fg_pid" # so that a daemon that missed it fails the test, not hangs it
  wait "$fg_pid"
  check_eq "the foreground daemon exits 1" 1 $?
  check "its log says the database file was deleted" grep -q "database file was deleted or renamed while in use" "$SITE/fg.log"
  run status
  check "status afterwards says that there is no database" has "no SQLite database" "$ERR"
  check "status afterwards did not create a database" test ! -e "$SITE/sendit.db"

  # Replaced: another file moved to the path (a restore gone wrong).
  sendit start_watcher >/dev/null
  wait_for 10 test -f "$SITE/sendit.pid"
  pid="$(cat "$SITE/sendit.pid")"
  cp "$SITE/sendit.db" "$SITE/other.db" && mv "$SITE/other.db" "$SITE/sendit.db"
  check "the detached daemon stops when its file is replaced" wait_for 3 process_gone "$pid"
  check "its log says the file was replaced" log_has "database file was replaced by another file"
  process_gone "$pid" || kill -9 "$pid"
  rm -f "$SITE/sendit.pid"

  # sendit worker too.
  "$SENDIT_BIN" worker --config "$SITE/sendit.ini" 2>"$SITE/worker.log" &
  w_pid=$!
  sleep 0.5
  rm "$SITE/sendit.db"
  check "sendit worker stops within 3 s of its database file being deleted" wait_for 3 exited "$w_pid"
  exited "$w_pid" || kill -9 "$w_pid"
  wait "$w_pid"
  check_eq "sendit worker exits 1" 1 $?
  check "the worker says why" grep -q "database file was deleted or renamed" "$SITE/worker.log"
  stop_site
fi

# --- item 20: names from senders are escaped on the terminal -----------------
new_site
evil=$'EVIL\e[31mRED\e]0;title\a\xc2\x9b2J'
mkdir -p "$SITE/stage"
$MKDICOM "$SITE/stage/$evil" 2 >/dev/null
printf 'not dicom' >"$SITE/stage/$evil/"$'bad\e[2J\nFORGED.dcm'
run import_dicomdir "$SITE/stage/$evil"
uid="$(sql "SELECT uid FROM batch")"
check_eq "the batch uid is stored exactly" "$evil" "$uid"
for args in "batches" "quarantine list" "quarantine list --all" "export_metrics"; do
  # shellcheck disable=SC2086
  run $args
  check "'$args' prints no control character" no_controls "$OUT"
  check "'$args' shows the name escaped" has "EVIL?[31mRED?]0;title???2J" "$OUT"
done
run batch show "$evil"
check_eq "batch show EVIL exits 0" 0 "$RC"
check "batch show prints no control character" no_controls "$OUT"
check "batch show escapes the uid" has "batch        EVIL?[31mRED?]0;title???2J" "$OUT"
check "batch show escapes the quarantined file's name (newline too)" has "bad?[2J FORGED.dcm" "$OUT"
run batch_logs "$evil"
check "batch_logs prints no control character" no_controls "$OUT"
check "batch_logs escapes the file name" has "bad?[2J FORGED.dcm" "$OUT"
check_eq "batch_logs prints one line per log row (a newline cannot forge one)" \
  "$(($(sql "SELECT count(*) FROM batch_log") + 1))" "$(wc -l <<<"$OUT")"
run batch show "NO"$'\e[2J'
check_eq "batch show of an unknown uid exits 1" 1 "$RC"
check "the not-found message escapes the uid" no_controls "$ERR"
run batches --json
check "JSON keeps the exact uid (escaped by JSON itself)" has 'EVIL\u001B[31mRED' "$OUT"

# --- item 20: numeric options are usage errors when not a number in range -----
for args in "stop_watcher --timeout abc" "stop_watcher --timeout -5" "stop_watcher --timeout 0" \
  "stop_watcher --timeout 99999999999999999999" "stop_watcher --timeout 86401" \
  "stop_watcher --timeout 1e3" "stop_watcher --timeout 0x10" "stop_watcher --timeout" \
  "stop_watcher --timeout=" "stop_watcher --timeout= 5" "batches --limit 99999999999999999999" \
  "batches --offset +3" "batches --limit ' 4'" "batch show X --offset 18446744073709551617" \
  "start_queue --number -1" "start_queue --number 99999999999999999999" "start_queue --number 2x" \
  "quarantine requeue 99999999999999999999"; do
  eval "run $args"
  check_eq "'$args' is a usage error (exit 2)" 2 "$RC"
done
run stop_watcher --timeout 5
check_eq "'stop_watcher --timeout 5' is fine (nothing running: exit 1)" 1 "$RC"
run stop_watcher --timeout=86400
check_eq "'stop_watcher --timeout=86400' is fine (nothing running: exit 1)" 1 "$RC"
run stop_watcher --timeout abc
check "the --timeout message says what was expected" has "--timeout needs a whole number from 1 to 86400, not 'abc'" "$ERR"

# --- item 20: unknown SENDIT_<SECTION>_<KEY> variables are errors --------------
OUT="$(SENDIT_QUEUE_WORKERZ=4 "$SENDIT_BIN" status --config "$SITE/sendit.ini" 2>&1)"
check_eq "an unknown SENDIT_QUEUE_ variable is an error (exit 2)" 2 $?
check "the error names the variable and the known keys" has "env SENDIT_QUEUE_WORKERZ: [queue] has no key \"WORKERZ\" (known: workers" "$OUT"
OUT="$(SENDIT_WEB_LISTN=x SENDIT_QUEUE_WORKERS=3 "$SENDIT_BIN" config --config "$SITE/sendit.ini" 2>&1)"
check_eq "SENDIT_WEB_LISTN is an error too" 2 $?
OUT="$(SENDIT_TEST_WHATEVER=1 SENDIT_PG_SOMETHING=1 SENDIT_NOTE=1 SENDIT_WORKERS=3 "$SENDIT_BIN" config --config "$SITE/sendit.ini" 2>&1)"
check_eq "names outside the config's sections are left alone" 0 $?
check "the alias SENDIT_WORKERS still works" has $'; source: env SENDIT_WORKERS\nworkers = 3' "$OUT"

# --- item 20: relative paths in a config file are relative to its folder -------
mkdir -p "$SITE/etc" "$SITE/elsewhere/deeper"
cat >"$SITE/etc/rel.ini" <<INI
[input]
folder = ../data
[storage]
folder = ../storage
work = ../data/.work
quarantine = ../quarantine
low_water_mb = 0
high_water_mb = 0
[daemon]
logs = ../logs
pidfile = ../sendit.pid
INI
if ! is_pg; then printf '[database]\nurl = ../rel.db\n' >>"$SITE/etc/rel.ini"; fi
OUT="$(cd "$SITE/elsewhere" && "$SENDIT_BIN" config --config ../etc/rel.ini 2>&1)"
check "config shows the input folder resolved against the file's folder" \
  has $'; written: ../data (relative to the config file\'s folder)\nfolder = '"$SITE/data" "$OUT"
check "config shows the pidfile resolved" has "pidfile = $SITE/sendit.pid" "$OUT"
if ! is_pg; then
  $MKDICOM "$SITE/data/REL1" 2 >/dev/null
  (cd "$SITE/elsewhere/deeper" && "$SENDIT_BIN" import_dicomdir "$SITE/data/REL1" --config ../../etc/rel.ini >/dev/null 2>&1)
  check "the database lands beside the config file's folder, not in the current one" test -f "$SITE/rel.db"
  check_eq "nothing was created around the current folder" "deeper" "$(ls -A "$SITE/elsewhere")"
fi
OUT="$(cd "$SITE/elsewhere" && SENDIT_STORAGE_QUARANTINE=q "$SENDIT_BIN" config --config ../etc/rel.ini 2>&1)"
check "a relative path from the environment is relative to the current folder" \
  has $'; written: q (relative to the current folder)\nquarantine = '"$SITE/elsewhere/q" "$OUT"

finish
