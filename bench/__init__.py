"""Benchmarks for speed and scale (issue 6). Run ``python -m bench --help`` from the repository root.

* ``bench.profile``: the bundled profile, end to end, the ONNX encoder against the sentence-
  transformers baseline in the same run: cold ``rag ask``, first index build, warm ``Chatbot.ask``,
  peak memory, and answer agreement and evaluation metrics (quality).
* ``bench.scale``: synthetic corpora of 1k-100k chunks (``bench.corpus``): build time and
  throughput, size on disk and in memory, query latency and recall@10, flat against HNSW, and
  incremental rebuilds.

Each writes JSON and a PNG plot; ``bench/README.md`` says what is measured and how.
"""
