"""PDF: text in reading order with headings, page by page (pdfplumber, on pdfminer.six).

- Reading order comes from pdfminer's layout analysis (text boxes ordered column by column), so a
  two-column page reads down the left column, then the right one.
- Tables found by pdfplumber (ruled or aligned cells) come through as one list item per row,
  ``cell | cell | cell``, in place of the loose text of their cells.
- Headings: from the PDF outline (bookmarks) when it names lines on the pages; otherwise from font
  sizes: lines set larger than the body text, one heading level per distinct size.
- Running headers and footers (a line in the top or bottom margin that repeats, digits aside, on at
  least half of the pages) and bare page numbers are dropped; a word hyphenated at a line end is
  joined ("infor-" + "mation" -> "information").
- Encrypted files and files without a text layer (scans) are refused with the fix.

Each page's text starts at ``Extracted.pages[i]`` (character offset), so any offset maps to a page.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass

from rag.readers import Extracted, ReadError

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
    table: list[list[str]] | None = None  # a table standing in for its cells' text


def _open(data: bytes):
    import pdfplumber
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    try:
        pdf = pdfplumber.open(
            io.BytesIO(data),
            laparams={"line_margin": 0.5, "boxes_flow": 0.5, "detect_vertical": False},
        )
        _ = pdf.pages  # parses the page tree
        return pdf
    except (PDFPasswordIncorrect, PDFEncryptionError):
        raise ReadError(
            "is an encrypted (password-protected) PDF; remove the password, e.g. "
            "`qpdf --decrypt --password=... in.pdf out.pdf`, and add the decrypted file"
        ) from None
    except ReadError:
        raise
    except Exception as exc:
        causes = [exc, *exc.args, exc.__cause__, exc.__context__]
        if any(isinstance(c, (PDFPasswordIncorrect, PDFEncryptionError)) for c in causes) or any(
            "password" in str(c).lower() or "encrypt" in str(c).lower() for c in causes if c
        ):
            raise ReadError(
                "is an encrypted (password-protected) PDF; remove the password, e.g. "
                "`qpdf --decrypt --password=... in.pdf out.pdf`, and add the decrypted file"
            ) from None
        raise ReadError(
            f"is a damaged or truncated PDF ({type(exc).__name__}); re-export or re-download it"
        ) from None


def _page_lines(page, height: float) -> list[Line]:
    """The text lines of one page in reading order, tables replaced by a single ``Line``."""
    from pdfminer.layout import LTChar, LTTextBox, LTTextLine

    try:
        tables = [t for t in page.find_tables() if len(t.rows) >= 2]
    except Exception:
        tables = []
    boxes = []
    for obj in page.layout:
        if isinstance(obj, LTTextBox):
            boxes.append(obj)
    lines: list[Line] = []
    placed = [False] * len(tables)
    marks = []  # small square-ish shapes: list bullets drawn as graphics, not text
    for shape in [*page.curves, *page.rects]:
        w, h = shape["x1"] - shape["x0"], shape["bottom"] - shape["top"]
        if 1 <= w <= 8 and 1 <= h <= 8 and 0.5 <= w / h <= 2:
            marks.append((shape["x1"], (shape["top"] + shape["bottom"]) / 2))

    def in_table(top: float, bottom: float, x0: float, x1: float) -> int:
        for i, t in enumerate(tables):
            tx0, ttop, tx1, tbottom = t.bbox
            cy, cx = (top + bottom) / 2, (x0 + x1) / 2
            if ttop - 1 <= cy <= tbottom + 1 and tx0 - 1 <= cx <= tx1 + 1:
                return i
        return -1

    for b, box in enumerate(boxes):
        for obj in box:
            if not isinstance(obj, LTTextLine):
                continue
            text = obj.get_text().strip()
            if not text:
                continue
            chars = [c for c in obj if isinstance(c, LTChar)]
            sizes = [round(c.size, 1) for c in chars if c.get_text().strip()]
            size = Counter(sizes).most_common(1)[0][0] if sizes else 0.0
            bold = bool(chars) and sum("bold" in c.fontname.lower() for c in chars) > 0.8 * len(
                chars
            )
            top, bottom = height - obj.y1, height - obj.y0
            t = in_table(top, bottom, obj.x0, obj.x1)
            if t >= 0:
                if not placed[t]:
                    placed[t] = True
                    rows = [[_cell(c) for c in row] for row in tables[t].extract()]
                    lines.append(Line("", size, top, bottom, obj.x0, -1 - t, table=rows))
                continue
            bullet = any(0 <= obj.x0 - mx <= 24 and top <= my <= bottom for mx, my in marks)
            lines.append(Line(text, size, top, bottom, obj.x0, b, bold, bullet=bullet))
    for t, done in enumerate(placed):  # a table whose cells pdfminer put in no box
        if not done:
            rows = [[_cell(c) for c in row] for row in tables[t].extract()]
            lines.append(Line("", 0.0, tables[t].bbox[1], tables[t].bbox[3], 0, -1 - t, table=rows))
    return lines


def _cell(value) -> str:
    return " ".join(str(value or "").split())


def _key(text: str) -> str:
    return re.sub(r"\d+", "#", " ".join(text.lower().split()))


def _drop_running(pages: list[list[Line]], heights: list[float]) -> None:
    """Remove running headers/footers and page numbers from the margins, in place."""
    counts: Counter[str] = Counter()
    for lines, h in zip(pages, heights, strict=True):
        seen = {_key(ln.text) for ln in lines if ln.table is None and _in_margin(ln, h)}
        counts.update(seen)
    n = len(pages)
    running = {k for k, c in counts.items() if n >= 2 and c >= max(2, 0.5 * n)}
    for i, (lines, h) in enumerate(zip(pages, heights, strict=True)):
        pages[i] = [
            ln
            for ln in lines
            if ln.table is not None
            or not _in_margin(ln, h)
            or (_key(ln.text) not in running and not PAGE_NUMBER_RE.match(ln.text.strip()))
        ]


def _in_margin(line: Line, height: float) -> bool:
    return line.bottom <= height * MARGIN or line.top >= height * (1 - MARGIN)


def _norm(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.lower()).strip()


def _outline(pdf) -> list[tuple[int, int, str]]:
    """(page number, level, title) of each outline entry that points at a page."""
    from pdfminer.pdftypes import resolve1

    try:
        page_of = {p.page_obj.pageid: i + 1 for i, p in enumerate(pdf.pages)}
        out = []
        for level, title, dest, action, _ in pdf.doc.get_outlines():
            if dest is None and action is not None:
                action = resolve1(action)
                dest = action.get("D") if isinstance(action, dict) else None
            dest = resolve1(dest)
            if isinstance(dest, (bytes, str)):
                dest = resolve1(pdf.doc.get_dest(dest))
            if isinstance(dest, dict):
                dest = resolve1(dest.get("D"))
            if isinstance(dest, list) and dest:
                ref = dest[0]
                page = page_of.get(getattr(ref, "objid", None))
                if page and title:
                    out.append((page, min(int(level), 6), str(title)))
        return out
    except Exception:  # no outline, or one that does not resolve: fall back to font sizes
        return []


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


def _below(prev: Line, ln: Line) -> bool:
    """``ln`` follows ``prev`` in the same column with at most about half a line between."""
    height = max(ln.bottom - ln.top, 1.0)
    return -1 <= ln.top - prev.bottom <= 0.6 * height


def read_pdf(data: bytes) -> Extracted:
    pdf = _open(data)
    try:
        try:
            pages, heights, images = [], [], 0
            for page in pdf.pages:
                heights.append(float(page.height))
                pages.append(_page_lines(page, float(page.height)))
                images += len(page.images)
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
