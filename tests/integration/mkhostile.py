#!/usr/bin/python3
"""Writes hostile DICOM files for the reader hardening tests (issue 11), laid
out byte by byte with the standard library only (a DICOM library would
repair them on write).

Usage: mkhostile.py KIND OUT
  deflated-big  ~1 MB Deflated Explicit VR LE file whose data set holds a
                1,000 MiB private OB element (zeros) before the pixels
  deflated-fragment  ~400 KB Deflated Explicit VR LE file whose private OB
                of undefined length holds one 400 MiB fragment (zeros)
  sparse-big    sparse file of ~4 KiB on disk declaring a private OB of
                0x7FFFFFF0 bytes (the file really is that long, as zeros)
  all-un        Explicit VR LE file whose every data set element is UN
  nul-string    Explicit VR LE file with NUL bytes inside PatientID / Name
  swallow-meta  meta element with the invalid VR "U " whose 4-byte length
                (read as implicit) spans the rest of the file
  bad-uid UID   basic image whose SOPInstanceUID is UID (may be any bytes;
                '-' writes none)
  bad-study UID basic image whose StudyInstanceUID is UID
"""
import struct
import sys
import zlib

UID_PREFIX = "1.2.826.0.1.3680043.10.1234"


def el(group, elem, vr, value, big_len=None):
    if isinstance(value, str):
        value = value.encode("latin-1")
    if len(value) % 2:
        value += b"\0" if vr in ("UI", "OB", "UN") else b" "
    length = len(value) if big_len is None else big_len
    head = struct.pack("<HH", group, elem) + vr.encode()
    if vr in ("OB", "OW", "OF", "OD", "OL", "OV", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"):
        head += b"\0\0" + struct.pack("<I", length)
    else:
        head += struct.pack("<H", length)
    return head + value


def meta(ts, sop):
    body = (
        el(2, 1, "OB", b"\0\1")
        + el(2, 2, "UI", "1.2.840.10008.5.1.4.1.1.2")
        + el(2, 3, "UI", sop)
        + el(2, 0x10, "UI", ts)
        + el(2, 0x12, "UI", UID_PREFIX + ".99")
    )
    return b"\0" * 128 + b"DICM" + el(2, 0, "UL", struct.pack("<I", len(body))) + body


def basic(sop=UID_PREFIX + ".1.1", study=UID_PREFIX + ".1", series=UID_PREFIX + ".1.0"):
    """The identifying elements, in tag order up to (0020,000E)."""
    out = el(8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.2")
    if sop is not None:
        out += el(8, 0x18, "UI", sop)
    out += el(8, 0x20, "DA", "20240131") + el(8, 0x60, "CS", "CT")
    out += el(0x10, 0x10, "PN", "Doe^John") + el(0x10, 0x20, "LO", "PID-H")
    if study is not None:
        out += el(0x20, 0x0D, "UI", study)
    out += el(0x20, 0x0E, "UI", series)
    return out


def tail():
    return el(0x28, 0x10, "US", struct.pack("<H", 2)) + el(0x7FE0, 0x10, "OW", b"\1\0" * 4)


def deflated_big(out):
    mib = 1 << 20
    head = basic() + el(0x0029, 0x0010, "LO", "HOSTILE") + el(0x0029, 0x1001, "OB", b"", 1000 * mib)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [z.compress(head)]
    zeros = b"\0" * (16 * mib)
    for _ in range(1000 // 16):
        parts.append(z.compress(zeros))
    parts.append(z.compress(b"\0" * (1000 * mib - (1000 // 16) * 16 * mib)))
    parts.append(z.compress(tail()))
    parts.append(z.flush())
    with open(out, "wb") as f:
        f.write(meta("1.2.840.10008.1.2.1.99", UID_PREFIX + ".1.1"))
        for p in parts:
            f.write(p)


def deflated_fragment(out):
    mib = 1 << 20
    size = 400 * mib
    head = basic() + el(0x0029, 0x0010, "LO", "HOSTILE")
    head += struct.pack("<HH", 0x0029, 0x1001) + b"OB\0\0" + struct.pack("<I", 0xFFFFFFFF)
    head += struct.pack("<HHI", 0xFFFE, 0xE000, size)
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    parts = [z.compress(head)]
    zeros = b"\0" * (16 * mib)
    for _ in range(size // (16 * mib)):
        parts.append(z.compress(zeros))
    parts.append(z.compress(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0) + tail()))
    parts.append(z.flush())
    with open(out, "wb") as f:
        f.write(meta("1.2.840.10008.1.2.1.99", UID_PREFIX + ".1.1"))
        for p in parts:
            f.write(p)


def sparse_big(out):
    length = 0x7FFFFFF0
    data = meta("1.2.840.10008.1.2.1", UID_PREFIX + ".6.1") + basic(sop=UID_PREFIX + ".6.1")
    data += el(0x0029, 0x0010, "LO", "HOSTILE") + el(0x0029, 0x1001, "OB", b"", length)
    with open(out, "wb") as f:
        f.write(data)
        f.truncate(len(data) + length)  # a hole: nothing written


def all_un(out):
    """Every data set element as UN with its value bytes as they would be in
    implicit VR, including a sequence (re-parsed as implicit VR LE)."""

    def un(group, elem, value):
        if isinstance(value, str):
            value = value.encode("latin-1")
        if len(value) % 2:
            value += b"\0" if group in (8, 0x20) and elem in (0x16, 0x18, 0x0D, 0x0E, 0x1150, 0x1155) else b" "
        return struct.pack("<HH", group, elem) + b"UN\0\0" + struct.pack("<I", len(value)) + value

    def implicit(group, elem, value):
        if len(value) % 2:
            value += b"\0"
        return struct.pack("<HHI", group, elem, len(value)) + value

    item = implicit(8, 0x1150, b"1.2.840.10008.5.1.4.1.1.2\0") + implicit(8, 0x1155, (UID_PREFIX + ".7.7").encode())
    seq = struct.pack("<HHI", 0xFFFE, 0xE000, len(item)) + item
    body = (
        un(8, 0x05, "ISO_IR 100")
        + un(8, 0x16, "1.2.840.10008.5.1.4.1.1.2")
        + un(8, 0x18, UID_PREFIX + ".2.1")
        + un(8, 0x60, "MR")
        + un(8, 0x1140, seq)
        + un(0x10, 0x10, b"M\xfcller^J\xfcrgen")
        + un(0x10, 0x20, b"PID-\xdcN")
        + un(0x20, 0x0D, UID_PREFIX + ".2")
        + un(0x20, 0x0E, UID_PREFIX + ".2.0")
        + un(0x28, 0x10, struct.pack("<H", 2))
        + un(0x28, 0x30, "0.5\\0.25")
    )
    with open(out, "wb") as f:
        f.write(meta("1.2.840.10008.1.2.1", UID_PREFIX + ".2.1") + body)


def nul_string(out):
    body = (
        el(8, 0x16, "UI", "1.2.840.10008.5.1.4.1.1.2")
        + el(8, 0x18, "UI", UID_PREFIX + ".3.1")
        + el(8, 0x60, "CS", "CT")
        + el(0x10, 0x10, "PN", b"Doe\0John")
        + el(0x10, 0x20, "LO", b"AB\0CD\0\0")
        + el(0x20, 0x0D, "UI", UID_PREFIX + ".3")
        + el(0x20, 0x0E, "UI", UID_PREFIX + ".3.0")
    )
    with open(out, "wb") as f:
        f.write(meta("1.2.840.10008.1.2.1", UID_PREFIX + ".3.1") + body)


def swallow_meta(out):
    """(0002,0013) with VR "U ": read as implicit VR, bytes 4-7 of its header
    ("U " and two more) are a 32-bit length; the file is padded so that this
    length covers exactly the rest of the file."""
    data = meta("1.2.840.10008.1.2.1", UID_PREFIX + ".4.1")
    low = ord("U") | (ord(" ") << 8)  # the length's low 16 bits
    high = 0  # its high 16 bits: 0x2055 = 8277 bytes follow
    need = low + (high << 16)
    rest = basic(UID_PREFIX + ".4.1") + el(0x0029, 0x0010, "LO", "PAD")
    pad = need - len(rest) - len(tail()) - 12
    rest += struct.pack("<HH", 0x0029, 0x1001) + b"OB\0\0" + struct.pack("<I", pad) + b"\0" * pad
    rest += tail()
    assert len(rest) == need
    bogus = struct.pack("<HH", 2, 0x13) + b"U " + struct.pack("<H", high)
    with open(out, "wb") as f:
        f.write(data + bogus + rest)


def bad_uid(out, uid, which):
    raw = uid.encode("latin-1", "surrogateescape") if uid != "-" else None
    sop = UID_PREFIX + ".5.1"
    study = UID_PREFIX + ".5"
    if which == "sop":
        sop = raw
    else:
        study = raw
    body = basic(sop=sop, study=study) + tail()
    with open(out, "wb") as f:
        f.write(meta("1.2.840.10008.1.2.1", UID_PREFIX + ".5.1") + body)


def main():
    kind, out = sys.argv[1], sys.argv[2]
    if kind == "bad-uid":
        bad_uid(out, sys.argv[3], "sop")
    elif kind == "bad-study":
        bad_uid(out, sys.argv[3], "study")
    else:
        {
            "deflated-big": deflated_big,
            "deflated-fragment": deflated_fragment,
            "sparse-big": sparse_big,
            "all-un": all_un,
            "nul-string": nul_string,
            "swallow-meta": swallow_meta,
        }[kind](out)


main()
