#!/usr/bin/env bash
# TLS for the DICOM network (issue 15) against DCMTK's +tls options (TCP_NODELAY=1), with a CA, a server
# and a client certificate made here by openssl (and a second CA that signs a rogue certificate):
#   1. storescu +tls -> the daemon ([dicom] tls_cert, tls_key): the study ends as a DONE batch with every
#      image, each data set the one sent; echoscu +tls too;
#   2. refusals, each ending cleanly with the reason in the log and the listener serving on: a client that
#      trusts another CA, a plain (non-TLS) storescu and `sendit echo` to the TLS port, a peer that connects
#      and says nothing (its handshake ends after [dicom] timeout);
#   3. `sendit send --tls` -> storescp +tls: stored and the same; the server certificate verified against
#      --tls-ca (another CA refused with the verification error), its name checked (an address it does
#      not name refused), --tls-no-verify accepting it with a warning; storescp requiring a client
#      certificate gets ours (--tls-cert/--tls-key), and refuses us without one;
#   4. the daemon with [dicom] tls_ca: a client certificate is required and verified: storescu with ours
#      stores, anonymous TLS (+tla) and the rogue certificate are refused; tls_verify_peer = false stops
#      asking for one.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
py=/usr/bin/python3
cmp_py="$HERE/dicom_compare.py"
export TCP_NODELAY=1
for tool in echoscu storescu storescp dcmdump openssl; do
  command -v "$tool" >/dev/null || { echo "$tool is needed"; exit 1; }
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
uid_of() { dcmdump -q +P SOPInstanceUID "$1" | sed 's/.*\[\(.*\)\].*/\1/'; }
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
fails() { ! "$@"; }
stored_same() { # stored_same SRC_DIR DIR: every file of SRC_DIR is once below DIR with the same data set
  local f got bad=0 n=0 jobs="$SITE/jobs.jsonl"
  : >"$jobs"
  for f in "$1"/*.dcm; do
    got=$(find "$2" -type f \( -name "$(uid_of "$f").dcm" -o -name "*.$(uid_of "$f")" \))
    if [ "$(echo "$got" | grep -c .)" != 1 ]; then bad=$((bad + 1)); echo "  missing or twice: $f -> '$got'"; continue; fi
    n=$((n + 1))
    printf '{"id": "%s", "a": "%s", "b": "%s", "expect": "same", "by_creator": true, "dcmdump": true}\n' "$n" "$f" "$got" >>"$jobs"
  done
  $py "$cmp_py" batch "$jobs" >"$SITE/cmp.out" 2>&1 || { bad=$((bad + 1)); grep -v '^PASS' "$SITE/cmp.out" | head -5; }
  [ "$bad" = 0 ] && [ "$(grep -c '^PASS' "$SITE/cmp.out")" = "$n" ] && [ "$n" -gt 0 ]
}

new_site
PKI="$SITE/pki"
mkdir -p "$PKI"
# mkca NAME; mkcert CA NAME SUBJECT_ALT_NAMES: RSA 2048 (what DCMTK's BCP 195 profile negotiates).
mkca() {
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$PKI/$1.key" -out "$PKI/$1.pem" -days 2 -subj "/CN=$1" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}
mkcert() {
  openssl req -newkey rsa:2048 -nodes -keyout "$PKI/$2.key" -out "$PKI/$2.csr" -subj "/CN=$2" 2>/dev/null &&
    printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' \
      "$3" >"$PKI/$2.ext" &&
    openssl x509 -req -in "$PKI/$2.csr" -CA "$PKI/$1.pem" -CAkey "$PKI/$1.key" -CAcreateserial -out "$PKI/$2.pem" \
      -days 2 -extfile "$PKI/$2.ext" 2>/dev/null
}
{ mkca ca && mkca otherca && mkcert ca server "DNS:localhost,IP:127.0.0.1,IP:::1" && mkcert ca client "DNS:client" &&
  mkcert otherca rogue "DNS:localhost,IP:127.0.0.1"; } || { echo "openssl could not make the certificates"; exit 1; }
chmod 600 "$PKI"/*.key

# ---- 1. storescu +tls -> the daemon ----
PORT=$(free_port)
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "tls_cert=$PKI/server.pem" "tls_key=$PKI/server.key" timeout=5
start_daemon
check "the daemon's listener says TLS" log_has "as INTAKE, TLS"
# A peer that connects and says nothing: its handshake must end after the 5 s timeout (checked in part 2).
(exec 3<>"/dev/tcp/127.0.0.1/$PORT" && sleep 12) 2>/dev/null &
bg+=($!)
silent_t0=$(date +%s)
$MKDICOM "$SITE/src/TLS1" 12 --pixels 256 >/dev/null || exit 1
tls_client=(+tls "$PKI/client.key" "$PKI/client.pem" +cf "$PKI/ca.pem")
check "echoscu +tls -> the daemon" echoscu "${tls_client[@]}" -aec INTAKE 127.0.0.1 "$PORT"
check "storescu +tls of 12 CT files -> the daemon" \
  storescu +sd "${tls_client[@]}" -aet STORESCU -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/TLS1"
check "the study ends as a DONE batch" wait_for 30 batch_is TLS1 DONE
check_eq "with every image" 12 "$(images_of TLS1)"
check "every stored data set is the one sent" stored_same "$SITE/src/TLS1" "$SITE/storage/TLS1"
check "the log names the TLS version of the association" \
  grep -qE "association [0-9]+ from .*STORESCU -> INTAKE, TLSv1\.[23] " "$SITE/logs/watcher.log"

# ---- 2. refusals at the TLS port ----
$MKDICOM "$SITE/src/TLS2" 2 --pixels 64 >/dev/null || exit 1
check "a client that trusts another CA refuses the daemon's certificate" \
  bash -c "! timeout 30 storescu +tls '$PKI/client.key' '$PKI/client.pem' +cf '$PKI/otherca.pem' -aec INTAKE 127.0.0.1 $PORT '$SITE/src/TLS2'/*.dcm >'$SITE/wrongca.out' 2>&1"
check "... and the daemon logs the handshake's failure (unknown CA)" wait_for 5 log_has "TLS handshake failed: tlsv1 alert unknown ca"
check "a plain storescu to the TLS port fails (within its timeout)" \
  bash -c "! timeout 30 storescu -aec INTAKE 127.0.0.1 $PORT '$SITE/src/TLS2'/*.dcm >'$SITE/plain.out' 2>&1"
check "... logged as a failed handshake, not a crash" wait_for 5 log_has "TLS handshake failed: wrong version number"
out=$(timeout 30 "$SENDIT_BIN" echo --aec INTAKE 127.0.0.1 "$PORT" 2>&1)
check "plain \`sendit echo\` to the TLS port fails with an error" test $? = 1
echo "  $out"
check "... which says the port may expect TLS" grep -qF "if this port expects TLS, turn TLS on" <<<"$out"
check "TLS \`sendit echo\` verifying the daemon's certificate" \
  timeout 30 "$SENDIT_BIN" echo --tls --tls-ca "$PKI/ca.pem" --aec INTAKE 127.0.0.1 "$PORT"
check "the same by name (localhost is in the certificate)" \
  timeout 30 "$SENDIT_BIN" echo --tls --tls-ca "$PKI/ca.pem" --aec INTAKE localhost "$PORT"
check "the listener serves on after them" storescu "${tls_client[@]}" -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/TLS2"/*.dcm
check "nothing half-received is left in the input folder" wait_for 30 batch_is TLS2 DONE
check "a silent peer's handshake ends after the timeout (ARTIM)" wait_for 10 log_has "TLS handshake not finished within the timeout (ARTIM)"
check "... not before it" test $(($(date +%s) - silent_t0)) -ge 5
stop_daemon

# ---- 3. sendit send --tls -> storescp +tls ----
send_to() { timeout 60 "$SENDIT_BIN" send --no-progress -q "$@" "$SITE/src/TLS1" >"$SITE/send.out" 2>&1; }
SPORT=$(free_port)
mkdir -p "$SITE/scp1"
storescp +tls "$PKI/server.key" "$PKI/server.pem" -ic -od "$SITE/scp1" "$SPORT" >"$SITE/scp1.log" 2>&1 &
bg+=($!)
wait_for 10 listening "$SPORT" # a probe connection would cost storescp +tls a failed handshake
check "sendit send --tls -> storescp +tls (12 files)" send_to --tls --tls-ca "$PKI/ca.pem" 127.0.0.1 "$SPORT"
check "storescp received every data set as it was sent" stored_same "$SITE/src/TLS1" "$SITE/scp1"
check "a server certificate of a CA not trusted is refused" fails send_to --tls --tls-ca "$PKI/otherca.pem" 127.0.0.1 $SPORT
check "... with the verification error" grep -q "certificate is refused: unable to get local issuer certificate" "$SITE/send.out"
check "an address the certificate does not name is refused (127.0.0.2)" fails send_to --tls --tls-ca "$PKI/ca.pem" 127.0.0.2 $SPORT
check "... saying so" grep -q "IP address mismatch" "$SITE/send.out"
check "--tls-no-verify accepts it" send_to --tls --tls-no-verify 127.0.0.2 "$SPORT"
check "... with a warning" grep -q "warning: --tls-no-verify" "$SITE/send.out"
kill "${bg[-1]}"
SPORT=$(free_port)
mkdir -p "$SITE/scp2"
storescp +tls "$PKI/server.key" "$PKI/server.pem" +cf "$PKI/ca.pem" -od "$SITE/scp2" "$SPORT" >"$SITE/scp2.log" 2>&1 &
bg+=($!)
wait_for 10 listening "$SPORT" # a probe connection would cost storescp +tls a failed handshake
check "storescp requiring a client certificate gets ours" \
  send_to --tls --tls-ca "$PKI/ca.pem" --tls-cert "$PKI/client.pem" --tls-key "$PKI/client.key" localhost "$SPORT"
check "... and every data set" stored_same "$SITE/src/TLS1" "$SITE/scp2"
check "without one we are refused" fails send_to --tls --tls-ca "$PKI/ca.pem" localhost $SPORT
check "... and told so" grep -q "certificate required" "$SITE/send.out"
check "a key without its certificate is a usage error" \
  bash -c "'$SENDIT_BIN' send --tls --tls-key '$PKI/client.key' localhost $SPORT x >/dev/null 2>&1; test \$? = 2"
kill "${bg[-1]}"

# ---- 4. client certificates required by the daemon ([dicom] tls_ca) ----
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "tls_cert=$PKI/server.pem" "tls_key=$PKI/server.key" \
  "tls_ca=$PKI/ca.pem" timeout=5
start_daemon
check "the listener says it requires client certificates" log_has "TLS (client certificates required)"
$MKDICOM "$SITE/src/TLS3" 4 --pixels 64 >/dev/null || exit 1
check "storescu with our client certificate stores" \
  storescu "${tls_client[@]}" -aec INTAKE 127.0.0.1 "$PORT" "$SITE/src/TLS3"/*.dcm
check "... its study DONE" wait_for 30 batch_is TLS3 DONE
check "anonymous TLS (no client certificate) is refused" \
  bash -c "! timeout 30 echoscu +tla +cf '$PKI/ca.pem' -aec INTAKE 127.0.0.1 $PORT >/dev/null 2>&1"
check "... the log says why" wait_for 5 log_has "TLS handshake failed: peer did not return a certificate"
check "a certificate of another CA is refused" \
  bash -c "! timeout 30 echoscu +tls '$PKI/rogue.key' '$PKI/rogue.pem' +cf '$PKI/ca.pem' -aec INTAKE 127.0.0.1 $PORT >/dev/null 2>&1"
check "... the log says why" wait_for 5 log_has "the peer's certificate is refused: unable to get local issuer certificate"
check "the log names the client certificate accepted" log_has "peer /CN=client"
stop_daemon
dicom_ini listen=127.0.0.1:$PORT ae_title=INTAKE "tls_cert=$PKI/server.pem" "tls_key=$PKI/server.key" \
  "tls_ca=$PKI/ca.pem" tls_verify_peer=false timeout=5
start_daemon
check "with tls_verify_peer = false anonymous TLS is served" echoscu +tla +cf "$PKI/ca.pem" -aec INTAKE 127.0.0.1 "$PORT"
stop_daemon
dicom_ini listen=127.0.0.1:$PORT "tls_cert=$PKI/server.pem"
check "a certificate without its key: the daemon does not start, saying why" \
  bash -c "! '$SENDIT_BIN' start_watcher --config '$SITE/sendit.ini' >'$SITE/start.out' 2>&1"
grep -q "needs a certificate and its key" "$SITE/start.out" "$SITE/logs/watcher.log" 2>/dev/null ||
  not_ok "... the error names the missing key: $(cat "$SITE/start.out")"
stop_site
finish
