#!/usr/bin/env python3
"""Regenerates kmip-spec/*.tsv from the OASIS KMIP HTML documents.

usage: extract.py [SPEC_DIR] [VECTORS_DIR]
       (defaults: /work/shared/kmip/spec and /work/shared/kmip/vectors; output goes to kmip-spec/)

What the spec text cannot settle (a type the documents give as several, a value set named differently from its
tag) is decided by the XML test vectors, and what neither settles by kmip-spec/tools/overrides.tsv.
See kmip-spec/README.md for the rules.
"""
import collections
import glob
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from blocks import Heading, Para, Table, read_blocks  # noqa: E402
from normalize import normalize  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
DOCS = [("1.0", "kmip-spec-1.0-os.html"), ("1.2", "kmip-spec-v1.2-os.html"), ("1.4", "kmip-spec-v1.4-os.html"),
        ("2.0", "kmip-spec-v2.0-os.html"), ("2.1", "kmip-spec-v2.1-os.html")]
ALL_VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4", "2.0", "2.1"]

# Item types: name as the XML encoding writes it, type byte, the phrases the specification uses for it.
ITEM_TYPES = [
    ("Structure", 0x01, ["structure"]),
    ("Integer", 0x02, ["integer"]),
    ("LongInteger", 0x03, ["long integer", "longinteger"]),
    ("BigInteger", 0x04, ["big integer", "biginteger"]),
    ("Enumeration", 0x05, ["enumeration"]),
    ("Boolean", 0x06, ["boolean"]),
    ("TextString", 0x07, ["text string", "textstring"]),
    ("ByteString", 0x08, ["byte string", "bytestring"]),
    ("DateTime", 0x09, ["date-time", "date time", "datetime"]),
    ("Interval", 0x0A, ["interval"]),
    ("DateTimeExtended", 0x0B, ["date-time extended", "date time extended", "datetimeextended"]),
]


def clean_name(text):
    """A table cell's name, without footnote marks, stray quotes and line breaks."""
    text = text.replace("\n", " ")
    text = re.sub(r"[\u2018\u2019\u201c\u201d\"*]", "", text)
    text = text.replace("\u2013", "-").replace("\u2011", "-")
    return re.sub(r"\s+", " ", text).strip()


def item_types_in(cell):
    """The item types a cell of an Encoding/Type column names, in order of appearance."""
    text = cell.lower().replace("\u2011", "-").replace("\u2013", "-")
    found = []
    # Longest phrases first, so "Long Integer" does not also count as "Integer".
    phrases = sorted(((p, name) for name, _, ps in ITEM_TYPES for p in ps), key=lambda x: -len(x[0]))
    spans = []
    for phrase, name in phrases:
        for m in re.finditer(r"\b" + re.escape(phrase) + r"\b", text):
            if any(s <= m.start() < e for s, e in spans):
                continue
            spans.append((m.start(), m.end()))
            found.append((m.start(), name))
    return [n for _, n in sorted(found)]


def is_hex(text):
    return re.fullmatch(r"(0x)?[0-9A-Fa-f]+", text) is not None


def name_value_rows(table):
    """The (name, value) rows after a "Name | Value" (or "Object | Tag Value") header row."""
    rows = []
    started = False
    for row in table.rows:
        cells = [clean_name(c) for c in row]
        if not started:
            if len(cells) >= 2 and cells[0] in ("Name", "Object") and cells[1] in ("Value", "Tag Value"):
                started = True
            continue
        if len(cells) >= 2:
            rows.append((cells[0], cells[1].replace(" ", "")))
    return rows


def section_of(heading_text):
    m = re.match(r"((?:[0-9]+|[A-Z])(?:\.[0-9]+)*)\.?\s+(.*)", heading_text)
    return (m.group(1), m.group(2)) if m else (None, heading_text)


