#!/usr/bin/python3
"""Writes a PHI-seeded DICOM corpus for the de-identification tests, and a
manifest (JSON) of every seeded value and where it is.

Usage: mkphi.py OUT_DIR [--manifest FILE]

Layout: OUT_DIR/A1, OUT_DIR/A2 (patient A's two studies, Latin-1, ISO_IR 100)
and OUT_DIR/B1 (patient B, UTF-8, ISO_IR 192, one series in Implicit VR), each
a study folder of two series of two instances: a batch each, as a sender
would deliver them. Identifiers sit at the top level; in sequences three deep
(ReferencedStudySequence > ReferencedPatientSequence > OtherPatientIDsSequence);
in RequestAttributesSequence and OtherPatientIDsSequence; in private blocks of
GE (GEMS_IDEN_01), Siemens (SIEMENS CSA HEADER, an SV10-like binary blob) and
Philips (a private sequence); in the file meta (SourceApplicationEntityTitle,
PrivateInformation); in free text, overlay and curve text; in DT values; and
in UIDs referenced from other files (A2 references A1's instances and study).
InstanceCreationDate/Time are set; BurnedInAnnotation is NO, one B1 file YES.

Manifest: {"files": [relative paths], "patients": {...}, "seeds": [{"file",
"path", "kind", "value"}]}: each seed is a value the leak scan must report
in an unmodified copy of that file at that tag path ("kind" "date" seeds
only with --dates). Run with Debian's /usr/bin/python3 (python3-pydicom).
"""
import argparse
import json
import os
import struct

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("--manifest", default=None)
args = parser.parse_args()

ROOT = "1.2.826.0.1.3680043.10.543"  # a test root; no dates inside UIDs
CT = "1.2.840.10008.5.1.4.1.1.2"
STUDY_ROOT_REF = "1.2.840.10008.3.1.2.3.1"  # Detached Study Management (retired), as writers use it
PATIENT_REF = "1.2.840.10008.3.1.2.1.1"

PATIENTS = {
    "A": {
        "charset": "ISO_IR 100",
        "name": "Müller^Jürgen^Andreas",
        "id": "PID-A-4711",
        "other_id": "MRN-A-998877",
        "issuer": "Klinikum Großhadern",
        "birth": "19620314",
        "address": "Hauptstraße 12, 80331 München",
        "phone": "+49 89 1234567",
        "mother": "Huber^Theresia",
    },
    "B": {
        "charset": "ISO_IR 192",
        "name": "Ødegård^Sigrún",
        "id": "PID-B-0815",
        "other_id": "MRN-B-445566",
        "issuer": "Hôpital Saint-Éloi",
        "birth": "19781102",
        "address": "Rua das Flores 7, 1200-195 Lisboa",
        "phone": "+351 21 555 0199",
        "mother": "Þórsdóttir^Guðrún",
    },
}

STUDIES = {
    # study: patient, date, accession, institution, physicians, station
    "A1": ("A", "20240131", "ACC-A1-7781", "Klinikum Großhadern", "Marchioninistraße 15, München",
           "Neuroradiologie", "Schäfer^Hannelore", "Weiß^Konrad", "Bauer^Lukas", "CTSCAN-NR01",
           "SN-778899", "RP-A1-3301"),
    "A2": ("A", "20240605", "ACC-A2-7782", "Klinikum Großhadern", "Marchioninistraße 15, München",
           "Neuroradiologie", "Schäfer^Hannelore", "Weiß^Konrad", "Bauer^Lukas", "CTSCAN-NR01",
           "SN-778899", "RP-A2-3302"),
    "B1": ("B", "20230918", "ACC-B1-9901", "Hôpital Saint-Éloi", "80 Avenue Augustin Fliche, Montpellier",
           "Imagerie médicale", "Lefèvre^Élodie", "Núñez^José", "Çelik^Ayşe", "CT-EL0I-02",
           "SN-120034", "RP-B1-7703"),
}

seeds = []
files = []


def uid(*parts):
    return ".".join([ROOT] + [str(p) for p in parts])


def study_uid(study):
    return uid(1, "ABC".index(study[0]) + 1, int(study[1]))


def series_uid(study, series):
    return study_uid(study) + f".{series}"


def sop_uid(study, series, instance):
    return series_uid(study, series) + f".{instance}"


def seed(rel, path, kind, value):
    seeds.append({"file": rel, "path": path, "kind": kind, "value": value})


def person(rel, ds, keyword, tagpath, value, kind):
    setattr(ds, keyword, value)
    seed(rel, tagpath, kind, value)


