#!/usr/bin/env bash
# The web dashboard and REST API over real HTTP against the running daemon,
# with real batches imported from files: passwords and tokens, pagination
# edges, filters, auth failures (401), CSRF failures (403), bad parameters
# (400), odd paths and oversized requests, the pages, /metrics, the OpenAPI
# document against the server, load and the connection cap, and auth = none.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT
mkdir -p "$SENDIT_TMP" && SENDIT_TMP="$(cd "$SENDIT_TMP" && pwd -P)"
SOURCE="${SENDIT_SOURCE:-$(cd "$HERE/../.." && pwd)}"
PW='correct horse battery staple'

has() { grep -qF -- "$1" <<<"$2"; }
pyjson() { /usr/bin/python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1" 2>&1; }

# http [curl options...] PATH: sets CODE, BODY and HEADERS.
http() {
  local path="${*: -1}"
  CODE=$(curl -s --path-as-is -o "$SITE/.body" -D "$SITE/.headers" -w '%{http_code}' "${@:1:$#-1}" "$BASE$path")
  BODY=$(cat "$SITE/.body")
  HEADERS=$(tr -d '\r' <"$SITE/.headers")
}
api() { http -u "admin:$PW" "$@"; }        # as an API client with HTTP Basic
tok() { http -H "Authorization: Bearer $TOKEN" "$@"; }
expect() { # expect CODE "what" [curl options...] PATH
  local want="$1" what="$2"
  shift 2
  http "$@"
  check_eq "$what" "$want" "$CODE"
}
alive() { curl -s -o /dev/null -w '%{http_code}' -u "admin:$PW" "$BASE/api/status" | grep -q 200; }

# --- the embedded assets are generated from web/ --------------------------------
check "lib/http/assets.c is up to date with web/" /usr/bin/python3 "$SOURCE/web/gen_assets.py" --check

# --- a site whose web server listens on a free port -----------------------------
new_site
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT"
cat >>"$SITE/sendit.ini" <<INI
[web]
listen = 127.0.0.1:$PORT
password_file = $SITE/sendit.passwd
INI

# --- sendit set_password ----------------------------------------------------------
echo "short" | sendit set_password >/dev/null 2>&1
check_eq "a password under 8 characters is refused" 1 $?
check "nothing was written for it" test ! -e "$SITE/sendit.passwd"
sendit set_password --bogus >/dev/null 2>&1
check_eq "set_password --bogus is a usage error" 2 $?

# --- no password yet: the daemon runs, protected routes answer 503 ---------------
sendit start_watcher >/dev/null
check "the daemon starts" test -f "$SITE/sendit.pid"
wait_for 10 curl -s -o /dev/null "$BASE/login"
expect 503 "no password set: /api/status is 503" /api/status
check "and says how to set one" has "set_password" "$BODY"
expect 200 "the login page still answers" /login
check "it tells how to set a password" has "sendit set_password" "$BODY"
check "the log warns that no password is set" grep -q "no password or API token is set" "$SITE/logs/watcher.log"

echo "$PW" | sendit set_password 2>/dev/null
check_eq "set_password reads the password from stdin" 0 $?
check_eq "the password file is private (0600)" 600 "$(stat -c %a "$SITE/sendit.passwd")"
check "it holds an argon2id hash" grep -q '^admin:\$argon2id\$' "$SITE/sendit.passwd"
check "and not the password" bash -c "! grep -qF '$PW' '$SITE/sendit.passwd'"
TOKEN=$(sendit set_password --token 2>/dev/null)
check "set_password --token prints a token" has "sit_" "$TOKEN"
check "the password line is kept" grep -q '^admin:' "$SITE/sendit.passwd"
check "the token is stored as a hash too" grep -q '^token:\$argon2id\$' "$SITE/sendit.passwd"
check "the running daemon picks the new password up" wait_for 5 alive

# --- authentication failures: 401 ---------------------------------------------------
expect 401 "no credentials: 401" /api/status
check "401 carries a Bearer challenge" has 'WWW-Authenticate: Bearer realm="sendit"' "$HEADERS"
check "and no Basic challenge (browsers would prompt)" bash -c "! grep -qi 'WWW-Authenticate: Basic' <<<'$HEADERS'"
check "the error is JSON with a detail" has '"detail"' "$BODY"
expect 401 "a wrong password: 401" -u "admin:wrong password" /api/status
expect 401 "a wrong user: 401" -u "root:$PW" /api/status
expect 401 "a wrong token: 401" -H "Authorization: Bearer sit_not_the_token" /api/batches
expect 401 "garbage Basic credentials: 401" -H "Authorization: Basic !!!notbase64" /api/images
expect 401 "an unknown scheme: 401" -H "Authorization: Digest x" /api/images
expect 401 "/metrics needs credentials too" /metrics
expect 401 "so does the OpenAPI document" /api/openapi.json
expect 303 "a page without a session redirects to the login" "/?status=DONE"
check "to /login with the page to come back to" has "Location: /login?next=%2F%3Fstatus%3DDONE" "$HEADERS"
expect 401 "POST to a page without a session: 401" -X POST /batches/X/retry
expect 200 "Basic credentials work" -u "admin:$PW" /api/status
expect 200 "the token works" -H "Authorization: Bearer $TOKEN" /api/status
OLD_TOKEN=$TOKEN
TOKEN=$(sendit set_password --token 2>/dev/null)
sleep 1.2 # the server looks at the password file at most once a second
expect 401 "a replaced token stops working" -H "Authorization: Bearer $OLD_TOKEN" /api/status
expect 200 "the new one works" -H "Authorization: Bearer $TOKEN" /api/status

# --- real batches ---------------------------------------------------------------------
$MKDICOM "$SITE/data/GOOD01.tmp1" 30 --patient PAT001 --study 1.2.826.0.1.3680043.10.777.1 >/dev/null
$MKDICOM "$SITE/data/GOOD02.tmp1" 7 --patient PAT002 --study 1.2.826.0.1.3680043.10.777.2 --modality MR >/dev/null
$MKDICOM "$SITE/data/BAD03.tmp1" 3 --patient PAT003 --study 1.2.826.0.1.3680043.10.777.3 >/dev/null
echo "not a DICOM file" >"$SITE/data/BAD03.tmp1/junk.dcm"
for b in GOOD01 GOOD02 BAD03; do mv "$SITE/data/$b.tmp1" "$SITE/data/$b"; done
check "GOOD01 is imported" wait_for 30 batch_is GOOD01 DONE
check "GOOD02 is imported" wait_for 30 batch_is GOOD02 DONE
check "BAD03 is imported" wait_for 30 batch_is BAD03 DONE

# --- /api/status and /metrics ----------------------------------------------------------
api /api/status
check_eq "/api/status: 200" 200 "$CODE"
check_eq "the watcher is running" True "$(pyjson 'd["watcher"]["running"]' <<<"$BODY")"
check "and active (fresh heartbeat)" wait_for 10 bash -c "curl -s -u 'admin:$PW' $BASE/api/status | grep -q '\"active\":true'"
check_eq "40 images" 40 "$(pyjson 'd["images"]' <<<"$BODY")"
check_eq "3 batches DONE" 3 "$(pyjson 'd["batches"]["DONE"]' <<<"$BODY")"
check_eq "the throughput counts them this minute or the last" 40 "$(pyjson 'sum(d["throughput"]["images_per_minute"][-2:])' <<<"$BODY")"
api /metrics
check_eq "/metrics: 200" 200 "$CODE"
check "in Prometheus text format" has "Content-Type: text/plain; version=0.0.4" "$HEADERS"
check "batches by status" has 'sendit_batches{status="DONE"} 3' "$BODY"
check "images imported" has "sendit_images_imported_total 40" "$BODY"
check "queue depth" has 'sendit_queue_jobs{state="queued"} 0' "$BODY"
check "import durations as a histogram" has 'sendit_batch_import_duration_seconds_bucket{le="+Inf"} 3' "$BODY"
check "the watcher is up" has "sendit_up 1" "$BODY"

# --- /api/images: pagination edges -------------------------------------------------------
api /api/images
check_eq "/api/images: 200" 200 "$CODE"
check_eq "count is every image" 40 "$(pyjson 'd["count"]' <<<"$BODY")"
check_eq "one default page (50) holds them all: no next" None "$(pyjson 'd["next"]' <<<"$BODY")"
check_eq "no previous on page 1" None "$(pyjson 'd["previous"]' <<<"$BODY")"
api "/api/images?page_size=10"
check_eq "page_size=10: 10 results" 10 "$(pyjson 'len(d["results"])' <<<"$BODY")"
check_eq "next is page 2, absolute, keeping page_size" "http://127.0.0.1:$PORT/api/images?page_size=10&page=2" "$(pyjson 'd["next"]' <<<"$BODY")"
api "/api/images?page_size=10&page=2"
check_eq "previous of page 2 is page 1 without a page parameter" "http://127.0.0.1:$PORT/api/images?page_size=10" "$(pyjson 'd["previous"]' <<<"$BODY")"
api "/api/images?page_size=10&page=4"
check_eq "the last page is full" 10 "$(pyjson 'len(d["results"])' <<<"$BODY")"
check_eq "the last page has no next" None "$(pyjson 'd["next"]' <<<"$BODY")"
check_eq "its previous is page 3" "http://127.0.0.1:$PORT/api/images?page_size=10&page=3" "$(pyjson 'd["previous"]' <<<"$BODY")"
api "/api/images?page_size=7&page=6"
check_eq "a partial last page (40 = 5 x 7 + 5)" 5 "$(pyjson 'len(d["results"])' <<<"$BODY")"
api "/api/images?page_size=10&page=5"
check_eq "a page past the last: 404" 404 "$CODE"
check_eq "with DRF's message" "Invalid page." "$(pyjson 'd["detail"]' <<<"$BODY")"
api "/api/images?page_size=1000"
check_eq "page_size=1000 (the bound) is fine" 40 "$(pyjson 'len(d["results"])' <<<"$BODY")"
ALL_IDS=$(pyjson '" ".join(str(r["id"]) for r in d["results"])' <<<"$BODY")
PAGED=""
for p in 1 2 3 4 5 6; do
  api "/api/images?page_size=7&page=$p"
  PAGED="$PAGED $(pyjson '" ".join(str(r["id"]) for r in d["results"])' <<<"$BODY")"
done
check_eq "pages put together are the whole list, once each, in order" "$ALL_IDS" "$(echo $PAGED)"
for bad in "page=0" "page=-1" "page=abc" "page=1.5" "page=" "page=99999999999999999999" \
  "page_size=0" "page_size=1001" "page_size=x" "page_size=-5" "status=LOST" "bogus=1" "Page=1"; do
  api "/api/images?$bad"
  check_eq "/api/images?$bad: 400" 400 "$CODE"
done
api "/api/images?page=1000000001"
check_eq "a page number above the bound: 400" 400 "$CODE"

# --- /api/images: filters ------------------------------------------------------------------
STUDY1=1.2.826.0.1.3680043.10.777.1
img_count() { api "/api/images?$1"; pyjson 'd["count"]' <<<"$BODY"; }
check_eq "batch=GOOD02" 7 "$(img_count batch=GOOD02)"
check_eq "PatientID=PAT001" 30 "$(img_count PatientID=PAT001)"
check_eq "StudyInstanceUID" 30 "$(img_count StudyInstanceUID=$STUDY1)"
check_eq "Modality=MR" 7 "$(img_count Modality=MR)"
check_eq "status=done (any case)" 40 "$(img_count status=done)"
check_eq "status=NEW" 0 "$(img_count status=NEW)"
check_eq "filters combine: batch=GOOD01&Modality=MR" 0 "$(img_count 'batch=GOOD01&Modality=MR')"
check_eq "batch=GOOD01&Modality=CT" 30 "$(img_count 'batch=GOOD01&Modality=CT')"
check_eq "an empty filter is no filter" 40 "$(img_count 'Modality=')"
check_eq "an unknown batch: an empty page 1" 0 "$(img_count batch=NOPE)"
api "/api/images?batch=GOOD02"
check_eq "filtered results all belong to the batch" "GOOD02" "$(pyjson '",".join(sorted(set(r["batch"] for r in d["results"])))' <<<"$BODY")"
check "filters are kept in next/previous links" bash -c "curl -s -u 'admin:$PW' '$BASE/api/images?Modality=CT&page_size=5' | grep -q 'Modality=CT&page_size=5&page=2'"
IMAGE_ID=$(pyjson 'd["results"][0]["id"]' <<<"$BODY")

# --- /api/images/{id} --------------------------------------------------------------------------
api "/api/images/$IMAGE_ID"
check_eq "an image: 200" 200 "$CODE"
check_eq "with its batch" GOOD02 "$(pyjson 'd["batch"]' <<<"$BODY")"
check_eq "and its parsed header (DICOM JSON): PatientID" PAT002 "$(pyjson 'd["header"]["00100020"]["Value"][0]' <<<"$BODY")"
check_eq "the meta group too" "1.2.840.10008.1.2.1" "$(pyjson 'd["header"]["00020010"]["Value"][0]' <<<"$BODY")"
check "and its storage path" test -f "$(pyjson 'd["storage_path"]' <<<"$BODY")"
expect 400 "an image id that is not a number: 400" -u "admin:$PW" /api/images/abc
expect 400 "a negative image id: 400" -u "admin:$PW" /api/images/-1
expect 404 "an image that does not exist: 404" -u "admin:$PW" /api/images/999999
expect 400 "an image id with a query: 400" -u "admin:$PW" "/api/images/$IMAGE_ID?x=1"

# --- /api/batches ------------------------------------------------------------------------------------
batch_count() { api "/api/batches?$1"; pyjson 'd["count"]' <<<"$BODY"; }
check_eq "all batches" 3 "$(batch_count '')"
# Which batch is newest depends on which worker finished its claim first.
check_eq "newest first" "$(sql "SELECT uid FROM batch ORDER BY id DESC LIMIT 1")" \
  "$(api /api/batches; pyjson 'd["results"][0]["uid"]' <<<"$BODY")"
check_eq "status=DONE" 3 "$(batch_count status=DONE)"
check_eq "status=error" 0 "$(batch_count status=error)"
check_eq "uid search is a case-insensitive substring" 2 "$(batch_count uid=good)"
check_eq "uid search treats % literally" 0 "$(batch_count uid=%25)"
check_eq "PatientID=PAT002" 1 "$(batch_count PatientID=PAT002)"
TODAY=$(date -u +%F)
YESTERDAY=$(date -u -d yesterday +%F)
check_eq "date_from=today" 3 "$(batch_count "date_from=$TODAY")"
check_eq "date_to=today" 3 "$(batch_count "date_to=$TODAY")"
check_eq "date_to=yesterday" 0 "$(batch_count "date_to=$YESTERDAY")"
check_eq "page_size=2: two results" 2 "$(api '/api/batches?page_size=2'; pyjson 'len(d["results"])' <<<"$BODY")"
for bad in "status=FINISHED" "date_from=2024-13-01" "date_from=2024-02-30" "date_to=yesterday" \
  "date_from=$TODAY&date_to=$YESTERDAY" "page=x" "uid_contains=a"; do
  api "/api/batches?$bad"
  check_eq "/api/batches?$bad: 400" 400 "$CODE"
done
api /api/batches/BAD03
check_eq "one batch: 200" 200 "$CODE"
check_eq "it has its error flag" True "$(pyjson 'd["has_error"]' <<<"$BODY")"
check "its errors name the file" has "junk.dcm" "$(pyjson 'd["errors"]' <<<"$BODY")"
check "its timeline runs from created to finished" has "created finished" "$(pyjson '" ".join(e["event"] for e in d["timeline"] if e["event"] in ("created", "finished"))' <<<"$BODY")"
check_eq "its metrics count the files seen" 4 "$(pyjson 'd["qa"]["files_seen"]' <<<"$BODY")"
expect 404 "a batch that does not exist: 404" -u "admin:$PW" /api/batches/NOPE
expect 200 "a trailing slash is the same route" -u "admin:$PW" /api/batches/

# --- retry: a failed batch with its files left, queued again from the API ------------------------------
mkdir -p "$SITE/held"
$MKDICOM "$SITE/held/RETRY01" 5 --patient PAT009 --study 1.2.826.0.1.3680043.10.777.9 >/dev/null
sql "INSERT INTO batch (uid, status, has_error, created_at, updated_at) VALUES ('RETRY01', 'ERROR', 1, 1, 1)"
sql "INSERT INTO job (folder, path, state, attempts, error, created_at, updated_at) VALUES ('RETRY01', '$SITE/held/RETRY01', 'failed', 5, 'disk full', 1, 1)"
api -X POST /api/batches/GOOD01/retry
check_eq "retrying a batch without errors: 409" 409 "$CODE"
api -X POST /api/batches/BAD03/retry
check_eq "retrying a batch whose job left no files: 409" 409 "$CODE"
api -X POST /api/batches/NOPE/retry
check_eq "retrying a batch that does not exist: 404" 404 "$CODE"
api -X GET /api/batches/RETRY01/retry
check_eq "GET on the retry route: 405" 405 "$CODE"
check "with an Allow header" has "Allow: POST" "$HEADERS"
tok -X POST /api/batches/RETRY01/retry
check_eq "retrying a failed batch with a token (no CSRF needed): 202" 202 "$CODE"
# The answer reads the batch after the retry's commit: on PostgreSQL a
# worker woken by NOTIFY may have taken the job by then.
check "it is queued again (or already taken by a worker)" grep -qxE 'QUEUE|PROCESSING|DONE' \
  <<<"$(pyjson 'd["batch"]["status"]' <<<"$BODY")"
check "and the workers import it" wait_for 30 batch_is RETRY01 DONE
check_eq "with its 5 images" 5 "$(api '/api/images?batch=RETRY01'; pyjson 'd["count"]' <<<"$BODY")"

# --- people: login form, session cookie, CSRF -------------------------------------------------------
JAR="$SITE/cookies"
http -c "$JAR" /login
check_eq "the login page: 200" 200 "$CODE"
check "it sets the login-CSRF cookie HttpOnly, SameSite=Strict" has "Set-Cookie: sendit_login=" "$HEADERS"
check "with HttpOnly and SameSite=Strict" grep -q "HttpOnly; SameSite=Strict" <<<"$HEADERS"
LOGIN_TOKEN=$(grep -o 'name="login_token" value="[^"]*"' <<<"$BODY" | sed 's/.*value="//; s/"$//')
http -b "$JAR" -c "$JAR" --data-urlencode "user=admin" --data-urlencode "password=wrong password" \
  --data-urlencode "login_token=$LOGIN_TOKEN" /login
check_eq "a wrong password at the form: 401" 401 "$CODE"
check "and the form again, with the reason" has "Wrong user or password." "$BODY"
http -b "$JAR" --data-urlencode "user=admin" --data-urlencode "password=$PW" /login
check_eq "a login without the form's token: 403" 403 "$CODE"
http --data-urlencode "user=admin" --data-urlencode "password=$PW" --data-urlencode "login_token=$LOGIN_TOKEN" /login
check_eq "a login without the cookie (another site's form): 403" 403 "$CODE"
http -b "$JAR" -c "$JAR" -H "Origin: http://evil.example" --data-urlencode "user=admin" \
  --data-urlencode "password=$PW" --data-urlencode "login_token=$LOGIN_TOKEN" /login
check_eq "a login posted from another origin: 403" 403 "$CODE"
http -b "$JAR" -c "$JAR" --data-urlencode "user=admin" --data-urlencode "password=$PW" \
  --data-urlencode "login_token=$LOGIN_TOKEN" --data-urlencode "next=/batches/GOOD01" /login
check_eq "the right password: 303" 303 "$CODE"
check "back to the page asked for" has "Location: /batches/GOOD01" "$HEADERS"
check "with a session cookie, HttpOnly and SameSite=Strict" grep -q "Set-Cookie: sendit_session=.*; Path=/; HttpOnly; SameSite=Strict" <<<"$HEADERS"
http -c "$SITE/jar2" /login
TOKEN2=$(grep -o 'name="login_token" value="[^"]*"' <<<"$BODY" | sed 's/.*value="//; s/"$//')
http -b "$SITE/jar2" --data-urlencode "user=admin" --data-urlencode "password=$PW" \
  --data-urlencode "login_token=$TOKEN2" --data-urlencode "next=//evil.example/x" /login
check_eq "(that login worked)" 303 "$CODE"
check "an outside next is not followed" has "Location: /" "$(grep Location <<<"$HEADERS")"
check "(not to another host)" bash -c "! grep -q 'evil' <<<'$(grep Location <<<"$HEADERS")'"
http -b "$JAR" /
check_eq "the dashboard with the session: 200" 200 "$CODE"
check "it lists the batches" has "GOOD01" "$BODY"
check "it shows the watcher as active" has "active</p>" "$BODY"
check "it marks the batch with errors, linking to them" has 'href="/batches/BAD03#errors">errors</a>' "$BODY"
check "it refreshes itself" has 'data-live-every="5"' "$BODY"
check "pages have a Content-Security-Policy" has "Content-Security-Policy: default-src 'none'" "$HEADERS"
check "and the other security headers" grep -q "X-Frame-Options: DENY" <<<"$HEADERS"
check "and nosniff" grep -q "X-Content-Type-Options: nosniff" <<<"$HEADERS"
check "and are not cached" grep -q "Cache-Control: no-store" <<<"$HEADERS"
http -b "$JAR" "/?status=EMPTY"
check "the status filter narrows the list" bash -c "! grep -q '/batches/GOOD01' '$SITE/.body'"
http -b "$JAR" "/?uid=good&PatientID=PAT002&date_from=$TODAY"
check "search by uid, PatientID and date finds GOOD02" has "/batches/GOOD02" "$BODY"
check "and only it" bash -c "! grep -q '/batches/GOOD01\"' '$SITE/.body'"
http -b "$JAR" "/?page=2"
check_eq "a page of batches past the last: 404" 404 "$CODE"
http -b "$JAR" "/?page=abc"
check_eq "a bad page number on a page: 400" 400 "$CODE"
http -b "$JAR" /batches/BAD03
check_eq "the batch page: 200" 200 "$CODE"
check "it shows the error" has "junk.dcm" "$BODY"
check "and a Retry button" has ">Retry</button>" "$BODY"
check "and the timeline" has 'class="timeline"' "$BODY"
CSRF=$(grep -o 'name="csrf_token" value="[^"]*"' <<<"$BODY" | head -1 | sed 's/.*value="//; s/"$//')
check "forms carry the session's CSRF token" test -n "$CSRF"
http -b "$JAR" /batches/GOOD01
check "the batch page lists its images, paginated" has "Images 1–30 of 30" "$BODY"
http -b "$JAR" "/batches/GOOD01?page=2"
check_eq "a page of images past the last: 404" 404 "$CODE"
http -b "$JAR" "/images/$IMAGE_ID"
check_eq "the image page: 200" 200 "$CODE"
check "it shows the header as a table" has '>PatientID</td><td>LO</td><td class="value">PAT002</td>' "$BODY"
check "with the names of the elements" has 'title="Patient ID"' "$BODY"
check "with the file size and storage path" has "Storage path" "$BODY"
http -b "$JAR" /settings
check_eq "the settings page: 200" 200 "$CODE"
check "it shows the effective configuration" has "password_file" "$BODY"
check "but no hash" bash -c "! grep -qF '\$argon2id\$' '$SITE/.body'"
# CSRF on state-changing requests made with the session cookie.
sql "UPDATE batch SET status = 'ERROR' WHERE uid = 'RETRY01'"
sql "UPDATE job SET state = 'failed' WHERE folder = 'RETRY01'"
mkdir -p "$SITE/held/RETRY01" && $MKDICOM "$SITE/held/RETRY01" 2 --sop-prefix 1.2.826.0.1.3680043.10.777.99 >/dev/null
http -b "$JAR" -X POST /api/batches/RETRY01/retry
check_eq "a session POST without the CSRF token: 403" 403 "$CODE"
check "saying why" has "CSRF" "$BODY"
http -b "$JAR" -X POST -H "X-CSRF-Token: wrong" /api/batches/RETRY01/retry
check_eq "with a wrong CSRF token: 403" 403 "$CODE"
http -b "$JAR" -X POST -H "X-CSRF-Token: $CSRF" -H "Origin: http://evil.example" /api/batches/RETRY01/retry
check_eq "with the right token but from another origin: 403" 403 "$CODE"
http -b "$JAR" -X POST --data-urlencode "csrf_token=wrong" /batches/RETRY01/retry
check_eq "the Retry form with a wrong token: 403" 403 "$CODE"
check_eq "nothing was queued by those" ERROR "$(batch_status RETRY01)"
http -b "$JAR" -X POST --data-urlencode "csrf_token=$CSRF" /batches/RETRY01/retry
check_eq "the Retry form with the session's token: 303 back to the batch" 303 "$CODE"
check "to the batch page" has "Location: /batches/RETRY01?retried=1" "$HEADERS"
check "the retried batch is imported again" wait_for 30 batch_is RETRY01 DONE
http -b "$JAR" -c "$JAR" -X POST --data-urlencode "csrf_token=$CSRF" /logout
check_eq "log out: 303" 303 "$CODE"
http -b "$JAR" /api/status
check_eq "the session has ended" 401 "$CODE"

# --- odd requests: routes, methods, paths, sizes --------------------------------------------------------
expect 404 "an unknown API route: 404" -u "admin:$PW" /api/nothing
check "as JSON" has '"detail":"not found"' "$BODY"
expect 404 "an unknown page: 404" /nothing/here
expect 405 "DELETE /api/batches: 405" -u "admin:$PW" -X DELETE /api/batches
check "with Allow: GET, HEAD" has "Allow: GET, HEAD" "$HEADERS"
expect 405 "PUT /api/images/1: 405" -u "admin:$PW" -X PUT "/api/images/$IMAGE_ID"
expect 200 "HEAD is answered like GET" -u "admin:$PW" -I /api/status
expect 400 "a path with ..: 400" /static/../../sendit.ini
expect 400 "an encoded ..: 400" /static/%2e%2e/%2e%2e/etc/passwd
expect 400 "a path with //: 400" -u "admin:$PW" //api/status
expect 400 "a path with a backslash: 400" '/static/..%5c..%5csendit.ini'
expect 400 "a path with a NUL: 400" /static/app.css%00.png
expect 200 "the stylesheet is served (embedded, no CDN)" /static/app.css
check "as CSS" has "Content-Type: text/css" "$HEADERS"
ETAG=$(grep -i '^ETag:' <<<"$HEADERS" | sed 's/^[^:]*: //')
expect 304 "with an ETag it is not sent again" -H "If-None-Match: $ETAG" /static/app.css
expect 200 "the script is served" /static/app.js
expect 404 "an asset that does not exist: 404" /static/nothing.js
head -c 20000 /dev/zero | tr '\0' a >"$SITE/big"
expect 413 "a body over 16 KiB: 413" -u "admin:$PW" -X POST --data-binary "@$SITE/big" /api/batches/RETRY01/retry
expect 413 "also when sent chunked" -u "admin:$PW" -X POST -H "Transfer-Encoding: chunked" --data-binary "@$SITE/big" /api/batches/RETRY01/retry
expect 414 "a URL over 2 KiB: 414" -u "admin:$PW" "/api/images?batch=$(head -c 3000 /dev/zero | tr '\0' b)"
http -u "admin:$PW" -H "X-Big: $(head -c 70000 /dev/zero | tr '\0' c)" /api/status
check "a header over the connection's memory is refused" test "$CODE" -ge 400
check "the server still answers after all that" alive

# --- no bad parameter crashes it --------------------------------------------------------------------------
crashes=0
for q in "page=%00" "page=%ff" "page_size=1e3" "batch=%ff%fe" "PatientID=%00x" "status=%" \
  "uid=%25_%5c" "date_from=%00" "date_to=0000-00-00" "page=1&page=2" "=x" "&&&" "%zz=1" \
  "batch=$(printf 'x%.0s' {1..1500})"; do
  for path in /api/images /api/batches "/?$q" "/batches/GOOD01?" "/images/$IMAGE_ID?"; do
    url="$path"
    [[ $path == *\? ]] || [[ $path == /\?* ]] || url="$path?$q"
    [[ $path == *\? ]] && url="$path$q"
    code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$PW" "$BASE$url")
    if [ "$code" = 000 ] || [ "$code" -ge 500 ]; then
      crashes=$((crashes + 1))
      echo "# $url -> $code"
    fi
  done
done
check_eq "odd parameters never give 5xx or a dropped connection" 0 "$crashes"
check "the daemon is still running" alive

# --- load and the connection cap ---------------------------------------------------------------------------
urls=()
for i in $(seq 300); do urls+=(-o /dev/null -w '%{http_code}\n' "$BASE/api/images?page_size=5&page=$((i % 8 + 1))"); done
codes=$(curl -s -u "admin:$PW" --parallel --parallel-max 64 "${urls[@]}" 2>/dev/null)
check_eq "300 requests over 64 parallel connections: all 200" 300 "$(grep -c '^200$' <<<"$codes")"
/usr/bin/python3 - "$PORT" 400 >"$SITE/idle.out" 2>&1 <<'PY' &
# Holds many idle connections open for a few seconds, then lets them go.
import socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
socks = []
for _ in range(n):
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=2)
        socks.append(s)
    except OSError:
        pass
