#!/usr/bin/env bash
# Scale-out on PostgreSQL: one watcher and four `sendit worker` processes on
# one database import 200 finished folders, each exactly once; a worker
# killed with -9 in the middle of a batch has its job taken over when its
# lease runs out; a PostgreSQL restart in the middle of a run is survived.
# Every round ends with each file once in storage and once in the database.
# Runs only when SENDIT_TEST_DATABASE is a PostgreSQL URL.
source "$(dirname "$0")/lib.sh"

if ! is_pg; then
  echo "skipped: SENDIT_TEST_DATABASE is not a PostgreSQL URL; the scale-out test needs one" \
    "(scripts/test.sh starts a throwaway cluster and runs the suite again against it)"
  exit 0
fi

WORKER_PIDS=()
cleanup() {
  local pid
  for pid in "${WORKER_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${WORKER_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_site
}
trap cleanup EXIT

count_files() { find "$@" -type f 2>/dev/null | wc -l; }

new_site
# One import thread in the watcher, four worker processes of one thread each,
# and a short lease so that a dead worker's job is taken over quickly.
sed -i -e 's/^workers = 2$/workers = 1/' -e 's/^lease_seconds = 10$/lease_seconds = 5/' \
  "$SITE/sendit.ini"
mkdir -p "$SITE/stage" "$SITE/logs"

start_worker() {
  "$SENDIT_BIN" worker --config "$SITE/sendit.ini" 2>>"$SITE/logs/worker-$1.log" &
  WORKER_PIDS[$1]=$!
}

# stage PREFIX FOLDERS FILES UIDROOT: FOLDERS folders of FILES files each in
# $SITE/stage, every file with its own SOPInstanceUID. One mkdicom.py call
# clones them all (it is fast for large counts), then they are dealt out.
stage() {
  local prefix=$1 folders=$2 files=$3 root=$4 all="$SITE/stage/.all-$1"
  $MKDICOM "$all" $((folders * files)) --sop-prefix "$root" >/dev/null
  mapfile -t made < <(find "$all" -type f | sort)
  for ((f = 0; f < folders; f++)); do
    local dir
    dir="$SITE/stage/$prefix$(printf %03d "$((f + 1))")"
    mkdir -p "$dir"
    mv "${made[@]:$((f * files)):files}" "$dir/"
  done
  rmdir "$all"
}

# check_once LABEL "SQL condition on image.uid" FILES "storage glob...": every
# file once in storage and once in the database, nothing left behind.
check_once() {
  local label=$1 cond=$2 n=$3
  shift 3
  check_eq "$label: $n image rows, all DONE" "$n" \
    "$(sql "SELECT count(*) FROM image WHERE $cond AND status = 'DONE'")"
  check_eq "$label: no image row twice" "$n" "$(sql "SELECT count(DISTINCT uid) FROM image WHERE $cond")"
  check_eq "$label: no other row" "$n" "$(sql "SELECT count(*) FROM image WHERE $cond")"
  check_eq "$label: $n files in storage" "$n" "$(count_files "$@")"
  check_eq "$label: nothing left in the work area" 0 "$(count_files "$SITE/data/.work")"
  check_eq "$label: nothing quarantined" 0 "$(count_files "$SITE/quarantine")"
}

all_done() { # all_done PREFIX COUNT: COUNT batches PREFIX% are DONE
  [ "$(sql "SELECT count(*) FROM batch WHERE uid LIKE '$1%' AND status = 'DONE'")" = "$2" ]
}

# ---- 200 folders, one watcher and four workers --------------------------------
# The five pools are idle when the folders arrive, and they poll for jobs
# only once a minute here: the import of 2,000 small files takes one pool a
# second or two, so the other processes share the burst only if the
# watcher's enqueue announces it (LISTEN/NOTIFY) and wakes them at once.
export SENDIT_QUEUE_POLL_SECONDS=60
stage MANY 200 10 1.2.826.0.1.3680043.10.777
sendit start_watcher >/dev/null
check_eq "the watcher starts on PostgreSQL" 0 $?
for i in 1 2 3 4; do start_worker "$i"; done
check "four workers register" wait_for 20 sql_is 4 \
  "SELECT count(*) FROM worker WHERE pid IN (${WORKER_PIDS[1]}, ${WORKER_PIDS[2]}, ${WORKER_PIDS[3]}, ${WORKER_PIDS[4]})"
