"""The ``openai_compat`` generator: the user's OpenAI-compatible chat endpoint (Ollama, vLLM,
llama.cpp's server, LM Studio, hosted APIs), called with ``httpx``, its answer checked sentence by
sentence (``rag.generate.grounding``) before anything is shown.

``ChatClient`` does the HTTP: ``POST {llm_url}/chat/completions``, streamed (server-sent events)
when a token callback is given, with a connect timeout of 5 s, a reply timeout of ``timeout`` seconds
and one retry on a connection error, a timeout, HTTP 429 or 5xx (a stream is retried only before
its first token). The API key goes in the ``Authorization`` header and nowhere else: no message,
log line or result holds it.

``OpenAICompatGenerator.run`` never raises for an endpoint's failure: it falls back to the
extractive answer with a one-line note and the reason (``rag.generate.result``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass

import httpx

from rag.answer_types import Answer
from rag.generate.base import GenerationError, OnToken, Source
from rag.generate.grounding import GroundingChecker
from rag.generate.prompt import build_messages, request_params
from rag.generate.result import checked_answer, fallback

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
RETRIES = 1


@dataclass
class Completion:
    text: str
    latency_ms: float
    attempts: int
    streamed: bool


class ChatClient:
    """One OpenAI-compatible chat-completions endpoint. Cheap to build; the connection pool is
    made on first use and shared by threads (``httpx.Client`` is thread-safe)."""

    def __init__(self, base_url: str, model: str, api_key=None, timeout: float = 60.0):
        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"llm_url={base_url!r} is not an http(s) URL")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.timeout = float(timeout)
        self._key = api_key  # a pydantic SecretStr (or None); revealed only into the header
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ChatClient(url={self.url!r}, model={self.model!r}, timeout={self.timeout})"

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
                        timeout=httpx.Timeout(
                            self.timeout, connect=min(CONNECT_TIMEOUT, self.timeout)
                        ),
                        follow_redirects=False,
                        trust_env=False,
                    )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def complete(self, messages: list[dict], on_token: OnToken | None = None) -> Completion:
        """The reply's text; raises ``GenerationError`` with a readable reason."""
        body = {"model": self.model, "messages": messages, **request_params()}
        t0 = time.perf_counter()
        attempt = 0
        while True:
            attempt += 1
            sent = [False]
            try:
                if on_token is None:
                    text = self._once(body)
                else:
                    text = self._stream(body, on_token, sent)
                return Completion(
                    text, (time.perf_counter() - t0) * 1000, attempt, on_token is not None
                )
            except _Retryable as exc:
                if attempt > RETRIES or sent[0]:
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

    def _once(self, body: dict) -> str:
        try:
            r = self.client.post(self.url, json={**body, "stream": False})
        except httpx.TimeoutException:
            raise _Retryable(f"the LLM endpoint did not answer within {self.timeout:g} s") from None
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
        return content

    def _stream(self, body: dict, on_token: OnToken, sent: list[bool]) -> str:
        parts: list[str] = []
        deadline = time.monotonic() + self.timeout
        done = finished = False
        try:
            with self.client.stream("POST", self.url, json={**body, "stream": True}) as r:
                if r.status_code != 200:
                    r.read()
                    raise self._post_error(r)
                for line in r.iter_lines():
                    if time.monotonic() > deadline:
                        raise _Retryable(
                            f"the LLM endpoint did not finish within {self.timeout:g} s"
                        )
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
                        parts.append(delta)
                        sent[0] = True
                        on_token(delta)
        except httpx.TimeoutException:
            raise _Retryable(f"the LLM endpoint did not answer within {self.timeout:g} s") from None
        except httpx.TransportError as exc:
            if isinstance(exc, httpx.ConnectError):
                raise _Retryable(
                    f"the LLM endpoint is unreachable ({type(exc).__name__})"
                ) from None
            raise _Retryable(f"the LLM stream broke off ({type(exc).__name__})") from None
        if not (done or finished):
            raise GenerationError("the LLM's stream ended before its end marker (malformed stream)")
        text = "".join(parts)
        if not text.strip():
            raise GenerationError("the LLM's reply was empty")
        return text


class _Retryable(Exception):
    """A failure worth one more try (connection, timeout, 429, 5xx)."""


class OpenAICompatGenerator:
    """The user's LLM over the selected passages; only sentences that pass the check are shown."""

    name = "llm"

    def __init__(self, client: ChatClient, checker: GroundingChecker, stream: bool = True):
        self.client = client
        self.checker = checker
        self.stream = stream  # stream even without a listener, to check while the LLM writes

    def run(self, answer: Answer, sources: list[Source], on_token: OnToken | None = None) -> Answer:
        if answer.abstained or not sources:
            answer.generator = "extractive"  # answerability is decided before generation
            return answer
        messages = build_messages(answer.rewritten_query or answer.question, sources)
        t_call = time.perf_counter()
        prefetch_ms = [0.0]
        tap = None
        if on_token is not None or self.stream:
            draft: list[str] = []

            def tap(token: str) -> None:
                """Pass the token on; when a sentence may have ended, embed the finished ones
                while the LLM writes the rest (the check then finds them cached)."""
                if on_token is not None:
                    on_token(token)
                draft.append(token)
                if re.search(r"[.!?\]\n]", token):
                    t = time.perf_counter()
                    self.checker.prefetch("".join(draft))
                    prefetch_ms[0] += (time.perf_counter() - t) * 1000

        try:
            completion = self.client.complete(messages, tap)
        except GenerationError as exc:
            answer.timings_ms["generate"] = (time.perf_counter() - t_call) * 1000
            return fallback(answer, str(exc), [])
        t0 = time.perf_counter()
        checks = self.checker.check(completion.text, sources)
        answer.timings_ms["generate"] = completion.latency_ms - prefetch_ms[0]
        answer.timings_ms["check"] = (time.perf_counter() - t0) * 1000
        if tap is not None:  # checking work done while the reply streamed
            answer.timings_ms["check_during_stream"] = prefetch_ms[0]
        return checked_answer(answer, sources, checks)