def csa_blob(values):
    """An SV10-like Siemens CSA header: "SV10" \\4\\3\\2\\1, element count,
    then per element a 64-byte name, VM, VR, syngo datatype, item count and
    items of (length, bytes). Text in it is in the data set's encoding."""
    out = bytearray(b"SV10\x04\x03\x02\x01")
    out += struct.pack("<II", len(values), 77)
    for name, text in values:
        out += name.encode().ljust(64, b"\0")
        out += struct.pack("<i4siii", 1, b"LO\0\0", 19, 1, 77)
        item = text + b"\0"
        out += struct.pack("<4i", len(item), len(item), 77, len(item))
        out += item + b"\0" * ((4 - len(item) % 4) % 4)
    return bytes(out)


def make(study, series, instance, implicit=False, burned=None):
    (pat, date, accession, inst, inst_addr, dept, referring, performing, operator, station,
     serial, requested) = STUDIES[study]
    p = PATIENTS[pat]
    enc = "latin-1" if p["charset"] == "ISO_IR 100" else "utf-8"
    rel = f"{study}/S{series}/IM{instance:04d}.dcm"
    path = os.path.join(args.out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    files.append(rel)
    sop = sop_uid(study, series, instance)

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian
    meta.ImplementationClassUID = uid(99, 1)
    meta.SourceApplicationEntityTitle = station.replace("-", "_")[:16]
    # PrivateInformation (0002,0102): legal in the meta, under its creator UID.
    meta.PrivateInformationCreatorUID = uid(99, 2)
    meta.PrivateInformation = b"PATID=" + p["id"].encode() + b";NAME=" + p["name"].encode(enc) + b"\0"
    seed(rel, "(0002,0003)", "uid", sop)
    seed(rel, "(0002,0016)", "device", meta.SourceApplicationEntityTitle)
    seed(rel, "(0002,0102)", "patient-id", p["id"])
    seed(rel, "(0002,0102)", "patient-name", p["name"])

    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = p["charset"]
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.InstanceCreationDate = date
    ds.InstanceCreationTime = "101500"
    seed(rel, "(0008,0012)", "date", date)
    ds.SOPClassUID = CT
    ds.SOPInstanceUID = sop
    seed(rel, "(0008,0018)", "uid", sop)
    ds.StudyDate = date
    ds.SeriesDate = date
    ds.AcquisitionDate = date
    ds.ContentDate = date
    seed(rel, "(0008,0020)", "date", date)
    ds.AcquisitionDateTime = date + "093012.123456+0100"
    seed(rel, "(0008,002A)", "date", date)
    ds.StudyTime = "093000"
    ds.AccessionNumber = accession
    seed(rel, "(0008,0050)", "accession", accession)
    ds.Modality = "CT"
    ds.Manufacturer = "ACME Medical"
    person(rel, ds, "InstitutionName", "(0008,0080)", inst, "institution")
    person(rel, ds, "InstitutionAddress", "(0008,0081)", inst_addr, "institution")
    person(rel, ds, "ReferringPhysicianName", "(0008,0090)", referring, "physician")
    ds.ReferringPhysicianTelephoneNumbers = "+49 89 7000 100" if pat == "A" else "+33 467330000"
    seed(rel, "(0008,0094)", "telephone", ds.ReferringPhysicianTelephoneNumbers)
    person(rel, ds, "StationName", "(0008,1010)", station, "device")
    ds.StudyDescription = "CT HEAD"
    ds.SeriesDescription = f"AXIAL {series}"
    person(rel, ds, "InstitutionalDepartmentName", "(0008,1040)", dept, "institution")
    person(rel, ds, "PerformingPhysicianName", "(0008,1050)", performing, "physician")
    person(rel, ds, "OperatorsName", "(0008,1070)", operator, "operator")
    seed(rel, "(0008,1070)", "operator", operator.split("^")[0])

    # Three deep: ReferencedStudySequence > ReferencedPatientSequence > OtherPatientIDsSequence.
    other = Dataset()
    other.PatientID = p["other_id"]
    other.IssuerOfPatientID = p["issuer"]
    other.TypeOfPatientID = "TEXT"
    ref_patient = Dataset()
    ref_patient.ReferencedSOPClassUID = PATIENT_REF
    ref_patient.ReferencedSOPInstanceUID = uid(2, "AB".index(pat) + 1)
    ref_patient.OtherPatientIDsSequence = Sequence([other])
    ref_study = Dataset()
    ref_study.ReferencedSOPClassUID = STUDY_ROOT_REF
    ref_study.ReferencedSOPInstanceUID = study_uid(study)
    ref_study.ReferencedPatientSequence = Sequence([ref_patient])
    ds.ReferencedStudySequence = Sequence([ref_study])
    seed(rel, "(0008,1110)[0].(0008,1155)", "uid", study_uid(study))
    seed(rel, "(0008,1110)[0].(0008,1120)[0].(0008,1155)", "uid", ref_patient.ReferencedSOPInstanceUID)
    seed(rel, "(0008,1110)[0].(0008,1120)[0].(0010,1002)[0].(0010,0020)", "patient-id", p["other_id"])
    seed(rel, "(0008,1110)[0].(0008,1120)[0].(0010,1002)[0].(0010,0021)", "patient-id", p["issuer"])

    # A2 refers to A1's instances: UIDs of another study, from other files.
    if study == "A2":
        refs = []
        for i in (1, 2):
            r = Dataset()
            r.ReferencedSOPClassUID = CT
            r.ReferencedSOPInstanceUID = sop_uid("A1", 1, i)
            refs.append(r)
            seed(rel, f"(0008,1140)[{i - 1}].(0008,1155)", "uid", sop_uid("A1", 1, i))
        ds.ReferencedImageSequence = Sequence(refs)
        src = Dataset()
        src.ReferencedSOPClassUID = CT
        src.ReferencedSOPInstanceUID = sop_uid("A1", 2, 1)
        ds.SourceImageSequence = Sequence([src])
        seed(rel, "(0008,2112)[0].(0008,1155)", "uid", sop_uid("A1", 2, 1))

    person(rel, ds, "PatientName", "(0010,0010)", p["name"], "patient-name")
    family, given = p["name"].split("^")[:2]
    seed(rel, "(0010,0010)", "patient-name", family)
    seed(rel, "(0010,0010)", "patient-name", given)
    person(rel, ds, "PatientID", "(0010,0020)", p["id"], "patient-id")
    person(rel, ds, "IssuerOfPatientID", "(0010,0021)", p["issuer"], "patient-id")
    person(rel, ds, "PatientBirthDate", "(0010,0030)", p["birth"], "birth-date")
    ds.PatientSex = "M" if pat == "A" else "F"
    oid = Dataset()
    oid.PatientID = p["other_id"]
    oid.IssuerOfPatientID = p["issuer"]
    oid.TypeOfPatientID = "TEXT"
    ds.OtherPatientIDsSequence = Sequence([oid])
    seed(rel, "(0010,1002)[0].(0010,0020)", "patient-id", p["other_id"])
    person(rel, ds, "PatientAddress", "(0010,1040)", p["address"], "address")
    person(rel, ds, "PatientMotherBirthName", "(0010,1060)", p["mother"], "patient-name")
    person(rel, ds, "PatientTelephoneNumbers", "(0010,2154)", p["phone"], "telephone")
    # Free text that names the patient (given name first) and the birth date.
    ds.AdditionalPatientHistory = f"Referred by {referring.replace('^', ' ')}; born {p['birth']}"
    seed(rel, "(0010,21B0)", "physician", referring.split("^")[0])
    seed(rel, "(0010,21B0)", "birth-date", p["birth"])
    ds.DeviceSerialNumber = serial
    seed(rel, "(0018,1000)", "device", serial)
    ds.StudyInstanceUID = study_uid(study)
    seed(rel, "(0020,000D)", "uid", study_uid(study))
    ds.SeriesInstanceUID = series_uid(study, series)
    seed(rel, "(0020,000E)", "uid", series_uid(study, series))
    ds.StudyID = study + "-" + accession[-4:]
    seed(rel, "(0020,0010)", "study-id", ds.StudyID)
    ds.SeriesNumber = series
    ds.InstanceNumber = instance
    ds.FrameOfReferenceUID = uid(3, "AB".index(pat) + 1, int(study[1]), series)
    seed(rel, "(0020,0052)", "uid", ds.FrameOfReferenceUID)
    ds.ImageComments = f"{given} {family}, {p['id']}, call {p['phone']}"
    seed(rel, "(0020,4000)", "patient-name", given)
    seed(rel, "(0020,4000)", "patient-id", p["id"])
    seed(rel, "(0020,4000)", "telephone", p["phone"])
    ds.BurnedInAnnotation = burned or "NO"

    # Request attributes: accession and procedure ids, a study reference inside.
    req = Dataset()
    req.AccessionNumber = accession
    req.RequestedProcedureID = requested
    req.ScheduledProcedureStepID = requested + "-1"
    inner = Dataset()
    inner.ReferencedSOPClassUID = STUDY_ROOT_REF
    inner.ReferencedSOPInstanceUID = study_uid(study)
    req.ReferencedStudySequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([req])
    seed(rel, "(0040,0275)[0].(0008,0050)", "accession", accession)
    seed(rel, "(0040,0275)[0].(0040,1001)", "request-id", requested)
    seed(rel, "(0040,0275)[0].(0008,1110)[0].(0008,1155)", "uid", study_uid(study))
    ds.IrradiationEventUID = sop + ".7"
    seed(rel, "(0008,3010)", "uid", sop + ".7")

    # GE: GEMS_IDEN_01 in group 0009.
    ge = ds.private_block(0x0009, "GEMS_IDEN_01", create=True)
    ge.add_new(0x01, "LO", p["name"])
    seed(rel, "(0009,1001)", "patient-name", p["name"])
    ge.add_new(0x02, "SH", station)
    seed(rel, "(0009,1002)", "device", station)
    ge.add_new(0x17, "LT", f"{inst} / {dept}")
    seed(rel, "(0009,1017)", "institution", inst)
    ge.add_new(0xE3, "UI", study_uid(study))
    seed(rel, "(0009,10E3)", "uid", study_uid(study))
    # Siemens: the CSA header, text inside a binary value.
    csa = ds.private_block(0x0029, "SIEMENS CSA HEADER", create=True)
    csa.add_new(0x08, "CS", "IMAGE NUM 4")
    blob = csa_blob([("PatientName", p["name"].encode(enc)), ("PatientBirthDate", p["birth"].encode()),
                     ("StudyInstanceUID", study_uid(study).encode()),
                     ("OperatorName", operator.encode(enc))])
    csa.add_new(0x10, "OB", blob)
    for kind, value in (("patient-name", p["name"]), ("birth-date", p["birth"]),
                        ("uid", study_uid(study)), ("operator", operator)):
        seed(rel, "(0029,1010)", kind, value)
    # Philips: a private sequence holding names and the accession.
    ph = ds.private_block(0x2001, "Philips Imaging DD 001", create=True)
    item = Dataset()
    inner_block = item.private_block(0x2001, "Philips Imaging DD 001", create=True)
    # Elements the Philips dictionaries (pydicom's, DCMTK's) list as LO in a
    # sequence they list as SQ, so that readers that know them agree.
    inner_block.add_new(0x20, "LO", performing)
    inner_block.add_new(0x50, "LO", f"Exam {accession} for {p['id']}")
    ph.add_new(0x5F, "SQ", Sequence([item]))
    # In Implicit VR a private sequence is an unknown element: its items are
    # the bytes of one UN value, where the scan finds them.
    where = "(2001,105F)" if implicit else "(2001,105F)[0].(2001,10%s)"
    seed(rel, where % "20" if not implicit else where, "physician", performing)
    seed(rel, where % "50" if not implicit else where, "accession", accession)
    seed(rel, where % "50" if not implicit else where, "patient-id", p["id"])

    # Overlay with text, and a (retired) curve with a label.
    ds.add_new(0x60000010, "US", 8)
    ds.add_new(0x60000011, "US", 8)
    ds.add_new(0x60000040, "CS", "G")
    ds.add_new(0x60000050, "SS", [1, 1])
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60000022, "LO", f"Marked by {performing.split('^')[0]}")
    seed(rel, "(6000,0022)", "physician", performing.split("^")[0])
    ds.add_new(0x60001500, "LO", p["id"])
    seed(rel, "(6000,1500)", "patient-id", p["id"])
    ds.add_new(0x60003000, "OW", bytes(8))
    ds.add_new(0x50000005, "US", 1)
    ds.add_new(0x50000010, "US", 4)
    ds.add_new(0x50000020, "CS", "ECG")
    ds.add_new(0x50000022, "LO", f"ECG of {family}")
    seed(rel, "(5000,0022)", "patient-name", family)
    ds.add_new(0x50002500, "LO", accession)
    seed(rel, "(5000,2500)", "accession", accession)
    ds.add_new(0x50003000, "OW", bytes(8))

    # What a CT image needs besides (dciodvfy): so that an error on an output is the de-identifier's.
    ds.Laterality = ""
    ds.PatientPosition = "HFS"
    ds.PositionReferenceIndicator = ""
    ds.PixelSpacing = [0.5, 0.5]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.ImagePositionPatient = [0, 0, instance]
    ds.SliceThickness = 1
    ds.RescaleIntercept = -1024
    ds.RescaleSlope = 1
    ds.KVP = 120
    ds.AcquisitionNumber = 1
    ds.Rows = 8
    ds.Columns = 8
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes((instance + k) % 256 for k in range(8 * 8 * 2))
    ds.is_little_endian = True
    ds.is_implicit_VR = implicit
    ds.save_as(path, write_like_original=False)


for study in ("A1", "A2", "B1"):
    for series in (1, 2):
        for instance in (1, 2):
            implicit = study == "B1" and series == 2
            burned = "YES" if study == "B1" and series == 2 and instance == 2 else None
            make(study, series, instance, implicit=implicit, burned=burned)

manifest = {"files": files, "patients": PATIENTS, "seeds": seeds,
            "burned_in": [f for f in files if f == "B1/S2/IM0002.dcm"]}
with open(args.manifest or os.path.join(args.out, "..", "phi-manifest.json"), "w") as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
