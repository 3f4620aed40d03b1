"""The approximate (IVF, HNSW) indexes and the candidate-depth retriever, on small synthetic corpora."""

import numpy as np
import pytest

from bench.corpus import generate
from bench.vectors import BagOfWordsEmbedder
from rag.chunking import Chunker
from rag.documents import load_corpus
from rag.embedding import HashEmbedder
from rag.index import IVF_MIN_CHUNKS, Index, IndexStore, ivf_lists, make_dense, resolve_index_type
from rag.lexical import LexicalIndex, terms
from rag.retrieval import Retriever, ivf_nprobe
from rag.settings import Settings, SettingsError


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    """About 1,500 chunks of generated profiles, with bag-of-words vectors, and their questions."""
    folder = tmp_path_factory.mktemp("synthetic") / "corpus"
    questions = generate(folder, 1500, seed=7)
    index = Index.build(load_corpus(folder), Chunker(), BagOfWordsEmbedder(384), index_type="flat")
    return index, questions


def with_dense(index: Index, kind: str) -> Index:
    manifest = {**index.manifest, "dense": {"type": kind}}
    dense = make_dense(index.chunk_vectors(), index.dimension, kind)
    return Index(index.chunks, dense, index.unit_vectors, index.lexical, manifest)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_recall_at_10_against_exact(synthetic, kind):
    flat, questions = synthetic
    assert len(flat.chunks) > 1000
    approx_index = with_dense(flat, kind)
    assert approx_index.dense_type == kind
    embedder = BagOfWordsEmbedder(384)
    exact, approx = Retriever(flat), Retriever(approx_index)  # the engine's default breadth
    recalls = []
    for q in questions[:200]:
        v = embedder.embed_one(q.text)
        truth = set(exact.dense_ranking(v, 10)[0].tolist())
        got = set(approx.dense_ranking(v, 10)[0].tolist())
        recalls.append(len(truth & got) / 10)
    assert np.mean(recalls) >= 0.95


def test_ivf_breadth_trades_recall(synthetic):
    flat, questions = synthetic
    ivf = with_dense(flat, "ivf")
    assert ivf.dense.nlist == ivf_lists(len(flat.chunks))
    embedder = BagOfWordsEmbedder(384)
    vectors = [embedder.embed_one(q.text) for q in questions[:100]]

    def recall(nprobe):
        exact, approx = Retriever(flat), Retriever(ivf, nprobe=nprobe)
        return np.mean(
            [
                len(set(exact.dense_ranking(v, 10)[0]) & set(approx.dense_ranking(v, 10)[0])) / 10
                for v in vectors
            ]
        )

    assert recall(1) < recall(ivf.dense.nlist // 4) <= recall(ivf.dense.nlist) == 1.0
    assert ivf_nprobe(1265) == 317 and ivf_nprobe(256) == 96 and ivf_nprobe(38) == 38
    assert ivf_nprobe(1265, 8) == 8 and ivf_nprobe(4, 8) == 4


def test_ivf_index_round_trips_with_its_vectors(synthetic, tmp_path):
    flat, _ = synthetic
    ivf = with_dense(flat, "ivf")
    ivf.write(tmp_path / "ivf")
    again = Index.read(tmp_path / "ivf")
    assert type(again.dense).__name__ == "IndexIVFFlat" and again.dense_type == "ivf"
    np.testing.assert_allclose(again.chunk_vectors(), flat.chunk_vectors(), atol=1e-6)


@pytest.mark.parametrize("kind", ["ivf", "hnsw"])
def test_approximate_retrieval_finds_the_document_as_flat_does(synthetic, kind):
    flat, questions = synthetic
    exact, approx = Retriever(flat), Retriever(with_dense(flat, kind))
    embedder = BagOfWordsEmbedder(384)
    sample = questions[:60]
    right_doc = same_top5 = 0
    for q in sample:
        v = embedder.embed_one(q.text)
        got = approx.retrieve(q.text, v, k=5, mode="hybrid")
        want = exact.retrieve(q.text, v, k=5, mode="hybrid")
        right_doc += got[0].chunk.doc_id == q.doc_id
        same_top5 += {p.chunk.id for p in got} == {p.chunk.id for p in want}
    # (the bag-of-words vectors find the profile; telling its sections apart is not their job)
    assert right_doc >= 0.9 * len(sample)
    assert same_top5 >= 0.9 * len(sample)


def full_ranking(index: Index, query: str, qvec, k: int, mode: str, rrf_k: int = 60):
    """The retriever as it was before candidate depth: every chunk ranked, all fused."""
    n = len(index.chunks)
    dense = index.chunk_vectors() @ qvec
    d_rank = {int(i): r for r, i in enumerate(np.argsort(-dense, kind="stable"), 1)}
    lex = index.lexical.scores(query)
    order = [int(i) for i in np.argsort(-lex, kind="stable") if lex[i] > 0]
    l_rank = {i: r for r, i in enumerate(order, 1)}
    if mode == "dense":
        ranked = [(i, float(dense[i])) for i in sorted(d_rank, key=d_rank.get)]
    elif mode == "bm25":
        ranked = [(i, float(lex[i])) for i in order]
    else:
        fused = {
            i: 1 / (rrf_k + d_rank[i]) + (1 / (rrf_k + l_rank[i]) if i in l_rank else 0)
            for i in range(n)
        }
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], d_rank[kv[0]]))
    return [(index.chunks[i].id, pytest.approx(s, abs=1e-6)) for i, s in ranked[:k]]


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_small_corpus_ranking_is_exactly_the_full_ranking(tiny_corpus, mode):
    index = Index.build(load_corpus(tiny_corpus), Chunker(), HashEmbedder(64))
    assert len(index.chunks) <= Retriever(index).depth
    embedder = HashEmbedder(64)
    for query in ["Who founded Acme", "rockets", "June", "nothing matches zzz", "Products"]:
        v = embedder.embed_one(query)
        got = Retriever(index).retrieve(query, v, k=10, mode=mode)
        assert [(p.chunk.id, p.score) for p in got] == full_ranking(index, query, v, 10, mode)


