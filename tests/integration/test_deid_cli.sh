#!/usr/bin/env bash
# `sendit deid` (issue 14, "Proof"): real files through the real binary, checked by independent tools.
#   1. a corpus seeded with identifiers (deid_corpus.py: two patients, three studies, identifiers at the top,
#      two deep in sequences, in private blocks and the file meta) de-identified with the basic profile and
#      with retain-long-modified-dates; pydicom (deid_check.py) finds every name, id and UID replaced, UIDs the
#      keyed remapping computed independently from the key file, references resolved, one code per patient and
#      study, dates shifted by one number of days per patient (and removed without the option), no private
#      element and no original identifier in any byte;
#   2. a second run gives byte-identical files (UIDs and shifts consistent across runs);
#   3. DCMTK's dcmdump reads every output; dciodvfy (dicom3tools) reports no error on an output that it did
#      not report on its input; dcentvfy finds each de-identified study consistent;
#   4. --ids FILE.json gives the file's codes and day shift; a patient it does not list fails (exit 1, nothing
#      written for it);
#   5. an image with BurnedInAnnotation YES is flagged, reported and not written; exit 1;
#   6. the key file is created 0600 and refused when others may read it;
#   7. real files of other projects (SENDIT_SAMPLES, when present) de-identify, read back and validate.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP, SENDIT_SAMPLES (optional). KEEP_TMP=1 keeps the scratch.
set -u

bin="${SENDIT_BIN:?SENDIT_BIN must name the sendit binary}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
samples="${SENDIT_SAMPLES:-}"
py=/usr/bin/python3
mkdir -p "${SENDIT_TMP:-/tmp}"
tmp="$(mktemp -d "${SENDIT_TMP:-/tmp}/test_deid_cli.XXXXXX")" || exit 1
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $*"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $*"; }
check() {
  local what="$1"; shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}

# The errors dciodvfy reports, values and positions left out so that a replaced value does not count as a
# different error.
iod_errors() {
  dciodvfy "$1" 2>&1 | grep '^Error' | sed -E -e 's/ = <[^>]*>//g' -e 's/[0-9]+(\.[0-9]+)+/UID/g' | sort -u
}
new_iod_errors() { # new_iod_errors IN OUT: prints errors of OUT that IN does not have
  comm -13 <(iod_errors "$1") <(iod_errors "$2")
}

corpus="$tmp/corpus"
"$py" "$here/deid_corpus.py" "$corpus" || { echo "cannot make the corpus"; exit 1; }
key="$tmp/site.key"
ninputs=$(find "$corpus/in" -name '*.dcm' | wc -l)

# 1. basic profile, and with modified dates.
"$bin" deid -q --key "$key" --out "$tmp/basic" "$corpus/in" >"$tmp/basic.log" 2>&1
check "basic: exit 0" [ $? -eq 0 ]
check "basic: every input written" [ "$(find "$tmp/basic" -name '*.dcm' | wc -l)" -eq "$ninputs" ]
check "basic: pydicom finds identifiers replaced, UIDs remapped, dates removed" \
  "$py" "$here/deid_check.py" "$corpus" "$tmp/basic" "$key"
check "key file created with mode 0600" [ "$(stat -c %a "$key")" = 600 ]

"$bin" deid -q --profile basic,retain-long-modified-dates --key "$key" --out "$tmp/shift1" "$corpus/in" \
  >"$tmp/shift1.log" 2>&1
check "modified dates: exit 0" [ $? -eq 0 ]
check "modified dates: one day shift per patient, times and offsets of DT kept" \
  "$py" "$here/deid_check.py" "$corpus" "$tmp/shift1" "$key" --shifted

# 2. the same again: the same bytes under the same names.
"$bin" deid -q --profile basic,retain-long-modified-dates --key "$key" --out "$tmp/shift2" "$corpus/in" \
  >"$tmp/shift2.log" 2>&1
check "second run: identical outputs" diff -r "$tmp/shift1" "$tmp/shift2"
# One study in two batches (its files given one by one) gives the same UIDs and codes.
mkdir -p "$tmp/split"
for f in $(find "$corpus/in/A/s1" -name '*.dcm' | sort); do
  "$bin" deid -q --profile basic,retain-long-modified-dates --key "$key" --out "$tmp/split" "$f" \
    >>"$tmp/split.log" 2>&1
