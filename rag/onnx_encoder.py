"""A sentence encoder on onnxruntime that needs neither torch nor sentence-transformers.

``OnnxEmbedder`` reproduces a sentence-transformers BERT model with mean pooling (such as the bundled
all-MiniLM-L6-v2) to within 1e-4 cosine (``tests/test_embedding_agreement.py`` proves it on many
texts). Importing torch and sentence-transformers costs seconds; onnxruntime and tokenizers cost a
fraction of one, which is most of what makes a cold ``rag ask`` fast.

How: the ONNX graph of the model is *written* from the model folder's own files, not exported
through torch. ``export_onnx`` reads ``model.safetensors`` with numpy and lays out the BERT forward
pass (embeddings, 6 attention + feed-forward layers, mean pooling over the attention mask, L2 norm)
with the ``onnx`` package, then saves it once under ``Settings.data_dir/models/``; the tokenizer is
the folder's ``tokenizer.json`` run by the ``tokenizers`` package, truncated at the model's
``max_seq_length`` as sentence-transformers does. Nothing is downloaded.

Precision: ``fp32`` runs that graph as written; ``int8`` runs a copy whose weight matrices are
quantised to 8 bits per output channel (onnxruntime's dynamic quantisation: activations are
quantised on the fly, the attention products and everything else stay float), about twice as fast
on a CPU and a third smaller, at a cosine of about 0.99 with fp32 (``tests/test_speed.py``); it
embeds one text per call, since its vectors would otherwise depend on their batch. Either
way the session loads a copy that onnxruntime optimised once and saved beside the graph, so a start
does not optimise the graph again.

This module does not support other architectures or poolings: ``supports()`` says whether a folder
fits, and ``rag.encoders.make_embedder`` falls back to sentence-transformers when it does not.
"""

from __future__ import annotations

import json
import os
import threading
import uuid
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.embedding import Embedder, EmbeddingError, content_positions, normalise, resolve_model

