"""Hostile corpus folders: each file either indexes or is refused with a message naming it and the
fix, through the library and through ``rag index``; never a traceback, a hang or a file read from
outside the folder. Fake embedder (``hash-64``) throughout: fast and exact.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rag.documents
from rag.chatbot import Chatbot
from rag.chunking import Chunker
from rag.documents import MAX_FILE_BYTES, CorpusError, Document, load_corpus, load_document
from rag.embedding import HashEmbedder
from rag.index import Index, IndexStore
from tests.conftest import TINY_DOC

ENV = {"RAG_MODEL": "hash-64", "RAG_ABSTAIN_THRESHOLD": "0.1"}


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "acme.md").write_text(TINY_DOC, encoding="utf-8")
    return folder


def rag_index(corpus: Path, data: Path):
    """``rag index --corpus CORPUS`` in-process; returns the click result."""
    from rag.cli import app

    return CliRunner().invoke(
        app, ["index", "--corpus", str(corpus)], env={**ENV, "RAG_DATA_DIR": str(data)}
    )


def assert_refused(result, *needles: str) -> None:
    """Exit status 2, one ``error:`` line holding every needle, no traceback. The other documents
    are still indexed (issue 13), so the build's two progress lines may stand beside it."""
    assert result.exit_code == 2, result.output
    all_lines = result.stderr.strip().splitlines()
    lines = [line for line in all_lines if not line.startswith(("Indexing ", "Indexed "))]
    assert len(all_lines) - len(lines) in (0, 2), result.stderr
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in result.output


def bot_for(corpus: Path, data: Path) -> Chatbot:
    return Chatbot.from_corpus(
        corpus, embedder=HashEmbedder(64), model="hash-64", data_dir=data, abstain_threshold=0.1
    )


# ---- files that must index -----------------------------------------------------------------------


def test_empty_files_are_skipped_and_the_rest_indexes(corpus, tmp_path):
    (corpus / "empty.md").write_bytes(b"")
    (corpus / "blank.txt").write_text(" \n\t\n")
    result = rag_index(corpus, tmp_path / "data")
    assert result.exit_code == 0, result.output
    assert "Indexed 1 document(s)" in result.stdout


def test_a_folder_of_only_empty_files_is_a_clear_error(tmp_path):
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "empty.md").write_bytes(b"")
    assert_refused(rag_index(folder, tmp_path / "data"), str(folder), "holds no non-empty")


def test_a_file_without_headings_is_one_section_named_after_the_file(corpus, tmp_path):
    (corpus / "memo.txt").write_text(
        "The canteen opens at eight. Lunch is served until two.\nNo heading anywhere.\n"
    )
    bot = bot_for(corpus, tmp_path / "data")
    answer = bot.ask("canteen")  # the fake embedder knows words, not meaning: ask with the word
    assert not answer.abstained
    cited = [c for c in answer.citations if c.document == "memo.txt"]
    assert cited and cited[0].heading_path == ["memo"] and cited[0].line_start == 1
    assert "The canteen opens at eight." in answer.text


@pytest.mark.parametrize(
    "text",
    [
        "\ufeff# Title with a BOM\nBody.\n",
        "# Windows\r\nline ends\r\n## Sub\r\nmore\r\n",
        "# Emoji 🤖\nمرحبا بالعالم. שלום עולם. 商汤科技。\n",
        "#NoSpaceIsNotAHeading\n####### seven hashes is not one either\n",
        "```\n# inside a fence\n",  # an unclosed fence
        "\u2028\u2029\x0b\x0c\x85\n# After separators\ntext\n",
    ],
)
def test_odd_but_valid_text_files_index(corpus, tmp_path, text):
    (corpus / "odd.md").write_text(text, encoding="utf-8")
    index = bot_for(corpus, tmp_path / "data").index
    assert "odd.md" in index.manifest["corpus"]
    doc = load_document(corpus / "odd.md", corpus)
    for chunk in index.chunks:
        if chunk.doc_id == "odd.md":
            for unit in chunk.units:  # every unit maps back to the file it came from
                assert doc.text[unit.char_start : unit.char_end].strip()


