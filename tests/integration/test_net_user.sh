#!/usr/bin/env bash
# User identity negotiation (PS3.7 D.3.3.7, issue 15) against DCMTK (TCP_NODELAY=1):
#   1. `sendit set_password --dicom-user NAME` makes the users_file line (argon2id, nothing written);
#   2. the daemon with [dicom] users_file: storescu --user/--password with the right passcode stores (and
#      the study ends DONE), with -rsp too (the positive answer 0x59 it asks for comes); a wrong passcode,
#      an unknown user, a username without passcode and no identity at all are rejected with
#      A-ASSOCIATE-RJ permanent, service user, no reason given (1 1 1); the log names the user accepted
#      and why each was refused; a users_file line that is not username:hash stops the daemon's start;
#      without users_file an identity is ignored and not answered (storescu -rsp then gives up);
#   3. `sendit echo|send --user --password-file` -> the daemon (accepted, and rejected with a wrong file),
#      and `sendit send --user` -> storescp, which accepts any identity; the passcode never on the
#      command line (a usage error names --password-file).
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3
export TCP_NODELAY=1
for tool in echoscu storescu storescp dcmdump; do
  command -v "$tool" >/dev/null || { echo "$tool (DCMTK) is needed"; exit 1; }
done
bg=()
cleanup() {
  local p
  for p in "${bg[@]}"; do kill "$p" 2>/dev/null; done
  [ -f "${SITE:-/nonexistent}/sendit.pid" ] && kill -9 "$(cat "$SITE/sendit.pid")" 2>/dev/null
  drop_site_databases
  [ -z "${KEEP_TMP:-}" ] && [ -n "${SITE:-}" ] && rm -rf "$SITE"
}
trap cleanup EXIT
listening() { ss -ltn | grep -q ":$1 "; } # a port someone listens on, without connecting to it
log_has() { grep -qF -- "$1" "$SITE/logs/watcher.log"; }
fails() { ! "$@"; }
dicom_ini() {
  sed -i '/^\[dicom\]/,$d' "$SITE/sendit.ini"
  echo "[dicom]" >>"$SITE/sendit.ini"
  local kv
  for kv in "$@"; do echo "${kv%%=*} = ${kv#*=}" >>"$SITE/sendit.ini"; done
}
start_daemon() {
  sendit start_watcher >"$SITE/start.out" 2>&1 || { echo "the daemon did not start:"; cat "$SITE/start.out"; tail -20 "$SITE/logs/watcher.log"; exit 1; }
  wait_for 10 log_has "listening on 127.0.0.1:$PORT" || { echo "no listener"; tail "$SITE/logs/watcher.log"; exit 1; }
}
stop_daemon() { sendit stop_watcher --timeout 60 >/dev/null 2>&1; }
images_of() { sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = '$1' AND i.status = 'DONE'"; }
# storescu_rc ARGS...: storescu's output in $SITE/scu.out, its exit status returned.
storescu_rc() { timeout 30 storescu -aet STORESCU -aec INTAKE "$@" >"$SITE/scu.out" 2>&1; }
rejected_no_reason() { grep -q "Rejected Permanent, Source: Service User" "$SITE/scu.out" && grep -q "Reason: No Reason" "$SITE/scu.out"; }

new_site
# ---- 1. the users_file line ----
echo "right horse battery" | sendit set_password --dicom-user alice >"$SITE/users" 2>"$SITE/pw.err"
check "set_password --dicom-user prints NAME:argon2id-hash" grep -q '^alice:\$argon2id\$v=19\$' "$SITE/users"
echo "carol's passcode" | sendit set_password --dicom-user carol >>"$SITE/users" 2>>"$SITE/pw.err"
check_eq "two users, one line each" 2 "$(grep -c . "$SITE/users")"
check "a short passcode is refused" bash -c "echo short | '$SENDIT_BIN' set_password --dicom-user bob --config '$SITE/sendit.ini' >/dev/null 2>&1; test \$? = 1"
check "nothing was written to the web's password file" test ! -e "$SITE/sendit.passwd"

# ---- 2. the daemon requires user identity ----
PORT=$(free_port)
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "users_file=$SITE/users" timeout=5
start_daemon
check "the listener says it requires user identity" log_has "user identity required"
$MKDICOM "$SITE/src/USR1" 6 --pixels 64 >/dev/null || exit 1
files=("$SITE/src/USR1"/*.dcm)
check "storescu --user alice --password (right) stores" \
  storescu_rc --user alice --password "right horse battery" 127.0.0.1 "$PORT" "${files[@]}"
check "... the study ends DONE with every image" wait_for 30 batch_is USR1 DONE
check_eq "... 6 images" 6 "$(images_of USR1)"
check "the log names the user accepted" log_has "(STORESCU -> INTAKE, user 'alice')"
check "with -rsp (a positive answer asked for) too" \
  storescu_rc --user carol --password "carol's passcode" -rsp 127.0.0.1 "$PORT" "${files[0]}"
storescu_rc --user alice --password "wrong horse" 127.0.0.1 "$PORT" "${files[0]}"
check "a wrong passcode fails" test $? != 0
check "... rejected permanent, service user, no reason given" rejected_no_reason
check "... the log says why" wait_for 5 log_has "(user 'alice' unknown or wrong passcode)"
storescu_rc --user mallory --password "right horse battery" 127.0.0.1 "$PORT" "${files[0]}"
check "an unknown user fails" test $? != 0
check "... rejected with no reason given" rejected_no_reason
check "... the log says why" wait_for 5 log_has "(user 'mallory' unknown or wrong passcode)"
storescu_rc --user alice 127.0.0.1 "$PORT" "${files[0]}"
check "a username without passcode fails" test $? != 0
check "... rejected with no reason given" rejected_no_reason
check "... the log says why" wait_for 5 log_has "user identity of type 1 ('alice'), not username and passcode"
storescu_rc 127.0.0.1 "$PORT" "${files[0]}"
check "no user identity at all fails" test $? != 0
check "... rejected with no reason given" rejected_no_reason
check "... the log says why" wait_for 5 log_has "(no user identity proposed)"
echo "right horse battery" >"$SITE/alice.pw"
echo "not it" >"$SITE/bad.pw"
chmod 600 "$SITE"/*.pw
check "sendit echo --user alice --password-file -> the daemon" \
  timeout 30 "$SENDIT_BIN" echo --aec INTAKE --user alice --password-file "$SITE/alice.pw" 127.0.0.1 "$PORT"
out=$(timeout 30 "$SENDIT_BIN" echo --aec INTAKE --user alice --password-file "$SITE/bad.pw" 127.0.0.1 "$PORT" 2>&1)
check "... and with the wrong passcode file it is rejected, saying how" \
  grep -q "association rejected: permanent, no reason given (result 1, source 1, reason 1)" <<<"$out"
$MKDICOM "$SITE/src/USR2" 3 --pixels 64 >/dev/null || exit 1
check "sendit send --user --password-file -> the daemon" \
  timeout 30 "$SENDIT_BIN" send --no-progress -q --aec INTAKE --user alice --password-file "$SITE/alice.pw" \
  127.0.0.1 "$PORT" "$SITE/src/USR2"
check "... its study DONE" wait_for 30 batch_is USR2 DONE
check "--password without a file is no option (never a passcode on the command line)" \
  bash -c "'$SENDIT_BIN' send --user alice --password secret 127.0.0.1 $PORT x >/dev/null 2>&1; test \$? = 2"
check "--password-file without --user is a usage error" \
  bash -c "'$SENDIT_BIN' echo --password-file '$SITE/alice.pw' 127.0.0.1 $PORT >/dev/null 2>&1; test \$? = 2"
stop_daemon
echo "alice:not-a-hash" >"$SITE/broken-users"
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "users_file=$SITE/broken-users"
check "a users_file line that is not username:hash: the daemon does not start" \
  fails sendit start_watcher >"$SITE/start.out" 2>&1
check "... naming the file and the line" grep -q "broken-users.*line 1\|line 1.*broken-users" "$SITE/start.out" "$SITE/logs/watcher.log"
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE
start_daemon
check "without users_file a proposed identity is ignored (accepted)" \
  storescu_rc --user anyone --password whatever 127.0.0.1 "$PORT" "${files[0]}"
check "... and not answered: storescu -rsp, which needs the answer, gives up" \
  fails storescu_rc --user anyone --password whatever -rsp 127.0.0.1 "$PORT" "${files[0]}"
check "... for that reason" grep -q "Positive response requested but none received" "$SITE/scu.out"
stop_daemon

# ---- 3. sendit send --user -> storescp (which accepts any identity) ----
SPORT=$(free_port)
mkdir -p "$SITE/scp"
storescp -od "$SITE/scp" "$SPORT" >"$SITE/scp.log" 2>&1 &
bg+=($!)
wait_for 10 listening "$SPORT" # a probe connection would cost storescp +tls a failed handshake
check "sendit send --user --password-file -> storescp" \
  timeout 30 "$SENDIT_BIN" send --no-progress -q --user alice --password-file "$SITE/alice.pw" 127.0.0.1 "$SPORT" "$SITE/src/USR2"
check_eq "storescp has the 3 files" 3 "$(find "$SITE/scp" -type f | grep -c .)"
check "sendit send --user (username alone) -> storescp" \
  timeout 30 "$SENDIT_BIN" send --no-progress -q --user bob 127.0.0.1 "$SPORT" "$SITE/src/USR2"
stop_site
finish
