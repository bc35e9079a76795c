#!/usr/bin/env bash
# Stages (issue 13) with the test-only stage (SENDIT_TEST_STAGES=1): an
# unbuilt stage is a configuration error; import hands each batch to the
# test stage; failures are retried with backoff and given up to ERROR
# naming the stage; `batch retry` resumes the failed stage only; and under
# kill -9 at random moments every batch gets exactly one test job done.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP"
SEED=${SENDIT_STAGES_SEED:-$RANDOM}
RANDOM=$SEED
echo "# seed $SEED (SENDIT_STAGES_SEED)"

log_has() { # log_has BATCH TEXT: a line of the batch's log contains TEXT
  sql "SELECT l.message FROM batch_log l JOIN batch b ON b.id = l.batch_id WHERE b.uid = '$1'" |
    grep -qF -- "$2"
}
stage_of() { sql "SELECT state || ':' || attempts FROM batch_stage WHERE batch_uid = '$1' AND stage = '$2'"; }
test_job() { sql "SELECT state || ':' || attempts FROM job WHERE kind = 'test' AND folder = '$1' ORDER BY id DESC LIMIT 1"; }

# --- configuration ------------------------------------------------------------
new_site
out=$(SENDIT_PIPELINE_STAGES=import,deid,cleanup sendit config 2>&1)
rc=$?
check "config with cleanup but no send fails" [ "$rc" -ne 0 ]
check "it names the stage" grep -qF '"cleanup" needs "send" before it' <<<"$out"
out=$(SENDIT_PIPELINE_STAGES=import,deid sendit config 2>&1)
check "deid is built" grep -qE '^stages = import,deid' <<<"$out"
out=$(SENDIT_PIPELINE_STAGES=import,send sendit start_watcher 2>&1)
rc=$?
check "start_watcher with send and no destination fails" [ "$rc" -ne 0 ]
check "and says why" grep -qF 'has send, but no [destination NAME]' <<<"$out"
check "no daemon was left running" [ ! -s "$SITE/sendit.pid" ]
out=$(env -u SENDIT_TEST_STAGES SENDIT_PIPELINE_STAGES=import,test "$SENDIT_BIN" config --config "$SITE/sendit.ini" 2>&1)
check "the test stage needs SENDIT_TEST_STAGES=1" grep -qF "SENDIT_TEST_STAGES=1" <<<"$out"
run_config=$(sendit config 2>&1)
check "the default chain is import" grep -qE '^stages = import' <<<"$run_config"

# --- dispatch, retries with backoff, give-up, retry -----------------------------
export SENDIT_TEST_STAGES=1 SENDIT_PIPELINE_STAGES=import,test SENDIT_QUEUE_POLL_SECONDS=1
export SENDIT_TEST_STAGE_RULES="OK=fail:0;TWICE=fail:2;BAD=fail:always"
mkdir -p "$SITE/stage"
$MKDICOM "$SITE/stage/OK1" 2 --sop-prefix 1.2.826.0.1.3680043.10.5501 >/dev/null
$MKDICOM "$SITE/stage/TWICE1" 2 --sop-prefix 1.2.826.0.1.3680043.10.5502 >/dev/null
$MKDICOM "$SITE/stage/BAD1" 2 --sop-prefix 1.2.826.0.1.3680043.10.5503 >/dev/null
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
for b in OK1 TWICE1 BAD1; do mv "$SITE/stage/$b" "$SITE/data/$b"; done
check "OK1 reaches DONE" wait_for 20 batch_is OK1 DONE
check "TWICE1 reaches DONE" wait_for 20 batch_is TWICE1 DONE
check "BAD1 goes to ERROR" wait_for 30 batch_is BAD1 ERROR
check_eq "OK1's test job: done at the first attempt" "done:1" "$(test_job OK1)"
check_eq "TWICE1's test job: done at the third" "done:3" "$(test_job TWICE1)"
check_eq "TWICE1's timeline: import done" "done:1" "$(stage_of TWICE1 import)"
check_eq "TWICE1's timeline: test done after 3 attempts" "done:3" "$(stage_of TWICE1 test)"
check_eq "the retried job row has its not-before time" 1 \
  "$(sql "SELECT count(*) FROM job WHERE kind = 'test' AND folder = 'TWICE1' AND run_after > created_at")"
# The backoff: attempt 1's delay in [150, 300] ms, attempt 2's in [300, 600].
delays=$(grep -o "TWICE1): attempt [0-9] failed: .*again in [0-9]* ms" "$SITE/logs/watcher.log" |
  sed -E 's/.*attempt ([0-9]).* again in ([0-9]+) ms/\1:\2/' | paste -sd' ')
