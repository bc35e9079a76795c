#!/usr/bin/python3
"""Compare DICOM files as independent readers see them (pydicom 2.3 and DCMTK's dcmdump).

Used by tests/integration/test_modify.sh to check what `sendit modify` writes without trusting sendit's
own reader. One process runs a whole batch of comparisons (pydicom's import and each file's parse are
paid once):

    dicom_compare.py batch JOBS.jsonl      # one JSON object per line, see run_job(); prints one line per job
    dicom_compare.py pair A B [--ignore-ts] [--no-length-form] [--by-creator] [--dcmdump]
    dicom_compare.py selftest              # proves that each kind of difference is detected
    dicom_compare.py classify FILE...      # per file: transfer syntax short name, whether both readers read it

A job line: {"id": "...", "a": PATH, "b": PATH, "expect": "same"|"differ", "ignore_ts": bool,
"length_form": bool, "by_creator": bool, "dcmdump": bool, "pydicom": bool}. Output per job:
"PASS id" or "FAIL id: first differences"; with expect "differ", PASS means a difference was found.
Exit status: 0 when every job passed, 1 otherwise, 2 on a usage error.

What "the same data set" means here (the issue's Proof section):
- every element of both data sets, recursively through sequence items, by tag; group lengths (gggg,0000)
  are ignored (a writer may drop or recompute them);
- values as pydicom decodes them: text decoded with Specific Character Set, numbers as numbers in host
  order, DS/IS by their original strings (a writer that reformats "1.50" as "1.5" is caught); bulk
  OW/OF/OL/OD/OV bytes normalised to little endian so a big endian copy compares with a little endian one;
  encapsulated pixel data compared byte for byte (offset table, item headers and fragments);
- VRs when both files are explicit VR; pydicom's ambiguous VRs ("US or SS", "OB or OW") are resolved
  with pydicom's own rules first; an element that is UN on one side only (an unknown private tag going
  from implicit to explicit VR) must have the same value bytes;
- with length_form: each sequence's and item's defined/undefined length form (kept unless asked);
- file meta: every element but the group length and the implementation fields (0002,0012)/(0002,0013);
  TransferSyntaxUID unless ignore_ts; MediaStorageSOPClassUID/InstanceUID of b must equal the data set's
  SOPClassUID/SOPInstanceUID (the writer regenerates them from the data set); a meta-less input (a bare
  data set) has only its data set compared;
- with by_creator: private elements are matched by (group, creator, low byte) instead of by tag, since
  the block a writer reserves for a new creator is its own choice.
The dcmdump comparison runs `dcmdump -q +L -M +uc -Un` on both and compares the normalised text (no
header comments, no group lengths, no meta implementation or SOP lines, item/sequence byte lengths
dropped when ignore_ts, since they change with the encoding).
"""
import json
import re
import subprocess
import sys
import warnings

import pydicom
from pydicom.dataset import Dataset
from pydicom.filewriter import correct_ambiguous_vr_element
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

warnings.simplefilter("ignore")  # pydicom warns about invalid values in the samples; values are compared anyway

MAX_DIFFS = 5
WORD_SIZE = {"OW": 2, "US": 2, "SS": 2, "AT": 2, "OF": 4, "OL": 4, "UL": 4, "SL": 4, "FL": 4,
             "OD": 8, "OV": 8, "FD": 8, "SV": 8, "UV": 8}
META_IGNORED = {0x00020000, 0x00020012, 0x00020013}
META_FROM_DATASET = {0x00020002: 0x00080016, 0x00020003: 0x00080018}


def load(path, cache=None):
    if cache is not None and path in cache:
        return cache[path]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, force=True)
    if cache is not None:
        cache[path] = ds
    return ds


def swap_words(raw, size):
    if size <= 1 or len(raw) % size:
        return raw
    out = bytearray(len(raw))
    for i in range(size):
        out[i::size] = raw[size - 1 - i::size]
    return bytes(out)


