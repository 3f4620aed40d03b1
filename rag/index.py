"""The index: chunks, their FAISS vectors, BM25, and unit vectors, persisted as plain files.

Layout of an index folder (``Settings.index_dir()``)::

    current -> builds/<build-id>        symlink, swapped atomically when a build finishes
    builds/<build-id>/manifest.json     format version, model, dimension, settings, corpus hashes,
                                        and a sha256 of every other file of the build
    builds/<build-id>/chunks.jsonl      one Chunk per line, with its units
    builds/<build-id>/dense.faiss       IndexFlatIP over the normalised chunk vectors
    builds/<build-id>/units.npy         normalised vectors of every unit, in chunk order
    builds/<build-id>/bm25/             bm25s files
    .lock                               held while building, so two builds never interleave

A build is written into a temporary folder, renamed to ``builds/<id>``, and only then pointed to by
``current``: a crash at any point leaves the previous index in use. ``IndexStore.load_or_build`` checks
the manifest (format, settings, corpus hashes, file checksums) and rebuilds on any mismatch with a
one-line notice.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunk, Chunker
from rag.documents import Document, load_corpus
from rag.embedding import Embedder
from rag.lexical import LexicalIndex

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Bump when what is embedded for a chunk or unit changes: old indexes are then rebuilt.
EMBED_TEXT_VERSION = 3


class IndexReadError(RuntimeError):
    """An index folder cannot be used; the message says why."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unit_embed_text(chunk: Chunk, unit_text: str) -> str:
    """A unit is embedded with its full heading path: "SenseTime > Company Info: Founder: ...".
    The document title matters: questions name the subject ("Who founded SenseTime?") that the
    bare item leaves implicit."""
    return f"{chunk.search_heading}: {unit_text}"


@dataclass
class Index:
    """Everything retrieval and answering read, in memory."""

    chunks: list[Chunk]
    dense: object  # faiss.Index over chunk vectors
    unit_vectors: np.ndarray  # (n_units, dim), rows in chunk order then unit order
    lexical: LexicalIndex
    manifest: dict
    unit_offsets: list[int] = field(default_factory=list)  # first unit row of each chunk

    def __post_init__(self) -> None:
        if not self.unit_offsets:
            pos = 0
            for c in self.chunks:
                self.unit_offsets.append(pos)
                pos += len(c.units)
        self.by_id = {c.id: i for i, c in enumerate(self.chunks)}
        self.by_section: dict[str, list[int]] = {}
        for i, c in enumerate(self.chunks):
            self.by_section.setdefault(c.section_id, []).append(i)

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    def unit_rows(self, chunk_index: int) -> range:
        start = self.unit_offsets[chunk_index]
        return range(start, start + len(self.chunks[chunk_index].units))

    # ---- building -------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        docs: list[Document],
        chunker: Chunker,
        embedder: Embedder,
        batch_size: int = 32,
        progress: bool = False,
    ) -> Index:
        import faiss

        chunks = chunker.chunk_corpus(docs)
        embedder.warm_up()
        vectors = embedder.embed([c.embed_text for c in chunks], batch_size, progress)
        unit_texts = [unit_embed_text(c, u.text) for c in chunks for u in c.units]
        unit_vectors = embedder.embed(unit_texts, batch_size, progress)
        dense = faiss.IndexFlatIP(embedder.dimension)
        if len(chunks):
            dense.add(vectors)
        lexical = LexicalIndex.build([c.embed_text for c in chunks])
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": embedder.name,
            "dimension": embedder.dimension,
            "settings": {
                **chunker.settings(),
                "model": embedder.name,
                "embed_text_version": EMBED_TEXT_VERSION,
            },
            "corpus": {d.doc_id: d.sha256 for d in docs},
            "n_chunks": len(chunks),
            "n_units": len(unit_texts),
            "repairs": chunker.repairs(docs),
        }
        return cls(
            chunks=chunks,
            dense=dense,
            unit_vectors=unit_vectors,
            lexical=lexical,
            manifest=manifest,
        )

    # ---- persistence ----------------------------------------------------------------------------

    def write(self, folder: Path) -> None:
        """Write every file into ``folder`` (which must be new), manifest last, with checksums."""
        import faiss

        folder.mkdir(parents=True)
        with open(folder / "chunks.jsonl", "w", encoding="utf-8") as f:
            for c in self.chunks:
                f.write(json.dumps(c.to_dict(), ensure_ascii=False) + "\n")
        faiss.write_index(self.dense, str(folder / "dense.faiss"))
        np.save(folder / "units.npy", self.unit_vectors)
        self.lexical.save(folder / "bm25")
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = _sha256_file(path)
        manifest = {**self.manifest, "files": files}
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
        self.manifest = manifest

    @classmethod
    def read(cls, folder: Path, verify: bool = True) -> Index:
        import faiss

        manifest = read_manifest(folder)
        if verify:
            for name, digest in manifest.get("files", {}).items():
                path = folder / name
                if not path.is_file():
                    raise IndexReadError(f"{path} is missing")
                if _sha256_file(path) != digest:
                    raise IndexReadError(
                        f"{path} does not match its checksum (truncated or corrupted)"
                    )
        try:
            with open(folder / "chunks.jsonl", encoding="utf-8") as f:
                chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
            dense = faiss.read_index(str(folder / "dense.faiss"))
            unit_vectors = np.load(folder / "units.npy", allow_pickle=False)
            lexical = LexicalIndex.load(folder / "bm25", len(chunks))
        except Exception as exc:
            raise IndexReadError(f"{folder} cannot be read ({type(exc).__name__}: {exc})") from None
        if dense.ntotal != len(chunks) or len(unit_vectors) != sum(len(c.units) for c in chunks):
            raise IndexReadError(f"{folder}: the vector counts do not match the chunks")
        return cls(
            chunks=chunks,
            dense=dense,
            unit_vectors=unit_vectors,
            lexical=lexical,
            manifest=manifest,
        )


