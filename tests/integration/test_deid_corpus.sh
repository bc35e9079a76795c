#!/usr/bin/env bash
# The end-to-end proof of de-identification (issue 14, "Proof"), on the PHI-seeded corpus (mkphi.py):
# `sendit deid --profile basic` de-identifies patient A's two batches (A1, A2) and patient B's (B1), twice,
# in separate processes of one site (same key), and twice more with retain-long-modified-dates (dates
# shifted, not removed), then independent tools check it:
#   - `sendit deid verify`: zero leaks, batch by batch with every date of the originals (--dates), and
#     over the whole corpus;
#   - dciodvfy (dicom3tools): no error on an output that it did not report on the matching input;
#   - dcentvfy (dicom3tools): each de-identified study is consistent (patient, study, series, frame of
#     reference), and so is patient A's pair of studies;
#   - DCMTK's dcmdump and pydicom read every output; UIDs, pseudonyms and dates are the same in both runs;
#     patient A's two batches share one PatientID and one day shift; A2's references to A1's instances
#     follow A1's new UIDs; the burned-in image is held back (deid_corpus_check.py).
# Environment (set by ctest): SENDIT_BIN, SENDIT_TMP. KEEP_TMP=1 keeps the scratch.
set -u
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

py=/usr/bin/python3
# The engine's run is the subcommand table's default row (src/cmd_deid.c). A build without it cannot
# de-identify: say so and stop, rather than report the engine's absence as its failure.
mkdir -p "$SENDIT_TMP"
probe="$(mktemp -d "$SENDIT_TMP/deid-probe.XXXXXX")" || exit 1
if "$SENDIT_BIN" deid --profile basic --key "$probe/key" --out "$probe/out" "$probe/nothing" 2>&1 |
  grep -q "unknown subcommand"; then
  rm -rf "$probe"
  echo "# SKIP: this build has no 'sendit deid --profile' (the engine's run); nothing to check"
  exit 0
fi
rm -rf "$probe"

new_site
cat >>"$SITE/sendit.ini" <<INI
[deid]
key_file = $SITE/deid.key
folder = $SITE/deid
INI
tmp="$SITE/t"
mkdir -p "$tmp"
[ -n "${KEEP_TMP:-}" ] || trap 'stop_site; rm -rf "$SITE"' EXIT

$py "$HERE/mkphi.py" "$tmp/corpus" --manifest "$tmp/manifest.json" 2>/dev/null || { echo "mkphi.py failed"; exit 1; }
batches=(A1 A2 B1)

for run in run1 run2; do
  for b in "${batches[@]}"; do
    "$SENDIT_BIN" deid --profile basic --key "$SITE/deid.key" --out "$tmp/$run/$b" "$tmp/corpus/$b" >"$tmp/$run-$b.log" 2>&1
    rc=$?
    # B1 holds the burned-in image: held for review, which may make the run's status 1.
    if [ "$b" = B1 ]; then
      check "$run: sendit deid ran on batch $b (exit $rc)" test "$rc" -le 1
    else
      check_eq "$run: sendit deid de-identified batch $b" 0 "$rc"
    fi
  done
done
# The same with Retain Longitudinal Temporal Information with Modified Dates: dates are shifted, not removed.
for run in mod1 mod2; do
  for b in "${batches[@]}"; do
    "$SENDIT_BIN" deid --profile basic,retain-long-modified-dates --key "$SITE/deid.key" \
      --out "$tmp/$run/$b" "$tmp/corpus/$b" >"$tmp/$run-$b.log" 2>&1
    rc=$?
    check "$run (modified dates): sendit deid ran on batch $b (exit $rc)" test "$rc" -eq 0 -o \( "$b" = B1 -a "$rc" -eq 1 \)
  done
done
[ -n "$(find "$tmp/run1" -type f 2>/dev/null)" ] || { cat "$tmp/run1-A1.log"; finish; exit 1; }

# Zero leaks: per batch with every date (a date shifted into another batch's original date would be
# reported across batches), then the whole corpus without event dates.
for run in run1 mod1; do
  for b in "${batches[@]}"; do
    "$SENDIT_BIN" deid verify --dates "$tmp/corpus/$b" --against "$tmp/$run/$b" >"$tmp/verify-$run-$b.txt" 2>&1
    check_eq "sendit deid verify --dates: no leak in $run's batch $b" 0 $?
    grep '^LEAK' "$tmp/verify-$run-$b.txt" | head -5
  done
