"""The Milvus store against the real engine: milvus-lite 2.5.1 (Milvus's C++ engine), started by
these tests, as a local file and as a server on 127.0.0.1. Build, query, filters, incremental add
and delete, the same passages and answers as the embedded store, a killed and restarted server,
and two chat servers on one Milvus server."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.chatbot import Chatbot
from rag.chunking import Chunker
from rag.documents import load_corpus
from rag.embedding import HashEmbedder
from rag.filters import Filters
from rag.index import EmbeddedStore, Index, Store
from tests.conftest import ROOT, TINY_DOC, hash_bot

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from rag.index.milvus import MilvusError, MilvusStore  # noqa: E402

pytestmark = pytest.mark.slow
EMBEDDER = HashEmbedder(32)


def rag_command() -> list[str]:
    exe = Path(sys.executable).with_name("rag")
    return [str(exe)] if exe.exists() else [sys.executable, "-c", "from rag.cli import app; app()"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """milvus-lite serving one file on 127.0.0.1 (``python -m rag.index.milvus serve``)."""

    def __init__(self, db: Path):
        self.db = db
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self) -> Server:
        cmd = [sys.executable, "-m", "rag.index.milvus", "serve", "--db", str(self.db)]
        cmd += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                assert self.proc.poll() is None, "the milvus-lite server exited at start"
                time.sleep(0.2)
        raise AssertionError("the milvus-lite server did not start in 60 s")

    def kill(self) -> None:
        """SIGKILL the server and its engine process: no clean shutdown."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    s = Server(tmp_path_factory.mktemp("milvus") / "shared.db").start()
    yield s
    s.kill()


def build(corpus: Path) -> Index:
    return Index.build(load_corpus(corpus), Chunker(), EMBEDDER)


@pytest.fixture
def corpus(tiny_corpus):
    (tiny_corpus / "memo.md").write_text(
        "# Memo\n\n## Rockets\nThe memo says rockets are loud and rockets fly far.\n"
    )
    return tiny_corpus


def records(index: Index) -> Index:
    docs = index.manifest["documents"]
    docs["acme.md"].update(type="Profile", periods=["FY2021", "FY2022"])
    docs["memo.md"].update(type="memo", period="FY2023")
    return index


@pytest.fixture
def store(server, request):
    name = "t_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:60]
    s = MilvusStore(server.uri, name, EMBEDDER.dimension)
    s.drop()
    yield s
    s.drop()
    s.close()


def test_sync_writes_the_build_and_searches_match_the_embedded_store(corpus, store):
    index = records(build(corpus))
    assert isinstance(store, Store)
    result = store.sync(index)
    assert result == {"removed": 0, "written": 3, "chunks": len(index.chunks)}
    assert store.count() == len(index.chunks)
    assert store.sync(index)["written"] == 0  # in step: nothing to do
    embedded = EmbeddedStore(index)
    for text in ["rockets", "Who started Acme in a garage?", "June shipping", "zebra"]:
        q = EMBEDDER.embed_one(text)
        want = embedded.dense(q, 10)
        got = store.dense(q, 10)
        # the same chunks with the same cosines, best first (ties may come in either order)
        assert sorted((round(h.score, 4), h.id) for h in got) == sorted(
            (round(h.score, 4), h.id) for h in want
        )
        assert [h.score for h in got] == sorted((h.score for h in got), reverse=True)
        want_lex = embedded.lexical(text, 10)
        got_lex = store.lexical(text, 10)
        assert sorted((h.id, round(h.score, 4)) for h in got_lex) == sorted(
            (h.id, round(h.score, 4)) for h in want_lex
        )
        ids = [c.id for c in index.chunks]
        assert store.lexical_scores(text, ids) == pytest.approx(embedded.lexical_scores(text, ids))
    got = store.get([index.chunks[1].id, "missing", index.chunks[0].id], vectors=True)
    assert [s.chunk for s in got] == [index.chunks[1], index.chunks[0]]
    assert np.allclose(got[0].vector, index.chunk_vectors()[1], atol=1e-6)
    hybrid = store.hybrid("rockets", EMBEDDER.embed_one("rockets"), 3)
    assert len(hybrid) == 3 and hybrid[0].score > 0


