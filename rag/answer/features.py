"""Features: pure functions from (question analysis, candidate, its neighbours) to numbers.

Two vectors feed the trained scorer (``rag.answer.model``):

- ``unit_features``: how well one candidate unit answers the question (``UNIT_FEATURES`` names
  them): its similarity signals, whether it holds the kind of thing asked for, how it compares with
  the best candidate, its shape (length, list item, label) and its passage's retrieval rank.
- ``question_features``: whether the question can be answered at all (``QUESTION_FEATURES``): the
  best candidates' probabilities and signals, and each answerability check's verdict.

Changing either list changes the model's input: bump ``FEATURE_VERSION`` and retrain (``rag train``).
"""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from rag.answer.answerability import CHECKS, Verdicts
from rag.answer.candidates import Candidate
from rag.answer.kinds import LABEL_RE, STRICT_KINDS
from rag.answer.question import QuestionAnalysis
from rag.lexical import STOPWORDS, words

FEATURE_VERSION = 3

UNIT_FEATURES = (
    "cosine",
    "coverage",
    "passage_cosine",
    "alignment",
    "typed",
    "strict_kind_missing",
    "inverse_passage_rank",
    "lexical",
    "log_words",
    "list_item",
    "labelled",
    "named_share",
    "prior_gap",
    "cosine_gap",
    "first_in_chunk",
    "bigram_share",
    "novel_names",
    "negation_mismatch",
)
QUESTION_FEATURES = (
    "best_prob",
    "second_prob",
    "prob_gap",
    "best_evidence",
    "best_cosine",
    "best_alignment",
    "best_coverage",
    "best_passage_cosine",
    "best_named_share",
    "kind_other",
    "kind_person",
    "kind_name",
    "kind_strict",
    "named_count",
    "rare_missing_in_unit",
    "rare_missing_in_passage",
    "best_bigram_share",
    "best_negation_mismatch",
    *(f"check_{c}" for c in CHECKS),
)


def named_words(a: QuestionAnalysis, ubiquitous: set[str]) -> set[str]:
    """The lower-cased words of the names and numbers the question holds (its subject left out)."""
    out = set()
    for tok, _ in a.named:
        out.update(w for w in words(tok) if w not in STOPWORDS and w not in ubiquitous)
    return out


def named_share(named: set[str], text: str) -> float:
    """Share of the question's names and numbers that ``text`` holds (1 when it names none)."""
    if not named:
        return 1.0
    have = set(words(text))
    return sum(w in have for w in named) / len(named)


NEGATION = frozenset("not no never none nothing nobody neither nor without cannot n't".split())
_NAME_OR_FIGURE_RE = re.compile(r"(?<=\s)[A-Z][\w'’-]*|\S*\d\S*")


def negated(text: str) -> bool:
    return bool(NEGATION & set(words(text.replace("n't", " n't"))))


def bigrams(text: str) -> set[tuple[str, str]]:
    """Pairs of consecutive content words (stop words dropped first)."""
    ws = [w for w in words(text) if w not in STOPWORDS]
    return set(zip(ws, ws[1:], strict=False))


@functools.lru_cache(maxsize=1 << 15)
def unit_shape(text: str) -> tuple[frozenset, bool, frozenset, int]:
    """What a unit's text-only features need, computed once per text: its bigrams, whether it is
    negated, its capitalised words (past the first) and figures, and its length in words."""
    names = frozenset(
        m.strip(".,;:()\"'’").lower() for m in _NAME_OR_FIGURE_RE.findall(" " + text[1:])
    )
    return frozenset(bigrams(text)), negated(text), names - {""}, len(text.split())


def bigram_share(q_bigrams: set, text: str) -> float:
    return len(q_bigrams & unit_shape(text)[0]) / len(q_bigrams) if q_bigrams else 0.0


def novel_names(question: str, text: str) -> float:
    """How many capitalised words or figures the unit holds that the question does not (capped at
    3): an answer brings something new, and names and figures are what most questions ask for."""
    asked = {w.lower().strip(".,;:()?\"'") for w in question.split()}
    return float(min(len(unit_shape(text)[2] - asked), 3))


def rare_missing(q_terms, terms_: set[str], max_idf: float) -> float:
    """The highest IDF (over the corpus's highest) of a question term that ``terms_`` lacks: an
    unanswerable question often hinges on one specific word the passage never uses."""
    from rag.answer.matching import matches

    terms_ = frozenset(terms_)
    worst = 0.0
    for _, idf, alts in q_terms:
        if not matches(alts, terms_):
            worst = max(worst, idf)
    return worst / max_idf if max_idf else 0.0


def unit_features(a: QuestionAnalysis, ranked: list[Candidate], named: set[str]) -> np.ndarray:
    """One row of ``UNIT_FEATURES`` per candidate, in ``ranked`` order."""
    if not ranked:
        return np.zeros((0, len(UNIT_FEATURES)), dtype=np.float32)
    best_prior = max(c.prior for c in ranked)
    best_cos = max(c.cosine for c in ranked)
    strict = a.kind in STRICT_KINDS
    q_bigrams = bigrams(a.query)
    q_negated = negated(a.query)
    rows = []
    for c in ranked:
        text = c.unit.text
        rows.append(
            (
                c.cosine,
                c.coverage,
                c.passage_cosine,
                c.alignment,
                float(c.typed),
                float(strict and not c.typed),
                1.0 / c.passage_rank,
                min(c.lexical, 20.0) / 20.0,
                math.log1p(unit_shape(text)[3]),
                float(c.unit.list_id is not None),
                float(bool(LABEL_RE.match(text))),
                named_share(named, text),
                c.prior - best_prior,
                c.cosine - best_cos,
                float(c.unit_index == 0),
                bigram_share(q_bigrams, text),
                novel_names(a.query, text),
                float(q_negated != unit_shape(text)[1]),
            )
        )
    return np.asarray(rows, dtype=np.float32)


def question_features(
    a: QuestionAnalysis,
    ranked: list[Candidate],
    probs: np.ndarray,
    verdicts: Verdicts,
    named: set[str],
    passage_text: str,
    rare: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """One row of ``QUESTION_FEATURES``. ``ranked`` is best first and ``probs`` its unit
    probabilities in the same order; ``passage_text`` is the best candidate's passage; ``rare`` the
    ``rare_missing`` of the best unit and of its passage."""
    best = ranked[0] if ranked else None
    p = np.sort(np.asarray(probs, dtype=np.float64))[::-1] if len(probs) else np.zeros(1)
    second = float(p[1]) if len(p) > 1 else 0.0
    kind = a.kind
    row = [
        float(p[0]),
        second,
        float(p[0]) - second,
        best.evidence if best else 0.0,
        best.cosine if best else 0.0,
        best.alignment if best else 0.0,
        best.coverage if best else 0.0,
        best.passage_cosine if best else 0.0,
        named_share(named, passage_text) if best else 0.0,
        float(kind == "other"),
        float(kind == "person"),
        float(kind == "name"),
        float(kind in STRICT_KINDS),
        float(min(len(named), 5)),
        rare[0],
        rare[1],
        bigram_share(bigrams(a.query), best.unit.text) if best else 0.0,
        float(negated(a.query) != negated(best.unit.text)) if best else 0.0,
        *(float(bool(verdicts.reasons.get(c))) for c in CHECKS),
    ]
    return np.asarray(row, dtype=np.float32)
