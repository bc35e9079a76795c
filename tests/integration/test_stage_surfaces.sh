#!/usr/bin/env bash
# What operators see of the stages (issue 13), with the test-only stage
# (SENDIT_TEST_STAGES=1, [pipeline] stages = import, test): `sendit status`
# and GET /api/status give the queue per stage; `sendit batch show`,
# GET /api/batches/{uid} and the batch page give the batch's stage timeline
# (one builder, lib/ops); /metrics counts jobs by stage and outcome.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP"
# py JSON EXPR: prints EXPR of the JSON document j (python).
py() { /usr/bin/python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(eval(sys.argv[2]))' "$1" "$2"; }
test_job() { sql "SELECT state || ':' || attempts FROM job WHERE kind = 'test' AND folder = '$1' ORDER BY id DESC LIMIT 1"; }
job_is() { [ "$(test_job "$1")" = "$2" ]; }

new_site
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
cat >>"$SITE/sendit.ini" <<INI
[web]
listen = 127.0.0.1:$PORT
auth = none
INI
export SENDIT_TEST_STAGES=1 SENDIT_PIPELINE_STAGES=import,test SENDIT_QUEUE_POLL_SECONDS=1
export SENDIT_TEST_STAGE_RULES="TWICE=fail:2;BAD=fail:always;SLOW=sleep:6000"

# --- status before anything: every stage of the chain, idle -------------------
out=$(sendit status --json 2>/dev/null)
check_eq "status --json lists the chain's stages, idle" \
  "[{'stage': 'import', 'queued': 0, 'running': 0}, {'stage': 'test', 'queued': 0, 'running': 0}]" \
  "$(py "$out" 'j["queue"]["stages"]')"
out=$(sendit status 2>/dev/null)
check "status prints a table per stage" grep -qE '^  STAGE +QUEUED +RUNNING$' <<<"$out"
check "with the test stage's row" grep -qE '^  test +0 +0$' <<<"$out"

# --- batches through import -> test: one retried, one given up -----------------
mkdir -p "$SITE/stage"
$MKDICOM "$SITE/stage/TWICE1" 2 --sop-prefix 1.2.826.0.1.3680043.10.5601 >/dev/null
$MKDICOM "$SITE/stage/BAD1" 1 --sop-prefix 1.2.826.0.1.3680043.10.5602 >/dev/null
$MKDICOM "$SITE/stage/SLOW1" 1 --sop-prefix 1.2.826.0.1.3680043.10.5603 >/dev/null
sendit start_watcher >/dev/null || not_ok "start_watcher failed"
check "the daemon's web answers" wait_for 10 curl -sf -o /dev/null "$BASE/api/status"
for b in TWICE1 BAD1; do mv "$SITE/stage/$b" "$SITE/data/$b"; done
check "TWICE1 reaches DONE" wait_for 30 batch_is TWICE1 DONE
check "BAD1 goes to ERROR" wait_for 40 batch_is BAD1 ERROR
mv "$SITE/stage/SLOW1" "$SITE/data/SLOW1"
check "SLOW1's test job runs" wait_for 20 job_is SLOW1 running:1

# --- the queue per stage, while SLOW1's test job runs ---------------------------
cli=$(sendit status --json 2>/dev/null)
api=$(curl -s "$BASE/api/status")
check_eq "status --json: the test stage has one job running" \
  "{'stage': 'test', 'queued': 0, 'running': 1}" "$(py "$cli" '[s for s in j["queue"]["stages"] if s["stage"] == "test"][0]')"
check_eq "/api/status has the same per-stage queue" "$(py "$cli" 'j["queue"]')" "$(py "$api" 'j["queue"]')"
out=$(sendit status 2>/dev/null)
check "status text: test 0 queued, 1 running" grep -qE '^  test +0 +1$' <<<"$out"
metrics=$(curl -s "$BASE/metrics")
check "/metrics: a gauge of running jobs per stage" \
  grep -qx 'sendit_stage_jobs{stage="test",state="running"} 1' <<<"$metrics"
check "/metrics: and queued per stage" grep -qx 'sendit_stage_jobs{stage="import",state="queued"} 0' <<<"$metrics"
check "the old queue gauge keeps its name" grep -qx 'sendit_queue_jobs{state="running"} 1' <<<"$metrics"
check "SLOW1 reaches DONE" wait_for 30 batch_is SLOW1 DONE

# --- a batch's stages: CLI and API, one builder ---------------------------------
cli=$(sendit batch show TWICE1 --json)
api=$(curl -s "$BASE/api/batches/TWICE1")
check_eq "batch show --json: TWICE1's stages in order with state and attempts" \
  "[('import', 'done', 1), ('test', 'done', 3)]" \
  "$(py "$cli" '[(s["stage"], s["state"], s["attempts"]) for s in j["batch"]["stages"]]')"
check_eq "each stage has its times and last error" \
  "[['attempts', 'finished', 'last_error', 'queued', 'stage', 'started', 'state'], ['attempts', 'finished', 'last_error', 'queued', 'stage', 'started', 'state']]" \
  "$(py "$cli" '[sorted(s) for s in j["batch"]["stages"]]')"
check_eq "the test stage started and finished after the import" True \
  "$(py "$cli" 'j["batch"]["stages"][0]["finished"] <= j["batch"]["stages"][1]["started"] <= j["batch"]["stages"][1]["finished"]')"
check_eq "/api/batches/TWICE1 has the same stages" "$(py "$cli" 'j["batch"]["stages"]')" "$(py "$api" 'j["stages"]')"
bad=$(sendit batch show BAD1 --json)
check_eq "BAD1: the test stage failed after 4 attempts, with its error" \
  "('failed', 4, True)" "$(py "$bad" '(lambda s: (s["state"], s["attempts"], bool(s["last_error"])))(j["batch"]["stages"][1])')"
check_eq "/api/batches/BAD1 says the same" "$(py "$bad" 'j["batch"]["stages"]')" \
  "$(py "$(curl -s "$BASE/api/batches/BAD1")" 'j["stages"]')"
out=$(sendit batch show BAD1)
echo "$out" | sed -n "/^stages/,/^$/p" | sed "s/^/# /"
check "batch show prints a stage table" \
  grep -qE '^  STAGE +STATE +ATTEMPTS +STARTED +FINISHED +LAST ERROR$' <<<"$out"
check "with the import done once" grep -qE '^  import +done +1 +[0-9T:.-]+Z +[0-9T:.-]+Z +- *$' <<<"$out"
check "and the test stage failed 4 times" grep -qE '^  test +failed +4 +[0-9T:.-]+Z +[0-9T:.-]+Z +[^ -]' <<<"$out"

# --- the batch page ---------------------------------------------------------------
page=$(curl -s "$BASE/batches/BAD1")
check "the batch page has a Stages section" grep -qF '<section id="stages"><h2>Stages</h2>' <<<"$page"
rows=$(grep -o '<tr class="stage">.*' <<<"$page" | sed 's|</tbody>.*||; s|<tr class="stage">|\n|g' |
  sed -E 's/<[^>]+>/|/g; s/\|+/|/g' | grep -v '^$')
check_eq "one row per stage: name, state, attempts" "|import|done|1|
|test|failed|4|" "$(cut -d'|' -f1-4 <<<"$rows" | sed 's/$/|/')"
check "the failed stage wears the error badge" grep -qF '<span class="badge error">failed</span>' <<<"$page"

# --- jobs by stage and outcome --------------------------------------------------
metrics=$(curl -s "$BASE/metrics")
check "/metrics: imports done" grep -qx 'sendit_jobs_total{stage="import",outcome="done"} 3' <<<"$metrics"
check "/metrics: test jobs done" grep -qx 'sendit_jobs_total{stage="test",outcome="done"} 2' <<<"$metrics"
check "/metrics: test jobs failed" grep -qx 'sendit_jobs_total{stage="test",outcome="failed"} 1' <<<"$metrics"
check "/metrics: jobs_total is a counter" grep -qx '# TYPE sendit_jobs_total counter' <<<"$metrics"

sendit stop_watcher >/dev/null
if grep -qE "Sanitizer|runtime error:" "$SITE/logs/watcher.log"; then not_ok "sanitizer report in the daemon log"; fi
finish
