#!/usr/bin/env python3
"""Extracts the attribute rules tables of KMIP 1.0-2.1 into kmip-spec/attributes.tsv.

Reads the plain-text renderings of the specifications (one table cell per line) and, for every table that holds
the rows "SHALL always have a value" .. "Applies to Object Types", takes the attribute from the section heading
above it. The newest document describing an attribute supplies its rules; the tag table (tags.tsv) supplies tag
numbers and per-version presence.

usage: attributes.py SPEC_TEXT_DIR   (writes kmip-spec/attributes.tsv next to this tool's folder)
"""
import os
import re
import sys

DOCS = [  # (file, versions the document stands for)
    ("kmip-spec-1.0-os.txt", ["1.0"]),
    ("kmip-spec-v1.2-os.txt", ["1.1", "1.2"]),
    ("kmip-spec-v1.4-os.txt", ["1.3", "1.4"]),
    ("kmip-spec-v2.0-os.txt", ["2.0"]),
    ("kmip-spec-v2.1-os.txt", ["2.1"]),
]
KEYS = [
    "SHALL always have a value",
    "Initially set by",
    "Modifiable by server",
    "Modifiable by client",
    "Deletable by client",
    "Multiple instances permitted",
    "When implicitly set",
    "Applies to Object Types",
]
LOWER_KEYS = {k.lower(): k for k in KEYS}
HEADING = re.compile(r"^(\d+(?:\.\d+)+)\s+(.+?)\s*$")
TABLE = re.compile(r"^Table \d+:")
# Object type words as the rules tables print them, to Object Type enumeration names.
OBJECT_WORDS = [
    ("asymmetric keys", "PublicKey PrivateKey"),
    ("split keys of symmetric keys", "SplitKey"),
    ("certificate request", "CertificateRequest"),
    ("certificate", "Certificate"),
    ("symmetric key", "SymmetricKey"),
    ("public key", "PublicKey"),
    ("private key", "PrivateKey"),
    ("split key", "SplitKey"),
    ("template", "Template"),
    ("secret data", "SecretData"),
    ("opaque", "OpaqueObject"),
    ("pgp key", "PGPKey"),
]
ALL_1X = ["Certificate", "SymmetricKey", "PublicKey", "PrivateKey", "SplitKey", "Template", "SecretData",
          "OpaqueObject", "PGPKey"]
ALL_2X = ["Certificate", "SymmetricKey", "PublicKey", "PrivateKey", "SplitKey", "SecretData", "OpaqueObject",
          "PGPKey", "CertificateRequest"]
# "Managed Cryptographic Objects" (1.4 section 2.2, 2.1 section 2.2): keys, certificates and secret data.
CRYPTO = ["Certificate", "SymmetricKey", "PublicKey", "PrivateKey", "SplitKey", "SecretData", "PGPKey",
          "CertificateRequest"]

# Headings whose attribute the tag table names otherwise.
HEADING_ALIASES = {
    "Custom Attribute": None,  # 1.x x-/y- attributes: no tag of their own
    "Vendor Attribute": None,  # 2.x: the Vendor Attribute structure, not one attribute
}


def rules_tables(path):
    """Yields ((section, title), rules, cells): cells are the lines between the heading and the rules table, where
    a group section (2.x "Certificate Attributes") lists the attributes the one rules table covers."""
    lines = [l.rstrip("\n").strip() for l in open(path, encoding="utf-8")]
    heading = None
    cells = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = HEADING.match(line)
        if m and not line.endswith(".") and len(m.group(2)) < 80:
            heading = (m.group(1), m.group(2))
            cells = []
        else:
            cells.append(line)
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if line.lower() == KEYS[0].lower() and nxt.startswith(("Yes", "No")):
            row = {}
            key = None
            j = i
            while j < len(lines) and not TABLE.match(lines[j]) and not HEADING.match(lines[j]):
                if lines[j].lower() in LOWER_KEYS:
                    key = LOWER_KEYS[lines[j].lower()]
                    row[key] = []
                elif key:
                    row[key].append(lines[j])
                j += 1
            if "Applies to Object Types" in row and heading:
                yield heading, {k: " ".join(v) for k, v in row.items()}, cells
            i = j
            continue
        i += 1


def yes(text):
    return "yes" if text.lower().startswith("yes") else "no"