@pytest.mark.parametrize(
    "filters, expected",
    [
        (Filters.make(documents="MEMO.md"), {"memo.md"}),
        (Filters.make(doc_types="profile"), {"acme.md"}),
        (Filters.make(periods=["fy2022", "FY2023"]), {"acme.md", "memo.md"}),
        (Filters.make(documents="acme.md", periods="FY2023"), set()),
        (Filters.make(documents='we"ird.md'), set()),  # quoted safely in the expression
    ],
)
def test_filters_become_milvus_expressions(corpus, store, filters, expected):
    index = records(build(corpus))
    store.sync(index)
    doc = {c.id: c.doc_id for c in index.chunks}
    q = EMBEDDER.embed_one("rockets")
    assert {doc[h.id] for h in store.dense(q, 50, filters)} == expected
    assert {doc[h.id] for h in store.lexical("rockets", 50, filters)} == expected
    assert store.count(filters) == sum(c.doc_id in expected for c in index.chunks)
    assert store.count(filters) == EmbeddedStore(index).count(filters)


def test_incremental_add_change_and_delete(corpus, store):
    store.sync(build(corpus))
    (corpus / "gear.md").write_text("# Gear\n\nThe gearbox has nine gears.\n")
    (corpus / "memo.md").write_text("# Memo\n\nRewritten: the memo is about trains now.\n")
    (corpus / "notes.txt").unlink()
    index = build(corpus)
    result = store.sync(index)
    assert result["written"] == 2 and result["removed"] == 1  # gear and memo; notes gone
    assert set(store.documents()) == {"acme.md", "memo.md", "gear.md"}
    assert store.count() == len(index.chunks)
    assert {h.id for h in store.lexical("trains", 5)} == {
        c.id for c in index.chunks if c.doc_id == "memo.md"
    }
    assert store.lexical("rockets loud", 5, Filters.make(documents="memo.md")) == []
    n_acme = sum(c.doc_id == "acme.md" for c in index.chunks)
    assert store.delete("acme.md") == n_acme
    assert store.count(Filters.make(documents="acme.md")) == 0
    assert "acme.md" not in store.documents()


def test_a_sync_killed_halfway_resumes_without_embedding(corpus, store, monkeypatch):
    import rag.index.milvus

    index = build(corpus)
    monkeypatch.setattr(rag.index.milvus, "BATCH", 1)  # one document per write
    client = store.client
    real = client.insert
    calls = []

    def dies_on_the_second_document(collection, rows):
        calls.append(rows[0]["document"])
        if len(calls) == 2:
            real(collection, rows[:1])  # part of it landed
            raise KeyboardInterrupt
        return real(collection, rows)

    monkeypatch.setattr(client, "insert", dies_on_the_second_document)
    with pytest.raises(KeyboardInterrupt):
        store.sync(index)
    monkeypatch.setattr(client, "insert", real)
    assert list(store.documents()) == calls[:1]  # only the first is marked done
    monkeypatch.setattr(EMBEDDER, "embed", None)  # a resumed sync embeds nothing
    result = store.sync(index)
    assert result["written"] == 2 and store.count() == len(index.chunks)
    ids = sorted(h.id for h in store.lexical("rockets acme june memo", 50))
    assert len(ids) == len(set(ids))  # the partly written document has no duplicate rows


