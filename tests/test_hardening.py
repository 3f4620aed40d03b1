"""Issue 14 in the library and the CLI: points 3, 4, 5 (Python side), 7 (progress), 8, 9, 10, 11,
12 and 13. The server side of points 1, 2, 4, 5 and 6 is in ``test_hardening_server.py``."""

from __future__ import annotations

import glob
import os
import pty
import re
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rag.cli import app
from tests.conftest import ROOT, TINY_DOC

runner = CliRunner()
DATASETS = Path("/work/shared/datasets")


def fake_env(tmp_path: Path, **extra) -> dict:
    """Environment for a `rag` subprocess on the fake embedder, data in tmp_path."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(
        PYTHONPATH=str(ROOT),
        RAG_MODEL="hash-64",
        RAG_DATA_DIR=str(tmp_path / "data"),
        RAG_ABSTAIN_THRESHOLD="0.1",
    )
    env.update(extra)
    return env


def rag(*args, env, cwd=None, stderr=subprocess.PIPE) -> subprocess.CompletedProcess:
    code = "import sys; from rag.cli import app; sys.argv[0] = 'rag'; app()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        timeout=300,
    )


@pytest.fixture
def corpus(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "acme.md").write_text(TINY_DOC)
    return folder


# ---- point 3: the password need not be on the command line --------------------------------------


def test_chat_help_names_the_file_the_prompt_and_the_variable():
    r = runner.invoke(app, ["chat", "--help"], terminal_width=200)
    text = " ".join(r.stdout.split())
    assert "--auth-file" in text and "--auth-prompt" in text and "RAG_AUTH" in text
    assert "ps" in text


def test_the_login_comes_from_a_file_or_a_prompt(tmp_path):
    from ui.cli import resolve_login

    f = tmp_path / "login"
    f.write_text("\nalice:s3:cret\n")
    assert resolve_login(None, f, False) == ("alice", "s3:cret")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        resolve_login(None, tmp_path / "empty", False)
    with pytest.raises(ValueError, match="cannot be read"):
        resolve_login(None, tmp_path / "missing", False)
    with pytest.raises(ValueError, match="not several"):
        resolve_login("bob:x", f, False)
    # the prompt: user, then the password twice, not echoed
    r = runner.invoke(
        app,
        ["chat", "--auth-prompt", "--port", "0"],
        input="carol\npw1\npw1\n",
    )
    assert "port=0" in r.stderr  # the login was read, then the port was checked


# ---- points 4 and 5 from Python: histories and questions are bounded before any work -------------


def nested(depth: int):
    content: object = "Who founded Acme?"
    for _ in range(depth):
        content = [{"type": "text", "text": content}]
    return content


@pytest.mark.parametrize("depth", [300, 100_000])
def test_a_nested_history_is_refused_clearly_not_with_recursion_error(tiny_bot, depth):
    from rag.chatbot import HistoryError

    with pytest.raises(HistoryError, match="nested more than 8 levels"):
        tiny_bot.ask("When?", history=[{"role": "user", "content": nested(depth)}])
    assert tiny_bot.load_count == 0, "refused before the model or index loaded"


def test_histories_within_the_limits_still_work(tiny_bot):
    history = [{"role": "user", "content": nested(3)}, {"role": "assistant", "content": "x"}]
    from rag.history import history_questions

    assert history_questions(history) == ["Who founded Acme?"]
    assert "Jane Roe" in tiny_bot.ask("Who is the founder?", history=history).text


def test_long_histories_and_questions_are_refused_before_any_work(tiny_bot):
    from rag.chatbot import HistoryError, QuestionError

    with pytest.raises(HistoryError, match="the limit is 500"):
        tiny_bot.ask("When?", history=["q"] * 501)
    with pytest.raises(HistoryError, match="characters of questions"):
        tiny_bot.ask("When?", history=["x" * 150_000, "y" * 60_000])
    with pytest.raises(QuestionError, match="the limit is 2,000,000"):
        tiny_bot.ask("x" * 2_000_001)
    assert tiny_bot.load_count == 0


# ---- point 7: every build shows progress ----------------------------------------------------------


@pytest.mark.parametrize("command", [["index"], ["ask", "Who founded Acme?"]])
def test_a_build_logs_a_line_when_stderr_is_not_a_terminal(tmp_path, corpus, command):
    r = rag(*command, "--corpus", str(corpus), env=fake_env(tmp_path))
    assert r.returncode == 0, r.stderr
    assert re.search(r"Indexing 1 document\(s\), [\d.]+ MiB of text", r.stderr)
    assert re.search(r"Indexed 1 document\(s\): \d+ chunks, .* MiB/min", r.stderr)


def test_a_build_shows_a_tqdm_bar_on_a_terminal(tmp_path, corpus):
    import fcntl
    import struct
    import termios

    primary, secondary = pty.openpty()
    # a new pty is 0 columns wide, and tqdm cuts its bar to the width: give it a terminal's size
    fcntl.ioctl(secondary, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        r = rag("ask", "Who founded Acme?", "--corpus", str(corpus), env=fake_env(tmp_path),
                stderr=secondary)  # fmt: skip
        os.close(secondary)
        out = b""
        while True:
            try:
                data = os.read(primary, 65536)
            except OSError:
                break
            if not data:
                break
            out += data
    finally:
        os.close(primary)
    assert r.returncode == 0
    text = out.decode(errors="replace")
    assert "embedding (hash-64)" in text and "text/s" in text, text[-500:]


# ---- point 8: names are not split, clean text is not touched -------------------------------------


def test_a_name_is_not_split_in_a_clean_document_or_a_corrupted_one():
    from rag.repair import repair_text

    clean = "The people of Fooland trade wool. Fooland lies north of the river.\n"
    assert repair_text(clean) == (clean, [])
    corrupted = (
        "Fooland is a globaleader in wool. Its mills serve Fooland and Barland andeep "
        "valleys. Trade foretail grew, and Fooland exports more.\n"
    )
    fixed, edits = repair_text(corrupted)
    assert [e.original for e in edits] == ["globaleader", "andeep", "foretail"]
    assert fixed.count("Fooland") == 3 and "Fool land" not in fixed


def test_the_profile_keeps_all_26_repairs():
    from rag.repair import repair_text

    text = (ROOT / "corpus" / "sensetime_profile.md").read_text(encoding="utf-8")
    _, edits = repair_text(text)
    assert len(edits) == 26
    assert {"Asiand", "Middleast", "Advancedriver", "globaleader"} <= {e.original for e in edits}


@pytest.mark.skipif(not DATASETS.is_dir(), reason="needs ../shared/datasets")
def test_no_edits_on_the_clean_wikipedia_articles():
    from rag.documents import load_document
    from rag.repair import repair_text

    files = sorted(glob.glob(str(DATASETS / "*" / "corpus" / "*.md")))
    # every article of every SQuAD folder in ../shared/datasets (20 when the test was written)
    assert len(files) >= 20
    edits = {f: repair_text(load_document(Path(f)).text)[1] for f in files}
    assert {f: [e.original for e in e_] for f, e_ in edits.items() if e_} == {}


# ---- point 9: form feeds and offsets in the file as stored ----------------------------------------


def test_a_form_feed_inside_a_line_does_not_start_a_heading(tmp_path):
    from rag.documents import load_document, parse_sections

    f = tmp_path / "doc.md"
    f.write_text("# One\nPage one ends here.\f## Chapter Two\nMore text.\n")
    sections = parse_sections(load_document(f))
    assert [s.heading_path for s in sections] == [("One",)]
    assert sections[0].line_start == 2 and sections[0].line_end == 3


def test_offsets_index_the_file_as_stored_with_crlf_and_a_bom(tmp_path):
    from rag.chunking import Chunker
    from rag.documents import load_document, parse_sections

    data = "\ufeff# Title\r\n\r\nFirst line é.\r\n\r\n## Next\r\nSecond line\r\n".encode()
    f = tmp_path / "crlf.md"
    f.write_bytes(data)
    doc = load_document(f)
    second = [s for s in parse_sections(doc) if s.heading_path[-1] == "Next"][0]
    assert data[second.byte_start : second.byte_end].decode() == "Second line\r\n"
    assert data.index(b"Second line") == second.byte_start
    assert doc.text[second.char_start : second.char_end] == "Second line\n"
    for chunk in Chunker(200, 0).chunk_document(doc):
        stored = data[chunk.byte_start : chunk.byte_end].decode().replace("\r\n", "\n")
        assert stored == chunk.text


# ---- point 10: `rag eval --out` never replaces a user's files ------------------------------------


def test_eval_refuses_a_folder_of_someone_elses_files(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"id": "1", "question": "Who founded Acme?"}\n')
    out = tmp_path / "mine"
    out.mkdir()
    (out / "report.md").write_text("my notes")
    r = runner.invoke(app, ["eval", str(questions), "--out", str(out)])
    assert r.exit_code == 2 and "not an earlier evaluation run" in r.stderr
    assert (out / "report.md").read_text() == "my notes"
    r = runner.invoke(app, ["eval", str(questions), "--out", str(questions)])
    assert r.exit_code == 2 and "is a file" in r.stderr


def test_an_earlier_run_or_an_empty_folder_may_be_reused(tmp_path):
    from rag.outputs import check_run_dir

    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "summary.json").write_text("{}")
    (tmp_path / "run" / "report.md").write_text("")
    assert check_run_dir(tmp_path / "run") == tmp_path / "run"
    (tmp_path / "empty").mkdir()
    assert check_run_dir(tmp_path / "empty") == tmp_path / "empty"
    assert check_run_dir(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"


# ---- point 11: user-fixable problems get one clear line -----------------------------------------


def one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in stderr and "internal error" not in stderr
    return errors[0]


def test_a_data_dir_that_cannot_be_made_is_a_clear_error(tmp_path, corpus):
    r = rag(
        "ask", "Who?", "--corpus", str(corpus), env=fake_env(tmp_path, RAG_DATA_DIR="/proc/nope")
    )
    assert r.returncode == 2
    assert "/proc/nope" in one_error_line(r.stderr)


def test_feedback_export_to_a_folder_is_a_clear_error(tmp_path):
    r = runner.invoke(app, ["feedback", "export", "--out", str(tmp_path)])
    assert r.exit_code == 2 and "is a folder" in one_error_line(r.stderr)


def test_repair_of_a_link_and_of_a_folder(tmp_path):
    outside = tmp_path / "outside.md"
    outside.write_text("Clean text.\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "link.md").symlink_to(outside)
    r = runner.invoke(app, ["repair", str(tmp_path / "folder" / "link.md")])
    assert r.exit_code == 0 and r.stdout == "Clean text.\n"
    r = runner.invoke(app, ["repair", str(tmp_path / "folder")])
    assert r.exit_code == 2 and "is a folder" in one_error_line(r.stderr)


def test_a_busy_port_is_reported_before_the_model_loads(tmp_path, corpus):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = runner.invoke(app, ["chat", "--port", str(port), "--corpus", str(corpus)])
    assert r.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in one_error_line(r.stderr)
    assert "Loading the model" not in r.stderr


def test_an_unknown_rag_variable_is_warned_about(tmp_path):
    r = runner.invoke(app, ["repair", str(tmp_path)], env={"RAG_FOO": "1", "RAG_K": "5"})
    assert "warning: the environment variable RAG_FOO names no setting" in r.stderr
    assert "variable RAG_K names" not in r.stderr


def test_a_nested_setting_is_recognised_and_a_nested_typo_is_not():
    from rag.settings import Settings

    env = {"RAG_ANSWER__DECIDE": "model", "RAG_ANSWER__DECIDEE": "model", "RAG_K__DECIDE": "1"}
    assert Settings.unknown_env(env) == ["RAG_ANSWER__DECIDEE", "RAG_K__DECIDE"]
    r = runner.invoke(app, ["repair", "--help"], env={"RAG_ANSWER__DECIDE": "model"})
    assert "RAG_ANSWER__DECIDE names no setting" not in r.stderr


def test_an_empty_corpus_path_is_an_error_not_the_current_folder(tmp_path):
    r = runner.invoke(app, ["ask", "Who?", "--corpus", ""])
    assert r.exit_code == 2 and "corpus_dir is empty" in one_error_line(r.stderr)


# ---- point 12: defaults follow the working directory; the profile ships in the package ------------


def test_defaults_are_the_packaged_profile_and_the_working_directory(tmp_path, monkeypatch):
    from rag.settings import BUNDLED_CORPUS, Settings

    monkeypatch.chdir(tmp_path)
    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    s = Settings.make()
    assert s.data_dir == tmp_path / ".rag"
    assert s.corpus_dir == BUNDLED_CORPUS and BUNDLED_CORPUS.parent.name == "rag"
    profile = ROOT / "corpus" / "sensetime_profile.md"
    assert (BUNDLED_CORPUS / "sensetime_profile.md").read_bytes() == profile.read_bytes()


@pytest.mark.slow
def test_the_wheel_ships_the_profile_and_runs_from_anywhere(tmp_path):
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(ROOT)],
        check=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    [wheel] = wheels.glob("*.whl")
    profile = (ROOT / "corpus" / "sensetime_profile.md").read_bytes()
    with zipfile.ZipFile(wheel) as z:
        assert z.read("rag/corpus/sensetime_profile.md") == profile
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        check=True, timeout=300,
    )  # fmt: skip
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = fake_env(tmp_path, PYTHONPATH=str(site))
    del env["RAG_DATA_DIR"]
    code = (
        "import rag.settings as s; print(s.Settings.make().corpus_dir.resolve()); "
        "print(s.Settings.make().data_dir)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=work, capture_output=True, text=True, check=True
    ).stdout.split("\n")
    assert out[0].startswith(str(site)) and out[1] == str(work / ".rag")
    r = rag("index", env=env, cwd=work)
    assert r.returncode == 0, r.stderr
    assert (work / ".rag" / "indexes").is_dir() and not (site / ".rag").exists()


# ---- point 13: eval/README.md holds no stale numbers ----------------------------------------------


def test_the_eval_readme_copies_no_scores():
    text = (ROOT / "eval" / "README.md").read_text(encoding="utf-8")
    assert not re.search(r"\|\s*0\.\d{3}\s*\|", text), "a metric table copied from a run"
    assert not re.search(r"\b\d+/130\b", text)
