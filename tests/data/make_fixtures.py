#!/usr/bin/python3
"""Writes the reader's test fixtures into tests/data/ (next to this script).

Run: /usr/bin/python3 tests/data/make_fixtures.py

Only the standard library is used and the bytes are laid out by hand, on
purpose: the broken fixtures need exact control over every length and tag,
which a DICOM library would "fix" on write. The output is deterministic, so
re-running must leave `git status` clean; the generated files are committed
so the tests never need Python. tests/data/README.md lists what each file is
and what the reader must make of it; tests/unit/test_reader.c checks it.
"""
import os
import struct
import sys
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

TS_IMPLICIT_LE = "1.2.840.10008.1.2"
TS_EXPLICIT_LE = "1.2.840.10008.1.2.1"
TS_DEFLATED_LE = "1.2.840.10008.1.2.1.99"
TS_EXPLICIT_BE = "1.2.840.10008.1.2.2"
TS_JPEG_BASELINE = "1.2.840.10008.1.2.4.50"

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
SC_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
# 2.25 UIDs (UUID-derived) so the fixtures never collide with real data.
SOP_INSTANCE = "2.25.1001"
STUDY_INSTANCE = "2.25.1002"
SERIES_INSTANCE = "2.25.1003"
IMPLEMENTATION_UID = "2.25.1999"

# VRs with a 4-byte length in explicit encodings (PS3.5 7.1.2).
LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
UNDEFINED = 0xFFFFFFFF


class Seq:
    """SQ value: items are lists of elements (or raw bytes for broken ones)."""

    def __init__(self, items, undefined=False, undefined_items=False):
        self.items = items
        self.undefined = undefined
        self.undefined_items = undefined_items


class Raw:
    """Value bytes written as given, with an optional lying length."""

    def __init__(self, data, length=None):
        self.data = data
        self.length = length


class Fragments:
    """Encapsulated pixel data: basic offset table first, then fragments."""

    def __init__(self, fragments):
        self.fragments = fragments


def pad(data, vr):
    if len(data) % 2 == 0:
        return data
    return data + (b"\0" if vr in ("UI", "OB", "UN") else b" ")


def encode_value(vr, value, big):
    end = ">" if big else "<"
    if isinstance(value, Raw):
        return value.data
    if isinstance(value, (bytes, bytearray)):
        return pad(bytes(value), vr)
    if isinstance(value, str):
        return pad(value.encode("latin-1"), vr)
    fmt = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "OW": "H"}[vr]
    return struct.pack(end + fmt * len(value), *value)


def item_tag(tag, length, big):
    end = ">" if big else "<"
    return struct.pack(end + "HHI", tag >> 16, tag & 0xFFFF, length)


def encode_seq(seq, explicit, big):
    out = b""
    for item in seq.items:
        body = item if isinstance(item, bytes) else encode_dataset(item, explicit, big)
        if seq.undefined_items:
            out += item_tag(0xFFFEE000, UNDEFINED, big) + body
            out += item_tag(0xFFFEE00D, 0, big)
        else:
            out += item_tag(0xFFFEE000, len(body), big) + body
    if seq.undefined:
        out += item_tag(0xFFFEE0DD, 0, big)
    return out


def encode_element(tag, vr, value, explicit, big):
    end = ">" if big else "<"
    group, elem = tag >> 16, tag & 0xFFFF
    if isinstance(value, Seq):
        body = encode_seq(value, explicit if vr != "UN" else False, big if vr != "UN" else False)
        length = UNDEFINED if value.undefined else len(body)
    elif isinstance(value, Fragments):
        body = b""
        for frag in value.fragments:
            body += item_tag(0xFFFEE000, len(frag), big) + frag
        body += item_tag(0xFFFEE0DD, 0, big)
        length = UNDEFINED
    else:
        body = encode_value(vr, value, big)
        length = value.length if isinstance(value, Raw) and value.length is not None else len(body)
    if not explicit:
        return struct.pack(end + "HHI", group, elem, length) + body
    if vr in LONG_VRS:
        return struct.pack(end + "HH2sHI", group, elem, vr.encode(), 0, length) + body
    return struct.pack(end + "HH2sH", group, elem, vr.encode(), length) + body


