"""The embedder's cache, de-duplication and backend choice, with fake embedders: fast and exact."""

import json

import numpy as np
import pytest

from rag.embedding import HashEmbedder, SentenceTransformerEmbedder, VectorCache
from rag.encoders import make_embedder, onnx_unavailable
from rag.onnx_encoder import OnnxEmbedder, supports


class Recording(HashEmbedder):
    """HashEmbedder that records every batch it is asked to embed."""

    def __init__(self, dimension=16):
        super().__init__(dimension)
        self.batches = []

    def embed_batch(self, texts):
        self.batches.append(list(texts))
        return super().embed_batch(texts)


def test_embed_keeps_order_embeds_each_distinct_text_once():
    e = Recording()
    texts = ["b b", "a", "b b", "ccc ccc ccc", "a"]
    out = e.embed(texts, batch_size=2, cache=False)
    ref = HashEmbedder(16).embed_batch(texts)
    np.testing.assert_allclose(out, ref, atol=1e-6)
    sent = [t for b in e.batches for t in b]
    assert sorted(sent) == ["a", "b b", "ccc ccc ccc"] and e.embedded_texts == 3
    assert [len(b) for b in e.batches] == [2, 1]  # shortest first, in batches of 2


def test_cache_serves_repeated_texts_without_the_model():
    e = Recording()
    first = e.embed_one("who founded acme")
    second = e.embed_one("who founded acme")
    np.testing.assert_array_equal(first, second)
    assert e.embedded_texts == 1 and e.cache.hits == 1
    e.embed(["who founded acme", "new words"])
    assert e.embedded_texts == 2


def test_cache_is_bounded_lru():
    cache = VectorCache(size=2)
    for t in "abc":
        cache.put(t, np.full(3, ord(t), np.float32))
    assert cache.get("a") is None and cache.get("c") is not None
    cache.get("b")  # b is now the most recent; adding d evicts c
    cache.put("d", np.zeros(3, np.float32))
    assert cache.get("c") is None and cache.get("b") is not None
    assert len(cache) == 2


def test_pinned_vectors_are_served_and_not_evicted():
    e = Recording()
    e.cache_size = 1
    words = ["rocket", "garage", "founder"]
    vectors = HashEmbedder(16).embed_batch(words)
    e.cache.pin(words, vectors)
    for t in ["x", "y", "z"]:  # churn the LRU
        e.embed_one(t)
    out = e.embed(words, batch_size=256)
    np.testing.assert_array_equal(out, vectors)
    assert all("rocket" not in b for b in e.batches)


def test_zero_cache_size_disables_caching():
    e = Recording()
    e.cache_size = 0
    e.embed_one("same")
    e.embed_one("same")
    assert e.embedded_texts == 2


def test_make_embedder_choices(tmp_path):
    assert isinstance(make_embedder("hash-8", "onnx"), HashEmbedder)
    assert isinstance(
        make_embedder("bundled:all-MiniLM-L6-v2", "torch"), SentenceTransformerEmbedder
    )
    onnx = make_embedder("bundled:all-MiniLM-L6-v2", "onnx", tmp_path)
    assert isinstance(onnx, OnnxEmbedder) and onnx._session is None  # cheap: nothing loaded yet
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="encoder='fast' is not an encoder"):
        make_embedder("hash-8", "fast")


def _fake_model(folder, model_type="bert", pooling="pooling_mode_mean_tokens"):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    (folder / "modules.json").write_text(
        json.dumps(
            [
                {"idx": 0, "path": "", "type": "sentence_transformers.models.Transformer"},
                {"idx": 1, "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            ]
        )
    )
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(json.dumps({pooling: True}))
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "tokenizer.json").write_text("{}")
    return folder


def test_supports_accepts_bert_mean_pooling_only(tmp_path):
    assert supports(_fake_model(tmp_path / "ok")) is None
    assert "not 'bert'" in supports(_fake_model(tmp_path / "xlm", model_type="xlm-roberta"))
    assert "mean pooling" in supports(
        _fake_model(tmp_path / "cls", pooling="pooling_mode_cls_token")
    )
    assert "not 'bert'" in supports(tmp_path / "missing")


def test_auto_falls_back_to_torch_for_models_onnx_cannot_run(tmp_path):
    folder = _fake_model(tmp_path / "cls", pooling="pooling_mode_cls_token")
    assert onnx_unavailable(str(folder))
    assert isinstance(make_embedder(str(folder), "auto"), SentenceTransformerEmbedder)
    assert isinstance(make_embedder("bundled:all-MiniLM-L6-v2", "auto", tmp_path), OnnxEmbedder)


def test_named_pinned_tables_coexist_and_replace_by_name():
    cache = VectorCache(size=4)
    cache.pin(["a", "b"], np.eye(2, dtype=np.float32), name="common-words")
    cache.pin(["c"], np.ones((1, 2), np.float32))  # the index's table
    cache.pin(["d"], np.zeros((1, 2), np.float32))  # a new index replaces the old one
    assert cache.get("a") is not None and cache.get("d") is not None
    assert cache.get("c") is None
    cache.clear_recent()
    assert cache.get("b") is not None  # pinned tables outlive clear_recent