done
"$SENDIT_BIN" deid verify --json "$tmp/corpus" --against "$tmp/run1" "$tmp/run2" "$tmp/mod1" "$tmp/mod2" \
  >"$tmp/verify.json" 2>&1
check_eq "sendit deid verify: no leak in any run over the whole corpus" 0 $?

# dciodvfy: no error on an output that the matching input did not have.
new_errors=0
while IFS= read -r out; do
  key=$($py -c 'import pydicom,sys; d=pydicom.dcmread(sys.argv[1],stop_before_pixels=True); print(d.SeriesNumber, d.InstanceNumber)' "$out")
  rel=${out#"$tmp/"}
  rel=${rel#*/}
  b=${rel%%/*}
  in="$tmp/corpus/$b/S${key% *}/IM$(printf %04d "${key#* }").dcm"
  dciodvfy "$in" 2>&1 | grep '^Error' | sort -u >"$tmp/in.err"
  dciodvfy "$out" 2>&1 | grep '^Error' | sort -u >"$tmp/out.err"
  if [ -n "$(comm -13 "$tmp/in.err" "$tmp/out.err")" ]; then
    new_errors=$((new_errors + 1))
    echo "# dciodvfy, $out (from $in):"
    comm -13 "$tmp/in.err" "$tmp/out.err" | head -5 | sed 's/^/#   /'
  fi
done < <(find "$tmp/run1" "$tmp/mod1" -type f | sort)
check_eq "dciodvfy: no output has an error its input did not have" 0 "$new_errors"

# dcentvfy: each de-identified study is consistent, and patient A's two studies together.
for b in "${batches[@]}"; do
  mapfile -t files < <(find "$tmp/run1/$b" -type f | sort)
  out=$(dcentvfy "${files[@]}" 2>&1)
  check "dcentvfy: study $b is consistent" test $? -eq 0 -a -z "$(grep '^Error' <<<"$out")"
done
mapfile -t files < <(find "$tmp/run1/A1" "$tmp/run1/A2" -type f | sort)
out=$(dcentvfy "${files[@]}" 2>&1)
check "dcentvfy: patient A's two de-identified studies agree on the patient" \
  test -z "$(grep '^Error' <<<"$out" | grep 'IE=<Patient>')"

# DCMTK reads every output.
unread=0
while IFS= read -r f; do dcmdump -q "$f" >/dev/null 2>&1 || { unread=$((unread + 1)); echo "# dcmdump: $f"; }; done \
  < <(find "$tmp/run1" "$tmp/run2" "$tmp/mod1" -type f)
check_eq "dcmdump reads every output" 0 "$unread"

# pydicom: reads, consistency across files, runs and batches.
$py "$HERE/deid_corpus_check.py" "$tmp/corpus" "$tmp/run1" "$tmp/run2" >"$tmp/check.txt" 2>&1
rc=$?
cat "$tmp/check.txt"
check_eq "pydicom: every consistency check passed" 0 "$rc"
$py "$HERE/deid_corpus_check.py" "$tmp/corpus" "$tmp/mod1" "$tmp/mod2" --shifted >"$tmp/check-mod.txt" 2>&1
rc=$?
cat "$tmp/check-mod.txt"
check_eq "pydicom, modified dates: every consistency check passed, dates shifted alike" 0 "$rc"

# The public samples (when present) through the engine: nothing identifying of theirs is left, apart from
# values that attributes the basic profile keeps happen to share with a sample's identifying ones
# (Manufacturer "Here" = InstitutionName "Here" in rtplan.dcm, an SR template's CodeMeaning "Observer" =
# its VerifyingObserverName, TextValue "Enter text" = a PersonName, CodeValue "1234" = a StudyID).
if [ -n "${SENDIT_SAMPLES:-}" ] && [ -d "$SENDIT_SAMPLES" ]; then
  "$SENDIT_BIN" deid -q --profile basic --key "$SITE/deid.key" --out "$tmp/samples" "$SENDIT_SAMPLES" \
    >"$tmp/samples.log" 2>&1
  n=$(find "$tmp/samples" -type f | wc -l)
  "$SENDIT_BIN" deid verify --kept Manufacturer --kept ManufacturerModelName --kept CodeValue \
    --kept CodeMeaning --kept TextValue "$SENDIT_SAMPLES" --against "$tmp/samples" >"$tmp/samples.txt" 2>/dev/null
  check "the public samples de-identified ($n files): no leak" grep -q "^0 leak(s) in $n file(s)" "$tmp/samples.txt"
  grep '^LEAK' "$tmp/samples.txt" | head -5
  check "... a hundred of them or more" test "$n" -ge 100
fi

finish
