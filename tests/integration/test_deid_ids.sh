#!/usr/bin/env bash
# Pseudonyms through the real binary (`sendit deid map lookup|export`) on a
# real database (SQLite, or PostgreSQL when SENDIT_TEST_DATABASE names one):
# the local table's codes, and the identifier service over HTTP through
# libcurl against ids_service.py (a small real service of the test's own
# that speaks the original sendit's contract): answers kept so that a
# restart asks nothing again, 5xx retried with backoff, 401 and malformed or
# oversized answers refused at once, slow answers cut by the timeout,
# credentials never shown; and several processes meeting one new patient at
# once getting one code.
source "$(dirname "$0")/lib.sh"

SVC_PIDS=()
cleanup() {
  local pid
  for pid in "${SVC_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${SVC_PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  stop_site
}
trap cleanup EXIT

new_site
OUT="$SITE/out"
mkdir -p "$OUT"

lookup() { "$SENDIT_BIN" deid map lookup --config "$SITE/sendit.ini" "$@"; }
export_map() { "$SENDIT_BIN" deid map export --config "$SITE/sendit.ini" "$@"; }

# start_service MODE [ARGS...]: a service in MODE; sets URL (its endpoint)
# and BASE (for /count, /last, /expect).
start_service() {
  local mode=$1 portfile
  shift
  portfile="$(mktemp -u "$SITE/port.XXXXXX")"
  /usr/bin/python3 "$HERE/ids_service.py" --port-file "$portfile" --mode "$mode" "$@" &
  SVC_PIDS+=($!)
  wait_for 10 test -s "$portfile" || { not_ok "the $mode service did not start"; return 1; }
  BASE="http://127.0.0.1:$(cat "$portfile")"
  URL="$BASE/identifiers/api/v1/uid/test"
}
count() { /usr/bin/python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]+"/count").read().decode())' "$BASE"; }
last() { /usr/bin/python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]+"/last").read().decode())' "$BASE"; }
field() { sed -n "s/^$1 //p" "$2"; } # field patient|study FILE

LOCAL_CODE='^SI[A-Z2-7]{12}$'

# ---- local ----
lookup P-LOCAL 1.2.826.0.1.1 1.2.826.0.1.2 >"$OUT/l1" 2>"$OUT/l1.err"
check_eq "local lookup exits 0" 0 $?
read -r pcode pshift < <(field patient "$OUT/l1")
check "the patient's code is SI + 12 base32 characters" grep -Eq "$LOCAL_CODE" <<<"$pcode"
check "the day shift is within the default -365..-1" test "$pshift" -ge -365 -a "$pshift" -le -1
check_eq "two study lines" 2 "$(grep -c '^study ' "$OUT/l1")"
check "study codes are SI + 12 base32 characters" \
  bash -c "awk '/^study /{print \$3}' '$OUT/l1' | grep -Evq '$LOCAL_CODE'; test \$? -eq 1"
lookup P-LOCAL 1.2.826.0.1.2 >"$OUT/l2"
check_eq "asked again: the same patient code and shift" "$pcode $pshift" "$(field patient "$OUT/l2")"
check_eq "asked again: the same study code" "$(grep 1.2.826.0.1.2 "$OUT/l1")" "$(cat "$OUT/l2" | grep '^study')"
lookup P-OTHER 1.2.826.0.1.1 >"$OUT/l3"
check "another patient gets another code" test "$(field patient "$OUT/l3" | cut -d' ' -f1)" != "$pcode"

# ---- http: the contract, kept answers ----
printf 'tok-%s\n' "$RANDOM$RANDOM" >"$SITE/token"
chmod 600 "$SITE/token"
TOKEN="$(tr -d '\n' <"$SITE/token")"
start_service ok --token "$TOKEN"
lookup --identifiers http --url "$URL" --token-file "$SITE/token" P-HTTP 1.2.3.100 1.2.3.101 \
  >"$OUT/h1" 2>"$OUT/h1.err"
check_eq "http lookup exits 0" 0 $?
read -r hcode hshift < <(field patient "$OUT/h1")
read -r want_code want_jitter < <(/usr/bin/python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]+"/expect/P-HTTP").read().decode())' "$BASE")
check_eq "the patient's code is the service's" "$want_code" "$hcode"
check_eq "the day shift is the service's jitter" "$want_jitter" "$hshift"
check_eq "one request for the batch" 1 "$(count)"
last >"$OUT/last.json"
check "the bearer token was sent" /usr/bin/python3 -c '
import json,sys; l=json.load(open(sys.argv[1])); assert l["authorization"]=="Bearer "+sys.argv[2]' \
  "$OUT/last.json" "$TOKEN"
