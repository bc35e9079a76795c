#!/usr/bin/env bash
# `sendit deid verify`, the leak scan (issue 14, "Verification"), against independent tools:
#   1. recall: on an unmodified copy of the PHI-seeded corpus (mkphi.py) every seeded value of the manifest
#      is reported, in that file, at that tag path (top level, three deep in sequences, private blocks of
#      three vendors, file meta, Latin-1 and UTF-8, an Implicit VR file's unknown private sequence, DT);
#      also after sendit modify rewrote it deflated and as UTF-8;
#   2. GDCM's gdcmanon (PS3.15 with a certificate) leaves the address, the private blocks and the dates;
#      DCMTK's dcmodify, editing the top level, leaves every nested value: both are found;
#   3. precision: a copy with everything identifying removed (phi_clean.py, pydicom) scans clean, and so
#      do the public samples (../shared/dicom-samples, when present) scanned against their cleaned copies;
#      `sendit modify` erasing every seeded element and private block still leaks the file meta's
#      SourceApplicationEntityTitle and PrivateInformation, and nothing else;
#   4. bytes the reader cannot parse are still scanned; --allow, --mask, exit statuses and usage errors.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP, SENDIT_SAMPLES (optional). KEEP_TMP=1 keeps the scratch.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

py=/usr/bin/python3
mkdir -p "$SENDIT_TMP"
tmp="$(mktemp -d "$SENDIT_TMP/test_deid_verify.XXXXXX")" || exit 1
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$tmp"' EXIT
verify() { "$SENDIT_BIN" deid verify "$@"; }
status_of() { "$@" >/dev/null 2>&1; echo $?; }

$py "$HERE/mkphi.py" "$tmp/corpus" --manifest "$tmp/manifest.json" 2>/dev/null || { echo "mkphi.py failed"; exit 1; }
seeds=$($py -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["seeds"]))' "$tmp/manifest.json")
check "the corpus has 12 files and hundreds of seeded values ($seeds)" \
  test "$(find "$tmp/corpus" -name '*.dcm' | wc -l)" -eq 12 -a "$seeds" -ge 500

# 1. Recall on an unmodified copy.
cp -r "$tmp/corpus" "$tmp/copy"
verify --dates --json "$tmp/corpus" --against "$tmp/copy" >"$tmp/copy.json"
check_eq "leaks found: exit 1" 1 $?
check "every seeded value is found where it was seeded" \
  $py "$HERE/phi_check.py" recall "$tmp/manifest.json" "$tmp/copy.json" "$tmp/copy"
verify --json "$tmp/corpus" --against "$tmp/copy" >"$tmp/nodates.json"
check "without --dates every seed but the event dates is found" \
  $py "$HERE/phi_check.py" recall "$tmp/manifest.json" "$tmp/nodates.json" "$tmp/copy" \
  --kinds patient-name,patient-id,birth-date,accession,address,telephone,institution,physician,operator,device,study-id,request-id,uid
"$SENDIT_BIN" modify -q --transfer-syntax deflated --insert 'StudyDescription=Schädel' --out "$tmp/deflated" "$tmp/corpus"
verify --dates --json "$tmp/corpus" --against "$tmp/deflated" >"$tmp/deflated.json"
check "deflated and converted to UTF-8 by sendit modify: every seeded value is still found" \
  $py "$HERE/phi_check.py" recall "$tmp/manifest.json" "$tmp/deflated.json" "$tmp/deflated"

# 2. gdcmanon and dcmodify leave values that the scan finds.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -subj /CN=sendit-test \
  -days 1 >/dev/null 2>&1
gdcmanon -c "$tmp/cert.pem" -r -i "$tmp/corpus" -o "$tmp/gdcmanon" >/dev/null 2>&1
check "gdcmanon de-identified every file" test "$(find "$tmp/gdcmanon" -name '*.dcm' | wc -l)" -eq 12
verify --dates --json "$tmp/corpus" --against "$tmp/gdcmanon" >"$tmp/gdcmanon.json"
check_eq "gdcmanon's output leaks: exit 1" 1 $?
check "gdcmanon: PatientName and PatientID were replaced (not reported), the address, the GE/Siemens/Philips private blocks and the dates are reported" \
  $py "$HERE/phi_check.py" paths "$tmp/gdcmanon.json" --lacks "(0010,0010)" --lacks "(0010,0020)" \
  --kind-at "address@(0010,1040)" --kind-at "patient-name@(0009,1001)" --kind-at "patient-name@(0029,1010)" \
  --kind-at "physician@(2001,105F)[0].(2001,1020)" --kind-at "date@(0008,0020)"

