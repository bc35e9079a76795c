#!/usr/bin/env python3
"""Generates sendit's DICOM data dictionary and UID table.

Pipeline (two steps so that a dictionary update is reviewable as a plain-text
diff before any C changes):

  1. source -> lib/dict/elements.tsv, lib/dict/uids.tsv  (only when asked)
       --part06 PATH [--part07 PATH]   the standard's DocBook XML (PS3.6
                                       tables 6-1, 7-1, 8-1, 9-1; PS3.7 command
                                       fields E.1-1 and retired E.2-1)
       --from-pydicom                  the same PS3.6 facts as shipped in
                                       Debian's python3-pydicom (run with
                                       /usr/bin/python3); also refreshes the
                                       UID table, which has no XML path here
  2. TSVs -> lib/dict/dict_table.c, lib/dict/uid_table.c  (always)

With no arguments only step 2 runs, so the committed TSVs are the source of
truth. --check regenerates into memory and exits 1 if any checked-in file
differs (for CI). The C files are run through clang-format so that the repo's
formatting hook never rewrites generated code.

Only the Python standard library is needed, except for --from-pydicom.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))


def paths(out_dir):
    return {name: os.path.join(out_dir, name)
            for name in ("elements.tsv", "uids.tsv", "dict_table.c", "uid_table.c")}


ELEMENT_COLUMNS = ["tag", "vr", "vm", "keyword", "name", "retired"]
UID_COLUMNS = ["uid", "keyword", "name", "type", "retired"]

# Must match si_vr in include/sendit/vr.h (NONE is the item/delimiter "VR").
VRS = {
    "AE", "AS", "AT", "CS", "DA", "DS", "DT", "FD", "FL", "IS", "LO", "LT",
    "OB", "OD", "OF", "OL", "OV", "OW", "PN", "SH", "SL", "SQ", "SS", "ST",
    "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV",
}

XML_ID = "{http://www.w3.org/XML/1998/namespace}id"
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\ufeff"), None)


class GenError(Exception):
    pass


# --------------------------------------------------------------------------
# Normalisation shared by every source, so both paths give identical TSVs.


def norm_tag(text):
    """'(60XX,3000)' / '60xx3000' -> '60xx3000'; None when not a tag."""
    digits = re.sub(r"[\s(),]", "", text.translate(ZERO_WIDTH))
    if not re.fullmatch(r"[0-9A-Fa-fxX]{8}", digits):
        return None
    return "".join("x" if c in "xX" else c.upper() for c in digits)


def norm_vr(text):
    """'OB or OW' stays as written; anything that is not a VR list (the
    standard writes 'See Note' for item delimiters) becomes 'NONE'."""
    parts = [p.strip().upper() for p in re.split(r"\bor\b|,", text.translate(ZERO_WIDTH))]
    parts = [p for p in parts if p]
    if parts and all(p in VRS for p in parts):
        return " or ".join(parts)
    return "NONE"


def norm_text(text):
    return " ".join(text.translate(ZERO_WIDTH).split())


def make_entry(tag, vr, vm, keyword, name, retired):
    return {
        "tag": tag,
        "vr": norm_vr(vr),
        "vm": norm_text(vm).replace(" ", ""),
        "keyword": norm_text(keyword).replace(" ", ""),
        "name": norm_text(name),
        "retired": "RET" if retired else "",
    }


def tag_key(pattern):
    """Sort key: ascending base tag (x digits as 0), exact entries before
    repeating ones with the same base so that lookups find them first."""
    base, mask = tag_value_mask(pattern)
    return (base, mask != 0xFFFFFFFF, -mask)


def tag_value_mask(pattern):
    base = int(pattern.replace("x", "0"), 16)
    mask = int("".join("0" if c == "x" else "F" for c in pattern), 16)
    return base, mask


# --------------------------------------------------------------------------
# Source 1: the standard's DocBook XML.


def local(elem):
    return elem.tag.rsplit("}", 1)[-1]


def cell_text(cell):
    return norm_text("".join(cell.itertext()))


def find_tables(root, ids, captions):
    found = []
    for table in root.iter():
        if local(table) != "table":
            continue
        caption = ""
        for child in table:
            if local(child) in ("caption", "title"):
                caption = cell_text(child)
        if table.get(XML_ID) in ids or caption in captions:
            found.append((table, caption))
    return found


def table_rows(table, section_name):
    """Cell texts of each row of the table's thead or tbody."""
    for section in table.iter():
        if local(section) != section_name:
            continue
        for row in section.iter():
            if local(row) == "tr":
                yield [cell_text(c) for c in row if local(c) in ("td", "th")]


