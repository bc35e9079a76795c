#!/usr/bin/env bash
# The daemon as a table of services: they start in order and stop in
# reverse, each named in the log; the heartbeat is a service of its own, so
# a dashboard that cannot bind still leaves the daemon registered in the
# worker table; a required service that fails stops the ones started;
# SIGHUP reopens the daemon's log (it stops only a daemon in the foreground
# of a terminal) and stops `sendit worker` as SIGTERM does.
source "$(dirname "$0")/lib.sh"
trap 'kill "$HOLDER" 2>/dev/null; stop_site' EXIT
HOLDER=
log_has() { grep -qF -- "$1" "$SITE/logs/watcher.log"; }
pid_of() { cat "$SITE/sendit.pid" 2>/dev/null; }

# --- the dashboard's port is taken: the daemon runs and is registered -----------
new_site
PORT=$(free_port)
cat >>"$SITE/sendit.ini" <<INI
[web]
listen = 127.0.0.1:$PORT
INI
/usr/bin/python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1)
print("ready", flush=True); time.sleep(600)' "$PORT" >"$SITE/holder.out" &
HOLDER=$!
wait_for 10 grep -q ready "$SITE/holder.out"
sendit start_watcher >/dev/null
check_eq "the daemon starts with the dashboard's port taken" 0 $?
PID=$(pid_of)
check "the log says the web service did not start" log_has "service web not started"
check "and the daemon runs without it" log_has "watcher started (pid $PID)"
check "the daemon is registered in the worker table" \
  wait_for 10 sql_is 1 "SELECT count(*) FROM worker WHERE pid = $PID"
live_pids() { "$SENDIT_BIN" status --json --config "$SITE/sendit.ini" |
  /usr/bin/python3 -c 'import json, sys; print(" ".join(str(w["pid"]) for w in json.load(sys.stdin)["workers"]))'; }
check_eq "sendit status lists it among the live workers" "$PID" "$(live_pids)"
order=$(grep -o 'service [a-z]* started' "$SITE/logs/watcher.log" | awk '{print $2}' | tr '\n' ' ')
check_eq "the services start in table order" "database pidfile workers watcher heartbeat watchdog " "$order"
sendit stop_watcher >/dev/null
# stop_watcher returns once the pidfile's lock is released; the database is
# closed just after that.
wait_for 10 log_has "service database stopped"
order=$(grep -o 'service [a-z]* stopped' "$SITE/logs/watcher.log" | awk '{print $2}' | tr '\n' ' ')
check_eq "and stop in reverse" "watchdog heartbeat watcher workers pidfile database " "$order"
check_eq "a stopped daemon is unregistered" 0 "$(sql "SELECT count(*) FROM worker WHERE pid = $PID")"
kill "$HOLDER" 2>/dev/null
wait "$HOLDER" 2>/dev/null
HOLDER=

# --- SIGHUP: the detached daemon reopens its log (logrotate) -------------------------
sendit start_watcher >/dev/null
PID=$(pid_of)
mv "$SITE/logs/watcher.log" "$SITE/logs/watcher.log.1"
lines_before=$(wc -l <"$SITE/logs/watcher.log.1")
kill -HUP "$PID"
check "SIGHUP makes the detached daemon open its log again under its name" \
  wait_for 10 grep -q "log reopened (SIGHUP)" "$SITE/logs/watcher.log"
check "and it keeps running" kill -0 "$PID"
sendit stop_watcher >/dev/null
check "the lines after it go to the new file" grep -q "watcher stopped" "$SITE/logs/watcher.log"
check_eq "and none to the moved one" "$lines_before" "$(wc -l <"$SITE/logs/watcher.log.1")"

# --- in the foreground with stderr not a terminal (systemd's journal): SIGHUP is no stop --
"$SENDIT_BIN" start_watcher --foreground --config "$SITE/sendit.ini" 2>"$SITE/fg.log" &
FPID=$!
check "the foreground daemon starts" wait_for 20 grep -q "watcher started" "$SITE/fg.log"
kill -HUP "$FPID"
check "SIGHUP is answered in its log" wait_for 10 grep -q "SIGHUP: the log is stderr" "$SITE/fg.log"
check "and it keeps running" kill -0 "$FPID"
kill -TERM "$FPID"
wait "$FPID"
check_eq "SIGTERM stops it with status 0" 0 $?

# --- in the foreground of a terminal SIGHUP (a hangup) stops it gracefully ----------------
script -qefc "'$SENDIT_BIN' start_watcher --foreground --config '$SITE/sendit.ini'" "$SITE/tty.log" >/dev/null 2>&1 </dev/null &
SPID=$!
check "the daemon starts on a terminal" wait_for 20 grep -q "watcher started" "$SITE/tty.log"
FPID=$(pgrep -f -n "start_watcher --foreground --config $SITE/sendit.ini")
kill -HUP "$FPID"
check "SIGHUP stops it" wait_for 20 bash -c "! kill -0 $FPID"
wait "$SPID" 2>/dev/null
check "through its safe point" grep -q "stopping: letting running imports reach a safe point" "$SITE/tty.log"
check_eq "the daemon unregisters" 0 "$(sql "SELECT count(*) FROM worker WHERE pid = $FPID")"

# --- sendit worker on SIGHUP ---------------------------------------------------------
"$SENDIT_BIN" worker --config "$SITE/sendit.ini" 2>"$SITE/worker.log" &
WPID=$!
check "the worker registers" wait_for 10 sql_is 1 "SELECT count(*) FROM worker WHERE pid = $WPID"
kill -HUP "$WPID"
wait "$WPID"
check_eq "SIGHUP stops the worker with status 0" 0 $?
check "it says which signal" grep -q "Hangup received" "$SITE/worker.log"
check_eq "and unregisters" 0 "$(sql "SELECT count(*) FROM worker WHERE pid = $WPID")"

# --- a required service that fails: named, and the started ones stop -----------------
if ! is_pg; then
  mkdir -p "$SITE/blocked"
  cp "$SITE/sendit.ini" "$SITE/bad.ini"
  # The input folder cannot be made under a regular file.
  touch "$SITE/blocked/file"
  sed -i "s|^folder = $SITE/data\$|folder = $SITE/blocked/file/in|" "$SITE/bad.ini"
  timeout 30 "$SENDIT_BIN" start_watcher --foreground --config "$SITE/bad.ini" 2>"$SITE/bad.log"
  check_eq "a daemon whose watcher cannot start exits 1" 1 $?
  check "the failed service is named" grep -q "service watcher failed to start" "$SITE/bad.log"
  order=$(grep -o 'service [a-z]* stopped' "$SITE/bad.log" | awk '{print $2}' | tr '\n' ' ')
  check_eq "the started ones stop in reverse" "workers pidfile database " "$order"
  check "the pidfile is gone" test ! -e "$SITE/sendit.pid"
fi

finish
