"""The benchmark's own pieces on tiny inputs: generator, synthetic vectors, JSON + PNG output.
(No timing is asserted: figures belong in the benchmark's output, not in tests.)"""

import json

import numpy as np
import pytest

from bench import profile, scale
from bench.__main__ import main
from bench.corpus import SECTIONS_PER_DOC, generate
from bench.corpus import profile as make_profile
from bench.vectors import BagOfWordsEmbedder
from rag.chunking import Chunker
from rag.documents import load_corpus, parse_sections


def test_generator_is_deterministic_and_sized(tmp_path):
    a = generate(tmp_path / "a", 200, seed=3)
    b = generate(tmp_path / "b", 200, seed=3)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.md"))
    assert files_a == sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*.md"))
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
    assert a == b and len(a) == len(files_a) * 10
    chunks = Chunker().chunk_corpus(load_corpus(tmp_path / "a"))
    assert 180 <= len(chunks) <= 220  # about one chunk per section


def test_generated_profile_is_shaped_like_a_profile(tmp_path):
    text, questions, company = make_profile(5)
    generate(tmp_path / "c", SECTIONS_PER_DOC, seed=0)
    doc = load_corpus(tmp_path / "c")[0]
    sections = [s for s in parse_sections(doc) if s.text.strip()]
    assert len(sections) == SECTIONS_PER_DOC
    assert text.startswith(f"# {company}\n") and "## Company Info\n- **Founder**:" in text
    assert {q.section for q in questions} >= {"Overview", "Company Info", "Recent Performance"}
    with pytest.raises(ValueError, match="not empty"):
        generate(tmp_path / "c", 10)


def test_bag_of_words_vectors_cluster_by_shared_words():
    e = BagOfWordsEmbedder(64)
    a, b, c = e.embed(["Acme builds rockets", "rockets by Acme", "tea grows on hills"], cache=False)
    assert a @ b > 0.5 > abs(a @ c)
    np.testing.assert_allclose(
        np.linalg.norm(e.embed(["", "x"], cache=False), axis=1), 1.0, rtol=1e-6
    )
    np.testing.assert_array_equal(
        e.embed_one("same text"), BagOfWordsEmbedder(64).embed_one("same text")
    )


def test_scale_benchmark_writes_json_and_png(tmp_path):
    result = scale.run(tmp_path, sizes=(60, 120), runs=1, n_queries=10, real_at=None)
    data = json.loads((tmp_path / "scale.json").read_text())
    assert (tmp_path / "scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert data == json.loads(json.dumps(result))
    assert [s["target_chunks"] for s in data["sizes"]] == [60, 120]
    for s in data["sizes"]:
        for kind in ("flat", "ivf", "hnsw"):
            k = s[kind]
            assert k["build"]["total_s"] > 0 and k["disk_bytes"]["dense.faiss"] > 0
            assert set(k["query"]) >= {
                "dense_p50_ms",
                "dense_p95_ms",
                "hybrid_p50_ms",
                "hybrid_p95_ms",
            }
            assert 0 <= k["recall_at_10"] <= 1 and k["memory"]["load_s"] > 0
        assert [r["ef_search"] for r in s["hnsw"]["sweep"]] == list(scale.EF_SWEEP)
        assert s["ivf"]["sweep"] and all("nprobe" in r for r in s["ivf"]["sweep"])
    assert set(data["verdict"]) == {"at_chunks", "ivf", "hnsw"}
    assert set(data["verdict"]["ivf"]) == {"recall_at_10", "hybrid_p95_ms"}
    assert any("flat" in line for line in scale.summary_lines(result))


def test_profile_report_from_a_result(tmp_path):
    answers = {"q1": {"text": "A [1]", "abstained": False, "citations": ["c1"], "score": 0.5}}
    other = {"q1": {"text": "B [1]", "abstained": False, "citations": ["c1"], "score": 0.5001}}
    quality = profile.compare_answers(answers, other)
    assert quality["same_text"] == 0 and quality["same_citations"] == 1
    assert quality["differing"] == ["q1"]
    fig = {k: 1.0 for k in profile.TARGETS}
    result = {
        "figures": {"onnx": fig, "torch": {k: 2.0 for k in profile.TARGETS}},
        "targets": profile.TARGETS,
        "runs": 1,
        "machine": {"cpus": 2},
        "verdict": {
            k: {"target": t, "measured": 1.0, "met": True} for k, t in profile.TARGETS.items()
        },
        "ratios": {k: 0.5 for k in profile.TARGETS},
        "quality": quality,
    }
    profile.plot(result, tmp_path / "profile.png")
    assert (tmp_path / "profile.png").stat().st_size > 1000
    lines = profile.summary_lines(result)
    assert len(lines) == 1 + len(profile.TARGETS) + 1 and "0/1 identical answers" in lines[-1]


@pytest.mark.parametrize("argv", [["--runs", "0"], ["--sizes", "ten"], ["--sizes", "5"], ["nope"]])
def test_bench_command_line_errors(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
