#!/usr/bin/env bash
# `sendit modify` checked by independent readers (issue 12, "Proof"):
#   1. round trip: every public sample that DCMTK and pydicom read alike (ORACLE.jsonl) and every fixture
#      in tests/data that both read, rewritten with no edit, converted to each of the four uncompressed
#      transfer syntaxes and back, and rewritten again (identical bytes); compared by pydicom and by dcmdump
#      (tests/integration/dicom_compare.py) with an explicit list of reviewed exceptions;
#   2. the same edits made by DCMTK's dcmodify and by sendit on copies give the same data sets;
#   3. hostile inputs (truncated, over-long, garbled), invalid values and a full output disk are errors that
#      leave no file under the final name, no temporary file, and the source unchanged;
#   4. --in-place replaces the file by a rename (new inode, a hard link keeps the old bytes) and a failure
#      leaves the original.
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP, SENDIT_TEST_DATA (tests/data), SENDIT_SAMPLES
# (optional: without it only the fixtures are used, and the script says so). KEEP_TMP=1 keeps the scratch.
set -u

bin="${SENDIT_BIN:?SENDIT_BIN must name the sendit binary}"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
data="${SENDIT_TEST_DATA:-$here/../data}"
samples="${SENDIT_SAMPLES:-}"
py=/usr/bin/python3
cmp_py="$here/dicom_compare.py"
mkdir -p "${SENDIT_TMP:-/tmp}"
tmp="$(mktemp -d "${SENDIT_TMP:-/tmp}/test_modify.XXXXXX")" || exit 1
full_mnt=""
tmp_mnt=""
cleanup() {
  [ -n "$full_mnt" ] && umount "$full_mnt" 2>/dev/null
  [ -n "$tmp_mnt" ] && umount "$tmp_mnt" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -n "${KEEP_TMP:-}" ] && trap "" EXIT
# The scratch on a tmpfs when we may mount one: sendit fsyncs each of the ~2,300 files the round trip
# writes, which costs 10-20 s on this machine's disk (the full-disk and --in-place checks run on it too,
# rename semantics being the same; the unit tests write to the real file system). Without root it stays on disk.
if [ -z "${KEEP_TMP:-}" ] && mount -t tmpfs -o size=1g tmpfs "$tmp" 2>/dev/null; then tmp_mnt="$tmp"; fi

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
check() { # check DESCRIPTION COMMAND...
  local what="$1"
  shift
  if "$@"; then ok "$what"; else not_ok "$what"; fi
}
finish() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

for tool in dcmdump dcmodify; do
  command -v "$tool" >/dev/null || { echo "$tool (DCMTK) is needed"; exit 1; }
done
"$py" -c 'import pydicom' 2>/dev/null || { echo "$py cannot import pydicom (python3-pydicom)"; exit 1; }
if ! "$bin" modify --help >/dev/null 2>&1; then
  echo "SKIP: '$bin modify --help' fails: sendit modify is not built yet, nothing to check"
  exit 0
fi
t_start=$SECONDS

# modify ARGS...: runs sendit modify, keeps stdout/stderr in $tmp/last.out/.err, sets $rc.
modify() {
  "$bin" modify "$@" >"$tmp/last.out" 2>"$tmp/last.err"
  rc=$?
}
# only_files DIR NAME...: DIR holds exactly these names (no temporary or partial file beside them).
only_files() {
  local dir="$1"
  shift
  local want got
  want="$(printf '%s\n' "$@" | grep . | LC_ALL=C sort)"
  got="$(ls -A "$dir" | LC_ALL=C sort)"
  [ "$want" = "$got" ] || { echo "  $dir holds: [$(echo $got)], expected: [$(echo $want)]"; return 1; }
}
sha() { sha256sum "$1" | cut -d' ' -f1; }

# ---- 0. the comparison itself must be able to fail ------------------------------------------
"$py" "$cmp_py" selftest >"$tmp/selftest.txt" 2>&1
check "dicom_compare.py selftest: each kind of change is detected ($(grep -c '^ok' "$tmp/selftest.txt") checks)" \
  grep -q . "$tmp/selftest.txt"
