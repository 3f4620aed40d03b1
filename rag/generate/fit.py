"""Fit the grounding check's support model on SQuAD 2.0 *train* articles (never on eval/*.jsonl).

    python -m rag.generate.fit [--squad ../shared/datasets/squad2-train] [--dev ../shared/datasets/squad2-dev]

Data. For each SQuAD question a *claim* stands in for a sentence an LLM would write: the question
without its wh-word and auxiliary, followed by the answer ("Beyonce leave Destiny's Child and become
a solo singer 2003"). The passages are the chunks of an index built with the engine's own chunker
and embedder over the articles, so the features are exactly those the check computes at run time.
- supported (1): an answerable question's claim vs the chunk holding the unit with the answer;
- unsupported (0): the same claim vs the other chunk of the article closest to it in meaning that
  does not hold the answer (a wrong citation); and an unanswerable question's claim with its
  *plausible* answer vs the chunk that holds that phrase (SQuAD 2.0 wrote these to look supported).

Rule. Logistic regression (Newton's method, L2 1e-3) of the label on [best unit cosine, best unit
token alignment, alignment with all the cited units' tokens]; the threshold maximises Youden's J
(true-positive rate minus false-positive rate) on the train data. The dev articles only report how
the rule carries over. Writes ``rag/generate/support_model.json`` (weights, threshold, data, counts,
figures, this command).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from rag.generate.base import Source, SourceUnit
from rag.generate.grounding import SUPPORT_MODEL, features

WH = re.compile(
    r"^(?:what|which|who|whom|whose|when|where|why|how(?:\s+(?:many|much|long|old|far|often))?)"
    r"(?:\s+(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would))?\s+",
    re.I,
)
SEED = 13


def claim(question: str, answer: str) -> str:
    q = WH.sub("", question.strip()).rstrip("?").strip()
    return f"{q} {answer}".strip()


def _source(index, ci: int) -> Source:
    chunk = index.chunks[ci]
    first = index.unit_offsets[ci]
    units = [
        SourceUnit(
            u.text,
            u.char_start,
            u.char_end,
            u.line,
            index.unit_vectors[first + j],
            index.unit_tokens(first + j) if index.has_tokens else None,
        )
        for j, u in enumerate(chunk.units)
    ]
    return Source(1, chunk.clean, chunk.search_heading, None, units)


def examples(folder: Path, data_dir: Path, limit: int, rng: random.Random):
    """(claim, chunk index, label) triples of one SQuAD folder, and the bot that indexed it."""
    from rag.chatbot import Chatbot

    bot = Chatbot.from_corpus(folder / "corpus", data_dir=data_dir).warm_up()
    index = bot.index
    raw = json.loads(next(folder.glob("*-articles.json")).read_text(encoding="utf-8"))
    by_doc: dict[str, list[int]] = {}
    for ci, c in enumerate(index.chunks):
        by_doc.setdefault(c.doc_id, []).append(ci)
    docs = {Path(d).stem: cis for d, cis in by_doc.items()}
    pos, unans = [], []
    for article in raw["data"]:
        stem = re.sub(r"[^0-9a-z]+", "_", article["title"].lower()).strip("_")
        cis = docs.get(stem) or next((v for k, v in docs.items() if k.startswith(stem[:6])), None)
        if cis is None:
            continue
        for p in article["paragraphs"]:
            for q in p["qas"]:
                answers = q.get("answers") or q.get("plausible_answers") or []
                if not answers:
                    continue
                a = answers[0]["text"].strip()
                holders = [ci for ci in cis if a.lower() in index.chunks[ci].clean.lower()]
                # the chunk of this paragraph: the holder sharing most words with the context
                ctx = set(p["context"].lower().split())
                holders.sort(key=lambda ci: -len(ctx & set(index.chunks[ci].clean.lower().split())))
                if not holders:
                    continue
                item = (claim(q["question"], a), holders[0], cis, a)
                (unans if q.get("is_impossible") else pos).append(item)
    rng.shuffle(pos)
    pos = pos[:limit]
    texts = [c for c, *_ in pos + unans]
    vecs = bot.embedder.embed(texts)
    toks = bot.embedder.embed_tokens(texts)
    vec_of = dict(zip(texts, vecs, strict=True))
    tok_of = dict(zip(texts, toks, strict=True))
    chunk_vecs = index.chunk_vectors()
    rows, labels, kinds = [], [], []

    def feats(text, ci):
        _, cos, align, align_all = features(vec_of[text], tok_of[text], [_source(index, ci)])
        return [float(cos.max()), float(align.max()), align_all]

    for text, ci, cis, a in pos:
        rows.append(feats(text, ci))
        labels.append(1)
        kinds.append("supported")
        others = [o for o in cis if a.lower() not in index.chunks[o].clean.lower()]
        if others:
            wrong = max(others, key=lambda o: float(chunk_vecs[o] @ vec_of[text]))
            rows.append(feats(text, wrong))
            labels.append(0)
            kinds.append("wrong_passage")
    for text, ci, _, _ in unans:
        rows.append(feats(text, ci))
        labels.append(0)
        kinds.append("plausible_answer")
    return np.array(rows, dtype=np.float64), np.array(labels), np.array(kinds), len(pos), len(unans)


def logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-3, steps: int = 50) -> np.ndarray:
    """Weights [bias, w...] of an L2-regularised logistic regression, by Newton's method."""
    xb = np.hstack([np.ones((len(x), 1)), x])
    w = np.zeros(xb.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(xb @ w)))
        grad = xb.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (xb * (p * (1 - p))[:, None]).T @ xb + l2 * np.eye(len(w))
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    return w


