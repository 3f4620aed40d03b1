"""The chat handler as a plain function, on a fake bot: history shapes, rendering, escaping, votes."""

from __future__ import annotations

import copy
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from rag.answer_types import Answer, Citation
from rag.chatbot import QuestionError
from rag.feedback import FeedbackLog
from ui import chat
from ui.chat import escape, respond

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "![pixel](http://example.com/p.png)",
    "[click](javascript:alert(1))",
    "<https://example.com>",
    "visit https://www.example.com or www.example.org now",
    "mail a@example.com",
    "$$x^2$$ and `code` and **bold** and _em_ and ~~gone~~",
    "# heading",
    "1. item\n- bullet\n> quote\n| a | b |\n|---|---|",
    "&lt;b&gt; already an entity &amp; &#60;",
    "emoji 🤖 and RTL مرحبا and 中文",
    "",
]


class FakeBot:
    """Same ``ask`` signature as ``rag.chatbot.Chatbot``; returns hand-made answers."""

    def __init__(self, answers=None, error: Exception | None = None):
        self.calls = []
        self.answers = answers
        self.error = error

    def ask(self, question, history=None, k=None, mode=None):
        self.calls.append({"question": question, "history": history, "k": k, "mode": mode})
        if self.error is not None:
            raise self.error
        if self.answers:
            return self.answers.pop(0)
        return make_answer(question)


def make_citation(
    number=1,
    quotes=("Founder: Professor Xiao'ou Tang",),
    passage=None,
    heading_path=("SenseTime", "Company Info"),
    line_start=8,
    line_end=8,
):
    quotes = list(quotes)
    return Citation(
        number=number,
        document="sensetime_profile.md",
        heading_path=list(heading_path),
        section_id="sec",
        chunk_id=f"chunk{number}",
        line_start=line_start,
        line_end=line_end,
        char_start=0,
        char_end=10,
        quote=" ".join(quotes),
        quotes=quotes,
        passage=passage
        if passage is not None
        else ("Founded: October 2014\nFounder: Professor Xiao'ou Tang\nHeadquarters: Hong Kong"),
    )


def make_answer(
    question="Who founded SenseTime?",
    text="Founder: Professor Xiao'ou Tang [1]",
    citations=None,
    abstained=False,
    rewritten=None,
    notices=(),
):
    return Answer(
        question=question,
        rewritten_query=rewritten or question,
        text=text,
        citations=[make_citation()] if citations is None else citations,
        abstained=abstained,
        reason="evidence score 0.90 >= threshold 0.43",
        score=0.9,
        threshold=0.43,
        mode="hybrid",
        k=5,
        passages=[
            {
                "rank": 1,
                "score": 0.0328,
                "dense_rank": 1,
                "dense_score": 0.66512,
                "lexical_rank": None,
                "lexical_score": None,
                "heading": "SenseTime > Company Info",
                "document": "sensetime_profile.md",
                "line_start": 7,
                "line_end": 11,
            }
        ],
        notices=list(notices),
    )


def browser_history(*questions_and_answers):
    """History as the Gradio 6 browser sends it: content is a list of text blocks."""
    out = []
    for role, text, *meta in questions_and_answers:
        m = {
            "role": role,
            "content": [{"type": "text", "text": text}],
            "metadata": None,
            "options": None,
        }
        if meta:
            m["metadata"] = meta[0]
        out.append(m)
    return out


# ---- respond ---------------------------------------------------------------------------------------


def test_first_question_gives_question_answer_and_one_source_message():
    bot = FakeBot()
    reply = respond("Who founded SenseTime?", [], bot=bot)
    assert bot.calls == [
        {"question": "Who founded SenseTime?", "history": [], "k": None, "mode": None}
    ]
    assert reply.error is None and reply.answer.text == "Founder: Professor Xiao'ou Tang [1]"
    user, answer, source = reply.history
    assert user == {"role": "user", "content": "Who founded SenseTime?"}
    assert answer == {
        "role": "assistant",
        "content": '<div class="rag-answer">Founder&#58; Professor Xiao&#39;ou Tang &#91;1&#93;</div>',
    }
    assert source["role"] == "assistant"
    assert source["metadata"] == {
        "title": "&#91;1&#93; SenseTime \u203a Company Info \u00b7 sensetime&#95;profile&#46;md "
        "\u00b7 line 8"
    }
    assert source["content"] == (
        '<div class="rag-source">Founded&#58; October 2014<br>'
        "<mark>Founder&#58; Professor Xiao&#39;ou Tang</mark><br>Headquarters&#58; Hong Kong</div>"
    )
    assert reply.messages == reply.history


