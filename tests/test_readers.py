"""The readers on real files: PDFs printed by headless Chromium, Word files written by python-docx,
HTML pages rendered by markdown-it. Structure (heading paths, pages, lists, tables), clean-up
(running headers, page numbers, hyphenation, boilerplate), errors with their fix, and fuzzing with
truncated and bit-flipped copies under a per-file time limit."""

from __future__ import annotations

import io
import random
import re
import time
import zipfile
from pathlib import Path

import pytest

from rag.documents import CorpusError, load_document, parse_sections, scan_corpus
from rag.readers import ReadError, extract, sniff
from rag.readers.pdf import _join
from rag.readers.sandbox import extract_isolated
from tests.conftest import PROFILE, _need_chromium

pytestmark = pytest.mark.slow


def headings(path: Path) -> list[tuple[str, ...]]:
    doc = load_document(path, path.parent)
    return [s.heading_path for s in parse_sections(doc)]


def unit_texts(path: Path) -> list[str]:
    from rag.chunking import Chunker

    doc = load_document(path, path.parent)
    return [u.text for c in Chunker(repair=False).chunk_corpus([doc]) for u in c.units]


# ---- type detection ------------------------------------------------------------------------------


def test_the_type_comes_from_the_content_not_the_name(profile_files, tmp_path):
    pdf_named_txt = tmp_path / "notes.txt"
    pdf_named_txt.write_bytes(profile_files["pdf"].read_bytes())
    html_named_md = tmp_path / "page.md"
    html_named_md.write_bytes(profile_files["html"].read_bytes())
    docx_named_pdf = tmp_path / "report.pdf"
    docx_named_pdf.write_bytes(profile_files["docx"].read_bytes())
    assert load_document(pdf_named_txt, tmp_path).kind == "pdf"
    assert load_document(html_named_md, tmp_path).kind == "html"
    assert load_document(docx_named_pdf, tmp_path).kind == "docx"
    assert sniff(b"# Title\ntext\n", "a.md") == "markdown"
    assert sniff(b"plain words\n", "a.txt") == "text"


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "PNG image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "JPEG image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "save it as .docx"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 64, "compressed archive"),
        (b"\x00\x01\x02\x03" * 40, "unsupported type"),
    ],
)
def test_unsupported_types_are_named_with_the_fix(tmp_path, data, needle):
    path = tmp_path / "upload.md"
    path.write_bytes(data)
    with pytest.raises(CorpusError, match=re.escape(needle)) as exc:
        load_document(path, tmp_path)
    assert str(exc.value).startswith(f"{path}: ") and "\n" not in str(exc.value)


def test_a_zip_that_is_not_a_word_file_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data.csv", "a,b\n1,2\n")
    with pytest.raises(ReadError, match="ZIP archive, not a Word"):
        sniff(buf.getvalue(), "x.docx")


# ---- PDF -----------------------------------------------------------------------------------------


def test_pdf_keeps_the_heading_paths_pages_and_lists_of_the_original(profile_files):
    md_paths = headings(profile_files["md"])
    pdf_paths = headings(profile_files["pdf"])
    assert pdf_paths == md_paths  # every heading, at its level, in order
    doc = load_document(profile_files["pdf"], profile_files["pdf"].parent)
    assert doc.kind == "pdf" and len(doc.pages) >= 3 and doc.pages[0] == 0
    assert list(doc.pages) == sorted(doc.pages)
    # list items stay items: each is its own quotable unit, as in the markdown
    units = unit_texts(profile_files["pdf"])
    assert "Founder: Professor Xiao'ou Tang" in units
    assert "Headquarters: Hong Kong & Shanghai" in units


def test_pdf_running_header_footer_and_page_numbers_are_removed(profile_files):
    doc = load_document(profile_files["pdf"], profile_files["pdf"].parent)
    assert "SenseTime company profile" not in doc.text  # the running header
    assert not re.search(r"Page \d+ of \d+", doc.text)  # the footer
    assert "\ufb01" not in doc.text and "artificial" in doc.text  # ligatures spelled out
    # the footer is really in the file: pdfplumber's own text has it on every page
    import pdfplumber

    with pdfplumber.open(profile_files["pdf"]) as pdf:
        raw = [p.extract_text() or "" for p in pdf.pages]
    assert all(re.search(r"Page \d+ of \d+", t) for t in raw)
    assert all("SenseTime company profile" in t for t in raw)


