#!/usr/bin/env bash
# The dicomweb destination (STOW-RS, issue 16) driven by sendit_dest_drive:
#   1. against Orthanc with its DICOMweb plugin (Debian's orthanc + orthanc-dicomweb, on loopback,
#      HTTP Basic through RegisteredUsers): a corpus of generated and real files in several
#      requests; each instance is in Orthanc byte for byte (sha256 of /instances/ID/file); a file
#      Orthanc drops (trailing garbage after the pixel data) is failed with the reason while the
#      others are sent; a resend makes no second copy; wrong or missing credentials and Orthanc
#      stopped are errors;
#   2. against a test-own peer (stow_server.py) answering crafted responses: a partial 200, a 202
#      with warnings and retryable and final failures, a 409, XML, a body that is not JSON, a 400
#      without a body, a 503 (alone and after a confirmed request), a timeout, a bearer token; requests split by count and by size; the
#      bytes of every part are the file's.
# Skipped (exit 0, with a message) only when Orthanc or its DICOMweb plugin is not installed.
# Environment (set by ctest): SENDIT_BIN, SENDIT_DEST_DRIVE, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PLUGIN=/usr/share/orthanc/plugins/libOrthancDicomWeb.so
if ! command -v Orthanc >/dev/null || [ ! -f "$PLUGIN" ]; then
  echo "# skipped: Orthanc or its DICOMweb plugin is not installed (Debian packages orthanc, orthanc-dicomweb)"
  exit 0
