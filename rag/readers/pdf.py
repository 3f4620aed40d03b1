"""PDF: text in reading order with headings, page by page (pypdfium2 for text, pdfplumber for tables).

- Characters, their boxes and font sizes come from PDFium (pypdfium2: C++, about 20 pages a second
  here, where pure-Python pdfminer managed under one on Chromium's glyph-by-glyph PDFs). Lines are
  put in reading order column by column: a page whose lines split into a left and a right column
  (a gutter no line crosses) reads down the left column, then the right one.
- A page with ruling lines (a drawn grid) is also given to pdfplumber's table finder; each table
  comes through as one list item per row, ``cell | cell | cell``, in place of its cells' loose text.
- Headings: from the PDF outline (bookmarks) when it names lines on the pages; otherwise from font
  sizes: lines set larger than the body text, one heading level per distinct size.
- Running headers and footers (a line in the top or bottom margin that repeats, digits aside, on at
  least half of the pages) and bare page numbers are dropped; a word hyphenated at a line end is
  joined ("infor-" + "mation" -> "information").
- Encrypted files and files without a text layer (scans) are refused with the fix.

Each page's text starts at ``Extracted.pages[i]`` (character offset), so any offset maps to a page.
"""

from __future__ import annotations

import bisect
import re
import zlib
from collections import Counter
from dataclasses import dataclass

from rag.readers.base import Extracted, ReadError

LIGATURES = str.maketrans(
    {
        "\ufb00": "ff",
        "\ufb01": "fi",
        "\ufb02": "fl",
        "\ufb03": "ffi",
        "\ufb04": "ffl",
        "\ufb05": "st",
        "\ufb06": "st",
        "\u00ad": "",
    }
)
MARGIN = 0.09  # top and bottom share of a page where running headers and footers live
HEADING_RATIO = 1.12  # a line this much larger than the body text is a heading
MAX_HEADING_CHARS = 160
BULLETS = "\u2022\u25cf\u25aa\u25e6\u2023\u2043\u25a0\u25a1\u2219\u00b7-*\u2013"
PAGE_NUMBER_RE = re.compile(
    r"^(page\s*)?[\divxlc]{1,7}(\s*(of|/)\s*\d{1,5})?$|^[-\u2013(]\s*\d{1,5}\s*[-\u2013)]$", re.I
)


@dataclass
class Line:
    text: str
    size: float
    top: float  # distance from the top of the page
    bottom: float
    x0: float
    box: int  # the text box (block) it belongs to
    bold: bool = False
    heading: int = 0  # heading level, 0 for body text
    bullet: bool = False  # a list marker is drawn (as a small shape) just left of the line
    x1: float = 0.0
    table: list[list[str]] | None = None  # a table standing in for its cells' text
    span: tuple[int, int] = (0, 0)  # its characters' indices on PDFium's text page


ENCRYPTED = (
    "is an encrypted (password-protected) PDF; remove the password, e.g. "
    "`qpdf --decrypt --password=... in.pdf out.pdf`, and add the decrypted file"
)


