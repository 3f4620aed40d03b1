"""Retrieval: dense (FAISS), lexical (BM25) or hybrid (reciprocal rank fusion) passages.

A ``Passage`` is a chunk with how it was found: its dense rank and cosine, its lexical rank and BM25
score, and the fused score it was sorted by, so a user can see why a passage came first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.chunking import Chunk
from rag.index import Index

MODES = ("dense", "bm25", "hybrid")


@dataclass
class Passage:
    chunk: Chunk
    rank: int  # 1-based rank in the final list
    score: float  # the score the list is sorted by (RRF for hybrid, cosine or BM25 otherwise)
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None

    def to_dict(self, with_text: bool = True) -> dict:
        d = {
            "rank": self.rank,
            "score": round(float(self.score), 6),
            "dense_rank": self.dense_rank,
            "dense_score": None if self.dense_score is None else round(float(self.dense_score), 6),
            "lexical_rank": self.lexical_rank,
            "lexical_score": None
            if self.lexical_score is None
            else round(float(self.lexical_score), 6),
            "chunk_id": self.chunk.id,
            "document": self.chunk.doc_id,
            "section_id": self.chunk.section_id,
            "heading_path": list(self.chunk.heading_path),
            "heading": self.chunk.heading,
            "line_start": self.chunk.line_start,
            "line_end": self.chunk.line_end,
        }
        if with_text:
            d["text"] = self.chunk.clean
        return d


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a retrieval mode: use one of {', '.join(MODES)}")
    return mode


class Retriever:
    """Ranks the chunks of an ``Index`` for a query vector and a query text."""

    def __init__(self, index: Index, rrf_k: int = 60):
        self.index = index
        self.rrf_k = rrf_k

    def dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the query with every chunk (exact inner product on normalised vectors)."""
        n = len(self.index.chunks)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        scores, ids = self.index.dense.search(query_vector.reshape(1, -1).astype(np.float32), n)
        out = np.full(n, -1.0, dtype=np.float32)
        valid = ids[0] >= 0
        out[ids[0][valid]] = scores[0][valid]
        return out

    def retrieve(
        self, query: str, query_vector: np.ndarray | None, k: int = 5, mode: str = "hybrid"
    ) -> list[Passage]:
        check_mode(mode)
        n = len(self.index.chunks)
        if n == 0 or k < 1:
            return []
        dense = lexical = None
        dense_rank: dict[int, int] = {}
        lexical_rank: dict[int, int] = {}
        if mode in ("dense", "hybrid"):
            if query_vector is None:
                raise ValueError(f"mode={mode!r} needs a query vector")
            dense = self.dense_scores(query_vector)
            for r, i in enumerate(np.argsort(-dense, kind="stable"), 1):
                dense_rank[int(i)] = r
        if mode in ("bm25", "hybrid"):
            lexical = self.index.lexical.scores(query)
            order = [int(i) for i in np.argsort(-lexical, kind="stable") if lexical[i] > 0]
            for r, i in enumerate(order, 1):
                lexical_rank[i] = r
        if mode == "dense":
            ranked = [(i, float(dense[i])) for i in sorted(dense_rank, key=dense_rank.get)]
        elif mode == "bm25":
            ranked = [(i, float(lexical[i])) for i in sorted(lexical_rank, key=lexical_rank.get)]
        else:
            fused = {}
            for i in range(n):
                s = 1.0 / (self.rrf_k + dense_rank[i])
                if i in lexical_rank:
                    s += 1.0 / (self.rrf_k + lexical_rank[i])
                fused[i] = s
            ranked = sorted(fused.items(), key=lambda kv: (-kv[1], dense_rank[kv[0]]))
        out = []
        for r, (i, score) in enumerate(ranked[:k], 1):
            out.append(
                Passage(
                    chunk=self.index.chunks[i],
                    rank=r,
                    score=score,
                    dense_rank=dense_rank.get(i),
                    dense_score=None if dense is None else float(dense[i]),
                    lexical_rank=lexical_rank.get(i),
                    lexical_score=None if lexical is None else float(lexical[i]),
                )
            )
        return out
