"""Rendering: the lines of an answer become its text with ``[n]`` markers and its citations.

Citations are numbered in order of first use and carry only the units the answer used, with their
exact place in the document (lines and character offsets) and the raw source text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rag.answer.kinds import LABEL_RE
from rag.answer_types import Citation
from rag.chunking import Chunk, Unit
from rag.index import Index


@dataclass
class Line:
    """One line of an answer: the units it says (each with its chunk), as a list item or not,
    optionally after a label (a section name); or a lead line that only names a section."""

    units: list[tuple[int, Unit]]
    item: bool = False
    label: str | None = None
    lead: str | None = None
    joiner: str = " "


def shorten(text: str, limit: int = 90) -> str:
    """A long labelled list item cut after its first clause ("Label: the gist of it…"): in a list,
    the label and gist; the citation keeps the whole item."""
    if len(text) <= limit or not LABEL_RE.match(text):
        return text
    label, _, rest = text.partition(": ")
    cut = re.search(r",\s|\s[-–—]\s|;\s", rest[20:])
    if not cut:
        return text
    return f"{label}: {rest[: 20 + cut.start()]}…"


def document_slice(chunk: Chunk, start: int, end: int) -> str:
    """Raw document text over [start, end): inside the chunk when it covers it (it always should)."""
    if chunk.char_start <= start and end <= chunk.char_end:
        return chunk.text[start - chunk.char_start : end - chunk.char_start]
    return ""


def quote_span(units, source: str) -> dict:
    """The ``Citation`` fields that place quoted units (sorted, non-empty) in their document: lines,
    character offsets, the quote and ``source``, the raw text over those offsets. Shared with the
    generated answers' citations (``rag.generate.result``)."""
    return {
        "line_start": units[0].line,
        "line_end": units[0].line + source.count("\n"),
        "char_start": units[0].char_start,
        "char_end": units[-1].char_end,
        "quote": " ".join(u.text for u in units),
        "quotes": [u.text for u in units],
        "source_text": source,
    }


def render(
    index: Index, lines: list[Line], scores: dict[tuple[int, int], float], shorten_chars: int = 90
) -> tuple[str, list[Citation]]:
    """Answer text with [n] markers, and the citations numbered in order of first use.
    ``scores`` maps (chunk index, unit char_start) to how well that unit answers."""
    numbers: dict[int, int] = {}
    used: dict[int, list[Unit]] = {}
    out = []
    for line in lines:
        if line.lead is not None:
            out.append(f"{line.lead}:")
            continue
        marks = []
        for ci, unit in line.units:
            if ci not in numbers:
                numbers[ci] = len(numbers) + 1
                used[ci] = []
            if unit not in used[ci]:
                used[ci].append(unit)
            if f"[{numbers[ci]}]" not in marks:
                marks.append(f"[{numbers[ci]}]")
        texts = [u.text for _, u in line.units]
        if line.item and len(lines) > 3:
            texts = [shorten(t, shorten_chars) for t in texts]
        body = line.joiner.join(texts)
        if line.label:
            body = f"{line.label}: {body}"
        out.append(f"{'- ' if line.item else ''}{body} {''.join(marks)}")
    citations = []
    for ci, n in numbers.items():
        chunk: Chunk = index.chunks[ci]
        units = sorted(used[ci], key=lambda u: u.char_start)
        start, end = units[0].char_start, units[-1].char_end
        source = document_slice(chunk, start, end)
        citations.append(
            Citation(
                number=n,
                document=chunk.doc_id,
                heading_path=list(chunk.heading_path),
                section_id=chunk.section_id,
                chunk_id=chunk.id,
                **quote_span(units, source),
                passage=chunk.clean,
                score=round(max(scores.get((ci, u.char_start), 0.0) for u in units), 4),
            )
        )
    citations.sort(key=lambda c: c.number)
    return "\n".join(out), citations


def abstain_text() -> str:
    return (
        "I can't answer that from the documents: they don't appear to cover it, and I won't guess."
    )
