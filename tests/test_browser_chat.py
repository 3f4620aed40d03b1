"""End to end in a real headless Chromium: ``rag chat`` as users start it, the real engine, a person's
clicks. Every request the page makes is checked: anything not on loopback is blocked and fails the
test. A screenshot of a real answer with its sources is saved to tests/artifacts/chat.png.

Needs Debian's ``chromium`` (``apt-get install chromium``) and the ``playwright`` Python package;
Playwright's own browser download is not used. Without Chromium the tests skip, except in CI.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
]
ANSWER_TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def is_loopback_url(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True  # in-page resources, no network
    host = (parts.hostname or "").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def chat_server(tmp_path_factory):
    """``rag chat`` in a subprocess on a free port, with its own data folder; yields (url, data)."""
    data = tmp_path_factory.mktemp("chat-data")
    rag = Path(sys.executable).with_name("rag")
    cmd = [str(rag)] if rag.exists() else [sys.executable, "-c", "from rag.cli import app; app()"]
    env = {**os.environ, "RAG_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    env.pop("RAG_AUTH", None)
    stderr = open(data / "server.stderr", "w")  # closed at teardown
    proc = subprocess.Popen(
        [*cmd, "chat", "--host", "127.0.0.1", "--port", str(free_port())],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env=env,
        cwd=ROOT,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    url = None
    deadline = time.monotonic() + 300
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line.startswith("Chat ready at "):
            url = line.split()[3]
    if url is None:
        proc.kill()
        stderr.close()
        pytest.fail("rag chat did not print its URL:\n" + (data / "server.stderr").read_text())
    yield url, data
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    stderr.close()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"Chromium is not installed at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Guard:
    """Every request of a browser context: allowed when on loopback, else blocked and recorded."""

    def __init__(self, context):
        self.seen: list[str] = []
        self.blocked: list[str] = []
        context.route("**/*", self._route)
        context.on("request", lambda r: self.seen.append(r.url))
        context.on("websocket", lambda ws: self.seen.append(ws.url))

    def _route(self, route):
        url = route.request.url
        if is_loopback_url(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def check(self):
        assert self.seen, "no request was observed: the guard is not recording"
        outside = [u for u in self.seen if not is_loopback_url(u)]
        assert self.blocked == [] and outside == [], f"requests left loopback: {outside}"


@contextlib.contextmanager
def open_page(browser, url: str):
    """A fresh browser context on ``url``, guarded; checks requests and JS errors on the way out."""
    context = browser.new_context(viewport={"width": 1280, "height": 1100})
    guard = Guard(context)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.set_default_timeout(ANSWER_TIMEOUT_MS)
    pg.goto(url)
    pg.wait_for_selector("#question textarea")
    yield pg
    context.close()
    guard.check()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, chat_server):
    with open_page(browser, chat_server[0]) as pg:
        yield pg


def ask(page, question: str, selector: str = ".rag-answer, .rag-abstain, .rag-error"):
    before = page.locator(selector).count()
    box = page.locator("#question textarea")
    box.fill(question)
    box.press("Enter")
    page.wait_for_function(
        "([sel, n]) => document.querySelectorAll(sel).length > n", arg=[selector, before]
    )
    return page.locator(selector).nth(before)


def feedback_lines(data: Path, n: int, timeout: float = 15) -> list[dict]:
    path = data / "feedback.jsonl"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists():
            lines = path.read_text().splitlines()
            if len(lines) >= n:
                return [json.loads(line) for line in lines]
        time.sleep(0.1)
    raise AssertionError(f"{path} did not get {n} line(s) in {timeout}s")


def test_answer_sources_follow_up_votes_and_debug(page, chat_server):
    from playwright.sync_api import expect

    _, data = chat_server
    first = ask(page, "Who founded SenseTime?")
    assert "Xiao'ou Tang" in first.inner_text() and "[1]" in first.inner_text()
    chat = page.locator("#chat")
    # the source: heading path, document and line, the passage with the sentence highlighted
    assert (
        chat.get_by_text(
            "[1] SenseTime \u203a Company Info \u00b7 sensetime_profile.md \u00b7 line 8"
        ).count()
        == 1
    )
    marks = page.locator(".rag-source mark")
    assert marks.count() == 1 and marks.first.inner_text() == "Founder: Professor Xiao'ou Tang"
    assert "Headquarters: Hong Kong & Shanghai" in page.locator(".rag-source").first.inner_text()

    second = ask(page, "When was it founded?")
    assert "October 2014" in second.inner_text()
    assert page.locator(".rag-understood").last.inner_text() == (
        "Understood as: \u201cWhen was SenseTime founded?\u201d"
    )
    assert page.locator(".rag-source mark").nth(1).inner_text() == "Founded: October 2014"

    page.locator(".rag-source").last.wait_for(state="visible")
    page.wait_for_timeout(1000)  # let the sources' open animation finish before the picture
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat.png"), full_page=True)

    likes = chat.locator("button[aria-label='Like']")
    dislikes = chat.locator("button[aria-label='Dislike']")
    assert likes.count() == 2 and dislikes.count() == 2  # one pair per answer
    likes.nth(0).click()
    [vote] = feedback_lines(data, 1)
    assert (vote["vote"], vote["question"]) == ("like", "Who founded SenseTime?")
    assert "Xiao'ou Tang" in vote["answer"]
    assert vote["citations"][0]["line_start"] == 8
    assert vote["citations"][0]["heading"] == "SenseTime > Company Info"
    dislikes.nth(1).click()
    vote = feedback_lines(data, 2)[1]
    assert (vote["vote"], vote["question"], vote["rewritten_query"]) == (
        "dislike",
        "When was it founded?",
        "When was SenseTime founded?",
    )

    # the retrieval-debug view lists the passages of the last question with their ranks
    page.get_by_text("Retrieval debug").click()
    debug = page.locator("#debug")
    expect(debug).to_contain_text("SenseTime > Company Info", use_inner_text=True)
    assert "fused score" in debug.inner_text() and "lexical rank" in debug.inner_text()

    # the votes are on disk, and exported by the CLI
    from typer.testing import CliRunner

    from rag.cli import app

    result = CliRunner().invoke(app, ["feedback", "export", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert [json.loads(x)["vote"] for x in result.stdout.splitlines()] == ["like", "dislike"]


def test_hostile_question_is_shown_as_text_and_the_abstention_is_distinct(page):
    question = (
        '<img src=x onerror="window.__pwned=1"> ![pixel](http://example.com/p.png) '
        "[link](javascript:window.__pwned=2) <script>window.__pwned=3</script> "
        "What is the stock price of Apple?"
    )
    answer = ask(page, question)
    assert answer.get_attribute("class") == "rag-abstain"
    assert answer.inner_text().startswith("Not found in the documents.")
    assert page.locator(".rag-source").count() == 0, "an abstention shows no sources"
    assert page.evaluate("window.__pwned") is None
    messages = page.locator("#chat .message-content")
    assert messages.locator("img, a, script").count() == 0
    assert page.locator("#chat [data-testid=user]").last.inner_text().strip() == question


def test_example_question_and_clear(page):
    page.locator("#chat").get_by_text("Who is SenseTime's founder?").click()
    page.wait_for_selector(".rag-answer")
    assert "Xiao'ou Tang" in page.locator(".rag-answer").first.inner_text()
    page.locator("#clear").click()
    page.wait_for_function("document.querySelectorAll('.rag-answer').length === 0")
    # a new conversation: the follow-up has nothing to refer to
    answer = ask(page, "What is SenseCare?")
    assert page.locator(".rag-understood").count() == 0
    assert "SenseCare" in answer.inner_text() or "medical" in answer.inner_text().lower()


# ---- corpus text that tries to be HTML or markdown, through the real page -----------------------------

EVIL = (
    '<img src=x onerror="window.__pwned=1"> **bold** ![pixel](http://example.com/p.png) '
    "[link](javascript:window.__pwned=2) https://www.example.com $$x^2$$"
)


class HostileBot:
    """A bot whose documents are hostile: every corpus string carries HTML and markdown."""

    def __init__(self, data_dir: Path):
        from rag.settings import Settings

        self.settings = Settings.make(data_dir=data_dir)

    def warm_up(self):
        return self

    def ask(self, question, history=None, k=None, mode=None):
        from rag.answer_types import Answer, Citation

        c = Citation(
            number=1,
            document=f"{EVIL}.md",
            heading_path=[EVIL, "Facts"],
            section_id="s",
            chunk_id="c",
            line_start=1,
            line_end=2,
            char_start=0,
            char_end=9,
            quote=EVIL,
            quotes=[EVIL],
            passage=f"Before. {EVIL} After.",
        )
        passage = {
            "rank": 1,
            "score": 0.5,
            "dense_rank": 1,
            "dense_score": 0.5,
            "lexical_rank": 1,
            "lexical_score": 1.0,
            "heading": EVIL,
            "document": f"{EVIL}.md",
            "line_start": 1,
            "line_end": 2,
        }
        return Answer(
            question=question,
            rewritten_query=f"{EVIL}?",
            text=f"{EVIL} [1]",
            citations=[c],
            abstained=False,
            reason=EVIL,
            score=0.9,
            threshold=0.4,
            mode="hybrid",
            k=5,
            passages=[passage],
            notices=[EVIL],
        )


@pytest.fixture(scope="module")
def hostile_url(browser, tmp_path_factory):
    from rag.feedback import FeedbackLog
    from ui.app import serve

    data = tmp_path_factory.mktemp("hostile")
    demo, url = serve(HostileBot(data), port=free_port(), feedback=FeedbackLog(data / "f.jsonl"))
    yield url
    demo.close()


def test_corpus_html_and_markdown_render_as_text(browser, hostile_url):
    from playwright.sync_api import expect

    with open_page(browser, hostile_url) as page:
        ask(page, "Anything?")
        page.locator(".rag-source").first.wait_for(state="visible")
        page.get_by_text("Retrieval debug").click()
        expect(page.locator("#debug")).to_contain_text("**bold**", use_inner_text=True)
        assert page.evaluate("window.__pwned") is None
        chat = page.locator("#chat")
        live = "img, a, script, em, strong, .katex"
        for part in (".message-content", ".thought-group"):
            assert chat.locator(part).count() >= 1
            assert chat.locator(part).locator(live).count() == 0, part
        assert page.locator("#debug").locator("img, a, script, em, strong").count() == 0
        text = chat.inner_text()
        assert text.count("![pixel](http://example.com/p.png)") >= 4  # answer, title, passage...
        assert "**bold**" in text and "$$x^2$$" in text
        assert EVIL in page.locator("#debug").inner_text()