class Differ:
    """Collects differences between two data sets; stops collecting after MAX_DIFFS."""

    def __init__(self, opts):
        self.opts = opts
        self.diffs = []
        self.notes = 0

    def add(self, where, what):
        if len(self.diffs) < MAX_DIFFS:
            self.diffs.append(f"{where}: {what}")

    # ---- element keys ------------------------------------------------------------
    def keys(self, ds):
        """Map key -> tag for every element but group lengths."""
        out = {}
        for tag in ds.keys():
            if tag.element == 0:
                continue
            key = int(tag)
            if self.opts.get("by_creator") and tag.is_private:
                key = self.private_key(ds, tag)
            out[key] = tag
        return out

    @staticmethod
    def private_key(ds, tag):
        if 0x0010 <= tag.element <= 0x00FF:
            return (tag.group, "creator", str(ds[tag].value).strip())
        creator_tag = (tag.group << 16) | (tag.element >> 8)
        creator = ds.get(creator_tag)
        name = str(creator.value).strip() if creator is not None else "?"
        return (tag.group, name, tag.element & 0xFF)

    # ---- values -------------------------------------------------------------------
    @staticmethod
    def element(ds, tag):
        elem = ds[tag]
        if " or " in elem.VR:
            try:
                elem = correct_ambiguous_vr_element(elem, ds, ds.is_little_endian)
            except Exception:  # pylint: disable=broad-except
                pass
        return elem

    @staticmethod
    def capture_raw(ds):
        """Keep every element's bytes as read, before pydicom converts it in place (a data set is
        compared several times, and an element of one side that is UN on the other is compared by its
        bytes)."""
        raw = ds.__dict__.get("_proof_raw")
        if raw is None:
            raw = {}
            for tag in ds.keys():
                value = getattr(ds.get_item(tag), "value", None)
                if value is None or (isinstance(value, (str, list)) and not value):
                    value = b""  # empty, already converted by pydicom
                if isinstance(value, (bytes, bytearray)):
                    raw[tag] = bytes(value)
            ds.__dict__["_proof_raw"] = raw
        return raw

    def raw_bytes(self, ds, tag):
        return self.capture_raw(ds).get(tag)

    def norm_scalar(self, v, vr, little):
        if isinstance(v, (bytes, bytearray)):
            size = WORD_SIZE.get(vr, 1)
            return ("bytes", v if little else swap_words(bytes(v), size))
        if vr in ("DS", "IS") and getattr(v, "original_string", None) is not None:
            return ("text", str(v.original_string).strip())
        if isinstance(v, float):
            return ("nan",) if v != v else ("num", v)
        if isinstance(v, int):
            return ("num", v)
        if v is None:
            return ("empty",)
        return ("text", str(v))

    def norm_value(self, elem, little):
        v = elem.value
        if isinstance(v, (MultiValue, list, tuple)):
            items = [self.norm_scalar(x, elem.VR, little) for x in v]
            return items if items else [("empty",)]
        n = self.norm_scalar(v, elem.VR, little)
        if n == ("text", ""):
            n = ("empty",)
        return [n]

    # ---- recursion ----------------------------------------------------------------
    def compare_datasets(self, a, b, where, a_little, b_little, a_explicit, b_explicit):
        self.capture_raw(a)
        self.capture_raw(b)
        ka, kb = self.keys(a), self.keys(b)
        for key in sorted(set(ka) | set(kb), key=str):
            if len(self.diffs) >= MAX_DIFFS:
                return
            label = f"{where}{self.label(key)}"
            if key not in kb:
                self.add(label, "only in the first file")
                continue
            if key not in ka:
                self.add(label, "only in the second file")
                continue
            self.compare_element(a, ka[key], b, kb[key], label, a_little, b_little, a_explicit, b_explicit)

    @staticmethod
    def label(key):
        if isinstance(key, tuple):
            return f"({key[0]:04X},{key[1]!r},{key[2]})" if key[1] != "creator" else f"({key[0]:04X},creator {key[2]!r})"
        return f"({key >> 16:04X},{key & 0xFFFF:04X})"

    def compare_element(self, a, ta, b, tb, label, a_little, b_little, a_explicit, b_explicit):
        try:
            ea, eb = self.element(a, ta), self.element(b, tb)
        except Exception as exc:  # pylint: disable=broad-except
            # pydicom cannot decode the value (e.g. IS "1A"): compare the bytes it read.
            ra, rb = self.raw_bytes(a, ta), self.raw_bytes(b, tb)
            if ra is None or rb is None or ra != rb or a_little != b_little:
                self.add(label, f"undecodable ({exc}) and raw bytes differ")
            return
        if ea.VR == "SQ" or eb.VR == "SQ":
            self.compare_sequences(ea, eb, label, a_little, b_little, a_explicit, b_explicit)
            return
        if ea.VR != eb.VR and "UN" in (ea.VR, eb.VR):
            self.compare_un(a, ta, ea, b, tb, eb, label, a_little, b_little)
            return
        if ea.VR != eb.VR and a_explicit and b_explicit:
            self.add(label, f"VR {ea.VR} != {eb.VR}")
            return
        va, vb = self.norm_value(ea, a_little), self.norm_value(eb, b_little)
        if va != vb:
            self.add(label, f"{ea.VR} value {self.show(va)} != {self.show(vb)}")

    def compare_un(self, a, ta, ea, b, tb, eb, label, a_little, b_little):
        """One side UN (unknown to the writer or reader), the other typed: same value bytes."""
        ra, rb = self.raw_bytes(a, ta), self.raw_bytes(b, tb)
        if ra is None or rb is None:
            self.add(label, f"VR {ea.VR} != {eb.VR} and no raw bytes to compare")
            return
        # Bring the typed side's bytes to the UN side's byte order (UN bytes are never swapped).
        if a_little != b_little:
            typed_vr = eb.VR if ea.VR == "UN" else ea.VR
            size = WORD_SIZE.get(typed_vr, 1)
            if ea.VR == "UN":
                rb = swap_words(rb, size)
            else:
                ra = swap_words(ra, size)
        if ra.rstrip(b" \0") != rb.rstrip(b" \0"):
            self.add(label, f"VR {ea.VR} != {eb.VR} and bytes differ")
        else:
            self.notes += 1

    def compare_sequences(self, ea, eb, label, a_little, b_little, a_explicit, b_explicit):
        if ea.VR != eb.VR:
            self.add(label, f"VR {ea.VR} != {eb.VR}")
            return
        sa, sb = ea.value or Sequence(), eb.value or Sequence()  # an empty SQ may read as None
        if not isinstance(sa, Sequence) or not isinstance(sb, Sequence):
            self.add(label, "not a sequence on both sides")
            return
        if len(sa) != len(sb):
            self.add(label, f"{len(sa)} items != {len(sb)}")
            return
        if self.opts.get("length_form", True):
            if bool(ea.is_undefined_length) != bool(eb.is_undefined_length):
                self.add(label, f"sequence length form undefined={ea.is_undefined_length} != {eb.is_undefined_length}")
        for i, (ia, ib) in enumerate(zip(sa, sb)):
            where = f"{label}[{i}]."
            if self.opts.get("length_form", True):
                ua = bool(getattr(ia, "is_undefined_length_sequence_item", False))
                ub = bool(getattr(ib, "is_undefined_length_sequence_item", False))
                if ua != ub:
                    self.add(where, f"item length form undefined={ua} != {ub}")
            self.compare_datasets(ia, ib, where, a_little, b_little, a_explicit, b_explicit)

    @staticmethod
    def show(v):
        text = repr(v)
        return text if len(text) <= 80 else text[:77] + "..."

    # ---- file meta ----------------------------------------------------------------
    def compare_meta(self, a, b):
        ma = getattr(a, "file_meta", None) or Dataset()
        mb = getattr(b, "file_meta", None) or Dataset()
        if len(ma) == 0:
            return  # a bare data set: the writer made the whole meta
        ignored = set(META_IGNORED)
        if self.opts.get("ignore_ts"):
            ignored.add(0x00020010)
        for tag in sorted(set(ma.keys()) | set(mb.keys())):
            if int(tag) in ignored or int(tag) in META_FROM_DATASET:
                continue
            label = f"meta({tag.group:04X},{tag.element:04X})"
            if tag not in mb:
                self.add(label, "only in the first file")
            elif tag not in ma:
                self.add(label, "only in the second file")
            elif self.norm_value(ma[tag], True) != self.norm_value(mb[tag], True):
                self.add(label, f"{self.show(ma[tag].value)} != {self.show(mb[tag].value)}")

    def compare_meta_sop(self, b):
        mb = getattr(b, "file_meta", None) or Dataset()
        for meta_tag, ds_tag in META_FROM_DATASET.items():
            if ds_tag not in b:
                continue
            want = str(b[ds_tag].value).rstrip("\0 ")
            got = str(mb[meta_tag].value).rstrip("\0 ") if meta_tag in mb else None
            if got != want:
                self.add(f"meta({meta_tag >> 16:04X},{meta_tag & 0xFFFF:04X})",
                         f"{got!r} is not the data set's {want!r}")


