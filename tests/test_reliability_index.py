"""Damaged index folders: every file of a build truncated, corrupted in place (same size), emptied
or deleted, the manifest garbled, the ``current`` link dangling. Each is detected (checksums in the
manifest) and the index rebuilt with exactly one notice; the rebuilt index is intact and answers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from rag.chatbot import Chatbot
from rag.chunking import Chunker
from rag.embedding import HashEmbedder
from rag.index import Index, IndexStore, read_manifest


def make_store(corpus: Path, root: Path, notices: list) -> IndexStore:
    return IndexStore(root, corpus, Chunker(), HashEmbedder(32), notify=notices.append)


def build_files(tiny_corpus: Path, tmp_path: Path) -> list[str]:
    """The files a build writes (as its manifest lists them), plus the manifest itself."""
    store = make_store(tiny_corpus, tmp_path / "probe", [])
    store.build()
    return [*sorted(read_manifest(store.current)["files"]), "manifest.json"]


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x55  # same size, different content: only a checksum can tell
    path.write_bytes(bytes(data))


def empty(path: Path) -> None:
    path.write_bytes(b"")


def delete(path: Path) -> None:
    path.unlink()


DAMAGE = {
    "truncated": truncate,
    "one byte changed": flip_a_byte,
    "emptied": empty,
    "deleted": delete,
}


def assert_rebuilt(store: IndexStore, notices: list, good: Index) -> None:
    index = store.load_or_build()
    assert len(notices) == 1 and notices[0].startswith("Rebuilding the index: "), notices
    assert [c.id for c in index.chunks] == [c.id for c in good.chunks]
    again = Index.read(store.current.resolve())  # verifies every checksum
    assert again.manifest["n_chunks"] == len(good.chunks)
    notices.clear()
    store.load_or_build()
    assert notices == [], "the rebuilt index must load as it is"


@pytest.mark.parametrize("how", list(DAMAGE))
def test_every_file_of_a_build_damaged_any_way_is_detected_and_rebuilt(tiny_corpus, tmp_path, how):
    names = build_files(tiny_corpus, tmp_path)
    assert {"chunks.jsonl", "dense.faiss", "units.npy", "manifest.json", "unit_tokens.npy"} <= set(
        names
    )
    assert any(n.startswith("bm25/") for n in names)
    for name in names:
        notices: list[str] = []
        store = make_store(tiny_corpus, tmp_path / how.replace(" ", "-") / name, notices)
        good = store.load_or_build()
        DAMAGE[how](store.current.resolve() / name)
        try:
            assert_rebuilt(store, notices, good)
        except AssertionError as exc:
            raise AssertionError(f"{name} {how}: {exc}") from None


@pytest.mark.parametrize(
    "manifest",
    [
        b"[]",
        b"null",
        b'{"format_version": 1}',
        b'{"format_version": "1", "files": {}}',
        b"\xff\xfe not text",
        json.dumps({"format_version": 1, "files": {"chunks.jsonl": "0" * 64}}).encode(),
    ],
)
def test_a_garbled_manifest_is_detected_and_rebuilt(tiny_corpus, tmp_path, manifest):
    notices: list[str] = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    good = store.load_or_build()
    (store.current.resolve() / "manifest.json").write_bytes(manifest)
    assert_rebuilt(store, notices, good)


@pytest.mark.parametrize("removed", ["the current build", "the builds folder"])
def test_a_dangling_current_link_is_rebuilt_with_a_notice(tiny_corpus, tmp_path, removed):
    notices: list[str] = []
    store = make_store(tiny_corpus, tmp_path / "idx", notices)
    good = store.load_or_build()
    if removed == "the current build":
        shutil.rmtree(store.current.resolve())
    else:
        shutil.rmtree(store.root / "builds")
    assert os.path.islink(store.current) and not store.current.exists()
    assert_rebuilt(store, notices, good)


def test_a_dangling_current_link_is_rebuilt(tiny_corpus, tmp_path):
    """Without the notice (see above), the rebuild itself works."""
    store = make_store(tiny_corpus, tmp_path / "idx", [])
    good = store.load_or_build()
    shutil.rmtree(store.root / "builds")
    index = store.load_or_build()
    assert [c.id for c in index.chunks] == [c.id for c in good.chunks]
    Index.read(store.current.resolve())


def test_the_chatbot_answers_after_its_index_was_corrupted(tiny_corpus, tmp_path):
    data = tmp_path / "data"

    def bot(notices):
        return Chatbot(
            Chatbot.from_corpus(
                tiny_corpus, model="hash-64", data_dir=data, abstain_threshold=0.1
            ).settings,
            embedder=HashEmbedder(64),
            notify=notices.append,
        )

    first: list[str] = []
    assert "Jane Roe" in bot(first).ask("Who is the founder of Acme?").text
    store = bot([]).store()
    flip_a_byte(store.current.resolve() / "dense.faiss")
    notices: list[str] = []
    answer = bot(notices).ask("Who is the founder of Acme?")
    assert "Jane Roe" in answer.text
    assert len(notices) == 1 and "dense.faiss does not match its checksum" in notices[0]


def test_checksums_are_sha256_of_the_bytes(tiny_corpus, tmp_path):
    store = make_store(tiny_corpus, tmp_path / "idx", [])
    store.build()
    folder = store.current.resolve()
    for name, digest in read_manifest(folder)["files"].items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest
