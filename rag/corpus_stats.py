"""``CorpusStats``: what retrieval and answering know about the words of one index, computed once.

Per unit and per chunk: its stemmed terms and its headings' terms; per term: its IDF (over the
documents of at least ``MIN_DOC_CHUNKS`` chunks, so unrelated small files do not move it); for the
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


# a document of fewer chunks takes no part in the statistics that say which words are common (the
# IDFs and the ubiquitous words), unless no document is this large; its own rare terms still count
MIN_DOC_CHUNKS = 5


class CorpusStats:
    def __init__(self, index: Index, embedder=None, ubiquitous_share: float = 0.8):
        self.index = index
        self.embedder = embedder
        n_rows = len(index.unit_vectors)
        # frozen: ``rag.answer.matching`` caches per set
        self.unit_terms: list[frozenset[str]] = []  # terms of the unit and its headings, per row
        self.own_terms: list[frozenset[str]] = []  # terms of the unit alone
        self.heading_terms: list[frozenset[str]] = []  # terms of the chunk's headings, per chunk
        # what the statistics are taken over: the documents large enough to have any (a one-line
        # note beside a profile must not make the profile's subject word rare, or its terms common)
        sizes = Counter(c.doc_id for c in index.chunks)
        counted = {d for d, n in sizes.items() if n >= MIN_DOC_CHUNKS} or set(sizes)
        df: Counter[str] = Counter()
        small_df: Counter[str] = Counter()  # terms of the small documents, for their own IDF
        n_counted = 0
        for chunk in index.chunks:
            heading_terms = frozenset(terms(chunk.search_heading))
            self.heading_terms.append(heading_terms)
            big = chunk.doc_id in counted
            for u in chunk.units:
                own = frozenset(terms(u.text))
                self.own_terms.append(own)
                self.unit_terms.append(own | heading_terms)
                (df if big else small_df).update(own | heading_terms)
                n_counted += big
        n_rows = max(n_counted, 1) if counted else n_rows
        for t, c in small_df.items():  # a term only small documents hold is rare
            df.setdefault(t, c)
        self.idf = {t: math.log(1 + n_rows / c) for t, c in df.items()}
        self.max_idf = math.log(1 + max(n_rows, 1))
        chunk_df: Counter[str] = Counter()
        # the initials of each chunk's multi-word names ("sp" for a "Scottish Parliament" it names)
        self.chunk_initialisms: list[frozenset[str]] = []
        big_df: Counter[str] = Counter()  # over the chunks of the counted documents
        for chunk in index.chunks:
            chunk_words = set(words(chunk.embed_text))
            chunk_df.update(chunk_words)
            if chunk.doc_id in counted:
                big_df.update(chunk_words)
            self.chunk_initialisms.append(frozenset(initialisms(chunk.clean)))
        abbreviations = set().union(*self.chunk_initialisms)
        self.corpus_words = set(chunk_df)
        self.corpus_stems = {stem(w) for w in chunk_df}
        self.initialisms = abbreviations - self.corpus_words
        n = sum(sizes[d] for d in counted)
        self.ubiquitous = (
            {w for w, c in big_df.items() if c >= ubiquitous_share * n} if n >= 5 else set()
        )
        self.ubiquitous_stems = {stem(w) for w in self.ubiquitous}
        # per document: its terms, and its subject (the terms in nearly all of its chunks, the
        # title among them) when it is large enough to have one; see ``subject_documents``
        self.doc_terms: dict[str, set[str]] = {}
        doc_df: dict[str, Counter[str]] = {}
        for ci, chunk in enumerate(index.chunks):
            chunk_terms = self.heading_terms[ci].union(
                *(self.own_terms[r] for r in index.unit_rows(ci))
            )
            self.doc_terms.setdefault(chunk.doc_id, set()).update(chunk_terms)
            doc_df.setdefault(chunk.doc_id, Counter()).update(chunk_terms)
        self.subjects: dict[str, set[str]] = {
            d: {t for t, c in doc_df[d].items() if c >= ubiquitous_share * sizes[d]}
            for d in doc_df
            if sizes[d] >= MIN_DOC_CHUNKS
        }
        # the corpus vocabulary and its vectors are computed once, at index time (index.vocabulary)
        self.vocab = index.vocab
        self.vocab_stems = [stem(w) for w in self.vocab]
        self.vpos = {w: i for i, w in enumerate(self.vocab)}
        # the words a question word may widen to: those of the counted documents (a note's words
        # still match as themselves; they only do not become another word's synonyms)
        counted_words = set(big_df)
        self._widen = np.array([w in counted_words for w in self.vocab], dtype=bool)
        self.title_terms = [set(terms(c.heading_path[0])) for c in index.chunks]
        self._synonyms: dict[tuple[str, float], frozenset[str]] = {}

    def subject_documents(self, query_terms: set[str]) -> set[str] | None:
        """The documents to answer from when the query names a document's subject ("SenseTime"
        in a profile of it): those whose text holds one of the subjects it names. None when it
        names none. A one-line note that never mentions the subject a question names cannot
        outrank the document about it, however well its other words match."""
        named = {t for terms_ in self.subjects.values() for t in terms_ & query_terms}
        if not named:
            return None
        return {d for d, t in self.doc_terms.items() if t & named}

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
                hits = np.nonzero((row >= threshold) & self._widen)[0]
                self._synonyms[(t, threshold)] = frozenset(self.vocab_stems[i] for i in hits)
        return {t: set(self._synonyms[(t, threshold)]) for t in tokens}
