#!/usr/bin/env bash
# Header-edit write benchmark (issue 12): `sendit modify --set PatientName=X --out` of every file of the CT
# corpus against `cp -r` (the floor), DCMTK's dcmodify on a copy and a pydicom script (read, set, save), in
# one run, alternating; then the peak memory of rewriting a 1 GiB multi-frame file. Results in
# bench/out/write-results.md (write-results-small.md with --small). See bench/README.md.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
PY=/usr/bin/python3
TIME=/usr/bin/time

STUDIES=20 IMAGES=100 SMALL=0 SEED=1 ROUNDS=3 CHECK=0 BIG_MB=1024
USE_PYDICOM=1 USE_DCMODIFY=1 USE_BIG=1 TMPFS=0
CORPUS="" OUT="$HERE/out" BUILD="$ROOT/build-bench-write"

usage() {
  cat <<EOF
usage: $0 [options]
  --small            2 studies x 50 images of 16x16 pixels, a 64 MiB multi-frame file (checks the harness)
  --studies N        studies in the corpus (default 20)
  --images M         images per study (default 100)
  --seed S           corpus seed (default 1)
  --corpus DIR       corpus folder (default bench/corpus, or bench/corpus-small with --small)
  --rounds N         rounds of alternating contenders (default 3)
  --big-mb N         size of the multi-frame file's pixel data in MiB (default 1024)
  --no-pydicom       skip the pydicom contender (minutes per round)
  --no-dcmodify      skip the dcmodify contender
  --no-big           skip the multi-frame memory measurement
  --tmpfs            write the outputs to a tmpfs mounted on bench/out/write-work (needs root): measures
                     the CPU cost of each contender without the disk (fsync is free there)
  --check            exit 1 when a target is missed
  -h, --help         this help
environment: SENDIT_BIN  use this sendit binary instead of building build-bench-write/sendit
EOF
}

while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=1; STUDIES=2; IMAGES=50; BIG_MB=64 ;;
    --studies) STUDIES=$2; shift ;;
    --images) IMAGES=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --corpus) CORPUS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --big-mb) BIG_MB=$2; shift ;;
    --no-pydicom) USE_PYDICOM=0 ;;
    --no-dcmodify) USE_DCMODIFY=0 ;;
    --no-big) USE_BIG=0 ;;
    --tmpfs) TMPFS=1 ;;
    --check) CHECK=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_write.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
for v in STUDIES IMAGES SEED ROUNDS BIG_MB; do
  [[ ${!v} =~ ^[0-9]+$ ]] && [ "${!v}" -ge 1 ] || { echo "run_write.sh: bad value for $v: ${!v}" >&2; exit 2; }
done
if [ -z "$CORPUS" ]; then
  if [ "$SMALL" = 1 ]; then CORPUS="$HERE/corpus-small"; else CORPUS="$HERE/corpus"; fi
