"""``Chatbot``: the public face of the engine. Cheap to construct; loads model and index once, lazily.

    from rag import Chatbot
    bot = Chatbot()                                   # bundled profile, default settings
    bot = Chatbot.from_corpus("my_docs/", k=8)        # any folder, any setting
    answer = bot.ask("Who runs the company?")         # -> Answer (text, citations, abstained, ...)
    answer = bot.ask("Since when?", history=["Who runs the company?"])
    passages = bot.retrieve("smart city", k=3)        # -> list[Passage]

Thread-safe after ``warm_up()``: several UI sessions can share one instance.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from rag.answer import Composer, QuestionAnalysis, analyse
from rag.answer.model import DEFAULT_PATH, AnswerModel
from rag.answer_types import Answer
from rag.chunking import Chunker
from rag.corpus_stats import CorpusStats
from rag.embedding import Embedder
from rag.encoders import make_embedder
from rag.followup import resolve
from rag.history import HistoryError, history_questions
from rag.index import Index, IndexStore
from rag.retrieval import Passage, Reranker, Retriever, check_mode
from rag.settings import Settings, apply_offline_env


class QuestionError(ValueError):
    """The question cannot be answered as given (empty, not text); the message says what to do."""


__all__ = ["Chatbot", "HistoryError", "QuestionError", "clean_question"]


def clean_question(question, max_chars: int, max_input: int | None = None) -> tuple[str, list[str]]:
    """Validate and normalise a question; returns it with notices about what was changed.

    A question longer than ``max_input`` characters is refused before it is read; one longer than
    ``max_chars`` (after cleaning) is cut there, with a notice."""
    if not isinstance(question, str):
        raise QuestionError(f"the question must be text, not {type(question).__name__}")
    if max_input is not None and len(question) > max_input:
        raise QuestionError(
            f"the question is {len(question):,} characters long; the limit is {max_input:,}: "
            "ask a shorter question (only the first "
            f"{max_chars:,} characters would be used anyway)"
        )
    notices = []
    # drop control characters and lone surrogates, keep newlines/tabs as spaces
    text = question.encode("utf-8", "replace").decode("utf-8")
    text = "".join(ch if ch.isprintable() else " " for ch in text)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("the question is empty: type a question about the documents")
    if len(text) > max_chars:
        notices.append(
            f"The question was {len(text):,} characters long; only the first {max_chars:,} were used."
        )
        text = text[:max_chars].rsplit(" ", 1)[0] or text[:max_chars]
    return text, notices


class Chatbot:
    def __init__(
        self, settings: Settings | None = None, embedder: Embedder | None = None, notify=None
    ):
        self.settings = settings or Settings.make()
        check_mode(self.settings.mode)
        self._embedder = embedder
        self._notify = notify
        self._index: Index | None = None
        self._retriever: Retriever | None = None
        self._stats: CorpusStats | None = None
        self._reranker: Reranker | None = None
        self._composer: Composer | None = None
        self._model: AnswerModel | None = None
        self._model_skipped = False
        self._lock = threading.Lock()
        self.load_count = 0
        self._generators: dict = {}  # name -> rag.generate Generator, made on first use

    @classmethod
    def from_corpus(
        cls, path: str | Path | None = None, embedder: Embedder | None = None, **settings
    ) -> Chatbot:
        if path is not None:
            settings["corpus_dir"] = Path(path)
        return cls(Settings.make(**settings), embedder=embedder)

    # ---- heavy state, loaded once ---------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = make_embedder(
                s.model, s.encoder, s.models_dir(), cache_size=s.cache_size
            )
        return self._embedder

    def store(self) -> IndexStore:
        s = self.settings
        kwargs = {} if self._notify is None else {"notify": self._notify}
        return IndexStore(
            s.index_dir(),
            s.corpus_dir,
            Chunker(s.chunk_tokens, s.chunk_overlap, s.encoding, s.repair),
            self.embedder,
            s.batch_size,
            index_type=s.index_type,
            approx_above=s.approx_above,
            answer_model=self.answer_model.version if self.answer_model else None,
            **kwargs,
        )

    def warm_up(self) -> Chatbot:
        if self._index is not None:
            return self
        with self._lock:
            if self._index is None:
                apply_offline_env()
                index = self.store().load_or_build()
                self.embedder.warm_up()
                self._use(index)
                self.load_count += 1
        if self.settings.has_llm:
            self.generator()  # the grounding check's tables load here, not on the first answer
        return self

    @property
    def answer_model(self) -> AnswerModel | None:
        """The trained answer scorer, loaded once. None when ``answer.use_model`` is off, or when
        it was trained on another embedding model's scores (its features would mean something
        else): the answer stage then ranks by its prior and decides by its checks."""
        s = self.settings
        if self._model is None and s.answer.use_model and not self._model_skipped:
            model = AnswerModel.load(s.answer_model or DEFAULT_PATH)
            trained_on = model.card.get("embedding_model")
            if trained_on and trained_on != s.model:
                self._model_skipped = True
                return None
            self._model = model
        return self._model

    def _use(self, index: Index) -> None:
        """Serve questions from ``index``: its retriever, reranker and composer, its words'
        vectors pinned in the embedder's cache (so composing an answer needs no model call per
        word)."""
        s, a = self.settings, self.settings.answer
        stats = CorpusStats(index, self.embedder, a.ubiquitous_share)
        self._retriever = Retriever(index, s.rrf_k, ef_search=s.ef_search, nprobe=s.nprobe)
        self._reranker = Reranker(
            index, stats, a.rerank_token_weight, a.rerank_lexical, a.lexical_cap, a.title_bonus
        )
        self.embedder.cache.pin(index.vocab, index.vocab_vectors)
        self._composer = Composer(
            index, stats, a, s.abstain_threshold, self.answer_model, self.embedder
        )
        self._stats = stats
        self._index = index

    @property
    def index(self) -> Index:
        return self.warm_up()._index

    def reindex(self, progress: bool | None = None) -> Index:
        """Build the index anew (``rag index``) and use it."""
        with self._lock:
            index = self.store().build(progress=progress)
            self._use(index)
        return index

    # ---- generation (rag/generate/) ----------------------------------------------------------------

    @property
    def generators(self) -> list[str]:
        """The generators this bot offers: "extractive", and "llm" when an endpoint is set."""
        return ["extractive", "llm"] if self.settings.has_llm else ["extractive"]

    def generator(self, name: str | None = None):
        """The ``Generator`` called ``name`` (default: "llm" when an endpoint is set), made once."""
        from rag.generate import check_generator, make_generator

        name = check_generator(name) or self.generators[-1]
        if name not in self._generators:
            with self._lock:
                if name not in self._generators:
                    self._generators[name] = make_generator(self.settings, self.embedder, name)
        return self._generators[name]

    # ---- questions -------------------------------------------------------------------------------

    def _search(
        self, query: str, k: int, mode: str
    ) -> tuple[list[Passage], np.ndarray, np.ndarray | None, dict]:
        """Passages for a standalone query, the focused query vector units are compared with, and
        timings. Hybrid mode fuses dense and BM25 candidates by RRF, then reranks them by their
        best sentence (``Reranker``)."""
        t0 = time.perf_counter()
        focus = self._stats.focus(query)
        texts = [focus] if focus == query else [focus, query]
        vectors = self.embedder.embed(texts)
        fvec, qvec = vectors[0], vectors[-1]
        # the focused query's token vectors (the encoder keeps them from the pass just made)
        q_tokens = self.embedder.embed_tokens([focus])[0] if self._index.has_tokens else None
        t1 = time.perf_counter()
        if mode == "hybrid":
            pool = self._retriever.retrieve(
                query, qvec, max(k, self.settings.answer.rerank_pool), mode
            )
            passages = self._reranker.run(query, pool, fvec, k, q_tokens)
        else:
            passages = self._retriever.retrieve(query, qvec, k, mode)
        t2 = time.perf_counter()
        timings = {"embed": (t1 - t0) * 1000, "retrieve": (t2 - t1) * 1000}
        return passages, fvec, q_tokens, timings

    def _clean_history(self, history) -> list[str]:
        """Earlier user questions, cleaned and cut like a question; empty ones dropped. Raises
        ``HistoryError`` for a history over the limits of the settings (turns, characters, depth)."""
        turns = []
        for turn in history_questions(history, self.settings.history_limits()):
            try:
                turns.append(clean_question(turn, self.settings.max_question_chars)[0])
            except QuestionError:
                continue
        return turns

    def analyse(self, question: str, history: list | None = None) -> QuestionAnalysis:
        """Question analysis: the standalone query (follow-ups resolved against the history) and
        what the question asks for."""
        return self._analyse(question, self._clean_history(history))

    @staticmethod
    def _analyse(question: str, earlier: list[str]) -> QuestionAnalysis:
        resolved = resolve(question, earlier)
        return analyse(question, resolved.query, resolved.understood_as)

    def retrieve(
        self, question: str, k: int | None = None, mode: str | None = None
    ) -> list[Passage]:
        s = self.settings
        question, _ = clean_question(question, s.max_question_chars, s.max_input_chars)
        self.warm_up()
        mode = check_mode(mode or self.settings.mode)
        return self._search(question, k or self.settings.k, mode)[0]

    def ask(
        self,
        question: str,
        history: list | None = None,
        k: int | None = None,
        mode: str | None = None,
        *,
        generator: str | None = None,
        on_token=None,
    ) -> Answer:
        """Answer ``question``. ``generator`` picks "extractive" or "llm" (default: "llm" when an
        endpoint is configured); ``on_token(text)`` receives the LLM's reply as it streams."""
        t0 = time.perf_counter()
        s = self.settings
        question, notices = clean_question(question, s.max_question_chars, s.max_input_chars)
        earlier = self._clean_history(history)  # refused here, before any model work
        gen = self.generator(generator) if generator or self.settings.has_llm else None
        mode = check_mode(mode or self.settings.mode)
        k = k or self.settings.k
        if k < 1:
            raise ValueError(f"k={k} must be at least 1")
        self.warm_up()
        t_load = time.perf_counter()
        analysis = self._analyse(question, earlier)
        t_rewrite = time.perf_counter()
        passages, fvec, q_tokens, timings = self._search(analysis.query, k, mode)
        t_compose = time.perf_counter()
        answer = self._composer.compose(analysis, fvec, passages, mode=mode, k=k, q_tokens=q_tokens)
        if analysis.understood_as:
            notices.append(f"Understood as: {analysis.understood_as}")
        t_end = time.perf_counter()
        answer.notices = notices + answer.notices
        answer.timings_ms = {
            "load": (t_load - t0) * 1000,
            "rewrite": (t_rewrite - t_load) * 1000,
            **timings,
            "compose": (t_end - t_compose) * 1000,
        }
        if gen is not None:  # generation: one stage after selection (rag/generate/)
            from rag.generate.sources import sources_for

            sources = [] if answer.abstained else sources_for(answer, self._index)
            answer = gen.run(answer, sources, on_token=on_token)
            t_end = time.perf_counter()
        answer.timings_ms["total"] = (t_end - t0) * 1000
        return answer