cp -r "$tmp/corpus" "$tmp/dcmodify"
find "$tmp/dcmodify" -name '*.dcm' -exec dcmodify -nb -q -m PatientName=ANONYMOUS -m PatientID=ANON0001 \
  -m PatientBirthDate= -e AccessionNumber -e PatientAddress -e PatientTelephoneNumbers -e InstitutionName \
  -e OtherPatientIDsSequence {} + 2>/dev/null
verify --json "$tmp/corpus" --against "$tmp/dcmodify" >"$tmp/dcmodify.json"
check_eq "dcmodify's output leaks: exit 1" 1 $?
check "dcmodify: the edited top-level values are gone, the nested ones (three deep too) are reported" \
  $py "$HERE/phi_check.py" paths "$tmp/dcmodify.json" --lacks "(0010,0010)" --lacks "(0010,0020)" \
  --lacks "(0008,0050)" --lacks "(0010,1040)" --lacks "(0010,0030)" \
  --kind-at "accession@(0040,0275)[0].(0008,0050)" \
  --kind-at "patient-id@(0008,1110)[0].(0008,1120)[0].(0010,1002)[0].(0010,0020)" \
  --kind-at "uid@(0008,1140)[0].(0008,1155)"

# 3. Precision: nothing is reported once everything identifying is gone.
$py "$HERE/phi_clean.py" "$tmp/corpus" "$tmp/clean" 2>/dev/null
verify --dates "$tmp/corpus" --against "$tmp/clean" >"$tmp/clean.txt"
check_eq "a copy with everything identifying removed scans clean: exit 0" 0 $?
check "... and says so" grep -q "^0 leak(s) in 12 file(s)" "$tmp/clean.txt"

erase=()
for t in PatientName PatientID IssuerOfPatientID PatientBirthDate PatientAddress PatientMotherBirthName \
  PatientTelephoneNumbers AdditionalPatientHistory OtherPatientIDsSequence AccessionNumber InstitutionName \
  InstitutionAddress InstitutionalDepartmentName ReferringPhysicianName ReferringPhysicianTelephoneNumbers \
  PerformingPhysicianName OperatorsName StationName DeviceSerialNumber StudyID ImageComments \
  ReferencedStudySequence RequestAttributesSequence IrradiationEventUID FrameOfReferenceUID \
  InstanceCreationDate StudyDate SeriesDate AcquisitionDate ContentDate AcquisitionDateTime; do
  erase+=(--erase "$t")
done
# New UIDs: the meta's MediaStorageSOPInstanceUID follows SOPInstanceUID.
"$SENDIT_BIN" modify -q -ep --erase-group 50xx --erase-group 60xx "${erase[@]}" \
  --insert StudyInstanceUID=2.25.1 --insert SeriesInstanceUID=2.25.2 --insert SOPInstanceUID=2.25.3 \
  --out "$tmp/modified" "$tmp/corpus/A1" 2>"$tmp/modified.err"
check "sendit modify erased the seeded elements of A1's files" test "$(find "$tmp/modified" -name '*.dcm' | wc -l)" -eq 4
verify --dates --json "$tmp/corpus/A1" --against "$tmp/modified" >"$tmp/modified.json"
check_eq "sendit modify's copy still leaks (the file meta): exit 1" 1 $?
check "... only in the file meta's SourceApplicationEntityTitle and PrivateInformation, which sendit modify keeps" \
  $py -c 'import json,sys; h=json.load(open(sys.argv[1]));
paths={l["path"] for l in h["leaks"]}; print(paths); sys.exit(paths!={"(0002,0016)", "(0002,0102)"})' "$tmp/modified.json"