def test_each_page_offset_starts_that_page_s_text(profile_files):
    import pdfplumber

    doc = load_document(profile_files["pdf"], profile_files["pdf"].parent)
    with pdfplumber.open(profile_files["pdf"]) as pdf:
        for number, page in enumerate(pdf.pages, start=1):
            words = (page.extract_text() or "").replace("\ufb01", "fi").split()
            # the first body words of the page (after the running header) are on that page
            start = doc.pages[number - 1]
            first = [w for w in re.findall(r"\w+", doc.text[start : start + 200])][:3]
            assert all(any(f in w for w in words) for f in first), (number, first)
            assert doc.page_of(start) == number


@pytest.mark.parametrize(
    ("before", "after", "joined"),
    [
        ("the infor-", "mation age", "the information age"),
        ("a large-", "scale system", "a large-scale system"),
        ("com-", "pany", "company"),
        ("ends here.", "Next one", "ends here. Next one"),
        ("AI-", "Powered", "AI- Powered"),
    ],
)
def test_hyphenation_at_line_ends_is_undone_only_for_split_words(before, after, joined):
    assert _join(before, after) == joined


def _pdf(tmp_path: Path, name: str, body: str, columns: int = 1) -> Path:
    from bench.docgen import html_to_pdf

    _need_chromium()
    html = (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>body{font-family:serif;"
        "font-size:11pt} td,th{border:1px solid #000;padding:4px}</style></head><body><main>"
        f"{body}</main></body></html>"
    )
    return html_to_pdf(html, tmp_path / name, columns=columns)


def test_a_two_column_pdf_reads_down_the_left_column_then_the_right(tmp_path):
    paragraphs = "".join(
        f"<p>Paragraph {i:02d} opens here and tells part {i:02d} of the story, which goes on "
        f"for a while so that the column fills with text about part {i:02d}.</p>"
        for i in range(1, 25)
    )
    path = _pdf(tmp_path, "columns.pdf", "<h1>Two columns</h1>" + paragraphs, columns=2)
    text = load_document(path, tmp_path).text
    order = [int(n) for n in re.findall(r"Paragraph (\d\d) opens", text)]
    assert order == list(range(1, 25)), order
    # no line mixes the two columns
    for line in text.splitlines():
        assert len(set(re.findall(r"part (\d\d)", line))) <= 1, line


def test_a_pdf_table_comes_through_row_by_row_in_place(tmp_path):
    rows = [("Region", "Revenue", "Staff"), ("Asia", "120", "800"), ("Europe", "45", "210")]
    table = "<table>" + "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows
    )
    table += "</table>"
    body = f"<h1>Results</h1><p>The table below lists regions.</p>{table}<p>After the table.</p>"
    path = _pdf(tmp_path, "table.pdf", body)
    text = load_document(path, tmp_path).text
    lines = [ln for ln in text.splitlines() if ln.strip()]
    want = ["- Region | Revenue | Staff", "- Asia | 120 | 800", "- Europe | 45 | 210"]
    at = lines.index(want[0])
    assert lines[at : at + 3] == want
    assert text.index("regions.") < text.index("Region |") < text.index("After the table.")


def test_an_image_only_pdf_asks_for_ocr(tmp_path):
    pixel = (
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
        "YPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
    )
    path = _pdf(tmp_path, "scan.pdf", f"<img src='{pixel}' style='width:400px;height:300px'>")
    with pytest.raises(CorpusError, match=r"no text layer: run OCR first, e\.g\. ocrmypdf"):
        load_document(path, tmp_path)


def test_an_encrypted_pdf_is_named_with_the_fix(profile_files, tmp_path):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(profile_files["pdf"]).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", owner_password="owner")
    path = tmp_path / "locked.pdf"
    with open(path, "wb") as f:
        writer.write(f)
    with pytest.raises(CorpusError, match=r"locked\.pdf: is an encrypted .*qpdf --decrypt"):
        load_document(path, tmp_path)


# ---- Word ----------------------------------------------------------------------------------------


def test_docx_heading_styles_lists_and_tables(profile_files, tmp_path):
    assert headings(profile_files["docx"]) == headings(profile_files["md"])
    assert "Founder: Professor Xiao'ou Tang" in unit_texts(profile_files["docx"])
    from bench.docgen import markdown_to_docx

    md = "# Report\n\n## Figures\n\n| Year | Revenue |\n|---|---|\n| 2022 | 3.8 |\n| 2023 | 3.4 |\n"
    md += "\n- first point\n- second point\n"
    path = markdown_to_docx(md, tmp_path / "table.docx")
    text = load_document(path, tmp_path).text
    assert "## Figures" in text
    assert "- Year | Revenue\n- 2022 | 3.8\n- 2023 | 3.4\n" in text
    assert "- first point\n- second point\n" in text