# Bump when the graph written by ``export_onnx`` changes: saved graphs are then written anew.
GRAPH_VERSION = 2  # 2: the token embeddings are an output too
OPSET = 17
ONNX_FILE = "model.onnx"
META_FILE = "meta.json"
PRECISIONS = ("fp32", "int8")
INT8_FILE = "model-int8.onnx"  # written from model.onnx on first use of int8
WORDS_FILE = "common-words.json"  # the most common English words, and their vectors (.npy)
COMMON_WORDS = 5_000
TOKEN_BUDGET = 512  # tokens per model call, padding included, when many texts are embedded


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def supports(model_dir: Path) -> str | None:
    """Why this folder cannot run on the ONNX encoder, or None when it can."""
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    if config.get("model_type") != "bert":
        return f"model_type {config.get('model_type')!r} is not 'bert'"
    if config.get("hidden_act", "gelu") != "gelu":
        return f"hidden_act {config.get('hidden_act')!r} is not 'gelu'"
    if config.get("position_embedding_type", "absolute") != "absolute":
        return "position embeddings are not absolute"
    for name in ("model.safetensors", "tokenizer.json"):
        if not (model_dir / name).is_file():
            return f"{name} is missing"
    modules = _read_json(model_dir / "modules.json")
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules] if modules else []
    if kinds[:2] != ["Transformer", "Pooling"] or any(
        k not in ("Transformer", "Pooling", "Normalize") for k in kinds
    ):
        return f"modules {kinds} are not Transformer, Pooling[, Normalize]"
    pool_dir = next((m.get("path", "") for m in modules if m["type"].endswith("Pooling")), "")
    pooling = _read_json(model_dir / pool_dir / "config.json")
    wanted = {k: v for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if wanted != {"pooling_mode_mean_tokens": True}:
        return f"pooling {sorted(wanted)} is not mean pooling"
    return None


def max_seq_length(model_dir: Path) -> int:
    """The truncation length sentence-transformers uses for this folder."""
    st = _read_json(Path(model_dir) / "sentence_bert_config.json")
    config = _read_json(Path(model_dir) / "config.json")
    return int(st.get("max_seq_length") or config.get("max_position_embeddings", 512))


def source_stamp(model_dir: Path) -> dict:
    """What identifies the weights a saved graph was written from (cheap: a stat, no hashing)."""
    st = (Path(model_dir) / "model.safetensors").stat()
    return {
        "graph_version": GRAPH_VERSION,
        "source": str(Path(model_dir).resolve()),
        "size": st.st_size,
        "mtime_ns": st.st_mtime_ns,
    }


# ---- writing the graph ------------------------------------------------------------------------


def build_graph(model_dir: Path):
    """The ONNX ``ModelProto`` of the BERT encoder + mean pooling + L2 norm in ``model_dir``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        from safetensors.numpy import load_file
    except ImportError:
        raise EmbeddingError(
            "the ONNX encoder needs the `onnx` package to write its graph: `pip install onnx`, "
            "or set RAG_ENCODER=torch"
        ) from None

    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    weights = load_file(str(model_dir / "model.safetensors"))
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in weights else ""
    n_layers = int(config["num_hidden_layers"])
    hidden = int(config["hidden_size"])
    heads = int(config["num_attention_heads"])
    head_dim = hidden // heads
    eps = float(config.get("layer_norm_eps", 1e-12))

    inits: list = []
    nodes: list = []
    counter = iter(range(1_000_000))

    def w(name: str) -> np.ndarray:
        return np.asarray(weights[prefix + name], dtype=np.float32)

    def const(value, name: str | None = None) -> str:
        name = name or f"c{next(counter)}"
        inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(op: str, inputs: list[str], **attrs) -> str:
        out = f"t{next(counter)}"
        nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def linear(x: str, name: str) -> str:
        weight = const(np.ascontiguousarray(w(f"{name}.weight").T), f"{name}.weight")
        return node("Add", [node("MatMul", [x, weight]), const(w(f"{name}.bias"), f"{name}.bias")])

    def layer_norm(x: str, name: str) -> str:
        return node(
            "LayerNormalization",
            [
                x,
                const(w(f"{name}.weight"), f"{name}.weight"),
                const(w(f"{name}.bias"), f"{name}.bias"),
            ],
            axis=-1,
            epsilon=eps,
        )

    # embeddings: word + position + token type 0, then LayerNorm
    seq_len = node(
        "Slice",
        [
            node("Shape", ["input_ids"]),
            const(np.array([1], np.int64)),
            const(np.array([2], np.int64)),
        ],
    )
    positions = node(
        "Range",
        [
            const(np.array(0, np.int64)),
            node("Squeeze", [seq_len, const(np.array([0], np.int64))]),
            const(np.array(1, np.int64)),
        ],
    )
    x = node(
        "Gather",
        [const(w("embeddings.word_embeddings.weight"), "word_embeddings"), "input_ids"],
    )
    pos = node(
        "Gather",
        [const(w("embeddings.position_embeddings.weight"), "position_embeddings"), positions],
    )
    x = node("Add", [node("Add", [x, pos]), const(w("embeddings.token_type_embeddings.weight")[0])])
    x = layer_norm(x, "embeddings.LayerNorm")

    mask = node("Cast", ["attention_mask"], to=TensorProto.FLOAT)  # (B, S)
    # additive attention bias: 0 where attended, the most negative float where padded (as HF does)
    bias = node(
        "Mul",
        [
            node("Sub", [const(np.array(1.0, np.float32)), mask]),
            const(np.array(np.finfo(np.float32).min, np.float32)),
        ],
    )
    bias = node("Unsqueeze", [bias, const(np.array([1, 2], np.int64))])  # (B, 1, 1, S)
    split_heads = const(np.array([0, 0, heads, head_dim], np.int64))
    merge_heads = const(np.array([0, 0, hidden], np.int64))
    scale = const(np.array(1.0 / np.sqrt(head_dim), np.float32))
    half = const(np.array(0.5, np.float32))
    one = const(np.array(1.0, np.float32))
    inv_sqrt2 = const(np.array(1.0 / np.sqrt(2.0), np.float32))

    for i in range(n_layers):
        p = f"encoder.layer.{i}."
        q = node("Reshape", [linear(x, p + "attention.self.query"), split_heads])
        k = node("Reshape", [linear(x, p + "attention.self.key"), split_heads])
        v = node("Reshape", [linear(x, p + "attention.self.value"), split_heads])
        q = node("Transpose", [q], perm=[0, 2, 1, 3])  # (B, H, S, d)
        k = node("Transpose", [k], perm=[0, 2, 3, 1])  # (B, H, d, S)
        v = node("Transpose", [v], perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k]), scale]), bias])
        ctx = node("MatMul", [node("Softmax", [scores], axis=-1), v])
        ctx = node("Reshape", [node("Transpose", [ctx], perm=[0, 2, 1, 3]), merge_heads])
        x = layer_norm(
            node("Add", [linear(ctx, p + "attention.output.dense"), x]),
            p + "attention.output.LayerNorm",
        )
        h = linear(x, p + "intermediate.dense")
        # exact (erf) GELU, as BERT's "gelu"
        h = node(
            "Mul",
            [
                node("Mul", [h, half]),
                node("Add", [one, node("Erf", [node("Mul", [h, inv_sqrt2])])]),
            ],
        )
        x = layer_norm(node("Add", [linear(h, p + "output.dense"), x]), p + "output.LayerNorm")

    # mean pooling over attended tokens, then L2 normalisation (as torch's F.normalize)
    m = node("Unsqueeze", [mask, const(np.array([-1], np.int64))])  # (B, S, 1)
    axis1 = const(np.array([1], np.int64))
    summed = node("ReduceSum", [node("Mul", [x, m]), axis1], keepdims=0)
    count = node(
        "Max", [node("ReduceSum", [m, axis1], keepdims=0), const(np.array(1e-9, np.float32))]
    )
    mean = node("Div", [summed, count])
    norm = node(
        "Sqrt",
        [
            node(
                "ReduceSum",
                [node("Mul", [mean, mean]), const(np.array([-1], np.int64))],
                keepdims=1,
            )
        ],
    )
    norm = node("Max", [norm, const(np.array(1e-12, np.float32))])
    nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"]))
    nodes.append(helper.make_node("Identity", [x], ["token_embeddings"]))

    graph = helper.make_graph(
        nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
            helper.make_tensor_value_info(
                "attention_mask", TensorProto.INT64, ["batch", "sequence"]
            ),
        ],
        [
            helper.make_tensor_value_info(
                "sentence_embedding", TensorProto.FLOAT, ["batch", hidden]
            ),
            helper.make_tensor_value_info(
                "token_embeddings", TensorProto.FLOAT, ["batch", "sequence", hidden]
            ),
        ],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="rag.onnx_encoder"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def export_onnx(model_dir: Path, out_dir: Path) -> Path:
    """Write ``out_dir/model.onnx`` (and its ``meta.json``) for ``model_dir``, atomically.

    The graph is written into a temporary folder that is renamed into place, so a crash never leaves
    half a model; a concurrent writer of the same folder is serialised by a file lock."""
    from filelock import FileLock

    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stamp = source_stamp(model_dir)
    with FileLock(str(out_dir) + ".lock"):
        if _read_json(out_dir / META_FILE) == stamp and (out_dir / ONNX_FILE).is_file():
            return out_dir / ONNX_FILE  # another process wrote it while we waited
        model = build_graph(model_dir)
        tmp = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:8]}.tmp"
        tmp.mkdir()
        try:
            (tmp / ONNX_FILE).write_bytes(model.SerializeToString())
            (tmp / META_FILE).write_text(json.dumps(stamp, indent=2), encoding="utf-8")
            old = None
            if out_dir.exists():
                old = out_dir.parent / f".{out_dir.name}.{uuid.uuid4().hex[:8]}.old"
                os.rename(out_dir, old)
            os.rename(tmp, out_dir)
            if old is not None:
                import shutil

                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
    return out_dir / ONNX_FILE


def _replace_from(tmp: Path, path: Path) -> None:
    """Move a finished ``tmp`` file into place; a reader never sees half a file."""
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def quantize_int8(graph: Path, out: Path) -> Path:
    """Write ``out``: ``graph`` with its weight matrices (the MatMuls with a constant operand)
    quantised to int8, one scale per output channel; activations are quantised at run time.
    Per-channel scales keep the sentence vectors at a cosine of about 0.99 with fp32, per-tensor
    ones only about 0.95 (measured on the bundled profile)."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        raise EmbeddingError(
            "int8 needs onnxruntime's quantisation tools (`pip install onnx onnxruntime`), "
            "or set RAG_ENCODER_PRECISION=fp32"
        ) from None
    import logging

    tmp = out.with_name(f".{out.name}.{uuid.uuid4().hex[:8]}.tmp")
    # its advice to pre-process (a root-logger warning) does not apply here; and that warning would
    # give the root logger a handler, which then prints other libraries' debug lines
    root = logging.getLogger()
    level, handlers = root.level, list(root.handlers)
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(graph),
            str(tmp),
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["MatMul"],
            per_channel=True,
        )
        _replace_from(tmp, out)
    finally:
        root.setLevel(level)
        root.handlers[:] = handlers
        tmp.unlink(missing_ok=True)
    return out


