"""Lexical matching: one tokenizer (lower-case, stop words out, Snowball-stemmed) and BM25 over it.

The same ``terms()`` feeds the BM25 index, the query, and the word-overlap part of answer scoring, so
"founded", "founder" and "Founding" meet as one stem everywhere. BM25 itself is bm25s.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import numpy as np

WORD_RE = re.compile(r"[^\W_]+(?:['’][^\W_]+)*", re.UNICODE)

# Small English stop list: function words plus question words, which carry no topic.
STOPWORDS = frozenset(
    """a an the and or but if then else of to in on at by for with from into onto about as is are was
    were be been being am do does did doing have has had having it its it's this that these those there
    here what which who whom whose when where why how can could should would will shall may might must
    i me my we our you your he him his she her they them their not no nor so than too very just also
    any all some each both few more most other such only own same s t don any tell me please give list
    name show describe explain much many does anything something
    under over between among within across behind after before during through against without upon
    via per onto off out up down""".split()
)
# auxiliary verbs, which open a question or follow its question word ("What *does* X do?")
AUXILIARIES = (
    "does do did is are was were can could will would has have had should may might".split()
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
    """BM25 (bm25s) over a list of texts, tokenized with ``terms``.

    bm25s builds the index and writes its files. Scoring reads bm25s's precomputed sparse matrix
    (``data``/``indices``/``indptr`` in CSC order, one column per term) and sums the columns of the
    query's terms exactly as ``bm25s.BM25.get_scores`` does, so a loaded index answers with the same
    scores without importing bm25s and scipy (a third of a second of every cold start)."""

    def __init__(
        self,
        vocab: dict[str, int],
        data: np.ndarray,
        indices: np.ndarray,
        indptr: np.ndarray,
        n_docs: int,
        params: dict | None = None,
        nonoccurrence: np.ndarray | None = None,
    ):
        self.vocab = vocab
        self.data = data
        self.indices = indices
        self.indptr = indptr
        self.n_docs = n_docs
        self.params = params or {}
        self.nonoccurrence = nonoccurrence
        self.dtype = np.dtype(self.params.get("dtype", "float32"))

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        import bm25s

        corpus = [terms(t) or ["\u2205"] for t in texts]
        retriever = bm25s.BM25()
        retriever.index(corpus, show_progress=False)
        index = cls(
            dict(retriever.vocab_dict),
            retriever.scores["data"],
            retriever.scores["indices"],
            retriever.scores["indptr"],
            len(texts),
            {"dtype": str(retriever.dtype), "num_docs": len(texts)},
            getattr(retriever, "nonoccurrence_array", None),
        )
        index._bm25 = retriever
        return index

    def save(self, folder) -> None:
        bm25 = getattr(self, "_bm25", None)
        if bm25 is not None:
            bm25.save(str(folder), show_progress=False)
            return
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "data.csc.index.npy", self.data)
        np.save(folder / "indices.csc.index.npy", self.indices)
        np.save(folder / "indptr.csc.index.npy", self.indptr)
        if self.nonoccurrence is not None:
            np.save(folder / "nonoccurrence_array.index.npy", self.nonoccurrence)
        (folder / "vocab.index.json").write_text(json.dumps(self.vocab), encoding="utf-8")
        (folder / "params.index.json").write_text(
            json.dumps(self.params, indent=4), encoding="utf-8"
        )

    @classmethod
    def load(cls, folder, n_docs: int) -> LexicalIndex:
        """Read the files bm25s wrote (plain ``.npy`` and JSON; no bm25s import)."""
        folder = Path(folder)
        params = json.loads((folder / "params.index.json").read_text(encoding="utf-8"))
        vocab = json.loads((folder / "vocab.index.json").read_text(encoding="utf-8"))
        nnoc_path = folder / "nonoccurrence_array.index.npy"
        index = cls(
            vocab,
            np.load(folder / "data.csc.index.npy", allow_pickle=False),
            np.load(folder / "indices.csc.index.npy", allow_pickle=False),
            np.load(folder / "indptr.csc.index.npy", allow_pickle=False),
            n_docs,
            params,
            np.load(nnoc_path, allow_pickle=False) if nnoc_path.is_file() else None,
        )
        if int(params.get("num_docs", n_docs)) != n_docs or len(index.indptr) > len(vocab) + 1:
            raise ValueError(f"{folder}: the BM25 files do not match {n_docs} chunks")
        return index

    def scores(self, query: str) -> np.ndarray:
        # bm25s's vocabulary also holds "", which has no column (and no query term is empty)
        ids = [self.vocab[t] for t in terms(query) if t in self.vocab]
        scores = np.zeros(self.n_docs, dtype=self.dtype)
        if not ids:
            return scores.astype(np.float32, copy=False)
        # the same summation, in the same order, as bm25s.BM25._compute_relevance_from_scores
        for t in ids:
            start, end = self.indptr[t], self.indptr[t + 1]
            np.add.at(scores, self.indices[start:end], self.data[start:end])
        if self.nonoccurrence is not None:
            scores += self.nonoccurrence[np.asarray(ids)].sum()
        return scores.astype(np.float32, copy=False)

    def vocabulary(self) -> set[str]:
        return set(self.vocab)