check "the request names the entity and both items" /usr/bin/python3 -c '
import json,sys; b=json.loads(json.load(open(sys.argv[1]))["body"]); e=b["identifiers"][0]
assert e["id"]=="P-HTTP" and e["id_source"]=="PatientID" and "id_timestamp" in e
assert [i["id"] for i in e["items"]]==["1.2.3.100","1.2.3.101"]
assert all(i["id_source"]=="StudyInstanceUID" for i in e["items"])' "$OUT/last.json"
check_eq "the answer is kept with origin http" "http|$hshift" \
  "$(sql "SELECT origin, day_shift FROM deid_entity WHERE code = '$hcode'")"
# A new process (a restart) asks nothing for what is known.
lookup --identifiers http --url "$URL" --token-file "$SITE/token" P-HTTP 1.2.3.101 1.2.3.100 \
  >"$OUT/h2"
check_eq "after a restart: nothing asked again" 1 "$(count)"
check_eq "after a restart: the same codes" "$(sort "$OUT/h1")" "$(sort "$OUT/h2")"
# A new study of a known patient: one request, for that study only.
lookup --identifiers http --url "$URL" --token-file "$SITE/token" P-HTTP 1.2.3.100 1.2.3.102 \
  >"$OUT/h3"
check_eq "a new study: one more request" 2 "$(count)"
check "that request names only the new study" /usr/bin/python3 -c '
import json,sys,urllib.request
b=json.loads(json.loads(urllib.request.urlopen(sys.argv[1]+"/last").read())["body"])
assert [i["id"] for i in b["identifiers"][0]["items"]]==["1.2.3.102"]' "$BASE"
check_eq "the patient keeps its code" "$hcode $hshift" "$(field patient "$OUT/h3")"
# Without the token the service refuses: a 401 is not retried.
lookup --identifiers http --url "$URL" P-NOTOKEN 1.2.3.200 >/dev/null 2>"$OUT/h4.err"
check_eq "no token: exit 1" 1 $?
check "no token: the error says HTTP 401 and the service's reason" \
  grep -q 'HTTP 401.*missing or wrong bearer token' "$OUT/h4.err"
check_eq "no token: asked once (4xx is not retried)" 3 "$(count)"

# ---- http: the answer's other shapes ----
start_service no-jitter
lookup --identifiers http --url "$URL" P-NJ 1.2.5.1 >"$OUT/nj" 2>"$OUT/nj.err"
read -r want_code want_jitter < <(/usr/bin/python3 -c 'import sys,urllib.request;print(urllib.request.urlopen(sys.argv[1]+"/expect/P-NJ").read().decode())' "$BASE")
check_eq "no jitter field: the shift is jittered_timestamp - id_timestamp" \
  "$want_code $want_jitter" "$(field patient "$OUT/nj")"
start_service list
lookup --identifiers http --url "$URL" P-LIST 1.2.5.2 >"$OUT/ls" 2>"$OUT/ls.err"
check_eq "a bare list answer is read too" 0 $?

# ---- http: errors ----
start_service fail --fail 2
start=$(date +%s%N)
lookup --identifiers http --url "$URL" P-FAIL 1.2.6.1 >"$OUT/f1" 2>"$OUT/f1.err"
check_eq "500 twice then success: exit 0" 0 $?
ms=$((($(date +%s%N) - start) / 1000000))
check_eq "500 twice then success: three requests" 3 "$(count)"
check "500 twice then success: the retries are logged with the status" \
  grep -q 'HTTP 500.*trying again' "$OUT/f1.err"
check "500 twice then success: it backed off (>= 250 ms in all, took $ms ms)" test "$ms" -ge 250
start_service fail --fail 100
lookup --identifiers http --url "$URL" --attempts 2 P-FAIL2 1.2.6.2 >/dev/null 2>"$OUT/f2.err"
check_eq "500 every time: exit 1" 1 $?
check_eq "500 every time: --attempts 2 requests" 2 "$(count)"
check "500 every time: the error names the URL, the status and the body" \
  grep -q "$URL.*HTTP 500.*overloaded" "$OUT/f2.err"
check_eq "500 every time: nothing recorded" 0 "$(sql "SELECT count(*) FROM deid_entity WHERE original = 'P-FAIL2'")"

start_service unauthorized
AUTH_URL="${URL/http:\/\//http://user:hush@}?key=hush2"
lookup --identifiers http --url "$AUTH_URL" --token-file "$SITE/token" P-401 1.2.7.1 \
  >/dev/null 2>"$OUT/u.err"
check_eq "401: exit 1" 1 $?
check "401: the error says HTTP 401 and why" grep -q 'HTTP 401.*invalid token' "$OUT/u.err"
check_eq "401: not retried" 1 "$(count)"
check "401: neither the URL's password, its query nor the token is shown" \
  bash -c "! grep -q -e hush -e '$TOKEN' '$OUT/u.err'"
check "401: the URL is named without them" grep -q "http://127.0.0.1:[0-9]*/identifiers/api/v1/uid/test?\*\*\*" "$OUT/u.err"

