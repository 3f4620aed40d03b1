"""Incremental indexing: a rebuild embeds only new or changed text, and gives the same index as a
build from scratch. Fast: the deterministic fake embedder, counting what it is asked to embed."""

import numpy as np
import pytest

from rag.chunking import Chunker
from rag.documents import load_corpus
from rag.embedding import HashEmbedder
from rag.index import Index, IndexStore, unit_embed_text, vocabulary


class Counting(HashEmbedder):
    def __init__(self):
        super().__init__(32)
        self.seen: list[str] = []

    def embed_batch(self, texts):
        self.seen.extend(texts)
        return super().embed_batch(texts)


DOCS = {
    "alpha.md": "# Alpha\n\n## Overview\nAlpha builds boats.\n\n## Facts\n- **Founder**: Ann Lee\n",
    "beta.md": "# Beta\n\n## Overview\nBeta grows tea in hills.\n\n## Team\nBeta has ten staff.\n",
    "gamma.md": "# Gamma\n\n## Overview\nGamma mends shoes.\n",
}


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def store_for(corpus, root, embedder):
    return IndexStore(root, corpus, Chunker(), embedder, notify=lambda m: None)


def texts_of(index: Index, doc_id: str) -> set[str]:
    chunks = [c for c in index.chunks if c.doc_id == doc_id]
    return {c.embed_text for c in chunks} | {
        unit_embed_text(c, u.text) for c in chunks for u in c.units
    }


def assert_same_index(a: Index, b: Index) -> None:
    assert [c.id for c in a.chunks] == [c.id for c in b.chunks]
    np.testing.assert_allclose(a.chunk_vectors(), b.chunk_vectors(), atol=1e-6)
    np.testing.assert_allclose(np.asarray(a.unit_vectors), np.asarray(b.unit_vectors), atol=1e-6)
    assert a.vocab == b.vocab
    np.testing.assert_allclose(a.vocab_vectors, b.vocab_vectors, atol=1e-6)
    np.testing.assert_array_equal(a.token_offsets, b.token_offsets)
    np.testing.assert_allclose(
        np.asarray(a.token_vectors, np.float32), np.asarray(b.token_vectors, np.float32), atol=1e-3
    )


def test_changing_one_document_embeds_only_its_new_text(corpus, tmp_path):
    embedder = Counting()
    store = store_for(corpus, tmp_path / "idx", embedder)
    first = store.load_or_build()
    assert first.manifest["embedded"]["chunks"] == len(first.chunks)
    (corpus / "beta.md").write_text(
        "# Beta\n\n## Overview\nBeta grows green tea in hills.\n\n## Team\nBeta has ten staff.\n"
    )
    embedder.seen.clear()
    second = store.load_or_build()
    new_beta = texts_of(second, "beta.md") - texts_of(first, "beta.md")
    # only the changed section's chunk and sentence, and the one new word, went to the model
    assert set(embedder.seen) == new_beta | {"green"}
    assert len(new_beta) == 2
    assert second.manifest["embedded"] == {"chunks": 1, "units": 1, "words": 1}
    assert second.manifest["token_vectors"]["units_embedded"] == 1  # the changed sentence's tokens
    assert_same_index(second, Index.build(load_corpus(corpus), Chunker(), HashEmbedder(32)))


def test_adding_a_document_embeds_only_that_document(corpus, tmp_path):
    embedder = Counting()
    store = store_for(corpus, tmp_path / "idx", embedder)
    store.load_or_build()
    (corpus / "delta.md").write_text("# Delta\n\n## Overview\nDelta paints ships.\n")
    embedder.seen.clear()
    index = store.load_or_build()
    delta = texts_of(index, "delta.md")
    words = set(embedder.seen) - delta
    assert delta <= set(embedder.seen)
    assert words == {"delta", "paints", "ships"}  # its new vocabulary, nothing else
    assert index.manifest["embedded"]["chunks"] == 1


def test_unchanged_rebuild_embeds_nothing(corpus, tmp_path):
    embedder = Counting()
    store = store_for(corpus, tmp_path / "idx", embedder)
    first = store.build()
    embedder.seen.clear()
    again = store.build()  # `rag index` on an unchanged corpus
    assert embedder.seen == []
    assert again.manifest["embedded"] == {"chunks": 0, "units": 0, "words": 0}
    assert_same_index(first, again)


