#!/usr/bin/python3
"""Removes everything that could identify anyone from DICOM files, bluntly,
for the leak scan's negative tests: what is left must scan clean.

Usage: phi_clean.py IN_DIR OUT_DIR

At every depth: private elements go; every text (AE LO LT PN SH ST UC UR UT),
date and date-time (DA DT) element goes; UIDs that are not registered
(transfer syntaxes, SOP classes, coding schemes...) are replaced by a
deterministic 2.25 UID of the old one; numbers, code strings, times and
binary values stay. The file meta keeps only what Part 10 requires.
Files pydicom cannot read are skipped (listed on stderr). Run with Debian's
/usr/bin/python3 (python3-pydicom).
"""
import hashlib
import os
import sys

import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import UID_dictionary, ExplicitVRLittleEndian

SC = "1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture, when a file names no class

DROP_VRS = {"AE", "LO", "LT", "PN", "SH", "ST", "UC", "UR", "UT", "DA", "DT"}


def new_uid(old):
    digest = hashlib.sha256(old.encode()).digest()[:16]
    return "2.25." + str(int.from_bytes(digest, "big"))


def clean(ds):
    ds.remove_private_tags()
    for elem in list(ds):
        if elem.VR == "SQ":
            for item in elem.value:
                clean(item)
        elif elem.VR in DROP_VRS or elem.VR == "UN" or elem.tag == 0x00041500:
            # (0004,1500) ReferencedFileID: DICOMDIR paths, often named by patient id
            del ds[elem.tag]
        elif elem.VR == "UI" and elem.value:
            values = elem.value if elem.VM > 1 else [elem.value]
            mapped = [v if str(v) in UID_dictionary else new_uid(str(v)) for v in values]
            elem.value = mapped if elem.VM > 1 else mapped[0]


def main():
    src, dst = sys.argv[1], sys.argv[2]
    for folder, _, names in os.walk(src):
        for name in sorted(names):
            path = os.path.join(folder, name)
            out = os.path.join(dst, os.path.relpath(path, src))
            try:
                ds = pydicom.dcmread(path)
                ds.decode()
                clean(ds)
                if not len(ds):
                    print(f"skipped {path}: nothing left", file=sys.stderr)
                    continue
                old = ds.file_meta
                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = old.get("MediaStorageSOPClassUID", ds.get("SOPClassUID", SC))
                meta.MediaStorageSOPInstanceUID = ds.get("SOPInstanceUID", new_uid(path))
                meta.TransferSyntaxUID = old.get("TransferSyntaxUID", ExplicitVRLittleEndian)
                ds.file_meta = meta
                ds.preamble = b"\0" * 128
                if "SpecificCharacterSet" in ds:
                    ds.SpecificCharacterSet = "ISO_IR 192"
                os.makedirs(os.path.dirname(out), exist_ok=True)
                ds.save_as(out, write_like_original=False)
            except Exception as e:  # noqa: BLE001 - a sample pydicom cannot read or write is skipped
                print(f"skipped {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}", file=sys.stderr)
                if os.path.exists(out):
                    os.unlink(out)


main()
