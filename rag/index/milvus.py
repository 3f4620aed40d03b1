"""The Milvus store: one collection per corpus, in a milvus-lite file or on a Milvus server.

The same client code (pymilvus's ``MilvusClient``) talks to a local file (``./milvus.db``:
milvus-lite, the embedded C++ engine, one process per file) or to a server
(``http://host:19530``: Milvus Standalone or Distributed, or milvus-lite serving a file on a port,
``python -m rag.index.milvus serve``). A collection holds, per chunk: its id, its document (with an
inverted index, so removing a document is one delete), the document's type and periods for
filters, the chunk as JSON (``get``), its dense vector, and its BM25 terms with the sparse vector
Milvus's BM25 ``Function`` derives from them.

The BM25 text is the chunk's terms as ``rag.lexical.terms`` makes them (lower-cased, stop words
out, Snowball-stemmed), joined by spaces and split by a whitespace analyzer, and a query is sent
the same way; Milvus's BM25 is bm25s's "lucene" variant times (k1 + 1), which ``lexical`` divides
out. So both stores score the same terms with the same numbers, and fusion (in ``rag.retrieval``)
gives the same passages: an English analyzer inside Milvus would tokenize differently and move
answers.

A build is still written whole in the data folder (``IndexStore``): its side tables (units, their
vectors, token vectors, the vocabulary) are what the answer stage reads. ``sync`` then brings the
collection to that build document by document: a document's chunks are deleted and upserted, and
only then its row in a small ``<collection>_docs`` table records it as done. A sync that was
killed resumes where it stopped, with the vectors of the build: nothing is embedded again.

It does not choose Milvus's deployment (query nodes, segments): see README, "Milvus".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.chunking import Chunk
from rag.filters import Filters
from rag.index.protocol import Hit, Stored
from rag.lexical import terms

BM25_K1 = 1.5  # bm25s's defaults, which the embedded store's LexicalIndex uses
BM25_B = 0.75
EMPTY_TERM = "\u2205"  # what LexicalIndex indexes for a chunk without terms
BATCH = 256  # rows per upsert
MAX_JSON = 65_535  # Milvus's VARCHAR limit, in bytes
QUERY_LIMIT = 16_384  # Milvus's cap on one query's rows


class MilvusError(RuntimeError):
    """The Milvus store cannot be used; the message names the URI (never the token) and the fix."""


def collection_name(index_dir: Path | str) -> str:
    """One collection per corpus: named after its index folder (letters, digits, underscores)."""
    name = re.sub(r"[^0-9A-Za-z_]", "_", Path(index_dir).name)
    return f"rag_{name}"[:200]


def bm25_text(text: str) -> str:
    """The text Milvus's BM25 function reads: the terms the embedded BM25 indexes, space-joined."""
    return " ".join(terms(text)) or EMPTY_TERM


def quote(value: str) -> str:
    """A string literal for a Milvus boolean expression."""
    return json.dumps(value, ensure_ascii=False)


def expression(filters: Filters | None, ids: Sequence[str] | None = None) -> str:
    """The boolean expression for ``filters`` (and a set of chunk ids): "" for none."""
    parts = []
    if filters is not None:
        if filters.documents:
            parts.append(f"doc_key in [{', '.join(map(quote, sorted(filters.documents)))}]")
        if filters.doc_types:
            parts.append(f"doc_type in [{', '.join(map(quote, sorted(filters.doc_types)))}]")
        if filters.periods:
            values = ", ".join(map(quote, sorted(filters.periods)))
            parts.append(f"array_contains_any(periods, [{values}])")
    if ids is not None:
        parts.append(f"id in [{', '.join(map(quote, ids))}]")
    return " and ".join(parts)


def record_fields(record: dict | None) -> tuple[str, list[str]]:
    """A document record's type and periods, case-folded as ``Filters`` compares them."""
    record = record or {}
    periods = record.get("periods") or ([record["period"]] if record.get("period") else [])
    return str(record.get("type") or "").casefold(), [str(p).casefold() for p in periods][:32]


