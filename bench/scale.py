"""Scale: synthetic corpora of 1k, 10k and 100k chunks, exact (flat) against approximate (IVF, HNSW).

For each size, a corpus of generated profiles (``bench.corpus``) is chunked and indexed with the
engine's own ``Index.build`` and ``Index.write``, with the vectors of ``BagOfWordsEmbedder``
(``bench.vectors``; the real encoder would take half an hour at 100k) and measured for:

* build time by phase (chunk, embed, dense, BM25, write) and throughput (chunks/s); an IVF or HNSW
  build is the same pipeline with the dense phase replaced by that index's build of the same vectors;
* size on disk per file, and in memory: the peak RSS of a fresh process that loads the index, less
  that of one that only imports the same modules;
* query latency p50/p95 of the dense search (100 candidates, as retrieval asks) and of a full hybrid
  ``Retriever.retrieve`` (dense + BM25 + fusion, k=5), on generated questions, over several passes;
* recall@10 of IVF and HNSW against exact search, with the engine's default search breadth and a
  sweep of it (``nprobe``, ``ef_search``).

At the real-encoder size (1k by default) the real ONNX encoder also builds the index through
``IndexStore``, then one document is changed and the index rebuilt: full build time, incremental
rebuild time, and how many texts each embedded. Query-encoding latency is measured there too.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import folder_size, machine, python_json, ratio, stats, write_json
from bench.corpus import generate
from bench.vectors import BagOfWordsEmbedder

EF_SWEEP = (16, 32, 64, 128, 256, 512)
KINDS = ("flat", "ivf", "hnsw")
TARGETS = {"approx_recall_at_10": 0.95, "approx_hybrid_p95_ms": 20.0}


def _time(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


HWM = (
    "def hwm():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            return int(line.split()[1])\n"
)


def memory_of(folder: Path) -> dict:
    """Peak RSS of loading the index at ``folder`` in a fresh process, less an import-only one.

    Read from the child's own ``VmHWM`` (``ru_maxrss`` would include the benchmark's own size,
    which Linux carries over into a spawned child). ``units.npy`` is memory-mapped: its pages count
    only once the answer composer reads them, so its size is reported on its own."""
    imports = "import json, time, pathlib, faiss, numpy\nimport rag.index, rag.retrieval\n" + HWM
    base, _ = python_json(imports + "print(json.dumps({'rss': hwm()}))")
    loaded, _ = python_json(
        imports
        + "t = time.perf_counter()\n"
        + f"index = rag.index.Index.read(pathlib.Path({str(folder)!r}))\n"
        + "t = time.perf_counter() - t\n"
        + "print(json.dumps({'rss': hwm(), 'load_s': t}))"
    )
    return {
        "index_rss_mib": round((loaded["rss"] - base["rss"]) / 1024, 1),
        "process_rss_mib": round(loaded["rss"] / 1024, 1),
        "mapped_units_mib": round((folder / "units.npy").stat().st_size / 2**20, 1),
        "load_s": round(loaded["load_s"], 3),
    }


def file_sizes(folder: Path) -> dict:
    out = {}
    for p in sorted(folder.iterdir()):
        out[p.name] = folder_size(p) if p.is_dir() else p.stat().st_size
    out["total"] = folder_size(folder)
    return out


def query_latency(retriever, questions, vectors, passes: int) -> dict:
    dense_runs, hybrid_runs = [], []
    for _ in range(passes):
        dense, hybrid = [], []
        for q, v in zip(questions, vectors, strict=True):
            t0 = time.perf_counter()
            retriever.dense_ranking(v, max(5, retriever.depth))
            t1 = time.perf_counter()
            retriever.retrieve(q, v, k=5, mode="hybrid")
            t2 = time.perf_counter()
            dense.append((t1 - t0) * 1000)
            hybrid.append((t2 - t1) * 1000)
        dense_runs.append(stats(dense))
        hybrid_runs.append(stats(hybrid))

    def med(runs, key):
        return round(float(np.median([r[key] for r in runs])), 3)

    return {
        "dense_p50_ms": med(dense_runs, "p50"),
        "dense_p95_ms": med(dense_runs, "p95"),
        "hybrid_p50_ms": med(hybrid_runs, "p50"),
        "hybrid_p95_ms": med(hybrid_runs, "p95"),
        "passes": passes,
        "queries": len(questions),
    }


def recall_at_10(exact, approx, vectors) -> tuple[float, dict]:
    """Mean share of the exact top 10 that the approximate search also returns, and its latency."""
    hits, lat = [], []
    for v in vectors:
        truth = set(exact.dense_ranking(v, 10)[0].tolist())
        t0 = time.perf_counter()
        got = set(approx.dense_ranking(v, 10)[0].tolist())
        lat.append((time.perf_counter() - t0) * 1000)
        hits.append(len(truth & got) / 10)
    return round(float(np.mean(hits)), 4), stats(lat)


def sweep(exact, index, vectors) -> list[dict]:
    """Recall@10 and top-10 search latency over the approximate index's search breadth."""
    from rag.retrieval import Retriever

    rows = []
    if index.dense_type == "ivf":
        nlist = index.dense.nlist
        settings = sorted({max(1, nlist // d) for d in (32, 16, 8, 4, 2)})
        make = lambda x: Retriever(index, nprobe=x)  # noqa: E731
        name = "nprobe"
    else:
        settings = list(EF_SWEEP)
        make = lambda x: Retriever(index, ef_search=x)  # noqa: E731
        name = "ef_search"
    for x in settings:
        rec, lat = recall_at_10(exact, make(x), vectors)
        rows.append(
            {name: x, "recall_at_10": rec, "top10_p50_ms": lat["p50"], "top10_p95_ms": lat["p95"]}
        )
    return rows


def one_size(n_target: int, tmp: Path, runs: int, n_queries: int, kinds=KINDS) -> dict:
    from rag.chunking import Chunker
    from rag.documents import load_corpus
    from rag.index import Index, make_dense
    from rag.retrieval import Retriever, ivf_nprobe

    corpus = tmp / f"corpus-{n_target}"
    questions = generate(corpus, n_target, seed=1)
    docs = load_corpus(corpus)
    build_runs = runs if n_target <= 10_000 else 1
    builds: dict[str, list[dict]] = {k: [] for k in kinds}
    dense: dict = {}
    index = None
    for _ in range(build_runs):
        embedder = BagOfWordsEmbedder(384)  # fresh: no word vectors carried over between runs
        index, total = _time(Index.build, docs, Chunker(), embedder, index_type="flat")
        folder = tmp / f"flat-{n_target}"
        shutil.rmtree(folder, ignore_errors=True)
        _, write_s = _time(index.write, folder)
        phases = dict(index.manifest["build_seconds"], write=round(write_s, 4))
        builds["flat"].append({"total_s": round(total + write_s, 3), **phases})
        vectors = index.chunk_vectors()
        for kind in kinds:
            if kind != "flat":
                dense[kind], seconds = _time(make_dense, vectors, 384, kind)
                builds[kind].append(
                    {
                        "total_s": round(total + write_s - phases["dense"] + seconds, 3),
                        "dense": round(seconds, 3),
                    }
                )
    n_chunks = len(index.chunks)
    indexes = {"flat": index}
    folders = {"flat": tmp / f"flat-{n_target}"}
    for kind in kinds:
        if kind == "flat":
            continue
        info = {"type": kind}
        if kind == "ivf":
            info["nlist"] = int(dense[kind].nlist)
        indexes[kind] = Index(
            index.chunks,
            dense[kind],
            index.unit_vectors,
            index.lexical,
            {**index.manifest, "dense": info},
            vocab=index.vocab,
            vocab_vectors=index.vocab_vectors,
        )
        folders[kind] = tmp / f"{kind}-{n_target}"
        indexes[kind].write(folders[kind])

    rng = np.random.default_rng(0)
    picked = rng.choice(len(questions), min(n_queries, len(questions)), replace=False)
    texts = [questions[i].text for i in picked]
    qvecs = BagOfWordsEmbedder(384).embed(texts, cache=False)
    exact = Retriever(index)

    def med(rows, key):
        return round(float(np.median([b[key] for b in rows])), 3)

    out = {
        "target_chunks": n_target,
        "chunks": n_chunks,
        "units": len(index.unit_vectors),
        "documents": len(docs),
        "vocabulary": len(index.vocab),
        "build_runs": build_runs,
    }
    for kind in kinds:
        build = {k: med(builds[kind], k) for k in builds[kind][0]}
        retriever = Retriever(indexes[kind])  # the engine's defaults (nprobe, ef_search)
        entry = {
            "build": {**build, "chunks_per_s": round(n_chunks / build["total_s"], 1)},
            "disk_bytes": file_sizes(folders[kind]),
            "memory": memory_of(folders[kind]),
            "query": query_latency(retriever, texts, qvecs, runs),
            "recall_at_10": 1.0,
            "build_samples": builds[kind],
        }
        if kind != "flat":
            entry["recall_at_10"], _ = recall_at_10(exact, retriever, qvecs)
            entry["sweep"] = sweep(exact, indexes[kind], qvecs)
            entry["dense"] = indexes[kind].manifest["dense"]
            entry["search"] = (
                {"nprobe": ivf_nprobe(indexes[kind].dense.nlist, retriever.nprobe)}
                if kind == "ivf"
                else {"ef_search": retriever.ef_search}
            )
        out[kind] = entry
    for kind in kinds:
        if kind != "flat":
            out[f"ratios_{kind}_vs_flat"] = {
                "build_s": ratio(out[kind]["build"]["total_s"], out["flat"]["build"]["total_s"]),
                "dense_p95": ratio(
                    out[kind]["query"]["dense_p95_ms"], out["flat"]["query"]["dense_p95_ms"]
                ),
                "hybrid_p95": ratio(
                    out[kind]["query"]["hybrid_p95_ms"], out["flat"]["query"]["hybrid_p95_ms"]
                ),
            }
    shutil.rmtree(corpus, ignore_errors=True)
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
    return out


def real_encoder(n_target: int, tmp: Path, n_queries: int) -> dict:
    """The real ONNX encoder on a synthetic corpus: full build, incremental rebuild, query encoding."""
    from rag.chunking import Chunker
    from rag.encoders import make_embedder
    from rag.index import IndexStore

    corpus = tmp / f"real-corpus-{n_target}"
    questions = generate(corpus, n_target, seed=2)
    embedder = make_embedder("bundled:all-MiniLM-L6-v2", "onnx", tmp / "models")
    embedder.warm_up()  # writes the ONNX graph once; not part of the build time below
    store = IndexStore(
        tmp / f"real-index-{n_target}",
        corpus,
        Chunker(),
        embedder,
        index_type="flat",
        notify=lambda m: None,
    )
    full, full_s = _time(store.build)
    # change one document: one sentence of one section
    victim = sorted(corpus.rglob("*.md"))[len(questions) // 40]
    text = victim.read_text(encoding="utf-8")
    victim.write_text(
        text.replace("## Strategy\n", "## Strategy\nA new plan was announced.\n", 1),
        encoding="utf-8",
    )
    again, again_s = _time(store.load_or_build)
    n_texts = full.manifest["embedded"]
    embedded_total = sum(n_texts.values())
    lat = []
    for q in questions[:n_queries]:
        embedder.cache.clear_recent()
        t0 = time.perf_counter()
        embedder.embed_one(q.text)
        lat.append((time.perf_counter() - t0) * 1000)
    return {
        "target_chunks": n_target,
        "chunks": len(full.chunks),
        "full_build_s": round(full_s, 3),
        "full_build_phases": full.manifest["build_seconds"],
        "full_embedded": n_texts,
        "texts_per_s": round(embedded_total / full.manifest["build_seconds"]["embed"], 1),
        "chunks_per_s": round(len(full.chunks) / full_s, 1),
        "incremental_rebuild_s": round(again_s, 3),
        "incremental_phases": again.manifest["build_seconds"],
        "incremental_embedded": again.manifest["embedded"],
        "rebuild_ratio": ratio(again_s, full_s),
        "query_encode": stats(lat),
    }


def run(
    out_dir: Path,
    sizes=(1000, 10_000, 100_000),
    runs: int = 3,
    n_queries: int = 200,
    real_at: int | None = 1000,
    kinds=KINDS,
) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-scale-"))
    result: dict = {
        "machine": machine(),
        "runs": runs,
        "queries": n_queries,
        "vectors": "BagOfWordsEmbedder(384): random projection of the bag of words (bench/vectors.py)",
        "targets": TARGETS,
        "sizes": [],
    }
    try:
        for n in sizes:
            print(f"scale: {n:,} chunks...", file=sys.stderr, flush=True)
            result["sizes"].append(one_size(n, tmp, runs, n_queries, kinds))
            write_json(out_dir / "scale.json", result)
        if real_at:
            print(f"scale: real encoder at {real_at:,} chunks...", file=sys.stderr, flush=True)
            result["real_encoder"] = real_encoder(real_at, tmp, min(n_queries, 100))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    largest = result["sizes"][-1]
    result["verdict"] = {"at_chunks": largest["chunks"]}
    for kind in kinds:
        if kind == "flat":
            continue
        recall = largest[kind]["recall_at_10"]
        p95 = largest[kind]["query"]["hybrid_p95_ms"]
        result["verdict"][kind] = {
            "recall_at_10": {"target": 0.95, "measured": recall, "met": recall >= 0.95},
            "hybrid_p95_ms": {"target": 20.0, "measured": p95, "met": p95 <= 20.0},
        }
    result["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(out_dir / "scale.json", result)
    plot(result, out_dir / "scale.png")
    return result


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["sizes"]
    kinds = [k for k in KINDS if k in sizes[0]]
    colors = {"flat": "tab:gray", "ivf": "tab:blue", "hnsw": "tab:orange"}
    n = [s["chunks"] for s in sizes]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    for kind in kinds:
        ax.plot(
            n,
            [s[kind]["query"]["hybrid_p95_ms"] for s in sizes],
            "o-",
            color=colors[kind],
            label=f"{kind}: hybrid retrieve p95",
        )
        ax.plot(
            n,
            [s[kind]["query"]["dense_p95_ms"] for s in sizes],
            "s--",
            color=colors[kind],
            label=f"{kind}: dense search p95",
            alpha=0.7,
        )
    ax.axhline(20, color="tab:red", linestyle=":", label="target 20 ms")
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="chunks",
        ylabel="ms",
        title="Query latency p95 (query vector given)",
    )
    ax.legend(fontsize=7)
    ax = axes[1]
    for kind in kinds:
        ax.plot(
            n,
            [s[kind]["build"]["total_s"] for s in sizes],
            "o-",
            color=colors[kind],
            label=f"{kind} (synthetic vectors)",
        )
    real = result.get("real_encoder")
    if real:
        per_chunk = real["full_build_phases"]["embed"] / real["chunks"]
        ax.plot(
            n,
            [
                s["flat"]["build"]["total_s"]
                - s["flat"]["build"]["embed"]
                + per_chunk * s["chunks"]
                for s in sizes
            ],
            "x:",
            color="tab:green",
            label=f"flat + real encoder (projected from {real['chunks']:,})",
        )
        ax.plot(
            [real["chunks"]],
            [real["full_build_s"]],
            "*",
            color="tab:green",
            markersize=12,
            label="flat + real encoder (measured)",
        )
    ax.set(xscale="log", yscale="log", xlabel="chunks", ylabel="s", title="Index build time")
    ax.legend(fontsize=7)
    ax = axes[2]
    styles = ["o-", "s-", "^-", "d-"]
    for j, s in enumerate(sizes):
        for kind in kinds:
            if kind == "flat":
                continue
            sw = s[kind]["sweep"]
            key = "nprobe" if kind == "ivf" else "ef_search"
            ax.plot(
                [r["top10_p95_ms"] for r in sw],
                [r["recall_at_10"] for r in sw],
                styles[j % 4],
                color=colors[kind],
                alpha=0.35 + 0.65 * (j + 1) / len(sizes),
                label=f"{kind}, {s['chunks']:,} chunks ({key})",
            )
            if j == len(sizes) - 1:
                for r in sw:
                    ax.annotate(str(r[key]), (r["top10_p95_ms"], r["recall_at_10"]), fontsize=6)
    ax.axhline(0.95, color="tab:red", linestyle=":", label="target recall 0.95")
    ax.set(
        xscale="log",
        xlabel="top-10 search p95 (ms)",
        ylabel="recall@10 vs exact",
        title="Approximate search: recall against latency",
    )
    ax.legend(fontsize=6)
    fig.suptitle(
        f"Scale on {result['machine']['cpus']} CPUs, synthetic profiles "
        f"(medians of {result['runs']} passes of {result['queries']} queries)",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def summary_lines(result: dict) -> list[str]:
    lines = [
        "chunks   kind  build_s  chunks/s  disk_MiB  mem_MiB  load_s  dense_p95  hybrid_p95  recall@10"
    ]
    for s in result["sizes"]:
        for kind in [k for k in KINDS if k in s]:
            k = s[kind]
            lines.append(
                f"{s['chunks']:>7,} {kind:>5} {k['build']['total_s']:>8.2f} "
                f"{k['build']['chunks_per_s']:>9.0f} {k['disk_bytes']['total'] / 2**20:>9.1f} "
                f"{k['memory']['index_rss_mib']:>8.1f} {k['memory']['load_s']:>7.2f} "
                f"{k['query']['dense_p95_ms']:>10.3f} {k['query']['hybrid_p95_ms']:>11.3f} "
                f"{k['recall_at_10']:>10.3f}"
            )
    real = result.get("real_encoder")
    if real:
        lines.append(
            f"real ONNX encoder at {real['chunks']:,} chunks: full build {real['full_build_s']:.1f}s "
            f"({real['texts_per_s']:.0f} texts/s embedded), one document changed -> rebuild "
            f"{real['incremental_rebuild_s']:.1f}s embedding {real['incremental_embedded']}; "
            f"query encode p50 {real['query_encode']['p50']:.2f} ms p95 {real['query_encode']['p95']:.2f} ms"
        )
    return lines
