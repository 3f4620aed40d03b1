"""``rag train``: rebuild the answer model (``rag/answer/model.json``) from question sets.

Data (``DEFAULT_SETS``): the public SQuAD 2.0 articles in ``../shared/datasets`` (their README) —
all of ``squad2-train`` and the six ``squad2-dev`` articles in ``FIT_DEV_ARTICLES``; the other four
dev articles (``HELD_OUT_DEV_ARTICLES``) are never read here and are what quality is reported on —
plus the bundled profile questions ``eval/questions.jsonl`` (``eval/heldout.jsonl`` is not used).

Method, seeded and deterministic:

1. Every question is analysed and its passages retrieved once, with the engine's default settings.
2. **Unit head.** Every candidate unit of those passages is a row of ``UNIT_FEATURES``; its label is
   whether it holds a gold answer (any ``must_include`` alternative). A logistic regression
   (scikit-learn, L2, standardised features) is fitted on all rows. Each training set weighs the
   same in total, whatever its size (``set_weights``): the documents differ in kind (Wikipedia
   prose, a company profile of lists and short facts), and no one kind should swamp the others.
3. **Answerability head.** With the unit head ranking the candidates, each question is a row of
   ``QUESTION_FEATURES`` (the best units' probabilities and signals, the answerability checks'
   verdicts); its label is whether the question is answerable. Classes are weighted to a 50/50
   prior, since the share of unanswerable questions a user will ask is unknown. Out-of-fold
   probabilities (5 folds grouped by document) calibrate it and choose the threshold.
4. **Threshold rule.** One threshold per way of deciding (``AnswerConfig.decide``), each with the
   best *mean balanced accuracy over the training sets* on out-of-fold predictions. Balanced
   accuracy is the mean of (answerable questions answered with a best unit holding the gold
   answer) and (unanswerable questions abstained on). With "rules+model" (the default) the model
   can only add abstentions to the engine's own checks and evidence threshold, and its threshold
   is chosen only among those that make *no* training set's balanced accuracy worse than the
   engine's without the model: do no harm to any kind of document trained on. With "model" the
   model replaces the evidence threshold and only ``hard_checks`` veto.

The artifact records the data, the counts, the metrics and the command (its ``card``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.answer.features import QUESTION_FEATURES, UNIT_FEATURES
from rag.answer.model import DEFAULT_PATH, AnswerModel, Head
from rag.settings import BUNDLED_CORPUS, PROJECT_ROOT

FIT_DEV_ARTICLES = (
    "1973_oil_crisis",
    "european_union_law",
    "force",
    "french_and_indian_war",
    "harvard_university",
    "imperialism",
)
HELD_OUT_DEV_ARTICLES = ("islamism", "packet_switching", "steam_engine", "yuan_dynasty")
DEFAULT_DATA = PROJECT_ROOT.parent / "shared" / "datasets"
SEED = 13


@dataclass
class TrainingSet:
    """A corpus folder and the questions about it (optionally only those with some tags)."""

    name: str
    corpus: Path
    questions: Path
    tags: tuple[str, ...] = ()
    limit: int | None = None  # at most this many questions (a quick or test run)


def default_sets(data: Path = DEFAULT_DATA) -> list[TrainingSet]:
    data = Path(data)
    return [
        TrainingSet(
            "squad2-train", data / "squad2-train/corpus", data / "squad2-train/questions.jsonl"
        ),
        TrainingSet(
            "squad2-dev (fit articles)",
            data / "squad2-dev/corpus",
            data / "squad2-dev/questions.jsonl",
            FIT_DEV_ARTICLES,
        ),
        TrainingSet("profile (bundled set)", BUNDLED_CORPUS, PROJECT_ROOT / "eval/questions.jsonl"),
    ]


@dataclass
class Example:
    """One question as the answer stage saw it, kept to refit the heads without re-retrieving."""

    set_name: str
    group: str  # the document it is about (folds are grouped by it)
    answerable: bool
    alternatives: list[str]
    analysis: object
    fvec: np.ndarray
    q_tokens: np.ndarray | None
    passages: list
    bot: object = field(repr=False, default=None)


def _holds(text: str, alternatives: Sequence[str]) -> bool:
    from rag.evaluation import text_key

    haystack = text_key(text)
    return any(a and text_key(a) in haystack for a in alternatives)


def collect(
    sets: Sequence[TrainingSet], progress: Callable[[str], None] = print, embedder=None
) -> list[Example]:
    """Analyse every question of every set and retrieve its passages (the slow part: the model)."""
    from rag.chatbot import Chatbot
    from rag.evaluation import load_questions

    examples: list[Example] = []
    for ts in sets:
        questions = load_questions(ts.questions)
        if ts.tags:
            questions = [q for q in questions if set(q.tags) & set(ts.tags)]
        if ts.limit is not None:
            questions = questions[: ts.limit]
        bot = Chatbot.from_corpus(ts.corpus, embedder=embedder, answer={"use_model": False})
        bot.warm_up()
        t0 = time.perf_counter()
        from tqdm import tqdm

        for q in tqdm(questions, desc=f"train: {ts.name}", unit="q", mininterval=5, leave=False):
            a = bot.analyse(q.question, q.history or None)
            passages, fvec, q_tokens, _ = bot._search(a.query, bot.settings.k, bot.settings.mode)
            doc = passages[0].chunk.doc_id if passages else ""
            group = (q.tags[0] if q.tags and ts.name.startswith("squad") else doc) or ts.name
            alts = [alt.strip() for item in q.must_include for alt in item.split("|")]
            examples.append(
                Example(
                    ts.name,
                    f"{ts.name}:{group}",
                    q.answerable,
                    alts,
                    a,
                    fvec,
                    q_tokens,
                    passages,
                    bot,
                )
            )
        progress(f"{ts.name}: {len(questions)} questions in {time.perf_counter() - t0:.0f} s")
    return examples


def _fit_head(
    x: np.ndarray,
    y: np.ndarray,
    names: Sequence[str],
    balanced: bool,
    weight: np.ndarray | None = None,
    c: float = 1.0,
):
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    lr = LogisticRegression(
        C=c, class_weight="balanced" if balanced else None, max_iter=2000, random_state=SEED
    )
    lr.fit((x - mean) / scale, y, sample_weight=weight)
    return Head(list(names), mean, scale, lr.coef_[0].astype(np.float64), float(lr.intercept_[0]))


def _unit_rows(examples: Sequence[Example]):
    """Unit features and labels of every example (candidates ranked by the prior)."""
    xs, ys, owners = [], [], []
    for i, ex in enumerate(examples):
        composer = ex.bot._composer
        j = composer.judge(ex.analysis, ex.fvec, ex.passages, ex.q_tokens)
        if not len(j.ranked):
            continue
        xs.append(j.unit_x)
        ys.append(
            np.array([ex.answerable and _holds(c.unit.text, ex.alternatives) for c in j.ranked])
        )
        owners.append(np.full(len(j.ranked), i))
    return np.vstack(xs), np.concatenate(ys).astype(int), np.concatenate(owners)


def _question_rows(examples: Sequence[Example], model: AnswerModel):
    """Question features with the unit head ranking, the label, and whether the best unit holds
    the gold answer."""
    xs, ys, right, rules, hard = [], [], [], [], []
    for ex in examples:
        composer = ex.bot._composer
        saved = composer.model
        composer.model = model
        try:
            j = composer.judge(ex.analysis, ex.fvec, ex.passages, ex.q_tokens)
        finally:
            composer.model = saved
        xs.append(j.question_x)
        ys.append(ex.answerable)
        rules.append(j.rules_abstain)
        hard.append(any(j.verdicts.reasons.get(c) for c in composer.config.hard_checks))
        right.append(
            bool(j.ranked) and ex.answerable and _holds(j.ranked[0].unit.text, ex.alternatives)
        )
    vetoes = {"rules+model": np.array(rules, dtype=bool), "model": np.array(hard, dtype=bool)}
    return np.vstack(xs), np.array(ys, dtype=int), np.array(right), vetoes


def _auc(y: np.ndarray, p: np.ndarray) -> float | None:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None


def set_weights(examples: Sequence[Example]) -> np.ndarray:
    """One weight per example such that every training set counts as much as every other,
    whatever its size (mean weight 1)."""
    names = [ex.set_name for ex in examples]
    sizes = {n: names.count(n) for n in set(names)}
    return np.array([len(names) / (len(sizes) * sizes[n]) for n in names])


def _balanced(answered, answerable, right, inside) -> float:
    pos, neg = inside & (answerable == 1), inside & (answerable == 0)
    good_pos = np.sum(answered & right & pos) / pos.sum() if pos.any() else 1.0
    good_neg = np.sum(~answered & neg) / neg.sum() if neg.any() else 1.0
    return float((good_pos + good_neg) / 2)


def choose_threshold(
    p: np.ndarray,
    answerable: np.ndarray,
    right: np.ndarray,
    sets: np.ndarray | None = None,
    vetoed: np.ndarray | None = None,
    no_worse: bool = True,
) -> tuple[float, float]:
    """The threshold with the best mean balanced accuracy over the training sets (``vetoed``
    questions are abstained on whatever the threshold), with ``no_worse`` only among those that
    make no set's balanced accuracy worse than without the model's say; and that mean."""
    sets = np.zeros(len(p), dtype=int) if sets is None else sets
    veto = np.zeros(len(p), dtype=bool) if vetoed is None else vetoed
    groups = [sets == s for s in np.unique(sets)]
    base = [_balanced(~veto, answerable, right, g) for g in groups]
    best = (0.0, float(np.mean(base)) if no_worse else -1.0)
    for t in np.linspace(0.05, 0.95, 181):
        answered = (p >= t) & ~veto
        per_set = [_balanced(answered, answerable, right, g) for g in groups]
        if no_worse and any(v < b - 1e-9 for v, b in zip(per_set, base, strict=True)):
            continue
        if np.mean(per_set) > best[1] + 1e-9:
            best = (float(round(t, 3)), float(np.mean(per_set)))
    return best


def train(
    sets: Sequence[TrainingSet] | None = None,
    out: str | Path | None = DEFAULT_PATH,
    progress: Callable[[str], None] = print,
    embedder=None,
    folds: int = 5,
) -> AnswerModel:
    """Fit both heads on ``sets`` and write the artifact to ``out`` (unless None)."""
    sets = list(sets) if sets is not None else default_sets()
    t0 = time.perf_counter()
    examples = collect(sets, progress, embedder)
    model = fit(examples, folds, progress)
    model.card["data"] = [
        {
            "name": s.name,
            "corpus": str(s.corpus),
            "questions": str(s.questions),
            "tags": list(s.tags),
            "limit": s.limit,
        }
        for s in sets
    ]
    model.card["seconds"] = round(time.perf_counter() - t0, 1)
    if out is not None:
        model.save(out)
        progress(f"wrote {out}")
    return model


def fit(
    examples: Sequence[Example], folds: int = 5, progress: Callable[[str], None] = print
) -> AnswerModel:
    """Fit the unit head, then the answerability head and its threshold, on collected examples."""
    from sklearn.model_selection import GroupKFold

    if not examples:
        raise ValueError("no training questions: check the sets' paths and tags")
    ux, uy, owners = _unit_rows(examples)
    if uy.sum() == 0 or uy.sum() == len(uy):
        raise ValueError("the training units are all of one class: add answerable questions")
    qw = set_weights(examples)
    unit = _fit_head(ux, uy, UNIT_FEATURES, balanced=False, weight=qw[owners])
    progress(f"unit head: {len(uy)} units, {int(uy.sum())} holding an answer")
    n = len(QUESTION_FEATURES)
    dummy = Head(list(QUESTION_FEATURES), np.zeros(n), np.ones(n), np.zeros(n), 0.0)
    qx, qy, right, vetoes = _question_rows(examples, AnswerModel(unit, dummy, 0.5))
    if qy.sum() == 0 or qy.sum() == len(qy):
        raise ValueError("the training questions are all of one kind: add (un)answerable ones")
    groups = np.array([ex.group for ex in examples])
    oof = np.zeros(len(qy))
    n_folds = min(folds, len(set(groups)))
    if n_folds >= 2:
        for fit_rows, held in GroupKFold(n_splits=n_folds).split(qx, qy, groups):
            if 0 < qy[fit_rows].sum() < len(fit_rows):
                head = _fit_head(qx[fit_rows], qy[fit_rows], QUESTION_FEATURES, True, qw[fit_rows])
                oof[held] = head.predict(qx[held])
            else:
                oof[held] = qy[fit_rows].mean()
    else:
        oof[:] = _fit_head(qx, qy, QUESTION_FEATURES, True, qw).predict(qx)
    set_ids = np.unique([ex.set_name for ex in examples], return_inverse=True)[1]
    thresholds, balanced = {}, {}
    for mode, vetoed in vetoes.items():
        # "rules+model" may not make any set worse than the engine without the model
        t, b = choose_threshold(oof, qy, right, set_ids, vetoed, no_worse=mode == "rules+model")
        thresholds[mode], balanced[mode] = t, b
    decide = examples[0].bot.settings.answer.decide
    threshold, balanced_acc = thresholds[decide], balanced[decide]
    answerable = _fit_head(qx, qy, QUESTION_FEATURES, True, qw)
    card = {
        "trained": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "rag train",
        "embedding_model": examples[0].bot.settings.model,
        "seed": SEED,
        "held_out_dev_articles": list(HELD_OUT_DEV_ARTICLES),
        "questions": int(len(qy)),
        "answerable": int(qy.sum()),
        "units": int(len(uy)),
        "units_holding_answer": int(uy.sum()),
        "unit_features": list(UNIT_FEATURES),
        "question_features": list(QUESTION_FEATURES),
        "metrics": {
            "unit_auc_in_sample": _auc(uy, unit.predict(ux)),
            "best_unit_holds_answer": float(right[qy == 1].mean()) if qy.sum() else None,
            "answerable_auc_out_of_fold": _auc(qy, oof),
            "mean_set_balanced_accuracy_out_of_fold": balanced,
        },
        "threshold_rule": "best mean balanced accuracy over the training sets, on out-of-fold "
        "predictions; for rules+model only among thresholds that make no set worse than the "
        "engine without the model (rag/train.py)",
        "decide": examples[0].bot.settings.answer.decide,
        "hard_checks": list(examples[0].bot.settings.answer.hard_checks),
    }
    auc = card["metrics"]["answerable_auc_out_of_fold"]
    progress(
        f"answerability: AUC {auc if auc is None else round(auc, 3)} out of fold, threshold "
        f"{threshold:.3f} (mean balanced accuracy over the sets {balanced_acc:.3f})"
    )
    card["thresholds"] = thresholds
    return AnswerModel(unit, answerable, threshold, card, thresholds)


def proxy_metrics(model: AnswerModel, examples: Sequence[Example]) -> dict:
    """Quick figures of ``model`` on collected examples, without composing answers: accuracy and
    recall count an answered answerable question as right when its best unit holds the gold
    answer (the composed answer may add units; ``rag eval`` measures that)."""
    qx, qy, right, vetoes = _question_rows(examples, model)
    p = model.answerable.predict(qx)
    decide = examples[0].bot.settings.answer.decide
    answered = (p >= model.threshold_for(decide)) & ~vetoes[decide]
    unans = qy == 0
    tp = int(np.sum(~answered & unans))
    fp = int(np.sum(~answered & ~unans))
    fn = int(np.sum(answered & unans))
    return {
        "questions": int(len(qy)),
        "accuracy": float(np.mean(np.where(unans, ~answered, answered & right))),
        "recall": float(np.mean((answered & right)[~unans])) if (~unans).any() else None,
        "abstention_f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
        "answerable_auc": _auc(qy, p),
    }
