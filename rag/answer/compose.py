"""The answer stage, end to end, for one index: ``Composer.compose`` reads as the list of stages.

    analysis (rag.answer.question) + passages (rag.retrieval)
      -> candidates.gather     every unit of the passages, with its signals
      -> features + model      P(unit answers) ranks them; P(answerable) from the best units and
                               the answerability checks (rag.answer.answerability)
      -> select.Selector       which units make the answer (list, section, outline, single), and
                               for a figure to compute, its inputs and the computation's line
      -> render.render         text with [n] markers and citations
      -> Answer

With the trained model, a failed check in ``AnswerConfig.hard_checks`` (by default all of them)
still decides on its own, except one missing term: a single word or figure no document contains
(a year written another way, a name the documents spell differently) is evidence, not a verdict.
When it is the only failed check, the trained model, which reads ``check_missing`` as a feature,
decides with the threshold ``rag train`` chose for it deciding alone (``thresholds["model"]``),
and an abstention names the term. the model's probability replaces the hand-set evidence threshold, and
checks left out of ``hard_checks`` are only features it weighs. With no trained model
(``AnswerConfig.use_model=False``, or none loaded) the candidates are ranked by
their hand-set prior and the checks decide in their documented order, with the evidence score
compared to ``abstain_threshold``: the engine as it was before it was trained, kept as a baseline.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import numpy as np

from rag.answer.answerability import Checker, Verdicts
from rag.answer.candidates import Candidate, gather
from rag.answer.config import AnswerConfig
from rag.answer.features import named_words, question_features, rare_missing, unit_features
from rag.answer.kinds import STRICT_KINDS
from rag.answer.matching import QTerm, query_terms
from rag.answer.model import AnswerModel
from rag.answer.question import FILLER_RE, QuestionAnalysis
from rag.answer.render import Line, abstain_text, render
from rag.answer.select import Selector
from rag.answer_types import Answer
from rag.chunking import Unit
from rag.corpus_stats import CorpusStats
from rag.index import Index
from rag.lexical import terms, words
from rag.retrieval import Passage


@dataclass
class Judgement:
    """Everything the answer stage decided before selecting units: the ranked candidates, the
    checks' verdicts, the features the model read, and the decision with its reason."""

    ranked: list[Candidate]
    q_terms: list[QTerm]
    verdicts: Verdicts
    unit_x: np.ndarray
    question_x: np.ndarray
    p_answerable: float | None
    evidence: float
    answer: bool
    reason: str
    threshold: float
    probs: np.ndarray = field(default_factory=lambda: np.zeros(0))
    rules_abstain: bool = True  # would the engine without the model abstain?