# Each listens on its own connection (application_name "sendit", state idle).
check "the four workers and the watcher listen for job announcements" wait_for 20 sql_is 5 \
  "SELECT count(*) FROM pg_stat_activity WHERE query = 'LISTEN sendit_jobs' AND datname = current_database()"
sleep 1 # past the workers' first empty claim: now only an announcement wakes them
mv "$SITE"/stage/MANY* "$SITE/data/"
status_json="$(sendit status --json)"
live=0
for i in 1 2 3 4; do
  /usr/bin/python3 -c 'import json, sys; w = json.load(sys.stdin)["workers"]
sys.exit(0 if any(x["pid"] == int(sys.argv[1]) for x in w) else 1)' "${WORKER_PIDS[$i]}" \
    <<<"$status_json" && live=$((live + 1))
done
check_eq "sendit status lists the four live workers" 4 "$live"
check "200 folders reach DONE" wait_for 180 all_done MANY 200
check_eq "one job per folder, each done" "200|200" \
  "$(sql "SELECT count(*), count(*) FILTER (WHERE state = 'done') FROM job WHERE folder LIKE 'MANY%'")"
check_eq "each batch holds its 10 images" 200 \
  "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'MANY%' AND image_count = 10")"
check_once "200 folders" "uid LIKE '1.2.826.0.1.3680043.10.777.%'" 2000 "$SITE"/storage/MANY*
procs="$(sql "SELECT count(DISTINCT split_part(worker, ':', 2)) FROM job WHERE folder LIKE 'MANY%'")"
check "the jobs were shared between processes ($procs of 5 took some)" test "$procs" -ge 2
check "the workers log no error" test -z "$(grep -h ERROR "$SITE"/logs/worker-*.log)"
# The next rounds need the poll (it finds a dead worker's job once its lease
# ran out): the workers start again with the default.
unset SENDIT_QUEUE_POLL_SECONDS
for i in 1 2 3 4; do kill -TERM "${WORKER_PIDS[$i]}"; wait "${WORKER_PIDS[$i]}"; done
for i in 1 2 3 4; do start_worker "$i"; done

# ---- kill -9 of a worker in the middle of a batch --------------------------------
# The watcher is stopped so that only the worker processes import, and one of
# them is certain to be found holding a job; start_queue queues the folders.
sendit stop_watcher >/dev/null
BIG=3000
stage KILL 4 $BIG 1.2.826.0.1.3680043.10.778
mv "$SITE"/stage/KILL* "$SITE/data/"
sendit start_queue >/dev/null
check_eq "start_queue queues the 4 folders" 4 "$(sql "SELECT count(*) FROM job WHERE folder LIKE 'KILL%'")"
# A batch is "in the middle" once some of its rows are written and before it
# is DONE.
victim_of() {
  local line
  line="$(sql "SELECT j.id, j.worker FROM job j JOIN batch b ON b.uid = j.folder
               WHERE j.state = 'running' AND j.folder LIKE 'KILL%' AND b.status <> 'DONE'
               AND EXISTS (SELECT 1 FROM image i WHERE i.batch_id = b.id) ORDER BY j.id")"
  local id worker pid i
  while IFS='|' read -r id worker; do
    pid="$(cut -d: -f2 <<<"$worker")"
    for i in 1 2 3 4; do
      if [ "${WORKER_PIDS[$i]}" = "$pid" ]; then
        VICTIM=$i VICTIM_JOB=$id
        return 0
      fi
    done
  done <<<"$line"
  return 1
}
# The candidate is frozen first and looked at again: a job whose end was
# committed between the query and the signal (seen once in CI: it ended
# 'done 1', its own) is let go and another is picked. A frozen process
# sends nothing more, and a commit it had sent is done by the time the
# second query runs.
still_held() { # still_held JOB WORKER_PID: running, held by that process, its batch not DONE
  local worker
  worker="$(sql "SELECT j.worker FROM job j JOIN batch b ON b.uid = j.folder WHERE j.id = $1
                 AND j.state = 'running' AND b.status <> 'DONE'")"
  [ -n "$worker" ] && [ "$(cut -d: -f2 <<<"$worker")" = "$2" ]
}
frozen_victim() { # frozen_victim FINDER: a victim found and frozen while it holds its job
  VICTIM="" VICTIM_JOB=""
  "$1" || return 1
  local pid="${WORKER_PIDS[$VICTIM]}"
  kill -STOP "$pid"
  sleep 0.3
  still_held "$VICTIM_JOB" "$pid" && return 0
  kill -CONT "$pid"
  VICTIM="" VICTIM_JOB=""
  return 1
}
VICTIM="" VICTIM_JOB=""
wait_for 60 frozen_victim victim_of
if [ -n "$VICTIM" ]; then
  kill -9 "${WORKER_PIDS[$VICTIM]}"
  wait "${WORKER_PIDS[$VICTIM]}" 2>/dev/null
  ok "kill -9 of worker $VICTIM (pid ${WORKER_PIDS[$VICTIM]}) while it held job $VICTIM_JOB mid-batch"
  unset "WORKER_PIDS[$VICTIM]"
