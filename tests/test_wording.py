"""Issue 21, point 16, the wording: scores said in words, "Understood as" once, plurals right, and
DOCX citations placed by their heading (no "lines 17-17", which means nothing in Word). The
chat's own rendering, and one real DOCX through the engine (the fake embedder)."""

from __future__ import annotations

import io

import pytest

from tests.test_ui_chat import make_answer, make_citation
from ui import chat


def test_an_abstention_says_its_score_in_words():
    answer = make_answer(abstained=True, citations=[])
    answer.reason = "the documents never mention 'Quux' (score P(answerable) 0.02, threshold 0.00)"
    html = chat.answer_html(answer)
    assert "P(answerable)" not in html and "threshold 0" not in html
    assert "2&#37;" in html or "2%" in html
    assert "the check decided" in html  # why it abstained although the model would have answered
    low = chat.reason_in_words("nothing close (score P(answerable) 0.10, threshold 0.35)")
    assert "10% chance" in low and "below the 35% it needs" in low
    ev = chat.reason_in_words(
        "the documents never mention 'Apple' (evidence score 0.34, threshold 0.43)"
    )
    assert "below the 0.43 needed" in ev and "threshold" not in ev


def test_understood_as_appears_once():
    answer = make_answer(
        question="When was it founded?",
        rewritten="When was SenseTime founded?",
        notices=["Understood as: it = SenseTime"],
    )
    html = chat.answer_html(answer)
    assert html.count("Understood as") == 1, html


@pytest.mark.parametrize(
    ("n", "word", "text"), [(1, "page", "1 page"), (2, "page", "2 pages"), (0, "chunk", "0 chunks")]
)
def test_plurals(n, word, text):
    assert chat.plural(n, word) == text


def test_the_documents_table_says_sizes_in_words():
    rows = [
        {"name": "a.pdf", "type": "pdf", "pages": 1, "chunks": 1, "status": "indexed"},
        {"name": "b.md", "type": "markdown", "pages": None, "chunks": 2, "status": "indexed"},
    ]
    table = chat.document_table(rows)
    assert table == [["a.pdf", "pdf \u00b7 1 page \u00b7 1 chunk"], ["b.md", "md \u00b7 2 chunks"]]
    assert chat.documents_label(rows) == "2 documents"
    assert chat.documents_label(rows, "a.") == "2 documents (1 shown)"


def test_a_docx_citation_gives_its_heading_not_lines(tmp_path):
    import docx

    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder
    from rag.library import add_file

    d = docx.Document()
    d.add_heading("Harbour", level=1)
    d.add_heading("Cranes", level=2)
    for i in range(12):
        d.add_paragraph(f"Filler paragraph number {i} about the weather at sea.")
    d.add_paragraph("The harbour has four green cranes for containers.")
    buf = io.BytesIO()
    d.save(buf)
    src = tmp_path / "harbour.docx"
    src.write_bytes(buf.getvalue())
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    assert add_file(corpus, src).status == "added"
    bot = Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=tmp_path / "data",
        abstain_threshold=0.1,
    )  # fmt: skip
    answer = bot.ask("How many cranes does the harbour have?")
    assert answer.citations, answer.reason
    titles = [chat.source_title(c) for c in answer.citations]
    assert all("line" not in t for t in titles), titles
    assert any("Cranes" in t and "harbour&#46;docx" in t for t in titles), titles
    # a text file keeps its line numbers
    md = make_citation()
    assert "line" in chat.source_title(md)
