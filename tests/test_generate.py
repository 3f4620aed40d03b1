"""Generation against a real HTTP server on 127.0.0.1 that speaks the chat-completions protocol
and replies from a script (bench/llm_server.py), with the real model and index on the profile.

Each scripted reply, streamed and not, must end in the right final text: the faithful sentence
alone (the unfaithful one removed, with its reason), or the extractive answer with a one-line note.
Replies are built from the passages the prompt holds, so nothing here knows the profile's text.
"""

from __future__ import annotations

import json
import logging
import re

import pytest

from bench.llm_server import BAD, COMPUTED, ScriptedLLM, faithful, unsupported, with_bad
from rag.chatbot import Chatbot
from rag.generate.grounding import strip_markers
from rag.settings import Settings, SettingsError

pytestmark = pytest.mark.slow

QUESTION = "What does the SenseAuto platform offer drivers?"  # written for this test
UNANSWERABLE = "What does the staff cafeteria charge for lunch on Fridays?"
SECRET = "sk-test-canary-7f3a9"


TIMEOUT_DEADLINE = 2.0
FAIL = {
    "empty reply": ([{"content": ""}], "empty"),
    "HTTP 500": ([{"status": 500}, {"status": 500}], "HTTP 500"),
    # the endpoint sleeps past the whole deadline (TIMEOUT_DEADLINE), so both tries time out
    "timeout": ([{"sleep": 4.0, "content": "late"}], "did not"),
    "garbage": ([{"content": "!!! ??? ..."}], "no sentence"),
}


@pytest.fixture(scope="module")
def llm_bot(real_bot, real_data_dir):
    """A bot with an endpoint, sharing the session's model and index; the URL is set per test."""

    def make(url: str, timeout: float = 0.6, stream: bool = True) -> Chatbot:
        bot = Chatbot(
            Settings.make(
                data_dir=real_data_dir,
                llm_url=url,
                llm_model="scripted",
                llm_timeout=timeout,
                llm_stream=stream,
            ),
            embedder=real_bot.embedder,
        )
        bot._use(real_bot.index)  # the same index, already in memory
        return bot

    return make


@pytest.fixture(scope="module")
def extractive(real_bot):
    return real_bot.ask(QUESTION)


def ask(bot, stream: bool):
    """Streamed with a listener (the chat), or one JSON reply (llm_stream=False)."""
    tokens: list[str] = []
    answer = bot.ask(QUESTION, on_token=tokens.append if stream else None)
    return answer, tokens


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_faithful_answer_is_shown_with_citations_of_its_units(llm_bot, extractive, stream):
    with ScriptedLLM([{"content": faithful}]) as llm:
        answer, tokens = ask(llm_bot(llm.url, stream=stream), stream)
        sent_stream = llm.requests[0]["body"]["stream"]
    assert not extractive.abstained
    assert answer.generator == "llm" and answer.fallback_reason is None
    assert [c.supported for c in answer.checked_sentences] == [True]
    body = strip_markers(answer.checked_sentences[0].text)
    assert answer.text == f"{body} [1]"
    c = answer.citations[0]
    assert c.number == 1 and body.rstrip(".") in c.quote  # the exact unit that supports it
    assert c.chunk_id == extractive.citations[0].chunk_id
    assert "generate" in answer.timings_ms and "check" in answer.timings_ms
    d = answer.to_dict()
    assert d["generator"] == "llm" and d["checked_sentences"][0]["supported"] is True
    assert (("".join(tokens)).strip() != "") is stream
    assert sent_stream is stream


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", list(BAD))
def test_unfaithful_sentence_is_removed_with_its_reason(llm_bot, kind, stream):
    bad, reason = BAD[kind]
    with ScriptedLLM([{"content": with_bad(bad)}]) as llm:
        answer, _ = ask(llm_bot(llm.url, stream=stream), stream)
    checked = answer.checked_sentences
    assert [c.supported for c in checked] == [True, False], [c.reason for c in checked]
    assert reason in checked[1].reason
    assert answer.generator == "llm"
    assert answer.text == f"{strip_markers(checked[0].text)} [1]"
    assert any("1 of 2 generated sentence(s) removed" in n for n in answer.notices)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("kind", list(FAIL))