def compare_pydicom(path_a, path_b, opts, cache=None):
    a, b = load(path_a, cache), load(path_b, None)
    d = Differ(opts)
    d.compare_meta(a, b)
    if opts.get("check_meta_sop", True):
        d.compare_meta_sop(b)
    d.compare_datasets(a, b, "", a.is_little_endian, b.is_little_endian,
                       not a.is_implicit_VR, not b.is_implicit_VR)
    return d.diffs


# ---- dcmdump ------------------------------------------------------------------------
DUMP_LINE = re.compile(r"^(\s*)\(([0-9a-f]{4}),([0-9a-f]{4})\) (\S\S) (.*?)(\s+#\s*(\S+), (\S+) (.*))?$")
DUMP_DROPPED = {("0002", "0012"), ("0002", "0013"), ("0002", "0002"), ("0002", "0003")}


DUMP_ARGS = ["dcmdump", "-q", "+L", "-M", "+uc", "-Un"]
DUMP_CACHE = {}  # path -> dcmdump's text for it (filled per batch by prefetch_dumps)


def prefetch_dumps(paths, chunk=64):
    """Dump many files per dcmdump process (its start-up is most of its cost on small files).

    A file dcmdump cannot read leaves an empty section; it is not cached, so dcmdump_lines runs
    dcmdump on it alone and reports the error."""
    paths = sorted(set(paths))
    for i in range(0, len(paths), chunk):
        part = paths[i:i + chunk]
        proc = subprocess.run(DUMP_ARGS + ["+F"] + part, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, check=False)
        text = proc.stdout.decode("latin-1")
        sections = re.split(r"^# dcmdump \((\d+)/\d+\): .*$", text, flags=re.M)
        # sections: [before, "1", body1, "2", body2, ...]
        for k in range(1, len(sections) - 1, 2):
            body = sections[k + 1]
            if "# Dicom-Data-Set" in body:
                DUMP_CACHE[part[int(sections[k]) - 1]] = body


