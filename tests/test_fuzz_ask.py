"""Fuzzing the question path with hypothesis: ``Chatbot.ask``, the chat handler ``ui.chat.respond``
and the ``/ask`` API function, with hostile text (control characters, lone surrogates, emoji,
right-to-left marks, HTML, ``<script>``, markdown links and images, 1 MB) and any shape of history.

Every call gives a usable answer or a clear ``QuestionError``/``ValueError``; never another
exception. An answer can always be sent as UTF-8 JSON, its [n] markers point at its citations, and
what the chat shows holds no tag but its own. The tiny corpus and the fake embedder keep this fast;
a few examples also run on the real bot.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt

from rag.chatbot import Chatbot, HistoryError, QuestionError
from rag.embedding import HashEmbedder
from tests.conftest import TINY_DOC
from ui import chat

FRAGMENTS = [
    "<script>window.__pwned=1</script>",
    '<img src=x onerror="window.__pwned=1">',
    "![pixel](http://example.com/p.png)",
    "[link](javascript:alert(1))",
    "<https://example.com>",
    "www.example.org",
    "$$x^2$$",
    "**bold** _em_ `code`",
    "&lt;b&gt; &amp; &#60;",
    "\u202eRTL override\u202c",
    "\u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627",
    "🤖🚀👩‍👩‍👧",
    "\x00\x07\x1b[31m",
    "\ud800",
    "\udfff",
    "\u2028\u2029\x85",
    "\ufeff",
    "../../etc/passwd",
    "Who founded Acme?",
    "When was it founded?",
    "And Rocket Two?",
    "it",
    "?",
    " ",
    "\n",
]
ANY_CHAR = st.characters(codec=None, categories=["L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Cs"])
questions = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(ANY_CHAR, max_size=4)), max_size=10).map(
        "".join
    ),
    st.sampled_from(["x", "Acme ", "<b>"]).flatmap(
        lambda s: st.integers(1, 2**20 // len(s)).map(lambda n: s * n)  # up to 1 MB
    ),
)
content = st.one_of(
    questions,
    st.none(),
    st.integers(),
    st.lists(st.fixed_dictionaries({"type": st.just("text"), "text": questions}), max_size=2),
    st.fixed_dictionaries({"text": questions}),
)
turns = st.one_of(
    questions,
    st.fixed_dictionaries(
        {"role": st.sampled_from(["user", "assistant", "system", "bogus"]), "content": content}
    ),
    st.tuples(questions, st.one_of(questions, st.none())),
    st.lists(questions, max_size=2),
    st.integers(),
    st.none(),
)
histories = st.one_of(st.none(), st.lists(turns, max_size=4))


def utf8_encodable(value) -> bool:
    try:
        json.dumps(value, ensure_ascii=False, default=str).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


clean_histories = histories.filter(utf8_encodable)

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def bot(tmp_path_factory) -> Chatbot:
    root = tmp_path_factory.mktemp("fuzz")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC, encoding="utf-8")
    (corpus / "notes.txt").write_text("Plain text with no heading. Acme ships in June.\n")
    return Chatbot.from_corpus(
        corpus,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=root / "data",
        abstain_threshold=0.1,
    ).warm_up()


def visible(question: str) -> str:
    """What is left of a question once control characters and lone surrogates are dropped."""
    text = question.encode("utf-8", "replace").decode("utf-8")
    return "".join(ch for ch in text if ch.isprintable()).strip()


def check_ask(bot, question, history) -> None:
    try:
        answer = bot.ask(question, history=history)
    except HistoryError as exc:
        # refused only when the history really is over a limit (issue 14: turns, characters)
        limits = bot.settings.history_limits()
        texts = [t if isinstance(t, str) else str(t) for t in history or []]
        over = len(texts) > limits.max_turns or sum(map(len, texts)) > limits.max_chars
        assert over and ("the limit is" in str(exc) or "characters of questions" in str(exc)), exc
        return
    except QuestionError as exc:
        assert "empty" in str(exc) and not visible(question), (question, exc)
        return
    assert visible(question), "an empty question must be refused, not answered"
    d = answer.to_dict()
    json.dumps(d, ensure_ascii=False).encode("utf-8")  # what the API and the UI send
    assert isinstance(answer.text, str) and answer.text.strip()
    assert answer.question and answer.question == visible(answer.question)
    numbers = [c.number for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} <= set(numbers)
    if answer.abstained:
        assert answer.citations == []
    if len(visible(question)) > bot.settings.max_question_chars:
        assert any("only the first" in n for n in answer.notices)
    for c in answer.citations:  # provenance holds whatever was asked
        assert (
            c.quote
            and c.line_start >= 1
            and c.document in ("acme.md", "notes.txt", "sensetime_profile.md")
        )


@FUZZ
@given(question=questions, history=clean_histories)
@example(question="x" * 1_000_000, history=None)
@example(question="\ud800\udfff\x00", history=["\x00"])
@example(question="   \n\t", history=None)
@example(question="When was it founded?", history=[{"role": "user", "content": None}, 5, None])
@example(question="0", history=["s" * 200_001])  # over the history limit: a clear HistoryError
def test_ask_answers_or_refuses_clearly_on_any_input(bot, question, history):
    check_ask(bot, question, history)


@pytest.mark.parametrize("history", [["Acme \ud800"], [{"role": "user", "content": "0\ud800"}]])
def test_history_with_a_lone_surrogate_gives_a_sendable_answer(bot, history):
    check_ask(bot, "And Rocket Two?", history)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(question=questions, history=clean_histories)
@example(
    question='<img src=x onerror="alert(1)"> Who founded SenseTime? ![x](http://e/x.png)',
    history=None,
)
@example(question="When was it founded?", history=["Who founded SenseTime? \x00\u202e"])
def test_ask_on_the_real_bot_answers_or_refuses_clearly(real_bot, question, history):
    check_ask(real_bot, question, history)


# ---- the chat handler and the API function -------------------------------------------------------

ALLOWED_TAGS = {("div", ("class",)), ("mark", ()), ("br", ()), ("strong", ())}
LIVE = ("<a", "<img", "<script", "<iframe", "<svg", "<em", "<code", "<h1", "<table", "<style")
MARKDOWN = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")


class Tags(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(name for name, _ in attrs)))


def assert_inert(fragment: str) -> None:
    """Only the chat's own tags, and nothing markdown would turn into a link, image or markup."""
    parser = Tags()
    parser.feed(fragment)
    parser.close()
    assert set(parser.tags) <= ALLOWED_TAGS, (fragment[:300], parser.tags)
    rendered = MARKDOWN.render(fragment)
    assert not any(tag in rendered for tag in LIVE), (fragment[:300], rendered[:300])


