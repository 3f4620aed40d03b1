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


# ---- a build killed halfway resumes (issue 21, point 8), and says how far it is --------------------


class Killed(BaseException):
    """Stands for a kill: nothing after it runs in the build (not even ``except Exception``)."""


class DyingEmbedder(HashEmbedder):
    """Embeds ``batches`` batches, then dies; counts every text it embeds."""

    def __init__(self, batches: int | None = None):
        super().__init__(64)
        self.batches, self.texts = batches, 0

    def embed_batch(self, texts):
        if self.batches is not None:
            if self.batches == 0:
                raise Killed
            self.batches -= 1
        self.texts += len(texts)
        return super().embed_batch(texts)


def _store(corpus, root, embedder, **kwargs):
    from rag.chunking import Chunker
    from rag.index import IndexStore

    return IndexStore(
        root,
        corpus,
        Chunker(),
        embedder,
        batch_size=4,
        notify=lambda m: None,
        log=lambda m: None,
        **kwargs,
    )


@pytest.fixture
def wide_corpus(tmp_path):
    corpus = tmp_path / "wide"
    corpus.mkdir()
    for d in range(4):
        lines = [f"# Report {d}", ""]
        for s in range(12):
            lines += [
                f"## Part {s}",
                f"Item {d}-{s} weighs {s + 3} kilos and ships from dock {d}.",
                "",
            ]
        (corpus / f"report{d}.md").write_text("\n".join(lines), encoding="utf-8")
    return corpus


def test_a_killed_build_resumes_with_what_it_embedded(wide_corpus, tmp_path):
    clean = _store(wide_corpus, tmp_path / "clean", DyingEmbedder()).build()
    total = sum(clean.manifest["embedded"].values())
    root = tmp_path / "idx"
    with pytest.raises(Killed):
        _store(wide_corpus, root, DyingEmbedder(batches=5)).build()
    assert not (root / "current").exists()  # nothing half-built is served
    assert (root / "partial" / "rows.jsonl").read_text().count("\n") == 20  # 5 batches of 4
    again = DyingEmbedder()
    index = _store(wide_corpus, root, again).build()
    assert index.manifest["resumed"] == 20
    assert again.texts == total - 20  # only what the killed build had not embedded
    assert np.array_equal(index.unit_vectors, clean.unit_vectors)
    assert np.array_equal(index.chunk_vectors(), clean.chunk_vectors())
    assert np.array_equal(index.token_vectors, clean.token_vectors)
    assert not (root / "partial").exists()  # installed: the checkpoint is cleared


def test_a_torn_checkpoint_keeps_its_whole_rows_and_another_models_is_dropped(
    wide_corpus, tmp_path
):
    root = tmp_path / "idx"
    with pytest.raises(Killed):
        _store(wide_corpus, root, DyingEmbedder(batches=3)).build()
    partial = root / "partial"
    with open(partial / "vectors.f32", "ab") as f:  # half a row of vectors, and a torn line
        f.write(b"\0" * 100)
    with open(partial / "rows.jsonl", "ab") as f:
        f.write(b'{"k": "abc')
    again = DyingEmbedder(batches=2)
    with pytest.raises(Killed):  # resumes from the 12 whole rows, dies 8 texts later
        _store(wide_corpus, root, again).build()
    assert (partial / "rows.jsonl").read_text().count("\n") == 20
    assert (partial / "vectors.f32").stat().st_size == 20 * 64 * 4
    other = HashEmbedder(32)  # another model: its vectors could not be these
    index = _store(wide_corpus, root, other).build()
    assert index.manifest["resumed"] == 0