def test_retrieval_and_answers_are_the_same_on_both_stores(tmp_path, server):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    (corpus / "notes.txt").write_text("Plain text with no heading. Acme ships in June.\n")

    def bot(**settings):
        return hash_bot(corpus, tmp_path / "data", **settings)

    embedded, milvus = bot(), bot(store="milvus", milvus_uri=server.uri)
    milvus.milvus(64).drop()
    assert isinstance(milvus.warm_up()._retriever.store, MilvusStore)
    for q in ["Who founded Acme?", "When does Acme ship?", "What rockets?", "Who is the CEO?"]:
        for mode in ("dense", "bm25", "hybrid"):
            a = [p.to_dict() for p in embedded.retrieve(q, k=5, mode=mode)]
            b = [p.to_dict() for p in milvus.retrieve(q, k=5, mode=mode)]
            assert [p["chunk_id"] for p in a] == [p["chunk_id"] for p in b]
            for x, y in zip(a, b, strict=True):
                scores = ("dense_score", "lexical_score", "score", "rerank_score")
                assert {k: v for k, v in x.items() if k not in scores} == {
                    k: v for k, v in y.items() if k not in scores
                }
                for key in scores:
                    assert (x[key] is None) == (y[key] is None)
                    if x[key] is not None:
                        assert x[key] == pytest.approx(y[key], abs=1e-4)
        a, b = embedded.ask(q).to_dict(), milvus.ask(q).to_dict()
        a.pop("timings_ms"), b.pop("timings_ms")
        assert a == b


def test_the_default_uri_is_a_milvus_lite_file_in_the_data_folder(tiny_corpus, tmp_path):
    bot = Chatbot.from_corpus(
        tiny_corpus,
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=tmp_path / "data",
        store="milvus",
    )
    answer = bot.ask("Who founded Acme?")
    assert (tmp_path / "data" / "milvus.db").exists()
    assert answer.citations and answer.citations[0].document == "acme.md"
    assert bot.milvus(64).count() == len(bot.index.chunks)
    bot.milvus(64).close()


def test_bad_milvus_settings_name_the_fix():
    from rag.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="RAG_MILVUS_TOKEN"):
        Settings.make(milvus_uri="http://root:secret@127.0.0.1:19530")
    with pytest.raises(SettingsError, match="must end in .db"):
        Settings.make(milvus_uri="/tmp/some/folder")
    with pytest.raises(SettingsError, match="environment variable RAG_MILVUS_TOKEN"):
        Settings.make(milvus_token="secret")
    with pytest.raises(SettingsError, match="store"):
        Settings.make(store="qdrant")


def test_a_killed_server_is_an_error_naming_it_then_found_again_after_restart(tmp_path, corpus):
    s = Server(tmp_path / "crash.db").start()
    try:
        store = MilvusStore(s.uri, "crash", EMBEDDER.dimension, token="tok-secret", timeout=5)
        index = build(corpus)
        store.sync(index)
        q = EMBEDDER.embed_one("rockets")
        before = [h.id for h in store.dense(q, 5)]
        s.kill()
        with pytest.raises(MilvusError) as err:
            store.dense(q, 5)
        assert s.uri in str(err.value) and "tok-secret" not in str(err.value)
        s.start()  # the same file on the same port
        deadline = time.monotonic() + 30
        while True:
            try:
                assert [h.id for h in store.dense(q, 5)] == before  # what was written survived
                break
            except MilvusError:
                assert time.monotonic() < deadline, "the client never found the restarted server"
                time.sleep(0.5)
        assert store.count() == len(index.chunks)
    finally:
        s.kill()


def test_rag_ask_with_a_dead_server_is_one_error_line(tiny_corpus, tmp_path):
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_MODEL": "hash-64",
        "RAG_DATA_DIR": str(tmp_path / "data"),
        "RAG_MILVUS_TOKEN": "tok-secret",
    }
    uri = f"http://127.0.0.1:{free_port()}"
    cmd = [*rag_command(), "ask", "Who founded Acme?", "--corpus"]
    cmd += [str(tiny_corpus), "--store", "milvus", "--milvus-uri", uri]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    assert f"cannot connect to Milvus at {uri}" in out.stderr
    assert "Traceback" not in out.stderr and "tok-secret" not in out.stderr + out.stdout