def encode_dataset(elements, explicit, big):
    return b"".join(encode_element(t, vr, v, explicit, big) for t, vr, v in elements)


def meta(ts, sop_class=CT_IMAGE_STORAGE, sop_instance=SOP_INSTANCE):
    """File meta group, always explicit LE, with a correct group length."""
    body = encode_dataset(
        [
            (0x00020001, "OB", b"\x00\x01"),
            (0x00020002, "UI", sop_class),
            (0x00020003, "UI", sop_instance),
            (0x00020010, "UI", ts),
            (0x00020012, "UI", IMPLEMENTATION_UID),
            (0x00020013, "SH", "SENDIT_FIXTURE"),
        ],
        True,
        False,
    )
    return encode_element(0x00020000, "UL", [len(body)], True, False) + body


def part10(ts, dataset_bytes, **kw):
    return b"\0" * 128 + b"DICM" + meta(ts, **kw) + dataset_bytes


# 4x4 16-bit pixels: small enough to read in a hex dump.
PIXELS = list(range(16))


def basic_image(extra=()):
    """The common CT-like data set, sorted by tag."""
    elements = [
        (0x00080016, "UI", CT_IMAGE_STORAGE),
        (0x00080018, "UI", SOP_INSTANCE),
        (0x00080020, "DA", "20240131"),
        (0x00080050, "SH", "ACC-0001"),
        (0x00080060, "CS", "CT"),
        (0x00100010, "PN", "Doe^John^^Dr"),
        (0x00100020, "LO", "PID-0001"),
        (0x0020000D, "UI", STUDY_INSTANCE),
        (0x0020000E, "UI", SERIES_INSTANCE),
        (0x00200013, "IS", "7"),
        (0x00280002, "US", [1]),
        (0x00280004, "CS", "MONOCHROME2"),
        (0x00280010, "US", [4]),
        (0x00280011, "US", [4]),
        (0x00280030, "DS", "0.5\\0.25"),
        (0x00280100, "US", [16]),
        (0x00280101, "US", [12]),
        (0x00280102, "US", [11]),
        (0x00280103, "US", [0]),
        (0x7FE00010, "OW", PIXELS),
    ]
    elements += list(extra)
    elements.sort(key=lambda e: e[0])
    return elements


def sequences_dataset():
    """Sequences with every combination of defined/undefined lengths, nested
    three deep, plus an empty sequence and an empty item."""
    ref = lambda n: [(0x00081150, "UI", CT_IMAGE_STORAGE), (0x00081155, "UI", "2.25.2%03d" % n)]
    inner_defined = Seq([ref(10), ref(11)])
    inner_undefined = Seq([[(0x00080100, "SH", "CODE1"), (0x00080104, "LO", "Meaning")]],
                          undefined=True, undefined_items=True)
    return [
        (0x00080016, "UI", CT_IMAGE_STORAGE),
        (0x00080018, "UI", SOP_INSTANCE),
        # Referenced Study Sequence: empty (length 0).
        (0x00081110, "SQ", Seq([])),
        # Referenced Image Sequence: defined lengths, two items.
        (0x00081140, "SQ", Seq([ref(1), ref(2)])),
        (0x00100020, "LO", "PID-SEQ"),
        # Request Attributes Sequence: undefined lengths; the first item holds
        # a defined-length and an undefined-length sequence, the second is empty.
        (0x00400275, "SQ", Seq([
            [(0x00081110, "SQ", inner_defined), (0x00321064, "SQ", inner_undefined),
             (0x00401001, "SH", "RP-1")],
            [],
        ], undefined=True, undefined_items=True)),
    ]


def deep_dataset(levels):
    """`levels` Content Sequences nested inside each other, undefined lengths."""
    inner = [(0x0040A160, "UT", "leaf")]
    for _ in range(levels):
        inner = [(0x0040A730, "SQ", Seq([inner], undefined=True, undefined_items=True))]
    return [(0x00080016, "UI", CT_IMAGE_STORAGE)] + inner


