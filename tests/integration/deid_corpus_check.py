#!/usr/bin/python3
"""Checks `sendit deid` outputs of the PHI-seeded corpus (mkphi.py) with pydicom.

Usage: deid_corpus_check.py CORPUS RUN1 RUN2 [--shifted]

CORPUS holds the batches (A1, A2, B1) mkphi.py wrote; RUNn/<batch> is what one
run of `sendit deid` made of CORPUS/<batch>. An output is matched to its input
by (batch, SeriesNumber, InstanceNumber). Prints "ok - ..." / "not ok - ..."
lines (TAP, as lib.sh does) and exits 1 when one fails:
  - pydicom reads every output (and its pixel data is the input's);
  - the flagged image (BurnedInAnnotation YES) has no output, every other has one;
  - every output has new UIDs (none of the corpus's), the meta's
    MediaStorageSOPInstanceUID equals SOPInstanceUID, PatientIdentityRemoved YES
    and a DeidentificationMethod;
  - a study's files share one StudyInstanceUID, a series' one SeriesInstanceUID
    and FrameOfReferenceUID, every SOPInstanceUID is distinct;
  - the two runs give the same UIDs, pseudonyms and dates, file by file;
  - patient A's two batches get one PatientID and one day shift, and A2's
    references to A1's instances point at A1's new SOPInstanceUIDs;
  - patients A and B get different PatientIDs;
  - with --shifted (runs made with retain-long-modified-dates): dates are
    there, shifted by a whole number of days other than 0, the same one for
    every date of a patient (DA and DT alike).
"""
import datetime
import os
import sys

import pydicom

corpus, runs = sys.argv[1], sys.argv[2:4]
shifted = "--shifted" in sys.argv[4:]
failed = 0


def report(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    if not ok:
        failed += 1


def read_tree(root):
    """{(batch, series, instance): dataset} of every file under root/<batch>."""
    out, errors = {}, []
    for batch in sorted(os.listdir(root)):
        for folder, _, names in os.walk(os.path.join(root, batch)):
            for name in names:
                path = os.path.join(folder, name)
                try:
                    ds = pydicom.dcmread(path)
                    ds.decode()
                    key = (batch, int(ds.SeriesNumber), int(ds.InstanceNumber))
                except Exception as e:  # noqa: BLE001
                    errors.append(f"{path}: {e}")
                    continue
                out[key] = ds
    return out, errors


def day(value):
    return datetime.date(int(value[:4]), int(value[4:6]), int(value[6:8]))


inputs, _ = read_tree(corpus)
original_uids = set()
for ds in inputs.values():
    for elem in ds.iterall():
        if elem.VR == "UI" and elem.value and not str(elem.value).startswith("1.2.840.10008"):
            original_uids.add(str(elem.value))

outputs = []
for run in runs:
    got, errors = read_tree(run)
    report(not errors, f"pydicom reads every output of {run} ({len(got)} files){': ' + errors[0] if errors else ''}")
    outputs.append(got)
first = outputs[0]

flagged = {k for k, ds in inputs.items() if ds.get("BurnedInAnnotation") == "YES"}
report(flagged and not (flagged & set(first)), f"the burned-in image {sorted(flagged)} is held back, not de-identified")
report(set(first) == set(inputs) - flagged, f"every other image has one output ({len(first)} of {len(inputs) - len(flagged)})")

bad_uid, bad_meta, bad_marks, same_pixels = [], [], [], True
for key, ds in first.items():
    for elem in ds.iterall():
        if elem.VR == "UI" and str(elem.value) in original_uids:
            bad_uid.append(f"{key} {elem.tag}")
    if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        bad_meta.append(key)
    if ds.get("PatientIdentityRemoved") != "YES" or not ds.get("DeidentificationMethod"):
        bad_marks.append(key)
    if key in inputs and ds.PixelData != inputs[key].PixelData:
        same_pixels = False
report(not bad_uid, f"no original UID is left, at any depth {bad_uid[:3]}")
report(not bad_meta, f"MediaStorageSOPInstanceUID is the new SOPInstanceUID {bad_meta[:3]}")
report(not bad_marks, f"PatientIdentityRemoved YES and DeidentificationMethod are written {bad_marks[:3]}")
report(same_pixels, "pixel data is the input's")

studies, series, sops = {}, {}, set()
consistent = True
for (batch, ser, inst), ds in first.items():
    studies.setdefault(batch, set()).add(ds.StudyInstanceUID)
    series.setdefault((batch, ser), set()).add((ds.SeriesInstanceUID, ds.get("FrameOfReferenceUID")))
    if ds.SOPInstanceUID in sops:
        consistent = False
    sops.add(ds.SOPInstanceUID)
report(all(len(s) == 1 for s in studies.values()) and len({next(iter(s)) for s in studies.values()}) == len(studies),
       "each study has one new StudyInstanceUID, distinct from the others'")
report(all(len(s) == 1 for s in series.values()), "each series has one SeriesInstanceUID and FrameOfReferenceUID")
report(consistent, "every SOPInstanceUID is distinct")

fields = ("SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "FrameOfReferenceUID", "PatientID",
          "PatientName", "AccessionNumber", "StudyDate", "AcquisitionDateTime")
differ = [f"{k} {f}" for k, ds in first.items() if k in outputs[1] for f in fields
          if str(ds.get(f, "")) != str(outputs[1][k].get(f, ""))]
report(set(first) == set(outputs[1]) and not differ, f"two runs give the same UIDs, pseudonyms and dates {differ[:3]}")

a1 = [ds for (b, _, _), ds in first.items() if b == "A1"]
a2 = [ds for (b, _, _), ds in first.items() if b == "A2"]
b1 = [ds for (b, _, _), ds in first.items() if b == "B1"]
report({str(d.PatientID) for d in a1 + a2} == {str(a1[0].PatientID)},
       "patient A's two batches get one PatientID")
report(str(a1[0].PatientID) != str(b1[0].PatientID), "patients A and B get different PatientIDs")


def shift(batch, ds):
    src = inputs[(batch, int(ds.SeriesNumber), int(ds.InstanceNumber))]
    if not ds.get("StudyDate"):
        return None
    return (day(ds.StudyDate) - day(src.StudyDate)).days


shifts = {shift("A1", d) for d in a1} | {shift("A2", d) for d in a2}
report(len(shifts) == 1, f"patient A's two batches get one day shift {sorted(map(str, shifts))}")
if shifted:
    dt_shifts = set()
    for (b, ser, inst), ds in first.items():
        src = inputs[(b, ser, inst)]
        if ds.get("AcquisitionDateTime") and b.startswith("A"):
            dt_shifts.add((day(str(ds.AcquisitionDateTime)) - day(str(src.AcquisitionDateTime))).days)
            report(str(ds.AcquisitionDateTime)[8:] in ("", str(src.AcquisitionDateTime)[8:]),
                   f"{b} {ser} {inst}: a DT keeps its time and offset when shifted ({ds.AcquisitionDateTime})")
    report(None not in shifts and 0 not in shifts, f"the dates are shifted, not removed or kept {sorted(map(str, shifts))}")
    report(dt_shifts <= shifts, f"DT values are shifted by the DA values' shift {sorted(dt_shifts)}")
refs = {str(r.ReferencedSOPInstanceUID) for d in a2 for r in d.get("ReferencedImageSequence", [])}
a1_s1 = {str(ds.SOPInstanceUID) for (b, s, _), ds in first.items() if b == "A1" and s == 1}
report(refs and refs == a1_s1, "A2's references to A1's instances point at A1's new SOPInstanceUIDs (across batches)")
sys.exit(1 if failed else 0)
