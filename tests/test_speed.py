"""Issue 19: what makes a start, a build and an answer fast without changing what is served.

Index identity covers only what is in the index, so a query-time setting (the answer model, its
knobs, k, the mode) never rebuilds it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rag.answer.model import DEFAULT_PATH
from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from rag.settings import DEFAULT_MODEL as MODEL
from rag.settings import Settings
from tests.conftest import PROFILE


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


# ---- the ONNX encoder's start and precision (real model) --------------------------------------


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


def test_the_optimised_graph_is_saved_once_and_gives_the_same_vectors(models_dir):
    from rag.onnx_encoder import OnnxEmbedder, optimized_path

    texts = ["Who leads the research lab?", "A second, longer sentence about the lab's funding."]
    first = OnnxEmbedder(MODEL, models_dir)
    first.warm_up()
    saved = optimized_path(first.model_path)
    assert saved.is_file()
    stamp = saved.stat().st_mtime_ns
    second = OnnxEmbedder(MODEL, models_dir)
    second.warm_up()  # loads the saved copy, optimises nothing
    assert saved.stat().st_mtime_ns == stamp
    a, b = first.embed(texts, cache=False), second.embed(texts, cache=False)
    assert np.abs(a - b).max() < 1e-6
    # a damaged copy is optimised and saved again, not a failed start
    saved.write_bytes(b"not a model")
    third = OnnxEmbedder(MODEL, models_dir)
    third.warm_up()
    assert np.abs(third.embed(texts, cache=False) - a).max() < 1e-6
    assert saved.stat().st_size > 1_000_000


def test_int8_is_close_to_fp32_and_says_what_it_is(models_dir):
    from rag.chunking import Chunker
    from rag.documents import load_corpus
    from rag.index import unit_embed_text
    from rag.onnx_encoder import INT8_FILE, OnnxEmbedder

    chunks = Chunker().chunk_corpus(load_corpus(PROFILE.parent))
    texts = [c.embed_text for c in chunks][:8] + [
        unit_embed_text(c, u.text) for c in chunks for u in c.units
    ][:24]
    fp32 = OnnxEmbedder(MODEL, models_dir)
    int8 = OnnxEmbedder(MODEL, models_dir, precision="int8")
    assert (fp32.precision, int8.precision) == ("fp32", "int8")
    a, b = fp32.embed(texts, cache=False), int8.embed(texts, cache=False)
    cosine = (a * b).sum(axis=1)
    assert cosine.min() > 0.97 and cosine.mean() > 0.985, cosine
    assert np.abs(a - b).max() > 1e-3  # really another model, not the fp32 graph again
    assert int8.model_path.name == INT8_FILE
    assert int8.model_path.stat().st_size < 0.7 * fp32.model_path.stat().st_size
    # its common-word table is its own: fp32 vectors would not match its questions
    word = "river"
    assert np.abs(int8.cache.get(word) - int8.embed([word], cache=False)[0]).max() < 1e-5
    with pytest.raises(ValueError, match="encoder_precision='int4'.*fp32, int8"):
        OnnxEmbedder(MODEL, models_dir, precision="int4")


def test_batches_hold_texts_of_one_token_count_within_a_budget(models_dir):
    from rag.onnx_encoder import TOKEN_BUDGET, OnnxEmbedder

    embedder = OnnxEmbedder(MODEL, models_dir)
    texts = [f"word{i}" for i in range(300)] + ["a longer sentence " * n for n in range(1, 60)]
    order, starts = embedder.plan_batches(texts, 32)
    assert sorted(order) == sorted(texts)
    counts = [len(embedder._tokenizer.encode(t.strip()).ids) for t in order]
    assert counts == sorted(counts)
    for i, j in zip(starts, [*starts[1:], len(order)], strict=True):
        assert j - i <= 32
        assert j - i == 1 or (j - i) * max(counts[i:j]) <= TOKEN_BUDGET
    vectors = embedder.embed(texts, cache=False)  # the order is given back
    alone = embedder.embed([texts[-1], texts[0]], cache=False)
    assert np.abs(vectors[[-1, 0]] - alone).max() < 1e-5
    int8 = OnnxEmbedder(MODEL, models_dir, precision="int8")
    assert set(np.diff([*int8.plan_batches(texts[:40], 32)[1], 40])) == {1}
