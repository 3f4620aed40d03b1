"""The result types every surface shares: ``Citation`` and ``Answer``.

The same ``Answer`` feeds the CLI, the browser chat, the HTTP API and the evaluation, so no surface
can drop citations another shows. ``to_dict()`` is JSON-serialisable; ``from_dict()`` reverses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class Citation:
    number: int  # the [n] marker used in Answer.text, numbered in order of first use
    document: str  # doc_id: path relative to the corpus folder
    heading_path: list[str]
    section_id: str
    chunk_id: str
    line_start: int  # 1-based lines of the quoted text in the document, inclusive
    line_end: int
    char_start: int  # offsets of the quoted text in the document (first quoted unit to last)
    char_end: int
    quote: str  # the exact sentences/items the answer used, markdown removed, joined by " "
    quotes: list[str] = field(default_factory=list)  # the same, one entry per sentence or item
    source_text: str = ""  # the document's raw text over [char_start, char_end)
    passage: str = ""  # the whole cited passage (display text), for context around the quote
    score: float = 0.0  # how well the quoted text matches the question
    page: int | None = None  # 1-based page of the quote in a paged document (PDF), else None
    page_end: int | None = None
    changed: str = ""  # "has changed" / "was removed": the file is no longer what was indexed

    @property
    def heading(self) -> str:
        return " > ".join(self.heading_path)

    @property
    def where(self) -> str:
        """``p. 12`` (``pp. 3-4``) for a paged document, else ``lines 8-9``."""
        if self.page is not None:
            if self.page_end and self.page_end != self.page:
                return f"pp. {self.page}-{self.page_end}"
            return f"p. {self.page}"
        return f"lines {self.line_start}-{self.line_end}"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["heading"] = self.heading
        return d

    @classmethod
    def from_dict(cls, d: dict) -> Citation:
        d = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**d)


@dataclass
class CheckedSentence:
    """One sentence of a generated answer and the grounding check's verdict (rag/generate/)."""

    text: str  # as the LLM wrote it, with its [n] markers
    supported: bool
    reason: str  # why it was kept ("supported by [2] ...") or removed ("number 20.25 not in [1]")
    cited: list[int] = field(default_factory=list)  # the [n] it carried (the LLM's numbering)
    support: float = 0.0  # the fitted support probability of its best cited unit
    quote: str = ""  # the best supporting unit of the cited passages

    def to_dict(self) -> dict:
        d = asdict(self)
        d["support"] = round(float(self.support), 4)
        return d


@dataclass
class Answer:
    question: str  # as asked
    rewritten_query: str  # the standalone question retrieval used (same as question if no history)
    text: str  # the answer, with [n] markers
    citations: list[Citation]
    abstained: bool
    reason: str  # why it answered or abstained, with the score and threshold
    score: float  # what the decision compared with threshold: P(answerable), or the evidence score
    threshold: float
    mode: str
    k: int
    p_answerable: float | None = None  # the trained scorer's calibrated P(answerable)
    understood_as: str | None = None  # how a follow-up was read, when that was a guess
    passages: list = field(default_factory=list)  # retrieval.Passage objects, best first
    timings_ms: dict[str, float] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)  # e.g. "the question was truncated to ..."
    generator: str = "extractive"  # "llm" when the shown text is the checked LLM answer
    checked_sentences: list[CheckedSentence] = field(default_factory=list)  # before removal
    fallback_reason: str | None = None  # why an LLM answer was asked for but not shown
    conflicts: list[Citation] = field(default_factory=list)  # other documents that disagree
    # the documents the citations quote, in order: document, title, entity, period, type
    documents: list[dict] = field(default_factory=list)
    # the filter it was answered under (Filters.to_dict() and a reason), None: every document
    scope: dict | None = None

    @property
    def quoted_from(self) -> str:
        """One line naming the documents the answer quotes: "From: Acme 10-K FY2023 (a.pdf)"."""
        if not self.documents:
            return ""
        names = [
            f"{d['title']} ({d['document']})" if d.get("title") else d["document"]
            for d in self.documents
        ]
        return "From: " + "; ".join(names)

    def to_dict(self) -> dict:
        return {
            "question": self.question,
            "rewritten_query": self.rewritten_query,
            "text": self.text,
            "abstained": self.abstained,
            "reason": self.reason,
            "score": round(float(self.score), 6),
            "threshold": self.threshold,
            "p_answerable": None if self.p_answerable is None else round(self.p_answerable, 6),
            "understood_as": self.understood_as,
            "mode": self.mode,
            "k": self.k,
            "citations": [c.to_dict() for c in self.citations],
            "passages": [p.to_dict() if hasattr(p, "to_dict") else p for p in self.passages],
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "notices": list(self.notices),
            "generator": self.generator,
            "checked_sentences": [c.to_dict() for c in self.checked_sentences],
            "fallback_reason": self.fallback_reason,
            "documents": [dict(d) for d in self.documents],
            "scope": None if self.scope is None else dict(self.scope),
            "conflicts": [c.to_dict() for c in self.conflicts],
        }

    @property
    def sources(self) -> list[str]:
        """One line per citation: ``[n] heading path (document, lines a-b)``."""
        return [f"[{c.number}] {c.heading} ({c.document}, {c.where})" for c in self.citations]
