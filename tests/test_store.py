"""The store protocol on the embedded store (FAISS + bm25s): searches under filters, get, count,
and retrieval through it. The Milvus store's tests are in ``test_milvus.py``."""

import numpy as np
import pytest

from rag.chunking import Chunker
from rag.documents import load_corpus
from rag.embedding import HashEmbedder
from rag.filters import Filters
from rag.index import EmbeddedStore, Index, SearchStore, Store
from rag.retrieval import Retriever

EMBEDDER = HashEmbedder(32)


@pytest.fixture
def index(tiny_corpus) -> Index:
    (tiny_corpus / "memo.md").write_text(
        "# Memo\n\n## Rockets\nThe memo says rockets are loud and rockets fly far.\n"
    )
    index = Index.build(load_corpus(tiny_corpus), Chunker(), EMBEDDER)
    records = index.manifest["documents"]
    records["acme.md"].update(type="Profile", periods=["FY2021", "FY2022"])
    records["memo.md"].update(type="memo", period="FY2023")
    return index


def docs_of(index, hits):
    by_id = {c.id: c.doc_id for c in index.chunks}
    return {by_id[h.id] for h in hits}


def test_embedded_store_is_a_search_store_not_a_writable_one(index):
    store = EmbeddedStore(index)
    assert isinstance(store, SearchStore)
    assert not isinstance(store, Store)  # written by a whole new build, never chunk by chunk


@pytest.mark.parametrize(
    "filters, expected",
    [
        (None, {"acme.md", "notes.txt", "memo.md"}),
        (Filters.make(documents="MEMO.md"), {"memo.md"}),
        (Filters.make(doc_types=["profile"]), {"acme.md"}),
        (Filters.make(periods="fy2023"), {"memo.md"}),
        (Filters.make(periods=["FY2022", "FY2023"]), {"acme.md", "memo.md"}),
        (Filters.make(documents="acme.md", periods="FY2023"), set()),
    ],
)
def test_dense_lexical_and_count_under_filters(index, filters, expected):
    store = EmbeddedStore(index)
    q = EMBEDDER.embed_one("rockets")
    dense = store.dense(q, 100, filters)
    assert docs_of(index, dense) == expected
    assert [h.score for h in dense] == sorted((h.score for h in dense), reverse=True)
    n = sum(c.doc_id in expected for c in index.chunks)
    assert len(dense) == n and store.count(filters) == n
    lexical = store.lexical("rockets", 100, filters)
    assert docs_of(index, lexical) == expected - {"notes.txt"}  # the notes never say "rocket"
    assert all(h.score > 0 for h in lexical)


def test_filtered_dense_search_on_every_index_type(index):
    """The ID selector works on the approximate indexes too (FAISS's search parameters)."""
    from rag.index import make_dense

    q = EMBEDDER.embed_one("rockets")
    only = Filters.make(documents="notes.txt")
    for kind in ("flat", "hnsw"):
        manifest = {**index.manifest, "dense": {"type": kind}}
        dense = make_dense(index.chunk_vectors(), index.dimension, kind)
        other = Index(index.chunks, dense, index.unit_vectors, index.lexical, manifest)
        hits = EmbeddedStore(other).dense(q, 1, only)  # fewer than the corpus: a real search
        assert docs_of(index, hits) == {"notes.txt"}


def test_get_with_vectors_and_lexical_scores(index):
    store = EmbeddedStore(index)
    ids = [index.chunks[2].id, "no-such-chunk", index.chunks[0].id]
    got = store.get(ids, vectors=True)
    assert [s.chunk.id for s in got] == [ids[0], ids[2]]
    assert np.allclose(got[0].vector, index.chunk_vectors()[2], atol=1e-6)
    assert store.get(ids[:1])[0].vector is None
    scores = store.lexical_scores("rockets", [c.id for c in index.chunks])
    full = index.lexical.scores("rockets")
    assert scores == {c.id: pytest.approx(float(full[i])) for i, c in enumerate(index.chunks)}


def test_retrieval_keeps_to_the_filters(index):
    retriever = Retriever(index)
    q = EMBEDDER.embed_one("rockets")
    everything = retriever.retrieve("rockets", q, k=10)
    assert {p.chunk.doc_id for p in everything} == {"acme.md", "notes.txt", "memo.md"}
    for mode in ("dense", "bm25", "hybrid"):
        only = retriever.retrieve(
            "rockets", q, k=10, mode=mode, filters=Filters.make(periods="FY2023")
        )
        assert only and {p.chunk.doc_id for p in only} == {"memo.md"}
    assert retriever.retrieve("rockets", q, filters=Filters.make(documents="gone.md")) == []


def test_a_memory_mapped_flat_index_reads_the_same_vectors(index, tmp_path):
    """What a process that searches Milvus reads: the FAISS file mapped, not loaded."""
    index.write(tmp_path / "build")
    mapped = Index.read(tmp_path / "build", mmap_dense=True)
    assert np.array_equal(mapped.chunk_vectors(), index.chunk_vectors())
    q = EMBEDDER.embed_one("rockets")
    assert EmbeddedStore(mapped).dense(q, 3) == EmbeddedStore(index).dense(q, 3)
