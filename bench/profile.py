"""The bundled profile, end to end: the ONNX encoder against the sentence-transformers baseline.

For each encoder (``RAG_ENCODER=onnx``, then the baseline ``torch``), interleaved run by run so that
both see the same machine load:

* **first build**: ``rag index`` in a fresh data folder (a fresh clone: no index, no ONNX graph);
* **rebuild**: ``rag index`` again (every vector reused from the previous build);
* **cold ask**: ``rag ask QUESTION`` with the built index, process start to exit, and its peak RSS;
* **warm ask**: in a worker process, ``Chatbot.ask`` on every question of ``eval/questions.jsonl``
  after ``warm_up()``, each question new to the query cache (then again, from the cache);
* **quality**: answers of the two encoders compared question by question, and the evaluation
  metrics (``rag.evaluation``) of each.

Figures are medians over ``runs`` runs; ratios are ONNX / baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import ROOT, machine, median_of, ratio, run_process, stats, write_json

QUESTION = "Who founded SenseTime?"
QUESTIONS = ROOT / "eval" / "questions.jsonl"
TARGETS = {
    "warm_ask_p50_ms": 8.0,
    "warm_ask_p95_ms": 20.0,
    "cold_ask_s": 1.5,
    "first_build_s": 10.0,
    "ask_peak_rss_mib": 600.0,
}


def rag_exe() -> str:
    return os.path.join(os.path.dirname(sys.executable), "rag")


def env_for(data_dir: Path, encoder: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_DATA_DIR": str(data_dir), "RAG_ENCODER": encoder}


def load_questions(path: Path = QUESTIONS) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def warm_worker(data_dir: str, encoder: str, runs: int, questions: str, evaluate: bool) -> dict:
    """Runs in a child process (one encoder per process): warm ``Chatbot.ask`` latencies."""
    import time

    from rag.chatbot import Chatbot

    items = load_questions(Path(questions))
    bot = Chatbot.from_corpus(None, data_dir=data_dir, encoder=encoder)
    bot.warm_up()
    bot.ask("What does the company do?")  # first call: one-off allocations
    passes = []
    answers = {}
    for run in range(runs):
        bot.embedder.cache.clear_recent()
        lat = []
        for item in items:
            t0 = time.perf_counter()
            a = bot.ask(item["question"], history=item.get("history") or None)
            lat.append((time.perf_counter() - t0) * 1000)
            if run == 0:
                answers[item.get("id", item["question"])] = {
                    "text": a.text,
                    "abstained": a.abstained,
                    "citations": [c.chunk_id for c in a.citations],
                    "score": a.score,
                }
        passes.append({**stats(lat), "load_average": round(os.getloadavg()[0], 2)})
    cached = []
    for item in items:  # asked before: the query vectors come from the cache
        t0 = time.perf_counter()
        bot.ask(item["question"], history=item.get("history") or None)
        cached.append((time.perf_counter() - t0) * 1000)
    out = {
        "encoder": type(bot.embedder).__name__,
        "passes": passes,
        "p50_ms": median_of(passes, "p50"),
        "p95_ms": median_of(passes, "p95"),
        "cached": stats(cached),
        "answers": answers,
    }
    if evaluate:
        try:
            from rag.evaluation import evaluate as run_eval

            summary = run_eval(questions, bot=bot)
            out["metrics"] = summary.get("metrics", {})
        except Exception as exc:  # another module's: report, do not fail the benchmark
            out["metrics_error"] = f"{type(exc).__name__}: {exc}"
    return out


def compare_answers(a: dict, b: dict) -> dict:
    ids = sorted(set(a) & set(b))
    same_text = sum(a[i]["text"] == b[i]["text"] for i in ids)
    same_cites = sum(a[i]["citations"] == b[i]["citations"] for i in ids)
    same_abstain = sum(a[i]["abstained"] == b[i]["abstained"] for i in ids)
    diffs = [abs(a[i]["score"] - b[i]["score"]) for i in ids]
    return {
        "questions": len(ids),
        "same_text": same_text,
        "same_citations": same_cites,
        "same_abstention": same_abstain,
        "max_score_difference": float(max(diffs)) if diffs else None,
        "differing": [i for i in ids if a[i]["text"] != b[i]["text"]][:20],
    }


def run(out_dir: Path, runs: int = 5, build_runs: int = 3, encoders=("onnx", "torch")) -> dict:
    exe = rag_exe()
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-profile-"))
    result: dict = {
        "machine": machine(),
        "runs": runs,
        "build_runs": build_runs,
        "targets": TARGETS,
    }
    per: dict = {e: {"first_build": [], "rebuild": [], "cold_ask": []} for e in encoders}
    try:
        for i in range(build_runs):
            for enc in encoders:
                data = tmp / f"{enc}-{i}"
                r = run_process([exe, "index"], env_for(data, enc))
                if r["returncode"]:
                    raise RuntimeError(f"rag index failed: {r['stderr']}")
                per[enc]["first_build"].append(r)
                per[enc]["rebuild"].append(run_process([exe, "index"], env_for(data, enc)))
        for _ in range(runs):
            for enc in encoders:
                r = run_process([exe, "ask", QUESTION], env_for(tmp / f"{enc}-0", enc))
                if r["returncode"]:
                    raise RuntimeError(f"rag ask failed: {r['stderr']}")
                per[enc]["cold_ask"].append(r)
        for enc in encoders:
            code = (
                "import json, sys\n"
                "from bench.profile import warm_worker\n"
                f"print(json.dumps(warm_worker({str(tmp / f'{enc}-0')!r}, {enc!r}, {runs}, "
                f"{str(QUESTIONS)!r}, True)))\n"
            )
            r = run_process([sys.executable, "-c", code], env_for(tmp / f"{enc}-0", enc), ROOT)
            if r["returncode"]:
                raise RuntimeError(f"warm worker failed: {r['stderr']}")
            per[enc]["warm"] = json.loads(r["stdout"].strip().splitlines()[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    figures = {}
    for enc in encoders:
        p = per[enc]
        figures[enc] = {
            "first_build_s": median_of(p["first_build"], "wall_s"),
            "first_build_peak_rss_mib": median_of(p["first_build"], "maxrss_mib"),
            "rebuild_s": median_of(p["rebuild"], "wall_s"),
            "cold_ask_s": median_of(p["cold_ask"], "wall_s"),
            "cold_ask_first_output_s": median_of(p["cold_ask"], "first_output_s"),
            "ask_peak_rss_mib": median_of(p["cold_ask"], "maxrss_mib"),
            "warm_ask_p50_ms": p["warm"]["p50_ms"],
            "warm_ask_p95_ms": p["warm"]["p95_ms"],
            "cached_ask_p50_ms": p["warm"]["cached"]["p50"],
            "cached_ask_p95_ms": p["warm"]["cached"]["p95"],
            "encoder_class": p["warm"]["encoder"],
            "samples": {
                "first_build_s": [r["wall_s"] for r in p["first_build"]],
                "rebuild_s": [r["wall_s"] for r in p["rebuild"]],
                "cold_ask_s": [r["wall_s"] for r in p["cold_ask"]],
                "ask_peak_rss_mib": [r["maxrss_mib"] for r in p["cold_ask"]],
                "warm_passes": p["warm"]["passes"],
            },
            "metrics": p["warm"].get("metrics"),
            "metrics_error": p["warm"].get("metrics_error"),
        }
    result["figures"] = figures
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if len(encoders) == 2:
        new, base = encoders
        result["ratios"] = {
            k: ratio(figures[new][k], figures[base][k])
            for k in figures[new]
            if isinstance(figures[new][k], int | float) and k in figures[base]
        }
        result["quality"] = compare_answers(
            per[new]["warm"]["answers"], per[base]["warm"]["answers"]
        )
    result["verdict"] = {
        k: {"target": t, "measured": figures[encoders[0]][k], "met": figures[encoders[0]][k] <= t}
        for k, t in TARGETS.items()
    }
    write_json(out_dir / "profile.json", result)
    plot(result, out_dir / "profile.png")
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = result["figures"]
    encoders = list(figs)
    keys = [
        ("cold_ask_s", "cold `rag ask` (s)"),
        ("first_build_s", "first index build (s)"),
        ("ask_peak_rss_mib", "peak RSS of `rag ask` (MiB)"),
        ("warm_ask_p50_ms", "warm ask p50 (ms)"),
        ("warm_ask_p95_ms", "warm ask p95 (ms)"),
    ]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.4))
    colors = {"onnx": "tab:blue", "torch": "tab:gray"}
    for ax, (key, title) in zip(axes, keys, strict=True):
        values = [figs[e][key] or 0 for e in encoders]
        bars = ax.bar(encoders, values, color=[colors.get(e, "tab:green") for e in encoders])
        target = result["targets"].get(key)
        if target:
            ax.axhline(target, color="tab:red", linestyle="--", linewidth=1, label="target")
            ax.legend(fontsize=7, loc="upper left")
        for b, v in zip(bars, values, strict=True):
            ax.text(
                b.get_x() + b.get_width() / 2, v, f"{v:.3g}", ha="center", va="bottom", fontsize=8
            )
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=8)
    fig.suptitle(
        f"Bundled profile: ONNX encoder vs sentence-transformers baseline "
        f"(medians of {result['runs']} runs, {result['machine']['cpus']} CPUs)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_lines(result: dict) -> list[str]:
    lines = ["figure                      measured   target   baseline(torch)  ratio"]
    base = result["figures"].get("torch", {})
    for key, v in result["verdict"].items():
        r = result.get("ratios", {}).get(key)
        lines.append(
            f"{key:26s} {v['measured']!s:>9} {v['target']!s:>8} {base.get(key)!s:>16} "
            f"{r!s:>6}  {'met' if v['met'] else 'NOT MET'}"
        )
    q = result.get("quality")
    if q:
        lines.append(
            f"quality: {q['same_text']}/{q['questions']} identical answers, "
            f"{q['same_citations']}/{q['questions']} identical citations, "
            f"max evidence-score difference {q['max_score_difference']:.2g}"
        )
    return lines
