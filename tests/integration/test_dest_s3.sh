#!/usr/bin/env bash
# The s3 destination (issue 16) against npm's s3rver on loopback (tests/s3; it does not check SigV4
# signatures, tests/unit/deliver/test_sigv4.c checks those against AWS's vectors), driven by
# $SENDIT_DEST_DRIVE:
#   1. a corpus of two generated studies and two public samples: every instance sent, each object read
#      back identical, its ETag its MD5, one manifest.jsonl per study whose lines match the files
#      (size, md5, sha256);
#   2. a resend: every instance "already present", no object stored again, the manifests byte for byte
#      the same; a second batch of the same study adds its lines to the study's manifest;
#   3. an 18 MB instance with multipart_mb=5 goes up in two parts and reads back identical; resent, it
#      is already present;
#   4. virtual-host style (bucket.s3.localhost) with a prefix; mode = archive: the batch's package (tar
#      and manifest) as two objects, read back and extracted byte-identical, a resend already present;
#   5. refusals: a wrong bucket fails every instance for good naming NoSuchBucket, an unknown access key
#      names InvalidAccessKeyId, a file without UIDs fails alone; configuration errors (an unknown mode, no
#      secret file, a bad endpoint) stop before any request;
#   6. the store stopped: an error naming the connection, nothing reported sent.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP, SENDIT_DEST_DRIVE, SENDIT_SAMPLES. KEEP_TMP=1 keeps
# the scratch.
set -u
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
: "${SENDIT_DEST_DRIVE:?SENDIT_DEST_DRIVE must point to sendit_dest_drive}"
py=/usr/bin/python3
s3dir="$HERE/../s3"
if [ ! -x "$s3dir/node_modules/.bin/s3rver" ]; then
  npm ci --prefix "$s3dir" --no-audit --no-fund >/dev/null 2>&1 || { echo "npm ci --prefix tests/s3 failed"; exit 1; }
fi
mkdir -p "$SENDIT_TMP"
tmp="$(mktemp -d "$SENDIT_TMP/test_dest_s3.XXXXXX")" || exit 1
S3PID=
cleanup() {
  [ -n "$S3PID" ] && kill "$S3PID" 2>/dev/null && wait "$S3PID" 2>/dev/null
  [ -z "${KEEP_TMP:-}" ] && rm -rf "$tmp"
}
trap cleanup EXIT

# start_store: s3rver on a free port with the bucket "dicom"; sets PORT, S3PID. It answers
# path-style requests on 127.0.0.1 and virtual-host ones on <bucket>.s3.localhost.
start_store() {
  node "$s3dir/node_modules/s3rver/bin/s3rver.js" -d "$tmp/store" -a 127.0.0.1 -p 0 \
    --service-endpoint localhost --configure-bucket dicom >"$tmp/s3rver.log" 2>&1 &
  S3PID=$!
  local i
  for i in $(seq 100); do
    PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$tmp/s3rver.log" | cut -d: -f2)
    [ -n "$PORT" ] && return 0
    sleep 0.1
  done
  echo "s3rver did not start:"; cat "$tmp/s3rver.log"
  exit 1
}
start_store
echo S3RVER >"$tmp/secret"
EP="http://127.0.0.1:$PORT"
drive() { "$SENDIT_DEST_DRIVE" s3 store "$@"; }
common=(endpoint="$EP" bucket=dicom access_key=S3RVER secret_key_file="$tmp/secret")
# stored_dcm: how many .dcm objects s3rver has stored (PUT or completed multipart) so far.
stored_dcm() { grep -c 'Stored object ".*\.dcm"' "$tmp/s3rver.log"; }
# get KEY OUT: the object read back over plain HTTP.
get() { curl -sf -o "$2" "$EP/dicom/$1"; }

# 1. The corpus.
STUDY_A=1.2.826.0.1.3680043.10.4242.1
STUDY_B=1.2.826.0.1.3680043.10.4242.2
$MKDICOM "$tmp/corpus" 6 --study "$STUDY_A" --prefix A --pixels 64 >/dev/null
$MKDICOM "$tmp/corpus" 4 --study "$STUDY_B" --prefix B --pixels 32 >/dev/null
samples="${SENDIT_SAMPLES:-$HERE/../../../shared/dicom-samples}"
for f in pydicom/src/pydicom/data/charset_files/chrGerm.dcm pydicom/src/pydicom/data/charset_files/chrJapMultiExplicitIR6.dcm; do
  [ -f "$samples/$f" ] && cp "$samples/$f" "$tmp/corpus/sample_${f##*/}"