done
study_dir=$(ls "$tmp/split")
check "one study in batches: same folder and bytes as in one run" diff -r "$tmp/split/$study_dir" \
  "$tmp/shift1/$study_dir"

# 3. independent readers and validators.
bad=0
for f in $(find "$tmp/shift1" -name '*.dcm'); do
  dcmdump "$f" >/dev/null 2>&1 || { echo "dcmdump cannot read $f"; bad=1; }
done
check "dcmdump reads every output" [ $bad -eq 0 ]
bad=0
while read -r rel; do
  in="$corpus/$rel"
  sop=$("$py" -c 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1]).SOPInstanceUID)' "$in")
  out=$("$py" - "$tmp/shift1" "$sop" "$key" <<'PY'
import hashlib, os, sys, pydicom
key = open(sys.argv[3], "rb").read()
want = "2.25.%d" % int.from_bytes(hashlib.blake2b(sys.argv[2].encode(), digest_size=16, key=key).digest(), "big")
for root, _, names in os.walk(sys.argv[1]):
    for n in names:
        p = os.path.join(root, n)
        if pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID == want:
            print(p)
PY
)
  [ -n "$out" ] || { echo "no output for $rel"; bad=1; continue; }
  extra=$(new_iod_errors "$in" "$out")
  [ -z "$extra" ] || { echo "dciodvfy: new errors in $out (from $rel):"; echo "$extra"; bad=1; }