def test_follow_up_with_browser_history_passes_the_earlier_questions_unescaped():
    first = respond("Who founded <SenseTime> & why?", [], bot=FakeBot())
    # what the browser sends back: the same messages, content as a list of text blocks
    history = browser_history(
        *[
            (m["role"], m["content"], *([m["metadata"]] if "metadata" in m else []))
            for m in first.history
        ]
    )
    frozen = copy.deepcopy(history)
    bot = FakeBot()
    reply = respond("When was it founded?", history, bot=bot, mode="bm25", k=3)
    assert bot.calls[0]["history"] == ["Who founded <SenseTime> & why?"]
    assert (bot.calls[0]["mode"], bot.calls[0]["k"]) == ("bm25", 3)
    assert history == frozen, "respond must not modify the history it is given"
    assert len(reply.history) == len(history) + 3
    assert reply.history[: len(history)] == history
    assert reply.history[len(history)] == {"role": "user", "content": "When was it founded?"}


def test_follow_up_with_plain_string_history_as_gradio_client_sends_it():
    history = ["Who founded SenseTime?", "  and   where?  "]
    frozen = list(history)
    bot = FakeBot()
    reply = respond("When was it founded?", history, bot=bot)
    assert bot.calls[0]["history"] == ["Who founded SenseTime?", "and where?"]
    assert history == frozen
    # plain strings become (escaped) user messages in the returned chat
    assert reply.history[0] == {"role": "user", "content": "Who founded SenseTime?"}
    assert [m["role"] for m in reply.history] == ["user", "user", "user", "assistant", "assistant"]


def test_tuple_pairs_history_is_accepted():
    bot = FakeBot()
    reply = respond("When?", [("Who founded <SenseTime>?", "*Tang*")], bot=bot)
    assert bot.calls[0]["history"] == ["Who founded <SenseTime>?"]
    assert reply.history[:2] == [
        {"role": "user", "content": "Who founded &#60;SenseTime&#62;?"},
        {"role": "assistant", "content": "&#42;Tang&#42;"},
    ]


def test_a_huge_question_is_shown_cut_but_sent_whole():
    bot = FakeBot()
    question = "Who founded SenseTime? " + "x" * 1_000_000
    reply = respond(question, [], bot=bot)
    assert bot.calls[0]["question"] == question  # the engine truncates, with a notice
    shown = reply.history[0]["content"]
    assert len(shown) < 5_000
    assert shown.endswith(
        "[\u2026 1,000,023 characters in all]".replace("[", "&#91;").replace("]", "&#93;")
    )


def test_rewritten_question_and_notices_are_shown():
    bot = FakeBot(
        [
            make_answer(
                "When was it founded?",
                rewritten="When was SenseTime founded?",
                notices=["The question was truncated."],
            )
        ]
    )
    reply = respond("When was it founded?", ["Who founded SenseTime?"], bot=bot)
    content = reply.messages[1]["content"]
    assert '<div class="rag-notice">Note: The question was truncated&#46;</div>' in content
    assert (
        '<div class="rag-understood">Understood as: \u201cWhen was SenseTime founded?\u201d</div>'
        in content
    )


def test_abstention_is_distinct_and_has_no_sources():
    answer = make_answer(
        "What is Apple's stock price?",
        text="I can't answer that from the documents.",
        citations=[],
        abstained=True,
    )
    answer.reason = "the documents never mention 'Apple' (evidence score 0.34, threshold 0.43)"
    reply = respond("What is Apple's stock price?", [], bot=FakeBot([answer]))
    assert len(reply.messages) == 2  # the question and the abstention, nothing else
    content = reply.messages[1]["content"]
    assert content.startswith('<div class="rag-abstain"><strong>Not found in the documents.')
    assert "rag-answer" not in content and "rag-source" not in content
    assert "never mention &#39;Apple&#39;" in content


