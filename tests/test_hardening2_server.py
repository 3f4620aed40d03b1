"""Issue 21 against real servers over HTTP (the tiny corpus, the fake embedder): the Host and
Origin allow-list (DNS rebinding), login attempts counted before they are checked with a global
limit beside the per-address one, and several users in an ``--auth-file``."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.test_hardening_server import free_port, make_bot, place  # noqa: F401 - a fixture

pytestmark = pytest.mark.slow  # starts real servers


def start(place, **kwargs):  # noqa: F811
    from ui.app import page_for, serve

    return serve(make_bot(place), port=free_port(), **page_for(place["corpus"]), **kwargs)


@pytest.fixture(scope="module")
def open_app(place):  # noqa: F811
    demo, url = start(place, allowed_hosts=["chat.internal"])
    yield demo, url
    demo.close()


def port_of(url: str) -> int:
    return int(url.rstrip("/").rsplit(":", 1)[1])


# ---- point 1: only the host names the server was started for ------------------------------------


def test_a_rebound_host_name_is_refused_on_every_route(open_app):
    _, url = open_app
    port = port_of(url)
    evil = {"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}"}
    for route in ("", "config", "gradio_api/info"):
        r = httpx.get(url + route, headers=evil, timeout=10)
        assert r.status_code == 421, (route, r.status_code)
        assert "access-control-allow-origin" not in r.headers
        assert "--allowed-host" in r.json()["error"]
    up = httpx.post(
        url + "gradio_api/upload",
        files=[("files", ("plant.md", b"# Planted\n\nAcme was founded by Mallory.\n"))],
        headers=evil,
        timeout=10,
    )
    assert up.status_code == 421
    ask = httpx.post(
        url + "gradio_api/call/ask",
        json={"data": ["Who is the founder of Acme?", None, None, None, None]},
        headers=evil,
        timeout=10,
    )
    assert ask.status_code == 421 and "access-control-allow-origin" not in ask.headers


def test_a_foreign_origin_gets_no_cors_echo(open_app):
    _, url = open_app
    port = port_of(url)
    for origin in (f"http://evil.example:{port}", "null"):
        r = httpx.post(
            url + "gradio_api/call/ask",
            json={"data": ["Who is the founder of Acme?", None, None, None, None]},
            headers={"origin": origin},
            timeout=10,
        )
        assert r.status_code == 403, (origin, r.status_code)
        assert "access-control-allow-origin" not in r.headers
        pre = httpx.options(
            url + "gradio_api/call/ask",
            headers={"origin": origin, "access-control-request-method": "POST"},
            timeout=10,
        )
        assert pre.status_code == 403 and "access-control-allow-origin" not in pre.headers


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "chat.internal"])
def test_the_hosts_it_was_started_for_are_served(open_app, host):
    _, url = open_app
    port = port_of(url)
    r = httpx.post(
        url + "gradio_api/call/ask",
        json={"data": ["Who is the founder of Acme?", None, None, None, None]},
        headers={"host": f"{host}:{port}", "origin": f"http://{host}:{port}"},
        timeout=10,
    )
    assert r.status_code == 200, (host, r.text)
    assert r.headers.get("access-control-allow-origin") in (None, f"http://{host}:{port}")


def test_the_allow_list_is_documented():
    from typer.testing import CliRunner

    from rag.cli import app
    from tests.conftest import ROOT

    r = CliRunner().invoke(app, ["chat", "--help"], terminal_width=200)
    assert "--allowed-host" in r.stdout
    assert "--allowed-host" in (ROOT / "README.md").read_text()


def test_host_names_are_parsed_from_headers_and_origins():
    from ui.guard import allowed_hosts, host_name

    assert host_name(b"Example.COM:7860") == "example.com"
    assert host_name("http://[::1]:7860") == "::1"
    assert host_name(b"[::1]") == "::1"
    assert host_name("null") == "null"
    names, any_ip = allowed_hosts("127.0.0.1", ["chat.internal"])
    assert names == {"127.0.0.1", "localhost", "::1", "chat.internal"} and not any_ip
    assert allowed_hosts("0.0.0.0")[1]


# ---- point 3: login attempts are counted before they are checked, and globally ------------------


@pytest.fixture(scope="module")
def locked(place):  # noqa: F811
    from ui.guard import LoginThrottle

    throttle = LoginThrottle(
        free_attempts=5, base_delay=60.0, max_delay=60.0, global_burst=10, global_rate=2.0
    )
    logins = [("alice", "s3cret"), ("bob", "hunter 2")]
    demo, url = start(place, auth=logins, throttle=throttle)
    yield demo, url, throttle
    demo.close()


def reset(throttle) -> None:
    with throttle.lock:
        throttle.clients.clear()
        throttle.tokens = None


def guess(url: str, password: str, address: str = "127.0.0.1", user: str = "alice") -> int:
    transport = httpx.HTTPTransport(local_address=address)
    with httpx.Client(transport=transport, timeout=30) as c:
        return c.post(url + "login", data={"username": user, "password": password}).status_code


def test_a_concurrent_burst_from_one_address_has_only_the_free_attempts_checked(locked):
    _, url, throttle = locked
    reset(throttle)
    with ThreadPoolExecutor(40) as pool:
        codes = list(pool.map(lambda i: guess(url, f"burst{i}"), range(200)))
    assert codes.count(400) == throttle.free_attempts, codes
    assert codes.count(429) == 200 - throttle.free_attempts


def test_rotating_addresses_is_held_to_the_global_rate(locked):
    _, url, throttle = locked
    reset(throttle)
    addresses = [f"127.0.{i // 200}.{i % 200 + 2}" for i in range(400)]
    lock, codes = threading.Lock(), []
    t0 = time.perf_counter()

    def one(address):
        code = guess(url, "rotate", address)
        with lock:
            codes.append(code)

    with ThreadPoolExecutor(20) as pool:
        list(pool.map(one, addresses))
    seconds = time.perf_counter() - t0
    checked = codes.count(400)
    # without the global limit all 400 are checked (one per fresh address)
    assert checked <= throttle.global_burst + throttle.global_rate * seconds + 1, (checked, seconds)
    assert codes.count(429) == 400 - checked
    # the bucket refills: after a short wait the real user logs in, from anywhere
    time.sleep(1 / throttle.global_rate + 0.1)
    assert guess(url, "s3cret", "127.0.9.9") == 200


def test_several_users_in_the_auth_file_can_each_log_in(locked, tmp_path):
    _, url, throttle = locked
    reset(throttle)
    assert guess(url, "hunter 2", user="bob") == 200
    assert guess(url, "s3cret", user="alice") == 200
    assert guess(url, "s3cret", user="bob") == 400


def test_the_auth_file_takes_several_users_or_refuses_with_the_reason(tmp_path):
    from ui.cli import resolve_login

    f = tmp_path / "logins"
    f.write_text("# who may log in\nalice:s3cret\n\nbob:hunter 2\r\n")
    assert resolve_login(None, f, False) == [("alice", "s3cret"), ("bob", "hunter 2")]
    f.write_text("alice:s3cret \n")
    with pytest.raises(ValueError, match="line 1: the password starts or ends with white space"):
        resolve_login(None, f, False)
    f.write_text("alice:one\nalice:two\n")
    with pytest.raises(ValueError, match="line 2: user 'alice' is given twice"):
        resolve_login(None, f, False)
    f.write_text("alice:one\njust-a-name\n")
    with pytest.raises(ValueError, match="line 2: is not USER:PASSWORD"):
        resolve_login(None, f, False)


# ---- point 5: one vote per answer per session ----------------------------------------------------


def queue_join(url: str, fn_index: int, data: list, session: str, event_data=None) -> str:
    """Start one event of the page as the browser does (queue/join); its event id."""
    body = {"data": data, "fn_index": fn_index, "session_hash": session, "event_data": event_data}
    r = httpx.post(url + "gradio_api/queue/join", json=body, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["event_id"]


def queue_results(url: str, session: str, event_ids: list[str]) -> dict:
    """The outputs of the session's events (one stream per session, as the browser reads it)."""
    out, deadline = {}, time.monotonic() + 120
    with httpx.stream(
        "GET", url + f"gradio_api/queue/data?session_hash={session}", timeout=30
    ) as stream:
        for line in stream.iter_lines():
            assert time.monotonic() < deadline, f"{len(out)} of {len(event_ids)} events done"
            if not line.startswith("data:"):
                continue
            msg = json.loads(line[5:])
            if msg.get("event_id") in event_ids and msg.get("msg") == "process_completed":
                assert msg.get("success"), msg
                out[msg["event_id"]] = msg["output"]
                if len(out) == len(event_ids):
                    return out
    raise AssertionError(f"the stream ended with {len(out)} of {len(event_ids)} events done")