def _open(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except Exception as exc:
        if "password" in str(exc).lower():
            raise ReadError(ENCRYPTED) from None
        raise ReadError(
            f"is a damaged or truncated PDF ({exc}); re-export or re-download it"
        ) from None


def _page_lines(page, data: bytes, number: int) -> tuple[list[Line], float]:
    """The text lines of one page in reading order (tables replaced by one ``Line`` each), and
    the page height."""
    width, height = page.get_size()
    textpage = page.get_textpage()
    try:
        lines, text = _text_lines(textpage, height)
        marks, horizontal, vertical, boxes, paths = _paths(page, height, width)
        for ln in lines:
            ln.bullet = any(0 <= ln.x0 - mx <= 24 and ln.top <= my <= ln.bottom for mx, my in marks)
        lines = _reading_order(lines, width)
        if (horizontal >= 3 and vertical >= 2) or boxes >= 4:
            lines = _with_tables(lines, textpage, text, paths, width, height)
    finally:
        textpage.close()
    return lines, height


def _page_text(textpage, n: int) -> str:
    """The page's characters, one per character index (PDFium reports a hyphen at a line end as
    U+0002; ``_join`` decides whether it stays)."""
    import ctypes

    import pypdfium2.raw as raw

    buffer = (ctypes.c_ushort * (n + 1))()
    got = raw.FPDFText_GetText(textpage.raw, 0, n, buffer)
    text = bytes(memoryview(buffer).cast("B")[: max(got - 1, 0) * 2]).decode("utf-16-le", "replace")
    if len(text) != n:  # characters beyond UCS-2, or chars PDFium leaves out: one by one
        codes = (raw.FPDFText_GetUnicode(textpage.raw, i) for i in range(n))
        text = "".join(chr(c) if 0 < c < 0x110000 else "\0" for c in codes)
    return text.replace("\x02", "-")  # the same length: indices stay PDFium's


def _text_lines(textpage, height: float) -> tuple[list[Line], str]:
    """The page's lines as PDFium breaks them, each with its box, font size and weight.

    A line's box is the union of its text rectangles (``FPDFText_CountRects`` / ``GetRect``: one
    per run of characters of one text object), so the characters are never visited one by one; a
    line whose rectangles jump to another baseline is split there. Font size and weight come from
    a few characters sampled along the line."""
    import ctypes

    import pypdfium2.raw as raw

    handle = textpage.raw
    n = textpage.count_chars()
    if n <= 0:
        return [], ""
    text = _page_text(textpage, n)
    left, bottom, right, top = (ctypes.c_double() for _ in range(4))
    lines: list[Line] = []

    def add(a: int, b: int, box: list[float]) -> None:
        chunk = text[a:b].replace("\0", "").strip()
        if not chunk or box[0] > box[2]:
            return
        idx = [i for i in range(a, b) if not text[i].isspace()]
        step = max(1, len(idx) // 8)
        sample = idx[::step][:9]
        sizes = [round(raw.FPDFText_GetFontSize(handle, i), 1) for i in sample]
        weights = [raw.FPDFText_GetFontWeight(handle, i) for i in sample]
        size = Counter(sizes).most_common(1)[0][0] if sizes else 0.0
        bold = bool(weights) and sum(w >= 600 for w in weights) > 0.8 * len(weights)
        lines.append(
            Line(chunk, size, box[1], box[3], box[0], len(lines), bold, x1=box[2], span=(a, b))
        )

    for m in re.finditer(r"[^\r\n]+", text):
        a, b = m.span()
        if not text[a:b].strip():
            continue
        count = raw.FPDFText_CountRects(handle, a, b - a)
        box: list[float] = []
        start = a
        for r in range(max(count, 0)):
            if not raw.FPDFText_GetRect(handle, r, left, top, right, bottom):
                continue
            rl, rr = left.value, right.value
            rt, rb = height - top.value, height - bottom.value
            if box and (rt > box[3] + 1 or rb < box[1] - 1):
                # a jump to another baseline without a line break from PDFium: split at the
                # first character of this rectangle
                at = raw.FPDFText_GetCharIndexAtPos(
                    handle, rl + min(1.0, (rr - rl) / 2), (top.value + bottom.value) / 2, 1, 1
                )
                if start < at < b:
                    add(start, at, box)
                    start, box = at, []
            if not box:
                box = [rl, rt, rr, rb]
            else:
                box = [min(box[0], rl), min(box[1], rt), max(box[2], rr), max(box[3], rb)]
        if box:
            add(start, b, box)
    return lines, text


def _paths(page, height: float, width: float):
    """The page's drawn shapes: small marks (bullets) as (right, middle), counts of horizontal
    and vertical rules and of stroked cells, and every path object with the matrix of the form
    it sits in (for ``_edges``)."""
    import ctypes

    import pypdfium2.raw as raw

    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    marks: list[tuple[float, float]] = []
    paths: list[tuple[object, tuple]] = []
    horizontal = vertical = boxes = 0

    def walk(count, get, parent, depth: int, outer: tuple) -> None:
        nonlocal horizontal, vertical, boxes
        for i in range(count(parent)):
            obj = get(parent, i)
            kind = raw.FPDFPageObj_GetType(obj)
            if kind == raw.FPDF_PAGEOBJ_FORM and depth < 2:
                form = _compose(_matrix(obj), outer)
                walk(raw.FPDFFormObj_CountObjects, raw.FPDFFormObj_GetObject, obj, depth + 1, form)
                continue
            if kind != raw.FPDF_PAGEOBJ_PATH:
                continue
            if not raw.FPDFPageObj_GetBounds(obj, left, bottom, right, top):
                continue
            x0, x1, y0, y1 = left.value, right.value, bottom.value, top.value
            w, h = x1 - x0, y1 - y0
            paths.append((obj, outer))
            if 1 <= w <= 8 and 1 <= h <= 8 and 0.5 <= w / h <= 2:
                marks.append((x1, height - (y1 + y0) / 2))
            elif h <= 2 and w >= 15:
                horizontal += 1
            elif w <= 2 and h >= 8:
                vertical += 1
            elif w >= 10 and h >= 8 and w < width * 0.9:
                boxes += 1  # a stroked cell

    walk(raw.FPDFPage_CountObjects, raw.FPDFPage_GetObject, page.raw, 1, (1, 0, 0, 1, 0, 0))
    return marks, horizontal, vertical, boxes, paths


def _matrix(obj) -> tuple:
    import pypdfium2.raw as raw

    m = raw.FS_MATRIX()
    if not raw.FPDFPageObj_GetMatrix(obj, m):
        return (1, 0, 0, 1, 0, 0)
    return (m.a, m.b, m.c, m.d, m.e, m.f)


def _compose(m: tuple, outer: tuple) -> tuple:
    """The matrix applying ``m`` first, then ``outer``."""
    a, b, c, d, e, f = m
    A, B, C, D, E, F = outer
    return (
        a * A + b * C,
        a * B + b * D,
        c * A + d * C,
        c * B + d * D,
        e * A + f * C + E,
        e * B + f * D + F,
    )


def _edges(paths, width: float, height: float) -> list[dict]:
    """The straight horizontal and vertical segments of the page's paths, as pdfplumber's
    edges (top measured from the top of the page). A rectangle gives its four sides, a line
    itself; a curve gives its straight axis-parallel pieces, as in pdfplumber."""
    import ctypes

    import pypdfium2.raw as raw

    x, y = ctypes.c_float(), ctypes.c_float()
    edges: list[dict] = []

    def add(x0, t0, x1, t1) -> None:
        if abs(t0 - t1) < 0.01:
            x0, x1 = sorted((max(0.0, min(x0, width)), max(0.0, min(x1, width))))
            edges.append(
                {
                    "x0": x0,
                    "x1": x1,
                    "top": t0,
                    "bottom": t0,
                    "width": x1 - x0,
                    "height": 0.0,
                    "orientation": "h",
                    "object_type": "line",
                }
            )
        elif abs(x0 - x1) < 0.01:
            t0, t1 = sorted((max(0.0, min(t0, height)), max(0.0, min(t1, height))))
            edges.append(
                {
                    "x0": x0,
                    "x1": x0,
                    "top": t0,
                    "bottom": t1,
                    "width": 0.0,
                    "height": t1 - t0,
                    "orientation": "v",
                    "object_type": "line",
                }
            )

    for obj, outer in paths:
        a, b, c, d, e, f = _compose(_matrix(obj), outer)
        start = prev = None
        for i in range(raw.FPDFPath_CountSegments(obj)):
            seg = raw.FPDFPath_GetPathSegment(obj, i)
            if not raw.FPDFPathSegment_GetPoint(seg, x, y):
                continue
            pt = (a * x.value + c * y.value + e, height - (b * x.value + d * y.value + f))
            kind = raw.FPDFPathSegment_GetType(seg)
            if kind == raw.FPDF_SEGMENT_MOVETO or prev is None:
                start = pt
            elif kind == raw.FPDF_SEGMENT_LINETO:
                add(prev[0], prev[1], pt[0], pt[1])
            prev = pt
            if raw.FPDFPathSegment_GetClose(seg) and start is not None and start != pt:
                add(pt[0], pt[1], start[0], start[1])
                prev = start
    return edges


def _reading_order(lines: list[Line], width: float) -> list[Line]:
    """Lines top to bottom; on a two-column page (a vertical gutter near the middle that no line
    crosses, with text on both sides) the left column first, then the right one."""
    lines = sorted(lines, key=lambda ln: (round(ln.top, 0), ln.x0))
    if len(lines) < 6:
        return lines
    for gutter in sorted(
        range(int(width * 0.3), int(width * 0.7), 4), key=lambda x: abs(x - width / 2)
    ):
        crossing = [ln for ln in lines if ln.x0 < gutter < ln.x1]
        left = [ln for ln in lines if ln.x1 <= gutter]
        right = [ln for ln in lines if ln.x0 >= gutter]
        if len(left) < 3 or len(right) < 3:
            continue
        # lines spanning both columns (a title, a footer) may sit above or below the columns only
        first = min(x.top for x in left + right)
        last = max(x.bottom for x in left + right)
        above = [ln for ln in crossing if ln.bottom <= first + 1]
        below = [ln for ln in crossing if ln.top >= last - 1]
        if len(above) + len(below) == len(crossing):
            return above + left + right + below
    return lines


def _tables(
    lines: list[Line], textpage, text: str, paths, width: float, height: float
) -> list[tuple[tuple, list[list[str]]]]:
    """The ruled tables of a page: pdfplumber's lattice algorithm (snap and join the rules, find
    their crossings, the cells between them, the tables those cells form) run on the boxes of the
    page's drawn paths as PDFium reports them. A cell holds the characters whose box centre lies
    in it (as in pdfplumber), in PDFium's order; only the characters of lines inside a table are
    visited one by one. (pdfplumber on its own re-parses the page with pdfminer, in pure Python:
    about a second a page for a 10-K's statements.)"""

    import pypdfium2.raw as raw
    from pdfplumber.table import TableFinder

    edges = _edges(paths, width, height)

    class _Page:  # what TableFinder reads of a page with the "lines" strategies
        pass

    fake = _Page()
    fake.edges = edges
    fake.bbox = (0, 0, width, height)
    box = raw.FS_RECTF()  # a character's loose box: the font's height, as pdfplumber's
    tables = []
    for table in TableFinder(fake, {}).tables:
        rows = table.rows
        if len(rows) < 2 or len(rows[0].cells) < 2:  # one column is no table: lines stay lines
            continue
        x0, t0, x1, b0 = table.bbox
        cells = [[[] if c is not None else None for c in row.cells] for row in rows]
        tops = [row.bbox[1] for row in rows]
        spans = [
            [(c[0], c[2], c[1], c[3], j) for j, c in enumerate(row.cells) if c] for row in rows
        ]
        for ln in lines:
            if ln.table is not None or not (t0 - 1 <= (ln.top + ln.bottom) / 2 <= b0 + 1):
                continue
            into = None  # the cell the previous character went to
            for i in range(*ln.span):
                if text[i].isspace():  # a word ends (a space PDFium may have inserted)
                    if into is not None and into[-1][3] != " ":
                        t, _, x1, _ = into[-1]
                        into.append((t, x1, x1, " "))
                    continue
                if not raw.FPDFText_GetLooseCharBox(textpage.raw, i, box):
                    continue
                cx, cy = (box.left + box.right) / 2, height - (box.top + box.bottom) / 2
                r = bisect.bisect_right(tops, cy) - 1
                into = None
                if r < 0 or cy >= rows[r].bbox[3]:
                    continue
                for cx0, cx1, ct, cb, j in spans[r]:
                    if cx0 <= cx < cx1 and ct <= cy < cb:
                        into = cells[r][j]
                        into.append((height - box.top, box.left, box.right, text[i]))
                        break
        out = [["" if c is None else _cell_text(c) for c in row] for row in cells]
        tables.append((table.bbox, out))
    return tables


def _with_tables(
    lines: list[Line], textpage, text: str, paths, width: float, height: float
) -> list[Line]:
    """Replace the lines inside each ruled table of the page by one table line."""
    try:
        tables = _tables(lines, textpage, text, paths, width, height)
    except Exception:  # a table that cannot be read stays loose text
        return lines
    out: list[Line] = []
    placed: set[int] = set()
    for ln in lines:
        hit = -1
        for i, ((x0, top, x1, bottom), _) in enumerate(tables):
            cy, cx = (ln.top + ln.bottom) / 2, (ln.x0 + ln.x1) / 2
            if top - 1 <= cy <= bottom + 1 and x0 - 1 <= cx <= x1 + 1:
                hit = i
                break
        if hit < 0:
            out.append(ln)
        elif hit not in placed:
            placed.add(hit)
            (x0, top, x1, bottom), rows = tables[hit]
            out.append(Line("", ln.size, top, bottom, x0, -1 - hit, table=rows, x1=x1))
    return out


def _cell_text(chars: list[tuple[float, float, float, str]]) -> str:
    """A cell's characters (top, x0, x1, char) as pdfplumber writes them: lines of characters
    whose tops lie within 3 points, each read left to right, words split at spaces and at gaps
    over 3 points."""
    words: list[str] = []
    line: list[tuple[float, float, float, str]] = []
    for ch in sorted(chars) + [(float("inf"), 0.0, 0.0, "")]:
        if line and ch[0] - line[-1][0] > 3:
            prev_x1 = None
            for _, x0, x1, c in sorted(line, key=lambda t: t[1]):
                if prev_x1 is not None and x0 - prev_x1 > 3:
                    words.append(" ")
                words.append(c)
                prev_x1 = x1
            words.append(" ")
            line = []
        line.append(ch)
    return " ".join("".join(words).split())


def _cell(value) -> str:
    return " ".join(str(value or "").split())


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _drop_running(pages: list[list[Line]], heights: list[float]) -> None:
    """Remove running headers/footers and page numbers, in place.

    A page's edge lines are those in its top or bottom margin and its top-most and bottom-most
    lines wherever they sit (a letter-size page printed on A4 ends half-way down). An edge line is
    dropped when it is a bare page number ("60", "- 56 -", "Page 3 of 9"), or when it repeats,
    digits aside, as an edge line on half the pages, or (in a document of 8 pages or more) on a
    fifth of them: a 10-K's "Table of Contents" link tops its 60 pages of statements, not its 400
    pages of exhibits."""
    edges = [_edge_lines(lines, h) for lines, h in zip(pages, heights, strict=True)]
    counts: Counter[str] = Counter()
    for lines, edge in zip(pages, edges, strict=True):
        counts.update({_key(lines[i].text) for i in edge})
    n = len(pages)
    running = {
        k
        for k, c in counts.items()
        if n >= 2 and (c >= max(2, 0.5 * n) or (n >= 8 and c >= max(4, 0.2 * n)))
    }
    for p, (lines, edge) in enumerate(zip(pages, edges, strict=True)):
        pages[p] = [
            ln
            for i, ln in enumerate(lines)
            if i not in edge
            or (_key(ln.text) not in running and not PAGE_NUMBER_RE.match(ln.text.strip()))
        ]


def _edge_lines(lines: list[Line], height: float) -> set[int]:
    """Indices of a page's lines that may be running lines: in a margin, or top-most or
    bottom-most on the page (tables aside)."""
    text = [i for i, ln in enumerate(lines) if ln.table is None and ln.text.strip()]
    edge = {i for i in text if _in_margin(lines[i], height)}
    if text:
        edge.add(min(text, key=lambda i: lines[i].top))
        edge.add(max(text, key=lambda i: lines[i].bottom))
    return edge


def _in_margin(line: Line, height: float) -> bool:
    return line.bottom <= height * MARGIN or line.top >= height * (1 - MARGIN)


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def _outline(pdf) -> list[tuple[int, int, str]]:
    """(page number, level, title) of each outline entry (bookmark) that points at a page."""
    out = []
    try:
        for item in pdf.get_toc(max_depth=6):
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            title = item.get_title()
            if index is not None and title:
                out.append((index + 1, min(item.level + 1, 6), title))
    except Exception:  # no outline, or one that does not resolve: fall back to font sizes
        return []
    return out


def _mark_headings(pages: list[list[Line]], outline: list[tuple[int, int, str]]) -> None:
    """Set ``Line.heading`` from the outline when it matches lines, else from font sizes."""
    matched = 0
    for page_no, level, title in outline:
        want = _norm(title)
        if not want:
            continue
        for ln in pages[page_no - 1] if page_no <= len(pages) else []:
            if ln.table is None and not ln.heading and _norm(ln.text) == want:
                ln.heading = max(1, level)
                matched += 1
                break
    if outline and matched >= max(1, len(outline) // 2):
        return
    for lines in pages:
        for ln in lines:
            ln.heading = 0
    weights: Counter[float] = Counter()
    for lines in pages:
        for ln in lines:
            if ln.table is None and ln.size:
                weights[ln.size] += len(ln.text)
    if not weights:
        return
    body = weights.most_common(1)[0][0]
    sizes = sorted(
        {
            ln.size
            for lines in pages
            for ln in lines
            if ln.table is None and ln.size >= body * HEADING_RATIO and _heading_like(ln.text)
        },
        reverse=True,
    )
    level_of = {s: min(i + 1, 6) for i, s in enumerate(sizes)}
    for lines in pages:
        for ln in lines:
            if ln.table is None and ln.size in level_of and _heading_like(ln.text):
                ln.heading = level_of[ln.size]


def _heading_like(text: str) -> bool:
    t = text.strip()
    return (
        0 < len(t) <= MAX_HEADING_CHARS
        and any(ch.isalpha() for ch in t)
        and not (t.endswith((".", ",", ";")) and len(t.split()) > 8)
    )


def _join(prev: str, nxt: str) -> str:
    """Join two lines of one paragraph, undoing a hyphenation at the line end: "infor-" +
    "mation" -> "information", but "large-" + "scale" stays "large-scale" (the joined form is not
    a word while the first part is; word frequencies from ``wordfreq``)."""
    m = re.search(r"([^\W\d_]+)-$", prev)
    if m and nxt[:1].islower():
        first = m.group(1)
        second = re.match(r"[^\W\d_]*", nxt).group(0)
        if _dehyphenate(first, second):
            return prev[:-1] + nxt
        return prev + nxt
    return f"{prev} {nxt}"


def _dehyphenate(first: str, second: str) -> bool:
    try:
        from wordfreq import zipf_frequency
    except ImportError:  # pragma: no cover - wordfreq is a dependency
        return True
    joined = zipf_frequency(first + second, "en")
    return (
        joined >= 2.0
        or (zipf_frequency(first, "en") < 2.0 and joined > 0)
        or (joined >= zipf_frequency(first, "en") * 0.5 and joined > 1.0)
    )


def _bullet(text: str) -> str | None:
    """The item text when a line starts with a bullet or a number marker, else None."""
    m = re.match(rf"^\s*(?:[{re.escape(BULLETS)}]|\d{{1,3}}[.)])\s+(.*)$", text)
    return m.group(1) if m else None


def _render_page(lines: list[Line]) -> str:
    """Markdown-shaped text of one page: headings, paragraphs, list items, table rows.

    A line continues the paragraph (or item) above it when it sits right below it (a gap under
    about half a line), starts at about the same place and carries no list marker."""
    out: list[str] = []
    para = ""
    item = False
    prev: Line | None = None
    left = 0.0  # where the current paragraph's continuation lines start

    def flush() -> None:
        nonlocal para, item
        if para:
            out.append(("- " if item else "") + para + ("\n" if item else "\n\n"))
        para, item = "", False

    for ln in lines:
        if ln.table is not None:
            flush()
            rows = [r for r in ln.table if any(r)]
            out.append("".join("- " + " | ".join(r) + "\n" for r in rows) + "\n")
            prev = None
            continue
        text = ln.text.strip()
        if text.startswith("#"):
            text = "\\" + text
        if ln.heading:
            if (
                prev is not None
                and prev.heading == ln.heading
                and _below(prev, ln)
                and out
                and out[-1].startswith("#")
            ):
                out[-1] = out[-1].rstrip("\n") + " " + text + "\n\n"  # a heading over two lines
            else:
                flush()
                out.append("#" * ln.heading + " " + text + "\n\n")
            prev = ln
            continue
        cells = _text_row(text)
        if cells is not None:  # a statement's line without ruling: a table row of its own
            flush()
            out.append("- " + " | ".join(cells) + "\n")
            prev = None
            continue
        marker = _bullet(text)
        if ln.bullet or marker is not None:
            flush()
            para, item, left = (text if marker is None else marker), True, ln.x0
            if marker is not None:
                left = ln.x0 + 8
        elif (
            para
            and prev is not None
            and not prev.heading
            and (ln.box == prev.box or _below(prev, ln))
            and left - 3 <= ln.x0 <= left + 40
        ):
            para = _join(para, text)
        else:
            flush()
            para, left = text, ln.x0
        prev = ln
    flush()
    return "".join(out)


_FIGURE = r"(?:\(?\d[\d,]*(?:\.\d+)?\)?%?|[—–-])"
TEXT_ROW_RE = re.compile(
    rf"^(?P<label>[^\d$€£(].*?)\s+(?P<values>(?:[$€£]\s?)?{_FIGURE}"
    rf"(?:\s+(?:[$€£]\s?)?{_FIGURE})+)$"
)


def _text_row(text: str) -> list[str] | None:
    """The cells of a line that reads as a table row without ruling ("Stock on hand 4,120 3,877",
    "Cash at bank $ 1,002 $ 987"): a label with letters, then two or more figures or dashes, one at
    least with a digit and none a bare year unless all are (a row of column years). None for
    other lines."""
    m = TEXT_ROW_RE.match(text)
    if not m or len(m["label"]) > 160 or not re.search(r"[A-Za-z]{2}", m["label"]):
        return None
    values = m["values"].replace("$ ", "$").replace("€ ", "€").replace("£ ", "£").split()
    figures = [v for v in values if any(ch.isdigit() for ch in v)]
    years = [v for v in figures if re.fullmatch(r"(?:19|20)\d\d", v)]
    if not figures or (years and len(years) != len(values)):
        return None
    cells = [m["label"].strip()]
    for v in values:
        cells.extend([v[0], v[1:]] if v[0] in "$€£" else [v])
    return cells


def _below(prev: Line, ln: Line) -> bool:
    """``ln`` follows ``prev`` in the same column with at most about half a line between."""
    height = max(ln.bottom - ln.top, 1.0)
    return -1 <= ln.top - prev.bottom <= 0.6 * height


MAX_UNPACKED = 200 * 2**20  # bytes all compressed streams of a PDF may expand to
MAX_STREAM = 64 * 2**20  # ... and one stream, when it expands over MAX_RATIO times
MAX_RATIO = 100
_STREAM = re.compile(rb"stream\r?\n")


def check_flate(data: bytes) -> None:
    """Refuse a decompression bomb before PDFium unpacks it: every zlib stream is inflated in 1 MiB
    steps, counting, never keeping more than a step, and the count stops at the limits. (PDFium
    inflates such a stream, finds no characters in it, and the file would read as a scan.)"""
    total = 0
    for m in _STREAM.finditer(data):
        start = m.end()
        head = data[start : start + 2]
        if len(head) < 2 or head[0] & 0x0F != 8 or (head[0] << 8 | head[1]) % 31:
            continue  # not a zlib header (an image, an uncompressed or another filter's stream)
        inflater = zlib.decompressobj()
        chunk = data[start : start + 2**16]
        pos, size = start + len(chunk), 0
        try:
            while chunk:
                size += len(inflater.decompress(chunk, 2**20))
                used = pos - start - len(inflater.unconsumed_tail)
                if (size > MAX_STREAM and size > MAX_RATIO * used) or total + size > MAX_UNPACKED:
                    raise ReadError(
                        f"has a compressed stream that expands past {(total + size) / 2**20:,.0f} "
                        f"MiB from {used / 2**10:,.0f} KiB: refused as a possible "
                        "decompression bomb; if it is a real document, re-export it (print to PDF)"
                    )
                if inflater.eof:
                    break
                chunk = inflater.unconsumed_tail
                if not chunk:
                    chunk = data[pos : pos + 2**16]
                    pos += len(chunk)
        except zlib.error:
            pass  # not a zlib stream after all: PDFium judges it
        total += size


def read_pdf(data: bytes, on_pages=None) -> Extracted:
    """The text of a PDF; ``on_pages(n)`` hears the page count as soon as the file is open."""
    check_flate(data)
    pdf = _open(data)
    if on_pages is not None:
        on_pages(len(pdf))
    try:
        try:
            pages, heights = [], []
            for number in range(len(pdf)):
                page = pdf[number]
                lines, height = _page_lines(page, data, number)
                page.close()
                pages.append(lines)
                heights.append(height)
        except ReadError:
            raise
        except Exception as exc:
            raise ReadError(
                f"is a damaged or truncated PDF ({type(exc).__name__}); re-export or re-download it"
            ) from None
        if not pages:
            raise ReadError("is a PDF with no pages; re-export it")
        _drop_running(pages, heights)
        # page numbers and running lines alone are no text either (a scan printed with a footer)
        if not any(ln.text.strip() or ln.table for lines in pages for ln in lines):
            raise ReadError(
                "no text layer: run OCR first, e.g. ocrmypdf (`ocrmypdf in.pdf out.pdf`), and add "
                "the result (this looks like a scanned or image-only PDF)"
            )
        _mark_headings(pages, _outline(pdf))
    finally:
        pdf.close()
    parts, starts, pos = [], [], 0
    for lines in pages:
        starts.append(pos)
        text = _render_page(lines).translate(LIGATURES)
        parts.append(text)
        pos += len(text)
    return Extracted(text="".join(parts), kind="pdf", pages=starts)