def optimized_path(graph: Path) -> Path:
    """Where onnxruntime's optimised copy of ``graph`` is saved: per onnxruntime version, since the
    optimiser's output is only meant for the version that wrote it."""
    import onnxruntime as ort

    return graph.with_name(f"{graph.stem}.opt-ort{ort.__version__}.onnx")


def open_session(graph: Path, threads: int):
    """An onnxruntime session on ``graph`` for short texts on ``threads`` threads (0: all cores).

    The first session optimises the graph (constant folding, fused attention and GELU, layer-norm
    fusion) and saves the result; later ones load the saved copy with optimisation off, which
    halves the session's start (about 60 ms instead of 140 on these CPUs)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    saved = optimized_path(graph)
    providers = ["CPUExecutionProvider"]
    if saved.is_file():
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            return ort.InferenceSession(str(saved), options, providers=providers)
        except Exception:  # noqa: BLE001 - a damaged copy: optimise the graph again below
            saved.unlink(missing_ok=True)
    # extended, not "all": the saved copy then holds no layout specific to this CPU
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    tmp = saved.with_name(f".{saved.name}.{uuid.uuid4().hex[:8]}.tmp")
    options.optimized_model_filepath = str(tmp)
    try:
        session = ort.InferenceSession(str(graph), options, providers=providers)
    except Exception:  # noqa: BLE001 - the copy cannot be written (a read-only data folder)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        return ort.InferenceSession(str(graph), options, providers=providers)
    try:
        if tmp.is_file():
            _replace_from(tmp, saved)
    except OSError:
        pass  # optimised in memory this time; the next start tries again
    finally:
        tmp.unlink(missing_ok=True)
    return session


def graph_dir(cache_dir: Path, model: str, model_dir: Path) -> Path:
    """Where the graph of ``model`` is kept: one folder per model folder under ``cache_dir``."""
    import hashlib

    tag = hashlib.sha256(str(Path(model_dir).resolve()).encode()).hexdigest()[:12]
    name = "".join(ch if ch.isalnum() or ch in "-_." else "-" for ch in model.split(":")[-1])
    return Path(cache_dir) / f"{name[-40:]}-{tag}-onnx"


def common_words(n: int = COMMON_WORDS) -> list[str]:
    """The ``n`` most common English words (wordfreq), without stop words and one-letter words."""
    try:
        import wordfreq
    except ImportError:
        return []
    from rag.lexical import STOPWORDS

    out = []
    for w in wordfreq.top_n_list("en", int(n * 1.3)):
        if w.isalpha() and len(w) > 1 and w not in STOPWORDS:
            out.append(w)
    return out[:n]


# ---- running it -------------------------------------------------------------------------------


class OnnxEmbedder(Embedder):
    """all-MiniLM-L6-v2 (or another BERT mean-pooling model folder) on onnxruntime.

    Cheap to construct; ``warm_up()`` writes the graph on first use (about a second), then opens an
    onnxruntime session on it, once.

    Each call runs on ``threads`` threads (default 1; 0 lets onnxruntime use every core). One thread
    per call is the robust choice for questions: a short text gains little from a second core, and
    on a busy machine waiting for it costs milliseconds (see bench/README.md). Many texts (an index
    build) still use every core: ``parallel`` batches run at once, each on its own thread.

    ``precision`` is ``fp32`` (the graph as written) or ``int8`` (see the module doc)."""

    def __init__(self, model: str, cache_dir: Path, threads: int = 1, precision: str = "fp32"):
        if precision not in PRECISIONS:
            raise ValueError(
                f"encoder_precision={precision!r} is not a precision: use one of "
                f"{', '.join(PRECISIONS)}"
            )
        self.name = model
        self.precision = precision
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self.parallel = max(1, min(4, os.cpu_count() or 1))
        self._session = None
        self._tokenizer = None
        self._lock = threading.Lock()
        self._tokenize_lock = threading.Lock()
        self.load_count = 0
        self.model_path: Path | None = None

    def warm_up(self) -> None:
        if self._session is not None:
            return
        with self._lock:
            if self._session is not None:
                return
            try:
                import onnxruntime  # noqa: F401 - checked here, used by open_session
                from tokenizers import Tokenizer
            except ImportError:
                raise EmbeddingError(
                    "the ONNX encoder needs `pip install onnxruntime tokenizers`, "
                    "or set RAG_ENCODER=torch"
                ) from None
            model_dir = Path(resolve_model(self.name))
            why = supports(model_dir)
            if why:
                raise EmbeddingError(
                    f"{self.name!r} cannot run on the ONNX encoder ({why}); set RAG_ENCODER=torch"
                )
            out = graph_dir(self.cache_dir, self.name, model_dir)
            path = out / ONNX_FILE
            if _read_json(out / META_FILE) != source_stamp(model_dir) or not path.is_file():
                path = export_onnx(model_dir, out)
            if self.precision == "int8":
                quantized = out / INT8_FILE
                path = quantized if quantized.is_file() else quantize_int8(path, quantized)
            tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=max_seq_length(model_dir))
            session = open_session(path, self.threads)
            self.dimension = int(session.get_outputs()[0].shape[-1])
            self._tokenizer = tokenizer
            self.model_path = path
            self.load_count += 1
            self._session = session
        self._pin_common_words(path.parent)

    def _pin_common_words(self, folder: Path) -> None:
        """Pin the vectors of the most common English words, computed once per model.

        Most question words that a corpus never uses are common words ("nutshell", "sell"), and
        the answer composer looks each up; with this table it does not call the model for them.
        The word list is wordfreq's (bundled data); without wordfreq nothing is pinned."""
        words_path = folder / WORDS_FILE
        if self.precision != "fp32":  # each precision has its own vectors
            words_path = words_path.with_name(f"{words_path.stem}-{self.precision}.json")
        vectors_path = words_path.with_suffix(".npy")
        try:
            words = json.loads(words_path.read_text(encoding="utf-8"))
            vectors = np.load(vectors_path, mmap_mode="r", allow_pickle=False)
            if len(vectors) != len(words) or vectors.shape[1:] != (self.dimension,):
                raise ValueError("mismatch")
        except (OSError, ValueError):
            words = common_words(COMMON_WORDS)
            if not words:
                return
            vectors = self.embed(words, batch_size=256, cache=False)
            try:
                tag = uuid.uuid4().hex[:8]
                np.save(folder / f".{tag}.npy", vectors)
                (folder / f".{tag}.json").write_text(json.dumps(words), encoding="utf-8")
                os.replace(folder / f".{tag}.npy", vectors_path)  # vectors first: the list
                os.replace(folder / f".{tag}.json", words_path)  # is what marks them complete
            except OSError:
                pass  # a read-only data folder: keep them in memory only
        self.cache.pin(words, vectors, name="common-words")

    def plan_batches(self, texts: list[str], batch_size: int) -> tuple[list[str], list[int]]:
        """Texts sorted by their token count and cut into batches of at most ``batch_size`` texts
        and ``TOKEN_BUDGET`` tokens, padding included. A batch of texts of one length wastes no
        work on padding, and a small one keeps the layer activations in the CPU's caches: on 750
        SQuAD passages and sentences this takes 12.6 CPU-seconds, against 18.8 for batches of 32
        sorted by characters (bench: ``python -m bench.speed``); the weights are still read once
        per batch, not once per text, which is what makes one text per call slow for words.

        int8 embeds one text per call: dynamic quantisation scales the activations by the whole
        batch's range, so a text's vector would depend on the texts beside it (by up to 0.02 a
        component), and a vector cached or stored would not be the one a question gets."""
        if self.precision == "int8":
            batch_size = 1
        self.warm_up()
        with self._tokenize_lock:
            counts = [len(e.ids) for e in self._tokenizer.encode_batch([t.strip() for t in texts])]
        order = sorted(range(len(texts)), key=counts.__getitem__)
        starts: list[int] = []
        size = 0
        for at, i in enumerate(order):
            # sorted, so the text joining is the batch's longest: its count times the batch's size
            if not size or size >= batch_size or (size + 1) * counts[i] > TOKEN_BUDGET:
                starts.append(at)
                size = 0
            size += 1
        return [texts[i] for i in order], starts

    def tokenize(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, padded to the longest text (sentence-transformers strips
        each text first; so do we)."""
        ids, mask, _ = self._encode(texts)
        return ids, mask

    def _encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
        with self._tokenize_lock:  # batches may be embedded from several threads
            encodings = self._tokenizer.encode_batch([str(t).strip() for t in texts])
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        return ids, mask, [content_positions(e.tokens) for e in encodings]

    def _run(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Sentence vectors and content-token vectors from one pass of the model."""
        self.warm_up()
        ids, mask, keep = self._encode(texts)
        vectors, tokens = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(vectors, dtype=np.float32), [
            np.asarray(tokens[row, k], dtype=np.float32) for row, k in enumerate(keep)
        ]

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._run(texts)[0]

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        # the token vectors come with the pass: ``embed`` keeps them, so asking next costs nothing
        vectors, tokens = self._run(texts)
        return vectors, [normalise(t.reshape(-1, vectors.shape[1])) for t in tokens]

    def token_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self._run(texts)[1]