done
files=("$tmp"/corpus/*.dcm)
n=${#files[@]}
drive "${common[@]}" -- "${files[@]}" >"$tmp/send1.out" 2>"$tmp/send1.err"
check_eq "first send exits 0" 0 $?
check_eq "every instance sent with its etag" "$n" "$(grep -c '^sent .* s3://dicom/.* etag [0-9a-f]\{32\}$' "$tmp/send1.out")"
check_eq "nothing failed" 0 "$(grep -vc '^sent ' "$tmp/send1.out")"
check_eq "s3rver stored every instance once" "$n" "$(stored_dcm)"
same=0 etags=0
while read -r _ _ path url _ etag; do
  key=${url#s3://dicom/}
  get "$key" "$tmp/back.dcm" && cmp -s "$path" "$tmp/back.dcm" && same=$((same + 1))
  [ "$etag" = "$(md5sum <"$path" | cut -d' ' -f1)" ] && etags=$((etags + 1))
done <"$tmp/send1.out"
check_eq "every object reads back identical" "$n" "$same"
check_eq "every ETag is the file's MD5" "$n" "$etags"
check "the key is <study>/<series>/<instance>.dcm" \
  grep -q "s3://dicom/$STUDY_A/$STUDY_A\.1/$STUDY_A\.9\.[0-9]*\.100001\.dcm etag" "$tmp/send1.out"

# The manifest of study A: one line per instance, matching the files.
check "study A's manifest is there" get "$STUDY_A/manifest.jsonl" "$tmp/manifest_a1"
manifest_matches() { # manifest_matches MANIFEST OUT_LINES FILE...: each line's key/size/md5/sha256 match a file
  $py - "$@" <<'PY'
import hashlib, json, sys
manifest, files = sys.argv[1], sys.argv[2:]
by_name = {}
for f in files:
    data = open(f, "rb").read()
    by_name[f] = (len(data), hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest())
wanted = {v for v in by_name.values()}
lines = [json.loads(l) for l in open(manifest) if l.strip()]
keys = [l["key"] for l in lines]
assert keys == sorted(keys), "not sorted by key"
assert len(set(keys)) == len(keys), "a key twice"
got = {(l["size"], l["md5"], l["sha256"]) for l in lines}
assert got == wanted, f"manifest {got ^ wanted}"
print(len(lines))
PY
}
check_eq "study A's manifest lists its 6 instances with size, md5 and sha256" 6 \
  "$(manifest_matches "$tmp/manifest_a1" "$tmp"/corpus/A*.dcm)"
check "study B's manifest lists its 4" test "$(manifest_matches <(curl -sf "$EP/dicom/$STUDY_B/manifest.jsonl") "$tmp"/corpus/B*.dcm)" = 4

# 2. A resend: nothing stored again, the same manifests.
drive "${common[@]}" -- "${files[@]}" >"$tmp/send2.out" 2>"$tmp/send2.err"
check_eq "resend exits 0" 0 $?
check_eq "every instance already present" "$n" "$(grep -c '^sent .* already present, md5 [0-9a-f]\{32\}$' "$tmp/send2.out")"
check_eq "no instance stored a second time" "$n" "$(stored_dcm)"
get "$STUDY_A/manifest.jsonl" "$tmp/manifest_a2"
check "the manifest after the resend is byte for byte the same" cmp -s "$tmp/manifest_a1" "$tmp/manifest_a2"
objects() { curl -sf "$EP/dicom?list-type=2&max-keys=1000" | grep -o '<Key>[^<]*</Key>' | wc -l; }
studies=$(grep -o 's3://dicom/[0-9.]*/' "$tmp/send1.out" | sort -u | wc -l)
check_eq "the bucket holds each instance and each study's manifest once" $((n + studies)) "$(objects)"
# A later batch of study A: its manifest keeps the first batch's lines and adds the new ones.
$MKDICOM "$tmp/later" 2 --study "$STUDY_A" --prefix C --sop-prefix "$STUDY_A.77" >/dev/null
drive "${common[@]}" -- "$tmp"/later/*.dcm >"$tmp/send3.out" 2>&1
check_eq "a second batch of study A is sent" 2 "$(grep -c '^sent .* etag ' "$tmp/send3.out")"
check_eq "study A's manifest now lists 8" 8 \
  "$(manifest_matches <(curl -sf "$EP/dicom/$STUDY_A/manifest.jsonl") "$tmp"/corpus/A*.dcm "$tmp"/later/*.dcm)"

# 3. Multipart: 18 MB over multipart_mb=5 goes up in 16 MiB parts (two).
$MKDICOM "$tmp/big" 1 --study 1.2.826.0.1.3680043.10.4242.3 --pixels 3000 >/dev/null
big=("$tmp"/big/*.dcm)
drive "${common[@]}" multipart_mb=5 -- "${big[@]}" >"$tmp/big.out" 2>&1
check_eq "the large instance is sent" 0 $?
check "it went up in two parts" grep -q 'Stored part 2 of' "$tmp/s3rver.log"
check "and not in three" bash -c "! grep -q 'Stored part 3 of' '$tmp/s3rver.log'"
key=$(awk '/^sent/ {sub("s3://dicom/", "", $4); print $4}' "$tmp/big.out")
check "the large object reads back identical" bash -c "curl -sf '$EP/dicom/$key' | cmp -s - '${big[0]}'"
drive "${common[@]}" multipart_mb=5 -- "${big[@]}" >"$tmp/big2.out" 2>&1
check "resent, it is already present" grep -q '^sent .* already present' "$tmp/big2.out"

# 4. Virtual-host style with a prefix.
drive "${common[@]/#endpoint=*/endpoint=http://s3.localhost:$PORT}" path_style=false prefix=site-a/ \
  -- "${files[0]}" >"$tmp/vhost.out" 2>&1
check_eq "virtual-host style sends" 0 $?
key=$(awk '/^sent/ {sub("s3://dicom/", "", $4); print $4}' "$tmp/vhost.out")
check "under the prefix" test "${key#site-a/}" != "$key"
check "and reads back path-style identical" bash -c "curl -sf '$EP/dicom/$key' | cmp -s - '${files[0]}'"

# 4b. mode = archive: the batch's package (the folder type's tar and manifest) as two objects.
mkdir -p "$tmp/staging"
drive "${common[@]}" mode=archive prefix=pkg/ "staging_dir=$tmp/staging" -- "${files[@]}" >"$tmp/archive.out" 2>&1
check_eq "archive mode sends every instance" "0 ${#files[@]}" "$? $(grep -c '^sent .*(archive of' "$tmp/archive.out")"
akey=$(awk '/^sent/ {sub("s3://dicom/", "", $4); print $4; exit}' "$tmp/archive.out")
check "the archive's key is under the prefix, by the layout" bash -c '[[ "$1" == pkg/sendit/*/*.tar ]]' _ "$akey"
curl -sf -o "$tmp/got.tar" "$EP/dicom/$akey"
check_eq "the archive read back lists every instance" "${#files[@]}" "$(tar -tf "$tmp/got.tar" | grep -c '\.dcm$')"
mkdir -p "$tmp/untar"
tar -xf "$tmp/got.tar" -C "$tmp/untar"
same=0
for f in "${files[@]}"; do
  u=$(dcmdump -q +P SOPInstanceUID "$f" | sed 's/.*\[\(.*\)\].*/\1/')
  m=$(find "$tmp/untar" -name "$u.dcm" | head -1)
  [ -n "$m" ] && cmp -s "$f" "$m" && same=$((same + 1))
done
check_eq "each member is byte-identical to its file" "${#files[@]}" "$same"
check_eq "the manifest object lists each instance" "${#files[@]}" \
  "$(curl -sf "$EP/dicom/$akey.manifest.jsonl" | grep -c '"row": *"instance"')"
check_eq "nothing is left in the staging folder" "" "$(ls -A "$tmp/staging")"
drive "${common[@]}" mode=archive prefix=pkg/ "staging_dir=$tmp/staging" -- "${files[@]}" >"$tmp/archive2.out" 2>&1
check_eq "a resend finds the same archive already present" "${#files[@]}" "$(grep -c '^sent .*already present' "$tmp/archive2.out")"

# 5. Refusals and configuration errors.
drive endpoint="$EP" bucket=nosuch access_key=S3RVER secret_key_file="$tmp/secret" -- "${files[@]:0:3}" >"$tmp/nobucket.out" 2>&1
check_eq "a wrong bucket exits 1" 1 $?
check_eq "every instance fails for good naming NoSuchBucket" 3 "$(grep -c '^failed final .*NoSuchBucket' "$tmp/nobucket.out")"
check "with the store's message" grep -q 'does not exist' "$tmp/nobucket.out"
drive endpoint="$EP" bucket=dicom access_key=NOBODY secret_key_file="$tmp/secret" -- "${files[0]}" >"$tmp/nokey.out" 2>&1
check "an unknown access key fails for good naming InvalidAccessKeyId" grep -q '^failed final .*HTTP 403 InvalidAccessKeyId' "$tmp/nokey.out"
$py - "$tmp/nouid.dcm" <<'PY'
import sys
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4.5"
ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
ds.PatientID = "X"
ds.is_little_endian = True
ds.is_implicit_VR = False
ds.save_as(sys.argv[1], write_like_original=False)
PY
if [ -f "$tmp/nouid.dcm" ]; then
  drive "${common[@]}" -- "$tmp/nouid.dcm" "${files[0]}" >"$tmp/nouid.out" 2>&1
  check "a file without UIDs fails alone, for good" grep -q '^failed final 0 .*no usable' "$tmp/nouid.out"
  check "the other is still sent" grep -q '^sent 1 ' "$tmp/nouid.out"
fi
for bad in "mode=tarball|instances or archive" "compression=rar|none, zstd or gzip" "secret_key_file=$tmp/none|cannot open" "endpoint=ftp://x|http:// or https://" \
  "endpoint=$EP/path|no path" "multipart_mb=2|at least 5" "bucket=No_Such|bucket name" "colour=blue|not a key"; do
  setting=${bad%%|*} want=${bad#*|}
  args=()
  for a in "${common[@]}"; do [ "${a%%=*}" = "${setting%%=*}" ] || args+=("$a"); done
  out=$(drive "${args[@]}" "$setting" -- "${files[0]}" 2>&1)
  rc=$?
  if [ "$rc" = 2 ] && grep -qF "$want" <<<"$out"; then ok "$setting is a configuration error ($want)"; else
    not_ok "$setting is a configuration error ($want): rc $rc, $out"; fi
done

out=$(drive "${common[@]}" mode=archive "staging_dir=$tmp/none" -- "${files[0]}" 2>&1)
check_eq "archive mode with a staging folder that is not there is a configuration error" "2 1" \
  "$? $(grep -c 'staging_dir = .*not a folder' <<<"$out")"

# 6. The store stopped: an error naming the connection, nothing sent.
before=$(stored_dcm)
kill "$S3PID"
wait "$S3PID" 2>/dev/null
S3PID=
drive "${common[@]}" -- "${files[@]:0:2}" >"$tmp/down.out" 2>&1
check_eq "a stopped store exits 2" 2 $?
check "with an error naming the connection" grep -qi '^error: .*connect' "$tmp/down.out"
check_eq "and nothing reported sent" 0 "$(grep -c '^sent ' "$tmp/down.out")"
check_eq "nor stored" "$before" "$(stored_dcm)"

# 7. A strict store (tests/s3/fake_store.py) checks what s3rver does not: each request's SigV4 signature
#    against what arrived on the wire, x-amz-content-sha256, Content-MD5, S3's multipart ETag form; and
#    misbehaves on purpose.
# start_fake MODE: sets FPORT, FPID.
start_fake() {
  mkdir -p "$tmp/fake"
  $py "$s3dir/fake_store.py" "$tmp/fake" "$1" >"$tmp/fake/$1.port" 2>"$tmp/fake/$1.log" &
  FPID=$!
  S3PID=$FPID
  wait_for 10 grep -q '^port' "$tmp/fake/$1.port" || { echo "fake_store did not start"; cat "$tmp/fake/$1.log"; exit 1; }
  FPORT=$(awk '{print $2}' "$tmp/fake/$1.port")
}
stop_fake() { kill "$FPID" 2>/dev/null; wait "$FPID" 2>/dev/null; S3PID=; rm -f "$tmp/fake/requests.log"; }
echo TESTSECRET >"$tmp/fake_secret"
strict=(endpoint=http://127.0.0.1:PORT bucket=dicom access_key=TESTKEY secret_key_file="$tmp/fake_secret" multipart_mb=5)
# fake_drive [KEY=VALUE...] -- FILES: the strict settings, with the given keys replaced.
fake_drive() {
  local args=() a o over=()
  while [ "$1" != -- ]; do over+=("$1"); shift; done
  for a in "${strict[@]/PORT/$FPORT}"; do
    for o in "${over[@]}"; do [ "${a%%=*}" = "${o%%=*}" ] && continue 2; done
    args+=("$a")
  done
  drive "${args[@]}" "${over[@]}" "$@"
}
start_fake ok
fake_drive "prefix=site a+b/" -- "${big[@]}" "${files[@]:0:3}" >"$tmp/strict.out" 2>&1
check_eq "the strict store accepts every signature, payload hash and MD5" 0 $?
check "a multipart object gets S3's md5-of-parts ETag, accepted" grep -q "^sent 0 .*/site a+b/.* etag [0-9a-f]\{32\}-2$" "$tmp/strict.out"
check_eq "the upload id went back encoded" 2 "$(grep -c 'partNumber=[0-9]&uploadId=up1%2B%2F%3D 200' "$tmp/fake/requests.log")"
fake_drive "prefix=site a+b/" -- "${big[@]}" >"$tmp/strict2.out" 2>&1
check "and a resend finds it already present" grep -q '^sent 0 .* already present' "$tmp/strict2.out"
echo WRONG >"$tmp/wrong_secret"
rm -f "$tmp/fake/requests.log"
fake_drive secret_key_file="$tmp/wrong_secret" -- "${files[@]:0:2}" >"$tmp/badsig.out" 2>&1
check_eq "a wrong secret fails every instance for good: SignatureDoesNotMatch" 2 "$(grep -c '^failed final .*SignatureDoesNotMatch' "$tmp/badsig.out")"
check_eq "asking once" 1 "$(grep -c '^PUT' "$tmp/fake/requests.log" | tr -d ' ')"
stop_fake
start_fake fail_part2
fake_drive -- "${big[@]}" "${files[0]}" >"$tmp/part2.out" 2>&1
check "a refused part fails its object for good with the store's reason" grep -q '^failed final 0 .*HTTP 400 InvalidPart' "$tmp/part2.out"
check "and the upload is aborted" grep -q '^DELETE .*uploadId=up1%2B%2F%3D 204' "$tmp/fake/requests.log"
check "the other instance is still sent" grep -q '^sent 1 ' "$tmp/part2.out"
stop_fake
start_fake bad_head
fake_drive -- "${files[0]}" >"$tmp/badhead.out" 2>&1
check "an object the store does not show as sent is not sent (retryable)" grep -q '^failed retryable 0 .*expected ETag' "$tmp/badhead.out"
stop_fake
start_fake slow_down
fake_drive -- "${files[@]:0:2}" >"$tmp/slow.out" 2>&1
check_eq "HTTP 503 ends the delivery with an error" 2 $?
check "naming the status" grep -q '^error: .*HTTP 503' "$tmp/slow.out"
stop_fake
start_fake huge_error
fake_drive -- "${files[0]}" >"$tmp/huge.out" 2>&1
check_eq "a 2 MiB error answer is not read to its end" 2 $?
check "and says so" grep -q '^error: .*longer than 1048576 bytes' "$tmp/huge.out"
stop_fake

if grep -qE 'Sanitizer|runtime error:' "$tmp"/*.out "$tmp"/*.err 2>/dev/null; then not_ok "a sanitizer report"; fi
finish
