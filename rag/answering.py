"""Answers without an LLM: pick the sentences and list items that answer, cite them, or abstain.

For a question (already rewritten to stand alone) and its retrieved passages:

1. **Score units.** Every sentence or list item of the retrieved chunks gets
   ``dense + LEXICAL_WEIGHT * coverage + type bonus``: the cosine between the question and the unit
   (embedded with its heading path), the IDF-weighted share of the question's terms the unit or its
   heading contains, and a small bonus when the unit holds the kind of thing asked for (a date for
   "when", a number for "how many").
2. **Decide whether to answer.** The *evidence score* is the best unit's cosine with the question.
   Below ``abstain_threshold`` the bot abstains. It also abstains when the question names something
   specific that the documents never mention: a number or year absent from the corpus, or a name or
   acronym with no corpus word close to it (cosine of word embeddings below ``SYNONYM_THRESHOLD``),
   e.g. "CEO" when only a founder is named.
3. **Compose.** The best unit, plus a second one when it is nearly as good and adds words of the
   question the first lacks. For an enumerating question ("list", "name the", "what are", a number
   and a plural) whose best unit is a list item, the whole list (or the item's sub-list) is given.
   Every line ends with the ``[n]`` of the passage it comes from; citations are numbered in order
   of first use and carry only the text the answer used.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from rag.answer_types import Answer, Citation
from rag.chunking import Chunk, Unit
from rag.index import Index
from rag.lexical import STOPWORDS, stem, terms, words

LEXICAL_WEIGHT = 0.25
TYPE_BONUS = 0.06
SECOND_UNIT_MARGIN = 0.04
LIST_MARGIN = 0.15
SYNONYM_THRESHOLD = 0.70
MAX_LIST_ITEMS = 15

ENUMERATE_RE = re.compile(
    r"^\s*(list|name|enumerate|give me|what are|what were|which are|which were|who are)\b"
    r"|\b(all|every|each|various|different|main|key)\b.*s\b"
    r"|\b(two|three|four|five|six|seven|eight|nine|ten|\d+)\s+\w+s\b",
    re.IGNORECASE,
)
DATE_RE = re.compile(
    r"\b(1[89]\d\d|20\d\d)\b|\b(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\b", re.I
)
NUMBER_RE = re.compile(r"\d")


@dataclass
class ScoredUnit:
    chunk_index: int
    unit_index: int  # within the chunk
    row: int  # row in index.unit_vectors
    unit: Unit
    cosine: float  # question vs unit embedding
    coverage: float  # IDF-weighted share of the question's terms found in the unit or its headings
    evidence: float  # cosine + LEXICAL_WEIGHT * coverage: the abstention score
    score: float  # evidence + answer-type bonus: what units are ranked by


def question_kind(question: str) -> str:
    """What kind of thing the question asks for: a date, a number, a person, or other."""
    q = question.lower()
    if re.search(r"\bwhen\b|\bwhat year\b|\bwhich year\b|\bwhat date\b", q):
        return "date"
    if re.search(r"\bhow (many|much|big|large|fast)\b|\bwhat (percentage|share|proportion)\b", q):
        return "number"
    if re.match(r"\s*(who|whom|whose)\b", q):
        return "person"
    return "other"


PERSON_RE = re.compile(r"\b(Professor|Prof\.|Dr\.?|Mr\.?|Mrs\.?|Ms\.?|Sir|Dame)\s+[A-Z]")
AGENT_LABEL_RE = re.compile(r"^[\w' -]*?(er|or|ist|ent|ant)s?\s*:", re.I)


def is_enumerating(question: str, heading_terms: set[str] = frozenset()) -> bool:
    """Does the question ask for a list? Cue phrases, or a plural noun that names the section."""
    if ENUMERATE_RE.search(question):
        return True
    for w in words(question):
        if (
            len(w) > 3
            and w.endswith("s")
            and not w.endswith(("ss", "us", "is"))
            and stem(w) in heading_terms
        ):
            return True
    return False


def _soft_equal(a: str, b: str) -> bool:
    """Same stem; one the agent noun of the other ("found"/"founder"); or a long shared prefix
    ("expand"/"expans"): at least 5 letters and 80% of the longer word."""
    if a == b:
        return True
    for x, y in ((a, b), (b, a)):
        for suffix in ("er", "or", "r"):
            if x == y + suffix and len(y) >= 3:
                return True
    if min(len(a), len(b)) >= 5:
        common = 0
        for ca, cb in zip(a, b, strict=False):
            if ca != cb:
                break
            common += 1
        if common >= 5 and common >= 0.8 * max(len(a), len(b)):
            return True
    return False


class Composer:
    """Builds an ``Answer`` from retrieved passages. Holds per-index lookups computed once."""

    def __init__(self, index: Index, abstain_threshold: float = 0.43, embedder=None):
        self.index = index
        self.threshold = abstain_threshold
        self.embedder = embedder
        n_rows = len(index.unit_vectors)
        self._unit_terms: list[set[str]] = []  # terms of the unit and its headings
        self._own_terms: list[set[str]] = []  # terms of the unit alone
        self._heading_terms: list[set[str]] = []  # terms of the chunk's headings, per chunk
        df: Counter[str] = Counter()
        for chunk in index.chunks:
            heading_terms = set(terms(chunk.search_heading))
            self._heading_terms.append(heading_terms)
            for u in chunk.units:
                own = set(terms(u.text))
                self._own_terms.append(own)
                self._unit_terms.append(own | heading_terms)
                df.update(own | heading_terms)
        self._idf = {t: math.log(1 + n_rows / c) for t, c in df.items()}
        self._max_idf = math.log(1 + max(n_rows, 1))
        corpus_words: Counter[str] = Counter()
        for chunk in index.chunks:
            corpus_words.update(words(chunk.embed_text))
        self._corpus_words = set(corpus_words)
        self._corpus_stems = {stem(w) for w in corpus_words}
        self._vocab = [
            w
            for w, _ in corpus_words.most_common(50_000)
            if w not in STOPWORDS and not NUMBER_RE.search(w) and len(w) > 1
        ]
        self._vocab_stems = [stem(w) for w in self._vocab]
        self._vocab_vectors: np.ndarray | None = None

    # ---- word-level synonyms, for words the documents never use -----------------------------------

    def _vocab_matrix(self) -> np.ndarray:
        if self._vocab_vectors is None:
            self._vocab_vectors = self.embedder.embed(self._vocab, batch_size=256)
        return self._vocab_vectors

    def synonyms(self, tokens: list[str]) -> dict[str, set[str]]:
        """For each token, the stems of corpus words whose embedding is within SYNONYM_THRESHOLD."""
        if self.embedder is None or not self._vocab or not tokens:
            return {t: set() for t in tokens}
        vecs = self.embedder.embed(tokens)
        sims = vecs @ self._vocab_matrix().T
        out = {}
        for t, row in zip(tokens, sims, strict=True):
            hits = np.nonzero(row >= SYNONYM_THRESHOLD)[0]
            out[t] = {self._vocab_stems[i] for i in hits}
        return out

    # ---- scoring ----------------------------------------------------------------------------------

    def query_terms(self, question: str) -> list[tuple[str, float, set[str]]]:
        """(stem, idf weight, stems that count as a match) for each content term of the question."""
        stems = list(dict.fromkeys(terms(question)))
        unknown = [
            w
            for w in dict.fromkeys(words(question))
            if w not in STOPWORDS
            and stem(w) in stems
            and stem(w) not in self._corpus_stems
            and not NUMBER_RE.search(w)
        ]
        syn = self.synonyms(unknown)
        by_stem: dict[str, set[str]] = {}
        for w, alts in syn.items():
            by_stem.setdefault(stem(w), set()).update(alts)
        return [(t, self._idf.get(t, self._max_idf), {t} | by_stem.get(t, set())) for t in stems]

    @staticmethod
    def coverage(q_terms, unit_terms: set[str]) -> float:
        total = sum(w for _, w, _ in q_terms)
        if not total:
            return 0.0
        matched = sum(
            w for _, w, alts in q_terms if any(_soft_equal(a, u) for a in alts for u in unit_terms)
        )
        return matched / total

    def score_units(
        self, question: str, qvec: np.ndarray, chunk_indexes: list[int], q_terms=None
    ) -> list[ScoredUnit]:
        q_terms = self.query_terms(question) if q_terms is None else q_terms
        kind = question_kind(question)
        out = []
        for ci in chunk_indexes:
            chunk = self.index.chunks[ci]
            rows = self.index.unit_rows(ci)
            if not len(rows):
                continue
            dense = self.index.unit_vectors[rows.start : rows.stop] @ qvec
            for ui, (row, unit) in enumerate(zip(rows, chunk.units, strict=True)):
                cov = self.coverage(q_terms, self._unit_terms[row])
                bonus = 0.0
                if kind == "date" and DATE_RE.search(unit.text):
                    bonus = TYPE_BONUS
                elif kind == "number" and NUMBER_RE.search(unit.text):
                    bonus = TYPE_BONUS
                elif kind == "person" and (
                    PERSON_RE.search(unit.text) or AGENT_LABEL_RE.match(unit.text)
                ):
                    bonus = TYPE_BONUS
                evidence = float(dense[ui]) + LEXICAL_WEIGHT * cov
                out.append(
                    ScoredUnit(ci, ui, row, unit, float(dense[ui]), cov, evidence, evidence + bonus)
                )
        out.sort(key=lambda s: -s.score)
        return out

    # ---- abstention ---------------------------------------------------------------------------------

    def missing_terms(self, question: str) -> list[str]:
        """Specific things the question names that the documents never mention (see module doc)."""
        missing = []
        raw_tokens = re.findall(r"[\w'’+&.-]+", question)
        candidates = []
        for pos, tok in enumerate(raw_tokens):
            tok = tok.strip(".'’-")
            if not tok:
                continue
            if tok.lower().endswith(("'s", "’s")):
                tok = tok[:-2]
            low = tok.lower()
            if NUMBER_RE.search(tok):
                # a number of two digits or more (a year, an amount) must appear in the documents
                groups = [g for g in re.findall(r"\d+", tok) if len(g) >= 2]
                if any(g not in self._corpus_words for g in groups):
                    missing.append(tok)
                continue
            name_like = (tok.isupper() and len(tok) >= 2) or (pos > 0 and tok[:1].isupper())
            if not name_like or low in STOPWORDS:
                continue
            parts = [p for p in words(tok) if p not in STOPWORDS]
            if not parts or all(
                p in self._corpus_words or stem(p) in self._corpus_stems for p in parts
            ):
                continue
            candidates.append(tok)
        if candidates:
            syn = self.synonyms(candidates) if self.embedder is not None else {}
            missing.extend(t for t in candidates if not syn.get(t))
        return missing

    # ---- composing ----------------------------------------------------------------------------------

    def compose(
        self,
        question: str,
        query: str,
        qvec: np.ndarray,
        passages: list,
        mode: str = "hybrid",
        k: int = 5,
    ) -> Answer:
        base = dict(
            question=question,
            rewritten_query=query,
            threshold=self.threshold,
            mode=mode,
            k=k,
            passages=passages,
        )
        chunk_indexes = [self.index.by_id[p.chunk.id] for p in passages]
        q_terms = self.query_terms(query)
        scored = self.score_units(query, qvec, chunk_indexes, q_terms)
        if not scored:
            return Answer(
                text=abstain_text(),
                citations=[],
                abstained=True,
                reason="no passage was retrieved for this question",
                score=0.0,
                **base,
            )
        evidence = max(s.evidence for s in scored)
        missing = self.missing_terms(query)
        if missing:
            names = ", ".join(f"'{m}'" for m in missing)
            return Answer(
                text=abstain_text(),
                citations=[],
                abstained=True,
                score=evidence,
                reason=f"the documents never mention {names} (evidence score {evidence:.2f}, "
                f"threshold {self.threshold:.2f})",
                **base,
            )
        if evidence < self.threshold:
            best = scored[0]
            return Answer(
                text=abstain_text(),
                citations=[],
                abstained=True,
                score=evidence,
                reason=f"evidence score {evidence:.2f} is below the threshold {self.threshold:.2f} "
                f"(closest: '{self.index.chunks[best.chunk_index].heading}')",
                **base,
            )
        picked = self.select(query, scored, q_terms)
        text, citations = self.render(picked, scored)
        return Answer(
            text=text,
            citations=citations,
            abstained=False,
            score=evidence,
            reason=f"evidence score {evidence:.2f} ≥ threshold {self.threshold:.2f}",
            **base,
        )

    def _section_units(self, chunk_index: int) -> list[tuple[int, int, Unit]]:
        """(chunk index, row, unit) of every unit of the chunk's section, in document order, deduped."""
        section = self.index.chunks[chunk_index].section_id
        seen = set()
        out = []
        for ci in self.index.by_section.get(section, [chunk_index]):
            for row, unit in zip(
                self.index.unit_rows(ci), self.index.chunks[ci].units, strict=True
            ):
                if (unit.char_start, unit.char_end) not in seen:
                    seen.add((unit.char_start, unit.char_end))
                    out.append((ci, row, unit))
        out.sort(key=lambda t: t[2].char_start)
        return out

    @staticmethod
    def _first_of_blocks(units: list[tuple[int, int, Unit]]) -> list[tuple[int, int, Unit]]:
        seen, out = set(), []
        for t in units:
            if t[2].block not in seen:
                seen.add(t[2].block)
                out.append(t)
        return out

    def _list_answer(self, s: ScoredUnit, q_terms) -> list[tuple[int, Unit, bool]]:
        """The list a list item stands for: its sub-items (after it), or its sibling items when the
        question's words are in the section heading rather than in the item itself."""
        unit = s.unit
        section = self._section_units(s.chunk_index)
        children = [
            t for t in section if t[2].parent == unit.block and t[2].depth == unit.depth + 1
        ]
        if children:
            items = self._first_of_blocks(children)[:MAX_LIST_ITEMS]
            return [(s.chunk_index, unit, False)] + [(ci, u, True) for ci, _, u in items]
        own = self.coverage(q_terms, self._own_terms[s.row])
        head = self.coverage(q_terms, self._heading_terms[s.chunk_index])
        if head > own:
            siblings = [
                t
                for t in section
                if t[2].list_id == unit.list_id
                and t[2].depth == unit.depth
                and t[2].parent == unit.parent
            ]
            siblings = self._first_of_blocks(siblings)[:MAX_LIST_ITEMS]
            if len(siblings) > 1:
                return [(ci, u, True) for ci, _, u in siblings]
        return []

    def select(
        self, question: str, scored: list[ScoredUnit], q_terms
    ) -> list[tuple[int, Unit, bool]]:
        """The units to say, in order, as (chunk index, unit, is_list_item)."""
        best = scored[0]
        unit = best.unit
        if is_enumerating(question, self._heading_terms[best.chunk_index]):
            # the best list item close to the top stands for its list; a better-scoring sentence
            # of the same section (an introduction) is said first
            for s in scored[:6]:
                if s.score < best.score - LIST_MARGIN:
                    break
                if s.unit.list_id is None:
                    continue
                items = self._list_answer(s, q_terms)
                if items:
                    same_section = (
                        self.index.chunks[s.chunk_index].section_id
                        == self.index.chunks[best.chunk_index].section_id
                    )
                    if s is not best and best.unit.list_id is None and same_section:
                        return [(best.chunk_index, best.unit, False)] + items
                    return items
                break
        picked = [(best.chunk_index, unit, False)]
        uncovered = [
            t
            for t in q_terms
            if not any(_soft_equal(a, b) for a in t[2] for b in self._unit_terms[best.row])
        ]
        for s in scored[1:4]:
            if s.score < best.score - SECOND_UNIT_MARGIN:
                break
            if s.unit.block == best.unit.block and s.chunk_index == best.chunk_index:
                continue
            if uncovered and self.coverage(uncovered, self._unit_terms[s.row]) > 0:
                picked.append((s.chunk_index, s.unit, False))
                break
        return picked

    def render(self, picked, scored) -> tuple[str, list[Citation]]:
        score_of = {(s.chunk_index, s.unit.char_start): s.score for s in scored}
        numbers: dict[int, int] = {}
        used: dict[int, list[Unit]] = {}
        lines = []
        for ci, unit, is_item in picked:
            if ci not in numbers:
                numbers[ci] = len(numbers) + 1
                used[ci] = []
            if unit not in used[ci]:
                used[ci].append(unit)
            prefix = "- " if is_item else ""
            lines.append(f"{prefix}{unit.text} [{numbers[ci]}]")
        if picked and picked[0][2]:
            heading = self.index.chunks[picked[0][0]].heading_path[-1]
            lines.insert(0, f"{heading}:")
        citations = []
        for ci, n in numbers.items():
            chunk: Chunk = self.index.chunks[ci]
            units = sorted(used[ci], key=lambda u: u.char_start)
            start, end = units[0].char_start, units[-1].char_end
            source = _document_slice(chunk, start, end)
            citations.append(
                Citation(
                    number=n,
                    document=chunk.doc_id,
                    heading_path=list(chunk.heading_path),
                    section_id=chunk.section_id,
                    chunk_id=chunk.id,
                    line_start=units[0].line,
                    line_end=units[0].line + source.count("\n"),
                    char_start=start,
                    char_end=end,
                    quote=" ".join(u.text for u in units),
                    quotes=[u.text for u in units],
                    source_text=source,
                    passage=chunk.clean,
                    score=round(max(score_of.get((ci, u.char_start), 0.0) for u in units), 4),
                )
            )
        citations.sort(key=lambda c: c.number)
        return "\n".join(lines), citations


def _document_slice(chunk: Chunk, start: int, end: int) -> str:
    """Raw document text over [start, end): inside the chunk when it covers it (it always should)."""
    if chunk.char_start <= start and end <= chunk.char_end:
        return chunk.text[start - chunk.char_start : end - chunk.char_start]
    return ""


def abstain_text() -> str:
    return (
        "I can't answer that from the documents: they don't appear to cover it, and I won't guess."
    )