done < <(cd "$corpus" && find in -name '*.dcm' | sort)
check "dciodvfy: no error on an output that its input did not have" [ $bad -eq 0 ]
bad=0
for study in "$tmp/shift1"/*/; do
  report=$(dcentvfy "$study"*.dcm 2>&1)
  if [ -n "$report" ] && grep -q -i error <<<"$report"; then
    echo "dcentvfy on $study:"; echo "$report"; bad=1
  fi
done
check "dcentvfy: every de-identified study consistent" [ $bad -eq 0 ]
# dcentvfy also sees the studies of one patient together: the patient's attributes agree.
report=$(dcentvfy $(find "$tmp/shift1" -name '*.dcm') 2>&1)
check "dcentvfy: all outputs together consistent" bash -c "! grep -q -i error <<<\"\$1\"" _ "$report"

# 4. identifiers from a file.
cat >"$tmp/ids.json" <<'JSON'
{"MRN-A-48151623": {"code": "ALPHA01", "day_shift": -12,
                    "studies": {"1.2.826.0.1.3680043.10.777.65.1": "ALPHA01-S1",
                                "1.2.826.0.1.3680043.10.777.65.2": "ALPHA01-S2"}},
 "MRN-B-99887766": {"code": "BRAVO02", "day_shift": -400,
                    "studies": {"1.2.826.0.1.3680043.10.777.66.1": "BRAVO02-S1"}}}
JSON
"$bin" deid -q --profile basic,retain-long-modified-dates --ids "$tmp/ids.json" --key "$key" \
  --out "$tmp/ids" "$corpus/in" >"$tmp/ids.log" 2>&1
check "--ids: exit 0" [ $? -eq 0 ]
check "--ids: the file's codes and day shifts" \
  "$py" "$here/deid_check.py" "$corpus" "$tmp/ids" "$key" --shifted --ids "$tmp/ids.json"
check "--ids: one folder per coded study" [ -d "$tmp/ids/ALPHA01-S1" ] && [ -d "$tmp/ids/BRAVO02-S1" ]
cat >"$tmp/ids-a.json" <<'JSON'
{"MRN-A-48151623": {"code": "ALPHA01", "day_shift": -12,
                    "studies": {"1.2.826.0.1.3680043.10.777.65.1": "ALPHA01-S1",
                                "1.2.826.0.1.3680043.10.777.65.2": "ALPHA01-S2"}}}
JSON
"$bin" deid -q --ids "$tmp/ids-a.json" --key "$key" --out "$tmp/ids-a" "$corpus/in" >"$tmp/ids-a.log" 2>&1
rc=$?
check "--ids without patient B: exit 1" [ $rc -eq 1 ]
check "--ids without patient B: the failure names the patient" grep -q "no patient 'MRN-B-99887766'" \
  "$tmp/ids-a.log"
check "--ids without patient B: patient A's files written, B's not" \
  [ "$(find "$tmp/ids-a" -name '*.dcm' | wc -l)" -eq "$(find "$corpus/in/A" -name '*.dcm' | wc -l)" ]

# 5. burned-in annotation: flagged, not written.
"$bin" deid --key "$key" --out "$tmp/burned" "$corpus/burned" "$corpus/in/B" >"$tmp/burned.log" 2>&1
rc=$?
check "burned-in: exit 1" [ $rc -eq 1 ]
check "burned-in: reported as flagged" grep -q "burned.dcm.*flagged for review.*BurnedInAnnotation is YES" \
  "$tmp/burned.log"
check "burned-in: only the other files written, no temporary file left" \
  [ "$(find "$tmp/burned" -type f | wc -l)" -eq "$(find "$corpus/in/B" -name '*.dcm' | wc -l)" ]

# 6. a key others may read is refused, and nothing is written.
cp "$key" "$tmp/open.key"
chmod 644 "$tmp/open.key"
"$bin" deid --key "$tmp/open.key" --out "$tmp/open" "$corpus/in" >"$tmp/open.log" 2>&1
rc=$?
check "key readable by others: exit 1 and says why" [ $rc -eq 1 ] && grep -q "group or others" "$tmp/open.log"
check "key readable by others: nothing written" [ "$(find "$tmp/open" -type f 2>/dev/null | wc -l)" -eq 0 ]
"$bin" deid --profile basic,retain-everything --key "$key" --out "$tmp/x" "$corpus/in" >/dev/null 2>&1
check "unknown profile option: exit 2" [ $? -eq 2 ]

# 7. real files of other projects.
if [ -n "$samples" ] && [ -d "$samples/pydicom" ]; then
  real="$tmp/real"
  mkdir -p "$real"
  src="$samples/pydicom/src/pydicom/data/test_files"
  for n in CT_small.dcm MR_small.dcm MR_small_implicit.dcm MR_small_bigendian.dcm rtplan.dcm rtstruct.dcm \
           rtdose.dcm test-SR.dcm JPEG2000.dcm SC_rgb_rle_2frame.dcm nested_priv_SQ.dcm; do
    [ -f "$src/$n" ] && cp "$src/$n" "$real/"
  done
  nreal=$(find "$real" -type f | wc -l)
  # Files of one instance (MR_small in three encodings) share their output: count instances.
  ninst=$("$py" -c 'import sys, pydicom
print(len({str(pydicom.dcmread(p, force=True).get("SOPInstanceUID", p)) for p in sys.argv[1:]}))' "$real"/*)
  "$bin" deid -q --key "$key" --out "$tmp/real-out" "$real" >"$tmp/real.log" 2>&1
  check "samples: exit 0 ($nreal files)" [ $? -eq 0 ]
  check "samples: one output per instance ($ninst)" [ "$(find "$tmp/real-out" -name '*.dcm' | wc -l)" -eq "$ninst" ]
  bad=0
  for f in $(find "$tmp/real-out" -name '*.dcm'); do
    dcmdump "$f" >/dev/null 2>&1 || { echo "dcmdump cannot read $f"; bad=1; }
    "$py" -c 'import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
assert ds.PatientIdentityRemoved == "YES"
assert not any(e.tag.is_private for e in ds.iterall()), "private element kept"
assert "SOPInstanceUID" not in ds or ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID' "$f" || { echo "pydicom: $f"; bad=1; }
  done
  check "samples: dcmdump and pydicom read every output, no private element" [ $bad -eq 0 ]
  bad=0
  for in in "$real"/*; do
    sop=$("$py" -c 'import sys, pydicom; print(pydicom.dcmread(sys.argv[1], force=True).get("SOPInstanceUID", ""))' "$in")
    [ -n "$sop" ] || continue # nothing to find its output by
    out=$(grep -l -r --include='*.dcm' -F "$("$py" -c 'import hashlib, sys
key = open(sys.argv[2], "rb").read()
print("2.25.%d" % int.from_bytes(hashlib.blake2b(sys.argv[1].encode(), digest_size=16, key=key).digest(), "big"))' "$sop" "$key")" "$tmp/real-out" | head -1)
    [ -n "$out" ] || { echo "no output for $in"; bad=1; continue; }
    extra=$(new_iod_errors "$in" "$out")
    [ -z "$extra" ] || { echo "dciodvfy: new errors in $out (from $in):"; echo "$extra"; bad=1; }
  done
  check "samples: dciodvfy reports no new error" [ $bad -eq 0 ]
else
  echo "# SENDIT_SAMPLES not set: the public samples part is skipped"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
