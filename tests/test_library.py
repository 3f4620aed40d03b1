"""The document library: ``rag add`` / ``rag remove`` / ``rag docs``, content-hash identity,
incremental indexing of new formats, and a running bot that follows its corpus folder (uploads,
other shells, edits, a concurrent ``rag index``) while other users keep getting answers. Fast: the
deterministic fake embedder, real files (HTML and Word made here; PDFs printed by Chromium)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.docgen import markdown_to_docx, markdown_to_html
from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from rag.library import add_file
from tests.conftest import ROOT, TINY_DOC

ENV = {"RAG_MODEL": "hash-64", "RAG_ABSTAIN_THRESHOLD": "0.1", "RAG_WATCH_SECONDS": "0"}
HARBOUR = (
    "# Harbour report\n\n## Shipping\nThe harbour moved 9 million containers through its "
    "eastern quay.\n\n## Staff\nThe harbour employs four hundred pilots and crane drivers.\n"
)


class Counting(HashEmbedder):
    """Records what it embeds; with ``delay``, every call from a thread other than the main one
    (a background build) is slow, while the main thread's questions are not."""

    def __init__(self, delay: float = 0.0):
        super().__init__(64)
        self.seen: list[str] = []
        self.delay = delay

    def embed_batch(self, texts):
        self.seen.extend(texts)
        if self.delay and threading.current_thread() is not threading.main_thread():
            time.sleep(self.delay)
        return super().embed_batch(texts)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "acme.md").write_text(TINY_DOC, encoding="utf-8")
    return folder


def run(*args, data: Path, **env):
    from rag.cli import app

    return CliRunner().invoke(app, list(args), env={**ENV, "RAG_DATA_DIR": str(data), **env})


def bot_for(corpus: Path, data: Path, embedder=None, **settings) -> Chatbot:
    settings = {"watch_seconds": 0, **settings}
    return Chatbot.from_corpus(
        corpus,
        embedder=embedder or HashEmbedder(64),
        model="hash-64",
        data_dir=data,
        abstain_threshold=0.1,
        **settings,
    )


# ---- rag add / remove / docs ---------------------------------------------------------------------


def test_add_copies_checks_and_indexes_each_file_and_names_each_failure(corpus, tmp_path):
    data = tmp_path / "data"
    incoming = tmp_path / "in"
    incoming.mkdir()
    (incoming / "harbour.html").write_text(markdown_to_html(HARBOUR, "Harbour"))
    markdown_to_docx(HARBOUR.replace("harbour", "port"), incoming / "port.docx")
    (incoming / "photo.md").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 100)
    (incoming / "big.txt").write_text("word " * 300_000)  # 1.5 MB
    result = run(
        "add",
        *(str(incoming / n) for n in ("harbour.html", "port.docx", "photo.md", "big.txt")),
        "--corpus",
        str(corpus),
        data=data,
        RAG_UPLOAD_MAX_MB="1",
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if not line.startswith(("Indexing ", "Indexed "))]
    assert len(lines) - len(errors) == 2  # the build's progress lines
    assert len(errors) == 2 and all(e.startswith("error: ") for e in errors)
    assert "photo.md: is a PNG image" in errors[0] and "ocrmypdf" in errors[0]
    assert "big.txt: 1.4 MiB is over the 1 MiB limit" in errors[1]
    assert sorted(p.name for p in corpus.iterdir()) == ["acme.md", "harbour.html", "port.docx"]
    assert "Indexed 3 document(s)" in result.stdout
    docs = run("docs", "--corpus", str(corpus), "--json", data=data)
    assert docs.exit_code == 0, docs.output
    import json

    rows = {r["name"]: r for r in json.loads(docs.stdout)}
    assert {n: r["type"] for n, r in rows.items()} == {
        "acme.md": "markdown",
        "harbour.html": "html",
        "port.docx": "docx",
    }
    assert rows["harbour.html"]["sections"] == 2 and rows["harbour.html"]["chunks"] >= 2
    assert rows["acme.md"]["indexed"].endswith("Z")
    table = run("docs", "--corpus", str(corpus), data=data)
    assert "harbour.html" in table.stdout and "html" in table.stdout


