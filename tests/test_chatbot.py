"""The Chatbot API on the tiny corpus with the deterministic fake embedder: fast, exact."""

import json

import pytest

from rag.chatbot import Chatbot, QuestionError, clean_question
from rag.settings import Settings, SettingsError


def test_constructor_is_cheap_and_loads_once(tiny_bot):
    assert tiny_bot._index is None  # nothing loaded by the constructor
    tiny_bot.ask("Who is the founder of Acme?")
    tiny_bot.ask("When was Acme founded?")
    tiny_bot.retrieve("rockets")
    assert tiny_bot.load_count == 1


def test_answer_shape_and_json(tiny_bot):
    a = tiny_bot.ask("Who is the founder of Acme?")
    assert not a.abstained
    assert "Jane Roe" in a.text and "[1]" in a.text
    c = a.citations[0]
    assert [x.number for x in a.citations] == list(range(1, len(a.citations) + 1))
    assert c.number == 1 and c.document == "acme.md" and c.heading_path == ["Acme", "Facts"]
    assert c.quote == "Founder: Jane Roe" and c.line_start == c.line_end == 7
    d = json.loads(json.dumps(a.to_dict()))
    assert d["citations"][0]["heading"] == "Acme > Facts"
    assert set(d["timings_ms"]) >= {"embed", "retrieve", "compose", "total"}
    assert d["passages"][0]["rank"] == 1


def test_citations_quote_text_that_is_in_the_source(tiny_bot, tiny_corpus):
    text = (tiny_corpus / "acme.md").read_text()
    for q in ["Who is the founder of Acme?", "What rockets are there?", "What does Acme build?"]:
        a = tiny_bot.ask(q)
        for c in a.citations:
            assert text[c.char_start : c.char_end] == c.source_text
            for word in c.quote.replace(":", " ").split():
                assert word in c.source_text


def test_list_question_gives_every_item(tiny_bot):
    a = tiny_bot.ask("List the products")
    assert "Rocket One" in a.text and "Rocket Two" in a.text


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_modes_and_k(tiny_bot, mode):
    ps = tiny_bot.retrieve("Who founded Acme rockets", k=2, mode=mode)
    assert len(ps) <= 2 and [p.rank for p in ps] == list(range(1, len(ps) + 1))
    if mode == "dense":
        assert all(p.lexical_rank is None and p.dense_rank is not None for p in ps)
    if mode == "bm25":
        assert all(p.dense_rank is None and p.lexical_rank is not None for p in ps)
    if mode == "hybrid":
        p = ps[0]
        assert p.score == pytest.approx(
            1 / (60 + p.dense_rank) + (1 / (60 + p.lexical_rank) if p.lexical_rank else 0)
        )


@pytest.mark.parametrize("question", ["", "   ", "\n\t", "\x00\x01"])
def test_empty_questions_are_clear_errors(tiny_bot, question):
    with pytest.raises(QuestionError, match="empty"):
        tiny_bot.ask(question)


@pytest.mark.parametrize(
    "question",
    [
        "x" * 1_000_000,
        "\udcff broken surrogate",
        "🙂🚀?",
        "مرحبا من أسس الشركة؟",
        "<script>alert(1)</script>",
        "![img](http://evil/x.png) [a](javascript:alert(1))",
        bytes(range(256)).decode("latin-1"),
    ],
)
def test_odd_questions_do_not_crash(tiny_bot, question):
    a = tiny_bot.ask(question)
    assert isinstance(a.text, str) and a.text
    if len(question) > 2000:
        assert a.notices and "only the first 2,000" in a.notices[0]


def test_non_text_question_is_rejected(tiny_bot):
    with pytest.raises(QuestionError, match="must be text"):
        tiny_bot.ask(42)


def test_clean_question_truncates_at_a_word():
    text, notices = clean_question("word " * 1000, max_chars=50)
    assert len(text) <= 50 and not text.endswith(" ") and notices


def test_bad_settings_name_the_value():
    with pytest.raises(SettingsError, match="k=0 is out of range"):
        Settings.make(k=0)
    with pytest.raises(SettingsError, match="mode"):
        Settings.make(mode="fuzzy")
    with pytest.raises(SettingsError, match="unknown setting 'colour'"):
        Chatbot.from_corpus(None, colour="red")


def test_settings_from_environment(monkeypatch):
    monkeypatch.setenv("RAG_K", "9")
    monkeypatch.setenv("RAG_MODE", "bm25")
    s = Settings.make(k=3)
    assert s.k == 3 and s.mode == "bm25"  # arguments beat the environment


def test_history_drives_rewriting(tiny_bot):
    a = tiny_bot.ask("When was it founded?", history=["Who founded Acme?"])
    assert a.rewritten_query == "When was Acme founded?"
