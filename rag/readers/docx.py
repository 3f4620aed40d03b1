"""Word (.docx): heading styles become the heading path, lists and tables come through as items.

python-docx reads the document body in order; a paragraph styled ``Title`` or ``Heading N`` (or
carrying an outline level) is a heading, a list paragraph (numbered or styled ``List ...``) an item,
and each table row one item ``cell | cell | cell``. Before anything is parsed the ZIP container is
checked: too many entries or an expansion far beyond the file size (a zip bomb) is refused.
"""

from __future__ import annotations

import io
import re
import zipfile

from rag.readers.base import Extracted, ReadError

MAX_UNPACKED = 200 * 2**20  # bytes the whole archive may expand to
MAX_RATIO = 100  # uncompressed / compressed size of any one large entry
MAX_ENTRIES = 10_000


def check_zip(data: bytes) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise ReadError(
            f"is a damaged or truncated Word file ({exc}); re-save it from Word and add it again"
        ) from None
    total = sum(i.file_size for i in infos)
    if len(infos) > MAX_ENTRIES:
        raise ReadError(f"holds {len(infos):,} parts, which no Word document needs (a zip bomb?)")
    big = [
        i
        for i in infos
        if i.file_size > 2**20 and i.file_size > MAX_RATIO * max(i.compress_size, 1)
    ]
    if total > MAX_UNPACKED or big:
        raise ReadError(
            f"expands to {total / 2**20:,.0f} MiB from {len(data) / 2**20:,.1f} MiB: refused as a "
            "possible zip bomb; if it is a real document, save it as PDF and add that"
        )


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


class _Styles:
    """Paragraph style names by style id, read once per document: python-docx's ``paragraph.style``
    searches the styles part for the default style on every paragraph, which made a 10,000-paragraph
    file take a minute."""

    def __init__(self, document):
        self.names: dict[str, str] = {}
        self.default = ""
        try:
            styles = document.styles.element
        except Exception:  # a document without a styles part: no names, every paragraph is body
            return
        for style in styles.iterchildren(f"{W}style"):
            if style.get(f"{W}type") not in (None, "paragraph"):
                continue
            name_el = style.find(f"{W}name")
            name = (name_el.get(f"{W}val") if name_el is not None else "") or ""
            style_id = style.get(f"{W}styleId") or ""
            self.names[style_id] = name
            if style.get(f"{W}default") in ("1", "true", "on"):
                self.default = name

    def name(self, p_element) -> str:
        ppr = p_element.find(f"{W}pPr")
        ref = ppr.find(f"{W}pStyle") if ppr is not None else None
        if ref is None:
            return self.default
        return self.names.get(ref.get(f"{W}val") or "", self.default)


def _level(name: str, p_element) -> int:
    if name.lower() == "title":
        return 1
    m = re.match(r"heading\s*(\d)", name, re.I)
    if m:
        return min(max(int(m.group(1)), 1), 6)
    lvl = p_element.find(".//{*}outlineLvl")
    if lvl is not None:
        val = lvl.get(f"{W}val")
        if val is not None and val.isdigit() and int(val) < 9:
            return min(int(val) + 1, 6)
    return 0


def _is_item(name: str, p_element) -> bool:
    return "list" in name.lower() or p_element.find(".//{*}numPr") is not None


def read_docx(data: bytes) -> Extracted:
    check_zip(data)
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise ReadError(
            f"is a damaged or truncated Word file ({type(exc).__name__}); re-save it and add it again"
        ) from None
    out: list[str] = []
    try:
        styles = _Styles(document)
        titled = False  # a Title paragraph heads every section: the headings after it go one down
        for child in document.element.body.iterchildren():
            tag = child.tag.rsplit("}", 1)[-1]
            if tag == "p":
                p = Paragraph(child, document)
                text = " ".join(p.text.split())
                if not text:
                    continue
                if text.startswith("#"):
                    text = "\\" + text
                name = styles.name(child)
                level = _level(name, child)
                if name.lower() == "title":
                    titled = True
                elif level and titled:
                    level = min(level + 1, 6)
                if level:
                    out.append(f"\n{'#' * level} {text}\n\n")
                elif _is_item(name, child):
                    out.append(f"- {text}\n")
                else:
                    out.append(f"{text}\n\n")
            elif tag == "tbl":
                rows = []
                for row in Table(child, document).rows:
                    cells = list(dict.fromkeys(" ".join(c.text.split()) for c in row.cells))
                    if any(cells):
                        rows.append("- " + " | ".join(cells) + "\n")
                out.append("".join(rows) + "\n")
    except Exception as exc:
        raise ReadError(
            f"is a damaged Word file ({type(exc).__name__}); re-save it and add it again"
        ) from None
    text = re.sub(r"\n{3,}", "\n\n", "".join(out)).lstrip("\n")
    title = document.core_properties.title or ""
    return Extracted(text=text, kind="docx", title=title)