def dcmdump_lines(path, opts):
    text = DUMP_CACHE.get(path)
    if text is None:
        args = [a for a in DUMP_ARGS if a != "-q"]  # alone: keep its error message
        proc = subprocess.run(args + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        if proc.returncode != 0 or b"# Dicom-Data-Set" not in proc.stdout:
            return None, f"dcmdump exit {proc.returncode}: {proc.stderr.decode(errors='replace').strip()[:200]}"
        text = proc.stdout.decode("latin-1")
    out = []
    has_meta = False
    for line in text.splitlines():
        m = DUMP_LINE.match(line)
        if not m:
            continue  # header comments and blank lines
        indent, group, elem, vr, value, _, length, vm, name = m.groups()
        if elem == "0000" or (group, elem) in DUMP_DROPPED:
            continue
        if group == "0002":
            has_meta = True
            if opts.get("ignore_ts") and elem == "0010":
                continue
        if vr in ("na", "SQ") or group == "fffe":
            # Sequence and item lines: the count of items stays, the byte length depends on encoding.
            if opts.get("ignore_ts") or not opts.get("length_form", True):
                length = "-"
            if not opts.get("length_form", True):
                value = re.sub(r"(explicit|undefined) length ", "", value)
        out.append(f"{indent}({group},{elem}) {vr} {value} # {length}, {vm} {name}")
    return (out, has_meta), None


def compare_dcmdump(path_a, path_b, opts):
    ra, err_a = dcmdump_lines(path_a, opts)
    if err_a:
        return [f"dcmdump of the first file: {err_a}"]
    rb, err_b = dcmdump_lines(path_b, opts)
    if err_b:
        return [f"dcmdump of the second file: {err_b}"]
    (la, meta_a), (lb, _) = ra, rb
    if not meta_a:  # bare data set: the writer made the meta
        lb = [l for l in lb if not l.lstrip().startswith("(0002,")]
    if opts.get("by_creator"):
        la, lb = sorted(la), sorted(lb)
    if la == lb:
        return []
    diffs = []
    for i in range(max(len(la), len(lb))):
        x = la[i] if i < len(la) else "<end>"
        y = lb[i] if i < len(lb) else "<end>"
        if x != y:
            diffs.append(f"dcmdump line {i + 1}: {x.strip()!r} != {y.strip()!r}")
            if len(diffs) >= 3:
                break
    return diffs


def run_job(job, cache):
    diffs = []
    try:
        if job.get("pydicom", True):
            diffs += compare_pydicom(job["a"], job["b"], job, cache)
        if job.get("dcmdump", False):
            diffs += ["dcmdump: " + d for d in compare_dcmdump(job["a"], job["b"], job)]
    except Exception as exc:  # pylint: disable=broad-except
        diffs.append(f"cannot compare: {type(exc).__name__}: {exc}")
    if job.get("expect", "same") == "differ":
        return (True, "difference found: " + diffs[0]) if diffs else (False, "no difference found")
    return (not diffs, "; ".join(diffs))


def batch(path):
    cache = {}
    all_ok = True
    with open(path, encoding="utf-8") as f:
        jobs = [json.loads(line) for line in f if line.strip()]
    prefetch_dumps([j[k] for j in jobs if j.get("dcmdump") for k in ("a", "b")])
    for job in jobs:
        ok, why = run_job(job, cache)
        all_ok &= ok
        if ok:
            print(f"PASS {job['id']}" + (f" ({why})" if job.get("expect") == "differ" else ""))
        else:
            print(f"FAIL {job['id']}: {why}")
        sys.stdout.flush()
    return 0 if all_ok else 1


def selftest():
    """Write a small data set, change one thing at a time, check each change is reported."""
    import os
    import tempfile
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    def base():
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
        ds.file_meta.MediaStorageSOPInstanceUID = "2.25.7"
        ds.is_little_endian, ds.is_implicit_VR = True, False
        ds.SOPClassUID, ds.SOPInstanceUID = "1.2.840.10008.5.1.4.1.1.7", "2.25.7"
        ds.PatientName = "Doe^John"
        ds.SliceThickness = "1.50"
        item = Dataset()
        item.ReferencedSOPInstanceUID = "2.25.8"
        ds.ReferencedImageSequence = Sequence([item])
        ds.add_new(0x00090010, "LO", "SELFTEST")
        ds.add_new(0x00091001, "LO", "private")
        ds.Rows, ds.Columns, ds.BitsAllocated = 2, 2, 16
        ds.PixelData = bytes(range(8))
        return ds

    def mutate_pixel(ds):
        ds.PixelData = bytes(range(7)) + b"\x99"

    mutations = {
        "top-level value": lambda ds: setattr(ds, "PatientName", "Doe^Jane"),
        "DS string": lambda ds: setattr(ds, "SliceThickness", "1.5"),
        "nested value": lambda ds: setattr(ds.ReferencedImageSequence[0], "ReferencedSOPInstanceUID", "2.25.9"),
        "private value": lambda ds: setattr(ds[0x00091001], "value", "changed"),
        "pixel byte": mutate_pixel,
        "removed element": lambda ds: delattr(ds, "Rows"),
        "added element": lambda ds: setattr(ds, "StationName", "X"),
        "extra item": lambda ds: ds.ReferencedImageSequence.append(Dataset()),
        "VR": lambda ds: ds.__setitem__(0x00091001, pydicom.DataElement(0x00091001, "SH", "private")),
        "meta SOP": None,  # pydicom's writer regenerates it: patched in the bytes below
    }
    tmp = tempfile.mkdtemp()
    ref = os.path.join(tmp, "ref.dcm")
    base().save_as(ref, write_like_original=False)
    failures = 0
    same = compare_pydicom(ref, ref, {}) + compare_dcmdump(ref, ref, {})
    print(("ok" if not same else "FAIL") + f" - a file equals itself {same}")
    failures += bool(same)
    # Across syntaxes: the same data set in implicit VR (private values become UN) and big endian compares
    # equal with ignore_ts, and a changed private value is still caught through the UN bytes.
    from pydicom.uid import ExplicitVRBigEndian, ImplicitVRLittleEndian

    def encoded(ts, implicit, little, private_value):
        ds = base()
        ds.file_meta.TransferSyntaxUID = ts
        ds.is_implicit_VR, ds.is_little_endian = implicit, little
        ds[0x00091001].value = private_value
        if not little:  # pydicom writes OW bytes as given: give them in big endian order
            ds.PixelData = swap_words(ds.PixelData, 2)
        path = os.path.join(tmp, "enc.dcm")
        ds.save_as(path, write_like_original=False)
        return path

    for label, ts, implicit, little in (("implicit VR", ImplicitVRLittleEndian, True, True),
                                        ("big endian", ExplicitVRBigEndian, False, False)):
        same = compare_pydicom(ref, encoded(ts, implicit, little, "private"), {"ignore_ts": True})
        print(("ok" if not same else "FAIL") + f" - the same data set in {label} compares equal {same[:1]}")
        failures += bool(same)
        found = compare_pydicom(ref, encoded(ts, implicit, little, "privatX"), {"ignore_ts": True})
        found = [d for d in found if d.startswith("(0009,1001)")]
        print(("ok" if found else "FAIL") + f" - a changed private value in {label} is detected: {found[:1]}")
        failures += not found
    for name, change in mutations.items():
        ds = base()
        path = os.path.join(tmp, "mut.dcm")
        if change is None:
            with open(ref, "rb") as f:
                data = f.read()
            with open(path, "wb") as f:  # the first 2.25.7 is the meta's instance UID
                f.write(data.replace(b"2.25.7", b"2.25.6", 1))
        else:
            change(ds)
            ds.save_as(path, write_like_original=False)
        found = compare_pydicom(ref, path, {})
        print(("ok" if found else "FAIL") + f" - pydicom comparison detects a changed {name}: {found[:1]}")
        failures += not found
        if name not in ("meta SOP", "DS string"):
            dfound = compare_dcmdump(ref, path, {})
            print(("ok" if dfound else "FAIL") + f" - dcmdump comparison detects a changed {name}: {dfound[:1]}")
            failures += not dfound
    for name in os.listdir(tmp):
        os.unlink(os.path.join(tmp, name))
    os.rmdir(tmp)
    return 1 if failures else 0


TS_SHORT = {"1.2.840.10008.1.2": "implicit", "1.2.840.10008.1.2.1": "explicit",
            "1.2.840.10008.1.2.2": "big", "1.2.840.10008.1.2.1.99": "deflated"}


def classify(paths):
    """Per file: name, its transfer syntax's short name (or "encapsulated"), and whether both readers
    read it ("yes", or "no: why"). pydicom must decode every element; dcmdump must exit 0."""
    prefetch_dumps(paths)
    for path in paths:
        verdict = "yes"
        short = "?"
        try:
            ds = load(path)
            ts = str(getattr(ds, "file_meta", Dataset()).get("TransferSyntaxUID", "") or "")
            if ts and ts in TS_SHORT:
                short = TS_SHORT[ts]
            elif ts:
                short = "encapsulated"
            else:  # a bare data set (or a meta without the UID): what pydicom found
                short = "implicit" if ds.is_implicit_VR else ("explicit" if ds.is_little_endian else "big")
            for _ in ds.iterall():
                pass
        except Exception as exc:  # pylint: disable=broad-except
            verdict = f"no: pydicom: {type(exc).__name__}: {str(exc)[:100]}"
        if verdict == "yes":
            _, err = dcmdump_lines(path, {})
            if err:
                verdict = f"no: {err[:120]}"
        print(f"{path}\t{short}\t{' '.join(verdict.split())}")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[1] == "batch" and len(argv) == 3:
        return batch(argv[2])
    if len(argv) >= 3 and argv[1] == "classify":
        return classify(argv[2:])
    if len(argv) >= 2 and argv[1] == "selftest":
        return selftest()
    if len(argv) >= 4 and argv[1] == "pair":
        flags = set(argv[4:])
        job = {"id": "pair", "a": argv[2], "b": argv[3], "ignore_ts": "--ignore-ts" in flags,
               "length_form": "--no-length-form" not in flags, "by_creator": "--by-creator" in flags,
               "dcmdump": "--dcmdump" in flags}
        ok, why = run_job(job, {})
        print("same" if ok else f"different: {why}")
        return 0 if ok else 1
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