def test_a_docx_zip_bomb_is_refused_before_it_is_unpacked(profile_files, tmp_path):
    source = zipfile.ZipFile(profile_files["docx"])
    path = tmp_path / "bomb.docx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for info in source.infolist():
            z.writestr(info, source.read(info))
        z.writestr("word/media/zeros.bin", b"\x00" * (64 * 2**20))  # 64 MiB -> ~64 KiB
    assert path.stat().st_size < 2**20
    t0 = time.perf_counter()
    with pytest.raises(CorpusError, match="zip bomb"):
        load_document(path, tmp_path)
    assert time.perf_counter() - t0 < 10


# ---- HTML ----------------------------------------------------------------------------------------


def test_html_headings_and_no_boilerplate(profile_files):
    assert headings(profile_files["html"]) == headings(profile_files["md"])
    text = load_document(profile_files["html"], profile_files["html"].parent).text
    for furniture in ("About us", "Accept all cookies", "All rights reserved", "window.tracker"):
        assert furniture not in text
    assert "Founder: Professor Xiao'ou Tang" in unit_texts(profile_files["html"])


def test_markup_in_an_html_file_stays_text_and_is_never_rendered(tmp_path):
    from rag.answer_types import Citation
    from ui.chat import source_html

    page = (
        "<html><body><h1>Notes</h1><p>Type &lt;img src=x onerror=alert(1)&gt; to test "
        "<b>bold</b> and [a link](javascript:alert(2)).</p><script>alert(3)</script></body></html>"
    )
    path = tmp_path / "notes.html"
    path.write_text(page)
    text = load_document(path, tmp_path).text
    assert "<img src=x onerror=alert(1)>" in text and "alert(3)" not in text
    quote = text.split("\n\n")[1].strip()
    shown = source_html(
        Citation(1, "notes.html", ["Notes"], "s", "c", 1, 1, 0, 1, quote, [quote], quote, quote)
    )
    assert "<img" not in shown and "<a " not in shown and "<b>" not in shown


# ---- errors and fuzzing --------------------------------------------------------------------------


def test_truncated_files_are_named_and_the_rest_of_the_corpus_still_indexes(
    profile_files, tmp_path
):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "good.md").write_text("# Good\nThe good file is read.\n")
    for kind in ("pdf", "docx"):
        data = profile_files[kind].read_bytes()
        (folder / f"cut.{kind}").write_bytes(data[: len(data) // 3])
    scan = scan_corpus(folder)
    assert [d.doc_id for d in scan.docs] == ["good.md"]
    assert set(scan.problems) == {"cut.pdf", "cut.docx"}
    for name, message in scan.problems.items():
        assert message.startswith(f"{folder / name}: ") and "\n" not in message
        assert "damaged or truncated" in message


def _variants(data: bytes, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        if i % 2 == 0:
            out.append(data[: rng.randrange(1, len(data))])
        else:
            flipped = bytearray(data)
            for _ in range(rng.randint(1, 64)):
                flipped[rng.randrange(len(flipped))] ^= 1 << rng.randrange(8)
            out.append(bytes(flipped))
    return out


@pytest.mark.parametrize("kind", ["pdf", "docx", "html"])
def test_fuzzed_files_never_crash_or_hang_a_reader(profile_files, tmp_path, kind):
    """Truncated and bit-flipped copies: each gives a document or one line naming the problem,
    within the per-file time limit, and the process goes on."""
    data = profile_files[kind].read_bytes()
    outcomes = {"read": 0, "refused": 0}
    for i, variant in enumerate(_variants(data, 12, seed=hash(kind) % 1000)):
        path = tmp_path / f"v{i}.{kind}"
        path.write_bytes(variant)
        t0 = time.perf_counter()
        try:
            load_document(path, tmp_path, time_limit=20)
            outcomes["read"] += 1
        except CorpusError as exc:
            message = str(exc)
            assert (
                message.startswith(f"{path}: ")
                and "\n" not in message
                and "Traceback" not in message
            )
            outcomes["refused"] += 1
        assert time.perf_counter() - t0 < 25
    assert sum(outcomes.values()) == 12


def test_a_reader_past_its_time_limit_is_killed_with_a_clear_error(profile_files):
    t0 = time.perf_counter()
    with pytest.raises(ReadError, match=r"took longer than 0\.01 s to read as pdf"):
        extract_isolated(profile_files["pdf"].read_bytes(), "pdf", time_limit=0.01)
    assert time.perf_counter() - t0 < 5


def test_a_reader_that_dies_is_one_error_not_a_crash(profile_files):
    # an address-space limit far too small for the parser (the PDF reader runs in 48 MiB since it
    # no longer loads pdfminer): the child fails, this process does not
    with pytest.raises(ReadError, match=r"memory|cannot be read|made the pdf reader fail"):
        extract_isolated(profile_files["pdf"].read_bytes(), "pdf", memory=16 * 2**20)
    assert extract(PROFILE.read_bytes(), "markdown").text.startswith("# SenseTime")


# ---- the reader's time limit grows with the page count -------------------------------------------

SLOW_CHILD = """
import sys, time
sys.stdin.buffer.read()
{before}
print("pages 100", flush=True)
time.sleep({sleep})
print('["ok", {{"text": "# Done", "kind": "pdf", "pages": [0]}}]', flush=True)
"""


def _slow_child(before: str = "", sleep: float = 2.0) -> list[str]:
    import sys

    return [sys.executable, "-c", SLOW_CHILD.format(before=before, sleep=sleep)]


def test_the_time_limit_grows_with_the_pages_the_child_reports():
    from rag.readers.sandbox import _run_child

    # 1 s for the file, and 0.03 s for each of its 100 pages: 4 s in all, for a 2 s read
    got = _run_child(_slow_child(), b"%PDF-", "pdf", 1.0, 0.03)
    assert got.text == "# Done"


def test_a_stall_past_the_grown_limit_is_named_with_the_limit():
    from rag.readers.sandbox import _run_child

    t0 = time.perf_counter()
    with pytest.raises(
        ReadError,
        match=r"took longer than 1\.5 s to read as pdf \(1 s \+ 0\.005 s "
        r"a page for its 100 pages\).*RAG_READ_SECONDS",
    ):
        _run_child(_slow_child(sleep=30), b"%PDF-", "pdf", 1.0, 0.005)
    assert time.perf_counter() - t0 < 10


def test_a_stall_before_the_page_count_is_killed_at_the_base_limit():
    from rag.readers.sandbox import _run_child

    with pytest.raises(ReadError, match=r"took longer than 1 s to read as pdf \(damaged"):
        _run_child(_slow_child(before="time.sleep(30)"), b"%PDF-", "pdf", 1.0, 10.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"read_seconds": 0}, "read_seconds=0.0 is out of range: use 1 to 86400 seconds"),
        ({"read_seconds_per_page": -1}, "read_seconds_per_page=-1.0 is out of range"),
    ],
)
def test_bad_read_limits_name_the_range(kwargs, message):
    from rag.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.make(**kwargs)