def test_no_reuse_across_models(corpus, tmp_path):
    store_for(corpus, tmp_path / "idx", HashEmbedder(32)).build()
    other = Counting()
    other.name = "another-model"
    index = store_for(corpus, tmp_path / "idx", other).build()
    assert index.manifest["embedded"]["chunks"] == len(index.chunks)


def test_corrupt_previous_build_is_not_reused(corpus, tmp_path):
    embedder = Counting()
    store = store_for(corpus, tmp_path / "idx", embedder)
    first = store.build()
    units = store.current.resolve() / "units.npy"
    units.write_bytes(units.read_bytes()[:100])
    embedder.seen.clear()
    index = store.build()
    assert index.manifest["embedded"]["chunks"] == len(first.chunks)
    assert_same_index(first, index)


def test_vocabulary_is_stored_with_its_vectors(corpus, tmp_path):
    store = store_for(corpus, tmp_path / "idx", HashEmbedder(32))
    store.build()
    index = Index.read(store.current.resolve())
    assert index.vocab == vocabulary(index.chunks)
    assert {"boats", "founder", "tea"} <= set(index.vocab) and "in" not in index.vocab
    np.testing.assert_allclose(index.vocab_vectors, HashEmbedder(32).embed(index.vocab), atol=1e-6)
    assert {"vocab.json", "vocab.npy"} <= set(index.manifest["files"])


def test_chatbot_pins_the_vocabulary_so_word_lookups_skip_the_model(tiny_bot):
    tiny_bot.warm_up()
    embedder = tiny_bot.embedder
    before = embedder.embedded_texts
    vocab = tiny_bot.index.vocab
    out = embedder.embed(vocab, batch_size=256)
    assert embedder.embedded_texts == before
    np.testing.assert_array_equal(out, tiny_bot.index.vocab_vectors)


def test_a_new_token_selection_recomputes_token_vectors_but_reuses_the_rest(
    corpus, tmp_path, monkeypatch
):
    import rag.index.embedded

    notices = []
    store = IndexStore(tmp_path / "idx", corpus, Chunker(), Counting(), notify=notices.append)
    first = store.load_or_build()
    monkeypatch.setattr(rag.index.embedded, "TOKEN_VERSION", rag.index.embedded.TOKEN_VERSION + 1)
    second = store.load_or_build()
    assert notices == ["Rebuilding the index: settings changed (token_version)."]
    assert second.manifest["embedded"] == {"chunks": 0, "units": 0, "words": 0}
    assert second.manifest["token_vectors"]["units_embedded"] == len(
        {unit_embed_text(c, u.text) for c in first.chunks for u in c.units}
    )


def test_an_encoder_giving_token_vectors_with_its_pass_is_run_once_per_unit(corpus, tmp_path):
    class Joint(HashEmbedder):
        """Gives token vectors with the sentence pass, as the ONNX encoder does; counts separate
        token passes (token_batch called outside encode_batch)."""

        def __init__(self):
            super().__init__(32)
            self.inside = False
            self.separate_token_passes = 0

        def encode_batch(self, texts):
            self.inside = True
            try:
                return self.embed_batch(texts), [t for t in self.token_batch(texts)]
            finally:
                self.inside = False

        def token_batch(self, texts):
            if not self.inside:
                self.separate_token_passes += 1
            return super().token_batch(texts)

    embedder = Joint()
    store = IndexStore(tmp_path / "idx", corpus, Chunker(), embedder, notify=[].append)
    index = store.load_or_build()
    assert index.has_tokens
    assert index.manifest["token_vectors"]["units_embedded"] == len(
        {unit_embed_text(c, u.text) for c in index.chunks for u in c.units}
    )
    assert embedder.separate_token_passes == 0  # the units went through the model once
    # a plain encoder (no joint pass) still gets its token vectors, in a separate pass
    plain = Counting()
    other = IndexStore(tmp_path / "idx2", corpus, Chunker(), plain, notify=[].append)
    assert other.load_or_build().has_tokens
