"""Hostile markup that points back at the app itself, in a real headless Chromium.

``tests/test_browser_chat.py`` blocks and fails on any request that leaves loopback, so a markdown
image on example.com is caught there. An image, link, frame or stylesheet aimed at the app's own
address (``/logout``, ``/gradio_api/file=...``) would pass that guard; here every request the page
makes is listed and none may be one that the question or the documents asked for.
"""

from __future__ import annotations

import socket

import pytest

from tests.test_browser_chat import ask, browser, open_page  # noqa: F401 - browser is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.slow]

MARKER = "pwnd"  # in every URL the hostile text names; no request may contain it
HOSTILE = (
    f"![a](/gradio_api/file=/etc/passwd?{MARKER}=1) "
    f'<img src="/config?{MARKER}=2"> '
    f"[b](/logout?{MARKER}=3) "
    f'<iframe src="/?{MARKER}=4"></iframe> '
    f'<video src="/v?{MARKER}=5"></video> '
    f'<link rel="prefetch" href="/p?{MARKER}=6"> '
    f"<style>@import url(/s?{MARKER}=7);</style> "
    f'<svg><image href="/i?{MARKER}=8"/></svg> '
    f"<https://127.0.0.1/?{MARKER}=9> "
)
DOC = f"# Acme\n\n## Logo\nThe Acme logo is a rocket. {HOSTILE}\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def hostile_app(tmp_path_factory):
    """The chat on a one-document corpus whose text is the hostile markup too."""
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder
    from rag.feedback import FeedbackLog
    from ui.app import serve

    root = tmp_path_factory.mktemp("browser-hostile")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(DOC)
    bot = Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=root / "data"
    )
    demo, url = serve(bot, port=free_port(), feedback=FeedbackLog(root / "f.jsonl"))
    yield url
    demo.close()


def test_markup_aimed_at_the_app_itself_makes_no_request(browser, hostile_app):  # noqa: F811
    with open_page(browser, hostile_app) as page:
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        answer = ask(page, f"What is the Acme logo? {HOSTILE}")
        assert "rocket" in answer.inner_text()  # the corpus text, quoted
        page.locator(".rag-source").first.wait_for(state="visible")
        page.wait_for_timeout(1000)  # time for any stray image or frame to load
        assert [u for u in requests if MARKER in u] == []
        chat = page.locator("#chat")
        messages = chat.locator(".message-content, .thought-group")  # not Gradio's own icons
        assert messages.count() >= 2
        found = messages.locator("img, a, iframe, video, link, style, svg image, script")
        assert found.count() == 0, found.evaluate_all("els => els.map(e => e.outerHTML)")
        text = chat.inner_text()
        assert f"![a](/gradio_api/file=/etc/passwd?{MARKER}=1)" in text  # shown as typed
        assert text.count(f'<img src="/config?{MARKER}=2">') >= 2  # question and source
        assert page.evaluate("document.cookie") == ""  # nothing set a cookie either