print(len(socks), flush=True)
time.sleep(4)
PY
IDLE=$!
sleep 2
PID=$(cat "$SITE/sendit.pid")
open_fds=$(ls /proc/"$PID"/fd | wc -l)
check "400 idle connections do not get 400 descriptors (cap 256)" test "$open_fds" -lt 330
wait $IDLE
check "once they are gone it serves at once" wait_for 5 alive

# --- the OpenAPI document matches the server ------------------------------------------------------------------
/usr/bin/python3 "$HERE/web_openapi_check.py" "$BASE" "Authorization: Bearer $TOKEN" \
  "$SOURCE/lib/http/router.c" GOOD01 "$IMAGE_ID" >"$SITE/openapi.out" 2>&1
openapi_rc=$?
grep -c '^ok - ' "$SITE/openapi.out" | { read -r n; check "the OpenAPI checks ran ($n)" test "$n" -gt 40; }
grep '^not ok - ' "$SITE/openapi.out" | head -20
check_eq "the OpenAPI document matches the server" 0 "$openapi_rc"

# --- auth = none: open, with a warning in the log ------------------------------------------------------------------
sendit stop_watcher >/dev/null
SENDIT_WEB_AUTH=none sendit start_watcher >/dev/null
check "auth = none: the daemon starts" wait_for 10 bash -c "curl -s -o /dev/null -w '%{http_code}' $BASE/api/status | grep -q 200"
check "and the log warns that it is open" grep -q "auth = none: the dashboard and API on 127.0.0.1:$PORT are open" "$SITE/logs/watcher.log"
expect 200 "pages need no login" /
check "they still get a session cookie for CSRF" has "Set-Cookie: sendit_session=" "$HEADERS"
expect 403 "a cross-origin POST is still refused" -X POST -H "Origin: http://evil.example" /api/batches/GOOD01/retry
sendit stop_watcher >/dev/null
check "the daemon stops with the web server in it" test ! -f "$SITE/sendit.pid"
if grep -qE "Sanitizer|runtime error:" "$SITE/logs/watcher.log"; then not_ok "sanitizer report in the daemon log"; fi

finish