check "two retries were logged with their delay ($delays)" \
  /usr/bin/python3 -c '
import sys
d = dict(x.split(":") for x in sys.argv[1].split())
assert set(d) == {"1", "2"}, d
assert 150 <= int(d["1"]) <= 300 and 300 <= int(d["2"]) <= 600, d' "$delays"
check_eq "BAD1's test job failed after 4 attempts" "failed:4" "$(test_job BAD1)"
check_eq "BAD1 names the stage that failed" test "$(sql "SELECT error_stage FROM batch WHERE uid = 'BAD1'")"
check "BAD1's log says the stage was given up" log_has BAD1 "stage test given up after 4 attempts"
check_eq "BAD1's images were imported all the same" 2 "$(sql "SELECT image_count FROM batch WHERE uid = 'BAD1'")"
check_eq "every batch was imported once" "1 1 1" \
  "$(for b in OK1 TWICE1 BAD1; do sql "SELECT count(*) FROM job WHERE kind = 'import' AND folder = '$b' AND state = 'done'"; done | paste -sd' ')"

# The cause is fixed (here: the failing job's payload), then retry resumes the
# test stage and does not import again.
sql "UPDATE job SET payload = '{}' WHERE kind = 'test' AND folder = 'BAD1'"
run_out=$(sendit batch retry BAD1 2>&1)
check_eq "batch retry of a stage failure exits 0" 0 "$?"
check "it says it queued the stage" grep -qF "stage test again" <<<"$run_out"
check "BAD1 reaches DONE" wait_for 20 batch_is BAD1 DONE
check_eq "through a new test job" "done:1" "$(test_job BAD1)"
check_eq "without a second import" 1 "$(sql "SELECT count(*) FROM job WHERE kind = 'import' AND folder = 'BAD1'")"
check_eq "its stage error is cleared" "" "$(sql "SELECT error_stage FROM batch WHERE uid = 'BAD1'")"
check_eq "its timeline: test done" "done:1" "$(stage_of BAD1 test)"
sendit stop_watcher >/dev/null
stop_site

# --- kill -9 at random moments: the hand-off happens exactly once ---------------
new_site
sed -i 's/^lease_seconds = .*/lease_seconds = 5/' "$SITE/sendit.ini"
export SENDIT_TEST_STAGE_RULES="K=sleep:150"
mkdir -p "$SITE/stage"
N=24
for i in $(seq -w 1 $N); do
  $MKDICOM "$SITE/stage/K$i" 3 --sop-prefix "1.2.826.0.1.3680043.10.56$i" >/dev/null
done
next=1
for round in 1 2 3 4 5; do
  sendit start_watcher >/dev/null 2>&1 || not_ok "round $round: start_watcher failed"
  for _ in 1 2 3 4 5; do
    [ "$next" -le "$N" ] || break
    i=$(printf "%02d" "$next")
    mv "$SITE/stage/K$i" "$SITE/data/K$i"
    next=$((next + 1))
  done
  sleep "0.$((RANDOM % 9 + 1))"
  pid=$(cat "$SITE/sendit.pid" 2>/dev/null)
  [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null
  sleep 0.2
done
sendit start_watcher >/dev/null 2>&1 || not_ok "the last start_watcher failed"
while [ "$next" -le "$N" ]; do
  i=$(printf "%02d" "$next")
  mv "$SITE/stage/K$i" "$SITE/data/K$i"
  next=$((next + 1))
done
check "every batch reaches DONE" wait_for 40 sql_is "$N" "SELECT count(*) FROM batch WHERE status = 'DONE'"
check "and the queue drains" wait_for 20 sql_is 0 "SELECT count(*) FROM job WHERE state IN ('queued', 'running')"
check_eq "every batch has exactly one test job done" "$N" \
  "$(sql "SELECT count(*) FROM (SELECT folder FROM job WHERE kind = 'test' AND state = 'done' GROUP BY folder HAVING count(*) = 1) t")"
check_eq "and none has two" 0 \
  "$(sql "SELECT count(*) FROM (SELECT folder FROM job WHERE kind = 'test' AND state = 'done' GROUP BY folder HAVING count(*) > 1) t")"
check_eq "no test job failed" 0 "$(sql "SELECT count(*) FROM job WHERE kind = 'test' AND state = 'failed'")"
check_eq "every image once" $((N * 3)) "$(sql "SELECT count(*) FROM image WHERE status = 'DONE'")"
check_eq "every timeline says test done" "$N" "$(sql "SELECT count(*) FROM batch_stage WHERE stage = 'test' AND state = 'done'")"
echo "# $(sql "SELECT count(*) FROM job WHERE attempts > 1") jobs were claimed again after a kill"
sendit stop_watcher >/dev/null
finish
