"""Reads an OASIS KMIP HTML document as a flat sequence of blocks: headings, paragraphs and tables.

Word's HTML nests paragraphs inside table cells; here a table is a list of rows, each a list of cell texts
(paragraphs inside a cell joined by a newline), so that a table row stays one row.
"""
import html.parser
import re


class Heading:
    def __init__(self, level, text):
        self.level, self.text = level, text

    def __repr__(self):
        return f"H{self.level} {self.text}"


class Para:
    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return f"P {self.text}"


class Table:
    def __init__(self, rows):
        self.rows = rows

    def __repr__(self):
        return "T " + "\n  ".join(" | ".join(c.replace("\n", " / ") for c in r) for r in self.rows)


def clean(text):
    return re.sub(r"\s+", " ", text.replace("\xa0", " ")).strip()


class _Parser(html.parser.HTMLParser):
    PARA = {"p", "div", "li", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.blocks = []
        self.skip = 0
        self.hidden = []  # stack of booleans: inside a display:none span
        self.text = []
        self.heading = None
        self.tables = []  # stack of (rows, current row, current cell paragraphs)

    def _flush(self):
        text = clean("".join(self.text))
        self.text = []
        if not text:
            return
        if self.tables:
            rows, row, cell = self.tables[-1]
            if cell is not None:
                cell.append(text)
            return
        if self.heading is not None:
            self.blocks.append(Heading(self.heading, text))
        else:
            self.blocks.append(Para(text))

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script"):
            self.skip += 1
            return
        if tag == "span":
            style = dict(attrs).get("style") or ""
            self.hidden.append("display:none" in style.replace(" ", ""))
            return
        if tag == "br":
            self.text.append(" ")
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading = int(tag[1])
        elif tag in self.PARA:
            self._flush()
        elif tag == "table":
            self._flush()
            self.tables.append([[], None, None])
        elif tag == "tr" and self.tables:
            self._flush()
            self.tables[-1][1] = []
        elif tag in ("td", "th") and self.tables:
            self._flush()
            self.tables[-1][2] = []

    def handle_endtag(self, tag):
        if tag in ("style", "script"):
            self.skip -= 1
            return
        if tag == "span":
            if self.hidden:
                self.hidden.pop()
            return
        if re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self.heading = None
        elif tag in self.PARA:
            self._flush()
        elif tag in ("td", "th") and self.tables:
            self._flush()
            t = self.tables[-1]
            if t[1] is None:
                t[1] = []
            if t[2] is not None:
                t[1].append("\n".join(t[2]))
            t[2] = None
        elif tag == "tr" and self.tables:
            self._flush()
            t = self.tables[-1]
            if t[1]:
                t[0].append(t[1])
            t[1] = None
        elif tag == "table" and self.tables:
            self._flush()
            rows = self.tables.pop()[0]
            if self.tables:  # a nested table: keep its rows as text of the enclosing cell
                outer = self.tables[-1]
                if outer[2] is not None:
                    outer[2].extend(" | ".join(r) for r in rows)
            else:
                self.blocks.append(Table(rows))

    def handle_data(self, data):
        if self.skip or any(self.hidden):
            return
        self.text.append(data)


def read_blocks(path):
    """The blocks of one HTML document, in document order."""
    parser = _Parser()
    parser.feed(open(path, "rb").read().decode("cp1252", errors="replace"))
    parser.close()
    return parser.blocks