else
  not_ok "no worker process was caught in the middle of a batch"
fi
check "after kill -9 the 4 batches reach DONE" wait_for 180 all_done KILL 4
if [ -n "$VICTIM_JOB" ]; then
  check_eq "the dead worker's job was taken over once its lease ran out" "done 2" \
    "$(sql "SELECT state || ' ' || attempts FROM job WHERE id = $VICTIM_JOB")"
fi
check_once "kill -9" "uid LIKE '1.2.826.0.1.3680043.10.778.%'" $((4 * BIG)) "$SITE"/storage/KILL*
check_eq "one job per folder" 4 "$(sql "SELECT count(*) FROM job WHERE folder LIKE 'KILL%'")"

# ---- a worker frozen past its lease (SIGSTOP), then thawed -----------------------
# Its job is taken over once the lease runs out; when it wakes up it must
# notice, stop, and change nothing. The site's URL makes the server end a
# session idle inside a transaction after 3 s (sendit's default is a
# minute), in case the worker froze in the middle of one.
sed -i -e "s|^url = \(postgres.*\)$|url = \1?options=-c%20idle_in_transaction_session_timeout%3D3000|" \
  "$SITE/sendit.ini"
for i in "${!WORKER_PIDS[@]}"; do kill -TERM "${WORKER_PIDS[$i]}"; wait "${WORKER_PIDS[$i]}"; done
WORKER_PIDS=()
for i in 1 2 3; do start_worker "$i"; done
stage PAUSE 3 $BIG 1.2.826.0.1.3680043.10.781
mv "$SITE"/stage/PAUSE* "$SITE/data/"
sendit start_queue >/dev/null
paused_victim() {
  local line id worker pid i
  line="$(sql "SELECT j.id, j.worker FROM job j JOIN batch b ON b.uid = j.folder
               WHERE j.state = 'running' AND j.folder LIKE 'PAUSE%' AND b.status <> 'DONE'
               AND EXISTS (SELECT 1 FROM image i WHERE i.batch_id = b.id) ORDER BY j.id")"
  while IFS='|' read -r id worker; do
    pid="$(cut -d: -f2 <<<"$worker")"
    for i in 1 2 3; do
      if [ "${WORKER_PIDS[$i]}" = "$pid" ]; then
        VICTIM=$i VICTIM_JOB=$id VICTIM_HOLDER=$worker
        return 0
      fi
    done
  done <<<"$line"
  return 1
}
VICTIM="" VICTIM_JOB="" VICTIM_HOLDER=""
wait_for 60 frozen_victim paused_victim
if [ -n "$VICTIM" ]; then
  ok "worker $VICTIM frozen with SIGSTOP while it held job $VICTIM_JOB mid-batch"
  taken_over() { [ "$(sql "SELECT worker FROM job WHERE id = $VICTIM_JOB")" != "$VICTIM_HOLDER" ]; }
  if ! wait_for 10 taken_over; then
    # Frozen in the middle of a transaction whose statements were pipelined,
    # its session holds the job's row lock in a state no PostgreSQL 15
    # timeout ends; an operator ends it with pg_terminate_backend (README).
    echo "# the frozen worker holds an open transaction: ending its sessions as an operator would"
    ports="$(ss -tnpH | awk -v p="pid=${WORKER_PIDS[$VICTIM]}," 'index($0, p) {n = split($4, a, ":"); print a[n]}' | paste -sd, -)"
    [ -n "$ports" ] && sql "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                            WHERE client_port IN ($ports) AND state <> 'idle'" >/dev/null
  fi
  check "another worker takes the frozen worker's job over" wait_for 60 taken_over
  check "while it is frozen the 3 batches reach DONE" wait_for 180 all_done PAUSE 3
  kill -CONT "${WORKER_PIDS[$VICTIM]}"
  check "thawed, it notices that it lost the job" wait_for 30 grep -qE \
    "no longer held by $VICTIM_HOLDER|connection lost" "$SITE/logs/worker-$VICTIM.log"
  sleep 1
  check "the thawed worker lives on" kill -0 "${WORKER_PIDS[$VICTIM]}"
  check_eq "the job stays done by its new holder, claimed twice" "done 2" \
    "$(sql "SELECT state || ' ' || attempts FROM job WHERE id = $VICTIM_JOB")"
