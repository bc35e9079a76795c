#!/usr/bin/env bash
# The `folder` destination (issue 16) driven directly ($SENDIT_DEST_DRIVE):
# one tar per batch under <collection>/<patient>/<patient>_<date>_<accession>.tar
# whose members `tar -tf` lists and whose extracted files are byte-identical
# (cmp) to the inputs; the manifest's rows checked with python3 (json,
# hashlib sha256); every item reported once with the archive's path and
# sha256; a re-run replaces the same names; zstd read by `tar --zstd`, gzip by
# `tar -z`; hostile header values (../../etc) stay below the folder; a
# destination path that is a symlink, or a symlink inside it, is refused; a
# full disk (a 1 MiB tmpfs) is an error that leaves no temporary and no archive.
source "$(dirname "$0")/lib.sh"
: "${SENDIT_DEST_DRIVE:?SENDIT_DEST_DRIVE must point to sendit_dest_drive}"
PY=/usr/bin/python3
GEN="$PY ${SENDIT_SOURCE:-$HERE/../..}/bench/gen_corpus.py"
mkdir -p "$SENDIT_TMP"
W="$(mktemp -d "$SENDIT_TMP/dest_folder.XXXXXX")"
MOUNTED=""
cleanup() {
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
  rm -rf "$W"
}
trap cleanup EXIT
drive() { "$SENDIT_DEST_DRIVE" folder "$@"; }
drive_refused() { drive "$@"; } # runs the type's check refuses
partials() { find "$@" -name '.sendit-partial-*' 2>/dev/null | wc -l; }

# Six full CT files (512 KiB of pixels each) in one study.
$GEN --studies 1 --images 6 --out "$W/in" >/dev/null 2>&1 || { echo "gen_corpus failed"; exit 1; }
mapfile -t FILES < <(find "$W/in" -name '*.dcm' | sort)
check_eq "corpus made" 6 "${#FILES[@]}"

out=$(drive t1 path="$W/dest" -- "${FILES[@]}")
rc=$?
check_eq "drive exits 0" 0 "$rc"
check_eq "six items sent" 6 "$(grep -c '^sent ' <<<"$out")"
check_eq "one answer for all" 1 "$(sed 's/^sent [0-9]* [^ ]* //' <<<"$out" | sort -u | wc -l)"
rel=$(sed -n '1s/^sent [0-9]* [^ ]* archive \([^ ]*\) sha256 .*/\1/p' <<<"$out")
sha=$(sed -n '1s/.* sha256 \([0-9a-f]*\)$/\1/p' <<<"$out")
check "the answer names the layout's path" grep -Eq '^sendit/[^/]+/[^/]+_[0-9]{8}_[^/]+\.tar$' <<<"$rel"
TAR="$W/dest/$rel"
MAN="$TAR.manifest.jsonl"
check "archive exists" test -f "$TAR"
check "manifest exists" test -f "$MAN"
check_eq "answer's sha256 is the archive's" "$(sha256sum "$TAR" | cut -d' ' -f1)" "$sha"
check_eq "tar -tf lists six members" 6 "$(tar -tf "$TAR" | wc -l)"
check "members are study/series/instance.dcm" \
  bash -c "tar -tf '$TAR' | grep -Evq '^[0-9.]+/[0-9.]+/[0-9.]+\.dcm$' && exit 1 || exit 0"
check_eq "no temporaries left" 0 "$(partials "$W/dest")"
mkdir -p "$W/x"
tar -xf "$TAR" -C "$W/x"
# Each input is byte-identical to the member the manifest names for it.
identical=0
while IFS=' ' read -r input member; do
  cmp -s "$input" "$W/x/$member" && identical=$((identical + 1))
done < <($PY - "$MAN" "${FILES[@]}" <<'PYEOF'
import hashlib, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
by_sha = {r["sha256"]: r for r in rows if r["row"] == "instance"}
for f in sys.argv[2:]:
    h = hashlib.sha256(open(f, "rb").read()).hexdigest()
    if h in by_sha:
        print(f, by_sha[h]["path"])
PYEOF
)
check_eq "extracted files identical (cmp) to the inputs" 6 "$identical"

manifest_check=$($PY - "$MAN" "$TAR" "$W/x" "${FILES[@]}" <<'PYEOF'
import hashlib, json, os, sys
import pydicom
man, tar, x, files = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
rows = [json.loads(l) for l in open(man)]
problems = []
inst = [r for r in rows if r["row"] == "instance"]
batch = [r for r in rows if r["row"] == "batch"]
if len(inst) != len(files): problems.append("instance rows %d" % len(inst))
if len(batch) != 1 or rows[-1]["row"] != "batch": problems.append("batch row not last and alone")
by_uid = {r["SOPInstanceUID"]: r for r in inst}
for f in files:
    ds = pydicom.dcmread(f, stop_before_pixels=True)
    r = by_uid.get(ds.SOPInstanceUID)
    if r is None:
        problems.append("no row for " + f); continue
    want = {"PatientID": ds.PatientID, "AccessionNumber": ds.AccessionNumber,
            "StudyDate": ds.StudyDate, "StudyInstanceUID": ds.StudyInstanceUID,
            "SeriesInstanceUID": ds.SeriesInstanceUID, "SOPClassUID": ds.SOPClassUID,
            "size": os.path.getsize(f),
            "sha256": hashlib.sha256(open(f, "rb").read()).hexdigest(),
            "path": "%s/%s/%s.dcm" % (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)}
    for k, v in want.items():
        if str(r.get(k)) != str(v): problems.append("%s: %s=%r, want %r" % (f, k, r.get(k), v))
    if hashlib.sha256(open(os.path.join(x, r["path"]), "rb").read()).hexdigest() != r["sha256"]:
        problems.append("extracted %s differs from its sha256" % r["path"])
b = batch[0] if batch else {}
ds = pydicom.dcmread(files[0], stop_before_pixels=True)
wantb = {"id": ds.PatientID, "PatientID": ds.PatientID, "AccessionNumber": ds.AccessionNumber,
         "StudyDate": ds.StudyDate, "PatientSex": ds.PatientSex, "IMAGE_COUNT": len(files),
         "UPLOAD_AGENT": "sendit", "archive": os.path.basename(tar), "archive_size": os.path.getsize(tar),
         "sha256": hashlib.sha256(open(tar, "rb").read()).hexdigest(), "collection": "sendit",
         "batch_uid": "t1", "compression": "none"}
for k, v in wantb.items():
    if str(b.get(k)) != str(v): problems.append("batch %s=%r, want %r" % (k, b.get(k), v))
print("ok" if not problems else "; ".join(problems))
PYEOF
)
check_eq "manifest rows match the files and the archive" ok "$manifest_check"