def queue_call(url: str, fn_index: int, data: list, session: str, event_data=None) -> dict:
    event = queue_join(url, fn_index, data, session, event_data)
    return queue_results(url, session, [event])[event]


def fn_index_of(demo, name: str) -> int:
    return next(i for i, fn in demo.fns.items() if getattr(fn.fn, "__name__", "") == name)


def test_fifty_likes_on_one_answer_are_one_vote_and_a_later_vote_replaces_it(place, tmp_path):  # noqa: F811
    from rag.feedback import FeedbackLog
    from ui.app import page_for, serve

    log = FeedbackLog(tmp_path / "feedback.jsonl")
    demo, url = serve(make_bot(place), port=free_port(), feedback=log, **page_for(place["corpus"]))
    try:
        submit, like = fn_index_of(demo, "on_submit"), fn_index_of(demo, "on_like")
        out = queue_call(
            url,
            submit,
            ["Who is the founder of Acme?", [], None, "hybrid", 5, "All documents"],
            "s1",
        )
        history = out["data"][1]
        assert "Jane Roe" in json.dumps(history)
        vote = {"index": 1, "value": history[1]["content"], "liked": True}
        with ThreadPoolExecutor(10) as pool:  # fifty clicks at once
            events = list(
                pool.map(lambda _: queue_join(url, like, [history, None], "s1", vote), range(50))
            )
        queue_results(url, "s1", events)
        records, _ = log.read()
        assert [r.vote for r in records] == ["like"], len(records)
        assert len(log.path.read_text().splitlines()) == 1
        queue_call(url, like, [history, None], "s1", {**vote, "liked": False})
        records, _ = log.read()
        assert [(r.vote, r.question) for r in records] == [
            ("dislike", "Who is the founder of Acme?")
        ]
        _, n, _ = log.export(tmp_path / "out.jsonl")
        assert n == 1
        # another session's vote on its own answer is its own
        out = queue_call(
            url,
            submit,
            ["Who is the founder of Acme?", [], None, "hybrid", 5, "All documents"],
            "s2",
        )
        queue_call(url, like, [out["data"][1], None], "s2", vote)
        assert sorted(r.vote for r in log.read()[0]) == ["dislike", "like"]
    finally:
        demo.close()