class Composer:
    def __init__(
        self,
        index: Index,
        stats: CorpusStats,
        config: AnswerConfig,
        abstain_threshold: float = 0.30,
        model: AnswerModel | None = None,
        embedder=None,
    ):
        self.index = index
        self.stats = stats
        self.config = config
        self.threshold = abstain_threshold
        self.model = model if config.use_model else None
        self.checker = Checker(index, stats, config, embedder)
        self.selector = Selector(index, stats, config)

    # ---- stages -------------------------------------------------------------------------------

    def lead(self, a: QuestionAnalysis, passages: list[Passage]) -> tuple[int, Unit] | None:
        """A question that names the corpus's subject (a word in nearly every chunk) and no other
        content word ("Tell me about <subject>") is answered by its document's opening sentence."""
        if not passages or not set(words(a.query)) & self.stats.ubiquitous:
            return None
        if a.kind in STRICT_KINDS or terms(FILLER_RE.sub(" ", self.stats.focus(a.query))):
            return None
        doc = passages[0].chunk.doc_id
        firsts = [i for i, c in enumerate(self.index.chunks) if c.doc_id == doc and c.units]
        if not firsts:
            return None
        ci = min(firsts, key=lambda i: self.index.chunks[i].char_start)
        return ci, self.index.chunks[ci].units[0]

    def judge(
        self,
        a: QuestionAnalysis,
        qvec: np.ndarray,
        passages: list[Passage],
        q_tokens: np.ndarray | None = None,
    ) -> Judgement:
        cfg = self.config
        q_terms = query_terms(a.query, self.stats, cfg.synonym_threshold)
        ranked = gather(self.index, self.stats, a, qvec, passages, q_terms, cfg, q_tokens)
        named = named_words(a, self.stats.ubiquitous)
        unit_x = unit_features(a, ranked, named)
        probs = np.zeros(len(ranked))
        if self.model is not None and ranked:
            probs = self.model.unit_probs(unit_x)
            for c, p in zip(ranked, probs, strict=True):
                c.prob = float(p)
            if cfg.rank_by == "model":
                order = np.argsort(-probs, kind="stable")
                ranked = [ranked[i] for i in order]
                unit_x, probs = unit_x[order], probs[order]
        verdicts = self.checker.run(a, ranked)  # may move a typed runner-up first
        evidence = max((c.evidence for c in ranked), default=0.0)
        passage_text, rare = "", (0.0, 0.0)
        if ranked:
            best = ranked[0]
            passage_text = self.index.chunks[best.chunk_index].embed_text
            passage_terms = frozenset().union(
                *(self.stats.unit_terms[r] for r in self.index.unit_rows(best.chunk_index))
            )
            rare = (
                rare_missing(q_terms, self.stats.unit_terms[best.row], self.stats.max_idf),
                rare_missing(q_terms, passage_terms, self.stats.max_idf),
            )
        question_x = question_features(
            a,
            ranked,
            [c.prob for c in ranked] if self.model else probs,
            verdicts,
            named,
            passage_text,
            rare,
        )
        if not ranked:
            reason = "no passage was retrieved for this question"
            return Judgement(
                ranked,
                q_terms,
                verdicts,
                unit_x,
                question_x,
                None,
                0.0,
                False,
                reason,
                self.threshold,
                probs,
            )
        closest = f"closest: '{self.index.chunks[ranked[0].chunk_index].heading}'"
        # one missing term alone is weighed by the model, not a verdict (module docstring)
        weigh_missing = self.model is not None and verdicts.only_missing()
        rules = self.rules_verdict(verdicts, evidence, closest, skip=weigh_missing)
        decide = partial(Judgement, ranked, q_terms, verdicts, unit_x, question_x)
        if self.model is None:
            score = f"evidence score {evidence:.2f}, threshold {self.threshold:.2f}"
            if rules:
                return decide(None, evidence, False, f"{rules} ({score})", self.threshold, probs)
            return decide(
                None,
                evidence,
                True,
                f"evidence score {evidence:.2f} ≥ threshold {self.threshold:.2f}",
                self.threshold,
                probs,
                rules_abstain=False,
            )
        p = self.model.p_answerable(question_x)
        thr = self.model.threshold_for(cfg.decide)
        if weigh_missing:
            thr = max(thr, self.model.threshold_for("model"))
        score = f"score P(answerable) {p:.2f}, threshold {thr:.2f}"
        if cfg.decide == "rules+model":
            veto = rules  # the checks in order and the evidence score, then the model
        else:
            veto = next(
                (
                    verdicts.reasons[c]
                    for c in cfg.hard_checks
                    if verdicts.reasons[c] and not (weigh_missing and c in ("missing", "qualifier"))
                ),
                None,
            )
        if veto:
            return decide(p, evidence, False, f"{veto} ({score})", thr, probs, bool(rules))
        if p >= thr:
            return decide(p, evidence, True, f"{score}: answered", thr, probs, bool(rules))
        why = verdicts.first() or f"the closest passages do not seem to answer it ({closest})"
        return decide(p, evidence, False, f"{why} ({score})", thr, probs, bool(rules))

    def rules_verdict(
        self, verdicts: Verdicts, evidence: float, closest: str, skip: bool = False
    ) -> str | None:
        """The engine's decision without the model: the checks in their order, with the evidence
        score against ``abstain_threshold`` after the two that need no passage. None: answer.
        ``skip``: one missing term (and the qualifier check's verdict on it) is left to the model."""
        r = verdicts.reasons
        why = r["realtime"] or (None if skip else r["missing"])
        if not why and evidence < self.threshold:
            why = f"too weak ({closest})"
        qualifier = None if skip else r["qualifier"]
        return why or r["kind"] or qualifier or r["uncounted"] or r["focus"]

    def compose(
        self,
        a: QuestionAnalysis,
        qvec: np.ndarray,
        passages: list[Passage],
        mode: str = "hybrid",
        k: int = 5,
        q_tokens: np.ndarray | None = None,
    ) -> Answer:
        base = dict(question=a.question, rewritten_query=a.query, mode=mode, k=k, passages=passages)
        lead = self.lead(a, passages)
        if lead is not None:
            ci, unit = lead
            passages = self.in_order(passages, [ci])
            text, citations = render(self.index, [Line([(ci, unit)])], {})
            return Answer(
                text=text,
                citations=citations,
                abstained=False,
                score=1.0,
                threshold=self.threshold,
                p_answerable=None,
                understood_as=a.understood_as,
                reason="the question asks about the documents' subject as a whole: answered with "
                "the opening sentence of its document",
                **{**base, "passages": passages},
            )
        j = self.judge(a, qvec, passages, q_tokens)
        score = j.p_answerable if j.p_answerable is not None else j.evidence
        common = dict(
            score=score,
            threshold=j.threshold,
            p_answerable=j.p_answerable,
            understood_as=a.understood_as,
            reason=j.reason,
        )
        if not j.answer:
            base["passages"] = self.in_order(passages, [c.chunk_index for c in j.ranked])
            return Answer(text=abstain_text(), citations=[], abstained=True, **common, **base)
        lines = self.selector.run(a, j.ranked, j.q_terms, self.threshold)
        lines, comp = self.selector.figure_inputs(a, j.ranked, lines)
        scores = {(c.chunk_index, c.unit.char_start): c.score for c in j.ranked}
        text, citations = render(self.index, lines, scores, self.config.shorten_chars)
        if comp is not None:  # the inputs are quoted; one line says what is left to compute
            marks = "".join(f"[{c.number}]" for c in citations)
            text += f"\nNeeds arithmetic: {comp.line} Inputs: {marks}."
        used = [self.index.by_id[c.chunk_id] for c in citations]
        base["passages"] = self.in_order(passages, used + [c.chunk_index for c in j.ranked])
        answer = Answer(text=text, citations=citations, abstained=False, **common, **base)
        self.report_conflict(a, j, lines, answer)
        return answer

    def report_conflict(self, a: QuestionAnalysis, j: Judgement, lines, answer: Answer) -> None:
        """Another document answers as strongly but differently (``rag.answer.conflicts``): cite
        it beside the answer, with a notice; the answer's own text and citations stay."""
        from rag.answer.conflicts import find_conflict

        cfg = self.config
        quoted = [(ci, unit) for line in lines for ci, unit in line.units]
        other = find_conflict(
            j.ranked,
            quoted,
            lambda ci: self.index.chunks[ci].doc_id,
            a.query,
            cfg.conflict_ratio,
            cfg.conflict_overlap,
        )
        if other is None:
            return
        _, (cited,) = render(self.index, [Line([(other.chunk_index, other.unit)])], {})
        cited.number = len(answer.citations) + 1
        answer.conflicts.append(cited)
        mine = sorted({c.document for c in answer.citations})
        answer.notices.append(
            f"The documents disagree: {cited.document} answers differently "
            f"(\u201c{cited.quote}\u201d [{cited.number}]) from {', '.join(mine)}; "
            "both are cited, check which is right."
        )

    def in_order(self, passages: list[Passage], chunk_order: list[int]) -> list[Passage]:
        """The passages re-ranked as the answer was composed: the ones it quotes first, in the
        order of their citations, then the rest by their best unit."""
        position: dict[int, int] = {}
        for ci in chunk_order:
            position.setdefault(ci, len(position))
        ordered = sorted(
            passages, key=lambda p: position.get(self.index.by_id[p.chunk.id], len(position))
        )
        for rank, p in enumerate(ordered, 1):
            p.rank = rank
        return ordered