@pytest.mark.parametrize("mode", ["dense", "bm25"])
def test_depth_cut_keeps_the_top_k(synthetic, mode):
    flat, questions = synthetic
    embedder = BagOfWordsEmbedder(384)
    retriever = Retriever(flat, depth=20)
    for q in questions[:30]:
        v = embedder.embed_one(q.text)
        got = retriever.retrieve(q.text, v, k=5, mode=mode)
        assert [(p.chunk.id, p.score) for p in got] == full_ranking(flat, q.text, v, 5, mode)


def test_hybrid_passage_found_only_by_bm25_still_gets_its_cosine(synthetic):
    flat, questions = synthetic
    embedder = BagOfWordsEmbedder(384)
    retriever = Retriever(flat, depth=3)
    seen = 0
    for q in questions[:40]:
        v = embedder.embed_one(q.text)
        for p in retriever.retrieve(q.text, v, k=6, mode="hybrid"):
            i = flat.by_id[p.chunk.id]
            assert p.dense_score == pytest.approx(float(flat.chunk_vectors()[i] @ v), abs=1e-5)
            seen += p.dense_rank is None
    assert seen  # the case happened


def test_auto_index_type_switches_above_the_threshold():
    assert resolve_index_type("auto", 1000, approx_above=1000) == "flat"
    assert resolve_index_type("auto", 1001, approx_above=1000) == "ivf"
    assert resolve_index_type("ivf", IVF_MIN_CHUNKS - 1) == "flat"  # too few to train clusters
    assert resolve_index_type("hnsw", 10) == "hnsw"
    assert resolve_index_type("flat", 10**6) == "flat"
    with pytest.raises(ValueError, match="index_type='pq'"):
        resolve_index_type("pq", 10)


def test_store_builds_the_asked_type_and_rebuilds_when_it_changes(tiny_corpus, tmp_path):
    store = IndexStore(
        tmp_path / "idx", tiny_corpus, Chunker(), HashEmbedder(32), index_type="hnsw"
    )
    index = store.load_or_build()
    assert index.dense_type == "hnsw" and index.manifest["dense"]["m"] == 32
    again = Index.read(store.current.resolve())
    assert type(again.dense).__name__ == "IndexHNSWFlat"
    v = HashEmbedder(32).embed_one("Who founded Acme")
    top = Retriever(again).retrieve("Who founded Acme", v, k=3)
    assert [p.rank for p in top] == [1, 2, 3]
    notices = []
    flat = IndexStore(
        tmp_path / "idx", tiny_corpus, Chunker(), HashEmbedder(32), notify=notices.append
    ).load_or_build()
    assert flat.dense_type == "flat" and notices == [
        "Rebuilding the index: settings changed (index_type)."
    ]


def test_settings_validate_index_knobs():
    s = Settings.make(index_type="ivf", ef_search=64, approx_above=0, nprobe=8)
    assert (s.index_type, s.ef_search, s.approx_above, s.nprobe) == ("ivf", 64, 0, 8)
    with pytest.raises(SettingsError, match="index_type"):
        Settings.make(index_type="pq")
    with pytest.raises(SettingsError, match="nprobe=-1 is out of range"):
        Settings.make(nprobe=-1)
    with pytest.raises(SettingsError, match="ef_search=0 is out of range"):
        Settings.make(ef_search=0)
    with pytest.raises(SettingsError, match="encoder"):
        Settings.make(encoder="gpu")


def test_lexical_scores_equal_bm25s(tmp_path):
    import bm25s

    texts = [
        "Acme builds rockets in a garage",
        "Rockets and more rockets",
        "Tea, hills, and boats",
        "",
        "management of rocket teams",
    ]
    built = LexicalIndex.build(texts)
    built.save(tmp_path / "bm25")
    loaded = LexicalIndex.load(tmp_path / "bm25", len(texts))
    reference = bm25s.BM25.load(str(tmp_path / "bm25"))
    for query in ["rockets", "rocket garage acme", "management", "zzz", "tea boats hills tea"]:
        q = [t for t in terms(query) if t in reference.vocab_dict]
        want = np.asarray(reference.get_scores(q), np.float32) if q else np.zeros(len(texts))
        np.testing.assert_array_equal(built.scores(query), want)
        np.testing.assert_array_equal(loaded.scores(query), want)