def test_re_adding_the_same_content_under_any_name_creates_no_duplicate(corpus, tmp_path):
    data = tmp_path / "data"
    copy = tmp_path / "acme-copy-renamed.txt"
    copy.write_bytes((corpus / "acme.md").read_bytes())
    result = run("add", str(copy), "--corpus", str(corpus), data=data)
    assert result.exit_code == 0, result.output
    assert "already in the library as acme.md" in result.stdout
    assert sorted(p.name for p in corpus.iterdir()) == ["acme.md"]


def test_remove_takes_a_document_out_of_the_folder_and_the_index(corpus, tmp_path):
    data = tmp_path / "data"
    (corpus / "harbour.md").write_text(HARBOUR)
    assert run("index", "--corpus", str(corpus), data=data).exit_code == 0
    result = run("remove", "harbour.md", "--corpus", str(corpus), data=data)
    assert result.exit_code == 0, result.output
    assert "removed harbour.md" in result.stdout and "Indexed 1 document(s)" in result.stdout
    assert not (corpus / "harbour.md").exists()
    missing = run("remove", "nothing.md", "--corpus", str(corpus), data=data)
    assert missing.exit_code == 2
    assert "nothing.md: no such document" in missing.stderr and "rag docs" in missing.stderr


def test_a_link_to_a_file_in_the_corpus_indexes_it_once(corpus, tmp_path):
    (corpus / "alias.md").symlink_to(corpus / "acme.md")
    (corpus / "again.md").symlink_to("acme.md")
    bot = bot_for(corpus, tmp_path / "data")
    docs = {c.doc_id for c in bot.index.chunks}
    assert docs == {"acme.md"}
    assert bot.index.manifest["duplicates"] == {"again.md": "acme.md", "alias.md": "acme.md"}
    passages = bot.retrieve("Who founded Acme?", k=5)
    assert len({p.chunk.id for p in passages}) == len(passages)
    texts = [p.chunk.text for p in passages]
    assert len(set(texts)) == len(texts), "the same chunk came back more than once"


# ---- incremental ---------------------------------------------------------------------------------


def test_a_new_document_embeds_only_its_own_text_and_is_parsed_once(corpus, tmp_path, monkeypatch):
    import rag.readers.sandbox as sandbox

    embedder = Counting()
    bot = bot_for(corpus, tmp_path / "data", embedder)
    bot.warm_up()
    profile_texts = set(embedder.seen)
    embedder.seen.clear()
    calls = []
    real = sandbox.extract_isolated

    def counting(data, kind, *a, **k):
        calls.append(kind)
        return real(data, kind, *a, **k)

    monkeypatch.setattr(sandbox, "extract_isolated", counting)
    markdown_to_docx(HARBOUR, tmp_path / "harbour.docx")
    cache = bot.store().cache_dir
    assert add_file(corpus, tmp_path / "harbour.docx", cache_dir=cache).status == "added"
    assert bot.refresh(wait=True)
    m = bot.index.manifest
    assert m["corpus"].keys() == {"acme.md", "harbour.docx"}
    assert not set(embedder.seen) & profile_texts, "the old document was embedded again"
    new_chunks = [c for c in bot.index.chunks if c.doc_id == "harbour.docx"]
    assert m["embedded"]["chunks"] == len(new_chunks)
    assert calls == ["docx"]
    # a rebuild for another reason reads the Word file from the cache, not the parser
    (corpus / "notes.md").write_text("# Notes\nA note.\n")
    assert bot.refresh(wait=True)
    assert calls == ["docx"]


# ---- a running bot follows the folder --------------------------------------------------------------


