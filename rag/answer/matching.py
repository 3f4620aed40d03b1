"""Word matching shared by the answer stages: soft stem equality, question terms with their
near-synonyms in the corpus, and IDF-weighted coverage. Pure functions over ``CorpusStats``."""

from __future__ import annotations

import functools
import re

from rag.corpus_stats import CorpusStats
from rag.lexical import STOPWORDS, stem, terms, words

NUMBER_RE = re.compile(r"\d")

QTerm = tuple[str, float, set[str]]  # (stem, idf weight, stems that count as a match)


def _us_spelling(stem_: str) -> str:
    """A stem in American spelling: -tre -> -ter, -our -> -or, -is(e) -> -iz(e)."""
    stem_ = re.sub(r"([^aeiou])r$", r"\1er", stem_)
    stem_ = re.sub(r"our$", "or", stem_)
    return re.sub(r"([^aeiou])is$", r"\1iz", stem_)


@functools.lru_cache(maxsize=1 << 16)
def soft_equal(a: str, b: str) -> bool:
    """Same stem; British and American spellings ("centr"/"center"); one the agent noun of the
    other ("found"/"founder"); or a long shared prefix ("expand"/"expans"): at least 5 letters and
    80% of the longer word."""
    if a == b or _us_spelling(a) == _us_spelling(b):
        return True
    for x, y in ((a, b), (b, a)):
        for suffix in ("er", "or", "r"):
            if x == y + suffix and len(y) >= 3:
                return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 6 and long_.startswith(short):
        return True  # "partner" / "partnership"
    if min(len(a), len(b)) >= 5:
        common = 0
        for ca, cb in zip(a, b, strict=False):
            if ca != cb:
                break
            common += 1
        if common >= 5 and common >= 0.8 * max(len(a), len(b)):
            return True
    return False


def query_terms(question: str, stats: CorpusStats, synonym_threshold: float) -> list[QTerm]:
    """(stem, idf weight, stems that count as a match) for each content term of the question. A
    word the corpus never uses, and any common noun or verb (not a name: "China" is not
    "Shanghai"), also matches the corpus words closest to it in meaning ("shops" ~ "retail")."""
    stems = list(dict.fromkeys(terms(question)))
    names = {w.lower() for w in re.findall(r"\b[A-Z][\w'’&.-]*", question)}
    content = [
        w
        for w in dict.fromkeys(words(question))
        if w not in STOPWORDS
        and w not in stats.ubiquitous
        and stem(w) in stems
        and not NUMBER_RE.search(w)
        and (stem(w) not in stats.corpus_stems or w not in names)
    ]
    syn = stats.synonyms(content, synonym_threshold)
    by_stem: dict[str, set[str]] = {}
    for w, alts in syn.items():
        by_stem.setdefault(stem(w), set()).update(alts)
    return [(t, stats.idf.get(t, stats.max_idf), {t} | by_stem.get(t, set())) for t in stems]


@functools.lru_cache(maxsize=1 << 16)
def _by_prefix(unit_terms: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """A unit's terms grouped by their first three letters: ``soft_equal`` stems always share
    them, so a question term is compared only with the few terms that could match."""
    out: dict[str, list[str]] = {}
    for u in unit_terms:
        out.setdefault(u[:3], []).append(u)
    return {k: tuple(v) for k, v in out.items()}


def matches(alts: set[str], unit_terms: frozenset[str] | set[str]) -> bool:
    """Does any of ``alts`` equal a term of ``unit_terms`` softly (``soft_equal``)?"""
    if not alts.isdisjoint(unit_terms):
        return True
    groups = _by_prefix(unit_terms if isinstance(unit_terms, frozenset) else frozenset(unit_terms))
    return any(soft_equal(a, u) for a in alts for u in groups.get(a[:3], ()))


def coverage(q_terms: list[QTerm], unit_terms: frozenset[str] | set[str]) -> float:
    """The IDF-weighted share of the question's terms that ``unit_terms`` match (softly)."""
    total = sum(w for _, w, _ in q_terms)
    if not total:
        return 0.0
    matched = sum(w for _, w, alts in q_terms if matches(alts, unit_terms))
    return matched / total


def known_terms(q_terms: list[QTerm], stats: CorpusStats) -> list[QTerm]:
    """Only the terms the documents know (themselves or by a near-synonym)."""
    return [t for t in q_terms if t[2] & stats.corpus_stems or t[0] in stats.corpus_stems]
