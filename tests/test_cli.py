import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from rag.cli import app

runner = CliRunner()


def run(*args, env=None):
    return runner.invoke(app, list(args), env=env)


def test_help_lists_commands():
    r = run("--help")
    assert r.exit_code == 0
    for cmd in ("index", "ask"):
        assert cmd in r.output


def test_ask_empty_question_exits_2_with_message(tiny_corpus, tmp_path):
    r = run("ask", "   ", "--corpus", str(tiny_corpus), env={"RAG_DATA_DIR": str(tmp_path)})
    assert r.exit_code == 2
    assert "error: the question is empty" in r.stderr


def test_missing_corpus_exits_2(tmp_path):
    r = run("ask", "hi", "--corpus", str(tmp_path / "nope"))
    assert r.exit_code == 2 and "no such corpus folder" in r.stderr
    assert "Traceback" not in r.output


def test_bad_mode_exits_2(tiny_corpus):
    r = run("ask", "hi", "--corpus", str(tiny_corpus), "--mode", "fuzzy")
    assert r.exit_code == 2 and "mode" in r.stderr


def test_index_and_ask_json_on_tiny_corpus(tiny_corpus, tmp_path):
    env = {"RAG_DATA_DIR": str(tmp_path), "RAG_MODEL": "hash-64", "RAG_ABSTAIN_THRESHOLD": "0.1"}
    r = run("index", "--corpus", str(tiny_corpus), env=env)
    assert r.exit_code == 0, r.output
    assert "Indexed 2 document(s)" in r.stdout
    r = run("ask", "Who is the founder of Acme?", "--json", "--corpus", str(tiny_corpus), env=env)
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert "Jane Roe" in d["text"] and d["citations"]
    r = run("ask", "Who is the founder of Acme?", "--corpus", str(tiny_corpus), env=env)
    assert "Sources:" in r.stdout and "[1] Acme > " in r.stdout


@pytest.mark.slow
def test_real_cli_process(real_data_dir):
    """The installed console script, in its own process, on the bundled profile."""
    env = {**os.environ, "RAG_DATA_DIR": str(real_data_dir)}
    exe = os.path.join(os.path.dirname(sys.executable), "rag")
    out = subprocess.run(
        [exe, "ask", "Who founded SenseTime?", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    d = json.loads(out.stdout)
    assert "Xiao'ou Tang" in d["text"] and not d["abstained"]
    assert d["citations"][0]["heading_path"][-1] == "Company Info"
    out = subprocess.run(
        [exe, "ask", "What is the capital of France?", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0 and json.loads(out.stdout)["abstained"] is True
    out = subprocess.run([exe, "ask", ""], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2 and "Traceback" not in out.stderr
