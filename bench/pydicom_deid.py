#!/usr/bin/python3
"""The pydicom contender of bench/run_deid.sh: the Basic Profile's main
edits done the way a pydicom script does them, for comparison with
`sendit deid --profile basic`.

Usage: pydicom_deid.py CORPUS OUT KEYFILE

Per file: dcmread (pixel data included), remove the private elements, the
curves and overlays, and a list of identifying attributes (X), empty the
Z ones, give PatientName/PatientID and AccessionNumber/StudyID keyed codes,
remap every UI of the U list at every depth with the same keyed BLAKE2b as
sendit, write PatientIdentityRemoved, save_as OUT/<study code>/<file name>.
Run with Debian's /usr/bin/python3 (python3-pydicom).
"""
import hashlib
import os
import sys

import pydicom

corpus, out, keyfile = sys.argv[1:4]
key = open(keyfile, "rb").read()

REMOVE = ["InstitutionName", "InstitutionAddress", "StationName", "OperatorsName",
          "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "PatientAddress",
          "OtherPatientIDs", "OtherPatientNames", "PatientAge", "PatientWeight", "PatientSize",
          "DeviceSerialNumber", "StudyDescription", "SeriesDescription", "ProtocolName",
          "InstanceCreationDate", "InstanceCreationTime", "SeriesDate", "SeriesTime",
          "AcquisitionDate", "AcquisitionTime", "AcquisitionDateTime", "RequestAttributesSequence",
          "ReferencedPerformedProcedureStepSequence", "PatientComments", "ImageComments"]
EMPTY = ["StudyDate", "StudyTime", "ContentDate", "ContentTime", "ReferringPhysicianName",
         "PatientBirthDate", "PatientSex"]
UIDS = {"StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
        "ReferencedSOPInstanceUID", "InstanceCreatorUID", "MediaStorageSOPInstanceUID"}


def remap(uid):
    h = hashlib.blake2b(str(uid).encode(), digest_size=16, key=key).digest()
    return "2.25.%d" % int.from_bytes(h, "big")


def code(prefix, value):
    h = hashlib.blake2b(str(value).encode(), digest_size=8, key=key).hexdigest()
    return prefix + h[:10].upper()


def clean(ds):
    ds.remove_private_tags()
    for el in list(ds):
        group = el.tag.group
        if 0x5000 <= group <= 0x60FF and group & 0xFF00 in (0x5000, 0x6000):
            del ds[el.tag]
        elif el.VR == "SQ":
            for item in el.value:
                clean(item)
        elif el.keyword in UIDS and el.value:
            el.value = remap(el.value)
    for k in REMOVE:
        if k in ds:
            delattr(ds, k)
    for k in EMPTY:
        if k in ds:
            ds.data_element(k).value = ""


for root, _, names in os.walk(corpus):
    for name in sorted(names):
        if not name.endswith(".dcm"):
            continue
        ds = pydicom.dcmread(os.path.join(root, name))
        patient = code("P", ds.get("PatientID", ""))
        study = code("S", ds.get("StudyInstanceUID", ""))
        clean(ds)
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientName = patient
        ds.PatientID = patient
        ds.AccessionNumber = study
        ds.StudyID = study
        ds.PatientIdentityRemoved = "YES"
        folder = os.path.join(out, study)
        os.makedirs(folder, exist_ok=True)
        ds.save_as(os.path.join(folder, "%s_%s_%s.dcm" % (study, ds.get("SeriesNumber", "x"),
                                                          ds.get("InstanceNumber", "x"))))
