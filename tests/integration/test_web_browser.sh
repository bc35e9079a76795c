#!/usr/bin/env bash
# The dashboard in headless Chromium (tests/browser/dashboard.test.js, with
# playwright-core driving Debian's /usr/bin/chromium): log in, drop a folder,
# see the batch appear without reloading, open it (its record and its
# stages: the daemon runs import -> test), open an image. Screenshots
# go to $SENDIT_TMP/screenshots; SENDIT_UPDATE_DOCS=1 also refreshes
# docs/dashboard.png for the README.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
SOURCE="${SENDIT_SOURCE:-$(cd "$HERE/../.." && pwd)}"
BROWSER_DIR="$SOURCE/tests/browser"
PW='a dashboard password'

command -v node >/dev/null || { not_ok "node is installed (Debian: nodejs)"; finish; exit 1; }
[ -x /usr/bin/chromium ] || { not_ok "Debian's chromium is installed at /usr/bin/chromium"; finish; exit 1; }
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
  # playwright-core only: it drives the installed Chromium and downloads nothing.
  (cd "$BROWSER_DIR" && npm ci --no-audit --no-fund >/dev/null 2>&1)
fi
check "playwright-core is installed (npm ci in tests/browser)" test -d "$BROWSER_DIR/node_modules/playwright-core"

new_site
PORT=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >>"$SITE/sendit.ini" <<INI
[web]
listen = 127.0.0.1:$PORT
password_file = $SITE/sendit.passwd
INI
# Two stages, so the batch page has a stage timeline: LIVE01's test stage
# fails once and is retried.
export SENDIT_TEST_STAGES=1 SENDIT_PIPELINE_STAGES=import,test SENDIT_QUEUE_POLL_SECONDS=1
export SENDIT_TEST_STAGE_RULES="LIVE01=fail:1"
echo "$PW" | sendit set_password 2>/dev/null
check "a password is set" test -s "$SITE/sendit.passwd"
sendit start_watcher >/dev/null
check "the daemon starts" wait_for 10 curl -sf -o /dev/null "http://127.0.0.1:$PORT/login"

# Earlier batches, so the dashboard has a history: one with an unreadable file.
drop() { # drop NAME COUNT [mkdicom options]: the sender's write-then-rename
  local name="$1" count="$2"
  shift 2
  $MKDICOM "$SITE/data/$name.tmp1" "$count" "$@" >/dev/null
  [ "$name" != ERR02 ] || echo "not DICOM" >"$SITE/data/$name.tmp1/junk.dcm"
  mv "$SITE/data/$name.tmp1" "$SITE/data/$name"
}
drop CT0001 40 --patient PAT001 --study 1.2.826.0.1.3680043.10.555.1
drop ERR02 6 --patient PAT002 --study 1.2.826.0.1.3680043.10.555.2
drop MR0003 18 --patient PAT003 --study 1.2.826.0.1.3680043.10.555.3 --modality MR
for b in CT0001 ERR02 MR0003; do check "$b is imported" wait_for 30 batch_is "$b" DONE; done

SHOTS="$SENDIT_TMP/screenshots"
mkdir -p "$SHOTS"
DOCS_SHOT=""
[ "${SENDIT_UPDATE_DOCS:-0}" = 1 ] && DOCS_SHOT="$SOURCE/docs/dashboard.png"
out=$(cd "$BROWSER_DIR" && SENDIT_BASE="http://127.0.0.1:$PORT" SENDIT_PASSWORD="$PW" \
  SENDIT_INPUT="$SITE/data" SENDIT_MKDICOM="$MKDICOM" SENDIT_SHOTS="$SHOTS" \
  SENDIT_DOCS_SHOT="$DOCS_SHOT" timeout 180 node dashboard.test.js 2>&1)
node_rc=$?
echo "$out" | grep -v '^[0-9]* passed, [0-9]* failed$'
PASSED=$((PASSED + $(grep -c '^ok - ' <<<"$out")))
FAILED=$((FAILED + $(grep -c '^not ok - ' <<<"$out")))
check_eq "the browser test exits 0" 0 "$node_rc"
check "it saved the dashboard screenshot" test -s "$SHOTS/dashboard.png"
echo "# screenshots in $SHOTS"
finish
