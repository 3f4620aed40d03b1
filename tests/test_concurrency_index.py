"""Index builds at the same time: real ``rag index`` processes, threads, a build killed mid-write,
and a reader racing a writer. Afterwards the index must load without a rebuild and every file must
match the checksum its manifest records. Fake embedder (``hash-64``): the processes take a few
seconds.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import rag.index.embedded
from rag.chunking import Chunker
from rag.embedding import HashEmbedder
from rag.index import Index, IndexStore, read_manifest
from rag.settings import Settings
from tests.conftest import ROOT, TINY_DOC

ENV = {"RAG_MODEL": "hash-64", "RAG_REPAIR": "false", "PYTHONUNBUFFERED": "1"}


def make_corpus(folder: Path, n_docs: int, n_sections: int) -> Path:
    folder.mkdir()
    for i in range(n_docs):
        extra = "".join(
            f"\n## Plant {j}\nAcme{i} has {i * j} plants in city {j}. It ships weekly.\n"
            for j in range(n_sections)
        )
        (folder / f"acme{i:03d}.md").write_text(TINY_DOC.replace("Acme", f"Acme{i}") + extra)
    return folder


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """Forty small profiles: a build takes a fraction of a second."""
    return make_corpus(tmp_path / "corpus", 40, 8)


@pytest.fixture
def big_corpus(tmp_path: Path) -> Path:
    """A build takes about a second, longer than the processes' start-up jitter: they contend."""
    return make_corpus(tmp_path / "corpus", 120, 40)


def store_for(corpus: Path, data: Path, notices: list | None = None) -> IndexStore:
    """The store ``rag index`` uses for these settings (same folder, chunker, model)."""
    s = Settings.make(corpus_dir=corpus, data_dir=data, model="hash-64", repair=False)
    return IndexStore(
        s.index_dir(),
        corpus,
        Chunker(s.chunk_tokens, s.chunk_overlap, s.encoding, s.repair),
        HashEmbedder(64),
        notify=(notices if notices is not None else []).append,
        index_type=s.index_type,
        approx_above=s.approx_above,
    )


def assert_index_intact(store: IndexStore) -> dict:
    """The installed build (plus at most the one it replaced, kept for readers that resolved the
    link a moment earlier), no half-written leftovers, every file as its manifest says; loads
    without rebuild."""
    builds = sorted(p.name for p in (store.root / "builds").iterdir())
    assert 1 <= len(builds) <= 2 and not any(b.startswith(".") for b in builds), builds
    assert os.readlink(store.current) == os.path.join("builds", builds[-1])
    folder = store.current.resolve()
    manifest = read_manifest(folder)
    on_disk = {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert on_disk == manifest["files"]
    notices: list[str] = []
    store.notify = notices.append
    index = store.load_or_build()
    assert notices == [], "an intact index must load without a rebuild"
    assert index.manifest["created"] == manifest["created"]
    assert len(index.chunks) == manifest["n_chunks"] > 0
    assert not [p for p in store.root.iterdir() if p.name.startswith(".current.")]
    return manifest


def rag_command() -> list[str]:
    exe = Path(sys.executable).with_name("rag")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from rag.cli import app; app()"]


def test_concurrent_rag_index_processes_leave_one_intact_index(big_corpus, tmp_path):
    corpus, data = big_corpus, tmp_path / "data"
    env = {**os.environ, **ENV, "RAG_DATA_DIR": str(data)}
    n = 3
    procs = [
        subprocess.Popen(
            [*rag_command(), "index", "--corpus", str(corpus)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(n)
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (out, err) in zip(procs, outs, strict=True):
        assert p.returncode == 0, err
        assert "Indexed 120 document(s)" in out
    manifest = assert_index_intact(store_for(corpus, data))
    assert set(manifest["corpus"]) == {f"acme{i:03d}.md" for i in range(120)}
    assert (store_for(corpus, data).root / ".lock").exists()


def test_builds_from_many_threads_leave_one_intact_index(corpus, tmp_path):
    data = tmp_path / "data"
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def builder() -> None:
        try:
            store = store_for(corpus, data)
            barrier.wait(timeout=30)
            for _ in range(2):
                store.build()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=builder) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []
    assert_index_intact(store_for(corpus, data))


KILLED_BUILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from rag.index import Index
    from tests.test_concurrency_index import store_for

    real_write = Index.write

    def slow_write(self, folder):
        folder.mkdir(parents=True)
        (folder / "chunks.jsonl").write_text("half a file")
        print("WRITING", flush=True)
        time.sleep(120)  # killed here, holding the build lock, with half a build on disk

    Index.write = slow_write
    (Path(sys.argv[1]) / "acme000.md").write_text("# Changed\\nA new text.\\n")
    store_for(Path(sys.argv[1]), Path(sys.argv[2])).build()
    """
)


def test_a_build_killed_mid_write_keeps_the_old_index_and_frees_the_lock(corpus, tmp_path):
    data = tmp_path / "data"
    old = store_for(corpus, data).build()
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_BUILD, str(corpus), str(data)],
        cwd=ROOT,
        env={**os.environ, **ENV},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = child.stdout.readline()
        assert line.strip() == "WRITING", child.stderr.read()
        store = store_for(corpus, data)
        leftovers = [p.name for p in (store.root / "builds").iterdir() if p.name.startswith(".")]
        assert len(leftovers) == 1  # the half-written build, in its temporary folder
        # while the builder hangs, readers still get the old, complete index
        assert Index.read(store.current.resolve()).manifest["created"] == old.manifest["created"]
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        child.stdout.close()
        child.stderr.close()
    notices: list[str] = []
    store = store_for(corpus, data, notices)
    t0 = time.perf_counter()
    index = store.load_or_build()  # the corpus changed (the child edited it): rebuild, no wait
    assert time.perf_counter() - t0 < 30, "the killed builder's lock must be released"
    assert notices == ["Rebuilding the index: corpus changed (acme000.md)."]
    assert any("A new text." in c.text for c in index.chunks)
    assert_index_intact(store)


def test_a_reader_racing_a_new_build_gets_an_index_not_an_exception(corpus, tmp_path, monkeypatch):
    data = tmp_path / "data"
    store_for(corpus, data).build()
    real_hash = rag.index.embedded._sha256_file
    fired: list[bool] = []

    def hash_while_another_build_lands(path):
        # the reader has listed the build's files; right now another process installs a build
        if not fired and path.name == "chunks.jsonl":
            fired.append(True)
            store_for(corpus, data).build()
        return real_hash(path)

    monkeypatch.setattr(rag.index.embedded, "_sha256_file", hash_while_another_build_lands)
    notices: list[str] = []
    index = store_for(corpus, data, notices).load_or_build()
    assert fired and len(index.chunks) > 0
    assert_index_intact(store_for(corpus, data))


def test_manifest_checksums_cover_every_file(corpus, tmp_path):
    store = store_for(corpus, tmp_path / "data")
    store.build()
    folder = store.current.resolve()
    files = json.loads((folder / "manifest.json").read_text())["files"]
    assert set(files) == {
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
