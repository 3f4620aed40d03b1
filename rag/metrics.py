"""The names of the evaluation metrics and how each is printed: shared by ``rag.evaluation`` (which
computes them) and ``rag.eval_report`` (which shows them), so neither imports the other's module
for them."""

from __future__ import annotations

from collections.abc import Sequence

# Metrics a --fail-under gate may name: all in [0, 1], higher is better.
GATE_METRICS = (
    "section_hit@1",
    "section_hit@3",
    "mrr@5",
    "must_include_recall",
    "exact_all",
    "citation_precision",
    "page_hit@1",
    "page_hit@k",
    "cited_page_precision",
    "cited_page_hit",
    "answered_on_page",
    "abstention_precision",
    "abstention_recall",
    "abstention_f1",
    "accuracy",
)
# Reported only for a question file with gold ``pages`` (paged documents: PDF)
PAGE_METRICS = (
    "page_hit@1",
    "page_hit@k",
    "cited_page_precision",
    "cited_page_hit",
    "answered_on_page",
)
# Shown, never gated: how long answers are (recall must not come from quoting more) and how well
# the calibrated P(answerable) separates the questions
INFO_METRICS = ("answer_words_mean", "answerable_auc")
LATENCY_METRICS = ("latency_p50_ms", "latency_p95_ms", "latency_max_ms")
METRICS = tuple(m for m in GATE_METRICS if m not in PAGE_METRICS) + INFO_METRICS + LATENCY_METRICS
# Reported only for a run that asked an LLM (rag/generate/): the share of generated sentences that
# passed the grounding check (before removal), and the time the endpoint took per answer.
GENERATION_METRICS = (
    "supported_sentence_rate",
    "generation_latency_p50_ms",
    "generation_latency_p95_ms",
)
# How many retrieved passages a rank metric needs to be meaningful.
METRIC_DEPTH = {"section_hit@1": 1, "section_hit@3": 3, "mrr@5": 5}


def format_value(name: str, value) -> str:
    if value is None:
        return "n/a"
    if name in LATENCY_METRICS or name.endswith("_ms") or name == "answer_words_mean":
        return f"{value:.1f}"
    return f"{value:.3f}"


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    xs = sorted(values)
    pos = (len(xs) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
