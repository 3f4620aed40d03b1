"""The answer shown after generation: the checked sentences with their citations, or the
extractive answer with a one-line note saying why the LLM's answer is not shown.

Citations of a generated answer are rebuilt from the check: each kept sentence cites the sources
that hold its supporting units (numbered anew in order of first use), and each citation quotes
exactly those units, with their lines and character offsets in the document, as extractive
citations do.
"""

from __future__ import annotations

from dataclasses import replace

from rag.answer.render import quote_span
from rag.answer_types import Answer, Citation
from rag.generate.base import Source


def fallback(answer: Answer, reason: str, checks) -> Answer:
    """The extractive answer, marked with why the LLM's answer is not shown."""
    answer.generator = "extractive"
    answer.fallback_reason = reason
    answer.checked_sentences = [c.result for c in checks]
    answer.notices = [*answer.notices, f"Showing the quoted answer: {reason}."]
    return answer


def checked_answer(answer: Answer, sources: list[Source], checks) -> Answer:
    """The LLM's supported sentences as the answer; the extractive answer when none is left."""
    if not checks:
        return fallback(answer, "the LLM's reply held no sentence", checks)
    kept = [c for c in checks if c.result.supported]
    if not kept:
        return fallback(
            answer, "no sentence of the LLM's answer is supported by its sources", checks
        )
    by_number = {s.number: s for s in sources}
    numbers: dict[int, int] = {}  # source number -> new citation number
    used: dict[int, set[int]] = {}  # source number -> supporting unit indexes
    lines: list[str] = []
    paragraph = None
    for c in kept:
        marks = []
        for n, units in c.support.items():
            if n not in numbers:
                numbers[n] = len(numbers) + 1
                used[n] = set()
            used[n].update(units)
            marks.append(f"[{numbers[n]}]")
        sentence = f"{c.body} {''.join(marks)}".strip()
        if c.piece.item:
            lines.append(f"- {sentence}")
            paragraph = None
        elif paragraph == c.piece.paragraph and lines:
            lines[-1] = f"{lines[-1]} {sentence}"
        else:
            lines.append(sentence)
            paragraph = c.piece.paragraph
    citations = [
        _citation(by_number[n], new, sorted(used[n]), max(c.result.support for c in kept))
        for n, new in numbers.items()
    ]
    removed = len(checks) - len(kept)
    notices = list(answer.notices)
    if removed:
        notices.append(
            f"{removed} of {len(checks)} generated sentence(s) removed: their sources do not "
            "support them (see the answer's details)."
        )
    return replace(
        answer,
        text="\n".join(lines),
        citations=citations,
        generator="llm",
        checked_sentences=[c.result for c in checks],
        fallback_reason=None,
        notices=notices,
    )


def _citation(source: Source, number: int, unit_indexes: list[int], score: float) -> Citation:
    c = source.citation
    units = [source.units[i] for i in unit_indexes] or source.units[:1]
    start, end = units[0].char_start, units[-1].char_end
    raw = source.raw_text
    lo, hi = start - source.raw_start, end - source.raw_start
    text = raw[lo:hi] if raw and 0 <= lo <= hi <= len(raw) else ""
    return replace(c, number=number, score=round(float(score), 4), **quote_span(units, text))