def test_a_one_mib_file_without_headings_indexes_in_bounded_time(tmp_path):
    """The largest single section a test can afford: one MiB of prose under no heading."""
    folder = tmp_path / "corpus"
    folder.mkdir()
    sentence = "Acme ships rocket parts to {} customers in the spring quarter. "
    text = "".join(sentence.format(i) + ("\n\n" if i % 7 == 0 else "") for i in range(17_000))
    (folder / "big.txt").write_text(text[: 2**20])
    notices: list[str] = []
    store = IndexStore(
        tmp_path / "idx", folder, Chunker(repair=False), HashEmbedder(32), notify=notices.append
    )
    t0 = time.perf_counter()
    index = store.load_or_build()
    assert time.perf_counter() - t0 < 60
    assert index.manifest["n_chunks"] > 500 and notices == []
    assert Index.read(store.current.resolve()).manifest["n_chunks"] == index.manifest["n_chunks"]


class CountingText(str):
    """Document text that counts the characters ``count``/``find``/``index`` scan."""

    scanned = 0

    def _scan(self, start, end) -> None:
        start = 0 if start is None else start
        end = len(self) if end is None else min(end, len(self))
        CountingText.scanned += max(0, end - start)

    def count(self, sub, start=None, end=None):
        self._scan(start, end)
        return super().count(sub, start, end)

    def find(self, sub, start=None, end=None):
        self._scan(start, end)
        return super().find(sub, start, end)

    def index(self, sub, start=None, end=None):
        self._scan(start, end)
        return super().index(sub, start, end)


def test_chunking_scans_the_text_a_bounded_number_of_times():
    sentence = "Acme ships rocket parts to {} customers in the spring quarter. "
    text = "# Big\n" + "".join(sentence.format(i) + "\n\n" * (i % 5 == 0) for i in range(3000))
    doc = Document("big.md", Path("big.md"), CountingText(text), "0" * 64)
    CountingText.scanned = 0
    chunks = Chunker(repair=False).chunk_document(doc)
    assert sum(len(c.units) for c in chunks) >= 3000
    # linear work: each character is looked at a few times, not once per sentence before it
    assert CountingText.scanned <= 20 * len(text), f"{CountingText.scanned / len(text):.0f}x"


# ---- files that must be refused ------------------------------------------------------------------


def test_a_non_utf8_file_is_named_with_the_fix(corpus, tmp_path):
    (corpus / "latin1.md").write_bytes("# Café\nNaïve text.\n".encode("latin-1"))
    assert_refused(
        rag_index(corpus, tmp_path / "data"), "latin1.md", "not UTF-8", "iconv -f latin1"
    )


def test_a_binary_file_with_a_text_suffix_is_named(corpus, tmp_path):
    (corpus / "image.md").write_bytes(b"\x00\x01\x02" * 100)
    assert_refused(rag_index(corpus, tmp_path / "data"), "image.md", "NUL bytes")


def test_a_50_mb_file_is_refused_at_once_naming_the_file_size_and_fix(corpus, tmp_path):
    big = corpus / "huge.md"
    with open(big, "wb") as f:
        f.truncate(50 * 2**20)  # sparse: no disk used, and the size check must not read it
    t0 = time.perf_counter()
    with pytest.raises(CorpusError) as exc:
        load_corpus(corpus)
    assert time.perf_counter() - t0 < 5
    message = str(exc.value)
    assert message.startswith(f"{big}: 50.0 MiB is larger than the 8 MiB limit for one document")
    assert "split it into smaller files" in message
    assert_refused(rag_index(corpus, tmp_path / "data"), "huge.md", "8 MiB limit", "split")