def fixtures():
    out = {}
    img = basic_image()
    out["implicit_le.dcm"] = part10(TS_IMPLICIT_LE, encode_dataset(img, False, False))
    out["explicit_le.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(img, True, False))
    out["explicit_be.dcm"] = part10(TS_EXPLICIT_BE, encode_dataset(img, True, True))
    # Raw deflate, no zlib header (PS3.5 A.5).
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = encode_dataset(img, True, False)
    out["deflated.dcm"] = part10(TS_DEFLATED_LE, deflater.compress(body) + deflater.flush())
    # No preamble, no meta: a bare implicit LE data set as old modalities wrote.
    out["raw_implicit_le.dcm"] = encode_dataset(img, False, False)

    # JPEG Baseline with an empty basic offset table and two fragments of a
    # fake JPEG stream (SOI ... EOI); the reader never decodes them.
    jpeg_like = [b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00",
                 b"\x12\x34\x56\x78\xff\xd9"]
    enc = [e for e in basic_image() if e[0] != 0x7FE00010]
    enc = [(0x00080016, "UI", SC_IMAGE_STORAGE) if t == 0x00080016 else (t, vr, v)
           for t, vr, v in enc]
    enc.append((0x7FE00010, "OB", Fragments([b""] + jpeg_like)))
    out["encapsulated.dcm"] = part10(TS_JPEG_BASELINE, encode_dataset(enc, True, False),
                                     sop_class=SC_IMAGE_STORAGE)

    seq = sequences_dataset()
    out["sequences.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(seq, True, False))
    out["sequences_implicit.dcm"] = part10(TS_IMPLICIT_LE, encode_dataset(seq, False, False))

    # CP-246: a sequence that went through a node not knowing it, so its VR
    # became UN with undefined length; the content stays implicit LE.
    un = [
        (0x00080016, "UI", CT_IMAGE_STORAGE),
        (0x00081111, "UN", Seq([[(0x00081150, "UI", "1.2.840.10008.3.1.2.3.3"),
                                 (0x00081155, "UI", "2.25.3001")]],
                               undefined=True, undefined_items=True)),
        (0x00100020, "LO", "PID-UN"),
    ]
    out["un_undefined_length.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(un, True, False))

    priv = basic_image([
        (0x00090010, "LO", "ACME 1.0"),
        (0x00091001, "LO", "private text"),
        (0x00091002, "US", [513]),
        (0x00290010, "LO", "OTHER CREATOR"),
        (0x00291010, "OB", b"\x01\x02\x03\x04"),
    ])
    out["private_tags.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(priv, True, False))
    # Implicit VR: the dictionary cannot know private VRs, so they read as UN.
    out["private_tags_implicit.dcm"] = part10(TS_IMPLICIT_LE, encode_dataset(priv, False, False))

    # Odd lengths written as is (no padding): tolerated and flagged.
    odd = [
        (0x00080016, "UI", CT_IMAGE_STORAGE),
        (0x00080018, "UI", Raw(b"2.25.1001")),  # 9 bytes
        (0x00100020, "LO", Raw(b"ODD")),  # 3 bytes
        (0x00200013, "IS", "12"),
    ]
    out["odd_length.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(odd, True, False))

    # Latin-1 text, and UTF-8 text in a separate file.
    latin = basic_image([(0x00080005, "CS", "ISO_IR 100")])
    latin = [(t, vr, "M\xfcller^J\xfcrgen" if t == 0x00100010 else v) for t, vr, v in latin]
    out["charset_latin1.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(latin, True, False))
    utf8 = basic_image([(0x00080005, "CS", "ISO_IR 192")])
    utf8 = [(t, vr, pad("Wang^XiaoDong=\u738b^\u5c0f\u6771".encode("utf-8"), "PN")
             if t == 0x00100010 else v) for t, vr, v in utf8]
    out["charset_utf8.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(utf8, True, False))

    # ---- broken on purpose ----
    explicit = out["explicit_le.dcm"]
    meta_len = len(meta(TS_EXPLICIT_LE))
    # Cut 5 bytes into the header of the 4th meta element.
    cut = 132 + len(encode_element(0x00020000, "UL", [0], True, False)) + len(
        encode_element(0x00020001, "OB", b"\x00\x01", True, False)) + len(
        encode_element(0x00020002, "UI", CT_IMAGE_STORAGE, True, False)) + 5
    out["truncated_in_meta_header.dcm"] = explicit[:cut]
    # Cut inside the value of Patient's Name (0010,0010).
    data_start = 132 + meta_len
    name_at = data_start + len(encode_dataset([e for e in img if e[0] < 0x00100010], True, False))
    out["truncated_in_value.dcm"] = explicit[:name_at + 8 + 4]
    # Cut inside (0040,0275): after its header (12), its first item header (8),
    # the nested (0008,1110) header (12) and that one's first item header (8).
    seq_file = out["sequences.dcm"]
    seq_at = 132 + meta_len + len(encode_dataset([e for e in seq if e[0] < 0x00400275], True, False))
    out["truncated_in_sequence.dcm"] = seq_file[:seq_at + 12 + 8 + 20]
    # Pixel Data claiming 0xFFFFFFF0 bytes with 16 present: must fail without
    # allocating 4 GiB.
    huge = [e for e in img if e[0] != 0x7FE00010]
    huge.append((0x7FE00010, "OB", Raw(b"\x00" * 16, length=0xFFFFFFF0)))
    out["length_4gb.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(huge, True, False))
    # Same claim on a text value before the pixel data: header-only fails too.
    huge_text = basic_image([(0x00204000, "UT", Raw(b"abcd", length=0xFFFFFFF0))])
    out["length_4gb_text.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(huge_text, True, False))
    out["deep_nesting_64.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(deep_dataset(64), True, False))
    out["deep_nesting_100.dcm"] = part10(TS_EXPLICIT_LE,
                                         encode_dataset(deep_dataset(100), True, False))
    # A sequence whose item list holds a data element instead of an item.
    bad_item = [
        (0x00080016, "UI", CT_IMAGE_STORAGE),
        (0x00081140, "SQ", Raw(encode_element(0x00081150, "UI", CT_IMAGE_STORAGE, True, False))),
    ]
    out["bad_item_tag.dcm"] = part10(TS_EXPLICIT_LE, encode_dataset(bad_item, True, False))
    # Deflated data set whose compressed stream turns invalid (a block of the
    # reserved type 3) right after an element that ends at inflated byte 8192:
    # the reader's first 8 KiB read succeeds and the failure comes exactly at an
    # element boundary, where "no more bytes" and "cannot read" must differ.
    corrupt = [(0x00080016, "UI", CT_IMAGE_STORAGE), (0x00080018, "UI", SOP_INSTANCE),
               (0x00204000, "UT", "x" * (8192 - 34 - 18 - 12)), (0x00280010, "US", [4])]
    body = encode_dataset(corrupt, True, False)
    assert body.index(struct.pack("<HH", 0x0028, 0x0010)) == 8192
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    broken = deflater.compress(body) + deflater.flush(zlib.Z_FULL_FLUSH) + b"\x07" + b"\xff" * 16
    out["deflate_corrupt_at_boundary.dcm"] = part10(TS_DEFLATED_LE, broken)

    # ---- not DICOM ----
    out["not_dicom_jpeg.jpg"] = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x01\x00\x48\x00\x48"
                                 b"\x00\x00\xff\xdb\x00\x43\x00" + bytes(range(64)) + b"\xff\xd9")
    out["not_dicom_text.txt"] = (b"This is not a DICOM file.\n"
                                 b"It is a plain text note that happens to sit in the inbox.\n")
    out["empty.dcm"] = b""
    out["zeros.bin"] = b"\0" * 1024
    return out


def main():
    for name, data in sorted(fixtures().items()):
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print("%-32s %6d bytes" % (name, len(data)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
