"""Cheap, structured stand-in vectors for the scale benchmark (10k-100k chunks).

Embedding 100,000 chunks with the real encoder takes about half an hour on 2 cores, so the scale
benchmark measures the index itself (FAISS flat against HNSW, BM25, files, memory, latency, recall)
on vectors from ``BagOfWordsEmbedder``: a random projection of a text's bag of words. Every word gets
a fixed Gaussian vector (seeded by the word), a text is the normalised, IDF-free sum of its words'
vectors. It is not a language model, but its vectors have the structure that matters to an
approximate index: texts sharing words are close, so the sections of one profile cluster around its
names and a question lands near the sections that use its words. Real-encoder throughput is measured
separately, on real chunks, and the README gives both.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from rag.embedding import Embedder, normalise
from rag.lexical import words


class BagOfWordsEmbedder(Embedder):
    """Deterministic random projection of the bag of words (see module doc)."""

    def __init__(self, dimension: int = 384, seed: int = 0):
        self.name = f"bag-of-words-{dimension}-{seed}"
        self.dimension = dimension
        self.seed = seed
        self._words: dict[str, np.ndarray] = {}

    def word_vector(self, word: str) -> np.ndarray:
        vec = self._words.get(word)
        if vec is None:
            digest = hashlib.blake2b(f"{self.seed}:{word}".encode(), digest_size=8).digest()
            rng = np.random.default_rng(int.from_bytes(digest, "little"))
            vec = rng.standard_normal(self.dimension).astype(np.float32)
            self._words[word] = vec
        return vec

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            ws = words(text)
            if ws:
                out[row] = np.sum([self.word_vector(w) for w in ws], axis=0)
            else:
                out[row, 0] = 1.0
        return normalise(out)