# Again: the same names, replaced; nothing beside them.
out2=$(drive t1 path="$W/dest" -- "${FILES[@]}")
check_eq "re-run exits 0" 0 "$?"
check_eq "re-run names the same archive" "$rel" \
  "$(sed -n '1s/^sent [0-9]* [^ ]* archive \([^ ]*\) sha256 .*/\1/p' <<<"$out2")"
check_eq "re-run leaves one archive and one manifest" 2 "$(find "$W/dest" -type f | wc -l)"

# zstd and gzip.
out=$(drive tz path="$W/z" compression=zstd -- "${FILES[@]}")
check_eq "zstd: drive exits 0" 0 "$?"
ZT=$(find "$W/z" -name '*.tar.zst')
check_eq "zstd: tar --zstd -tf lists six members" 6 "$(tar --zstd -tf "$ZT" 2>/dev/null | wc -l)"
out=$(drive tg path="$W/g" compression=gzip -- "${FILES[@]}")
check_eq "gzip: drive exits 0" 0 "$?"
GT=$(find "$W/g" -name '*.tar.gz')
check_eq "gzip: tar -tzf lists six members" 6 "$(tar -tzf "$GT" 2>/dev/null | wc -l)"
out=$(drive_refused tb path="$W/b" compression=xz -- "${FILES[@]}")
check_eq "unknown compression refused" 2 "$?"
check "unknown compression named" grep -q "compression xz" <<<"$out"
out=$(drive_refused tb path="$W/b" colour=blue -- "${FILES[@]}")
check_eq "unknown key refused" 2 "$?"

# Hostile header values: the package stays below the folder.
mkdir -p "$W/hostile"
$PY - "${FILES[0]}" "$W/hostile/h.dcm" <<'PYEOF'
import sys, pydicom
ds = pydicom.dcmread(sys.argv[1])
ds.PatientID = "../../../outside"
ds.AccessionNumber = "x/../../y"
ds.StudyDate = ""
ds.save_as(sys.argv[2])
PYEOF
mkdir -p "$W/hroot/inner"
out=$(drive th path="$W/hroot/inner" -- "$W/hostile/h.dcm")
check_eq "hostile: drive exits 0" 0 "$?"
check_eq "hostile: the archive is below the folder" 1 "$(find "$W/hroot/inner" -name '*.tar' | wc -l)"
check_eq "hostile: nothing outside the folder" "inner" "$(ls "$W/hroot")"
check "hostile: no .. in the path" bash -c "! find '$W/hroot/inner' | grep -q '\.\./'"
check "hostile: the batch uid stands in for the empty date" \
  bash -c "find '$W/hroot/inner' -name '*_th_*.tar' | grep -q ."

# Symlinks: the destination path itself, and one inside it.
mkdir -p "$W/real" "$W/outside"
ln -s "$W/real" "$W/link"
out=$(drive_refused ts path="$W/link" -- "${FILES[@]}")
check_eq "a symlink as path is refused" 2 "$?"
check "the refusal says symlink" grep -q "symlink" <<<"$out"
out=$(drive_refused ts path="$W/link/" -- "${FILES[@]}")
check_eq "a symlink as path/ (trailing slash) is refused" 2 "$?"
check "nothing written through path/" test -z "$(ls -A "$W/real")"
mkdir -p "$W/sroot"
ln -s "$W/outside" "$W/sroot/sendit"
out=$(drive ts path="$W/sroot" -- "${FILES[@]}")
check_eq "a symlink inside the folder is refused" 2 "$?"
check "nothing written through it" test -z "$(ls -A "$W/outside")"
check "the refusal says symlink (inside)" grep -q "symlink" <<<"$out"

# Disk full: a 1 MiB tmpfs for 3 MiB of files.
mkdir -p "$W/full"
if mount -t tmpfs -o size=1m tmpfs "$W/full" 2>/dev/null; then
  MOUNTED="$W/full"
  out=$(drive tf path="$W/full" -- "${FILES[@]}")
  check_eq "disk full: drive exits 2" 2 "$?"
  check "disk full: the error says so" grep -q "disk full" <<<"$out"
  check_eq "disk full: nothing reported sent" 0 "$(grep -c '^sent ' <<<"$out")"
  check_eq "disk full: no temporary left" 0 "$(partials "$W/full")"
  check_eq "disk full: no archive" 0 "$(find "$W/full" -name '*.tar*' | wc -l)"
  umount "$W/full" && MOUNTED=""
else
  echo "# skip: mount -t tmpfs failed (not root, or no permission here): disk-full case not run"
fi
finish
