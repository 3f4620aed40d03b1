"""The bundled question set is a valid measuring instrument for the profile, and `rag eval` runs end to
end on the real engine (slow)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.evaluation import heading_key, in_sections, load_questions, text_key

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"
HELDOUT = (
    ROOT / "eval" / "heldout.jsonl"
)  # written blind, by a session that saw neither set nor code
PROFILE = ROOT / "corpus" / "sensetime_profile.md"
SMOKE = Path(__file__).parent / "fixtures" / "eval" / "smoke.jsonl"
HEADING_RE = re.compile(r"^(#{1,6})\s+(.+?)\s*$")


def headings_with_body() -> list[tuple[tuple[str, ...], bool]]:
    """(heading path, has body text) for every heading of the profile, read independently."""
    out: list[list] = []
    stack: list[tuple[int, str]] = []
    for line in PROFILE.read_text(encoding="utf-8").splitlines():
        m = HEADING_RE.match(line)
        if m:
            level = len(m.group(1))
            stack = [(lv, h) for lv, h in stack if lv < level] + [(level, m.group(2))]
            out.append([tuple(h for _, h in stack), False])
        elif line.strip() and out:
            out[-1][1] = True
    return [(path, body) for path, body in out]


@pytest.fixture(scope="module")
def questions():
    return load_questions(QUESTIONS)


@pytest.fixture(scope="module", params=[QUESTIONS, HELDOUT], ids=["bundled", "heldout"])
def each_set(request):
    """Both question sets: what makes a set a valid instrument holds for each."""
    return load_questions(request.param)


def test_the_heldout_set_has_its_own_questions(questions):
    heldout = load_questions(HELDOUT)
    assert len(heldout) >= 80 and sum(not q.answerable for q in heldout) >= 15
    assert sum(bool(q.history) for q in heldout) >= 10
    assert not {q.id for q in heldout} & {q.id for q in questions}


def test_size_and_mix(questions):
    unanswerable = [q for q in questions if not q.answerable]
    followups = [q for q in questions if q.history]
    assert len(questions) >= 80
    assert len(unanswerable) >= 15
    assert len(followups) >= 10
    assert any(isinstance(t, dict) for q in followups for t in q.history)  # role/content form too
    assert sum("list" in q.tags for q in questions) >= 10
    assert sum("number" in q.tags or "date" in q.tags for q in questions) >= 10
    assert {"near-miss", "off-topic"} <= {t for q in unanswerable for t in q.tags}


def test_answerable_questions_say_what_a_right_answer_needs(each_set):
    for q in each_set:
        if q.answerable:
            assert q.must_include and q.sections and q.reference, q.id
        else:
            assert not q.must_include and not q.sections, q.id


def test_every_expected_section_is_a_heading_of_the_profile(each_set):
    paths = [path for path, _ in headings_with_body()]
    for q in each_set:
        for section in q.sections:
            assert any(in_sections(p, [section]) for p in paths), (q.id, section)
            # written as the document spells it, not a repaired or shortened form
            assert any(section == p[-1] for p in paths), (q.id, section)


def test_every_section_with_text_has_questions(questions):
    named = {heading_key(s) for q in questions for s in q.sections}
    for path, has_body in headings_with_body():
        if has_body and len(path) > 1:
            assert heading_key(path[-1]) in named, path


def test_must_include_items_occur_in_the_profile(each_set):
    """Each item (one of its alternatives) is in the source, so a perfect answer can contain it."""
    text = text_key(PROFILE.read_text(encoding="utf-8"))
    for q in each_set:
        for alternatives in q.alternatives:
            assert any(text_key(alt) in text for alt in alternatives), (q.id, alternatives)


def test_questions_paraphrase_rather_than_copy(questions):
    """No question shares a run of five words with the profile."""
    words = re.findall(r"\w+", PROFILE.read_text(encoding="utf-8").lower())
    grams = {tuple(words[i : i + 5]) for i in range(len(words) - 4)}
    for q in questions:
        qw = re.findall(r"\w+", q.question.lower())
        copied = [g for g in zip(*(qw[i:] for i in range(5)), strict=False) if g in grams]
        assert not copied, (q.id, copied)


def test_importing_the_cli_and_evaluation_stays_light():
    code = (
        "import sys, rag.cli, rag.evaluation; "
        "heavy = {'torch', 'faiss', 'matplotlib', 'tqdm', 'sentence_transformers'}; "
        "print(sorted(heavy & set(sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_rag_eval_end_to_end_on_the_real_engine(real_data_dir, tmp_path, monkeypatch):
    """A handful of questions through `rag eval --compare` with the real model and index."""
    from rag import cli
    from rag.evaluation import corpus_hash

    monkeypatch.setenv("RAG_DATA_DIR", str(real_data_dir))  # reuse the session's index
    result = CliRunner().invoke(
        cli.app, ["eval", str(SMOKE), "--out", str(tmp_path), "--compare", "dense,bm25,hybrid"]
    )
    assert result.exit_code == 0, result.output
    sha = hashlib.sha256(PROFILE.read_bytes()).hexdigest()
    for mode in ("dense", "bm25", "hybrid"):
        out = tmp_path / mode
        assert sorted(p.name for p in out.iterdir()) == [
            "latency.png",
            "reliability.png",  # predicted against observed answerability
            "report.html",
            "report.md",
            "results.jsonl",
            "sections.png",
            "summary.json",
        ]
        s = json.loads((out / "summary.json").read_text())
        assert (s["n"], s["n_answerable"], s["n_unanswerable"], s["n_errors"]) == (5, 4, 1, 0)
        assert s["mode"] == mode and s["settings"]["mode"] == mode and s["k"] == 5
        assert s["model"] == "bundled:all-MiniLM-L6-v2"
        assert s["corpus"] == {"sensetime_profile.md": sha}
        assert s["corpus_hash"] == corpus_hash({"sensetime_profile.md": sha})
        assert s["metrics"]["latency_p50_ms"] > 0 and s["warm_up_ms"] >= 0
        # may not abstain at all; with BM25 alone the one unanswerable question retrieves nothing,
        # so no P(answerable) is computed for it and its AUC has no negative to rank
        assert set(s["null_reasons"]) <= {"abstention_precision", "answerable_auc"}
        rows = {r["id"]: r for r in map(json.loads, (out / "results.jsonl").open())}
        assert list(rows) == ["founder", "founded-when", "platforms", "france", "ir"]
        assert all(r["mode"] == mode and r["k"] == 5 for r in rows.values())
        founder = rows["founder"]
        assert founder["checks"]["must_include"][0]["found"] is True  # "Tang" is in the answer
        assert (
            founder["citations"] and founder["citations"][0]["document"] == "sensetime_profile.md"
        )
        assert rows["founded-when"]["rewritten_query"] != "When was it founded?"
    rows = json.loads((tmp_path / "compare.json").read_text())
    assert list(rows) == ["dense", "bm25", "hybrid"]
    assert result.stdout.splitlines()[0].split() == ["metric", "dense", "bm25", "hybrid"]
