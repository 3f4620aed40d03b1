"""``rag chat`` parses, warns and serves: run with CliRunner, the page and the model replaced by fakes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from rag.cli import app


class FakeDemo:
    def __init__(self):
        self.launched = None
        self.blocked = self.closed = False
        self.server_port = None

    def launch(self, **kwargs):
        self.launched = kwargs
        self.server_port = kwargs["server_port"]

    def block_thread(self):
        self.blocked = True

    def close(self):
        self.closed = True


@pytest.fixture
def fake_serving(monkeypatch, tmp_path):
    """Replace the model load and the Gradio page; return what ``build_app`` was given."""
    import ui.app
    from rag.chatbot import Chatbot

    built = {}

    def fake_build_app(bot, feedback, **kwargs):
        built.update(bot=bot, feedback=feedback, demo=FakeDemo(), **kwargs)
        return built["demo"]

    def fake_warm_up(self):
        built["warm_ups"] = built.get("warm_ups", 0) + 1
        return self

    monkeypatch.setattr(ui.app, "build_app", fake_build_app)
    monkeypatch.setattr(Chatbot, "warm_up", fake_warm_up)
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("RAG_AUTH", raising=False)
    return built


def run(*args, env=None):
    return CliRunner().invoke(app, ["chat", *args], env=env)


def test_defaults_bind_loopback_and_print_the_url(fake_serving, tmp_path):
    result = run("--port", "7999")
    assert result.exit_code == 0, result.output
    assert "Chat ready at http://127.0.0.1:7999/" in result.stdout
    assert "warning" not in result.stderr
    demo = fake_serving["demo"]
    kw = demo.launched
    assert (kw["server_name"], kw["server_port"], kw["auth"], kw["share"]) == (
        "127.0.0.1",
        7999,
        None,
        False,
    )
    assert kw["ssr_mode"] is False and kw["run_history"] is False and kw["mcp_server"] is False
    assert demo.blocked and demo.closed
    assert fake_serving["warm_ups"] == 1
    assert fake_serving["concurrency"] == 4
    assert fake_serving["feedback"].path == tmp_path / "data" / "feedback.jsonl"
    assert fake_serving["title"] == "Ask the SenseTime company profile"
    assert fake_serving["examples"][0] == "Who is SenseTime's founder?"


def test_another_corpus_gets_a_generic_title_and_no_examples(fake_serving, tmp_path):
    corpus = tmp_path / "handbook"
    corpus.mkdir()
    (corpus / "a.md").write_text("# A\n\nText.\n")
    result = run("--port", "7999", "--corpus", str(corpus))
    assert result.exit_code == 0, result.output
    # the title is shown before the login (page title, web manifest): it names no folder
    assert fake_serving["title"] == "Ask the documents" and "handbook" not in fake_serving["title"]
    assert fake_serving["examples"] == []


def test_binding_elsewhere_without_a_login_warns(fake_serving):
    result = run("--host", "0.0.0.0", "--port", "7999")
    assert result.exit_code == 0, result.output
    assert "warning: binding to 0.0.0.0" in result.stderr and "--auth" in result.stderr
    assert "Chat ready at http://0.0.0.0:7999/" in result.stdout


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_login_silences_the_warning_and_is_passed_to_gradio(fake_serving, how):
    if how == "flag":
        result = run("--host", "0.0.0.0", "--port", "7999", "--auth", "alice:s3:cret")
    else:
        result = run("--host", "0.0.0.0", "--port", "7999", env={"RAG_AUTH": "alice:s3:cret"})
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr
    assert fake_serving["demo"].launched["auth"] == ("alice", "s3:cret")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--auth", "alice"], "auth 'alice' is not USER:PASSWORD"),
        (["--port", "70000"], "port=70000 is not a TCP port"),
        (["--concurrency", "0"], "concurrency=0 must be a whole number of at least 1"),
        (["--mode", "fast"], "mode"),
        (["--k", "0"], "k=0"),
    ],
)
def test_bad_options_exit_2_with_one_readable_line(fake_serving, args, message):
    result = run(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.output
    assert "warm_ups" not in fake_serving, "a bad option fails before the model loads"
