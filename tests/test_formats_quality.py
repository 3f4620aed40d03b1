"""The bundled profile as PDF, Word and HTML, each the only document, against the markdown original:
the bundled question set scores within 0.02 on section_hit@1 and must_include_recall per format,
and every PDF citation names the page that holds its quote (checked against pdfplumber's own text
of that page)."""

from __future__ import annotations

import re

import pytest

from rag import evaluation as ev
from tests.conftest import ROOT

pytestmark = pytest.mark.slow
QUESTIONS = ROOT / "eval" / "questions.jsonl"
TOLERANCE = 0.02
METRICS = ("section_hit@1", "must_include_recall")


@pytest.fixture(scope="module")
def markdown_summary(real_bot):
    return ev.evaluate(QUESTIONS, bot=real_bot)


def bot_for(path, data_dir):
    from rag.chatbot import Chatbot

    corpus = data_dir / f"only-{path.suffix[1:]}"
    corpus.mkdir()
    (corpus / path.name).write_bytes(path.read_bytes())
    return Chatbot.from_corpus(corpus, data_dir=data_dir / "data", watch_seconds=0)


@pytest.mark.parametrize("kind", ["pdf", "docx", "html"])
def test_each_format_answers_as_well_as_the_markdown(
    kind, profile_files, markdown_summary, tmp_path, real_bot
):
    bot = bot_for(profile_files[kind], tmp_path)
    bot._embedder = real_bot.embedder  # the same loaded model; the index is this format's own
    summary = ev.evaluate(QUESTIONS, bot=bot, out_dir=tmp_path / "eval")
    assert summary["n_errors"] == 0
    record(kind, summary, markdown_summary)
    for metric in METRICS:
        got, base = summary["metrics"][metric], markdown_summary["metrics"][metric]
        assert got >= base - TOLERANCE, f"{kind} {metric} {got:.3f} vs markdown {base:.3f}"
    if kind == "pdf":
        check_pages(bot, profile_files["pdf"])


def record(kind: str, summary: dict, markdown: dict) -> None:
    """Keep the figures of this run in tests/artifacts/formats_quality.json (README, "Documents")."""
    import json

    path = ROOT / "tests" / "artifacts" / "formats_quality.json"
    path.parent.mkdir(exist_ok=True)
    data = json.loads(path.read_text()) if path.exists() else {}
    data["markdown"] = markdown["metrics"]
    data[kind] = summary["metrics"]
    path.write_text(json.dumps(data, indent=2))


def _norm(text: str) -> str:
    text = text.replace("\ufb01", "fi").replace("\ufb00", "ff").replace("\ufb02", "fl")
    # letters and digits only: pdfplumber cannot decode the CJK glyphs of this PDF's fallback font
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def check_pages(bot, pdf_path):
    """Ask every answerable question again; each citation's page must hold its quote."""
    import pdfplumber

    with pdfplumber.open(pdf_path) as pdf:
        # list numbers are text in the PDF and list markers in the extracted text: drop both
        page_text = [
            _norm(re.sub(r"(?m)^\s*\d{1,3}[.)]\s", "", p.extract_text() or "")) for p in pdf.pages
        ]
    checked, pages_seen = 0, set()
    for q in ev.load_questions(QUESTIONS):
        if not q.answerable:
            continue
        answer = bot.ask(q.question, history=q.history or None)
        for p in answer.passages:  # retrieved passages carry their pages too
            assert p.page is not None and p.page <= p.page_end <= len(page_text), p
        for c in answer.citations:
            assert c.page is not None and 1 <= c.page <= len(page_text), c
            # the text as extracted (the quote may have fused words repaired)
            lines = [
                _norm(re.sub(r"^\s*(-|#+)\s", "", line)) for line in c.source_text.splitlines()
            ]
            lines = [line for line in lines if line]
            assert lines[0][:40] in page_text[c.page - 1], (c.page, c.source_text)
            # the last line is on the last page (a quote of several items may cross a page end)
            assert lines[-1][-40:] in page_text[(c.page_end or c.page) - 1], (c.page_end, c.quote)
            pages_seen.add(c.page)
            checked += 1
    assert checked >= 50 and len(pages_seen) >= 3, (checked, pages_seen)