def test_two_chat_servers_on_one_milvus_server(tmp_path, server):
    """A chat server in this process and a ``rag chat`` process, one corpus, one Milvus server:
    a document uploaded through the first is cited by the second."""
    from gradio_client import Client

    from ui import uploads
    from ui.app import serve

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    data = tmp_path / "data"
    settings = dict(model="hash-64", data_dir=data, store="milvus", milvus_uri=server.uri)
    bot = Chatbot.from_corpus(corpus, abstain_threshold=0.1, watch_seconds=1, **settings)
    bot.milvus(64).drop()
    demo, url_a = serve(bot, host="127.0.0.1", port=free_port())
    port_b = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "RAG_MODEL": "hash-64",
        "RAG_DATA_DIR": str(data),
        "RAG_ABSTAIN_THRESHOLD": "0.1",
        "RAG_WATCH_SECONDS": "1",
    }
    cmd = [*rag_command(), "chat", "--port", str(port_b), "--corpus", str(corpus)]
    cmd += ["--store", "milvus", "--milvus-uri", server.uri]
    other = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                socket.create_connection(("127.0.0.1", port_b), timeout=0.5).close()
                break
            except OSError:
                assert other.poll() is None, other.stderr.read().decode()[-2000:]
                assert time.monotonic() < deadline, "rag chat did not start"
                time.sleep(0.5)
        client_a = Client(url_a, verbose=False, download_files=False)
        client_b = Client(f"http://127.0.0.1:{port_b}/", verbose=False, download_files=False)
        question = "How many cranes does the harbour have?"
        for client in (client_a, client_b):  # both answer from the one corpus
            d = client.predict(question="Who founded Acme?", api_name="/ask")
            assert d["citations"] and d["citations"][0]["document"] == "acme.md"
        before = client_b.predict(question=question, api_name="/ask")
        assert all(c["document"] != "harbour.html" for c in before["citations"])

        import httpx

        page = b"<html><body><h1>Harbour</h1><p>The harbour has 4 cranes.</p></body></html>"
        up = httpx.post(
            url_a + "gradio_api/upload", files=[("files", ("harbour.html", page))], timeout=30
        )
        assert up.status_code == 200, up.text
        t0 = time.monotonic()
        (result,) = uploads.add_uploads(bot, up.json())  # the page's upload handler, on A
        assert result.status == "added", result.message
        assert "harbour.html" in bot.milvus(64).documents()
        while True:
            d = client_b.predict(question=question, api_name="/ask")
            if d["citations"] and d["citations"][0]["document"] == "harbour.html":
                break
            assert time.monotonic() - t0 < 30, json.dumps(d)[:1000]
            time.sleep(0.5)
        assert "4 cranes" in d["text"]
    finally:
        other.terminate()
        other.wait(20)
        demo.close()
        bot.milvus(64).close()


def test_the_profile_sets_get_the_same_answers_from_milvus(real_bot, real_data_dir, tmp_path):
    """The real model on the bundled profile: every question of both profile sets (read from
    their files) gets the same answer, citations and passages from the Milvus store."""
    from rag.evaluation import load_questions

    milvus = Chatbot.from_corpus(
        None, data_dir=real_data_dir, store="milvus", milvus_uri=str(tmp_path / "profile.db")
    )
    milvus.warm_up()
    assert milvus.index.manifest["created"] == real_bot.index.manifest["created"]  # one build
    questions = load_questions(ROOT / "eval" / "questions.jsonl")
    questions += load_questions(ROOT / "eval" / "heldout.jsonl")
    differ = []
    for q in questions:
        a = real_bot.ask(q.question, history=q.history or None).to_dict()
        b = milvus.ask(q.question, history=q.history or None).to_dict()
        a.pop("timings_ms"), b.pop("timings_ms")
        # BM25 sums in float32 in another order: a passage's score may differ in the 7th digit
        pa, pb = a.pop("passages"), b.pop("passages")
        same = [(p["chunk_id"], p["dense_rank"], p["lexical_rank"]) for p in pa] == [
            (p["chunk_id"], p["dense_rank"], p["lexical_rank"]) for p in pb
        ] and all(
            x["lexical_score"] == pytest.approx(y["lexical_score"], abs=1e-5)
            for x, y in zip(pa, pb, strict=True)
        )
        if a != b or not same:
            differ.append(q.id)
    assert len(questions) > 200 and differ == []
    milvus.milvus(milvus.index.dimension).close()
