"""The upload route tested with raw HTTP against a real server (the fake embedder, a tiny corpus):
size limit, allowed types, per-user quota, other origins, login under --auth, and temporary files
cleaned up. Then the page's own upload handler: files land in the corpus, get indexed, and the
temporary copies are deleted."""

from __future__ import annotations

import io
import socket
import zipfile
from pathlib import Path

import httpx
import pytest

from rag.chatbot import Chatbot
from rag.embedding import HashEmbedder
from tests.conftest import TINY_DOC

pytestmark = pytest.mark.slow
MB = 2**20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_bot(tmp_path: Path) -> Chatbot:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    return Chatbot.from_corpus(
        corpus,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=tmp_path / "data",
        abstain_threshold=0.1,
        watch_seconds=0,
        upload_max_mb=1,
        upload_quota_mb=2.5,
    )


@pytest.fixture
def server(tmp_path):
    from ui.app import serve

    bot = make_bot(tmp_path)
    demo, url = serve(bot, host="127.0.0.1", port=free_port())
    yield bot, demo, url
    demo.close()


def upload(url: str, files: list[tuple[str, bytes]], client=None, **headers) -> httpx.Response:
    c = client or httpx
    return c.post(
        url + "gradio_api/upload",
        files=[("files", (name, data)) for name, data in files],
        headers=headers,
        timeout=30,
    )


HTML = b"<!DOCTYPE html><html><body><h1>Harbour</h1><p>The harbour has 4 cranes.</p></body></html>"


def test_an_allowed_file_is_accepted_and_the_rest_refused_with_a_reason(server):
    bot, demo, url = server
    ok = upload(url, [("harbour.html", HTML)])
    assert ok.status_code == 200, ok.text
    (stored,) = ok.json()
    assert Path(stored).is_relative_to(demo.upload_dir) and Path(stored).read_bytes() == HTML

    too_big = upload(url, [("big.txt", b"a" * (MB + 10))])
    assert too_big.status_code == 413 and "over the 1 MiB limit" in too_big.json()["error"]

    png = upload(url, [("photo.md", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200)])
    assert png.status_code == 415 and "photo.md: is a PNG image" in png.json()["error"]
    exe = upload(url, [("tool.pdf", b"MZ\x90\x00\x03" + b"\x00\xff" * 100)])
    assert exe.status_code == 415 and "unsupported type" in exe.json()["error"]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("a.csv", "1,2")
    archive = upload(url, [("report.docx", buf.getvalue())])
    assert archive.status_code == 415 and "not a Word" in archive.json()["error"]
    # a declared 300 MB body is refused from its headers, before any of it is sent
    host, port = url.split("//")[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(
            b"POST /gradio_api/upload HTTP/1.1\r\nHost: " + f"{host}:{port}".encode()
            + b"\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: "
            + str(300 * MB).encode() + b"\r\n\r\n"
        )  # fmt: skip
        reply = sock.recv(4096).decode("latin-1")
    assert reply.startswith("HTTP/1.1 413"), reply[:200]


def test_another_origin_cannot_upload(server):
    _, _, url = server
    r = upload(url, [("harbour.html", HTML)], origin="https://evil.example")
    assert r.status_code == 403 and "own page" in r.json()["error"]
    same = upload(url, [("harbour.html", HTML)], origin=url.rstrip("/"))
    assert same.status_code == 200


def test_each_user_has_a_quota(server):
    _, _, url = server
    chunk = b"# Notes\n" + b"word " * (180_000)  # ~0.9 MiB of text
    assert upload(url, [("a.md", chunk)]).status_code == 200
    assert upload(url, [("b.md", chunk + b"b")]).status_code == 200
    third = upload(url, [("c.md", chunk + b"c")])
    assert third.status_code == 429 and "quota" in third.json()["error"]


def test_under_auth_uploads_need_a_login(tmp_path):
    from ui.app import serve

    bot = make_bot(tmp_path)
    demo, url = serve(bot, host="127.0.0.1", port=free_port(), auth=("alice", "s3cret"))
    try:
        anonymous = upload(url, [("harbour.html", HTML)])
        assert anonymous.status_code in (401, 403)
        assert not list(Path(demo.upload_dir).rglob("harbour.html"))
        with httpx.Client(timeout=10) as session:
            login = session.post(url + "login", data={"username": "alice", "password": "s3cret"})
            assert login.status_code == 200
            ok = upload(url, [("harbour.html", HTML)], client=session)
            assert ok.status_code == 200, ok.text
    finally:
        demo.close()


def test_uploaded_files_are_indexed_and_temporary_copies_removed(server):
    from ui import uploads

    bot, demo, url = server
    stored = upload(url, [("harbour.html", HTML)]).json()[0]
    before = bot.index
    results = uploads.add_uploads(bot, [stored])
    assert [r.status for r in results] == ["added"]
    assert not Path(stored).exists(), "the temporary upload was left behind"
    assert bot.index is not before and "harbour.html" in bot.index.manifest["corpus"]
    answer = bot.ask("What does the harbour have?")
    assert answer.citations and answer.citations[0].document == "harbour.html"
    again = upload(url, [("copy.html", HTML)]).json()[0]
    (dup,) = uploads.add_uploads(bot, [again])
    assert dup.status == "duplicate" and "already in the library as harbour.html" in dup.message
    assert not Path(again).exists()
    assert uploads.remove(bot, "harbour.html").startswith("removed harbour.html")
    assert "harbour.html" not in bot.index.manifest["corpus"]
    # issue 21 point 6: the last document may go too (into the trash); the corpus is then empty
    assert uploads.remove(bot, "acme.md").startswith("removed acme.md")
    assert uploads.rows(bot) == [] and bot.ask("Who founded Acme?").abstained


def test_the_temporary_folder_is_removed_when_the_server_stops(tmp_path):
    from ui.app import serve

    bot = make_bot(tmp_path)
    demo, url = serve(bot, host="127.0.0.1", port=free_port())
    stored = upload(url, [("harbour.html", HTML)]).json()[0]
    assert Path(stored).exists()
    demo.close()
    assert not Path(stored).exists() and not Path(demo.upload_dir).exists()
