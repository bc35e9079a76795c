#!/usr/bin/env bash
# `sendit dump` against fixtures made here with DCMTK's dump2dcm, its --json
# output against pydicom's Dataset.to_json_dict() for the same files, and the
# error and option handling.
#
# Environment (set by ctest): SENDIT_BIN (the program), SENDIT_TMP (scratch),
# SENDIT_SAMPLES (shared public samples; optional), SENDIT_TEST_DATA (unused).
# Needs dump2dcm; the pydicom comparison is skipped (and said so) when Debian's
# /usr/bin/python3 has no pydicom.
set -u

bin="${SENDIT_BIN:?SENDIT_BIN must name the sendit binary}"
tmp="${SENDIT_TMP:-/tmp}/test_dump.$$"
python=/usr/bin/python3
rm -rf "$tmp" && mkdir -p "$tmp" || exit 1
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() {
  passed=$((passed + 1))
  printf 'ok   %s\n' "$1"
}
not_ok() {
  failed=$((failed + 1))
  printf 'FAIL %s\n' "$1"
}
# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
  local what="$1"
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# has FILE REGEX: the file has a line matching the extended regex.
has() { grep -Eq -- "$2" "$1"; }
lacks() { ! grep -Eq -- "$2" "$1"; }
# run OUT ERR ARGS...: runs sendit, keeps stdout/stderr, sets $rc.
run() {
  local out="$1" err="$2"
  shift 2
  "$bin" "$@" >"$out" 2>"$err"
  rc=$?
}
line_of() { grep -nE -- "$2" "$1" | head -1 | cut -d: -f1; }

if ! command -v dump2dcm >/dev/null; then
  echo "dump2dcm (DCMTK) is needed to make the fixtures"
  exit 1
fi

