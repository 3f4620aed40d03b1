"""Issue 21, point 6: removal moves files into the trash of the data folder and ``rag restore``
brings them back; one lock around the check and the move; an empty corpus is a valid state (the
CLI removes the last document, the chat starts on an empty folder and says there are no
documents). The fake embedder and tiny files; one real server for the chat."""

from __future__ import annotations

import threading

import httpx
import pytest
from typer.testing import CliRunner

from rag.cli import app
from tests.conftest import TINY_DOC

runner = CliRunner()
HARBOUR = "# Harbour\n\n## Cranes\nThe harbour has four cranes, painted green in 2019.\n"


def env(tmp_path) -> dict:
    return {
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_MODEL": "hash-64",
        "RAG_ABSTAIN_THRESHOLD": "0.1",
    }


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "acme.md").write_text(TINY_DOC)
    return folder


def test_removing_the_only_document_succeeds_and_restore_brings_it_back(corpus, tmp_path):
    e = env(tmp_path)
    assert runner.invoke(app, ["index", "--corpus", str(corpus)], env=e).exit_code == 0
    r = runner.invoke(app, ["remove", "acme.md", "--corpus", str(corpus)], env=e)
    assert r.exit_code == 0, r.output
    assert "removed acme.md" in r.stdout and "rag restore acme.md" in r.stdout
    assert "holds no document now" in r.stdout and "error" not in r.output
    assert not (corpus / "acme.md").exists()
    trashed = list((tmp_path / "data" / "trash").glob("*/acme.md"))
    assert len(trashed) == 1 and trashed[0].read_text() == TINY_DOC

    ask = runner.invoke(app, ["ask", "Who is the founder of Acme?", "--json",
                              "--corpus", str(corpus)], env=e)  # fmt: skip
    assert ask.exit_code == 0, ask.output
    assert "no documents" in ask.stdout and "Jane Roe" not in ask.stdout

    listed = runner.invoke(app, ["restore", "--corpus", str(corpus)], env=e)
    assert listed.exit_code == 0 and "acme.md" in listed.stdout
    back = runner.invoke(app, ["restore", "acme.md", "--corpus", str(corpus)], env=e)
    assert back.exit_code == 0, back.output
    assert "restored acme.md" in back.stdout and (corpus / "acme.md").read_text() == TINY_DOC
    ask = runner.invoke(app, ["ask", "Who is the founder of Acme?", "--corpus", str(corpus)], env=e)
    assert "Jane Roe" in ask.stdout
    again = runner.invoke(app, ["restore", "acme.md", "--corpus", str(corpus)], env=e)
    assert again.exit_code == 2 and "not in the trash" in again.stderr


def make_bot(corpus, tmp_path, notes=None):
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder
    from rag.settings import Settings

    settings = Settings.make(
        corpus_dir=corpus,
        model="hash-64",
        data_dir=tmp_path / "data",
        abstain_threshold=0.1,
        watch_seconds=0,
    )
    notify = notes.append if notes is not None else None
    return Chatbot(settings, embedder=HashEmbedder(64), notify=notify)


def test_two_sessions_removing_at_once_lose_nothing_and_the_chat_keeps_working(corpus, tmp_path):
    from ui import uploads

    (corpus / "harbour.md").write_text(HARBOUR)
    notes: list[str] = []
    bot = make_bot(corpus, tmp_path, notes).warm_up()
    barrier = threading.Barrier(4)
    results: list[str] = []

    def remove(name):
        barrier.wait(10)
        try:
            results.append(uploads.remove(bot, name))
        except ValueError as exc:
            results.append(f"refused: {exc}")

    threads = [threading.Thread(target=remove, args=(n,)) for n in ("acme.md", "harbour.md") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(r.split(" (")[0] for r in results if r.startswith("removed")) == [
        "removed acme.md",
        "removed harbour.md",
    ], results
    assert sum("no such document" in r for r in results) == 2, results
    # both files are in the trash, whole; the chat serves the empty corpus, with no errors
    trash = sorted(p.name for p in (tmp_path / "data" / "trash").glob("*/*.md"))
    assert trash == ["acme.md", "harbour.md"]
    answer = bot.ask("How many cranes does the harbour have?")
    assert answer.abstained and "no documents" in answer.text.lower()
    assert not any("could not refresh" in n for n in notes), notes
    assert uploads.rows(bot) == []
    # a new chat starts on the folder; a restored file is answered from again
    fresh = make_bot(corpus, tmp_path).warm_up()
    assert fresh.ask("Who is the founder of Acme?").abstained
    from rag.library import restore_document

    restore_document(tmp_path / "data" / "trash", corpus, "harbour.md")
    bot.refresh(wait=True)
    assert "four cranes" in bot.ask("How many cranes does the harbour have?").text


@pytest.mark.slow
def test_the_chat_starts_on_an_empty_folder_and_says_there_are_no_documents(tmp_path):
    from tests.test_uploads_http import free_port
    from ui.app import serve

    empty = tmp_path / "empty"
    empty.mkdir()
    demo, url = serve(make_bot(empty, tmp_path), port=free_port())
    try:
        r = httpx.post(
            url + "gradio_api/call/ask",
            json={"data": ["Who is the founder of Acme?", None, None, None, None]},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        text = httpx.get(url + f"gradio_api/call/ask/{r.json()['event_id']}", timeout=30).text
        assert "event: complete" in text and "no documents" in text.lower(), text[:400]
    finally:
        demo.close()
