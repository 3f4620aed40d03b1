"""Exposure of the launched app: loopback by default, a login guarding every data endpoint, and no
file read because of what a user sends (a path as a question or history, a corpus path, a FileData
object, a file URL). An audit hook records every file the process opens while a request runs; the
secret file outside the corpus and data folders, and /etc/passwd, must never be among them.

The app runs on the tiny corpus with the fake embedder (fast); what is tested is the serving layer.
"""

from __future__ import annotations

import json
import socket
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.conftest import TINY_DOC

pytestmark = pytest.mark.slow  # starts real servers

SECRET = f"TOPSECRET-{uuid.uuid4().hex}"
_opened: list[str] = []
_watch: tuple[str, ...] = ()


def _audit(event: str, args) -> None:
    if _watch and event == "open" and args and isinstance(args[0], (str, bytes, Path)):
        path = str(args[0])
        if any(w in path for w in _watch):
            _opened.append(path)


sys.addaudithook(_audit)  # permanent; records only while _watch is set


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("exposure")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "acme.md").write_text(TINY_DOC)
    outside = root / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text(SECRET)
    return {"root": root, "corpus": corpus, "data": root / "data", "secret": secret}


def make_bot(place):
    from rag.chatbot import Chatbot
    from rag.embedding import HashEmbedder

    return Chatbot.from_corpus(
        place["corpus"],
        embedder=HashEmbedder(64),
        model="hash-64",
        data_dir=place["data"],
        abstain_threshold=0.1,
    )


@pytest.fixture(scope="module")
def app(place):
    """(demo, url, bot) on a free loopback port, with a vote in the feedback log."""
    global _watch
    from rag.feedback import FeedbackLog, FeedbackRecord
    from ui.app import serve

    feedback = FeedbackLog(place["data"] / "feedback.jsonl")
    feedback.append(FeedbackRecord(vote="like", question=SECRET, rewritten_query="q", answer="a"))
    bot = make_bot(place)
    warnings: list[str] = []
    demo, url = serve(bot, port=free_port(), feedback=feedback, warn=warnings.append)
    assert warnings == []
    _watch = (place["secret"].name, "passwd", "shadow")
    yield demo, url, bot
    _watch = ()
    demo.close()


@pytest.fixture(scope="module")
def client(app):
    from gradio_client import Client

    return Client(app[1], verbose=False, download_files=False)


def no_leak(text: str) -> None:
    assert SECRET not in text and "root:x:0:0" not in text


def call(url: str, data: list) -> str:
    """POST /gradio_api/call/ask, then read the result stream; returns its text."""
    r = httpx.post(url + "gradio_api/call/ask", json={"data": data}, timeout=10)
    assert r.status_code == 200, r.text
    event = r.json()["event_id"]
    return httpx.get(url + f"gradio_api/call/ask/{event}", timeout=30).text


def without_timings(result: str) -> list:
    data = json.loads(result.split("data: ", 1)[1])
    for d in data:
        d.pop("timings_ms", None)
    return data


def test_the_audit_hook_sees_file_opens(app, place):
    """The hook the other tests rely on does record an open of the watched file."""
    _opened.clear()
    assert place["secret"].read_text() == SECRET
    assert _opened == [str(place["secret"])]
    _opened.clear()


def test_the_default_bind_is_loopback_and_silent(app):
    import inspect

    from ui.app import DEFAULT_HOST, serve

    demo, url, _ = app
    assert DEFAULT_HOST == "127.0.0.1" == inspect.signature(serve).parameters["host"].default
    assert url.startswith("http://127.0.0.1:") and demo.server_name == "127.0.0.1"


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "file:///etc/passwd",
        "..%2f..%2fetc%2fpasswd",
        "{secret}",
        "../outside/secret.txt",
        "file://{secret}",
    ],
)
def test_a_path_as_question_or_history_is_only_text(client, place, path):
    path = path.format(secret=place["secret"])
    _opened.clear()
    d = client.predict(question=path, history=[path, f"What is in {path}?"], api_name="/ask")
    assert d["question"] == path
    no_leak(str(d))
    assert _opened == [], f"a user's text made the server open {_opened}"


def test_the_api_takes_no_corpus_or_path_parameter(client, app, place):
    info = client.view_api(return_format="dict", print_info=False)
    params = [p["parameter_name"] for p in info["named_endpoints"]["/ask"]["parameters"]]
    assert params == ["question", "history", "mode", "k", "documents"]
    with pytest.raises((TypeError, ValueError)):
        client.predict(question="Who is the founder?", corpus="/etc", api_name="/ask")
    # an extra value sent by hand is ignored: same answer, same corpus
    _, url, bot = app
    baseline = call(url, ["Who is the founder of Acme?", None, None, None, None])
    extra = call(
        url, ["Who is the founder of Acme?", None, None, None, None, "/etc", str(place["secret"])]
    )
    assert "Jane Roe" in baseline and without_timings(extra) == without_timings(baseline)
    # a path as the document filter is a name the index does not hold: refused, nothing opened
    _opened.clear()
    refused = call(url, ["Who is the founder of Acme?", None, None, None, [str(place["secret"])]])
    assert "event: error" in refused and "no document called" in refused
    no_leak(refused)
    assert _opened == []
    assert bot.settings.corpus_dir == place["corpus"]
    assert {c.doc_id for c in bot.index.chunks} == {"acme.md"}


