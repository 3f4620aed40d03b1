"""The chat app launched on a free port with the real engine, called through ``gradio_client``.

One server per module (the bundled profile, the real model and index, loaded once). A process-wide
audit hook records every socket connection and name lookup made while the module runs (by the
server, the client and the engine) and the last test asserts that all of them stayed on loopback.
"""

from __future__ import annotations

import socket
import sys
import threading

import httpx
import pytest

from bench.load import is_loopback  # noqa: E402  (one definition of loopback)

pytestmark = pytest.mark.slow

_outside: list[tuple] = []
_loopback_seen: list[tuple] = []
_auditing = False


def _audit(event: str, args) -> None:
    if not _auditing:
        return
    if event == "socket.connect":
        address = args[1]
        if isinstance(address, tuple):
            (_loopback_seen if is_loopback(address[0]) else _outside).append((event, address))
    elif event == "socket.getaddrinfo":
        if not is_loopback(args[0]):
            _outside.append((event, args[0]))


sys.addaudithook(_audit)  # hooks cannot be removed; it records only while _auditing is True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def served(real_bot, tmp_path_factory):
    """(demo, url, feedback log) for the bundled profile on a free loopback port."""
    global _auditing
    from rag.feedback import FeedbackLog
    from ui.app import serve

    _auditing = True
    feedback = FeedbackLog(tmp_path_factory.mktemp("feedback") / "feedback.jsonl")
    demo, url = serve(
        real_bot,
        host="127.0.0.1",
        port=free_port(),
        feedback=feedback,
        examples=["Who founded SenseTime?"],
        concurrency=4,
    )
    yield demo, url, feedback
    demo.close()
    _auditing = False


@pytest.fixture(scope="module")
def client(served):
    from gradio_client import Client

    return Client(served[1], verbose=False, download_files=False)


def test_ask_returns_the_answer_with_citations_as_json(client):
    d = client.predict(question="Who founded SenseTime?", api_name="/ask")
    assert d["abstained"] is False
    assert "Xiao'ou Tang" in d["text"] and "[1]" in d["text"]
    c = d["citations"][0]
    assert (c["number"], c["document"], c["heading"]) == (
        1,
        "sensetime_profile.md",
        "SenseTime > Company Info",
    )
    assert c["line_start"] == 8 and "Xiao'ou Tang" in c["quote"] and c["quote"] in c["passage"]
    assert d["mode"] == "hybrid" and d["k"] == 5 and len(d["passages"]) == 5
    assert (
        d["passages"][0]["dense_rank"] is not None and d["passages"][0]["lexical_rank"] is not None
    )


def test_follow_up_uses_the_history(client):
    d = client.predict(
        question="When was it founded?", history=["Who founded SenseTime?"], api_name="/ask"
    )
    assert d["rewritten_query"] == "When was SenseTime founded?"
    assert "October 2014" in d["text"] and not d["abstained"]
    alone = client.predict(question="When was it founded?", api_name="/ask")
    assert alone["rewritten_query"] == "When was it founded?"


def test_mode_and_k_are_applied(client):
    d = client.predict(question="What does SenseCare do?", mode="bm25", k=2, api_name="/ask")
    assert (d["mode"], d["k"]) == ("bm25", 2)
    assert 1 <= len(d["passages"]) <= 2
    assert all(p["dense_rank"] is None for p in d["passages"])


def test_an_unanswerable_question_abstains_without_citations(client):
    d = client.predict(question="What is the stock price of Apple?", api_name="/ask")
    assert d["abstained"] is True and d["citations"] == []
    assert "threshold" in d["reason"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"question": "   "}, "empty"),
        ({"question": "Who founded SenseTime?", "mode": "fast"}, "mode='fast'"),
        ({"question": "Who founded SenseTime?", "k": 0}, "k=0"),
    ],
)
def test_user_errors_come_back_as_readable_messages(client, kwargs, message):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match=message) as err:
        client.predict(api_name="/ask", **kwargs)
    assert "Traceback" not in str(err.value)


def test_only_ask_is_a_public_endpoint(client, served):
    info = client.view_api(return_format="dict", print_info=False)
    assert list(info["named_endpoints"]) == ["/ask"]
    assert info["unnamed_endpoints"] == {}
    params = [p["parameter_name"] for p in info["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "history", "mode", "k", "documents"]
    config = httpx.get(served[1] + "config", timeout=10).json()
    visibility = sorted(d.get("api_visibility") for d in config["dependencies"])
    assert visibility.count("public") == 1 and set(visibility) == {"public", "private"}


def test_queue_serves_several_sessions_at_once_without_mixing_them(served, client, real_bot):
    from gradio_client import Client

    demo, url, _ = served
    assert demo._queue.default_concurrency_limit == 4
    conversations = {
        "Who founded SenseTime?": ("When was it founded?", "When was SenseTime founded?"),
        "What is SenseCare?": ("And SenseAuto?", "What is SenseAuto?"),
        "What is SenseNova?": ("What are its capabilities?", "What are SenseNova's capabilities?"),
        "Where is SenseTime headquartered?": (
            "When was it founded?",
            "When was SenseTime founded?",
        ),
    }
    results: dict[str, dict] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(conversations))

    def session(first: str) -> None:
        try:
            c = Client(url, verbose=False, download_files=False)
            barrier.wait(timeout=60)
            c.predict(question=first, api_name="/ask")
            results[first] = c.predict(
                question=conversations[first][0], history=[first], api_name="/ask"
            )
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(q,)) for q in conversations]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=180)
    assert errors == []
    for first, (follow_up, rewritten) in conversations.items():
        assert results[first]["question"] == follow_up
        assert results[first]["rewritten_query"] == rewritten
    assert real_bot.load_count == 1, "the model and index load once, shared by all sessions"


def test_a_login_is_required_when_auth_is_set(real_bot, tmp_path):
    from gradio_client import Client

    from rag.feedback import FeedbackLog
    from ui.app import serve

    warnings = []
    demo, url = serve(
        real_bot,
        port=free_port(),
        auth=("alice", "s3cret"),
        feedback=FeedbackLog(tmp_path / "f.jsonl"),
        warn=warnings.append,
    )
    try:
        assert warnings == []
        assert httpx.get(url + "config", timeout=10).status_code in (401, 403)
        r = httpx.post(
            url + "gradio_api/call/ask", json={"data": ["Who founded SenseTime?"]}, timeout=10
        )
        assert r.status_code in (401, 403)
        bad = httpx.post(url + "login", data={"username": "alice", "password": "nope"}, timeout=10)
        assert bad.status_code in (400, 401, 403)
        d = Client(url, auth=("alice", "s3cret"), verbose=False).predict(
            question="Who founded SenseTime?", api_name="/ask"
        )
        assert "Xiao'ou Tang" in d["text"]
    finally:
        demo.close()


def test_a_taken_port_is_a_readable_error(real_bot, served, tmp_path):
    from rag.feedback import FeedbackLog
    from ui.app import serve

    port = int(served[1].rsplit(":", 1)[1].strip("/"))
    with pytest.raises(ValueError, match=f"cannot listen on 127.0.0.1:{port}.*--port"):
        serve(real_bot, port=port, feedback=FeedbackLog(tmp_path / "f.jsonl"))


def test_zz_nothing_left_loopback(served):
    """Runs last in the module: every connection and lookup above stayed on this machine."""
    assert _loopback_seen, "the audit hook saw no connection at all: it is not recording"
    assert _outside == []
