"""Readers on large and misleading inputs, without Chromium: a Word file of 10,500 paragraphs read
at over 2,000 paragraphs a second, a Word Title in every section's heading path, a note that
mentions "%PDF-1.7" read as a note, and a flate-bomb PDF refused as a bomb rather than called a scan.
The PDFs here are written by hand (a few objects and an xref table)."""

from __future__ import annotations

import io
import time
import zlib

import pytest

from rag.documents import CorpusError, load_document, parse_sections
from rag.readers import sniff
from rag.readers.docx import read_docx
from rag.readers.pdf import read_pdf


def hand_pdf(content: bytes) -> bytes:
    """A one-page PDF whose page content stream is ``content``, flate-compressed."""
    packed = zlib.compress(content, 9)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(packed) + packed + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def test_a_docx_of_10500_paragraphs_reads_at_2000_a_second_or_better():
    import docx

    document = docx.Document()
    document.add_heading("Harbour handbook", level=1)
    for i in range(10_500):
        document.add_paragraph(f"Berth {i} is kept for ferries on weekdays.")
    buf = io.BytesIO()
    document.save(buf)
    t0 = time.process_time()
    text = read_docx(buf.getvalue()).text
    seconds = time.process_time() - t0
    assert text.count("is kept for ferries") == 10_500
    assert 10_500 / seconds >= 2000, f"{10_500 / seconds:.0f} paragraphs/s"


def test_a_docx_title_heads_every_section(tmp_path):
    import docx

    document = docx.Document()
    document.add_heading("Harbour handbook", level=0)  # the Title style
    document.add_paragraph("Read this before mooring.")
    document.add_heading("Berths", level=1)
    document.add_paragraph("Berth 4 is kept for ferries.")
    document.add_heading("Night berths", level=2)
    document.add_paragraph("Berth 9 is lit after dark.")
    document.add_heading("Fees", level=1)
    document.add_paragraph("Mooring costs 12 euros a night.")
    path = tmp_path / "handbook.docx"
    document.save(path)
    paths = [s.heading_path for s in parse_sections(load_document(path, tmp_path))]
    assert paths == [
        ("Harbour handbook",),
        ("Harbour handbook", "Berths"),
        ("Harbour handbook", "Berths", "Night berths"),
        ("Harbour handbook", "Fees"),
    ]


@pytest.mark.parametrize("name", ["notes.md", "notes.txt", "notes"])
def test_a_note_that_mentions_the_pdf_marker_is_a_note(tmp_path, name):
    note = b"# Export notes\n\nThe printer writes %PDF-1.7 files; older ones wrote %PDF-1.4.\n"
    assert sniff(note, name) in ("markdown", "text")
    path = tmp_path / name
    path.write_bytes(note)
    assert "%PDF-1.7 files" in load_document(path, tmp_path).text


def test_a_real_pdf_is_still_a_pdf_even_after_a_header_line():
    pdf = hand_pdf(b"BT /F1 12 Tf 72 720 Td (Berth 4 is kept for ferries.) Tj ET")
    assert sniff(pdf, "a.md") == "pdf"
    assert sniff(b"X-Mailer: scan\n" + pdf, "a.bin") == "pdf"
    assert "Berth 4 is kept for ferries." in read_pdf(pdf).text


def test_a_flate_bomb_pdf_is_refused_as_a_bomb_not_called_a_scan(tmp_path):
    bomb = hand_pdf(b" " * (300 * 2**20))  # 300 MiB of blanks in about 300 KiB
    assert len(bomb) < 2**20
    path = tmp_path / "bomb.pdf"
    path.write_bytes(bomb)
    t0 = time.perf_counter()
    with pytest.raises(CorpusError) as info:
        load_document(path, tmp_path)
    message = str(info.value)
    assert "decompression bomb" in message and "OCR" not in message
    assert time.perf_counter() - t0 < 20
