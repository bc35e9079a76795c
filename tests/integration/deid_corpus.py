#!/usr/bin/python3
"""Writes a small CT corpus seeded with identifiers for test_deid_cli.sh.

Usage: deid_corpus.py OUT_DIR

Two patients; patient A has two studies (one of two series), patient B one.
Every image carries identifiers at the top level, in sequences (two deep),
in private blocks, in the file meta, dates and times, and references to
another image of its series by SOPInstanceUID. One extra image has
BurnedInAnnotation YES (burned/). facts.json lists what the checks need.
Run with Debian's /usr/bin/python3 (python3-pydicom).
"""
import json
import os
import sys

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian

out = sys.argv[1]
ROOT = "1.2.826.0.1.3680043.10.777"
PATIENTS = {
    "A": {"id": "MRN-A-48151623", "name": "Smithson^Alicia^Marie", "birth": "19610412",
          "address": "12 Harbour Lane, Portsmouth", "studies": [("20240102", 2), ("20240615", 1)]},
    "B": {"id": "MRN-B-99887766", "name": "Okonkwo^Bartholomew", "birth": "19500229",
          "address": "3 Mill Road, Ely", "studies": [("20231231", 1)]},
}
IMAGES = 3


def image(p, pkey, s, study_date, series, i, study_uid, series_uid, sop, ref_sop, burned=False):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = ROOT + ".0"
    meta.SourceApplicationEntityTitle = "HOSP_CT_7"
    ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = sop
    ds.StudyDate = study_date
    ds.SeriesDate = study_date
    ds.AcquisitionDate = study_date
    ds.ContentDate = study_date
    ds.InstanceCreationDate = study_date
    ds.AcquisitionDateTime = study_date + "101112.5+0100"
    ds.StudyTime = "101112"
    ds.SeriesTime = "101112"
    ds.ContentTime = "101113"
    ds.AccessionNumber = "ACC%s%d" % (pkey, s)
    ds.Modality = "CT"
    ds.Manufacturer = "ACME"
    ds.InstitutionName = "Royal Infirmary of Somewhere"
    ds.InstitutionAddress = "1 Hospital Road, Somewhere"
    ds.ReferringPhysicianName = "Housewright^Gregor"
    ds.StationName = "CTSCAN07"
    ds.StudyDescription = "CT CHEST"
    ds.SeriesDescription = "AXIAL %d" % series
    ds.OperatorsName = "Tech^Tamsin"
    ds.PatientName = p["name"]
    ds.PatientID = p["id"]
    ds.PatientBirthDate = p["birth"]
    ds.PatientSex = "F" if pkey == "A" else "M"
    ds.PatientAge = "062Y" if pkey == "A" else "073Y"
    ds.PatientAddress = p["address"]
    ds.OtherPatientIDs = p["id"] + "-OLD"
    ds.DeviceSerialNumber = "SN-0042"
    ds.BodyPartExamined = "CHEST"
    ds.SliceThickness = "1.0"
    ds.KVP = "120"
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.StudyID = "ST%d" % s
    ds.SeriesNumber = str(series)
    ds.InstanceNumber = str(i + 1)
    ds.AcquisitionNumber = "1"
    ds.FrameOfReferenceUID = study_uid + ".4"
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = ["0", "0", str(i)]
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = 8
    ds.Columns = 8
    ds.PixelSpacing = ["0.5", "0.5"]
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.BurnedInAnnotation = "YES" if burned else "NO"
    # Sequences: a request (accession and the patient's name two deep) and a
    # reference to another image of the series.
    req = Dataset()
    req.AccessionNumber = ds.AccessionNumber
    req.RequestedProcedureID = "RP" + p["id"][-8:]
    inner = Dataset()
    inner.PersonName = p["name"]
    inner.ReferencedSOPInstanceUID = ref_sop
    inner.ReferencedSOPClassUID = ds.SOPClassUID
    req.ReferencedStudySequence = Sequence([Dataset()])
    req.ReferencedStudySequence[0].ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
    req.ReferencedStudySequence[0].ReferencedSOPInstanceUID = study_uid
    req.ContentSequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([req])
    ref = Dataset()
    ref.ReferencedSOPClassUID = ds.SOPClassUID
    ref.ReferencedSOPInstanceUID = ref_sop
    ds.ReferencedImageSequence = Sequence([ref])
    # Private blocks: a name and an id in two vendors' blocks.
    ds.add_new(0x00090010, "LO", "ACME 1.1")
    ds.add_new(0x00091001, "PN", p["name"])
    ds.add_new(0x00091002, "LO", p["id"])
    ds.add_new(0x00190010, "LO", "GEMS_ACQU_01")
    ds.add_new(0x00191023, "DS", "12.5")
    ds.PixelData = bytes(range(128)) * 1
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    return ds


facts = {"patients": {}, "files": {}}
os.makedirs(out, exist_ok=True)
for pkey, p in PATIENTS.items():
    facts["patients"][pkey] = {k: p[k] for k in ("id", "name", "birth", "address")}
    for s, (date, nseries) in enumerate(p["studies"], 1):
        study_uid = "%s.%d.%d" % (ROOT, ord(pkey), s)
        for series in range(1, nseries + 1):
            series_uid = "%s.%d" % (study_uid, series)
            sops = ["%s.%d" % (series_uid, 100 + i) for i in range(IMAGES)]
            for i in range(IMAGES):
                folder = os.path.join(out, "in", pkey, "s%d" % s)
                os.makedirs(folder, exist_ok=True)
                path = os.path.join(folder, "img_%d_%d.dcm" % (series, i))
                ref = sops[(i + 1) % IMAGES]
                ds = image(p, pkey, s, date, series, i, study_uid, series_uid, sops[i], ref)
                ds.save_as(path, write_like_original=False)
                facts["files"][os.path.relpath(path, out)] = {
                    "patient": pkey, "study": study_uid, "series": series_uid, "sop": sops[i],
                    "ref": ref, "date": date}
burned = os.path.join(out, "burned")
os.makedirs(burned, exist_ok=True)
ds = image(PATIENTS["B"], "B", 9, "20240101", 1, 0, ROOT + ".9", ROOT + ".9.1", ROOT + ".9.1.1",
           ROOT + ".9.1.1", burned=True)
ds.save_as(os.path.join(burned, "burned.dcm"), write_like_original=False)
with open(os.path.join(out, "facts.json"), "w") as f:
    json.dump(facts, f, indent=1)