def rates(prob: np.ndarray, y: np.ndarray, kinds: np.ndarray, threshold: float) -> dict:
    """Share of supported claims kept and of each kind of unsupported claim removed."""
    keep = prob >= threshold
    out = {
        "supported_kept": round(float(keep[y == 1].mean()), 4),
        "unsupported_removed": round(float(1 - keep[y == 0].mean()), 4),
        "n_supported": int((y == 1).sum()),
        "n_unsupported": int((y == 0).sum()),
    }
    for kind in ("wrong_passage", "plausible_answer"):
        sel = kinds == kind
        if sel.any():
            out[f"{kind}_removed"] = round(float(1 - keep[sel].mean()), 4)
            out[f"n_{kind}"] = int(sel.sum())
    return out


def main(argv: list[str] | None = None) -> int:
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, default=shared / "squad2-train")
    ap.add_argument("--dev", type=Path, default=shared / "squad2-dev")
    ap.add_argument("--limit", type=int, default=1500, help="answerable questions sampled per set")
    ap.add_argument("--out", type=Path, default=SUPPORT_MODEL)
    args = ap.parse_args(argv)
    for name in ("eval",):
        if name in args.squad.parts:
            sys.exit("refusing to fit on the project's evaluation questions")
    rng = random.Random(SEED)
    with tempfile.TemporaryDirectory() as tmp:
        x, y, kinds, n_pos, n_unans = examples(args.squad, Path(tmp) / "train", args.limit, rng)
        w = logistic(x, y)
        prob = 1 / (1 + np.exp(-(w[0] + x @ w[1:])))
        grid = np.unique(np.round(prob, 4))
        best = max(grid, key=lambda t: (prob[y == 1] >= t).mean() - (prob[y == 0] >= t).mean())
        threshold = float(best)
        dev = None
        if args.dev.exists():
            xd, yd, kd, _, _ = examples(args.dev, Path(tmp) / "dev", args.limit // 3, rng)
            pd = 1 / (1 + np.exp(-(w[0] + xd @ w[1:])))
            dev = {"data": str(args.dev.name), **rates(pd, yd, kd, threshold)}
    model = {
        "format_version": 1,
        "features": ["cos_best_unit", "align_best_unit", "align_all_cited_units"],
        "bias": round(float(w[0]), 6),
        "weights": [round(float(v), 6) for v in w[1:]],
        "threshold": round(threshold, 4),
        "rule": "logistic regression (Newton, L2 1e-3); threshold maximises Youden's J on train",
        "data": {
            "train": args.squad.name,
            "answerable_claims": n_pos,
            "unanswerable_claims": n_unans,
            "examples": int(len(y)),
            "seed": SEED,
            "claim": "question minus wh-word/auxiliary + answer (plausible answer if unanswerable)",
            "negatives": "closest other chunk of the article without the answer; unanswerable "
            "question's claim vs the chunk holding its plausible answer",
        },
        "train": rates(prob, y, kinds, threshold),
        "dev": dev,
        "command": "python -m rag.generate.fit",
        "fitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    from rag.atomic import write_atomic

    write_atomic(args.out, json.dumps(model, indent=2) + "\n")
    print(json.dumps(model, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
