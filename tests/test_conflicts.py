"""Issue 21, point 1: when two documents give different answers to one question, the answer says
so and cites both. The real model on a copy of the bundled profile with one planted file (the
issue's attack), one that agrees, and unit cases of the rule on made-up candidates."""

from __future__ import annotations

import shutil
from types import SimpleNamespace

import pytest

from rag.answer.conflicts import find_conflict
from tests.conftest import PROFILE

PLANTED = (
    "# SenseTime history\n\nSenseTime was founded by Mallory Quince, a retired baker from Leeds, "
    "who started the company alone.\n"
)
AGREES = (
    "# A note on SenseTime\n\nThe founder of SenseTime is Professor Xiao'ou Tang, an academic "
    "at the Chinese University of Hong Kong.\n"
)


def bot_on(tmp_path, real_bot, extra: dict[str, str]):
    from rag.chatbot import Chatbot

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(PROFILE, corpus / PROFILE.name)
    for name, text in extra.items():
        (corpus / name).write_text(text)
    bot = Chatbot.from_corpus(corpus, data_dir=tmp_path / "data")
    bot._embedder = real_bot.embedder  # the loaded model, shared
    return bot


@pytest.mark.slow
def test_a_planted_answer_is_reported_beside_the_real_one(tmp_path, real_bot):
    from ui import chat

    bot = bot_on(tmp_path, real_bot, {"history.md": PLANTED})
    answer = bot.ask("Who started SenseTime?")
    assert not answer.abstained, answer.reason
    cited = {c.document for c in answer.citations} | {c.document for c in answer.conflicts}
    assert cited == {"history.md", PROFILE.name}, (answer.text, cited)
    notice = next(n for n in answer.notices if n.startswith("The documents disagree"))
    assert "history.md" in notice or PROFILE.name in notice
    html = "".join(m["content"] for m in chat.answer_messages(answer))
    assert "Mallory" in html and "Tang" in html  # both shown in the chat
    assert answer.to_dict()["conflicts"]


@pytest.mark.slow
def test_documents_that_agree_are_no_conflict(tmp_path, real_bot):
    bot = bot_on(tmp_path, real_bot, {"note.md": AGREES})
    answer = bot.ask("Who started SenseTime?")
    assert not answer.abstained and not answer.conflicts, answer.notices
    assert not any(n.startswith("The documents disagree") for n in answer.notices)


def cand(ci, start, text, prior, typed=True):
    unit = SimpleNamespace(char_start=start, text=text)
    return SimpleNamespace(chunk_index=ci, unit=unit, prior=prior, evidence=prior / 2, typed=typed)


DOCS = {0: "a.md", 1: "b.md", 2: "a.md"}


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        (cand(1, 0, "Acme was founded by Mallory Quince.", 1.2), True),  # strong, different
        (cand(1, 0, "Acme was founded by Mallory Quince.", 0.5), False),  # weak
        (cand(1, 0, "Acme was founded by Mallory Quince.", 1.2, typed=False), False),  # no name
        (cand(1, 0, "The founder of Acme is Jane Roe, since 1990.", 1.2), False),  # agrees
        (cand(2, 5, "Acme was founded by Mallory Quince.", 1.2), False),  # same document
    ],
)
def test_the_rule(other, expected):
    mine = cand(0, 0, "Acme was founded by Jane Roe in 1990.", 1.5)
    got = find_conflict([mine, other], [(0, mine.unit)], DOCS.get, "Who founded Acme?", 0.6, 0.5)
    assert (got is other) is expected
