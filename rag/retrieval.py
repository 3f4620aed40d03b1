"""Retrieval: dense (FAISS), lexical (BM25) or hybrid (reciprocal rank fusion) passages.

A ``Passage`` is a chunk with how it was found: its dense rank and cosine, its lexical rank and BM25
score, and the fused score it was sorted by, so a user can see why a passage came first.

Each ranking contributes its best ``depth`` chunks (at least ``k``) to the fusion, so a query costs
the same whether the corpus has a thousand chunks or a hundred thousand. A corpus of at most
``depth`` chunks is ranked in full, exactly, with ties broken by chunk order. On an approximate
index the dense ranking searches ``nprobe`` IVF clusters (``ivf_nprobe``) or ``ef_search`` HNSW
candidates.

The two rankings come from a store (``rag.index.protocol``: the embedded FAISS + bm25s, or Milvus)
under a ``Filters`` value; the fusion and the rerank are here, the same for every store.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rag.chunking import Chunk
from rag.corpus_stats import CorpusStats
from rag.filters import Filters
from rag.index import EF_SEARCH, NPROBE, EmbeddedStore, Index, SearchStore, ivf_nprobe, one_thread
from rag.lexical import terms

__all__ = ["EF_SEARCH", "NPROBE", "Passage", "Reranker", "Retriever", "ivf_nprobe", "one_thread"]

MODES = ("dense", "bm25", "hybrid")
DEPTH = 100  # chunks each ranking contributes to the fusion


@dataclass
class Passage:
    chunk: Chunk
    rank: int  # 1-based rank in the final list
    score: float  # the score the list is sorted by (RRF for hybrid, cosine or BM25 otherwise)
    dense_rank: int | None = None
    dense_score: float | None = None
    lexical_rank: int | None = None
    lexical_score: float | None = None
    rerank_score: float | None = None  # hybrid only: best unit cosine + bonuses (``Reranker``)
    page: int | None = None  # 1-based pages of a paged document (PDF), set by the chatbot
    page_end: int | None = None

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
            "rerank_score": None
            if self.rerank_score is None
            else round(float(self.rerank_score), 6),
            "chunk_id": self.chunk.id,
            "document": self.chunk.doc_id,
            "section_id": self.chunk.section_id,
            "heading_path": list(self.chunk.heading_path),
            "heading": self.chunk.heading,
            "line_start": self.chunk.line_start,
            "line_end": self.chunk.line_end,
        }
        if self.page is not None:
            d["page"], d["page_end"] = self.page, self.page_end
        if with_text:
            d["text"] = self.chunk.clean
        return d


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a retrieval mode: use one of {', '.join(MODES)}")
    return mode


class Retriever:
    """Ranks the chunks of an ``Index`` for a query vector and a query text.

    The rankings come from a store (``rag.index.protocol``): the index's own FAISS + bm25s by
    default, or another store holding the same chunks (Milvus). Fusion is here, whatever the
    store, so both give the same passages with the same ranks."""

    def __init__(
        self,
        index: Index,
        rrf_k: int = 60,
        depth: int = DEPTH,
        ef_search: int = EF_SEARCH,
        nprobe: int = NPROBE,
        store: SearchStore | None = None,
    ):
        self.index = index
        self.rrf_k = rrf_k
        self.depth = depth
        self.ef_search = ef_search
        self.nprobe = nprobe
        self.store = store if store is not None else EmbeddedStore(index, ef_search, nprobe)

    def dense_ranking(
        self, query_vector: np.ndarray, top: int, filters: Filters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``top`` chunks closest to the query, best first: (chunk indexes, cosines)."""
        if isinstance(self.store, EmbeddedStore):
            return self.store.dense_rows(query_vector, top, filters)
        return self._rows(self.store.dense(query_vector, top, filters))

    def _rows(self, hits) -> tuple[np.ndarray, np.ndarray]:
        """Hits of another store as rows of the served index, best first, ties in chunk order;
        a chunk the index does not hold (a newer build's) is left out."""
        by_id = self.index.by_id
        pairs = sorted(
            ((by_id[h.id], h.score) for h in hits if h.id in by_id), key=lambda t: (-t[1], t[0])
        )
        rows = np.array([r for r, _ in pairs], dtype=np.int64)
        return rows, np.array([s for _, s in pairs], dtype=np.float32)

    @staticmethod
    def lexical_ranking(scores: np.ndarray, top: int) -> np.ndarray:
        """Chunks with a positive BM25 score, best first (ties in chunk order), at most ``top``."""
        return EmbeddedStore.lexical_rows(scores, top)

    def retrieve(
        self,
        query: str,
        query_vector: np.ndarray | None,
        k: int = 5,
        mode: str = "hybrid",
        filters: Filters | None = None,
    ) -> list[Passage]:
        """The ``k`` best passages for the query; with ``filters``, only chunks they allow."""
        check_mode(mode)
        n = len(self.index.chunks)
        if n == 0 or k < 1:
            return []
        top = max(k, self.depth)
        embedded = isinstance(self.store, EmbeddedStore)
        lexical = None  # embedded: every chunk's BM25 score
        lexical_score: dict[int, float] = {}
        dense_rank: dict[int, int] = {}
        dense_score: dict[int, float] = {}
        lexical_rank: dict[int, int] = {}
        if mode in ("dense", "hybrid"):
            if query_vector is None:
                raise ValueError(f"mode={mode!r} needs a query vector")
            ids, scores = self.dense_ranking(query_vector, top, filters)
            for r, (i, score) in enumerate(zip(ids.tolist(), scores.tolist(), strict=True), 1):
                dense_rank[i] = r
                dense_score[i] = score
        if mode in ("bm25", "hybrid"):
            if embedded:
                lexical = self.store.lexical_array(query, filters)
                rows = self.lexical_ranking(lexical, top).tolist()
            else:
                rows, scores = self._rows(self.store.lexical(query, top, filters))
                rows = rows.tolist()
                lexical_score.update(zip(rows, scores.tolist(), strict=True))
            for r, i in enumerate(rows, 1):
                lexical_rank[i] = r
        if mode == "dense":
            ranked = [(i, dense_score[i]) for i in dense_rank]
        elif mode == "bm25":
            ranked = [
                (i, float(lexical[i]) if lexical is not None else lexical_score[i])
                for i in lexical_rank
            ]
        else:
            fused: dict[int, float] = {}
            for i, r in dense_rank.items():
                fused[i] = 1.0 / (self.rrf_k + r)
            for i, r in lexical_rank.items():
                fused[i] = fused.get(i, 0.0) + 1.0 / (self.rrf_k + r)
            last = len(dense_rank) + 1
            ranked = sorted(
                fused.items(), key=lambda kv: (-kv[1], dense_rank.get(kv[0], last), kv[0])
            )
        ranked = ranked[:k]
        chunks = self.index.chunks
        if mode != "dense" and lexical is None:
            # passages found by the dense ranking alone still carry their BM25 score
            missing = [chunks[i].id for i, _ in ranked if i not in lexical_score]
            if missing:
                got = self.store.lexical_scores(query, missing)
                for i, _ in ranked:
                    lexical_score.setdefault(i, got.get(chunks[i].id, 0.0))
        out = []
        for r, (i, score) in enumerate(ranked, 1):
            cosine = None
            if query_vector is not None and mode != "bm25":
                cosine = dense_score.get(i)
                if cosine is None:  # found by BM25 only, below the dense candidates
                    cosine = float(self.index.dense.reconstruct(int(i)) @ query_vector)
            if mode == "dense":
                lex = None
            else:
                lex = float(lexical[i]) if lexical is not None else lexical_score[i]
            out.append(
                Passage(
                    chunk=chunks[i],
                    rank=r,
                    score=score,
                    dense_rank=dense_rank.get(i),
                    dense_score=cosine,
                    lexical_rank=lexical_rank.get(i),
                    lexical_score=lex,
                )
            )
        return out


