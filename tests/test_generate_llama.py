"""Opt-in: the generation flow against a real llama.cpp server (or any OpenAI-compatible one).

    RAG_LLAMA_URL=http://127.0.0.1:8080/v1 python -m pytest -q -m llama tests/test_generate_llama.py

Skipped when ``RAG_LLAMA_URL`` is unset or nothing answers there (README: how to build one here).
"""

from __future__ import annotations

import os

import httpx
import pytest
from test_generate import QUESTION, UNANSWERABLE

from rag.chatbot import Chatbot
from rag.generate.grounding import citations_of, split_sentences
from rag.settings import Settings

URL = os.environ.get("RAG_LLAMA_URL")
pytestmark = [pytest.mark.llama, pytest.mark.slow]


@pytest.fixture(scope="module")
def llama_bot(real_bot, real_data_dir):
    if not URL:
        pytest.skip("set RAG_LLAMA_URL to a llama.cpp server's /v1 URL to run this")
    try:
        httpx.get(URL.rstrip("/") + "/models", timeout=5, trust_env=False)
    except httpx.HTTPError as exc:
        pytest.skip(f"no server at {URL}: {type(exc).__name__}")
    bot = Chatbot(
        Settings.make(data_dir=real_data_dir, llm_url=URL, llm_model="local", llm_timeout=300),
        embedder=real_bot.embedder,
    )
    bot._use(real_bot.index)
    return bot


@pytest.mark.parametrize("stream", [False, True])
def test_real_llm_answer_is_checked(llama_bot, real_bot, stream):
    tokens: list[str] = []
    answer = llama_bot.ask(QUESTION, on_token=tokens.append if stream else None)
    assert answer.generator in ("llm", "extractive")
    if answer.fallback_reason and not answer.checked_sentences:
        pytest.fail(f"the server failed: {answer.fallback_reason}")
    assert answer.checked_sentences and all(c.reason for c in answer.checked_sentences)
    if answer.generator == "llm":
        shown = split_sentences(answer.text)
        kept = [c for c in answer.checked_sentences if c.supported]
        assert len(shown) == len(kept)
        assert all(citations_of(p.text) for p in shown)
        assert {c.number for c in answer.citations} == set(range(1, len(answer.citations) + 1))
    else:
        assert answer.text == real_bot.ask(QUESTION).text and answer.fallback_reason
    if stream:
        assert tokens


def test_unanswerable_stays_extractive(llama_bot, real_bot):
    answer = llama_bot.ask(UNANSWERABLE)
    assert answer.abstained and answer.generator == "extractive" and not answer.checked_sentences
