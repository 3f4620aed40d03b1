"""Answerability checks: the specific reasons a best candidate may not answer the question.

Each check is a small function of (question analysis, best candidate, corpus) that returns a reason
or None. They do not decide alone: ``checks`` returns all their verdicts, the trained scorer
(``rag.answer.model``) reads them as features next to the candidates' scores, and its calibrated
P(answerable) decides. The reasons are what the user is told when the bot abstains.

- ``realtime``: the question asks about the present moment; documents are a snapshot.
- ``missing``: it names a number, year, name, identifier or acronym no document mentions and no
  document word is close to (an acronym the documents spell out as a name counts as known). One
  such term alone does not decide (``rag.answer.compose``): the trained model weighs it.
- ``kind``: it asks for a date, figure, email, phone or web address and neither the best unit nor a
  close runner-up that covers the question as well holds one (the runner-up is moved first).
- ``qualifier``: a name or number qualifying the question is absent from the best unit's passage.
- ``uncounted``: "how many N" and the figure in the best unit counts something else.
- ``focus``: the noun asked about is unknown to the documents and not close to the best unit, or a
  role ("who is the X") that the best unit does not name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from rag.answer.candidates import Candidate
from rag.answer.config import CHECKS, AnswerConfig
from rag.answer.kinds import KIND_NAMES, LABEL_RE, QUANTITY_RE, STRICT_KINDS
from rag.answer.matching import NUMBER_RE, soft_equal
from rag.answer.question import LIGHT_WORDS, TIME_UNITS, QuestionAnalysis
from rag.corpus_stats import CorpusStats
from rag.index import Index
from rag.lexical import STOPWORDS, stem, words


@dataclass
class Verdicts:
    """The reason each check gives (None = passed), in ``CHECKS`` order."""

    reasons: dict[str, str | None]
    missing: list[str] = field(default_factory=list)  # the terms the ``missing`` check names
    unsupported: list[str] = field(default_factory=list)  # the words the ``qualifier`` check names

    def only_missing(self) -> bool:
        """Whether one missing term is all that failed (the qualifier check, naming that term's
        words only, fails with it: a word no document holds is in no passage either)."""
        if len(self.missing) != 1:
            return False
        own = set(words(self.missing[0])) | set(re.findall(r"\d+", self.missing[0]))
        rest = [c for c in self.failed() if c != "missing"]
        return rest == [] or (rest == ["qualifier"] and set(self.unsupported) <= own)

    def failed(self) -> list[str]:
        return [name for name in CHECKS if self.reasons.get(name)]

    def first(self) -> str | None:
        failed = self.failed()
        return self.reasons[failed[0]] if failed else None


class Checker:
    def __init__(self, index: Index, stats: CorpusStats, config: AnswerConfig, embedder=None):
        self.index = index
        self.stats = stats
        self.config = config
        self.embedder = embedder

    def label(self, chunk_index: int) -> str:
        return self.index.chunks[chunk_index].search_heading.split(" > ")[-1]

    def run(self, a: QuestionAnalysis, ranked: list[Candidate]) -> Verdicts:
        """All checks against the best candidate (after a typed runner-up may be moved first)."""
        reasons: dict[str, str | None] = dict.fromkeys(CHECKS)
        if a.realtime:
            reasons["realtime"] = (
                "the question asks about the present moment; documents are a snapshot"
            )
        missing = self.missing_terms(a)
        if missing:
            reasons["missing"] = (
                f"the documents never mention {', '.join(repr(m) for m in missing)}"
            )
        if not ranked:
            return Verdicts(reasons, missing)
        reasons["kind"] = self.kind(a, ranked)
        best = ranked[0]
        closest = f"closest: '{self.index.chunks[best.chunk_index].heading}'"
        unsupported = self.unsupported_qualifiers(a, best)
        if unsupported:
            reasons["qualifier"] = (
                f"the question is about {', '.join(repr(u) for u in unsupported)}, which the "
                f"closest passage never mentions ({closest})"
            )
        uncounted = self.uncounted(a, best)
        if uncounted:
            reasons["uncounted"] = (
                f"the question asks how many {uncounted}, and the figure in the closest passage "
                f"counts something else ({closest})"
            )
        phrase = self.unsupported_focus(a, best)
        if phrase:
            reasons["focus"] = (
                f"the question asks about '{phrase}', which the documents never mention, and "
                f"the closest passage is about something else"
            )
        return Verdicts(reasons, missing, unsupported)

    # ---- the checks ---------------------------------------------------------------------------

    def missing_terms(self, a: QuestionAnalysis) -> list[str]:
        missing, candidates = [], []
        for tok, groups in a.named:
            if groups is not None:
                if any(g not in self.stats.corpus_words for g in groups):
                    missing.append(tok)
                continue
            if tok.lower() in STOPWORDS:
                continue
            if tok.lower() in self.stats.corpus_words or tok.lower() in self.stats.initialisms:
                continue  # an identifier ("H100") or a defined acronym as the documents write it
            parts = [p for p in words(tok) if p not in STOPWORDS]
            if not parts or all(self.stats.knows(p) for p in parts):
                continue
            candidates.append(tok)
        if candidates:
            syn = self.stats.synonyms(candidates, self.config.synonym_threshold)
            missing.extend(t for t in candidates if not syn.get(t))
        return missing

    def kind(self, a: QuestionAnalysis, ranked: list[Candidate]) -> str | None:
        """A strict kind the best unit lacks: a close runner-up holding it that covers the
        question as well is moved first; else the reason."""
        if a.kind not in STRICT_KINDS or ranked[0].typed:
            return None
        best = ranked[0]
        for i, c in enumerate(ranked[1:8], 1):
            if c.prior < best.prior - self.config.type_rescue:
                break
            if c.typed and c.coverage >= best.coverage:
                ranked.insert(0, ranked.pop(i))
                return None
        if self.counted_list(a, ranked[0]):
            return None
        closest = f"closest: '{self.index.chunks[ranked[0].chunk_index].heading}'"
        return (
            f"the question asks for {KIND_NAMES.get(a.kind, a.kind)} and the closest passages "
            f"give none ({closest})"
        )

    def unsupported_qualifiers(self, a: QuestionAnalysis, best: Candidate) -> list[str]:
        wanted = []
        for tok, groups in a.named:
            if groups is not None:
                wanted += groups
                continue
            wanted += [
                w
                for w in words(tok)
                if w not in STOPWORDS and w not in self.stats.ubiquitous and not NUMBER_RE.search(w)
            ]
        if not wanted:
            return []
        chunk = self.index.chunks[best.chunk_index]
        context = set(words(chunk.embed_text))
        stems = {stem(w) for w in context}
        initials = self.stats.chunk_initialisms[best.chunk_index]  # the passage's own
        missing = [
            w
            for w in dict.fromkeys(wanted)
            if w not in context
            and not any(soft_equal(stem(w), t) for t in stems)
            and w not in initials
        ]
        names = [w for w in missing if not NUMBER_RE.search(w)]
        known = [self.stats.vpos[w] for w in context if w in self.stats.vpos]
        if names and known and self.embedder is not None:
            sims = self.embedder.embed(names) @ self.stats.vocab_matrix()[known].T
            close = {
                w
                for w, row in zip(names, sims, strict=True)
                if row.max() >= self.config.qualifier_related
            }
            missing = [w for w in missing if w not in close]
        return missing

    def counted_list(self, a: QuestionAnalysis, best: Candidate) -> bool:
        """ "How many N?" and the best unit is an item of a list under a heading naming N."""
        if not a.how_many or best.unit.list_id is None:
            return False
        heading = [stem(w) for w in words(self.label(best.chunk_index))]
        return all(any(soft_equal(stem(x), h) for h in heading) for x in a.how_many)

    def uncounted(self, a: QuestionAnalysis, best: Candidate) -> str | None:
        asked = a.how_many
        if not asked or self.embedder is None:
            return None
        text = best.unit.text
        figures = list(QUANTITY_RE.finditer(text))
        if not figures or asked[-1] in TIME_UNITS:
            return None
        counted: list[str] = []
        for f in figures:
            after = [w for w in words(text[f.end() :])[:3] if w not in STOPWORDS]
            counted += after[:2]
        label = LABEL_RE.match(text)
        if label:
            counted += words(label.group(0))
        counted = [w for w in dict.fromkeys(counted) if not NUMBER_RE.search(w)]
        if any(soft_equal(stem(x), stem(c)) for x in asked for c in counted):
            return None
        if counted:
            sims = self.embedder.embed(asked) @ self.embedder.embed(counted).T
            if float(np.max(sims)) >= self.config.related_threshold:
                return None
        return " ".join(asked)

    def unsupported_focus(self, a: QuestionAnalysis, best: Candidate) -> str | None:
        if a.focus_noun is None or self.embedder is None:
            return None
        phrase, noun = a.focus_noun
        syn = self.config.synonym_threshold
        if a.role_question:
            named = self.stats.unit_terms[best.row]
            alts = {stem(noun)} | self.stats.synonyms([noun], syn)[noun]
            if any(soft_equal(x, t) for x in alts for t in named):
                return None
            return phrase
        if noun in self.stats.ubiquitous or stem(noun) in self.stats.corpus_stems:
            return None
        if self.stats.synonyms([noun], syn)[noun]:
            mods = [
                w
                for w in words(phrase)
                if w != noun
                and w not in LIGHT_WORDS
                and w not in self.stats.ubiquitous
                and stem(w) not in self.stats.corpus_stems
                and not NUMBER_RE.search(w)
            ]
            if not mods or all(self.stats.synonyms(mods, syn)[w] for w in mods):
                return None
            return phrase
        chunk = self.index.chunks[best.chunk_index]
        context = [
            w for w in words(f"{chunk.search_heading} {best.unit.text}") if w in self.stats.vpos
        ]
        vecs = self.embedder.embed([noun, phrase])
        if context:
            sims = self.stats.vocab_matrix()[[self.stats.vpos[w] for w in context]] @ vecs[0]
            if float(np.max(sims)) >= self.config.related_threshold:
                return None
        if float(vecs[1] @ self.index.unit_vectors[best.row]) >= self.config.phrase_threshold:
            return None
        return phrase


__all__ = ["CHECKS", "Checker", "Verdicts"]
