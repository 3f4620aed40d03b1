"""The ``openai_compat`` generator: the user's OpenAI-compatible chat endpoint (Ollama, vLLM,
llama.cpp's server, LM Studio, hosted APIs), called with ``httpx``, its answer checked sentence by
sentence (``rag.generate.grounding``) before anything is shown.

``ChatClient`` does the HTTP: ``POST {llm_url}/chat/completions``, streamed (server-sent events)
when a token callback is given, with a connect timeout of 5 s and one retry on a connection error,
a timeout, HTTP 429 or 5xx (a stream is retried only before its first token). Time is bounded
twice: ``timeout`` seconds is the deadline of the whole call, retry included (the caller gets its
answer then, whatever the endpoint does: the request runs on a worker thread that is told to stop),
and ``idle`` seconds (at most half of ``timeout``, so a try that hears nothing leaves time for the
retry) is the longest wait for the next bytes, and between two finished stream events (a stream
that drips bytes without ever finishing a line is cut). A reply longer than
``max_chars`` is cut there (``Completion.cut``). The API key goes in the ``Authorization`` header
and nowhere else: no message, log line or result holds it.

``OpenAICompatGenerator.run`` never raises for an endpoint's failure: it falls back to the
extractive answer with a one-line note and the reason (``rag.generate.result``). At most
``slots`` answers wait on the endpoint at once; another waits for a free one until its deadline,
and the extractive part of every answer runs before, holding none (so stalled generations never
delay anyone's extractive answer).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass

import httpx

from rag.answer_types import Answer
from rag.generate.base import GenerationError, OnToken, Source
from rag.generate.grounding import GroundingChecker
from rag.generate.prompt import build_messages, request_params
from rag.generate.result import checked_answer, fallback
from rag.instructions import instruction_notice

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
RETRIES = 1
MAX_LINE = 2**20  # bytes of one stream line: a longer one is not an event


@dataclass
class Completion:
    text: str
    latency_ms: float
    attempts: int
    streamed: bool
    cut: bool = False  # the reply was longer than max_chars and is cut there


class _Stopped(Exception):
    """The caller's deadline passed: the worker stops reading."""


