"""Batch evaluation on a hand-checked fixture with a fake bot: exact metric arithmetic, no model.

The fixture (tests/fixtures/eval/fixture.jsonl, same rows in fixture.csv) has six questions; the fake
bot's answers below were scored by hand:

    id  answerable  sections  expected-section rank  must_include found  citations in/total  abstained  ms
    a   yes         Facts     1                      2 of 2              2/2                 no         10
    b   yes         Facts     2                      1 of 2 (alt. "|")   1/2                 no         20
    c   yes         Overview  none in 5              0 of 1              0/0                 yes (FP)   30
    d   no          -         -                      -                   -                   yes (TP)   40
    e   no          -         -                      -                   1 (not counted)     no  (FN)   50
    f   yes         -         -                      -                   -                   no  (TN)   60

so hit@1 = 1/3, hit@3 = 2/3, mrr@5 = (1 + 1/2 + 0)/3 = 0.5, must_include_recall = (1 + .5 + 0)/3 = 0.5,
exact_all = 1/3, citation_precision = 3/4, abstention P = R = F1 = 0.5, latency p50 = 35,
p95 = 50 + 0.75 * 10 = 57.5, max = 60; a, d and f pass.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from rag.answer_types import Answer, Citation
from rag.chunking import Chunk
from rag.evaluation import (
    Question,
    QuestionSetError,
    check_thresholds,
    coerce_questions,
    evaluate,
    find_item,
    heading_key,
    in_sections,
    load_questions,
    parse_thresholds,
    percentile,
    run,
    score_answer,
    write_atomic,
)
from rag.retrieval import Passage

FIXTURES = Path(__file__).parent / "fixtures" / "eval"
FIXTURE = FIXTURES / "fixture.jsonl"
FACTS = ["Acme", "Facts"]
OVERVIEW = ["Acme", "Overview"]


# ---- a fake bot returning real Answer objects -------------------------------------------------------


def passage(rank: int, heading_path: list[str]) -> Passage:
    chunk = Chunk(
        id=f"c{rank}",
        doc_id="acme.md",
        section_id="s",
        heading_path=tuple(heading_path),
        section_ordinal=0,
        position=0,
        line_start=rank,
        line_end=rank,
        char_start=0,
        char_end=1,
        text="x",
        clean="x",
        n_tokens=1,
    )
    return Passage(chunk=chunk, rank=rank, score=1.0 / rank)


def citation(number: int, heading_path: list[str], quote: str = "q") -> Citation:
    return Citation(
        number=number,
        document="acme.md",
        heading_path=list(heading_path),
        section_id="s",
        chunk_id="c",
        line_start=number,
        line_end=number,
        char_start=0,
        char_end=1,
        quote=quote,
    )


def answer(text="", passages=(), citations=(), abstained=False, ms=1.0, question="q") -> Answer:
    return Answer(
        question=question,
        rewritten_query=question,
        text=text,
        citations=list(citations),
        abstained=abstained,
        reason="r",
        score=0.5,
        threshold=0.4,
        mode="hybrid",
        k=5,
        passages=list(passages),
        timings_ms={"total": ms},
    )


FIXTURE_ANSWERS = {
    "Who founded Acme?": lambda: answer(
        "Founder: **Jane Roe** [1][2]",
        [passage(1, FACTS), passage(2, OVERVIEW)],
        [citation(1, FACTS), citation(2, FACTS)],
        ms=10,
    ),
    "Where is Acme?": lambda: answer(
        "It expanded to the Middleast [1] [2]",
        [passage(1, OVERVIEW), passage(2, FACTS)],
        [citation(1, FACTS), citation(2, OVERVIEW)],
        ms=20,
    ),
    "What does Acme build?": lambda: answer(
        "I can't answer that from the documents.",
        [passage(r, FACTS) for r in range(1, 6)],
        abstained=True,
        ms=30,
    ),
    "Who is the CEO?": lambda: answer("I can't answer that.", abstained=True, ms=40),
    "What is the capital of France?": lambda: answer(
        "Paris [1]", [passage(1, FACTS)], [citation(1, FACTS)], ms=50
    ),
    "Tell me something.": lambda: answer("Acme builds rockets.", [passage(1, OVERVIEW)], ms=60),
}


class FakeBot:
    """Answers from a table; records every call. No settings, no index: the minimal bot."""

    def __init__(self, answers: dict, fail_on: str | None = None):
        self.answers = answers
        self.fail_on = fail_on
        self.calls: list[dict] = []

    def ask(self, question, history=None, k=None, mode=None):
        self.calls.append({"question": question, "history": history, "k": k, "mode": mode})
        if question == self.fail_on:
            raise RuntimeError("boom")
        return self.answers[question]()


@pytest.fixture
def bot():
    return FakeBot(FIXTURE_ANSWERS)


EXPECTED_METRICS = {
    # a (both names) and f (no items) answered right, d abstained right; b misses Tokyo,
    # c abstained on an answerable question, e answered an unanswerable one
    "accuracy": 0.5,
    "answer_words_mean": 4.0,  # (4 + 7 + 2 + 3) / 4 answered
    "answerable_auc": None,  # the fake answers carry no P(answerable)
    "section_hit@1": 0.333333,
    "section_hit@3": 0.666667,
    "mrr@5": 0.5,
    "must_include_recall": 0.5,
    "exact_all": 0.333333,
    "citation_precision": 0.75,
    "abstention_precision": 0.5,
    "abstention_recall": 0.5,
    "abstention_f1": 0.5,
    "latency_p50_ms": 35.0,
    "latency_p95_ms": 57.5,
    "latency_max_ms": 60.0,
}


# ---- loading ---------------------------------------------------------------------------------------


def test_load_jsonl_fixture():
    qs = load_questions(FIXTURE)
    assert [q.id for q in qs] == ["a", "b", "c", "d", "e", "f"]
    assert [q.line for q in qs] == [1, 2, 4, 5, 6, 7]  # the blank line 3 is skipped
    a, b = qs[0], qs[1]
    assert a == Question(
        id="a",
        question="Who founded Acme?",
        reference="Jane Roe",
        must_include=["Jane", "Roe"],
        sections=["Facts"],
        line=1,
    )
    assert b.alternatives == [["Middle East", "Middleast"], ["Tokyo"]]
    assert b.history == ["Who founded Acme?"] and b.answerable is True
    assert qs[4].history == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]
    assert qs[5].tags == ["misc"] and qs[5].must_include == [] and qs[5].sections == []


def test_csv_with_the_same_columns_gives_the_same_questions():
    def strip_lines(qs):
        return [q.to_dict() for q in qs]

    assert strip_lines(load_questions(FIXTURES / "fixture.csv")) == strip_lines(
        load_questions(FIXTURE)
    )


def test_utf8_bom_and_integer_ids_are_accepted(tmp_path):
    p = tmp_path / "q.jsonl"
    p.write_bytes(b'\xef\xbb\xbf{"id": 7, "question": "\xe5\x95\x8a?"}\n')
    (q,) = load_questions(p)
    assert q.id == "7" and q.question == "啊?"


def _write(tmp_path: Path, text: str, name: str = "q.jsonl") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


GOOD = '{"id": "q1", "question": "Who?"}\n'


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (
            GOOD + "{not json}\n",
            2,
            "not valid JSON (Expecting property name enclosed in double quotes",
        ),
        (GOOD + '["a list"]\n', 2, "expected a JSON object with 'id' and 'question', got list"),
        ('{"question": "Who?"}\n', 1, "missing required field 'id'"),
        ('{"id": "q1"}\n', 1, "missing required field 'question'"),
        ('{"id": "q1", "question": "   "}\n', 1, "'question' must be non-empty text, got '   '"),
        ('{"id": true, "question": "Who?"}\n', 1, "'id' must be a string or an integer, got True"),
        (
            '{"id": "q1", "question": "Who?", "must_inlcude": ["x"]}\n',
            1,
            "unknown field(s) 'must_inlcude'; known fields: id, question, reference",
        ),
        (
            '{"id": "q1", "question": "Who?", "must_include": {"a": 1}}\n',
            1,
            "'must_include' must be a list of strings, not dict",
        ),
        (
            '{"id": "q1", "question": "Who?", "must_include": ["a||b"]}\n',
            1,
            "'must_include' item 'a||b' has an empty alternative",
        ),
        (
            '{"id": "q1", "question": "Who?", "sections": ["ok", ""]}\n',
            1,
            "'sections' item 2 must be a non-empty string, got ''",
        ),
        (
            '{"id": "q1", "question": "Who?", "answerable": "no"}\n',
            1,
            "'answerable' must be true or false, got 'no'",
        ),
        (
            '{"id": "q1", "question": "Who?", "history": [{"role": "user"}]}\n',
            1,
            "'history' turn 1 must be a string or",
        ),
        (
            '{"id": "q1", "question": "Who?", "history": [3]}\n',
            1,
            "'history' turn 1 must be a non-empty string or a role/content message, got 3",
        ),
        (GOOD + "\n" + GOOD, 3, "duplicate id 'q1' (already used on line 1)"),
    ],
)
def test_bad_jsonl_names_the_line_and_the_problem(tmp_path, text, line, message):
    p = _write(tmp_path, text)
    with pytest.raises(QuestionSetError) as exc:
        load_questions(p)
    assert str(exc.value).startswith(f"{p}:{line}: ")
    assert message in str(exc.value)


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_empty_file_is_an_error(tmp_path, text):
    p = _write(tmp_path, text)
    with pytest.raises(QuestionSetError, match="the file has no questions"):
        load_questions(p)


def test_unknown_type_missing_file_and_bad_encoding(tmp_path):
    with pytest.raises(
        QuestionSetError, match=r"unknown question file type '\.txt'; use \.jsonl or"
    ):
        load_questions(_write(tmp_path, GOOD, "q.txt"))
    with pytest.raises(QuestionSetError, match="no such file"):
        load_questions(tmp_path / "missing.jsonl")
    p = tmp_path / "latin1.jsonl"
    p.write_bytes(GOOD.encode() + b'{"id": "q2", "question": "caf\xe9"}\n')
    with pytest.raises(QuestionSetError, match=r"latin1\.jsonl:2: not UTF-8 text"):
        load_questions(p)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id,question,extra\nq1,Who?,x\n", ":1: unknown column(s) 'extra'"),
        ("id,reference\nq1,x\n", ":1: the header has no 'question' column"),
        ("id,question\nq1,Who?,surplus\n", ":2: 3 cells but the header has 2 columns"),
        ("id,question,answerable\nq1,Who?,maybe\n", ":2: 'answerable' must be true or false"),
        (
            'id,question,must_include\nq1,Who?,"[broken"\n',
            ":2: 'must_include' looks like a JSON list",
        ),
        ("id,question\nq1,Who?\nq1,Again?\n", ":3: duplicate id 'q1' (already used on line 2)"),
        ("id,question\n", ": the file has no questions"),
    ],
)
def test_bad_csv_names_the_line_and_the_problem(tmp_path, text, message):
    p = _write(tmp_path, text, "q.csv")
    with pytest.raises(QuestionSetError) as exc:
        load_questions(p)
    assert str(exc.value).startswith(f"{p}{message}")


def test_question_lists_are_validated_like_files():
    qs = coerce_questions([{"id": "x", "question": "Q?"}, Question(id="y", question="R?")])
    assert [q.id for q in qs] == ["x", "y"]
    with pytest.raises(QuestionSetError, match="^question 2: missing required field 'question'"):
        coerce_questions([{"id": "x", "question": "Q?"}, {"id": "y"}])
    with pytest.raises(QuestionSetError, match="duplicate id 'x'"):
        coerce_questions([{"id": "x", "question": "Q?"}, {"id": "x", "question": "R?"}])
    with pytest.raises(QuestionSetError, match="the question list is empty"):
        coerce_questions([])


# ---- matching ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Businessegments", "Business Segments"),  # a letter lost at a fused word boundary
        ("Investorelations", "investor relations"),
        ("1. Smart Business", "Smart Business"),  # leading ordinal
        ('Business Model: The "1+4" Strategy', "business model the 1 4 strategy"),
        ("Controversies & Challenges", "CONTROVERSIES CHALLENGES"),
        ("Über-Straße", "über strasse"),
    ],
)
def test_heading_keys_ignore_case_punctuation_and_fused_letters(a, b):
    assert heading_key(a) == heading_key(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Smart City", "Smart Life"),
        ("Overview", "Company Info"),
        ("Social Media", "Media"),
        ("2. Smart City", "Smart City 2"),
    ],
)
def test_different_headings_stay_different(a, b):
    assert heading_key(a) != heading_key(b)


PATH = ("SenseTime", "Businessegments", "2. Smart City")


@pytest.mark.parametrize(
    ("sections", "hit"),
    [
        (["Businessegments"], True),
        (["Smart City"], True),
        (["business segments > smart city"], True),  # a run of the path, written with ">"
        (["Overview", "2. Smart City"], True),
        (["SenseTime > Smart City"], False),  # not contiguous
        (["Smart Life"], False),
        (["Smart"], False),  # a name matches whole headings, not substrings
        ([], False),
        ([" > "], False),
    ],
)
def test_in_sections(sections, hit):
    assert in_sections(PATH, sections) is hit


@pytest.mark.parametrize(
    ("item", "text", "matched"),
    [
        ("Middle East|Middleast", "Expansion in Southeast Asiand Middleast [1]", "Middleast"),
        ("Middle East|Middleast", "the MIDDLE\n  EAST", "Middle East"),
        ("Xiao'ou Tang", "Founder: **Professor Xiao’ou Tang** [1]", "Xiao'ou Tang"),
        ("SenseTime_AI", "Twitter: `@SenseTime_AI`", "SenseTime_AI"),
        ("45%", "Growth Rate: 45% YoY", "45%"),
        ("45%", "Growth Rate: 4.5% YoY", None),
        ("Tokyo|Kyoto", "Osaka", None),
        ("商汤科技", "WeChat: SenseTime (商汤科技)", "商汤科技"),
    ],
)
def test_find_item_with_alternatives(item, text, matched):
    assert find_item(item, text) == matched


# ---- scoring one answer -----------------------------------------------------------------------------


def _q(**kw) -> Question:
    return Question(id="q", question="Q?", **kw)


@pytest.mark.parametrize(
    ("rank", "hit1", "hit3", "rr"),
    [
        (1, True, True, 1.0),
        (2, False, True, 0.5),
        (3, False, True, 1 / 3),
        (4, False, False, 0.25),
        (5, False, False, 0.2),
        (6, False, False, 0.0),
        (None, False, False, 0.0),
    ],
)
def test_rank_checks(rank, hit1, hit3, rr):
    paths = [OVERVIEW] * 6
    if rank is not None:
        paths[rank - 1] = FACTS
    a = answer("x", [passage(r, p) for r, p in enumerate(paths, 1)]).to_dict()
    c = score_answer(_q(sections=["Facts"]), a)
    assert (c.section_rank, c.section_hit_at_1, c.section_hit_at_3) == (rank, hit1, hit3)
    assert c.reciprocal_rank_at_5 == pytest.approx(rr)


def test_passages_are_read_by_rank_not_list_order():
    a = answer("x", [passage(3, FACTS), passage(1, OVERVIEW), passage(2, FACTS)]).to_dict()
    assert score_answer(_q(sections=["Facts"]), a).section_rank == 2


def test_must_include_checks():
    a = answer("Located in the Middleast and Tokyo, founded by Jane.").to_dict()
    c = score_answer(_q(must_include=["Middle East|Middleast", "Tokyo", "Roe"]), a)
    assert c.must_include == [
        {"item": "Middle East|Middleast", "found": True, "matched": "Middleast"},
        {"item": "Tokyo", "found": True, "matched": "Tokyo"},
        {"item": "Roe", "found": False, "matched": None},
    ]
    assert c.must_include_recall == pytest.approx(2 / 3) and c.exact_all is False


def test_unanswerable_questions_are_only_checked_for_abstention():
    q = _q(answerable=False, sections=["Facts"], must_include=["x"])
    said = score_answer(q, answer("x", [passage(1, FACTS)], [citation(1, FACTS)]).to_dict())
    assert said.abstention_correct is False
    assert (said.section_rank, said.must_include_recall, said.citations_scored) == (None, None, 0)
    assert score_answer(q, answer("", abstained=True).to_dict()).abstention_correct is True


# ---- a whole run ---------------------------------------------------------------------------------------


def test_fixture_metrics_are_exact(bot):
    eval_run = run(load_questions(FIXTURE), bot, k=5)
    s = eval_run.summary
    assert s["metrics"] == EXPECTED_METRICS
    assert list(s["null_reasons"]) == ["answerable_auc"]  # the only null one, and why
    assert "no P(answerable)" in s["null_reasons"]["answerable_auc"]
    assert (s["n"], s["n_answerable"], s["n_unanswerable"], s["n_errors"], s["n_passed"]) == (
        6,
        4,
        2,
        0,
        3,
    )
    assert s["counts"]["citation_precision"] == {"num": 3, "den": 4}
    assert s["counts"]["abstention"] == {"tp": 1, "fp": 1, "fn": 1, "tn": 3}
    assert s["by_section"] == {
        "Facts": {"n": 2, "hit@1": 1, "hit@3": 2, "hit@1_rate": 0.5, "hit@3_rate": 1.0},
        "Overview": {"n": 1, "hit@1": 0, "hit@3": 0, "hit@1_rate": 0.0, "hit@3_rate": 0.0},
    }
    assert s["by_tag"] == {"misc": {"n": 1, "passed": 1, "pass_rate": 1.0}}
    failures = {r.question.id: r.failures for r in eval_run.results}
    assert failures == {
        "a": [],
        "d": [],
        "f": [],
        "b": ["answer lacks 'Tokyo'"],
        "c": [
            "abstained on an answerable question",
            "no expected section (Overview) in the top 3 passages or the citations",
            "answer lacks 'rockets'",
        ],
        "e": ["answered a question the documents cannot answer"],
    }


def test_questions_reach_the_bot_with_history_mode_and_k(bot):
    run(load_questions(FIXTURE), bot, mode="bm25", k=4)
    assert bot.calls[0] == {
        "question": "Who founded Acme?",
        "history": None,
        "k": 4,
        "mode": "bm25",
    }
    assert bot.calls[1]["history"] == ["Who founded Acme?"]
    assert bot.calls[4]["history"] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello"},
    ]


def test_a_bot_error_is_recorded_and_the_run_goes_on():
    bot = FakeBot(FIXTURE_ANSWERS, fail_on="Who founded Acme?")
    eval_run = run(load_questions(FIXTURE), bot)
    first = eval_run.results[0]
    assert first.error == "RuntimeError: boom" and first.failures == ["error: RuntimeError: boom"]
    assert first.latency_ms is None and first.to_dict()["error"] == "RuntimeError: boom"
    s = eval_run.summary
    assert s["n_errors"] == 1 and len(bot.calls) == 6
    assert s["metrics"]["section_hit@1"] == 0.0  # the errored question is a miss, not skipped
    assert s["metrics"]["must_include_recall"] == round(0.5 / 3, 6)
    assert s["metrics"]["latency_p50_ms"] == 40.0  # 20..60 without the errored one


def _summary(rows, k=None) -> dict:
    """Summarise (question, answer) pairs directly, without files."""
    bot = FakeBot({q.question: (lambda a=a: a) for q, a in rows})
    return run([q for q, _ in rows], bot, k=k).summary


def _uq(i, **kw):
    return Question(id=f"q{i}", question=f"Q{i}?", **kw)


def test_abstention_when_the_bot_never_abstains():
    s = _summary([(_uq(1), answer("x")), (_uq(2, answerable=False), answer("y"))])
    assert s["metrics"]["abstention_precision"] is None
    assert s["null_reasons"]["abstention_precision"] == "the bot abstained on no question"
    assert (s["metrics"]["abstention_recall"], s["metrics"]["abstention_f1"]) == (0.0, 0.0)


def test_abstention_without_unanswerable_questions():
    s = _summary([(_uq(1), answer("x"))])
    assert s["metrics"]["abstention_precision"] is None
    assert s["metrics"]["abstention_recall"] is None and s["metrics"]["abstention_f1"] is None
    assert s["null_reasons"]["abstention_recall"] == "the question set has no unanswerable question"
    assert s["null_reasons"]["abstention_f1"] == "no unanswerable question and no abstention"
    s = _summary([(_uq(1), answer("x", abstained=True))])
    assert (s["metrics"]["abstention_precision"], s["metrics"]["abstention_f1"]) == (0.0, 0.0)
    assert s["metrics"]["abstention_recall"] is None


def test_perfect_abstention():
    s = _summary([(_uq(1), answer("x")), (_uq(2, answerable=False), answer("", abstained=True))])
    assert [s["metrics"][f"abstention_{m}"] for m in ("precision", "recall", "f1")] == [1, 1, 1]


def test_uncomputable_metrics_are_null_with_a_reason_never_nan():
    s = _summary([(_uq(1), answer("x"))])
    assert s["metrics"]["section_hit@1"] is None
    assert s["null_reasons"]["section_hit@1"] == "no answerable question lists expected sections"
    assert s["null_reasons"]["exact_all"] == "no answerable question lists must_include items"
    assert s["null_reasons"]["citation_precision"] == (
        "no citations on answerable questions that list expected sections"
    )
    json.dumps(s, allow_nan=False)  # raises on NaN or infinity


def test_rank_metrics_deeper_than_k_are_null():
    s = _summary([(_uq(1, sections=["Facts"]), answer("x", [passage(1, FACTS)]))], k=2)
    assert s["metrics"]["section_hit@1"] == 1.0
    assert s["metrics"]["section_hit@3"] is None and s["metrics"]["mrr@5"] is None
    assert s["null_reasons"]["section_hit@3"] == "k=2 retrieves fewer than 3 passages"
    assert s["null_reasons"]["mrr@5"] == "k=2 retrieves fewer than 5 passages"


def test_all_questions_failing_gives_null_latency():
    bot = FakeBot({}, fail_on="Q1?")
    s = run([_uq(1)], bot).summary
    assert s["metrics"]["latency_p95_ms"] is None
    assert s["null_reasons"]["latency_p95_ms"] == "no question was answered without an error"


@pytest.mark.parametrize(
    ("values", "p", "expected"),
    [
        ([5.0], 50, 5.0),
        ([5.0], 95, 5.0),
        ([1.0, 2.0], 50, 1.5),
        ([3.0, 1.0, 2.0], 50, 2.0),
        ([10, 20, 30, 40, 50, 60], 95, 57.5),
        ([10, 20, 30, 40, 50, 60], 100, 60),
        ([10, 20, 30, 40, 50, 60], 0, 10),
    ],
)
def test_percentile(values, p, expected):
    assert percentile(values, p) == pytest.approx(expected)


# ---- files --------------------------------------------------------------------------------------------


def test_evaluate_writes_every_output(bot, tmp_path):
    out = tmp_path / "run"
    summary = evaluate(FIXTURE, bot=bot, out_dir=out)
    assert sorted(p.name for p in out.iterdir()) == [
        "latency.png",
        "report.html",
        "report.md",
        "results.jsonl",
        "sections.png",
        "summary.json",
    ]
    assert json.loads((out / "summary.json").read_text()) == summary
    assert summary["metrics"] == EXPECTED_METRICS and summary["questions"] == str(FIXTURE)
    assert summary["model"] is None and summary["corpus_hash"] is None  # the fake has neither
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e", "f"]
    b = rows[1]
    assert b["answer"] == "It expanded to the Middleast [1] [2]"
    assert b["expected"] == {
        "reference": None,
        "must_include": ["Middle East|Middleast", "Tokyo"],
        "sections": ["Facts"],
        "answerable": True,
    }
    assert [c["in_expected_section"] for c in b["citations"]] == [True, False]
    assert b["citations"][0]["heading_path"] == FACTS and b["citations"][0]["line_start"] == 1
    assert [(p["rank"], p["in_expected_section"]) for p in b["passages"]] == [(1, False), (2, True)]
    assert b["checks"]["section_hit@3"] is True and b["checks"]["reciprocal_rank@5"] == 0.5
    assert b["latency_ms"] == 20.0 and b["passed"] is False
    for png in ("latency.png", "sections.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "| section_hit@1 | 0.333 | 1 / 3 |" in md
    assert "| abstention_f1 | 0.500 | tp=1 fp=1 fn=1 |" in md
    assert "## Failures (3)" in md and "### c: What does Acme build?" in md
    assert "![latency](latency.png)" in md
    assert list(out.glob(".*tmp")) == []  # no temp files left behind


def test_evaluate_without_out_dir_writes_nothing(bot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    summary = evaluate([q.to_dict() for q in load_questions(FIXTURE)], bot=bot)
    assert summary["metrics"] == EXPECTED_METRICS and summary["questions"] is None
    assert list(tmp_path.iterdir()) == []


def test_evaluate_validates_its_arguments(bot):
    with pytest.raises(ValueError, match="mode='fast' is not a retrieval mode"):
        evaluate(FIXTURE, bot=bot, mode="fast")
    with pytest.raises(ValueError, match="k=0 must be at least 1"):
        evaluate(FIXTURE, bot=bot, k=0)
    with pytest.raises(ValueError, match="pass either bot= or corpus="):
        evaluate(FIXTURE, bot=bot, corpus="docs")


def test_evaluate_is_exposed_lazily_on_the_package():
    import rag

    assert rag.evaluate is evaluate


def test_html_report_escapes_all_text(tmp_path):
    evil = "<script>alert('q')</script>"
    bot = FakeBot(
        {
            evil: lambda: answer(
                "<img src=x onerror=alert(1)> & more",
                [passage(1, ["<b>Head</b>"])],
                [citation(1, ["<b>Head</b>"])],
            )
        }
    )
    q = Question(id="<i>x</i>", question=evil, must_include=["<missing>"], sections=["S & <T>"])
    evaluate([q], bot=bot, out_dir=tmp_path)
    page = (tmp_path / "report.html").read_text()
    for raw in ("<script>", "<img src=x", "<b>Head", "<i>x</i>", "<missing>", "<T>"):
        assert raw not in page
    for escaped in (
        "&lt;script&gt;alert(&#x27;q&#x27;)&lt;/script&gt;",
        "&lt;img src=x onerror=alert(1)&gt; &amp; more",
        "&lt;b&gt;Head&lt;/b&gt;",
        "&lt;i&gt;x&lt;/i&gt;",
        "S &amp; &lt;T&gt;",
    ):
        assert escaped in page


def test_write_atomic_keeps_the_old_file_when_the_write_fails(tmp_path, monkeypatch):
    target = tmp_path / "summary.json"
    write_atomic(target, "old")

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr("rag.atomic.os.replace", broken_replace)  # where write_atomic lives
    with pytest.raises(OSError, match="disk full"):
        write_atomic(target, "new")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


# ---- gate -------------------------------------------------------------------------------------------


def test_parse_thresholds():
    assert parse_thresholds(["section_hit@1=0.8", "abstention_f1 = 0.5"]) == {
        "section_hit@1": 0.8,
        "abstention_f1": 0.5,
    }
    assert parse_thresholds([]) == {}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("section_hit@1", "--fail-under 'section_hit@1' is not METRIC=VALUE"),
        ("hit@1=0.5", "unknown metric 'hit@1'; use one of section_hit@1, section_hit@3"),
        ("latency_p95_ms=100", "latency is lower-is-better and cannot be gated here"),
        ("exact_all=high", "'high' is not a number; use a value from 0 to 1"),
        ("exact_all=1.5", "1.5 is outside 0..1"),
    ],
)
def test_bad_thresholds_name_the_spec(spec, message):
    with pytest.raises(ValueError) as exc:
        parse_thresholds([spec])
    assert message in str(exc.value)


def test_check_thresholds_names_metric_value_and_threshold():
    summary = {
        "metrics": {"section_hit@1": 0.333333, "exact_all": 0.9, "abstention_precision": None},
        "null_reasons": {"abstention_precision": "the bot abstained on no question"},
    }
    assert check_thresholds(summary, {"exact_all": 0.9}) == []
    assert check_thresholds(summary, {"section_hit@1": 0.5, "abstention_precision": 0.1}) == [
        "section_hit@1 = 0.3333 is below the threshold 0.5",
        "abstention_precision is null (the bot abstained on no question); the gate requires >= 0.1",
    ]


def test_answerable_auc_and_reliability_from_p_answerable():
    from rag.evaluation import _auc, reliability

    pairs = [(0.9, True), (0.8, True), (0.3, False), (0.85, False), (0.1, False)]
    # 2 answerable x 3 unanswerable pairs: 0.9 and 0.8 beat 0.3 and 0.1; 0.9 beats 0.85
    assert _auc(pairs) == round(5 / 6, 6)
    assert _auc([(0.5, True), (0.5, False)]) == 0.5  # a tie counts half
    assert _auc([(0.5, True)]) is None
    bins = reliability(pairs)
    assert [b["n"] for b in bins] == [1, 1, 2, 1]
    top = bins[-1]
    assert top["lo"] == 0.9 and top["observed"] == 1.0 and top["predicted"] == 0.9
    eighties = bins[-2]
    assert eighties["n"] == 2 and eighties["observed"] == 0.5


# ---- gold pages (paged documents) ----------------------------------------------------------------------


def paged_passage(rank: int, doc: str, page: int, page_end: int | None = None) -> Passage:
    p = passage(rank, FACTS)
    p.chunk = dataclasses.replace(p.chunk, doc_id=doc)
    p.page, p.page_end = page, page_end or page
    return p


def paged_citation(number: int, doc: str, page: int, page_end: int | None = None) -> Citation:
    c = citation(number, FACTS)
    c.document, c.page, c.page_end = doc, page, page_end or page
    return c


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ({"document": "r.pdf", "page": 3}, [{"document": "r.pdf", "page": 3, "page_end": 3}]),
        ("r.pdf#3-4", [{"document": "r.pdf", "page": 3, "page_end": 4}]),
        (
            ["7", "sub/r.pdf#p. 2"],
            [
                {"document": None, "page": 7, "page_end": 7},
                {"document": "sub/r.pdf", "page": 2, "page_end": 2},
            ],
        ),
        (5, [{"document": None, "page": 5, "page_end": 5}]),
    ],
)
def test_pages_are_parsed(value, parsed):
    q = Question.from_dict({"id": 1, "question": "Q?", "pages": value})
    assert q.pages == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"document": "r.pdf", "page": 0}, "'page' must be a number from 1"),
        ({"document": "r.pdf", "page": 4, "page_end": 2}, "is before 'page' 4"),
        ("r.pdf#twelve", "is not a page"),
        ({"doc": "r.pdf", "page": 1}, "is not a page"),
        ({"document": "", "page": 1}, "'document' must be a file name"),
    ],
)
def test_bad_pages_name_the_problem(value, message):
    with pytest.raises(QuestionSetError, match=message):
        Question.from_dict({"id": 1, "question": "Q?", "pages": value}, where="q.jsonl:3")


def test_pages_from_csv(tmp_path):
    path = _write(tmp_path, 'id,question,pages\n1,Q?,"a.pdf#2; b.pdf#5-6"\n', "q.csv")
    (q,) = load_questions(path)
    assert [(p["document"], p["page"], p["page_end"]) for p in q.pages] == [
        ("a.pdf", 2, 2),
        ("b.pdf", 5, 6),
    ]


def test_page_checks_match_document_and_page_range():
    q = _q(pages=[{"document": "r.pdf", "page": 12, "page_end": 12}])
    a = answer(
        "x",
        [
            paged_passage(1, "other.pdf", 12),  # the right page of another document
            paged_passage(2, "reports/r.pdf", 10, 11),  # the file name matches, the pages do not
            paged_passage(3, "reports/r.pdf", 11, 13),  # a range over page 12
        ],
        [paged_citation(1, "r.pdf", 12), paged_citation(2, "r.pdf", 40)],
    ).to_dict()
    c = score_answer(q, a)
    assert (c.page_rank, c.page_hit_at_1, c.page_hit_at_k) == (3, False, True)
    assert (c.citations_on_page, c.citations_page_scored, c.cited_page_hit) == (1, 2, True)
    q_nested = _q(pages=[{"document": "sub/r.pdf", "page": 12, "page_end": 12}])
    assert score_answer(q_nested, a).page_rank is None  # a path must match as a whole


def test_page_metrics_in_the_summary_and_results():
    gold = [{"document": "r.pdf", "page": 4, "page_end": 4}]
    rows = [
        (  # answered, figure quoted, cited on the gold page
            _uq(1, pages=gold, must_include=["1,234"]),
            answer(
                "Sales: 1,234 [1]", [paged_passage(1, "r.pdf", 4)], [paged_citation(1, "r.pdf", 4)]
            ),
        ),
        (  # gold page retrieved second, cited elsewhere
            _uq(2, pages=gold, must_include=["9"]),
            answer(
                "9 [1]",
                [paged_passage(1, "r.pdf", 2), paged_passage(2, "r.pdf", 4)],
                [paged_citation(1, "r.pdf", 2)],
            ),
        ),
        (_uq(3, pages=gold), answer("", [paged_passage(1, "r.pdf", 9)], abstained=True)),
        (_uq(4), answer("no pages listed")),
    ]
    s = _summary(rows)
    m = s["metrics"]
    assert (m["page_hit@1"], m["page_hit@k"]) == (round(1 / 3, 6), round(2 / 3, 6))
    assert m["cited_page_precision"] == 0.5 and m["cited_page_hit"] == round(1 / 3, 6)
    assert m["answered_on_page"] == round(1 / 3, 6)
    assert s["counts"]["page_hit@k"] == {"num": 2, "den": 3}
    bot = FakeBot({q.question: (lambda a=a: a) for q, a in rows})
    result = run([q for q, _ in rows], bot).results[0].to_dict()
    assert result["citations"][0]["page"] == 4 and result["citations"][0]["on_expected_page"]
    assert result["passages"][0]["page"] == 4 and result["expected"]["pages"] == gold


def test_page_metrics_are_absent_without_gold_pages():
    s = _summary([(_uq(1), answer("x"))])
    assert "page_hit@1" not in s["metrics"]
    (msg,) = check_thresholds(s, {"page_hit@1": 0.5})
    assert "no answerable question lists gold pages" in msg
