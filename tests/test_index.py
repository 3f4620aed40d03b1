import json
import os

import numpy as np
import pytest

import rag.index.embedded
from rag.chunking import Chunker
from rag.embedding import HashEmbedder
from rag.index import Index, IndexReadError, IndexStore, read_manifest


def make_store(corpus, root, notices, **chunker):
    return IndexStore(root, corpus, Chunker(**chunker), HashEmbedder(32), notify=notices.append)


def test_build_then_load_reuses_index(tiny_corpus, tmp_path):
    notices = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    first = store.load_or_build()
    assert notices == []
    m = read_manifest(store.current)
    assert m["format_version"] == 1 and m["dimension"] == 32 and m["model"] == "hash-32"
    assert set(m["corpus"]) == {"acme.md", "notes.txt"}
    assert m["settings"]["chunk_tokens"] == 200
    assert set(m["files"]) >= {"chunks.jsonl", "dense.faiss", "units.npy"}
    second = store.load_or_build()
    assert notices == []  # nothing changed: no rebuild
    assert [c.id for c in second.chunks] == [c.id for c in first.chunks]
    assert second.manifest["created"] == first.manifest["created"]


def test_corpus_change_triggers_rebuild_with_notice(tiny_corpus, tmp_path):
    notices = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    store.load_or_build()
    (tiny_corpus / "acme.md").write_text("# Acme\n## New\nChanged text.\n")
    index = store.load_or_build()
    assert len(notices) == 1 and "corpus changed (acme.md)" in notices[0]
    assert any("Changed text." in c.text for c in index.chunks)


def test_added_document_triggers_rebuild(tiny_corpus, tmp_path):
    notices = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    store.load_or_build()
    (tiny_corpus / "more.md").write_text("# More\nExtra.\n")
    index = store.load_or_build()
    assert "corpus changed (more.md)" in notices[0]
    assert "more.md" in index.manifest["corpus"]


def test_settings_change_triggers_rebuild(tiny_corpus, tmp_path):
    notices = []
    make_store(tiny_corpus, tmp_path / "idx", notices).load_or_build()
    make_store(tiny_corpus, tmp_path / "idx", notices, chunk_tokens=50).load_or_build()
    assert notices == ["Rebuilding the index: settings changed (chunk_tokens)."]


def test_new_indexing_code_triggers_rebuild_that_reuses_vectors(tiny_corpus, tmp_path, monkeypatch):
    notices = []
    first = make_store(tiny_corpus, tmp_path / "idx", notices).load_or_build()
    assert first.manifest["settings"]["pipeline"] == rag.index.embedded.pipeline_fingerprint()
    monkeypatch.setattr(rag.index.embedded, "pipeline_fingerprint", lambda: "other-code")
    index = make_store(tiny_corpus, tmp_path / "idx", notices).load_or_build()
    assert notices == [
        "Rebuilding the index: this version of the program indexes differently"
        " (its code or libraries changed)."
    ]
    assert index.manifest["settings"]["pipeline"] == "other-code"
    assert index.manifest["embedded"] == {"chunks": 0, "units": 0, "words": 0}


def test_pipeline_fingerprint_follows_the_code_and_library_versions(monkeypatch):
    before = rag.index.embedded.pipeline_fingerprint()
    assert before == rag.index.embedded.pipeline_fingerprint()  # stable within a process
    rag.index.embedded.pipeline_fingerprint.cache_clear()
    monkeypatch.setattr(rag.index.embedded.importlib.metadata, "version", lambda name: "0.0-test")
    try:
        assert rag.index.embedded.pipeline_fingerprint() != before
    finally:
        rag.index.embedded.pipeline_fingerprint.cache_clear()


@pytest.mark.parametrize("victim", ["dense.faiss", "chunks.jsonl", "units.npy", "manifest.json"])
def test_corrupted_file_is_detected_and_rebuilt(tiny_corpus, tmp_path, victim):
    notices = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    good = store.load_or_build()
    path = store.current.resolve() / victim
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])  # truncate
    index = store.load_or_build()
    assert len(notices) == 1 and "Rebuilding the index" in notices[0]
    assert [c.id for c in index.chunks] == [c.id for c in good.chunks]
    assert Index.read(store.current.resolve()).manifest["n_chunks"] == len(good.chunks)


def test_interrupted_write_keeps_previous_index(tiny_corpus, tmp_path, monkeypatch):
    notices = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    old = store.load_or_build()
    old_target = os.readlink(store.current)
    (tiny_corpus / "acme.md").write_text("# Acme\n## New\nChanged text.\n")

    def crash(self, folder):
        folder.mkdir(parents=True)
        (folder / "chunks.jsonl").write_text("half a file")
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(Index, "write", crash)
    with pytest.raises(KeyboardInterrupt):
        store.build()
    # the link still points at the old, complete build, which still loads and verifies
    assert os.readlink(store.current) == old_target
    again = Index.read(store.current.resolve())
    assert [c.id for c in again.chunks] == [c.id for c in old.chunks]
    leftovers = [p.name for p in (store.root / "builds").iterdir()]
    assert leftovers == [os.path.basename(old_target)]


def test_read_refuses_other_format_version(tiny_corpus, tmp_path):
    store = make_store(tiny_corpus, tmp_path / "idx", [])
    store.load_or_build()
    path = store.current.resolve() / "manifest.json"
    m = json.loads(path.read_text())
    m["format_version"] = 99
    path.write_text(json.dumps(m))
    with pytest.raises(IndexReadError, match="format version 99"):
        read_manifest(store.current)


def test_builds_keep_the_current_and_the_one_it_replaced(tiny_corpus, tmp_path):
    store = make_store(tiny_corpus, tmp_path / "idx", [])
    first = os.path.basename(os.readlink(store.build() and store.current))
    second = os.path.basename(os.readlink(store.build() and store.current))
    third = os.path.basename(os.readlink(store.build() and store.current))
    # a reader that resolved the link just before a build still finds its files
    assert sorted(p.name for p in (store.root / "builds").iterdir()) == sorted([second, third])
    assert first not in (second, third)
    Index.read(store.current.resolve())


def index_folder(root):
    return (root / "current").resolve()


def test_unit_token_vectors_are_stored_per_unit(tiny_corpus, tmp_path):
    index = make_store(tiny_corpus, tmp_path / "idx", []).load_or_build()
    assert index.has_tokens
    assert len(index.token_offsets) == len(index.unit_vectors) + 1
    again = Index.read(index_folder(tmp_path / "idx"))
    for row in range(len(index.unit_vectors)):
        np.testing.assert_allclose(again.unit_tokens(row), index.unit_tokens(row), atol=1e-3)
    assert again.manifest["token_vectors"]["tokens"] == int(index.token_offsets[-1])


def test_no_token_vectors_without_an_embedder_for_them_or_past_the_limit(
    tiny_corpus, tmp_path, monkeypatch
):
    class Pooled(HashEmbedder):
        def token_batch(self, texts):
            return None

    store = IndexStore(tmp_path / "a", tiny_corpus, Chunker(), Pooled(32), notify=[].append)
    index = store.load_or_build()
    assert not index.has_tokens and index.manifest["token_vectors"] is None
    assert len(index.unit_tokens(0)) == 0
    assert not (index_folder(tmp_path / "a") / "unit_tokens.npy").exists()
    monkeypatch.setattr(rag.index.embedded, "TOKEN_UNITS_MAX", 1)
    index = make_store(tiny_corpus, tmp_path / "b", []).load_or_build()
    assert not index.has_tokens
