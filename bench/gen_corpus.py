#!/usr/bin/python3
"""Synthetic CT corpus for sendit's benchmarks and tests.

Writes DIR/<ACCESSION>/IMG0001.dcm ... : one folder per study, named by its
accession number (as sendit's input folders are), each file a CT Image Storage
instance in Explicit VR Little Endian, Part 10 (preamble, "DICM", file meta).
Headers look like a scanner's (about 130 elements: patient, study, series,
equipment, acquisition, image plane and pixel modules, three sequences, two
private blocks with creators, ISO_IR 100 names with accents). UIDs are unique
per study, series and instance and derived from the seed, so two runs with the
same arguments write identical bytes.

Pixel data is 512 x 512 x 16 bit (512 KiB per file, a noisy body phantom) or
16 x 16 with --small.

Run with Debian's interpreter, which sees python3-pydicom:
    /usr/bin/python3 bench/gen_corpus.py --studies 20 --images 100 --out bench/corpus
"""

import argparse
import copy
import datetime
import hashlib
import io
import os
import random
import sys
import time

try:
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian
except ImportError:  # pragma: no cover
    sys.exit("gen_corpus.py: pydicom not found; run it with /usr/bin/python3 "
             "(Debian's python3-pydicom)")

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
IMPLEMENTATION_UID = "2.25.190845123573361234409217385239651744623"  # fixed, made up
IMPLEMENTATION_VERSION = "SENDIT_BENCH_1"

# Latin-1 names with accents (ISO_IR 100), made up.
PATIENT_NAMES = [
    "Müller^Zoë", "Dupré^Hélène^Anaïs", "Ødegård^Bjørn", "García^José^María",
    "Nuñez^Iñaki", "Lefèvre^François", "Sørensen^Åse", "Öztürk^Ümit",
    "Brontë^Noël", "Gonçalves^João", "Jäger^Jürgen", "Ní Bhriain^Siobhán",
    "Strauß^Günther", "Pérez^Inés", "Åberg^Märta", "Þórsdóttir^Sigríður",
]
PHYSICIANS = ["Bérard^Étienne^^Dr", "Schäfer^Käthe^^Dr", "Núñez^Raúl^^Dr", "Løken^Pål^^Dr"]
OPERATORS = ["Mañé^Sofía", "Rønning^Kjell", "Gérard^Léa"]
INSTITUTIONS = [
    ("Hôpital Saint-Éloi", "191 Avenue du Doyen Gaston Giraud^^Montpellier^^34295^France"),
    ("Klinikum Süd Nürnberg", "Breslauer Straße 201^^Nürnberg^^90471^Germany"),
    ("Hospital Clínico Málaga", "Avenida de Andalucía 1^^Málaga^^29010^Spain"),
]
BODY_PARTS = [("CHEST", "CT Thorax mit KM", "Thorax^01_Routine"),
              ("ABDOMEN", "CT Abdomen/Becken", "Abdomen^02_Portal"),
              ("HEAD", "CT Schädel nativ", "Head^01_Native")]
KERNELS = [("B30f", "Weichteil 3.0 B30f"), ("B70f", "Lunge 1.0 B70f")]