class MilvusStore:
    """The store protocol on one Milvus collection (``rag.index.protocol.Store``).

    Cheap to construct; connects (and creates the collection) on first use. Thread-safe: pymilvus's
    client is shared by the chat server's threads."""

    def __init__(
        self,
        uri: str,
        collection: str,
        dimension: int,
        token: str | None = None,
        timeout: float = 30.0,
    ):
        if dimension < 1:
            raise ValueError(f"dimension={dimension} must be positive")
        self.uri = uri
        self.collection = collection
        self.docs_collection = f"{collection}_docs"
        self.dimension = dimension
        self._token = token  # never logged or shown
        self.timeout = timeout
        self._client = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MilvusStore(uri={self.uri!r}, collection={self.collection!r})"

    @property
    def local(self) -> bool:
        return "://" not in self.uri

    # ---- connection -----------------------------------------------------------------------------

    @property
    def client(self):
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = self._connect()
        return self._client

    def _connect(self):
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise MilvusError(
                "the Milvus store needs pymilvus and milvus-lite: pip install -e '.[milvus]'"
            ) from None
        if self.local:
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            client = MilvusClient(uri=self.uri, token=self._token or "", timeout=self.timeout)
        except Exception as exc:  # noqa: BLE001 - pymilvus raises several kinds
            hint = (
                "is another process using this milvus-lite file? Only one can: serve it "
                "(python -m rag.index.milvus serve --db FILE --host 127.0.0.1 --port 19530) and "
                "set RAG_MILVUS_URI=http://127.0.0.1:19530 in every process"
                if self.local
                else "check that the server runs and the address is right (RAG_MILVUS_URI), and "
                "RAG_MILVUS_TOKEN if it needs one"
            )
            raise MilvusError(
                f"cannot connect to Milvus at {self.uri}: {_reason(exc)}; {hint}"
            ) from None
        self._ensure(client)
        return client

    def _ensure(self, client) -> None:
        from pymilvus import DataType, Function, FunctionType

        if not client.has_collection(self.collection):
            schema = client.create_schema(auto_id=False)
            schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
            schema.add_field("document", DataType.VARCHAR, max_length=1024)
            schema.add_field("doc_key", DataType.VARCHAR, max_length=1024)
            schema.add_field("doc_type", DataType.VARCHAR, max_length=256)
            schema.add_field(
                "periods",
                DataType.ARRAY,
                element_type=DataType.VARCHAR,
                max_capacity=32,
                max_length=64,
            )
            schema.add_field("chunk", DataType.VARCHAR, max_length=MAX_JSON)
            schema.add_field(
                "text",
                DataType.VARCHAR,
                max_length=MAX_JSON,
                enable_analyzer=True,
                analyzer_params={"tokenizer": "whitespace"},
            )
            schema.add_field("dense", DataType.FLOAT_VECTOR, dim=self.dimension)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(
                Function(
                    name="bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["text"],
                    output_field_names=["sparse"],
                )
            )
            params = client.prepare_index_params()
            # milvus-lite has exact FLAT (and IVF_FLAT); a server picks its own (HNSW-like) index
            params.add_index(
                "dense", index_type="FLAT" if self.local else "AUTOINDEX", metric_type="IP"
            )
            params.add_index(
                "sparse",
                index_type="SPARSE_INVERTED_INDEX",
                metric_type="BM25",
                params={"bm25_k1": BM25_K1, "bm25_b": BM25_B},
            )
            params.add_index("document", index_type="INVERTED")
            params.add_index("doc_key", index_type="INVERTED")
            client.create_collection(
                self.collection, schema=schema, index_params=params, consistency_level="Strong"
            )
        else:
            info = client.describe_collection(self.collection)
            dims = [
                f.get("params", {}).get("dim")
                for f in info.get("fields", [])
                if f.get("name") == "dense"
            ]
            if dims and int(dims[0]) != self.dimension:
                raise MilvusError(
                    f"the Milvus collection {self.collection} at {self.uri} holds "
                    f"{dims[0]}-dimensional vectors, this model makes {self.dimension}: drop it "
                    "(MilvusStore.drop) or use another RAG_MILVUS_URI"
                )
        if not client.has_collection(self.docs_collection):
            schema = client.create_schema(auto_id=False)
            schema.add_field("document", DataType.VARCHAR, is_primary=True, max_length=1024)
            schema.add_field("sha256", DataType.VARCHAR, max_length=64)
            schema.add_field("build_key", DataType.VARCHAR, max_length=64)
            schema.add_field("n_chunks", DataType.INT64)
            schema.add_field("v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field
            params = client.prepare_index_params()
            params.add_index("v", index_type="FLAT", metric_type="L2")
            client.create_collection(
                self.docs_collection,
                schema=schema,
                index_params=params,
                consistency_level="Strong",
            )

    def close(self) -> None:
        """Close the connection; a milvus-lite file's engine is stopped, so that another process
        can open the file."""
        if self._client is not None:
            self._client.close()
            self._client = None
            if self.local:
                try:
                    from milvus_lite.server_manager import server_manager_instance

                    server_manager_instance.release_server(str(Path(self.uri).absolute()))
                except Exception:  # noqa: BLE001 - already stopped, or another milvus-lite
                    pass

    def drop(self) -> None:
        """Remove both collections (the next use creates them empty)."""
        client = self.client
        for name in (self.collection, self.docs_collection):
            if client.has_collection(name):
                client.drop_collection(name)
        self._client = None

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MilvusError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise MilvusError(
                f"Milvus at {self.uri} failed to {what}: {_reason(exc)}; check that the server "
                "runs (a restarted one is found again on the next question)"
            ) from None

    # ---- writing --------------------------------------------------------------------------------

    def upsert(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, records: dict | None = None
    ) -> int:
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(chunks) != len(vectors):
            raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
        if len(vectors) and vectors.shape[1] != self.dimension:
            raise ValueError(
                f"vectors have {vectors.shape[1]} dimensions, the store {self.dimension}"
            )
        written = 0
        for start in range(0, len(chunks), BATCH):
            rows = self._rows(
                chunks[start : start + BATCH], vectors[start : start + BATCH], records
            )
            self._call("write chunks", self.client.upsert, self.collection, rows)
            written += len(rows)
        return written

    @staticmethod
    def _rows(chunks: Sequence[Chunk], vectors: np.ndarray, records: dict | None) -> list[dict]:
        records = records or {}
        rows = []
        for c, v in zip(chunks, np.asarray(vectors, dtype=np.float32), strict=True):
            doc_type, periods = record_fields(records.get(c.doc_id))
            body = json.dumps(c.to_dict(), ensure_ascii=False)
            if len(body.encode("utf-8", "surrogatepass")) > MAX_JSON:
                raise MilvusError(
                    f"chunk {c.id} of {c.doc_id} is over Milvus's 64 KiB field limit as JSON: "
                    "lower chunk_tokens"
                )
            rows.append(
                {
                    "id": c.id,
                    "document": c.doc_id,
                    "doc_key": c.doc_id.casefold(),
                    "doc_type": doc_type,
                    "periods": periods,
                    "chunk": body,
                    "text": bm25_text(c.embed_text),
                    "dense": v,
                }
            )
        return rows

    def delete(self, document: str) -> int:
        result = self._call(
            "delete a document",
            self.client.delete,
            self.collection,
            filter=f"document == {quote(document)}",
        )
        self._call("delete a document", self.client.delete, self.docs_collection, ids=[document])
        return _deleted(result)

    # ---- searching ------------------------------------------------------------------------------

    def dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[Hit]:
        q = np.asarray(vector, dtype=np.float32).reshape(-1).tolist()
        found = self._call(
            "search",
            self.client.search,
            self.collection,
            [q],
            anns_field="dense",
            limit=min(k, QUERY_LIMIT),
            filter=expression(filters),
            search_params={"metric_type": "IP"},
        )
        return [Hit(h["id"], float(h["distance"])) for h in found[0]]

    def lexical(self, query: str, k: int, filters: Filters | None = None) -> list[Hit]:
        text = " ".join(terms(query))
        if not text:
            return []
        return self._lexical(text, min(k, QUERY_LIMIT), expression(filters))

    def _lexical(self, text: str, k: int, expr: str) -> list[Hit]:
        found = self._call(
            "search",
            self.client.search,
            self.collection,
            [text],
            anns_field="sparse",
            limit=k,
            filter=expr,
            search_params={"metric_type": "BM25"},
        )
        # Milvus scores idf * tf * (k1 + 1) / (...); bm25s (and so the embedded store) without (k1 + 1)
        return [
            Hit(h["id"], float(h["distance"]) / (BM25_K1 + 1))
            for h in found[0]
            if h["distance"] > 0
        ]

    def lexical_scores(self, query: str, ids: Sequence[str]) -> dict[str, float]:
        ids = list(dict.fromkeys(ids))
        text = " ".join(terms(query))
        scores = dict.fromkeys(ids, 0.0)
        if not text or not ids:
            return scores
        for h in self._lexical(text, len(ids), expression(None, ids)):
            scores[h.id] = h.score
        return scores

    def hybrid(
        self,
        query: str,
        vector: np.ndarray,
        k: int,
        filters: Filters | None = None,
        rrf_k: int = 60,
    ) -> list[Hit]:
        """Milvus's own hybrid search: dense and BM25 fused by its RRF ranker (scores are RRF).
        ``rag.retrieval`` fuses in Python instead, to keep each passage's two ranks."""
        from pymilvus import AnnSearchRequest, RRFRanker

        expr = expression(filters)
        text = " ".join(terms(query)) or EMPTY_TERM
        requests = [
            AnnSearchRequest(
                [np.asarray(vector, np.float32).reshape(-1).tolist()],
                "dense",
                {"metric_type": "IP"},
                k,
                expr=expr,
            ),
            AnnSearchRequest([text], "sparse", {"metric_type": "BM25"}, k, expr=expr),
        ]
        found = self._call(
            "search",
            self.client.hybrid_search,
            self.collection,
            requests,
            RRFRanker(rrf_k),
            limit=k,
        )
        return [Hit(h["id"], float(h["distance"])) for h in found[0]]

    def get(self, ids: Sequence[str], vectors: bool = False) -> list[Stored]:
        ids = list(ids)
        if not ids:
            return []
        fields = ["chunk", "dense"] if vectors else ["chunk"]
        got = {}
        for start in range(0, len(ids), QUERY_LIMIT):
            rows = self._call(
                "read chunks",
                self.client.get,
                self.collection,
                ids=ids[start : start + QUERY_LIMIT],
                output_fields=fields,
            )
            for row in rows:
                got[row["id"]] = row
        out = []
        for i in ids:
            row = got.get(i)
            if row is not None:
                vector = np.asarray(row["dense"], dtype=np.float32) if vectors else None
                out.append(Stored(Chunk.from_dict(json.loads(row["chunk"])), vector))
        return out

    def count(self, filters: Filters | None = None) -> int:
        rows = self._call(
            "count",
            self.client.query,
            self.collection,
            filter=expression(filters),
            output_fields=["count(*)"],
        )
        return int(rows[0]["count(*)"])

    # ---- following a build ----------------------------------------------------------------------

    def documents(self) -> dict[str, dict]:
        """What the collection holds completely: document -> {sha256, build_key, n_chunks}."""
        rows = self._call(
            "read documents",
            self.client.query,
            self.docs_collection,
            filter='document != ""',
            output_fields=["sha256", "build_key", "n_chunks"],
            limit=QUERY_LIMIT,
        )
        return {r["document"]: r for r in rows}

    def sync(self, index, log=None) -> dict:
        """Bring the collection to ``index`` (a built ``rag.index.Index``): remove documents it no
        longer has or that changed, write those it has that the collection lacks. Vectors come from
        the build; returns counts of documents removed and written and chunks written.

        Documents are written in groups of about ``BATCH`` chunks: their leftover chunks (of a sync
        killed while writing them) deleted in one expression, their chunks inserted, and then their
        rows in the documents table, which mark them done."""
        key = build_key(index)
        want = dict(index.manifest.get("corpus", {}))
        have = self.documents()
        records = index.manifest.get("documents", {})
        stale = [
            d
            for d, row in have.items()
            if want.get(d) != row.get("sha256") or row.get("build_key") != key
        ]
        self._delete_documents(stale)
        todo = [d for d in want if d not in have or d in stale]
        rows_of: dict[str, list[int]] = {}
        if todo:
            wanted = set(todo)
            for i, c in enumerate(index.chunks):
                if c.doc_id in wanted:
                    rows_of.setdefault(c.doc_id, []).append(i)
        every = index.chunk_vectors() if rows_of else None
        groups, group, size = [], [], 0
        for d in todo:
            group.append(d)
            size += len(rows_of.get(d, ()))
            if size >= BATCH:
                groups.append(group)
                group, size = [], 0
        if group:
            groups.append(group)
        written = 0
        for group in groups:
            self._delete_documents(group, rows_only=True)
            rows = [r for d in group for r in rows_of.get(d, ())]
            if rows:
                chunks = [index.chunks[r] for r in rows]
                self._call(
                    "write chunks",
                    self.client.insert,  # the group's chunks were just deleted: no duplicates
                    self.collection,
                    self._rows(chunks, every[np.asarray(rows)], records),
                )
                written += len(rows)
            marks = [
                {
                    "document": d,
                    "sha256": want[d],
                    "build_key": key,
                    "n_chunks": len(rows_of.get(d, ())),
                    "v": [0.0, 0.0],
                }
                for d in group
            ]
            self._call("record documents", self.client.upsert, self.docs_collection, marks)
        result = {
            "removed": len([d for d in stale if d not in want]),
            "written": len(todo),
            "chunks": written,
        }
        if log is not None and (todo or stale):
            log(
                f"Milvus ({self.collection}): {result['written']} document(s) written "
                f"({written} chunks), {result['removed']} removed."
            )
        return result

    def _delete_documents(self, documents: Sequence[str], rows_only: bool = False) -> None:
        """Delete every chunk of ``documents`` (and, unless ``rows_only``, their marks)."""
        for start in range(0, len(documents), 512):
            part = list(documents[start : start + 512])
            expr = f"document in [{', '.join(map(quote, part))}]"
            self._call("delete documents", self.client.delete, self.collection, filter=expr)
            if not rows_only:
                self._call("delete documents", self.client.delete, self.docs_collection, ids=part)


def build_key(index) -> str:
    """What besides a document's bytes decides its chunks and vectors (model, chunker, pipeline)."""
    settings = index.manifest.get("settings", {})
    body = json.dumps(
        {k: v for k, v in settings.items() if k not in ("index_type", "approx_above")},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()[:16]


def _reason(exc: Exception) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(message).split())[:300]


def _deleted(result) -> int:
    if isinstance(result, dict):
        return int(result.get("delete_count", 0))
    if isinstance(result, list):
        return len(result)
    return int(getattr(result, "delete_count", 0) or 0)


# ---- a shared milvus-lite server ------------------------------------------------------------------


def server_command(db: Path, host: str, port: int) -> tuple[list[str], dict]:
    """The command and environment that serve the milvus-lite file ``db`` on ``host:port``:
    milvus-lite's own engine binary, listening on that address only."""
    try:
        import milvus_lite
    except ImportError:
        raise MilvusError(
            "serving a milvus-lite file needs milvus-lite: pip install -e '.[milvus]'"
        ) from None
    lib = Path(milvus_lite.__file__).parent / "lib"
    env = dict(os.environ)
    env["LD_LIBRARY_PATH"] = f"{lib}:{env.get('LD_LIBRARY_PATH', '')}"
    db = Path(db).absolute()
    return [str(lib / "milvus"), str(db), f"{host}:{port}", "ERROR"], env


def serve(db: Path, host: str = "127.0.0.1", port: int = 19530) -> int:
    """Serve ``db`` until interrupted, for several processes to share (``RAG_MILVUS_URI``)."""
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    cmd, env = server_command(db, host, port)
    print(f"milvus-lite serving {db} on http://{host}:{port}", file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, env=env, cwd=str(db.absolute().parent))
    try:
        return proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        return proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rag.index.milvus")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("serve", help="serve a milvus-lite file on a TCP address")
    run.add_argument("--db", type=Path, required=True, help="the milvus-lite file (NAME.db)")
    run.add_argument("--host", required=True, help="address to listen on, e.g. 127.0.0.1")
    run.add_argument("--port", type=int, default=19530)
    args = parser.parse_args(argv)
    return serve(args.db, args.host, args.port)


if __name__ == "__main__":
    raise SystemExit(main())