def test_abstention_with_stray_citations_still_shows_no_sources():
    answer = make_answer(abstained=True)  # citations present, but the answer abstained
    reply = respond("q", [], bot=FakeBot([answer]))
    assert not any("metadata" in m for m in reply.messages)


@pytest.mark.parametrize("message", ["", "   ", "\n\t", None, 42])
def test_blank_or_non_text_message_adds_nothing(message):
    bot = FakeBot()
    history = [{"role": "user", "content": "earlier"}]
    reply = respond(message, history, bot=bot)
    assert reply.history == history and reply.history is not history
    assert reply.messages == [] and reply.answer is None
    assert reply.error == "the question is empty: type a question first"
    assert bot.calls == []


def test_a_rejected_question_is_answered_with_the_reason_not_a_traceback():
    bot = FakeBot(error=QuestionError("the question is empty: type a question about the documents"))
    reply = respond("\x00\x01", [], bot=bot)
    assert reply.answer is None
    assert reply.error == "the question is empty: type a question about the documents"
    assert reply.messages[1] == {
        "role": "assistant",
        "content": '<div class="rag-error"><strong>Cannot answer:</strong> the question is empty'
        "&#58; type a question about the documents</div>",
    }


def test_an_unexpected_error_shows_a_short_message(caplog):
    reply = respond("Who?", [], bot=FakeBot(error=RuntimeError("faiss exploded at 0xdead")))
    assert reply.answer is None
    assert "RuntimeError" in reply.messages[1]["content"]
    assert "0xdead" not in reply.messages[1]["content"], "internal details stay in the log"
    assert "faiss exploded" in caplog.text


@pytest.mark.parametrize(
    ("k", "expected"), [(None, None), ("", None), (3, 3), (3.0, 3), ("7", 7), (50, 50)]
)
def test_k_from_slider_form_or_json(k, expected):
    bot = FakeBot()
    respond("q", [], bot=bot, k=k)
    assert bot.calls[0]["k"] == expected


@pytest.mark.parametrize("k", [0, 51, -1, 2.5, "two", True, [3]])
def test_bad_k_is_explained_in_the_chat(k):
    bot = FakeBot()
    reply = respond("q", [], bot=bot, k=k)
    assert bot.calls == []
    assert reply.error.startswith("k=")
    assert "use" in reply.error and "1" in reply.error and "50" in reply.error


def test_bad_mode_error_from_the_engine_is_shown():
    bot = FakeBot(error=ValueError("mode='fast' is not a retrieval mode: use one of dense, bm25"))
    reply = respond("q", [], bot=bot, mode="fast")
    assert "mode&#61;&#39;fast&#39; is not a retrieval mode" in reply.messages[1]["content"]


# ---- escaping --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE)
def test_escape_round_trips_and_leaves_no_syntax(text):
    out = escape(text)
    assert html.unescape(out) == text
    bare = re.sub(r"&#\d+;", "", out)
    for ch in "<>[]()*_`$#|~!:@&\\":
        assert ch not in bare
    assert "www." not in out and "://" not in out


@pytest.mark.parametrize("text", HOSTILE)
def test_escaped_text_renders_as_plain_text_in_markdown(text):
    md = MarkdownIt("commonmark", {"html": True}).enable("table").enable("strikethrough")
    rendered = md.render(escape(text))
    for tag in (
        "<a",
        "<img",
        "<script",
        "<em",
        "<strong",
        "<code",
        "<h1",
        "<li",
        "<blockquote",
        "<table",
        "<s>",
        "<del",
    ):
        assert tag not in rendered, (text, rendered)
    visible = html.unescape(rendered.replace("<p>", "").replace("</p>", "")).strip()
    assert visible == text.strip()