class ChatClient:
    """One OpenAI-compatible chat-completions endpoint. Cheap to build; the connection pool is
    made on first use and shared by threads (``httpx.Client`` is thread-safe)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key=None,
        timeout: float = 60.0,
        idle: float | None = None,
        max_chars: int = 20_000,
    ):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"llm_url={base_url!r} is not an http(s) URL")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = float(timeout)
        # at most half the deadline, so a silent first try leaves time for the retry
        self.idle = min(float(idle or self.timeout), self.timeout / 2)
        self.max_chars = int(max_chars)
        self._key = api_key  # a pydantic SecretStr (or None); revealed only into the header
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"ChatClient(url={self.url!r}, model={self.model!r}, timeout={self.timeout}, "
            f"idle={self.idle})"
        )

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    headers = {"Accept": "application/json"}
                    if self._key is not None:
                        secret = getattr(self._key, "get_secret_value", lambda: str(self._key))()
                        if secret:
                            headers["Authorization"] = f"Bearer {secret}"
                    self._client = httpx.Client(
                        headers=headers,
                        timeout=httpx.Timeout(self.idle, connect=min(CONNECT_TIMEOUT, self.idle)),
                        follow_redirects=False,
                        trust_env=False,
                    )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def complete(
        self, messages: list[dict], on_token: OnToken | None = None, deadline: float | None = None
    ) -> Completion:
        """The reply's text by ``deadline`` (``time.monotonic()``; default: ``timeout`` from now);
        raises ``GenerationError`` with a readable reason. The HTTP exchange runs on a worker
        thread, so the caller returns at the deadline even when the endpoint never answers."""
        t0 = time.perf_counter()
        deadline = deadline if deadline is not None else time.monotonic() + self.timeout
        done = threading.Event()
        stop = threading.Event()
        out: dict = {}

        def work() -> None:
            try:
                out["completion"] = self._attempts(messages, on_token, deadline, stop, t0)
            except BaseException as exc:  # handed to the caller
                out["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, daemon=True, name="llm-request").start()
        if not done.wait(max(0.0, deadline - time.monotonic())):
            stop.set()  # the worker drops what still arrives and stops at its next read
            raise GenerationError(self._late())
        if "error" in out:
            error = out["error"]
            if isinstance(error, GenerationError):
                raise GenerationError(str(error)) from None
            raise error
        return out["completion"]

    def _late(self) -> str:
        return f"the LLM endpoint did not finish within {self.timeout:g} s (llm_timeout)"

    def _attempts(self, messages, on_token, deadline, stop, t0) -> Completion:
        body = {"model": self.model, "messages": messages, **request_params()}
        attempt = 0
        while True:
            attempt += 1
            sent = [False]
            try:
                if on_token is None:
                    text, cut = self._once(body, deadline)
                else:
                    text, cut = self._stream(body, on_token, sent, deadline, stop)
                return Completion(
                    text, (time.perf_counter() - t0) * 1000, attempt, on_token is not None, cut
                )
            except _Stopped:
                raise GenerationError(self._late()) from None
            except _Retryable as exc:
                if attempt > RETRIES or sent[0] or time.monotonic() >= deadline:
                    raise GenerationError(str(exc)) from None
                log.info("LLM call failed (%s); retrying once", exc)

    def _post_error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        reason = f"the LLM endpoint answered HTTP {status}"
        if status == 404:
            return GenerationError(
                f"{reason}: check --llm-url (the base URL, ending in /v1) and --llm-model"
            )
        if status in (401, 403):
            return GenerationError(f"{reason}: check RAG_LLM_API_KEY")
        if status == 429 or status >= 500:
            return _Retryable(reason)
        return GenerationError(reason)

    def _silent(self) -> str:
        return f"the LLM endpoint sent nothing for {self.idle:g} s (llm_idle_timeout)"

    def _timeout(self, deadline: float) -> httpx.Timeout:
        """Per request: reads wait at most ``idle``, and never past the deadline."""
        left = max(0.05, deadline - time.monotonic())
        wait = min(self.idle, left)
        return httpx.Timeout(wait, connect=min(CONNECT_TIMEOUT, wait))

    def _once(self, body: dict, deadline: float) -> tuple[str, bool]:
        try:
            r = self.client.post(
                self.url, json={**body, "stream": False}, timeout=self._timeout(deadline)
            )
        except httpx.TimeoutException:
            raise _Retryable(self._silent()) from None
        except httpx.TransportError as exc:
            raise _Retryable(f"the LLM endpoint is unreachable ({type(exc).__name__})") from None
        if r.status_code != 200:
            raise self._post_error(r)
        try:
            data = r.json()
            content = data["choices"][0]["message"]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise GenerationError(
                "the LLM's reply is not a chat completion (garbled JSON)"
            ) from None
        if not isinstance(content, str) or not content.strip():
            raise GenerationError("the LLM's reply was empty")
        cut = len(content) > self.max_chars
        return (content[: self.max_chars] if cut else content), cut

    def _stream(
        self, body: dict, on_token: OnToken, sent: list[bool], deadline: float, stop
    ) -> tuple[str, bool]:
        parts: list[str] = []
        length = 0
        done = finished = cut = False
        try:
            with self.client.stream(
                "POST", self.url, json={**body, "stream": True}, timeout=self._timeout(deadline)
            ) as r:
                if r.status_code != 200:
                    r.read()
                    raise self._post_error(r)
                for line in self._lines(r, deadline, stop):
                    line = line.strip()
                    if not line or line.startswith(":"):
                        continue
                    if not line.startswith("data:"):
                        if line.startswith(("event:", "id:", "retry:")):
                            continue
                        raise GenerationError(
                            "the LLM's stream is malformed (a line is not an event)"
                        )
                    data = line[5:].strip()
                    if data == "[DONE]":
                        done = True
                        break
                    try:
                        event = json.loads(data)
                        choice = (event.get("choices") or [{}])[0]
                        delta = (choice.get("delta") or {}).get("content") or ""
                    except (ValueError, AttributeError, TypeError):
                        raise GenerationError(
                            "the LLM's stream is malformed (an event is not JSON)"
                        ) from None
                    if not isinstance(delta, str):
                        raise GenerationError("the LLM's stream is malformed (content is not text)")
                    if choice.get("finish_reason"):
                        finished = True
                    if delta:
                        if length + len(delta) > self.max_chars:
                            delta, cut = delta[: self.max_chars - length], True
                        parts.append(delta)
                        length += len(delta)
                        sent[0] = True
                        if stop.is_set():
                            raise _Stopped
                        if delta:
                            on_token(delta)
                        if cut:
                            break
        except httpx.TimeoutException:
            raise _Retryable(self._silent()) from None
        except httpx.TransportError as exc:
            if stop.is_set():
                raise _Stopped from None
            if isinstance(exc, httpx.ConnectError):
                raise _Retryable(
                    f"the LLM endpoint is unreachable ({type(exc).__name__})"
                ) from None
            raise _Retryable(f"the LLM stream broke off ({type(exc).__name__})") from None
        if not (done or finished or cut):
            raise GenerationError("the LLM's stream ended before its end marker (malformed stream)")
        text = "".join(parts)
        if not text.strip():
            raise GenerationError("the LLM's reply was empty")
        return text, cut

    def _lines(self, response: httpx.Response, deadline: float, stop):
        """The stream's lines as they finish. Checked at every chunk of bytes, not every line: a
        stream that drips bytes without ending a line still meets the deadline, and one whose
        bytes come but no line ends for ``idle`` seconds is cut."""
        buffer = b""
        last = time.monotonic()
        for chunk in response.iter_bytes():
            now = time.monotonic()
            if stop.is_set() or now >= deadline:
                raise _Stopped
            buffer += chunk
            if b"\n" not in chunk:
                if now - last > self.idle:
                    raise _Retryable(
                        f"the LLM stream sent no complete event for {self.idle:g} s "
                        "(llm_idle_timeout)"
                    )
                if len(buffer) > MAX_LINE:
                    raise GenerationError("the LLM's stream is malformed (a line is too long)")
                continue
            *lines, buffer = buffer.split(b"\n")
            last = now
            for line in lines:
                yield line.decode("utf-8", "replace")
        if buffer.strip():
            yield buffer.decode("utf-8", "replace")


class _Retryable(Exception):
    """A failure worth one more try (connection, timeout, 429, 5xx)."""


class OpenAICompatGenerator:
    """The user's LLM over the selected passages; only sentences that pass the check are shown."""

    name = "llm"

    def __init__(
        self, client: ChatClient, checker: GroundingChecker, stream: bool = True, slots: int = 4
    ):
        if slots < 1:
            raise ValueError(f"llm_concurrency={slots} must be at least 1")
        self.client = client
        self.checker = checker
        self.stream = stream  # stream even without a listener, to check while the LLM writes
        self.slots = slots
        self._slots = threading.BoundedSemaphore(slots)  # answers waiting on the endpoint

    def run(self, answer: Answer, sources: list[Source], on_token: OnToken | None = None) -> Answer:
        if answer.abstained or not sources:
            answer.generator = "extractive"  # answerability is decided before generation
            return answer
        messages = build_messages(answer.rewritten_query or answer.question, sources)
        t_call = time.perf_counter()
        prefetch_ms = [0.0]
        tap = None
        if on_token is not None or self.stream:
            prefetcher = self.checker.prefetcher()

            def tap(token: str) -> None:
                """Pass the token on; embed each sentence once it is finished, while the LLM
                writes the rest (the check then finds it cached)."""
                if on_token is not None:
                    on_token(token)
                t = time.perf_counter()
                prefetcher.feed(token)
                prefetch_ms[0] += (time.perf_counter() - t) * 1000

        deadline = time.monotonic() + self.client.timeout  # the whole generation, wait included
        if not self._slots.acquire(timeout=self.client.timeout):
            answer.timings_ms["generate"] = (time.perf_counter() - t_call) * 1000
            return fallback(
                answer,
                f"the LLM endpoint was busy with {self.slots} other answer(s) for "
                f"{self.client.timeout:g} s (llm_concurrency, llm_timeout)",
                [],
            )
        try:
            completion = self.client.complete(messages, tap, deadline=deadline)
        except GenerationError as exc:
            answer.timings_ms["generate"] = (time.perf_counter() - t_call) * 1000
            return fallback(answer, str(exc), [])
        finally:
            self._slots.release()
        t0 = time.perf_counter()
        checks = self.checker.check(completion.text, sources)
        answer.timings_ms["generate"] = completion.latency_ms - prefetch_ms[0]
        answer.timings_ms["check"] = (time.perf_counter() - t0) * 1000
        if tap is not None:  # checking work done while the reply streamed
            answer.timings_ms["check_during_stream"] = prefetch_ms[0]
        answer = checked_answer(answer, sources, checks)
        notice = instruction_notice(
            [(s.citation.document, u.text) for s in sources for u in s.instructions]
        )
        if notice and notice not in answer.notices:
            answer.notices = [*answer.notices, notice]
        if completion.cut:
            answer.notices = [
                *answer.notices,
                f"The LLM's reply was cut at {self.client.max_chars:,} characters "
                "(llm_max_reply_chars); the rest was not read or checked.",
            ]
        return answer
