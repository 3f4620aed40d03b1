"""The Milvus store against the embedded one (FAISS flat + bm25s), in the same run.

For each size, a synthetic corpus (``bench.corpus``) is chunked and indexed with ``Index.build`` and
the vectors of ``BagOfWordsEmbedder`` (384 dimensions, as ``bench.scale``), then written into a
milvus-lite file (the embedded C++ engine, a child process) by ``MilvusStore.sync``. Measured:

* ingest: chunks per second written into Milvus (rows carry the vector, the BM25 text, the JSON);
* query latency p50/p95 on both stores: dense top 100, BM25 top 100, and a full
  ``Retriever.retrieve`` (dense + BM25 + RRF fusion in Python, k=5, what the chat runs), plus
  Milvus's own ``hybrid_search`` (its RRF ranker, top 10);
* recall@10 of Milvus's dense search against FAISS's exact one, and the share of questions whose
  hybrid top 5 is the same list on both stores;
* memory: peak RSS of a fresh query process that reads the build and retrieves through each store
  (and of one that only imports the same modules), and the RSS of the Milvus engine process.

    python -m bench.milvus --chunks 10000 --chunks 100000 --out bench/results/milvus.json
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import machine, stats, write_json
from bench.corpus import generate
from bench.vectors import BagOfWordsEmbedder

TARGETS = {"milvus_hybrid_p95_ms": 60.0, "query_process_mib": 400.0}


def rss_mib(pid: int | str = "self", field: str = "VmRSS") -> float | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(field + ":"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def engine_pid() -> int | None:
    """The milvus-lite engine pymilvus started for this process (a child named milvus)."""
    for c in children(os.getpid()):
        try:
            if Path(f"/proc/{c}/comm").read_text().strip() == "milvus":
                return c
        except OSError:
            pass
    return None


def timed(fn, items) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(*item)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def run_size(n: int, n_queries: int, work: Path) -> dict:
    from rag.chunking import Chunker
    from rag.documents import load_corpus
    from rag.index import Index
    from rag.index.milvus import MilvusStore
    from rag.retrieval import Retriever

    folder = work / f"corpus-{n}"
    questions = generate(folder, n, seed=11)[:n_queries]
    embedder = BagOfWordsEmbedder(384)
    t0 = time.perf_counter()
    index = Index.build(load_corpus(folder), Chunker(), embedder, index_type="flat")
    build_s = time.perf_counter() - t0
    store = MilvusStore(str(work / f"m{n}.db"), "bench", embedder.dimension)
    store.count()  # the engine starts and the collection is made before the clock starts
    t0 = time.perf_counter()
    store.sync(index)
    ingest_s = time.perf_counter() - t0
    assert store.count() == len(index.chunks)
    texts = [q.text for q in questions]
    vectors = [embedder.embed_one(t) for t in texts]
    embedded = Retriever(index)
    milvus = Retriever(index, store=store)
    result = {
        "chunks": len(index.chunks),
        "build_s": round(build_s, 2),
        "ingest_s": round(ingest_s, 2),
        "ingest_chunks_per_s": round(len(index.chunks) / ingest_s, 1),
    }
    # warm both (first queries load segments and caches)
    for t, v in zip(texts[:5], vectors[:5], strict=True):
        embedded.retrieve(t, v)
        milvus.retrieve(t, v)
    pairs = list(zip(texts, vectors, strict=True))
    for name, r in (("faiss", embedded), ("milvus", milvus)):
        result[f"{name}_dense_ms"] = stats(timed(lambda t, v, r=r: r.dense_ranking(v, 100), pairs))
        result[f"{name}_bm25_ms"] = stats(
            timed(lambda t, v, r=r: r.retrieve(t, None, k=100, mode="bm25"), pairs)
        )
        result[f"{name}_hybrid_ms"] = stats(timed(lambda t, v, r=r: r.retrieve(t, v, k=5), pairs))
    result["milvus_native_hybrid_ms"] = stats(timed(lambda t, v: store.hybrid(t, v, 10), pairs))
    recalls, same = [], 0
    for t, v in pairs:
        truth = set(embedded.dense_ranking(v, 10)[0].tolist())
        got = set(milvus.dense_ranking(v, 10)[0].tolist())
        recalls.append(len(truth & got) / 10)
        a = [p.chunk.id for p in embedded.retrieve(t, v, k=5)]
        b = [p.chunk.id for p in milvus.retrieve(t, v, k=5)]
        same += a == b
    result["milvus_recall_at_10"] = round(float(np.mean(recalls)), 4)
    result["same_hybrid_top5_share"] = round(same / len(pairs), 4)
    pid = engine_pid()
    result["engine_rss_mib"] = rss_mib(pid) if pid else None
    result["queries"] = len(pairs)
    store.close()
    index.write(work / f"index-{n}")
    result.update(query_memory(work / f"index-{n}", work / f"m{n}.db", texts[:50]))
    return result


CHILD = """
import json, sys, pathlib
import numpy as np
from bench.vectors import BagOfWordsEmbedder
import rag.index, rag.retrieval, rag.index.milvus, pymilvus
def status(field):
    for line in open('/proc/self/status'):
        if line.startswith(field + ':'):
            return int(line.split()[1]) / 1024