def test_a_running_bot_sees_additions_deletions_and_edits(corpus, tmp_path):
    bot = bot_for(corpus, tmp_path / "data")
    assert bot.ask("How many containers did the harbour move?").abstained or not any(
        c.document == "harbour.md" for c in bot.ask("harbour containers").citations
    )
    (corpus / "harbour.md").write_text(HARBOUR)
    assert bot.refresh(wait=True)
    answer = bot.ask("How many containers did the harbour move?")
    assert answer.citations and answer.citations[0].document == "harbour.md"
    assert "9 million containers" in answer.citations[0].quote

    # edited: until the refresh, the citation says the file changed
    (corpus / "harbour.md").write_text(HARBOUR.replace("9 million", "11 million"))
    stale = bot.ask("How many containers did the harbour move?")
    assert stale.citations[0].changed == "has changed"
    assert any("harbour.md has changed since it was indexed" in n for n in stale.notices)
    assert bot.refresh(wait=True)
    fresh = bot.ask("How many containers did the harbour move?")
    assert "11 million" in fresh.citations[0].quote and not fresh.citations[0].changed
    assert (corpus / "harbour.md").read_text()[
        fresh.citations[0].char_start : fresh.citations[0].char_end
    ] == fresh.citations[0].source_text

    # deleted: the citation says so, then the document is gone
    (corpus / "harbour.md").unlink()
    gone = bot.ask("How many containers did the harbour move?")
    assert any("harbour.md was removed since it was indexed" in n for n in gone.notices)
    assert bot.refresh(wait=True)
    after = bot.ask("How many containers did the harbour move?")
    assert all(c.document != "harbour.md" for c in after.citations)


def test_questions_trigger_the_refresh_in_the_background(corpus, tmp_path):
    bot = bot_for(corpus, tmp_path / "data", watch_seconds=0.05)
    bot.warm_up()
    generation = bot.generation
    (corpus / "harbour.md").write_text(HARBOUR)
    time.sleep(0.1)
    deadline = time.monotonic() + 30
    while bot.generation == generation and time.monotonic() < deadline:
        bot.ask("harbour containers")
        time.sleep(0.05)
    assert bot.generation > generation
    assert "harbour.md" in bot.index.manifest["corpus"]


def test_a_build_by_another_process_is_picked_up(corpus, tmp_path):
    data = tmp_path / "data"
    bot = bot_for(corpus, data)
    bot.warm_up()
    first = bot.index.manifest["created"], os.readlink(bot.settings.index_dir() / "current")
    (corpus / "harbour.md").write_text(HARBOUR)
    env = {**os.environ, **ENV, "RAG_DATA_DIR": str(data)}
    exe = Path(sys.executable).with_name("rag")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-c", "from rag.cli import app; app()"]
    done = subprocess.run(
        [*cmd, "index", "--corpus", str(corpus)], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    link = os.readlink(bot.settings.index_dir() / "current")
    assert link != first[1]
    assert bot.refresh(wait=True)
    # the bot now serves exactly the build the other process installed, without building again
    assert bot.index.manifest["created"] == bot.store().previous().manifest["created"]
    assert os.readlink(bot.settings.index_dir() / "current") == link
    assert "harbour.md" in bot.index.manifest["corpus"]


def test_other_users_keep_answering_during_a_build_and_switch_at_once(corpus, tmp_path):
    embedder = Counting()
    bot = bot_for(corpus, tmp_path / "data", embedder)
    bot.warm_up()
    old = bot.index
    embedder.delay = 0.5  # every embedding call of the background build is slow
    (corpus / "harbour.md").write_text(HARBOUR)
    t_build = time.perf_counter()
    builder = threading.Thread(target=bot.refresh, kwargs={"wait": True})
    builder.start()
    answered = []
    while builder.is_alive() and len(answered) < 500:
        t0 = time.perf_counter()
        answer = bot.ask("Who founded Acme?")
        answered.append((time.perf_counter() - t0, answer, bot.index is old))
        time.sleep(0.02)
    builder.join()
    t_build = time.perf_counter() - t_build
    during = [a for a in answered if a[2]]
    assert len(during) >= 3 and t_build > 1.0, (len(during), t_build)
    for seconds, answer, _ in during:
        assert seconds < 0.5 and not answer.abstained  # from the current index, not waiting
        assert answer.citations[0].document == "acme.md"
    assert bot.index is not old and "harbour.md" in bot.index.manifest["corpus"]
    assert "harbour.md" in {c.document for c in bot.ask("harbour containers quay").citations}
