"""``CorpusStats``: what retrieval and answering know about the words of one index, computed once.

Per unit and per chunk: its stemmed terms and its headings' terms; per term: its IDF; for the
corpus: the words and stems it knows, the words in nearly every chunk (the subject of a one-company
profile, which tells passages apart not at all), the initialisms of its multi-word names ("SP" for a
"Scottish Parliament" the text spells out), and the vocabulary vectors that widen a question word to
the corpus words closest to it in meaning. The focused query (``focus``) that units are compared
with is built here, so retrieval's reranker and the answer stage use the same one.

It reads the index; it never searches it and never composes an answer.
"""

from __future__ import annotations

import math
import re
from collections import Counter

import numpy as np

from rag.index import Index
from rag.lexical import STOPWORDS, stem, terms, words

# "the company", "this firm's": a reference to the documents' subject (see ``subject_free``)
SUBJECT_REF_RE = re.compile(
    r"\b(the|this|that|your|our)\s+(company|firm|business|organi[sz]ation|corporation|enterprise)"
    r"(['’]s)?(?![\w-])",
    re.IGNORECASE,
)
# a run of capitalised words, allowing short joiners ("Bank of England"): a multi-word name
_NAME_RUN_RE = re.compile(r"\b[A-Z][\w'’-]*(?:\s+(?:of|the|and|for|de|du|la|le)?\s*[A-Z][\w'’-]*)+")
_JOINERS = {"of", "the", "and", "for", "de", "du", "la", "le"}


def initialisms(text: str) -> set[str]:
    """Lower-cased initials of the multi-word names in ``text``: "Scottish Parliament" -> "sp",
    "Bank of England" -> "be" and "boe"."""
    out = set()
    for m in _NAME_RUN_RE.finditer(text):
        parts = m.group(0).split()
        while parts and parts[0] in ("The", "A", "An"):
            parts = parts[1:]
        if len(parts) < 2:
            continue
        full = "".join(p[0] for p in parts).lower()
        short = "".join(p[0] for p in parts if p.lower() not in _JOINERS).lower()
        out.update(x for x in (full, short) if len(x) >= 2)
    return out


class CorpusStats:
    def __init__(self, index: Index, embedder=None, ubiquitous_share: float = 0.8):
        self.index = index
        self.embedder = embedder
        n_rows = len(index.unit_vectors)
        # frozen: ``rag.answer.matching`` caches per set
        self.unit_terms: list[frozenset[str]] = []  # terms of the unit and its headings, per row
        self.own_terms: list[frozenset[str]] = []  # terms of the unit alone
        self.heading_terms: list[frozenset[str]] = []  # terms of the chunk's headings, per chunk
        df: Counter[str] = Counter()
        for chunk in index.chunks:
            heading_terms = frozenset(terms(chunk.search_heading))
            self.heading_terms.append(heading_terms)
            for u in chunk.units:
                own = frozenset(terms(u.text))
                self.own_terms.append(own)
                self.unit_terms.append(own | heading_terms)
                df.update(own | heading_terms)
        self.idf = {t: math.log(1 + n_rows / c) for t, c in df.items()}
        self.max_idf = math.log(1 + max(n_rows, 1))
        chunk_df: Counter[str] = Counter()
        # the initials of each chunk's multi-word names ("sp" for a "Scottish Parliament" it names)
        self.chunk_initialisms: list[frozenset[str]] = []
        for chunk in index.chunks:
            chunk_df.update(set(words(chunk.embed_text)))
            self.chunk_initialisms.append(frozenset(initialisms(chunk.clean)))
        abbreviations = set().union(*self.chunk_initialisms)
        self.corpus_words = set(chunk_df)
        self.corpus_stems = {stem(w) for w in chunk_df}
        self.initialisms = abbreviations - self.corpus_words
        n = len(index.chunks)
        self.ubiquitous = (
            {w for w, c in chunk_df.items() if c >= ubiquitous_share * n} if n >= 5 else set()
        )
        self.ubiquitous_stems = {stem(w) for w in self.ubiquitous}
        # the corpus vocabulary and its vectors are computed once, at index time (index.vocabulary)
        self.vocab = index.vocab
        self.vocab_stems = [stem(w) for w in self.vocab]
        self.vpos = {w: i for i, w in enumerate(self.vocab)}
        self.title_terms = [set(terms(c.heading_path[0])) for c in index.chunks]
        self._synonyms: dict[tuple[str, float], frozenset[str]] = {}

    # ---- the query as units are matched ------------------------------------------------------------

    def subject_free(self, query: str) -> str:
        """The query without phrases that only point back at the documents' subject ("the
        company", "the firm's"): they say nothing about which passage answers, yet match a
        heading such as "Company Info". Kept when a corpus word follows ("the business segment")."""

        def drop(m: re.Match) -> str:
            after = query[m.end() :]
            nxt = re.match(r"\s+([A-Za-z][\w-]*)", after)
            if not m.group(3) and nxt and (w := nxt.group(1).lower()) not in STOPWORDS:
                if stem(w) in self.corpus_stems:
                    return m.group(0)
            return " "

        cleaned = " ".join(SUBJECT_REF_RE.sub(drop, query).split())
        return cleaned if words(cleaned) else query

    def focus(self, query: str) -> str:
        """The query without the corpus's ubiquitous words and references to its subject: what is
        embedded to compare with units, which are embedded without the document title."""
        query = self.subject_free(query)
        if not self.ubiquitous:
            return query
        kept = [
            tok
            for tok in re.split(r"(\s+)", query)
            if not (words(tok) and all(w in self.ubiquitous for w in words(tok)))
        ]
        focused = " ".join("".join(kept).split())
        return focused if words(focused) else query

    def knows(self, word: str) -> bool:
        """Is ``word`` (lower-cased) a word, stem or defined initialism of the corpus?"""
        return (
            word in self.corpus_words or stem(word) in self.corpus_stems or word in self.initialisms
        )

    # ---- word-level neighbours -------------------------------------------------------------------

    def vocab_matrix(self) -> np.ndarray:
        return self.index.vocab_vectors

    def synonyms(self, tokens: list[str], threshold: float) -> dict[str, set[str]]:
        """For each token, the stems of corpus words whose embedding is within ``threshold``.
        Remembered per (token, threshold): a word costs one product with the vocabulary once."""
        if self.embedder is None or not self.vocab or not tokens:
            return {t: set() for t in tokens}
        missing = [t for t in dict.fromkeys(tokens) if (t, threshold) not in self._synonyms]
        if missing:
            vecs = self.embedder.embed(missing)
            sims = vecs @ self.vocab_matrix().T
            if len(self._synonyms) > 100_000:
                self._synonyms.clear()
            for t, row in zip(missing, sims, strict=True):
                hits = np.nonzero(row >= threshold)[0]
                self._synonyms[(t, threshold)] = frozenset(self.vocab_stems[i] for i in hits)
        return {t: set(self._synonyms[(t, threshold)]) for t in tokens}