if [ -n "${SENDIT_SAMPLES:-}" ] && [ -d "$SENDIT_SAMPLES" ]; then
  $py "$HERE/phi_clean.py" "$SENDIT_SAMPLES" "$tmp/samples-clean" 2>/dev/null
  n=$(find "$tmp/samples-clean" -type f | wc -l)
  verify --dates "$SENDIT_SAMPLES" --against "$tmp/samples-clean" >"$tmp/samples.txt" 2>/dev/null
  check "the public samples ($n cleaned by pydicom) scanned against themselves: no false positive" \
    grep -q "^0 leak(s) in $n file(s)" "$tmp/samples.txt"
  check "... while the unmodified samples have identifying values to find" \
    test "$(verify "$SENDIT_SAMPLES" --against "$SENDIT_SAMPLES" 2>/dev/null | grep -c '^LEAK')" -gt 100
else
  echo "# SENDIT_SAMPLES absent: the public samples are not scanned"
fi

# 4. Raw bytes, options, exit statuses.
{ head -c 300 /dev/urandom | tr -d 'A-Za-z0-9'; printf 'notes: PID-A-4711 / '; printf 'M\xfcller^J\xfcrgen^Andreas'; } >"$tmp/garbage.bin"
verify "$tmp/corpus/A1/S1/IM0001.dcm" --against "$tmp/garbage.bin" >"$tmp/garbage.txt" 2>"$tmp/garbage.err"
check_eq "a file that is not DICOM: exit 1" 1 $?
check "... its bytes are scanned: the id and the Latin-1 name are found raw" \
  grep -q 'garbage.bin (raw) raw@[0-9]* patient-id "PID-A-4711"' "$tmp/garbage.txt"
check "... the Latin-1 name too" grep -q 'patient-name "Müller^Jürgen^Andreas"' "$tmp/garbage.txt"
check "... and the parse error is reported" grep -q "garbage.bin" "$tmp/garbage.err"

mkdir -p "$tmp/latin1name"
cp "$tmp/corpus/A1/S1/IM0001.dcm" "$tmp/latin1name/$(printf 'b\xe4d.dcm')"
verify --json "$tmp/corpus/A1/S1/IM0001.dcm" --against "$tmp/latin1name" >"$tmp/latin1name.json"
check "a file name that is not UTF-8: its leaks are all in the JSON" \
  $py -c 'import json,sys; h=json.load(open(sys.argv[1])); sys.exit(len(h["leaks"]) < 40)' "$tmp/latin1name.json"
verify --mask "$tmp/corpus/A1" --against "$tmp/copy/A1" >"$tmp/masked.txt"
check "--mask prints no value in full" bash -c "! grep -q 'Müller' '$tmp/masked.txt' && grep -q 'patient-name \"M…(21)\"' '$tmp/masked.txt'"
verify --json --allow institution --allow uid --allow "(0010,1040)" "$tmp/corpus" --against "$tmp/gdcmanon" >"$tmp/allow.json"
check "--allow: kept kinds and tags are not reported" \
  $py -c 'import json,sys; h=json.load(open(sys.argv[1])); l=h["leaks"];
sys.exit(not l or any(x["kind"] in ("institution","uid") or x["path"]=="(0010,1040)" for x in l))' "$tmp/allow.json"

verify --json --kept PatientAddress --kept "(0009,1001)" "$tmp/corpus" --against "$tmp/gdcmanon" >"$tmp/kept.json"
check "--kept: elements the outputs keep by design are not scanned, the others are" \
  $py "$HERE/phi_check.py" paths "$tmp/kept.json" --lacks "(0010,1040)" --lacks "(0009,1001)" --has "(0009,1002)"
check_eq "--kept of a non-tag: usage error" 2 "$(status_of verify --kept nonsense "$tmp/corpus" --against "$tmp/copy")"
check_eq "no --against: usage error" 2 "$(status_of verify "$tmp/corpus")"
check_eq "nothing after --against: usage error" 2 "$(status_of verify "$tmp/corpus" --against)"
check_eq "unknown option: usage error" 2 "$(status_of verify --bogus "$tmp/corpus" --against "$tmp/copy")"
check_eq "--allow of neither kind nor tag: usage error" 2 \
  "$(status_of verify --allow nonsense "$tmp/corpus" --against "$tmp/copy")"
check_eq "a missing original: exit 1" 1 "$(status_of verify "$tmp/nothing" --against "$tmp/clean")"
check "--help names the options" bash -c "'$SENDIT_BIN' deid verify --help | grep -q -- '--against'"

finish