def align_rows(index: Index, q_tokens: np.ndarray | None, rows: range) -> np.ndarray:
    """Token alignment of a question with a run of consecutive unit rows (a chunk's): for each
    content token of the question, its best cosine with a content token of the unit, averaged.
    Contextual token vectors match a paraphrase ("spin out of" ~ "originating from") that one
    pooled vector per sentence blurs. Zeros without token vectors."""
    out = np.zeros(len(rows), dtype=np.float32)
    if q_tokens is None or not len(q_tokens) or not index.has_tokens or not len(rows):
        return out
    offsets = index.token_offsets[rows.start : rows.stop + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    if end == start:
        return out
    tokens = index.token_rows(start, end)
    sims = q_tokens @ tokens.T  # (question tokens, unit tokens of these rows)
    has = np.diff(offsets) > 0
    firsts = (offsets[:-1] - start)[has]
    out[has] = np.maximum.reduceat(sims, firsts, axis=1).mean(axis=0)
    return out


class Reranker:
    """Reorders candidate passages by their best unit: its cosine with the focused query plus a
    share of its token alignment, plus a small bonus for the passage's (capped) BM25 score and one
    when the query names the passage's document title (which only tells documents apart in a
    corpus of several). The weights are ``AnswerConfig``'s ``rerank_*`` and ``title_bonus``."""

    def __init__(
        self,
        index: Index,
        stats: CorpusStats,
        token_weight: float = 0.5,
        lexical_weight: float = 0.05,
        lexical_cap: float = 5.0,
        title_bonus: float = 0.1,
    ):
        self.index = index
        self.stats = stats
        self.token_weight = token_weight
        self.lexical_weight = lexical_weight
        self.lexical_cap = lexical_cap
        self.title_bonus = title_bonus

    def run(
        self,
        query: str,
        passages: list[Passage],
        fvec: np.ndarray,
        k: int,
        q_tokens: np.ndarray | None = None,
    ) -> list[Passage]:
        q_terms = set(terms(query))
        scored = []
        for p in passages:
            ci = self.index.by_id[p.chunk.id]
            rows = self.index.unit_rows(ci)
            cos = self.index.unit_vectors[rows.start : rows.stop] @ fvec if len(rows) else [-1.0]
            if q_tokens is not None and len(rows):
                cos = cos + self.token_weight * align_rows(self.index, q_tokens, rows)
            score = float(np.max(cos)) + self.lexical_weight * min(
                p.lexical_score or 0.0, self.lexical_cap
            )
            if q_terms & self.stats.title_terms[ci]:
                score += self.title_bonus
            scored.append((score, p))
        scored.sort(key=lambda t: -t[0])
        out = []
        for rank, (score, p) in enumerate(scored[:k], 1):
            p.rank = rank
            p.rerank_score = score
            out.append(p)
        return out
