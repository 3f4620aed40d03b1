"""Warm ``Chatbot.ask`` on the bundled questions: the trained answer stage against the same engine
without the model (``answer.use_model=false``), interleaved question by question in one process so
both see the same machine load.

    python -m bench.answer_speed [--passes 2]

Each pass asks every question of ``eval/questions.jsonl`` once, with the query cache cleared first
(so every question is new to it). Prints and writes ``bench/results/answer_speed.json``: p50 / p95
per variant and pass, their ratio, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from bench.common import ROOT
from rag.atomic import write_atomic
from rag.metrics import percentile

OUT = ROOT / "bench" / "results" / "answer_speed.json"


def ask_pass(bots: dict, questions) -> dict[str, list[float]]:
    """One pass of warm asks, in milliseconds per bot: the query cache cleared first (every
    question is new), the bots interleaved question by question so they see the same load."""
    times: dict[str, list[float]] = {name: [] for name in bots}
    for bot in bots.values():
        bot.embedder.cache.clear_recent()
    for q in questions:
        for name, bot in bots.items():
            t0 = time.perf_counter()
            bot.ask(q.question, history=q.history or None)
            times[name].append((time.perf_counter() - t0) * 1000)
    return times


def main(argv: list[str] | None = None) -> int:
    from rag.chatbot import Chatbot
    from rag.evaluation import load_questions

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    qs = load_questions(ROOT / "eval" / "questions.jsonl")
    data = Path(os.environ.get("RAG_DATA_DIR", ROOT / ".rag"))
    bots = {
        "model": Chatbot.from_corpus(None, data_dir=data).warm_up(),
        "no model": Chatbot.from_corpus(None, data_dir=data, answer={"use_model": False}),
    }
    bots["no model"].warm_up()
    load_before = os.getloadavg()
    result = {"questions": len(qs), "passes": []}
    for p in range(args.passes):
        times = ask_pass(bots, qs)
        row = {
            name: {"p50_ms": round(percentile(v, 50), 2), "p95_ms": round(percentile(v, 95), 2)}
            for name, v in times.items()
        }
        row["ratio_p50"] = round(row["model"]["p50_ms"] / row["no model"]["p50_ms"], 3)
        row["ratio_p95"] = round(row["model"]["p95_ms"] / row["no model"]["p95_ms"], 3)
        result["passes"].append(row)
        print(f"pass {p + 1}: {json.dumps(row)}")
    result["load_average"] = {"before": load_before, "after": os.getloadavg()}
    print(f"load average before {load_before}, after {result['load_average']['after']}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