def read_manifest(folder: Path) -> dict:
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexReadError(f"{path} is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise IndexReadError(f"{path} is not valid JSON (truncated or corrupted)") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise IndexReadError(
            f"{path} has format version {manifest.get('format_version') if isinstance(manifest, dict) else '?'}"
            f", this program reads {FORMAT_VERSION}"
        )
    return manifest


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


class IndexStore:
    """Finds, checks, builds and atomically replaces the index of one corpus in one folder."""

    def __init__(
        self,
        root: Path,
        corpus_dir: Path,
        chunker: Chunker,
        embedder: Embedder,
        batch_size: int = 32,
        notify: Callable[[str], None] = _stderr,
    ):
        self.root = Path(root)
        self.corpus_dir = Path(corpus_dir)
        self.chunker = chunker
        self.embedder = embedder
        self.batch_size = batch_size
        self.notify = notify

    @property
    def current(self) -> Path:
        return self.root / "current"

    def expected_settings(self) -> dict:
        return {
            **self.chunker.settings(),
            "model": self.embedder.name,
            "embed_text_version": EMBED_TEXT_VERSION,
        }

    def staleness(self, docs: list[Document]) -> str | None:
        """Why the current index cannot serve this corpus and these settings; None when it can."""
        try:
            manifest = read_manifest(self.current)
        except IndexReadError as exc:
            return str(exc) if self.current.exists() else "no index yet"
        if manifest.get("settings") != self.expected_settings():
            changed = sorted(
                k
                for k in set(manifest.get("settings", {})) | set(self.expected_settings())
                if manifest.get("settings", {}).get(k) != self.expected_settings().get(k)
            )
            return f"settings changed ({', '.join(changed)})"
        corpus = {d.doc_id: d.sha256 for d in docs}
        if manifest.get("corpus") != corpus:
            old = manifest.get("corpus", {})
            diff = sorted(set(old) ^ set(corpus)) + sorted(
                k for k in set(old) & set(corpus) if old[k] != corpus[k]
            )
            return f"corpus changed ({', '.join(diff[:3])}{'...' if len(diff) > 3 else ''})"
        return None

    def load_or_build(self, progress: bool = False) -> Index:
        docs = load_corpus(self.corpus_dir)
        reason = self.staleness(docs)
        if reason is None:
            try:
                return Index.read(self.current.resolve())
            except IndexReadError as exc:
                reason = str(exc)
        if reason != "no index yet":
            self.notify(f"Rebuilding the index: {reason}.")
        return self.build(docs, progress=progress)

    def build(self, docs: list[Document] | None = None, progress: bool = False) -> Index:
        """Build and install a new index; concurrent builders are serialised by a file lock."""
        from filelock import FileLock

        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / ".lock")):
            docs = docs if docs is not None else load_corpus(self.corpus_dir)
            index = Index.build(docs, self.chunker, self.embedder, self.batch_size, progress)
            self._install(index)
            return index

    def _install(self, index: Index) -> None:
        builds = self.root / "builds"
        builds.mkdir(exist_ok=True)
        build_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
        tmp = builds / f".{build_id}.tmp"
        try:
            index.write(tmp)
            final = builds / build_id
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        link_tmp = self.root / f".current.{uuid.uuid4().hex[:8]}"
        os.symlink(Path("builds") / build_id, link_tmp)
        os.replace(link_tmp, self.current)
        # clean up older builds and leftovers of crashed ones
        for old in builds.iterdir():
            if old.name != build_id:
                shutil.rmtree(old, ignore_errors=True)
