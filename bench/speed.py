"""Issue 19's figures in one command, each beside a baseline measured in the same run, with the load.

    python -m bench.speed [--runs 5] [--build-corpus DIR] [--out bench/results/speed.json]

What it measures (every variant in a fresh data folder; the ONNX graph is written once, before):

* **indexing**: ``rag index`` on ``--build-corpus`` (default: three SQuAD 2.0 dev articles) in a
  child process: CPU-seconds per MiB of text and peak memory, for the default engine (fp32,
  batches by token count), the opt-in int8 encoder, and the previous recipe (fp32, batches of 32
  sorted by characters) as the baseline;
* **cold start**: ``rag ask`` with a built index, start to exit, median of ``--runs`` processes:
  wall, CPU-seconds and peak memory, fp32 and int8, and the torch encoder as the baseline;
* **warm ask**: ``Chatbot.ask`` on the bundled questions, each new to the query cache (cleared per
  pass), with the trained answer stage, p50 / p95 per pass; fp32 and int8 interleaved question by
  question, and the same engine without the trained stage (``answer.use_model=false``) as the
  baseline.

The load average is printed before and after each part. CPU-seconds are the comparable figure on a
shared machine; wall time waits for a core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, machine, run_process, stats, write_json

OUT = ROOT / "bench" / "results" / "speed.json"
SQUAD = ROOT.parent / "shared" / "datasets" / "squad2-dev" / "corpus"
QUESTION = "Who founded SenseTime?"

# the previous build recipe: batches of 32 by characters (``Embedder.plan_batches``), in a child
PREVIOUS_RECIPE = """
import sys
from rag.embedding import Embedder
from rag.onnx_encoder import OnnxEmbedder
OnnxEmbedder.plan_batches = Embedder.plan_batches
from rag.cli import app
app(sys.argv[1:])
"""


def _env(data: Path, **extra) -> dict:
    env = dict(
        os.environ, RAG_DATA_DIR=str(data), HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false"
    )
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _rag(args: list[str], env: dict, previous: bool = False) -> dict:
    cmd = (
        [sys.executable, "-c", PREVIOUS_RECIPE, *args]
        if previous
        else [str(Path(sys.executable).parent / "rag"), *args]  # the console script users run
    )
    out = run_process(cmd, env=env, cwd=ROOT)
    if out["returncode"] != 0:
        raise RuntimeError(f"{' '.join(args)} failed: {out['stderr']}")
    return out


def indexing(corpus: Path, models: Path, tmp: Path) -> dict:
    mib = sum(p.stat().st_size for p in corpus.rglob("*") if p.is_file()) / 2**20
    result = {"corpus": str(corpus), "mib": round(mib, 3), "load_before": _load()}
    for name, extra, previous in (
        ("previous recipe (baseline)", {}, True),
        ("fp32", {}, False),
        ("int8", {"RAG_ENCODER_PRECISION": "int8"}, False),
    ):
        data = tmp / f"build-{name.split()[0]}"
        data.mkdir()
        (data / "models").symlink_to(models, target_is_directory=True)
        out = _rag(["index", "--corpus", str(corpus)], _env(data, **extra), previous)
        result[name] = {
            "cpu_s": out["cpu_s"],
            "wall_s": out["wall_s"],
            "cpu_s_per_mib": round(out["cpu_s"] / mib, 1),
            "peak_mib": out["maxrss_mib"],
        }
        print(
            f"  build {name:28s} {out['cpu_s']:7.1f} CPU-s ({out['cpu_s'] / mib:6.1f} per MiB), "
            f"{out['wall_s']:6.1f} s wall, peak {out['maxrss_mib']:.0f} MiB",
            flush=True,
        )
    result["load_after"] = _load()
    return result


def cold(runs: int, models: Path, tmp: Path) -> dict:
    result = {"load_before": _load()}
    for name, extra in (
        ("torch encoder (baseline)", {"RAG_ENCODER": "torch"}),
        ("fp32", {}),
        ("int8", {"RAG_ENCODER_PRECISION": "int8"}),
    ):
        data = tmp / f"cold-{name.split()[0]}"
        data.mkdir()
        (data / "models").symlink_to(models, target_is_directory=True)
        env = _env(data, **extra)
        _rag(["ask", QUESTION], env)  # builds the index (and the session's saved graph)
        outs = [_rag(["ask", QUESTION], env) for _ in range(runs)]
        row = {
            k: round(sorted(o[k] for o in outs)[len(outs) // 2], 3)
            for k in ("wall_s", "cpu_s", "maxrss_mib")
        }
        result[name] = row
        print(
            f"  cold rag ask {name:24s} {row['wall_s']:.2f} s wall, {row['cpu_s']:.2f} CPU-s, "
            f"{row['maxrss_mib']:.0f} MiB (median of {runs})",
            flush=True,
        )
    result["load_after"] = _load()
    return result


def warm(passes: int, models: Path, tmp: Path) -> dict:
    from bench.answer_speed import ask_pass
    from rag.chatbot import Chatbot
    from rag.evaluation import load_questions

    qs = load_questions(ROOT / "eval" / "questions.jsonl")
    bots = {}
    for name, settings in (
        ("fp32", {}),
        ("int8", {"encoder_precision": "int8"}),
        ("fp32 without the trained stage (baseline)", {"answer": {"use_model": False}}),
    ):
        data = tmp / f"warm-{name.split()[0]}"
        data.mkdir(exist_ok=True)
        if not (data / "models").exists():
            (data / "models").symlink_to(models, target_is_directory=True)
        bots[name] = Chatbot.from_corpus(None, data_dir=data, **settings).warm_up()
    result = {"questions": len(qs), "load_before": _load(), "passes": []}
    for p in range(passes):
        row = {name: stats(v) for name, v in ask_pass(bots, qs).items()}
        result["passes"].append(row)
        print(
            "  warm ask pass",
            p + 1,
            "; ".join(
                f"{name}: p50 {r['p50']:.1f} / p95 {r['p95']:.1f} ms" for name, r in row.items()
            ),
            flush=True,
        )
    result["load_after"] = _load()
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5, help="cold-start processes per variant")
    ap.add_argument("--passes", type=int, default=2, help="warm-ask passes over the questions")
    ap.add_argument("--build-corpus", type=Path, default=None, help="folder to index")
    ap.add_argument("--skip", action="append", default=[], choices=["indexing", "cold", "warm"])
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="rag-speed-"))
    try:
        corpus = args.build_corpus
        if corpus is None:
            if not SQUAD.is_dir():
                raise SystemExit(f"{SQUAD} is missing: pass --build-corpus DIR")
            corpus = tmp / "corpus"
            corpus.mkdir()
            for name in ("islamism.md", "packet_switching.md", "steam_engine.md"):
                shutil.copy(SQUAD / name, corpus / name)
        models = tmp / "models"
        # the graphs and word tables, once, outside the figures; in a child, so this process stays
        # small until the warm part (a child's peak memory starts at its parent's size)
        code = (
            "import sys; from rag.encoders import make_embedder; from rag.settings import Settings\n"
            "for p in ('fp32', 'int8'):\n"
            "    make_embedder(Settings.make().model, 'onnx', sys.argv[1], precision=p).warm_up()"
        )
        out = run_process([sys.executable, "-c", code, str(models)], cwd=ROOT)
        if out["returncode"]:
            raise RuntimeError(out["stderr"])
        result = {
            "command": "python -m bench.speed " + " ".join(argv or sys.argv[1:]),
            "load_at_start": _load(),
        }
        print(f"load average {_load()}", flush=True)
        if "indexing" not in args.skip:
            result["indexing"] = indexing(corpus, models, tmp)
        if "cold" not in args.skip:
            result["cold"] = cold(args.runs, models, tmp)
        if "warm" not in args.skip:
            result["warm"] = warm(args.passes, models, tmp)
        print(f"load average {_load()}", flush=True)
        result["machine"] = machine()  # imports FAISS and onnxruntime: after the child processes
        args.out.parent.mkdir(parents=True, exist_ok=True)
        write_json(args.out, result)
        print(f"wrote {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
