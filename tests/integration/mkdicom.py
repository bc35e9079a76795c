#!/usr/bin/python3
"""Writes small, valid CT-like DICOM Part 10 files for the integration tests.

Usage: mkdicom.py OUT_DIR COUNT [--patient ID] [--study UID] [--prefix NAME]
                  [--sop-prefix UID] [--burned-in YES|NO] [--modality MOD] [--pixels N]

Each file gets a unique SOPInstanceUID (<sop-prefix>.<i>) unless told otherwise.
Run with Debian's /usr/bin/python3 (python3-pydicom).
"""
import argparse
import os

from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

parser = argparse.ArgumentParser()
parser.add_argument("out")
parser.add_argument("count", type=int)
parser.add_argument("--patient", default="PAT001")
parser.add_argument("--study", default="1.2.826.0.1.3680043.10.1234.1")
parser.add_argument("--prefix", default="IMG")
parser.add_argument("--sop-prefix", default=None)
parser.add_argument("--burned-in", default=None)
parser.add_argument("--modality", default="CT")
parser.add_argument("--pixels", type=int, default=8)
parser.add_argument("--date", default="20240131")
args = parser.parse_args()

os.makedirs(args.out, exist_ok=True)
sop_prefix = args.sop_prefix or args.study + ".9." + str(abs(hash(args.out)) % 10**8)


def instance_uid(i):
    # Fixed width (100001, 100002, ...) so clones can be patched in place;
    # no leading zeros, which UIDs forbid.
    return f"{sop_prefix}.{100001 + i}"


def clone(template_path, count):
    """Copies the first file, patching its SOPInstanceUID bytes: fast enough
    for the thousands of files the crash tests need."""
    with open(template_path, "rb") as f:
        template = f.read()
    old = instance_uid(0).encode()
    assert template.count(old) == 2  # meta and data set
    for i in range(1, count):
        data = template.replace(old, instance_uid(i).encode())
        with open(os.path.join(args.out, f"{args.prefix}{i + 1:05d}.dcm"), "wb") as f:
            f.write(data)


for i in range(args.count if args.count <= 20 else 1):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    meta.MediaStorageSOPInstanceUID = instance_uid(i)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    path = os.path.join(args.out, f"{args.prefix}{i + 1:05d}.dcm")
    ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = args.date
    ds.AccessionNumber = os.path.basename(os.path.normpath(args.out)).split(".")[0][:16]
    ds.Modality = args.modality
    ds.PatientName = "Müller^Jürgen"
    ds.PatientID = args.patient
    ds.StudyInstanceUID = args.study
    ds.SeriesInstanceUID = args.study + ".1"
    ds.InstanceNumber = i + 1
    if args.burned_in:
        ds.BurnedInAnnotation = args.burned_in
    ds.Rows = args.pixels
    ds.Columns = args.pixels
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = bytes((i + k) % 256 for k in range(args.pixels * args.pixels * 2))
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    ds.save_as(path, write_like_original=False)

if args.count > 20:
    clone(os.path.join(args.out, f"{args.prefix}00001.dcm"), args.count)