class TagCollector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.text = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, tuple(name for name, _ in attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(fragment: str) -> TagCollector:
    collector = TagCollector()
    collector.feed(fragment)
    collector.close()
    return collector


@pytest.mark.parametrize("text", HOSTILE)
def test_corpus_and_user_text_never_become_tags(text):
    c = make_citation(
        quotes=[text or "x"], passage=f"before {text} after", heading_path=[text, "Company Info"]
    )
    answer = make_answer(text=f"{text} [1]", citations=[c], rewritten=text + " rewritten")
    reply = respond(text or "q", [], bot=FakeBot([answer]))
    allowed = {
        ("div", ("class",)),
        ("mark", ()),
        ("br", ()),
        ("strong", ()),
    }
    shown = []
    for message in reply.history:
        for fragment in (message["content"], message.get("metadata", {}).get("title", "")):
            parsed = parse(fragment)
            assert set(parsed.tags) <= allowed, (fragment, parsed.tags)
            shown.append("".join(parsed.text))
            assert "](" not in fragment and "://" not in fragment and "www." not in fragment
    first_line = text.splitlines()[0] if text else ""
    assert any(first_line in s for s in shown)


def test_lone_surrogates_do_not_break_escaping():
    assert escape("a\ud800b") == "a?b"


def test_escape_block_keeps_line_breaks_at_the_edges():
    assert chat.escape_block("a\nb") == "a<br>b"
    assert chat.escape_block("a\n") == "a<br>"
    assert chat.escape_block("\n\n\n\nb") == "<br><br>b"
    assert chat.escape_block("  x   y  ") == " x y "


# ---- sources ---------------------------------------------------------------------------------------


def test_highlight_finds_quotes_across_whitespace_and_merges_overlaps():
    passage = "One two.  Three\nfour. Five six."
    body, found = chat.highlight(passage, ["Three four.", "four. Five", "absent"])
    assert found
    assert body == "One two&#46; <mark>Three<br>four&#46; Five</mark> six&#46;"


def test_a_quote_missing_from_the_passage_is_shown_above_it():
    c = make_citation(quotes=["Not in the passage."], passage="Something else.")
    assert chat.source_html(c) == (
        '<div class="rag-source"><mark>Not in the passage&#46;</mark><br><br>'
        "Something else&#46;</div>"
    )


def test_source_title_names_heading_path_document_and_lines():
    c = make_citation(number=2, heading_path=["A", "B & C"], line_start=3, line_end=9)
    assert chat.source_title(c) == (
        "&#91;2&#93; A \u203a B &#38; C \u00b7 sensetime&#95;profile&#46;md \u00b7 lines 3\u20139"
    )


def test_one_source_message_per_citation_in_order():
    cits = [make_citation(1), make_citation(2, quotes=["Headquarters: Hong Kong"])]
    reply = respond("q", [], bot=FakeBot([make_answer(text="a [1] b [2]", citations=cits)]))
    titles = [m["metadata"]["title"] for m in reply.messages if "metadata" in m]
    assert [t[:12] for t in titles] == ["&#91;1&#93; ", "&#91;2&#93; "]


def test_debug_rows_from_passage_dicts_and_objects():
    class P:
        def to_dict(self, with_text=True):
            assert with_text is False
            return {
                "rank": 2,
                "score": 0.5,
                "dense_rank": None,
                "dense_score": None,
                "lexical_rank": 1,
                "lexical_score": 3.14159,
                "heading_path": ["X", "Y"],
                "document": "d.md",
                "line_start": 1,
                "line_end": 2,
            }

    answer = make_answer()
    answer.passages.append(P())
    assert chat.debug_rows(answer) == [
        [1, 0.0328, 1, 0.6651, None, None, "SenseTime > Company Info", "sensetime_profile.md:7-11"],
        [2, 0.5, None, None, 1, 3.1416, "X > Y", "d.md:1-2"],
    ]
    assert chat.debug_rows(None) == []


def test_debug_details():
    reply = respond("q", [], bot=FakeBot())
    d = chat.debug_details(reply)
    assert d["rewritten_query"] == "q" and d["threshold"] == 0.43 and d["abstained"] is False
    assert chat.debug_details(chat.Reply(history=[], error="boom")) == {"error": "boom"}


# ---- votes ------------------------------------------------------------------------------------------


def _session(bot, questions):
    """Run questions like the app does: the chat value and one answer record per question."""
    history, answers = [], []
    for q in questions:
        reply = respond(q, history, bot=bot)
        history = reply.history
        answers.append(chat.answer_record(reply.answer))
    return history, answers


def test_a_vote_on_any_message_of_a_turn_records_that_turn(tmp_path):
    bot = FakeBot(
        [
            make_answer("Who founded SenseTime?"),
            make_answer(
                "When was it founded?",
                text="Founded: October 2014 [1]",
                rewritten="When was SenseTime founded?",
            ),
        ]
    )
    history, answers = _session(bot, ["Who founded SenseTime?", "When was it founded?"])
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    # messages: 0 user, 1 answer, 2 source | 3 user, 4 answer, 5 source
    r2 = chat.record_vote(history, answers, 4, True, log)
    r1 = chat.record_vote(history, answers, 2, False, log)
    r0 = chat.record_vote(history, answers, [5, 0], "", log)  # tuple index, vote taken back
    assert (r2.question, r2.vote, r2.rewritten_query) == (
        "When was it founded?",
        "like",
        "When was SenseTime founded?",
    )
    assert (r1.question, r1.vote) == ("Who founded SenseTime?", "dislike")
    assert r0.vote == "cleared"
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert [(d["question"], d["vote"]) for d in lines] == [
        ("When was it founded?", "like"),
        ("Who founded SenseTime?", "dislike"),
        ("When was it founded?", "cleared"),
    ]
    assert lines[0]["answer"] == "Founded: October 2014 [1]"
    assert lines[0]["citations"][0]["heading"] == "SenseTime > Company Info"


@pytest.mark.parametrize("index", [-1, 99, None, "1"])
def test_votes_on_unknown_messages_are_ignored(tmp_path, index):
    history, answers = _session(FakeBot(), ["q"])
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    assert chat.record_vote(history, answers, index, True, log) is None
    assert not log.path.exists()


def test_votes_on_an_error_turn_are_ignored(tmp_path):
    history, answers = _session(FakeBot(error=QuestionError("bad")), ["q"])
    assert answers == [None]
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    assert chat.record_vote(history, answers, 1, True, log) is None
    assert not log.path.exists()


def test_answer_record_drops_passages():
    d = chat.answer_record(make_answer())
    assert "passages" not in d and d["citations"][0]["number"] == 1
    assert chat.answer_record(None) is None


# ---- the /ask endpoint's function ------------------------------------------------------------------


def test_api_answer_returns_the_answer_dict():
    bot = FakeBot()
    d = chat.api_answer(bot, "When was it founded?", ["Who founded SenseTime?"], "dense", 4)
    assert d == make_answer("When was it founded?").to_dict()
    assert bot.calls[0] == {
        "question": "When was it founded?",
        "history": ["Who founded SenseTime?"],
        "k": 4,
        "mode": "dense",
    }


@pytest.mark.parametrize(
    ("question", "history", "match"),
    [
        (None, None, "question must be text"),
        ("q", "Who founded SenseTime?", "history must be a list"),
    ],
)
def test_api_answer_rejects_bad_input(question, history, match):
    with pytest.raises(ValueError, match=match):
        chat.api_answer(FakeBot(), question, history)


# ---- serving settings (ui.app, without importing Gradio) --------------------------------------------


def test_importing_ui_app_does_not_import_gradio():
    code = "import sys, ui.app; print('gradio' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  ", None),
        ("alice:s3cret", ("alice", "s3cret")),
        ("alice:pa:ss", ("alice", "pa:ss")),
    ],
)
def test_parse_auth(value, expected):
    from ui.app import parse_auth

    assert parse_auth(value) == expected


@pytest.mark.parametrize("value", ["alice", "alice:", ":pw", "   :pw"])
def test_parse_auth_errors_name_the_fix_and_hide_the_password(value):
    from ui.app import parse_auth

    with pytest.raises(ValueError, match="USER:PASSWORD") as err:
        parse_auth(value)
    assert "pw" not in str(err.value)


@pytest.mark.parametrize(
    ("host", "auth", "warns"),
    [
        ("127.0.0.1", None, False),
        ("localhost", None, False),
        ("::1", None, False),
        ("127.0.0.5", None, False),
        ("0.0.0.0", None, True),
        ("192.168.1.4", None, True),
        ("::", None, True),
        ("example.org", None, True),
        ("0.0.0.0", ("u", "p"), False),
    ],
)
def test_bind_warning(host, auth, warns):
    from ui.app import bind_warning

    message = bind_warning(host, auth)
    assert (message is not None) == warns
    if warns:
        assert host in message and "--auth" in message and "127.0.0.1" in message