if grep -q '^FAIL' "$tmp/selftest.txt"; then not_ok "selftest: $(grep '^FAIL' "$tmp/selftest.txt" | head -3)"; fi
# On real files too: dcmodify changes one value at the top level, in a nested item, in a private block.
mkdir -p "$tmp/detect"
cp "$data/sequences.dcm" "$tmp/detect/nested.dcm"
cp "$data/private_tags.dcm" "$tmp/detect/private.dcm"
cp "$data/explicit_le.dcm" "$tmp/detect/top.dcm"
dcmodify -nb -q -m 'PatientName=Changed^Name' "$tmp/detect/top.dcm"
dcmodify -nb -q -m '(0040,0275)[0].(0032,1064)[0].(0008,0104)=Changed' "$tmp/detect/nested.dcm"
dcmodify -nb -q -m '(0009,1001)=changed text' "$tmp/detect/private.dcm"
{
  for k in top:explicit_le nested:sequences private:private_tags; do
    printf '{"id": "detect %s", "a": "%s", "b": "%s", "expect": "differ", "length_form": false}\n' \
      "${k%%:*}" "$data/${k#*:}.dcm" "$tmp/detect/${k%%:*}.dcm"
    printf '{"id": "detect %s (dcmdump)", "a": "%s", "b": "%s", "expect": "differ", "length_form": false, "pydicom": false, "dcmdump": true}\n' \
      "${k%%:*}" "$data/${k#*:}.dcm" "$tmp/detect/${k%%:*}.dcm"
  done
} >"$tmp/detect.jsonl"
"$py" "$cmp_py" batch "$tmp/detect.jsonl" >"$tmp/detect.txt" 2>&1
while IFS= read -r line; do
  case "$line" in
    PASS*) ok "comparison detects a real change: ${line#PASS }" ;;
    *) not_ok "comparison misses a change: $line" ;;
  esac
done <"$tmp/detect.txt"

# ---- 1. round trip -----------------------------------------------------------------------------
# Exceptions, reviewed. Each: "label glob|check glob|regex|reason" (no '|' inside the reason). A failing check is excused when every one
# of its differences matches the regex (checks: noedit, idempotent, to-<ts>, back-<ts>, idem-<ts>). DEFECT marks what
# sendit should fix; the others are differences of the oracles or deliberate choices.
EXCEPTIONS=(
  "tests/data/deep_nesting_100.dcm|*|.|100 nested sequences: sendit's reader refuses more than 64 levels (its documented limit against hostile files); DCMTK and pydicom read it"
  "tests/data/meta_swallows_file.dcm|*|.|meta element with the invalid VR 'U ': sendit refuses it (issue 11: read as implicit it would swallow the file); DCMTK and pydicom read on"
  "tests/data/zeros.bin|*|.|1,024 zero bytes: sendit says not DICOM (issue 11); DCMTK and pydicom read 128 empty (0000,0000) elements"
  "*/DICOMDIR-nooffset|*|.|sendit's reader rejects it on purpose (tests/unit/test_conformance.c, stricter_rejects): its last record and sequence declare 24 bytes more than the file holds"
  "tests/data/odd_length.dcm|*|^dcmdump: .*ODD|odd-length values are written padded to even length (PS3.5 7.1.1); DCMTK shows the odd input with its own NUL pad ([ODD\\0] against [ODD]); pydicom reads them equal"
  "*/GH220.dcm|*-implicit|^[(]2007,20B9[)]: sequence length form undefined=False != True$|^dcmdump: .*[(]2007,20b9[)] SQ [(]Sequence with explicit length|^dcmdump: .*SequenceDelimitationItem|an empty private SQ (2007,20B9) of defined length is written in implicit VR with undefined length, and comes back so: a sequence its dictionary does not know would otherwise read as a value (core's choice, 01166b1)"
  "*DICOMDIR*|*|^no output: .*DICOMDIR files are not rewritten|sendit refuses to rewrite a DICOMDIR ([unsupported]): its records are found by byte offsets from the start of the file, which a regenerated meta group would shift (an earlier build wrote them unshifted and pydicom could not follow the records: found by this test)"
)
# excuse LABEL CHECK RESULT: prints the reason when every difference in RESULT is excused.
excuse() {
  local e lg cg re reason d all rest
  for e in "${EXCEPTIONS[@]}"; do
    lg=${e%%|*} rest=${e#*|}
    cg=${rest%%|*} rest=${rest#*|}
    re=${rest%|*} reason=${rest##*|} # the regex may hold '|', the reason may not
    # shellcheck disable=SC2053
    [[ $1 == $lg && $2 == $cg ]] || continue
    all=1
    while IFS= read -r d; do
      [ -z "$d" ] && continue
      [[ $d =~ $re ]] || { all=0; break; }
    done < <(printf '%s\n' "$3" | sed 's/; \(dcmdump: \|(\|meta\|pydicom\|no output\|UN \)/\n\1/g')
    [ "$all" = 1 ] && { printf '%s' "$reason"; return 0; }
  done
  return 1
}

mkdir -p "$tmp/in" "$tmp/o0" "$tmp/o1"
: >"$tmp/inputs.tsv" # staged name \t label
n_fix=0 n_samp=0
for f in "$data"/*.dcm "$data"/*.bin; do
  [ -f "$f" ] || continue
  n_fix=$((n_fix + 1))
  name="f$(printf '%03d' "$n_fix").dcm"
  cp "$f" "$tmp/in/$name"
  printf '%s\t%s\n' "$name" "tests/data/${f##*/}" >>"$tmp/inputs.tsv"
done
if [ -n "$samples" ] && [ -f "$samples/ORACLE.jsonl" ]; then
  # The samples both readers read alike: dcmdump and pydicom (force) read them and do not disagree.
  "$py" - "$samples/ORACLE.jsonl" >"$tmp/alike.txt" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["dcmtk_ok"] and r["pydicom_ok"] and not r["disagree"]:
        print(r["path"])
EOF
  while IFS= read -r rel; do
    [ -f "$samples/$rel" ] || { not_ok "sample listed in ORACLE.jsonl is missing: $rel"; continue; }
    n_samp=$((n_samp + 1))
    name="s$(printf '%03d' "$n_samp").dcm"
    cp "$samples/$rel" "$tmp/in/$name"
    printf '%s\t%s\n' "$name" "$rel" >>"$tmp/inputs.tsv"
  done <"$tmp/alike.txt"
  echo "# $n_samp public samples that DCMTK and pydicom read alike (of $(wc -l <"$samples/ORACLE.jsonl") in ORACLE.jsonl)"
else
  echo "# SKIP samples: SENDIT_SAMPLES (${samples:-unset}) has no ORACLE.jsonl; only the tests/data fixtures are checked"
fi

# Which inputs both readers read, and their transfer syntax (one python process).
(cd "$tmp/in" && "$py" "$cmp_py" classify $(cut -f1 "$tmp/inputs.tsv")) >"$tmp/classes.tsv" 2>"$tmp/classify.err"
declare -A LABEL TS
while IFS=$'\t' read -r name label; do LABEL[$name]=$label; done <"$tmp/inputs.tsv"
rt=() # inputs of the round trip
while IFS=$'\t' read -r name short verdict; do
  TS[$name]=$short
  if [ "$verdict" = yes ]; then
    rt+=("$name")
  elif [[ $name == s* ]]; then
    not_ok "sample ${LABEL[$name]}: ORACLE.jsonl says both read it, here: $verdict"
  else
    echo "# fixture ${LABEL[$name]} is not read by both (${verdict#no: }): not in the round trip"
  fi
done <"$tmp/classes.tsv"
echo "# round trip over ${#rt[@]} files"
for name in $(cut -f1 "$tmp/inputs.tsv"); do sha "$tmp/in/$name"; done >"$tmp/in.sha"

# The no-edit rewrite of everything, then of what it wrote.
(cd "$tmp/in" && "$bin" modify --out "$tmp/o0" "${rt[@]}") >"$tmp/o0.out" 2>"$tmp/o0.err"
(cd "$tmp/o0" && "$bin" modify --out "$tmp/o1" $(ls)) >"$tmp/o1.out" 2>"$tmp/o1.err"
# Conversions: every uncompressed input to each syntax, then each back to its own syntax.
syntaxes=(implicit explicit big deflated)
unc=() enc=()
for name in "${rt[@]}"; do
  case "${TS[$name]}" in
    implicit | explicit | big | deflated) unc+=("$name") ;;
    encapsulated) enc+=("$name") ;;
    *) ;; # a compressed syntax without pixel data: only rewritten (it has no syntax of its own to go back to)
  esac
