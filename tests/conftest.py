"""Shared fixtures: a tiny corpus with a fake embedder (fast, exact), and the real bot on the
bundled profile (real model, real FAISS index), built once per test session in a temp folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rag.settings import apply_offline_env

apply_offline_env()

ROOT = Path(__file__).resolve().parent.parent
PROFILE = ROOT / "corpus" / "sensetime_profile.md"

TINY_DOC = """# Acme

## Overview
Acme builds rockets. It was started in a garage.

## Facts
- **Founder**: Jane Roe
- **Founded**: May 1999

## Facts
- Second facts section with the same heading.

### Products
1. **Rocket One**: A small rocket.
2. **Rocket Two**: A larger rocket.
"""


@pytest.fixture
def tiny_corpus(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC, encoding="utf-8")
    (corpus / "notes.txt").write_text("Plain text with no heading. Acme ships in June.\n")
    return corpus


def hash_bot(corpus: Path, data_dir: Path, **settings):
    """A bot on ``corpus`` with the deterministic 64-dim fake embedder (fast, exact)."""
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder

    return Chatbot.from_corpus(
        corpus,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=data_dir,
        abstain_threshold=0.1,
        **settings,
    )


@pytest.fixture
def tiny_bot(tiny_corpus: Path, tmp_path: Path):
    return hash_bot(tiny_corpus, tmp_path / "data")


@pytest.fixture(scope="session")
def real_data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("rag-data")


@pytest.fixture(scope="session")
def real_bot(real_data_dir: Path):
    """The product as users get it: bundled profile, bundled MiniLM, FAISS, BM25."""
    from rag.chatbot import Chatbot

    bot = Chatbot.from_corpus(None, data_dir=real_data_dir)
    bot.warm_up()
    return bot


def pytest_configure(config):
    os.environ.setdefault("RAG_TEST", "1")


# ---- real documents in other formats, made once per session (Chromium for the PDFs) --------------


def _need_chromium() -> None:
    import shutil

    if not (shutil.which("chromium") or Path("/usr/bin/chromium").exists()):
        if os.environ.get("CI"):
            pytest.fail("Chromium is not installed: apt-get install chromium (make browser-deps)")
        pytest.skip("Chromium is not installed: apt-get install chromium")


@pytest.fixture(scope="session")
def profile_files(tmp_path_factory) -> dict[str, Path]:
    """The bundled profile as PDF (Chromium print, running header, page footer, outline), Word
    and HTML (with navigation, a script and a footer around it)."""
    _need_chromium()
    from bench.docgen import html_to_pdf, markdown_to_docx, markdown_to_html

    out = tmp_path_factory.mktemp("profile-files")
    md = PROFILE.read_text(encoding="utf-8")
    files = {"md": out / "sensetime_profile.md"}
    files["md"].write_text(md, encoding="utf-8")
    files["html"] = out / "sensetime_profile.html"
    files["html"].write_text(markdown_to_html(md, "SenseTime profile"), encoding="utf-8")
    files["pdf"] = html_to_pdf(
        markdown_to_html(md, "SenseTime profile", boilerplate=False),
        out / "sensetime_profile.pdf",
        header="SenseTime company profile",
    )
    files["docx"] = markdown_to_docx(md, out / "sensetime_profile.docx")
    return files