fi
SUFFIX=""; [ "$SMALL" = 1 ] && SUFFIX="-small"
[ "$TMPFS" = 1 ] && SUFFIX="$SUFFIX-tmpfs"
RESULTS="$OUT/write-results$SUFFIX.md"
LIST="$OUT/write-files$SUFFIX.txt"
WORK="$OUT/write-work"   # outputs, on the corpus's file system (or a tmpfs); emptied after each run
TMP=$(mktemp -d)
MOUNTED=0
cleanup() {
  rm -rf "$TMP"
  if [ "$MOUNTED" = 1 ]; then umount "$WORK" && rmdir "$WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
mkdir -p "$OUT"
if [ "$TMPFS" = 1 ]; then
  mkdir -p "$WORK"
  mount -t tmpfs -o size=3g tmpfs "$WORK" || { echo "run_write.sh: cannot mount a tmpfs on $WORK" >&2; exit 2; }
  MOUNTED=1
fi
# empty_work: an empty $WORK (a mount point stays)
empty_work() { mkdir -p "$WORK" && find "$WORK" -mindepth 1 -maxdepth 1 -exec rm -rf {} +; }

say() { printf '%s\n' "$*" >&2; }
die() { say "run_write.sh: $*"; exit 2; }

# ---- tools ------------------------------------------------------------------
if [ ! -x "$TIME" ]; then
  say "GNU time missing: installing the 'time' package"
  apt-get install -y time >/dev/null 2>&1 || die "need $TIME (apt-get install -y time)"
fi
command -v dcmodify >/dev/null || die "dcmodify not found (apt-get install -y dcmtk)"
"$PY" -c 'import pydicom' 2>/dev/null || die "$PY cannot import pydicom (apt-get install -y python3-pydicom)"

# ---- sendit -----------------------------------------------------------------
SENDIT="" SENDIT_NOTE=""
if [ -n "${SENDIT_BIN:-}" ]; then
  [ -x "$SENDIT_BIN" ] || die "SENDIT_BIN=$SENDIT_BIN is not executable"
  SENDIT=$SENDIT_BIN
else
  say "building sendit in $BUILD (Release)"
  if cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSENDIT_TESTS=OFF >"$OUT/build-write.log" 2>&1 &&
     cmake --build "$BUILD" --target sendit -j "$(nproc)" >>"$OUT/build-write.log" 2>&1 && [ -x "$BUILD/sendit" ]; then
    SENDIT="$BUILD/sendit"
  else
    SENDIT_NOTE="build failed (see bench/out/build-write.log)"
    say "sendit: $SENDIT_NOTE"
  fi
fi
if [ -n "$SENDIT" ] && ! "$SENDIT" modify --help >/dev/null 2>&1; then
  SENDIT_NOTE="this sendit has no 'modify' command"; SENDIT=""
fi

# ---- corpus (the same generator and stamp as run_parse.sh) ---------------------
WANT=$((STUDIES * IMAGES))
PARAMS="studies=$STUDIES images=$IMAGES small=$SMALL seed=$SEED"
STAMP="$CORPUS/.gen-params"
count_files() { find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f 2>/dev/null | wc -l; }
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PARAMS" ] && [ "$(count_files)" -eq "$WANT" ]; then
  say "corpus: $CORPUS already has $WANT files ($PARAMS)"
else
  if [ -d "$CORPUS" ] && [ -n "$(ls -A "$CORPUS" 2>/dev/null)" ]; then
    [ -f "$STAMP" ] || die "$CORPUS exists, is not empty and was not made by gen_corpus (no .gen-params)"
    rm -rf "$CORPUS"
  fi
  small_flag=(); [ "$SMALL" = 1 ] && small_flag=(--small)
  "$PY" "$HERE/gen_corpus.py" --studies "$STUDIES" --images "$IMAGES" --seed "$SEED" \
      "${small_flag[@]}" --out "$CORPUS" || die "corpus generation failed"
  printf '%s\n' "$PARAMS" >"$STAMP"
  [ "$(count_files)" -eq "$WANT" ] || die "corpus has $(count_files) files, expected $WANT"
fi
CORPUS=$(cd "$CORPUS" && pwd)
find "$CORPUS" -mindepth 2 -maxdepth 2 -name 'IMG*.dcm' -type f | LC_ALL=C sort >"$LIST"
N=$(wc -l <"$LIST")
BYTES=$(xargs -d '\n' -a "$LIST" stat -c %s | awk '{s += $1} END {print s}')

# ---- contenders ---------------------------------------------------------------
NAMES=(sendit cp dcmodify pydicom)
declare -A CMD=(
  [sendit]="sendit modify -q --set PatientName=X --out OUT/STUDY CORPUS/STUDY, one process per study folder"
  [cp]="cp -r CORPUS OUT"
  [dcmodify]="dcmodify -nb -q -m PatientName=X FILE... on a copy (the copy is made before the clock starts)"
  [pydicom]="pydicom_write.py: dcmread, PatientName = X, save_as OUT/..."
)
declare -A OK TIMES DTIMES
for c in "${NAMES[@]}"; do OK[$c]=1; TIMES[$c]=""; DTIMES[$c]=""; done
[ -n "$SENDIT" ] || OK[sendit]=0
[ "$USE_PYDICOM" = 1 ] || OK[pydicom]=0
[ "$USE_DCMODIFY" = 1 ] || OK[dcmodify]=0

warm() { xargs -d '\n' -a "$1" cat >/dev/null; }
# One sendit process per study folder (the corpus's top folder also holds the generator's .gen-params
# stamp, which sendit would rightly report as not DICOM): 20 start-ups of ~2 ms in a ~1 s run.
sendit_studies() {
  local dest=$1 d rc=0
  for d in "$CORPUS"/*/; do
    d=${d%/}
    "$SENDIT" modify -q --set PatientName=X --out "$dest/${d##*/}" "$d" || rc=$?
  done
  return $rc
}
# prepare NAME: untimed set-up; sets DEST (the output folder) and CMDV.
prepare() {
  empty_work
  DEST="$WORK/$1"
  case $1 in
    sendit) CMDV=(sendit_studies "$DEST") ;;
    cp) CMDV=(cp -r "$CORPUS" "$DEST") ;;
    dcmodify)
      cp -r "$CORPUS" "$DEST" && sync
      sed "s|^$CORPUS/|$DEST/|" "$LIST" >"$TMP/dcmodify.list"
      CMDV=(xargs -d '\n' -a "$TMP/dcmodify.list" -s 1000000 dcmodify -nb -q -m PatientName=X) ;;
    pydicom) CMDV=("$PY" "$HERE/pydicom_write.py" "$LIST" "$CORPUS" "$DEST") ;;
  esac
}
# verify NAME: the output has N files of about the input's bytes, and the edit is in them.
verify() {
  local n bytes
  n=$(find "$DEST" -name 'IMG*.dcm' -type f | wc -l)
  bytes=$(find "$DEST" -name 'IMG*.dcm' -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  [ "$n" -eq "$N" ] || { say "$1: $n output files, expected $N"; return 1; }
  awk -v a="$bytes" -v b="$BYTES" 'BEGIN {exit !(a > b * 0.98 && a < b * 1.02)}' ||
    { say "$1: output holds $bytes bytes, the corpus $BYTES"; return 1; }
  [ "$1" = cp ] && return 0
  "$PY" - "$DEST" <<'EOF' || { say "$1: PatientName is not X in the output"; return 1; }
import glob, sys
from pydicom import dcmread
files = sorted(glob.glob(sys.argv[1] + "/*/IMG*.dcm"))
bad = [f for f in files[:: max(1, len(files) // 20)] if str(dcmread(f, stop_before_pixels=True).PatientName) != "X"]
sys.exit(1 if bad else 0)
EOF
}
# time_run NAME -> LAST_US (the command), LAST_DUS (the command + fsync of every output file), LAST_RC
time_run() {
  local name=$1 t0 t1 t2
  prepare "$name" || { LAST_RC=99; return; }
  warm "$LIST"
  t0=${EPOCHREALTIME//[.,]/}
  "${CMDV[@]}" >/dev/null 2>"$TMP/$name.err"
  LAST_RC=$?
  t1=${EPOCHREALTIME//[.,]/}
  # Durable: what the command wrote, on disk (sendit fsyncs each file itself; the others do not).
  find "$DEST" -type f -print0 | xargs -0 -r sync
  t2=${EPOCHREALTIME//[.,]/}
  LAST_US=$((t1 - t0)) LAST_DUS=$((t2 - t0))
}

say "running $ROUNDS rounds over $N files, $((BYTES / 1000000)) MB (contenders alternate; inputs warmed before each)"
for ((r = 0; r < ROUNDS; r++)); do
  for ((k = 0; k < ${#NAMES[@]}; k++)); do
    c=${NAMES[$(((k + r) % ${#NAMES[@]}))]}
    [ "${OK[$c]}" = 1 ] || continue
    time_run "$c"
    if [ "$LAST_RC" -ne 0 ]; then
      OK[$c]=0; say "$c: exit $LAST_RC in round $((r + 1)); left out:"; head -n 5 "$TMP/$c.err" >&2
      [ "$c" = sendit ] && SENDIT_NOTE="exit $LAST_RC: $(head -n 1 "$TMP/$c.err")"
      continue
    fi
    if [ "$r" = 0 ] && ! verify "$c"; then
      OK[$c]=0; say "$c: its output is wrong; left out"
      [ "$c" = sendit ] && SENDIT_NOTE="wrong output"
      continue
    fi
    TIMES[$c]+="$LAST_US " DTIMES[$c]+="$LAST_DUS "
    say "  round $((r + 1)) $(printf '%-9s %8.3f s, %8.3f s with fsync' "$c" "$(awk -v u="$LAST_US" 'BEGIN {print u / 1e6}')" "$(awk -v u="$LAST_DUS" 'BEGIN {print u / 1e6}')")"
  done
done
empty_work

# ---- memory: one small file, then a multi-frame file of BIG_MB MiB of pixels -----------
RSS_SMALL=0 RSS_BIG=0 BIG_US=0 BIG_NOTE=""
peak_rss() { # FILE... -> LAST_RSS (KiB), LAST_RC; output in $WORK/mem
  rm -rf "$WORK/mem" && mkdir -p "$WORK/mem"
  "$TIME" -v -o "$TMP/timev" "$SENDIT" modify -q --set PatientName=X --out "$WORK/mem" "$@" >/dev/null 2>"$TMP/mem.err"
  LAST_RC=$?
  LAST_RSS=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$TMP/timev")
}
if [ -n "$SENDIT" ] && [ "${OK[sendit]}" = 1 ]; then
  peak_rss "$(head -n 1 "$LIST")"
  [ "$LAST_RC" = 0 ] && RSS_SMALL=$LAST_RSS
  if [ "$USE_BIG" = 1 ]; then
    BIG="$WORK/big/multiframe.dcm"
    mkdir -p "$WORK/big"
    # Multi-frame CT, 512x512x16 bits per frame, BIG_MB MiB of pixel data as a sparse region (holes read as
    # zeros, so it costs no disk to make; the rewrite copies every byte of it).
    "$PY" - "$BIG" "$BIG_MB" <<'EOF' || BIG_NOTE="generator failed"
import io, struct, sys
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian
path, mib = sys.argv[1], int(sys.argv[2])
frame = 512 * 512 * 2
frames = mib * 1024 * 1024 // frame
ds = Dataset()
ds.file_meta = FileMetaDataset()
ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
ds.file_meta.MediaStorageSOPInstanceUID = "2.25.424242"
ds.is_little_endian, ds.is_implicit_VR = True, False
ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.2", "2.25.424242"
ds.StudyInstanceUID, ds.SeriesInstanceUID = "2.25.424243", "2.25.424244"
ds.Modality, ds.PatientName, ds.PatientID = "CT", "Big^Multiframe", "BIG-1"
ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
ds.NumberOfFrames, ds.Rows, ds.Columns = frames, 512, 512
ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
buf = io.BytesIO()
dcmwrite(buf, ds, write_like_original=False)
length = frames * frame
with open(path, "wb") as f:
    f.write(buf.getvalue())
    f.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length))
    f.truncate(f.tell() + length)  # sparse: the pixel data is a hole
EOF
    if [ -z "$BIG_NOTE" ]; then
      t0=${EPOCHREALTIME//[.,]/}
      peak_rss "$BIG"
      t1=${EPOCHREALTIME//[.,]/}
      BIG_US=$((t1 - t0))
      if [ "$LAST_RC" = 0 ] && [ "$(stat -c %s "$WORK/mem/multiframe.dcm")" -ge "$(stat -c %s "$BIG")" ]; then
        RSS_BIG=$LAST_RSS
      else
        BIG_NOTE="rewrite failed (exit $LAST_RC: $(head -n 1 "$TMP/mem.err"))"
      fi
    fi
    empty_work
  fi
fi

# ---- results ------------------------------------------------------------------
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1} END {if (NR==0) print 0; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
range() { tr ' ' '\n' | grep . | sort -n | awk 'NR==1 {lo=$1} {hi=$1} END {if (NR) printf "%.3f-%.3f", lo/1e6, hi/1e6; else print "n/a"}'; }
mbs() { awk -v b="$BYTES" -v us="$1" 'BEGIN {if (us > 0) printf "%.0f", b / us; else print "n/a"}'; }
secs() { awk -v us="$1" 'BEGIN {if (us > 0) printf "%.3f", us / 1e6; else print "n/a"}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a > 0 && b > 0) printf "%.2f", b / a; else print "n/a"}'; } # how many times faster a is
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {if (v == "n/a") {print "n/a"; exit} ok = (op == ">=") ? (v + 0 >= t) : (v + 0 < t); print ok ? "PASS" : "FAIL"}'; }
declare -A MED DMED
for c in "${NAMES[@]}"; do
  if [ "${OK[$c]}" = 1 ] && [ -n "${TIMES[$c]}" ]; then
    MED[$c]=$(echo "${TIMES[$c]}" | median); DMED[$c]=$(echo "${DTIMES[$c]}" | median)
  else
    MED[$c]=0; DMED[$c]=0
  fi
done
S=${MED[sendit]} DS=${DMED[sendit]}
R_CP=$(ratio "$S" "${MED[cp]}") R_CPD=$(ratio "$DS" "${DMED[cp]}") # sendit MB/s / cp MB/s = t_cp / t_sendit
R_DM=$(ratio "$S" "${MED[dcmodify]}") R_PY=$(ratio "$S" "${MED[pydicom]}")
RSS_MIB=$(awk -v k="$RSS_BIG" 'BEGIN {if (k > 0) printf "%.1f", k / 1024; else print "n/a"}')
GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo "?")
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -vc '^??' || true)
{
  echo "# Write benchmark (sendit modify)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), sendit $GIT_REV$([ "$DIRTY" != 0 ] && echo " + uncommitted changes"),"\
       "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg), kernel $(uname -r)."
  echo "Corpus: $N files ($STUDIES studies x $IMAGES images), $((BYTES / 1000000)) MB; outputs $([ "$TMPFS" = 1 ] && echo "on a tmpfs (no disk; fsync is free)" || echo "on the corpus's file system")."
  echo "$ROUNDS rounds, contenders alternating, inputs warmed (cat) before each; median (range) of the rounds."
  echo "'durable' adds an fsync of every output file after the command (sendit fsyncs its files itself)."
  echo
  echo "| contender | command | median s | range s | MB/s | durable median s | durable MB/s |"
  echo "|---|---|---:|---:|---:|---:|---:|"
  for c in "${NAMES[@]}"; do
    if [ "${MED[$c]}" = 0 ]; then echo "| $c | ${CMD[$c]} | n/a | | | | |"; continue; fi
    echo "| $c | ${CMD[$c]} | $(secs "${MED[$c]}") | $(echo "${TIMES[$c]}" | range) | $(mbs "${MED[$c]}") | $(secs "${DMED[$c]}") | $(mbs "${DMED[$c]}") |"
  done
  echo
  echo "| ratio | median | target | result |"
  echo "|---|---:|---|---|"
  echo "| sendit MB/s / cp -r MB/s | $R_CP | >= 0.60 | $(verdict "$R_CP" '>=' 0.60) |"
  echo "| sendit MB/s / cp -r MB/s, both durable | $R_CPD | (information) | |"
  echo "| sendit MB/s / dcmodify MB/s | $R_DM | >= 5 | $(verdict "$R_DM" '>=' 5) |"
  echo "| sendit MB/s / pydicom MB/s | $R_PY | >= 20 | $(verdict "$R_PY" '>=' 20) |"
  echo "| sendit peak RSS, one ${BIG_MB} MiB multi-frame file | $RSS_MIB MiB | < 32 MiB | $(verdict "$RSS_MIB" '<' 32) |"
  echo "| sendit peak RSS, one corpus file | $(awk -v k="$RSS_SMALL" 'BEGIN {if (k > 0) printf "%.1f MiB", k / 1024; else print "n/a"}') | (information) | |"
  [ "$BIG_US" -gt 0 ] && echo "| rewrite of the multi-frame file (sparse source, every byte written) | $(secs "$BIG_US") s, $(awk -v m="$BIG_MB" -v us="$BIG_US" 'BEGIN {printf "%.0f", m * 1048576 / us}') MB/s | (information) | |"
  [ -z "$BIG_NOTE" ] || { echo; echo "multi-frame: $BIG_NOTE."; }
  [ -z "$SENDIT_NOTE" ] || { echo; echo "sendit: $SENDIT_NOTE."; }
} | tee "$RESULTS"
say "saved to ${RESULTS#"$ROOT"/}"

if [ "$CHECK" = 1 ]; then
  for v in "$(verdict "$R_CP" '>=' 0.60)" "$(verdict "$R_DM" '>=' 5)" "$(verdict "$R_PY" '>=' 20)" "$(verdict "$RSS_MIB" '<' 32)"; do
    [ "$v" = PASS ] || exit 1
  done
fi
[ "${MED[sendit]}" != 0 ] || exit 3
exit 0