done
for ts in "${syntaxes[@]}"; do
  mkdir -p "$tmp/to-$ts" "$tmp/back-$ts"
  [ ${#unc[@]} -gt 0 ] && (cd "$tmp/in" && "$bin" modify --transfer-syntax "$ts" --out "$tmp/to-$ts" "${unc[@]}") \
    >"$tmp/to-$ts.out" 2>"$tmp/to-$ts.err"
  for orig in "${syntaxes[@]}"; do
    group=()
    for name in "${unc[@]}"; do
      [ "${TS[$name]}" = "$orig" ] && [ -f "$tmp/to-$ts/$name" ] && group+=("$name")
    done
    [ ${#group[@]} -gt 0 ] || continue
    (cd "$tmp/to-$ts" && "$bin" modify --transfer-syntax "$orig" --out "$tmp/back-$ts" "${group[@]}") \
      >>"$tmp/back-$ts.out" 2>>"$tmp/back-$ts.err"
  done
done
# What each conversion wrote, written again with no edit: the same bytes.
for ts in "${syntaxes[@]}"; do
  mkdir -p "$tmp/re-$ts"
  [ -n "$(ls -A "$tmp/to-$ts")" ] && (cd "$tmp/to-$ts" && "$bin" modify --out "$tmp/re-$ts" $(ls)) >/dev/null 2>"$tmp/re-$ts.err"
done
# Encapsulated pixel data cannot go to an uncompressed syntax without a codec: refused, nothing written.
mkdir -p "$tmp/enc-conv"
enc_refused=0
for name in "${enc[@]}"; do
  (cd "$tmp/in" && "$bin" modify --transfer-syntax explicit --out "$tmp/enc-conv" "$name") >/dev/null 2>"$tmp/enc.err"
  erc=$?
  if [ "$erc" = 1 ] && [ -s "$tmp/enc.err" ] && [ ! -e "$tmp/enc-conv/$name" ]; then
    enc_refused=$((enc_refused + 1))
  else
    not_ok "${LABEL[$name]} (${TS[$name]}): --transfer-syntax explicit should be refused (exit $erc, $(head -c 200 "$tmp/enc.err"))"
  fi
done
[ ${#enc[@]} -eq 0 ] || check "encapsulated inputs: conversion to an uncompressed syntax refused with a reason, no output ($enc_refused of ${#enc[@]})" \
  [ "$enc_refused" -eq ${#enc[@]} ]
check "no temporary or partial file left in the output folders" \
  bash -c "! find '$tmp'/o0 '$tmp'/o1 '$tmp'/to-* '$tmp'/back-* '$tmp'/re-* '$tmp'/enc-conv -mindepth 1 ! -name '[fs][0-9][0-9][0-9].dcm' | grep -q ."

# lossy NAME TS: "true" when the data goes through implicit VR, which keeps no VRs (see dicom_compare.py).
lossy() { if [ "$2" = implicit ] || [ "${TS[$1]}" = implicit ]; then echo true; else echo false; fi; }
# The comparisons, one python process. Missing outputs are failures of their own (below).
{
  for name in "${rt[@]}"; do
    [ -f "$tmp/o0/$name" ] &&
      printf '{"id": "%s|noedit", "a": "%s", "b": "%s", "dcmdump": true}\n' "$name" "$tmp/in/$name" "$tmp/o0/$name"
  done
  for name in "${unc[@]}"; do
    for ts in "${syntaxes[@]}"; do
      [ -f "$tmp/to-$ts/$name" ] &&
        printf '{"id": "%s|to-%s", "a": "%s", "b": "%s", "ignore_ts": true, "through_implicit": %s, "dcmdump": true}\n' \
          "$name" "$ts" "$tmp/in/$name" "$tmp/to-$ts/$name" "$(lossy "$name" "$ts")"
      [ -f "$tmp/back-$ts/$name" ] &&
        printf '{"id": "%s|back-%s", "a": "%s", "b": "%s", "through_implicit": %s, "dcmdump": true}\n' \
          "$name" "$ts" "$tmp/in/$name" "$tmp/back-$ts/$name" "$(lossy "$name" "$ts")"
    done
  done
} >"$tmp/rt.jsonl"
"$py" "$cmp_py" batch "$tmp/rt.jsonl" >"$tmp/rt.txt" 2>"$tmp/rt.err"
declare -A RESULT # "name|check" -> "" (pass) or the reason
while IFS= read -r line; do
  case "$line" in
    PASS\ *) RESULT[${line#PASS }]="" ;;
    FAIL\ *)
      key="${line#FAIL }"
      key="${key%%: *}"
      RESULT[$key]="${line#FAIL "$key": }"
      ;;
  esac
done <"$tmp/rt.txt"
for name in "${rt[@]}"; do
  if [ ! -f "$tmp/o0/$name" ]; then
    RESULT["$name|noedit"]="no output: $(grep -F "$name" "$tmp/o0.err" | head -1)"
    RESULT["$name|idempotent"]="${RESULT[$name|noedit]}"
  elif [ ! -f "$tmp/o1/$name" ]; then
    RESULT["$name|idempotent"]="second rewrite failed: $(grep -F "$name" "$tmp/o1.err" | head -1)"
  elif cmp -s "$tmp/o0/$name" "$tmp/o1/$name"; then
    RESULT["$name|idempotent"]=""
  else
    RESULT["$name|idempotent"]="rewriting sendit's output changed bytes (first at $(cmp "$tmp/o0/$name" "$tmp/o1/$name" | awk '{print $5}'))"
  fi
done
for name in "${unc[@]}"; do
  for ts in "${syntaxes[@]}"; do
    if [ ! -f "$tmp/to-$ts/$name" ]; then
      RESULT["$name|to-$ts"]="no output: $(grep -F "$name" "$tmp/to-$ts.err" | head -1)"
      RESULT["$name|back-$ts"]="${RESULT[$name|to-$ts]}"
    elif [ ! -f "$tmp/back-$ts/$name" ]; then
      RESULT["$name|back-$ts"]="no output: $(grep -F "$name" "$tmp/back-$ts.err" | head -1)"
    fi
    if [ ! -f "$tmp/to-$ts/$name" ]; then
      RESULT["$name|idem-$ts"]="${RESULT[$name|to-$ts]}"
    elif cmp -s "$tmp/to-$ts/$name" "$tmp/re-$ts/$name"; then
      RESULT["$name|idem-$ts"]=""
    else
      RESULT["$name|idem-$ts"]="rewriting sendit's $ts output changed bytes or failed ($(grep -F "$name" "$tmp/re-$ts.err" | head -1))"
    fi
  done
done
# Verdict per file: every check passes, or the failing ones are listed exceptions.
n_pass=0 n_exc=0 n_fail=0 samp_pass=0 fix_pass=0
declare -A EXC_SEEN
for name in "${rt[@]}"; do
  label="${LABEL[$name]}"
  checks=(noedit idempotent)
  [[ ${TS[$name]} == implicit || ${TS[$name]} == explicit || ${TS[$name]} == big || ${TS[$name]} == deflated ]] &&
    for ts in "${syntaxes[@]}"; do checks+=("to-$ts" "back-$ts" "idem-$ts"); done
  bad=() excused=() reasons=""
  for c in "${checks[@]}"; do
    r="${RESULT[$name|$c]-missing result}"
    [ -z "$r" ] && continue
    if why=$(excuse "$label" "$c" "$r"); then
      excused+=("$c")
      [[ $reasons == *"$why"* ]] || reasons="${reasons:+$reasons / }$why"
      EXC_SEEN[$why]=1
    else
      bad+=("$c: $r")
    fi
  done
  if [ ${#bad[@]} -gt 0 ]; then
    n_fail=$((n_fail + 1))
    not_ok "round trip $label (${TS[$name]}): ${bad[0]:0:600}$([ ${#bad[@]} -gt 1 ] && echo " (+$((${#bad[@]} - 1)) more checks)")"
  elif [ ${#excused[@]} -gt 0 ]; then
    n_exc=$((n_exc + 1))
    echo "# exception: $label (${excused[*]}): $reasons"
  else
    n_pass=$((n_pass + 1))
    if [[ $name == s* ]]; then samp_pass=$((samp_pass + 1)); else fix_pass=$((fix_pass + 1)); fi
  fi
done
for e in "${EXCEPTIONS[@]}"; do
  reason="${e##*|}"
  [ -n "${EXC_SEEN[$reason]-}" ] || echo "# note: listed exception not needed in this run (fixed, or its file is absent): ${e%%|*}"
done
ok "round trip: $n_pass of ${#rt[@]} files pass every check ($samp_pass of $n_samp samples, $fix_pass fixtures); $n_exc named exceptions; $n_fail failures"
check "the round trip's sources are unchanged" \
  bash -c "cd '$tmp/in' && for n in \$(cut -f1 '$tmp/inputs.tsv'); do sha256sum \$n | cut -d' ' -f1; done | cmp -s - '$tmp/in.sha'"

# ---- 2. edits against dcmodify -------------------------------------------------------------------
# Each case: name | files | sendit arguments | dcmodify arguments (split on ';;'). Files are taken from
# tests/data and, when present, the samples. by_creator: private elements matched by creator, since the
# block a new creator gets is the writer's choice; length_form is off because dcmodify rewrites every
# sequence with explicit lengths where sendit keeps the form it read; Data Set Trailing Padding
# (FFFC,FFFC) is left out because dcmodify drops it (sendit keeps it, as the round trip checks).
mkdir -p "$tmp/ed"
edit_files=(explicit_le.dcm implicit_le.dcm explicit_be.dcm deflated.dcm charset_latin1.dcm)
seq_files=(sequences.dcm sequences_implicit.dcm)
priv_files=(private_tags.dcm)
declare -A SRC
for f in "${edit_files[@]}" "${seq_files[@]}" "${priv_files[@]}" private_tags_implicit.dcm; do SRC[$f]="$data/$f"; done
if [ -n "$samples" ] && [ -d "$samples/pydicom" ]; then
  tf="$samples/pydicom/src/pydicom/data/test_files"
  for f in CT_small.dcm MR_small_bigendian.dcm MR_small_implicit.dcm rtplan.dcm; do
    [ -f "$tf/$f" ] && SRC[$f]="$tf/$f" && edit_files+=("$f")
  done
  [ -f "$tf/CT_small.dcm" ] && priv_files+=(CT_small.dcm)
fi
# CT_small.dcm has GE's blocks, which DCMTK's private dictionary knows (dcmodify refuses values for
# private elements it cannot type): set one in an existing block, add one to it.
ct_cases=()
if [ -n "${SRC[CT_small.dcm]-}" ]; then
  ct_cases=(
    "private-set-known|CT_small.dcm|--set;;(0009,\"GEMS_IDEN_01\",02)=CT99|-m;;(0009,1002)=CT99"
    "private-insert-known|CT_small.dcm|--insert;;(0009,\"GEMS_IDEN_01\",01)=PROOF;;--insert;;(0019,\"GEMS_ACQU_01\",02)=42|-i;;(0009,1001)=PROOF;;-i;;(0019,1002)=42"
  )
fi
cases=(
  "set-top|${edit_files[*]}|--set;;PatientName=Proof^Edit|-m;;PatientName=Proof^Edit"
  "insert-new|${edit_files[*]}|--insert;;StationName=PROOF1|-i;;StationName=PROOF1"
  "insert-existing|${edit_files[*]}|--insert;;PatientID=NEW-ID|-i;;PatientID=NEW-ID"
  "erase-top|${edit_files[*]}|--erase;;PatientID|-e;;PatientID"
  "several|${edit_files[*]}|--set;;PatientName=A^B;;--insert;;StudyDescription=Proof study;;--erase;;PatientID|-m;;PatientName=A^B;;-i;;StudyDescription=Proof study;;-e;;PatientID"
  "nested-set-index|${seq_files[*]}|--set;;ReferencedImageSequence[1].ReferencedSOPInstanceUID=2.25.99|-m;;(0008,1140)[1].(0008,1155)=2.25.99"
  "nested-set-all|${seq_files[*]}|--set;;ReferencedImageSequence[*].ReferencedSOPClassUID=1.2.840.10008.5.1.4.1.1.4|-m;;(0008,1140)[*].(0008,1150)=1.2.840.10008.5.1.4.1.1.4"
  "nested-deep|${seq_files[*]}|--set;;RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeMeaning=Deep|-m;;RequestAttributesSequence[0].RequestedProcedureCodeSequence[0].CodeMeaning=Deep"
  "nested-insert|${seq_files[*]}|--insert;;RequestAttributesSequence[0].AccessionNumber=ACC-NEST|-i;;RequestAttributesSequence[0].AccessionNumber=ACC-NEST"
  "nested-erase|${seq_files[*]}|--erase;;RequestAttributesSequence[0].RequestedProcedureID|-e;;RequestAttributesSequence[0].RequestedProcedureID"
  "nested-erase-all|${seq_files[*]}|--erase;;ReferencedImageSequence[*].ReferencedSOPClassUID|-e;;(0008,1140)[*].(0008,1150)"
  "private-set|private_tags.dcm|--set;;(0009,\"ACME 1.0\",01)=changed|-m;;(0009,1001)=changed"
  "private-new-block|private_tags.dcm|--insert;;(0009,\"GEMS_IDEN_01\",01)=PROOF|-i;;(0009,0011)=GEMS_IDEN_01;;-i;;(0009,1101)=PROOF"
  "erase-private|${priv_files[*]} private_tags_implicit.dcm|--erase-private|-ep"
  "${ct_cases[@]}"
)
: >"$tmp/ed.jsonl"
n_cases=0
for c in "${cases[@]}"; do
  IFS='|' read -r cname cfiles s_args d_args <<<"$c"
  IFS=$'\n' read -r -d '' -a s_argv < <(printf '%s' "$s_args" | sed 's/;;/\n/g'; printf '\0')
  IFS=$'\n' read -r -d '' -a d_argv < <(printf '%s' "$d_args" | sed 's/;;/\n/g'; printf '\0')
  for f in $cfiles; do
    d="$tmp/ed/$cname"
    mkdir -p "$d/src" "$d/dcmodify" "$d/sendit"
    cp "${SRC[$f]}" "$d/src/$f"
    cp "${SRC[$f]}" "$d/dcmodify/$f"
    n_cases=$((n_cases + 1))
    if ! dcmodify -nb -q "${d_argv[@]}" "$d/dcmodify/$f" 2>"$d/dcmodify.err"; then
      not_ok "edit $cname on $f: dcmodify itself failed ($(head -c 200 "$d/dcmodify.err")): fix the case"
      continue
    fi
    "$bin" modify "${s_argv[@]}" --out "$d/sendit" "$d/src/$f" >"$d/sendit.out" 2>"$d/sendit.err"
    src=$?
    if [ "$src" -ne 0 ] || [ ! -f "$d/sendit/$f" ]; then
      not_ok "edit $cname on $f: sendit modify ${s_argv[*]} exited $src: $(head -c 300 "$d/sendit.err")"
      continue
    fi
    printf '{"id": "%s on %s", "a": "%s", "b": "%s", "length_form": false, "by_creator": true, "ignore": [4294770684]}\n' \
      "$cname" "$f" "$d/dcmodify/$f" "$d/sendit/$f" >>"$tmp/ed.jsonl"
    printf '{"id": "%s on %s changed something", "a": "%s", "b": "%s", "expect": "differ"}\n' \
      "$cname" "$f" "$d/src/$f" "$d/sendit/$f" >>"$tmp/ed.jsonl"
  done
done
"$py" "$cmp_py" batch "$tmp/ed.jsonl" >"$tmp/ed.txt" 2>&1
n_ed_pass=0
while IFS= read -r line; do
  case "$line" in
    PASS*) n_ed_pass=$((n_ed_pass + 1)) ;;
    *) not_ok "edit against dcmodify: $line" ;;
  esac
done <"$tmp/ed.txt"
check "edits against dcmodify: $n_ed_pass of $((2 * n_cases)) comparisons ($n_cases edit x file cases, each also shown to change the file)" \
  [ "$n_ed_pass" -eq $((2 * n_cases)) ]

# ---- 3. hostile inputs ------------------------------------------------------------------------------
mkdir -p "$tmp/hostile" "$tmp/h-out"
for f in truncated_in_meta_header.dcm truncated_in_value.dcm truncated_in_sequence.dcm length_4gb.dcm \
  length_4gb_text.dcm deep_nesting_100.dcm deflate_corrupt_at_boundary.dcm bad_item_tag.dcm \
  meta_swallows_file.dcm not_dicom_jpeg.jpg not_dicom_text.txt empty.dcm zeros.bin; do
  cp "$data/$f" "$tmp/hostile/$f"
done
"$py" - "$tmp/hostile" "$data/explicit_le.dcm" <<'EOF'
import os, struct, sys
out, src = sys.argv[1], sys.argv[2]
base = open(src, "rb").read()
def put(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
# A file whose pixel data is large (the writer copies it from the source): cut inside the pixels, and a
# value that claims more bytes than the file has left (over-long).
pix = base.find(b"\xe0\x7f\x10\x00OW")
body = bytes((i * 7) % 251 for i in range(300000))
big = base[:pix] + b"\xe0\x7f\x10\x00OW\0\0" + struct.pack("<I", len(body)) + body
put("cut_in_pixels.dcm", big[: pix + 12 + 150001])
put("cut_in_pixels_even.dcm", big[: pix + 12 + 150000])
name = base.find(b"\x10\x00\x10\x00PN")
put("overlong_name.dcm", base[: name + 6] + struct.pack("<H", 0xFFF0) + base[name + 8 :])
put("overlong_pixels.dcm", big[: pix + 8] + struct.pack("<I", len(body) + 4096) + big[pix + 12 :])
# Garbled: the data set's first element header overwritten with 0xFF (tag (FFFF,FFFF), VR "\xff\xff");
# the meta's group length pointing past the file; an item tag of a sequence replaced by garbage.
ds = 128 + 4 + 12 + struct.unpack("<I", base[140:144])[0]
put("garbled_header.dcm", base[:ds] + b"\xff" * 12 + base[ds + 12 :])
seq = open(os.path.join(os.path.dirname(src), "sequences.dcm"), "rb").read()
# The last sequence's delimitation item garbled: the undefined-length sequence never ends.
end = seq.rfind(b"\xfe\xff\xdd\xe0")
put("garbled_delimiter.dcm", seq[:end] + b"\x99\x99\x99\x99" + seq[end + 4 :])
item = seq.find(b"\xfe\xff\x00\xe0")
put("garbled_item.dcm", seq[:item] + b"\x08\x00\x50\x00" + seq[item + 4 :])
EOF
declare -A hostile_sha
for f in "$tmp"/hostile/*; do hostile_sha[${f##*/}]=$(sha "$f"); done
n_host=0 n_host_ok=0
for f in "$tmp"/hostile/*; do
  b="${f##*/}"
  n_host=$((n_host + 1))
  modify --set PatientName=X --out "$tmp/h-out" "$f"
  why=""
  [ "$rc" = 1 ] || why="exit $rc, expected 1"
  grep -qF "$b" "$tmp/last.err" "$tmp/last.out" || why="${why:+$why; }no message naming the file"
  [ -z "$(ls -A "$tmp/h-out")" ] || why="${why:+$why; }left in the output folder: $(ls -A "$tmp/h-out" | tr '\n' ' ')"
  [ "$(sha "$f")" = "${hostile_sha[$b]}" ] || why="${why:+$why; }the source changed"
  rm -rf "$tmp/h-out" && mkdir -p "$tmp/h-out"
  if [ -z "$why" ]; then n_host_ok=$((n_host_ok + 1)); else not_ok "hostile $b: $why ($(head -c 200 "$tmp/last.err"))"; fi
done
check "hostile inputs: $n_host_ok of $n_host refused with exit 1 and a message naming the file, nothing written, source unchanged" \
  [ "$n_host_ok" -eq "$n_host" ]
printf '# e.g. %s\n' "$(modify --out "$tmp/h-out" "$tmp/hostile/cut_in_pixels.dcm"; head -n 1 "$tmp/last.err")"
# A batch mixing good and bad files: the good ones are written, the bad ones reported, exit 1.
modify --set PatientName=X --out "$tmp/h-out" "$data/explicit_le.dcm" "$tmp/hostile/truncated_in_value.dcm" \
  "$data/implicit_le.dcm" "$tmp/hostile/cut_in_pixels.dcm"
check "a batch with bad files: exit 1, the good files written, nothing else" \
  bash -c "[ $rc = 1 ] && cd '$tmp/h-out' && [ \"\$(ls -A | LC_ALL=C sort | tr '\n' ' ')\" = 'explicit_le.dcm implicit_le.dcm ' ]"
check "a batch with bad files: each bad file named in the report" \
  bash -c "grep -qF truncated_in_value.dcm '$tmp/last.err' && grep -qF cut_in_pixels.dcm '$tmp/last.err'"
rm -rf "$tmp/h-out" && mkdir -p "$tmp/h-out"
# Values the VR forbids (over-long or wrong characters) are refused before anything is written.
n_val=0 n_val_ok=0
for edit in "StudyDate=2024013199" "StudyDate=2024-01-31" "PatientID=$(printf 'P%.0s' {1..65})" \
  "Modality=$(printf 'C%.0s' {1..17})" "SOPInstanceUID=1.2.abc" "Rows=70000" "InstanceNumber=1A"; do
  n_val=$((n_val + 1))
  modify --set "$edit" --out "$tmp/h-out" "$data/explicit_le.dcm"
  if [ "$rc" = 1 ] && [ -s "$tmp/last.err" ] && [ -z "$(ls -A "$tmp/h-out")" ]; then
    n_val_ok=$((n_val_ok + 1))
  else
    not_ok "invalid value --set ${edit:0:40}: exit $rc, output folder: $(ls -A "$tmp/h-out" | tr '\n' ' ')"
  fi
  rm -rf "$tmp/h-out" && mkdir -p "$tmp/h-out"
done
check "values their VR forbids: $n_val_ok of $n_val refused (exit 1, reason printed, nothing written)" [ "$n_val_ok" -eq "$n_val" ]

# A full output disk: a 1 MiB tmpfs and a 2 MiB file.
full_dir="$tmp/full"
mkdir -p "$full_dir" "$tmp/big"
if mount -t tmpfs -o size=1m tmpfs "$full_dir" 2>/dev/null; then
  full_mnt="$full_dir"
  "$py" "$here/mkdicom.py" "$tmp/big" 1 --prefix BIG --pixels 1024 >/dev/null
  bigf=$(ls "$tmp"/big/*.dcm | head -1)
  big_sha=$(sha "$bigf")
  modify --set PatientName=X --out "$full_dir" "$bigf"
  check "full disk: exit 1 with a reason ($(head -c 120 "$tmp/last.err" | tr '\n' ' '))" \
    bash -c "[ $rc = 1 ] && [ -s '$tmp/last.err' ]"
  check "full disk: no file under the final name, no temporary file left" only_files "$full_dir"
  check "full disk: the source is unchanged" [ "$(sha "$bigf")" = "$big_sha" ]
  # --in-place on the full disk: the rewrite needs room for a second copy; the original must survive.
  "$py" "$here/mkdicom.py" "$tmp/big" 1 --prefix MID --pixels 600 >/dev/null
  midf=$(ls "$tmp"/big/MID*.dcm | head -1)
  cp "$midf" "$full_dir/mid.dcm" && mid_sha=$(sha "$full_dir/mid.dcm")
  modify --in-place --set PatientName=X "$full_dir/mid.dcm"
  check "full disk, --in-place: exit 1, the original intact, no temporary file" \
    bash -c "[ $rc = 1 ] && [ \"\$(sha256sum '$full_dir/mid.dcm' | cut -d' ' -f1)\" = '$mid_sha' ]"
  check "full disk, --in-place: the folder holds only the original" only_files "$full_dir" mid.dcm
  umount "$full_dir" && full_mnt=""
else
  echo "# SKIP full disk: cannot mount a tmpfs here (needs root)"
fi

# ---- 4. --in-place ------------------------------------------------------------------------------------
ip="$tmp/inplace"
mkdir -p "$ip"
cp "$data/sequences.dcm" "$ip/a.dcm"
ln "$ip/a.dcm" "$ip/a.link"
orig_sha=$(sha "$ip/a.dcm")
ino_before=$(stat -c %i "$ip/a.dcm")
modify --in-place --set PatientID=IN-PLACE "$ip/a.dcm"
check "--in-place: exit 0" [ "$rc" = 0 ]
check "--in-place: the file was replaced by a rename (new inode; the hard link still holds the old bytes)" \
  bash -c "[ \"\$(stat -c %i '$ip/a.dcm')\" != '$ino_before' ] && [ \"\$(sha256sum '$ip/a.link' | cut -d' ' -f1)\" = '$orig_sha' ]"
check "--in-place: the new file has the edit and nothing else changed (pydicom, dcmdump)" \
  bash -c "'$py' '$cmp_py' pair '$ip/a.link' '$ip/a.dcm' --dcmdump >/dev/null && exit 1; \
    dcmodify -nb -q -m PatientID=IN-PLACE '$ip/a.link' && '$py' '$cmp_py' pair '$ip/a.link' '$ip/a.dcm' --no-length-form >/dev/null"
check "--in-place: no temporary file left" only_files "$ip" a.dcm a.link
rm -f "$ip/a.link"
cp "$data/explicit_le.dcm" "$ip/b.dcm"
b_sha=$(sha "$ip/b.dcm") b_ino=$(stat -c %i "$ip/b.dcm")
modify --in-place --set StudyDate=notadate "$ip/b.dcm"
check "--in-place with an invalid value: exit 1, the original untouched (same bytes, same inode)" \
  bash -c "[ $rc = 1 ] && [ \"\$(sha256sum '$ip/b.dcm' | cut -d' ' -f1)\" = '$b_sha' ] && [ \"\$(stat -c %i '$ip/b.dcm')\" = '$b_ino' ]"
cp "$tmp/hostile/cut_in_pixels.dcm" "$ip/c.dcm"
c_sha=$(sha "$ip/c.dcm")
modify --in-place --set PatientName=X "$ip/c.dcm"
check "--in-place on a cut file: exit 1, the file untouched" \
  bash -c "[ $rc = 1 ] && [ \"\$(sha256sum '$ip/c.dcm' | cut -d' ' -f1)\" = '$c_sha' ]"
check "--in-place failures: no temporary file left" only_files "$ip" a.dcm b.dcm c.dcm

echo "# $((SECONDS - t_start)) s"
finish
