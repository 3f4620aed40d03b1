"""Readers: turn the bytes of one file into the text the engine indexes, whatever its format.

Every reader returns an ``Extracted``: markdown-shaped text (``#`` headings for the heading path,
``- `` list items, one paragraph per block) plus, for paged formats, the character offset where each
page starts, so a citation can name its page. Markdown and plain text pass through unchanged, so their
line and character positions are those of the file; for PDF, Word and HTML they are positions in the
extracted text, which the index stores beside the chunks.

The reader is chosen by sniffing the content (``sniff``), never by the file name alone: a PDF saved as
``report.txt`` is read as a PDF, and a PNG renamed ``notes.md`` is refused as an image.

Parsing PDF, Word and HTML runs in a child process with a time and memory limit (``rag.readers.
sandbox``): a damaged or hostile file can make a parser loop or allocate without bound, and the
process that serves questions must never hang or die because of one file.

This package reads and converts; it does not chunk, repair or embed.
"""

from __future__ import annotations

from rag.readers.base import Extracted, ReadError

__all__ = ["Extracted", "ReadError", "extract", "sniff"]

KINDS = ("markdown", "text", "pdf", "docx", "html")
SANDBOXED = ("pdf", "docx", "html")
# the file names the corpus folder scan picks up (an upload or `rag add` may have any name: its
# content decides); other files in the folder (images, data) are left alone
DOC_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".docx", ".html", ".htm", ".xhtml")


_IMAGE_MAGIC = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"II*\x00": "a TIFF image",
    b"MM\x00*": "a TIFF image",
}


def sniff(data: bytes, name: str = "") -> str:
    """The reader for ``data``: one of ``KINDS``. Raises ``ReadError`` for an unsupported type."""
    head = data[:2048]
    if _is_pdf(data, name):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        if b"word/" in data[:65536] or _zip_has(data, "word/document.xml"):
            return "docx"
        raise ReadError(
            "is a ZIP archive, not a Word (.docx) document; unpack it and add the documents inside"
        )
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise ReadError(
            "is an old binary Office file (.doc/.xls/.ppt); save it as .docx or PDF and add that"
        )
    for magic, what in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            raise ReadError(
                f"is {what}, not a document; run OCR first (e.g. ocrmypdf) and add the PDF"
            )
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        raise ReadError("is a WebP image, not a document; run OCR first (e.g. ocrmypdf)")
    if head.startswith((b"\x1f\x8b", b"7z\xbc\xaf", b"Rar!", b"BZh")):
        raise ReadError("is a compressed archive; unpack it and add the documents inside")
    probe = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if (
        probe.startswith((b"<!doctype html", b"<html", b"<?xml"))
        and b"<html" in data[:8192].lower()
    ):
        return "html"
    if probe.startswith((b"<head", b"<body", b"<meta", b"<title")):
        return "html"
    if name.lower().endswith((".html", ".htm", ".xhtml")) and probe.startswith(b"<"):
        return "html"
    return "text" if name.lower().endswith(".txt") else "markdown"


def _is_pdf(data: bytes, name: str = "") -> bool:
    """A PDF starts with ``%PDF-``; readers accept the marker later in the first 1024 bytes (after
    a mail or print header), but then only at a line start and with the ``%%EOF`` trailer at the
    end, so a note that mentions "%PDF-1.7" stays a note."""
    if data.lstrip(b"\xef\xbb\xbf \t\r\n\x00").startswith(b"%PDF-"):
        # and holds objects, or is named so (a note may start by naming the version)
        return b" obj" in data or name.lower().endswith(".pdf")
    at = data.find(b"%PDF-", 0, 1024)
    return at > 0 and data[at - 1 : at] in (b"\n", b"\r") and b"%%EOF" in data[-1024:]


def _zip_has(data: bytes, member: str) -> bool:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return member in z.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def extract(data: bytes, kind: str, on_pages=None) -> Extracted:
    """Run the reader for ``kind`` in this process (the sandbox calls this in its child).
    ``on_pages(n)`` is called with a paged document's page count once it is known."""
    if kind == "pdf":
        from rag.readers.pdf import read_pdf

        return read_pdf(data, on_pages=on_pages)
    if kind == "docx":
        from rag.readers.docx import read_docx

        return read_docx(data)
    if kind == "html":
        from rag.readers.html import read_html

        return read_html(data)
    if kind in ("markdown", "text"):
        from rag.readers.text import read_text

        return read_text(data, kind)
    raise ReadError(f"has an unknown type {kind!r}")