class Doc:
    def __init__(self, version, path):
        self.version = version
        self.blocks = read_blocks(path)
        self.tags = []  # (spec name, number)
        self.enums = collections.OrderedDict()  # name -> (is_mask, [(spec name, value)])
        self.enum_sections = {}  # section number -> enumeration name
        self._read()

    def _read(self):
        heading = None
        section = None
        in_masks = False
        for block in self.blocks:
            if isinstance(block, Heading):
                section, title = section_of(block.text)
                heading = title
                # The "Bit Masks" section (9.1.3.3 in 1.x, 12 in 2.x) lasts until the next top-level section.
                if re.search(r"\bBit Masks?$", title):
                    in_masks = True
                elif block.level <= 2 and not title.endswith("Mask"):
                    in_masks = False
                continue
            if not isinstance(block, Table) or heading is None:
                continue
            rows = name_value_rows(block)
            if not rows:
                continue
            if any(v.upper().lstrip("0X") == "420001" for _, v in rows) and heading.startswith(("Tag", "Tags")):
                for name, value in rows:
                    if is_hex(value) and not name.startswith("(") and name != "Reserved":
                        self.tags.append((name, int(value, 16)))
                if heading == "Tags":
                    continue
            m = re.match(r"(.*?) Enumeration\b", heading)
            if m:
                name, is_mask = m.group(1), False
            elif heading.endswith("Mask") and in_masks:
                name, is_mask = heading, True
            else:
                continue
            values = [(n, int(v, 16)) for n, v in rows
                      if is_hex(v) and not n.startswith("(") and n.lower() not in ("extensions", "reserved")]
            # An enumeration may define no values yet (Opaque Data Type has only extensions): it still exists.
            prior = self.enums.setdefault(name, (is_mask, []))
            prior[1].extend(values)
            if section:
                self.enum_sections[section] = name


def read_vectors(vectors_dir):
    """Element name -> Counter of the item types the test vectors give it."""
    seen = collections.defaultdict(collections.Counter)
    for path in glob.glob(os.path.join(vectors_dir, "**", "*.xml"), recursive=True):
        with open(path, encoding="utf-8") as f:
            for m in re.finditer(r"<([A-Za-z0-9_]+)(?:\s+type=\"([^\"]*)\")?", f.read()):
                seen[m.group(1)][m.group(2) or "Structure"] += 1
    return seen