def uid_for(seed, *parts):
    """A 2.25 UID from a hash of the seed and the parts: unique and repeatable."""
    h = hashlib.sha256(repr((seed,) + parts).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def phantom_slices(rows, cols, count, rng):
    """`count` distinct slices of little-endian uint16 pixels (bytes)."""
    try:
        import numpy as np
    except ImportError:
        np = None
    out = []
    if np is not None and rows >= 64:
        y, x = np.mgrid[0:rows, 0:cols]
        cy, cx = rows / 2, cols / 2
        body = ((x - cx) / (0.42 * cols)) ** 2 + ((y - cy) / (0.33 * rows)) ** 2 <= 1
        lung_l = ((x - cx + 0.17 * cols) / (0.12 * cols)) ** 2 + ((y - cy) / (0.2 * rows)) ** 2 <= 1
        lung_r = ((x - cx - 0.17 * cols) / (0.12 * cols)) ** 2 + ((y - cy) / (0.2 * rows)) ** 2 <= 1
        spine = ((x - cx) / (0.05 * cols)) ** 2 + ((y - cy - 0.24 * rows) / (0.05 * rows)) ** 2 <= 1
        base = np.zeros((rows, cols), dtype=np.int32)  # stored = HU + 1024
        base[body] = 1024 + 40
        base[lung_l | lung_r] = 1024 - 850
        base[spine] = 1024 + 700
        gen = np.random.default_rng(rng.randrange(1 << 30))
        for _ in range(count):
            noise = gen.normal(0, 12, size=(rows, cols)).astype(np.int32)
            img = np.clip(base + noise * body, 0, 4095).astype("<u2")
            out.append(img.tobytes())
    else:
        for _ in range(count):
            out.append(bytes(rng.randrange(256) for _ in range(rows * cols * 2)))
    return out


def base_dataset(rows, cols):
    """The parts of the header that every file shares."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.Modality = "CT"
    ds.Manufacturer = "Imaginary Medical Systems"
    ds.StationName = "CTSCAN01"
    ds.InstitutionalDepartmentName = "Radiologie"
    ds.ManufacturerModelName = "Somnium 128"
    ds.DeviceSerialNumber = "48151"
    ds.SoftwareVersions = ["IMS CT 4.2.1", "RECON 7.0"]
    ds.IssuerOfPatientID = "HIS"
    ds.PatientSex = "O"
    ds.ContrastBolusAgent = "Iomeprol 350"
    ds.ContrastBolusRoute = "IV"
    ds.ContrastBolusVolume = "80"
    ds.ScanOptions = "HELICAL MODE"
    ds.SliceThickness = "1.5"
    ds.KVP = "120"
    ds.DataCollectionDiameter = "500"
    ds.ReconstructionDiameter = "380"
    ds.DistanceSourceToDetector = "1085.6"
    ds.DistanceSourceToPatient = "595"
    ds.GantryDetectorTilt = "0"
    ds.TableHeight = "152"
    ds.RotationDirection = "CW"
    ds.ExposureTime = "500"
    ds.XRayTubeCurrent = "180"
    ds.Exposure = "90"
    ds.FilterType = "FLAT"
    ds.GeneratorPower = "22"
    ds.FocalSpots = "1.2"
    ds.DateOfLastCalibration = "20240102"
    ds.TimeOfLastCalibration = "061500"
    ds.PatientPosition = "HFS"
    ds.RevolutionTime = 0.5
    ds.SingleCollimationWidth = 0.6
    ds.TotalCollimationWidth = 38.4
    ds.TableSpeed = 46.0
    ds.TableFeedPerRotation = 23.0
    ds.SpiralPitchFactor = 0.6
    ds.CTDIvol = 9.87
    phantom = Dataset()
    phantom.CodeValue = "113691"
    phantom.CodingSchemeDesignator = "DCM"
    phantom.CodeMeaning = "IEC Body Dosimetry Phantom"
    ds.CTDIPhantomTypeCodeSequence = Sequence([phantom])
    ds.AcquisitionNumber = "1"
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = rows
    ds.Columns = cols
    ds.PixelSpacing = ["0.7421875", "0.7421875"] if rows == 512 else ["23.75", "23.75"]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = ["40", "-600"]
    ds.WindowWidth = ["400", "1200"]
    ds.RescaleIntercept = "-1024"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenterWidthExplanation = ["WINDOW1", "WINDOW2"]
    ds.LossyImageCompression = "00"
    return ds


def add_private_blocks(ds, rng):
    blk = ds.private_block(0x0009, "IMAGINARY MEDICAL 1.0", create=True)
    blk.add_new(0x01, "LO", "IMS_CT_RAW")
    blk.add_new(0x02, "DS", "3.14")
    blk.add_new(0x03, "US", 7)
    blk.add_new(0x04, "SH", "RECON_A")
    blk.add_new(0x10, "OB", bytes(rng.randrange(256) for _ in range(96)))
    blk2 = ds.private_block(0x0019, "IMAGINARY CT RECON", create=True)
    blk2.add_new(0x01, "FD", [0.5, 1.25])
    blk2.add_new(0x02, "LO", ["kernel=soft", "iter=3"])
    blk2.add_new(0x03, "UL", 123456)


def study_dataset(seed, study_index, rows, cols, rng):
    """Study- and patient-level values; returns (dataset, accession)."""
    ds = base_dataset(rows, cols)
    accession = "A%08d" % (10000000 + (seed * 7919 + study_index * 104729) % 89999999)
    accession = accession[:16]
    name = PATIENT_NAMES[(study_index + seed) % len(PATIENT_NAMES)]
    inst, addr = INSTITUTIONS[(study_index + seed) % len(INSTITUTIONS)]
    body, study_desc, protocol = BODY_PARTS[(study_index + seed) % len(BODY_PARTS)]
    day = datetime.date(2024, 1, 8) + datetime.timedelta(days=(study_index * 3 + seed) % 300)
    study_date = day.strftime("%Y%m%d")
    birth = datetime.date(1940, 1, 1) + datetime.timedelta(days=rng.randrange(20000))
    age = (day - birth).days // 365
    hh, mm = 7 + study_index % 11, (study_index * 7) % 60
    study_time = "%02d%02d%02d" % (hh, mm, rng.randrange(60))

    ds.StudyInstanceUID = uid_for(seed, "study", study_index)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.InstanceCreationDate = study_date
    ds.StudyTime = study_time
    ds.AccessionNumber = accession
    ds.InstitutionName = inst
    ds.InstitutionAddress = addr
    ds.ReferringPhysicianName = PHYSICIANS[study_index % len(PHYSICIANS)]
    ds.PerformingPhysicianName = PHYSICIANS[(study_index + 1) % len(PHYSICIANS)]
    ds.OperatorsName = OPERATORS[study_index % len(OPERATORS)]
    ds.StudyDescription = study_desc
    ds.ProtocolName = protocol
    ds.BodyPartExamined = body
    ds.PatientName = name
    ds.PatientID = "P%07d" % ((seed * 1000003 + study_index * 7 + 1000000) % 10000000)
    ds.PatientBirthDate = birth.strftime("%Y%m%d")
    ds.PatientAge = "%03dY" % age
    ds.PatientSize = "%.2f" % (1.55 + rng.random() * 0.4)
    ds.PatientWeight = "%d" % (50 + rng.randrange(50))
    ds.StudyID = str(1000 + study_index)
    ds.RequestingPhysician = ds.ReferringPhysicianName
    ds.RequestedProcedureDescription = study_desc
    ds.PerformedProcedureStepStartDate = study_date
    ds.PerformedProcedureStepStartTime = study_time
    ds.PerformedProcedureStepID = "PPS%06d" % study_index
    ds.PerformedProcedureStepDescription = study_desc
    code = Dataset()
    code.CodeValue = "CT%04d" % (100 + (study_index % 3))
    code.CodingSchemeDesignator = "99LOCAL"
    code.CodeMeaning = study_desc
    ds.ProcedureCodeSequence = Sequence([code])
    req = Dataset()
    req.RequestedProcedureID = "RP%06d" % study_index
    req.ScheduledProcedureStepID = "SPS%06d" % study_index
    req.ScheduledProcedureStepDescription = study_desc
    req.AccessionNumber = accession
    ds.RequestAttributesSequence = Sequence([req])
    ds.FrameOfReferenceUID = uid_for(seed, "for", study_index)
    ds.IrradiationEventUID = uid_for(seed, "irradiation", study_index)
    add_private_blocks(ds, rng)
    return ds, accession


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--studies", type=int, default=20, help="studies (folders), default 20")
    ap.add_argument("--images", type=int, default=100, help="images per study, default 100")
    ap.add_argument("--series", type=int, default=2,
                    help="series per study (images split between them), default 2")
    ap.add_argument("--out", required=True, help="output folder (created)")
    ap.add_argument("--small", action="store_true", help="16x16 pixels instead of 512x512")
    ap.add_argument("--seed", type=int, default=1, help="seed for UIDs and values, default 1")
    ap.add_argument("--list", help="also write the list of file paths to this file")
    args = ap.parse_args(argv)
    if args.studies < 1 or args.images < 1 or args.series < 1:
        ap.error("--studies, --images and --series must be >= 1")

    for text in PATIENT_NAMES + PHYSICIANS + OPERATORS + [t for pair in INSTITUTIONS for t in pair] \
            + [t for triple in BODY_PARTS for t in triple]:
        text.encode("latin-1")  # ISO_IR 100 must hold every value
    rows = cols = 16 if args.small else 512
    rng = random.Random(args.seed)
    pixels = phantom_slices(rows, cols, 8, rng)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.monotonic()
    paths = []
    total_bytes = 0
    seen_accessions = set()

    for s in range(args.studies):
        ds_study, accession = study_dataset(args.seed, s, rows, cols, rng)
        if accession in seen_accessions:  # cannot happen for < 89,999,999 studies; be safe
            accession = "%s_%d" % (accession[:10], s)
            ds_study.AccessionNumber = accession
        seen_accessions.add(accession)
        study_dir = os.path.join(args.out, accession)
        os.makedirs(study_dir, exist_ok=True)
        nseries = min(args.series, args.images)
        per_series = (args.images + nseries - 1) // nseries
        localizer_uid = uid_for(args.seed, "localizer", s)
        img_no = 0
        for se in range(nseries):
            ds = copy.deepcopy(ds_study)
            kernel, desc = KERNELS[se % len(KERNELS)]
            ds.SeriesInstanceUID = uid_for(args.seed, "series", s, se)
            ds.SeriesNumber = str(se + 2)
            ds.SeriesDescription = desc
            ds.ConvolutionKernel = kernel
            hh = int(ds_study.StudyTime[:2])
            ds.SeriesTime = "%02d%02d%02d" % (hh, 10 + se, 0)
            ref = Dataset()
            ref.ReferencedSOPClassUID = CT_IMAGE_STORAGE
            ref.ReferencedSOPInstanceUID = localizer_uid
            ds.ReferencedImageSequence = Sequence([ref])
            # Many scanners write undefined lengths with delimiters: one sequence does so here.
            ds["ReferencedImageSequence"].is_undefined_length = True
            ref.is_undefined_length_sequence_item = True
            count = min(per_series, args.images - img_no)
            z0 = 100.0
            for i in range(count):
                img_no += 1
                sop_uid = uid_for(args.seed, "image", s, se, i)
                z = z0 - i * 1.5
                ds.SOPInstanceUID = sop_uid
                ds.InstanceNumber = str(i + 1)
                ds.ImagePositionPatient = ["-189.6", "-350.4", "%.2f" % z]
                ds.SliceLocation = "%.2f" % z
                t = "%02d%02d%02d.%06d" % (hh, 10 + se, (i // 10) % 60, (i * 37117) % 1000000)
                ds.AcquisitionTime = ds.ContentTime = ds.InstanceCreationTime = t
                ds.PixelData = pixels[(s * 131 + se * 17 + i) % len(pixels)]
                # (7FE0,0010) must be OW for 16-bit native pixels in explicit VR
                ds["PixelData"].VR = "OW"

                meta = FileMetaDataset()
                meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
                meta.MediaStorageSOPInstanceUID = sop_uid
                meta.TransferSyntaxUID = ExplicitVRLittleEndian
                meta.ImplementationClassUID = IMPLEMENTATION_UID
                meta.ImplementationVersionName = IMPLEMENTATION_VERSION
                meta.SourceApplicationEntityTitle = "CTSCAN01"
                ds.file_meta = meta
                ds.is_little_endian = True
                ds.is_implicit_VR = False
                ds.preamble = b"\0" * 128

                buf = io.BytesIO()
                pydicom.dcmwrite(buf, ds, write_like_original=False)
                path = os.path.join(study_dir, "IMG%04d.dcm" % img_no)
                data = buf.getvalue()
                with open(path, "wb") as f:
                    f.write(data)
                total_bytes += len(data)
                paths.append(path)

    if args.list:
        with open(args.list, "w") as f:
            for p in paths:
                f.write(p + "\n")
    dt = time.monotonic() - t0
    print("gen_corpus: %d studies x %d images = %d files, %.1f MB, in %s (%.1f s, %.0f files/s)"
          % (args.studies, args.images, len(paths), total_bytes / 1e6, args.out, dt,
             len(paths) / dt if dt > 0 else 0.0), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
