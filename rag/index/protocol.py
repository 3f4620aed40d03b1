"""The store protocol: what retrieval asks of wherever the chunks and their vectors live.

A store holds chunks (text, document, heading path, lines, vectors) and answers four questions:
the ``k`` chunks closest to a query vector (``dense``), the ``k`` best by BM25 (``lexical``), each
under a ``Filters`` value (documents, document types, periods), and what it holds (``get`` by chunk
id, with vectors if asked; ``count``). A store that can be written chunk by chunk also has ``upsert``
and ``delete`` (every chunk of one document), the shape of LlamaIndex's vector stores and Haystack's
document stores. Two stores implement it: ``rag.index.embedded`` (FAISS + bm25s in the data folder,
the default; written by a whole new build) and ``rag.index.milvus`` (a milvus-lite file or a Milvus
server; written chunk by chunk).

It deliberately does not fuse rankings or rerank: ``rag.retrieval`` fuses the dense and lexical
candidates by RRF in Python (it needs each passage's two ranks for the debug panel) and reranks them
by their sentences, the same recipe whatever the store. What the answer stage reads besides the
chunks (units, unit and token vectors, the vocabulary) stays in side tables the build writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from rag.chunking import Chunk
from rag.filters import Filters


@dataclass(frozen=True)
class Hit:
    """One chunk a search found: its id and score (cosine for dense, BM25 for lexical)."""

    id: str
    score: float

    def to_dict(self) -> dict:
        return {"id": self.id, "score": round(float(self.score), 6)}


@dataclass
class Stored:
    """A chunk as a store gives it back, with its vector when asked for."""

    chunk: Chunk
    vector: np.ndarray | None = None


@runtime_checkable
class SearchStore(Protocol):
    """The read side every store has."""

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        """The ``k`` chunks with the highest cosine to ``vector`` (unit length), best first."""

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        """At most ``k`` chunks with a positive BM25 score for ``query``, best first."""

    def lexical_scores(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        """BM25 scores of the chunks ``ids`` for ``query`` (0.0 where no term matches)."""

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[Stored]:
        """The chunks ``ids`` that the store holds, in the order asked."""

    def count(self, filters: Filters | None = None) -> int:
        """How many chunks pass ``filters``."""


@runtime_checkable
class Store(SearchStore, Protocol):
    """A store that is written chunk by chunk."""

    def upsert(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, records: dict | None = None
    ) -> int:
        """Insert or replace ``chunks`` (row i has vector i); ``records`` maps a document to its
        record (type, periods) for filtering. Returns how many were written."""

    def delete(self, document: str) -> int:
        """Remove every chunk of ``document``; returns how many there were."""
