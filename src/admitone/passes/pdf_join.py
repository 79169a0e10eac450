"""A streaming PDF writer that joins small PDFs made by reportlab into one file.

reportlab builds a whole document in memory and writes it only at `save()`, so a badge run
of N badges held O(N) bytes until the end. The badge run instead renders a few sheets at a
time into a small PDF, and this writer copies each part's objects to the output at once,
renumbered, keeping only what the end of the file needs: one offset per object written and
one object number per page (a few bytes a page). Every page then hangs off one page tree.

It reads only what reportlab writes (PDF 1.3, a classic `xref` table, direct stream
lengths, no object streams), which is all it is given: it is not a general PDF parser.
A part's catalog, page tree and document information are dropped (the joined file has its
own); its pages, fonts, resources and content streams are copied byte for byte, only the
`N 0 R` references of the dictionaries (never of the stream data) being renumbered.
"""

from __future__ import annotations

import itertools
import re
from typing import BinaryIO

_XREF_ENTRY = re.compile(rb"(\d{10}) (\d{5}) ([nf])")
_REF = re.compile(rb"(\d+) 0 R\b")
_OBJ_HEAD = re.compile(rb"\s*\d+ 0 obj\s*")
_TRAILER_REF = re.compile(rb"/(Root|Info) (\d+) 0 R")
_PAGES_REF = re.compile(rb"/Pages (\d+) 0 R")
_KIDS = re.compile(rb"/Kids \[([^\]]*)\]")
_CATALOG, _PAGES, _INFO = 1, 2, 3


class PdfPartError(ValueError):
    """A part that is not the kind of PDF reportlab writes."""


def _objects(pdf: bytes) -> tuple[dict[int, bytes], int, int | None]:
    """The objects of `pdf` by number (each `<body>` without `N 0 obj`/`endobj`), the
    catalog's number and the document information's."""
    start = pdf.rfind(b"startxref")
    if start < 0:
        raise PdfPartError("no startxref")
    xref_at = int(pdf[start + 9 :].split()[0])
    trailer_at = pdf.find(b"trailer", xref_at)
    if not pdf.startswith(b"xref", xref_at) or trailer_at < 0:
        raise PdfPartError("no classic xref table")
    section = pdf[xref_at:trailer_at].split(b"\n", 2)
    first = int(section[1].split()[0])
    offsets = {
        first + i: int(m.group(1))
        for i, m in enumerate(_XREF_ENTRY.finditer(section[2]))
        if m.group(3) == b"n"
    }
    ends = sorted([*offsets.values(), xref_at])
    following = dict(itertools.pairwise(ends))
    objects: dict[int, bytes] = {}
    for number, offset in offsets.items():
        raw = pdf[offset : following[offset]]
        head = _OBJ_HEAD.match(raw)
        tail = raw.rfind(b"endobj")
        if head is None or tail < 0:
            raise PdfPartError(f"object {number} is not where the xref says")
        objects[number] = raw[head.end() : tail].rstrip()
    refs = dict((name, int(num)) for name, num in _TRAILER_REF.findall(pdf[trailer_at:start]))
    if b"Root" not in refs:
        raise PdfPartError("no /Root")
    return objects, refs[b"Root"], refs.get(b"Info")


def _renumber(body: bytes, numbers: dict[int, int]) -> bytes:
    """`body` with its references renumbered, in the dictionary only: a stream's data is
    copied as it is."""
    cut = body.find(b"stream\r\n")
    if cut < 0:
        cut = body.find(b"stream\n")
    head, data = (body, b"") if cut < 0 else (body[:cut], body[cut:])
    return _REF.sub(lambda m: b"%d 0 R" % numbers[int(m.group(1))], head) + data


class PdfJoiner:
    """Writes to `out` the pages of every part given to `add`, in order; `close()` writes
    the page tree, the catalog and the cross-reference table."""

    def __init__(self, out: BinaryIO, *, title: str = "") -> None:
        self.out = out
        self.title = title
        self.position = 0
        self.offsets: list[int] = [0, 0, 0]  # catalog, pages and info are written last
        self.kids: list[int] = []
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data: bytes) -> None:
        self.out.write(data)
        self.position += len(data)

    def _object(self, number: int, body: bytes) -> None:
        self.offsets[number - 1] = self.position
        self._write(b"%d 0 obj\n%s\nendobj\n" % (number, body))

    @property
    def page_count(self) -> int:
        return len(self.kids)

    def add(self, pdf: bytes) -> int:
        """Copies the pages of `pdf` (a whole PDF as reportlab wrote it); returns how many."""
        objects, root, info = _objects(pdf)
        pages_ref = _PAGES_REF.search(objects[root])
        if pages_ref is None:
            raise PdfPartError("a catalog without /Pages")
        tree = int(pages_ref.group(1))
        kids_ref = _KIDS.search(objects[tree])
        if kids_ref is None or b"/Kids [" in kids_ref.group(1):
            raise PdfPartError("a nested page tree")
        dropped = {root, tree, info}
        numbers = {tree: _PAGES}
        for number in sorted(objects):
            if number not in dropped:
                self.offsets.append(0)
                numbers[number] = len(self.offsets)
        for number in sorted(objects):
            if number not in dropped:
                self._object(numbers[number], _renumber(objects[number], numbers))
        kids = [numbers[int(n)] for n in _REF.findall(kids_ref.group(1))]
        self.kids += kids
        return len(kids)

    def close(self) -> None:
        kids = b" ".join(b"%d 0 R" % k for k in self.kids)
        self._object(_PAGES, b"<< /Type /Pages /Count %d /Kids [ %s ] >>" % (len(self.kids), kids))
        self._object(_CATALOG, b"<< /Type /Catalog /Pages %d 0 R >>" % _PAGES)
        title = self.title.encode("utf-16-be").hex().upper()
        self._object(
            _INFO, b"<< /Title <FEFF%s> /Producer (Admit One, ReportLab) >>" % title.encode()
        )
        xref_at = self.position
        rows = [b"xref\n0 %d\n0000000000 65535 f \n" % (len(self.offsets) + 1)]
        rows += [b"%010d 00000 n \n" % offset for offset in self.offsets]
        self._write(b"".join(rows))
        self._write(
            b"trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n"
            % (len(self.offsets) + 1, _CATALOG, _INFO, xref_at)
        )