def test_a_process_killed_mid_build_resumes(wide_corpus, tmp_path):
    """The real thing: a process that dies with no clean-up at all (os._exit, as SIGKILL)."""
    import subprocess
    import sys
    import textwrap

    root = tmp_path / "idx"
    code = textwrap.dedent(f"""
        import os
        from rag.embedding import HashEmbedder
        from rag.chunking import Chunker
        from rag.index import IndexStore

        class Dies(HashEmbedder):
            calls = 0
            def embed_batch(self, texts):
                Dies.calls += 1
                if Dies.calls > 6:
                    os._exit(9)
                return super().embed_batch(texts)

        IndexStore({str(root)!r}, {str(wide_corpus)!r}, Chunker(), Dies(64), batch_size=4,
                   log=lambda m: None).build()
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=120)
    assert done.returncode == 9, done.stderr.decode()
    again = DyingEmbedder()
    index = _store(wide_corpus, root, again).build()
    assert index.manifest["resumed"] == 24
    assert again.texts == sum(index.manifest["embedded"].values())
    assert sum(index.manifest["embedded"].values()) + 24 == sum(
        _store(wide_corpus, tmp_path / "clean", DyingEmbedder())
        .build()
        .manifest["embedded"]
        .values()
    )


def test_a_build_reports_its_real_progress(wide_corpus, tmp_path):
    seen: list[tuple[int, int]] = []
    index = _store(
        wide_corpus, tmp_path / "idx", DyingEmbedder(), on_progress=lambda d, t: seen.append((d, t))
    ).build()
    total = sum(index.manifest["embedded"].values())
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert {t for _, t in seen} == {total}
    done = [d for d, _ in seen]
    assert done == sorted(done) and len(set(done)) == len(done) > 10  # one step per batch


def test_precision_is_index_content(tiny_corpus, tmp_path):
    """An int8 encoder's vectors are not an fp32 build's: the build is stale and nothing is reused;
    an fp32 build does not record it, so builds made before the setting stay current."""
    from rag.index import read_manifest

    fp32 = _store(tiny_corpus, tmp_path / "idx", HashEmbedder(64))
    fp32.build()
    assert "precision" not in read_manifest(fp32.current)["settings"]
    int8 = HashEmbedder(64)
    int8.precision = "int8"
    store = _store(tiny_corpus, tmp_path / "idx", int8)
    assert store.staleness(store.scan().docs) == "settings changed (precision)"
    index = store.build()
    assert index.manifest["embedded"]["units"] == index.manifest["n_units"]


def test_a_build_that_recorded_the_answer_model_stays_current(tiny_corpus, tmp_path):
    """Builds of earlier versions hold an ``answer_model`` setting: not a reason to rebuild."""
    import json as _json

    from rag.index import manifest_checksum

    store = _store(tiny_corpus, tmp_path / "idx", HashEmbedder(64))
    store.build()
    path = store.current.resolve() / "manifest.json"
    manifest = _json.loads(path.read_text())
    manifest["settings"]["answer_model"] = "0123456789ab"
    manifest["checksum"] = manifest_checksum(manifest)
    path.write_text(_json.dumps(manifest))
    assert store.staleness(store.scan().docs) is None


def test_an_upload_hears_the_builds_progress(tiny_bot, tmp_path):
    from ui import uploads

    tiny_bot.warm_up()
    upload = tmp_path / "upload.md"
    upload.write_text(
        "# Depot\n\nThe depot opens at dawn.\n\n## Staff\n\nNine porters work there.\n"
    )
    seen: list[tuple[int, int]] = []
    (added,) = uploads.add_uploads(
        tiny_bot, [str(upload)], on_progress=lambda d, t: seen.append((d, t))
    )
    assert added.status == "added"
    total = seen[-1][1]
    assert seen[0] == (0, total) and seen[-1] == (total, total) and total > 0
    assert "upload.md" in tiny_bot.index.manifest["corpus"]


def test_a_checkpoint_that_cannot_be_written_does_not_stop_the_build(
    wide_corpus, tmp_path, monkeypatch
):
    from rag.index.checkpoint import Checkpoint

    def full_disk(self, *args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Checkpoint, "add", full_disk)
    embedder = DyingEmbedder()
    index = _store(wide_corpus, tmp_path / "idx", embedder).build()
    assert index.manifest["n_chunks"] > 0 and embedder.texts == sum(
        index.manifest["embedded"].values()
    )
