"""Lexical matching: one tokenizer (lower-case, stop words out, Snowball-stemmed) and BM25 over it.

The same ``terms()`` feeds the BM25 index, the query, and the word-overlap part of answer scoring, so
"founded", "founder" and "Founding" meet as one stem everywhere. BM25 itself is bm25s.
"""

from __future__ import annotations

import re
from functools import lru_cache

import numpy as np

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Small English stop list: function words plus question words, which carry no topic.
STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was
    were be been being am do does did doing have has had having it its it's this that these those there
    here what which who whom whose when where why how can could should would will shall may might must
    i me my we our you your he him his she her they them their not no nor so than too very just also
    any all some each both few more most other such only own same s t don any tell me please give list
    name show describe explain much many does anything something""".split()
)


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def words(text: str) -> list[str]:
    """Lower-cased word tokens, possessive 's dropped."""
    out = []
    for w in WORD_RE.findall(text.lower()):
        w = w.replace("’", "'")
        if w.endswith("'s"):
            w = w[:-2]
        out.append(w)
    return out


def stem(word: str) -> str:
    return _stemmer().stemWord(word)


def terms(text: str, keep_stopwords: bool = False) -> list[str]:
    """Stemmed content terms of ``text``: what BM25 indexes and queries with."""
    ws = words(text)
    if not keep_stopwords:
        ws = [w for w in ws if w not in STOPWORDS]
    return _stemmer().stemWords(ws) if ws else []


class LexicalIndex:
    """BM25 (bm25s) over a list of texts, tokenized with ``terms``."""

    def __init__(self, retriever, n_docs: int):
        self._bm25 = retriever
        self.n_docs = n_docs

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        import bm25s

        corpus = [terms(t) or ["\u2205"] for t in texts]
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder) -> None:
        self._bm25.save(str(folder), show_progress=False)

    @classmethod
    def load(cls, folder, n_docs: int) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder), show_progress=False), n_docs)

    def scores(self, query: str) -> np.ndarray:
        q = [t for t in terms(query) if t in self._bm25.vocab_dict]
        if not q:
            return np.zeros(self.n_docs, dtype=np.float32)
        return np.asarray(self._bm25.get_scores(q), dtype=np.float32)

    def vocabulary(self) -> set[str]:
        return set(self._bm25.vocab_dict)