def column_map(table, wanted, defaults):
    """Column index per field, from the header row when it names them (the
    standard has reordered columns between editions), else the defaults."""
    header = next(table_rows(table, "thead"), [])
    cols = dict(defaults)
    for i, text in enumerate(header):
        for field, names in wanted.items():
            if text.lower() in names:
                cols[field] = i
    return cols


PART06_TABLES = {
    "table_6-1": "Registry of DICOM Data Elements",
    "table_7-1": "Registry of DICOM File Meta Elements",
    "table_8-1": "Registry of DICOM Directory Structuring Elements",
    "table_9-1": "Registry of DICOM Dynamic RTP Payload Elements",
}
PART06_HEADERS = {
    "tag": {"tag"},
    "name": {"name"},
    "keyword": {"keyword"},
    "vr": {"vr"},
    "vm": {"vm"},
}
PART07_TABLES = {
    "table_E.1-1": "Command Fields",
    "table_E.2-1": "Retired Command Fields",
}
PART07_HEADERS = {
    "tag": {"tag"},
    "name": {"message field", "name"},
    "keyword": {"keyword"},
    "vr": {"vr"},
    "vm": {"vm"},
}


def rows_from_table(table, cols, retired_table):
    for cells in table_rows(table, "tbody"):
        def get(field, cells=cells):
            i = cols.get(field)
            return cells[i] if i is not None and i < len(cells) else ""

        tag = norm_tag(get("tag"))
        if tag is None:
            continue
        keyword = get("keyword")
        if "keyword" not in cols:
            # Old PS3.7 editions have no keyword column; PS3.6 keywords are
            # the name with spaces and punctuation dropped.
            keyword = re.sub(r"[^A-Za-z0-9]", "", get("name"))
        retired = retired_table or get("retired").upper().startswith("RET")
        yield make_entry(tag, get("vr"), get("vm"), keyword, get("name"), retired)


def read_part(path, tables, headers, defaults):
    root = ET.parse(path).getroot()
    entries = []
    found = find_tables(root, set(tables), set(tables.values()))
    if not found:
        raise GenError(f"{path}: none of the tables {sorted(tables)} found")
    for table, caption in found:
        cols = column_map(table, headers, defaults)
        retired_table = caption.lower().startswith("retired")
        rows = list(rows_from_table(table, cols, retired_table))
        print(f"  {os.path.basename(path)}: {caption or table.get(XML_ID)}: {len(rows)} rows",
              file=sys.stderr)
        entries.extend(rows)
    return entries


def from_part06(part06, part07):
    defaults = {"tag": 0, "name": 1, "keyword": 2, "vr": 3, "vm": 4, "retired": 5}
    entries = read_part(part06, PART06_TABLES, PART06_HEADERS, defaults)
    if len(entries) < 4000:
        raise GenError(f"{part06}: only {len(entries)} elements; not a PS3.6 registry?")
    if part07:
        # Retired flag: E.2-1 is the retired table; the column after VM is a
        # description, not a retired note, so it is never read.
        defaults = {"name": 0, "keyword": 1, "tag": 2, "vr": 3, "vm": 4}
        entries += read_part(part07, PART07_TABLES, PART07_HEADERS, defaults)
    return entries, "PS3.6 DocBook XML" + (" + PS3.7 command fields" if part07 else "")


# --------------------------------------------------------------------------
# Source 2: Debian's pydicom, whose tables are generated from the same XML.


