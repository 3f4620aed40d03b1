"""`rag eval` through typer's CliRunner: the fake bot of test_evaluation, so exact and fast."""

from __future__ import annotations

import json

import pytest
from test_evaluation import EXPECTED_METRICS, FIXTURE, FIXTURE_ANSWERS, FakeBot
from typer.testing import CliRunner

from rag import cli

runner = CliRunner()


@pytest.fixture
def fake_bot(monkeypatch):
    made = []

    def make_bot(corpus=None, **settings):
        bot = FakeBot(FIXTURE_ANSWERS)
        made.append({"corpus": corpus, **settings, "bot": bot})
        return bot

    monkeypatch.setattr(cli, "make_bot", make_bot)
    return made


def rag(*args):
    return runner.invoke(cli.app, ["eval", *map(str, args)])


def table(stdout: str) -> dict[str, list[str]]:
    """The printed table as {first cell: other cells}."""
    return {line.split()[0]: line.split()[1:] for line in stdout.splitlines() if line.strip()}


def test_eval_writes_outputs_and_prints_the_table(fake_bot, tmp_path):
    out = tmp_path / "run"
    result = rag(FIXTURE, "--out", out, "--k", 5)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "summary.json").read_text())["metrics"] == EXPECTED_METRICS
    rows = table(result.stdout)
    assert rows["metric"] == ["value"]  # the fake bot has no settings.mode
    assert rows["section_hit@1"] == ["0.333"] and rows["mrr@5"] == ["0.500"]
    assert rows["latency_p95_ms"] == ["57.5"] and rows["passed"] == ["3/6"]
    assert f"results and reports in {out}" in result.stderr
    assert fake_bot[0]["k"] == 5 and fake_bot[0]["bot"].calls[0]["k"] == 5


def test_default_out_dir_is_timestamped_under_eval_runs(fake_bot, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = rag(FIXTURE)
    assert result.exit_code == 0, result.output
    (run_dir,) = (tmp_path / "eval" / "runs").iterdir()
    assert len(run_dir.name) == len("20250101-120000") and (run_dir / "report.html").is_file()


def test_fail_under_exits_1_naming_metric_value_and_threshold(fake_bot, tmp_path):
    result = rag(
        FIXTURE,
        "--out",
        tmp_path,
        "--fail-under",
        "section_hit@1=0.9",
        "--fail-under",
        "abstention_f1=0.5",
    )
    assert result.exit_code == 1
    assert "FAIL: section_hit@1 = 0.3333 is below the threshold 0.9" in result.stderr
    assert "abstention_f1" not in result.stderr  # 0.5 meets 0.5
    assert (tmp_path / "summary.json").is_file()  # outputs are written before the gate


def test_fail_under_passes_when_met(fake_bot, tmp_path):
    result = rag(FIXTURE, "--out", tmp_path, "--fail-under", "mrr@5=0.5")
    assert result.exit_code == 0, result.output


def test_compare_runs_each_mode_side_by_side(fake_bot, tmp_path):
    result = rag(
        FIXTURE, "--out", tmp_path, "--compare", "dense, bm25", "--fail-under", "exact_all=0.5"
    )
    assert result.exit_code == 1
    rows = table(result.stdout)
    assert rows["metric"] == ["dense", "bm25"] and rows["exact_all"] == ["0.333", "0.333"]
    assert "FAIL: [dense] exact_all = 0.3333 is below the threshold 0.5" in result.stderr
    assert "FAIL: [bm25] exact_all" in result.stderr
    calls = fake_bot[0]["bot"].calls
    assert [c["mode"] for c in calls] == ["dense"] * 6 + ["bm25"] * 6  # one bot, loaded once
    assert (tmp_path / "dense" / "report.md").is_file() and (tmp_path / "bm25" / "results.jsonl")
    compare = json.loads((tmp_path / "compare.json").read_text())
    assert list(compare) == ["dense", "bm25"]
    assert compare["bm25"]["settings"] == {"mode": "bm25"}


def test_a_question_error_fails_the_run(monkeypatch, tmp_path):
    monkeypatch.setattr(
        cli, "make_bot", lambda corpus=None, **s: FakeBot(FIXTURE_ANSWERS, fail_on="Where is Acme?")
    )
    result = rag(FIXTURE, "--out", tmp_path)
    assert result.exit_code == 1
    assert "FAIL: 1 question(s) raised an error (see results.jsonl)" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--mode", "dense", "--compare", "bm25"],
            "error: use either --mode or --compare, not both",
        ),
        (["--compare", "dense,fast"], "error: mode='fast' is not a retrieval mode"),
        (["--compare", ","], "error: --compare ',' names no mode"),
        (
            ["--fail-under", "recall=0.5"],
            "error: --fail-under 'recall=0.5': unknown metric 'recall'",
        ),
    ],
)
def test_bad_options_exit_2(fake_bot, tmp_path, args, message):
    result = rag(FIXTURE, "--out", tmp_path, *args)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert fake_bot == []  # rejected before any bot is made


def test_bad_question_file_exits_2_naming_the_line(fake_bot, tmp_path):
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"id": "a", "question": "Q?"}\n{"id": "a", "question": "R?"}\n')
    result = rag(bad, "--out", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {bad}:2: duplicate id 'a' (already used on line 1); "
        "give every question its own id\n"
    )
    assert not (tmp_path / "out").exists() and fake_bot == []
