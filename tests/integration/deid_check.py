#!/usr/bin/python3
"""Checks `sendit deid` outputs against the corpus of deid_corpus.py.

Usage: deid_check.py CORPUS OUT KEYFILE [--shifted] [--ids IDS.json]

Reads every output with pydicom and checks: identifiers replaced (names and
ids by one code per patient, accession and study id by one per study);
UIDs new, one per original (study, series, instance, frame of reference),
references resolving to the remapped instance, the meta's instance UID the
data set's; no private element; no original identifier anywhere in the
file's bytes; with --shifted, every date moved by the same number of days
per patient (and with --ids, by the file's day_shift), and without it no
date kept. Prints one line per problem; exit 1 when there is any.
"""
import datetime
import hashlib
import json
import os
import sys

import pydicom

corpus, out = sys.argv[1], sys.argv[2]
with open(sys.argv[3], "rb") as f:
    key = f.read()
shifted = "--shifted" in sys.argv
ids = None
if "--ids" in sys.argv:
    with open(sys.argv[sys.argv.index("--ids") + 1]) as f:
        ids = json.load(f)
with open(os.path.join(corpus, "facts.json")) as f:
    facts = json.load(f)

problems = []


def problem(msg):
    problems.append(msg)
    print("problem:", msg)


outputs = []
for root, _, names in os.walk(out):
    for n in sorted(names):
        if n.endswith(".dcm"):
            outputs.append(os.path.join(root, n))
if len(outputs) != len(facts["files"]):
    problem("%d outputs for %d inputs" % (len(outputs), len(facts["files"])))

# Identify each output's original by its (patient code, series number,
# instance number, study code) and the facts' structure: read the originals.
originals = {}
for rel, fact in facts["files"].items():
    ds = pydicom.dcmread(os.path.join(corpus, rel))
    originals[fact["sop"]] = (ds, fact)

uid_map = {}      # original UID -> new UID, must be a function and injective
patient_code = {}
study_code = {}
shift_days = {}


def same(kind, table, key, value, where):
    if key in table and table[key] != value:
        problem("%s: %s %s maps to %s and %s" % (where, kind, key, table[key], value))
    table[key] = value


secrets = set()
for p in facts["patients"].values():
    for v in (p["id"], p["name"], p["birth"], p["address"]):
        secrets.add(v.encode("latin-1"))
    secrets.add(p["name"].split("^")[0].encode("latin-1"))
for v in ("Royal Infirmary", "Housewright", "CTSCAN07", "HOSP_CT_7", "SN-0042", "Tamsin"):
    secrets.add(v.encode())
for fact in facts["files"].values():
    for k in ("study", "series", "sop"):
        secrets.add(fact[k].encode())

by_new_sop = {}
for path in outputs:
    raw = open(path, "rb").read()
    for s in secrets:
        if s in raw:
            problem("%s holds original identifier %r" % (path, s))
    ds = pydicom.dcmread(path)
    by_new_sop[str(ds.SOPInstanceUID)] = ds
    if ds.file_meta.MediaStorageSOPInstanceUID != ds.SOPInstanceUID:
        problem("%s: meta instance UID differs from SOPInstanceUID" % path)
    for el in ds.iterall():
        if el.tag.is_private:
            problem("%s: private element %s kept" % (path, el.tag))
    if ds.PatientIdentityRemoved != "YES":
        problem("%s: PatientIdentityRemoved is not YES" % path)
    if ds.PatientName != ds.PatientID or not str(ds.PatientID).startswith(
            "P" if ids is None else ""):
        problem("%s: PatientName/ID not the patient's code" % path)
    if ds.AccessionNumber != ds.StudyID:
        problem("%s: AccessionNumber/StudyID not the study's code" % path)
    for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID"):
        if not str(ds.get(tag, "")).startswith("2.25."):
            problem("%s: %s not remapped" % (path, tag))

# Match outputs to originals by the remapping itself, computed here
# independently from the key (sendit/deid.h: 2.25. + the 128-bit keyed
# BLAKE2b of the UID): the output must hold exactly that UID.
def remap(uid):
    h = hashlib.blake2b(uid.encode(), digest_size=16, key=key).digest()
    return "2.25.%d" % int.from_bytes(h, "big")


matched = 0
for sop, (orig, fact) in originals.items():
    d = by_new_sop.get(remap(sop))
    if d is None:
        problem("no output with the remapped SOPInstanceUID of %s" % sop)
        continue
    if str(d.StudyInstanceUID) != remap(fact["study"]):
        problem("%s: StudyInstanceUID is not the keyed remapping" % d.filename)
    matched += 1
    where = d.filename
    same("study UID", uid_map, fact["study"], str(d.StudyInstanceUID), where)
    same("series UID", uid_map, fact["series"], str(d.SeriesInstanceUID), where)
    same("SOP UID", uid_map, fact["sop"], str(d.SOPInstanceUID), where)
    same("frame of reference", uid_map, str(orig.FrameOfReferenceUID),
         str(d.FrameOfReferenceUID), where)
    same("patient code", patient_code, fact["patient"], str(d.PatientID), where)
    same("study code", study_code, fact["study"], str(d.StudyID), where)
    if ids is not None:
        p = ids[str(orig.PatientID)]
        if str(d.PatientID) != p["code"] or str(d.StudyID) != p["studies"][fact["study"]]:
            problem("%s: codes are not the identifier file's" % where)
    for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
        new = str(d.get(tag, "") or "")
        if not shifted:
            if new:
                problem("%s: %s kept (%s) without a dates option" % (where, tag, new))
            continue
        a = datetime.date.fromisoformat(str(orig.get(tag))[:4] + "-" + str(orig.get(tag))[4:6]
                                        + "-" + str(orig.get(tag))[6:8])
        b = datetime.date(int(new[:4]), int(new[4:6]), int(new[6:8]))
        same("day shift", shift_days, fact["patient"], (b - a).days, where + " " + tag)
        if ids is not None and (b - a).days != ids[str(orig.PatientID)].get("day_shift", 0):
            problem("%s: %s shifted by %d, not the file's day_shift" % (where, tag, (b - a).days))
    if shifted:
        dt = str(d.AcquisitionDateTime)
        if not dt.endswith("101112.5+0100"):
            problem("%s: AcquisitionDateTime lost its time or offset: %s" % (where, dt))
# References: each ReferencedSOPInstanceUID is the remapped referenced image.
for sop, (orig, fact) in originals.items():
    new_sop = uid_map.get(sop)
    d = by_new_sop.get(new_sop)
    if d is None:
        continue
    refs = [str(i.ReferencedSOPInstanceUID) for i in d.ReferencedImageSequence]
    if refs != [uid_map.get(fact["ref"])]:
        problem("%s: reference %s is not the remapped %s" % (d.filename, refs, fact["ref"]))
if len(set(uid_map.values())) != len(uid_map):
    problem("two original UIDs got one new UID")
if len(set(patient_code.values())) != len(facts["patients"]):
    problem("patients do not have one code each: %s" % patient_code)
if shifted and len(shift_days) != len(facts["patients"]):
    problem("day shifts missing: %s" % shift_days)
print("checked %d outputs, %d matched, %d UIDs, day shifts %s" %
      (len(outputs), matched, len(uid_map), shift_days))
sys.exit(1 if problems else 0)