def read_overrides():
    """kmip-spec/tools/overrides.tsv: (kind, key) -> value, for what the documents leave open."""
    out = {}
    with open(os.path.join(HERE, "overrides.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            kind, key, value = line.rstrip("\n").split("\t")[:3]
            out[(kind, key)] = value
    return out


def version_list(present):
    """The versions of a definition found in the documents `present`, with 1.1 and 1.3 inferred."""
    got = set(present)
    # 1.1 lies between 1.0 and 1.2, 1.3 between 1.2 and 1.4, and their documents are not at hand. A definition in
    # either neighbour is taken to be in the middle version: one in both surely is; one new in the upper neighbour
    # may have come with the middle version (Discover Versions came with 1.1), and one gone from the upper
    # neighbour was at most deprecated there. A server that accepts a little more of 1.1 than 1.1 had loses
    # nothing; one that rejects what 1.1 allowed fails clients.
    if "1.0" in got or "1.2" in got:
        got.add("1.1")
    if "1.2" in got or "1.4" in got:
        got.add("1.3")
    return [v for v in ALL_VERSIONS if v in got]


def main():
    spec_dir = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/kmip/spec"
    vectors_dir = sys.argv[2] if len(sys.argv) > 2 else "/work/shared/kmip/vectors"
    docs = [Doc(v, os.path.join(spec_dir, f)) for v, f in DOCS]
    vectors = read_vectors(vectors_dir)
    overrides = read_overrides()

    # --- Enumerations and masks -------------------------------------------------------------------------------------
    enums = collections.OrderedDict()  # normalized name -> dict
    for doc in docs:
        for spec_name, (is_mask, values) in doc.enums.items():
            key = normalize(spec_name)
            e = enums.setdefault(key, {"spec_name": spec_name, "is_mask": is_mask, "values": collections.OrderedDict(),
                                       "versions": []})
            e["spec_name"] = spec_name
            e["versions"].append(doc.version)
            for vname, value in values:
                vkey = (normalize(vname), value)
                entry = e["values"].setdefault(vkey, {"spec_name": vname, "versions": []})
                entry["spec_name"] = vname
                if doc.version not in entry["versions"]:
                    entry["versions"].append(doc.version)

    # Values defined only by reference to another standard.
    with open(os.path.join(HERE, "supplement.tsv"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            ename, kind, vname, spec_name, value, versions = line.rstrip("\n").split("\t")
            e = enums.setdefault(ename, {"spec_name": spec_name, "is_mask": kind == "mask",
                                         "values": collections.OrderedDict(), "versions": versions.split(",")})
            if vname != "-":
                e["values"][(vname, int(value, 16))] = {"spec_name": spec_name, "versions": versions.split(",")}

    # --- Tags -----------------------------------------------------------------------------------------------------
    tags = {}  # number -> dict
    by_spec_name = {}
    for doc in docs:
        for spec_name, number in doc.tags:
            t = tags.setdefault(number, {"spec_name": spec_name, "versions": [], "names": []})
            t["spec_name"] = spec_name
            if spec_name not in t["names"]:
                t["names"].append(spec_name)
            t["versions"].append(doc.version)
    for number, t in tags.items():
        if len(t["names"]) > 1:
            print(f"renamed tag {number:06X}: {t['names']}", file=sys.stderr)
        for n in t["names"]:
            by_spec_name[n.lower()] = number

    # Item types and value sets from every row that names a tag and an encoding: the object definition tables
    # (Object | Encoding | REQUIRED) and, in 1.x, the Tag Cross-reference appendix (Object | Defined | Type | Notes).
    type_votes = collections.defaultdict(collections.Counter)  # number -> (major, type) -> rows
    appendix = {}  # number -> the types the latest 1.x cross-reference gives
    enum_refs = collections.defaultdict(collections.Counter)
    for doc in docs:
        major = doc.version[0]
        for block in doc.blocks:
            if not isinstance(block, Table):
                continue
            header = [clean_name(c).lower() for c in block.rows[0]] if block.rows else []
            is_appendix = len(header) >= 3 and header[1] == "defined" and header[2] == "type"
            col = 2 if is_appendix else 1
            for row in block.rows:
                if len(row) <= col:
                    continue
                number = by_spec_name.get(clean_name(row[0]).lower())
                if number is None:
                    continue
                cell = row[col]
                found = item_types_in(cell)
                if not found:
                    continue
                if is_appendix:
                    appendix[number] = set(found)
                elif len(set(found)) == 1:
                    type_votes[number][(major, found[0])] += 1
                else:  # a row naming several types: they are candidates, but no vote for any
                    for ty in set(found):
                        type_votes[number][(major, ty)] += 0
                for ref in re.findall(r"see\s+([0-9]+(?:\.[0-9]+)+)", cell):
                    if ref in doc.enum_sections:
                        enum_refs[number][normalize(doc.enum_sections[ref])] += 1
                m = re.search(r"Enumeration\s*\(([^)]+)\)", cell)
                if m and normalize(m.group(1)) in enums:
                    enum_refs[number][normalize(m.group(1))] += 1

    unresolved = []
    tag_rows = []
    for number in sorted(tags):
        t = tags[number]
        name = normalize(t["spec_name"])
        key = str_tag(number)
        vec = vectors.get(name, collections.Counter())
        in_v2 = any(v.startswith("2") for v in t["versions"])

        def decide(major):
            """The one type the documents of `major` give, by the rows that name a single type."""
            clear = {ty: n for (m, ty), n in type_votes[number].items() if m == major and n > 0}
            named = {ty for (m, ty) in type_votes[number] if m == major}
            if major == "1" and number in appendix:
                named |= appendix[number]
            if len(clear) == 1:  # the definitions win over the (non-normative) cross-reference appendix
                return next(iter(clear)), named
            if major == "1" and len(appendix.get(number, ())) == 1:
                return next(iter(appendix[number])), named
            if len(clear) > 1:  # stray rows: take the type most rows give, if it clearly dominates
                (top, n1), (_, n2) = collections.Counter(clear).most_common(2)
                if n1 >= 3 * n2:
                    return top, named
            return None, named

        v1, named1 = decide("1")
        v2, named2 = decide("2")
        # The type of the latest major version that gives one.
        item_type = v2 if in_v2 and v2 is not None else v1
        named = named2 if in_v2 and v2 is not None else named1
        if ("type", name) in overrides:
            item_type = overrides[("type", name)]
        elif item_type is None and len(vec) == 1 and (not named or next(iter(vec)) in named):
            item_type = next(iter(vec))  # the documents give several types; the test vectors use one
        elif item_type is None:
            unresolved.append((key, name, dict(type_votes[number]), appendix.get(number), dict(vec)))
            item_type = "-"
        item_type_1x = "="
        if in_v2 and v1 is not None and v1 != item_type and item_type != "-" and ("type1", name) not in overrides:
            item_type_1x = v1
        if ("type1", name) in overrides:
            item_type_1x = overrides[("type1", name)]
        values = ""
        if ("values", name) in overrides:
            values = overrides[("values", name)]
        elif enum_refs[number]:
            values = enum_refs[number].most_common(1)[0][0]
        elif name in enums and ("Enumeration" in named1 | named2 | {item_type} or enums[name]["is_mask"]):
            values = name
        if values == "-":
            values = ""
        if values and values not in enums:
            sys.exit(f"tag {name}: value set {values} is not an enumeration")
        tag_rows.append((key, name, t["spec_name"], ",".join(version_list(t["versions"])), item_type,
                         values or "-", item_type_1x))

    with open(os.path.join(OUT, "tags.tsv"), "w", encoding="utf-8") as f:
        f.write("# tag\tname\tspec_name\tversions\titem_type\tvalues\titem_type_1x\n")
        f.write("# Generated by tools/extract.py; '-' = none. item_type '-' = the type varies with use;\n")
        f.write("# item_type_1x: the type in KMIP 1.x where it differs from item_type ('=' = the same).\n")
        for row in tag_rows:
            f.write("\t".join(row) + "\n")

    with open(os.path.join(OUT, "enumerations.tsv"), "w", encoding="utf-8") as f:
        f.write("# enumeration\tkind\tname\tspec_name\tvalue\tversions\n")
        f.write("# Generated by tools/extract.py. kind: enum, or mask (an Integer whose bits are named).\n")
        f.write("# Each enumeration opens with its own row (name and value '-': spec_name is the enumeration's).\n")
        for ename, e in enums.items():
            kind = "mask" if e["is_mask"] else "enum"
            # One row for the enumeration itself (name '-', value '-'), then one per value.
            f.write(f"{ename}\t{kind}\t-\t{e['spec_name']}\t-\t{','.join(version_list(e['versions']))}\n")
            for (vname, value), v in e["values"].items():
                f.write(f"{ename}\t{kind}\t{vname}\t{v['spec_name']}\t0x{value:08X}\t"
                        f"{','.join(version_list(v['versions']))}\n")

    with open(os.path.join(OUT, "item-types.tsv"), "w", encoding="utf-8") as f:
        f.write("# name\tbyte\tspec_name\n")
        for name, byte, phrases in ITEM_TYPES:
            spec = {"DateTime": "Date-Time", "DateTimeExtended": "Date-Time Extended"}.get(
                name, re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name))
            f.write(f"{name}\t0x{byte:02X}\t{spec}\n")

    print(f"{len(tag_rows)} tags, {len(enums)} enumerations, "
          f"{sum(len(e['values']) for e in enums.values())} values", file=sys.stderr)
    for u in unresolved:
        print("unresolved item type:", *u, file=sys.stderr)


def str_tag(number):
    return f"0x{number:06X}"


if __name__ == "__main__":
    main()