else
  not_ok "no worker process was caught in the middle of a batch"
fi
check_once "frozen worker" "uid LIKE '1.2.826.0.1.3680043.10.781.%'" $((3 * BIG)) "$SITE"/storage/PAUSE*
check_eq "the batches stay DONE" 3 \
  "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'PAUSE%' AND status = 'DONE'")"

# ---- a PostgreSQL restart in the middle of a run ---------------------------------
sendit start_watcher >/dev/null
check_eq "the watcher starts again" 0 $?
CLUSTER="${SENDIT_SOURCE:-$HERE/../..}/scripts/pg-test-cluster.sh"
cluster_url="$(bash "$CLUSTER" url 2>/dev/null)"
if [ -z "$cluster_url" ] || [ "${SENDIT_TEST_DATABASE%%\?*}" != "${cluster_url%%\?*}" ]; then
  echo "# skipped the restart: $SENDIT_TEST_DATABASE is not the cluster of scripts/pg-test-cluster.sh" \
    "(SENDIT_PG_DIR=${SENDIT_PG_DIR:-/tmp/sendit-pg-test})"
else
  stage RESTART 6 $BIG 1.2.826.0.1.3680043.10.779
  mv "$SITE"/stage/RESTART* "$SITE/data/"
  check "the import is under way" wait_for 60 sql_ge 1000 \
    "SELECT count(*) FROM image WHERE uid LIKE '1.2.826.0.1.3680043.10.779.%'"
  check "the run is not over when PostgreSQL restarts" test \
    "$(sql "SELECT count(*) FROM batch WHERE uid LIKE 'RESTART%' AND status = 'DONE'")" -lt 6
  bash "$CLUSTER" restart >/dev/null
  check_eq "PostgreSQL restarted (pg_ctl restart -m fast)" 0 $?
  # Folders that arrive after the restart reach the queue through the
  # watcher's re-established connection.
  stage AFTER 5 10 1.2.826.0.1.3680043.10.780
  mv "$SITE"/stage/AFTER* "$SITE/data/"
  check "after the restart the 6 batches reach DONE" wait_for 180 all_done RESTART 6
  check "folders dropped after the restart are imported too" wait_for 60 all_done AFTER 5
  check_once "restart" "uid LIKE '1.2.826.0.1.3680043.10.779.%'" $((6 * BIG)) "$SITE"/storage/RESTART*
  check_once "after the restart" "uid LIKE '1.2.826.0.1.3680043.10.780.%'" 50 "$SITE"/storage/AFTER*
  alive=0
  for i in "${!WORKER_PIDS[@]}"; do kill -0 "${WORKER_PIDS[$i]}" 2>/dev/null && alive=$((alive + 1)); done
  check_eq "the ${#WORKER_PIDS[@]} workers lived through the restart" "${#WORKER_PIDS[@]}" "$alive"
  check "the watcher lived through the restart" kill -0 "$(cat "$SITE/sendit.pid")"
  check "the workers logged the lost connection" grep -qh "connection lost" "$SITE"/logs/worker-*.log \
    "$SITE/logs/watcher.log"
fi

# ---- stopping --------------------------------------------------------------------
stopped=0
pids="$(IFS=,; echo "${WORKER_PIDS[*]}")"
for i in "${!WORKER_PIDS[@]}"; do
  kill -TERM "${WORKER_PIDS[$i]}"
  wait "${WORKER_PIDS[$i]}" && stopped=$((stopped + 1))
done
check_eq "SIGTERM stops the workers with status 0" "${#WORKER_PIDS[@]}" "$stopped"
WORKER_PIDS=()
check_eq "stopped workers unregister" 0 "$(sql "SELECT count(*) FROM worker WHERE pid IN ($pids)")"
sendit stop_watcher >/dev/null
check_eq "stop_watcher stops the watcher" 0 $?

finish