modes = st.one_of(st.none(), st.sampled_from(["hybrid", "dense", "bm25", "", "fast", "<b>"]))
ks = st.one_of(
    st.none(),
    st.integers(-5, 60),
    st.floats(allow_nan=True),
    st.sampled_from(["3", " ", "x", "1e3"]),
    st.booleans(),
)


@FUZZ
@given(message=st.one_of(questions, st.none(), st.integers()), history=histories, mode=modes, k=ks)
@example(message=" ".join(FRAGMENTS), history=[" ".join(FRAGMENTS)], mode=None, k=None)
@example(message="![pixel](http://example.com/p.png)", history=None, mode="<b>", k="x")
def test_the_chat_handler_never_raises_and_shows_only_inert_text(bot, message, history, mode, k):
    reply = chat.respond(message, history, bot=bot, mode=mode, k=k)
    assert reply.history[: len(reply.history) - len(reply.messages)] == chat._as_messages(history)
    if not reply.messages:
        assert reply.error and reply.answer is None
        return
    assert reply.messages[0]["role"] == "user"
    assert (reply.answer is None) == (reply.error is not None)
    assert "Traceback" not in json.dumps(reply.messages)
    for m in reply.messages:
        assert_inert(m["content"])
        assert_inert(m.get("metadata", {}).get("title", ""))
    # what this turn adds is sent to the browser as UTF-8 JSON
    json.dumps(reply.messages, ensure_ascii=False).encode("utf-8")
    if reply.answer is not None:
        json.dumps(reply.answer.to_dict(), ensure_ascii=False).encode("utf-8")


json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), questions),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(questions, inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    question=st.one_of(questions, json_values),
    history=st.one_of(histories, json_values),
    mode=st.one_of(modes, json_values),
    k=st.one_of(ks, json_values),
)
def test_the_api_function_answers_or_raises_a_readable_value_error(bot, question, history, mode, k):
    """``/ask`` turns a ValueError into a readable gr.Error; any other exception would be a bug."""
    try:
        d = chat.api_answer(bot, question, history, mode, k)
    except ValueError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return
    json.dumps(d, ensure_ascii=False).encode("utf-8")
    assert d["text"] and isinstance(d["citations"], list)


def test_the_fixture_corpus_is_what_the_properties_assume(bot):
    assert {c.doc_id for c in bot.index.chunks} == {"acme.md", "notes.txt"}
    assert Path(bot.settings.corpus_dir).name == "corpus"
