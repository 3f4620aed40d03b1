"""The feedback log: whole lines, nothing lost under concurrency, unreadable lines skipped, export."""

from __future__ import annotations

import json
import threading

import pytest
from typer.testing import CliRunner

from rag.cli import app
from rag.feedback import FeedbackError, FeedbackLog, FeedbackRecord, vote_from_like

ANSWER = {
    "question": "Who founded SenseTime?",
    "rewritten_query": "Who founded SenseTime?",
    "text": "Founder: Professor Xiao'ou Tang [1]",
    "abstained": False,
    "mode": "hybrid",
    "k": 5,
    "citations": [
        {
            "number": 1,
            "document": "sensetime_profile.md",
            "heading": "SenseTime > Company Info",
            "heading_path": ["SenseTime", "Company Info"],
            "section_id": "s1",
            "chunk_id": "c1",
            "line_start": 8,
            "line_end": 8,
            "quote": "Founder: Professor Xiao'ou Tang",
            "passage": "a long passage that the log does not need",
        }
    ],
    "passages": [{"rank": 1, "text": "not kept"}],
}


@pytest.mark.parametrize(
    ("liked", "vote"),
    [
        (True, "like"),
        (False, "dislike"),
        ("Like", "like"),
        ("Dislike", "dislike"),
        ("", "cleared"),
        (None, "cleared"),
    ],
)
def test_vote_from_like(liked, vote):
    assert vote_from_like(liked) == vote


def test_unknown_vote_names_the_value():
    with pytest.raises(FeedbackError, match="'meh'"):
        vote_from_like("meh")
    with pytest.raises(FeedbackError, match="vote='up'"):
        FeedbackRecord(vote="up", question="q", rewritten_query="q", answer="a")


def test_record_from_answer_keeps_what_the_issue_asks_and_drops_passages():
    r = FeedbackRecord.from_answer(ANSWER, "like")
    d = r.to_dict()
    assert d["vote"] == "like"
    assert d["question"] == "Who founded SenseTime?"
    assert d["rewritten_query"] == "Who founded SenseTime?"
    assert d["answer"] == "Founder: Professor Xiao'ou Tang [1]"
    assert d["citations"] == [
        {
            "number": 1,
            "document": "sensetime_profile.md",
            "heading": "SenseTime > Company Info",
            "section_id": "s1",
            "chunk_id": "c1",
            "line_start": 8,
            "line_end": 8,
            "quote": "Founder: Professor Xiao'ou Tang",
        }
    ]
    assert "passages" not in d
    assert d["time"].endswith("+00:00") and d["version"] == 1


@pytest.mark.parametrize(
    "question",
    [
        "",
        "x",
        "Qui a fondé SenseTime ?",
        "商汤科技是谁创立的？",
        "emoji 🤖🚀",
        "مرحبا بالعالم",
        "two\nlines\r\nand a U+2028\u2028separator",
        "lone surrogate \ud800 here",
        '"quotes" \\ {}',
    ],
)
def test_round_trip_one_line_per_record(tmp_path, question):
    log = FeedbackLog(tmp_path / "sub" / "feedback.jsonl")  # folder created on first vote
    log.append(
        FeedbackRecord(vote="dislike", question=question, rewritten_query=question, answer="a")
    )
    raw = log.path.read_bytes()
    assert raw.count(b"\n") == 1 and raw.endswith(b"\n")
    records, skipped = log.read()
    assert skipped == 0
    expected = question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    got = records[0].question.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    assert got == expected


def test_appends_survive_a_new_log_object(tmp_path):
    path = tmp_path / "feedback.jsonl"
    FeedbackLog(path).append(FeedbackRecord.from_answer(ANSWER, "like"))
    FeedbackLog(path).append(FeedbackRecord.from_answer(ANSWER, "dislike"))  # "after a restart"
    records, _ = FeedbackLog(path).read()
    assert [r.vote for r in records] == ["like", "dislike"]


def test_many_threads_lose_no_line_and_tear_none(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    n_threads, per_thread = 16, 60
    big = "x" * 20_000  # a line well above the pipe-atomic size, still written whole
    barrier = threading.Barrier(n_threads)

    def worker(t: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            log.append(
                FeedbackRecord(vote="like", question=f"{t}:{i}", rewritten_query=big, answer="a")
            )

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    lines = log.path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    parsed = [json.loads(line) for line in lines[:-1]]
    assert len(parsed) == n_threads * per_thread
    assert {p["question"] for p in parsed} == {
        f"{t}:{i}" for t in range(n_threads) for i in range(per_thread)
    }
    assert all(p["rewritten_query"] == big for p in parsed)


def test_unreadable_lines_are_skipped_and_counted(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.append(FeedbackRecord.from_answer(ANSWER, "like"))
    with open(log.path, "ab") as fh:
        fh.write(b'{"vote": "like", "question": "trunc')  # a torn line from some other writer
        fh.write(b"\n[1, 2]\n\xff\xfe\n")
    log.append(FeedbackRecord.from_answer(ANSWER, "dislike"))
    records, skipped = log.read()
    assert [r.vote for r in records] == ["like", "dislike"]
    assert skipped == 3


def test_export_to_a_file_and_refuses_the_log_itself(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.append(FeedbackRecord.from_answer(ANSWER, "like"))
    out = tmp_path / "out" / "votes.jsonl"
    text, n, skipped = log.export(out)
    assert (n, skipped) == (1, 0)
    assert out.read_text() == text and json.loads(text)["vote"] == "like"
    with pytest.raises(FeedbackError, match="is the feedback log itself"):
        log.export(log.path)


def test_export_of_a_missing_log_is_empty(tmp_path):
    assert FeedbackLog(tmp_path / "none.jsonl").export() == ("", 0, 0)


def test_cli_feedback_export(tmp_path):
    log = FeedbackLog(tmp_path / "feedback.jsonl")
    log.append(FeedbackRecord.from_answer(ANSWER, "like"))
    with open(log.path, "ab") as fh:
        fh.write(b"not json\n")
    runner = CliRunner()
    result = runner.invoke(app, ["feedback", "export", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout.splitlines()[0])["question"] == "Who founded SenseTime?"
    assert "1 vote(s)" in result.stderr and "skipped 1 unreadable line(s)" in result.stderr

    out = tmp_path / "export.jsonl"
    result = runner.invoke(
        app, ["feedback", "export", "--data-dir", str(tmp_path), "--out", str(out)]
    )
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(out.read_text())["vote"] == "like"

    result = runner.invoke(
        app, ["feedback", "export", "--data-dir", str(tmp_path), "--out", str(log.path)]
    )
    assert result.exit_code == 2 and "is the feedback log itself" in result.stderr