def test_a_file_object_in_a_request_is_refused_unread(app, place):
    _, url, _ = app
    file_data = {"path": str(place["secret"]), "meta": {"_type": "gradio.FileData"}}
    _opened.clear()
    for data in (
        [file_data, None, None, None, None],
        ["Who?", [file_data], None, None, None],
        ["Who?", None, None, None, [file_data]],
    ):
        result = call(url, data)
        assert "event: error" in result
        no_leak(result)
    assert _opened == []


def test_the_private_chat_handler_refuses_file_objects_in_the_history(app, place):
    """What the browser calls (not the public API): a chat message holding a FileData path."""
    _, url, _ = app
    config = httpx.get(url + "config", timeout=10).json()
    [submit] = [
        i
        for i, dep in enumerate(config["dependencies"])
        if dep.get("api_visibility") == "private" and len(dep.get("inputs", [])) == 6
    ][:1]
    file_data = {"path": str(place["secret"]), "meta": {"_type": "gradio.FileData"}}
    history = [{"role": "user", "content": [{"type": "file", "file": file_data}]}]
    session = uuid.uuid4().hex
    _opened.clear()
    r = httpx.post(
        url + "gradio_api/queue/join",
        json={
            "data": ["Who?", history, [], "hybrid", 5, "All documents"],
            "fn_index": submit,
            "session_hash": session,
        },
        timeout=10,
    )
    assert r.status_code == 200
    events = []
    with httpx.stream(
        "GET", url + f"gradio_api/queue/data?session_hash={session}", timeout=30
    ) as s:
        for line in s.iter_lines():
            events.append(line)
            if "process_completed" in line:
                break
    done = next(e for e in events if "process_completed" in e)
    assert '"success":false' in done.replace(" ", "")
    no_leak("\n".join(events))
    assert _opened == []


@pytest.mark.parametrize(
    "route",
    [
        "gradio_api/file={secret}",
        "gradio_api/file={corpus}/acme.md",
        "gradio_api/file={data}/feedback.jsonl",
        "gradio_api/file=/etc/passwd",
        "gradio_api/file=../../../../etc/passwd",
        "file={secret}",
        "static/../../../../etc/passwd",
        "static/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "assets/..%2f..%2f..%2f..%2fetc%2fpasswd",
        "gradio_api/proxy={secret}",
    ],
)
def test_file_routes_serve_nothing_of_the_machine(app, place, route):
    _, url, _ = app
    route = route.format(secret=place["secret"], corpus=place["corpus"], data=place["data"])
    _opened.clear()
    r = httpx.get(url + route, timeout=10)
    assert r.status_code in (400, 403, 404), (route, r.status_code)
    no_leak(r.text)
    assert "Acme builds rockets" not in r.text
    assert _opened == []


GUARDED_GETS = [
    "config",
    "gradio_api/info",
    "gradio_api/openapi.json",
    "gradio_api/queue/data?session_hash=x",
    "gradio_api/call/ask/x",
    "gradio_api/file=/etc/passwd",
    "gradio_api/upload_progress?upload_id=x",
    "monitoring",
]
GUARDED_POSTS = [
    ("gradio_api/queue/join", {"data": ["Who?", None, None, None], "fn_index": 0}),
    ("gradio_api/call/ask", {"data": ["Who?"]}),
    ("gradio_api/run/ask", {"data": ["Who?"]}),
    ("gradio_api/component_server", {"session_hash": "x", "component_id": 1, "fn_name": "x"}),
]


def test_with_auth_every_data_endpoint_requires_the_login(place):
    from gradio_client import Client

    from rag.feedback import FeedbackLog
    from ui.app import serve

    warnings: list[str] = []
    demo, url = serve(
        make_bot(place),
        port=free_port(),
        auth=("alice", "s3cret"),
        feedback=FeedbackLog(place["root"] / "auth-feedback.jsonl"),
        warn=warnings.append,
    )
    try:
        assert warnings == []
        for route in GUARDED_GETS:
            assert httpx.get(url + route, timeout=10).status_code == 401, route
        for route, body in GUARDED_POSTS:
            assert httpx.post(url + route, json=body, timeout=10).status_code == 401, route
        upload = httpx.post(url + "gradio_api/upload", files={"files": ("a.txt", b"x")}, timeout=10)
        assert upload.status_code == 401
        wrong = httpx.post(url + "login", data={"username": "alice", "password": "x"}, timeout=10)
        assert wrong.status_code in (400, 401, 403)
        with httpx.Client(timeout=10) as session:  # the login sets a cookie that opens the rest
            login = session.post(url + "login", data={"username": "alice", "password": "s3cret"})
            assert login.status_code == 200
            assert session.get(url + "config").status_code == 200
        d = Client(url, auth=("alice", "s3cret"), verbose=False).predict(
            question="Who is the founder of Acme?", api_name="/ask"
        )
        assert "Jane Roe" in d["text"]
    finally:
        demo.close()


def test_a_1_mb_question_through_the_api_is_answered_with_a_notice(client):
    question = "Who is the founder of Acme? " + "x" * 1_000_000
    d = client.predict(question=question, api_name="/ask")
    assert d["text"] and any("only the first 2,000" in n for n in d["notices"])
    assert len(d["question"]) <= 2000
