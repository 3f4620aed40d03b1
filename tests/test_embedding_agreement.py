"""The ONNX encoder against the sentence-transformers reference, on the real model (marked slow).

Both must give the same vectors to within 1e-4 cosine on any text: ordinary questions and profile
sentences, near-empty text, text past the 256-token truncation, non-Latin scripts and emoji, and in
batches of mixed lengths (padding must not leak into the pooled vector)."""

import os

import numpy as np
import pytest

from rag.embedding import SentenceTransformerEmbedder
from rag.onnx_encoder import ONNX_FILE, OnnxEmbedder
from tests.conftest import PROFILE

pytestmark = pytest.mark.slow

EDGE_TEXTS = [
    "",
    " ",
    "a",
    ".",
    "?",
    "\t\n",
    "Who founded SenseTime?",
    "WHO FOUNDED SENSETIME",
    "  leading and trailing spaces  ",
    "商汤科技是谁创立的？",
    "センスタイムはいつ設立されましたか",
    "مرحبا من أسس الشركة؟",
    "Кто основал компанию?",
    "Ünïcödé àccents, café and naïve façade",
    "🙂🚀✨",
    "emoji mixed 🙂 with words 🚀 and numbers 2014",
    "https://www.sensetime.com/en?x=1&y=2 mailto:pr@sensetime.com",
    "C++ / C# / F# & R: (a) [b] {c} <d> — e – f … g",
    "word " * 600,  # far past 256 tokens: truncated
    "SenseTime is an AI company founded in 2014. " * 40,
    "x" * 3000,  # one very long "word"
]


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    onnx = OnnxEmbedder("bundled:all-MiniLM-L6-v2", tmp_path_factory.mktemp("models"))
    torch = SentenceTransformerEmbedder("bundled:all-MiniLM-L6-v2")
    onnx.warm_up()
    torch.warm_up()
    return onnx, torch


def profile_texts() -> list[str]:
    from rag.chunking import Chunker
    from rag.documents import load_corpus
    from rag.index import unit_embed_text

    chunks = Chunker().chunk_corpus(load_corpus(PROFILE.parent))
    texts = [c.embed_text for c in chunks]
    texts += [unit_embed_text(c, u.text) for c in chunks for u in c.units]
    return texts


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


@pytest.mark.parametrize("text", EDGE_TEXTS, ids=lambda t: repr(t[:20]))
def test_edge_texts_agree(encoders, text):
    onnx, torch = encoders
    a = onnx.embed([text], cache=False)
    b = torch.embed([text], cache=False)
    assert a.shape == b.shape == (1, 384)
    assert cosines(a, b)[0] >= 1 - 1e-4


def test_profile_texts_agree_in_mixed_batches(encoders):
    onnx, torch = encoders
    texts = profile_texts() + EDGE_TEXTS
    assert len(texts) > 100
    # the base class batches by length; shuffle so batches also mix lengths when sent raw
    rng = np.random.default_rng(0)
    order = rng.permutation(len(texts))
    shuffled = [texts[i] for i in order]
    a = np.vstack([onnx.embed_batch(shuffled[i : i + 16]) for i in range(0, len(texts), 16)])
    b = torch.embed(shuffled, batch_size=16, cache=False)
    cos = cosines(a, b)
    assert cos.min() >= 1 - 1e-4, shuffled[int(cos.argmin())][:80]
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)


def test_token_vectors_agree_and_keep_only_content_tokens(encoders):
    onnx, torch = encoders
    texts = profile_texts()[:40] + EDGE_TEXTS
    a = onnx.embed_tokens(texts, batch_size=16, cache=False)
    b = torch.embed_tokens(texts, batch_size=16, cache=False)
    for text, x, y in zip(texts, a, b, strict=True):
        assert x.shape == y.shape, text[:60]
        if len(x):
            assert cosines(x, y).min() >= 1 - 1e-3, text[:60]
            np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    # content tokens only: "Who founded SenseTime?" keeps "founded" and "sense", not "who" or "?"
    tokens = onnx.embed_tokens(["Who founded SenseTime?"])[0]
    assert len(tokens) == 2


def test_token_vectors_come_with_the_sentence_pass(encoders):
    onnx, _ = encoders
    text = "A sentence embedded once gives its token vectors too."
    onnx.embed([text])
    passes = []
    run = onnx.token_batch
    onnx.token_batch = lambda texts: passes.append(texts) or run(texts)
    try:
        assert len(onnx.embed_tokens([text])[0]) > 0
        assert passes == []  # no second pass of the model
        onnx.embed_tokens(["a text never embedded before"])
        assert passes == [["a text never embedded before"]]
    finally:
        del onnx.token_batch


def test_graph_is_written_once_and_reused(encoders, tmp_path):
    onnx, _ = encoders
    path = onnx.model_path
    assert path.name == ONNX_FILE and path.is_file()
    stamp = os.stat(path).st_mtime_ns
    again = OnnxEmbedder("bundled:all-MiniLM-L6-v2", onnx.cache_dir)
    v = again.embed_one("reuse the graph")
    assert os.stat(path).st_mtime_ns == stamp and again.load_count == 1
    assert onnx.load_count == 1
    np.testing.assert_allclose(v, onnx.embed_one("reuse the graph"), atol=1e-6)


def test_stale_graph_is_rewritten(encoders, tmp_path):
    onnx, _ = encoders
    import shutil

    cache = tmp_path / "models"
    shutil.copytree(onnx.cache_dir, cache)
    folder = next(p for p in cache.iterdir() if p.is_dir())
    (folder / "meta.json").write_text('{"graph_version": 0}')
    fresh = OnnxEmbedder("bundled:all-MiniLM-L6-v2", cache)
    fresh.warm_up()
    assert '"graph_version": 0' not in (folder / "meta.json").read_text()
    assert fresh.embed_one("a").shape == (384,)


def test_query_path_never_imports_torch(real_bot, real_data_dir):
    """A cold `rag ask` on a built index loads onnxruntime, never torch or sentence-transformers."""
    import json
    import subprocess
    import sys

    code = (
        "import sys, json\n"
        "from rag.chatbot import Chatbot\n"
        "a = Chatbot.from_corpus(None).ask('Who founded SenseTime?')\n"
        "print(json.dumps({m: m in sys.modules for m in "
        "('torch', 'sentence_transformers', 'transformers', 'onnxruntime', 'bm25s', 'scipy')}))\n"
    )
    env = {**os.environ, "RAG_DATA_DIR": str(real_data_dir)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == {
        "torch": False,
        "sentence_transformers": False,
        "transformers": False,
        "onnxruntime": True,
        "bm25s": False,
        "scipy": False,
    }
    assert "Rebuilding" not in out.stderr


def test_common_words_are_pinned_once_per_model(encoders):
    onnx, _ = encoders
    folder = onnx.model_path.parent
    assert (folder / "common-words.json").is_file() and (folder / "common-words.npy").is_file()
    for word in ["sell", "office", "billion", "package"]:
        pinned = onnx.cache.get(word)
        assert pinned is not None, word
        np.testing.assert_allclose(pinned, onnx.embed_batch([word])[0], atol=1e-5)
    before = onnx.embedded_texts
    onnx.embed(["worth", "grow", "office"])
    assert onnx.embedded_texts == before
