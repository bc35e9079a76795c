#!/usr/bin/env bash
# The CLI and the web show one batch record and one status summary
# (lib/ops): for the same batches, `sendit batch show --json` ("batch") and
# GET /api/batches/{uid} (less its links and timeline) are the same object,
# its stages included (import -> test, one retried),
# `sendit batches --json` and GET /api/batches list the same records, and
# `sendit status --json` and GET /api/status agree on every shared member.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP" && SENDIT_TMP="$(cd "$SENDIT_TMP" && pwd -P)"

new_site
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
cat >>"$SITE/sendit.ini" <<INI
[web]
listen = 127.0.0.1:$PORT
auth = none
INI
# Two stages, so each batch has a stage timeline; SAME02's test stage fails
# once and is retried.
export SENDIT_TEST_STAGES=1 SENDIT_PIPELINE_STAGES=import,test SENDIT_QUEUE_POLL_SECONDS=1
export SENDIT_TEST_STAGE_RULES="SAME02=fail:1"

$MKDICOM "$SITE/data/SAME01.tmp1" 4 --patient PAT1 >/dev/null
$MKDICOM "$SITE/data/SAME02.tmp1" 2 --patient PAT2 >/dev/null
echo "not a DICOM file" >"$SITE/data/SAME02.tmp1/junk.dcm"
# A folder name that is not UTF-8: both show U+FFFD, neither null. SQLite
# only: a PostgreSQL database in UTF-8 cannot hold such a name.
ODD=
if ! is_pg; then
  ODD=$'SAME\xff03'
  $MKDICOM "$SITE/data/$ODD.tmp1" 1 --patient PAT3 >/dev/null
fi
sendit start_watcher >/dev/null
check "the daemon starts" wait_for 10 bash -c "curl -s -o /dev/null -w '%{http_code}' $BASE/api/status | grep -q 200"
for b in SAME01 SAME02 $ODD; do mv "$SITE/data/$b.tmp1" "$SITE/data/$b"; done
check "SAME01 is imported" wait_for 30 batch_is SAME01 DONE
check "SAME02 is imported" wait_for 30 batch_is SAME02 DONE
[ -z "$ODD" ] || check "SAME?03 is imported" wait_for 30 batch_is "$ODD" DONE

# compare WHAT CLI_JSON API_JSON PYTHON: the expression gets c and a and
# prints "same" or what differs.
compare() {
  local out
  out=$(/usr/bin/python3 -c '
import json, sys
c = json.loads(sys.argv[1]); a = json.loads(sys.argv[2])
exec(sys.argv[3])' "$2" "$3" "$4" 2>&1)
  check_eq "$1" same "$out"
}

for b in SAME01 SAME02; do
  compare "$b: batch show --json and /api/batches/$b are one record" \
    "$(sendit batch show "$b" --json)" "$(curl -s "$BASE/api/batches/$b")" '
cli = c["batch"]
api = {k: v for k, v in a.items() if k not in ("url", "images_url", "errors_total", "errors", "timeline")}
stages = [(s["stage"], s["state"], s["attempts"]) for s in cli["stages"]]
want = [("import", "done", 1), ("test", "done", 2 if cli["uid"] == "SAME02" else 1)]
print("same" if cli == api and list(cli) == list(api) and stages == want else "cli %r\napi %r" % (cli, api))'
done
[ -z "$ODD" ] || compare "a uid that is not UTF-8: the same U+FFFD text in both" \
  "$(sendit batch show "$ODD" --json)" "$(curl -s "$BASE/api/batches/SAME%FF03")" '
cli = c["batch"]
api = {k: v for k, v in a.items() if k not in ("url", "images_url", "errors_total", "errors", "timeline")}
print("same" if cli == api and cli["uid"] == "SAME\ufffd03" else "cli %r\napi %r" % (cli, api))'

compare "batches --json and /api/batches list the same records" \
  "$(sendit batches --json)" "$(curl -s "$BASE/api/batches")" "is_pg = $(is_pg && echo True || echo False)
"'
api = [{k: v for k, v in r.items() if k not in ("url", "images_url")} for r in a["results"]]
print("same" if c == api and len(c) == (2 if is_pg else 3) else "cli %r\napi %r" % (c, api))'

compare "status --json and /api/status agree" \
  "$(sendit status --json)" "$(curl -s "$BASE/api/status")" '
shared = ["queue", "batches_total", "batches", "images", "bytes", "intake_paused", "pause_reason"]
diff = [k for k in shared if c.get(k, "missing") != a.get(k, "missing")]
# free_mb is left out: other writers on the disk may move it between the two looks.
for k in ("path", "low_water_mb", "high_water_mb"):
    if c["storage"][k] != a["storage"][k]:
        diff.append("storage." + k)
for k in ("running", "pid"):
    if c["watcher"][k] != a["watcher"][k]:
        diff.append("watcher." + k)
print("same" if not diff else "differ: %r" % diff)'

sendit stop_watcher >/dev/null
if grep -qE "Sanitizer|runtime error:" "$SITE/logs/watcher.log"; then not_ok "sanitizer report in the daemon log"; fi
finish