# ---- fixtures ----
cat >"$tmp/basic.txt" <<'EOF'
(0002,0001) OB 00\01
(0002,0002) UI [1.2.840.10008.5.1.4.1.1.7]
(0002,0003) UI [1.2.826.0.1.3680043.8.498.1]
(0002,0010) UI [1.2.840.10008.1.2.1]
(0008,0005) CS [ISO_IR 100]
(0008,0008) CS [ORIGINAL\PRIMARY]
(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]
(0008,0018) UI [1.2.826.0.1.3680043.8.498.1]
(0008,0060) CS [OT]
(0008,1140) SQ (Sequence with undefined length)
(fffe,e000) na (Item with undefined length)
(0008,1150) UI [1.2.840.10008.5.1.4.1.1.2]
(0008,1155) UI [1.2.826.0.1.3680043.8.498.2]
(0040,a730) SQ (Sequence with undefined length)
(fffe,e000) na (Item with undefined length)
(0040,a040) CS [TEXT]
(fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(fffe,e00d) na (ItemDelimitationItem)
(fffe,e000) na (Item with undefined length)
(0008,1150) UI [1.2.840.10008.5.1.4.1.1.4]
(fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
(0009,0010) LO [ACME 1.0]
(0009,1001) LO [private value]
(0010,0010) PN [Doe^John=Ideo^Name]
(0010,0020) LO [PID-0001]
(0010,0030) DA []
(0018,0050) DS [2.5]
(0018,9087) FD 1.5
(0020,0013) IS [7]
(0020,4000) LT [This comment is long enough that the text dump has to shorten it somewhere in the middle]
(0020,9165) AT (0010,0020)
(0028,0002) US 1
(0028,0010) US 2
(0028,0011) US 2
(0028,0030) DS [0.5\0.25]
(0028,0100) US 16
(0028,9001) UL 70000
(7fe0,0010) OW 0001\0002\0003\0004
EOF

cat >"$tmp/encap.txt" <<'EOF'
(0002,0001) OB 00\01
(0002,0002) UI [1.2.840.10008.5.1.4.1.1.7]
(0002,0003) UI [1.2.826.0.1.3680043.8.498.3]
(0002,0010) UI [1.2.840.10008.1.2.4.50]
(0008,0016) UI [1.2.840.10008.5.1.4.1.1.7]
(0008,0018) UI [1.2.826.0.1.3680043.8.498.3]
(0010,0010) PN [Encap^Test]
(0028,0010) US 1
(7fe0,0010) OB (PixelSequence #=3)
(fffe,e000) pi (no value available)
(fffe,e000) pi ff\d8\ff\e0\00\10
(fffe,e000) pi ff\d9
(fffe,e0dd) na (SequenceDelimitationItem)
EOF

check "dump2dcm makes basic.dcm" dump2dcm "$tmp/basic.txt" "$tmp/basic.dcm"
check "dump2dcm makes encap.dcm (JPEG baseline, 3 items)" \
  dump2dcm --write-xfer-same "$tmp/encap.txt" "$tmp/encap.dcm"
check "dump2dcm makes implicit.dcm (implicit VR)" \
  dump2dcm --write-xfer-implicit "$tmp/basic.txt" "$tmp/implicit.dcm"
printf 'this is not a DICOM file, just some text\n' >"$tmp/notdicom.txt"

# ---- text dump ----
out="$tmp/out" err="$tmp/err"
run "$out" "$err" dump "$tmp/basic.dcm"
check "dump basic.dcm exits 0" test "$rc" -eq 0
check "stderr is empty" test ! -s "$err"
check "header names the file" has "$out" "^# File: .*basic\.dcm$"
check "header gives the transfer syntax" \
  has "$out" '^# Transfer Syntax: Explicit VR Little Endian \[1\.2\.840\.10008\.1\.2\.1\]$'
check "meta line with keyword" has "$out" '^\(0002,0010\) UI \[1\.2\.840\.10008\.1\.2\.1\] +# +20, 1 TransferSyntaxUID$'
meta_line=$(line_of "$out" '^\(0002,0010\)')
data_line=$(line_of "$out" '^\(0008,0016\)')
check "file meta comes before the data set" test "${meta_line:-0}" -lt "${data_line:-0}"
check "PN value decoded, length, VM, keyword" \
  has "$out" '^\(0010,0010\) PN \[Doe\^John=Ideo\^Name\] +# +18, 1 PatientName$'
check "multi-valued CS joined with backslash, VM 2" \
  has "$out" '^\(0008,0008\) CS \[ORIGINAL\\PRIMARY\] +# +16, 2 ImageType$'
check "DS multi-value" has "$out" '^\(0028,0030\) DS \[0\.5\\0\.25\] +# +8, 2 PixelSpacing$'
check "US printed as a number" has "$out" '^\(0028,0010\) US 2 +# +2, 1 Rows$'
check "UL printed as a number" has "$out" '^\(0028,9001\) UL 70000 '
check "FD printed as a number" has "$out" '^\(0018,9087\) FD 1\.5 +# +8, 1 DiffusionBValue$'
check "AT printed as a tag" has "$out" '^\(0020,9165\) AT \(0010,0020\) '
check "empty value" has "$out" '^\(0010,0030\) DA \(no value available\) +# +0, 0 PatientBirthDate$'
check "private element names its creator" has "$out" '^\(0009,1001\) LO \[private value\] .*PrivateTag \[ACME 1\.0\]$'
check "sequence line" has "$out" '^\(0008,1140\) SQ \(Sequence with 2 items\) .*ReferencedImageSequence$'
check "item marker indented under the sequence" has "$out" '^  \(FFFE,E000\) na \(Item 1 of 2, 3 elements\)'
check "item element indented twice" \
  has "$out" '^    \(0008,1155\) UI \[1\.2\.826\.0\.1\.3680043\.8\.498\.2\] .*ReferencedSOPInstanceUID$'
check "nested sequence item indented three times" \
  has "$out" '^      \(FFFE,E000\) na \(Item 1 of 1, 1 element\)'
check "nested element indented four times" has "$out" '^        \(0040,A040\) CS \[TEXT\] .*ValueType$'
check "second item of the outer sequence" has "$out" '^  \(FFFE,E000\) na \(Item 2 of 2, 1 element\)'
check "long value shortened with ..." has "$out" '^\(0020,4000\) LT \[This comment is long.{30,60}\.\.\.\] +# +88, 1 ImageComments$'
check "OW pixel data as hex words" has "$out" '^\(7FE0,0010\) OW 0001\\0002\\0003\\0004 +# +8, 1 PixelData$'

run "$out" "$err" dump --full "$tmp/basic.dcm"
check "--full shows the whole long value" \
  has "$out" '^\(0020,4000\) LT \[This comment is long enough that the text dump has to shorten it somewhere in the middle\] '

run "$out" "$err" dump --headers-only "$tmp/basic.dcm"
check "--headers-only exits 0" test "$rc" -eq 0
check "--headers-only has no PixelData line" lacks "$out" 'PixelData'
check "--headers-only still has the last header element" has "$out" '^\(0028,9001\) UL 70000 '
check "--headers-only says where it stopped" has "$out" '^# Stopped before pixel data'

run "$out" "$err" dump "$tmp/implicit.dcm"
check "implicit VR file: transfer syntax" has "$out" '^# Transfer Syntax: Implicit VR Little Endian \[1\.2\.840\.10008\.1\.2\]$'
check "implicit VR file: VR from the dictionary" has "$out" '^\(0010,0010\) PN \[Doe\^John=Ideo\^Name\] .*PatientName$'
check "implicit VR file: sequence nesting" has "$out" '^        \(0040,A040\) CS \[TEXT\] '

run "$out" "$err" dump "$tmp/encap.dcm"
check "encapsulated: transfer syntax name" has "$out" '^# Transfer Syntax: JPEG Baseline'
check "encapsulated: pixel sequence line" has "$out" '^\(7FE0,0010\) OB \(PixelSequence with 3 items\) +# +u/l, 1 PixelData$'
check "encapsulated: empty offset table" has "$out" '^  \(FFFE,E000\) pi \(no value available\) +# +0, 1 Item'
check "encapsulated: fragment with its length" has "$out" '^  \(FFFE,E000\) pi ff\\d8\\ff\\e0\\00\\10 +# +6, 1 Item$'
check "encapsulated: second fragment" has "$out" '^  \(FFFE,E000\) pi ff\\d9 +# +2, 1 Item$'
check "encapsulated: sequence delimiter" has "$out" '^\(FFFE,E0DD\) na \(SequenceDelimitationItem\)'

# ---- errors: message naming the file, next file still dumped ----
run "$out" "$err" dump "$tmp/notdicom.txt" "$tmp/basic.dcm"
check "non-DICOM file: exit status 1" test "$rc" -eq 1
check "non-DICOM file: one message naming it" has "$err" "notdicom\.txt"
check "non-DICOM file: exactly one error line" test "$(wc -l <"$err")" -eq 1
check "the valid file after it is still dumped" has "$out" '^\(0010,0010\) PN \[Doe\^John'
check "no output for the failed file" lacks "$out" "^# File: .*notdicom"

run "$out" "$err" dump "$tmp/missing.dcm" "$tmp/encap.dcm"
check "missing file: exit status 1 and message" test "$rc" -eq 1 -a -s "$err"
check "missing file: message names it" has "$err" "missing\.dcm"
check "missing file: next file dumped" has "$out" 'PixelSequence'

head -c 400 "$tmp/basic.dcm" >"$tmp/truncated.dcm"
run "$out" "$err" dump "$tmp/truncated.dcm"
check "truncated file: exit status 1" test "$rc" -eq 1
check "truncated file: message with file, offset and kind" has "$err" 'truncated\.dcm: offset [0-9]+: .*\[truncated\]'

# ---- --quiet, --files-from ----
run "$out" "$err" dump -q "$tmp/basic.dcm" "$tmp/encap.dcm" "$tmp/implicit.dcm"
check "--quiet: exit 0, prints nothing" test "$rc" -eq 0 -a ! -s "$out" -a ! -s "$err"
run "$out" "$err" dump --quiet "$tmp/notdicom.txt" "$tmp/basic.dcm"
check "--quiet: errors still reported, exit 1" test "$rc" -eq 1 -a ! -s "$out" -a -s "$err"

printf '%s\n\n%s\r\n' "$tmp/basic.dcm" "$tmp/encap.dcm" >"$tmp/list"
run "$out" "$err" dump --files-from "$tmp/list" "$tmp/implicit.dcm"
check "--files-from plus FILE: three files dumped" test "$(grep -c '^# File:' "$out")" -eq 3
check "--files-from: FILE arguments first" test "$(grep -m1 '^# File:' "$out")" = "# File: $tmp/implicit.dcm"
"$bin" dump --headers-only --files-from - <"$tmp/list" >"$out" 2>"$err"
rc=$?
check "--files-from - reads the list from stdin" test "$rc" -eq 0 -a "$(grep -c '^# File:' "$out")" -eq 2

# ---- usage ----
run "$out" "$err" dump
check "no files: usage error 2" test "$rc" -eq 2
run "$out" "$err" dump --bogus "$tmp/basic.dcm"
check "unknown option: usage error 2 naming it" test "$rc" -eq 2 -a -n "$(grep -e '--bogus' "$err")"
run "$out" "$err" dump --files-from "$tmp/no-such-list"
check "unreadable list: usage error 2" test "$rc" -eq 2
run "$out" "$err" dump --json -q "$tmp/basic.dcm"
check "--json with --quiet: usage error 2" test "$rc" -eq 2
run "$out" "$err" no-such-command
check "unknown command: exit 2 with a message" test "$rc" -eq 2 -a -s "$err"
run "$out" "$err" --help
check "--help lists dump" has "$out" '^  dump +'
run "$out" "$err" dump --help
check "dump --help prints its usage" has "$out" '^Usage: sendit dump'
run "$out" "$err" help dump
check "help dump prints its usage" has "$out" '^Usage: sendit dump'
run "$out" "$err" --version
check "--version" has "$out" '^sendit [0-9]'

# ---- JSON ----
run "$out" "$err" dump --json "$tmp/notdicom.txt" "$tmp/basic.dcm" "$tmp/encap.dcm"
check "--json: exit 1 when a file failed" test "$rc" -eq 1
check "--json: one line per file" test "$(wc -l <"$out")" -eq 3
check "--json: the failed file is a null line" test "$(head -1 "$out")" = null
tail -n 2 "$out" >"$tmp/ours.jsonl"

if "$python" -c 'import pydicom' 2>/dev/null; then
  # Compares the members both emit, after the differences the two tools are
  # allowed: pydicom keeps group lengths (F.2.2 drops them), writes empty
  # strings where F.2.5 wants null or no Value, always writes "Alphabetic" and
  # an empty SQ's "Value": []; it writes DS as floats where we keep integers,
  # and FL as the double of the float where we write the shortest decimal.
  # InlineBinary is compared as is (both write the little endian bytes and the
  # encapsulated value field without its delimiter).
  cat >"$tmp/compare.py" <<'EOF'
import json, math, struct, sys
import pydicom

def norm_value(vr, v):
    if v == '' or v is None:
        return None
    if vr == 'PN':
        return {k: x for k, x in v.items() if x} or None
    if vr == 'FL' and isinstance(v, (int, float)):
        # An FL is a float: we write its shortest decimal, pydicom the
        # double of the float; both read back as the same float.
        return struct.unpack('<f', struct.pack('<f', v))[0]
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v

def norm_elem(e):
    vr = e['vr']
    out = {'vr': vr}
    if 'InlineBinary' in e:
        out['InlineBinary'] = e['InlineBinary']
    if e.get('Value'):
        if vr == 'SQ':
            out['Value'] = [norm_ds(item) for item in e['Value']]
        else:
            values = [norm_value(vr, v) for v in e['Value']]
            if any(v is not None for v in values):
                out['Value'] = values
    return out

def norm_ds(d):
    return {k: norm_elem(v) for k, v in d.items() if not k.endswith('0000')}

def diff(a, b, path, found):
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if k in a and k in b:
                diff(a[k], b[k], path + '/' + k, found)
            else:
                found.append('%s/%s only in %s' % (path, k, 'sendit' if k in a else 'pydicom'))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, '%s[%d]' % (path, i), found)
    elif isinstance(a, float) or isinstance(b, float):
        if not (isinstance(a, (int, float)) and isinstance(b, (int, float))
                and math.isclose(a, b, rel_tol=1e-12)):
            found.append('%s: %r != %r' % (path, a, b))
    elif a != b:
        found.append('%s: %r != %r' % (path, a, b))

ours = [json.loads(line) for line in open(sys.argv[1])]
bad = 0
for path, mine in zip(sys.argv[2:], ours):
    # Through json once, as a consumer would see it (VR enums become strings).
    theirs = json.loads(json.dumps(pydicom.dcmread(path).to_json_dict()))
    found = []
    diff(norm_ds(mine), norm_ds(theirs), '', found)
    for f in found:
        print('  %s: %s' % (path, f))
    bad += bool(found)
    if len(norm_ds(mine)) < 5:
        print('  %s: suspiciously few members' % path)
        bad += 1
sys.exit(1 if bad else 0)
EOF
  check "--json equals pydicom's to_json_dict (basic.dcm, encap.dcm)" \
    "$python" "$tmp/compare.py" "$tmp/ours.jsonl" "$tmp/basic.dcm" "$tmp/encap.dcm"
  "$bin" dump --json "$tmp/implicit.dcm" >"$tmp/implicit.jsonl" 2>"$err"
  check "--json equals pydicom's to_json_dict (implicit.dcm)" \
    "$python" "$tmp/compare.py" "$tmp/implicit.jsonl" "$tmp/implicit.dcm"
  samples="${SENDIT_SAMPLES:-}/pydicom/src/pydicom/data/test_files"
  if [ -d "$samples" ]; then
    set -- "$samples/CT_small.dcm" "$samples/rtplan.dcm" "$samples/JPEG2000.dcm" "$samples/MR_small.dcm"
    "$bin" dump --json "$@" >"$tmp/samples.jsonl" 2>"$err"
    check "--json equals pydicom's on shared samples (CT, RT plan, JPEG 2000, MR)" \
      "$python" "$tmp/compare.py" "$tmp/samples.jsonl" "$@"
  else
    echo "skip shared-sample comparison: SENDIT_SAMPLES not found"
  fi
else
  echo "skip pydicom comparison: /usr/bin/python3 has no pydicom"
fi

# Exact members, independent of pydicom.
cat >"$tmp/expect.py" <<'EOF'
import json, sys
basic, encap = [json.loads(line) for line in open(sys.argv[1])]
expected = {
    '00100010': {'vr': 'PN', 'Value': [{'Alphabetic': 'Doe^John', 'Ideographic': 'Ideo^Name'}]},
    '00080008': {'vr': 'CS', 'Value': ['ORIGINAL', 'PRIMARY']},
    '00280010': {'vr': 'US', 'Value': [2]},
    '00280030': {'vr': 'DS', 'Value': [0.5, 0.25]},
    '00200013': {'vr': 'IS', 'Value': [7]},
    '00209165': {'vr': 'AT', 'Value': ['00100020']},
    '00100030': {'vr': 'DA'},
    '7FE00010': {'vr': 'OW', 'InlineBinary': 'AQACAAMABAA='},
}
bad = [k for k, v in expected.items() if basic.get(k) != v]
seq = basic['00081140']['Value']
if len(seq) != 2 or seq[0]['0040A730']['Value'][0]['0040A040']['Value'] != ['TEXT']:
    bad.append('00081140')
if any(k.endswith('0000') for k in basic) or list(basic) != sorted(basic):
    bad.append('group lengths or order')
if encap['7FE00010'] != {'vr': 'OB', 'InlineBinary': '/v8A4AAAAAD+/wDgBgAAAP/Y/+AAEP7/AOACAAAA/9k='}:
    bad.append('encapsulated 7FE00010')
for k in bad:
    print('  unexpected member', k, basic.get(k))
sys.exit(1 if bad else 0)
EOF
check "--json members: PN groups, numbers, AT, empty, SQ nesting, binary, order" \
  "$python" "$tmp/expect.py" "$tmp/ours.jsonl"

# ---- the shared samples: every file is read or refused, never a crash ----
if [ -n "${SENDIT_SAMPLES:-}" ] && [ -d "$SENDIT_SAMPLES" ]; then
  find "$SENDIT_SAMPLES" -name '*.dcm' >"$tmp/samples.list"
  for mode in -q --json ""; do
    "$bin" dump $mode --files-from "$tmp/samples.list" >"$out" 2>"$err"
    rc=$?
    check "all shared samples with '${mode:-text}': exit 0 or 1 (got $rc)" test "$rc" -le 1
  done
else
  echo "skip shared samples: SENDIT_SAMPLES not set or missing"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