def applies(text, major):
    t = text.lower()
    if "all objects" in t:
        return ALL_2X if major == 2 else ALL_1X
    found = []
    if "all cryptographic objects" in t or "managed cryptographic objects" in t:
        found += CRYPTO if major == 2 else [o for o in CRYPTO if o in ALL_1X]
    rest = t.replace("all cryptographic objects", "").replace("managed cryptographic objects", "")
    for word, name in OBJECT_WORDS:
        if word in rest:
            found += name.split()
            rest = rest.replace(word, "")
    if re.search(r"\bkeys\b", rest):  # "Keys, Certificates, Templates": every kind of key
        found += ["SymmetricKey", "PublicKey", "PrivateKey", "SplitKey", "PGPKey"]
    out = []
    for name in (ALL_2X if major == 2 else ALL_1X):
        if name in found:
            out.append(name)
    return out


def load_tags(path):
    tags = {}
    for line in open(path, encoding="utf-8"):
        if line.startswith("#"):
            continue
        f = line.rstrip("\n").split("\t")
        tags[f[2]] = f
        tags[f[1]] = f
    return tags


def main():
    spec_dir = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    tags = load_tags(os.path.join(root, "tags.tsv"))
    attrs = {}  # name -> dict
    for doc, versions in DOCS:
        major = int(versions[0][0])
        for (section, title), row, cells in rules_tables(os.path.join(spec_dir, doc)):
            name = re.sub(r"\s+", " ", title)
            if name in HEADING_ALIASES:
                keys = [(name, name)]
            elif name in tags:
                keys = [(tags[name][1], name)]
            else:
                # A group of attributes under one rules table: every tag its item table names.
                keys = [(tags[c][1], c) for c in cells if c in tags and tags[c][2] == c]
                if not keys:
                    print(f"{doc} {section}: no tag named {name!r}; skipped", file=sys.stderr)
                    continue
            for key, name in keys:
                record(attrs, key, name, doc, versions, section, major, row)
    write(attrs, root, tags)


def record(attrs, key, name, doc, versions, section, major, row):
    """Notes one document's rules for one attribute; later (newer) documents override earlier ones."""
    a = attrs.setdefault(key, {"docs": [], "spec_name_1x": "-"})
    a["docs"].append((doc, versions, section))
    a["row"] = row
    if major == 1:
        a["row_1x"] = row
        a["spec_name_1x"] = name
    a["major"] = major
    a["section"] = f"{versions[-1]}:{section}"


def write(attrs, root, tags):
    out = [
        "# name\ttag\tspec_name_1x\tversions\tmulti\tinitially_set_by\tmodifiable_by_server\t"
        "modifiable_by_client\tdeletable_by_client\talways_has_value\tapplies_to\tsource\t"
        "applies_to_1x\tinitially_set_by_text\tmodifiable_by_client_text",
        "# Generated by tools/attributes.py from the attribute rules tables; the newest document describing an",
        "# attribute supplies its rules (source: version:section). Custom/Vendor Attribute have no tag ('-').",
    ]
    for key in sorted(attrs):
        a = attrs[key]
        row = a["row"]
        if key in tags:
            tagrow = tags[key]
            tag = tagrow[0]
            vs = set(tagrow[3].split(","))
        else:
            tag = "-"
            vs = set()
            for _, versions, _ in a["docs"]:
                vs.update(versions)
        majors = {v[0][0] for _, v, _ in a["docs"]}
        versions = sorted(v for v in vs if v[0] in majors)
        init = row.get("Initially set by", "")
        setters = []
        if "server" in init.lower():
            setters.append("server")
        if "client" in init.lower():
            setters.append("client")
        out.append("\t".join([
            key if key not in HEADING_ALIASES else key.replace(" ", ""),
            tag,
            a["spec_name_1x"],
            ",".join(versions),
            yes(row.get("Multiple instances permitted", "No")),
            ",".join(setters) or "-",
            yes(row.get("Modifiable by server", "No")),
            yes(row.get("Modifiable by client", "No")),
            yes(row.get("Deletable by client", "No")),
            yes(row.get("SHALL always have a value", "No")),
            ",".join(applies(row.get("Applies to Object Types", ""), a["major"])) or "-",
            a["section"],
            ",".join(applies(a["row_1x"].get("Applies to Object Types", ""), 1)) if "row_1x" in a else "-",
            init or "-",
            row.get("Modifiable by client", "-") or "-",
        ]))
    with open(os.path.join(root, "attributes.tsv"), "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")
    print(f"{len(attrs)} attributes", file=sys.stderr)


if __name__ == "__main__":
    main()