def test_a_file_at_the_size_limit_is_read(corpus):
    line = "Acme ships rockets. " * 4 + "\n"
    text = "# Big\n" + line * ((MAX_FILE_BYTES - 6) // len(line))
    (corpus / "big.md").write_text(text)
    assert (corpus / "big.md").stat().st_size <= MAX_FILE_BYTES
    assert load_document(corpus / "big.md", corpus).text == text


def test_a_file_deleted_between_listing_and_reading_is_named(corpus, tmp_path, monkeypatch):
    (corpus / "gone.md").write_text("# Gone\nsoon\n")
    listed = rag.documents.corpus_files

    def list_then_delete(folder):
        files = listed(folder)
        (corpus / "gone.md").unlink()  # another program removes it while we index
        return files

    monkeypatch.setattr(rag.documents, "corpus_files", list_then_delete)
    with pytest.raises(CorpusError, match=r"gone\.md: the file disappeared .*; run again"):
        load_corpus(corpus)
    (corpus / "gone.md").write_text("# Gone\nsoon\n")
    assert_refused(rag_index(corpus, tmp_path / "data"), "gone.md", "disappeared", "run again")


def test_a_file_deleted_during_the_build_is_noticed_by_the_next_load(corpus, tmp_path):
    """The build works from the text it read; the next start sees the change and rebuilds."""
    (corpus / "gone.md").write_text("# Gone\nThe zeppelin department closed.\n")
    embedder = HashEmbedder(64)
    original = embedder.embed_batch

    def embed_then_delete(texts):
        (corpus / "gone.md").unlink(missing_ok=True)
        return original(texts)

    embedder.embed_batch = embed_then_delete
    notices: list[str] = []
    store = IndexStore(tmp_path / "idx", corpus, Chunker(), embedder, notify=notices.append)
    first = store.load_or_build()
    assert "gone.md" in first.manifest["corpus"]
    second = store.load_or_build()
    assert notices == ["Rebuilding the index: corpus changed (gone.md)."]
    assert "gone.md" not in second.manifest["corpus"]
    assert all(c.doc_id == "acme.md" for c in second.chunks)


def test_a_broken_link_is_named(corpus, tmp_path):
    (corpus / "dangling.md").symlink_to(corpus / "missing.md")
    assert_refused(rag_index(corpus, tmp_path / "data"), "dangling.md", "broken link")


def test_a_link_loop_is_named_not_a_traceback(corpus, tmp_path):
    (corpus / "loop.md").symlink_to(corpus / "loop.md")
    assert_refused(rag_index(corpus, tmp_path / "data"), "loop.md", "cannot be followed")


def test_a_named_pipe_is_refused_instead_of_blocking_the_read(corpus, tmp_path):
    pipe = corpus / "pipe.md"
    os.mkfifo(pipe)  # reading it would wait forever for a writer

    def unblock() -> None:  # should the read block after all, end it (the test then fails)
        try:
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader: nothing blocked

    timer = threading.Timer(10, unblock)
    timer.start()
    try:
        assert_refused(rag_index(corpus, tmp_path / "data"), "pipe.md", "not a regular file")
    finally:
        timer.cancel()


def test_links_out_of_the_corpus_are_never_read(tmp_path, monkeypatch):
    """A link to a file outside is refused; a link to a folder outside is not walked into."""
    outside = tmp_path / "private"
    outside.mkdir()
    secret = outside / "secret.md"
    secret.write_text("# Secret\nThe vault code is 1234.\n")
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "acme.md").write_text(TINY_DOC)
    (folder / "private").symlink_to(outside, target_is_directory=True)
    opened: list[str] = []
    real_read = Path.read_bytes

    def spy(self):
        opened.append(str(self.resolve()))
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", spy)
    assert [d.doc_id for d in load_corpus(folder)] == ["acme.md"]
    assert str(secret) not in opened
    (folder / "secret.md").symlink_to(secret)
    with pytest.raises(CorpusError, match="outside the corpus folder"):
        load_corpus(folder)
    assert str(secret) not in opened