def test_endpoint_failure_falls_back_to_the_extractive_answer(llm_bot, extractive, kind, stream):
    script, reason = FAIL[kind]
    # a deadline long enough that the retry's half still starts on a loaded machine
    timeout = TIMEOUT_DEADLINE if kind == "timeout" else 0.6
    with ScriptedLLM(script) as llm:
        answer, _ = ask(llm_bot(llm.url, timeout=timeout, stream=stream), stream)
        calls = len(llm.requests)
    assert answer.generator == "extractive"
    assert answer.text == extractive.text
    assert [c.number for c in answer.citations] == [c.number for c in extractive.citations]
    assert reason in answer.fallback_reason
    assert answer.notices[-1] == f"Showing the quoted answer: {answer.fallback_reason}."
    if kind in ("HTTP 500", "timeout"):
        assert calls == 2  # one retry


def test_malformed_stream_falls_back(llm_bot, extractive):
    raw = b'data: {"choices": [{"delta": {"content": "Half a sen'
    with ScriptedLLM([{"raw": raw}]) as llm:
        answer, tokens = ask(llm_bot(llm.url, stream=True), True)
    assert answer.generator == "extractive" and answer.text == extractive.text
    assert "malformed" in answer.fallback_reason
    raw = b'data: {"choices": [{"delta": {"content": "Hi"}}]}\n\ndata: not json\n\n'
    with ScriptedLLM([{"raw": raw}]) as llm:
        answer, tokens = ask(llm_bot(llm.url, stream=True), True)
    assert "malformed" in answer.fallback_reason and answer.text == extractive.text


def test_reply_streams_without_a_listener_by_default(llm_bot):
    """llm_stream (default on): the API and the CLI's --json stream too, so finished sentences
    are checked while the LLM writes the rest."""
    with ScriptedLLM([{"content": with_bad(unsupported)}]) as llm:
        answer = llm_bot(llm.url).ask(QUESTION)
        assert llm.requests[0]["body"]["stream"] is True
    assert answer.generator == "llm" and "check_during_stream" in answer.timings_ms
    assert [c.supported for c in answer.checked_sentences] == [True, False]


def test_one_retry_after_a_server_error_recovers(llm_bot):
    with ScriptedLLM([{"status": 500}, {"content": faithful}]) as llm:
        answer, _ = ask(llm_bot(llm.url, stream=False), False)
        assert len(llm.requests) == 2
    assert answer.generator == "llm"


def test_unanswerable_question_never_reaches_the_llm(llm_bot, real_bot):
    with ScriptedLLM([{"content": "Lunch costs $5 [1]."}]) as llm:
        answer = llm_bot(llm.url).ask(UNANSWERABLE)
        assert llm.requests == []
    assert answer.abstained and answer.text == real_bot.ask(UNANSWERABLE).text
    assert answer.generator == "extractive" and answer.fallback_reason is None


def test_prompt_holds_only_the_selected_passages_numbered(llm_bot, extractive):
    with ScriptedLLM([{"content": faithful}]) as llm:
        llm_bot(llm.url).ask(QUESTION)
        body = llm.requests[0]["body"]
    assert body["model"] == "scripted" and body["temperature"] == 0.0
    user = body["messages"][1]["content"]
    numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", user, re.M)]
    assert numbers == [c.number for c in extractive.citations]
    for c in extractive.citations:
        assert c.quotes[0] in user


def test_extractive_generator_on_an_llm_bot_makes_no_call(llm_bot, extractive):
    with ScriptedLLM([{"content": faithful}]) as llm:
        answer = llm_bot(llm.url).ask(QUESTION, generator="extractive")
        assert llm.requests == []
    assert answer.text == extractive.text and answer.generator == "extractive"
    assert answer.to_dict()["checked_sentences"] == []


