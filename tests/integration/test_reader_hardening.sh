#!/usr/bin/env bash
# Issue 11, items 10-15, through the real binary: hostile files that once
# took gigabytes stay within a small memory bound (dump and import), cut
# files and files without a valid identity are quarantined with a reason that
# says why, an all-UN file is imported with its UIDs, NUL bytes stay in
# values, and a meta element that swallows the file is an error.
source "$(dirname "$0")/lib.sh"
trap 'stop_site' EXIT

MKHOSTILE="/usr/bin/python3 $HERE/mkhostile.py"
BOUND_KB=$((64 * 1024)) # 64 MiB: the binary, its libraries and the reader's 32 MiB bound
new_site
mkdir -p "$SITE/stage/HARD01" "$SITE/stage/MEM01" "$SITE/hostile"
h="$SITE/hostile"

# peak_kb FILE: "Maximum resident set size" from /usr/bin/time -v output.
peak_kb() { sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$1"; }

# --- item 10: bounded memory for header-only reads ---------------------------
$MKHOSTILE deflated-big "$h/deflated_big.dcm"
$MKHOSTILE sparse-big "$h/sparse_big.dcm"
check "the deflated file is small on disk (about 1 MB)" test "$(stat -c %s "$h/deflated_big.dcm")" -lt 2000000
check "the sparse file takes a few KiB on disk" test "$(du -k "$h/sparse_big.dcm" | cut -f1)" -lt 64
for f in deflated_big sparse_big; do
  /usr/bin/time -v "$SENDIT_BIN" dump --headers-only "$h/$f.dcm" >"$h/$f.out" 2>"$h/$f.time"
  check_eq "dump --headers-only reads $f" 0 $?
  kb=$(peak_kb "$h/$f.time")
  echo "# dump --headers-only $f: peak RSS ${kb} KiB"
  check "dump --headers-only $f stays under 64 MiB (${kb} KiB)" test "${kb:-999999999}" -lt "$BOUND_KB"
  check "the skipped value is listed with its length" grep -qE '^\(0029,1001\) OB \(not read: header-only\) +# +(1048576000|2147483632),' "$h/$f.out"
done
check "what follows the skipped value is read (deflated)" grep -q '^(0028,0010) US 2 ' "$h/deflated_big.out"
# A fragment of an undefined-length private OB is skipped like a big value:
# reading it whole took 822 MB for this 400 KB file (the bound was checked
# only after the allocation).
$MKHOSTILE deflated-fragment "$h/deflated_fragment.dcm"
/usr/bin/time -v "$SENDIT_BIN" dump --headers-only "$h/deflated_fragment.dcm" >"$h/deflated_fragment.out" 2>"$h/deflated_fragment.time"
check_eq "dump --headers-only reads a 400 MiB fragment in a deflated file" 0 $?
kb=$(peak_kb "$h/deflated_fragment.time")
echo "# dump --headers-only deflated_fragment: peak RSS ${kb} KiB"
check "dump --headers-only deflated_fragment stays under 64 MiB (${kb} KiB)" test "${kb:-999999999}" -lt "$BOUND_KB"
check "what follows the skipped fragment is read" grep -q '^(0028,0010) US 2 ' "$h/deflated_fragment.out"
cp "$h/deflated_big.dcm" "$h/sparse_big.dcm" "$SITE/stage/MEM01/"
/usr/bin/time -v "$SENDIT_BIN" import_dicomdir "$SITE/stage/MEM01" --config "$SITE/sendit.ini" >"$h/import.out" 2>"$h/import.time"
check_eq "the import of both hostile files succeeds" 0 $?
kb=$(peak_kb "$h/import.time")
echo "# import_dicomdir of both: peak RSS ${kb} KiB"
check "the import stays under 64 MiB (${kb} KiB)" test "${kb:-999999999}" -lt "$BOUND_KB"
check_eq "both are stored as images" 2 "$(sql "SELECT count(*) FROM image i JOIN batch b ON b.id = i.batch_id WHERE b.uid = 'MEM01'")"
rm -rf "$SITE/storage/MEM01" # 3 GB of apparent size: not kept around

# --- items 11, 12, 14, 15: what the import keeps out, and why ---------------
s="$SITE/stage/HARD01"
# A fixed UID keeps the layout fixed: byte 500 falls inside an element.
$MKDICOM "$s" 1 --prefix GOOD --pixels 64 --sop-prefix 1.2.826.0.1.3680043.10.1234.55
good="$s/GOOD00001.dcm"
size=$(stat -c %s "$good")
head -c $((size - 40)) "$good" >"$s/cut_in_pixels.dcm"  # header-only stops before these
head -c 500 "$good" >"$s/cut_500.dcm"                   # the sender was still writing
# Cut exactly between two top-level elements: before (0020,000D), and before
# (0008,0060); and a whole file whose Modality is empty.
cut_before() { # cut_before TAG_BYTES_HEX OUT
  /usr/bin/python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
at = d.index(bytes.fromhex(sys.argv[2]), 132)
open(sys.argv[3], "wb").write(d[:at])' "$good" "$1" "$2"
}
cut_before 20000d00 "$s/cut_before_study.dcm"
cut_before 08006000 "$s/cut_before_modality.dcm"
$MKDICOM "$h/nomod" 1 --modality "" --sop-prefix 1.2.826.0.1.3680043.10.1234.56 >/dev/null
mv "$h/nomod/IMG00001.dcm" "$s/no_modality.dcm"
$MKHOSTILE bad-uid "$s/uid_path.dcm" '../../../../tmp/pwn'
$MKHOSTILE bad-uid "$s/uid_raw.dcm" $'\xff\xfe\x01\x02'
$MKHOSTILE bad-uid "$s/uid_leading_zero.dcm" '1.2.03.4'
$MKHOSTILE bad-uid "$s/uid_too_long.dcm" "1.$(printf '2%.0s' {1..70})"
$MKHOSTILE bad-uid "$s/no_sop.dcm" -
$MKHOSTILE bad-study "$s/study_bad.dcm" '1.2.abc'
$MKHOSTILE all-un "$s/all_un.dcm"
$MKHOSTILE swallow-meta "$s/swallow_meta.dcm"
sendit import_dicomdir "$s" >"$h/hard.out" 2>&1
sendit quarantine list --json >"$h/q.json"
# reason_of NAME: the quarantine reason of the file NAME of batch HARD01.
reason_of() {
  /usr/bin/python3 -c '
import json, sys
rows = json.load(open(sys.argv[1]))
rows = rows.get("items", rows) if isinstance(rows, dict) else rows
print("".join(r["reason"] for r in rows if r["batch"] == "HARD01" and r["original_name"] == sys.argv[2]))
' "$h/q.json" "$1"
}
check "the quarantine list is valid JSON (UTF-8)" /usr/bin/python3 -c 'import json,sys; json.load(open(sys.argv[1], encoding="utf-8"))' "$h/q.json"
expect_reason() { # expect_reason NAME REGEX
  local r
  r=$(reason_of "$1")
  if grep -qE -- "$2" <<<"$r"; then ok "$1 quarantined: $2"; else not_ok "$1 quarantined: $2 (reason: '$r')"; fi
}
expect_reason cut_in_pixels.dcm 'not readable as DICOM: .*\(7FE0,0010\).*the file is cut'
expect_reason cut_500.dcm 'not readable as DICOM: [^ ]*cut_500.dcm: offset [0-9]+: (tag [^:]*: )?(value length [0-9]+ exceeds the [0-9]+ bytes left|.*the file is cut)'
expect_reason uid_path.dcm '^[^ ]*uid_path.dcm: offset [0-9]+: tag \(0008,0018\): SOPInstanceUID is not a valid UID: an empty component'
expect_reason uid_raw.dcm 'SOPInstanceUID is not a valid UID: a character other than'
expect_reason uid_leading_zero.dcm 'SOPInstanceUID is not a valid UID: a component with a leading zero'
expect_reason uid_too_long.dcm 'SOPInstanceUID is not a valid UID: longer than 64 characters'
expect_reason no_sop.dcm 'no SOPInstanceUID'
expect_reason cut_before_study.dcm '\(0020,000D\): incomplete header: no StudyInstanceUID \(cut file\?\)'
expect_reason cut_before_modality.dcm 'incomplete header: no StudyInstanceUID \(cut file\?\)'
expect_reason no_modality.dcm '\(0008,0060\): incomplete header: no Modality \(cut file\?\)'
check "an incomplete header is not called unreadable" test -z "$(reason_of cut_before_study.dcm | grep 'not readable')"
check "no SOPInstanceUID is not called unreadable" test -z "$(reason_of no_sop.dcm | grep 'not readable')"
expect_reason study_bad.dcm 'StudyInstanceUID is not a valid UID'
expect_reason swallow_meta.dcm 'not readable as DICOM: .*\(0002,0013\): invalid VR'
check_eq "the all-UN file is not quarantined" "" "$(reason_of all_un.dcm)"
check_eq "the all-UN file is stored with its UIDs, patient and modality" \
  "1.2.826.0.1.3680043.10.1234.2.1|1.2.826.0.1.3680043.10.1234.2|1.2.826.0.1.3680043.10.1234.2.0|PID-ÜN|MR" \
  "$(sql "SELECT uid || '|' || study_uid || '|' || series_uid || '|' || patient_id || '|' || modality FROM image WHERE original_name = 'all_un.dcm'")"
check_eq "the good file is stored" 1 "$(sql "SELECT count(*) FROM image WHERE original_name = 'GOOD00001.dcm'")"
check_eq "no path-like UID reached the database" 0 "$(sql "SELECT count(*) FROM image WHERE uid LIKE '%/%' OR uid = ''")"
check "nothing was written outside the site" test ! -e /tmp/pwn

# --- items 13 and 14 in dump ---------------------------------------------------
$MKHOSTILE nul-string "$h/nul.dcm"
"$SENDIT_BIN" dump --json "$h/nul.dcm" >"$h/nul.json"
check "NUL bytes stay in the value (JSON \\u0000)" grep -q '"AB\\u0000CD"' "$h/nul.json"
check "the JSON with NULs is valid" /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["00100020"]["Value"] == ["AB\x00CD"]' "$h/nul.json"
"$SENDIT_BIN" dump "$h/nul.dcm" >"$h/nul.txt"
check "text dump shows the whole value (NUL as '.')" grep -q '^(0010,0020) LO \[AB\.CD\]' "$h/nul.txt"
$MKHOSTILE swallow-meta "$h/swallow_meta.dcm"
"$SENDIT_BIN" dump "$h/swallow_meta.dcm" >/dev/null 2>"$h/sw.err"
check_eq "dump of the swallowing meta exits 1" 1 $?
check "it names the element and the invalid VR" grep -q 'tag (0002,0013): invalid VR (bytes 55 20)' "$h/sw.err"
# item 12 in dump: the all-UN file shows the dictionary's VRs, text and --json
$MKHOSTILE all-un "$h/all_un.dcm"
"$SENDIT_BIN" dump "$h/all_un.dcm" >"$h/un.txt"
check "dump shows an all-UN SOPInstanceUID as UI" grep -q '^(0008,0018) UI \[1.2.826.0.1.3680043.10.1234.2.1\]' "$h/un.txt"
check "dump shows the UN sequence's item" grep -q '^    (0008,1155) UI \[1.2.826.0.1.3680043.10.1234.7.7\]' "$h/un.txt"
check "dump shows Rows as US 2" grep -q '^(0028,0010) US 2 ' "$h/un.txt"
"$SENDIT_BIN" dump --json "$h/all_un.dcm" >"$h/un.json"
check "--json gives the decoded VRs and values" /usr/bin/python3 -c '
import json, sys
d = json.load(open(sys.argv[1]))
assert d["00080018"] == {"vr": "UI", "Value": ["1.2.826.0.1.3680043.10.1234.2.1"]}, d["00080018"]
assert d["00280010"] == {"vr": "US", "Value": [2]}
assert d["00100010"]["Value"] == [{"Alphabetic": "M\u00fcller^J\u00fcrgen"}]
assert d["00081140"]["vr"] == "SQ" and len(d["00081140"]["Value"]) == 1
' "$h/un.json"
# item 11 in dump: a cut file fails in both modes, zero padding does not
$MKDICOM "$h/cut" 1 --pixels 16 >/dev/null
f="$h/cut/IMG00001.dcm"
head -c $(($(stat -c %s "$f") - 3)) "$f" >"$h/cut3.dcm"
"$SENDIT_BIN" dump -q "$h/cut3.dcm" 2>/dev/null
check_eq "dump of a file cut 3 bytes short exits 1" 1 $?
"$SENDIT_BIN" dump --headers-only -q "$h/cut3.dcm" 2>/dev/null
check_eq "... also with --headers-only (Pixel Data longer than the file)" 1 $?
{ cat "$f"; head -c 100 /dev/zero; } >"$h/padded.dcm"
"$SENDIT_BIN" dump -q "$h/padded.dcm"
check_eq "zero padding after the last element is benign" 0 $?
finish