start_service malformed
lookup --identifiers http --url "$URL" P-BAD 1.2.8.1 >/dev/null 2>"$OUT/m.err"
check_eq "malformed JSON: exit 1" 1 $?
check "malformed JSON: the error says what was wrong" grep -q "not JSON" "$OUT/m.err"
check_eq "malformed JSON: not retried" 1 "$(count)"

start_service huge
lookup --identifiers http --url "$URL" P-HUGE 1.2.8.2 >/dev/null 2>"$OUT/hg.err"
check_eq "a 2 MiB answer: exit 1" 1 $?
check "a 2 MiB answer: refused as too large" grep -q "larger than 1048576 bytes" "$OUT/hg.err"

start_service stranger
lookup --identifiers http --url "$URL" P-WHO 1.2.8.3 >/dev/null 2>"$OUT/st.err"
check_eq "an answer about another patient: exit 1" 1 $?
check "an answer about another patient: refused" grep -q "no result whose \"id\" is the patient" "$OUT/st.err"
check_eq "an answer about another patient: nothing recorded" 0 "$(sql "SELECT count(*) FROM deid_entity WHERE origin = 'http' AND original LIKE 'P-WHO%'")"

start_service slow --delay 3
start=$(date +%s%N)
lookup --identifiers http --url "$URL" --timeout 400 --attempts 2 P-SLOW 1.2.9.1 >/dev/null \
  2>"$OUT/sl.err"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
check_eq "slow answers: exit 1" 1 "$rc"
check "slow answers: the error says the timeout" grep -q "no answer within 400 ms" "$OUT/sl.err"
check "slow answers: cut by the timeout, not waited for (took $ms ms)" test "$ms" -lt 2900
check_eq "slow answers: both attempts reached the service" 2 "$(count)"

# Nobody listening: connection refused, retried, then a clear error.
closed_port=$(/usr/bin/python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
lookup --identifiers http --url "http://127.0.0.1:$closed_port/uid" --attempts 2 P-NONE >/dev/null \
  2>"$OUT/c.err"
check_eq "no service: exit 1" 1 $?
check "no service: the error names the URL and the connection" \
  grep -qi "127.0.0.1:$closed_port/uid.*connect" "$OUT/c.err"

chmod 644 "$SITE/token"
lookup --identifiers http --url "$URL" --token-file "$SITE/token" P-X >/dev/null 2>"$OUT/t.err"
check_eq "a token file anyone may read: refused" 1 $?
check "a token file anyone may read: says so" grep -q "anyone may read it" "$OUT/t.err"
chmod 600 "$SITE/token"

# ---- one new patient, several processes at once ----
pids=()
for i in 1 2 3 4 5 6 7 8; do
  lookup P-RACE 1.2.10.1 >"$OUT/race.$i" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
check_eq "8 processes meeting a new patient: one answer" 1 "$(cat "$OUT"/race.* | sort -u | grep -c '^patient ')"
check_eq "8 processes meeting a new patient: one row" 1 \
  "$(sql "SELECT count(*) FROM deid_entity WHERE original = 'P-RACE'")"
start_service ok
pids=()
for i in 1 2 3 4 5 6; do
  lookup --identifiers http --url "$URL" P-RACE-HTTP 1.2.10.2 >"$OUT/hrace.$i" 2>&1 &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
check_eq "6 processes asking the service at once: one answer" 1 \
  "$(cat "$OUT"/hrace.* | sort -u | grep -c '^patient ')"
check_eq "6 processes asking the service at once: one row" 1 \
  "$(sql "SELECT count(*) FROM deid_entity WHERE original = 'P-RACE-HTTP'")"

# ---- export ----
export_map >"$OUT/map.csv" 2>"$OUT/map.err"
check_eq "export exits 0" 0 $?
check "export warns that it holds identifiers" grep -q "holds patients' identifiers" "$OUT/map.err"
check "export: CSV header" grep -q '^patient_source,patient_id,patient_code,day_shift' "$OUT/map.csv"
check "export: the local patient with its code and shift" grep -q "^PatientID,P-LOCAL,$pcode,$pshift,local," "$OUT/map.csv"
check "export: the service's patient with origin http" grep -q "^PatientID,P-HTTP,$hcode,$hshift,http," "$OUT/map.csv"
export_map --format json >"$OUT/map.json" 2>/dev/null
check "export --format json: patients with their studies" /usr/bin/python3 -c '
import json,sys; m=json.load(open(sys.argv[1])); p=[x for x in m if x["patient_id"]=="P-HTTP"][0]
assert p["code"]==sys.argv[2] and p["origin"]=="http"
assert sorted(s["study_uid"] for s in p["studies"])==["1.2.3.100","1.2.3.101","1.2.3.102"]' \
  "$OUT/map.json" "$hcode"

finish
