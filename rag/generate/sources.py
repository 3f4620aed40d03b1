"""The numbered sources of a selected answer: each cited passage with its units' vectors, read
from the index the answer was composed from (no model call)."""

from __future__ import annotations

from rag.answer_types import Answer
from rag.generate.base import Source, SourceUnit


def sources_for(answer: Answer, index) -> list[Source]:
    """One ``Source`` per citation of ``answer``, numbered as the citation is, with every unit of
    the cited chunk (the LLM sees the whole passage, so any of its units may support a sentence)."""
    out = []
    for c in answer.citations:
        ci = index.by_id.get(c.chunk_id)
        if ci is None:
            continue
        chunk = index.chunks[ci]
        first = index.unit_offsets[ci]
        units = []
        for j, u in enumerate(chunk.units):
            row = first + j
            tokens = index.unit_tokens(row) if index.has_tokens else None
            units.append(
                SourceUnit(
                    u.text,
                    u.char_start,
                    u.char_end,
                    u.line,
                    index.unit_vectors[row],
                    tokens,
                    instruction=getattr(u, "instruction", False),
                )
            )
        out.append(
            Source(
                number=c.number,
                text=chunk.clean,
                heading=chunk.search_heading,
                citation=c,
                units=units,
                raw_text=chunk.text,
                raw_start=chunk.char_start,
            )
        )
    return out
