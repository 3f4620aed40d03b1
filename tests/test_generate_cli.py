"""`rag ask` and `rag eval --compare extractive,llm` against the scripted endpoint (real model and
index), with an API key that must reach the server and nowhere else."""

from __future__ import annotations

import json

import pytest
from test_generate import QUESTION, SECRET
from typer.testing import CliRunner

from bench.llm_server import ScriptedLLM, faithful, unsupported, with_bad
from rag.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()

# questions written for this test (not from any evaluation set)
QUESTIONS = [
    {"id": "g1", "question": QUESTION, "must_include": ["ADAS"]},
    {"id": "g2", "question": "Which cities host SenseTime's research centres?"},
    {"id": "g3", "question": "How many goats live on the company's roof?", "answerable": False},
]


def env(real_data_dir):
    return {"RAG_DATA_DIR": str(real_data_dir), "RAG_LLM_API_KEY": SECRET}


def test_ask_json_with_llm_flags(real_bot, real_data_dir):
    with ScriptedLLM([{"content": with_bad(unsupported)}]) as llm:
        r = runner.invoke(
            app,
            ["ask", QUESTION, "--json", "--llm-url", llm.url, "--llm-model", "scripted"],
            env=env(real_data_dir),
        )
        headers = llm.requests[0]["headers"]
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["generator"] == "llm" and d["fallback_reason"] is None
    assert [c["supported"] for c in d["checked_sentences"]] == [True, False]
    assert "generate" in d["timings_ms"]
    assert headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in r.output and SECRET not in r.stderr


def test_ask_text_says_the_llm_wrote_it(real_bot, real_data_dir):
    with ScriptedLLM([{"content": faithful}]) as llm:
        r = runner.invoke(
            app,
            ["ask", QUESTION, "--llm-url", llm.url, "--llm-model", "scripted"],
            env=env(real_data_dir),
        )
    assert r.exit_code == 0, r.output
    assert "(written by the LLM; every sentence checked" in r.stdout and "Sources:" in r.stdout


def test_eval_compare_extractive_llm(real_bot, real_data_dir, tmp_path):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    out = tmp_path / "run"
    with ScriptedLLM([{"content": with_bad(unsupported)}]) as llm:
        r = runner.invoke(
            app,
            [
                "eval",
                str(qfile),
                "--compare",
                "extractive,llm",
                "--out",
                str(out),
                "--llm-url",
                llm.url,
                "--llm-model",
                "scripted",
                "--fail-under",
                "supported_sentence_rate=0.4",
            ],
            env=env(real_data_dir),
        )
        calls = len(llm.requests)
    assert r.exit_code == 0, r.output
    assert calls == 2  # the two answerable questions; the unanswerable one never reaches it
    ext = json.loads((out / "extractive" / "summary.json").read_text())
    gen = json.loads((out / "llm" / "summary.json").read_text())
    assert "supported_sentence_rate" not in ext["metrics"]
    assert gen["metrics"]["supported_sentence_rate"] == 0.5  # 2 of 4 sentences pass
    assert gen["metrics"]["generation_latency_p50_ms"] > 0
    assert gen["counts"]["generation"] == {
        "asked": 2,
        "llm_answers": 2,
        "fallbacks": 0,
        "sentences": 4,
        "supported": 2,
    }
    assert "supported_sentence_rate" in r.stdout and "generation_latency_p95_ms" in r.stdout
    for path in out.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def test_compare_llm_without_endpoint_exits_2(tmp_path):
    qfile = tmp_path / "q.jsonl"
    qfile.write_text(json.dumps(QUESTIONS[0]) + "\n")
    r = runner.invoke(app, ["eval", str(qfile), "--compare", "extractive,llm"])
    assert r.exit_code == 2 and "--llm-url" in r.stderr
