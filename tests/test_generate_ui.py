"""The chat with an LLM endpoint: drafts stream, then the checked answer replaces them; removed
sentences show in the debug panel; the Answers setting exists only when an endpoint is configured.
Real model and index, the scripted endpoint on 127.0.0.1, and (marked browser) a real Chromium."""

from __future__ import annotations

import pytest
from test_generate import QUESTION

from bench.llm_server import ScriptedLLM, unsupported, with_bad
from rag.chatbot import Chatbot
from rag.feedback import FeedbackLog
from rag.settings import Settings
from ui import chat
from ui.app import build_app

pytestmark = pytest.mark.slow


def llm_bot(real_bot, real_data_dir, url: str) -> Chatbot:
    bot = Chatbot(
        Settings.make(data_dir=real_data_dir, llm_url=url, llm_model="scripted", llm_timeout=5),
        embedder=real_bot.embedder,
    )
    bot._use(real_bot.index)
    return bot


def test_respond_stream_drafts_then_checked_answer(real_bot, real_data_dir):
    with ScriptedLLM([{"content": with_bad(unsupported)}]) as llm:
        bot = llm_bot(real_bot, real_data_dir, llm.url)
        replies = list(chat.respond_stream(QUESTION, [], bot=bot, generator="llm"))
    drafts, final = replies[:-1], replies[-1]
    assert drafts and all(r.draft and r.answer is None for r in drafts)
    assert "rag-draft" in drafts[-1].history[-1]["content"]
    assert not final.draft and final.answer.generator == "llm"
    assert "rag-generated" in final.history[1]["content"]
    details = chat.debug_details(final)
    assert details["generator"] == "llm"
    [removed] = details["removed_sentences"]
    assert "not supported in meaning" in removed["reason"]
    assert len(details["checked_sentences"]) == 2


def test_respond_stream_switched_to_extractive(real_bot, real_data_dir):
    with ScriptedLLM([{"content": "x"}]) as llm:
        bot = llm_bot(real_bot, real_data_dir, llm.url)
        replies = list(chat.respond_stream(QUESTION, [], bot=bot, generator="extractive"))
        assert llm.requests == []
    assert len(replies) == 1 and replies[0].answer.text == real_bot.ask(QUESTION).text


def _components(demo) -> dict:
    return {
        c.get("props", {}).get("elem_id"): c
        for c in demo.get_config_file()["components"]
        if c.get("props", {}).get("elem_id")
    }


def test_settings_control_only_with_an_endpoint(real_bot, real_data_dir, tmp_path):
    feedback = FeedbackLog(tmp_path / "f.jsonl")
    plain = build_app(real_bot, feedback)
    assert "generator" not in _components(plain)
    config = str(plain.get_config_file()).lower()
    assert "llm" not in config
    with ScriptedLLM([{"content": "x"}]) as llm:
        demo = build_app(llm_bot(real_bot, real_data_dir, llm.url), feedback)
    radio = _components(demo)["generator"]["props"]
    assert radio["value"] == "llm" and [c[0] for c in radio["choices"]] == ["llm", "extractive"]


@pytest.mark.browser
def test_browser_streams_then_shows_checked_answer(real_bot, real_data_dir):
    pytest.importorskip("playwright")
    import shutil

    from test_browser_chat import CHROMIUM, CHROMIUM_ARGS, free_port

    if not shutil.which("chromium") and not __import__("os").path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    from ui.app import serve

    script = [{"content": with_bad(unsupported), "delay": 0.12}]
    with ScriptedLLM(script) as llm:
        bot = llm_bot(real_bot, real_data_dir, llm.url)
        demo, url = serve(bot, port=free_port(), feedback=FeedbackLog(real_data_dir / "fb.jsonl"))
        try:
            with sync_playwright() as p:
                b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                page = b.new_page()
                page.set_default_timeout(60_000)
                page.goto(url)
                page.wait_for_selector("#question textarea")
                page.locator("#generator").first.wait_for()  # the settings column renders late
                assert page.locator("#generator").count() == 1
                box = page.locator("#question textarea")
                box.fill(QUESTION)
                box.press("Enter")
                draft = page.locator(".rag-draft")
                draft.first.wait_for()
                partial = draft.first.inner_text()
                page.locator(".rag-generated").first.wait_for()
                final = page.locator(".rag-answer").first.inner_text()
                assert page.locator(".rag-draft").count() == 0
                assert partial and "farmers" not in final
                page.get_by_text("Retrieval debug").click()
                page.get_by_text("not supported in meaning").first.wait_for()
                b.close()
        finally:
            demo.close()


def test_api_answer_takes_the_generator(real_bot, real_data_dir):
    with ScriptedLLM([{"content": with_bad(unsupported)}]) as llm:
        bot = llm_bot(real_bot, real_data_dir, llm.url)
        d = chat.api_answer(bot, QUESTION, generator="llm")
        e = chat.api_answer(bot, QUESTION, generator="extractive")
        assert len(llm.requests) == 1
        with pytest.raises(ValueError, match="not a generator"):
            chat.api_answer(bot, QUESTION, generator="gpt")
    assert d["generator"] == "llm" and [c["supported"] for c in d["checked_sentences"]] == [
        True,
        False,
    ]
    assert e["generator"] == "extractive" and e["text"] == real_bot.ask(QUESTION).text
    with pytest.raises(ValueError, match="no LLM endpoint is configured"):
        chat.api_answer(real_bot, QUESTION, generator="llm")
