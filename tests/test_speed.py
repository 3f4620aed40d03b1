"""Issue 19: what makes a start, a build and an answer fast without changing what is served.

Index identity covers only what is in the index, so a query-time setting (the answer model, its
knobs, k, the mode) never rebuilds it."""

from __future__ import annotations

import json

from rag.answer.model import DEFAULT_PATH
from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from rag.settings import Settings


def _bot(corpus, data, notices, **settings):
    s = Settings.make(corpus_dir=corpus, data_dir=data, **settings)
    return Chatbot(s, embedder=HashEmbedder(64), notify=notices.append)


def test_query_time_settings_share_one_build(tiny_corpus, tmp_path):
    """The answer model on and off, another answer model, and other query-time settings all serve
    the build the first bot made: no "Rebuilding the index" notice, the same build folder."""
    other = tmp_path / "other_model.json"
    artifact = json.loads(DEFAULT_PATH.read_text(encoding="utf-8"))
    artifact["threshold"] = 0.25  # a different trained model: another version hash
    other.write_text(json.dumps(artifact), encoding="utf-8")
    notices: list[str] = []
    data = tmp_path / "data"
    first = _bot(tiny_corpus, data, notices).warm_up()
    assert first.answer_model is not None  # the trained stage is really on in the first bot
    built = first.store().current.resolve()
    variants = [
        {"answer": {"use_model": False}},
        {"answer_model": other},
        {"k": 9, "mode": "bm25", "answer": {"list_margin": 0.3}},
        {},
    ]
    for settings in variants:
        bot = _bot(tiny_corpus, data, notices, **settings).warm_up()
        assert bot.store().current.resolve() == built, settings
    assert _bot(tiny_corpus, data, [], answer_model=other).answer_model.version != (
        first.answer_model.version
    )
    assert notices == []
    assert "answer_model" not in first.index.manifest["settings"]


def test_an_index_setting_still_rebuilds(tiny_corpus, tmp_path):
    notices: list[str] = []
    _bot(tiny_corpus, tmp_path / "data", notices).warm_up()
    _bot(tiny_corpus, tmp_path / "data", notices, chunk_tokens=60).warm_up()
    assert notices == ["Rebuilding the index: settings changed (chunk_tokens)."]
