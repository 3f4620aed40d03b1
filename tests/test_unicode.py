"""Unicode tricks: bidi controls never reach the page, escape sequences never reach the terminal,
questions and indexed text are NFKC-normalised without zero-width characters, and a name spelled
with a letter of another script is flagged. A tiny corpus and a hash embedder."""

from __future__ import annotations

import pytest

from rag.cli import format_answer
from rag.unicode import mixed_script_words, normalise, terminal_safe
from tests.conftest import hash_bot
from ui import chat

HARBOUR = """# Harbour

## Fees
Mooring costs 0.02\u202e$ a night for members.

## Founding
The harbour was founded by Mara Quist in 1901. \x1b]0;pwned\x07Its office is on Pier\u200b Road.
\x1b]8;;http://evil.example/\x07Harbour office\x1b]8;;\x07 opens at 9.

## Pilots
Pilot boats are run by Kоrvin Marine.
"""


@pytest.fixture
def harbour_bot(tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "harbour.md").write_text(HARBOUR, encoding="utf-8")
    return hash_bot(corpus, tmp_path / "data")


BIDI = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def test_bidi_controls_from_a_document_never_render(harbour_bot):
    reply = chat.respond("What are the mooring fees?", [], bot=harbour_bot)
    page = "".join(str(m["content"]) for m in reply.history)
    assert "0&#46;02&#36;" in page and not BIDI & set(page)
    assert not BIDI & set(chat.escape("a\u202eb\u2067c"))


def test_rag_ask_output_carries_no_escape_sequence(harbour_bot):
    answer = harbour_bot.ask("Where is the harbour office?")
    out = format_answer(answer)
    assert "Pier Road" in out and "\x1b" not in out and "\x07" not in out and "pwned" not in out
    assert terminal_safe("a\x1b[31mb\x1b[0m\x9b2Jc\x1b]8;;x\x1b\\d\n\te") == "abcd\n\te"


@pytest.mark.parametrize(
    "question",
    [
        "Who founded the harbour?",
        "Who foun\u200bded the har\u200dbour?",
        "Ｗｈｏ ｆｏｕｎｄｅｄ ｔｈｅ ｈａｒｂｏｕｒ？",
        "Who \ufefffounded the harbour\u2060?",
    ],
)
def test_zero_width_and_full_width_questions_get_the_plain_answer(harbour_bot, question):
    answer = harbour_bot.ask(question)
    assert answer.question == "Who founded the harbour?"  # what was searched and shown
    assert not answer.abstained and "Mara Quist" in answer.text


def test_indexed_text_is_normalised_and_keeps_its_positions(harbour_bot):
    index = harbour_bot.warm_up().index
    units = [u for c in index.chunks for u in c.units]
    office = next(u for u in units if "office is on" in u.text)
    assert "Pier Road" in office.text and "\u200b" not in office.text
    doc_text = HARBOUR  # positions still index the document as stored
    assert "Pier\u200b Road" in doc_text[office.char_start : office.char_end]
    assert normalise("ﬁle ＡＢＣ 10² H₂O") == "file ABC 10² H₂O"


def test_a_name_with_a_cyrillic_letter_is_flagged(harbour_bot):
    answer = harbour_bot.ask("Who runs the pilot boats?")
    assert "Marine" in answer.text
    assert any("Mixed scripts" in n and "Cyrillic" in n for n in answer.notices)
    assert mixed_script_words("Kоrvin Marine and Korvin, Москва") == ["Kоrvin"]
