"""LLM mode under faults, against the scripted endpoint (bench/llm_server.py) on 127.0.0.1: a
stream that drips bytes without finishing a line, an endpoint that sends headers and then nothing,
and a reply far longer than an answer. Each ends within its stated time with a message that says
what happened; the check is linear in the reply and the reply is capped with a notice; and under
four stalled generations a real Gradio server answers another user's extractive question at once.
A tiny corpus and a hash embedder: the real model is not the point here."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from bench.llm_server import ScriptedLLM, first_sentence
from rag.generate.base import GenerationError
from rag.generate.openai_compat import ChatClient
from tests.conftest import TINY_DOC, hash_bot

pytestmark = pytest.mark.slow  # real HTTP servers

MESSAGES = [{"role": "user", "content": "Who founded Acme?"}]


def timed(client: ChatClient, stream: bool = True):
    t0 = time.monotonic()
    try:
        client.complete(MESSAGES, (lambda _t: None) if stream else None)
    except GenerationError as exc:
        return time.monotonic() - t0, str(exc)
    return time.monotonic() - t0, None


def test_a_dripping_stream_ends_at_the_deadline():
    with ScriptedLLM([{"drip": 0.05, "hold": 12}]) as llm:
        took, message = timed(ChatClient(llm.url, "scripted", timeout=2.0, idle=30))
    assert took < 2.6, took
    assert message == "the LLM endpoint did not finish within 2 s (llm_timeout)"


def test_a_stream_with_bytes_but_no_event_is_cut_at_the_idle_timeout():
    with ScriptedLLM([{"drip": 0.05, "hold": 12}]) as llm:
        took, message = timed(ChatClient(llm.url, "scripted", timeout=10.0, idle=1.0))
    assert took < 3.5, took  # one try and its retry, each cut after 1 s without an event
    assert "no complete event for 1 s" in message


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "json"])
def test_headers_then_nothing_ends_within_the_stated_time(stream):
    with ScriptedLLM([{"silent": 12}]) as llm:
        took, message = timed(ChatClient(llm.url, "scripted", timeout=2.0), stream)
    assert took < 2.6, took  # not 2 s and then 2 s more for the retry
    assert message in (
        "the LLM endpoint did not finish within 2 s (llm_timeout)",
        "the LLM endpoint sent nothing for 2 s (llm_idle_timeout)",
    )


# ---- the check: linear in the reply, and the reply capped ---------------------------------------


@pytest.fixture
def llm_tiny_bot(tmp_path):
    def make(url: str, **settings):
        corpus = tmp_path / "corpus"
        corpus.mkdir(exist_ok=True)
        (corpus / "acme.md").write_text(TINY_DOC)
        return hash_bot(corpus, tmp_path / "data", llm_url=url, llm_model="scripted", **settings)

    return make


def long_reply(sources: dict, n: int) -> str:
    return " ".join(first_sentence(sources) for _ in range(n))


def test_checking_is_linear_in_the_reply_and_the_reply_is_capped(llm_tiny_bot):
    with ScriptedLLM([{"content": lambda s: long_reply(s, 4000)}]) as llm:
        bot = llm_tiny_bot(llm.url, llm_timeout=60, llm_max_reply_chars=1_000_000)
        bot.warm_up()
        t0 = time.process_time()
        answer = bot.ask("Who founded Acme?", generator="llm")
        cpu = time.process_time() - t0
    assert len(answer.checked_sentences) == 4000 and answer.generator == "llm"
    assert cpu < 15, f"{cpu:.1f} s of CPU for 4,000 sentences"
    with ScriptedLLM([{"content": lambda s: long_reply(s, 400)}]) as llm:
        bot = llm_tiny_bot(llm.url, llm_max_reply_chars=2000)
        answer = bot.ask("Who founded Acme?", generator="llm")
    assert sum(len(c.text) + 1 for c in answer.checked_sentences) <= 2100
    assert any("cut at 2,000 characters" in n for n in answer.notices)


# ---- a real server: stalled generations hold no slot an extractive answer needs ----------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_four_stalled_streams_do_not_delay_another_users_extractive_answer(llm_tiny_bot):
    from gradio_client import Client

    from ui.app import serve

    with ScriptedLLM([{"drip": 0.05, "hold": 20}]) as llm:
        bot = llm_tiny_bot(llm.url, llm_timeout=6, llm_idle_timeout=30)
        demo, url = serve(bot, port=free_port(), concurrency=4)
        try:
            client = Client(url, verbose=False)
            results: list = []

            def stalled():
                t = time.monotonic()
                out = client.predict("Who founded Acme?", [], None, None, "llm", api_name="/ask")
                results.append((time.monotonic() - t, out))

            threads = [threading.Thread(target=stalled) for _ in range(4)]
            for t in threads:
                t.start()
            wait = time.monotonic() + 10
            while len(llm.requests) < 4 and time.monotonic() < wait:
                time.sleep(0.05)
            assert len(llm.requests) == 4  # four generations are stalled on the endpoint
            t0 = time.monotonic()
            quick = client.predict(
                "When was Acme founded?", [], None, None, "extractive", api_name="/ask"
            )
            took = time.monotonic() - t0
            for t in threads:
                t.join(30)
        finally:
            demo.close()
    assert took < 2.0, f"the extractive answer took {took:.1f} s"
    assert quick["generator"] == "extractive" and not quick["abstained"]
    assert len(results) == 4
    for seconds, out in results:
        assert seconds < 6 + 2.5
        assert out["fallback_reason"] == "the LLM endpoint did not finish within 6 s (llm_timeout)"
