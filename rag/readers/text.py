"""Markdown and plain text: decoded as UTF-8 and passed through, so positions are the file's own."""

from __future__ import annotations

from rag.readers.base import Extracted, ReadError


def read_text(data: bytes, kind: str = "markdown") -> Extracted:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ReadError(
            f"is not UTF-8 text (bad byte at offset {exc.start}); convert it to UTF-8, "
            "e.g. `iconv -f latin1 -t utf-8`, or move it out of the corpus folder"
        ) from None
    if "\x00" in text:
        raise ReadError(
            "contains NUL bytes, so it is not text: an unsupported type (this program reads PDF, "
            "Word .docx, HTML, markdown and plain text); remove it from the corpus"
        )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return Extracted(text=text, kind=kind)