def import_pydicom():
    try:
        import pydicom
        from pydicom import _dicom_dict, _uid_dict
    except ImportError as exc:
        raise GenError(f"--from-pydicom needs pydicom ({exc}); use /usr/bin/python3 "
                       "with the Debian package python3-pydicom")
    return pydicom.__version__, _dicom_dict, _uid_dict


def from_pydicom():
    version, dd, _ = import_pydicom()
    items = [("%08X" % tag, v) for tag, v in dd.DicomDictionary.items()]
    items += list(dd.RepeatersDictionary.items())
    entries = []
    for tag, (vr, vm, name, retired, keyword) in items:
        # pydicom's generator fills PS3.6's nameless retired rows with this
        # placeholder; the standard has an empty name there.
        if name == "Retired-blank":
            name = ""
        entries.append(make_entry(norm_tag(tag), vr, vm, keyword, name, retired == "Retired"))
    return entries, f"pydicom {version} _dicom_dict.py"


def uids_from_pydicom():
    version, _, ud = import_pydicom()
    uids = []
    for uid, (name, kind, _info, retired, keyword) in ud.UID_dictionary.items():
        uids.append({
            "uid": uid.strip(),
            "keyword": norm_text(keyword),
            "name": norm_text(name),
            "type": norm_text(kind),
            "retired": "RET" if retired == "Retired" else "",
        })
    return uids, f"pydicom {version} _uid_dict.py"


# --------------------------------------------------------------------------
# Validation: the C lookups rely on these properties.


def check_elements(entries):
    seen = {}
    keywords = {}
    for e in entries:
        if e["tag"] in seen:
            raise GenError(f"duplicate tag {e['tag']}")
        seen[e["tag"]] = e
        if e["keyword"]:
            if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", e["keyword"]):
                raise GenError(f"{e['tag']}: odd keyword {e['keyword']!r}")
            if e["keyword"] in keywords:
                raise GenError(f"keyword {e['keyword']} on {keywords[e['keyword']]} and {e['tag']}")
            keywords[e["keyword"]] = e["tag"]
        if not e["vm"]:
            raise GenError(f"{e['tag']}: empty VM")
        group = int(e["tag"][:4].replace("x", "0"), 16)
        if group & 1:
            raise GenError(f"{e['tag']}: odd group in the public dictionary")
        for field in ELEMENT_COLUMNS:
            if "\t" in e[field] or "\n" in e[field]:
                raise GenError(f"{e['tag']}: tab or newline in {field}")
    check_repeaters([e for e in entries if "x" in e["tag"]])


def check_repeaters(repeaters):
    """Two patterns that can match the same tag would make the result depend
    on search order, so refuse them."""
    vm = [tag_value_mask(e["tag"]) for e in repeaters]
    for i in range(len(vm)):
        for j in range(i + 1, len(vm)):
            (t1, m1), (t2, m2) = vm[i], vm[j]
            if (t1 & m1 & m2) == (t2 & m1 & m2):
                raise GenError(f"overlapping patterns {repeaters[i]['tag']} {repeaters[j]['tag']}")


def check_uids(uids):
    seen = set()
    for u in uids:
        if not re.fullmatch(r"[0-9]+(\.[0-9]+)*", u["uid"]):
            raise GenError(f"bad UID {u['uid']!r}")
        if u["uid"] in seen:
            raise GenError(f"duplicate UID {u['uid']}")
        seen.add(u["uid"])


# --------------------------------------------------------------------------
# TSV files: one row per entry, a '#' comment naming the source.


def write_tsv(path, columns, rows, source):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(f"# Generated by lib/dict/gen_dict.py from {source}.\n")
        f.write("\t".join(columns) + "\n")
        for row in rows:
            f.write("\t".join(row[c] for c in columns) + "\n")


def read_tsv(path, columns):
    rows = []
    with open(path, encoding="utf-8") as f:
        lines = [ln.rstrip("\n") for ln in f if not ln.startswith("#")]
    if not lines or lines[0].split("\t") != columns:
        raise GenError(f"{path}: header must be {columns}")
    for n, line in enumerate(lines[1:], 2):
        cells = line.split("\t")
        if len(cells) != len(columns):
            raise GenError(f"{path}: row {n} has {len(cells)} cells")
        rows.append(dict(zip(columns, cells)))
    return rows