fi
: "${SENDIT_DEST_DRIVE:?SENDIT_DEST_DRIVE must point to sendit_dest_drive}"
py=/usr/bin/python3
DRIVE=$SENDIT_DEST_DRIVE
mkdir -p "$SENDIT_TMP"
T=$(mktemp -d "$SENDIT_TMP/stow.XXXXXX") || exit 1
ORTHANC_PID= PEER_PID=
stop_orthanc() {
  if [ -n "$ORTHANC_PID" ]; then
    kill "$ORTHANC_PID" 2>/dev/null
    wait "$ORTHANC_PID" 2>/dev/null
    ORTHANC_PID=
  fi
}
cleanup() {
  stop_orthanc
  [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null && wait "$PEER_PID" 2>/dev/null
  [ -z "${KEEP_TMP:-}" ] && rm -rf "$T"
}
trap cleanup EXIT
# drive OUT key=value... -- FILES: runs the driver, output in $T/OUT, its status in $T/OUT.rc.
drive() {
  local out=$1; shift
  "$DRIVE" dicomweb stow "$@" >"$T/$out" 2>"$T/$out.err"
  echo $? >"$T/$out.rc"
}
rc_of() { cat "$T/$1.rc"; }
count() { grep -c -- "$2" "$T/$1"; }
line_of() { grep "^$2 " "$T/$1" | head -1; } # line_of OUT "sent 3"
no_sanitizer() { ! grep -q "Sanitizer\|runtime error:" "$T"/*.err; }

# ---- the corpus ----
$MKDICOM "$T/src/a" 20 --pixels 64 --study 1.2.826.0.1.3680043.10.4242.1 >/dev/null || exit 1
$MKDICOM "$T/src/b" 10 --pixels 64 --study 1.2.826.0.1.3680043.10.4242.2 --modality MR >/dev/null || exit 1
REAL=()
for f in JPEG2000.dcm SC_rgb_rle_2frame.dcm MR_small_jpeg_ls_lossless.dcm rtstruct.dcm test-SR.dcm image_dfl.dcm; do
  p="${SENDIT_SAMPLES:-/nonexistent}/pydicom/src/pydicom/data/test_files/$f"
  [ -f "$p" ] && REAL+=("$p")
done
GOOD=("$T"/src/a/*.dcm "$T"/src/b/*.dcm "${REAL[@]}")
# A file sendit's header read takes but Orthanc drops: garbage after the pixel data.
$py - "$T/src/a/IMG00001.dcm" "$T/src/dropped.dcm" <<'PY' || exit 1
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = str(ds.SOPInstanceUID) + ".99"
ds.save_as(sys.argv[2], write_like_original=False)
open(sys.argv[2], "ab").write(b"\x08\x00\x16\x00ZZ\xff\xff" + b"\x99" * 50)
PY
ok "corpus: ${#GOOD[@]} files (${#REAL[@]} real samples) and one Orthanc drops"

# ---- Orthanc with DICOMweb, HTTP Basic ----
HTTP=$(free_port) DPORT=$(free_port)
mkdir -p "$T/orthanc/db"
cat >"$T/orthanc/cfg.json" <<JSON
{
  "Name": "sendit-stow-test", "StorageDirectory": "$T/orthanc/db", "IndexDirectory": "$T/orthanc/db",
  "HttpPort": $HTTP, "DicomPort": $DPORT, "RemoteAccessAllowed": false,
  "AuthenticationEnabled": true, "RegisteredUsers": { "sendit": "pw-ok 1" },
  "StorageCompression": false, "Plugins": [ "$PLUGIN" ],
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/" }
}
JSON
env TCP_NODELAY=1 Orthanc "$T/orthanc/cfg.json" >"$T/orthanc/log" 2>&1 &
ORTHANC_PID=$!
rest() { curl -sf -u "sendit:pw-ok 1" "http://127.0.0.1:$HTTP$1" "${@:2}"; }
wait_for 30 rest /system -o /dev/null || { echo "Orthanc did not start:"; tail -20 "$T/orthanc/log"; exit 1; }
ok "Orthanc runs with DICOMweb (HTTP $HTTP)"
URL=http://127.0.0.1:$HTTP/dicom-web
printf 'pw-ok 1\n' >"$T/pw" && chmod 600 "$T/pw"
printf 'pw-wrong\n' >"$T/pw-wrong" && chmod 600 "$T/pw-wrong"
AUTH=(username=sendit "password_file=$T/pw")
N=${#GOOD[@]}

drive o1 url=$URL "${AUTH[@]}" instances_per_request=7 -- "${GOOD[@]:0:12}" "$T/src/dropped.dcm" "${GOOD[@]:12}"
check_eq "Orthanc: the driver says some were not sent (status 1)" 1 "$(rc_of o1)"
check_eq "every good file is reported sent, confirmed by ReferencedSOPSequence" "$N" "$(grep -c '^sent .* HTTP [0-9]*: ReferencedSOP$' "$T/o1")"
check_eq "the dropped file is failed, retryable, with the reason" \
  "failed retryable 12 $T/src/dropped.dcm not confirmed by the response (HTTP 400)" "$(line_of o1 "failed retryable 12")"
check_eq "each item reported once" "$((N + 1))" "$(wc -l <"$T/o1")"
check_eq "Orthanc lists exactly the good instances" "$N" "$(rest /instances | $py -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "each is in Orthanc byte for byte (sha256 of /instances/ID/file by SOPInstanceUID)" \
  $py "$HERE/stow_check.py" "http://127.0.0.1:$HTTP" "sendit:pw-ok 1" "${GOOD[@]}"

drive o2 url=$URL/ "${AUTH[@]}" -- "${GOOD[@]}"
check_eq "a resend (one request, URL with a trailing slash) is confirmed again" "0 $N" "$(rc_of o2) $(count o2 '^sent ')"
check_eq "and makes no second copy" "$N" "$(rest /instances | $py -c 'import json,sys; print(len(json.load(sys.stdin)))')"

drive o3 url=$URL username=sendit "password_file=$T/pw-wrong" -- "${GOOD[@]:0:3}"
check_eq "a wrong password is an error (status 2) naming HTTP 401, nothing reported" "2 1 0" \
  "$(rc_of o3) $(count o3 '^error: .*HTTP 401: the destination refuses') $(count o3 '^sent ')"
drive o4 url=$URL -- "${GOOD[@]:0:3}"
check_eq "no credentials: the same" "2 1" "$(rc_of o4) $(count o4 'HTTP 401')"
chmod 644 "$T/pw-wrong"
drive o5 url=$URL username=sendit "password_file=$T/pw-wrong" -- "${GOOD[@]:0:1}"
check_eq "a password file anyone may read is refused" "2 1" "$(rc_of o5) $(count o5 'anyone may read it')"
drive o6 url=ftp://127.0.0.1/x -- "${GOOD[@]:0:1}"
check_eq "a URL of another scheme fails the check" "2 1" "$(rc_of o6) $(count o6 'destination stow: url: an http')"

stop_orthanc
drive o7 url=$URL "${AUTH[@]}" -- "${GOOD[@]:0:3}"
check_eq "Orthanc stopped: an error, destination unreachable, nothing reported" "2 1 0" \
  "$(rc_of o7) $(count o7 '^error: .*destination unreachable') $(count o7 '^sent \|^failed ')"

# ---- a test-own peer with crafted answers ----
$py "$HERE/stow_server.py" "$T/peer.port" "$T/peer" &
PEER_PID=$!
wait_for 10 test -s "$T/peer.port" || { echo "the test peer did not start"; exit 1; }
P=http://127.0.0.1:$(cat "$T/peer.port")
F=("${GOOD[@]:0:5}")

drive p1 url=$P/partial200 -- "${F[@]}"
check_eq "partial 200: only the instance the answer names is sent" "1 1" "$(rc_of p1) $(count p1 '^sent ')"
check_eq "the others are failed, retryable: not confirmed by the response" 4 \
  "$(grep -c '^failed retryable [1-4] .* not confirmed by the response (HTTP 200)$' "$T/p1")"
cmp_parts() { # the parts the peer saved under MODE, in order, are the files
  local mode=$1 k=0 n; shift
  for n in $(ls "$T/peer/$mode" | sort -n); do
    cmp -s "$T/peer/$mode/$n" "$1" || return 1
    k=$((k + 1)); shift
  done
  [ "$#" -eq 0 ]
}
check "each part of the body is its file byte for byte" cmp_parts partial200 "${F[@]}"

drive p2 url=$P/mixed202 -- "${F[@]:0:4}"
check_eq "202: the referenced instance is sent, with its WarningReason" \
  "sent 0 ${F[0]} HTTP 202: ReferencedSOP, WarningReason 0xB000: coercion of data elements" "$(line_of p2 "sent 0")"
check_eq "202: A700 is failed, retryable" \
  "failed retryable 1 ${F[1]} 0xA700: out of resources (HTTP 202: FailedSOP)" "$(line_of p2 "failed retryable 1")"
check_eq "202: C000 is failed for good" \
  "failed final 2 ${F[2]} 0xC000: cannot understand (HTTP 202: FailedSOP)" "$(line_of p2 "failed final 2")"
check_eq "202: the one not mentioned is failed, retryable" 1 "$(count p2 '^failed retryable 3 .*not confirmed')"

drive p3 url=$P/all409 -- "${F[@]:0:2}"
check_eq "409: every instance failed for good with its reason" 2 "$(count p3 '^failed final .* 0xA900: data set does not match SOP class (HTTP 409: FailedSOP)$')"
drive p4 url=$P/xml -- "${F[@]:0:2}"
check_eq "an XML answer: failed, retryable, saying so" "1 2" "$(rc_of p4) $(count p4 '^failed retryable .*HTTP 200: the answer is XML')"
drive p5 url=$P/garbage -- "${F[@]:0:2}"
check_eq "a 200 that is not JSON: failed, retryable (HTTP 200 alone proves nothing)" 2 "$(count p5 '^failed retryable .*HTTP 200: the answer is not JSON')"
drive p6 url=$P/empty400 -- "${F[@]:0:2}"
check_eq "a 400 without a body: failed for good with the status" 2 "$(count p6 '^failed final .*HTTP 400: the answer is empty')"
drive p7 url=$P/s503 -- "${F[@]:0:2}"
check_eq "a 503: an error, nothing reported" "2 1 0" "$(rc_of p7) $(count p7 '^error: .*HTTP 503: busy') $(count p7 '^sent \|^failed ')"
drive p7b url=$P/then503 instances_per_request=2 -- "${F[@]}"
check_eq "a 503 after a confirmed request: the first request's two are reported sent, then the error" "2 2 0 1" \
  "$(rc_of p7b) $(count p7b '^sent [01] ') $(count p7b '^sent [2-4] \|^failed ') $(count p7b '^error: .*HTTP 503: overloaded')"
start=$(date +%s)
drive p8 url=$P/slow timeout=1 -- "${F[@]:0:1}"
check_eq "no answer within timeout=1: an error, destination unreachable" "2 1" "$(rc_of p8) $(count p8 '^error: .*destination unreachable.*timed out')"
check "and it gave up within 4 s" test $(($(date +%s) - start)) -lt 4

printf 'tok-123\n' >"$T/tok" && chmod 600 "$T/tok"
printf 'tok-999\n' >"$T/tok-bad" && chmod 600 "$T/tok-bad"
drive p9 url=$P/bearer "token_file=$T/tok" -- "${F[@]:0:3}"
check_eq "a bearer token: sent" "0 3" "$(rc_of p9) $(count p9 '^sent ')"
drive p10 url=$P/bearer "token_file=$T/tok-bad" -- "${F[@]:0:3}"
check_eq "a wrong bearer token: an error naming HTTP 401" "2 1" "$(rc_of p10) $(count p10 'HTTP 401')"

: >"$T/peer/requests.log"
drive p11 url=$P/partial200 instances_per_request=2 -- "${F[@]}"
check_eq "instances_per_request=2: 5 instances in requests of 2, 2 and 1" "2 2 1" \
  "$(awk '{print $2}' "$T/peer/requests.log" | paste -sd' ')"
check_eq "each request's named instance is sent" "0 2 4" "$(grep '^sent ' "$T/p11" | awk '{print $2}' | paste -sd' ')"
$MKDICOM "$T/src/big" 3 --pixels 400 --study 1.2.826.0.1.3680043.10.4242.3 >/dev/null || exit 1
: >"$T/peer/requests.log"
drive p12 url=$P/bearer "token_file=$T/tok" max_request_mb=1 -- "$T"/src/big/*.dcm
check_eq "max_request_mb=1: three files of 320 kB fit in one request" "0 3" \
  "$(rc_of p12) $(awk '{print $2}' "$T/peer/requests.log" | paste -sd' ')"
: >"$T/peer/requests.log"
drive p13 url=$P/bearer "token_file=$T/tok" max_request_mb=1 -- "$T"/src/big/*.dcm "$T"/src/big/*.dcm
check_eq "six such files: requests of 3 and 3, none over 1 MB" "3 3" "$(awk '{print $2}' "$T/peer/requests.log" | paste -sd' ')"
check "every request's Content-Length is within 1 MiB + headers" \
  awk '$3 > 1048576 + 4096 { exit 1 }' "$T/peer/requests.log"
check "no sanitizer report from the driver" no_sanitizer
finish
