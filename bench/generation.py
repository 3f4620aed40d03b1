"""``python -m bench.generation``: the grounding check on the scripted endpoint, over the profile.

For one question per section of the corpus (made from its heading at run time, so no question set
is involved), asked anew on every pass (query and sentence vectors forgotten), the scripted endpoint (bench/llm_server.py) replies with a faithful sentence and one
unfaithful sentence of each kind (invented number, wrong citation number, a citation that does not
support the sentence, a negation flip), all built from the passages the prompt holds. Reports how
many of each kind the check removed, how many faithful sentences it kept, and the check's time per
answer (``timings_ms["check"]``: after the reply is complete; passes alternate between a JSON reply
and a streamed one, where finished sentences are embedded while the rest streams) beside the whole
extractive answer's time in the same run.
Writes bench/results/generation.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from bench.common import ROOT, stats
from bench.llm_server import BAD, ScriptedLLM, first_sentence, prompt_sources
from rag.atomic import write_atomic


def questions(bot) -> list[str]:
    """One question per distinct section heading of the corpus."""
    seen = []
    for c in bot.index.chunks:
        name = c.heading_path[-1] if c.heading_path else ""
        if name and name not in seen:
            seen.append(name)
    return [f"What does the document say about {name}?" for name in seen]


def reply(sources) -> str:
    return " ".join([first_sentence(sources), *(build(sources) for build, _ in BAD.values())])


def _cpu_timed(check, out: list[float]):
    def timed(reply_text, sources):
        t0 = time.thread_time()
        try:
            return check(reply_text, sources)
        finally:
            out.append((time.thread_time() - t0) * 1000)

    return timed


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.generation", description=__doc__)
    ap.add_argument("--corpus", type=Path, default=None, help="default: the bundled profile")
    ap.add_argument("--data-dir", type=Path, default=None)
    ap.add_argument("--runs", type=int, default=3, help="passes over the questions")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "generation.json")
    args = ap.parse_args(argv)

    from rag.chatbot import Chatbot
    from rag.settings import Settings

    base = Chatbot.from_corpus(args.corpus, data_dir=args.data_dir).warm_up()
    qs = questions(base)
    kinds = list(BAD)
    removed = dict.fromkeys(kinds, 0)
    total = dict.fromkeys(kinds, 0)
    faithful_kept = faithful_total = answered = abstained = 0
    check_ms = {"json": [], "stream": []}
    during_ms, extractive_ms, removal_reasons = [], [], {}
    with ScriptedLLM([{"content": reply}]) as llm:
        settings = base.settings.model_copy(
            update={"llm_url": llm.url, "llm_model": "scripted", "llm_timeout": 30.0}
        )
        bots = {}
        for streamed in (False, True):  # one JSON reply / a streamed reply (the default)
            s = Settings.make(
                **settings.model_dump(exclude={"llm_api_key", "llm_stream"}), llm_stream=streamed
            )
            bots[streamed] = Chatbot(s, base.embedder)
            bots[streamed]._use(base.index)
            for q in qs:  # warm up every code path once
                bots[streamed].ask(q)
        # CPU time of the check on this thread: what the check costs, apart from waiting for a core
        cpu_ms: dict[bool, list[float]] = {False: [], True: []}
        for streamed, b in bots.items():
            checker = b.generator("llm").checker
            checker.check = _cpu_timed(checker.check, cpu_ms[streamed])
        for run in range(args.runs):
            for q in qs:
                # a question asked for the first time, and a reply never seen: nothing cached
                base.embedder.cache.clear_recent()
                base.embedder.__dict__.get("_token_lru", {}).clear()
                t0 = time.perf_counter()
                base.ask(q)
                extractive_ms.append((time.perf_counter() - t0) * 1000)
                base.embedder.cache.clear_recent()
                base.embedder.__dict__.get("_token_lru", {}).clear()
                stream = run % 2 == 1
                a = bots[stream].ask(q)
                if a.abstained:
                    abstained += 1
                    continue
                answered += 1
                check_ms["stream" if stream else "json"].append(a.timings_ms.get("check", 0.0))
                if stream:
                    during_ms.append(a.timings_ms.get("check_during_stream", 0.0))
                sources = prompt_sources(llm.requests[-1]["body"])
                by_text = {c.text: c for c in a.checked_sentences}
                first = by_text.get(first_sentence(sources))
                faithful_total += 1
                faithful_kept += bool(first and first.supported)
                for kind in kinds:
                    c = by_text.get(BAD[kind][0](sources))
                    total[kind] += 1
                    removed[kind] += bool(c is not None and not c.supported)
                    if c is not None and not c.supported:
                        removal_reasons.setdefault(kind, c.reason)
    result = {
        "questions": len(qs),
        "runs": args.runs,
        "answered": answered,
        "abstained": abstained,
        "faithful_kept": {"kept": faithful_kept, "of": faithful_total},
        "unfaithful_removed": {k: {"removed": removed[k], "of": total[k]} for k in kinds},
        "unfaithful_passed": sum(total[k] - removed[k] for k in kinds),
        "example_reasons": removal_reasons,
        "check_ms_per_answer": stats(check_ms["json"] + check_ms["stream"]),
        "check_ms_per_answer_json": stats(check_ms["json"]),
        "check_ms_per_answer_after_stream": stats(check_ms["stream"]),
        "check_ms_during_stream": stats(during_ms),
        "check_cpu_ms_per_answer_json": stats(cpu_ms[False]),
        "check_cpu_ms_per_answer_after_stream": stats(cpu_ms[True]),
        "extractive_answer_ms": stats(extractive_ms),
        "command": "python -m bench.generation",
    }
    write_atomic(args.out, json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