def test_api_key_is_sent_and_never_shown(llm_bot, monkeypatch, caplog, real_data_dir, tmp_path):
    monkeypatch.setenv("RAG_LLM_API_KEY", SECRET)
    caplog.set_level(logging.DEBUG)
    with ScriptedLLM([{"status": 500}, {"content": faithful}]) as llm:
        settings = Settings.make(data_dir=real_data_dir, llm_url=llm.url, llm_model="scripted")
        bot = llm_bot(llm.url)
        bot.settings = settings
        bot._generators.clear()
        answer = bot.ask(QUESTION)
        headers = [r["headers"] for r in llm.requests]
    assert all(h.get("Authorization") == f"Bearer {SECRET}" for h in headers)
    seen = " ".join(
        [
            json.dumps(answer.to_dict()),
            repr(settings),
            str(settings),
            json.dumps(settings.describe()),
            settings.model_dump_json(),
            repr(bot.generator("llm").client),
            caplog.text,
        ]
    )
    assert SECRET not in seen
    with pytest.raises(SettingsError, match="RAG_LLM_API_KEY"):
        Settings.make(llm_api_key=SECRET)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"llm_url": "localhost:11434"}, "not an http(s) URL"),
        ({"llm_url": "http://h/v1/chat/completions", "llm_model": "m"}, "base URL ending in /v1"),
        ({"llm_url": "http://127.0.0.1:1/v1"}, "llm_model is not"),
        ({"llm_url": "http://u:p@h/v1", "llm_model": "m"}, "RAG_LLM_API_KEY"),
        ({"llm_timeout": 0}, "llm_timeout=0"),
    ],
)
def test_bad_llm_settings_name_the_fix(kwargs, message):
    with pytest.raises(SettingsError, match=re.escape(message)):
        Settings.make(**kwargs)


def test_unreachable_endpoint_falls_back(llm_bot, extractive):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    answer = llm_bot(f"http://127.0.0.1:{port}/v1").ask(QUESTION)
    assert answer.text == extractive.text and "unreachable" in answer.fallback_reason


# ---- computations the LLM did (rag.arithmetic): a right sum kept, a wrong one removed -----------

REPORT = """# Kestrel Optics annual report

## Results
Kestrel Optics sold 1,250 telescopes and 830 binoculars in fiscal 2023.
Its headcount was 410 at the end of the year.
"""


@pytest.fixture(scope="module")
def report_bot(real_bot, tmp_path_factory):
    """A bot with an endpoint on a one-report corpus of our own, with the real model."""
    corpus = tmp_path_factory.mktemp("report")
    (corpus / "kestrel.md").write_text(REPORT, encoding="utf-8")
    data = tmp_path_factory.mktemp("report-data")

    def make(url: str) -> Chatbot:
        return Chatbot(
            Settings.make(
                corpus_dir=corpus, data_dir=data, llm_url=url, llm_model="scripted", llm_timeout=5
            ),
            embedder=real_bot.embedder,
        )

    return make


def with_computation(build):
    """The passage's first sentence, then the computed one (both cite [1])."""
    return lambda sources: f"{faithful(sources)} {build(sources)}"


@pytest.mark.parametrize("kind", list(COMPUTED))
def test_a_computed_number_is_checked_against_the_cited_figures(report_bot, kind):
    build, kept, reason = COMPUTED[kind]
    with ScriptedLLM([{"content": with_computation(build)}]) as llm:
        answer = report_bot(llm.url).ask("How many telescopes and binoculars did Kestrel sell?")
    checked = answer.checked_sentences
    assert answer.generator == "llm", answer.fallback_reason
    assert [c.supported for c in checked] == [True, kept], [c.reason for c in checked]
    assert reason in checked[1].reason
    if kept:
        assert "2,080 = 1,250 + 830" in checked[1].reason and "2,080" in answer.text
    else:
        assert "adds up to" not in answer.text