# --------------------------------------------------------------------------
# C generation.


def c_string(text):
    """C literal; non-ASCII bytes as 3-digit octal so that a following hex
    digit can never be swallowed into the escape."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            out.append(c)
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def c_vrs(vr_text):
    """(vr, vr2): the first two listed VRs, except that for the single
    three-way 'US or SS or OW' the OW is kept, because it is the one that
    changes how the element is encoded (see si_dict_implicit_vr)."""
    if vr_text == "NONE":
        return "SI_VR_NONE", "SI_VR_NONE"
    parts = vr_text.split(" or ")
    second = "OW" if "OW" in parts[1:] else (parts[1] if len(parts) > 1 else None)
    return "SI_VR_" + parts[0], ("SI_VR_" + second) if second else "SI_VR_NONE"


HEADER = """/* Generated by lib/dict/gen_dict.py from lib/dict/{tsv}: do not edit by hand;
 * edit or regenerate the TSV and run the script. */
#include "dict_table.h"
"""


def dict_c(entries):
    entries = sorted(entries, key=lambda e: tag_key(e["tag"]))
    out = [HEADER.format(tsv="elements.tsv"), "// clang-format off",
           "const si_dict_entry si_dict_entries[] = {"]
    for e in entries:
        tag, mask = tag_value_mask(e["tag"])
        vr, vr2 = c_vrs(e["vr"])
        note = f" /* ({e['tag'][:4]},{e['tag'][4:]}) */" if mask != 0xFFFFFFFF else ""
        out.append(f"  {{0x{tag:08X}u, 0x{mask:08X}u, {vr}, {vr2}, {c_string(e['vm'])}, "
                   f"{c_string(e['keyword'])}, {c_string(e['name'])}, {1 if e['retired'] else 0}}},"
                   + note)
    out.append("};")
    out.append("// clang-format on")
    out.append("const size_t si_dict_entry_count = sizeof si_dict_entries / sizeof si_dict_entries[0];")
    out += keyword_index(entries)
    out += repeater_index(entries)
    return "\n".join(out) + "\n"


def index_array(name, indices, per_line=12):
    out = ["", f"const uint16_t {name}[] = {{"]
    for i in range(0, len(indices), per_line):
        out.append("  " + ", ".join(str(x) for x in indices[i:i + per_line]) + ",")
    out.append("};")
    out.append(f"const size_t {name}_count = sizeof {name} / sizeof {name}[0];")
    return out


def keyword_index(entries):
    # Python orders ASCII str exactly as strcmp orders bytes.
    order = sorted((e["keyword"], i) for i, e in enumerate(entries) if e["keyword"])
    if len(entries) > 0xFFFF:
        raise GenError("too many entries for uint16_t indices")
    return ["", "/* Entries with a keyword, in strcmp order of the keyword. */", "// clang-format off"] + \
        index_array("si_dict_keyword_index", [i for _, i in order])[1:] + ["// clang-format on"]


def repeater_index(entries):
    """Repeating-group entries grouped into runs of one mask, each run sorted
    by tag, so a lookup is one binary search per distinct mask (a handful)."""
    reps = [(tag_value_mask(e["tag"]), i) for i, e in enumerate(entries) if "x" in e["tag"]]
    # Most specific mask first; by construction patterns never overlap anyway.
    reps.sort(key=lambda r: (-bin(r[0][1]).count("1"), -r[0][1], r[0][0]))
    out = ["", "/* Repeating-group entries, grouped by mask and sorted by tag within a run. */",
           "// clang-format off"]
    out += index_array("si_dict_repeater_index", [i for _, i in reps])[1:]
    out.append("")
    out.append("const si_dict_run si_dict_repeater_runs[] = {")
    start = 0
    for k in range(1, len(reps) + 1):
        if k == len(reps) or reps[k][0][1] != reps[start][0][1]:
            out.append(f"  {{0x{reps[start][0][1]:08X}u, {start}, {k}}},")
            start = k
    out.append("};")
    out.append("// clang-format on")
    out.append("const size_t si_dict_repeater_runs_count = "
               "sizeof si_dict_repeater_runs / sizeof si_dict_repeater_runs[0];")
    return out


def uid_c(uids):
    # Nameless retired rows carry no information for a display lookup.
    uids = sorted((u for u in uids if u["name"]), key=lambda u: u["uid"])
    out = [HEADER.format(tsv="uids.tsv"), "// clang-format off",
           "const si_uid_entry si_uid_entries[] = {"]
    for u in uids:
        out.append(f"  {{{c_string(u['uid'])}, {c_string(u['keyword'])}, {c_string(u['name'])}}},")
    out.append("};")
    out.append("// clang-format on")
    out.append("const size_t si_uid_entry_count = sizeof si_uid_entries / sizeof si_uid_entries[0];")
    return "\n".join(out) + "\n"


def clang_format(text, path):
    """Formats with the repo's .clang-format; --assume-filename makes the
    style lookup start where the file will live."""
    exe = shutil.which("clang-format")
    if not exe:
        print("warning: clang-format not found; output left as emitted", file=sys.stderr)
        return text
    run = subprocess.run([exe, "--style=file", "--assume-filename=" + path], input=text,
                         capture_output=True, text=True, check=False)
    if run.returncode != 0:
        raise GenError(f"clang-format failed: {run.stderr.strip()}")
    return run.stdout


# --------------------------------------------------------------------------


def generated_files(p):
    entries = read_tsv(p["elements.tsv"], ELEMENT_COLUMNS)
    uids = read_tsv(p["uids.tsv"], UID_COLUMNS)
    check_elements(entries)
    check_uids(uids)
    # Formatted as if it lived in lib/dict, wherever it is written.
    return {
        p["dict_table.c"]: clang_format(dict_c(entries), os.path.join(HERE, "dict_table.c")),
        p["uid_table.c"]: clang_format(uid_c(uids), os.path.join(HERE, "uid_table.c")),
    }, len(entries), len(uids)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--part06", help="PS3.6 DocBook XML (part06.xml)")
    ap.add_argument("--part07", help="PS3.7 DocBook XML (part07.xml), for command fields")
    ap.add_argument("--from-pydicom", action="store_true",
                    help="read PS3.6 elements (unless --part06) and UIDs from pydicom")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the checked-in C files are not what the TSVs generate")
    ap.add_argument("--out-dir", default=HERE,
                    help="where the TSVs and C files are read and written (default: lib/dict)")
    args = ap.parse_args(argv)
    p = paths(args.out_dir)
    if args.part07 and not args.part06:
        ap.error("--part07 needs --part06")
    try:
        if args.part06:
            entries, source = from_part06(args.part06, args.part07)
        elif args.from_pydicom:
            entries, source = from_pydicom()
        else:
            entries = None
        if entries is not None:
            check_elements(entries)
            entries.sort(key=lambda e: tag_key(e["tag"]))
            write_tsv(p["elements.tsv"], ELEMENT_COLUMNS, entries, source)
        if args.from_pydicom:
            uids, source = uids_from_pydicom()
            check_uids(uids)
            uids.sort(key=lambda u: u["uid"])
            write_tsv(p["uids.tsv"], UID_COLUMNS, uids, source)
        files, n_elements, n_uids = generated_files(p)
    except (GenError, OSError, ET.ParseError) as exc:
        print(f"gen_dict.py: {exc}", file=sys.stderr)
        return 2
    stale = []
    for path, text in files.items():
        old = open(path, encoding="utf-8").read() if os.path.exists(path) else None
        if old != text:
            stale.append(os.path.relpath(path))
            if not args.check:
                with open(path, "w", encoding="utf-8", newline="\n") as f:
                    f.write(text)
    print(f"{n_elements} elements, {n_uids} UIDs; "
          f"{'stale' if args.check else 'rewrote'}: {', '.join(stale) or 'nothing'}",
          file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