folder, db, store_kind = sys.argv[1], sys.argv[2], sys.argv[3]
texts = json.loads(sys.stdin.read())
base = status('VmRSS')
if store_kind != 'none':
    index = rag.index.Index.read(pathlib.Path(folder), mmap_dense=store_kind == 'milvus')
    store = None
    if store_kind == 'milvus':
        store = rag.index.milvus.MilvusStore(db, 'bench', index.dimension)
    retriever = rag.retrieval.Retriever(index, store=store)
    embedder = BagOfWordsEmbedder(384)
    for t in texts:
        retriever.retrieve(t, embedder.embed_one(t), k=5)
print(json.dumps({'base': base, 'rss': status('VmRSS'), 'hwm': status('VmHWM')}))
"""


def query_memory(folder: Path, db: Path, texts: list[str]) -> dict:
    """RSS of a fresh process that loads the build's side tables and answers retrievals through
    each store, less one that only imports the same modules."""
    import json
    import subprocess
    import sys

    out = {}
    for kind in ("none", "embedded", "milvus"):
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(folder), str(db), kind],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode:
            raise RuntimeError(proc.stderr[-2000:])
        out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
    base = out["none"]["hwm"]
    return {
        "imports_only_mib": round(base, 1),
        "query_process_embedded_mib": round(out["embedded"]["hwm"], 1),
        "query_process_milvus_mib": round(out["milvus"]["hwm"], 1),
        "index_share_embedded_mib": round(out["embedded"]["hwm"] - base, 1),
        "index_share_milvus_mib": round(out["milvus"]["hwm"] - base, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.milvus")
    parser.add_argument("--chunks", type=int, action="append", help="corpus size (repeat)")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--out", type=Path, default=Path("bench/results/milvus.json"))
    args = parser.parse_args(argv)
    sizes = args.chunks or [10_000]
    work = Path(tempfile.mkdtemp(prefix="bench-milvus-"))
    try:
        runs = []
        for n in sizes:
            r = run_size(n, args.queries, work)
            runs.append(r)
            print(
                f"{r['chunks']:>7} chunks: ingest {r['ingest_chunks_per_s']:.0f} chunks/s; "
                f"dense p95 faiss {r['faiss_dense_ms']['p95']} / milvus "
                f"{r['milvus_dense_ms']['p95']} ms; hybrid retrieve p95 faiss "
                f"{r['faiss_hybrid_ms']['p95']} / milvus {r['milvus_hybrid_ms']['p95']} ms; "
                f"native hybrid p95 {r['milvus_native_hybrid_ms']['p95']} ms; recall@10 "
                f"{r['milvus_recall_at_10']}; same top 5 {r['same_hybrid_top5_share']}; "
                f"query process peak {r['query_process_embedded_mib']} MiB embedded / "
                f"{r['query_process_milvus_mib']} MiB milvus (imports alone "
                f"{r['imports_only_mib']}), engine {r['engine_rss_mib']} MiB",
                flush=True,
            )
        write_json(args.out, {"machine": machine(), "targets": TARGETS, "runs": runs})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
