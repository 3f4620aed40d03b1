"""The real thing: bundled profile, bundled all-MiniLM-L6-v2, FAISS and BM25 (marked slow)."""

import pytest

from tests.conftest import PROFILE

pytestmark = pytest.mark.slow


def test_model_and_index_load_once(real_bot):
    real_bot.ask("Who founded SenseTime?")
    real_bot.ask("What is SenseCare?")
    assert real_bot.load_count == 1
    assert real_bot.embedder.load_count == 1
    m = real_bot.index.manifest
    assert m["dimension"] == 384 and m["model"] == "bundled:all-MiniLM-L6-v2"
    assert real_bot.index.dense.ntotal == m["n_chunks"] == len(real_bot.index.chunks)


def test_founder_answer_cites_company_info(real_bot):
    a = real_bot.ask("Who founded SenseTime?")
    assert not a.abstained
    assert "Xiao'ou Tang" in a.text
    assert a.citations[0].heading_path == ["SenseTime", "Company Info"]
    assert a.citations[0].line_start == 8


@pytest.mark.parametrize("question", ["What is the capital of France?", "Who is the CEO?"])
def test_abstains_on_what_the_profile_does_not_say(real_bot, question):
    a = real_bot.ask(question)
    assert a.abstained and a.citations == []
    assert "score" in a.reason and "Tang" not in a.text


@pytest.mark.parametrize(
    "question,section",
    [
        ("Who founded SenseTime?", "Company Info"),
        ("What is SenseCare?", "Core Platforms"),
        ("What are the revenue streams?", "Revenue Streams"),
        ("Where are its research centers?", "Research Centers"),
        ("What is the email for media inquiries?", "Contact Information"),
        ("What was revenue in 2023?", "Recent Performance"),
    ],
)
@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_retrieval_finds_the_section(real_bot, question, section, mode):
    passages = real_bot.retrieve(question, k=3, mode=mode)
    assert section in [p.chunk.heading_path[-1] for p in passages]


def test_hybrid_passages_carry_both_ranks(real_bot):
    (p, *_) = real_bot.retrieve("Who founded SenseTime?", k=3, mode="hybrid")
    assert p.dense_rank == 1 and p.lexical_rank == 1
    assert p.score == pytest.approx(2 / 61)


def test_citations_point_at_exact_source_text(real_bot):
    source = PROFILE.read_text(encoding="utf-8")
    lines = source.splitlines()
    for q in [
        "Who founded SenseTime?",
        "Name the four platforms",
        "What are the revenue streams?",
        "How can I reach investor relations?",
        "Is SenseTime under US sanctions?",
    ]:
        a = real_bot.ask(q)
        assert a.citations, q
        for c in a.citations:
            assert source[c.char_start : c.char_end] == c.source_text
            cited_lines = "\n".join(lines[c.line_start - 1 : c.line_end])
            for part in c.quotes:
                for word in part.replace(":", " ").split():
                    assert word.strip("()") in cited_lines, (q, word)


def test_list_answer_is_complete(real_bot):
    a = real_bot.ask("What are SenseTime's revenue streams?")
    for item in ["Software Licensing", "AI Hardware", "Cloud Services", "Custom Solutions"]:
        assert item in a.text
    a = real_bot.ask("Name the four platforms of the 1+4 strategy")
    for item in ["Smart Business", "Smart City", "Smart Life", "Smart Auto"]:
        assert item in a.text


def test_follow_up_is_rewritten_and_answered(real_bot):
    a = real_bot.ask("When was it founded?", history=["Who founded SenseTime?"])
    assert a.rewritten_query == "When was SenseTime founded?"
    assert "October 2014" in a.text
    b = real_bot.ask("And SenseCare?", history=["What is SenseAuto?"])
    assert b.rewritten_query == "What is SenseCare?"
    assert "medical imaging" in b.text
