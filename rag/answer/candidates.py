"""Candidate units: every sentence or list item of the retrieved passages, with the signals that
say how well it answers the question.

For each unit: its cosine with the focused question, the IDF-weighted share of the question's terms
it (or its headings) covers, the question's cosine with its whole passage, its token alignment
(``rag.retrieval.align_rows``), whether it holds the kind of thing asked for, and the passage's
retrieval ranks. ``prior`` is the hand-set combination the engine ranked by before it had a trained
scorer (kept as one input of that scorer and as its fallback); ``prob`` is the scorer's probability
that the unit answers (``rag.answer.model``), filled in by the composer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.answer.config import AnswerConfig
from rag.answer.kinds import has_kind
from rag.answer.matching import QTerm, coverage
from rag.answer.question import QuestionAnalysis
from rag.chunking import Unit
from rag.corpus_stats import CorpusStats
from rag.index import Index
from rag.retrieval import Passage, align_rows


@dataclass
class Candidate:
    chunk_index: int
    unit_index: int  # within the chunk
    row: int  # row in index.unit_vectors
    unit: Unit
    cosine: float  # question vs unit embedding
    coverage: float  # IDF-weighted share of the question's terms in the unit or its headings
    passage_cosine: float  # question vs the unit's whole passage
    alignment: float  # token alignment of the question with the unit
    typed: bool  # the unit holds the kind of thing asked for (a date for "when", ...)
    passage_rank: int  # rank of its passage in the retrieved list (1 = first)
    lexical: float  # its passage's BM25 score (0 when not found lexically)
    evidence: float  # cosine + lexical_weight * coverage + passage_weight * passage cosine
    prior: float  # evidence + type bonus + token alignment: the hand-set ranking score
    prob: float = 0.0  # P(this unit answers), from the trained scorer

    @property
    def score(self) -> float:
        """How well the unit answers, as shown in citations: the scorer's probability when it
        ran, else the prior."""
        return self.prob if self.prob else self.prior


def gather(
    index: Index,
    stats: CorpusStats,
    analysis: QuestionAnalysis,
    qvec: np.ndarray,
    passages: list[Passage],
    q_terms: list[QTerm],
    config: AnswerConfig,
    q_tokens: np.ndarray | None = None,
) -> list[Candidate]:
    """Every unit of the passages' chunks, ranked by their prior (best first)."""
    out = []
    for rank, p in enumerate(passages, 1):
        ci = index.by_id[p.chunk.id]
        chunk = index.chunks[ci]
        rows = index.unit_rows(ci)
        if not len(rows):
            continue
        passage_cos = float(index.dense.reconstruct(int(ci)) @ qvec)
        dense = index.unit_vectors[rows.start : rows.stop] @ qvec
        aligned = align_rows(index, q_tokens, rows)
        for ui, (row, unit) in enumerate(zip(rows, chunk.units, strict=True)):
            cov = coverage(q_terms, stats.unit_terms[row])
            typed = analysis.kind != "other" and has_kind(
                unit.text, analysis.kind, config.coined_zipf
            )
            evidence = (
                float(dense[ui]) + config.lexical_weight * cov + config.passage_weight * passage_cos
            )
            prior = (
                evidence
                + (config.type_bonus if typed else 0.0)
                + config.token_weight * float(aligned[ui])
            )
            out.append(
                Candidate(
                    chunk_index=ci,
                    unit_index=ui,
                    row=row,
                    unit=unit,
                    cosine=float(dense[ui]),
                    coverage=cov,
                    passage_cosine=passage_cos,
                    alignment=float(aligned[ui]),
                    typed=typed,
                    passage_rank=rank,
                    lexical=float(p.lexical_score or 0.0),
                    evidence=evidence,
                    prior=prior,
                )
            )
    out.sort(key=lambda c: -c.prior)
    return out
