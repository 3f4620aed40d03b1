"""Embedder registry: the embedder for a model name and an encoder choice.

``make_embedder`` picks the test embedder (``hash-N``), the ONNX encoder (``rag.onnx_encoder``,
the default where the model and the installed packages allow it) or sentence-transformers
(``rag.embedding``). It sits above both, so neither imports the other's module back.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

from rag.embedding import (
    ENCODERS,
    Embedder,
    EmbeddingError,
    HashEmbedder,
    SentenceTransformerEmbedder,
    resolve_model,
)


def onnx_unavailable(model: str) -> str | None:
    """Why ``model`` cannot run on the ONNX encoder here, or None when it can. Cheap: no imports of
    the runtimes, only a look at what is installed and at the model folder's config files."""
    missing = [m for m in ("onnxruntime", "tokenizers", "onnx", "safetensors") if not find_spec(m)]
    if missing:
        return f"`pip install {' '.join(missing)}`"
    try:
        path = resolve_model(model)
    except EmbeddingError as exc:
        return str(exc)
    from rag.onnx_encoder import supports

    return supports(Path(path))


def make_embedder(
    model: str,
    encoder: str = "auto",
    cache_dir: Path | None = None,
    threads: int = 1,
    cache_size: int = 1024,
    precision: str = "fp32",
) -> Embedder:
    """The embedder for a model name: ``hash-N`` is the test embedder; otherwise ``encoder`` picks
    onnx, torch, or (``auto``) onnx when the model and the installed packages allow it.
    ``precision`` (``fp32`` or ``int8``) applies to the ONNX encoder; the others run fp32 and say
    so in their ``precision``."""
    if encoder not in ENCODERS:
        raise ValueError(f"encoder={encoder!r} is not an encoder: use one of {', '.join(ENCODERS)}")
    if model.startswith("hash-"):
        embedder: Embedder = HashEmbedder(int(model.split("-", 1)[1]))
    elif encoder == "torch" or (encoder == "auto" and onnx_unavailable(model)):
        embedder = SentenceTransformerEmbedder(model)
    else:
        from rag.onnx_encoder import OnnxEmbedder
        from rag.settings import DATA_DIR_NAME

        embedder = OnnxEmbedder(
            model, cache_dir or Path.cwd() / DATA_DIR_NAME / "models", threads, precision
        )
    embedder.cache_size = cache_size
    return embedder