def test_the_settings_reach_the_reader(tmp_path, monkeypatch):
    from rag.readers import sandbox

    seen = {}

    def fake(data, kind, time_limit, memory=0, per_page=0.0):
        seen.update(time_limit=time_limit, per_page=per_page)
        raise ReadError("stop here")

    monkeypatch.setattr(sandbox, "extract_isolated", fake)
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4 not really")
    scan = scan_corpus(tmp_path, time_limit=7.0, per_page=0.25)
    assert seen == {"time_limit": 7.0, "per_page": 0.25} and "stop here" in scan.problems["a.pdf"]


def test_running_lines_are_dropped_wherever_the_page_ends():
    from rag.readers.pdf import Line, _drop_running

    WORDS = "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()  # noqa: E501

    def page(n: int, link: bool) -> list[Line]:
        lines = [Line("Back to contents", 10, 9, 15, 20, 0)] if link else []
        lines.append(Line(f"Body {WORDS[n]} sits in the middle.", 10, 300, 310, 20, 1))
        # a letter-size page printed on A4: its number sits half-way down, out of the margin
        lines.append(Line(str(n), 10, 460, 468, 300, 2))
        return lines

    # the link tops 4 of 20 pages (a fifth): running; every page number goes wherever it sits
    pages = [page(n, link=n <= 4) for n in range(1, 21)]
    _drop_running(pages, [842.0] * 20)
    assert all(
        [ln.text for ln in p] == [f"Body {WORDS[n]} sits in the middle."]
        for n, p in enumerate(pages, 1)
    )


@pytest.mark.parametrize(
    ("line", "cells"),
    [
        ("Stock on hand 4,120 3,877", ["Stock on hand", "4,120", "3,877"]),
        ("Cash at bank $ 1,002 $ 987", ["Cash at bank", "$", "1,002", "$", "987"]),
        ("Held for sale 12 —", ["Held for sale", "12", "—"]),
        ("Margin change (1.5)% 2.0%", ["Margin change", "(1.5)%", "2.0%"]),
        ("Sales rose 5% in 2024 and 2023", None),  # prose
        ("The firm had 9,000 staff in 2024", None),
        ("Years ended 2024 2023", ["Years ended", "2024", "2023"]),  # a header row downstream
        ("Paid in 2024 1,200", None),  # a year among figures: prose, not a row
        ("12 34", None),  # no label
    ],
)
def test_an_unruled_statement_line_is_a_row(line, cells):
    from rag.readers.pdf import _text_row

    assert _text_row(line) == cells
