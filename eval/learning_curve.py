"""Learning curve of the answer model: quality on the held-out SQuAD 2.0 dev articles against the
number of training questions used.

    python eval/learning_curve.py [--data ../shared/datasets] [--out eval/learning_curve.json]

The training questions (``rag.train.default_sets``) and the held-out ones (the four dev articles in
``rag.train.HELD_OUT_DEV_ARTICLES``) are analysed and retrieved once; then both heads are refitted
on seeded random subsets of 10%, 25%, 50% and 100% of the training questions and scored on the
held-out questions with ``rag.train.proxy_metrics`` (a best unit holding the gold answer counts as
a right answer). It writes a JSON table and a PNG next to it. It never trains on the held-out
articles. Takes about 10 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag import train as training  # noqa: E402
from rag.atomic import write_atomic  # noqa: E402

FRACTIONS = (0.1, 0.25, 0.5, 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=training.DEFAULT_DATA)
    ap.add_argument("--out", type=Path, default=ROOT / "eval" / "learning_curve.json")
    args = ap.parse_args(argv)
    train_examples = training.collect(training.default_sets(args.data), print)
    held = training.TrainingSet(
        "squad2-dev (held-out articles)",
        args.data / "squad2-dev/corpus",
        args.data / "squad2-dev/questions.jsonl",
        training.HELD_OUT_DEV_ARTICLES,
    )
    test_examples = training.collect([held], print)
    rows = []
    rng = random.Random(training.SEED)
    order = list(range(len(train_examples)))
    rng.shuffle(order)
    for frac in FRACTIONS:
        subset = [train_examples[i] for i in order[: max(20, int(frac * len(order)))]]
        model = training.fit(subset, progress=lambda m: None)
        row = {"fraction": frac, "training_questions": len(subset), "threshold": model.threshold}
        row.update(training.proxy_metrics(model, test_examples))
        rows.append(row)
        print(json.dumps(row))
    write_atomic(args.out, json.dumps(rows, indent=2) + "\n")
    plot(rows, args.out.with_suffix(".png"))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return 0


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    xs = [r["training_questions"] for r in rows]
    for key in ("accuracy", "recall", "abstention_f1", "answerable_auc"):
        ax.plot(xs, [r[key] for r in rows], marker="o", label=key)
    ax.set_xscale("log")
    ax.set_xlabel("training questions")
    ax.set_ylabel("held-out SQuAD 2.0 dev articles")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")


if __name__ == "__main__":
    raise SystemExit(main())
