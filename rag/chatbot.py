"""``Chatbot``: the public face of the engine. Cheap to construct; loads model and index once, lazily.

    from rag import Chatbot
    bot = Chatbot()                                   # bundled profile, default settings
    bot = Chatbot.from_corpus("my_docs/", k=8)        # any folder, any setting
    answer = bot.ask("Who runs the company?")         # -> Answer (text, citations, abstained, ...)
    answer = bot.ask("Since when?", history=["Who runs the company?"])
    answer = bot.ask("What was revenue?", filters=["acme_2023_10k.pdf"])  # one document only
    answer = bot.ask("What was Acme's revenue in fiscal 2023?")  # answered from Acme's FY2023 file
    passages = bot.retrieve("smart city", k=3)        # -> list[Passage]

Thread-safe after ``warm_up()``: several UI sessions can share one instance.

A running bot follows its corpus folder: before a question (at most every ``watch_seconds``) it
compares the folder's files (names, sizes, modification times) and the installed build with what it
serves; on a difference it rebuilds, or loads the build another process installed, in a background
thread, and keeps answering from the index it has until the new one is ready, then switches in one
assignment. A citation whose file changed or went away since it was indexed says so in the answer's
notices.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np

from rag.answer import Composer, QuestionAnalysis, analyse
from rag.answer.model import DEFAULT_PATH, AnswerModel
from rag.answer_types import Answer
from rag.chunking import Chunker
from rag.corpus_stats import CorpusStats
from rag.documents import EmptyCorpusError, page_of
from rag.embedding import Embedder
from rag.encoders import make_embedder
from rag.filters import Filters
from rag.followup import resolve
from rag.history import HistoryError, history_questions
from rag.index import Index, IndexStore
from rag.instructions import instruction_notice
from rag.records import match_documents
from rag.retrieval import Passage, Reranker, Retriever, check_mode
from rag.settings import Settings, apply_offline_env
from rag.unicode import describe_mixed, mixed_script_words, normalise


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


def corpus_abbreviations(index: Index) -> dict[str, str]:
    """The abbreviations a question is read with: the standard ones of reporting
    (``rag.abbreviations.STANDARD``), and those the indexed documents define (the first
    definition of a short form wins; a standard one is never redefined)."""
    from rag.abbreviations import STANDARD

    out: dict[str, str] = {}
    for record in index.manifest.get("documents", {}).values():
        for short, long in (record.get("abbreviations") or {}).items():
            out.setdefault(short, long)
    return {**out, **STANDARD}


def file_state(path: Path, info: dict) -> str:
    """Empty when ``path`` is the file the index read (same size and time, or same hash), else
    "was removed" or "has changed"."""
    try:
        st = path.stat()
    except OSError:
        return "was removed"
    if st.st_size == info.get("size") and st.st_mtime_ns == info.get("mtime_ns"):
        return ""
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return "was removed"
    return "" if digest == info.get("sha256") else "has changed"


class EmptyIndex:
    """What an empty corpus serves: no chunks, and the reason (unreadable files, if any)."""

    def __init__(self, reason: str = "", problems: dict | None = None):
        self.reason = reason
        self.manifest: dict = {
            "documents": {},
            "corpus": {},
            "problems": dict(problems or {}),
            "duplicates": {},
        }
        self.chunks: list = []
        self.by_id: dict = {}


class Serving(NamedTuple):
    """Everything a question is answered from, for one build of the index: swapped in one
    assignment, so a question in flight keeps the build it started with."""

    index: Index
    retriever: Retriever
    reranker: Reranker
    stats: CorpusStats
    composer: Composer
    abbreviations: dict  # the standard ones of reporting and those the documents define


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
    text = normalise(text)  # full-width letters, ligatures; zero-width and bidi characters dropped
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
        self._build_lock = threading.Lock()
        self._serving: Serving | None = None  # what questions are answered from, replaced at once
        self._signature = None  # the corpus folder and installed build the served index reflects
        self._checked = 0.0
        self._refreshing: threading.Thread | None = None
        self.load_count = 0
        self.generation = 0  # how many times the served index was replaced
        self._generators: dict = {}  # name -> rag.generate Generator, made on first use
        self._milvus = None  # rag.index.milvus.MilvusStore when settings.store is milvus
        self._answer_slots: threading.BoundedSemaphore | None = None  # see limit_answers

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
                s.model,
                s.encoder,
                s.models_dir(),
                cache_size=s.cache_size,
                precision=s.encoder_precision,
            )
        return self._embedder

    def store(self, on_progress=None) -> IndexStore:
        """The index store of these settings; ``on_progress(done, total)`` hears a build's
        progress in texts embedded, batch by batch."""
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
            read_limit=(s.read_seconds, s.read_seconds_per_page),
            # the answer model is not index content: switching it (or any query-time setting)
            # serves the same build, never rebuilds it
            on_progress=on_progress,
            mmap_dense=s.store == "milvus",  # Milvus searches; FAISS only gives a few vectors
            **kwargs,
        )

    def milvus(self, dimension: int):
        """The Milvus store of this corpus (``store=milvus``), connected once."""
        from rag.index.milvus import MilvusStore, collection_name

        s = self.settings
        store = self._milvus
        if store is None or store.dimension != dimension:
            token = s.milvus_token.get_secret_value() if s.milvus_token else None
            store = MilvusStore(s.milvus_target(), collection_name(s.index_dir()), dimension, token)
            self._milvus = store
        return store

    def warm_up(self) -> Chatbot:
        if self._index is not None:
            return self
        with self._lock:
            if self._index is None:
                apply_offline_env()
                signature = self.corpus_signature()
                store = self.store()
                try:
                    index = store.load_or_build()
                except EmptyCorpusError as exc:  # a valid state: nothing to answer from yet
                    index = EmptyIndex(str(exc), getattr(store.last_scan, "problems", None))
                self._signature = signature
                self._checked = time.monotonic()
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
        if isinstance(index, EmptyIndex):
            self._serving = None
            self._index, self._retriever, self._composer, self._stats = index, None, None, None
            return
        s, a = self.settings, self.settings.answer
        stats = CorpusStats(index, self.embedder, a.ubiquitous_share)
        store = None
        if s.store == "milvus":
            # the collection follows the build: documents it lacks are written from the build's
            # vectors (nothing is embedded again), documents the build dropped are deleted
            store = self.milvus(index.dimension)
            store.sync(index, log=_stderr)
        retriever = Retriever(index, s.rrf_k, ef_search=s.ef_search, nprobe=s.nprobe, store=store)
        reranker = Reranker(
            index, stats, a.rerank_token_weight, a.rerank_lexical, a.lexical_cap, a.title_bonus
        )
        self.embedder.cache.pin(index.vocab, index.vocab_vectors)
        composer = Composer(index, stats, a, s.abstain_threshold, self.answer_model, self.embedder)
        # one assignment: a question in flight keeps the build it started with
        self._serving = Serving(
            index, retriever, reranker, stats, composer, corpus_abbreviations(index)
        )
        self._index, self._retriever, self._composer = index, retriever, composer
        self._stats = stats

    @property
    def index(self) -> Index:
        return self.warm_up()._index

    def reindex(self, progress: bool | None = None) -> Index:
        """Build the index anew (``rag index``) and use it."""
        with self._build_lock:
            signature = self.corpus_signature()
            index = self.store().build(progress=progress)
            with self._lock:
                self._use(index)
                self._signature = signature
                self.generation += 1
        return index

    # ---- following the corpus folder ------------------------------------------------------------

    def corpus_signature(self) -> tuple:
        """Names, sizes, modification times of the corpus files and the installed build: cheap
        (no file is read), and different after any add, remove, edit or concurrent build."""
        from rag.documents import document_paths

        root = self.settings.corpus_dir
        entries = []
        try:
            files = document_paths(root)
        except OSError:
            files = []
        for path in files:
            try:
                st = path.stat()
                entries.append((str(path), st.st_size, st.st_mtime_ns, st.st_ino))
            except OSError:
                entries.append((str(path), None))
        current = self.settings.index_dir() / "current"
        try:
            link = os.readlink(current)
        except OSError:
            link = None
        return (tuple(entries), link)

    def refresh(self, wait: bool = False, force: bool = False, on_progress=None) -> bool:
        """Bring the served index up to date with the corpus folder. Returns whether it changed
        (``wait``) or a refresh was started in the background (not ``wait``). With ``wait``,
        ``on_progress(done, total)`` hears the build's progress (texts embedded)."""
        if self._index is None:
            self.warm_up()
            return True
        signature = self.corpus_signature()
        if signature == self._signature and not force:
            return False
        if wait:
            return self._rebuild(signature, on_progress)
        if self._refreshing is None or not self._refreshing.is_alive():
            self._refreshing = threading.Thread(
                target=self._rebuild, args=(signature,), name="rag-refresh", daemon=True
            )
            self._refreshing.start()
        return True

    def _rebuild(self, signature, on_progress=None) -> bool:
        with self._build_lock:
            if signature == self._signature:
                return False
            store = self.store(on_progress)
            try:
                index = store.load_or_build()
            except EmptyCorpusError as exc:  # the last document went: serve "no documents"
                index = EmptyIndex(str(exc), getattr(store.last_scan, "problems", None))
            except Exception as exc:  # noqa: BLE001 - keep serving the index we have
                (self._notify or _stderr)(f"could not refresh the index: {exc}")
                return False
            with self._lock:
                was = self._index.manifest
                changed = (index.manifest.get("files"), index.manifest.get("created")) != (
                    was.get("files"),
                    was.get("created"),
                )
                self._use(index)
                # the link as it is after the build, so our own install is not seen as a change
                self._signature = (signature[0], self.corpus_signature()[1])
                self.generation += changed
            return True

    def _maybe_refresh(self) -> None:
        wait = self.settings.watch_seconds
        if wait <= 0 or time.monotonic() - self._checked < wait:
            return
        self._checked = time.monotonic()
        try:
            self.refresh(wait=False)
        except Exception as exc:  # noqa: BLE001 - a refresh must never fail a question
            (self._notify or _stderr)(f"could not check the corpus folder: {exc}")

    def documents(self) -> dict:
        """What the served index holds of each document (``manifest["documents"]``)."""
        return dict(self.index.manifest.get("documents", {}))

    def _annotate(self, answer: Answer, index: Index) -> None:
        """The documents the answer quotes (``Answer.documents``, with their records), page
        numbers for citations and passages of paged documents, a notice for every cited file that
        changed or went away since it was indexed, one when a cited passage holds text that reads
        as instructions to an AI assistant, and one for a word that mixes scripts (a Cyrillic
        letter in a Latin name)."""
        docs = index.manifest.get("documents", {})
        for p in answer.passages:
            pages = (docs.get(p.chunk.doc_id) or {}).get("pages") or []
            if pages and hasattr(p, "page"):
                p.page = page_of(pages, p.chunk.char_start)
                p.page_end = page_of(pages, max(p.chunk.char_start, p.chunk.char_end - 1))
        seen: set[str] = set()
        answer.documents = [
            {
                "document": d,
                **{
                    f: (docs.get(d) or {}).get(f, "") for f in ("title", "entity", "period", "type")
                },
            }
            for d in dict.fromkeys(c.document for c in answer.citations)
        ]
        quoted = []  # cited text that reads as instructions to an AI assistant
        for c in answer.citations:
            ci = index.by_id.get(c.chunk_id)
            if ci is not None:
                quoted += [
                    (c.document, u.text)
                    for u in index.chunks[ci].units
                    if getattr(u, "instruction", False)
                ]
            info = docs.get(c.document) or {}
            pages = info.get("pages") or []
            if pages:
                c.page = page_of(pages, c.char_start)
                c.page_end = page_of(pages, max(c.char_start, c.char_end - 1))
            if c.document in seen or not info:
                continue
            seen.add(c.document)
            state = file_state(self.settings.corpus_dir / c.document, info)
            if state:
                c.changed = state
                answer.notices.append(
                    f"{c.document} {state} since it was indexed: the quote is from the indexed "
                    "version, and the index is being refreshed."
                )
        notice = instruction_notice(quoted)
        if notice and not any(n.startswith(notice[:60]) for n in answer.notices):
            answer.notices.append(notice)
        mixed = mixed_script_words(" ".join([answer.text, *(c.quote for c in answer.citations)]))
        if mixed:
            answer.notices.append(
                "Mixed scripts: the sources spell "
                + ", ".join(describe_mixed(w) for w in mixed[:3])
                + ", so it only looks like the Latin name."
            )

    def _no_documents(self, question: str, mode: str, k: int, notices: list, t0: float) -> Answer:
        """The answer of an empty corpus: abstained, saying so and how to add documents."""
        why = getattr(self._index, "reason", "")
        return Answer(
            question=question,
            rewritten_query=question,
            text="There are no documents to answer from yet.",
            citations=[],
            abstained=True,
            reason="the corpus folder holds no readable document: add one (the Documents panel, "
            "or `rag add FILE`)" + (f"; {why}" if why and "no non-empty" not in why else ""),
            score=0.0,
            threshold=self.settings.abstain_threshold,
            mode=mode,
            k=k,
            notices=list(notices),
            timings_ms={"total": (time.perf_counter() - t0) * 1000},
        )

    def limit_answers(self, slots: int | None) -> None:
        """Compose at most ``slots`` answers at once (None: no limit). Only the extractive stage
        holds a slot: an answer waiting on the LLM endpoint has given its slot back (the
        generator has slots of its own, ``llm_concurrency``), so stalled generations never keep
        another user's extractive answer waiting. The chat server sets this."""
        self._answer_slots = threading.BoundedSemaphore(slots) if slots else None

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
        self,
        query: str,
        k: int,
        mode: str,
        serving: Serving | None = None,
        filters: Filters | None = None,
    ) -> tuple[list[Passage], np.ndarray, np.ndarray | None, dict]:
        """Passages for a standalone query, the focused query vector units are compared with, and
        timings. Hybrid mode fuses dense and BM25 candidates by RRF, then reranks them by their
        best sentence (``Reranker``)."""
        t0 = time.perf_counter()
        serving = serving or self._serving
        index = serving.index
        focus = serving.stats.focus(query)
        texts = [focus] if focus == query else [focus, query]
        vectors = self.embedder.embed(texts)
        fvec, qvec = vectors[0], vectors[-1]
        # the focused query's token vectors (the encoder keeps them from the pass just made)
        q_tokens = self.embedder.embed_tokens([focus])[0] if index.has_tokens else None
        t1 = time.perf_counter()
        # a question naming a document's subject, with no filter of the user's: its documents
        about = self._about(query, serving) if filters is None or filters.empty else None
        for chosen in [about, filters] if about is not None else [filters]:
            if mode == "hybrid":
                pool = serving.retriever.retrieve(
                    query, qvec, max(k, self.settings.answer.rerank_pool), mode, chosen
                )
                passages = serving.reranker.run(query, pool, fvec, k, q_tokens)
            else:
                passages = serving.retriever.retrieve(query, qvec, k, mode, chosen)
            if passages:
                break
        t2 = time.perf_counter()
        timings = {"embed": (t1 - t0) * 1000, "retrieve": (t2 - t1) * 1000}
        return passages, fvec, q_tokens, timings

    @staticmethod
    def _about(query: str, serving: Serving):
        """The documents a query naming a document's subject is answered from (``CorpusStats.
        subject_documents``): a one-line note that never mentions "SenseTime" takes no part in
        answering a question about SenseTime, so it moves none of its answers. None: all."""
        from rag.filters import Filters
        from rag.lexical import terms

        about = serving.stats.subject_documents(set(terms(query)))
        if not about or len(about) >= len(serving.stats.doc_terms):
            return None
        return Filters.make(documents=about)

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
        what the question asks for (with the served index's abbreviations once it is loaded)."""
        return self._analyse(question, self._clean_history(history))

    def _analyse(
        self, question: str, earlier: list[str], serving: Serving | None = None
    ) -> QuestionAnalysis:
        resolved = resolve(question, earlier)
        serving = serving or self._serving
        known = serving.abbreviations if serving is not None else None
        return analyse(question, resolved.query, resolved.understood_as, known)

    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: str | None = None,
        filters: Filters | list[str] | str | None = None,
    ) -> list[Passage]:
        s = self.settings
        question, _ = clean_question(question, s.max_question_chars, s.max_input_chars)
        self.warm_up()
        mode = check_mode(mode or self.settings.mode)
        if self._serving is None:
            return []
        chosen = self.check_filters(filters, self._serving.index)
        return self._search(question, k or self.settings.k, mode, filters=chosen)[0]

    # ---- which documents a question is answered from --------------------------------------------

    @staticmethod
    def check_filters(filters, index: Index) -> Filters | None:
        """``filters`` as a ``Filters`` value (a document name or a list of them is a filter by
        document), checked against the index: a document it does not hold is an error that names
        the ones it does."""
        if filters is None:
            return None
        if isinstance(filters, (str, list, tuple, set, frozenset)):
            filters = Filters.make(documents=filters)
        if not isinstance(filters, Filters):
            raise ValueError(
                f"filters must be a Filters value or document names, not {type(filters).__name__}"
            )
        if filters.empty:
            return None
        known = {d.casefold(): d for d in index.manifest.get("documents", {})}
        unknown = sorted(d for d in filters.documents if d not in known)
        if unknown:
            names = ", ".join(sorted(known.values())[:20]) or "none"
            raise ValueError(
                f"no document called {', '.join(repr(u) for u in unknown)} is indexed: use one "
                f"of {names} (rag docs lists them)"
            )
        return filters

    def scope(
        self, query: str, filters: Filters | None, index: Index
    ) -> tuple[Filters | None, str]:
        """The filter a question is answered under, and why: the caller's, else the documents
        the question names by entity and period (``rag.records.match_documents``), else none."""
        if filters is not None:
            return filters, "the documents asked for"
        records = index.manifest.get("documents", {})
        if len(records) < 2:
            return None, ""
        docs, why = match_documents(query, records)
        if not docs:
            return None, ""
        return Filters.make(documents=docs), why

    def ask(
        self,
        question: str,
        history: list | None = None,
        k: int | None = None,
        mode: str | None = None,
        *,
        generator: str | None = None,
        on_token=None,
        filters: Filters | list[str] | str | None = None,
    ) -> Answer:
        """Answer ``question``. ``generator`` picks "extractive" or "llm" (default: "llm" when an
        endpoint is configured); ``on_token(text)`` receives the LLM's reply as it streams.
        ``filters`` (a ``Filters`` value, or document names) limits the documents it is answered
        from; without it, a question that names a document's entity or period is answered from
        that document."""
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
        self._maybe_refresh()
        serving = self._serving
        if serving is None:  # an empty corpus
            return self._no_documents(question, mode, k, notices, t0)
        index = serving.index
        chosen = self.check_filters(filters, index)
        slots = self._answer_slots
        if slots is not None:
            slots.acquire()
        try:
            t_load = time.perf_counter()
            analysis = self._analyse(question, earlier, serving)
            chosen, why = self.scope(analysis.query, chosen, index)
            t_rewrite = time.perf_counter()
            passages, fvec, q_tokens, timings = self._search(
                analysis.query, k, mode, serving, chosen
            )
            t_compose = time.perf_counter()
            answer = serving.composer.compose(
                analysis, fvec, passages, mode=mode, k=k, q_tokens=q_tokens
            )
        finally:
            if slots is not None:
                slots.release()
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

            sources = [] if answer.abstained else sources_for(answer, index)
            answer = gen.run(answer, sources, on_token=on_token)
            t_end = time.perf_counter()
        self._annotate(answer, index)  # pages, and files changed since they were indexed
        if chosen is not None:
            answer.scope = {**chosen.to_dict(), "reason": why}
        answer.timings_ms["total"] = (t_end - t0) * 1000
        return answer
